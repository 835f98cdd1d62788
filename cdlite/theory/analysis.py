"""The two experiments of the rf-theory recipe, as plain functions returning numbers.

`analyse_training_set`: spectrum, closed-form train / test loss and score error, tau_gen and
tau_mem, and a simulated-GD check, for one training set (Bonnaire et al., arXiv 2505.17638).
`analyse_distillation`: cdlite's consistency-distillation model (distill.py) on one training set.

Every loss is estimated on Monte-Carlo samples that were NOT used to fit the readout: the train
loss uses fresh noise on the same training points ("eval" moments), the test loss and score error
use fresh data ("pop" moments). Fitting and evaluating on the same draws would make the train
loss look lower than it is, by about (fitted modes) / (MC samples).
"""
from __future__ import annotations

import math

import numpy as np

from ..backend import make_rng
from .distill import bulk_medians, cd_target, distill_chain, time_grid
from .dynamics import GradientFlow, gd_step_size, simulate_gd, tau_gen, tau_mem
from .model import dsm_target, mc_regressions, ou_coeffs
from .spectrum import eigh_desc, gen_bulk_scale, mem_bulk_edges, split_bulks


def _rel_dev(a, b) -> float:
    """max |a - b| / |b| over the recorded times."""
    a, b = np.asarray(a), np.asarray(b)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-12)))


def analyse_training_set(X, W, t: float, pop: dict, taus, n_mc: int, rng, consts,
                         gap_fraction: float = 0.1, gd_safety: float = 0.5, gd_batch: int = 1024,
                         gd_steps: int = 400) -> dict:
    """Everything the recipe reports for one training set X (n, d) at diffusion time t.

    `pop` holds the population Regressions 'dsm' (test loss) and 'score' (score error)."""
    n, d = X.shape
    p = W.shape[0]
    _, Delta = ou_coeffs(t)
    # fit moments from a recorded seed, so that distillation can redraw the very same samples
    seed = int(rng.integers(2**63))
    fit = mc_regressions(X, W, t, make_rng(seed), n_mc, {"dsm": dsm_target(t)})["dsm"]
    ev = mc_regressions(X, W, t, rng, n_mc, {"dsm": dsm_target(t)})["dsm"]   # fresh noise
    eig = eigh_desc(fit.U)
    flow = GradientFlow.from_regression(fit, eig=eig)

    # simulated gradient descent: fresh noise every step, float32
    eta = gd_step_size(fit.U, Delta, d, rng, gd_safety)
    per_point = max(1, gd_batch // n)
    gd_taus, readouts = simulate_gd(X, W, t, dsm_target(t), rng, eta,
                                    np.geomspace(5 * eta, gd_steps * eta, 8),
                                    noise_per_point=per_point)

    # closed-form curves on the grid, at tau -> inf (least squares) and at GD's recorded times;
    # one call per loss, since each call rotates that loss's U into the eigenbasis
    T = len(taus)
    regs = {"train": ev, "test": pop["dsm"], "score": pop["score"]}
    curves = {name: flow.losses(np.concatenate([taus, [math.inf], gd_taus]), reg)
              for name, reg in regs.items()}
    train, test, score = (curves[k][:T] for k in ("train", "test", "score"))
    train_inf, test_inf, score_inf = (float(curves[k][T]) for k in ("train", "test", "score"))
    gap_inf = test_inf - train_inf
    gd = {name: reg.loss(readouts) for name, reg in regs.items()}
    cf = {name: curves[name][T + 1:] for name in regs}

    lam = eig[0]
    bulks = split_bulks(p, d, n)
    mem = lam[bulks["mem"]]
    return {
        "n": n, "psi_n": n / d, "lam": lam,
        "mem_edges_pred": mem_bulk_edges(consts, p / d, n / d),
        "mem_edges_emp": (float(mem[-1]), float(mem[0])) if len(mem) else (math.nan, math.nan),
        "gen_scale_pred": gen_bulk_scale(consts, p / d),
        "gen_median_emp": float(np.median(lam[bulks["gen"]])),
        "train": train, "test": test, "score": score,
        "train_inf": train_inf, "test_inf": test_inf, "score_inf": score_inf, "gap_inf": gap_inf,
        "tau_gen": tau_gen(taus, score), "score_min": float(np.min(score)),
        "tau_mem": tau_mem(taus, test - train, gap_inf, gap_fraction),
        "gd_eta": eta, "gd_batch": per_point * n, "gd_taus": gd_taus,
        "gd_train": gd["train"], "gd_test": gd["test"], "gd_score": gd["score"],
        "gd_rel_dev": {k: _rel_dev(gd[k], cf[k]) for k in gd},
        "_fit": (fit, eig, seed), "_eval": ev,
    }


def analyse_distillation(X, W, t: float, t_min: float, levels: int, tau_teacher: float,
                         top: dict, pop: dict, taus_d, n_mc: int, rng, gd_safety: float = 0.5,
                         gd_batch: int = 1024, gd_steps: int = 300, log=None) -> dict:
    """cdlite's CD model on the training set X: transfer per bulk and the student's gap.

    `top` is analyse_training_set's result for X at time t (its fit is reused for level K)."""
    n, d = X.shape
    p = W.shape[0]
    times = time_grid(t_min, t, levels)
    chain = distill_chain(X, W, times, rng, n_mc, tau_teacher, top_fit=top["_fit"], log=log)
    Q = chain.top_eig[1]
    bulks = {k: v for k, v in split_bulks(p, d, n).items() if k != "spike"}
    teacher = chain.teachers[-1]                                      # A_K (d, p)
    teacher_norm = np.linalg.norm(teacher @ Q, axis=0)                # |A_K q_j| (p,)
    ev = top["_eval"]

    def transfer(coords):                                             # (T, d, p) -> (T, p)
        return np.linalg.norm(coords, axis=-2) / np.maximum(teacher_norm, 1e-300)

    out = {"times": times, "tau_teacher": tau_teacher, "medians": {}, "medians_inf": {},
           "gap": {}, "gap_inf": {}}
    T = len(taus_d)
    taus_all = np.append(taus_d, math.inf)                           # the grid, then tau_D = inf
    for init in ("zero", "teacher"):
        flow = chain.student_flow(init)
        med_all = bulk_medians(transfer(flow.coords(taus_all)), bulks)
        med = {k: v[:T] for k, v in med_all.items()}
        out["medians"][init] = med
        out["medians_inf"][init] = {k: float(v[T]) for k, v in med_all.items()}
        # the student's generalisation gap, measured with the teacher's own denoising loss at t
        gap = flow.losses(taus_all, pop["dsm"]) - flow.losses(taus_all, ev)
        out["gap"][init], out["gap_inf"][init] = gap[:T], float(gap[T])
        if init == "zero":
            pick = np.unique(np.linspace(0, len(taus_d) - 1, 4).round().astype(int))
            out["snapshots"] = {float(taus_d[i]): transfer(flow.coords([taus_d[i]]))[0][:n]
                                for i in pick}
            # the distillation time at which the generalisation bulk is (90%) transferred
            gen, gen_inf = med["gen"], out["medians_inf"]["zero"]["gen"]
            i_star = int(np.argmax(gen >= 0.9 * gen_inf)) if np.any(gen >= 0.9 * gen_inf) else -1
            out["tau_d_star"] = float(taus_d[i_star])
            out["at_tau_d_star"] = {k: float(v[i_star]) for k, v in med.items()}
            zero_flow = flow
    out["teacher_gap"] = float(pop["dsm"].loss(teacher) - ev.loss(teacher))
    out["teacher_score_error"] = float(pop["score"].loss(teacher))

    # simulated CD at the top level: fresh noise each step, float32, from zero
    _, Delta = ou_coeffs(t)
    eta = gd_step_size(chain.top_loss.U, Delta, d, rng, gd_safety)
    target = cd_target(W, teacher, chain.students[-2], times, levels)
    sim_taus, readouts = simulate_gd(X, W, t, target, rng, eta,
                                     np.geomspace(5 * eta, gd_steps * eta, 6),
                                     noise_per_point=max(1, gd_batch // n))
    sim_med = bulk_medians(transfer(readouts @ Q), bulks)
    cf_med = bulk_medians(transfer(zero_flow.coords(sim_taus)), bulks)
    out["sim"] = {"taus": sim_taus, "medians": sim_med, "eta": eta,
                  "max_abs_dev": {k: float(np.max(np.abs(sim_med[k] - cf_med[k])))
                                  for k in sim_med}}
    out["levels_check_B1_equals_A1"] = float(
        np.linalg.norm(chain.students[1] - chain.teachers[1]) / np.linalg.norm(chain.teachers[1]))
    return out
