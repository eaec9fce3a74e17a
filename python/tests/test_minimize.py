"""zo.minimize is zo::minimize: the same options give the C++ reference program's x, per-step losses,
final loss and summary bit for bit."""

import math

import numpy as np
import pytest

import zo
from conftest import minimize_f, minimize_x0

RUNS = [
    dict(optimizer="r-adazo", direction="gaussian", difference="central", queries=1, lr=0.01),
    dict(optimizer="zo-sgd", direction="rademacher", difference="forward", queries=2, lr=0.001, momentum=0.9),
    dict(optimizer="zo-adamm", direction="sphere", difference="central", queries=1, lr=0.01),
    dict(optimizer="zo-sign-sgd", direction="sparse", difference="central", queries=1, lr=0.01),
    dict(optimizer="zo-rmsprop", direction="gaussian", difference="central", queries=3, lr=0.01),
    dict(optimizer="zo-sgd-sign", direction="gaussian", difference="forward", queries=1, lr=0.01),
]


@pytest.mark.parametrize("run", RUNS, ids=[r["optimizer"] for r in RUNS])
def test_minimize_equals_cpp_bit_for_bit(reference, run):
    n, steps, eps, seed = 16, 60, 1e-3, 3
    ref = reference("minimize", n=n, steps=steps, eps=eps, seed=seed, **run)
    r = zo.minimize(minimize_f, minimize_x0(n), steps=steps, eps=eps, seed=seed, **run)
    np.testing.assert_array_equal(r.x.view(np.uint32), ref["x"])
    assert r.history == ref["history"]
    assert r.loss == ref["loss"]
    assert (r.termination, r.message) == (ref["termination"], ref["message"])
    assert len(r.history) == r.steps == steps
    assert r.evaluations == 2 + steps * (2 * run["queries"] if run["difference"] == "central" else run["queries"] + 1)
    assert r.loss < r.initial_loss
    assert r.x.dtype == np.float32 and r.x.shape == (n,)


def test_same_options_same_x_and_seed_matters():
    a = zo.minimize(minimize_f, minimize_x0(8), steps=40, lr=0.01, seed=1)
    b = zo.minimize(minimize_f, minimize_x0(8), steps=40, lr=0.01, seed=1)
    c = zo.minimize(minimize_f, minimize_x0(8), steps=40, lr=0.01, seed=2)
    assert np.array_equal(a.x, b.x) and a.history == b.history
    assert not np.array_equal(a.x, c.x)


def test_f_sees_a_read_only_float32_view_shaped_like_x0():
    seen = []

    def f(x):
        seen.append((x.dtype, x.shape, x.flags.writeable))
        return float(np.sum((x - 1.0) ** 2))

    r = zo.minimize(f, np.zeros((2, 3)), steps=5, lr=0.01)
    assert set(seen) == {(np.dtype(np.float32), (2, 3), False)}
    assert r.x.shape == (2, 3)


def test_callback_stops_and_target_loss_stops():
    infos = []

    def callback(info):
        infos.append(info)
        return info["step"] < 5

    r = zo.minimize(minimize_f, minimize_x0(8), steps=100, lr=0.01, callback=callback)
    assert r.termination == "callback" and r.steps == 5 and len(r.history) == 5
    assert [i["step"] for i in infos] == [1, 2, 3, 4, 5]
    assert "callbacks[1] returned false after step 5" in r.message
    r = zo.minimize(minimize_f, minimize_x0(8), steps=5000, lr=0.01, optimizer="zo-sgd", target_loss=1.0)
    assert r.termination == "target_loss" and r.steps < 5000


def test_nan_policy_stop_and_skip():
    r = zo.minimize(lambda x: math.nan, np.zeros(4), steps=10)
    assert r.termination == "non_finite_loss" and "nan_policy stop" in r.message
    calls = [0]

    def sometimes_nan(x):
        calls[0] += 1
        return math.nan if calls[0] % 7 == 3 else float(np.sum(x * x))

    r = zo.minimize(sometimes_nan, np.ones(4), steps=30, lr=0.01, nan_policy="skip")
    assert r.termination == "max_steps" and r.skipped_steps > 0
    x = np.ones(4, np.float32)
    r = zo.minimize(lambda v: math.nan if v[0] != 1.0 else 1.0, x, steps=3, nan_policy="stop")
    assert r.termination == "non_finite_loss"
    np.testing.assert_array_equal(r.x, x)  # θ from before the step that met the NaN


def test_errors_carry_the_cpp_message():
    with pytest.raises(zo.Error, match="unknown option 'learning_rate'"):
        zo.minimize(minimize_f, np.zeros(3), learning_rate=0.1)
    with pytest.raises(zo.Error, match="unknown optimizer 'adam': expected one of zo-sgd"):
        zo.minimize(minimize_f, np.zeros(3), optimizer="adam")
    with pytest.raises(zo.Error, match="optimizer option lr = -1: must be finite and > 0"):
        zo.minimize(minimize_f, np.zeros(3), lr=-1)
    with pytest.raises(zo.Error, match="estimator option eps = 0: must be finite and > 0"):
        zo.minimize(minimize_f, np.zeros(3), eps=0)
    with pytest.raises(zo.Error, match="direction = 'gauss'"):
        zo.minimize(minimize_f, np.zeros(3), direction="gauss")
    with pytest.raises(zo.Error, match="option 'steps' = '10': must be an integer"):
        zo.minimize(minimize_f, np.zeros(3), steps="10")
    with pytest.raises(zo.Error, match="x is empty"):
        zo.minimize(minimize_f, np.zeros(0))
    with pytest.raises(zo.Error, match="the loss must be a number"):
        zo.minimize(lambda x: "1.0", np.zeros(3))
    with pytest.raises(ZeroDivisionError):
        zo.minimize(lambda x: 1 / 0, np.zeros(3))
    assert issubclass(zo.Error, RuntimeError) and issubclass(zo.NonFiniteLoss, zo.Error)
