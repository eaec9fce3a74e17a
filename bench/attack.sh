#!/usr/bin/env bash
# Reproduces bench/results/attack/ (docs/attack.md): black-box attacks on the committed Fashion-MNIST victim.
#   1. tuning/   each optimizer × an η grid, on 10 test images kept apart from the comparison (indices 5000…)
#   2. .         the comparison: 100 test images (indices 0…), each optimizer at its best η from step 1
#   3. equal_lr/ ZO-AdaMM and R-AdaZO at the same η, both best η values, on the same 100 images
#   4. bcd4/     R-AdaZO over block-coordinate directions moving 4 of the 16 patches a step (step 2's
#                r-adazo-bcd moves 1): its own η grid on the tuning images, then the 100 images
# "Best η" = the lowest mean final loss (the attack objective itself) on the tuning images; see
# docs/attack.md for why not "fewest queries to success".
# Usage: bench/attack.sh  (after cmake --build build; ~4.5 M victim queries, ~4 CPU-minutes)
#        STAGES=4 bench/attack.sh runs only stage 4 (stages 2–4 read tuning/results.csv)
set -euo pipefail
cd "$(dirname "$0")/.."
ZO=${ZO:-build/zo}
OUT=${OUT:-bench/results/attack}
VICTIM=${VICTIM:-models/victim/fashion_mlp.safetensors}
DATA=${DATA:-/usr/share/datasets/fashion-mnist}
THREADS=${THREADS:-2}
Q=3000
GRID=0.0003,0.001,0.003,0.01,0.03,0.1,0.3,1
METHODS=zo-sgd,zo-sign-sgd,zo-adamm,r-adazo,r-adazo-bcd
COMMON=(--victim "$VICTIM" --data "$DATA" --queries $Q --q 10 --eps 0.005 --c 1 --kappa 0 --box tanh
        --difference forward --seed 0 --threads "$THREADS")
STAGES=${STAGES:-1234}
mkdir -p "$OUT/tuning" "$OUT/equal_lr" "$OUT/bcd4"

best_of() {  # best η per method in a results.csv: lowest mean final_loss (col 10; col 3 is "<method>@<η>")
  awk -F, 'NR > 1 { sum[$3] += $10; n[$3]++ }
    END { for (k in sum) { split(k, p, "@"); m = sum[k] / n[k];
            if (!(p[1] in b) || m < b[p[1]]) { b[p[1]] = m; lr[p[1]] = p[2] } }
          for (k in lr) print k "@" lr[k] }' "$1"
}

if [[ $STAGES == *1* ]]; then
echo "== 1. η grid on tuning images" >&2
"$ZO" attack "${COMMON[@]}" --images 10 --first 5000 --optimizer $METHODS --lr-grid $GRID --examples 0 \
  --out "$OUT/tuning" > "$OUT/tuning/table.md" 2> "$OUT/tuning/log.txt" || { cat "$OUT/tuning/log.txt" >&2; exit 1; }

fi

best=$(best_of "$OUT/tuning/results.csv")
chosen=""
for m in ${METHODS//,/ }; do
  chosen+="$(echo "$best" | grep "^$m@")",
done
chosen=${chosen%,}
echo "best η: $chosen" >&2
echo "$chosen" > "$OUT/tuning/best_lr.txt"

if [[ $STAGES == *2* ]]; then
echo "== 2. comparison at each optimizer's best η" >&2
"$ZO" attack "${COMMON[@]}" --images 100 --first 0 --optimizer "$chosen" --examples 6 \
  --out "$OUT" > "$OUT/table.md" 2> "$OUT/log.txt" || { cat "$OUT/log.txt" >&2; exit 1; }
fi

if [[ $STAGES == *3* ]]; then
echo "== 3. ZO-AdaMM vs R-AdaZO at equal η" >&2
lr_adamm=$(echo "$best" | grep '^zo-adamm@' | cut -d@ -f2)
lr_radazo=$(echo "$best" | grep '^r-adazo@' | cut -d@ -f2)
"$ZO" attack "${COMMON[@]}" --images 100 --first 0 --optimizer zo-adamm,r-adazo --lr-grid "$lr_radazo,$lr_adamm" \
  --examples 0 --out "$OUT/equal_lr" > "$OUT/equal_lr/table.md" 2> "$OUT/equal_lr/log.txt" \
  || { cat "$OUT/equal_lr/log.txt" >&2; exit 1; }
fi

if [[ $STAGES == *4* ]]; then
echo "== 4. R-AdaZO-BCD moving 4 of 16 patches a step" >&2
mkdir -p "$OUT/bcd4/tuning"
"$ZO" attack "${COMMON[@]}" --blocks-per-step 4 --images 10 --first 5000 --optimizer r-adazo-bcd --lr-grid $GRID \
  --examples 0 --out "$OUT/bcd4/tuning" > "$OUT/bcd4/tuning/table.md" 2> "$OUT/bcd4/tuning/log.txt" \
  || { cat "$OUT/bcd4/tuning/log.txt" >&2; exit 1; }
bcd4=$(best_of "$OUT/bcd4/tuning/results.csv")
echo "best η (4 blocks a step): $bcd4" >&2
"$ZO" attack "${COMMON[@]}" --blocks-per-step 4 --images 100 --first 0 --optimizer "$bcd4" --examples 0 \
  --out "$OUT/bcd4" > "$OUT/bcd4/table.md" 2> "$OUT/bcd4/log.txt" || { cat "$OUT/bcd4/log.txt" >&2; exit 1; }
fi

cat "$OUT/table.md"
