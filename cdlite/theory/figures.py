"""Figures of the rf-theory recipe (Bonnaire et al., arXiv 2505.17638, Figs. 2-4 in spirit).

Each function takes the plain arrays the recipe computed and writes one PNG atomically with the
Agg backend (no display needed). Colours: one per training-set size n.
"""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # (after choosing the backend)
import numpy as np

from ..fileio import save_figure


def plot_spectrum(path, per_n: dict, pop_lam, consts, psi_p: float) -> None:
    """Histogram of log10 eigenvalues of U (train) for each n, the predicted memorisation edges,
    the generalisation-bulk scale and the spike s_t^2; the population spectrum in grey."""
    ns = sorted(per_n)
    fig, axes = plt.subplots(1, len(ns), figsize=(4.2 * len(ns), 3.4), sharey=True)
    axes = np.atleast_1d(axes)
    lo_all = np.log10(max(min(per_n[n]["lam"][-1] for n in ns), 1e-8))
    hi_all = np.log10(max(per_n[n]["lam"][0] for n in ns))
    bins = np.linspace(lo_all - 0.2, hi_all + 0.2, 90)
    for ax, n in zip(axes, ns):
        r = per_n[n]
        lam = np.clip(r["lam"], 1e-12, None)
        ax.hist(np.log10(np.clip(pop_lam, 1e-12, None)), bins=bins, color="0.8",
                label="population U")
        ax.hist(np.log10(lam), bins=bins, histtype="step", color="C0", lw=1.5, label="train U")
        lo, hi = r["mem_edges_pred"]
        ax.axvspan(np.log10(lo), np.log10(hi), color="C3", alpha=0.15,
                   label="memorisation bulk (pred.)")
        ax.axvline(np.log10(r["gen_scale_pred"]), color="C2", ls="--",
                   label="gen. bulk scale psi_p mu1^2")
        ax.axvline(np.log10(consts.s2), color="k", ls=":", label="spike s_t^2")
        ax.set_yscale("log")
        ax.set_title(f"n = {n}  (psi_n = {r['psi_n']:.1f}, psi_p = {psi_p:.0f})")
        ax.set_xlabel("log10 eigenvalue of U")
    axes[0].set_ylabel("count")
    axes[0].legend(fontsize=7, loc="upper left")
    save_figure(fig, path)


def plot_losses(path, taus, per_n: dict) -> None:
    """Train loss, test loss and score error against tau, closed form (lines) and simulated GD
    (markers), with tau_gen and tau_mem marked."""
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8), layout="constrained")
    for i, n in enumerate(sorted(per_n)):
        r, c = per_n[n], f"C{i}"
        axes[0].plot(taus, r["train"], c, label=f"train n={n}")
        axes[0].plot(taus, r["test"], c, ls="--", label=f"test n={n}")
        axes[0].plot(r["gd_taus"], r["gd_train"], "o", color=c, ms=3)
        axes[0].plot(r["gd_taus"], r["gd_test"], "s", color=c, ms=3, mfc="none")
        axes[1].plot(taus, r["score"], c, label=f"n={n}")
        axes[1].plot(r["gd_taus"], r["gd_score"], "o", color=c, ms=3)
        axes[1].axvline(r["tau_gen"], color=c, ls=":")
        axes[2].plot(taus, r["test"] - r["train"], c, label=f"n={n}")
        axes[2].axvline(r["tau_mem"], color=c, ls=":")
    axes[0].set_ylabel("denoising loss (circles: GD train, squares: GD test)")
    axes[0].set_yscale("log")
    axes[1].set_ylabel("score error (1/d) E|s_A - s*|^2")
    axes[2].set_ylabel("generalisation gap (test - train)")
    axes[1].set_title("dotted: tau_gen")
    axes[2].set_title("dotted: tau_mem")
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xlabel("training time tau")
        ax.legend(fontsize=7)
    axes[1].set_yscale("log")
    axes[2].set_yscale("symlog", linthresh=1e-3)
    save_figure(fig, path)


def plot_tau_vs_n(path, ns, tau_mem, tau_gen, slope: float, intercept: float) -> None:
    """tau_mem and tau_gen against n on log-log axes, with the fitted line of tau_mem."""
    ns = np.asarray(ns, dtype=float)
    fig, ax = plt.subplots(figsize=(4.8, 3.8))
    ax.loglog(ns, tau_mem, "o", color="C3", label="tau_mem")
    ax.loglog(ns, np.exp(intercept) * ns ** slope, "-", color="C3", lw=1,
              label=f"fit: slope {slope:.2f}")
    ax.loglog(ns, tau_gen, "s", color="C2", label="tau_gen")
    ax.set_xlabel("n (training points)")
    ax.set_ylabel("tau")
    ax.legend(fontsize=8)
    save_figure(fig, path)


def plot_distill(path, lam, bulks, snapshots: dict, tau_d, curves: dict, sim: dict,
                 gaps: dict, teacher_curve: tuple, teacher_tau: float) -> None:
    """Three panels: per-mode transfer against the eigenvalue at a few distillation times; the
    bulk medians against distillation time (closed form lines, simulation markers); the student's
    generalisation gap against distillation time beside the teacher's."""
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8), layout="constrained")
    for i, (tau, ratios) in enumerate(snapshots.items()):
        axes[0].loglog(lam[:len(ratios)], ratios, ".", ms=2, color=f"C{i}",
                       label=f"tau_D = {tau:.3g}")
    for name, sl in bulks.items():
        if sl.stop > sl.start:
            axes[0].axvspan(lam[sl.stop - 1], lam[sl.start], alpha=0.08,
                            color={"gen": "C2", "mem": "C3", "spike": "k"}[name])
    axes[0].set_xlabel("eigenvalue lambda of U (train, t)")
    axes[0].set_ylabel("|B q| / |A_teacher q|")
    axes[0].legend(fontsize=7)
    for key, med in curves.items():
        init, bulk = key
        axes[1].plot(tau_d, med, color="C2" if bulk == "gen" else "C3",
                     ls="-" if init == "zero" else "--", label=f"{bulk} bulk, init {init}")
    for bulk, (taus_sim, med) in sim.items():
        axes[1].plot(taus_sim, med, "o", color="C2" if bulk == "gen" else "C3", ms=4)
    axes[1].set_xscale("log")
    axes[1].set_xlabel("distillation time tau_D")
    axes[1].set_ylabel("median transfer (markers: simulated CD)")
    axes[1].legend(fontsize=7)
    for init, g in gaps.items():
        axes[2].plot(tau_d, g, ls="-" if init == "zero" else "--", label=f"student, init {init}")
    axes[2].plot(teacher_curve[0], teacher_curve[1], color="0.5",
                 label="teacher trained for tau = tau_D")
    axes[2].axhline(teacher_curve[2], color="k", ls=":",
                    label=f"teacher used (tau_T = {teacher_tau:.3g})")
    axes[2].set_xscale("log")
    axes[2].set_yscale("symlog", linthresh=1e-3)   # tiny gaps are Monte-Carlo noise of either sign
    axes[2].set_xlabel("distillation time tau_D")
    axes[2].set_ylabel("generalisation gap at t")
    axes[2].legend(fontsize=7)
    save_figure(fig, path)
