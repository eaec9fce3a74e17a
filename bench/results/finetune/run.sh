#!/usr/bin/env bash
# Reproduces bench/results/finetune: step time of MeZO vs MeZO-BCD on an OPT-125M-shaped random model,
# peak memory of a ZO-SGD run vs `zo score`, and ZO-SGD / ZO-AdaMM / R-AdaZO loss curves on a small
# random OPT. Usage: bench/results/finetune/run.sh [build dir] [all|timing|memory|curves] (default:
# build, all). Writes into this folder. The models are random: accuracy means nothing here; timings,
# memory and loss curves do.
#
# Timing runs use one thread (OMP_NUM_THREADS=1, passive waits) and report CPU seconds of the process
# per step next to wall seconds: this machine is shared, so wall time swings with other work, while CPU
# time of a one-thread run measures the work itself.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
zo=$(cd "${1:-$root/build}" && pwd)/zo
part=${2:-all}
work=${ZO_BENCH_WORK:-/tmp/zo-bench-finetune}
mkdir -p "$work"
[ -f "$work/opt125m/model.safetensors" ] || /usr/bin/python3 "$here/make_random_opt.py" "$work/opt125m" --shape 125m
[ -f "$work/optsmall/model.safetensors" ] || /usr/bin/python3 "$here/make_random_opt.py" "$work/optsmall" --shape small
# 64 SST-2-style records of ~120 tokens (batch 4 × ~128 tokens, the CPU setting of docs/methods.md §3).
/usr/bin/python3 - "$work" <<'PY'
import json, random, sys
work = sys.argv[1]
rng = random.Random(0)
pos = "great warm funny moving smart lovely bright rich honest sharp".split()
neg = "dull boring flat messy tired weak bland slow empty stale".split()
filler = "the a film story cast script scene actor plot music light camera moment hour end start line word".split()
rows = []
for i in range(64):
    words = [rng.choice(filler) for _ in range(110)]
    for j in range(0, 110, 11):
        words[j] = rng.choice(pos if i % 2 else neg)
    rows.append({"sentence": " ".join(words), "label": i % 2, "idx": i})
open(f"{work}/sst2_long.jsonl", "w").write("".join(json.dumps(r) + "\n" for r in rows))
open(f"{work}/score_text.txt", "w").write("\n".join(r["sentence"] for r in rows[:4]))
PY

if [[ $part == all || $part == timing ]]; then
  timing="$here/step_time.csv"
  echo "config,direction,shared_prefix,steps,cpu_seconds_per_step,loss_cpu_seconds_per_step,cpu_step_over_its_forwards,wall_seconds_per_step,peak_rss_mb" > "$timing"
  run_timing() {  # name direction steps extra...
    local name=$1 dir=$2 steps=$3; shift 3
    rm -rf "$work/$name"
    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 OMP_WAIT_POLICY=passive \
      "$zo" finetune --model "$work/opt125m" --task sst2 --train "$work/sst2_long.jsonl" --k 0 --steps "$steps" --batch 4 \
      --lr 1e-6 --eps 1e-3 --direction "$dir" --out "$work/$name" --ledger-fsync-every 1000 --no-plots "$@" 2> "$work/$name.log"
    /usr/bin/python3 - "$work/$name/summary.json" "$name" "$dir" "$steps" "$*" >> "$timing" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
prefix = "no" if "--no-shared-prefix" in sys.argv[5] else "yes"
print(f"{sys.argv[2]},{sys.argv[3]},{prefix},{sys.argv[4]},{s['cpu_seconds_per_step']:.3f},{s['loss_cpu_seconds_per_step']:.3f},"
      f"{s['cpu_seconds_per_step'] / s['loss_cpu_seconds_per_step']:.3f},{s['seconds_per_step']:.3f},{s['peak_rss_mb']:.1f}")
PY
  }
  run_timing mezo dense 3
  run_timing mezo-bcd bcd 14
  run_timing mezo-bcd-noprefix bcd 14 --no-shared-prefix
fi

if [[ $part == all || $part == memory ]]; then
  # Peak RSS of a ZO-SGD run (full parameters, batch 4 × ~128 tokens) and of `zo score` on the same
  # model and batch (4 windows of 128 tokens), both measured by GNU time.
  rm -rf "$work/mem-mezo"
  /usr/bin/time -f "%M" -o "$work/mezo.rss" "$zo" finetune --model "$work/opt125m" --task sst2 --train "$work/sst2_long.jsonl" \
    --k 0 --steps 2 --batch 4 --lr 1e-6 --out "$work/mem-mezo" --ledger-fsync-every 1000 --no-plots > /dev/null 2>&1
  /usr/bin/time -f "%M" -o "$work/score.rss" "$zo" score --model "$work/opt125m" --text "$work/score_text.txt" --max-length 128 --batch 4 > /dev/null 2>&1
  mezo=$(awk '{printf "%.1f", $1/1024}' "$work/mezo.rss")
  score=$(awk '{printf "%.1f", $1/1024}' "$work/score.rss")
  { echo "measure,peak_rss_mb"; echo "zo finetune zo-sgd full (batch 4),$mezo"; echo "zo score (batch 4 x 128),$score";
    echo "ratio,$(awk -v a="$mezo" -v b="$score" 'BEGIN{printf "%.3f", a/b}')"; } > "$here/memory.csv"
fi

if [[ $part == all || $part == curves ]]; then
  # Loss curves: same data, steps, batch, ε and seed for each optimizer, over one learning-rate grid.
  curves="$here/curves.csv"
  echo "optimizer,lr,step,loss" > "$curves"
  for opt in zo-sgd zo-adamm r-adazo; do
    case $opt in zo-sgd) grid="1e-5 1e-4";; *) grid="1e-4 1e-3";; esac
    for lr in $grid; do
      out="$work/curve-$opt-$lr"
      rm -rf "$out"
      "$zo" finetune --model "$work/optsmall" --task sst2 --train "$root/tests/data/tasks/sst2_train.jsonl" --k 0 --steps 60 \
        --batch 4 --lr "$lr" --eps 1e-3 --optimizer "$opt" --out "$out" --ledger-fsync-every 1000 --no-plots 2> "$out.log" || true
      tail -n +2 "$out/train_log.csv" | awk -F, -v o="$opt" -v l="$lr" '{print o "," l "," $1 "," $2}' >> "$curves"
    done
  done
  /usr/bin/python3 "$here/plot_curves.py"
fi
echo "done: $part"
