#!/usr/bin/python3
"""MeZO against MeZO-BCD (and R-AdaZO against R-AdaZO-BCD) at equal compute: every method gets the same
budget of CPU-seconds, counted from each method's time per step measured alone.

Model models/opt-text-proto; tasks spam and sotu-party, the protocol of bench/text_tasks.py (the same
prompts and label words, --loss classification, --max-tokens 128 --keep-last 16, batch 16, ε 1e-3,
k = 256 examples per class sampled with the run's seed).

Methods (METHODS; each method's default learning rate in RATES, see there where each comes from;
--lr METHOD=RATE runs a method at another rate, in its own folder METHOD@RATE):
  mezo            ZO-SGD, dense Gaussian directions over every parameter
  mezo-bcd        ZO-SGD over one block a step, a fresh permutation of the 14 blocks each epoch (MeZO-BCD)
  mezo-bcd-cyclic the same, blocks in a fixed cyclic order
  mezo-bcd2       two blocks a step, permutation order
  r-adazo         R-AdaZO, dense
  r-adazo-bcd     R-AdaZO over one block a step, permutation order

Budget, counted in CPU-seconds:
  1. phase `time`: each method's CPU time per step, measured alone on a quiet machine, one process with
     one thread, over TIME_STEPS steps (two epochs of the blocks) on the task's data: step_costs.csv.
  2. the budget is B = --budget-steps MeZO steps × MeZO's time per step (one number for every task, or
     TASK=STEPS for each; default BUDGETS; it should be where MeZO's validation accuracy has stopped
     rising, which val-curve measures and claims.md states); method m runs
     steps_m = B / t_m steps (rounded to a multiple of 8) and is evaluated on the whole test split every
     steps_m / 8 steps, so its budget fractions 1/8 … 1 are evaluation points. A method that shares the
     forward below its block (BCD) gets more steps for the same CPU-seconds.
  Evaluation time is not counted in the budget (it is the same for every method).
  The runs themselves (phase `run`) go --jobs at a time, one thread each; their own wall time is
  distorted by sharing the cores and is not used for the budget.

Learning rate: every finished run's final model is also evaluated on 200 validation records (sampled
with seed 0, the same for every run); the report takes, per method, the rate whose seed-0 run has the
best validation balanced accuracy (bench/text_tasks.py's rule), and results.csv and the plot show
that rate only. table.md lists every rate that ran.

Phases: time, run, report, all (the default: the three in order), and val-curve: MeZO's validation
accuracy at every eighth of the budget (its weights there rebuilt from the run's ledger by `zo replay`),
to see whether the budget is large enough (val_curve.csv; a point already scored from the same ledger rows
is read back, so it too continues where it was cut off). Runs checkpoint every 100 steps and
resume (`zo finetune --resume`) when the command is run again. A finished run leaves a small record
(its evaluations, its training loss in windows of 20 steps, its summary) in --out/runs/, which the
report reads and which a later invocation skips: a study cut off part way is continued by running the
same command, even from a fresh checkout. A run that zo stops because its loss stopped being finite
(--nan-policy stop) is recorded as diverged: the step, its evaluations up to then, and no validation
score, so its rate is never the chosen one.

Outputs (--out, default bench/results/bcd-equal-compute):
  step_costs.csv  task,method,cpu_ms_per_step,steps_timed
  results.csv     task,method,seed,budget_fraction,cpu_seconds,steps,accuracy,lr  (fractions 0.25, 0.5, 1;
                  each method at its chosen rate)
  curves.csv      the same columns and balanced_accuracy, eval_loss: every evaluation of every run
  table.md        accuracy at 25 %, 50 % and 100 % of the budget (mean ± std over seeds), time per step,
                  steps at the full budget; MeZO's training loss over the last two quarters (has it stopped
                  falling?)
  claims.md       the reading: each task's budget and whether MeZO's validation accuracy has stopped rising
                  within it (val_curve.csv, FLAT_POINTS); each BCD method against its dense counterpart
                  (reaches its final accuracy or not, how soon, with the seeds' spread)
  curves_<task>.png  test accuracy and training loss against CPU-seconds, every method (mean over seeds)
  val_curve.csv   task,method,seed,lr,budget_fraction,steps,val_accuracy,val_balanced_accuracy (val-curve)

Usage: /usr/bin/python3 bench/bcd_equal_compute.py [--phase all] [--tasks spam,sotu-party] [--seeds 0,1,2]
       [--methods mezo,...] [--lr mezo-bcd=3e-4] [--budget-steps spam=4000,sotu-party=2000] [--jobs 2]
       [--work build/bcd-equal-compute]

A finished run's record holds its budget; a record under another budget than this invocation's is an
error (give its --budget-steps, or another --out), so runs of two budgets are never mixed."""
import argparse
import csv
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
from text_tasks import lr_name  # noqa: E402  (the rate's name in run folders, as the fine-tuning table writes it)

METHODS = {
    "mezo": ["--optimizer", "zo-sgd", "--direction", "dense"],
    "mezo-bcd": ["--optimizer", "zo-sgd", "--direction", "bcd", "--block-order", "permutation"],
    "mezo-bcd-cyclic": ["--optimizer", "zo-sgd", "--direction", "bcd", "--block-order", "cyclic"],
    "mezo-bcd2": ["--optimizer", "zo-sgd", "--direction", "bcd", "--block-order", "permutation",
                  "--blocks-per-step", "2"],
    "r-adazo": ["--optimizer", "r-adazo", "--direction", "dense"],
    "r-adazo-bcd": ["--optimizer", "r-adazo", "--direction", "bcd", "--block-order", "permutation"],
}
# Learning rates: each method's rate chosen on validation balanced accuracy by bench/text_tasks.py's grid
# on spam (bench/results/text-tasks-proto/grid.csv: mezo 1e-4 of {1e-4, 3e-4}, mezo-bcd 1e-3 of
# {3e-4, 1e-3}, r-adazo 1e-4 of {3e-5, 1e-4}, r-adazo-bcd 3e-4 of {1e-4, 3e-4}); the cyclic order and
# two blocks a step take mezo-bcd's rate. sotu-party's grid chose 3e-4 for mezo; the other methods'
# sotu-party rates are their spam rates scaled by the same factor 3.
RATES = {
    "spam": {"mezo": 1e-4, "mezo-bcd": 1e-3, "mezo-bcd-cyclic": 1e-3, "mezo-bcd2": 1e-3,
             "r-adazo": 1e-4, "r-adazo-bcd": 3e-4},
    "sotu-party": {"mezo": 3e-4, "mezo-bcd": 3e-3, "mezo-bcd-cyclic": 3e-3, "mezo-bcd2": 3e-3,
                   "r-adazo": 3e-4, "r-adazo-bcd": 1e-3},
}
TASKS = ["spam", "sotu-party"]
# Each task's budget in MeZO steps (× MeZO's time per step), the study's starting point of 2 000 MeZO steps;
# `--phase val-curve` shows whether MeZO's validation accuracy has stopped rising within it.
BUDGETS = {"spam": 2000, "sotu-party": 2000}
TIME_STEPS = 28          # two epochs of the 14 blocks
EVALS = 8                # evaluation points per run: budget fractions 1/8 … 1
FRACTIONS = (0.25, 0.5, 1.0)
LOSS_WINDOW = 20
MAX_TOKENS, KEEP_LAST, K = 128, 16, 256
VAL_K = 200  # validation records the rate is chosen on
ONE_THREAD = dict(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", OMP_WAIT_POLICY="passive")  # every zo this runs
VAL_CURVE_COLUMNS = ["task", "method", "seed", "lr", "budget_fraction", "steps", "val_accuracy", "val_balanced_accuracy"]
# The budget is large enough when MeZO's mean validation balanced accuracy (val-curve) gains less than this
# many points over the budget's last quarter (6/8 -> 8/8): one record of the 200 is half a point.
FLAT_POINTS = 1.0


def fail(msg):
    sys.exit(f"bcd_equal_compute.py: error: {msg}")


def read_csv(path, need=()):
    """The rows of a CSV file; a file without the columns `need` is an error naming it and them."""
    with open(path) as f:
        r = csv.DictReader(f)
        rows = list(r)
    missing = [c for c in need if c not in (r.fieldnames or [])]
    if missing or any(None in row or None in row.values() for row in rows):
        fail(f"{path}: malformed (" + (f"no column {', '.join(missing)}" if missing else "a row of another width")
             + "); remove it to write it again")
    return rows


def read_json(path):
    """A JSON file's value; a file that does not parse is an error naming it."""
    try:
        with open(path) as f:
            return json.load(f)
    except ValueError as e:
        fail(f"{path}: not valid JSON ({e}); remove it to write it again")


def write_csv(path, fields, rows):
    tmp = path + ".tmp"
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
    os.replace(tmp, path)


class Study:
    def __init__(self, args):
        self.a = args
        self.zo = os.path.abspath(args.zo)
        if not os.access(self.zo, os.X_OK):
            fail(f"{self.zo}: not built (cmake --build build --target zo)")
        self.model = os.path.abspath(args.model)
        if not os.path.exists(os.path.join(self.model, "config.json")):
            fail(f"{self.model}: no config.json")
        for t in args.tasks:
            if t not in TASKS:
                fail(f"--tasks: unknown task '{t}' (known: {', '.join(TASKS)})")
            for split in ("train", "test"):
                if not os.path.exists(self.data(t, split)):
                    fail(f"{self.data(t, split)}: missing (scripts/setup.sh builds data/)")
        for m in args.methods:
            if m not in METHODS:
                fail(f"--methods: unknown method '{m}' (known: {', '.join(METHODS)})")
        os.makedirs(args.out, exist_ok=True)
        self.costs_path = os.path.join(args.out, "step_costs.csv")

    def data(self, task, split):
        return os.path.join(ROOT, "data", task, f"{split}.jsonl")

    def argv(self, task, method, lr, seed, steps, eval_every, out):
        return [self.zo, "finetune", "--model", self.model, "--config", os.path.join(ROOT, "configs", f"{task}.json"),
                "--train", self.data(task, "train"), "--eval", self.data(task, "test"), "--k", str(K), "--per-class",
                "--eval-k", "0", "--max-tokens", str(MAX_TOKENS), "--keep-last", str(KEEP_LAST),
                "--loss", "classification", "--batch", "16", "--eps", "1e-3", "--steps", str(steps),
                "--lr", repr(lr), "--seed", str(seed), "--eval-every", str(eval_every),
                "--eval-batch", "16", "--checkpoint-every", "100", "--keep-checkpoints", "1", "--no-plots",
                "--out", out] + METHODS[method]

    def zo_run(self, cmd, out):
        """Runs (or resumes) one zo finetune; returns its summary or None."""
        if os.path.isdir(os.path.join(out, "checkpoints")) and os.listdir(os.path.join(out, "checkpoints")):
            cmd = cmd + ["--resume"]
        elif os.path.isdir(out):
            shutil.rmtree(out)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        env = dict(os.environ, **ONE_THREAD)
        with open(out + ".log", "a") as log:
            log.write(" ".join(cmd) + "\n")
            log.flush()
            rc = subprocess.call(cmd, stdout=log, stderr=log, env=env)
        summary = os.path.join(out, "summary.json")
        if rc != 0 or not os.path.exists(summary):
            print(f"FAILED (exit {rc}): {' '.join(cmd)}; log {out}.log", file=sys.stderr, flush=True)
            return None
        return read_json(summary)

    # Phase 1: time per step, alone
    def time_steps(self):
        have = {(r["task"], r["method"]) for r in read_csv(self.costs_path)} if os.path.exists(self.costs_path) else set()
        rows = read_csv(self.costs_path) if have else []
        for task in self.a.tasks:
            for method in self.a.methods:
                if (task, method) in have:
                    continue
                out = os.path.join(self.a.work, "time", task, method)
                shutil.rmtree(out, ignore_errors=True)
                cmd = self.argv(task, method, RATES[task][method], 0, TIME_STEPS, 0, out)
                cmd[cmd.index("--eval-k") + 1] = "16"  # the timing run's evaluations are not timed; keep them short
                s = self.zo_run(cmd, out)
                if s is None:
                    fail(f"timing {task} {method} failed")
                rows.append(dict(task=task, method=method, cpu_ms_per_step=round(s["cpu_seconds_per_step"] * 1e3, 1),
                                 steps_timed=TIME_STEPS, load=round(os.getloadavg()[0], 2)))
                print(f"time {task} {method}: {rows[-1]['cpu_ms_per_step']} CPU ms/step", flush=True)
                write_csv(self.costs_path, ["task", "method", "cpu_ms_per_step", "steps_timed", "load"], rows)

    def costs(self):
        if not os.path.exists(self.costs_path):
            fail(f"{self.costs_path}: missing (run --phase time first, alone on a quiet machine)")
        return {(r["task"], r["method"]): float(r["cpu_ms_per_step"]) / 1e3
                for r in read_csv(self.costs_path, ["task", "method", "cpu_ms_per_step"])}

    def plan(self, task, method):
        """Steps and evaluation interval of `method` under the task's budget."""
        c = self.costs()
        if (task, "mezo") not in c or (task, method) not in c:
            fail(f"{self.costs_path}: no time per step for {task} mezo / {method} (run --phase time)")
        budget = self.a.budget[task] * c[(task, "mezo")]
        every = max(1, round(budget / c[(task, method)] / EVALS))
        return budget, every * EVALS, every

    def key(self, task, method, lr):
        """A run's folder name: the method, and its rate where it is not the method's default (RATES)."""
        return method if lr == RATES[task][method] else f"{method}@{lr_name(lr)}"

    def record_path(self, task, method, lr, seed):
        return os.path.join(self.a.out, "runs", task, self.key(task, method, lr), f"seed{seed}.json")

    def check_budget(self, path, rec):
        """A record made under another budget than this invocation's is an error: the two are never mixed."""
        mezo = self.costs().get((rec["task"], "mezo"))
        steps = round(rec["budget_cpu_seconds"] / mezo) if mezo else None
        if steps != self.a.budget[rec["task"]]:
            fail(f"{path}: a run under a budget of {steps} MeZO steps, not {self.a.budget[rec['task']]} "
                 f"(--budget-steps {rec['task']}={steps} reads it; another --out keeps the two budgets apart)")
        return rec

    def validate_run(self, task, out, seed):
        """The run's final model on VAL_K validation records (sampled with seed 0, the same for every run):
        the learning rate is chosen on these (bench/text_tasks.py's rule)."""
        return self.validate_model(task, os.path.join(out, "model"), os.path.join(out, "val"))

    def validate_model(self, task, model, val):
        """Model folder `model` scored on the VAL_K validation records (zo finetune --steps 0, its folder
        `val`): the summary's last evaluation, or None."""
        cmd = [self.zo, "finetune", "--model", model, "--tokenizer",
               os.path.join(self.model, "tokenizer.json"), "--config", os.path.join(ROOT, "configs", f"{task}.json"),
               "--train", self.data(task, "train"), "--eval", self.data(task, "validation"), "--k", "1",
               "--eval-k", str(VAL_K), "--data-seed", "0", "--max-tokens", str(MAX_TOKENS), "--keep-last", str(KEEP_LAST),
               "--loss", "classification", "--eval-batch", "16", "--steps", "0", "--no-plots", "--out", val]
        s = self.zo_run(cmd, val)
        return None if s is None else s.get("last_eval")

    @staticmethod
    def save(record, rec):
        os.makedirs(os.path.dirname(record), exist_ok=True)
        with open(record + ".tmp", "w") as f:
            json.dump(rec, f, indent=0)
        os.replace(record + ".tmp", record)

    # Phase 2: the runs
    def one(self, job):
        task, method, lr, seed = job
        record = self.record_path(task, method, lr, seed)
        out = os.path.join(self.a.work, task, self.key(task, method, lr), f"seed{seed}")
        if os.path.exists(record):
            rec = self.check_budget(record, read_json(record))
            if rec.get("validation") is None and os.path.isdir(os.path.join(out, "model")):
                rec["validation"] = self.validate_run(task, out, seed)  # a record written before validation was
                self.save(record, rec)
            return
        budget, steps, every = self.plan(task, method)
        s = self.zo_run(self.argv(task, method, lr, seed, steps, every, out), out)
        diverged = None if s is not None else self.diverged_at(out)
        if s is None and diverged is None:
            return
        val = self.validate_run(task, out, seed) if diverged is None else None
        if diverged is None and val is None:
            return
        evals = read_csv(os.path.join(out, "eval_log.csv"))
        losses = [float(r["loss"]) for r in read_csv(os.path.join(out, "train_log.csv"))]
        windows = [dict(step=(i + LOSS_WINDOW), loss=statistics.fmean(losses[i:i + LOSS_WINDOW]))
                   for i in range(0, len(losses) - LOSS_WINDOW + 1, LOSS_WINDOW)]
        rec = dict(task=task, method=method, seed=seed, lr=lr, steps=steps, eval_every=every, validation=val,
                   budget_cpu_seconds=budget, cpu_seconds_per_step=self.costs()[(task, method)],
                   run_cpu_seconds_per_step=s.get("cpu_seconds_per_step") if s else None,
                   peak_rss_mb=s.get("peak_rss_mb") if s else None,
                   evaluations=[{k: float(v) for k, v in r.items()} for r in evals], loss_windows=windows)
        if diverged is not None:
            rec["diverged_at_step"] = diverged
        self.save(record, rec)
        if diverged is not None:
            print(f"run {task} {method} lr {lr:g} seed {seed}: diverged (the loss was not finite) at step {diverged} "
                  f"of {steps}; recorded without a validation score", flush=True)
            return
        last = evals[-1]
        print(f"run {task} {method} lr {lr:g} seed {seed}: {steps} steps, test accuracy {float(last['accuracy']):.4f}, "
              f"validation balanced accuracy {val['balanced_accuracy']:.4f}", flush=True)

    @staticmethod
    def diverged_at(out):
        """The step at which a run that zo stopped under its NaN policy lost a finite loss (from its log), or
        None when it failed for another reason."""
        try:
            with open(out + ".log", errors="replace") as f:
                found = re.findall(r"the loss was (?:nan|-?inf) at step (\d+): stopped", f.read())
        except OSError:
            return None
        return int(found[-1]) if found else None

    def run_all(self):
        jobs = [(t, m, self.a.lr.get(m, RATES[t][m]), s) for t in self.a.tasks for s in self.a.seeds for m in self.a.methods]
        with ThreadPoolExecutor(max_workers=self.a.jobs) as ex:
            list(ex.map(self.one, jobs))

    # Phase 3: the report
    def records(self):
        recs = []
        for task in self.a.tasks:
            base = os.path.join(self.a.out, "runs", task)
            for key in sorted(os.listdir(base)) if os.path.isdir(base) else []:
                if key.split("@")[0] not in self.a.methods:
                    continue
                for name in sorted(os.listdir(os.path.join(base, key))):
                    if name.endswith(".json") and int(name[4:-5]) in self.a.seeds:
                        path = os.path.join(base, key, name)
                        recs.append(self.check_budget(path, read_json(path)))
        return recs

    def chosen(self, recs):
        """(task, method) -> the rate of the best seed-0 final validation balanced accuracy (ties: accuracy)."""
        best = {}
        for r in recs:
            if r["seed"] != 0 or r.get("validation") is None:  # a diverged run has no validation score
                continue
            k = (r["task"], r["method"])
            score = (r["validation"]["balanced_accuracy"], r["validation"]["accuracy"])
            if k not in best or score > best[k][0]:
                best[k] = (score, r["lr"])
        return {k: v[1] for k, v in best.items()}

    def report(self):
        recs = self.records()
        if not recs:
            fail(f"no finished runs under {self.a.out}/runs (run --phase run)")
        chosen = self.chosen(recs)
        results, curves = [], []
        for r in recs:
            for e in r["evaluations"]:
                frac = e["step"] / r["steps"]
                row = dict(task=r["task"], method=r["method"], seed=r["seed"], budget_fraction=round(frac, 4),
                           cpu_seconds=round(e["step"] * r["cpu_seconds_per_step"], 1), steps=int(e["step"]),
                           accuracy=round(e["accuracy"], 4), lr=r["lr"])
                curves.append(dict(row, balanced_accuracy=round(e["balanced_accuracy"], 4),
                                   eval_loss=round(e["eval_loss"], 4)))
                # results.csv: each method at its chosen rate only
                if r["lr"] == chosen.get((r["task"], r["method"])) and any(abs(frac - f) < 1e-9 for f in FRACTIONS):
                    results.append(row)
        out = self.a.out
        write_csv(os.path.join(out, "results.csv"), list(results[0].keys()), results)
        write_csv(os.path.join(out, "curves.csv"), list(curves[0].keys()), curves)
        self.table(recs, chosen)
        self.claims(recs, chosen)
        self.plot([r for r in recs if r["lr"] == chosen.get((r["task"], r["method"]))])

    def table(self, recs, chosen):
        lines = ["| task | method | lr | seeds | validation balanced accuracy % (seed 0, 100 %) | CPU ms / step | "
                 "steps at 100 % | test accuracy % at 25 % | at 50 % | at 100 % |",
                 "|---|---|---|---|---|---|---|---|---|---|"]

        def cell(vals):
            if not vals:
                return "–"
            m = 100 * statistics.fmean(vals)
            return f"{m:.1f} ± {100 * statistics.stdev(vals):.1f}" if len(vals) > 1 else f"{m:.1f}"

        def at(r, f):
            return [e["accuracy"] for e in r["evaluations"] if abs(e["step"] / r["steps"] - f) < 1e-9]

        for task in self.a.tasks:
            for method in self.a.methods:
                for lr in sorted({r["lr"] for r in recs if r["task"] == task and r["method"] == method}):
                    rs = [r for r in recs if r["task"] == task and r["method"] == method and r["lr"] == lr]
                    val = [r["validation"]["balanced_accuracy"] for r in rs if r["seed"] == 0 and r.get("validation")]
                    mark = " (chosen)" if chosen.get((task, method)) == lr else ""
                    mark += "".join(f" (seed {r['seed']} diverged at step {r['diverged_at_step']} of {r['steps']})"
                                    for r in rs if "diverged_at_step" in r)
                    lines.append(f"| {task} | {method} | {lr:g}{mark} | {len(rs)} ({', '.join(str(r['seed']) for r in rs)}) | "
                                 + (f"{100 * val[0]:.1f} | " if val else "– | "))
                    lines[-1] += (f"{rs[0]['cpu_seconds_per_step'] * 1e3:.0f} | {rs[0]['steps']} | "
                                  + " | ".join(cell([a for r in rs for a in at(r, f)]) for f in FRACTIONS) + " |")
        lines += ["", "MeZO's training loss (mean of the 20-step windows) in the third and the last quarter of its run:"]
        for r in recs:
            if r["method"] != "mezo" or "diverged_at_step" in r:
                continue
            w = [x["loss"] for x in r["loss_windows"]]
            q = len(w) // 4
            lines.append(f"- {r['task']} seed {r['seed']}: {statistics.fmean(w[2 * q:3 * q]):.4f} → "
                         f"{statistics.fmean(w[3 * q:]):.4f}")
        with open(os.path.join(self.a.out, "table.md"), "w") as f:
            f.write("\n".join(lines) + "\n")
        print("\n".join(lines))

    def claims(self, recs, chosen):
        """claims.md: each block-coordinate method against its dense counterpart at equal CPU-seconds, at the
        chosen rates, computed from the records: does it reach the dense method's final accuracy, and at
        which fraction of the budget, with the seeds' spread."""
        def runs(task, method):
            return [r for r in recs if r["task"] == task and r["method"] == method
                    and r["lr"] == chosen.get((task, method))]

        def curve(rs):
            """budget fraction -> the seeds' test accuracies there (fractions 1/8 … 1)."""
            out = {}
            for r in rs:
                for e in r["evaluations"]:
                    if e["step"] > 0:
                        out.setdefault(round(e["step"] / r["steps"], 4), []).append(e["accuracy"])
            return out

        def ms(vals):
            m = 100 * statistics.fmean(vals)
            sd = 100 * statistics.stdev(vals) if len(vals) > 1 else 0.0
            return m, sd, (f"{m:.1f} ± {sd:.1f} %" if len(vals) > 1 else f"{m:.1f} %")

        lines = ["# MeZO-BCD's claim at equal compute, computed from the runs (bench/bcd_equal_compute.py "
                 "--phase report writes this file)", "",
                 "The paper's claim: block-coordinate MeZO reaches similar or better accuracy than MeZO with "
                 "less time per step. Here every method has the same budget of CPU-seconds and its rate chosen "
                 "on validation. *Reaches* means its mean test accuracy at the full budget is at least the dense "
                 "method's mean less the larger of the two seeds' standard deviations; *first within 1 point* is "
                 "the earliest eighth of the budget at which its mean test accuracy comes within one point of "
                 "the dense method's final mean."]
        for task in self.a.tasks:
            task_lines = []
            for base, variants in (("mezo", ("mezo-bcd", "mezo-bcd-cyclic", "mezo-bcd2")),
                                   ("r-adazo", ("r-adazo-bcd",))):
                b = runs(task, base)
                if not b:
                    gone = [r for r in recs if r["task"] == task and r["method"] == base and "diverged_at_step" in r]
                    why = ("diverged at every rate tried (" + ", ".join(
                        f"lr {r['lr']:g} seed {r['seed']} at step {r['diverged_at_step']} of {r['steps']}" for r in gone)
                        + ")") if gone else "has not run on this task"
                    task_lines += [f"- {v}: {ms(curve(runs(task, v))[1.0])[2]} at the full budget; {base} {why}, so "
                                   f"there is no comparison yet." for v in variants if runs(task, v)]
                    continue
                bc = curve(b)
                bm, bsd, btxt = ms(bc[1.0])
                zero = 100 * statistics.fmean(e["accuracy"] for r in b for e in r["evaluations"] if e["step"] == 0)
                if bm < zero + 1.0:
                    task_lines.append(f"- {base} ({len(b)} seed{'s' * (len(b) > 1)}) ends at {btxt}, not above "
                                      f"the untrained model's {zero:.1f} %: it learns nothing here, so the "
                                      f"comparison has nothing to measure.")
                for v in variants:
                    vr = runs(task, v)
                    if not vr:
                        continue
                    vc = curve(vr)
                    vm, vsd, vtxt = ms(vc[1.0])

                    def first(c):
                        hit = [f for f in sorted(c) if 100 * statistics.fmean(c[f]) >= bm - 1.0]
                        return f"at {round(8 * hit[0])}/8 of the budget" if hit else "never"
                    verdict = "**reaches**" if vm >= bm - max(bsd, vsd) else "**does not reach**"
                    cost = vr[0]["cpu_seconds_per_step"] / b[0]["cpu_seconds_per_step"]
                    task_lines.append(
                        f"- {v} {verdict} {base}'s accuracy: {vtxt} against {btxt} at the full budget "
                        f"({vm - bm:+.1f} points; {len(vr)} against {len(b)} seeds), its step {cost:.2f}× "
                        f"{base}'s CPU time. At a quarter of the budget {ms(vc[0.25])[2]} against "
                        f"{ms(bc[0.25])[2]}, at half {ms(vc[0.5])[2]} against {ms(bc[0.5])[2]}. First within "
                        f"1 point of {base}'s final mean: {v} {first(vc)}, {base} {first(bc)}.")
            if task_lines:
                n, ms_step = self.a.budget[task], 1e3 * self.costs()[(task, "mezo")]
                lines += ["", f"## {task}", "",
                          f"Budget: {n} MeZO steps × {ms_step:.0f} CPU ms = {n * ms_step / 1e3:.0f} CPU-seconds. "
                          + self.budget_verdict(task, runs(task, "mezo")), ""]
                lines += task_lines
        with open(os.path.join(self.a.out, "claims.md"), "w") as f:
            f.write("\n".join(lines) + "\n")
        print("\n".join(lines))

    def budget_verdict(self, task, mezo):
        """Whether MeZO's validation accuracy has stopped rising within the budget, from val_curve.csv's points
        for these MeZO runs (the chosen rate, this budget's steps), or what is missing to say."""
        path = os.path.join(self.a.out, "val_curve.csv")
        pts = read_csv(path, VAL_CURVE_COLUMNS) if os.path.exists(path) else []
        by_seed = {r["seed"]: r["steps"] for r in mezo}
        at = {}
        for p in pts:
            seed = int(p["seed"])
            if p["task"] == task and seed in by_seed and float(p["lr"]) == mezo[0]["lr"] \
                    and int(p["steps"]) == round(by_seed[seed] * float(p["budget_fraction"])):
                at.setdefault(float(p["budget_fraction"]), {})[seed] = 100 * float(p["val_balanced_accuracy"])
        if not mezo or any(len(at.get(f, {})) != len(by_seed) for f in (0.75, 1.0)):
            return (f"Whether MeZO's validation accuracy has stopped rising within it is not measured for these "
                    f"runs (--phase val-curve).")
        a, b = statistics.fmean(at[0.75].values()), statistics.fmean(at[1.0].values())
        state = ("has stopped rising" if b - a < FLAT_POINTS else "**is still rising**")
        return (f"MeZO's validation balanced accuracy (val_curve.csv, mean of {len(by_seed)} seeds) {state} within "
                f"it: {a:.1f} % at 6/8 of the budget, {b:.1f} % at 8/8 ({b - a:+.1f} points; the rule: under "
                f"{FLAT_POINTS:g} point over the last quarter).")

    def plot(self, recs):
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        for task in self.a.tasks:
            rs = [r for r in recs if r["task"] == task]
            if not rs:
                continue
            fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
            for method in self.a.methods:
                mr = [r for r in rs if r["method"] == method]
                if not mr:
                    continue
                n = min(len(r["evaluations"]) for r in mr)
                x = [mr[0]["evaluations"][i]["step"] * mr[0]["cpu_seconds_per_step"] for i in range(n)]
                y = [100 * statistics.fmean(r["evaluations"][i]["accuracy"] for r in mr) for i in range(n)]
                ax1.plot(x, y, marker="o", label=f"{method}, lr {mr[0]['lr']:g} ({len(mr)} seed{'s' * (len(mr) > 1)})")
                n = min(len(r["loss_windows"]) for r in mr)
                x = [mr[0]["loss_windows"][i]["step"] * mr[0]["cpu_seconds_per_step"] for i in range(n)]
                y = [statistics.fmean(r["loss_windows"][i]["loss"] for r in mr) for i in range(n)]
                ax2.plot(x, y, label=method, linewidth=1)
            ax1.set(xlabel="CPU-seconds (time per step measured alone × steps)", ylabel="test accuracy %",
                    title=f"{task}: test accuracy at equal compute")
            ax2.set(xlabel="CPU-seconds", ylabel=f"training loss (mean of {LOSS_WINDOW} steps)",
                    title=f"{task}: training loss")
            ax1.legend(fontsize=8)
            ax2.legend(fontsize=8)
            fig.tight_layout()
            fig.savefig(os.path.join(self.a.out, f"curves_{task}.png"), dpi=110)
            plt.close(fig)

    def replayed_score(self, task, where, ledger_lines):
        """The validation score of the weights a ledger (its lines) rebuilds: `zo replay` into `where`/model,
        scored as validate_model does. A point already scored from the same ledger is read back, so an
        interrupted val-curve continues where it stopped."""
        ledger = os.path.join(where, "ledger.tsv")
        text = "".join(ledger_lines)
        done = os.path.join(where, "val", "summary.json")
        if os.path.exists(done) and os.path.exists(ledger):
            with open(ledger) as f:
                same = f.read() == text
            if same:
                try:
                    with open(done) as f:
                        last = json.load(f).get("last_eval")
                except ValueError:
                    last = None  # a cut-off summary: score the point again
                if last is not None:
                    return last
        shutil.rmtree(where, ignore_errors=True)
        os.makedirs(where)
        with open(ledger + ".tmp", "w") as f:
            f.write(text)
        rc = subprocess.call([self.zo, "replay", "--model", self.model, "--ledger", ledger + ".tmp",
                              "--out", os.path.join(where, "model")], stdout=subprocess.DEVNULL,
                             stderr=subprocess.STDOUT, env=dict(os.environ, **ONE_THREAD))
        if rc != 0:
            return None
        v = self.validate_model(task, os.path.join(where, "model"), os.path.join(where, "val"))
        if v is not None:
            os.replace(ledger + ".tmp", ledger)  # the point's ledger is in place only once it is scored
        return v

    # Phase `val-curve`: is the budget large enough?
    def validation_curve(self):
        """MeZO's validation accuracy along its budget, for each task and seed at MeZO's chosen rate: its
        weights at every eighth of the budget, rebuilt from the run's ledger (`zo replay` of the ledger's
        first steps), scored on the VAL_K validation records the rate was chosen on. A run whose folder is
        gone is run again first, and must reproduce its record's evaluations bit for bit (zo is
        deterministic at one thread), else the phase fails. Writes val_curve.csv."""
        recs = self.records()
        chosen = self.chosen(recs)
        jobs = []
        for task in self.a.tasks:
            lr = chosen.get((task, "mezo"))
            if lr is None:
                fail(f"{task}: no finished seed-0 mezo run with a validation score under {self.a.out}/runs (the rate is "
                     f"chosen on seed 0; include 0 in --seeds)")
            for seed in self.a.seeds:
                record = self.record_path(task, "mezo", lr, seed)
                if not os.path.exists(record):
                    fail(f"{record}: missing (run --phase run first)")
                jobs.append((task, lr, seed, record))

        def one(job):
            task, lr, seed, record = job
            rec = read_json(record)
            out = os.path.join(self.a.work, task, self.key(task, "mezo", lr), f"seed{seed}")
            ledger = os.path.join(out, "ledger.tsv")
            if not os.path.exists(os.path.join(out, "summary.json")):
                if self.zo_run(self.argv(task, "mezo", lr, seed, rec["steps"], rec["eval_every"], out), out) is None:
                    fail(f"{task} mezo seed {seed}: the run again failed (log {out}.log)")
                again = [float(r["accuracy"]) for r in read_csv(os.path.join(out, "eval_log.csv"))]
                if again != [e["accuracy"] for e in rec["evaluations"]]:
                    fail(f"{task} mezo seed {seed}: run again, its test accuracies {again} differ from the "
                         f"record's {[e['accuracy'] for e in rec['evaluations']]}")
            with open(ledger) as f:
                lines = f.read().splitlines(keepends=True)
            header, rows = lines[:2], lines[2:]
            if len(rows) != rec["steps"]:
                fail(f"{ledger}: {len(rows)} rows for a run of {rec['steps']} steps")
            points = []
            for i in range(1, EVALS + 1):
                steps = rec["steps"] * i // EVALS
                where = os.path.join(out, "val_curve", f"step{steps}")
                v = self.replayed_score(task, where, header + rows[:steps])
                if v is None:
                    fail(f"zo replay of the first {steps} steps of {ledger}, or the validation of its model "
                         f"({where}), failed")
                points.append(dict(task=task, method="mezo", seed=seed, lr=lr, budget_fraction=round(i / EVALS, 4),
                                   steps=steps, val_accuracy=round(v["accuracy"], 4),
                                   val_balanced_accuracy=round(v["balanced_accuracy"], 4)))
                print(f"val-curve {task} mezo seed {seed}: step {steps}: validation accuracy "
                      f"{v['accuracy']:.4f}, balanced {v['balanced_accuracy']:.4f}", flush=True)
            final = rec.get("validation") or {}
            if final and abs(points[-1]["val_balanced_accuracy"] - round(final["balanced_accuracy"], 4)) > 1e-9:
                fail(f"{task} mezo seed {seed}: the replayed final model scores {points[-1]['val_balanced_accuracy']} "
                     f"on validation, the run's own model {final['balanced_accuracy']:.4f}")
            return points

        with ThreadPoolExecutor(max_workers=self.a.jobs) as ex:
            rows = [p for points in ex.map(one, jobs) for p in points]
        path = os.path.join(self.a.out, "val_curve.csv")
        # the other tasks' points, from an earlier invocation, stay
        kept = [r for r in read_csv(path, VAL_CURVE_COLUMNS) if r["task"] not in self.a.tasks] if os.path.exists(path) else []
        write_csv(path, VAL_CURVE_COLUMNS, kept + rows)
        print("| task | budget fraction | steps | validation accuracy % (mean ± std over seeds) | balanced % |")
        print("|---|---|---|---|---|")

        def sd(xs):
            return statistics.stdev(xs) if len(xs) > 1 else 0.0

        for task in self.a.tasks:
            for i in range(1, EVALS + 1):
                at = [r for r in rows if r["task"] == task and r["budget_fraction"] == round(i / EVALS, 4)]
                acc = [100 * r["val_accuracy"] for r in at]
                bal = [100 * r["val_balanced_accuracy"] for r in at]
                print(f"| {task} | {i}/{EVALS} | {'/'.join(str(r['steps']) for r in at)} | "
                      f"{statistics.fmean(acc):.1f} ± {sd(acc):.1f} | {statistics.fmean(bal):.1f} ± {sd(bal):.1f} |")


def budgets(text, tasks):
    """--budget-steps: "STEPS" for every task, or "TASK=STEPS[,TASK=STEPS…]" (a task left out keeps BUDGETS')."""
    out = dict(BUDGETS)
    try:
        if "=" not in text:
            out = {t: int(text) for t in TASKS}
        else:
            for part in text.split(","):
                t, n = part.split("=")
                if t not in TASKS:
                    fail(f"--budget-steps: unknown task '{t}' (known: {', '.join(TASKS)})")
                out[t] = int(n)
    except ValueError:
        fail(f"--budget-steps: '{text}' is not STEPS or TASK=STEPS[,TASK=STEPS…]")
    for t in tasks:
        if out.get(t, 0) < EVALS:
            fail(f"--budget-steps: {t}'s budget {out.get(t)} is below {EVALS} steps")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--phase", default="all", choices=["all", "time", "run", "report", "val-curve"])
    ap.add_argument("--tasks", default=",".join(TASKS))
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--budget-steps", default=",".join(f"{t}={n}" for t, n in BUDGETS.items()),
                    help="the budget in MeZO steps (× MeZO's time per step): STEPS for every task, or "
                    "TASK=STEPS[,TASK=STEPS…]")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--lr", default="", help="METHOD=RATE[,METHOD=RATE…]: run these methods at another rate (its own "
                    "folder); the report chooses each method's rate on validation")
    ap.add_argument("--work", default=os.path.join(ROOT, "build/bcd-equal-compute"))
    ap.add_argument("--out", default=os.path.join(ROOT, "bench/results/bcd-equal-compute"))
    ap.add_argument("--zo", default=os.path.join(ROOT, "build/zo"))
    ap.add_argument("--model", default=os.path.join(ROOT, "models/opt-text-proto"))
    a = ap.parse_args()
    a.tasks = a.tasks.split(",")
    a.methods = a.methods.split(",")
    try:
        a.seeds = [int(s) for s in a.seeds.split(",")]
    except ValueError:
        fail(f"--seeds: '{a.seeds}' is not a comma-separated list of integers")
    try:
        a.lr = {m: float(v) for m, v in (x.split("=") for x in a.lr.split(",") if x)}
    except ValueError:
        fail(f"--lr: '{a.lr}' is not METHOD=RATE[,METHOD=RATE…]")
    for m in a.lr:
        if m not in METHODS:
            fail(f"--lr: unknown method '{m}' (known: {', '.join(METHODS)})")
    a.budget = budgets(a.budget_steps, a.tasks)
    st = Study(a)
    if a.phase in ("all", "time"):
        st.time_steps()
    if a.phase in ("all", "run"):
        st.run_all()
    if a.phase in ("all", "report"):
        st.report()
    if a.phase == "val-curve":
        st.validation_curve()


if __name__ == "__main__":
    main()
