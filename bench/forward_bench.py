#!/usr/bin/python3
"""Forward-pass speed and memory: zo's CPU engine against the PyTorch peer, side by side.

Builds an OPT-125M-shaped random model (width 768, 12 layers, 12 heads, FFN 3072, vocabulary 50272,
2048 positions, tied head, float32) in HF format under /tmp, then alternates, `--repeats` times each
after one warm-up per process:
  zo     build/bench/forward_bench (Model::forward, OpenBLAS sgemm + OpenMP), its own process
  torch  scripts/nn_reference.py's OPT forward (HF modeling_opt.py line by line, eager attention,
         Debian torch 1.13 with OpenBLAS), its own process, torch.set_num_threads(threads)
on the same batch (B × T token ids from a fixed LCG; all real tokens), both with `--threads` threads
(OMP_NUM_THREADS and OPENBLAS_NUM_THREADS; an OPENBLAS_CORETYPE already set is left as is).
Reports tokens/s (B·T / median seconds), the ratio zo/torch, and zo's peak RSS against the weights'
bytes plus the activations a forward must hold. Writes bench/results/forward.csv and forward.md.

  /usr/bin/python3 bench/forward_bench.py [--batch 16] [--seq 128] [--threads 2] [--repeats 3]
"""
import argparse
import datetime
import json
import os
import resource
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "scripts"))


def lcg_tokens(B, T, V):
    """The token ids forward_bench.cpp uses (same LCG), so both engines see the same batch."""
    state, out = 12345, []
    for _ in range(B * T):
        state = (state * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        out.append((state >> 33) % V)
    return out


def torch_worker(args):
    import torch
    import nn_reference as ref
    torch.set_num_threads(args.threads)
    config, W = ref.load_folder(args.model)
    ids = torch.tensor(lcg_tokens(args.batch, args.seq, config["vocab_size"]), dtype=torch.long).reshape(args.batch, args.seq)
    mask = torch.ones_like(ids)
    seconds = []
    with torch.no_grad():
        for r in range(args.repeats + 1):
            start = time.perf_counter()
            logits = ref.forward(config, W, ids, mask)
            s = time.perf_counter() - start
            if r > 0:
                seconds.append(s)
    flat = logits.reshape(-1)
    checksum = float(flat[0] + flat[flat.numel() // 2])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"seconds": seconds, "peak_rss_bytes": peak, "checksum": checksum}))


def make_model(folder):
    if os.path.exists(os.path.join(folder, "model.safetensors")):
        return
    import torch
    import nn_reference as ref
    config = ref.opt_config(50272, 768, 3072, 12, 12, 2048)
    W = ref.random_weights(config, torch.Generator().manual_seed(0), std=0.02)
    ref.write_folder(folder, config, W)


def run(cmd, env):
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--seq", type=int, default=128)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3, help="timed forwards per engine (after one warm-up)")
    p.add_argument("--rounds", type=int, default=1, help="alternations zo, torch, … (each a fresh process)")
    p.add_argument("--model", default="/tmp/zo_forward_bench/opt-125m-shape")
    p.add_argument("--zo-bench", default=os.path.join(ROOT, "build", "bench", "forward_bench"))
    p.add_argument("--out", default=os.path.join(HERE, "results"))
    p.add_argument("--torch-worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.torch_worker:
        return torch_worker(args)

    make_model(args.model)
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), OPENBLAS_NUM_THREADS=str(args.threads))
    zo_runs, torch_runs = [], []
    load = []
    for _ in range(args.rounds):
        load.append(os.getloadavg()[0])
        zo_runs.append(run([args.zo_bench, args.model, str(args.batch), str(args.seq), str(args.repeats)], env))
        load.append(os.getloadavg()[0])
        torch_runs.append(run([sys.executable, os.path.abspath(__file__), "--torch-worker", "--model", args.model,
                               "--batch", str(args.batch), "--seq", str(args.seq), "--threads", str(args.threads),
                               "--repeats", str(args.repeats)], env))
    tokens = args.batch * args.seq
    zo_s = [s for r in zo_runs for s in r["seconds"]]
    torch_s = [s for r in torch_runs for s in r["seconds"]]
    zo_tps, torch_tps = tokens / statistics.median(zo_s), tokens / statistics.median(torch_s)
    z = zo_runs[-1]
    needed = z["weight_bytes"] + z["activation_bytes"]
    rss_ratio = max(r["peak_rss_bytes"] for r in zo_runs) / needed
    checksum_diff = abs(z["checksum"] - torch_runs[-1]["checksum"])
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    when = datetime.datetime.now().isoformat(timespec="seconds")
    coretype = os.environ.get("OPENBLAS_CORETYPE", "")

    os.makedirs(args.out, exist_ok=True)
    header = ("engine,batch,seq,threads,median_s,min_s,max_s,tokens_per_s,ratio_to_torch,ratio_to_torch_fastest,"
              "peak_rss_bytes,weight_bytes,activation_bytes,load_average,commit,date\n")
    rows = []
    for name, secs, runs, tps in (("zo", zo_s, zo_runs, zo_tps), ("torch", torch_s, torch_runs, torch_tps)):
        rows.append(f"{name},{args.batch},{args.seq},{args.threads},{statistics.median(secs):.4f},{min(secs):.4f},"
                    f"{max(secs):.4f},{tps:.1f},{tps / torch_tps:.3f},{min(torch_s) / min(secs):.3f},"
                    f"{max(r['peak_rss_bytes'] for r in runs)},{z['weight_bytes']},{z['activation_bytes']},"
                    f"{statistics.mean(load):.1f},{commit},{when}\n")
    with open(os.path.join(args.out, "forward.csv"), "w") as f:
        f.write(header + "".join(rows))

    mib = 1 << 20
    md = f"""# Forward pass: zo vs PyTorch (CPU)

OPT-125M-shaped random model (C 768, L 12, NH 12, F 3072, V 50272, float32, tied head), batch
{args.batch} × {args.seq} tokens (logits for every position), {args.threads} threads for both
(OMP_NUM_THREADS = OPENBLAS_NUM_THREADS = {args.threads}{", OPENBLAS_CORETYPE=" + coretype if coretype else ""}),
{args.repeats} timed forwards per process after one warm-up, {args.rounds} alternating round(s).
Peer: scripts/nn_reference.py (HF modeling_opt.py line by line, eager attention), Debian torch 1.13
with OpenBLAS. Commit {commit}. Load average (1 min) when each run started:
{", ".join(f"{x:.1f}" for x in load)} on {os.cpu_count()} CPUs.

| engine | median s / forward | min … max s | tokens/s | ratio to torch | peak RSS MiB |
|---|---|---|---|---|---|
| zo | {statistics.median(zo_s):.3f} | {min(zo_s):.3f} … {max(zo_s):.3f} | {zo_tps:.0f} | {zo_tps / torch_tps:.2f} | {max(r['peak_rss_bytes'] for r in zo_runs) / mib:.0f} |
| torch | {statistics.median(torch_s):.3f} | {min(torch_s):.3f} … {max(torch_s):.3f} | {torch_tps:.0f} | 1.00 | {max(r['peak_rss_bytes'] for r in torch_runs) / mib:.0f} |

- Speed: zo/torch tokens/s = **{zo_tps / torch_tps:.2f}** at the median forward, {min(torch_s) / min(zo_s):.2f} at
  each engine's fastest forward (goal ≥ 1.0). On a shared, oversubscribed machine (see the load
  averages) the spread is wide; the fastest forwards are the least disturbed.
- Memory: zo's peak RSS / (weights {z['weight_bytes'] / mib:.0f} MiB + activations
  {z['activation_bytes'] / mib:.0f} MiB) = **{rss_ratio:.2f}** (goal ≤ 1.2). The activations include the
  (B·T, V) float32 logits ({args.batch * args.seq * 50272 * 4 / mib:.0f} MiB). torch's RSS includes its
  loader's copies and is shown for context only.
- Agreement: |Δ| of logits[0] + logits[middle] between the engines: {checksum_diff:.2e}.
"""
    with open(os.path.join(args.out, "forward.md"), "w") as f:
        f.write(md)
    print(md)


if __name__ == "__main__":
    main()
