"""Figures of the rf-theory recipe (Bonnaire et al., arXiv 2505.17638, Figs. 2-4 in spirit).

Each function takes the plain arrays the recipe computed and writes one PNG atomically with the
Agg backend (no display needed). Colours: one per training-set size n. Time axes are in cdlite's
tau (dynamics.py): mode lambda is learnt on psi_p / (2 Delta_t lambda).
"""
from __future__ import annotations

from ..plotting import plt
import numpy as np

from ..fileio import save_figure
from .spectrum import split_bulks

BULK_COLOURS = {"gen": "C2", "mem": "C3", "spike": "0.4"}


def plot_spectrum(path, runs0: list, pop_lam, consts, psi_p: float) -> None:
    """Histogram of log10 eigenvalues of U (train, draw 0) for each n, the predicted
    memorisation and spike bulks, the generalisation-bulk scale; the population in grey."""
    fig, axes = plt.subplots(1, len(runs0), figsize=(3.6 * len(runs0), 3.4), sharey=True)
    axes = np.atleast_1d(axes)
    lo_all = np.log10(max(min(r["lam"][-1] for r in runs0), 1e-8))
    hi_all = np.log10(max(r["lam"][0] for r in runs0))
    bins = np.linspace(lo_all - 0.2, hi_all + 0.2, 90)
    for ax, r in zip(axes, runs0):
        ax.hist(np.log10(np.clip(pop_lam, 1e-12, None)), bins=bins, color="0.8",
                label="population U")
        ax.hist(np.log10(np.clip(r["lam"], 1e-12, None)), bins=bins, histtype="step",
                color="C0", lw=1.5, label="train U")
        for key, colour, label in (("mem_edges_pred", "C3", "memorisation bulk (pred.)"),
                                   ("spike_edges_pred", "0.4", "spike bulk (pred., finite d)")):
            lo, hi = r[key]
            ax.axvspan(np.log10(max(lo, 1e-12)), np.log10(hi), color=colour, alpha=0.15,
                       label=label)
        ax.axvline(np.log10(r["gen_scale_pred"]), color="C2", ls="--",
                   label="gen. bulk scale psi_p mu1^2")
        ax.axvline(np.log10(consts.s2), color="k", ls=":", label="spike s_t^2 (d -> inf)")
        ax.set_yscale("log")
        ax.set_title(f"n = {r['n']}  (psi_n = {r['psi_n']:.1f}, psi_p = {psi_p:.0f})")
        ax.set_xlabel("log10 eigenvalue of U")
    axes[0].set_ylabel("count")
    axes[0].legend(fontsize=6, loc="upper left")
    save_figure(fig, path)


def plot_losses(path, taus, runs: list, frac: float) -> None:
    """Train loss, test loss, score error and gap against tau for draw 0 (lines, simulated GD as
    markers), the band between the lowest and highest draw shaded; tau_gen and tau_mem (at
    `frac` of the final gap) dotted."""
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8), layout="constrained")
    for i, r in enumerate(runs[0]):
        c = f"C{i}"
        band = {k: np.array([row[i][k] for row in runs]) for k in ("score", "test", "train")}
        gap = band["test"] - band["train"]
        axes[0].plot(taus, r["train"], c, label=f"train n={r['n']}")
        axes[0].plot(taus, r["test"], c, ls="--", label=f"test n={r['n']}")
        axes[1].fill_between(taus, band["score"].min(0), band["score"].max(0), color=c, alpha=0.2)
        axes[1].plot(taus, r["score"], c, label=f"n={r['n']}")
        axes[1].axvline(r["tau_gen"], color=c, ls=":")
        axes[2].fill_between(taus, gap.min(0), gap.max(0), color=c, alpha=0.2)
        axes[2].plot(taus, r["test"] - r["train"], c, label=f"n={r['n']}")
        axes[2].axvline(r["tau_mem"][frac], color=c, ls=":")
        if "gd" in r:
            axes[0].plot(r["gd"]["taus"], r["gd"]["train"], "o", color=c, ms=3)
            axes[0].plot(r["gd"]["taus"], r["gd"]["test"], "s", color=c, ms=3, mfc="none")
            axes[1].plot(r["gd"]["taus"], r["gd"]["score"], "o", color=c, ms=3)
    axes[0].set_ylabel("denoising loss (circles: GD train, squares: GD test)")
    axes[0].set_yscale("log")
    axes[1].set_ylabel("score error (1/d) E|s_A - s*|^2")
    axes[2].set_ylabel("generalisation gap (test - train)")
    axes[1].set_title("draw 0; band: all draws; dotted: tau_gen")
    axes[2].set_title(f"dotted: tau_mem ({frac} of the final gap)")
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xlabel("training time tau")
        ax.legend(fontsize=6)
    axes[1].set_yscale("log")
    axes[2].set_yscale("symlog", linthresh=1e-3)
    save_figure(fig, path)


def _draws_and_fit(ax, s: dict, colour: str, marker: str, label: str, jitter: float) -> None:
    """One timescale of an over_draws summary: every draw (small), mean +- sd (error bar) and
    the fitted line, the slope and its interval in the legend."""
    ns = np.asarray(s["ns"], dtype=float)
    for n in s["ns"]:
        vals = np.asarray(s["draws"][str(n)], dtype=float)
        ax.plot(np.full(len(vals), n * jitter), vals, marker, color=colour, ms=2.5, alpha=0.5)
    mean = np.array([s["mean"][str(n)] for n in s["ns"]], dtype=float)
    sd = np.array([s["sd"][str(n)] for n in s["ns"]], dtype=float)
    lo, hi = s["slope_ci"]
    ax.errorbar(ns * jitter, mean, yerr=np.nan_to_num(sd), fmt=marker, color=colour, ms=5,
                capsize=3, label=f"{label}: slope {s['slope']:.2f} [{lo:.2f}, {hi:.2f}]")
    if np.isfinite(s["slope"]):
        ax.plot(ns, np.exp(s["intercept"]) * ns ** s["slope"], "-", color=colour, lw=0.8)


def _ticks(ax, values) -> None:
    """Label a log x axis at exactly `values` (n or p), without minor ticks."""
    ax.set_xticks(values, [str(v) for v in values])
    ax.minorticks_off()


def _mean(values) -> float:
    """Mean of the finite values, nan when there are none."""
    v = np.asarray(values, dtype=float)
    return float(v[np.isfinite(v)].mean()) if np.isfinite(v).any() else np.nan


def plot_tau_vs_n(path, m: dict) -> None:
    """(a) tau_mem at every gap fraction and the memorisation-bulk clock against n; (b) tau_gen
    and the generalisation-bulk clock; (c) the finite-size check: slope against p."""
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2), layout="constrained")
    for i, (f, s) in enumerate(m["tau_mem_by_fraction"].items()):
        _draws_and_fit(axes[0], s, f"C{3 + i}", "o", f"tau_mem ({f} of gap)", 1.0 + 0.03 * i)
    _draws_and_fit(axes[0], m["clock_mem"], "k", "s", "mem-bulk clock", 0.97)
    _draws_and_fit(axes[1], m["tau_gen"], "C2", "o", "tau_gen (min score error)", 1.0)
    _draws_and_fit(axes[1], m["clock_gen"], "k", "s", "gen-bulk clock", 1.03)
    for ax, title in zip(axes[:2], ("theory: slope 1", "theory: slope 0")):
        ax.set(xscale="log", yscale="log", xlabel="n (training points)", ylabel="tau",
               title=f"{title}; {m['setting']['draws']} draws, 95% bootstrap")
        _ticks(ax, m["tau_gen"]["ns"])
        ax.legend(fontsize=7)
    fs = m.get("finite_size")
    if fs:
        ps = sorted(fs["by_p"], key=int)
        for i, key in enumerate([*m["tau_mem_by_fraction"], "clock_mem"]):
            per = [fs["by_p"][p]["slopes"][key]["per_draw"] for p in ps]
            for p, vals in zip(ps, per):
                axes[2].plot([int(p)] * len(vals), vals, "o", ms=3, alpha=0.5,
                             color="k" if key == "clock_mem" else f"C{3 + i}")
            axes[2].plot([int(p) for p in ps], [_mean(v) for v in per], "-",
                         color="k" if key == "clock_mem" else f"C{3 + i}",
                         label="mem-bulk clock" if key == "clock_mem" else f"tau_mem ({key})")
        axes[2].axhline(1.0, color="0.5", ls=":")
        _ticks(axes[2], [int(p) for p in ps])
        axes[2].set(xscale="log", xlabel="p (d = p / psi_p)", ylabel="slope of tau against n",
                    title="finite size: n/p = " + ", ".join(f"{x:g}" for x in fs["n_over_p"]))
        axes[2].legend(fontsize=7)
    save_figure(fig, path)


def plot_distill(path, cd: dict, m_cd: dict, p: int, d: int) -> None:
    """Top row, one panel per distilled n: median transfer of each bulk against distillation
    time (student from zero solid, from the teacher dashed), the student's gap on the right
    axis, the window shaded and tau_best dotted. Bottom: per-mode transfer at a few tau_D for
    the first n, the window's edges against n, simulated CD against the closed form."""
    ns = list(cd)
    fig, axes = plt.subplots(2, max(len(ns), 3), figsize=(4.2 * max(len(ns), 3), 7.2),
                             layout="constrained", squeeze=False)
    for ax, n in zip(axes[0], ns):
        _transfer_panel(ax, cd[n][0], m_cd["by_n"][str(n)])
    for ax in axes[0][len(ns):]:
        ax.axis("off")
    _snapshot_panel(axes[1][0], cd[ns[0]][0], p, d)
    _window_panel(axes[1][1], m_cd)
    _sim_panel(axes[1][2], cd[ns[0]][0])
    for ax in axes[1][3:]:
        ax.axis("off")
    save_figure(fig, path)


def _transfer_panel(ax, r: dict, v: dict) -> None:
    taus = r["taus_d"]
    for init, ls in (("zero", "-"), ("teacher", "--")):
        for bulk, med in r["medians"][init].items():
            ax.plot(taus, med, ls, color=BULK_COLOURS[bulk],
                    label=f"{bulk} bulk" if init == "zero" else None)
    w = r["window"]
    if w["open"]:
        ax.axvspan(w["tau_keep"], w["tau_leak"], color="C2", alpha=0.1, label="window")
    ax.axvline(w["tau_best"], color="k", ls=":", lw=1, label=f"tau_best {w['tau_best']:.3g}")
    top = max(float(np.nanmax(m)) for meds in r["medians"].values() for m in meds.values())
    ax.set(xscale="log", xlabel="distillation time tau_D", ylim=(0, 1.08 * max(top, 1.0)),
           title=f"n = {r['n']} (dashed: student from teacher)")
    ax.set_ylabel("median transfer |B q| / |A_teacher q|")
    ax2 = ax.twinx()
    ax2.plot(taus, r["gap"]["zero"], color="C0", lw=1)
    if "teacher_curve" in r:
        ax2.plot(*r["teacher_curve"], color="C0", lw=0.8, alpha=0.4)
    ax2.axhline(v["teacher_gap"], color="C0", ls=":", lw=1)
    ax2.set_yscale("symlog", linthresh=1e-3)   # tiny gaps are Monte-Carlo noise of either sign
    ax2.set_xlim(taus[0], taus[-1])
    ax2.set_ylabel("gap: student vs tau_D (blue), teacher vs its tau (pale),\n"
                   "teacher used (dotted)", color="C0", fontsize=7)
    ax.legend(fontsize=6, loc="center left")


def _snapshot_panel(ax, r: dict, p: int, d: int) -> None:
    lam = r["lam_top"]
    for i, (tau, ratios) in enumerate(r["snapshots"].items()):
        ax.loglog(lam[:len(ratios)], ratios, ".", ms=2, color=f"C{i}", label=f"tau_D = {tau:.3g}")
    for name, sl in split_bulks(p, d, r["n"]).items():
        if name != "spike":
            ax.axvspan(lam[sl.stop - 1], lam[sl.start], alpha=0.08, color=BULK_COLOURS[name])
    ax.set(xlabel="eigenvalue lambda of U (train, t)", ylabel="|B q| / |A_teacher q|",
           title=f"per mode, n = {r['n']}, student from zero")
    ax.legend(fontsize=6)


def _window_panel(ax, m_cd: dict) -> None:
    for key, colour in (("tau_keep", "C2"), ("tau_leak", "C3"), ("tau_best", "k")):
        s = m_cd["scaling"][key]
        ns = np.asarray(s["ns"], dtype=float)
        mean = [s["mean"][str(n)] for n in s["ns"]]
        ax.loglog(ns, mean, "o-", color=colour, label=f"{key}: slope {s['slope']:.2f}")
    _ticks(ax, m_cd["ns"])
    ax.set(xlabel="n", ylabel="distillation time tau_D",
           title="window edges (gen kept, mem leaked) and tau_best")
    ax.legend(fontsize=7)


def _sim_panel(ax, r: dict) -> None:
    taus = r["taus_d"]
    for bulk in ("gen", "mem"):
        ax.plot(taus, r["medians"]["zero"][bulk], color=BULK_COLOURS[bulk], label=f"{bulk} bulk")
        if "sim" in r:
            ax.plot(r["sim"]["taus"], r["sim"]["medians"][bulk], "o", ms=4,
                    color=BULK_COLOURS[bulk])
    ax.set(xscale="log", xlabel="distillation time tau_D", ylabel="median transfer",
           title=f"n = {r['n']}: closed form (lines), simulated CD (dots)")
    ax.legend(fontsize=7)


def write_all(folder, cfg, consts, main: dict, sizes: dict, metrics: dict) -> None:
    """Every figure of the recipe into `folder`."""
    pop_lam = np.linalg.eigvalsh(main["first"][2]["dsm"].U)[::-1]
    plot_spectrum(folder / "spectrum.png", main["runs"][0], pop_lam, consts, cfg.p / cfg.d)
    plot_losses(folder / "losses.png", main["taus"], main["runs"], cfg.gap_fraction)
    plot_tau_vs_n(folder / "tau_vs_n.png", metrics)
    if main["cd"]:
        plot_distill(folder / "distill.png", main["cd"], metrics["cd"], cfg.p, cfg.d)
