#!/usr/bin/env python3
"""zo.torch's MeZO and MeZO-BCD steps against MeZO's own PyTorch step, on one GPU, on the same model.

The model: Hugging Face's OPTForCausalLM built from an OPTConfig of OPT-1.3B's or OPT-13B's sizes with
random weights, float16, on the GPU; one batch of 16 × 128 random token ids; the loss is the model's
causal-LM loss (`model(input_ids=ids, labels=ids, use_cache=False).loss`), as in MeZO's timing script.
Every side runs ZO-SGD with central differences, one Gaussian direction, ε = 1e-3, lr = 1e-7.

- MeZO (the peer): the step of MeZO's reference trainer, as /work/shared/peers/mezo_torch.py times it:
  per parameter, z = torch.normal(...) under torch.manual_seed(seed), out-of-place moves
  p.data = p.data + s·ε·z (s = 1, −2, 1), then the update p.data = p.data − lr·g·z from the
  regenerated z. Its dense step moves every parameter; its one-layer step (the MeZO-BCD paper's
  baseline implementation) moves decoder layer 0 only, with two whole forwards.
- zo dense: zo.torch.ZOOptimizer(model.named_parameters(), optimizer="zo-sgd", direction="dense"):
  three fused in-place passes over θ (the restore fused into the update), z regenerated from Philox
  on the GPU, never stored.
- zo MeZO-BCD: direction="bcd", layers="auto", model=model: one block a step in a random
  permutation order, a block per decoder layer and per other tensor (embeddings, final norm), and
  the shared prefix (the layers below the moving block run once a step, for both evaluations).
  Its time is the mean over a whole permutation epoch (every block once), as the cost of a step
  depends on which block moves.

The ratio column is the peer's dense MeZO step over zo's step: `mezo` compares the dense steps,
`mezo-bcd` zo's BCD step against the peer's dense step (the MeZO-BCD paper's comparison). The peer's
own one-layer step is in step_detail.csv (peer_one_layer_ms), for scale.

    python3 bench/gpu_step.py                                  # opt-1.3b and opt-13b, CUDA, float16
    python3 bench/gpu_step.py --shapes opt-1.3b --reps 5
    /usr/bin/python3 bench/gpu_step.py --device cpu --dtype float32 --shapes tiny --batch 2 --seq 16 --csv ''

Without transformers (the CPU smoke run here), the model is scripts/nn_modules.py's OPT, which has
Hugging Face's module layout. Writes --csv (model,method,peer_ms,zo_ms,ratio) and, beside it,
step_detail.csv (the forward, one perturbation pass of each side, the copy floor, peak memory)."""

import argparse
import csv
import os
import pathlib
import statistics
import sys
import time

import torch

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

SHAPES = {  # OPT's published sizes (and a tiny one for a smoke run)
    "opt-125m": dict(hidden_size=768, num_hidden_layers=12, ffn_dim=3072, num_attention_heads=12),
    "opt-1.3b": dict(hidden_size=2048, num_hidden_layers=24, ffn_dim=8192, num_attention_heads=32),
    "opt-13b": dict(hidden_size=5120, num_hidden_layers=40, ffn_dim=20480, num_attention_heads=40),
    "tiny": dict(hidden_size=64, num_hidden_layers=4, ffn_dim=256, num_attention_heads=4),
}
EPS, LR, VOCAB = 1e-3, 1e-7, 50272
DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}


def parse():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shapes", default="opt-1.3b,opt-13b", help=f"comma-separated: {', '.join(SHAPES)}")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--dtype", default="float16", choices=list(DTYPES))
    ap.add_argument("--device", default="cuda", help="cuda (the benchmark) or cpu (a smoke run of the script)")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--reps", type=int, default=7, help="timed steps of each dense step (median)")
    ap.add_argument("--csv", default=str(ROOT / "bench/results/gpu/step.csv"), help="'' to write none")
    args = ap.parse_args()
    for name in args.shapes.split(","):
        if name not in SHAPES:
            ap.error(f"--shapes: unknown shape {name!r} (expected one of {', '.join(SHAPES)})")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        ap.error("--device cuda: torch sees no CUDA device (use --device cpu --dtype float32 for a smoke run)")
    if args.reps < 1 or args.warmup < 0:
        ap.error("--reps must be >= 1 and --warmup >= 0")
    return args


args = parse()
try:
    import zo.torch as zt
except ImportError as e:  # not installed: the source folder, with a build folder's zo/_core on PYTHONPATH
    sys.path.insert(0, str(ROOT / "python"))
    try:
        import zo.torch as zt
    except ImportError:
        sys.exit(f"gpu_step.py: cannot import zo ({e}): install it, or put a build's python/ folder on PYTHONPATH "
                 "(PYTHONPATH=build/python:python)")
DEVICE = torch.device(args.device)
DTYPE = DTYPES[args.dtype]


def sync():
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()


def timed_ms(fn):
    sync()
    t = time.perf_counter()
    fn()
    sync()
    return (time.perf_counter() - t) * 1e3


def median_ms(fn, reps, warmup):
    for _ in range(warmup):
        fn()
    return statistics.median(timed_ms(fn) for _ in range(reps))


def build(name):
    """(model, where the model comes from) with random weights, in eval mode, on DEVICE in DTYPE."""
    shape = SHAPES[name]
    torch.manual_seed(0)
    try:
        from transformers import OPTConfig, OPTForCausalLM
    except ImportError:
        OPTForCausalLM = None
    if OPTForCausalLM is not None:
        cfg = OPTConfig(vocab_size=VOCAB, max_position_embeddings=2048, word_embed_proj_dim=shape["hidden_size"],
                        use_cache=False, **shape)
        previous = torch.get_default_dtype()
        torch.set_default_dtype(DTYPE)
        try:
            with torch.device(DEVICE):
                model = OPTForCausalLM(cfg).eval()
        finally:
            torch.set_default_dtype(previous)
        return model, "transformers.OPTForCausalLM"
    import nn_modules
    import nn_reference

    config = nn_reference.opt_config(VOCAB, shape["hidden_size"], shape["ffn_dim"], shape["num_hidden_layers"],
                                     shape["num_attention_heads"], 2048)
    model = nn_modules.build(config, nn_reference.random_weights(config, torch.Generator().manual_seed(0)))
    return model.to(device=DEVICE, dtype=DTYPE).eval(), "scripts/nn_modules.py OPT (transformers is absent)"


def loss_fn(model, ids):
    """The causal-LM loss of the batch (Hugging Face's own, or the same cross-entropy over nn_modules' logits)."""
    if type(model).__module__.startswith("transformers"):
        return model(input_ids=ids, labels=ids, use_cache=False).loss
    logits = model(ids).float()
    return torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1))


# MeZO's reference step (its trainer's zo_perturb_parameters / zo_update, as mezo_torch.py times it).
def peer_perturb(params, seed, scale):
    torch.manual_seed(seed)
    for p in params:
        z = torch.normal(mean=0, std=1, size=p.data.size(), device=p.data.device, dtype=p.data.dtype)
        p.data = p.data + scale * z * EPS


def peer_update(params, seed, g):
    torch.manual_seed(seed)
    for p in params:
        z = torch.normal(mean=0, std=1, size=p.data.size(), device=p.data.device, dtype=p.data.dtype)
        p.data = p.data - LR * (g * z)


def peer_loss(model, ids):
    with torch.inference_mode():
        return loss_fn(model, ids).detach()


def peer_step(model, params, ids, seed):
    peer_perturb(params, seed, 1)
    f_plus = peer_loss(model, ids)
    peer_perturb(params, seed, -2)
    f_minus = peer_loss(model, ids)
    g = ((f_plus - f_minus) / (2 * EPS)).item()
    peer_perturb(params, seed, 1)
    peer_update(params, seed, g)


def copy_gbps():
    """Read + write bandwidth of a device copy of 1 GiB (the floor of a pass over θ)."""
    x = torch.empty(1 << 29, dtype=torch.float16, device=DEVICE)
    y = torch.empty_like(x)
    ms = median_ms(lambda: y.copy_(x), 10, 2)
    del x, y
    return 2 * (1 << 29) * 2 / (ms / 1e3) / 1e9


def run(name, gbps):
    model, where = build(name)
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    params = [p for _, p in named]
    numel = sum(p.numel() for p in params)
    layer0 = [p for n, p in named if ".layers.0." in n]
    ids = torch.randint(0, VOCAB, (args.batch, args.seq), generator=torch.Generator().manual_seed(1)).to(DEVICE)
    seeds = iter(range(1, 1 << 30))
    if DEVICE.type == "cuda":
        torch.cuda.reset_peak_memory_stats()

    with torch.inference_mode():
        forward = median_ms(lambda: loss_fn(model, ids), args.reps, args.warmup)
    # The peer first: its out-of-place moves give every parameter new memory, so zo's views come after.
    peer_pass = median_ms(lambda: peer_perturb(params, next(seeds), 1), args.reps, args.warmup)
    peer_dense = median_ms(lambda: peer_step(model, params, ids, next(seeds)), args.reps, args.warmup)
    peer_layer = median_ms(lambda: peer_step(model, layer0, ids, next(seeds)), args.reps, args.warmup)
    peer_peak = torch.cuda.max_memory_allocated() / 2**30 if DEVICE.type == "cuda" else 0.0

    def closure():
        return loss_fn(model, ids)

    dense = zt.ZOOptimizer(model.named_parameters(), optimizer="zo-sgd", lr=LR, eps=EPS, direction="dense", seed=7)

    def zo_dense_step():
        with torch.inference_mode():
            dense.step(closure)

    zo_dense = median_ms(zo_dense_step, args.reps, args.warmup)
    zo_pass = median_ms(lambda: dense.step(lambda: 0.0), args.reps, 1) / 3  # three passes, no forward
    bcd = zt.ZOOptimizer(model.named_parameters(), optimizer="zo-sgd", lr=LR, eps=EPS, direction="bcd", seed=7,
                         layers="auto", model=model)
    # blocks="auto" with layers: one block per decoder layer and one per other tensor (the check of the
    # timed epoch below fails if this count is not the optimizer's).
    blocks = len({n.split(".layers.")[1].split(".")[0] for n, _ in named if ".layers." in n}) + \
        sum(1 for n, _ in named if ".layers." not in n)

    def zo_bcd_step():
        with torch.inference_mode():
            bcd.step(closure)

    for _ in range(blocks):  # a warm-up epoch: the first step also fingerprints the base weights for the ledger
        zo_bcd_step()
    shared_before = bcd.prefix_stats["shared_steps"]
    zo_bcd = statistics.fmean(timed_ms(zo_bcd_step) for _ in range(blocks))  # the next epoch, every block once
    shared = bcd.prefix_stats["shared_steps"] - shared_before
    moved = sorted(b for row in bcd.ledger.rows[-blocks:] for b in row.blocks)
    if moved != list(range(blocks)):
        raise SystemExit(f"{name}: the timed epoch moved blocks {moved}, not each of the {blocks} blocks once")
    zo_peak = torch.cuda.max_memory_allocated() / 2**30 if DEVICE.type == "cuda" else 0.0
    params_gb = sum(p.numel() * p.element_size() for p in params) / 1e9
    detail = dict(model=name, params_M=round(numel / 1e6, 1), dtype=args.dtype, batch=args.batch, seq=args.seq,
                  source=where, forward_ms=round(forward, 2), peer_pass_ms=round(peer_pass, 2),
                  zo_pass_ms=round(zo_pass, 2), copy_floor_ms=round(2 * params_gb / gbps * 1e3, 2) if gbps else "",
                  peer_dense_ms=round(peer_dense, 2), peer_one_layer_ms=round(peer_layer, 2),
                  zo_dense_ms=round(zo_dense, 2), zo_bcd_ms=round(zo_bcd, 2), bcd_blocks=blocks,
                  shared_steps=shared, peak_GiB=round(max(peer_peak, zo_peak), 2) if DEVICE.type == "cuda" else "",
                  device=torch.cuda.get_device_name() if DEVICE.type == "cuda" else "cpu", torch=torch.__version__)
    rows = [dict(model=name, method="mezo", peer_ms=round(peer_dense, 2), zo_ms=round(zo_dense, 2),
                 ratio=round(peer_dense / zo_dense, 2)),
            dict(model=name, method="mezo-bcd", peer_ms=round(peer_dense, 2), zo_ms=round(zo_bcd, 2),
                 ratio=round(peer_dense / zo_bcd, 2))]
    del dense, bcd, model, params, named, layer0
    if DEVICE.type == "cuda":
        torch.cuda.empty_cache()
    return rows, detail


def write(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def main():
    torch.set_grad_enabled(False)
    gbps = copy_gbps() if DEVICE.type == "cuda" else 0.0
    device = torch.cuda.get_device_name() if DEVICE.type == "cuda" else "cpu"
    print(f"{device}, torch {torch.__version__}, {args.dtype}, batch {args.batch} × {args.seq}"
          + (f", copy {gbps:.0f} GB/s (read + write)" if gbps else ""))
    rows, details = [], []
    for name in args.shapes.split(","):
        r, d = run(name, gbps)
        rows += r
        details.append(d)
        print(f"{name}: {d['params_M']} M parameters ({d['source']}); forward {d['forward_ms']} ms; one pass over θ: "
              f"MeZO {d['peer_pass_ms']} ms, zo {d['zo_pass_ms']} ms, copy floor {d['copy_floor_ms'] or '-'} ms; "
              f"zo BCD: {d['bcd_blocks']} blocks, {d['shared_steps']} of the timed epoch's steps shared a prefix; "
              f"peak {d['peak_GiB'] or '-'} GiB", flush=True)
    print("| model | step (zo, or the peer's where named) | MeZO dense step ms | step ms | MeZO dense / step |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['method']} | {r['peer_ms']} | {r['zo_ms']} | {r['ratio']} |")
    for d in details:
        print(f"| {d['model']} | MeZO's one-layer step | {d['peer_dense_ms']} | {d['peer_one_layer_ms']} | "
              f"{round(d['peer_dense_ms'] / d['peer_one_layer_ms'], 2)} |")
    if args.csv:
        path = pathlib.Path(args.csv)
        write(path, rows)
        write(path.with_name("step_detail.csv"), details)
        print(f"wrote {path} and {path.with_name('step_detail.csv')}")


if __name__ == "__main__":
    main()
