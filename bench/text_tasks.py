#!/usr/bin/python3
"""The fine-tuning table: ZO fine-tuning of a pretrained model (--model, default models/opt-text-proto)
on the real text tasks (spam, sotu-party), every method through `build/zo finetune`, plus zero-shot and
the majority class.

Prompts and label words: configs/<task>.json (spam: "<text>\nIs this email spam? Answer:" " no"/" yes";
sotu-party: "<text>\nWas this said by a Republican president? Answer:" " no"/" yes").
Plan, per task (all runs: --loss classification, --max-tokens 128 --keep-last 16, batch 16, eps 1e-3, --steps N,
k examples per class sampled with the run's seed, the same N for every method):
  1. grid   seed 0, k = 256, each method at each learning rate of its grid (GRIDS), evaluated on the
            validation split (VAL_K records sampled with seed 0, the same for every run);
  2. choose the learning rate of the best final validation balanced accuracy (the mean of the two
     classes' accuracies; ties: accuracy, then lower validation loss). Plain accuracy would reward a
     one-sided model on an imbalanced split: sotu-party's validation split is 72 % democratic, and a
     model that says "no" to everything scores 72 % there but 50 % balanced. Grid runs made before
     zo reported balanced accuracy get it from their model/ re-evaluated on the same validation
     sample (`zo finetune --steps 0`, into <run>/val);
  3. test   the chosen seed-0 run's model/ evaluated on the whole test split (`zo finetune --steps 0`);
            seeds 1 and 2 of mezo, mezo-bcd, zo-adamm, r-adazo at the chosen rate, trained on their
            own k-shot samples and evaluated on the whole test split; mezo at k = 16 (MeZO's few-shot
            setting) with mezo's chosen rate;
  4. zero-shot: the --model itself on the test split; majority: the training split's majority
            class, scored on the test split.
The first-order row (`ft`) comes from bench/text_tasks_ft.py (ft.csv), merged into results.csv here.

Every run is one process with one thread (OMP_NUM_THREADS=1), --jobs of them at a time: on this
2-core machine that uses the cores better than one 2-thread run, and every step_ms is measured the
same way. Runs checkpoint every 100 steps; a run folder with summary.json is done and skipped, one
without is resumed (--resume), so an interrupted table is finished by rerunning the same command.

Outputs (--out, default bench/results/text-tasks-proto):
  results.csv  task,k,method,seed,accuracy,steps,step_ms,peak_rss_mb  (one row per run; test accuracy)
  details.csv  the same runs with lr, test margin and loss, final training loss, CPU ms per step
  grid.csv     task,method,lr,val_accuracy,val_balanced_accuracy,val_margin,val_loss,final_train_loss,chosen
  curves.csv   task,k,method,seed,step,loss  (training loss per step of every run in results.csv)
  loss_<task>.png  training loss (moving average) of each method's seed-0 run, k = 256
  table.md     mean ± std test accuracy and time per step per (task, k, method)
  claims.md    the three claims checked (BCD vs MeZO, R-AdaZO vs ZO-AdaMM loss, ZO vs zero-shot), computed

Usage: /usr/bin/python3 bench/text_tasks.py [--tasks spam,sotu-party] [--steps 500] [--jobs 2]
       [--phase all|grid|report] [--val-k 300] [--work build/text-tasks-proto] [--zo build/zo]
       [--model models/opt-text-proto] [--methods mezo,mezo-bcd,...] [--grid mezo=1e-4,2e-4]
       [--out bench/results/text-tasks-proto]
The tables of bench/results/ (docs/results.md) ran as:
  text-tasks-proto  --tasks spam --steps 500 --val-k 200, then --tasks sotu-party --methods mezo
  text-tasks        --model models/opt-text --steps 500 --val-k 200 --work build/text-tasks
                    --out bench/results/text-tasks
  text-tasks-gpu    --model models/opt-text-gpu --methods mezo --tasks spam --val-k 200
                    --work build/text-tasks-gpu --out bench/results/text-tasks-gpu
models/opt-text and models/opt-text-gpu are rebuilt with scripts/pretrain.py (models/README.md).
"""
import argparse
import csv
import json
import math
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TASKS = ["spam", "sotu-party"]  # prompt and label words: configs/<task>.json (zo finetune --config)

# method -> zo finetune flags
METHODS = {
    "mezo": ["--optimizer", "zo-sgd", "--direction", "dense"],
    "mezo-bcd": ["--optimizer", "zo-sgd", "--direction", "bcd"],
    "zo-adamm": ["--optimizer", "zo-adamm", "--direction", "dense"],
    "r-adazo": ["--optimizer", "r-adazo", "--direction", "dense"],
    "r-adazo-bcd": ["--optimizer", "r-adazo", "--direction", "bcd"],
    "mezo-lora": ["--optimizer", "zo-sgd", "--direction", "dense", "--mode", "lora"],
}
# Learning-rate grids: two rates a factor 3 apart per method, placed by short probes on spam (MeZO at
# 1e-3 was unstable and 3e-3 diverged; 1e-4 and 3e-4 learned slowly) and by each method's scale:
# one-block BCD moves 1/6 of the coordinates, LoRA's 33 k adapter weights tolerate larger steps, and the
# adaptive rules move every coordinate by about lr a step.
GRIDS = {
    "mezo": [1e-4, 3e-4],
    "mezo-bcd": [3e-4, 1e-3],
    "zo-adamm": [3e-5, 1e-4],
    "r-adazo": [3e-5, 1e-4],
    "r-adazo-bcd": [1e-4, 3e-4],
    "mezo-lora": [1e-3, 3e-3],
}
SEEDED = ["mezo", "mezo-bcd", "zo-adamm", "r-adazo"]  # 3 seeds at k = 256
VAL_K = 300
# Sequences longer than 128 tokens keep their first 112 and their last 16 (the closing question and the
# label word): an e-mail keeps its subject and first lines (zo finetune --keep-last).
MAX_TOKENS, KEEP_LAST = 128, 16
K = 256
FEW_K = 16
COLUMNS = ["task", "k", "method", "seed", "accuracy", "steps", "step_ms", "peak_rss_mb"]


def fail(msg):
    print(f"text_tasks.py: error: {msg}", file=sys.stderr)
    sys.exit(1)


def lr_name(lr):
    return f"{lr:.0e}".replace("e-0", "e-")


def write_atomic(path, text):
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        fail(f"{path}: cannot read: {e}")


class Runner:
    def __init__(self, args):
        self.args = args
        self.zo = os.path.abspath(args.zo)
        if not os.access(self.zo, os.X_OK):
            fail(f"{self.zo}: not built (cmake --build build --target zo)")
        self.model = os.path.abspath(args.model)
        if not os.path.exists(os.path.join(self.model, "config.json")):
            fail(f"{self.model}: no config.json (--model takes a model folder; models/README.md says how to "
                 "rebuild models/opt-text and models/opt-text-gpu)")
        self.work = os.path.abspath(args.work)
        os.makedirs(self.work, exist_ok=True)

    def config(self, task):
        path = os.path.join(ROOT, "configs", f"{task}.json")
        if not os.path.exists(path):
            fail(f"{path}: missing")
        return path

    def data(self, task, split):
        path = os.path.join(ROOT, "data", task, f"{split}.jsonl")
        if not os.path.exists(path):
            fail(f"{path}: missing (scripts/setup.sh builds data/)")
        return path

    def run(self, out, argv, label):
        """Runs zo finetune into `out` unless it is done; resumes a run cut off earlier."""
        summary = os.path.join(out, "summary.json")
        if os.path.exists(summary):
            return read_json(summary)
        cmd = [self.zo, "finetune"] + argv + ["--out", out, "--no-plots"]
        if os.path.isdir(os.path.join(out, "checkpoints")) and os.listdir(os.path.join(out, "checkpoints")):
            cmd.append("--resume")
        elif os.path.isdir(out):
            shutil.rmtree(out)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        env = dict(os.environ, OMP_NUM_THREADS="1", OMP_WAIT_POLICY="passive", OPENBLAS_NUM_THREADS="1")
        t0 = time.time()
        log = out + ".log"
        with open(log, "a") as f:
            f.write(" ".join(cmd) + "\n")
            f.flush()
            rc = subprocess.call(["nice", "-n", "5"] + cmd, stdout=f, stderr=f, env=env)
        if rc != 0 or not os.path.exists(summary):
            with open(log) as f:
                tail = f.read()[-800:]
            print(f"[{label}] FAILED (exit {rc}); log {log}:\n{tail}", file=sys.stderr)
            return None
        s = read_json(summary)
        acc = s.get("last_eval", {}).get("accuracy")
        print(f"[{label}] done in {time.time() - t0:.0f} s: accuracy {acc}", flush=True)
        return s

    def train_argv(self, task, method, lr, seed, k, eval_split, eval_k):
        return ["--model", self.model, "--config", self.config(task),
                "--train", self.data(task, "train"), "--eval", self.data(task, eval_split),
                "--k", str(k), "--per-class", "--eval-k", str(eval_k), "--max-tokens", str(MAX_TOKENS), "--keep-last", str(KEEP_LAST),
                "--loss", "classification", "--batch", "16", "--eps", "1e-3", "--steps", str(self.args.steps),
                "--lr", repr(lr), "--seed", str(seed), "--checkpoint-every", "100", "--keep-checkpoints", "1",
                "--eval-batch", "16"] + METHODS[method]

    def eval_argv(self, task, model, split="test", eval_k=0):
        return ["--model", model, "--tokenizer", os.path.join(self.model, "tokenizer.json"), "--config", self.config(task),
                "--train", self.data(task, "train"), "--eval", self.data(task, split), "--k", "1", "--eval-k", str(eval_k),
                "--max-tokens", str(MAX_TOKENS), "--keep-last", str(KEEP_LAST), "--loss", "classification", "--eval-batch", "16",
                "--steps", "0"]

    def pool(self, jobs):
        with ThreadPoolExecutor(max_workers=self.args.jobs) as ex:
            return list(ex.map(lambda j: (j[0], self.run(*j[1:])), jobs))

    # Paths
    def grid_dir(self, task, method, lr):
        return os.path.join(self.work, task, "grid", method, lr_name(lr))

    def seed_dir(self, task, method, k, seed, lr):
        # The rate is in the path: a run made at a rate chosen earlier is never reported as another's.
        return os.path.join(self.work, task, f"k{k}", method, lr_name(lr), f"seed{seed}")


def choose(grid_rows):
    """Best final validation balanced accuracy; ties: accuracy, then lower validation loss. None until every
    grid run is done and has its validation evaluation."""
    done = [r for r in grid_rows if r["val"] is not None]
    if not done or len(done) < len(grid_rows):
        return None
    return max(done, key=lambda r: (r["val"]["balanced_accuracy"], r["val"]["accuracy"], -r["val"]["loss"]))["lr"]


def val_evals(r, task, grid):
    """Each finished grid run's final validation evaluation with balanced accuracy: its own last_eval, or
    (runs made before zo reported it) its model/ re-evaluated on the same validation sample into <run>/val."""
    jobs = []
    for g in grid:
        ev = (g["summary"] or {}).get("last_eval")
        g["val"] = ev if ev and ev.get("balanced_accuracy") is not None else None
        if ev and g["val"] is None:
            jobs.append((g["lr"], os.path.join(g["dir"], "val"),
                         r.eval_argv(task, os.path.join(g["dir"], "model"), "validation", r.args.val_k),
                         f"{task} validation {g['method']} lr {g['lr']:g}"))
            g["pending"] = len(jobs) - 1
    results = r.pool(jobs)
    for g in grid:
        if "pending" in g:
            s = results[g.pop("pending")][1]
            g["val"] = (s or {}).get("last_eval")
            if g["val"] and abs(g["val"]["accuracy"] - g["summary"]["last_eval"]["accuracy"]) > 1e-9:
                fail(f"{g['dir']}: re-evaluated validation accuracy {g['val']['accuracy']} differs from the run's "
                     f"{g['summary']['last_eval']['accuracy']}: not the same sample or model")


def final_train_loss(run_dir, last=20):
    """Mean training loss over the last `last` steps (the per-step loss is one noisy batch)."""
    path = os.path.join(run_dir, "train_log.csv")
    if not os.path.exists(path):
        return float("nan")
    with open(path) as f:
        losses = [float(r["loss"]) for r in csv.DictReader(f)]
    tail = [v for v in losses[-last:] if math.isfinite(v)]
    return sum(tail) / len(tail) if tail else float("nan")


def task_runs(r, task):
    """Runs every phase of one task; returns the rows for the report."""
    args = r.args
    # 1. grid
    jobs = []
    for method in METHODS:
        for lr in GRIDS[method]:
            jobs.append((("grid", method, lr), r.grid_dir(task, method, lr),
                         r.train_argv(task, method, lr, 0, K, "validation", args.val_k), f"{task} grid {method} lr {lr:g}"))
    grid = [{"method": key[1], "lr": key[2], "dir": r.grid_dir(task, key[1], key[2]), "summary": s} for key, s in r.pool(jobs)]
    val_evals(r, task, grid)
    chosen = {m: choose([g for g in grid if g["method"] == m]) for m in METHODS}
    if args.phase == "grid":
        return grid, chosen, []
    # 3. test: seed-0 models on the test split, more seeds, k = 16; zero-shot
    jobs = [(("zero-shot",), os.path.join(r.work, task, "zero-shot"), r.eval_argv(task, r.model), f"{task} zero-shot")]
    for m, lr in chosen.items():
        if lr is None:
            continue
        jobs.append((("test", m), os.path.join(r.grid_dir(task, m, lr), "test"),
                     r.eval_argv(task, os.path.join(r.grid_dir(task, m, lr), "model")), f"{task} test {m} (seed 0)"))
    for m in SEEDED:
        if chosen.get(m) is None:
            continue
        for seed in (1, 2):
            jobs.append((("seed", m, seed), r.seed_dir(task, m, K, seed, chosen[m]),
                         r.train_argv(task, m, chosen[m], seed, K, "test", 0), f"{task} {m} seed {seed}"))
    if chosen.get("mezo") is not None:
        jobs.append((("few", "mezo"), r.seed_dir(task, "mezo", FEW_K, 0, chosen["mezo"]),
                     r.train_argv(task, "mezo", chosen["mezo"], 0, FEW_K, "test", 0), f"{task} mezo k {FEW_K}"))
    results = r.pool(jobs)
    return grid, chosen, results


def majority_row(task):
    def labels(split):
        with open(os.path.join(ROOT, "data", task, f"{split}.jsonl")) as f:
            return [json.loads(line)["label"] for line in f if line.strip()]
    train = labels("train")
    major = max(set(train), key=train.count)
    test = labels("test")
    return {"task": task, "k": 0, "method": "majority", "seed": "", "accuracy": sum(t == major for t in test) / len(test),
            "steps": 0, "step_ms": "", "peak_rss_mb": ""}


def fmt(v, digits=4):
    if v == "" or v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.{digits}f}" if abs(v) >= 0.01 or v == 0 else f"{v:.3g}"
    return str(v)


def write_csv(path, columns, rows):
    lines = [",".join(columns)]
    for row in rows:
        lines.append(",".join(fmt(row.get(c, "")) for c in columns))
    write_atomic(path, "\n".join(lines) + "\n")


def curve(run_dir):
    path = os.path.join(run_dir, "train_log.csv")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [(int(row["step"]), float(row["loss"])) for row in csv.DictReader(f)]


def report(r, per_task):
    out = os.path.abspath(r.args.out)
    os.makedirs(out, exist_ok=True)
    rows, details, grid_rows, curves = [], [], [], []
    for task, (grid, chosen, results) in per_task.items():
        for g in grid:
            s = g["summary"]
            ev = g["val"] or {}
            grid_rows.append({"task": task, "method": g["method"], "lr": g["lr"], "val_accuracy": ev.get("accuracy", ""),
                              "val_balanced_accuracy": ev.get("balanced_accuracy", ""),
                              "val_margin": ev.get("margin", ""), "val_loss": ev.get("loss", ""),
                              "final_train_loss": final_train_loss(g["dir"]) if s else "",
                              "chosen": int(chosen.get(g["method"]) == g["lr"])})
        rows.append(majority_row(task))
        by_key = {key: s for key, s in results}
        zs = by_key.get(("zero-shot",))
        if zs:
            rows.append({"task": task, "k": 0, "method": "zero-shot", "seed": "", "accuracy": zs["last_eval"]["accuracy"],
                         "steps": 0, "step_ms": "", "peak_rss_mb": zs["peak_rss_mb"]})
            details.append({"task": task, "k": 0, "method": "zero-shot", "accuracy": zs["last_eval"]["accuracy"],
                            "test_margin": zs["last_eval"]["margin"], "test_loss": zs["last_eval"]["loss"], "steps": 0})

        def add(method, k, seed, lr, train_dir, train_summary, test_summary):
            ev = test_summary["last_eval"]
            row = {"task": task, "k": k, "method": method, "seed": seed, "accuracy": ev["accuracy"],
                   "steps": train_summary["steps"], "step_ms": 1000 * train_summary["seconds_per_step"],
                   "peak_rss_mb": train_summary["peak_rss_mb"]}
            rows.append(row)
            details.append(dict(row, lr=lr, test_margin=ev["margin"], test_loss=ev["loss"],
                                final_train_loss=final_train_loss(train_dir),
                                cpu_ms=1000 * train_summary["cpu_seconds_per_step"]))
            curves.extend({"task": task, "k": k, "method": method, "seed": seed, "step": st, "loss": lo}
                          for st, lo in curve(train_dir))

        for m, lr in chosen.items():
            test = by_key.get(("test", m))
            if lr is None or test is None:
                continue
            g = next(g for g in grid if g["method"] == m and g["lr"] == lr)
            add(m, K, 0, lr, g["dir"], g["summary"], test)
        for key, s in results:
            if s is None:
                continue
            if key[0] == "seed":
                add(key[1], K, key[2], chosen[key[1]], r.seed_dir(task, key[1], K, key[2], chosen[key[1]]), s, s)
            elif key[0] == "few":
                add("mezo", FEW_K, 0, chosen["mezo"], r.seed_dir(task, "mezo", FEW_K, 0, chosen["mezo"]), s, s)
    ft_path = os.path.join(out, "ft.csv")
    if os.path.exists(ft_path):
        with open(ft_path) as f:
            for row in csv.DictReader(f):
                if row["task"] in per_task:
                    rows.append({c: (float(row[c]) if c in ("accuracy", "step_ms", "peak_rss_mb") and row[c] else row[c]) for c in COLUMNS})
    order = {m: i for i, m in enumerate(["majority", "zero-shot", "mezo", "mezo-bcd", "zo-adamm", "r-adazo", "r-adazo-bcd",
                                          "mezo-lora", "ft"])}
    # Rows of tasks not in this report stay as they are in the files (a run of one task on a fresh clone
    # must not drop the committed rows of another).
    def kept(name, convert=lambda row: row):
        path = os.path.join(out, name)
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return [convert(row) for row in csv.DictReader(f) if row["task"] not in per_task]

    rows += kept("results.csv")
    details += kept("details.csv")
    grid_rows += kept("grid.csv")
    curves += kept("curves.csv", lambda c: dict(c, k=int(c["k"]), seed=int(c["seed"]), step=int(c["step"]), loss=float(c["loss"])))
    key = lambda x: (x["task"], order.get(x["method"], 99), int(x["k"]), str(x.get("seed", "")))
    rows.sort(key=key)
    details.sort(key=key)
    grid_rows.sort(key=lambda g: (g["task"], list(METHODS).index(g["method"]), float(g["lr"])))
    write_csv(os.path.join(out, "results.csv"), COLUMNS, rows)
    write_csv(os.path.join(out, "details.csv"), COLUMNS[:4] + ["lr", "accuracy", "test_margin", "test_loss",
                                                               "final_train_loss", "steps", "step_ms", "cpu_ms", "peak_rss_mb"], details)
    write_csv(os.path.join(out, "grid.csv"), ["task", "method", "lr", "val_accuracy", "val_balanced_accuracy", "val_margin", "val_loss",
                                              "final_train_loss", "chosen"], grid_rows)
    write_csv(os.path.join(out, "curves.csv"), ["task", "k", "method", "seed", "step", "loss"], curves)
    write_table(out, rows, details)
    plot_losses(out, [c for c in curves if c["task"] in per_task], os.path.basename(r.model))
    write_claims(out, per_task, rows, details)


def write_table(out, rows, details):
    cpu = {(d["task"], int(d["k"]), d["method"], str(d.get("seed", ""))): d.get("cpu_ms", "") for d in details}
    groups = {}
    for row in rows:
        groups.setdefault((row["task"], int(row["k"]), row["method"]), []).append(row)
    mean = lambda v: sum(v) / len(v)
    lines = ["| task | k | method | runs | test accuracy % (mean ± std) | wall ms / step | CPU ms / step | peak RSS MB |",
             "|---|---|---|---|---|---|---|---|"]
    for (task, k, method), g in groups.items():
        acc = [float(x["accuracy"]) for x in g]
        std = math.sqrt(sum((a - mean(acc)) ** 2 for a in acc) / (len(acc) - 1)) if len(acc) > 1 else 0.0
        acc_text = f"{100 * mean(acc):.1f} ± {100 * std:.1f}" if len(acc) > 1 else f"{100 * mean(acc):.1f}"
        ms = [float(x["step_ms"]) for x in g if x["step_ms"] != ""]
        cms = [float(cpu[(task, k, method, str(x["seed"]))]) for x in g if cpu.get((task, k, method, str(x["seed"])), "") != ""]
        rss = [float(x["peak_rss_mb"]) for x in g if x["peak_rss_mb"] != ""]
        cell = lambda v: f"{mean(v):.0f}" if v else "–"
        lines.append(f"| {task} | {k if k else '–'} | {method} | {len(g)} | {acc_text} | {cell(ms)} | {cell(cms)} | {cell(rss)} |")
    write_atomic(os.path.join(out, "table.md"), "\n".join(lines) + "\n")
    print("\n".join(lines))


def mean_loss(run_dir, lo, hi):
    """Mean training loss over steps lo..hi (inclusive) of a run."""
    vals = [l for st, l in curve(run_dir) if lo <= st <= hi and math.isfinite(l)]
    return sum(vals) / len(vals) if vals else float("nan")


def write_claims(out, per_task, rows, details):
    """The three claims the table checks, computed from the runs (claims.md)."""
    lines = ["# The claims (R-AdaZO's and MeZO-BCD's, and ZO vs zero-shot), computed from the runs (bench/text_tasks.py writes this file)", ""]
    # Sections of tasks not in this report stay as they were.
    kept = {}
    path = os.path.join(out, "claims.md")
    if os.path.exists(path):
        with open(path) as f:
            for part in f.read().split("\n## ")[1:]:
                kept[part.split("\n", 1)[0].strip()] = "## " + part.rstrip("\n") + "\n"
    for task in TASKS:
        if task not in per_task and task in kept:
            lines += kept[task].split("\n")
    for task, (grid, chosen, _) in per_task.items():
        acc = {}
        for row in rows:
            if row["task"] == task and int(row["k"]) in (0, K):
                acc.setdefault(row["method"], []).append(float(row["accuracy"]))
        ms = {}
        for row in rows:
            if row["task"] == task and int(row["k"]) == K and row["step_ms"] != "":
                ms.setdefault(row["method"], []).append(float(row["step_ms"]))
        cpu = {}
        for d in details:
            if d["task"] == task and int(d["k"]) == K and d.get("cpu_ms", "") != "":
                cpu.setdefault(d["method"], []).append(float(d["cpu_ms"]))
        mean = lambda v: sum(v) / len(v)
        lines.append(f"## {task}")
        header_at = len(lines)
        if "mezo" in acc and "mezo-bcd" in acc:
            a, b = mean(acc["mezo"]), mean(acc["mezo-bcd"])
            ratio = mean(cpu["mezo-bcd"]) / mean(cpu["mezo"])  # CPU time: load-independent
            wall = mean(ms["mezo-bcd"]) / mean(ms["mezo"])
            verdict = "holds" if b >= a - 0.005 and ratio < 1 else "does not hold"
            lines.append(f"- MeZO-BCD reaches MeZO's accuracy in less time per step: **{verdict}** at {r_steps(grid)} steps — "
                         f"MeZO-BCD {100 * b:.1f} % vs MeZO {100 * a:.1f} % (mean over seeds), "
                         f"time per step {ratio:.2f} × MeZO's in CPU time ({wall:.2f} × in wall time).")
        shared = sorted(set(GRIDS["r-adazo"]) & set(GRIDS["zo-adamm"]))
        parts = []
        for lr in shared:
            ra = next((g for g in grid if g["method"] == "r-adazo" and g["lr"] == lr and g["summary"]), None)
            za = next((g for g in grid if g["method"] == "zo-adamm" and g["lr"] == lr and g["summary"]), None)
            if ra and za:
                n = ra["summary"]["steps"]
                parts.append((lr, [mean_loss(x["dir"], lo, hi) for x in (ra, za)
                                   for lo, hi in ((1, n), (1, n // 4), (n // 4 + 1, n // 2), (n - 99, n))]))
        if parts:
            # A difference under 1 % of the loss is a tie: one seed's batch noise is larger than that.
            faster = sum(1 for _, v in parts if v[0] < 0.99 * v[4])
            slower = sum(1 for _, v in parts if v[0] > 1.01 * v[4])
            verdict = "holds" if faster == len(parts) else "does not hold" if faster == 0 else "mixed"
            lines.append(f"- R-AdaZO's loss falls faster than ZO-AdaMM's: **{verdict}** (mean training loss over the run "
                         f"more than 1 % lower at {faster}, more than 1 % higher at {slower}, of {len(parts)} shared "
                         f"learning rates, seed 0):")
            for lr, v in parts:
                lines.append(f"  - lr {lr:g}: mean training loss over the run (first quarter / second quarter / last 100 steps) — "
                             f"R-AdaZO {v[0]:.3f} ({v[1]:.3f} / {v[2]:.3f} / {v[3]:.3f}), "
                             f"ZO-AdaMM {v[4]:.3f} ({v[5]:.3f} / {v[6]:.3f} / {v[7]:.3f})")
        if "zero-shot" in acc:
            z = acc["zero-shot"][0]
            zo_methods = [m for m in METHODS if m in acc]
            beats = [m for m in zo_methods if mean(acc[m]) > z]
            lines.append(f"- ZO fine-tuning beats zero-shot ({100 * z:.1f} %): **{'holds' if beats else 'does not hold'}** for "
                         f"{', '.join(beats) if beats else 'no method'}; "
                         + "; ".join(f"{m} {100 * mean(acc[m]):.1f} %" for m in zo_methods))
            if "majority" in acc:
                lines.append(f"  (majority class {100 * acc['majority'][0]:.1f} %"
                             + (f"; first-order AdamW {100 * mean(acc['ft']):.1f} %" if "ft" in acc else "") + ")")
        if len(lines) == header_at:
            lines.append("- not enough finished runs to check a claim yet (rerun bench/text_tasks.py to continue)")
        lines.append("")
    write_atomic(os.path.join(out, "claims.md"), "\n".join(lines))
    print("\n".join(lines))


def r_steps(grid):
    done = [g["summary"]["steps"] for g in grid if g["summary"]]
    return done[0] if done else "?"


def plot_losses(out, curves, model_name):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    tasks = sorted({c["task"] for c in curves})
    for task in tasks:
        fig, ax = plt.subplots(figsize=(8, 5))
        for method in METHODS:
            pts = [(c["step"], c["loss"]) for c in curves
                   if c["task"] == task and c["method"] == method and c["k"] == K and c["seed"] == 0]
            if not pts:
                continue
            pts.sort()
            ys = [p[1] for p in pts]
            w = 25  # moving average: a step's loss is one batch of 16
            smooth = [sum(ys[max(0, i - w + 1):i + 1]) / len(ys[max(0, i - w + 1):i + 1]) for i in range(len(ys))]
            ax.plot([p[0] for p in pts], smooth, label=method)
        ax.set_xlabel("step")
        ax.set_ylabel(f"training loss (classification CE, moving average of {w})")
        ax.set_title(f"zo finetune on {task}: {model_name}, k = {K} per class, seed 0, each method at its chosen lr")
        ax.legend()
        ax.grid(alpha=0.3)
        tmp = os.path.join(out, f".loss_{task}.png")
        fig.savefig(tmp, dpi=100, format="png")
        plt.close(fig)
        os.replace(tmp, os.path.join(out, f"loss_{task}.png"))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tasks", default="spam,sotu-party")
    p.add_argument("--steps", type=int, default=500)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--phase", default="all", choices=["all", "grid", "report"])
    p.add_argument("--val-k", type=int, default=VAL_K, help="validation records sampled for the grid")
    p.add_argument("--work", default=os.path.join(ROOT, "build", "text-tasks-proto"))
    p.add_argument("--zo", default=os.path.join(ROOT, "build", "zo"))
    p.add_argument("--model", default=os.path.join(ROOT, "models", "opt-text-proto"), help="the pretrained model folder")
    p.add_argument("--methods", default=",".join(METHODS), help="the ZO methods to run (a subset of the table's)")
    p.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "text-tasks-proto"))
    p.add_argument("--grid", action="append", default=[], metavar="METHOD=LR,LR",
                   help="replace a method's learning-rate grid (repeatable), e.g. mezo=1e-4,2e-4")
    args = p.parse_args()
    tasks = args.tasks.split(",")
    for t in tasks:
        if t not in TASKS:
            fail(f"--tasks: unknown task '{t}' (spam, sotu-party)")
    if args.steps < 1 or args.jobs < 1:
        fail("--steps and --jobs must be >= 1")
    methods = args.methods.split(",")
    for m in methods:
        if m not in METHODS:
            fail(f"--methods: unknown method '{m}' ({', '.join(METHODS)})")
    for spec in args.grid:
        m, _, rates = spec.partition("=")
        if m not in METHODS:
            fail(f"--grid {spec}: unknown method '{m}' ({', '.join(METHODS)})")
        try:
            GRIDS[m] = [float(v) for v in rates.split(",")]
        except ValueError:
            fail(f"--grid {spec}: learning rates must be numbers, comma-separated")
        if not GRIDS[m] or not all(v > 0 for v in GRIDS[m]):
            fail(f"--grid {spec}: learning rates must be > 0")
    for m in [m for m in METHODS if m not in methods]:  # the plan and the report loop over METHODS
        del METHODS[m]
    SEEDED[:] = [m for m in SEEDED if m in METHODS]
    r = Runner(args)
    per_task = {}

    def read_only(out, argv, label):
        path = os.path.join(out, "summary.json")
        return read_json(path) if os.path.exists(path) else None

    if args.phase != "report":
        for task in tasks:
            task_runs(r, task)
    # The report covers every finished run of every task under --work, whatever phase or tasks ran now;
    # a task with none (e.g. on a fresh clone) keeps its rows in the committed files.
    r.run = read_only
    args.phase = "all"
    for task in TASKS:
        per_task[task] = task_runs(r, task)
    per_task = {t: v for t, v in per_task.items() if any(g["summary"] for g in v[0])}
    if not per_task:
        fail(f"no finished runs under {r.work}: nothing to report (the committed files are left as they are)")
    report(r, {t: per_task[t] for t in TASKS if t in per_task})


if __name__ == "__main__":
    main()
