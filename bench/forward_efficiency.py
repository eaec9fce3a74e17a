#!/usr/bin/env python3
"""zo's forward pass against OpenBLAS sgemm on the same products, and where a forward's time goes.

Runs build/bench/forward_efficiency_bench (one process per batch shape: sgemm alone on the exact
products of an OPT-125M-shaped forward, then zo's whole forward, then one profiled forward and one
ZO perturbation pass) at 4 × 128 and 16 × 128 tokens on an OPT-125M-shaped model with random weights
(C 768, L 12, NH 12, F 3072, V 50272; made once in /tmp by bench/forward_bench.py's make_model).
Both sides run the OpenBLAS kernels zo's command would choose (bench/blas_env.py) and `--threads`
threads. Efficiency = zo's forward GFLOP/s (counted FLOPs: the products plus causal attention) /
sgemm's GFLOP/s on the products alone. Prints a table and writes
bench/results/forward-efficiency/efficiency.csv (one row per shape and run) and breakdown.csv.

    /usr/bin/python3 bench/forward_efficiency.py            # 4 × 128 and 16 × 128, 2 threads, 5 repeats
"""

import argparse
import csv
import datetime
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import blas_env  # noqa: E402

# Operations by what they are, for the breakdown; a product whose width is the vocabulary is the head.
GROUPS = {"attention": "attention", "attention_cached": "attention", "layernorm": "norms", "rmsnorm": "norms", "rope": "attention",
          "relu": "activations", "silu_mul": "activations", "add": "residual adds",
          "embedding": "embedding", "add_embedding": "embedding", "cross_entropy": "loss"}


def group_of(op, width, vocab):
    if op in ("matmul", "matvec"):
        return "head" if width == vocab else "products (Q, K, V, O, FFN)"
    return GROUPS.get(op, op)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shapes", default="4x128,16x128", help="comma-separated BxT")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--model", default="/tmp/zo_forward_bench/opt-125m-shape")
    p.add_argument("--vocab", type=int, default=50272, help="the model's vocabulary (to tell the head apart)")
    p.add_argument("--bench", default=os.path.join(ROOT, "build", "bench", "forward_efficiency_bench"))
    p.add_argument("--out", default=os.path.join(HERE, "results", "forward-efficiency"), help="'' to write nothing")
    args = p.parse_args()

    kernels = blas_env.use_cpu_kernels()
    sys.path.insert(0, HERE)
    import forward_bench  # noqa: E402  (after blas_env: it imports torch to make the model)
    forward_bench.make_model(args.model)
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), OPENBLAS_NUM_THREADS=str(args.threads))
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    when = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    rows, breakdown = [], []
    for shape in args.shapes.split(","):
        B, T = (int(x) for x in shape.lower().split("x"))
        load = os.getloadavg()[0]
        out = subprocess.run([args.bench, args.model, str(B), str(T), str(args.repeats)], env=env, check=True,
                             capture_output=True, text=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        rows.append(dict(B=B, T=T, threads=args.threads, blas=r["blas"], sgemm_gflops=r["sgemm_gflops"],
                         forward_gflops=r["forward_gflops"], efficiency=r["efficiency"],
                         forward_median_s=r["forward_median_s"], gemm_gflop=r["gemm_gflop"],
                         attention_gflop=r["attention_gflop"], pass_s=r["pass_seconds"], load_average=round(load, 2),
                         commit=commit, date=when))
        groups = {}
        for op in r["ops"]:
            g = group_of(op["op"], op["width"], args.vocab)
            groups[g] = groups.get(g, 0.0) + op["seconds"]
        total = r["profiled_forward_s"]
        groups["other (between operations)"] = max(0.0, total - sum(groups.values()))
        for g, s in sorted(groups.items(), key=lambda kv: -kv[1]):
            breakdown.append(dict(B=B, T=T, part=g, seconds=round(s, 6), share=round(s / total, 4), commit=commit,
                                  date=when))
        breakdown.append(dict(B=B, T=T, part="ZO perturbation pass (one; a step makes several)",
                              seconds=round(r["pass_seconds"], 6), share=round(r["pass_seconds"] / total, 4),
                              commit=commit, date=when))

    print(f"OPT-125M shape, {args.threads} threads, OpenBLAS {kernels} kernels, {args.repeats} repeats, commit {commit}")
    print("| B × T | sgemm GFLOP/s (forward's products) | zo forward GFLOP/s | efficiency | forward s | load |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['B']} × {r['T']} | {r['sgemm_gflops']:.1f} | {r['forward_gflops']:.1f} | "
              f"{100 * r['efficiency']:.0f} % | {r['forward_median_s']:.3f} | {r['load_average']} |")
    print("\nwhere a forward's time goes (one profiled forward; share of its wall time):")
    print("| B × T | part | ms | share |\n|---|---|---|---|")
    for b in breakdown:
        print(f"| {b['B']} × {b['T']} | {b['part']} | {1e3 * b['seconds']:.1f} | {100 * b['share']:.1f} % |")
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        for name, table in (("efficiency.csv", rows), ("breakdown.csv", breakdown)):
            path = os.path.join(args.out, name)
            new = not os.path.exists(path)
            with open(path, "a", newline="") as f:
                w = csv.DictWriter(f, fieldnames=list(table[0]))
                if new:
                    w.writeheader()
                w.writerows(table)


if __name__ == "__main__":
    main()
