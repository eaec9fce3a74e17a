#!/usr/bin/env python3
"""Every option of every `zo` subcommand is documented: each option its --help lists appears, as a whole
word, on the subcommand's documentation page (docs/), and every subcommand --help lists has a page here.

Run: python3 tests/cli_docs_test.py ZO_EXECUTABLE [repository root]. Prints every undocumented option with
its subcommand and page, and exits 1 if there is any.
"""
import pathlib
import re
import subprocess
import sys

# The page that documents each subcommand's options.
PAGES = {
    "attack": ["docs/attack.md"],
    "bench synthetic": ["docs/synthetic.md"],
    "finetune": ["docs/finetune.md"],
    "generate": ["docs/engine.md"],
    "replay": ["docs/finetune.md"],
    "score": ["docs/engine.md"],
    "train-victim": ["docs/attack.md"],
}
OPTION = re.compile(r"^\s+(?:-\w,)?(--[a-z0-9][a-z0-9-]*)", re.M)
SUBCOMMAND = re.compile(r"^  ([a-z][a-z0-9-]*)\s{2,}", re.M)


def help_text(zo: str, words: list[str]) -> str:
    run = subprocess.run([zo, *words, "--help"], capture_output=True, text=True, check=False)
    if run.returncode != 0:
        raise SystemExit(f"{zo} {' '.join(words)} --help exited {run.returncode}: {run.stderr.strip()}")
    return run.stdout


def subcommands(zo: str, words: list[str]) -> dict[str, str]:
    """The leaf subcommands under `zo words…` (space-joined words) with their --help text."""
    text = help_text(zo, words)
    if "Subcommands:" not in text:
        return {" ".join(words): text}
    leaves = {}
    for name in SUBCOMMAND.findall(text.split("Subcommands:", 1)[1]):
        leaves.update(subcommands(zo, [*words, name]))
    return leaves


def undocumented(zo: str, root: pathlib.Path, commands: dict[str, str]) -> list[str]:
    problems = []
    for command, help_of_command in commands.items():
        pages = PAGES.get(command)
        if pages is None:
            problems.append(f"zo {command}: no documentation page listed in tests/cli_docs_test.py")
            continue
        text = "\n".join((root / page).read_text(encoding="utf-8") for page in pages)
        for option in OPTION.findall(help_of_command):
            if option == "--help":
                continue
            if not re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", text):
                problems.append(f"zo {command}: option {option} is not in {', '.join(pages)}")
    return problems


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    zo = sys.argv[1]
    root = pathlib.Path(sys.argv[2] if len(sys.argv) > 2 else pathlib.Path(__file__).resolve().parents[1])
    commands = subcommands(zo, [])
    problems = undocumented(zo, root, commands)
    for p in problems:
        print(p)
    print(f"{len(commands)} subcommands checked; {len(problems)} undocumented option(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
