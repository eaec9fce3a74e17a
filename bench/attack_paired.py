#!/usr/bin/python3
"""Paired comparison of two attack methods on the same images (bench/results/attack).

Usage: bench/attack_paired.py RESULTS_CSV METHOD_A METHOD_B
       bench/attack_paired.py RESULTS_A_CSV METHOD_A RESULTS_B_CSV METHOD_B   (methods from two runs)
Prints, for images both methods fool: how often A needs fewer queries to the first success than B, the
median of the per-image ratio A/B, and a two-sided sign test; plus images fooled by one method only.
"""
import csv
import math
import statistics
import sys


def sign_test(wins, losses):
    n = wins + losses
    if n == 0:
        return float("nan")
    k = min(wins, losses)
    p = sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n
    return min(1.0, 2 * p)


def main():
    args = sys.argv[1:]
    if len(args) == 3:
        args = [args[0], args[1], args[0], args[2]]
    if len(args) != 4:
        sys.exit(__doc__)
    path_a, a, path_b, b = args
    rows = {}
    for path, method in ((path_a, a), (path_b, b)):
        found = {r["image"]: r for r in csv.DictReader(open(path)) if r["optimizer"] == method}
        if not found:
            sys.exit(f"{path}: no rows for method {method}")
        rows[method] = found
    both = [i for i in rows[a] if i in rows[b] and rows[a][i]["success"] == "1" and rows[b][i]["success"] == "1"]
    only_a = sum(1 for i in rows[a] if rows[a][i]["success"] == "1" and rows[b][i]["success"] != "1")
    only_b = sum(1 for i in rows[b] if rows[b][i]["success"] == "1" and rows[a][i]["success"] != "1")
    qa = [int(rows[a][i]["first_success_query"]) for i in both]
    qb = [int(rows[b][i]["first_success_query"]) for i in both]
    la = [float(rows[a][i]["l2_at_first_success"]) for i in both]
    lb = [float(rows[b][i]["l2_at_first_success"]) for i in both]
    wins = sum(x < y for x, y in zip(qa, qb))
    losses = sum(x > y for x, y in zip(qa, qb))
    ratio = statistics.median(x / y for x, y in zip(qa, qb)) if both else float("nan")
    print(f"| {a} vs {b} | {len(both)} | {wins} / {len(both) - wins - losses} / {losses} | {ratio:.2f} | "
          f"{sign_test(wins, losses):.3g} | {statistics.mean(la):.2f} vs {statistics.mean(lb):.2f} | {only_a} / {only_b} |")


if __name__ == "__main__":
    main()
