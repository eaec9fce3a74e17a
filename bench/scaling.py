#!/usr/bin/python3
"""How a MeZO step's time and memory grow with the model: zo against MeZO's PyTorch step on the CPU.

For each OPT shape (random weights, GPT-2's tokenizer; the shapes of the peer file
/work/shared/peers/mezo_torch_cpu.py, plus OPT-1.3B's, which that file lacks and this script adds to
it at import), in one run:
- zo inference: `zo finetune --steps 0` evaluating 8 SST-2-style prompts of ~125 tokens at batch 4
  (`--eval-batch 4`), the same forward a training step runs: its peak RSS is zo's inference memory;
- zo dense MeZO step and zo MeZO-BCD step (one layer a step): `zo finetune`, batch 4 of those prompts,
  ZO-SGD, ε 1e-3; time per step (the mean over `--zo-steps` steps, from summary.json) and peak RSS;
- the peer: mezo_torch_cpu.py's `step` (MeZO's own: torch.normal per parameter, four out-of-place
  passes) on its OPT model at batch 4 × 128 ids, one warm-up step then the median of `--peer-steps`;
  peak RSS of that process.
Every side runs 2 threads (`--threads`) with the same OpenBLAS kernels (bench/blas_env.py), one
process at a time, each in its own process so peak RSS is its own.

    /usr/bin/python3 bench/scaling.py                                   # 125M, 350M-ish, 1.3B
    /usr/bin/python3 bench/scaling.py --shapes tiny --zo-steps 2 --peer-steps 1 --out ''

Writes bench/results/scaling/scaling.csv (one row per shape and side) and prints a table with the
ratios: the peer's step over zo's, the peer's peak RSS over zo's, and zo's fine-tuning peak RSS
over its inference peak RSS (held to ≤ 1.1)."""

import argparse
import csv
import json
import os
import pathlib
import random
import resource
import shutil
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
import blas_env  # noqa: E402

PEERS = pathlib.Path(os.environ.get("ZO_PEERS", "/work/shared/peers"))
EXTRA_SHAPES = {"opt-1.3b": dict(d=2048, layers=24, ffn=8192, heads=32)}  # OPT-1.3B's config.json
TOKENIZER = ROOT / "tests/data/tokenizers/gpt2/tokenizer.json"


def peer_module():
    sys.path.insert(0, str(PEERS))
    import mezo_torch_cpu as m
    m.SHAPES.update(EXTRA_SHAPES)
    return m


def peer_main(shape, batch, seq, threads, steps):
    """In a child process: the peer's step on `shape`; prints one JSON line."""
    import torch
    m = peer_module()
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = m.OPT(**m.SHAPES[shape]).eval()
    params = list(model.parameters())
    ids = torch.randint(0, m.VOCAB, (batch, seq))
    with torch.inference_mode():
        t = time.perf_counter(); model(ids); fwd = time.perf_counter() - t
    m.step(model, params, ids)  # warm-up
    times = []
    for _ in range(steps):
        t = time.perf_counter(); m.step(model, params, ids); times.append(time.perf_counter() - t)
    print(json.dumps(dict(params_m=sum(p.numel() for p in params) / 1e6, forward_ms=fwd * 1e3,
                          step_ms=statistics.median(times) * 1e3,
                          peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)))


def make_checkpoint(shape, out):
    if (out / "model.safetensors").exists():
        return
    code = ("import sys, runpy; sys.path.insert(0, sys.argv[1]); sys.path.insert(0, sys.argv[2]); import scaling; "
            "scaling.peer_module(); sys.argv = sys.argv[3:]; runpy.run_path(sys.argv[0], run_name='__main__')")
    subprocess.run([sys.executable, "-c", code, str(PEERS), str(ROOT / "bench"),
                    str(PEERS / "make_opt_checkpoint.py"), shape, str(out), str(TOKENIZER)],
                   check=True, stdout=subprocess.DEVNULL)


def write_prompts(path):
    """64 SST-2-style records of ~121 words (~125 GPT-2 tokens with the template), as the peer's 128 ids."""
    rng = random.Random(0)
    pos = "great warm funny moving smart lovely bright rich honest sharp".split()
    neg = "dull boring flat messy tired weak bland slow empty stale".split()
    fill = "the a film story cast script scene actor plot music light camera moment hour end start line word".split()
    with open(path, "w") as f:
        for i in range(64):
            w = [rng.choice(fill) for _ in range(121)]
            for j in range(0, 121, 11):
                w[j] = rng.choice(pos if i % 2 else neg)
            f.write(json.dumps({"sentence": " ".join(w), "label": i % 2, "idx": i}) + "\n")


def zo_run(zo, model, data, out, threads, argv):
    shutil.rmtree(out, ignore_errors=True)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads))
    cmd = [zo, "finetune", "--model", str(model), "--task", "sst2", "--train", str(data), "--k", "0",
           "--batch", "4", "--lr", "1e-6", "--eps", "1e-3", "--out", str(out), "--no-plots"] + argv
    run = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"scaling.py: error: {' '.join(cmd)} failed (exit {run.returncode}):\n{run.stderr[-800:]}")
    with open(out / "summary.json") as f:
        return json.load(f)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shapes", default="opt-125m,opt-350m-ish,opt-1.3b")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--zo-steps", type=int, default=3, help="zo dense steps timed (BCD runs one epoch: a step per layer, embeddings and head)")
    ap.add_argument("--peer-steps", type=int, default=2)
    ap.add_argument("--work", default="/tmp/zo-scaling")
    ap.add_argument("--zo", default=str(ROOT / "build/zo"))
    ap.add_argument("--out", default=str(ROOT / "bench/results/scaling"), help="folder for scaling.csv; '' writes none")
    ap.add_argument("--peer-child", nargs=5, metavar=("SHAPE", "BATCH", "SEQ", "THREADS", "STEPS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.peer_child:
        s, b, q, t, n = args.peer_child
        return peer_main(s, int(b), int(q), int(t), int(n))

    kernels = blas_env.use_cpu_kernels()
    if not os.access(args.zo, os.X_OK):
        sys.exit(f"scaling.py: error: {args.zo}: not built (cmake --build build --target zo)")
    shapes = peer_module().SHAPES
    work = pathlib.Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    data = work / "sst2_long.jsonl"
    write_prompts(data)
    load0 = os.getloadavg()[0]
    rows = []
    for shape in args.shapes.split(","):
        if shape not in shapes:
            sys.exit(f"scaling.py: error: --shapes: unknown shape '{shape}' (known: {', '.join(shapes)})")
        model = work / shape / "model"
        make_checkpoint(shape, model)
        layers = shapes[shape]["layers"]  # BCD's blocks: the layers, the embeddings and the final norm
        inf = zo_run(args.zo, model, data, work / shape / "infer", args.threads,
                     ["--steps", "0", "--eval", str(data), "--eval-k", "8", "--eval-batch", "4"])
        dense = zo_run(args.zo, model, data, work / shape / "dense", args.threads,
                       ["--steps", str(args.zo_steps), "--direction", "dense"])
        bcd = zo_run(args.zo, model, data, work / shape / "bcd", args.threads,
                     ["--steps", str(layers + 2), "--direction", "bcd"])
        peer = subprocess.run([sys.executable, __file__, "--peer-child", shape, "4", "128", str(args.threads),
                               str(args.peer_steps)], capture_output=True, text=True)
        if peer.returncode != 0:
            sys.exit(f"scaling.py: error: the peer's step on {shape} failed:\n{peer.stderr[-800:]}")
        p = json.loads(peer.stdout.strip().splitlines()[-1])
        row = dict(shape=shape, params_m=round(p["params_m"], 1), kernels=kernels, threads=args.threads,
                   zo_infer_rss_mb=round(inf["peak_rss_mb"]), zo_step_ms=round(dense["seconds_per_step"] * 1e3),
                   zo_step_rss_mb=round(dense["peak_rss_mb"]), zo_bcd_step_ms=round(bcd["seconds_per_step"] * 1e3),
                   zo_bcd_rss_mb=round(bcd["peak_rss_mb"]), peer_step_ms=round(p["step_ms"]),
                   peer_rss_mb=round(p["peak_rss_mb"]), peer_forward_ms=round(p["forward_ms"]))
        row["step_ratio"] = round(row["peer_step_ms"] / row["zo_step_ms"], 2)
        row["bcd_ratio"] = round(row["peer_step_ms"] / row["zo_bcd_step_ms"], 2)
        row["rss_ratio"] = round(row["peer_rss_mb"] / row["zo_step_rss_mb"], 2)
        row["zo_ft_over_infer_rss"] = round(max(row["zo_step_rss_mb"], row["zo_bcd_rss_mb"]) / row["zo_infer_rss_mb"], 3)
        rows.append(row)
        print(json.dumps(row), flush=True)
        if shape != "tiny":
            shutil.rmtree(work / shape, ignore_errors=True)  # a 1.3B checkpoint is 5 GB
    load1 = os.getloadavg()[0]
    cols = ["shape", "params_m", "zo_step_ms", "zo_bcd_step_ms", "peer_step_ms", "step_ratio", "bcd_ratio",
            "zo_infer_rss_mb", "zo_step_rss_mb", "zo_bcd_rss_mb", "peer_rss_mb", "rss_ratio", "zo_ft_over_infer_rss"]
    print(f"\nkernels {kernels}, {args.threads} threads, load {load0:.2f} → {load1:.2f}")
    print("| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(str(r[c]) for c in cols) + " |")
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        path = os.path.join(args.out, "scaling.csv")
        fields = list(rows[0].keys()) + ["load_before", "load_after", "commit"]
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True).stdout.strip()
        new = not os.path.exists(path)
        with open(path, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=fields)
            if new:
                w.writeheader()
            for r in rows:
                w.writerow(dict(r, load_before=round(load0, 2), load_after=round(load1, 2), commit=commit))
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
