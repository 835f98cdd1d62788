"""figures/frontier.png: memorization against quality (cdlite.experiments.curves), one panel per
score. The teacher over its training time and the student over distillation time (1 and 2
steps) are curves; the NFE-matched teacher, fresh data and the empirical optimum are points. The
open circle on the teacher's curve is the teacher at the student's final quality.
"""
from __future__ import annotations

from ..plotting import plt
import numpy as np

from ..experiments.curves import frontier, score, scores_of
from ..metrics.scores import SCORES

RED, BLUE = "#d62728", "#1f77b4"
POINTS = [  # (metrics row, label, marker, colour)
    ("teacher", "teacher, final (Heun)", "o", "k"),
    ("teacher_fewstep", "teacher, 1 Euler step", "X", "0.45"),
    ("teacher_fewstep_2", "teacher, 2 Euler steps", "P", "0.45"),
    ("student", "student, 1 step, final", "*", RED),
    ("student_2step", "student, 2 steps, final", "*", "#ff9896"),
    ("fresh_true", "fresh / held-out data", "D", "#2ca02c"),
    ("empirical_optimum", "empirical optimum", "s", "k"),
]


def _row(metrics, key):
    if key in ("fresh_true", "empirical_optimum"):
        return (metrics.get("reference") or {}).get(key)
    return metrics.get(key)


def _curve(ax, curve, key, nested=None, **style):
    pts = [(p if nested is None else p.get(nested)) for p in curve]
    xy = [(score(p, key), p["f_mem"]) for p in pts if p and score(p, key) is not None]
    if xy:
        x, y = np.array(xy).T
        ax.plot(x, y, **style)
    return xy


def _panel(ax, metrics, key, match):
    t_curve = metrics.get("teacher_curve") or []
    xy = _curve(ax, t_curve, key, ls="-", c="0.6", lw=1, zorder=1)
    if xy:  # the teacher's checkpoints coloured by training time (early light, late dark)
        x, y = np.array(xy).T
        ax.scatter(x, y, c=np.linspace(0.15, 1.0, len(x)), cmap="Greys", s=18,
                   edgecolors="0.3", linewidths=0.5, zorder=2, label="teacher over training")
    s_curve = metrics.get("student_curve") or []
    _curve(ax, s_curve, key, marker=".", ls="-", c=RED, lw=1, label="student over distillation")
    _curve(ax, s_curve, key, nested="two_step", marker=".", ls="--", c="#ff9896", lw=1,
           label="student, 2 steps, over distillation")
    for row, label, marker, colour in POINTS:
        r = _row(metrics, row)
        if r and score(r, key) is not None:
            ax.scatter([score(r, key)], [r["f_mem"]], marker=marker, c=colour, s=70,
                       edgecolors="w", linewidths=0.6, zorder=4, label=label)
    t = (match or {}).get("teacher", {})
    if t.get("where") == "crossing":
        ax.scatter([match["student_score"]], [t["f_mem"]], s=120, facecolors="none",
                   edgecolors="k", linewidths=1.4, zorder=5, label="teacher at the student's "
                   "quality")
        ax.plot([match["student_score"]] * 2, [match["student_f_mem"], t["f_mem"]], ":",
                c="k", lw=1)
    better = "higher is better ->" if SCORES[key].direction > 0 else "<- lower is better"
    ax.set_xlabel(f"{SCORES[key].label}  ({better})", fontsize=9)
    ax.set_ylabel("f_mem")
    ax.set_ylim(-0.03, 1.05)
    ax.grid(alpha=0.3)
    if (match or {}).get("weak"):
        ax.set_title("weak: this score rates the untrained blob as well as the student",
                     fontsize=8)


def frontier_figure(metrics, samples=None, nn=None, image_shape=None, threshold=None):
    """The figure (None when the run has no teacher curve or no score)."""
    keys = scores_of(metrics)
    if not metrics.get("teacher_curve") or not keys:
        return None
    matches = frontier(metrics)
    fig, axes = plt.subplots(1, len(keys), figsize=(5.2 * len(keys), 4.2), squeeze=False)
    for ax, key in zip(axes[0], keys):
        _panel(ax, metrics, key, matches.get(key))
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=8, frameon=False,
               bbox_to_anchor=(0.5, -0.12))
    fig.suptitle("Memorization against sample quality", fontsize=11)
    fig.tight_layout()
    return fig
