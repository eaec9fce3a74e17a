#!/usr/bin/env bash
# Reproduces bench/results/synthetic/paper-estimator/: the synthetic comparison of bench/synthetic.sh
# redone with the R-AdaZO paper's estimator form (docs/methods.md §1): forward differences, K = 10
# directions uniform on the sphere sharing one f(θ) a step (11 queries a step). Same query budget as
# bench/synthetic.sh: 1 818 steps = 1 + 11·1818 + 1 = 20 000 queries a run (≤ the 20 002 there), the
# same for every optimizer. ε = 1e-5, i.e. the paper's μ = ε·√d = 1e-3 at d = 10 000
# (docs/optimizers.md, "Scale conventions"). β₁ = 0.9, β₂ = 0.99, seed 0. Every optimizer runs every
# η of its function's grid; each grid was widened until every optimizer's best η lies inside it.
# Then a seed check: zo-adamm and r-adazo, each at its seed-0 best η (read from summary.json), rerun
# with seeds 1 and 2 (written to seeds/<function>/seed<s>/), to see whether their gap exceeds the
# seed-to-seed spread.
# Usage: bench/synthetic_paper.sh [function ...]   (default: all four). ZO_THREADS (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."

threads="${ZO_THREADS:-2}"
results=bench/results/synthetic/paper-estimator
optimizers=zo-sgd,zo-sign-sgd,zo-rmsprop,zo-adamm,r-adazo
steps=1818   # 11 queries a step: 1 + 11·1818 + 1 = 20 000 queries
queries=10
eps=1e-5     # μ = ε·√d = 1e-3

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
  [ -n "${grid[$f]:-}" ] || { echo "bench/synthetic_paper.sh: unknown function '$f'" >&2; exit 2; }
  echo "== $f"
  build/zo bench synthetic --function "$f" --dim 10000 --optimizer "$optimizers" --baseline zo-adamm \
    --steps "$steps" --queries "$queries" --difference forward --direction sphere --eps "$eps" \
    --lr-grid "${grid[$f]}" --log-every 18 --seed 0 --threads "$threads" --out "$results/$f"
done

for f in "${functions[@]}"; do
  pair=$(python3 -c 'import json,sys; b=json.load(open(sys.argv[1]))["best"]; print(",".join(repr(b[o]["lr"]) for o in ("zo-adamm","r-adazo")))' "$results/$f/summary.json")
  for seed in 1 2; do
    echo "== $f seed $seed (η $pair)"
    build/zo bench synthetic --function "$f" --dim 10000 --optimizer zo-adamm,r-adazo --baseline zo-adamm \
      --steps "$steps" --queries "$queries" --difference forward --direction sphere --eps "$eps" \
      --lr-grid "$pair" --log-every 18 --seed "$seed" --threads "$threads" --out "$results/seeds/$f/seed$seed"
  done
done
