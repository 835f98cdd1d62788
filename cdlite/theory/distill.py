"""Consistency distillation (Song et al. 2023, Alg. 2) in the random-feature model: cdlite's model.

Jiang & Zou (arXiv 2604.23552) explain CD with the random-feature model of Bonnaire et al.
(arXiv 2505.17638), but their exact formulation is not public. What follows is cdlite's own
model, stated in full so that every number it gives can be checked.

Grid. t_0 = t_min < t_1 < ... < t_K = t (geometric), one set of features W for all times.

Teacher. At each t_k (k >= 1) a random-feature score s_k(x) = A_k phi(x) / sqrt(p), trained on
the n training points by the closed-form flow of dynamics.py for a time tau_T (default inf: the
least-squares readout, the fully memorising teacher). Its ODE step is one Euler step of the
probability-flow ODE of the OU process, dx/dt = -x - s(x, t), backwards from t_k to t_{k-1}:

    x_hat = x + (t_k - t_{k-1}) (x + s_k(x)).

Student. The same features, one readout B_k per grid time, written as a single Euler step of
size c_k = t_k - t_0 straight down to the boundary, so that B_k is an effective score (as A_k is):

    f_k(x) = x + c_k (x + B_k phi(x) / sqrt(p)),      f_0(x) = x   (boundary condition at t_min).

Objective at level k (squared L2, stop-gradient target, weight Delta_k / c_k^2):

    l_k(B) = Delta_k / (d c_k^2) E |f_k(x_k) - f_{k-1}(x_hat)|^2
           = (Delta_k / d) E |B phi(x_k) / sqrt(p) - r_k|^2,
    r_k    = (f_{k-1}(x_hat) - (1 + c_k) x_k) / c_k,      x_k = e^-t_k a + sqrt(Delta_k) xi,

a a training point. The student is linear in B, so l_k is a `Regression` with the teacher's U_k,
and the weight puts it on the teacher's clock: under dB/dtau_D = -d^2 grad l_k the mode lambda
of U_k relaxes at 2 Delta_k lambda / psi_p, exactly as in the teacher's own training. Only the
target differs: r_k, made by the teacher, instead of the noise -xi / sqrt(Delta_k).
Levels are distilled one after another; the target of level k uses the converged level k - 1
(the fixed point that CD's EMA target reaches). Level 1 reproduces the teacher: B_1 = A_1.

Transfer. In the eigenbasis q_j of U_K (the teacher's training feature covariance at t), the
per-mode transfer is |B_K(tau_D) q_j| / |A_K q_j|, summarised by its median over the
generalisation bulk, the memorisation bulk and the spike (spectrum.split_bulks).

Distillation time. tau_D is the time of the student's flow dB/dtau_D = -d^2 grad l_K, the unit of
dynamics.py (mode lambda of U_K relaxes as exp(-2 Delta_t lambda tau_D / psi_p)). A student
started from zero therefore acts on each mode as the filter 1 - exp(-2 Delta_t lambda tau_D /
psi_p): stopping at tau_D keeps the fast generalisation bulk and not yet the slow memorisation
bulk. `filter_window` says where that filter is selective.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..backend import array_module, make_rng
from .dynamics import GradientFlow, first_crossing
from .model import Regression, dsm_target, mc_regressions, rf_score
from .spectrum import eigh_desc


def time_grid(t_min: float, t_max: float, levels: int) -> np.ndarray:
    """t_0 = t_min < ... < t_K = t_max, geometric, K = levels (K + 1 times)."""
    return np.geomspace(t_min, t_max, levels + 1)


def teacher_step(x, A, W, t_from: float, t_to: float):
    """One Euler step of the probability-flow ODE dx/dt = -x - s(x, t) from t_from down to t_to."""
    return x + (t_from - t_to) * (x + rf_score(A, x, W))   # (B, d)


def student_apply(x, B, W, c: float):
    """f(x) = x + c (x + B phi(x) / sqrt(p)): the student's consistency function at one level."""
    if c == 0.0:
        return x          # the boundary level: f_0 = identity
    return x + c * (x + rf_score(B, x, W))   # (B, d)


def cd_target(W, A_k, B_prev, times, k: int):
    """(target_fn, weight) of the level-k consistency loss: r_k and Delta_k (module docstring)."""
    t_k, t_prev, t_0 = float(times[k]), float(times[k - 1]), float(times[0])
    c_k, c_prev = t_k - t_0, t_prev - t_0
    _, Delta_k = dsm_target(t_k)

    def fn(x_t, xi):
        xp = array_module(x_t)
        A = xp.asarray(A_k, dtype=x_t.dtype)
        B = None if B_prev is None else xp.asarray(B_prev, dtype=x_t.dtype)
        Wd = xp.asarray(W, dtype=x_t.dtype)
        x_hat = teacher_step(x_t, A, Wd, t_k, t_prev)                    # (B, d)
        y = student_apply(x_hat, B, Wd, c_prev)                          # stop-gradient target
        return (y - (1.0 + c_k) * x_t) / c_k                             # (B, d)
    return fn, Delta_k


@dataclass
class CDChain:
    """A distilled chain: teacher readouts A_k, converged students B_k, and the top level's
    consistency loss (a Regression on U_K) with U_K's eigendecomposition."""
    times: np.ndarray
    teachers: list          # A_k (d, p) for k = 1..K  (index 0 is None)
    students: list          # converged B_k (d, p) for k = 1..K  (index 0 is None)
    top_loss: Regression    # l_K
    top_eig: tuple          # (lam, Q) of U_K, descending

    def student_flow(self, init: str = "zero") -> GradientFlow:
        """Gradient flow of the top student, from zero ('zero') or from the teacher ('teacher')."""
        A0 = self.teachers[-1] if init == "teacher" else None
        return GradientFlow.from_regression(self.top_loss, A0=A0, eig=self.top_eig)


def distill_chain(X, W, times, rng, n_mc: int, tau_teacher: float = math.inf,
                  top_fit: tuple | None = None, log=None) -> CDChain:
    """Train the teacher at every grid time and distil the student level by level.

    `top_fit` = (Regression, (lam, Q), seed) of the denoising loss at t_K, estimated by
    mc_regressions with make_rng(seed) and the same n_mc, may be passed in to reuse the main
    analysis. Every level costs one Monte-Carlo estimate of U_k and one
    eigendecomposition."""
    K = len(times) - 1
    teachers, students = [None], [None]
    top_loss, top_eig = None, None
    for k in range(1, K + 1):
        t_k = float(times[k])
        # one seed per level: the teacher's and the student's estimates use the same samples x_k
        seed = int(rng.integers(2**63))
        if k == K and top_fit is not None:
            fit, eig, seed = top_fit
        else:
            fit = mc_regressions(X, W, t_k, make_rng(seed), n_mc, {"dsm": dsm_target(t_k)})["dsm"]
            eig = eigh_desc(fit.U)
        A_k = GradientFlow.from_regression(fit, eig=eig).readout(tau_teacher)   # (d, p)
        teachers.append(A_k)
        # the student's consistency loss at level k shares the teacher's U_k; on the very same
        # samples, level 1 gives B_1 = A_1 to rounding (with other samples, only up to MC error)
        target = cd_target(W, A_k, students[k - 1], times, k)
        reg = mc_regressions(X, W, t_k, make_rng(seed), n_mc, {"cd": target}, U=fit.U)["cd"]
        B_k = GradientFlow.from_regression(reg, eig=eig).readout(math.inf)
        students.append(B_k)
        if log is not None:
            log(f"  CD level {k}/{K}: t = {times[k]:.4g}")
        if k == K:
            top_loss, top_eig = reg, eig
    return CDChain(times=np.asarray(times), teachers=teachers, students=students,
                   top_loss=top_loss, top_eig=top_eig)


def filter_window(taus_d, kept, leaked, keep: float = 0.9, leak: float = 0.1) -> dict:
    """Where stopping CD early filters memorisation and keeps generalisation.

    kept(tau_D) and leaked(tau_D) (T,) are the median transfers of the generalisation and of the
    memorisation bulk divided by their converged values; for a student started from zero both
    rise from 0 to 1. tau_keep: first tau_D with kept >= keep; tau_leak: first tau_D with
    leaked >= leak; the window [tau_keep, tau_leak] is open when tau_keep < tau_leak, and its
    width is tau_leak / tau_keep. tau_best maximises kept - leaked (index i_best on the grid)."""
    kept, leaked = np.asarray(kept, dtype=float), np.asarray(leaked, dtype=float)
    tau_keep = first_crossing(taus_d, kept, keep)
    tau_leak = first_crossing(taus_d, leaked, leak)
    i = int(np.nanargmax(kept - leaked))
    return {"keep": keep, "leak": leak, "tau_keep": tau_keep, "tau_leak": tau_leak,
            "open": bool(tau_keep < tau_leak), "width": tau_leak / tau_keep,
            "tau_best": float(taus_d[i]), "i_best": i, "kept_best": float(kept[i]),
            "leaked_best": float(leaked[i]), "selectivity_best": float(kept[i] - leaked[i])}


def bulk_medians(ratios, bulks: dict) -> dict:
    """Median of the per-mode transfer over each bulk, for every row -> {name: (T,)}."""
    return {name: np.median(ratios[..., sl], axis=-1) for name, sl in bulks.items()
            if sl.stop > sl.start}
