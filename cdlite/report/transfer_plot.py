"""figures/transfer.png (cdlite.report.figures): as distillation goes on, the student imitates
the teacher better; does it memorize like the teacher? Left: the student's f_mem and its transfer
rate P(same point | teacher memorized) against the imitation error E |f_student(x_T) -
Phi_teacher(x_T)|^2 / (d sigma_data^2), one point per evaluation, joined in time order (the
error axis is logarithmic and reversed, so time runs left to right), with Phi_teacher's f_mem on
the same latents. Right: the imitation error over distillation steps, both axes logarithmic."""
from __future__ import annotations

import numpy as np
from matplotlib.ticker import NullFormatter

from ..plotting import plt
from .panels import BLUE, RED


def transfer_points(curve: list) -> list:
    """The curve points after step 0 that carry a transfer report."""
    return [p for p in curve or [] if p.get("step", 0) > 0 and p.get("transfer")]


def transfer_figure(metrics, samples, nn, image_shape, threshold):
    pts = transfer_points(metrics.get("student_curve"))
    if len(pts) < 2:
        return None
    step = np.array([p["step"] for p in pts], dtype=float)
    t = [p["transfer"] for p in pts]
    error = np.array([r["imitation_error"] for r in t])
    f_mem = np.array([r["student_f_mem"] for r in t])
    rate = np.array([np.nan if r["transfer"] is None else r["transfer"] for r in t])
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    left.plot(error, f_mem, "o-", ms=3, c=RED, label="student f_mem (1 step)")
    left.plot(error, rate, "s--", ms=3, c=BLUE, label="P(same point | teacher memorized)")
    left.axhline(t[-1]["teacher_f_mem"], ls=":", c="k", lw=1,
                 label="Phi_teacher f_mem (CD grid)")
    for i in (0, len(pts) - 1):
        left.annotate(f"step {int(step[i]):,}", (error[i], f_mem[i]), fontsize=7,
                      textcoords="offset points", xytext=(4, 4))
    left.set_xscale("log")
    left.xaxis.set_minor_formatter(NullFormatter())  # labels on the decades only
    left.invert_xaxis()
    left.set_xlabel("imitation error |f_student - Phi_teacher|^2 / (d sigma_data^2)")
    left.set_ylabel("fraction of latents")
    left.set_ylim(-0.03, 1.05)
    left.grid(alpha=0.3)
    left.legend(fontsize=7)
    right.loglog(step, error, "o-", ms=3, c="k")
    right.set_xlabel("distillation step")
    right.set_ylabel("imitation error")
    right.grid(alpha=0.3, which="both")
    fig.tight_layout()
    return fig
