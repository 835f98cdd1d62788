"""The answer of the `distill-time` study (cdlite.sweeps.studies) in numbers: how the student's
f_mem grows per doubling of the distillation steps (cdlite.metrics.growth), whether that curve
bends, and, at each budget and learning-rate schedule, the end value, the transfer per latent
(cdlite.metrics.transfer) and the matched-quality verdict (cdlite.experiments.curves.frontier).

The growth law is read on the longest constant-rate cells: with a constant learning rate a run
of budget B is the first B steps of a longer one, so its curve up to B is the curve of a run of
budget B. Under a decaying schedule every budget is its own run.
"""
from __future__ import annotations

import numpy as np

from ..errors import CdliteError
from ..experiments.curves import transfer_sentence, transfer_trend
from ..metrics.growth import growth
from ..report.format import mean_sd, plus_minus


def _pm(values, digits: int = 2) -> str:
    """Mean ± sd over seeds."""
    return plus_minus(*mean_sd(values), digits=digits, missing="n/a")


def _up_to(curve: list, step: int) -> list:
    return [p for p in curve if p["step"] <= step]


def _decade(curves, b):
    """The growth law over the decade ending at step b, or None when it cannot be fitted."""
    try:
        return growth([_up_to(c, b) for c in curves])
    except CdliteError:
        return None


def distill_time_answer(rows: list, cells: list) -> list:
    budgets = sorted({int(c.cfg.distill.steps) for c, _ in cells})
    schedules = list(dict.fromkeys(c.cfg.distill.lr_schedule for c, _ in cells))
    if not budgets:
        return []
    const = [m for c, m in cells if int(c.cfg.distill.steps) == budgets[-1]
             and c.cfg.distill.lr_schedule == "constant"]
    lines = growth_answer([m["student_curve"] for m in const], budgets) if const else []
    table, ends = budget_table(rows, budgets, schedules)
    lines += [""] + table + [""] + end_values(ends, budgets, schedules)
    lines.append(f"The teacher's own f_mem is {_pm(r['teacher_f_mem'] for r in rows)}, chance "
                 f"{_pm(r['chance'] for r in rows)}.")
    lines += [f"- seed {m['seed']}: " + transfer_sentence(transfer_trend(m["student_curve"]))
              for m in const]
    return lines


def growth_answer(curves: list, budgets: list) -> list:
    """The slope per doubling with its interval over the trailing decade, then the slope over
    the decade ending at each budget: does the curve bend?"""
    top = budgets[-1]
    g = _decade(curves, top)
    if g is None:
        return [f"The growth law could not be fitted on the constant schedule's {top:,}-step "
                "curves (fewer than 3 evaluations in their trailing decade)."]
    lines = [f"Constant learning rate, {top:,} steps, {len(curves)} seed(s): " + g.statement]
    decades = [(b, _decade(curves, b)) for b in budgets]
    lines.append("Does the curve bend? The slope of f_mem per doubling over the decade ending "
                 "at each budget (constant schedule, the same curves): " + "; ".join(
                     f"steps {b // 10:,}-{b:,}: " + (
                         "not fitted" if d is None else
                         f"{d.slope:+.3f} per doubling ({d.level:.0%} interval "
                         f"{d.interval[0]:+.3f} to {d.interval[1]:+.3f})")
                     for b, d in decades) + ".")
    fitted = [(b, d) for b, d in decades if d is not None]
    if len(fitted) < 2:
        return lines
    (b0, first), (_, last) = fitted[0], fitted[-1]
    apart = first.interval[1] < last.interval[0] or last.interval[1] < first.interval[0]
    shape = "steeper" if last.slope > first.slope else "flatter"
    text = (f"From the first decade ({b0 // 10:,}-{b0:,}) to the last ({top // 10:,}-{top:,}) "
            f"the slope goes from {first.slope:+.3f} to {last.slope:+.3f} per doubling: "
            + (f"the intervals do not overlap, so the curve bends: on a log step axis it is "
               f"{shape} in the last decade." if apart else
               "the intervals overlap, so no bend is resolved: f_mem grows like a + b "
               "log2(steps) over the whole range."))
    if len(fitted) >= 3:  # a bend need not be one way
        b, d = max(fitted, key=lambda bd: bd[1].slope)
        text += f" The largest slope, {d.slope:+.3f}, is over the decade ending at {b:,} steps."
    if len(curves) <= 3:
        text += (f" (A bootstrap over {len(curves)} seeds draws few distinct means: read these "
                 "intervals as rough.)")
    return lines + [text]


def budget_table(rows: list, budgets: list, schedules: list) -> tuple[list, dict]:
    """(markdown lines, {(schedule, budget): mean final one-step f_mem}): per budget and
    schedule, the final rows' f_mem, transfer, imitation error and matched-quality verdicts."""
    keys = [c.rsplit("_student_", 1)[1] for c in rows[0]
            if c.startswith("teacher_f_mem_at_student_")] if rows else []
    head = ["budget", "schedule", "seeds", "student f_mem (1 step)", "2 steps",
            "transfer rate", "imitation error", "Phi_teacher f_mem"] + \
        [f"teacher f_mem at the student's {k}" for k in keys] + \
        [f"student below the teacher ({k})" for k in keys]
    lines = ["At each budget (mean ± sd over seeds; the final evaluation; the transfer rate "
             "P(student memorizes the same point | teacher memorized) and the imitation error "
             "on the shared latents against Phi_teacher, the teacher's Heun map on the CD grid; "
             "below: the seeds whose student lies below the teacher's curve at its own "
             "quality, weak: a score that rates the untrained teacher as well):", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    ends = {}
    for b in budgets:
        for sched in schedules:
            rs = [r for r in rows if int(r["distill.steps"]) == b
                  and r["distill.lr_schedule"] == sched]
            if not rs:
                continue
            ends[sched, b] = mean_sd(r["student_f_mem"] for r in rs)[0]
            verdicts = [f"{sum(r.get(f'student_below_teacher_{k}') is True for r in rs)} of "
                        f"{len(rs)}" + (f" (weak {w})" if (w := sum(
                            bool(r.get(f"weak_{k}")) for r in rs)) else "") for k in keys]
            cells = [f"{b:,}", sched, str(len(rs)), _pm(r["student_f_mem"] for r in rs),
                     _pm(r["student_2step_f_mem"] for r in rs),
                     _pm(r["student_transfer"] for r in rs),
                     _pm((r["student_imitation_error"] for r in rs), digits=4),
                     _pm(r["phi_teacher_f_mem"] for r in rs)]
            cells += [_pm(r.get(f"teacher_f_mem_at_student_{k}") for r in rs) for k in keys]
            lines.append("| " + " | ".join(cells + verdicts) + " |")
    return lines, ends


def end_values(ends: dict, budgets: list, schedules: list) -> list:
    """The final one-step f_mem against the budget under each schedule, and cosine minus
    constant at the same budget."""
    lines = []
    for sched in schedules:
        pts = [(b, ends[sched, b]) for b in budgets if (sched, b) in ends]
        if len(pts) >= 2:
            slope = float(np.polyfit(np.log2([b for b, _ in pts]), [v for _, v in pts], 1)[0])
            lines.append(f"End value against budget, {sched} schedule: the final one-step "
                         f"f_mem goes " + " -> ".join(f"{v:.2f} ({b:,})" for b, v in pts)
                         + f", {slope:+.3f} per doubling of the budget.")
        elif pts:
            lines.append(f"End value, {sched} schedule: {pts[0][1]:.2f} at {pts[0][0]:,} steps "
                         "(one budget: no dependence on the budget measured).")
    both = [b for b in budgets if ("constant", b) in ends and ("cosine", b) in ends]
    if both:
        lines.append("Cosine minus constant, final one-step f_mem at the same budget: "
                     + ", ".join(f"{ends['cosine', b] - ends['constant', b]:+.2f} ({b:,})"
                                 for b in both) + ".")
    return lines
