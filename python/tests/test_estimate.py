"""The in-place protocol (+ε, −2ε, +ε) run from Python on torch tensors leaves θ exactly as the C++
reference program leaves it, for every storage dtype, and computes the same ρ."""

import numpy as np
import pytest
import torch

from conftest import ESTIMATE_PARAMS, Z_KEEP, Z_RANK, estimate_loss, estimate_theta
from zo import _core

DTYPES = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}


def _bits(t):
    if t.dtype == torch.float32:
        return t.reshape(-1).numpy().view(np.uint32)
    return t.reshape(-1).view(torch.int16).numpy().view(np.uint16).astype(np.uint32)


@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize(
    "kind,distribution,difference,queries",
    [
        ("dense", "gaussian", "central", 1),
        ("dense", "sphere", "forward", 2),
        ("sparse", "rademacher", "central", 3),
        ("low-rank", "gaussian", "central", 2),
    ],
)
def test_protocol_leaves_theta_as_cpp_does(reference, dtype, kind, distribution, difference, queries):
    seed, step, eps = 11, 4, 0.01
    ref = reference("estimate", dtype=dtype, kind=kind, distribution=distribution, difference=difference,
                    queries=queries, seed=seed, step=step, eps=eps)
    tensors = [torch.from_numpy(estimate_theta(shape)).to(DTYPES[dtype]) for _, shape in ESTIMATE_PARAMS]
    before = [t.clone() for t in tensors]
    views = _core.TensorViews()
    for (name, _), t in zip(ESTIMATE_PARAMS, tensors):
        views.add(name, t)
    d = _core.Direction(views, kind=kind, distribution=distribution, keep=Z_KEEP, rank=Z_RANK)
    e = _core.estimate(views, d, lambda: estimate_loss(tensors), seed, step, eps=eps, queries=queries,
                       difference=difference)
    assert e["evaluations"] == (2 * queries if difference == "central" else queries + 1)
    assert e["finite"]
    assert [p[2] for p in e["probes"]] == ref["rhos"]
    assert e["loss"] == ref["loss"]
    assert all(rho != 0.0 for rho in ref["rhos"])
    for (name, _), t, b in zip(ESTIMATE_PARAMS, tensors, before):
        np.testing.assert_array_equal(_bits(t), ref["theta"][name], err_msg=name)
        # Restored up to the rounding of the ±ε sequence.
        assert torch.allclose(t.float(), b.float(), atol=0.02)


def test_theta_comes_back_when_the_loss_raises():
    t = torch.from_numpy(estimate_theta((50,)))
    before = t.clone()
    views = _core.TensorViews()
    views.add("w", t)
    d = _core.Direction(views)
    calls = []

    def loss():
        calls.append(t.clone())
        if len(calls) == 2:
            raise KeyError("boom")
        return 0.0

    with pytest.raises(KeyError, match="boom"):
        _core.estimate(views, d, loss, 0, 0, eps=0.1)
    assert not torch.equal(calls[0], before)  # θ had moved by +εz during the first evaluation
    assert torch.allclose(t, before, atol=1e-6)
