"""cdlite's consistency-distillation model in the random-feature theory: the chain, the CD
objective, the spectral filter of early stopping, simulated CD, and the filter window."""
import cdlite  # noqa: F401  (sets the BLAS thread default before NumPy loads)

import math

import numpy as np
import pytest

from cdlite.backend import make_rng
from cdlite.theory import (bulk_medians, cd_target, distill_chain, gaussian_data, gd_step_size,
                           make_features, mc_regressions, ou_coeffs, simulate_gd, split_bulks,
                           student_apply, teacher_step, time_grid)
from cdlite.theory.distill import filter_window
from cdlite.theory.spectrum import ge_constants

D, P, N, T = 6, 96, 24, 0.01


@pytest.fixture(scope="module")
def chain():
    rng = make_rng(0)
    W, X = make_features(rng, P, D), gaussian_data(rng, N, D)
    ch = distill_chain(X, W, time_grid(0.002, T, 3), rng, 16 * P, tau_teacher=1e5)
    return W, X, ch


def test_level_one_student_reproduces_the_teacher(chain):
    # level 1 regresses on a target that lies in the span of its own features: B_1 = A_1
    _, _, ch = chain
    A1, B1 = ch.teachers[1], ch.students[1]
    assert np.linalg.norm(B1 - A1) < 1e-8 * np.linalg.norm(A1)


def test_consistency_loss_is_the_sample_average_of_the_cd_objective(chain):
    """(Delta_K / (d c_K^2)) mean |f_K(x_K) - f_{K-1}(x_hat)|^2 over the very samples of the
    Monte-Carlo moments equals the Regression's quadratic form."""
    W, X, ch = chain
    times, K = ch.times, len(ch.times) - 1
    n_mc = 480
    reg = mc_regressions(X, W, T, make_rng(9), n_mc,
                         {"cd": cd_target(W, ch.teachers[K], ch.students[K - 1], times, K)})["cd"]
    e, Delta = ou_coeffs(T)
    xi = make_rng(9).standard_normal((n_mc, D))
    x_t = e * X[np.arange(n_mc) % N] + math.sqrt(Delta) * xi
    x_hat = teacher_step(x_t, ch.teachers[K], W, times[K], times[K - 1])
    y = student_apply(x_hat, ch.students[K - 1], W, times[K - 1] - times[0])
    B = make_rng(1).standard_normal((D, P))
    c_K = times[K] - times[0]
    direct = Delta / (D * c_K ** 2) * np.mean(np.sum((student_apply(x_t, B, W, c_K) - y) ** 2, 1))
    assert reg.loss(B) == pytest.approx(direct, rel=1e-9)


def test_student_from_zero_is_the_spectral_filter_of_its_converged_readout(chain):
    # per mode: |B(tau) q| = (1 - exp(-2 Delta lambda tau / psi_p)) |B(inf) q|
    _, _, ch = chain
    flow = ch.student_flow("zero")
    lam = flow.lam
    tau = 3e3
    ratio = (np.linalg.norm(flow.coords([tau])[0], axis=0)
             / np.linalg.norm(flow.coords([math.inf])[0], axis=0))
    _, Delta = ou_coeffs(T)
    expected = -np.expm1(-2 * Delta * lam * tau / (P / D))
    assert np.allclose(ratio[:N], expected[:N], rtol=1e-8)
    # from the teacher, the student starts as the teacher and ends where the zero-start one does
    t_flow = ch.student_flow("teacher")
    assert np.allclose(t_flow.readout(0.0), ch.teachers[-1])
    assert np.allclose(t_flow.readout(math.inf), flow.readout(math.inf))


def test_cd_closed_form_matches_simulated_distillation(chain):
    """Simulated CD at the top level (float32, fresh noise, batch 768) against the closed form:
    the median transfer of each bulk agrees within 0.1."""
    W, X, ch = chain
    K = len(ch.times) - 1
    Q = ch.top_eig[1]
    bulks = {k: v for k, v in split_bulks(P, D, N).items() if k != "spike"}
    norm_T = np.linalg.norm(ch.teachers[-1] @ Q, axis=0)
    rng = make_rng(3)
    _, Delta = ou_coeffs(T)
    eta = gd_step_size(ch.top_loss.U, Delta, D, rng, 0.3)
    target = cd_target(W, ch.teachers[-1], ch.students[-2], ch.times, K)
    taus, readouts = simulate_gd(X, W, T, target, rng, eta, np.geomspace(10 * eta, 600 * eta, 4),
                                 noise_per_point=32)
    sim = bulk_medians(np.linalg.norm(readouts @ Q, axis=-2) / norm_T, bulks)
    cf = bulk_medians(np.linalg.norm(ch.student_flow("zero").coords(taus), axis=-2) / norm_T,
                      bulks)
    for name in bulks:
        assert np.max(np.abs(sim[name] - cf[name])) < 0.1, name


def test_filter_window_on_known_filters():
    """Two exponential filters 1 - exp(-tau / T): gen with T = 10, mem with T = 1000. The window
    opens at T_gen ln 10 (90% kept) and shuts at T_mem ln(1 / 0.9) (10% leaked)."""
    taus = np.geomspace(0.1, 1e6, 2001)
    kept, leaked = -np.expm1(-taus / 10.0), -np.expm1(-taus / 1000.0)
    w = filter_window(taus, kept, leaked, keep=0.9, leak=0.1)
    assert w["tau_keep"] == pytest.approx(10 * math.log(10), rel=1e-3)
    assert w["tau_leak"] == pytest.approx(1000 * math.log(1 / 0.9), rel=1e-3)
    assert w["open"] and w["width"] == pytest.approx(w["tau_leak"] / w["tau_keep"])
    # kept - leaked is largest where both derivatives agree: tau = ln(100) / (1/10 - 1/1000)
    best = math.log(100) / (0.1 - 0.001)
    assert w["tau_best"] == pytest.approx(best, rel=0.01)
    assert w["selectivity_best"] == pytest.approx(kept[w["i_best"]] - leaked[w["i_best"]])
    # when the two filters are too close, the window is shut
    shut = filter_window(taus, kept, -np.expm1(-taus / 30.0))
    assert not shut["open"] and shut["width"] < 1


def test_distillation_over_time_reaches_the_converged_transfer(chain):
    """The recipe's per-n CD analysis: transfer curves rise from 0 (student from zero) to the
    converged medians, and the teacher-initialised student starts at transfer 1."""
    from cdlite.theory.analysis import analyse_distillation, analyse_training_set, population
    W, X, _ = chain
    rng = make_rng(5)
    pop = population(W, T, 16 * P, rng)
    taus = np.geomspace(0.01, 1e9, 60)
    res = analyse_training_set(X, W, T, pop, taus, 16 * P, rng, ge_constants(T))
    out = analyse_distillation(X, W, T, res, pop, taus, 16 * P, rng, t_min=0.002, levels=3,
                               tau_teacher=1e5, keep=0.9, leak=0.1)
    for bulk in ("gen", "mem"):
        zero = out["medians"]["zero"][bulk]
        assert zero[0] < 0.01 and zero[-1] == pytest.approx(out["medians_inf"]["zero"][bulk],
                                                            rel=1e-3)
        assert out["medians"]["teacher"][bulk][0] == pytest.approx(1.0, rel=1e-4)
    assert out["window"]["tau_keep"] < out["window"]["tau_leak"]
    assert len(out["gap"]["zero"]) == len(taus) and out["b1_vs_a1_rel_diff"] < 1e-8
