#!/usr/bin/env python3
"""Writes bench/results/gpu/README.md from the CSVs the GPU checks leave there.

scripts/device_cuda_check.sh writes, on a GPU machine, z_identity.csv (bench/cuda_z_identity),
pass_bandwidth.csv (bench/cuda_pass_bandwidth), step.csv and step_detail.csv (bench/gpu_step.py) and
cuda.log. Copy them into one folder and run this script on it: the README gets the device, the
commands, one table per CSV and each goal checked against its bar. A CSV that is absent gets a line
saying so, never a number.

    /usr/bin/python3 bench/gpu_report.py                      # bench/results/gpu/
    /usr/bin/python3 bench/gpu_report.py --dir device-out --out /tmp/README.md
"""

import argparse
import csv
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
PASS_BAR = 0.8  # a perturbation pass at >= 80 % of the device's copy bandwidth
STEP_BARS = {("opt-13b", "mezo"): 2.3, ("opt-13b", "mezo-bcd"): 4.0}  # MeZO's dense step / zo's step

COMMANDS = """```sh
bash scripts/device_deps.sh                        # here: fmt, DLPack and GoogleTest into .deps/
bash scripts/device_cuda_check.sh check            # on the GPU machine: build, tests, z identity, bandwidth
bash scripts/device_cuda_check.sh step             # on the GPU machine: bench/gpu_step.py
/usr/bin/python3 bench/gpu_report.py               # this README, from the CSVs copied here
```"""


def read(path: pathlib.Path):
    if not path.is_file():
        return None
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return rows or None


def need(rows, columns, name):
    missing = [c for c in columns if c not in rows[0]]
    if missing:
        sys.exit(f"gpu_report.py: {name}: no column {', '.join(missing)} (expected {','.join(columns)})")


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(v) for v in r) + " |" for r in rows]
    return "\n".join(out)


def device_line(folder: pathlib.Path, detail):
    log = folder / "cuda.log"
    if log.is_file():
        first = log.read_text(errors="replace").splitlines()[:2]
        if first:
            return "; ".join(line.strip() for line in first if line.strip())
    if detail:
        return f"{detail[0].get('device', '?')}, torch {detail[0].get('torch', '?')}"
    return "not recorded (no cuda.log or step_detail.csv)"


def z_section(rows):
    if rows is None:
        return "Not run: z_identity.csv is absent."
    need(rows, ["family", "elements", "mismatches"], "z_identity.csv")
    bad = [r["family"] for r in rows if int(r["mismatches"]) != 0]
    verdict = ("**Every family is bit-identical to the CPU's z.**" if not bad
               else f"**Mismatches in {', '.join(bad)}: the GPU's z differs from the CPU's there.**")
    return table(["family", "elements", "mismatches"],
                 [(r["family"], r["elements"], r["mismatches"]) for r in rows]) + "\n\n" + verdict


def pass_section(rows):
    if rows is None:
        return "Not run: pass_bandwidth.csv is absent."
    need(rows, ["pass", "dtype", "distribution", "elements", "ms", "copy_ms", "fraction_of_copy"], "pass_bandwidth.csv")
    body = table(["pass", "storage", "z", "elements", "ms", "copy ms", "of copy"],
                 [(r["pass"], r["dtype"], r["distribution"], r["elements"], f"{float(r['ms']):.3f}",
                   f"{float(r['copy_ms']):.3f}", f"{100 * float(r['fraction_of_copy']):.1f} %") for r in rows])
    met = [f"{r['pass']} {r['dtype']} {r['distribution']}" for r in rows
           if r["pass"] == "perturb" and float(r["fraction_of_copy"]) >= PASS_BAR]
    perturb = [r for r in rows if r["pass"] == "perturb"]
    best = max(perturb, key=lambda r: float(r["fraction_of_copy"])) if perturb else None
    if met:
        verdict = f"Perturbation passes at ≥ {PASS_BAR:.0%} of the copy's bandwidth: {', '.join(met)}."
    elif best is not None:
        verdict = (f"**No perturbation pass reaches {PASS_BAR:.0%} of the copy's bandwidth** (best: "
                   f"{best['dtype']} {best['distribution']} at {100 * float(best['fraction_of_copy']):.1f} %).")
    else:
        verdict = "No perturbation pass was measured."
    return body + "\n\n" + verdict


def step_setting(detail):
    if not detail:
        return "The models' setting is not recorded (no step_detail.csv)."
    d = detail[0]
    models = ", ".join(r.get("model", "?") for r in detail)
    return (f"Models: {models} ({d.get('source', '?')}), random weights, {d.get('dtype', '?')}, batch "
            f"{d.get('batch', '?')} × {d.get('seq', '?')}.")


def step_section(rows, detail):
    if rows is None:
        return "Not run: step.csv is absent."
    need(rows, ["model", "method", "peer_ms", "zo_ms", "ratio"], "step.csv")
    body = table(["model", "method", "MeZO's dense step ms", "zo's step ms", "ratio"],
                 [(r["model"], r["method"], r["peer_ms"], r["zo_ms"], f"**{r['ratio']}×**") for r in rows])
    lines = []
    for (model, method), bar in STEP_BARS.items():
        got = [float(r["ratio"]) for r in rows if r["model"] == model and r["method"] == method]
        if not got:
            lines.append(f"- {model} {method}: not measured (goal ≥ {bar}×).")
        else:
            lines.append(f"- {model} {method}: {got[0]:.2f}× against a goal of ≥ {bar}×: "
                         f"**{'met' if got[0] >= bar else 'not met'}**.")
    out = body + "\n\n" + "\n".join(lines)
    if detail:
        cols = ["model", "params_M", "dtype", "batch", "seq", "forward_ms", "peer_pass_ms", "zo_pass_ms",
                "copy_floor_ms", "peer_dense_ms", "peer_one_layer_ms", "zo_dense_ms", "zo_bcd_ms", "bcd_blocks",
                "shared_steps", "peak_GiB"]
        need(detail, cols, "step_detail.csv")
        out += "\n\nWhere the time goes (step_detail.csv; ms):\n\n" + table(cols, [[d[c] for c in cols] for d in detail])
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", default=str(ROOT / "bench/results/gpu"), help="the folder of the CSVs")
    ap.add_argument("--out", default="", help="the README to write (default: <dir>/README.md)")
    args = ap.parse_args()
    folder = pathlib.Path(args.dir)
    if not folder.is_dir():
        sys.exit(f"gpu_report.py: --dir {folder}: no such folder")
    z = read(folder / "z_identity.csv")
    passes = read(folder / "pass_bandwidth.csv")
    step = read(folder / "step.csv")
    detail = read(folder / "step_detail.csv")
    if z is None and passes is None and step is None:
        sys.exit(f"gpu_report.py: {folder} holds none of z_identity.csv, pass_bandwidth.csv, step.csv")
    text = f"""# zo on a GPU: z identity, pass bandwidth, and the step against MeZO's

Device: {device_line(folder, detail)}.

Commands (scripts/device_cuda_check.sh's header says how to send the checkout to a GPU machine):

{COMMANDS}

## z on the GPU against the CPU (bench/cuda_z_identity.cpp)

{z_section(z)}

## Passes over θ against a device copy (bench/cuda_pass_bandwidth.cpp)

{pass_section(passes)}

## The step against MeZO's PyTorch step (bench/gpu_step.py)

{step_setting(detail)} Ratio = MeZO's dense step / zo's step; zo's MeZO-BCD step is the mean over a
permutation epoch with the shared prefix.

{step_section(step, detail)}
"""
    out = pathlib.Path(args.out) if args.out else folder / "README.md"
    out.write_text(text)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
