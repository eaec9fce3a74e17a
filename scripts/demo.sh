#!/usr/bin/env bash
# The zo demo: installs what is missing, builds build/zo (Release), then fine-tunes the committed
# pretrained language model models/opt-text-proto (5.4 M-parameter OPT, models/README.md) on the real `spam` task
# (SpamAssassin mail, data/spam) with forward passes only, and prints the test accuracy before and after.
#
#   scripts/demo.sh              spam fine-tuning (the default; a few minutes on 2 cores)
#   scripts/demo.sh synthetic    R-AdaZO vs ZO-AdaMM vs ZO-SGD on the Levy function, d = 10 000
#
# Environment: ZO_JOBS (build jobs and threads, default 2), ZO_DEMO_OUT (output folder, default
# build/demo/<demo>), ZO_DEMO_STEPS (training steps; spam default 500, synthetic default 2000),
# ZO_DEMO_OPTIMIZER and ZO_DEMO_LR (spam: optimizer and learning rate, defaults below), ZO_DEMO_MODEL
# (spam: the model folder, default models/opt-text-proto; models/README.md says how to rebuild the two
# other pretrained OPTs the results mention, models/opt-text and models/opt-text-gpu).
set -euo pipefail
cd "$(dirname "$0")/.."

demo="${1:-spam}"
jobs="${ZO_JOBS:-2}"
case "$demo" in
  spam | synthetic) ;;
  *) echo "demo.sh: unknown demo '$demo' (spam, synthetic)" >&2; exit 2 ;;
esac
out="${ZO_DEMO_OUT:-build/demo/$demo}"

# Dependencies: setup.sh checks every package (dpkg, about a second) and installs only what is missing.
scripts/setup.sh

echo "== building build/zo (Release)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$jobs" --target zo

if [ "$demo" = synthetic ]; then
  steps="${ZO_DEMO_STEPS:-2000}"
  echo "== zo bench synthetic: r-adazo vs zo-adamm vs zo-sgd on levy, d = 10000, $steps steps each"
  # Levy rather than Rosenbrock: at d = 10 000 no optimizer moves Rosenbrock's loss visibly in a short
  # budget (bench/results/synthetic/README.md).
  build/zo bench synthetic --function levy --dim 10000 --optimizer r-adazo,zo-adamm,zo-sgd --baseline zo-adamm \
    --steps "$steps" --lr-grid 3e-5,1e-4,3e-4,1e-3,3e-3,1e-2,3e-2,1e-1 --seed 0 --threads "$jobs" --out "$out"
  echo
  echo "== results"
  echo "table:   $out/table.md"
  echo "curves:  $out/curves.csv   (optimizer, lr, step, queries, noiseless loss)"
  echo "summary: $out/summary.json"
  echo "plot:    $out/curves.png   (loss vs queries, log scale, each optimizer at its best η)"
  exit 0
fi

steps="${ZO_DEMO_STEPS:-500}"
optimizer="${ZO_DEMO_OPTIMIZER:-zo-sgd}"
model="${ZO_DEMO_MODEL:-models/opt-text-proto}"
# 1e-4: MeZO's rate chosen on spam's validation split for this model (bench/results/text-tasks-proto/).
lr="${ZO_DEMO_LR:-1e-4}"
for f in "$model/model.safetensors" "$model/tokenizer.json" data/spam/train.jsonl data/spam/test.jsonl configs/spam.json; do
  [ -f "$f" ] || { echo "demo.sh: $f is missing (a clean clone has it; scripts/setup.sh builds data/)" >&2; exit 1; }
done
echo "== zo finetune: $model on spam, $optimizer (dense, lr $lr), k = 256 e-mails per class, $steps steps"
echo "   prompt: '<the e-mail, cut to its first ~110 tokens>\\nIs this email spam? Answer:'  label words ' no' / ' yes'"
rm -rf "$out"
OMP_NUM_THREADS="$jobs" build/zo finetune --model "$model" --config configs/spam.json \
  --train data/spam/train.jsonl --eval data/spam/test.jsonl --k 256 --per-class --eval-k 0 \
  --max-tokens 128 --keep-last 16 --loss classification --optimizer "$optimizer" --lr "$lr" --steps "$steps" --seed 0 \
  --eval-batch 16 --out "$out"

echo
echo "== results (the whole test split: $(wc -l < data/spam/test.jsonl) e-mails)"
/usr/bin/python3 - "$out/summary.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
a, b = s["first_eval"], s["last_eval"]
print(f"accuracy before: {100 * a['accuracy']:.1f} %   (label-word margin {a['margin']:+.3f})")
print(f"accuracy after:  {100 * b['accuracy']:.1f} %   (label-word margin {b['margin']:+.3f})")
print(f"{s['steps']} steps, {1000 * s['seconds_per_step']:.0f} ms a step, peak RSS {s['peak_rss_mb']:.0f} MB")
PY
echo "weights: $out/model   logs: $out/train_log.csv, $out/eval_log.csv   plots: $out/loss.png, $out/accuracy.png"
echo "the majority class (ham) scores $(/usr/bin/python3 -c "import json;r=[json.loads(l)['label'] for l in open('data/spam/test.jsonl')];print(f'{100*r.count(\"ham\")/len(r):.1f}')") % on this split"
