#!/usr/bin/python3
"""curves.csv -> curves.png and curves_summary.csv: ZO-SGD vs ZO-AdaMM vs R-AdaZO training loss, (a) at
an equal learning rate and (b) each at its own best learning rate of the grid (lowest mean loss over
the last 50 steps). Batch losses are smoothed with a 10-step moving average for the plot only."""
import csv
import collections
import pathlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

here = pathlib.Path(__file__).parent
runs = collections.defaultdict(list)
for row in csv.DictReader(open(here / "curves.csv")):
    runs[(row["optimizer"], row["lr"])].append((int(row["step"]), float(row["loss"])))


def tail_mean(points, n=20):
    values = [l for _, l in points[-n:]]
    return sum(values) / len(values)


def smooth(values, w=10):
    out, acc = [], collections.deque()
    for v in values:
        acc.append(v)
        if len(acc) > w:
            acc.popleft()
        out.append(sum(acc) / len(acc))
    return out


optimizers = ["zo-sgd", "zo-adamm", "r-adazo"]
lrs = sorted({lr for _, lr in runs}, key=float)
with open(here / "curves_summary.csv", "w") as f:
    f.write("optimizer,lr,first_loss_mean_20,last_loss_mean_20,best_lr_of_grid\n")
    best = {}
    for o in optimizers:
        cands = [(tail_mean(runs[(o, lr)]), lr) for lr in lrs if runs.get((o, lr))]
        best[o] = min(cands)[1]
        for lr in lrs:
            if runs.get((o, lr)):
                p = runs[(o, lr)]
                f.write(f"{o},{lr},{sum(l for _, l in p[:20]) / len(p[:20]):.4f},{tail_mean(p):.4f},{'yes' if lr == best[o] else 'no'}\n")

fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
equal = "1e-4"
for o in optimizers:
    for ax, lr, title in ((axes[0], equal, f"equal η = {equal}"), (axes[1], best[o], "each at its best η of the grid")):
        p = runs.get((o, lr))
        if p:
            ax.plot([s for s, _ in p], smooth([l for _, l in p]), label=f"{o} (η={lr})")
            ax.set_title(title)
for ax in axes:
    ax.set_xlabel("step")
    ax.set_ylabel("training loss (10-step mean)")
    ax.legend()
fig.suptitle("zo finetune, random OPT (d 256, 4 layers), SST-2-style prompts, batch 4, ε 1e-3, seed 0, 60 steps")
fig.tight_layout()
fig.savefig(here / "curves.png", dpi=100)
