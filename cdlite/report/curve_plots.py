"""figures/curves.png (cdlite.report.figures): f_mem over teacher training and over
distillation, against the chance level, and below it a quality score and the generalization gap
of the same checkpoints."""
from __future__ import annotations

import numpy as np

from ..plotting import plt
from ..metrics.scores import frontier_keys
from .panels import BLUE, RED, entry

def _series(curve, key):
    """Column `key` of a list of checkpoint dicts, NaN where a checkpoint lacks it."""
    values = [c.get(key, (c.get("quality") or {}).get(key)) for c in curve]
    return np.array([np.nan if v is None else float(v) for v in values])


def _quality_key(curve):
    """The curve's first frontier score (cdlite.metrics.scores: log-likelihood for mixtures,
    the energy distance for other data, classifier features for images), else its first score."""
    keys = list(dict.fromkeys(k for c in curve for k in (c.get("quality") or {})))
    return next(iter(frontier_keys(keys)), keys[0] if keys else None)


def curves_figure(metrics, samples, nn, image_shape, threshold):
    curves = [(name, metrics.get(name)) for name in ("teacher_curve", "student_curve")]
    curves = [(n, c) for n, c in curves if c]
    if not curves:
        return None
    ref = entry(metrics, "fresh_true")
    has_lower = any(_quality_key(c) or np.isfinite(_series(c, "gen_gap")).any()
                    for _, c in curves)
    fig, axes = plt.subplots(1 + has_lower, len(curves), figsize=(4.6 * len(curves),
                             3.0 * (1 + has_lower)), squeeze=False, sharex="col")
    for col, (name, curve) in enumerate(curves):
        step = _series(curve, "step")
        ax = axes[0, col]
        ax.plot(step, _series(curve, "f_mem"), "o-", ms=3, c=RED, label="f_mem")
        if ref.get("f_mem") is not None:   # without it, f_mem of a model means little
            ax.axhline(ref["f_mem"], ls="--", c="k", lw=1, label="chance (fresh / held-out)")
        if entry(metrics, "empirical_optimum").get("f_mem") is not None:
            ax.axhline(entry(metrics, "empirical_optimum")["f_mem"], ls=":", c="k", lw=1,
                       label="perfect memorizer")
        ax.set_ylim(-0.03, 1.05)
        ax.set_ylabel("f_mem")
        ax.set_title("teacher training" if name == "teacher_curve" else "distillation",
                     fontsize=10)
        ax.legend(fontsize=8, loc="best")
        ax.grid(alpha=0.3)
        if has_lower:
            _quality_panel(axes[1, col], curve, step, ref)
        label = "teacher training step" if name == "teacher_curve" else "distillation step"
        positive = step[step > 0]
        if positive.size >= 3 and positive.max() >= 64 * positive.min():  # log-spaced
            ax.set_xscale("symlog", linthresh=float(positive.min()), base=2)
            label += " (log axis from the first evaluation)"
        axes[-1, col].set_xlabel(label)
    fig.tight_layout()
    return fig


def _quality_panel(ax, curve, step, ref):
    """Quality on the left axis and the generalization gap on a twin right axis."""
    handles, top = [], ax
    qkey = _quality_key(curve)
    if qkey is not None:
        handles += ax.plot(step, _series(curve, qkey), "o-", ms=3, c=BLUE, label=qkey)
        ref_q = (ref.get("quality") or {}).get(qkey)
        if ref_q is not None:
            handles.append(ax.axhline(ref_q, ls="--", c=BLUE, lw=1,
                                      label=f"{qkey}, fresh / held-out"))
        ax.set_ylabel(qkey, color=BLUE)
    gap = _series(curve, "gen_gap")
    if np.isfinite(gap).any():        # different scale from the quality: its own axis
        twin = top = ax.twinx()
        handles += twin.plot(step, gap, "s-", ms=3, c="0.3", label="gen. gap (train - test loss)")
        twin.set_ylabel("generalization gap", color="0.3")
    if handles:                       # on the twin axis if any: it is drawn over `ax`
        top.legend(handles=handles, fontsize=8, loc="best")
    ax.grid(alpha=0.3)
