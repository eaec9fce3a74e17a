"""The OpenBLAS kernels a benchmark runs: the same for zo and for its peer, chosen as zo chooses them.

OpenBLAS picks its kernels once, when it loads, from OPENBLAS_CORETYPE or else the CPU model, and
falls back to its generic "Prescott" kernels on a model it does not know (include/zo/nn/blas.hpp).
The `zo` command then starts itself again with the kernels the CPU can run; a benchmark must give
torch (and any other program it times) those same kernels, or it measures OpenBLAS's fallback
instead of the engines. `use_cpu_kernels()` sets OPENBLAS_CORETYPE in this process's environment
(read by OpenBLAS when torch, numpy or a child process loads it later) by the rule of
zo::nn::blas_core_upgrade, and returns the kernels every side will run. Call it before importing
torch or numpy."""

import os
import subprocess
import sys

_CORENAME = ("import ctypes; lib = ctypes.CDLL('libopenblas.so.0'); "
             "lib.openblas_get_corename.restype = ctypes.c_char_p; print(lib.openblas_get_corename().decode())")


def openblas_core(env=None):
    """The kernels OpenBLAS chooses in a fresh process with environment `env` ('' if no OpenBLAS)."""
    run = subprocess.run([sys.executable, "-c", _CORENAME], capture_output=True, text=True, env=env)
    return run.stdout.strip() if run.returncode == 0 else ""


def cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def upgrade(core, flags):
    """zo::nn::blas_core_upgrade's rule: the kernels to request when OpenBLAS fell back to Prescott."""
    if core != "Prescott":
        return ""
    if "avx512_bf16" in flags:
        return "Cooperlake"
    if {"avx512f", "avx512bw", "avx512dq", "avx512vl"} <= flags:
        return "SkylakeX"
    if {"avx2", "fma"} <= flags:
        return "Haswell"
    return ""


def use_cpu_kernels():
    """Sets OPENBLAS_CORETYPE where OpenBLAS would fall back (an existing value stands); returns the
    kernels in use."""
    if os.environ.get("OPENBLAS_CORETYPE"):
        return os.environ["OPENBLAS_CORETYPE"]
    core = openblas_core()
    better = upgrade(core, cpu_flags())
    if better:
        os.environ["OPENBLAS_CORETYPE"] = better
        return better
    return core
