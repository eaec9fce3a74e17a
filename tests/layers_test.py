#!/usr/bin/env python3
"""The layers hold: no header or source of a layer includes a header of a higher layer, and each layer's
code lives in its one namespace (docs/architecture.md).

    util < core < optim < cuda < nn < tasks < train < apps (and python)

Run from anywhere: python3 tests/layers_test.py [repository root]. Prints every violation with its file
and line, and exits 1 if there is any.
"""
import pathlib
import re
import sys

LAYERS = ["util", "core", "optim", "cuda", "nn", "tasks", "train"]
NAMESPACE = {"util": "zo", "core": "zo", "cuda": "zo::cuda", "optim": "zo", "nn": "zo::nn", "tasks": "zo::tasks",
             "train": "zo"}
INCLUDE = re.compile(r'^\s*#\s*include\s*"zo/([a-z_]+)/')
NAMESPACE_LINE = re.compile(r"^namespace\s+([A-Za-z_][\w:]*)\s*\{")


def check(root: pathlib.Path) -> list[str]:
    problems = []
    rank = {name: i for i, name in enumerate(LAYERS)}
    for layer in LAYERS:
        files = sorted((root / "include" / "zo" / layer).glob("*.hpp")) + sorted(
            f for f in (root / "src" / layer).rglob("*") if f.suffix in (".cpp", ".hpp", ".cu", ".cuh"))
        if not files:
            problems.append(f"layer {layer}: no files under include/zo/{layer} or src/{layer}")
        for path in files:
            rel = path.relative_to(root)
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                m = INCLUDE.match(line)
                if m:
                    target = m.group(1)
                    if target not in rank:
                        problems.append(f"{rel}:{number}: includes zo/{target}/, which is no layer")
                    elif rank[target] > rank[layer]:
                        problems.append(f"{rel}:{number}: {layer} includes zo/{target}/ — a higher layer")
                m = NAMESPACE_LINE.match(line)
                name = m.group(1) if m else ""
                own = NAMESPACE[layer]
                # Relative names (detail, rules, ops) nest inside the file's layer namespace.
                if m and (name == "zo" or name.startswith("zo::")) and not (name == own or name.startswith(own + "::")):
                    problems.append(f"{rel}:{number}: namespace {m.group(1)} in layer {layer} (its namespace is {NAMESPACE[layer]})")
    for path in sorted((root / "include" / "zo").iterdir()):
        if path.is_dir() and path.name not in rank:
            problems.append(f"include/zo/{path.name}: not a layer ({', '.join(LAYERS)})")
    return problems


def main() -> int:
    root = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else pathlib.Path(__file__).resolve().parent.parent
    problems = check(root)
    for p in problems:
        print(p)
    print(f"layers: {len(problems)} violation(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
