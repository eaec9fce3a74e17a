#!/usr/bin/python3
"""MeZO in PyTorch on zo's real text tasks: the peer implementation of `zo finetune --optimizer zo-sgd
--direction dense`, and a fast way to sweep its settings on a GPU (CUDA when present, else CPU).

The algorithm (MeZO, Malladi et al. 2023, Algorithm 1; zo's ZO-SGD with central differences and
Gaussian directions): every step draws z ~ N(0, I) over all parameters (a torch.Generator seeded with
seed * 1_000_003 + step), evaluates the batch loss at θ + εz and θ − εz, and moves
θ ← θ − lr · mean_q[(L+ − L−) / 2ε] z (q directions a step when --queries > 1; each its own seed).
All parameters live in one flat float32 buffer, so a perturbation is one pass over it.

Task, prompts, truncation, data sampling and losses are bench/text_tasks_ft.py's (which does what
zo finetune does): prompt "<text>\\nIs this email spam? Answer:" with " no" / " yes" for spam; at most
128 tokens, a longer sequence keeps its first 112 and last 16; k examples per class drawn with
numpy.random.default_rng(seed), batches from per-epoch permutations of the same generator.
Losses: `classification` (cross-entropy over the label words' log-probabilities, MeZO's
--train_as_classification, zo's --loss classification) or `lm` (cross-entropy of the gold label word
over the whole vocabulary, zo's --loss lm). Evaluation: the argmax over the label words on a validation
sample (--val-k records drawn by default_rng(0)) and on the whole test split, every --eval-every steps;
`margin` = mean over records of log p(gold word) − log p(other word).

Both label words of both tasks are single tokens after "Answer:", so one row per record (its shared
prefix) gives every candidate's log-probability from the last position's logits; --prepare checks that
and writes the encoded splits to build/mezo-torch/<task>.npz, so a machine with no node (a GPU machine,
scripts/device_sweep.sh) needs only that file, the model folder and this script.

Usage:
  /usr/bin/python3 bench/mezo_torch.py --prepare --task spam            # encode (needs node), once
  /usr/bin/python3 bench/mezo_torch.py --task spam --lr 3e-4 --steps 500 --seed 0 --out run.csv
  python3 bench/mezo_torch.py --task spam --plan plan.json --workers 8 --deadline 400 --out sweep.csv
A plan is a JSON list of runs, each an object of any of: model, loss, lr, eps, queries, batch, steps, seed, k,
schedule (constant | linear: decay to 0); missing keys take the command line's values.
Output CSV (appended, one row per evaluation): model,task,k,loss,lr,eps,queries,batch,steps,schedule,
seed,step,train_loss,val_accuracy,val_balanced_accuracy,val_margin,test_accuracy,test_balanced_accuracy,
test_margin,seconds.
"""
import argparse
import csv
import hashlib
import json
import multiprocessing as mp
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import nn_reference as ref  # noqa: E402
import text_tasks_ft as ft  # noqa: E402  (the encoding and k-shot sampling zo finetune's peers share)

FIELDS = ["model", "task", "k", "loss", "lr", "eps", "queries", "batch", "steps", "schedule", "seed", "step",
          "train_loss", "val_accuracy", "val_balanced_accuracy", "val_margin", "test_accuracy",
          "test_balanced_accuracy", "test_margin", "seconds"]
RUN_KEYS = ["model", "loss", "lr", "eps", "queries", "batch", "steps", "seed", "k", "schedule"]


def fail(msg):
    print(f"mezo_torch: error: {msg}", file=sys.stderr)
    sys.exit(2)


def tokenizer_sha256(model):
    with open(os.path.join(model, "tokenizer.json"), "rb") as f:
        return hashlib.sha256(f.read()).digest()


def task_file(task):
    return os.path.join(ROOT, "build", "mezo-torch", f"{task}.npz")


def prepare(task, model):
    """Encodes the task's splits as zo finetune does (text_tasks_ft's encoding) into one npz."""
    arrays = {}
    for split in ("train", "validation", "test"):
        examples = [ft.truncate(e) for e in ft.encode_split(task, split, model)]
        rows, targets, gold = [], [], []
        for rid, g, seqs, lens in examples:
            seqs = [s.tolist() for s in seqs]
            prefix = seqs[0][:-1]
            if not all(n == 1 for n in lens) or not all(s[:-1] == prefix for s in seqs):
                fail(f"{task}/{split} record {rid}: the label words do not share a prefix as single tokens")
            rows.append(prefix)
            targets.append([s[-1] for s in seqs])
            gold.append(g)
        T = max(len(r) for r in rows)
        ids = np.full((len(rows), T), 1, dtype=np.int32)
        for i, r in enumerate(rows):
            ids[i, :len(r)] = r
        arrays[f"{split}_ids"] = ids
        arrays[f"{split}_lens"] = np.array([len(r) for r in rows], dtype=np.int32)
        arrays[f"{split}_targets"] = np.array(targets, dtype=np.int32)
        arrays[f"{split}_gold"] = np.array(gold, dtype=np.int64)
    arrays["tokenizer_sha256"] = np.frombuffer(tokenizer_sha256(model), dtype=np.uint8)
    path = task_file(task)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    np.savez_compressed(path + ".tmp.npz", **arrays)
    os.replace(path + ".tmp.npz", path)
    print(f"wrote {path}: " + ", ".join(f"{s} {len(arrays[s + '_gold'])}" for s in ("train", "validation", "test")))


class Split:
    def __init__(self, z, name, device, keep=None):
        ids, lens = z[f"{name}_ids"], z[f"{name}_lens"]
        targets, gold = z[f"{name}_targets"], z[f"{name}_gold"]
        if keep is not None:
            ids, lens, targets, gold = ids[keep], lens[keep], targets[keep], gold[keep]
        self.ids = torch.from_numpy(ids.astype(np.int64)).to(device)
        self.lens = torch.from_numpy(lens.astype(np.int64)).to(device)
        self.targets = torch.from_numpy(targets.astype(np.int64)).to(device)
        self.gold = torch.from_numpy(gold).to(device)
        self.gold_np = gold
        self.n = len(gold)


def load_task(task, device, val_k):
    path = task_file(task)
    if not os.path.exists(path):
        fail(f"{path}: missing; run bench/mezo_torch.py --prepare --task {task} first")
    with np.load(path) as z:
        nval = len(z["validation_gold"])
        keep = None
        if val_k and nval > val_k:
            keep = np.sort(np.random.default_rng(0).choice(nval, size=val_k, replace=False))
        return (Split(z, "train", device), Split(z, "validation", device, keep), Split(z, "test", device),
                bytes(z["tokenizer_sha256"]))


class Model:
    def __init__(self, folder, device):
        for name in ("config.json", "model.safetensors", "tokenizer.json"):
            if not os.path.exists(os.path.join(folder, name)):
                fail(f"{os.path.join(folder, name)}: missing")
        self.config, W = ref.load_folder(folder)
        if "lm_head.weight" in W and self.config.get("tie_word_embeddings", True):
            del W["lm_head.weight"]
        self.names = sorted(W)
        self.shapes = [W[n].shape for n in self.names]
        self.flat0 = torch.cat([W[n].reshape(-1) for n in self.names]).to(device)
        self.tokenizer_sha256 = tokenizer_sha256(folder)

    def views(self, flat):
        W, o = {}, 0
        for n, s in zip(self.names, self.shapes):
            k = int(np.prod(s))
            W[n] = flat[o:o + k].view(s)
            o += k
        return W


def label_logp(model, W, split, idx):
    """[B, C] log-probabilities of each record's label words (log-softmax over the vocabulary)."""
    lens = split.lens[idx]
    T = int(lens.max())
    ids = split.ids[idx, :T]
    mask = (torch.arange(T, device=ids.device)[None, :] < lens[:, None]).long()
    logits = ref.opt_forward(model.config, W, ids, mask)
    last = logits[torch.arange(len(idx), device=ids.device), lens - 1]
    return F.log_softmax(last.float(), dim=-1).gather(1, split.targets[idx])


def batch_loss(model, W, split, idx, loss):
    lp = label_logp(model, W, split, idx)
    gold = split.gold[idx]
    if loss == "classification":
        return F.cross_entropy(lp, gold)
    return -lp.gather(1, gold[:, None]).mean()


@torch.no_grad()
def evaluate(model, W, split, batch=64):
    right, margins, preds = 0, 0.0, []
    for b in range(0, split.n, batch):
        idx = torch.arange(b, min(b + batch, split.n), device=split.ids.device)
        lp = label_logp(model, W, split, idx)
        gold = split.gold[idx]
        pred = lp.argmax(dim=1)
        preds.append(pred.cpu().numpy())
        g = lp.gather(1, gold[:, None]).squeeze(1)
        other = lp.scatter(1, gold[:, None], float("-inf")).max(dim=1).values
        margins += float((g - other).sum())
    pred = np.concatenate(preds)
    acc = float((pred == split.gold_np).mean())
    bal = float(np.mean([(pred[split.gold_np == c] == c).mean() for c in np.unique(split.gold_np)]))
    return acc, bal, margins / split.n


def sample_k(split, k, gen):
    """text_tasks_ft's k-per-class draw (the same records for the same seed)."""
    try:
        return np.array(ft.sample_indices(list(enumerate(split.gold_np)), k, gen, split.targets.shape[1]))
    except ft.UsageError as e:
        fail(str(e))


@torch.no_grad()
def run(cfg, task, device, data, models, writer, eval_every):
    model = models[cfg["model"]]
    train, val, test, tok = data
    if tok != model.tokenizer_sha256:
        fail(f"{cfg['model']}: its tokenizer.json is not the one {task_file(task)} was encoded with")
    flat = model.flat0.clone()
    W = model.views(flat)
    gen = np.random.default_rng(cfg["seed"])
    pool = sample_k(train, cfg["k"], gen)
    order, pos = gen.permutation(len(pool)), 0
    zgen = torch.Generator(device=device)
    z = torch.empty_like(flat)
    t0 = time.time()
    recent = []

    def report(step):
        va = evaluate(model, W, val)
        te = evaluate(model, W, test)
        row = dict(cfg, task=task, step=step, train_loss=np.mean(recent[-20:]) if recent else float("nan"),
                   val_accuracy=va[0], val_balanced_accuracy=va[1], val_margin=va[2],
                   test_accuracy=te[0], test_balanced_accuracy=te[1], test_margin=te[2], seconds=time.time() - t0)
        writer(row)

    report(0)
    for step in range(1, cfg["steps"] + 1):
        picks = []
        while len(picks) < cfg["batch"]:
            if pos == len(order):
                order, pos = gen.permutation(len(pool)), 0
            picks.append(pool[order[pos]])
            pos += 1
        idx = torch.from_numpy(np.array(picks)).to(device)
        lr = cfg["lr"] * (1 - (step - 1) / cfg["steps"] if cfg["schedule"] == "linear" else 1)
        eps = cfg["eps"]
        grads, seeds = [], []
        for q in range(cfg["queries"]):
            s = (cfg["seed"] * 1_000_003 + step) * 16 + q
            zgen.manual_seed(s)
            torch.randn(flat.shape, generator=zgen, device=device, out=z)
            flat.add_(z, alpha=eps)
            lp = float(batch_loss(model, W, train, idx, cfg["loss"]))
            flat.add_(z, alpha=-2 * eps)
            lm = float(batch_loss(model, W, train, idx, cfg["loss"]))
            flat.add_(z, alpha=eps)
            grads.append((lp - lm) / (2 * eps))
            seeds.append(s)
            recent.append((lp + lm) / 2)
        if not all(np.isfinite(grads)):
            row = dict(cfg, task=task, step=step, train_loss=float("nan"), val_accuracy="", val_balanced_accuracy="",
                       val_margin="", test_accuracy="", test_balanced_accuracy="", test_margin="",
                       seconds=time.time() - t0)
            writer(row)
            return
        # z still holds the last direction; the others are drawn again from their seeds.
        flat.add_(z, alpha=-lr * grads[-1] / cfg["queries"])
        for g, s in zip(grads[:-1], seeds[:-1]):
            zgen.manual_seed(s)
            torch.randn(flat.shape, generator=zgen, device=device, out=z)
            flat.add_(z, alpha=-lr * g / cfg["queries"])
        if step % eval_every == 0 or step == cfg["steps"]:
            report(step)


def csv_writer(path):
    new = not os.path.exists(path)
    f = open(path, "a", newline="")
    w = csv.DictWriter(f, fieldnames=FIELDS, extrasaction="ignore")
    if new:
        w.writeheader()
        f.flush()

    def write(row):
        w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
        f.flush()
        print(" ".join(f"{k}={row[k]:.4g}" if isinstance(row[k], float) else f"{k}={row[k]}"
                       for k in ("model", "loss", "lr", "eps", "queries", "batch", "seed", "step", "train_loss",
                                 "val_balanced_accuracy", "test_accuracy", "seconds")), flush=True)
    return write


def worker(wid, nworkers, plan, args, deadline):
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cpu":
        torch.set_num_threads(args.threads)
    data = load_task(args.task, device, args.val_k)
    models = {}
    out = args.out if nworkers == 1 else f"{args.out}.{wid}"
    writer = csv_writer(out)
    for i, cfg in enumerate(plan):
        if i % nworkers != wid:
            continue
        if deadline and time.time() > deadline:
            print(f"worker {wid}: deadline reached, {cfg} not started", flush=True)
            continue
        if cfg["model"] not in models:
            models[cfg["model"]] = Model(cfg["model"], device)
        run(cfg, args.task, device, data, models, writer, args.eval_every)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", default="spam")
    p.add_argument("--prepare", action="store_true", help="encode the task's splits into build/mezo-torch/<task>.npz")
    p.add_argument("--model", default=os.path.join(ROOT, "models", "opt-text-proto"))
    p.add_argument("--loss", default="classification", choices=["classification", "lm"])
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--eps", type=float, default=1e-3)
    p.add_argument("--queries", type=int, default=1)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--steps", type=int, default=500)
    p.add_argument("--schedule", default="constant", choices=["constant", "linear"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--k", type=int, default=256, help="training examples per class")
    p.add_argument("--val-k", type=int, default=200, help="validation records sampled (0 = all)")
    p.add_argument("--eval-every", type=int, default=100)
    p.add_argument("--plan", help="JSON list of runs (see the header)")
    p.add_argument("--workers", type=int, default=1, help="processes sharing the plan (each writes OUT.<i>)")
    p.add_argument("--deadline", type=float, default=0, help="seconds after which no new run starts (0: none)")
    p.add_argument("--threads", type=int, default=1, help="CPU threads per process when no GPU")
    p.add_argument("--out", default="mezo_torch.csv")
    args = p.parse_args()
    if args.prepare:
        prepare(args.task, args.model)
        return 0
    base = {k: getattr(args, k) for k in RUN_KEYS}
    plan = [base]
    if args.plan:
        try:
            with open(args.plan) as f:
                items = json.load(f)
        except (OSError, json.JSONDecodeError) as e:
            fail(f"{args.plan}: {e}")
        if not isinstance(items, list):
            fail(f"{args.plan}: must be a JSON list of runs")
        plan = []
        for n, item in enumerate(items):
            unknown = set(item) - set(RUN_KEYS)
            if unknown:
                fail(f"{args.plan}: run {n}: unknown key(s) {sorted(unknown)}; known: {RUN_KEYS}")
            plan.append(dict(base, **item))
    for n, cfg in enumerate(plan):
        for key in ("lr", "eps"):
            if not cfg[key] > 0:
                fail(f"run {n}: {key} = {cfg[key]}: must be > 0")
        for key in ("queries", "batch", "steps", "k"):
            if not (isinstance(cfg[key], int) and cfg[key] >= 1):
                fail(f"run {n}: {key} = {cfg[key]}: must be an integer >= 1")
        if cfg["loss"] not in ("classification", "lm") or cfg["schedule"] not in ("constant", "linear"):
            fail(f"run {n}: loss {cfg['loss']} / schedule {cfg['schedule']}: unknown")
    deadline = time.time() + args.deadline if args.deadline else 0
    if args.workers == 1:
        worker(0, 1, plan, args, deadline)
        return 0
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=worker, args=(w, args.workers, plan, args, deadline)) for w in range(args.workers)]
    for pr in procs:
        pr.start()
    for pr in procs:
        pr.join()
    return max(pr.exitcode for pr in procs)


if __name__ == "__main__":
    sys.exit(main())
