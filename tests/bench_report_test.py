#!/usr/bin/env python3
"""The equal-compute study's report is a function of its committed run records: bench/bcd_equal_compute.py
--phase report, run on a copy of bench/results/bcd-equal-compute (records, step costs, validation curve),
writes the committed results.csv, curves.csv, table.md and claims.md byte for byte. A record under
another budget than the one asked for, a malformed --budget-steps, a truncated record and a val_curve.csv
without its columns are refused, naming what is wrong.

Run: python3 tests/bench_report_test.py ZO_EXECUTABLE [repository root]. Exits 1 on any failure.
"""
import pathlib
import shutil
import subprocess
import sys
import tempfile

OUTPUTS = ["results.csv", "curves.csv", "table.md", "claims.md"]


def main() -> int:
    zo = sys.argv[1]
    root = pathlib.Path(sys.argv[2] if len(sys.argv) > 2 else pathlib.Path(__file__).resolve().parents[1])
    results = root / "bench/results/bcd-equal-compute"
    failures = []
    with tempfile.TemporaryDirectory(prefix="zo_bench_report_") as tmp:
        out = pathlib.Path(tmp) / "study"
        out.mkdir()
        shutil.copytree(results / "runs", out / "runs")
        for name in ("step_costs.csv", "val_curve.csv"):
            shutil.copy(results / name, out / name)

        def report(*extra):
            return subprocess.run([sys.executable, str(root / "bench/bcd_equal_compute.py"), "--phase", "report",
                                   "--zo", zo, "--out", str(out), *extra], capture_output=True, text=True,
                                  timeout=300)

        run = report()
        if run.returncode != 0:
            failures.append(f"--phase report exited {run.returncode}: {run.stderr.strip()}")
        else:
            for name in OUTPUTS:
                if (out / name).read_bytes() != (results / name).read_bytes():
                    failures.append(f"{name}: the report of the committed records differs from "
                                    f"{results / name} (run the report again and commit it)")
        for flag, says in (("spam=99", "a run under a budget of "),
                           ("spam=x", "--budget-steps: 'spam=x' is not STEPS or TASK=STEPS"),
                           ("nosuch=100", "--budget-steps: unknown task 'nosuch'"),
                           ("4", "budget 4 is below 8 steps")):
            bad = report("--budget-steps", flag)
            if bad.returncode == 0 or says not in bad.stderr:
                failures.append(f"--budget-steps {flag}: expected a refusal saying {says!r}, got exit "
                                f"{bad.returncode}: {bad.stderr.strip()}")
        bad = report("--budget-steps", "spam=99")
        if "runs/spam/" not in bad.stderr:
            failures.append(f"--budget-steps spam=99: the refusal does not name the record: {bad.stderr.strip()}")
        # A record or a CSV the report reads, cut short, is refused naming the file.
        record = out / "runs/spam/mezo/seed1.json"
        whole = record.read_text()
        record.write_text(whole[:40])
        bad = report()
        if bad.returncode == 0 or f"{record}: not valid JSON" not in bad.stderr:
            failures.append(f"a truncated record: expected a refusal naming {record}, got exit {bad.returncode}: "
                            f"{bad.stderr.strip()}")
        record.write_text(whole)
        (out / "val_curve.csv").write_text("task,method\nspam,mezo\n")
        bad = report()
        if bad.returncode == 0 or f"{out / 'val_curve.csv'}: malformed (no column seed" not in bad.stderr:
            failures.append(f"a val_curve.csv without its columns: expected a refusal naming it, got exit "
                            f"{bad.returncode}: {bad.stderr.strip()}")
    for f in failures:
        print("FAIL:", f)
    print(f"{len(failures)} failure(s)" if failures else "the report reproduces the committed study; bad budgets refused")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
