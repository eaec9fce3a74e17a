#!/usr/bin/env bash
# Reproduces bench/results/synthetic/: R-AdaZO's synthetic comparison (docs/methods.md §4) with `zo bench
# synthetic`. d = 10 000; quadratic, rosenbrock, levy, ackley; zo-sgd, zo-sign-sgd, zo-rmsprop,
# zo-adamm, r-adazo; 10 000 steps of one central two-point probe each (20 002 queries a run, the same
# for every optimizer); Gaussian directions, ε = 1e-3, β₁ = 0.9, β₂ = 0.99, seed 0. Every optimizer runs
# every η of its function's grid; each grid was widened until every optimizer's best η lies inside it.
# Usage: bench/synthetic.sh [function ...]   (default: all four). ZO_THREADS (default 2) runs in parallel.
set -euo pipefail
cd "$(dirname "$0")/.."

threads="${ZO_THREADS:-2}"
results=bench/results/synthetic
optimizers=zo-sgd,zo-sign-sgd,zo-rmsprop,zo-adamm,r-adazo
steps=10000

declare -A grid=(
  [quadratic]=1e-7,3e-7,1e-6,3e-6,1e-5,3e-5,1e-4,3e-4,1e-3,3e-3,1e-2,3e-2,1e-1
  [rosenbrock]=1e-8,3e-8,1e-7,3e-7,1e-6,3e-6,1e-5,3e-5,1e-4,3e-4,1e-3,3e-3,1e-2
  [levy]=1e-5,3e-5,1e-4,3e-4,1e-3,3e-3,1e-2,3e-2,1e-1
  [ackley]=1e-5,1e-4,3e-4,1e-3,3e-3,1e-2,3e-2,1e-1,3e-1,1
)

functions=("$@")
[ ${#functions[@]} -eq 0 ] && functions=(quadratic rosenbrock levy ackley)

if [ ! -x build/zo ]; then
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build build -j2 --target zo
fi

for f in "${functions[@]}"; do
  [ -n "${grid[$f]:-}" ] || { echo "bench/synthetic.sh: unknown function '$f'" >&2; exit 2; }
  echo "== $f"
  build/zo bench synthetic --function "$f" --dim 10000 --optimizer "$optimizers" --baseline zo-adamm \
    --steps "$steps" --lr-grid "${grid[$f]}" --log-every 100 --seed 0 --threads "$threads" --out "$results/$f"
done
