#!/usr/bin/env bash
# Builds zo and runs every test: the Release build in build/ (all test programs), then the core and
# optim test programs again under AddressSanitizer + UndefinedBehaviorSanitizer in build-asan/.
# Exits non-zero on any failure. Environment:
#   ZO_JOBS             parallel build jobs (default 2)
#   ZO_ASAN_BUILD_TYPE  build type of the sanitizer build (default Debug)
#   ZO_SKIP_ASAN=1      skip the sanitizer pass
set -euo pipefail
cd "$(dirname "$0")/.."

jobs="${ZO_JOBS:-2}"
asan_type="${ZO_ASAN_BUILD_TYPE:-Debug}"
start=$SECONDS
phase() { echo; echo "== $* ($((SECONDS - start)) s)"; }

# Dependencies: run setup.sh when a tool or a development package is missing.
need_setup=0
for tool in cmake g++ pkg-config; do command -v "$tool" >/dev/null 2>&1 || need_setup=1; done
for header in /usr/include/gtest/gtest.h /usr/include/CLI/CLI.hpp /usr/include/nlohmann/json.hpp \
              /usr/include/fmt/format.h /usr/include/zlib.h /usr/include/benchmark/benchmark.h; do
  [ -e "$header" ] || need_setup=1
done
pkg-config --exists openblas 2>/dev/null || need_setup=1
if [ "$need_setup" -eq 1 ]; then
  phase "installing dependencies (scripts/setup.sh)"
  scripts/setup.sh
fi

phase "configure + build build/ (Release)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DZO_BUILD_TESTS=ON
cmake --build build -j"$jobs"

phase "tests (build/)"
ctest --test-dir build --output-on-failure -j"$jobs"

if [ "${ZO_SKIP_ASAN:-0}" != 1 ]; then
  phase "configure + build build-asan/ ($asan_type, ASan + UBSan; core and optim tests)"
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE="$asan_type" -DZO_SANITIZE=ON -DZO_BUILD_BENCH=OFF -DZO_BUILD_TESTS=ON
  targets=()
  for layer in core optim; do
    compgen -G "tests/$layer/*_test.cpp" >/dev/null && targets+=(--target "zo_${layer}_tests")
  done
  if [ ${#targets[@]} -gt 0 ]; then
    cmake --build build-asan -j"$jobs" "${targets[@]}"
    phase "tests under ASan + UBSan (build-asan/, labels core|optim)"
    ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1}" \
    UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}" \
      ctest --test-dir build-asan --output-on-failure -j"$jobs" -L 'core|optim'
  else
    echo "no core or optim tests to run under the sanitizers"
  fi
fi

phase "all tests passed"
