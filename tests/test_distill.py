"""Consistency distillation and training against known answers (Song et al. 2023)."""
import numpy as np
import pytest

from cdlite.backend import make_rng
from cdlite.diffusion import generate
from cdlite.distill import (ConsistencyFunction, DistillConfig, cd_loss, consistency_train,
                            ct_grid_size, ct_loss, distance, distill, sample_consistency)
from cdlite.nn.gradcheck import check_grads
from cdlite.nn.networks import build_network
from cdlite.nn.optim import copy_params

S, SIGMA_MAX = 2.0, 20.0  # 1-D data N(0, S^2)


def exact_gaussian_denoiser(y, sigma):
    """E[x | y] for x ~ N(0, S^2): the probability-flow map is linear,
    x_0 = x_sigma S / sqrt(S^2 + sigma^2)."""
    return y * S ** 2 / (S ** 2 + np.asarray(sigma).reshape(-1, 1) ** 2)


def _random_params(net, rng, dtype=np.float64):
    params = net.init(rng, dtype)
    return {k: (v + 0.3 * rng.standard_normal(v.shape).astype(dtype) if k in net.trainable
                else v) for k, v in params.items()}


@pytest.mark.parametrize("kind,opts", [("mlp", dict(d=3, hidden=16, depth=2, input_fourier=4)),
                                       ("rf", dict(d=3, p=32))])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_boundary_condition_is_exact(kind, opts, dtype):
    rng = make_rng(0)
    net = build_network(kind, **opts)
    f = ConsistencyFunction(net, sigma_data=0.5, sigma_min=0.002)
    x = rng.standard_normal((6, 3)).astype(dtype)
    out, _ = f.forward(_random_params(net, rng, dtype), x, 0.002)
    np.testing.assert_array_equal(out, x)  # c_skip' = 1 and c_out' = 0 exactly at sigma_min


@pytest.mark.parametrize("loss_fn", [cd_loss, ct_loss])
@pytest.mark.parametrize("dist", ["l2", "pseudo-huber"])
def test_consistency_loss_gradient(loss_fn, dist):
    rng = make_rng(1)
    net = build_network("mlp", d=2, hidden=12, depth=2, input_fourier=3)
    f = ConsistencyFunction(net, 0.8, 0.002)
    params = _random_params(net, rng)
    target = copy_params(params)  # theta_minus: held fixed while theta is perturbed
    x = rng.standard_normal((5, 2))
    grid = np.array([0.002, 0.1, 0.7, 3.0, 20.0])

    def loss():  # the same draws of n and z every call
        return loss_fn(f, params, target, exact_gaussian_denoiser, x, grid, make_rng(9),
                       "heun", dist, 0.05)[0]

    _, grads = loss_fn(f, params, target, exact_gaussian_denoiser, x, grid, make_rng(9), "heun",
                       dist, 0.05)
    check_grads(loss, grads, {k: params[k] for k in grads}, rng, tol=1e-6)


def test_distance_values():
    a, b = np.array([[3.0, 4.0]]), np.zeros((1, 2))
    assert distance(a, b, "l2")[0] == pytest.approx(12.5)
    assert distance(a, b, "pseudo-huber", c=0.0)[0] == pytest.approx(5.0)
    with pytest.raises(ValueError, match="distance"):
        distance(a, b, "l1")


def _gaussian_student(loop, steps=1500, lr=2e-3, ct_schedule=False, seed=0):
    rng = make_rng(seed)
    train = (S * rng.standard_normal((4096, 1))).astype(np.float32)
    net = build_network("mlp", d=1, hidden=32, depth=2)
    f = ConsistencyFunction(net, S, 0.002)
    cfg = DistillConfig(steps=steps, lr=lr, N=18, mu=0.95, eval_every=steps,
                        ct_schedule=ct_schedule)
    if loop is distill:
        res = distill(exact_gaussian_denoiser, f, net.init(rng), train, cfg, rng,
                      sigma_max=SIGMA_MAX)
    else:
        res = consistency_train(f, net.init(rng), train, cfg, rng, sigma_max=SIGMA_MAX)
    one, nfe1 = generate(f.bind(res.params), 20000, 1, [SIGMA_MAX], make_rng(1),
                         sampler=sample_consistency)
    two, nfe2 = generate(f.bind(res.params), 20000, 1, [SIGMA_MAX, 1.0], make_rng(2),
                         sampler=sample_consistency)
    assert (nfe1, nfe2) == (1, 2)
    return one.std(), two.std()


def test_cd_from_the_exact_gaussian_teacher_gives_the_right_spread():
    # tolerance 5% of S (measured ~1%); the sampling error of a std over 20k samples is ~0.5%
    one, two = _gaussian_student(distill)
    assert abs(one - S) < 0.05 * S and abs(two - S) < 0.05 * S, (one, two)


def test_ct_without_teacher_gives_a_sensible_spread():
    # CT's one-sample target is noisier: tolerance 20% of S (measured ~10%)
    one, two = _gaussian_student(consistency_train, ct_schedule=True)
    assert abs(one - S) < 0.2 * S and abs(two - S) < 0.2 * S, (one, two)


@pytest.mark.parametrize("mu", [0.0, 1.0])
def test_target_rate_extremes(mu):
    """mu = 0: theta_minus equals theta after every update; mu = 1: theta_minus never moves."""
    net = build_network("mlp", d=2, hidden=8, depth=2)
    f = ConsistencyFunction(net, 1.0, 0.002)
    train = make_rng(3).standard_normal((32, 2)).astype(np.float32)
    start = _random_params(net, make_rng(4), np.float32)
    for steps in (1, 2, 3):  # the same seeded run stopped after each update
        res = distill(exact_gaussian_denoiser, f, copy_params(start), train,
                      DistillConfig(steps=steps, lr=1e-2, mu=mu, eval_every=10), make_rng(5),
                      sigma_max=SIGMA_MAX)
        assert any(not np.array_equal(res.params[k], start[k]) for k in start)  # theta moved
        reference = res.params if mu == 0.0 else start
        for k in start:
            np.testing.assert_array_equal(res.target[k], reference[k])


def test_ct_grid_schedule_grows():
    Ns = [ct_grid_size(k, 1000, 2, 150) for k in (0, 500, 1000)]
    assert Ns[0] == 2 and Ns[-1] == 151 and Ns[0] < Ns[1] < Ns[2]


def test_multistep_rejects_levels_below_sigma_min():
    f = lambda x, s: x  # noqa: E731
    with pytest.raises(ValueError, match="sigma_min"):  # CdliteError is a ValueError
        sample_consistency(f, np.zeros((2, 1)), [20.0, 0.001], make_rng(0))


def test_bad_distillation_settings_are_explained():
    from cdlite.errors import CdliteError
    with pytest.raises(CdliteError, match="N=1"):
        DistillConfig(N=1)
    with pytest.raises(CdliteError, match="mu=1.5"):
        DistillConfig(mu=1.5)
    with pytest.raises(CdliteError, match="at least one level"):
        sample_consistency(lambda x, s: x, np.zeros((2, 1)), [0.0], make_rng(0))


@pytest.mark.parametrize("schedule", ["constant", "cosine", "linear"])
@pytest.mark.parametrize("loop", [distill, consistency_train])
def test_the_learning_rate_follows_its_schedule_over_the_budget(schedule, loop, monkeypatch):
    from cdlite.nn.optim import Adam
    seen, step = [], Adam.step

    def spy(self, params, grads, lr=None):
        seen.append(self.lr if lr is None else lr)
        return step(self, params, grads, lr)

    monkeypatch.setattr(Adam, "step", spy)
    net = build_network("mlp", d=2, hidden=8, depth=2)
    f = ConsistencyFunction(net, 1.0, 0.002)
    train = make_rng(3).standard_normal((32, 2)).astype(np.float32)
    args = (f, _random_params(net, make_rng(4), np.float32), train,
            DistillConfig(steps=20, lr=1e-2, eval_every=50, lr_schedule=schedule), make_rng(5))
    if loop is distill:
        args = (exact_gaussian_denoiser,) + args
    loop(*args, sigma_max=SIGMA_MAX)
    assert len(seen) == 20 and seen[0] == 1e-2
    if schedule == "constant":
        assert set(seen) == {1e-2}
    else:
        assert seen[-1] < 1e-12 and all(a >= b for a, b in zip(seen, seen[1:]))
        assert seen[10] == pytest.approx(1e-2 * (1 - 10 / 19) if schedule == "linear" else
                                         1e-2 * 0.5 * (1 + np.cos(np.pi * 10 / 19)))


def test_an_unknown_schedule_is_one_line_with_did_you_mean():
    from cdlite.config import ConfigError
    with pytest.raises(ConfigError, match="lr_schedule='cosin' .*did you mean cosine"):
        DistillConfig(lr_schedule="cosin")
    with pytest.raises(ConfigError, match="eval_schedule='logs' .*did you mean log"):
        DistillConfig(eval_schedule="logs")


def test_a_budget_too_small_for_the_log_schedule_is_refused_before_the_run():
    from cdlite.config import ConfigError
    with pytest.raises(ConfigError, match=r"steps=100 \(eval_schedule=log evaluates at \[64, "
                                          r"100\].*raise steps to at least 129"):
        DistillConfig(steps=100, eval_schedule="log")
    assert sorted(DistillConfig(steps=129, eval_schedule="log").eval_steps()) == [64, 128, 129]


def test_the_loop_evaluates_at_the_log_spaced_steps():
    net = build_network("mlp", d=2, hidden=8, depth=2)
    f = ConsistencyFunction(net, 1.0, 0.002)
    train = make_rng(3).standard_normal((32, 2)).astype(np.float32)
    seen = []
    distill(exact_gaussian_denoiser, f, _random_params(net, make_rng(4), np.float32), train,
            DistillConfig(steps=300, eval_schedule="log", eval_every=1), make_rng(5),
            sigma_max=SIGMA_MAX, on_eval=lambda step, p: seen.append(step) or {})
    assert seen == [0, 64, 128, 256, 300]  # eval_every is the linear schedule's, unused here
