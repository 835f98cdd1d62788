"""The two experiments of the rf-theory recipe on one training set, as plain functions returning
numbers (the recipe repeats them over training-set sizes n and draws).

`analyse_training_set`: spectrum, closed-form train / test loss and score error, tau_gen and
tau_mem, the relaxation times of the bulks, and a simulated-GD check (Bonnaire et al., arXiv
2505.17638). `analyse_distillation`: cdlite's consistency-distillation model (distill.py) on the
same training set, over distillation time.

Every loss is estimated on Monte-Carlo samples that were NOT used to fit the readout: the train
loss uses fresh noise on the same training points ("eval" moments), the test loss and score error
use fresh data ("population" moments). Fitting and evaluating on the same draws would make the
train loss look lower than it is, by about (fitted modes) / (MC samples).
"""
from __future__ import annotations

import math

import numpy as np

from ..backend import make_rng
from .distill import bulk_medians, cd_target, distill_chain, filter_window, time_grid
from .dynamics import (GradientFlow, gd_step_size, relaxation_times, simulate_gd, tau_gen,
                       tau_mem)
from .model import dsm_target, gaussian_data, mc_regressions, ou_coeffs, score_target
from .spectrum import (eigh_desc, gen_bulk_scale, mem_bulk_edges, spike_bulk_edges,
                       split_bulks)


def population(W, t: float, n_mc: int, rng) -> dict:
    """Population moments on n_mc fresh points: 'dsm' (the test loss) and 'score' (the score
    error against s*(x) = -x), sharing one U."""
    d = W.shape[1]
    return mc_regressions(gaussian_data(rng, n_mc, d), W, t, rng, n_mc,
                          {"dsm": dsm_target(t), "score": score_target()})


def fit_moments(X, W, t: float, n_mc: int, rng) -> dict:
    """Denoising-loss moments of the training set X: 'fit' (from a recorded seed, so that
    distillation can redraw the very same samples), 'eval' (fresh noise) and the eigen-
    decomposition of the fitted U, the one (p, p) eigendecomposition of this training set."""
    seed = int(rng.integers(2**63))
    fit = mc_regressions(X, W, t, make_rng(seed), n_mc, {"dsm": dsm_target(t)})["dsm"]
    ev = mc_regressions(X, W, t, rng, n_mc, {"dsm": dsm_target(t)})["dsm"]
    return {"fit": fit, "eval": ev, "eig": eigh_desc(fit.U), "seed": seed}


def spectrum_summary(lam, consts, p: int, d: int, n: int) -> dict:
    """Measured and predicted locations of the three parts of the spectrum, and the relaxation
    time (dynamics.relaxation_times) of each bulk: its median over the bulk's modes."""
    bulks = split_bulks(p, d, n)
    _, Delta = ou_coeffs(consts.t)
    times = relaxation_times(lam, Delta, p / d)
    mem, spike = lam[bulks["mem"]], lam[bulks["spike"]]
    return {
        "mem_edges_pred": mem_bulk_edges(consts, p / d, n / d),
        "mem_edges_emp": (float(mem[-1]), float(mem[0])) if len(mem) else (math.nan, math.nan),
        "spike_edges_pred": spike_bulk_edges(consts, p, n, d),
        "spike_quantiles": [float(q) for q in np.quantile(spike, [0.1, 0.5, 0.9])],
        "gen_scale_pred": gen_bulk_scale(consts, p / d),
        "gen_median_emp": float(np.median(lam[bulks["gen"]])),
        "clock": {name: float(np.median(times[sl])) for name, sl in bulks.items()
                  if sl.stop > sl.start},
    }


def loss_curves(flow: GradientFlow, rots: dict, taus, n: int, fractions) -> dict:
    """Train / test loss and score error on the grid and at tau = inf, tau_gen, tau_mem for each
    fraction of the final gap, and the final gap of the readout cut to its n largest modes
    (generalisation + memorisation bulks, no spike): how much of the gap those modes carry."""
    T = len(taus)
    grid = np.append(taus, math.inf)
    train, test, score = (flow.losses(grid, rots[k]) for k in ("train", "test", "score"))
    gap = test - train
    top = slice(0, n)
    gap_top = (flow.losses([math.inf], rots["test"], top)
               - flow.losses([math.inf], rots["train"], top))[0]
    return {
        "train": train[:T], "test": test[:T], "score": score[:T],
        "train_inf": float(train[T]), "test_inf": float(test[T]), "gap_inf": float(gap[T]),
        "gap_inf_top": float(gap_top),
        "tau_gen": tau_gen(taus, score[:T]), "score_min": float(np.min(score[:T])),
        "tau_mem": {float(f): tau_mem(taus, gap[:T], gap[T], f) for f in fractions},
    }


def gd_check(X, W, t: float, flow, rots, regs, U, rng, safety: float, batch: int,
             steps: int) -> dict:
    """Simulated gradient descent (float32, fresh noise every step) against the closed form at
    8 times up to steps * eta: the largest relative and absolute deviation of each loss."""
    n, d = X.shape
    eta = gd_step_size(U, regs["train"].weight, d, rng, safety)
    per_point = max(1, batch // n)
    gd_taus, readouts = simulate_gd(X, W, t, dsm_target(t), rng, eta,
                                    np.geomspace(5 * eta, steps * eta, 8),
                                    noise_per_point=per_point)
    gd = {name: reg.loss(readouts) for name, reg in regs.items()}
    cf = {name: flow.losses(gd_taus, rots[name]) for name in regs}
    return {"eta": eta, "batch": per_point * n, "taus": gd_taus, **gd,
            "rel_dev": {k: float(np.max(np.abs(gd[k] - cf[k]) / np.abs(cf[k]))) for k in gd},
            "abs_dev": {k: float(np.max(np.abs(gd[k] - cf[k]))) for k in gd}}


def analyse_training_set(X, W, t: float, pop: dict, taus, n_mc: int, rng, consts,
                         fractions=(0.5,), gd: dict | None = None) -> dict:
    """Everything the recipe reports for one training set X (n, d) at diffusion time t.

    `pop` holds the population Regressions (see `population`); `gd` the settings of the
    simulated-GD check (safety, batch, steps), None to skip it. The key '_reuse' holds the
    moments, eigendecomposition and rotated losses for analyse_distillation."""
    n, d = X.shape
    p = W.shape[0]
    mom = fit_moments(X, W, t, n_mc, rng)
    lam = mom["eig"][0]
    flow = GradientFlow.from_regression(mom["fit"], eig=mom["eig"])
    regs = {"train": mom["eval"], "test": pop["dsm"], "score": pop["score"]}
    rots = flow.rotate(regs)       # test and score share the population U: one rotation
    out = {"n": n, "psi_n": n / d, "lam": lam, **spectrum_summary(lam, consts, p, d, n),
           **loss_curves(flow, rots, taus, n, fractions)}
    if gd is not None:
        out["gd"] = gd_check(X, W, t, flow, rots, regs, mom["fit"].U, rng, **gd)
    out["_reuse"] = {**mom, "rots": rots}
    return out


# --- consistency distillation ----------------------------------------------------------------

def transfer_curves(chain, bulks: dict, taus_all, rots: dict) -> dict:
    """Median transfer |B q| / |A_teacher q| of each bulk, and the student's generalisation gap
    (measured with the teacher's own denoising loss at t), for both initialisations."""
    Q = chain.top_eig[1]
    teacher_norm = np.linalg.norm(chain.teachers[-1] @ Q, axis=0)        # |A_K q_j| (p,)

    def transfer(coords):                                                 # (T, d, p) -> (T, p)
        return np.linalg.norm(coords, axis=-2) / np.maximum(teacher_norm, 1e-300)

    out = {"medians": {}, "gap": {}, "transfer": transfer}
    for init in ("zero", "teacher"):
        flow = chain.student_flow(init)
        out["medians"][init] = bulk_medians(transfer(flow.coords(taus_all)), bulks)
        out["gap"][init] = (flow.losses(taus_all, rots["test"])
                            - flow.losses(taus_all, rots["train"]))
        out.setdefault("flows", {})[init] = flow
    return out


def simulated_cd(X, W, t: float, chain, transfer, bulks, rng, safety: float, batch: int,
                 steps: int) -> dict:
    """Simulated CD at the top level (fresh noise each step, float32, from zero) against the
    closed form: the largest difference in median transfer of each bulk."""
    n, d = X.shape
    _, Delta = ou_coeffs(t)
    eta = gd_step_size(chain.top_loss.U, Delta, d, rng, safety)
    K = len(chain.times) - 1
    target = cd_target(W, chain.teachers[-1], chain.students[-2], chain.times, K)
    sim_taus, readouts = simulate_gd(X, W, t, target, rng, eta,
                                     np.geomspace(5 * eta, steps * eta, 6),
                                     noise_per_point=max(1, batch // n))
    sim = bulk_medians(transfer(readouts @ chain.top_eig[1]), bulks)
    cf = bulk_medians(transfer(chain.student_flow("zero").coords(sim_taus)), bulks)
    return {"taus": sim_taus, "medians": sim, "eta": eta,
            "max_abs_dev": {k: float(np.max(np.abs(sim[k] - cf[k]))) for k in sim}}


def analyse_distillation(X, W, t: float, top: dict, pop: dict, taus_d, n_mc: int, rng, *,
                         t_min: float, levels: int, tau_teacher: float, keep: float,
                         leak: float, sim: dict | None = None, log=None) -> dict:
    """cdlite's CD model on the training set X over distillation time tau_D: the transfer of
    each bulk, the student's gap, and the window in which stopping early filters memorisation.

    `top` is analyse_training_set's result for X at time t (its fit is reused for level K);
    `sim` the settings (safety, batch, steps) of a simulated-CD check, None to skip it."""
    n, d = X.shape
    p = W.shape[0]
    reuse = top["_reuse"]
    times = time_grid(t_min, t, levels)
    chain = distill_chain(X, W, times, rng, n_mc, tau_teacher,
                          top_fit=(reuse["fit"], reuse["eig"], reuse["seed"]), log=log)
    bulks = split_bulks(p, d, n)
    T = len(taus_d)
    curves = transfer_curves(chain, bulks, np.append(taus_d, math.inf), reuse["rots"])
    med, gap = curves["medians"]["zero"], curves["gap"]["zero"]
    conv = {k: float(v[T]) for k, v in med.items()}
    window = filter_window(taus_d, med["gen"][:T] / conv["gen"], med["mem"][:T] / conv["mem"],
                           keep, leak)
    i = window["i_best"]
    teacher = chain.teachers[-1]
    out = {
        "n": n, "times": times, "tau_teacher": tau_teacher, "taus_d": taus_d,
        "lam_top": chain.top_eig[0],
        "medians": {init: {k: v[:T] for k, v in m.items()}
                    for init, m in curves["medians"].items()},
        "medians_inf": {init: {k: float(v[T]) for k, v in m.items()}
                        for init, m in curves["medians"].items()},
        "gap": {init: g[:T] for init, g in curves["gap"].items()},
        "gap_inf": {init: float(g[T]) for init, g in curves["gap"].items()},
        "window": window,
        "at_best": {**{k: float(v[i]) for k, v in med.items()}, "gap": float(gap[i])},
        "teacher_gap": float(pop["dsm"].loss(teacher) - reuse["eval"].loss(teacher)),
        "teacher_score_error": float(pop["score"].loss(teacher)),
        "snapshots": {float(taus_d[j]): curves["transfer"](
            curves["flows"]["zero"].coords([taus_d[j]]))[0][:n]
            for j in np.unique(np.linspace(0, T - 1, 4).round().astype(int))},
        "b1_vs_a1_rel_diff": float(np.linalg.norm(chain.students[1] - chain.teachers[1])
                                   / np.linalg.norm(chain.teachers[1])),
    }
    if sim is not None:   # the spike barely moves within a short simulation: gen and mem only
        two = {k: bulks[k] for k in ("gen", "mem")}
        out["sim"] = simulated_cd(X, W, t, chain, curves["transfer"], two, rng, **sim)
    return out
