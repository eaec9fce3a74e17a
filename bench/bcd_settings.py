#!/usr/bin/python3
"""Which block-coordinate settings close MeZO-BCD's gap to MeZO at equal time?

On spam, seed 0, k = 256 per class, the settings of bench/text_tasks.py (classification loss,
--max-tokens 128 --keep-last 16, batch 16, eps 1e-3, one thread per run, two runs at a time), each
block-coordinate variant below trains for --steps steps with a validation evaluation (the same 200
sampled records as the grid) every 100 steps. The reference is the grid's MeZO run at its chosen rate
(<work>/spam/grid/mezo/<lr>, made by bench/text_tasks.py with the same --model and --work): 500 steps costing T = 500 x its CPU seconds per step. Each
variant is read at the last evaluation whose training CPU time (steps x its CPU seconds per step) is
<= T: equal time, measured in CPU seconds because the runs shared the machine with different
neighbours (a one-thread run's CPU time is its work; its wall time depends on the neighbours). Each
variant's final model is also scored on the whole test split.

Blocks of the models/opt-text* OPTs: embeddings (token + position, 2.2 M weights), layers.0-3 (0.79 M
each), head (final LayerNorm, 512 weights; the LM head is tied to the embeddings).

Writes <out>/bcd_settings.csv (one row per evaluation), bcd_settings.md (the table at equal time) and
bcd_settings.png (validation accuracy against training CPU time, MeZO's point marked). Resumable like
bench/text_tasks.py: finished runs are skipped.

Usage: /usr/bin/python3 bench/bcd_settings.py [--model models/opt-text-proto] [--steps 700] [--jobs 2]
       [--mezo-lr 1e-4] [--work build/text-tasks-proto] [--out bench/results/text-tasks-proto]
bench/results/text-tasks/bcd_settings.* ran as: --model models/opt-text --mezo-lr 3e-4
--work build/text-tasks --out bench/results/text-tasks (models/opt-text: models/README.md).
"""
import argparse
import csv
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import text_tasks as tt  # noqa: E402

# name -> (blocks per step, block order, lr)
VARIANTS = {
    "b1-perm-3e-4": (1, "permutation", 3e-4),  # MeZO-BCD as in the table, run longer
    "b1-perm-1e-4": (1, "permutation", 1e-4),
    "b1-cyclic-3e-4": (1, "cyclic", 3e-4),
    "b2-perm-3e-4": (2, "permutation", 3e-4),
    "b3-perm-3e-4": (3, "permutation", 3e-4),
    "b3-perm-1e-3": (3, "permutation", 1e-3),
}


def rows_of(run_dir, cpu_per_step):
    """(step, training CPU seconds at that step, accuracy, margin, loss) for each evaluation."""
    with open(os.path.join(run_dir, "eval_log.csv")) as f:
        return [(int(r["step"]), int(r["step"]) * cpu_per_step, float(r["accuracy"]), float(r["margin"]),
                 float(r["eval_loss"])) for r in csv.DictReader(f)]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=700)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--mezo-lr", type=float, default=1e-4, help="MeZO's chosen rate in the --work grid")
    p.add_argument("--val-k", type=int, default=200)
    p.add_argument("--model", default=os.path.join(tt.ROOT, "models", "opt-text-proto"), help="the pretrained model folder")
    p.add_argument("--work", default=os.path.join(tt.ROOT, "build", "text-tasks-proto"))
    p.add_argument("--zo", default=os.path.join(tt.ROOT, "build", "zo"))
    p.add_argument("--out", default=os.path.join(tt.ROOT, "bench", "results", "text-tasks-proto"))
    args = p.parse_args()
    args.phase = "all"
    r = tt.Runner(args)
    task = "spam"
    mezo_dir = r.grid_dir(task, "mezo", args.mezo_lr)
    if not os.path.exists(os.path.join(mezo_dir, "summary.json")):
        tt.fail(f"{mezo_dir}: the MeZO reference run is missing (run bench/text_tasks.py first)")
    mezo = tt.read_json(os.path.join(mezo_dir, "summary.json"))
    budget = mezo["steps"] * mezo["cpu_seconds_per_step"]
    jobs = []
    for name, (blocks, order, lr) in VARIANTS.items():
        argv = r.train_argv(task, "mezo-bcd", lr, 0, tt.K, "validation", args.val_k)
        argv[argv.index("--steps") + 1] = str(args.steps)
        argv += ["--blocks-per-step", str(blocks), "--block-order", order, "--eval-every", "100"]
        jobs.append(((name,), os.path.join(r.work, task, "bcd", name), argv, f"{task} bcd {name}"))
    done = dict(r.pool(jobs))
    tests = [((name,), os.path.join(r.work, task, "bcd", name, "test"),
              r.eval_argv(task, os.path.join(r.work, task, "bcd", name, "model")), f"{task} bcd {name} test")
             for name in VARIANTS if done.get((name,))]
    tested = dict(r.pool(tests))

    os.makedirs(args.out, exist_ok=True)
    csv_rows, table = [], []
    curves = {}
    for name, (blocks, order, lr) in VARIANTS.items():
        s = done.get((name,))
        if not s:
            continue
        evals = rows_of(os.path.join(r.work, task, "bcd", name), s["cpu_seconds_per_step"])
        curves[name] = evals
        for step, sec, acc, margin, loss in evals:
            csv_rows.append({"setting": name, "blocks_per_step": blocks, "order": order, "lr": lr, "step": step,
                             "train_cpu_seconds": sec, "val_accuracy": acc, "val_margin": margin, "val_loss": loss})
        at = [e for e in evals if e[1] <= budget][-1]
        test = tested.get((name,))
        table.append((name, blocks, order, lr, 1000 * s["cpu_seconds_per_step"], at[0], at[2], at[3], evals[-1][0], evals[-1][2],
                      test["last_eval"]["accuracy"] if test else float("nan")))
    tt.write_csv(os.path.join(args.out, "bcd_settings.csv"),
                 ["setting", "blocks_per_step", "order", "lr", "step", "train_cpu_seconds", "val_accuracy", "val_margin", "val_loss"],
                 csv_rows)
    mezo_test_path = os.path.join(mezo_dir, "test", "summary.json")
    mezo_test = tt.read_json(mezo_test_path)["last_eval"]["accuracy"] if os.path.exists(mezo_test_path) else float("nan")
    lines = [f"MeZO reference (grid run, lr {args.mezo_lr:g}): {mezo['steps']} steps, {budget:.0f} CPU seconds of training "
             f"({1000 * mezo['cpu_seconds_per_step']:.0f} CPU ms/step), validation accuracy {100 * mezo['last_eval']['accuracy']:.1f} % "
             f"(margin {mezo['last_eval']['margin']:+.3f}), test {100 * mezo_test:.1f} %.", "",
             "| setting | blocks / step | order | lr | CPU ms / step | steps in MeZO's CPU time | val acc then | val margin then "
             f"| val acc at step {args.steps} | test acc at step {args.steps} |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, blocks, order, lr, ms, st, acc, margin, last_step, last_acc, test_acc in table:
        lines.append(f"| {name} | {blocks} | {order} | {lr:g} | {ms:.0f} | {st} | {100 * acc:.1f} | {margin:+.3f} | "
                     f"{100 * last_acc:.1f} | {100 * test_acc:.1f} |")
    tt.write_atomic(os.path.join(args.out, "bcd_settings.md"), "\n".join(lines) + "\n")
    print("\n".join(lines))

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8, 5))
    for name, evals in curves.items():
        ax.plot([e[1] for e in evals], [e[2] for e in evals], marker="o", ms=3, label=f"MeZO-BCD {name}")
    ax.plot([0, budget], [mezo["first_eval"]["accuracy"], mezo["last_eval"]["accuracy"]], "k--", marker="s", label="MeZO (start, end)")
    ax.axvline(budget, color="k", lw=0.5)
    ax.set_xlabel("training CPU seconds (one thread)")
    ax.set_ylabel("validation accuracy (200 e-mails)")
    ax.set_title("spam: block-coordinate settings against MeZO at equal time")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    tmp = os.path.join(args.out, ".bcd_settings.png")
    fig.savefig(tmp, dpi=100, format="png")
    os.replace(tmp, os.path.join(args.out, "bcd_settings.png"))


if __name__ == "__main__":
    main()
