"""Optimizers, clipping, schedules and EMA: checked against closed forms (float64)."""
import math

import numpy as np
import pytest

from cdlite.errors import CdliteError
from cdlite.nn.optim import (Adam, clip_grad_norm, copy_params, ema_rate_from_half_life,
                             ema_update, lr_schedule)


def quadratic(d=6, cond=10.0, seed=0):
    """0.5 x^T Q x - b^T x with Q SPD, eigenvalues in [1, cond]; minimum at Q^-1 b."""
    rng = np.random.default_rng(seed)
    U, _ = np.linalg.qr(rng.standard_normal((d, d)))
    Q = U @ np.diag(np.linspace(1.0, cond, d)) @ U.T
    b = rng.standard_normal(d)
    return Q, b, np.linalg.solve(Q, b)


def minimize(opt, Q, b, steps, lr_at=None):
    params = {"x": np.zeros(len(b)), "fixed": np.ones(3)}  # "fixed" has no gradient
    for s in range(steps):
        grads = {"x": Q @ params["x"] - b}
        opt.step(params, grads, lr=None if lr_at is None else lr_at(s))
    assert np.array_equal(params["fixed"], np.ones(3))  # buffers are never touched
    return params["x"]


# --- convergence on a convex quadratic -------------------------------------------------------

def test_adam_reaches_quadratic_minimum():
    Q, b, x_star = quadratic()
    steps = 3000
    # constant-lr Adam hovers at distance ~lr around the minimum; a cosine decay to 0 settles it
    x = minimize(Adam(lr=0.05), Q, b, steps,
                 lr_at=lambda s: lr_schedule(s, 0.05, total_steps=steps, decay="cosine"))
    np.testing.assert_allclose(x, x_star, atol=1e-6)


def test_adam_first_step_moves_each_coordinate_by_lr():
    # with bias correction m_hat = g and v_hat = g^2 after one step: the move is lr * sign(g),
    # whatever the gradient's scale
    g = np.array([1e-3, -2.0, 5e2, -7e-2, 3.0])
    p = {"w": np.zeros(5)}
    Adam(lr=0.01).step(p, {"w": g})
    np.testing.assert_allclose(p["w"], -0.01 * np.sign(g), rtol=1e-4)


def test_steps_keep_float32_and_update_in_place():
    p = {"W": np.ones((3, 2), np.float32)}
    W = p["W"]
    opt = Adam(0.1, weight_decay=0.1)
    opt.step(p, {"W": np.full((3, 2), 0.5, np.float32)})
    opt.step(p, {"W": np.full((3, 2), 0.5, np.float32)})
    assert p["W"] is W and W.dtype == np.float32
    states = opt.state_dict()
    assert len(states) == 3 and all(a.dtype == np.float32 for a in states.values() if a.ndim)


def test_weight_decay_with_zero_gradient_shrinks_geometrically():
    lr, wd = 0.1, 0.5
    # Adam's decay is decoupled: with g = 0, m = 0 and only the decay acts
    opt = Adam(lr, weight_decay=wd)
    p = {"w": np.ones(4)}
    for _ in range(3):
        opt.step(p, {"w": np.zeros(4)})
    np.testing.assert_allclose(p["w"], (1 - lr * wd) ** 3, rtol=1e-12)


def test_unknown_gradient_key_is_refused():
    with pytest.raises(CdliteError, match="no matching parameter"):
        Adam(0.1).step({"a": np.zeros(2)}, {"b": np.zeros(2)})


# --- state_dict: resuming continues bit for bit ----------------------------------------------

@pytest.mark.parametrize("make", [lambda: Adam(0.03, weight_decay=0.01), lambda: Adam(0.03)])
def test_state_dict_round_trip_resumes_exactly(make):
    Q, b, _ = quadratic()

    def run(opt, params, steps):
        for _ in range(steps):
            opt.step(params, {"x": Q @ params["x"] - b})

    straight = {"x": np.zeros(len(b))}
    run(make(), straight, 10)

    first = {"x": np.zeros(len(b))}
    opt = make()
    run(opt, first, 5)
    state = opt.state_dict()
    resumed = make()
    resumed.load_state_dict({**state, "x": first["x"]})  # other entries are ignored
    run(opt, {"x": np.zeros(len(b))}, 3)  # the saved state is a copy, unaffected by this
    run(resumed, first, 5)
    assert np.array_equal(first["x"], straight["x"])


def test_adam_state_names_and_wrong_optimizer():
    opt = Adam(0.1)
    opt.step({"in.W": np.ones((2, 2)), "in.b": np.ones(2)}, {"in.W": np.ones((2, 2))})
    sd = opt.state_dict()
    assert set(sd) == {"adam.t", "adam.m.in.W", "adam.v.in.W"}
    assert sd["adam.t"].shape == () and int(sd["adam.t"]) == 1
    with pytest.raises(CdliteError, match="adam.t"):
        Adam(0.1).load_state_dict({"sgd.buf.x": np.zeros(2)})  # another optimizer's state


# --- gradient clipping -----------------------------------------------------------------------

def test_clip_grad_norm_bounds_global_norm_and_keeps_direction():
    rng = np.random.default_rng(1)
    grads = {"a": rng.standard_normal((4, 3)), "b": rng.standard_normal(5)}
    before = {k: g.copy() for k, g in grads.items()}
    norm = math.sqrt(sum(float(np.sum(g ** 2)) for g in before.values()))
    returned = clip_grad_norm(grads, max_norm=0.5 * norm)
    assert returned == pytest.approx(norm, rel=1e-12)
    after = math.sqrt(sum(float(np.sum(g ** 2)) for g in grads.values()))
    assert after == pytest.approx(0.5 * norm, rel=1e-12)
    for k in grads:  # one common factor: the direction is kept
        np.testing.assert_allclose(grads[k], 0.5 * before[k], rtol=1e-12)


def test_clip_grad_norm_leaves_small_gradients_untouched():
    grads = {"a": np.array([0.3, -0.4])}  # norm 0.5
    a = grads["a"]
    assert clip_grad_norm(grads, max_norm=1.0) == pytest.approx(0.5)
    assert grads["a"] is a and np.array_equal(a, [0.3, -0.4])


# --- learning-rate schedules -----------------------------------------------------------------

def test_warmup_is_linear_and_reaches_base():
    lrs = [lr_schedule(s, 1e-3, warmup_steps=10, total_steps=100, decay="cosine")
           for s in range(10)]
    np.testing.assert_allclose(lrs, 1e-3 * np.arange(1, 11) / 10, rtol=1e-12)
    assert lr_schedule(10, 1e-3, warmup_steps=10, total_steps=100, decay="cosine") == 1e-3


@pytest.mark.parametrize("decay", ["cosine", "linear"])
def test_decay_hits_final_fraction_at_the_end(decay):
    base, final, total, warm = 2e-3, 0.1, 50, 5
    lrs = np.array([lr_schedule(s, base, warm, total, decay, final) for s in range(total + 3)])
    assert lrs[warm] == pytest.approx(base)
    assert lrs[total - 1] == pytest.approx(final * base, rel=1e-12)
    assert np.all(np.diff(lrs[warm:]) <= 1e-15)              # never increases after warm-up
    np.testing.assert_allclose(lrs[total:], final * base)    # and stays there past the end
    mid = warm + (total - 1 - warm) / 2                      # halfway: both give the midpoint
    assert lr_schedule(mid, base, warm, total, decay, final) == pytest.approx(
        base * (final + (1 - final) / 2))


def test_constant_schedule_and_bad_options():
    assert lr_schedule(1000, 0.5) == 0.5
    with pytest.raises(CdliteError, match="unknown lr decay 'exp'"):
        lr_schedule(0, 0.1, decay="exp")
    with pytest.raises(CdliteError, match="total_steps"):
        lr_schedule(0, 0.1, decay="cosine")


# --- EMA -------------------------------------------------------------------------------------

def test_ema_matches_closed_form_and_keeps_buffers_exact():
    rate, c, k = 0.9, 3.0, 25
    params = {"w": np.full(4, c), "fixed": np.array([0.1, 0.7, -2.3])}
    ema = copy_params(params)
    ema["w"][:] = -1.0  # ema_0
    assert ema["fixed"] is not params["fixed"]
    for _ in range(k):
        ema_update(ema, params, rate)
    np.testing.assert_allclose(ema["w"], c + rate ** k * (-1.0 - c), rtol=1e-12)
    assert np.array_equal(ema["fixed"], params["fixed"])  # exactly, not just approximately


def test_half_life_halves_the_weight():
    h = 10
    rate = ema_rate_from_half_life(h)
    assert rate ** h == pytest.approx(0.5, rel=1e-12)
    ema, target = {"w": np.ones(2)}, {"w": np.zeros(2)}
    for _ in range(h):
        ema_update(ema, target, rate)
    np.testing.assert_allclose(ema["w"], 0.5, rtol=1e-12)
    assert ema_rate_from_half_life(0) == 0.0


def test_ema_key_mismatch_is_refused():
    with pytest.raises(CdliteError, match="only in params"):
        ema_update({"a": np.zeros(1)}, {"a": np.zeros(1), "b": np.zeros(1)}, 0.9)


# --- Adam written out, resume, clipping ------------------------------------------------------

SHAPES = {"in.W": (5, 7), "in.b": (7,), "h1.W": (7, 7), "out.W": (7, 2)}


def _grads(seed, dtype=np.float32):
    """Gradients of a small network's shapes."""
    rng = np.random.default_rng(seed)
    return {k: (3 * rng.standard_normal(s)).astype(dtype) for k, s in SHAPES.items()}


@pytest.mark.parametrize("wd", [0.0, 0.1])
def test_adam_is_algorithm_1_written_out(wd):
    """Kingma & Ba's Algorithm 1 (with AdamW's decoupled decay), key by key in float64."""
    rng = np.random.default_rng(0)
    params = {k: rng.standard_normal(s) for k, s in SHAPES.items()}
    params["fixed"] = np.ones(3)  # no gradient: never touched
    ref = copy_params(params)
    m = {k: np.zeros(s) for k, s in SHAPES.items()}
    v = {k: np.zeros(s) for k, s in SHAPES.items()}
    opt, b1, b2, eps = Adam(0.01, weight_decay=wd), 0.9, 0.999, 1e-8
    for t in range(1, 7):
        lr, grads = 0.01 / t, _grads(t, np.float64)
        opt.step(params, grads, lr=lr)
        for k, g in grads.items():
            m[k] = b1 * m[k] + (1 - b1) * g
            v[k] = b2 * v[k] + (1 - b2) * g ** 2
            m_hat, v_hat = m[k] / (1 - b1 ** t), v[k] / (1 - b2 ** t)
            ref[k] = ref[k] * (1 - lr * wd) - lr * m_hat / (np.sqrt(v_hat) + eps)
    for k in ref:
        np.testing.assert_allclose(params[k], ref[k], rtol=1e-12, atol=1e-15)
    state = opt.state_dict()
    assert set(state) == {"adam.t"} | {f"adam.{w}.{k}" for w in "mv" for k in SHAPES}
    for k in SHAPES:
        np.testing.assert_allclose(state[f"adam.m.{k}"], m[k], rtol=1e-12)


def test_adam_resumes_from_a_state_dict_bit_for_bit():
    rng = np.random.default_rng(1)
    start = {k: rng.standard_normal(s).astype(np.float32) for k, s in SHAPES.items()}

    def run(opt, params, steps, first=0):
        for s in range(first, first + steps):
            opt.step(params, _grads(s))

    straight = copy_params(start)
    run(Adam(0.02), straight, 8)
    half = copy_params(start)
    opt = Adam(0.02)
    run(opt, half, 4)
    resumed = Adam(0.02)
    resumed.load_state_dict({k: np.asarray(v) for k, v in opt.state_dict().items()})
    assert resumed.state_dict().keys() == opt.state_dict().keys()  # saved again before a step
    run(resumed, half, 4, first=4)
    for k in start:
        np.testing.assert_array_equal(half[k], straight[k])


@pytest.mark.parametrize("max_norm", [1e-3, 1e6])  # clipped, untouched
def test_clip_scales_every_array_by_one_factor(max_norm):
    grads, before = _grads(2), _grads(2)
    norm = math.sqrt(sum(float(np.sum(g.astype(np.float64) ** 2)) for g in before.values()))
    assert clip_grad_norm(grads, max_norm) == pytest.approx(norm, rel=1e-12)
    scale = min(1.0, max_norm / norm)
    for k in grads:
        np.testing.assert_allclose(grads[k], before[k] * scale, rtol=1e-6)


def test_a_zero_gradient_does_not_move_its_parameter():
    grads = _grads(3)
    grads["in.W"] = np.zeros((5, 7), np.float32)
    params = {k: np.zeros(v.shape, np.float32) for k, v in grads.items()}
    Adam(0.1).step(params, grads)
    assert not params["in.W"].any() and params["h1.W"].any()


def test_ema_update_matches_the_formula_bit_for_bit():
    rng = np.random.default_rng(4)
    params = {"a": rng.standard_normal((4, 3)).astype(np.float32),
              "b": rng.standard_normal(5).astype(np.float32)}
    ema = {k: rng.standard_normal(v.shape).astype(np.float32) for k, v in params.items()}
    expected = {k: ema[k] + (params[k] - ema[k]) * np.float32(1 - 0.95) for k in params}
    ema_update(ema, params, 0.95)
    for k in params:
        np.testing.assert_array_equal(ema[k], expected[k])


@pytest.mark.parametrize("rate", [0.0, 0.95])
def test_ema_keeps_its_arrays_and_copies_exactly_at_rate_0(rate):
    rng = np.random.default_rng(5)
    params = {"w": rng.standard_normal((4, 3)).astype(np.float32),
              "b": rng.standard_normal(3).astype(np.float32)}
    target = copy_params(params)
    arrays = dict(target)
    for k in params:
        params[k] += np.float32(0.1)
    ema_update(target, params, rate)
    for k in params:
        assert target[k] is arrays[k]  # updated in place
        if rate == 0.0:
            np.testing.assert_array_equal(target[k], params[k])
