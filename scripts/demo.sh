#!/usr/bin/env bash
# The zo demo: installs what is missing, builds build/zo (Release), and runs `zo bench synthetic` on a
# moderate default — R-AdaZO vs ZO-AdaMM vs ZO-SGD on Rosenbrock, d = 10 000, a short budget, over a
# small learning-rate grid — then says where the table, curves and plot are.
# Environment: ZO_JOBS (build jobs, default 2), ZO_DEMO_OUT (output folder, default build/demo/synthetic),
# ZO_DEMO_STEPS (steps a run, default 3000).
set -euo pipefail
cd "$(dirname "$0")/.."

jobs="${ZO_JOBS:-2}"
out="${ZO_DEMO_OUT:-build/demo/synthetic}"
steps="${ZO_DEMO_STEPS:-3000}"

need_setup=0
for tool in cmake g++ pkg-config; do command -v "$tool" >/dev/null 2>&1 || need_setup=1; done
for header in /usr/include/CLI/CLI.hpp /usr/include/nlohmann/json.hpp /usr/include/fmt/format.h /usr/include/zlib.h; do
  [ -e "$header" ] || need_setup=1
done
pkg-config --exists openblas 2>/dev/null || need_setup=1
[ "$need_setup" -eq 1 ] && scripts/setup.sh

echo "== building build/zo (Release)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$jobs" --target zo

echo "== zo bench synthetic: r-adazo vs zo-adamm vs zo-sgd on rosenbrock, d = 10000, $steps steps each"
build/zo bench synthetic --function rosenbrock --dim 10000 --optimizer r-adazo,zo-adamm,zo-sgd --baseline zo-adamm \
  --steps "$steps" --lr-grid 1e-7,1e-6,1e-5,1e-4,1e-3 --seed 0 --threads "$jobs" --out "$out"

echo
echo "== results"
echo "table:   $out/table.md"
echo "curves:  $out/curves.csv   (optimizer, lr, step, queries, noiseless loss)"
echo "summary: $out/summary.json"
echo "plot:    $out/curves.png   (loss vs queries, log scale, each optimizer at its best η)"
