#!/usr/bin/python3
"""zo's dense perturbation pass against the peer's: MeZO's own perturbation step in PyTorch (CPU).

MeZO (Malladi et al. 2023, its `zo_perturb_parameters`) draws z = torch.normal(0, 1, size) for each
parameter and writes `param.data = param.data + scaling_factor * z * eps`. This script times that on
the same 1.0e8 float32 parameters (24 matrices 2048 × 2035) that bench/perturb_bench.cpp uses, with
the same thread count, and runs zo's bench in the same script, alternating rounds. Output: a table
and bench/results/perturb_peer.csv.

    OMP_NUM_THREADS=2 /usr/bin/python3 bench/perturb_peer.py [--rounds 3] [--zo build/bench/perturb_bench]
"""
import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def mezo_perturb(params, eps, generator):
    for p in params:
        z = torch.normal(mean=0.0, std=1.0, size=p.size(), dtype=p.dtype, generator=generator)
        p.data = p.data + eps * z


def zo_dense_ms(binary):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "perturb.csv")
        subprocess.run([binary, "--rounds=1", f"--csv={out}"], check=True, stdout=subprocess.DEVNULL)
        with open(out) as f:
            rows = {r["case"]: r for r in csv.DictReader(f)}
    return float(rows["dense"]["median_ms"]), float(rows["copy"]["median_ms"])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--zo", default=os.path.join(ROOT, "build", "bench", "perturb_bench"))
    ap.add_argument("--csv", default=os.path.join(ROOT, "bench", "results", "perturb_peer.csv"))
    args = ap.parse_args()
    if not os.path.exists(args.zo):
        sys.exit(f"perturb_peer: {args.zo} not found: build the project first (cmake --build build)")
    threads = int(os.environ.get("OMP_NUM_THREADS", "2"))
    torch.set_num_threads(threads)
    params = [torch.full((2048, 2035), 1e-3) for _ in range(24)]
    gen = torch.Generator().manual_seed(0)
    mezo_perturb(params, 1e-3, gen)  # warm-up: first touch of every buffer

    rows = []
    for r in range(args.rounds):
        t0 = time.perf_counter()
        mezo_perturb(params, 1e-3, gen)
        torch_ms = (time.perf_counter() - t0) * 1e3
        zo_ms, copy_ms = zo_dense_ms(args.zo)
        rows.append((torch_ms, zo_ms, copy_ms))
        print(f"round {r + 1}: torch {torch_ms:8.1f} ms   zo {zo_ms:8.1f} ms   zo copy loop {copy_ms:7.1f} ms",
              file=sys.stderr)

    torch_ms = statistics.median(r[0] for r in rows)
    zo_ms = statistics.median(r[1] for r in rows)
    copy_ms = statistics.median(r[2] for r in rows)
    ratio = statistics.median(r[0] / r[1] for r in rows)
    print(f"\n| pass over 1.0e8 float32, {threads} threads | median ms | time / copy loop |")
    print("|---|---|---|")
    print(f"| PyTorch {torch.__version__} MeZO perturbation (normal + add) | {torch_ms:.1f} | {torch_ms / copy_ms:.2f} |")
    print(f"| zo dense perturb (Philox + Box-Muller fused) | {zo_ms:.1f} | {zo_ms / copy_ms:.2f} |")
    print(f"| plain read+write loop (zo bench) | {copy_ms:.1f} | 1.00 |")
    print(f"\nzo is {ratio:.1f}x faster than the PyTorch peer (median of per-round ratios)")
    with open(args.csv, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["round", "threads", "torch_ms", "zo_ms", "copy_ms", "torch_over_zo"])
        for i, (t, z, c) in enumerate(rows):
            w.writerow([i + 1, threads, f"{t:.3f}", f"{z:.3f}", f"{c:.3f}", f"{t / z:.3f}"])
    print(f"wrote {args.csv}")


if __name__ == "__main__":
    main()
