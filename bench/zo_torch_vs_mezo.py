#!/usr/bin/env python3
"""zo.torch's MeZO step against MeZO's own PyTorch step, on the same torch model on the CPU.

Both sides run one ZO-SGD step with central differences, one dense Gaussian direction over every
parameter, ε = 1e-3, lr = 1e-7, on a copy of the same OPT-shaped model with random weights, on the
same batch of token ids:

- zo: zo.torch.ZOOptimizer(model.named_parameters(), optimizer="zo-sgd", ...).step(closure): the
  in-place protocol (θ += εz, f₊, θ −= 2εz, f₋, θ += εz) and the update in one fused pass, z
  regenerated from Philox in each pass, never stored.
- MeZO: the step of /work/shared/peers/mezo_torch_cpu.py (imported from that file; ZO_MEZO_PEER names
  another path): torch.normal under torch.manual_seed per parameter, out-of-place
  p.data = p.data + s·ε·z, restore, update by regenerating z. Where that file is absent, the model is
  scripts/nn_modules.py's OPT and the step is mezo_step below.

Timing: `--warmup` steps of each, then `--steps` rounds that alternate one zo step and one MeZO step;
the table reports the median and the minimum wall time of each and the median CPU time of this
process, the speed-up of the medians and the median of the rounds' ratios (a round's two steps
see about the same machine). Then each side's passes over θ alone (the step with a constant loss
instead of the forward passes; zo makes three, the restore fused into the update, MeZO four),
median of 3. The forward
pass alone (median of 3) is shown for scale: a step is two forwards plus the passes over θ.

    /usr/bin/python3 bench/zo_torch_vs_mezo.py                     # OPT-125M shape, 4 × 128, 2 threads
    /usr/bin/python3 bench/zo_torch_vs_mezo.py --shape tiny --steps 3 --csv ''

The CSV (default bench/results/zo-torch/step.csv) gets one row per run, with the 1-minute load
average before and after: time on a quiet machine only."""

import argparse
import copy
import csv
import importlib.util
import os
import pathlib
import statistics
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
PEER = os.environ.get("ZO_MEZO_PEER", "/work/shared/peers/mezo_torch_cpu.py")
OWN_SHAPES = {
    "opt-125m": dict(d=768, layers=12, ffn=3072, heads=12),
    "opt-350m-ish": dict(d=1024, layers=24, ffn=4096, heads=16),
    "tiny": dict(d=256, layers=4, ffn=1024, heads=4),
}
EPS, LR, VOCAB = 1e-3, 1e-7, 50272


def parse():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shape", default="opt-125m",
                    help="opt-125m, opt-350m-ish, tiny, or d=…,layers=…,ffn=…,heads=…")
    ap.add_argument("--vocab", type=int, default=VOCAB)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--steps", type=int, default=7, help="timed rounds (one step of each side a round)")
    ap.add_argument("--csv", default=str(ROOT / "bench/results/zo-torch/step.csv"), help="'' to write none")
    ap.add_argument("--no-peer", action="store_true", help="use the re-implemented MeZO step even if the peer file exists")
    ap.add_argument("--omp-wait-policy", default="passive",
                    help="OMP_WAIT_POLICY for the whole process (both sides): 'passive' (OpenMP threads sleep at once "
                         "after a loop instead of spinning against OpenBLAS's threads), 'active', or 'default' (unset)")
    ap.add_argument("--openblas-core", default="auto",
                    help="OpenBLAS kernels for both sides: 'auto' (the ones zo's command would run, bench/blas_env.py), "
                         "'default' (whatever OpenBLAS chooses), or a name for OPENBLAS_CORETYPE (Haswell, SkylakeX, …)")
    return ap.parse_args()


args = parse()
os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))  # zo's OpenMP passes; before the imports
if args.omp_wait_policy != "default":
    os.environ["OMP_WAIT_POLICY"] = args.omp_wait_policy  # read when libgomp loads: before torch and zo
WAIT = os.environ.get("OMP_WAIT_POLICY", "default")
sys.path.insert(0, str(ROOT / "bench"))
import blas_env  # noqa: E402

if args.openblas_core == "auto":
    BLAS = blas_env.use_cpu_kernels()  # before torch loads OpenBLAS
elif args.openblas_core == "default":
    BLAS = os.environ.get("OPENBLAS_CORETYPE") or blas_env.openblas_core()
else:
    os.environ["OPENBLAS_CORETYPE"] = BLAS = args.openblas_core

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, str(ROOT / "scripts"))
try:
    import zo.torch as zt
except ImportError:  # not installed: the source folder (with a build folder's zo/_core on PYTHONPATH)
    sys.path.insert(0, str(ROOT / "python"))
    import zo.torch as zt  # noqa: E402


def load_peer():
    if args.no_peer or not os.path.isfile(PEER):
        return None
    spec = importlib.util.spec_from_file_location("mezo_torch_cpu", PEER)
    peer = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(peer)
    return peer


def shape_of(name, shapes):
    if name in shapes:
        return dict(shapes[name])
    try:
        return {k: int(v) for k, v in (kv.split("=") for kv in name.split(","))}
    except ValueError:
        sys.exit(f"--shape {name}: expected one of {', '.join(shapes)} or d=…,layers=…,ffn=…,heads=…")


# MeZO's published step (Malladi et al., 2023, Algorithm 1, and their trainer's zo_perturb_parameters /
# zo_update), re-implemented here for when the peer file is absent: per-parameter z from torch.normal
# under torch.manual_seed(seed), out-of-place moves, restore, update by regenerating z.
def mezo_step(params, loss_fn, seed, eps=EPS, lr=LR):
    def move(scale):
        torch.manual_seed(seed)
        for p in params:
            p.data = p.data + scale * eps * torch.normal(mean=0, std=1, size=p.data.size(), dtype=p.data.dtype)

    with torch.inference_mode():
        move(1)
        f_plus = loss_fn()
        move(-2)
        f_minus = loss_fn()
        move(1)
        g = float((f_plus - f_minus) / (2 * eps))
        torch.manual_seed(seed)
        for p in params:
            p.data = p.data - lr * g * torch.normal(mean=0, std=1, size=p.data.size(), dtype=p.data.dtype)


def build(peer, shape):
    """(model, loss(model, ids), MeZO step(model, ids, seed), MeZO's passes alone(model, seed), where)."""
    torch.manual_seed(0)
    if peer is not None:
        peer.VOCAB = args.vocab  # the peer's model and loss read this module global
        model = peer.OPT(**shape).eval()
        def passes(m, seed):  # the peer's step without its two forward passes
            params = list(m.parameters())
            with torch.inference_mode():
                for scale in (1, -2, 1):
                    peer.perturb(params, seed, scale)
                peer.update(params, seed, 0.0)

        return (model, lambda m, ids: m(ids),
                lambda m, ids, seed: peer.step(m, list(m.parameters()), ids, seed=seed), passes, PEER)
    import nn_modules
    import nn_reference

    config = nn_reference.opt_config(args.vocab, shape["d"], shape["ffn"], shape["layers"], shape["heads"], 2048)
    model = nn_modules.build(config, nn_reference.random_weights(config, torch.Generator().manual_seed(0))).eval()

    def loss(m, ids):
        logits = m(ids)
        return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1))

    return (model, loss, lambda m, ids, seed: mezo_step(list(m.parameters()), lambda: loss(m, ids), seed),
            lambda m, seed: mezo_step(list(m.parameters()), lambda: torch.zeros(()), seed),
            "bench/zo_torch_vs_mezo.py mezo_step (the peer file is absent)")


def timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def timed2(fn):
    """(wall seconds, CPU seconds of this process) of fn()."""
    t, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - t, time.process_time() - c


def main():
    torch.set_num_threads(args.threads)
    peer = load_peer()
    shape = shape_of(args.shape, peer.SHAPES if peer is not None else OWN_SHAPES)
    model, loss, mezo, mezo_passes, where = build(peer, shape)
    model_zo = copy.deepcopy(model)  # the MeZO step gives its parameters new memory at every move
    n = sum(p.numel() for p in model.parameters())
    ids = torch.randint(0, args.vocab, (args.batch, args.seq), generator=torch.Generator().manual_seed(1))
    opt = zt.ZOOptimizer(model_zo.named_parameters(), optimizer="zo-sgd", lr=LR, eps=EPS, direction="dense",
                         distribution="gaussian", queries=1, seed=7)

    def zo_step():
        with torch.inference_mode():
            opt.step(lambda: loss(model_zo, ids))

    seeds = iter(range(1, 1 << 30))

    def mezo_step_once():
        mezo(model, ids, next(seeds))

    load_before = os.getloadavg()[0]
    with torch.inference_mode():
        forward = statistics.median(timed(lambda: loss(model, ids)) for _ in range(3))
    for _ in range(args.warmup):
        zo_step()
        mezo_step_once()
    zo_t, mezo_t, zo_cpu, mezo_cpu = [], [], [], []
    for _ in range(args.steps):
        wall, cpu = timed2(zo_step)
        zo_t.append(wall)
        zo_cpu.append(cpu)
        wall, cpu = timed2(mezo_step_once)
        mezo_t.append(wall)
        mezo_cpu.append(cpu)
    # Where the time goes: the passes over θ alone (a constant loss instead of the forward passes).
    zo_passes = statistics.median(timed(lambda: opt.step(lambda: 0.0)) for _ in range(3))
    mezo_only = statistics.median(timed(lambda: mezo_passes(model, next(seeds))) for _ in range(3))
    load_after = os.getloadavg()[0]
    med = statistics.median

    row = dict(shape=args.shape, params_M=round(n / 1e6, 1), batch=args.batch, seq=args.seq, threads=args.threads,
               steps=args.steps, forward_ms=round(forward * 1e3, 1),
               zo_step_ms=round(statistics.median(zo_t) * 1e3, 1), zo_min_ms=round(min(zo_t) * 1e3, 1),
               mezo_step_ms=round(statistics.median(mezo_t) * 1e3, 1), mezo_min_ms=round(min(mezo_t) * 1e3, 1),
               speedup=round(med(mezo_t) / med(zo_t), 2),
               paired_speedup=round(med(m / z for m, z in zip(mezo_t, zo_t)), 2),
               zo_cpu_ms=round(med(zo_cpu) * 1e3, 1), mezo_cpu_ms=round(med(mezo_cpu) * 1e3, 1),
               zo_passes_ms=round(zo_passes * 1e3, 1), mezo_passes_ms=round(mezo_only * 1e3, 1),
               load_before=round(load_before, 2), load_after=round(load_after, 2), torch=torch.__version__, blas=BLAS, omp_wait_policy=WAIT,
               peer="mezo_torch_cpu.py" if peer is not None else "re-implemented")
    print(f"{args.shape}: {row['params_M']} M parameters, batch {args.batch} × {args.seq}, {args.threads} threads, "
          f"torch {torch.__version__}, OpenBLAS {BLAS} kernels, OMP_WAIT_POLICY {WAIT}; MeZO step from {where}")
    print(f"forward pass: {row['forward_ms']} ms; load average {row['load_before']} -> {row['load_after']}")
    print(f"| step | median ms | min ms | median CPU ms | steps |\n|---|---|---|---|---|")
    print(f"| zo.torch (zo-sgd, dense gaussian, q = 1) | {row['zo_step_ms']} | {row['zo_min_ms']} | "
          f"{row['zo_cpu_ms']} | {args.steps} |")
    print(f"| MeZO's PyTorch step | {row['mezo_step_ms']} | {row['mezo_min_ms']} | {row['mezo_cpu_ms']} | {args.steps} |")
    print(f"the passes over θ alone (median of 3; zo 3, MeZO 4): zo {row['zo_passes_ms']} ms, MeZO {row['mezo_passes_ms']} ms "
          f"({round(mezo_only / zo_passes, 1)}x)")
    print(f"speed-up: {row['speedup']}x (median MeZO / median zo), {row['paired_speedup']}x (median of the rounds' ratios)")
    if args.csv:
        path = pathlib.Path(args.csv)
        path.parent.mkdir(parents=True, exist_ok=True)
        new = not path.exists()
        with open(path, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(row))
            if new:
                w.writeheader()
            w.writerow(row)


if __name__ == "__main__":
    main()
