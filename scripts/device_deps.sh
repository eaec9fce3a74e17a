#!/bin/bash
# Gathers, here, what a GPU machine's image lacks for zo's core-only build (cmake -DZO_LIB=OFF): fmt's
# headers (used header-only), the DLPack header and GoogleTest's source tree, from this machine's
# Debian packages (libfmt-dev, libdlpack-dev, googletest; scripts/setup.sh installs them), into .deps/
# (ignored by git). scripts/device_cuda_check.sh reads them there: carry .deps with the call.
set -euo pipefail
cd "$(dirname "$0")/.."
for need in /usr/include/fmt/format-inl.h /usr/include/dlpack/dlpack.h /usr/src/googletest/CMakeLists.txt; do
  [ -e "$need" ] || { echo "device_deps.sh: $need is missing (bash scripts/setup.sh installs it)" >&2; exit 1; }
done
rm -rf .deps
mkdir -p .deps/include
cp -r /usr/include/fmt /usr/include/dlpack .deps/include/
cp -r /usr/src/googletest .deps/googletest
du -sh .deps
