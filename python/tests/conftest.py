"""Shared fixtures: the C++ reference program (zo_py_reference, built with the extension) and the
fixtures it uses, mirrored on the Python side.

The program is found from $ZO_PY_REFERENCE (required to exist when set: scripts/test.sh sets it),
else next to the extension (<build>/python/zo_py_reference); tests that need it are skipped when
neither exists (an installed package without a build folder).
"""

import os
import pathlib
import subprocess

# OpenBLAS's generic kernels for this process and the processes it starts, chosen before numpy or
# torch loads OpenBLAS: the torch.distributed test holds N processes to one process bit for bit, which
# needs products whose rows do not depend on how many rows a call has (docs/distributed.md). The
# kernels OpenBLAS picks on AMD CPUs (Haswell), or that a machine's environment sets, are not.
os.environ["OPENBLAS_CORETYPE"] = "Prescott"

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import zo  # noqa: E402


def _reference_path():
    env = os.environ.get("ZO_PY_REFERENCE")
    if env:
        if not pathlib.Path(env).is_file():
            raise RuntimeError(f"ZO_PY_REFERENCE={env}: no such file")
        return env
    candidate = pathlib.Path(zo._core.__file__).resolve().parent.parent / "zo_py_reference"
    return str(candidate) if candidate.is_file() else None


def _parse(text):
    """'key values…' lines; z and theta lines are 'key name values…'."""
    out = {"z": {}, "theta": {}}
    for line in text.splitlines():
        key, _, rest = line.partition(" ")
        if key in ("z", "theta"):
            name, _, values = rest.partition(" ")
            out[key][name] = np.array([int(v, 16) for v in values.split()], dtype=np.uint32)
        elif key == "x":
            _, _, values = rest.partition(" ")
            out["x"] = np.array([int(v, 16) for v in values.split()], dtype=np.uint32)
        elif key in ("blocks",):
            out[key] = [int(v) for v in rest.split()]
        elif key == "draw":
            seed, scale = rest.split()
            out["draw"] = (int(seed), int(scale, 16))
        elif key in ("rhos", "history"):
            out[key] = [float(v) for v in rest.split()]
        elif key == "loss":
            out[key] = float(rest)
        else:
            out[key] = rest
    return out


@pytest.fixture(scope="session")
def reference():
    """reference(mode, **args) runs zo_py_reference and returns its parsed output."""
    path = _reference_path()
    if path is None:
        pytest.skip("zo_py_reference is not built (build the extension with CMake, or set ZO_PY_REFERENCE)")

    def run(mode, **args):
        argv = [path, mode] + [f"{k}={v}" for k, v in args.items()]
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed: {done.stderr}")
        return _parse(done.stdout)

    return run


# The fixtures of reference.cpp ------------------------------------------------------------------

# `z`: float32 params, zero.
Z_PARAMS = [
    ("embed.weight", (40, 24)),
    ("layers.0.w", (24, 24)),
    ("layers.0.b", (24,)),
    ("layers.1.w", (33, 5)),
    ("head.b", (7,)),
    ("big", (5000,)),
]
Z_KEEP, Z_RANK, Z_BLOCKS_PER_STEP = 0.3, 3, 2

# `estimate`: params of one dtype, θ_i = (((7i) mod 17) − 8) / 16.
ESTIMATE_PARAMS = [("w", (30, 20)), ("b", (20,)), ("v", (3000,))]


def estimate_theta(shape):
    n = int(np.prod(shape))
    i = np.arange(n)
    return (((7 * i) % 17 - 8) / 16.0).astype(np.float32).reshape(shape)


def estimate_loss(tensors):
    """Σ over params in order, Σ_{i < 50} (i + 1)·θ_i, in double, as reference.cpp."""
    s = 0.0
    for t in tensors:
        for i, v in enumerate(t.reshape(-1)[:50].tolist()):
            s += (i + 1) * v
    return s


# `minimize`: f(x) = Σ_i (1 + i mod 7)(x_i − 0.5)², x0_i = ((i mod 5) − 2)/4.
def minimize_x0(n):
    return np.array([((i % 5) - 2) / 4.0 for i in range(n)], dtype=np.float32)


def minimize_f(x):
    s = 0.0
    for i, v in enumerate(np.asarray(x).reshape(-1).tolist()):
        d = v - 0.5
        s += (1 + i % 7) * d * d
    return s
