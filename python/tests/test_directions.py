"""z for every direction family, drawn through Python (the fused perturb kernel on torch tensors
viewed in place, and Direction.fill), equals the C++ reference program's Direction::fill and
spec.py's model bit for bit; block selections equal too."""

import numpy as np
import pytest
import torch

import spec
from conftest import Z_BLOCKS_PER_STEP, Z_KEEP, Z_PARAMS, Z_RANK
from zo import _core

FAMILIES = [
    ("dense", "gaussian"),
    ("dense", "rademacher"),
    ("dense", "sphere"),
    ("sparse", "gaussian"),
    ("sparse", "rademacher"),
    ("low-rank", "gaussian"),
    ("low-rank", "rademacher"),
]


def _zero_params(dtype=torch.float32):
    tensors = {name: torch.zeros(shape, dtype=dtype) for name, shape in Z_PARAMS}
    views = _core.TensorViews()
    for name, t in tensors.items():
        views.add(name, t)
    return tensors, views


def _direction(views, kind, distribution, order="all"):
    return _core.Direction(views, kind=kind, distribution=distribution, keep=Z_KEEP, rank=Z_RANK, order=order,
                           blocks_per_step=Z_BLOCKS_PER_STEP)


@pytest.mark.parametrize("kind,distribution", FAMILIES)
def test_z_equals_cpp_and_spec(reference, kind, distribution):
    seed, step = 20240, 3
    ref = reference("z", kind=kind, distribution=distribution, order="all", seed=seed, step=step)
    tensors, views = _zero_params()
    d = _direction(views, kind, distribution)
    blocks = d.active_blocks(seed, step)
    assert blocks == ref["blocks"] == list(range(len(Z_PARAMS)))
    draw_seed, scale = d.draw(blocks, _core.probe_seed(seed, step, 0))
    assert (draw_seed, int(np.float32(scale).view(np.uint32))) == ref["draw"]
    assert draw_seed == spec.probe_seed(seed, step, 0)
    if distribution == "sphere":
        assert scale == spec.sphere_scale(Z_PARAMS, draw_seed)
    else:
        assert scale == 1.0
    # θ = 0 + 1·z through the fused kernel, in place on the torch tensors.
    d.perturb(blocks, draw_seed, scale, 1.0)
    for name, shape in Z_PARAMS:
        expected = ref["z"][name]
        assert expected.any(), name
        np.testing.assert_array_equal(tensors[name].numpy().reshape(-1).view(np.uint32), expected, err_msg=name)
        np.testing.assert_array_equal(d.fill(name, draw_seed, scale).view(np.uint32), expected, err_msg=name)
        model = spec.z(kind, distribution, name, shape, draw_seed, scale, keep=Z_KEEP, rank=Z_RANK)
        np.testing.assert_array_equal(model.view(np.uint32), expected, err_msg=name)


@pytest.mark.parametrize("distribution", ["gaussian", "rademacher"])
def test_sparse_granule_equals_spec(distribution):
    # Runs of 16 coordinates kept together: the fused kernel's z and Direction.fill equal the numpy model.
    tensors, views = _zero_params()
    d = _core.Direction(views, kind="sparse", distribution=distribution, keep=Z_KEEP, granule=16)
    blocks = d.active_blocks(5, 0)
    draw_seed, scale = d.draw(blocks, _core.probe_seed(5, 0, 0))
    d.perturb(blocks, draw_seed, scale, 1.0)
    for name, shape in Z_PARAMS:
        model = spec.z("sparse", distribution, name, shape, draw_seed, scale, keep=Z_KEEP, granule=16)
        np.testing.assert_array_equal(tensors[name].numpy().reshape(-1).view(np.uint32), model.view(np.uint32), err_msg=name)
        np.testing.assert_array_equal(d.fill(name, draw_seed, scale).view(np.uint32), model.view(np.uint32), err_msg=name)
        kept = (model != 0)[: model.size // 16 * 16].reshape(-1, 16)  # the whole runs
        assert (kept.all(axis=1) | ~kept.any(axis=1)).all(), name
    assert 0.2 < np.mean(np.concatenate([tensors[n].numpy().reshape(-1) != 0 for n, _ in Z_PARAMS])) < 0.4


def test_sparse_granule_must_be_a_power_of_two():
    _, views = _zero_params()
    with pytest.raises(Exception, match="'granule' = 12: must be a power of 2"):
        _core.Direction(views, kind="sparse", keep=0.5, granule=12)


@pytest.mark.parametrize("order", ["cyclic", "permutation", "uniform", "weighted"])
def test_block_orders_equal_cpp_and_spec(reference, order):
    seed = 77
    tensors, views = _zero_params()
    d = _direction(views, "dense", "gaussian", order)
    numels = [int(np.prod(shape)) for _, shape in Z_PARAMS]
    seen = set()
    for step in range(6):
        blocks = d.active_blocks(seed, step)
        assert len(blocks) == Z_BLOCKS_PER_STEP
        assert blocks == spec.active_blocks(order, numels, seed, step, Z_BLOCKS_PER_STEP)
        seen.update(blocks)
        if step in (0, 4):
            ref = reference("z", kind="dense", distribution="gaussian", order=order, seed=seed, step=step)
            assert blocks == ref["blocks"]
            for b, (name, _) in enumerate(Z_PARAMS):
                assert ref["z"][name].any() == (b in blocks), name
    if order in ("cyclic", "permutation"):
        assert seen == set(range(len(Z_PARAMS)))


def test_only_the_active_blocks_move(reference):
    seed, step = 5, 2
    ref = reference("z", kind="sparse", distribution="gaussian", order="uniform", seed=seed, step=step)
    tensors, views = _zero_params()
    d = _direction(views, "sparse", "gaussian", "uniform")
    blocks = d.active_blocks(seed, step)
    draw_seed, scale = d.draw(blocks, _core.probe_seed(seed, step, 0))
    d.perturb(blocks, draw_seed, scale, 1.0)
    for b, (name, _) in enumerate(Z_PARAMS):
        got = tensors[name].numpy().reshape(-1).view(np.uint32)
        np.testing.assert_array_equal(got, ref["z"][name], err_msg=name)
        assert got.any() == (b in blocks)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_params_get_z_rounded_to_nearest_even(dtype):
    tensors, views = _zero_params(dtype)
    d = _direction(views, "low-rank", "gaussian")
    blocks = d.active_blocks(1, 0)
    d.perturb(blocks, 99, 1.0, 1.0)
    for name, shape in Z_PARAMS:
        z = torch.from_numpy(spec.z("low-rank", "gaussian", name, shape, 99, keep=Z_KEEP, rank=Z_RANK))
        assert torch.equal(tensors[name].reshape(-1).view(torch.int16), z.to(dtype).view(torch.int16)), name


def test_perturb_then_opposite_perturb_restores_zero():
    tensors, views = _zero_params()
    d = _direction(views, "dense", "gaussian")
    blocks = d.active_blocks(0, 0)
    d.perturb(blocks, 3, 1.0, 0.5)
    assert tensors["big"].abs().sum() > 0
    d.perturb(blocks, 3, 1.0, -0.5)
    for t in tensors.values():
        assert torch.count_nonzero(t) == 0
