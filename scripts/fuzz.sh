#!/usr/bin/env bash
# Fuzzes every loader (fuzz/<name>_fuzz.cpp) with libFuzzer under ASan + UBSan: configures and builds
# build-fuzz/ with clang (-DZO_FUZZ=ON), then runs each target for SECONDS (default 60) from its seed
# corpus fuzz/corpus/<name>/, and prints per target the executions and whether it crashed (a crash,
# a leak, undefined behaviour, a timeout or running out of memory). Exits 1 when any target failed.
# docs/reliability.md records a run.
#
#   scripts/fuzz.sh [SECONDS]
#   scripts/fuzz.sh --corpus        rewrite the seeds in fuzz/corpus/ (fuzz/make_corpus.py, and the
#                                   checkpoint and ledger seeds the targets write); regression-* inputs stay
# Environment:
#   ZO_JOBS           build jobs (default 1)
#   FUZZ_TARGETS      names to run (default: all), e.g. "ledger idx"
#   FUZZ_RUNS         stop a target after this many executions too (libFuzzer -runs)
#   FUZZ_ARGS         more libFuzzer flags
# New inputs go to build-fuzz/fuzz/work/<name>/; a failing input to build-fuzz/fuzz/crashes/<name>/.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v clang++ >/dev/null 2>&1 || ! compgen -G "/usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a" >/dev/null ||
   ! compgen -G "/usr/lib/llvm-*/lib/clang/*/include/omp.h" >/dev/null; then
  echo "fuzz: needs clang and libFuzzer (Debian: apt-get install clang libfuzzer-14-dev libomp-dev)" >&2
  exit 2
fi

mode=fuzz
seconds=60
case "${1:-}" in
  --corpus) mode=corpus ;;
  "") ;;
  *) seconds="$1" ;;
esac

launcher=()
command -v ccache >/dev/null 2>&1 && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S . -B build-fuzz -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo -DZO_FUZZ=ON \
  -DZO_BUILD_TESTS=OFF -DZO_BUILD_BENCH=OFF -DZO_INSTALL=OFF -DZO_PYTHON=OFF "${launcher[@]}" >/dev/null
all=()
for source in fuzz/*_fuzz.cpp; do name="$(basename "$source" _fuzz.cpp)"; all+=("$name"); done
targets=(${FUZZ_TARGETS:-${all[@]}})
build_targets=()
for t in "${targets[@]}"; do build_targets+=(--target "${t}_fuzz"); done
cmake --build build-fuzz -j"${ZO_JOBS:-1}" "${build_targets[@]}"

if [ "$mode" = corpus ]; then
  python3 fuzz/make_corpus.py
  # Seeds only the library can write: a checkpoint's CRCs, the ledgers of real runs (replayable).
  cmake --build build-fuzz -j"${ZO_JOBS:-1}" --target checkpoint_fuzz ledger_fuzz
  ZO_FUZZ_WRITE_SEEDS=fuzz/corpus/checkpoint build-fuzz/fuzz/checkpoint_fuzz
  ZO_FUZZ_WRITE_SEEDS=fuzz/corpus/ledger build-fuzz/fuzz/ledger_fuzz
  echo "fuzz: corpora written to fuzz/corpus/"
  exit 0
fi

# The targets write their input to a scratch file: on a tmpfs that costs little.
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then export TMPDIR=/dev/shm; fi
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}"
failed=0
results=()
for t in "${targets[@]}"; do
  work="build-fuzz/fuzz/work/$t"
  crashes="build-fuzz/fuzz/crashes/$t/"
  log="build-fuzz/fuzz/$t.log"
  mkdir -p "$work" "$crashes"
  extra=()
  [ -n "${FUZZ_RUNS:-}" ] && extra+=(-runs="$FUZZ_RUNS")
  echo "== $t: ${seconds} s"
  set +e
  "build-fuzz/fuzz/${t}_fuzz" -max_total_time="$seconds" -timeout=25 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$crashes" "${extra[@]}" ${FUZZ_ARGS:-} "$work" "fuzz/corpus/$t" >"$log" 2>&1
  rc=$?
  set -e
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
  rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)"
  if [ "$rc" -eq 0 ]; then
    status=ok
  else
    failed=1
    artifact="$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)"
    reason="$(grep -m1 -oE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer|UndefinedBehaviorSanitizer): [a-z-]+|runtime error: .*|deadly signal|out-of-memory|timeout' "$log" || true)"
    status="FAILED (${reason:-exit $rc}) ${artifact:-}; see $log"
    [ -z "$execs" ] && execs="$(grep -oE '#[0-9]+' "$log" | tail -1 | tr -d '#')"
  fi
  results+=("$(printf '%-12s %12s %8s  %s' "$t" "${execs:-?}" "${rate:-?}" "$status")")
  echo "${results[-1]}"
done

echo
printf '%-12s %12s %8s  %s\n' target executions exec/s result
printf '%s\n' "${results[@]}"
exit "$failed"
