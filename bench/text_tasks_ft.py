#!/usr/bin/python3
"""First-order fine-tuning baseline on zo's real text tasks (the tables' "ft" row, MeZO's "FT" row):
full fine-tuning of a pretrained model (--model, default models/opt-text-proto) with backpropagation
and AdamW, the reference the ZO methods are measured against. Run it with Debian's /usr/bin/python3 (torch CPU, numpy).

It does what `build/zo finetune --loss classification --max-tokens 128 --keep-last 16` does with the
task's custom template (configs/<task>.json), as bench/text_tasks.py runs it:
- Prompts (data/<task>/{train,validation,test}.jsonl, fields id, text, label):
    spam        text + "\\nIs this email spam? Answer:"                    " no" (ham), " yes" (spam)
    sotu-party  text + "\\nWas this said by a Republican president? Answer:"  " no" (democratic),
                                                                          " yes" (republican)
  Spaces (only spaces) are stripped at both ends of the context and of context + word, as zo does.
- Each candidate sequence is encode(context + candidate) by Hugging Face tokenizers (npm
  @anush008/tokenizers via bench/text_tasks_encode.js; the BOS id 2 is added by the tokenizer); the
  candidate's tokens are those beyond |encode(context)|; a sequence longer than 128 tokens keeps its
  first 112 and its last 16 (the closing question and the label word; zo's --keep-last 16). Candidate score = mean log-probability of its tokens (log-softmax over the whole
  vocabulary); prediction = argmax score (lowest index on ties); loss = cross-entropy of the gold
  candidate over the candidates' scores, averaged over the batch.
- Forward pass: scripts/nn_reference.py's opt_forward (HF modeling_opt.py's math, the reference zo's
  engine is tested against), right padding with an attention mask. When every candidate of an example
  has one token and the candidates' sequences agree except in that token (true for both tasks: " no"
  and " yes" are single tokens after "Answer:"), one forward pass of the shared prefix gives every
  candidate's log-probability: the same numbers as one pass per candidate, since the model is causal.
- Data: k training examples PER CLASS drawn without replacement from train.jsonl with
  numpy.random.default_rng(seed) (class 0's draw first); batches of 16 are the next 16 indices of a
  per-epoch permutation drawn from the same generator. Validation = 300 records of validation.jsonl
  drawn without replacement by numpy.random.default_rng(0) (the files are sorted by id, so the first
  300 would all be of one class); test = the whole test.jsonl.
- Optimizer: torch.optim.AdamW, betas (0.9, 0.999), eps 1e-8, weight decay 0, constant learning rate,
  all parameters trained; a fixed number of steps: 100 at k = 256, 40 at k = 16. One thread
  (torch.set_num_threads(1)), like the zo runs it is compared with.
- Learning rate chosen from {3e-5, 1e-4, 3e-4} by validation balanced accuracy (the mean of the
  classes' accuracies, as bench/text_tasks.py chooses; then accuracy) with seed 0 (ties go to the
  smaller learning rate); the chosen run's final model is then evaluated on the whole test split.
- step_ms = mean wall milliseconds of a training step (batch assembly, forward, backward, AdamW) of
  the chosen run; peak_rss_mb = ru_maxrss / 1024 of a process that ran that configuration alone: the
  driver runs each (task, k) grid in a fresh subprocess, then reruns the chosen learning rate alone in
  another fresh one (training is deterministic, so it reproduces the grid's numbers), whose step_ms
  and peak RSS go to ft.csv. (A grid process's own peak is higher: it keeps the best model so far
  and allocates for four runs.)

Writes (rows replaced idempotently by key, files written to a temporary name then renamed):
  <out>/ft.csv        task,k,method,seed,accuracy,steps,step_ms,peak_rss_mb  (method ft, test accuracy)
  <out>/ft_grid.csv   task,k,lr,seed,val_accuracy,val_balanced_accuracy,test_accuracy,final_loss
                      (test only for the chosen lr)
  <out>/ft_curves.csv task,k,lr,step,loss                                    (training loss per step)
It also prints the zero-shot (pretrained, untrained) accuracy on the test split of each task as a
cross-check; that is not written to ft.csv.

Encoded ids are cached under build/text-tasks-cache/ (keyed by a hash of the tokenizer, the data file
and the template), so reruns do not call node again.

Usage:
  /usr/bin/python3 bench/text_tasks_ft.py --task all --k all --out bench/results/text-tasks
  /usr/bin/python3 bench/text_tasks_ft.py --task spam --k 16 --lrs 1e-4      # one (task, k)
  /usr/bin/python3 bench/text_tasks_ft.py --task spam --zero-shot             # zero-shot only
"""
import argparse
import csv
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

# One thread everywhere: torch.set_num_threads does not reach the BLAS this torch is linked against.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import nn_reference as ref  # noqa: E402

TASKS = {
    "spam": {"suffix": "\nIs this email spam? Answer:", "words": [" no", " yes"], "labels": ["ham", "spam"]},
    "sotu-party": {"suffix": "\nWas this said by a Republican president? Answer:", "words": [" no", " yes"],
                   "labels": ["democratic", "republican"]},
}
STEPS = {256: 100, 16: 40}
LRS = [3e-5, 1e-4, 3e-4]  # 1e-5 was never best in a first run (bench/results/text-tasks/README.md)
BATCH = 16
MAX_TOKENS = 128
KEEP_LAST = 16
VALIDATION_RECORDS = 300
EVAL_BATCH = 16

FT_FIELDS = ["task", "k", "method", "seed", "accuracy", "steps", "step_ms", "peak_rss_mb"]
GRID_FIELDS = ["task", "k", "lr", "seed", "val_accuracy", "val_balanced_accuracy", "test_accuracy", "final_loss"]
CURVE_FIELDS = ["task", "k", "lr", "step", "loss"]


class UsageError(Exception):
    pass


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Data: records, prompts, encoding (through node), truncation.

def read_records(path, task):
    """[(id, text, class)] of a task's JSONL file; errors name the file and line."""
    if not os.path.exists(path):
        raise UsageError(f"{path}: missing")
    labels = TASKS[task]["labels"]
    out = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise UsageError(f"{path}:{n}: corrupt JSON record: {e}") from None
            if not isinstance(rec, dict):
                raise UsageError(f"{path}:{n}: a record must be a JSON object")
            for field in ("id", "text", "label"):
                if field not in rec:
                    raise UsageError(f"{path}:{n}: field '{field}': missing")
                if not isinstance(rec[field], str):
                    raise UsageError(f"{path}:{n}: field '{field}': must be a string (got {json.dumps(rec[field])})")
            label = rec["label"].lower()
            if label not in labels:
                raise UsageError(f"{path}:{n}: field 'label': label '{rec['label']}' is not one of the task's "
                                 f"classes ({', '.join(labels)})")
            out.append((rec["id"], rec["text"], labels.index(label)))
    if not out:
        raise UsageError(f"{path}: no records")
    return out


def prompt_strings(task, text):
    """(context, [context + continuation]) as zo's custom template builds them (spaces stripped)."""
    raw = text + TASKS[task]["suffix"]
    context = raw.strip(" ")
    fulls = []
    for word in TASKS[task]["words"]:
        full = (raw + word).strip(" ")
        if not full.startswith(context) or len(full) == len(context):
            raise UsageError(f"template for {task}: the verbalized prompt does not extend the context")
        fulls.append(context + full[len(context):])
    return context, fulls


def node_encode(tokenizer, strings):
    script = os.path.join(ROOT, "bench", "text_tasks_encode.js")
    modules = os.path.join(ROOT, "scripts", "data", "node_modules", "@anush008", "tokenizers")
    if not os.path.isdir(modules):
        raise UsageError(f"{modules}: missing (npm package @anush008/tokenizers): run scripts/setup.sh "
                         "(or scripts/data/build.sh, which runs npm ci there)")
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = os.path.join(tmp, "in.jsonl"), os.path.join(tmp, "out.jsonl")
        with open(src, "w", encoding="utf-8") as f:
            for s in strings:
                f.write(json.dumps(s) + "\n")
        proc = subprocess.run(["node", script, tokenizer, src, dst], capture_output=True, text=True)
        if proc.returncode != 0:
            raise UsageError(f"{script} failed: {proc.stderr.strip()}")
        with open(dst) as f:
            ids = [json.loads(line) for line in f if line.strip()]
    if len(ids) != len(strings):
        raise UsageError(f"{script}: {len(ids)} encodings for {len(strings)} strings")
    return ids


def atomic_write_text(path, text):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path) or ".", prefix=os.path.basename(path) + ".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def encode_split(task, split, model):
    """[(id, gold, [candidate sequence ids, BOS included, untruncated], [option lengths])]."""
    path = os.path.join(ROOT, "data", task, f"{split}.jsonl")
    records = read_records(path, task)
    tokenizer = os.path.join(model, "tokenizer.json")
    if not os.path.exists(tokenizer):
        raise UsageError(f"{tokenizer}: missing")
    h = hashlib.sha256()
    for p in (tokenizer, path):
        with open(p, "rb") as f:
            h.update(f.read())
    h.update(json.dumps(TASKS[task]).encode())
    cache = os.path.join(ROOT, "build", "text-tasks-cache", f"{task}-{split}-{h.hexdigest()[:16]}.npz")
    C = len(TASKS[task]["words"])
    if not os.path.exists(cache):
        strings = []
        for _, text, _ in records:
            context, fulls = prompt_strings(task, text)
            strings.append(context)
            strings.extend(fulls)
        log(f"encoding {path} ({len(records)} records) with {tokenizer}")
        ids = node_encode(tokenizer, strings)
        seqs = [s for i, s in enumerate(ids) if i % (C + 1) != 0]
        lens = [len(ids[i * (C + 1) + 1 + c]) - len(ids[i * (C + 1)]) for i in range(len(records)) for c in range(C)]
        for j, n in enumerate(lens):
            if n < 1:
                raise UsageError(f"{path}:{j // C + 1}: candidate {j % C} adds no token to the context")
        os.makedirs(os.path.dirname(cache), exist_ok=True)
        tmp = cache + f".tmp{os.getpid()}.npz"
        np.savez(tmp, tokens=np.array([t for s in seqs for t in s], dtype=np.int32),
                 offsets=np.cumsum([0] + [len(s) for s in seqs]).astype(np.int64),
                 option_lengths=np.array(lens, dtype=np.int32))
        os.replace(tmp, cache)
        del ids, seqs
    # Compact arrays in the cache, so that loading a split does not raise the process's peak RSS much.
    with np.load(cache) as z:
        tokens, offsets, lens = z["tokens"], z["offsets"], z["option_lengths"]
    if len(lens) != len(records) * C:
        raise UsageError(f"{cache}: {len(lens)} sequences for {len(records)} records; delete it and rerun")
    out = []
    for i, (rid, _, gold) in enumerate(records):
        seqs = [tokens[offsets[i * C + c]:offsets[i * C + c + 1]] for c in range(C)]
        out.append((rid, gold, seqs, [int(n) for n in lens[i * C:(i + 1) * C]]))
    return out


def truncate(example, max_tokens=MAX_TOKENS, keep_last=KEEP_LAST):
    rid, gold, seqs, lens = example
    for c, n in enumerate(lens):
        if n > keep_last:
            raise UsageError(f"{rid}: candidate {c} has {n} tokens, more than keep_last = {keep_last}")
    head = max_tokens - keep_last
    return rid, gold, [s if len(s) <= max_tokens else np.concatenate([s[:head], s[-keep_last:]]) for s in seqs], lens


def validation_sample(examples, n=VALIDATION_RECORDS):
    """n records drawn without replacement by default_rng(0), in file order."""
    if len(examples) <= n:
        return examples
    keep = sorted(np.random.default_rng(0).choice(len(examples), size=n, replace=False).tolist())
    return [examples[i] for i in keep]


# ---------------------------------------------------------------------------------------------
# Scores and loss.

def candidate_scores(config, W, examples):
    """[B, C] mean log-probabilities of each example's candidates' tokens."""
    rows, queries = [], []  # queries: (row, position, target, example, candidate)
    for e, (_, _, arrays, lens) in enumerate(examples):
        seqs = [a.tolist() for a in arrays]
        prefix = seqs[0][:-1]
        shared = all(n == 1 for n in lens) and all(s[:-1] == prefix for s in seqs)
        if shared:
            r = len(rows)
            rows.append(prefix)
            for c, s in enumerate(seqs):
                queries.append((r, len(prefix) - 1, s[-1], e, c))
        else:
            for c, (s, n) in enumerate(zip(seqs, lens)):
                r = len(rows)
                rows.append(s[:-1])
                for j in range(n):
                    pos = len(s) - 1 - n + j  # position whose output predicts token len(s) - n + j
                    queries.append((r, pos, s[pos + 1], e, c))
    T = max(len(r) for r in rows)
    ids = torch.full((len(rows), T), config.get("pad_token_id", 1), dtype=torch.long)
    mask = torch.zeros((len(rows), T), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, :len(r)] = torch.tensor(r, dtype=torch.long)
        mask[i, :len(r)] = 1
    logits = ref.opt_forward(config, W, ids, mask)
    q = torch.tensor([(r, p, t) for r, p, t, _, _ in queries], dtype=torch.long)
    logp = F.log_softmax(logits[q[:, 0], q[:, 1]].float(), dim=-1).gather(1, q[:, 2:3]).squeeze(1)
    C = len(examples[0][2])
    flat = torch.tensor([e * C + c for _, _, _, e, c in queries], dtype=torch.long)
    counts = torch.zeros(len(examples) * C).index_add_(0, flat, torch.ones(len(queries)))
    sums = torch.zeros(len(examples) * C).index_add(0, flat, logp)
    return (sums / counts).view(len(examples), C)


def classification_loss(scores, gold):
    return F.cross_entropy(scores.double(), gold, reduction="mean")


def accuracy(config, W, examples):
    return accuracies(config, W, examples)[0]


@torch.no_grad()
def accuracies(config, W, examples):
    """(accuracy, balanced accuracy: the mean over gold classes of each class's accuracy)."""
    right, total = {}, {}
    for b in range(0, len(examples), EVAL_BATCH):
        batch = examples[b:b + EVAL_BATCH]
        scores = candidate_scores(config, W, batch)
        pred = scores.argmax(dim=1)  # first maximum: lowest index on ties
        for p, (_, g, _, _) in zip(pred.tolist(), batch):
            total[g] = total.get(g, 0) + 1
            right[g] = right.get(g, 0) + int(p == g)
    return sum(right.values()) / len(examples), sum(right[g] / total[g] for g in total) / len(total)


# ---------------------------------------------------------------------------------------------
# Training.

def sample_indices(train, k, gen, num_classes):
    chosen = []
    for c in range(num_classes):
        pool = np.array([i for i, ex in enumerate(train) if ex[1] == c])
        if len(pool) < k:
            raise UsageError(f"class {c} has {len(pool)} training examples, fewer than k = {k}")
        chosen.extend(gen.choice(pool, size=k, replace=False).tolist())
    return chosen


def train_run(config, W0, train, k, steps, lr, seed, num_classes):
    """Fine-tunes a copy of W0; returns (W, per-step losses, mean step ms)."""
    torch.manual_seed(seed)
    gen = np.random.default_rng(seed)
    idx = sample_indices(train, k, gen, num_classes)
    W = {n: t.clone().requires_grad_(True) for n, t in W0.items()}
    opt = torch.optim.AdamW(list(W.values()), lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    order, pos = gen.permutation(len(idx)), 0
    losses, ms = [], []
    for step in range(steps):
        t0 = time.perf_counter()
        picks = []
        while len(picks) < BATCH:
            if pos == len(order):
                order, pos = gen.permutation(len(idx)), 0
            picks.append(idx[order[pos]])
            pos += 1
        batch = [train[i] for i in picks]
        gold = torch.tensor([g for _, g, _, _ in batch], dtype=torch.long)
        opt.zero_grad(set_to_none=True)
        loss = classification_loss(candidate_scores(config, W, batch), gold)
        loss.backward()
        opt.step()
        ms.append((time.perf_counter() - t0) * 1000)
        losses.append(float(loss))
        if not np.isfinite(losses[-1]):
            raise UsageError(f"lr {lr}: non-finite loss at step {step + 1}")
        if (step + 1) % 10 == 0 or step == 0:
            log(f"  lr {lr:g} step {step + 1}/{steps} loss {losses[-1]:.4f} {ms[-1]:.0f} ms")
    return {n: t.detach() for n, t in W.items()}, losses, float(np.mean(ms))


# ---------------------------------------------------------------------------------------------
# CSV output.

def upsert_csv(path, fields, rows, key):
    """Replaces the rows whose key columns equal a new row's, keeps the others, writes atomically."""
    old = []
    if os.path.exists(path):
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            if reader.fieldnames != fields:
                raise UsageError(f"{path}: columns {reader.fieldnames}, expected {fields}")
            old = list(reader)
    new_keys = {tuple(str(r[c]) for c in key) for r in rows}
    kept = [r for r in old if tuple(r[c] for c in key) not in new_keys]
    out = kept + [{c: str(r[c]) for c in fields} for r in rows]
    lines = [",".join(fields)] + [",".join(r[c] for c in fields) for r in out]
    atomic_write_text(path, "\n".join(lines) + "\n")


def fmt(x, digits=6):
    return f"{x:.{digits}g}"


# ---------------------------------------------------------------------------------------------

def chosen_lr(path, task, k, seed):
    with open(path, newline="") as f:
        rows = [r for r in csv.DictReader(f) if (r["task"], r["k"], r["seed"]) == (task, str(k), str(seed))
                and r["test_accuracy"] != ""]
    if len(rows) != 1:
        raise UsageError(f"{path}: {len(rows)} chosen learning rates for {task} k={k} seed {seed} (expected 1)")
    return rows[0]["lr"]


def load_model(model):
    for name in ("config.json", "model.safetensors"):
        if not os.path.exists(os.path.join(model, name)):
            raise UsageError(f"{os.path.join(model, name)}: missing")
    return ref.load_folder(model)


def run_grid(args, task, k):
    torch.set_num_threads(1)
    config, W0 = load_model(args.model)
    if "lm_head.weight" in W0 and config.get("tie_word_embeddings", True):
        del W0["lm_head.weight"]  # tied: the head is embed_tokens, as opt_forward uses it
    steps = args.steps or STEPS[k]
    C = len(TASKS[task]["words"])
    train = [truncate(e) for e in encode_split(task, "train", args.model)]
    val = [truncate(e) for e in validation_sample(encode_split(task, "validation", args.model))]
    test = [truncate(e) for e in encode_split(task, "test", args.model)]
    grid, curves, best = [], [], None
    for lr in args.lrs:
        log(f"{task} k={k} lr={lr:g}: {steps} steps")
        W, losses, step_ms = train_run(config, W0, train, k, steps, lr, args.seed, C)
        val_acc, val_bal = accuracies(config, W, val)
        if args.report_all_test:
            log(f"{task} k={k} lr={lr:g}: [diagnostic] test accuracy {accuracy(config, W, test):.4f}")
        log(f"{task} k={k} lr={lr:g}: validation accuracy {val_acc:.4f} (balanced {val_bal:.4f}), final loss {losses[-1]:.4f}, "
            f"{step_ms:.0f} ms/step")
        grid.append({"task": task, "k": k, "lr": fmt(lr), "seed": args.seed, "val_accuracy": fmt(val_acc),
                     "val_balanced_accuracy": fmt(val_bal),
                     "test_accuracy": "", "final_loss": fmt(losses[-1])})
        curves += [{"task": task, "k": k, "lr": fmt(lr), "step": s + 1, "loss": fmt(l)} for s, l in enumerate(losses)]
        if best is None or (val_bal, val_acc) > best[1]:  # ties keep the smaller (earlier) learning rate
            best = (lr, (val_bal, val_acc), W, step_ms, len(grid) - 1)
        else:
            del W
    lr, (val_bal, val_acc), W, step_ms, row = best
    test_acc = accuracy(config, W, test)
    grid[row]["test_accuracy"] = fmt(test_acc)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    log(f"{task} k={k}: chosen lr {lr:g} (validation {val_acc:.4f}), test accuracy {test_acc:.4f} "
        f"({len(test)} records), {step_ms:.0f} ms/step, peak RSS {rss:.0f} MB")
    ft = {"task": task, "k": k, "method": "ft", "seed": args.seed, "accuracy": fmt(test_acc), "steps": steps,
          "step_ms": fmt(step_ms, 5), "peak_rss_mb": fmt(rss, 5)}
    upsert_csv(os.path.join(args.out, "ft.csv"), FT_FIELDS, [ft], ["task", "k", "method", "seed"])
    upsert_csv(os.path.join(args.out, "ft_grid.csv"), GRID_FIELDS, grid, ["task", "k", "lr", "seed"])
    upsert_csv(os.path.join(args.out, "ft_curves.csv"), CURVE_FIELDS, curves, ["task", "k", "lr", "step"])
    print(f"{task:<11} k={k:<4} lr={lr:<7g} val={val_acc:.4f} test={test_acc:.4f} "
          f"step_ms={step_ms:.0f} peak_rss_mb={rss:.0f}", flush=True)


def run_zero_shot(args, task):
    torch.set_num_threads(1)
    config, W = load_model(args.model)
    val = [truncate(e) for e in validation_sample(encode_split(task, "validation", args.model))]
    test = [truncate(e) for e in encode_split(task, "test", args.model)]
    v, t = accuracy(config, W, val), accuracy(config, W, test)
    majority = max(np.bincount([g for _, g, _, _ in test])) / len(test)
    print(f"{task:<11} zero-shot: validation {v:.4f} (sample of {len(val)}), test {t:.4f} ({len(test)} records; "
          f"majority class {majority:.4f})", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", default="all", choices=["spam", "sotu-party", "all"])
    p.add_argument("--k", default="all", choices=["256", "16", "all"], help="training examples per class")
    p.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "text-tasks-proto"))
    p.add_argument("--model", default=os.path.join(ROOT, "models", "opt-text-proto"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--lrs", type=float, nargs="+", default=LRS, help="learning-rate grid")
    p.add_argument("--steps", type=int, default=0, help="override the step count (default 100 at k=256, 40 at k=16)")
    p.add_argument("--zero-shot", action="store_true", help="only print the pretrained model's accuracies")
    p.add_argument("--encode-only", action="store_true", help="only encode the task's splits into the cache")
    p.add_argument("--report-all-test", action="store_true",
                   help="also print every learning rate's test accuracy (a diagnostic; not used for the choice)")
    p.add_argument("--no-zero-shot", action="store_true", help="skip the zero-shot cross-check in the driver")
    args = p.parse_args()
    tasks = list(TASKS) if args.task == "all" else [args.task]
    ks = [256, 16] if args.k == "all" else [int(args.k)]
    try:
        for lr in args.lrs:
            if not lr > 0:
                raise UsageError(f"--lrs: {lr} must be > 0")
        if args.steps < 0:
            raise UsageError(f"--steps {args.steps}: must be >= 0")
        if args.encode_only:
            for task in tasks:
                for split in ("train", "validation", "test"):
                    encode_split(task, split, args.model)
            return 0
        if args.zero_shot:
            for task in tasks:
                run_zero_shot(args, task)
            return 0
        if len(tasks) == 1 and len(ks) == 1:
            run_grid(args, tasks[0], ks[0])
            return 0
    except UsageError as e:
        print(f"text_tasks_ft: error: {e}", file=sys.stderr)
        return 2
    # Driver: one fresh process per (task, k) so that each peak RSS is that grid's own.
    base = [sys.executable, os.path.abspath(__file__), "--out", args.out, "--model", args.model,
            "--seed", str(args.seed), "--steps", str(args.steps), "--lrs"] + [repr(lr) for lr in args.lrs]
    if args.report_all_test:
        base.append("--report-all-test")
    for task in tasks:
        # Encoding first, in its own process: the (task, k) processes' peak RSS is training's alone.
        rc = subprocess.run(base + ["--task", task, "--encode-only"]).returncode
        if rc != 0:
            return rc
        if not args.no_zero_shot:
            rc = subprocess.run(base + ["--task", task, "--zero-shot"]).returncode
            if rc != 0:
                return rc
        for k in ks:
            rc = subprocess.run(base + ["--task", task, "--k", str(k)]).returncode
            if rc != 0:
                return rc
            if len(args.lrs) > 1:
                try:
                    lr = chosen_lr(os.path.join(args.out, "ft_grid.csv"), task, k, args.seed)
                except UsageError as e:
                    print(f"text_tasks_ft: error: {e}", file=sys.stderr)
                    return 2
                single = base[:base.index("--lrs")] + ["--lrs", lr, "--task", task, "--k", str(k)]
                rc = subprocess.run(single).returncode
                if rc != 0:
                    return rc
    return 0


if __name__ == "__main__":
    sys.exit(main())
