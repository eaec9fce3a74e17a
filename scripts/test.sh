#!/usr/bin/env bash
# Builds zo and runs every test: the Release build in build/ (all test programs), the Python tests
# (python/tests, with Debian's /usr/bin/python3, which has torch), then the core and optim test
# programs again under AddressSanitizer + UndefinedBehaviorSanitizer in build-asan/ (a core-only build,
# -DZO_LIB=OFF, with fmt header-only and GoogleTest from source).
# Exits non-zero on any failure. Environment:
#   ZO_JOBS             parallel build jobs (default 2)
#   ZO_ASAN_BUILD_TYPE  build type of the sanitizer build (default Debug)
#   ZO_SKIP_ASAN=1      skip the sanitizer pass
#   ZO_SKIP_FUZZ=1      skip the fuzz targets (build-fuzz/, clang + libFuzzer; skipped, saying so, without clang)
set -euo pipefail
cd "$(dirname "$0")/.."

jobs="${ZO_JOBS:-2}"
asan_type="${ZO_ASAN_BUILD_TYPE:-Debug}"
start=$SECONDS
phase() { echo; echo "== $* ($((SECONDS - start)) s)"; }

# Dependencies: setup.sh checks every package (dpkg, about a second) and installs only what is missing.
scripts/setup.sh

phase "configure + build build/ (Release)"
# The Python extension is built for the interpreter that runs its tests.
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DZO_BUILD_TESTS=ON -DPython3_EXECUTABLE=/usr/bin/python3
cmake --build build -j"$jobs"

phase "tests (build/)"
ctest --test-dir build --output-on-failure -j"$jobs"

phase "Python tests (python/tests)"
PYTHONPATH="$PWD/build/python:$PWD/python" ZO_PY_REFERENCE="$PWD/build/python/zo_py_reference" \
  /usr/bin/python3 -m pytest -q python/tests

if [ "${ZO_SKIP_ASAN:-0}" != 1 ]; then
  # Also the core-only build a GPU machine's image makes (docs/cuda.md): ZO_LIB=OFF, fmt used
  # header-only and GoogleTest built from its source tree, as if neither package were installed.
  phase "configure + build build-asan/ ($asan_type, ASan + UBSan; core-only build: core and optim tests)"
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE="$asan_type" -DZO_SANITIZE=ON -DZO_BUILD_BENCH=OFF -DZO_BUILD_TESTS=ON -DZO_CUDA=OFF \
    -DZO_LIB=OFF -DZO_PYTHON=OFF -DCMAKE_DISABLE_FIND_PACKAGE_fmt=ON -DZO_FMT_INCLUDE_DIR=/usr/include \
    -DCMAKE_DISABLE_FIND_PACKAGE_GTest=ON -DZO_GTEST_SOURCE_DIR=/usr/src/googletest
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

if [ "${ZO_SKIP_FUZZ:-0}" != 1 ]; then
  # The libFuzzer targets (fuzz/, docs/reliability.md), each over its committed corpus plus 2 s of fuzzing.
  if command -v clang++ >/dev/null 2>&1 &&
     compgen -G "/usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a" >/dev/null &&
     compgen -G "/usr/lib/llvm-*/lib/clang/*/include/omp.h" >/dev/null; then
    phase "configure + build build-fuzz/ (clang, libFuzzer, ASan + UBSan; the fuzz targets)"
    cmake -S . -B build-fuzz -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo -DZO_FUZZ=ON \
      -DZO_BUILD_TESTS=OFF -DZO_BUILD_BENCH=OFF -DZO_INSTALL=OFF -DZO_PYTHON=OFF -DZO_CUDA=OFF
    cmake --build build-fuzz -j"$jobs" --target zo_fuzz_targets
    phase "fuzz targets: corpus + 2 s each (build-fuzz/, label fuzz)"
    ctest --test-dir build-fuzz --output-on-failure -j"$jobs" -L fuzz
  else
    echo "skipped: fuzz targets (clang, libFuzzer or clang's OpenMP missing: apt-get install clang libfuzzer-14-dev libomp-dev)"
  fi
fi

phase "all tests passed"
