"""zo: zeroth-order optimization (MeZO, MeZO-BCD, R-AdaZO) over zo's C++ core.

- ``zo.minimize(f, x0, ...)`` minimises a black-box function of a float32 numpy array with
  zo::minimize: the same options give the same x, bit for bit, as the C++ library.
- ``zo.torch.ZOOptimizer(params, ...)`` trains torch tensors in place with ``opt.step(closure)``,
  records a seed ledger and replays it (``import zo.torch``; needs torch).

Errors from the C++ core are ``zo.Error`` (a RuntimeError) with the C++ message; a non-finite loss
under ``nan_policy="stop"`` is ``zo.NonFiniteLoss``. docs/python.md has the whole API.
"""

from pkgutil import extend_path

# A build folder's zo/_core next to this source folder (PYTHONPATH=<build>/python:python) joins
# the package; an installed package holds _core itself.
__path__ = extend_path(__path__, __name__)

from dataclasses import dataclass, field  # noqa: E402
from typing import Any, Callable, List  # noqa: E402

import numpy as np  # noqa: E402

from . import _core  # noqa: E402
from ._core import Error, NonFiniteLoss  # noqa: E402

__version__ = _core.__version__

__all__ = ["Error", "NonFiniteLoss", "MinimizeResult", "minimize", "__version__"]


@dataclass
class MinimizeResult:
    """What zo.minimize returns: the C++ Summary plus the final x and the per-step losses."""

    x: np.ndarray  # the final point, float32, shaped like x0
    loss: float  # f(x) at the end
    initial_loss: float  # f(x0)
    history: List[float] = field(repr=False)  # the estimator's loss at each step
    termination: str = "max_steps"  # max_steps, max_evaluations, target_loss, time_limit, non_finite_loss, callback
    message: str = ""
    steps: int = 0
    evaluations: int = 0  # objective evaluations, the initial and final ones included
    skipped_steps: int = 0
    seconds: float = 0.0
    report: str = field(default="", repr=False)  # a few lines for people

    def __str__(self) -> str:
        return self.report


def minimize(
    f: Callable[[np.ndarray], Any],
    x0,
    optimizer: str = "r-adazo",
    lr: float = 1e-3,
    steps: int = 1000,
    eps: float = 1e-3,
    direction: str = "gaussian",
    seed: int = 0,
    queries: int = 1,
    difference: str = "central",
    **options,
) -> MinimizeResult:
    """Minimise f from x0 with zo::minimize; returns a MinimizeResult.

    f is called with a read-only float32 numpy array shaped like x0 (a view of the current x, valid
    during the call only: copy it to keep it) and returns a number. ``direction`` is a distribution
    (gaussian, rademacher, sphere) or a direction kind (dense, sparse, low-rank). Further options:
    distribution, keep, rank, momentum, weight_decay, beta1, beta2, zeta, amsgrad, bias_correction,
    zeta_outside_root, no_decay, schedule, warmup_steps, lr_min_ratio, max_evaluations, target_loss,
    time_limit, nan_policy, callback (called with a dict after each step; return False to stop).
    """
    kwargs = dict(
        optimizer=optimizer,
        lr=lr,
        steps=steps,
        eps=eps,
        direction=direction,
        seed=seed,
        queries=queries,
        difference=difference,
    )
    kwargs.update(options)
    r = _core.minimize(f, np.asarray(x0), kwargs)
    return MinimizeResult(**r)
