#!/bin/bash
# The CUDA checks on a GPU machine whose python3 has torch and pybind11 but none of zo_lib's Debian
# dependencies (docs/cuda.md "On a GPU machine"): builds zo's core, the CUDA passes, the Python
# extension and their tests there (cmake -DZO_LIB=OFF, fmt header-only, GoogleTest from source), then
#   1. ctest: the core, optim and cuda tests; the CUDA device tests run (z, perturbation and update
#      against the CPU's, bit for bit, for every direction kind, update rule and storage type);
#   2. bench/cuda_z_identity: 10^7 elements of each direction family, GPU against CPU
#      (bench/results/gpu/z_identity.csv);
#   3. bench/cuda_pass_bandwidth: the perturbation and update passes against the device's copy
#      (bench/results/gpu/pass_bandwidth.csv);
#   4. the Python package's tests under that machine's Python and torch (the CUDA-tensor training and
#      the Hugging Face shared-prefix tests run there);
#   5. bench/gpu_step.py: zo.torch's MeZO and MeZO-BCD steps against MeZO's PyTorch step on OPT-1.3B and
#      OPT-13B shapes, float16, batch 16 x 128 (bench/results/gpu/step.csv, step_detail.csv);
#      ZO_STEP_SHAPES=opt-1.3b runs one shape, ZO_STEP_SHAPES= none.
# `bash scripts/device_cuda_check.sh` does all five; `... check` does 1-4 and `... step` does 5 alone
# (building first where build-gpu/ is missing or stale), so that each call stays short.
# Needs .deps/ (made here by bash scripts/device_deps.sh; carry it). Writes under $OUT (default
# ./device-out): cuda.log (or step.log), ctest.log, pytest.log and the CSVs. With 16 cores: about 5
# minutes for `check`, 2 for `step`. Then, here, with the CSVs and cuda.log copied into
# bench/results/gpu/: /usr/bin/python3 bench/gpu_report.py writes its README.
#
# Sending it with a tool that copies the checkout's tracked files up to a size limit (64 MiB with what
# is carried): untrack what it does not read for the call (sotu-party's data and the tokenizer
# goldens; about 43 MB are left, and .deps is 4 MB), and carry .deps:
#   git rm -r -q --cached data/sotu-party tests/data/tokenizers
#   printf '/data/sotu-party/\n/tests/data/tokenizers/\n' > .git/info/exclude
#   (run: bash scripts/device_cuda_check.sh, carry .deps)
#   git reset -q HEAD -- data tests/data/tokenizers && rm .git/info/exclude
set -u
phase=${1:-all}
case "$phase" in all|check|step) ;; *) echo "device_cuda_check.sh: unknown phase '$phase' (all, check or step)"; exit 2;; esac
OUT=${OUT:-device-out}
mkdir -p "$OUT"
log=cuda.log
[ "$phase" = step ] && log=step.log
exec > >(tee "$OUT/$log") 2>&1
here=$PWD
[ -f .deps/include/fmt/format-inl.h ] || { echo "device_cuda_check.sh: .deps/ is missing: run bash scripts/device_deps.sh here and carry .deps"; exit 1; }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import sys, torch; print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.cuda.is_available())"
nvcc --version | tail -1
jobs=$(nproc)
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
echo "== configure + build build-gpu/ (core only, CUDA on)"
cmake -S . -B build-gpu "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DZO_LIB=OFF -DZO_CUDA=ON \
  -DZO_FMT_INCLUDE_DIR="$here/.deps/include" -DZO_DLPACK_INCLUDE_DIR="$here/.deps/include" \
  -DZO_GTEST_SOURCE_DIR="$here/.deps/googletest" -Dpybind11_DIR="$(python3 -m pybind11 --cmakedir)" \
  -DPython3_EXECUTABLE="$(command -v python3)" || exit 1
cmake --build build-gpu -j"$jobs" || exit 1
if [ "$phase" != step ]; then
echo "== ctest (core, optim, cuda)"
ctest --test-dir build-gpu --output-on-failure -j8 > "$OUT/ctest.log" 2>&1
echo "ctest exit $?"; tail -n 15 "$OUT/ctest.log"
echo "== z identity"
build-gpu/bench/cuda_z_identity --csv="$OUT/z_identity.csv"
echo "== pass bandwidth"
build-gpu/bench/cuda_pass_bandwidth --csv="$OUT/pass_bandwidth.csv"
echo "== Python tests"
PYTHONPATH="$here/build-gpu/python:$here/python" ZO_PY_REFERENCE="$here/build-gpu/python/zo_py_reference" \
  timeout 200 python3 -m pytest -q -rs python/tests > "$OUT/pytest.log" 2>&1
echo "pytest exit $?"; tail -n 15 "$OUT/pytest.log"
fi
shapes=${ZO_STEP_SHAPES-opt-1.3b,opt-13b}
if [ "$phase" != check ] && [ -n "$shapes" ]; then
  echo "== step against MeZO's ($shapes)"
  PYTHONPATH="$here/build-gpu/python:$here/python" timeout 300 python3 bench/gpu_step.py --shapes "$shapes" \
    --csv "$OUT/step.csv"
  echo "gpu_step exit $?"
fi
ls -la "$OUT"
