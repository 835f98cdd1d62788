"""Random-feature theory (Bonnaire et al.): gradients, closed-form flow, spectrum, timescales.

Known answers: float64 central differences for the gradient; the least-squares readout at
tau = inf; simulated GD against the closed form on a small case; Gauss-Hermite constants against
Monte Carlo; the predicted edges of the memorisation bulk and the spike bulk at finite d; the
bulks' relaxation times (mem proportional to n, gen independent of n).
"""
import cdlite  # noqa: F401  (sets the BLAS thread default before NumPy loads)

import math

import numpy as np
import pytest

from cdlite.backend import make_rng
from cdlite.theory import (GradientFlow, dsm_loss_and_grad, dsm_target, eigh_desc, gaussian_data,
                           gd_step_size, ge_constants, ge_constants_mc, make_features,
                           mc_regressions, mem_bulk_edges, score_target, simulate_gd, tau_gen,
                           tau_mem)
from cdlite.theory.dynamics import first_crossing, relaxation_times
from cdlite.theory.model import ou_coeffs
from cdlite.theory.spectrum import spike_bulk_edges


def small_problem(d=6, p=40, n=12, t=0.1, n_mc=4096, seed=0):
    rng = make_rng(seed)
    W = make_features(rng, p, d)
    X = gaussian_data(rng, n, d)
    fit = mc_regressions(X, W, t, rng, n_mc, {"dsm": dsm_target(t)})["dsm"]
    return rng, W, X, fit


def test_dsm_gradient_matches_central_differences():
    rng = make_rng(1)
    d, p, B, t = 4, 7, 9, 0.05
    W, x, xi = make_features(rng, p, d), rng.standard_normal((B, d)), rng.standard_normal((B, d))
    A = 0.3 * rng.standard_normal((d, p))
    _, dA = dsm_loss_and_grad(A, x, xi, W, t)
    num = np.zeros_like(A)
    h = 1e-6
    for i in range(d):
        for j in range(p):
            E = np.zeros_like(A)
            E[i, j] = h
            num[i, j] = (dsm_loss_and_grad(A + E, x, xi, W, t)[0]
                         - dsm_loss_and_grad(A - E, x, xi, W, t)[0]) / (2 * h)
    assert np.max(np.abs(num - dA)) < 1e-8 * max(1.0, np.max(np.abs(dA)))


def test_regression_gradient_matches_central_differences():
    _, _, _, fit = small_problem()
    rng = make_rng(2)
    A = rng.standard_normal((fit.d, fit.p))
    g = fit.grad(A)
    h = 1e-6
    for _ in range(20):
        i, j = rng.integers(fit.d), rng.integers(fit.p)
        E = np.zeros_like(A)
        E[i, j] = h
        num = (fit.loss(A + E) - fit.loss(A - E)) / (2 * h)
        assert abs(num - g[i, j]) < 1e-7 * max(1.0, abs(g[i, j]))


def test_quadratic_loss_equals_the_sample_average_it_was_built_from():
    # mc_regressions draws all its noise in one chunk here: redraw it with the same seed
    d, p, n, t, n_mc = 5, 30, 10, 0.2, 400
    rng = make_rng(3)
    W, X = make_features(rng, p, d), gaussian_data(rng, n, d)
    reg = mc_regressions(X, W, t, make_rng(7), n_mc, {"dsm": dsm_target(t, stein=False)})["dsm"]
    x0 = X[np.arange(n_mc) % n]
    xi = make_rng(7).standard_normal((n_mc, d))
    A = make_rng(4).standard_normal((d, p))
    assert reg.loss(A) == pytest.approx(dsm_loss_and_grad(A, x0, xi, W, t)[0], rel=1e-10)


def test_stein_estimate_of_R_has_the_same_mean_and_less_variance():
    d, p, n, t = 4, 20, 8, 0.01
    rng = make_rng(6)
    W, X = make_features(rng, p, d), gaussian_data(rng, n, d)
    est = {s: np.stack([mc_regressions(X, W, t, make_rng(k), 2000,
                                       {"dsm": dsm_target(t, stein=s)})["dsm"].R
                        for k in range(6)]) for s in (True, False)}
    se_plain = est[False].std(0).mean() / np.sqrt(6)
    assert np.abs(est[True].mean(0) - est[False].mean(0)).mean() < 3 * se_plain
    assert est[True].std(0).mean() < 0.2 * est[False].std(0).mean()


def test_closed_form_at_infinite_time_is_least_squares():
    _, _, _, fit = small_problem()
    flow = GradientFlow.from_regression(fit)
    A_ls = math.sqrt(fit.p) * np.linalg.solve(fit.U, fit.R).T
    assert np.allclose(fit.least_squares(), A_ls)  # the documented minimiser is this one
    for tau in (math.inf, 1e14):
        A = flow.readout(tau)
        assert np.linalg.norm(A - A_ls) < 1e-6 * np.linalg.norm(A_ls)
    assert np.allclose(flow.readout(0.0), 0.0)
    # and the flow's loss at tau = inf is the minimum of the quadratic
    assert flow.losses([math.inf], fit)[0] == pytest.approx(fit.loss(A_ls), rel=1e-9)
    assert np.linalg.norm(fit.grad(A_ls)) < 1e-8 * np.linalg.norm(fit.grad(np.zeros_like(A_ls)))


def test_closed_form_losses_match_direct_evaluation():
    _, _, _, fit = small_problem()
    flow = GradientFlow.from_regression(fit, A0=np.ones((fit.d, fit.p)))
    taus = [0.0, 3.0, 300.0]
    direct = np.array([fit.loss(flow.readout(tau)) for tau in taus])
    assert np.allclose(flow.losses(taus, fit), direct, rtol=1e-10)


def test_rotated_losses_and_kept_modes_match_direct_evaluation():
    """A loss rotated once into the eigenbasis gives the same curve as the Regression; keeping
    only some modes equals evaluating the readout with the other modes set to zero."""
    _, _, _, fit = small_problem()
    flow = GradientFlow.from_regression(fit, A0=0.1 * np.ones((fit.d, fit.p)))
    taus = [1.0, 30.0, 3000.0]
    rot = flow.rotate({"a": fit, "b": fit})
    assert rot["a"].M is rot["b"].M                       # one rotation per U
    assert np.allclose(flow.losses(taus, rot["a"]), flow.losses(taus, fit), rtol=1e-12)
    keep = slice(3, 17)
    mask = np.zeros(fit.p)
    mask[keep] = 1.0
    direct = [fit.loss((flow.coords([tau])[0] * mask) @ flow.Q.T) for tau in taus]
    assert np.allclose(flow.losses(taus, fit, modes=keep), direct, rtol=1e-10)
    assert np.allclose(flow.losses(taus, fit, modes=slice(0, fit.p)), flow.losses(taus, fit))


def test_relaxation_time_is_where_a_mode_is_learnt_to_one_minus_one_over_e():
    _, _, _, fit = small_problem()
    flow = GradientFlow.from_regression(fit)
    times = relaxation_times(flow.lam, fit.weight, flow.psi_p)
    j = 5
    frac = flow.h([times[j]])[0, j] / flow.h([math.inf])[0, j]
    assert frac == pytest.approx(1 - math.exp(-1), rel=1e-12)   # rate * time = 1
    assert relaxation_times([0.0, -1.0], 1.0, 2.0).tolist() == [math.inf, math.inf]


def test_closed_form_flow_matches_simulated_gradient_descent():
    """Small case d=8, p=64, n=16, t=0.1; GD in float32, fresh noise, batch 1024, eta = 0.1 of
    the stability limit. Tolerance: train and test loss within 1%, score error within 10%
    (the score error magnifies loss differences by 1/Delta_t, SGD noise included)."""
    d, p, n, t = 8, 64, 16, 0.1
    rng = make_rng(0)
    W, X = make_features(rng, p, d), gaussian_data(rng, n, d)
    fit = mc_regressions(X, W, t, rng, 256 * p, {"dsm": dsm_target(t)})["dsm"]
    ev = mc_regressions(X, W, t, rng, 256 * p, {"dsm": dsm_target(t)})["dsm"]
    pop = mc_regressions(gaussian_data(rng, 64 * p, d), W, t, rng, 64 * p,
                         {"dsm": dsm_target(t), "score": score_target()})
    flow = GradientFlow.from_regression(fit)
    eta = gd_step_size(fit.U, fit.weight, d, rng, safety=0.1)
    taus, readouts = simulate_gd(X, W, t, dsm_target(t), rng, eta,
                                 np.geomspace(20 * eta, 2000 * eta, 5), noise_per_point=64)
    assert readouts.shape == (5, d, p) and np.all(np.diff(taus) > 0)
    for reg, tol in ((ev, 0.01), (pop["dsm"], 0.01), (pop["score"], 0.10)):
        cf, gd = flow.losses(taus, reg), reg.loss(readouts)
        assert np.max(np.abs(gd - cf) / cf) < tol


def test_quadrature_constants_match_monte_carlo():
    for t in (0.01, 0.1, 1.0):
        q = ge_constants(t)
        mc = ge_constants_mc(t, make_rng(5), n=2_000_000)
        assert q.mu1 == pytest.approx(0.6057, abs=1e-3)        # E[1 - tanh^2(g)]
        for name in ("mu1", "a", "b", "v2", "s2", "kappa"):
            assert getattr(q, name) == pytest.approx(getattr(mc, name), abs=2e-3), (t, name)
        # the four pieces add up to E[tanh(g)^2] = 0.3943
        assert q.a ** 2 + q.b ** 2 + q.v2 + q.s2 == pytest.approx(0.39429, abs=1e-4)
    # at small t the spike is almost all the data-dependent slope:
    # s_t^2 = Delta_t kappa_t + O(Delta_t^2)
    q, (_, Delta) = ge_constants(0.01), ou_coeffs(0.01)
    assert 0.9 < Delta * q.kappa / q.s2 < 1.0


def test_memorisation_bulk_lower_edge_matches_prediction():
    """d=48, p=768, n=96 (psi_p/psi_n = 8, n = 2d), t=0.01: the lowest memorisation eigenvalue
    (the n-th in descending order) lies within 20% of s_t^2 + v_t^2 (1 - sqrt(psi_p/psi_n))^2.
    (At d=32, p=1024, n=64 it is ~20% below: finite-d spread of |x|^2/d.)"""
    d, p, n, t = 48, 768, 96, 0.01
    rng = make_rng(0)
    W, X = make_features(rng, p, d), gaussian_data(rng, n, d)
    U = mc_regressions(X, W, t, rng, 8 * p, {"dsm": dsm_target(t)})["dsm"].U
    lam, _ = eigh_desc(U)
    lo, hi = mem_bulk_edges(ge_constants(t), p / d, n / d)
    assert lam[n - 1] == pytest.approx(lo, rel=0.2)
    assert lam[d] == pytest.approx(hi, rel=0.2)
    # the gaps around the bulk: d generalisation modes far above, the spike far below
    assert lam[d - 1] > 1.5 * hi and lam[n] < 0.5 * lo


def test_tau_helpers_on_known_curves():
    taus = np.geomspace(1, 1e4, 401)
    err = (np.log(taus) - np.log(50.0)) ** 2 + 1.0
    assert tau_gen(taus, err) == pytest.approx(50.0, rel=1e-3)
    gap = 1.0 - np.exp(-taus / 1000.0)          # reaches 10% of 1 at tau = 1000 ln(1/0.9)
    assert tau_mem(taus, gap, 1.0, 0.1) == pytest.approx(1000 * math.log(1 / 0.9), rel=2e-3)
    assert tau_mem(taus, gap, 1.0) == pytest.approx(1000 * math.log(2), rel=2e-3)  # 50%
    assert math.isnan(tau_mem(taus, gap, 10.0, 0.5))
    assert first_crossing(taus, gap, -1.0) == taus[0] and math.isnan(first_crossing(taus, gap, 2))


def test_spike_is_a_bulk_at_finite_d_that_narrows_as_n_d_over_p_grows():
    """d=16, p=512, t=0.01: the p - n eigenvalues below the memorisation bulk have their median
    within a factor 2.5 of s_t^2 and spread less as n d / p grows (n = 64, 128, 256), with the
    10% quantile above the predicted lower edge / 3 (spectrum.spike_bulk_edges)."""
    d, p, t = 16, 512, 0.01
    rng = make_rng(0)
    W, X = make_features(rng, p, d), gaussian_data(rng, 256, d)
    c = ge_constants(t)
    spreads = []
    for n in (64, 128, 256):
        lam = np.linalg.eigvalsh(mc_regressions(X[:n], W, t, rng, 8 * p, {"dsm": dsm_target(t)})
                                 ["dsm"].U)[::-1][n:]
        q10, q50, q90 = np.quantile(lam, [0.1, 0.5, 0.9])
        lo, hi = spike_bulk_edges(c, p, n, d)
        assert c.s2 / 2.5 < q50 < 2.5 * c.s2 and q10 > lo / 3 and q90 < hi
        spreads.append(q90 / q10)
    assert spreads[0] > spreads[1] > spreads[2]


def test_bulk_clocks_mem_grows_with_n_and_gen_does_not():
    """The theory's two timescales on the spectrum (d=8, p=256): the median relaxation time of
    the memorisation bulk grows close to proportionally to n, the generalisation bulk's hardly
    moves."""
    from cdlite.theory.analysis import analyse_training_set, population
    d, p, t = 8, 256, 0.01
    rng = make_rng(0)
    W, X = make_features(rng, p, d), gaussian_data(rng, 64, d)
    pop = population(W, t, 8 * p, rng)
    taus = np.geomspace(1, 1e9, 100)
    res = [analyse_training_set(X[:n], W, t, pop, taus, 8 * p, rng, ge_constants(t))
           for n in (16, 32, 64)]
    mem = [r["clock"]["mem"] for r in res]
    gen = [r["clock"]["gen"] for r in res]
    slope = np.polyfit(np.log([16, 32, 64]), np.log(mem), 1)[0]
    assert 0.8 < slope < 1.3
    assert max(gen) / min(gen) < 1.3
