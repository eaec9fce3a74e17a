#!/usr/bin/env bash
# The zo demo: installs what is missing, builds build/zo (Release), and runs `zo bench synthetic` on a
# moderate default — R-AdaZO vs ZO-AdaMM vs ZO-SGD on the Levy function, d = 10 000, a short budget
# (2000 steps, 4002 queries a run), over one small learning-rate grid — then says where the table,
# curves and plot are. (Levy rather than Rosenbrock: at d = 10 000 no optimizer moves Rosenbrock's loss
# visibly in a short budget, see bench/results/synthetic/README.md.)
# Environment: ZO_JOBS (build jobs, default 2), ZO_DEMO_OUT (output folder, default build/demo/synthetic),
# ZO_DEMO_STEPS (steps a run, default 2000).
set -euo pipefail
cd "$(dirname "$0")/.."

jobs="${ZO_JOBS:-2}"
out="${ZO_DEMO_OUT:-build/demo/synthetic}"
steps="${ZO_DEMO_STEPS:-2000}"

# Dependencies: setup.sh checks every package (dpkg, about a second) and installs only what is missing.
scripts/setup.sh

echo "== building build/zo (Release)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$jobs" --target zo

echo "== zo bench synthetic: r-adazo vs zo-adamm vs zo-sgd on levy, d = 10000, $steps steps each"
build/zo bench synthetic --function levy --dim 10000 --optimizer r-adazo,zo-adamm,zo-sgd --baseline zo-adamm \
  --steps "$steps" --lr-grid 3e-5,1e-4,3e-4,1e-3,3e-3,1e-2,3e-2,1e-1 --seed 0 --threads "$jobs" --out "$out"

echo
echo "== results"
echo "table:   $out/table.md"
echo "curves:  $out/curves.csv   (optimizer, lr, step, queries, noiseless loss)"
echo "summary: $out/summary.json"
echo "plot:    $out/curves.png   (loss vs queries, log scale, each optimizer at its best η)"
