"""The Python examples run as a new user runs them: examples/python/finetune_spam.py trains the
shipped model (a plain torch module, and through Hugging Face transformers where it is installed)
and its ledger replays onto the base weights exactly."""

import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples/python/finetune_spam.py"


def _run(*args):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    run = subprocess.run([sys.executable, str(EXAMPLE), "--steps", "4", "--test-per-class", "8", *args],
                         capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "give the trained weights: True" in run.stdout, run.stdout
    assert "balanced accuracy on 16 test e-mails" in run.stdout, run.stdout
    return run.stdout


def test_spam_example_trains_the_shipped_model_as_a_torch_module():
    _run()
    out = _run("--layers", "auto", "--optimizer", "r-adazo", "--lr", "1e-4")
    shared = re.search(r"shared prefix: (\d+) of 4 steps, (\d+) layer calls skipped", out)
    assert shared and int(shared.group(1)) > 0 and int(shared.group(2)) > 0, out


def test_spam_example_through_transformers():
    pytest.importorskip("transformers", reason="transformers is not installed: the Hugging Face example is skipped")
    _run("--transformers")


def test_spam_example_without_transformers_says_so(tmp_path):
    try:
        import transformers  # noqa: F401
        pytest.skip("transformers is installed: the missing-package message cannot be shown")
    except ImportError:
        pass
    run = subprocess.run([sys.executable, str(EXAMPLE), "--transformers"], capture_output=True, text=True)
    assert run.returncode != 0
    assert "the transformers package is not installed" in run.stderr, run.stderr
