"""zo.torch.ZOOptimizer: trains torch models in place with every optimizer and direction, honours
param groups, continues identically from a state dict, replays its ledger bit for bit, equals
zo::minimize on one tensor, and refuses what it cannot do with the C++ core's message."""

import copy
import hashlib
import io
import math
import re

import numpy as np
import pytest
import torch

import zo
import zo.torch as zt
from conftest import minimize_f, minimize_x0


def _data(seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(128, 6, generator=g)
    w = torch.randn(6, 1, generator=g)
    return X, torch.tanh(X @ w) + 0.1


def _model(seed=0, dtype=torch.float32):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(6, 12), torch.nn.Tanh(), torch.nn.Linear(12, 1)).to(dtype)


def _closure(model, X, y):
    """The MSE of the model's forward pass computed in float32 (CPU torch has no float16 matmul)."""

    def loss():
        w0, b0, w1, b1 = (p.float() for p in model.parameters())
        return torch.nn.functional.mse_loss(torch.tanh(X @ w0.T + b0) @ w1.T + b1, y)

    return loss


def _same(a, b):
    return all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


OPTIMIZERS = [
    ("zo-sgd", dict(lr=1e-3, momentum=0.9)),
    ("zo-sign-sgd", dict(lr=1e-2)),
    ("zo-sgd-sign", dict(lr=1e-2)),
    ("zo-rmsprop", dict(lr=1e-2)),
    ("zo-adamm", dict(lr=1e-2)),
    ("r-adazo", dict(lr=3e-3)),
]


@pytest.mark.parametrize("name,options", OPTIMIZERS, ids=[o[0] for o in OPTIMIZERS])
def test_every_optimizer_trains_a_small_mlp_and_replays(name, options):
    X, y = _data()
    model, base = _model(), _model()
    opt = zt.ZOOptimizer(model.named_parameters(), optimizer=name, **options)
    closure = _closure(model, X, y)
    first = float(closure())
    losses = [opt.step(closure) for _ in range(200)]
    assert float(closure()) < 0.5 * first
    assert all(isinstance(v, float) for v in losses)
    assert len(opt.ledger) == opt.steps == 200
    assert zt.replay(base.named_parameters(), opt.ledger) == 200
    assert _same(base, model)


DIRECTIONS = [
    dict(direction="dense", distribution="rademacher"),
    dict(direction="dense", distribution="sphere"),
    dict(direction="sparse", keep=0.5),
    dict(direction="low-rank", rank=2),
    dict(direction="bcd"),
    dict(direction="bcd", block_order="cyclic", blocks_per_step=2),
    dict(direction="block-coordinate", block_order="uniform"),
    dict(direction="bcd", block_order="weighted", block_weights=[1, 0, 2, 1]),
    dict(direction="sparse", block_order="permutation", queries=2, difference="forward"),
]


@pytest.mark.parametrize("options", DIRECTIONS, ids=lambda o: "-".join(str(v) for v in o.values()))
def test_every_direction_trains_and_replays(options):
    X, y = _data(1)
    model, base = _model(1), _model(1)
    opt = zt.ZOOptimizer(model.named_parameters(), optimizer="r-adazo", lr=3e-3, **options)
    closure = _closure(model, X, y)
    first = float(closure())
    for _ in range(200):
        opt.step(closure)
    assert float(closure()) < 0.7 * first
    if options.get("direction") in ("bcd", "block-coordinate"):
        k = options.get("blocks_per_step", 1)
        assert all(len(r.blocks) == k for r in opt.ledger)
        assert len({tuple(r.blocks) for r in opt.ledger}) > 1
    zt.replay(base.named_parameters(), opt.ledger)
    assert _same(base, model)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_models_train_in_place_and_replay(dtype):
    X, y = _data(2)
    model, base = _model(2, dtype), _model(2, dtype)
    ptrs = [p.data_ptr() for p in model.parameters()]
    opt = zt.ZOOptimizer(model.named_parameters(), optimizer="zo-sgd", lr=2e-3, eps=1e-2, queries=2)
    closure = _closure(model, X, y)
    first = float(closure())
    for _ in range(100):
        opt.step(closure)
    assert float(closure()) < first
    assert [p.data_ptr() for p in model.parameters()] == ptrs and all(p.dtype == dtype for p in model.parameters())
    zt.replay(base.named_parameters(), opt.ledger)
    assert _same(base, model)


@pytest.mark.parametrize(
    "optimizer,options",
    [("r-adazo", dict(lr=0.01)), ("zo-sgd", dict(lr=0.001, momentum=0.9)), ("zo-adamm", dict(lr=0.01))],
)
def test_one_tensor_named_x_equals_cpp_minimize(reference, optimizer, options):
    n, steps, eps, seed = 16, 60, 1e-3, 5
    ref = reference("minimize", n=n, steps=steps, eps=eps, seed=seed, optimizer=optimizer, direction="gaussian", **options)
    x = torch.from_numpy(minimize_x0(n))
    opt = zt.ZOOptimizer([("x", x)], optimizer=optimizer, eps=eps, seed=seed, **options)
    for _ in range(steps):
        opt.step(lambda: minimize_f(x))
    np.testing.assert_array_equal(x.numpy().view(np.uint32), ref["x"])
    assert [r.loss for r in opt.ledger] == ref["history"]


def test_param_groups_honour_their_lr():
    X, y = _data(3)
    model = _model(3)
    first, second = model[0], model[2]
    frozen = [p.clone() for p in first.parameters()]
    groups = [
        {"params": list(first.named_parameters(prefix="0")), "lr": 0.0},
        {"params": list(second.named_parameters(prefix="2")), "lr": 5e-3, "weight_decay": 0.1},
    ]
    opt = zt.ZOOptimizer(groups, optimizer="zo-sgd", lr=1e-3)
    assert opt.param_groups[0]["lr"] == 0.0 and opt.param_groups[1]["weight_decay"] == 0.1
    assert opt.param_groups[0]["weight_decay"] == 0.0  # the default fills what a group leaves out
    closure = _closure(model, X, y)
    for _ in range(20):
        opt.step(closure)
    # lr 0: no update; the ±ε moves of the protocol still round (as for every parameter).
    assert all(torch.allclose(p, q, rtol=0, atol=1e-6) for p, q in zip(first.parameters(), frozen))
    assert (second.weight - _model(3)[2].weight).abs().max() > 1e-3
    assert opt.ledger[0].lr == [0.0, 5e-3]
    # blocks "auto" with several groups: one block per group.
    assert [b for b in opt._session.layout()["blocks"]] == [("group.0", [0, 1]), ("group.1", [2, 3])]

    # One step with lrs (a, b) moves each group as a one-group run at that lr does.
    def one_step(groups_lr):
        m = _model(4)
        named = dict(m.named_parameters())
        gs = [{"params": [(k, named[k]) for k in ("0.weight", "0.bias")], "lr": groups_lr[0]},
              {"params": [(k, named[k]) for k in ("2.weight", "2.bias")], "lr": groups_lr[1]}]
        zt.ZOOptimizer(gs, optimizer="zo-sgd", blocks="tensor").step(_closure(m, X, y))
        return m

    mixed, slow, fast = one_step((1e-3, 4e-3)), one_step((1e-3, 1e-3)), one_step((4e-3, 4e-3))
    assert torch.equal(mixed[0].weight, slow[0].weight) and torch.equal(mixed[2].weight, fast[2].weight)
    assert not torch.equal(slow[2].weight, fast[2].weight)


def test_lr_schedulers_drive_the_group_lr_and_replay_follows():
    X, y = _data(5)
    model, base = _model(5), _model(5)
    opt = zt.ZOOptimizer(model.named_parameters(), optimizer="zo-adamm", lr=1e-2)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=5, gamma=0.5)
    closure = _closure(model, X, y)
    for _ in range(15):
        opt.step(closure)
        sched.step()
    assert [r.lr[0] for r in opt.ledger][::5] == [1e-2, 5e-3, 2.5e-3]
    zt.replay(base.named_parameters(), opt.ledger)
    assert _same(base, model)


@pytest.mark.parametrize("optimizer", ["zo-adamm", "r-adazo", "zo-sgd"])
def test_state_dict_round_trip_continues_identically(optimizer):
    X, y = _data(6)
    model = _model(6)
    options = dict(optimizer=optimizer, lr=3e-3, direction="bcd", momentum=0.9 if optimizer == "zo-sgd" else 0.0)
    opt = zt.ZOOptimizer(model.named_parameters(), **options)
    closure = _closure(model, X, y)
    for _ in range(10):
        opt.step(closure)
    buffer = io.BytesIO()
    torch.save({"model": model.state_dict(), "opt": opt.state_dict()}, buffer)
    assert opt.state_bytes > 0
    for _ in range(10):
        opt.step(closure)

    buffer.seek(0)
    saved = torch.load(buffer)
    resumed = _model(99)
    resumed.load_state_dict(saved["model"])
    opt2 = zt.ZOOptimizer(resumed.named_parameters(), **options)
    opt2.load_state_dict(saved["opt"])
    assert opt2.steps == 10
    closure2 = _closure(resumed, X, y)
    for _ in range(10):
        opt2.step(closure2)
    assert _same(resumed, model)
    # The ledger travelled with the state: the resumed run replays from the base weights.
    base = _model(6)
    zt.replay(base.named_parameters(), opt2.ledger)
    assert _same(base, model)


def test_state_dict_is_checked_on_load():
    model = _model(7)
    opt = zt.ZOOptimizer(model.named_parameters(), optimizer="zo-adamm", lr=1e-2)
    opt.step(_closure(model, *_data(7)))
    sd = opt.state_dict()
    other = zt.ZOOptimizer(_model(7).named_parameters(), optimizer="zo-adamm", lr=1e-2, seed=1)
    with pytest.raises(zo.Error, match="state dict option 'seed' = 0 but this optimizer has 1"):
        other.load_state_dict(sd)
    renamed = zt.ZOOptimizer([(f"m.{k}", v) for k, v in _model(7).named_parameters()], optimizer="zo-adamm")
    with pytest.raises(zo.Error, match="state dict param group 0 holds"):
        renamed.load_state_dict(sd)
    bad = copy.deepcopy(sd)
    bad["state"]["groups"][0]["tensors"]["0.weight/m"] = torch.zeros(5)
    fresh = zt.ZOOptimizer(_model(7).named_parameters(), optimizer="zo-adamm", lr=1e-2)
    with pytest.raises(zo.Error, match="state dict tensor '0.weight/m': 5 elements, parameter '0.weight' has 72"):
        fresh.load_state_dict(bad)


def test_ledger_saves_loads_and_replay_checks_its_base(tmp_path):
    X, y = _data(8)
    model = _model(8)
    opt = zt.ZOOptimizer(model.named_parameters(), optimizer="zo-sgd", lr=1e-3, queries=2, seed=123)
    for _ in range(20):
        opt.step(_closure(model, X, y))
    path = tmp_path / "run.zoledger"
    opt.ledger.save(path)
    ledger = zt.Ledger.load(path)
    assert [r.rhos for r in ledger] == [r.rhos for r in opt.ledger]
    row = ledger[0]
    assert row.step == 0 and len(row.seeds) == 2 and row.seeds[0] == zo._core.probe_seed(123, 0, 0)
    base = _model(8)
    zt.replay(base.named_parameters(), ledger)
    assert _same(base, model)

    with pytest.raises(zo.Error, match="replay: the parameters are not the ones the run started from"):
        zt.replay(_model(9).named_parameters(), ledger)
    # The base fingerprint: SHA-256 over each name, a NUL and the SHA-256 of the tensor's bytes.
    h = hashlib.sha256()
    for name, p in _model(8).named_parameters():
        h.update(name.encode() + b"\0" + hashlib.sha256(p.detach().numpy().tobytes()).digest())
    assert ledger.config["base"] == "sha256-per-tensor:" + h.hexdigest()
    # A ledger written with the older fingerprint (one SHA-256 over names and bytes) still replays
    # and is still checked; an unknown kind of fingerprint is an error.
    old = zt.Ledger.load(path)
    h = hashlib.sha256()
    for name, p in _model(8).named_parameters():
        h.update(name.encode() + b"\0" + p.detach().numpy().tobytes())
    old.config["base"] = h.hexdigest()
    again = _model(8)
    zt.replay(again.named_parameters(), old)
    assert _same(again, model)
    with pytest.raises(zo.Error, match="replay: the parameters are not the ones the run started from"):
        zt.replay(_model(9).named_parameters(), old)
    old.config["base"] = "md5:0123"
    with pytest.raises(zo.Error, match=r"config\['base'\] = 'md5:0123' is a fingerprint this zo does not know"):
        zt.replay(_model(8).named_parameters(), old)
    with pytest.raises(zo.Error, match="replay: parameter 0 is"):
        zt.replay([(f"m.{k}", v) for k, v in _model(8).named_parameters()], ledger)
    tampered = zt.Ledger.load(path)
    tampered.rows[3].losses[1] += 1e-6
    with pytest.raises(zo.Error, match="ledger row 3: probe 0: rho recomputed as"):
        zt.replay(_model(8).named_parameters(), tampered)
    tampered = zt.Ledger.load(path)
    tampered.rows[2].seeds[1] += 1
    with pytest.raises(zo.Error, match="ledger row 2: probe 1: the recomputed seed or scale differs"):
        zt.replay(_model(8).named_parameters(), tampered)


def test_a_run_of_another_z_stream_version_is_refused_on_replay_and_load(tmp_path):
    X, y = _data(4)
    model = _model(4)
    opt = zt.ZOOptimizer(model.named_parameters(), optimizer="zo-adamm", lr=1e-2, direction="sparse", keep=0.5)
    for _ in range(3):
        opt.step(_closure(model, X, y))
    version = zo._core.Z_STREAM_VERSION
    path = tmp_path / "run.zoledger"
    opt.ledger.save(path)
    assert zt.Ledger.load(path).z_stream == version
    text = path.read_text()
    old = tmp_path / "old.zoledger"
    old.write_text(text.replace(f'"z_stream": {version}', '"z_stream": 1', 1))
    unversioned = tmp_path / "unversioned.zoledger"  # written before the field: version 1
    unversioned.write_text(text.replace(f'"z_stream": {version}, ', "", 1))
    for file in (old, unversioned):
        base = _model(4)
        before = [p.clone() for p in base.parameters()]
        message = f"{file}: recorded with z-stream version 1, but this zo draws version {version}"
        with pytest.raises(zo.Error, match=re.escape(message)):
            zt.replay(base.named_parameters(), zt.Ledger.load(file))
        assert all(torch.equal(p, q) for p, q in zip(base.parameters(), before))
    sd = opt.state_dict()
    assert sd["z_stream"] == version
    for stale in (dict(sd, z_stream=1), {k: v for k, v in sd.items() if k != "z_stream"}):
        fresh = zt.ZOOptimizer(_model(4).named_parameters(), optimizer="zo-adamm", lr=1e-2, direction="sparse", keep=0.5)
        with pytest.raises(zo.Error, match=re.escape(f"state dict: recorded with z-stream version 1, but this zo draws version {version}")):
            fresh.load_state_dict(stale)


def test_nan_policy_stop_raises_and_leaves_theta_skip_skips():
    model = _model(10)
    before = copy.deepcopy(model)
    X, y = _data(10)
    good = _closure(model, X, y)
    opt = zt.ZOOptimizer(model.named_parameters(), lr=1e-3)
    opt.step(good)
    after_one = copy.deepcopy(model)
    with pytest.raises(zo.NonFiniteLoss, match=r"a loss evaluation at step 2 was nan \(nan_policy stop\)"):
        opt.step(lambda: torch.tensor(math.nan))
    # θ is back (up to the rounding of its ±ε moves); the step does not count; the ledger keeps the moves.
    assert all(torch.allclose(p, q, rtol=0, atol=1e-6) for p, q in zip(model.parameters(), after_one.parameters()))
    assert opt.steps == 1 and opt.ledger[1].aborted and opt.ledger[1].step == 1
    with pytest.raises(ZeroDivisionError):
        opt.step(lambda: 1 / 0)
    assert opt.steps == 1 and opt.ledger[2].aborted and opt.ledger[2].losses == []
    calls = [0]

    def raises_on_second():
        calls[0] += 1
        if calls[0] == 2:
            raise KeyError("second")
        return good()

    with pytest.raises(KeyError):
        opt.step(raises_on_second)
    assert opt.ledger[3].aborted and len(opt.ledger[3].losses) == 1
    opt.step(good)
    assert opt.steps == 2 and [r.step for r in opt.ledger] == [0, 1, 1, 1, 1]
    base = copy.deepcopy(before)
    assert zt.replay(base.named_parameters(), opt.ledger) == 2
    assert _same(base, model)

    calls = [0]

    def flaky():
        calls[0] += 1
        return math.inf if calls[0] == 3 else good()

    model = copy.deepcopy(before)
    good = _closure(model, X, y)
    opt = zt.ZOOptimizer(model.named_parameters(), lr=1e-3, nan_policy="skip")
    opt.step(flaky)
    after_one = copy.deepcopy(model)
    opt.step(flaky)  # its first evaluation is inf: the update is skipped, the step counts
    assert opt.steps == 2 and opt.ledger[1].skipped and not opt.ledger[1].aborted
    assert all(torch.allclose(p, q, rtol=0, atol=1e-6) for p, q in zip(model.parameters(), after_one.parameters()))
    opt.step(flaky)
    assert not _same(model, after_one)
    base = copy.deepcopy(before)
    zt.replay(base.named_parameters(), opt.ledger)
    assert _same(base, model)


class _FakeCuda(torch.Tensor):
    """A CPU tensor that reports a CUDA device through DLPack (this torch has no CUDA)."""

    def __dlpack_device__(self):
        return (2, 0)


def _fake_cuda(shape):
    return torch.Tensor._make_subclass(_FakeCuda, torch.zeros(shape))


def test_tensors_zo_cannot_move_in_place_are_refused_with_the_cpp_message():
    def run(params, **options):
        zt.ZOOptimizer(params, **options).step(lambda: 0.0)

    with pytest.raises(zo.Error, match="tensor 'w' has dtype float64: zo moves float32, float16 or bfloat16"):
        run([("w", torch.zeros(3, dtype=torch.float64))])
    with pytest.raises(zo.Error, match="tensor 'params.0' has dtype int64"):
        run([torch.zeros(3, dtype=torch.int64)])
    with pytest.raises(zo.Error, match=r"tensor 'w' is not contiguous \(shape \[3, 4\], strides \[1, 3\]\)"):
        run([("w", torch.zeros(4, 3).t())])
    if not zo._core.cuda:
        with pytest.raises(zo.Error, match="tensor 'w' is on cuda:0: this zo was built without CUDA"):
            run([("w", _fake_cuda(3))])
    elif not torch.cuda.is_available():  # taken as a CUDA tensor: the CUDA passes find no device
        with pytest.raises(zo.Error, match="no CUDA device is visible to this process"):
            run([("w", _fake_cuda(3))])
    else:  # a CPU tensor's memory under a CUDA device: refused before any kernel runs
        with pytest.raises(zo.Error, match="param 'w': its data is host memory, not CUDA device memory"):
            run([("w", _fake_cuda(3))])
    with pytest.raises(zo.Error, match="tensor 'b' is on cuda:0 but tensor 'a' is on cpu: all parameters must be on one device"):
        run([("a", torch.zeros(3)), ("b", _fake_cuda(3))])
    shared = torch.zeros(10)
    with pytest.raises(zo.Error, match="tensor 'b' shares memory with tensor 'a'"):
        run([("a", shared), ("b", shared[2:])])
    assert isinstance(zo._core.cuda, bool)


class _FakePinned(torch.Tensor):
    """A CPU tensor that reports itself as page-locked host memory (DLPack's kDLCUDAHost), as torch's
    pin_memory() tensors do; pinning itself needs a CUDA driver."""

    def __dlpack_device__(self):
        return (3, 0)


def _bits(t):
    t = torch.as_tensor(t).detach().cpu().contiguous()
    return t.view(torch.int32 if t.dtype == torch.float32 else torch.int16)


def _train_side_by_side(reference, other, steps=4, **options):
    """The same run on two dicts of tensors holding the same values (the loss computed on the host in
    float64): the steps' losses agree, and the weights after them bit for bit."""
    def loss_of(params):
        return sum(float(((p.detach().cpu().double() - 0.3) ** 2).sum()) for p in params.values())

    opts = dict(lr=1e-3, eps=1e-3, seed=3, **options)
    first = zt.ZOOptimizer(list(reference.items()), **opts)
    second = zt.ZOOptimizer(list(other.items()), **opts)
    for _ in range(steps):
        assert second.step(lambda: loss_of(other)) == first.step(lambda: loss_of(reference))
    for name in reference:
        assert torch.equal(_bits(other[name]), _bits(reference[name])), name
    return first, second


def test_page_locked_host_tensors_train_in_place_as_cpu_tensors_do():
    torch.manual_seed(0)
    base = {"a": torch.randn(50), "b": torch.randn(7, 3)}
    plain = {k: v.clone() for k, v in base.items()}
    # one page-locked tensor beside an ordinary one: both are host memory, so one device
    mixed = {"a": torch.Tensor._make_subclass(_FakePinned, base["a"].clone()), "b": base["b"].clone()}
    storage = mixed["a"].data_ptr()
    _, opt = _train_side_by_side(plain, mixed, optimizer="zo-adamm")
    assert mixed["a"].data_ptr() == storage and not torch.equal(mixed["a"], base["a"])  # moved, in place
    assert opt._views_cache[1].device == "cpu"
    if torch.cuda.is_available():  # the real thing
        pinned = {k: v.clone().pin_memory() for k, v in base.items()}
        _train_side_by_side(plain, pinned, optimizer="zo-adamm")


@pytest.mark.skipif(not (zo._core.cuda and torch.cuda.is_available() and torch.cuda.device_count() >= 2),
                    reason="needs zo built with CUDA and two GPUs")
def test_cuda_tensors_on_a_device_that_is_not_current_train_on_their_device():
    torch.manual_seed(0)
    base = {"w": torch.randn(64, 9), "b": torch.randn(9)}
    with torch.cuda.device(0):
        on_second = {k: v.to("cuda:1") for k, v in base.items()}
        _train_side_by_side(base, on_second, direction="bcd")
    assert all(v.device == torch.device("cuda", 1) for v in on_second.values())


@pytest.mark.skipif(not (zo._core.cuda and torch.cuda.is_available()), reason="needs zo built with CUDA and a GPU")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("options", [
    dict(optimizer="zo-sgd"),
    dict(optimizer="zo-sgd", momentum=0.9, weight_decay=0.1, direction="bcd", block_order="cyclic"),
    dict(optimizer="r-adazo", direction="sparse", keep=0.25, queries=2),
    dict(optimizer="zo-adamm", direction="low-rank", rank=2),
    dict(optimizer="zo-rmsprop", distribution="rademacher", difference="forward"),
], ids=["mezo", "mezo-bcd-momentum", "r-adazo-sparse-q2", "adamm-low-rank", "rmsprop-rademacher-forward"])
def test_cuda_tensors_train_as_cpu_tensors_do(options, dtype):
    """The same run on CUDA tensors and on CPU tensors (the loss computed on the host in float64 from
    the same values): the weights, the optimizer state and the ledger's replay agree bit for bit."""
    torch.manual_seed(0)
    base = {"layers.0.weight": torch.randn(96, 40), "layers.0.bias": torch.randn(40), "head": torch.randn(7, 5)}
    cpu = {k: v.to(dtype) for k, v in base.items()}
    gpu = {k: v.to(dtype).cuda() for k, v in base.items()}
    on_cpu, on_gpu = _train_side_by_side(cpu, gpu, **options)
    state_gpu, state_cpu = on_gpu.state_dict()["state"], on_cpu.state_dict()["state"]
    assert len(state_gpu["groups"]) == len(state_cpu["groups"])
    for g_gpu, g_cpu in zip(state_gpu["groups"], state_cpu["groups"]):
        if g_cpu is None:
            assert g_gpu is None
            continue
        assert sorted(g_gpu["tensors"]) == sorted(g_cpu["tensors"])
        for key in g_cpu["tensors"]:
            assert torch.equal(_bits(g_gpu["tensors"][key]), _bits(g_cpu["tensors"][key])), key
    replayed = {k: v.to(dtype).cuda() for k, v in base.items()}
    zt.replay(list(replayed.items()), on_gpu.ledger)
    for name in base:
        assert torch.equal(_bits(replayed[name]), _bits(cpu[name])), name


def test_unknown_options_and_bad_values_are_errors():
    params = lambda: [("w", torch.zeros(3))]  # noqa: E731
    with pytest.raises(zo.Error, match=r"zo.torch.ZOOptimizer: unknown option 'betas' \(the options are: "):
        zt.ZOOptimizer(params(), betas=(0.9, 0.99))
    with pytest.raises(zo.Error, match="unknown optimizer 'adam'"):
        zt.ZOOptimizer(params(), optimizer="adam")
    with pytest.raises(zo.Error, match="option 'direction' = 'diagonal'"):
        zt.ZOOptimizer(params(), direction="diagonal")
    with pytest.raises(zo.Error, match="distribution 'normal': unknown; valid names are gaussian, rademacher, sphere"):
        zt.ZOOptimizer(params(), distribution="normal")
    with pytest.raises(zo.Error, match="param group 0: unknown option 'lrate'"):
        zt.ZOOptimizer([{"params": params(), "lrate": 1.0}])
    with pytest.raises(zo.Error, match=r"param_groups\[0\]: optimizer option momentum = 1.5: must be in \[0, 1\)"):
        zt.ZOOptimizer(params(), momentum=1.5).step(lambda: 0.0)
    with pytest.raises(zo.Error, match="direction option 'distribution' = sphere: only valid with kind = dense"):
        zt.ZOOptimizer(params(), direction="sparse", distribution="sphere").step(lambda: 0.0)
    with pytest.raises(zo.Error, match="needs a closure"):
        zt.ZOOptimizer(params()).step()
    with pytest.raises(zo.Error, match="the loss must be a number"):
        zt.ZOOptimizer(params()).step(lambda: None)
    with pytest.raises(zo.Error, match=r"a tensor of shape \[2, 2\]"):  # a 1-D tensor holds per-example losses
        zt.ZOOptimizer(params()).step(lambda: torch.zeros(2, 2))
    opt = zt.ZOOptimizer(params())
    with pytest.raises(zo.Error, match="param groups are fixed"):
        opt.add_param_group({"params": [torch.zeros(2)]})


def test_blocks_that_span_groups_are_refused():
    a, b = torch.zeros(3), torch.zeros(3)
    opt = zt.ZOOptimizer([{"params": [("layer.0.a", a)]}, {"params": [("layer.0.b", b)]}], blocks=r"layer\.(\d+)\.")
    with pytest.raises(zo.Error, match="block 'layer.0.' holds parameters of param groups 0 and 1"):
        opt.step(lambda: 0.0)


def test_unnamed_tensors_are_named_by_position_and_the_closure_runs_without_grad():
    w = torch.nn.Parameter(torch.ones(4))
    grads = []

    def closure():
        grads.append(torch.is_grad_enabled())
        return (w * w).sum()

    opt = zt.ZOOptimizer([w], lr=1e-2)
    opt.step(closure)
    assert opt.ledger.config["params"] == [["params.0", "f32", [4], 0]]
    assert grads == [False, False] and w.grad is None and not torch.equal(w.detach(), torch.ones(4))


def test_a_parameter_given_new_memory_is_moved_there():
    w = torch.nn.Parameter(torch.ones(6))
    opt = zt.ZOOptimizer([("w", w)], lr=1e-2)
    closure = lambda: (w * w).sum()  # noqa: E731
    opt.step(closure)
    old = w.data
    kept = old.clone()
    w.data = old.clone()
    opt.step(closure)
    assert torch.equal(old, kept) and not torch.equal(w.data, kept)
    w.data = torch.ones(2, 3)
    with pytest.raises(zo.Error, match=r"parameter 0 is 'w' \(f32, shape \[2, 3\], group 0\) but was 'w' \(f32, shape \[6\]"):
        opt.step(closure)
