#!/bin/bash
# The PyTorch reference experiment's recipe (docs/results.md) through zo, on any model folder: MeZO
# (zo-sgd, dense Gaussian directions), full-vocabulary loss of the label word (--loss lm), lr 1e-4,
# eps 1e-3, batch 16, k = 256 per class, 600 steps, spam's prompt (configs/spam.json), at most 128
# tokens (first 112 + last 16); validation (200 records) at the start and end, then the final model on
# the whole test split.
# Usage: bench/lm_loss_recipe.sh MODEL_DIR OUT_DIR [SEED] [extra zo finetune options...]
# Writes OUT_DIR/{summary.json, train_log.csv, eval_log.csv, model/} and OUT_DIR/test/summary.json.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 MODEL_DIR OUT_DIR [SEED] [zo finetune options]" >&2; exit 2; }
model=$1; out=$2; seed=${3:-0}; shift $(( $# >= 3 ? 3 : 2 ))
root=$(cd "$(dirname "$0")/.." && pwd)
zo=${ZO:-$root/build/zo}
[ -f "$model/config.json" ] || { echo "$0: $model: no config.json (MODEL_DIR is a model folder)" >&2; exit 2; }
[ -x "$zo" ] || { echo "$0: $zo: not built (cmake --build build --target zo)" >&2; exit 2; }
common=(--config "$root/configs/spam.json" --train "$root/data/spam/train.jsonl" --max-tokens 128 --keep-last 16
        --eval-batch 16 --no-plots)
resume=()
[ -d "$out/checkpoints" ] && [ ! -f "$out/summary.json" ] && resume=(--resume)
[ -f "$out/summary.json" ] || OMP_NUM_THREADS=1 "$zo" finetune --model "$model" "${common[@]}" \
  --eval "$root/data/spam/validation.jsonl" --eval-k 200 --k 256 --per-class --loss lm --lr 1e-4 --eps 1e-3 \
  --batch 16 --steps 600 --seed "$seed" --checkpoint-every 100 --keep-checkpoints 1 --out "$out" "${resume[@]}" "$@"
OMP_NUM_THREADS=1 "$zo" finetune --model "$out/model" --tokenizer "$model/tokenizer.json" "${common[@]}" \
  --eval "$root/data/spam/test.jsonl" --eval-k 0 --k 1 --loss classification --steps 0 --out "$out/test"
python3 -c "import json,sys; s=json.load(open(sys.argv[1])); print(sys.argv[1], 'test accuracy', s['last_eval']['accuracy'])" "$out/test/summary.json"
