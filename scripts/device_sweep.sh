#!/bin/bash
# MeZO settings sweep on a GPU machine (bench/mezo_torch.py, PyTorch MeZO on CUDA): many settings in the
# time one zo run takes on a 2-core CPU, to pick the ones worth a zo run:
#   phase 1: the models in SWEEP_MODELS (default models/opt-text-proto; any folder made by
#            scripts/pretrain.py, e.g. a rebuilt models/opt-text or opt-text-gpu, models/README.md):
#            learning rate x seed at 2 000 steps (evaluated every 250), the full-vocabulary loss, a
#            smaller eps, 4 directions a step, batch 64;
#   phase 2: two models pretrained here first with scripts/pretrain.py on CUDA: "proto" (1 200 steps x
#            16 x 128 tokens, models/opt-text-proto's recipe) and "mid" (2 000 x 32 x 128), swept like
#            phase 1 without its extra settings.
# Needs build/mezo-torch/spam.npz (bench/mezo_torch.py --prepare --task spam) and
# data/pretrain/{train,validation}.u16: carry both. Writes under $OUT (few files, for tools that return
# only a handful): sweep.csv (every worker's rows), pretrain.tgz (configs, loss curves, perplexities),
# and the two models' weights split in <name>.model.part-*, device.log.
# Sending it: see scripts/device_check.sh's header (untrack what the call does not read), e.g.
#   git rm -r -q --cached data tests/data
#   printf '/data/\n/tests/data/\n' > .git/info/exclude
#   (run: bash scripts/device_sweep.sh, carry data/pretrain/train.u16, data/pretrain/validation.u16,
#   build/mezo-torch/spam.npz; timeout_s 520)
#   git reset -q HEAD -- data tests/data && rm .git/info/exclude
# A bare `wait` would also wait for the `exec > >(tee ...)` process substitution, which only ends with
# the script, and hang until the time limit: wait on job ids only.
set -u
OUT=${OUT:-device-out}
mkdir -p "$OUT"
PY=${PY:-python3}  # the python that has torch (on the 2-core machine: /usr/bin/python3)
DEADLINE=${SWEEP_DEADLINE:-330}
export SWEEP_MODELS=${SWEEP_MODELS:-models/opt-text-proto}  # space-separated model folders for phase 1
exec > >(tee "$OUT/device.log") 2>&1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
work=$(mktemp -d)
start=$(date +%s)

pretrain() {  # name steps batch
  $PY scripts/pretrain.py --steps "$2" --batch "$3" --warmup 60 --threads 2 --ckpt-every 100000 \
    --out "$work/$1" --work "$work/$1-work" > "$work/$1.log" 2>&1
  echo "pretrain $1 exit $? at $(( $(date +%s) - start )) s: $(grep '"perplexity"' "$work/$1.log")"
  split -b 12M "$work/$1/model.safetensors" "$OUT/$1.model.part-"
}
pretrain proto 1200 16 &
pretrain mid 2000 32 &

$PY - "$work" <<'EOF'
import json, sys
work = sys.argv[1]
def grid(models, deep):
    runs = []
    for seed in (0, 1, 2):
        for m in models:
            for lr in (1e-4, 2e-4, 3e-4, 5e-4):
                runs.append({"model": m, "lr": lr, "seed": seed})
            if seed < 2:
                runs.append({"model": m, "lr": 1e-4, "seed": seed, "loss": "lm"})
                runs.append({"model": m, "lr": 3e-4, "seed": seed, "loss": "lm"})
            if deep and seed < 2:
                runs.append({"model": m, "lr": 3e-4, "eps": 1e-4, "seed": seed})
                runs.append({"model": m, "lr": 1e-3, "queries": 4, "steps": 1000, "seed": seed})
                runs.append({"model": m, "lr": 5e-4, "batch": 64, "seed": seed})
                runs.append({"model": m, "lr": 5e-4, "schedule": "linear", "seed": seed})
    return runs
import os
here = [m for m in os.environ["SWEEP_MODELS"].split() if os.path.exists(f"{m}/model.safetensors")]
json.dump(grid(here, True), open(f"{work}/plan1.json", "w"))
json.dump(grid([f"{work}/proto", f"{work}/mid"], False), open(f"{work}/plan2.json", "w"))
print("plans:", len(json.load(open(f"{work}/plan1.json"))), len(json.load(open(f"{work}/plan2.json"))))
EOF

sweep() {  # plan workers deadline out
  timeout $(( DEADLINE + 100 )) $PY bench/mezo_torch.py --task spam --plan "$1" --workers "$2" --deadline "$3" --steps 2000 \
    --eval-every 250 --val-k 200 --out "$work/$4" > "$work/$4.log" 2>&1
  echo "sweep $4 exit $? at $(( $(date +%s) - start )) s"
}
sweep "$work/plan1.json" 8 "$DEADLINE" sweep1.csv &
sweep1=$!
wait %1 %2
for m in proto mid; do [ -f "$work/$m/model.safetensors" ] || echo "no $m model"; done
elapsed=$(( $(date +%s) - start ))
sweep "$work/plan2.json" 6 $(( DEADLINE - elapsed )) sweep2.csv &
sweep2=$!
wait $sweep1 $sweep2
tar czf "$OUT/pretrain.tgz" -C "$work" --exclude model.safetensors proto mid
{ head -1 "$work/sweep1.csv.0"; for f in "$work"/sweep[12].csv.*; do tail -n +2 "$f"; done; } > "$OUT/sweep.csv"
tail -3 "$work"/*.log
ls -la "$OUT"
