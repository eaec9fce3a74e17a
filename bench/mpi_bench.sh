#!/usr/bin/env bash
# Data-parallel ZO on one machine: steps/s of `zo finetune` as 1 process x 2 threads against
# `mpirun -np 2` x 1 thread, with the bytes each rank exchanges per step and the seconds it waits on
# the other rank (summary.json's "distributed"). Prints a table and writes
# bench/results/mpi/mpi_bench.csv (docs/distributed.md).
#
#   bench/mpi_bench.sh                       # the tiny test model (a check that the script works)
#   MODEL=models/opt-125m TOKENIZER=models/opt-125m/tokenizer.json TRAIN=data/sst2/train.jsonl \
#     STEPS=40 BATCH=16 REPEATS=3 bench/mpi_bench.sh
#
# Env: BUILD (build), MODEL, TOKENIZER, TRAIN, STEPS (20), BATCH (8), REPEATS (1), MODES ("data"),
# EXTRA (more zo finetune flags), OUT (bench/results/mpi). Each configuration runs REPEATS times;
# the table shows the median seconds per step. Run it on a quiet machine: the two configurations
# compete for the same cores.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD:-$root/build}"
model="${MODEL:-$root/tests/data/models/opt-tied}"
tokenizer="${TOKENIZER:-$root/tests/data/tokenizers/bytelevel-1k/tokenizer.json}"
train="${TRAIN:-$root/tests/data/tasks/sst2_train.jsonl}"
steps="${STEPS:-20}"
batch="${BATCH:-8}"
repeats="${REPEATS:-1}"
modes="${MODES:-data}"
out="${OUT:-$root/bench/results/mpi}"
zo="$build/zo"
command -v mpirun >/dev/null || { echo "mpi_bench: mpirun not found (apt-get install openmpi-bin libopenmpi-dev)"; exit 1; }
[ -x "$zo" ] || { echo "mpi_bench: $zo not built"; exit 1; }
as_root=(); [ "$(id -u)" -eq 0 ] && as_root=(--allow-run-as-root)
mkdir -p "$out"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

args=(finetune --model "$model" --tokenizer "$tokenizer" --task sst2 --train "$train" --steps "$steps"
      --batch "$batch" --lr 1e-3 --no-plots ${EXTRA:-})
csv="$out/mpi_bench.csv"
echo "config,mode,processes,threads,repeat,seconds_per_step,steps_per_second,bytes_per_step,wait_seconds_per_step" > "$csv"

field() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$1" "$2"; }

run_one() {  # name mode processes threads repeat
  local name=$1 mode=$2 np=$3 threads=$4 r=$5 dir="$scratch/$1-$5"
  if [ "$np" -eq 1 ]; then
    OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads "$zo" "${args[@]}" --out "$dir" 2>/dev/null
  else
    OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads mpirun "${as_root[@]}" --oversubscribe --bind-to none -np "$np" \
      -x OMP_NUM_THREADS -x OPENBLAS_NUM_THREADS "$zo" "${args[@]}" --mpi-mode "$mode" --out "$dir" 2>/dev/null
  fi
  local s; s=$(field "$dir/summary.json" "d['seconds_per_step']")
  local b; b=$(field "$dir/summary.json" "d['distributed']['bytes_per_step']")
  local w; w=$(field "$dir/summary.json" "d['distributed']['wait_seconds_per_step']")
  echo "$name,$mode,$np,$threads,$r,$s,$(python3 -c "print(1/$s)"),$b,$w" >> "$csv"
}

for r in $(seq 1 "$repeats"); do
  run_one 1x2 none 1 2 "$r"
  for mode in $modes; do run_one "2x1-$mode" "$mode" 2 1 "$r"; done
done

python3 - "$csv" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
print(f"{'config':<12} {'processes':>9} {'threads':>7} {'s/step':>10} {'steps/s':>9} {'bytes/step':>11} {'wait s/step':>12}")
for name in dict.fromkeys(r["config"] for r in rows):
    rs = [r for r in rows if r["config"] == name]
    s = statistics.median(float(r["seconds_per_step"]) for r in rs)
    print(f"{name:<12} {rs[0]['processes']:>9} {rs[0]['threads']:>7} {s:>10.4g} {1/s:>9.3g} "
          f"{float(rs[0]['bytes_per_step']):>11.0f} {statistics.median(float(r['wait_seconds_per_step']) for r in rs):>12.3g}")
print(f"csv: {sys.argv[1]}")
PY
