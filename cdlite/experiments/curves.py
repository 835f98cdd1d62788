"""Reading training curves: how the student's f_mem grows over distillation time (the one rule,
cdlite.metrics.growth), how its transfer per latent moves as it imitates the teacher better, and
what did the teacher memorize when its samples were as good as the student's (the
memorization-quality frontier)?

A curve is the list of evaluation points a run keeps (metrics["teacher_curve"],
metrics["student_curve"]): {"step", "f_mem", "f_mem_ci", "coverage", "quality": {...}}.

Scores. A run is judged on the quality scores its data allows (the frontier scores of
cdlite.metrics.scores): for Gaussian mixtures
the log-likelihood under the true density (it rewards sitting on the modes, so a memorizer
scores well) and the energy distance to held-out data (it rewards matching the distribution);
for 2-D shapes the energy distance; for images the Frechet distance in classifier features.

The teacher "at the student's quality". Quality curves are not monotone in training time: the
untrained teacher samples a Gaussian blob, which some scores already rate well (in 2-D the energy
distance of the blob can beat the trained teacher's). So the match is defined on the part of the
teacher's curve after its low point (its worst checkpoint on that score): the first checkpoint
interval after the low point where the teacher reaches the student's score, interpolated linearly
in the score; f_mem there is the teacher's f_mem at the student's quality. When the teacher never
gets as good after its low point, the student is better than any teacher checkpoint on that
score; when it is better already at the low point, every later checkpoint beats the student. A
score that rates the untrained teacher's blob at least as well as the student cannot tell a blob
from the data at this scale: such a comparison is flagged as weak.
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import CdliteError
from ..metrics.growth import growth
from ..metrics.scores import SCORES, frontier_keys


def scores_of(metrics: dict) -> list[str]:
    """The frontier's scores for this run: those its final rows report, in registry order."""
    return scores_of_point(metrics.get("teacher") or (metrics.get("teacher_curve") or [{}])[-1])


def scores_of_point(row: dict) -> list[str]:
    """The frontier's scores that one row (or curve point) reports, in registry order."""
    return frontier_keys(set(row.get("quality") or {}))


def score(point: dict, key: str):
    v = (point.get("quality") or {}).get(key)
    return None if v is None or not math.isfinite(v) else float(v)


# --- how f_mem grows over distillation time (the one rule: cdlite.metrics.growth) -------------

def student_growth(curve: list) -> dict:
    """The growth law of a student curve's f_mem (1 step) over the trailing decade, with its
    interval over samples, and the convergence rule (Growth.to_dict()). A curve too short to fit
    gets converged None and a statement that says why."""
    try:
        return growth(curve).to_dict()
    except CdliteError as e:
        return {"converged": None, "statement": f"The growth law of f_mem was not fitted: {e}."}


def transfer_trend(curve: list) -> dict | None:
    """How the student's transfer numbers move over distillation time: the first and the last
    curve point after step 0 with a transfer report (imitation error, the student's and
    Phi_teacher's f_mem on the shared latents, the transfer rate), the rank correlation over
    the points between the imitation error and the student's gap to the teacher, and the noise
    a change of the gap must exceed (the last f_mem's 95% interval width, at least 0.02)."""
    pts = [p for p in curve if p.get("step", 0) > 0 and p.get("transfer")]
    if len(pts) < 2:
        return None
    error = np.array([p["transfer"]["imitation_error"] for p in pts])
    gap = np.array([p["transfer"]["teacher_f_mem"] - p["transfer"]["student_f_mem"]
                    for p in pts])

    def at(p):
        t = p["transfer"]
        return {"step": p["step"], "imitation_error": t["imitation_error"],
                "student_f_mem": t["student_f_mem"], "teacher_f_mem": t["teacher_f_mem"],
                "gap": t["teacher_f_mem"] - t["student_f_mem"], "transfer": t["transfer"]}
    ranks = [np.argsort(np.argsort(v)) for v in (error, gap)]
    rho = float(np.corrcoef(*ranks)[0, 1]) if np.ptp(error) > 0 and np.ptp(gap) > 0 else 0.0
    lo, hi = pts[-1]["transfer"]["student_f_mem_ci"]
    return {"first": at(pts[0]), "last": at(pts[-1]), "n_points": len(pts),
            "rank_correlation": rho, "noise": max(0.02, hi - lo)}


def transfer_sentence(trend: dict | None) -> str:
    """One sentence answering: as the imitation error falls, does the student's f_mem approach
    the teacher's? (numbers from transfer_trend)"""
    if trend is None:
        return ("As the imitation error falls, does the student's f_mem approach the teacher's? "
                "This run has fewer than 2 curve points with transfer numbers: no answer.")
    a, b = trend["first"], trend["last"]
    fell = b["imitation_error"] < a["imitation_error"]
    closer = a["gap"] - b["gap"] > trend["noise"]
    answer = ("yes" if fell and closer else
              f"no: the gap did not narrow by more than {trend['noise']:.2f} (the width of "
              f"the last f_mem's 95% interval)" if fell else
              "the imitation error did not fall, so the question is not tested here")
    return (f"As the imitation error falls, does the student's f_mem approach the teacher's? "
            f"{answer[0].upper() + answer[1:]}: from step {a['step']:,} to {b['step']:,} the "
            f"imitation error went from {a['imitation_error']:.3g} to {b['imitation_error']:.3g} "
            f"while the one-step student's f_mem on the shared latents went from "
            f"{a['student_f_mem']:.2f} to {b['student_f_mem']:.2f} against the teacher's "
            f"{b['teacher_f_mem']:.2f} (Heun on the CD grid), a gap of {a['gap']:+.2f} then "
            f"{b['gap']:+.2f} (rank correlation of the error and the gap over "
            f"{trend['n_points']} points: {trend['rank_correlation']:+.2f}).")


# --- the frontier ------------------------------------------------------------------------------

def teacher_at_quality(teacher_curve: list, target: float, key: str) -> dict:
    """The teacher's f_mem when its score first reaches `target` after its low point (see the
    module docstring); `where` says whether there was such a crossing."""
    sign = SCORES[key].direction
    pts = [(p["step"], score(p, key), p["f_mem"]) for p in teacher_curve]
    pts = [(s, sign * q, f) for s, q, f in pts if q is not None]
    if not pts:
        return {"where": "no score"}
    goal = sign * target
    low = int(np.argmin([q for _, q, _ in pts]))
    out = {"low_point_step": pts[low][0]}
    if pts[low][1] >= goal:
        return {**out, "where": "better at its low point", "step": pts[low][0],
                "f_mem": pts[low][2]}
    for (s0, q0, f0), (s1, q1, f1) in zip(pts[low:], pts[low + 1:]):
        if q1 >= goal:
            w = (goal - q0) / (q1 - q0)
            return {**out, "where": "crossing", "step": s0 + w * (s1 - s0),
                    "f_mem": f0 + w * (f1 - f0)}
    best = low + int(np.argmax([q for _, q, _ in pts[low:]]))
    return {**out, "where": "never as good", "step": pts[best][0], "f_mem": pts[best][2],
            "best_score": sign * pts[best][1]}


def checkpoints_near(teacher_curve: list, target: float, key: str, rel: float = 0.05) -> list:
    """f_mem of every teacher checkpoint whose score is within rel x |target| of the target."""
    return [p["f_mem"] for p in teacher_curve
            if score(p, key) is not None and abs(score(p, key) - target) <= rel * abs(target)]


def frontier(metrics: dict, student_key: str = "student") -> dict:
    """For each score: the student's final score and f_mem, the teacher's f_mem at that score
    (and its checkpoints near it), whether the student lies below the teacher's curve, and
    whether the score tells the untrained teacher's blob from the data."""
    t_curve, s = metrics.get("teacher_curve") or [], metrics.get(student_key)
    if not t_curve or not s:
        return {}
    out = {}
    for key in scores_of(metrics):
        q_s = score(s, key)
        if q_s is None:
            continue
        sign = SCORES[key].direction
        match = teacher_at_quality(t_curve, q_s, key)
        blob = score(t_curve[0], key)
        out[key] = {"student_score": q_s, "student_f_mem": s["f_mem"],
                    "student_f_mem_ci": s.get("f_mem_ci"), "teacher": match,
                    "teacher_near": checkpoints_near(t_curve, q_s, key),
                    "below_teacher": _below(s, match),
                    "blob_score": blob,
                    "weak": bool(blob is not None and sign * blob >= sign * q_s)}
    return out


def _below(s: dict, match: dict):
    """Does the student lie below the teacher's curve (its whole 95% interval under the
    teacher's f_mem)? None when the comparison says nothing: a student of worse quality than
    every teacher checkpoint after the low point, with less f_mem, may just be blurrier."""
    if "f_mem" not in match:
        return None
    lo, hi = s.get("f_mem_ci") or [s["f_mem"]] * 2
    if match["where"] == "better at its low point":
        return False if lo > match["f_mem"] else None
    return bool(hi < match["f_mem"])


def frontier_sentence(metrics: dict, key: str, f: dict) -> str:
    """One sentence with numbers: the student's quality, the teacher's f_mem there, the verdict."""
    label = SCORES[key].label
    t = f["teacher"]
    where = {"crossing": f"the teacher reached it at step {t.get('step', 0):.0f} of its "
                         f"training, with f_mem {t.get('f_mem', math.nan):.2f}",
             "better at its low point": "every teacher checkpoint after its low point (step "
                                        f"{t.get('step')}) is better (f_mem there "
                                        f"{t.get('f_mem', math.nan):.2f})",
             "never as good": "the teacher never got as good after its low point (its best, "
                              f"{t.get('best_score', math.nan):.3g} at step {t.get('step')}, "
                              f"had f_mem {t.get('f_mem', math.nan):.2f})"}.get(
        t.get("where"), "the teacher's curve has no such score")
    verdict = {True: "the student lies below the teacher's curve",
               False: "the student does not lie below the teacher's curve",
               None: "no matched comparison (the student's quality is worse than the "
                     "teacher's everywhere after its low point, so its lower f_mem may only "
                     "mean blurrier samples)"}[f["below_teacher"]]
    text = (f"At the student's final {label} ({f['student_score']:.3g}, f_mem "
            f"{f['student_f_mem']:.2f}), {where}: {verdict}.")
    if f["weak"]:
        text += (f" Weak comparison: this score rates the untrained teacher's Gaussian blob "
                 f"({f['blob_score']:.3g}) at least as well as the student, so it cannot tell a "
                 "blob from the data here.")
    return text
