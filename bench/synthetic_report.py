#!/usr/bin/env python3
"""Loss at fractions of the query budget, for each optimizer at its best η (from zo bench synthetic).

Reads bench/results/synthetic/<function>/{summary.json,curves.csv} and prints one markdown table per
function: the noiseless loss at 25 %, 50 % and 100 % of the budget (the last logged point at or
before that many queries), and which optimizer leads at each. Usage: synthetic_report.py [results dir]
"""
import csv
import json
import math
import sys
from pathlib import Path

root = Path(sys.argv[1] if len(sys.argv) > 1 else "bench/results/synthetic")
fractions = (0.25, 0.5, 1.0)

for function in ("quadratic", "rosenbrock", "levy", "ackley"):
    folder = root / function
    if not (folder / "summary.json").exists():
        continue
    summary = json.loads((folder / "summary.json").read_text())
    curves = {}
    with open(folder / "curves.csv", newline="") as f:
        for row in csv.DictReader(f):
            curves.setdefault((row["optimizer"], float(row["lr"])), []).append((int(row["queries"]), float(row["loss"])))
    budget = max(run["queries"] for run in summary["runs"])
    print(f"{function}: loss at a fraction of the {budget}-query budget, each optimizer at its best η\n")
    print("| optimizer | best η | " + " | ".join(f"{int(100 * x)} %" for x in fractions) + " |")
    print("|---|---|" + "---|" * len(fractions))
    leaders = {x: (math.inf, "") for x in fractions}
    rows = []
    for name, best in summary["best"].items():
        if best["lr"] is None:
            continue
        points = curves[(name, float(best["lr"]))]
        cells = []
        for x in fractions:
            limit = x * budget
            loss = [l for q, l in points if q <= limit][-1]
            cells.append(loss)
            if loss < leaders[x][0]:
                leaders[x] = (loss, name)
        rows.append((name, best["lr"], cells))
    for name, lr, cells in rows:
        marked = [f"**{c:.4g}**" if leaders[x][1] == name else f"{c:.4g}" for c, x in zip(cells, fractions)]
        print(f"| {name} | {lr:g} | " + " | ".join(marked) + " |")
    print()
