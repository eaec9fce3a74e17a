#!/usr/bin/env bash
# kill -9 at any moment (docs/reliability.md): kills `zo finetune` with SIGKILL at KILLS random moments
# (default 100; the ordinary test suite runs 10) — at a random time, after a ledger row, inside a
# checkpoint write, during the export, with random delays in µs — and resumes each run with --resume
# until it finishes; every finished run must end with model/model.safetensors and ledger.tsv
# byte-identical to an uninterrupted run's. This is the test KillTest.* of zo_train_tests
# (tests/train/kill_test.cpp) with more kills; it prints the table of moments and outcomes.
#
#   scripts/kill_test.sh [KILLS]
# Environment: ZO_BUILD_DIR (default build; built when missing), ZO_KILL_TEST_SEED (to replay a run),
# ZO_KILL_TEST_REPORT (default ZO_BUILD_DIR/kill_test_report.tsv: every moment, one a line).
set -euo pipefail
cd "$(dirname "$0")/.."

kills="${1:-100}"
build="${ZO_BUILD_DIR:-build}"
if [ ! -x "$build/zo_train_tests" ] || [ ! -x "$build/zo" ]; then
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DZO_BUILD_BENCH=OFF >/dev/null
  cmake --build "$build" -j"${ZO_JOBS:-1}" --target zo zo_train_tests
fi
export ZO_KILL_TEST_KILLS="$kills"
export ZO_KILL_TEST_REPORT="${ZO_KILL_TEST_REPORT:-$build/kill_test_report.tsv}"
"$build/zo_train_tests" --gtest_filter='KillTest.*'
echo "kill test: every moment in $ZO_KILL_TEST_REPORT"
