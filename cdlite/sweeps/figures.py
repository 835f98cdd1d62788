"""The figures of a sweep (cdlite.sweeps.table says what each shows). Each takes the
finished cells as (cell, metrics) pairs and returns a matplotlib figure, or None when the sweep
has nothing for it."""
from __future__ import annotations

import math

from ..plotting import plt
import numpy as np

from ..experiments.curves import score, scores_of
from ..metrics.scores import SCORES
from ..report.transfer_plot import transfer_points

RED = "#d62728"


def _first_key(cells) -> str | None:
    return next(iter(cells[0][0].settings), None) if cells else None


def _groups(cells, key):
    """{grid value of `key`: [metrics, ...]} in grid order."""
    out: dict = {}
    for cell, m in cells:
        out.setdefault(cell.settings.get(key, "all"), []).append(m)
    return out


def _mean_curve(curves: list, nested=None):
    """Steps and the mean and spread of f_mem over curves (NaN where a curve has ended)."""
    steps = sorted({p["step"] for c in curves for p in c})
    table = np.full((len(curves), len(steps)), np.nan)
    for i, c in enumerate(curves):
        for p in c:
            q = p if nested is None else p.get(nested)
            if q:
                table[i, steps.index(p["step"])] = q["f_mem"]
    with np.errstate(all="ignore"):
        return np.array(steps), np.nanmean(table, 0), np.nanstd(table, 0)


def phase_diagram(cells):
    key = _first_key(cells)
    groups = _groups(cells, key)
    if not groups or not any(m.get("teacher_curve") for ms in groups.values() for m in ms):
        return None
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8),
                                      gridspec_kw={"width_ratios": [1.6, 1]})
    labels = list(groups)
    rows = [_mean_curve([m["teacher_curve"] for m in ms]) for ms in groups.values()]
    steps = sorted({int(s) for st, _, _ in rows for s in st})
    grid = np.full((len(rows), len(steps)), np.nan)
    for i, (st, mu, _) in enumerate(rows):
        for s, v in zip(st, mu):
            grid[i, steps.index(int(s))] = v
    im = left.imshow(grid, aspect="auto", origin="lower", vmin=0, vmax=1, cmap="magma",
                     extent=(-0.5, len(steps) - 0.5, -0.5, len(rows) - 0.5))
    left.set_yticks(range(len(labels)), [str(v) for v in labels])
    ticks = np.unique(np.linspace(0, len(steps) - 1, min(len(steps), 8)).round().astype(int))
    left.set_xticks(ticks, [str(steps[t]) for t in ticks])
    left.set_xlabel("teacher training step")
    left.set_ylabel(key or "")
    left.set_title("teacher f_mem over training (mean over seeds)", fontsize=10)
    fig.colorbar(im, ax=left, label="f_mem")
    x = np.arange(len(labels))
    for name, colour, label in (("teacher", "k", "teacher (final)"),
                                ("student", RED, "student, 1 step"),
                                ("student_2step", "#ff9896", "student, 2 steps")):
        vals = [[(m.get(name) or {}).get("f_mem", math.nan) for m in ms]
                for ms in groups.values()]
        right.errorbar(x, [np.mean(v) for v in vals], [np.std(v) for v in vals], fmt="o-",
                       c=colour, capsize=3, label=label)
    chance = [[(m.get("reference", {}).get("fresh_true") or {}).get("f_mem", math.nan)
               for m in ms] for ms in groups.values()]
    right.plot(x, [np.mean(v) for v in chance], "--", c="0.5", label="chance")
    right.set_xticks(x, [str(v) for v in labels])
    right.set_xlabel(key or "")
    return _f_mem_axis(fig, right, "f_mem (mean ± sd over seeds)")


def _f_mem_axis(fig, ax, ylabel: str):
    """The common finish of an f_mem axis (0 to 1, grid, legend) and of its figure."""
    ax.set_ylabel(ylabel)
    ax.set_ylim(-0.03, 1.05)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _setting_groups(cells):
    """{label of the cell's whole grid setting: [metrics, ...]} in grid order (seeds together)."""
    out: dict = {}
    for cell, m in cells:
        label = ", ".join(f"{k.split('.')[-1]}={v}" for k, v in cell.settings.items())
        out.setdefault(label or "student", []).append(m)
    return out


def distillation(cells):
    groups = _setting_groups(cells)
    if not any(m.get("student_curve") for ms in groups.values() for m in ms):
        return None
    fig, ax = plt.subplots(figsize=(7.5, 4.4))
    nests = ((None, "-"), ("two_step", "--")) if len(groups) <= 2 else ((None, "-"),)
    for i, (label, ms) in enumerate(groups.items()):
        for nested, ls in nests:
            steps, mu, sd = _mean_curve([m.get("student_curve") or [] for m in ms], nested)
            keep = steps > 0  # a log step axis: step 0 (the teacher's weights) has no place
            ax.plot(steps[keep], mu[keep], ls, c=f"C{i}",
                    label=label + (", 2 steps" if nested else ""))
            ax.fill_between(steps[keep], (mu - sd)[keep], (mu + sd)[keep], color=f"C{i}",
                            alpha=0.12)
    teacher = [(m.get("teacher") or {}).get("f_mem") for _, m in cells]
    teacher = [t for t in teacher if t is not None]
    if teacher:
        ax.axhline(np.mean(teacher), ls=":", c="k", lw=1, label="teacher (final, mean)")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("distillation step (log axis)" + ("" if len(nests) == 2 else
                                                    "; one-step student"))
    return _f_mem_axis(fig, ax, "student f_mem (mean ± sd over seeds)")


def frontier_over_cells(cells):
    keys = scores_of(cells[0][1]) if cells else []
    if not keys:
        return None
    fig, axes = plt.subplots(1, len(keys), figsize=(5.2 * len(keys), 4.2), squeeze=False)
    for ax, key in zip(axes[0], keys):
        for _, m in cells:
            for curve, colour in (("teacher_curve", "0.6"), ("student_curve", RED)):
                xy = [(score(p, key), p["f_mem"]) for p in m.get(curve) or []
                      if score(p, key) is not None]
                if xy:
                    ax.plot(*np.array(xy).T, ".-", c=colour, lw=0.7, ms=3, alpha=0.6)
            for name, marker, colour in (("teacher", "o", "k"), ("student", "*", RED)):
                e = m.get(name)
                if e and score(e, key) is not None:
                    ax.scatter([score(e, key)], [e["f_mem"]], marker=marker, c=colour, s=50,
                               zorder=3)
        ax.set_xlabel(SCORES[key].label + (" (higher is better)" if SCORES[key].direction > 0
                                        else " (lower is better)"), fontsize=9)
        ax.set_ylabel("f_mem")
        ax.set_ylim(-0.03, 1.05)
        ax.grid(alpha=0.3)
    axes[0, 0].set_title("grey: teachers over training; red: students over distillation",
                         fontsize=9)
    fig.tight_layout()
    return fig


def transfer_over_cells(cells):
    """Per grid setting (mean over seeds at each step): the student's f_mem and its transfer
    rate against its imitation error over distillation time, and Phi_teacher's f_mem."""
    groups = _setting_groups(cells)
    series = {}
    for label, ms in groups.items():
        pts = {}
        for m in ms:
            for p in transfer_points(m.get("student_curve")):
                t = p["transfer"]
                pts.setdefault(p["step"], []).append(
                    (t["imitation_error"], t["student_f_mem"],
                     np.nan if t["transfer"] is None else t["transfer"], t["teacher_f_mem"]))
        if len(pts) >= 2:
            series[label] = np.array([np.nanmean(pts[s], axis=0) for s in sorted(pts)])
    if not series:
        return None
    fig, ax = plt.subplots(figsize=(7.5, 4.4 + 0.12 * len(series)))
    for i, (label, a) in enumerate(series.items()):
        ax.plot(a[:, 0], a[:, 1], "o-", ms=3, c=f"C{i}", label=f"{label}: f_mem")
        ax.plot(a[:, 0], a[:, 2], "s--", ms=3, c=f"C{i}", alpha=0.7,
                label=f"{label}: transfer rate")
    teacher = np.mean([a[-1, 3] for a in series.values()])
    ax.axhline(teacher, ls=":", c="k", lw=1, label="Phi_teacher f_mem (CD grid)")
    ax.set_xscale("log")
    ax.invert_xaxis()  # time runs left to right as the error falls
    ax.set_xlabel("imitation error |f_student - Phi_teacher|^2 / (d sigma_data^2), log axis")
    ax.set_title("one-step student over distillation time (mean over seeds); dashed: "
                 "P(same point | teacher memorized)", fontsize=9)
    ax.set_ylabel("fraction of the shared latents")
    ax.set_ylim(-0.03, 1.05)
    ax.grid(alpha=0.3)
    # below the axes: the curves fill the panel from the bottom left to the top right
    ax.legend(fontsize=6, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.16),
              frameon=False)
    fig.tight_layout()
    return fig


FIGURES = {"phase_diagram": phase_diagram, "distillation": distillation,
           "frontier": frontier_over_cells, "transfer": transfer_over_cells}
