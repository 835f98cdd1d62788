"""cdlite's consistency-distillation model in the random-feature theory; the rf-theory recipe."""
import cdlite  # noqa: F401  (sets the BLAS thread default before NumPy loads)

import json
import math

import numpy as np
import pytest

from cdlite.backend import make_rng
from cdlite.theory import (bulk_medians, cd_target, distill_chain, gaussian_data, gd_step_size,
                           make_features, mc_regressions, ou_coeffs, simulate_gd, split_bulks,
                           student_apply, teacher_step, time_grid)

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


def test_rf_theory_quick_recipe_writes_a_complete_run_folder(tmp_path):
    from cdlite.theory.recipe import RFTheoryConfig, run_rf_theory
    cfg = RFTheoryConfig.quick()
    m = run_rf_theory(cfg, tmp_path, seed=0, log=lambda *a: None)
    for name in ("metrics.json", "config.toml", "report.md", "figures/spectrum.png",
                 "figures/losses.png", "figures/tau_vs_n.png", "figures/distill.png"):
        assert (tmp_path / name).is_file(), name
    assert not list(tmp_path.rglob("*.tmp"))
    on_disk = json.loads((tmp_path / "metrics.json").read_text(),
                         parse_constant=lambda c: pytest.fail(f"non-strict JSON {c}"))
    assert on_disk == json.loads(json.dumps(m))
    assert m["recipe"] == "rf-theory" and m["seed"] == 0
    assert set(m["tau_gen"]) == set(m["tau_mem"]) == {"16", "32", "64"}
    assert m["tau_mem_vs_n_slope"] > 0
    assert set(m["cd"]["transfer_converged"]["zero"]) == {"gen", "mem"}
    from cdlite.experiments.config import tomllib
    saved = tomllib.loads((tmp_path / "config.toml").read_text())
    assert saved["p"] == cfg.p and saved["seed"] == 0 and saved["ns"] == list(cfg.ns)
    report = (tmp_path / "report.md").read_text()
    assert "In this model CD did" in report and "figures/distill.png" in report


def test_rf_theory_config_errors_say_what_to_change(tmp_path):
    from cdlite.errors import CdliteError
    from cdlite.theory.recipe import RFTheoryConfig, run_rf_theory
    with pytest.raises(CdliteError, match="d < n < p"):
        run_rf_theory(RFTheoryConfig(d=32, p=64, ns=(16, 128)), tmp_path)
    with pytest.raises(CdliteError, match="cd_n"):
        run_rf_theory(RFTheoryConfig(d=8, p=256, ns=(16, 32), cd_n=64), tmp_path)
