"""The shipped studies (`cdlite sweep NAME`): sweeps that each answer one question in numbers,
and `finish`, which writes any sweep's table, figures and report.

    distill-time    How fast does the student's f_mem grow per doubling of the distillation
                    steps, how much does it copy per latent, and is it below the teacher at
                    matched quality at every budget? (toy, 3 seeds, log-spaced evaluations
                    to 131,072 steps, constant and cosine learning rates)
    phase-diagram   How does the time a teacher needs to memorize grow with n, and what does
                    the student keep? (n = 8..128, 3 seeds)
    capacity        Does a smaller one-step student memorize less? (student width x depth)
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import CdliteError
from ..fileio import save_figure, write_text
from ..metrics.growth import growth
from .distill_time import distill_time_answer
from .sweep import SweepSpec
from .figures import FIGURES
from ..report.format import mean_sd, plus_minus
from .table import by_setting, cell_metrics, row, summary_table, write_table


@dataclass(frozen=True)
class Study:
    name: str
    question: str
    spec: SweepSpec
    quick_spec: SweepSpec
    answer: Callable[[list, list], list]   # (rows, cells) -> lines of report.md


def _pm(values) -> str:
    """Mean ± sd over seeds, two digits, in the answers' sentences."""
    return plus_minus(*mean_sd(values), digits=2, missing="n/a")


def phase_answer(rows: list, cells: list) -> list:
    lines = []
    for level in ("0.5", "0.9"):
        col = f"teacher_steps_to_f_mem_{level}"
        ok = [(r["n_train"], r[col]) for r in rows if r.get(col)]
        censored = len(rows) - len(ok)
        if len({n for n, _ in ok}) >= 2:
            n, t = np.log(np.array(ok, dtype=float)).T
            slope, _ = np.polyfit(n, t, 1)
            lines.append(f"Teacher training steps to reach f_mem {level}: log-log slope "
                         f"{slope:.2f} against n over {len(ok)} cells ({censored} never reached "
                         "it within the budget, left out).")
        else:
            lines.append(f"Too few cells reached f_mem {level} to fit a slope ({censored} of "
                         f"{len(rows)} never did).")
    for n, group in by_setting(rows, ["n_train"]).items():
        steps = [r["teacher_steps_to_f_mem_0.5"] for r in group]
        lines.append(f"- n = {n[0]}: teacher f_mem {_pm(r['teacher_f_mem'] for r in group)}, "
                     f"steps to f_mem 0.5: "
                     + ", ".join("never" if s is None else f"{s:.0f}" for s in steps)
                     + f"; student {_pm(r['student_f_mem'] for r in group)}, chance "
                     f"{_pm(r['chance'] for r in group)}")
    return lines


def capacity_answer(rows: list, cells: list) -> list:
    keys = ["distill.student_width", "distill.student_depth"]
    groups = by_setting(rows, keys)
    lines = ["One-step student f_mem by size (from scratch, mean ± sd over seeds): "
             + "; ".join(f"{w}x{d}: {_pm(r['student_f_mem'] for r in g)}"
                         for (w, d), g in groups.items()) + "."]
    sizes = sorted(groups, key=lambda k: (int(k[0]) * int(k[1])))
    small, big = groups[sizes[0]], groups[sizes[-1]]
    ds = mean_sd(r["student_f_mem"] for r in big)[0] - mean_sd(r["student_f_mem"]
                                                               for r in small)[0]
    lines.append(f"From the smallest ({sizes[0][0]}x{sizes[0][1]}) to the largest student "
                 f"({sizes[-1][0]}x{sizes[-1][1]}) f_mem changes by {ds:+.2f}; the teacher has "
                 f"{_pm(r['teacher_f_mem'] for r in rows)}.")
    key = next((c.rsplit("_student_", 1)[1] for c in rows[0]
                if c.startswith("teacher_f_mem_at_student_")), None)
    if key:  # quality decides: a student as blurry as the early teacher says little
        lines.append(f"The teacher's f_mem at each student's {key} (the same quality on its "
                     "own curve): " + "; ".join(
                         f"{w}x{d}: {_pm(r.get(f'teacher_f_mem_at_student_{key}') for r in g)}"
                         for (w, d), g in groups.items()) + ".")
    return lines


TOY = "toy-gaussians"
STUDIES = {s.name: s for s in (
    Study("distill-time", "How does the student's f_mem grow with distillation time (per "
          "doubling of the steps), how much of the teacher's memorization does it copy per "
          "latent, and does it stay below the teacher at matched quality at every budget?",
          # the longest cells first: with 2 workers they set the wall time
          SweepSpec(TOY, grid=(("distill.steps", (131072, 16384, 2048)),
                               ("distill.lr_schedule", ("constant", "cosine"))),
                    sets=(("distill.eval_schedule", "log"),), seeds=(0, 1, 2),
                    study="distill-time"),
          SweepSpec(TOY, grid=(("distill.steps", (256,)),
                               ("distill.lr_schedule", ("constant", "cosine"))),
                    sets=(("distill.eval_schedule", "log"),), seeds=(0, 1), quick=True,
                    study="distill-time"),
          distill_time_answer),
    Study("phase-diagram", "How does the teacher's time to memorize grow with n, and what "
          "does the student keep?",
          SweepSpec(TOY, grid=(("data.n_train", (8, 16, 32, 64, 128)),),
                    sets=(("teacher.steps", 16000), ("teacher.eval_every", 1000),
                          ("eval.n_curve", 500)), seeds=(0, 1, 2), study="phase-diagram"),
          SweepSpec(TOY, grid=(("data.n_train", (8, 16)),), sets=(("teacher.steps", 300),
                                                                 ("teacher.eval_every", 100)),
                    seeds=(0,), quick=True, study="phase-diagram"),
          phase_answer),
    Study("capacity", "Does a smaller one-step student (a smoother map) memorize less?",
          SweepSpec(TOY, grid=(("distill.student_width", (32, 64, 128, 256)),
                               ("distill.student_depth", (1, 3))),
                    sets=(("distill.init", "scratch"), ("distill.steps", 4000),
                          ("distill.eval_every", 500)), seeds=(0, 1), study="capacity"),
          SweepSpec(TOY, grid=(("distill.student_width", (16, 32)),
                               ("distill.student_depth", (1,))),
                    sets=(("distill.init", "scratch"),), seeds=(0,), quick=True,
                    study="capacity"),
          capacity_answer),
)}


def finish(out: Path, ledger) -> None:
    """sweep.csv, the rows in sweep.json, the figures and report.md of a sweep folder."""
    cells = cell_metrics(out, ledger)
    rows = [row(c, m, ledger.state[c.folder]["seconds"]) for c, m in cells]
    ledger.rows = rows
    ledger.save()
    if rows:
        write_table(out, rows)
    figures = {}
    for name, draw in FIGURES.items():
        fig = draw(cells) if cells else None
        if fig is not None:
            figures[name] = save_figure(fig, out / "figures" / f"{name}.png")
    write_text(out / "report.md", report_text(out, ledger, rows, cells, figures))


def growth_lines(cells) -> list:
    """Per grid setting, the growth law of the student's f_mem fitted over its seeds' curves
    (cdlite.metrics.growth: the interval resamples the seeds; one seed, its samples)."""
    groups: dict = {}
    for c, m in cells:
        if m.get("student_curve"):
            groups.setdefault(tuple(c.settings.items()), []).append(m["student_curve"])
    lines = []
    for setting, curves in groups.items():
        label = ", ".join(f"{k}={v}" for k, v in setting) or "all cells"
        try:
            lines.append(f"- {label}: " + growth(curves).statement)
        except CdliteError as e:
            lines.append(f"- {label}: the growth law was not fitted: {e}")
    return ["## Growth of the student's f_mem over distillation time", ""] + lines + [""] \
        if lines else []


def report_text(out: Path, ledger, rows, cells, figures) -> str:
    spec = ledger.spec
    counts = ledger.counts()
    study = STUDIES.get(spec.study)
    keys = [k for k, _ in spec.grid]
    lines = [f"# cdlite sweep: {spec.study or spec.recipe}", ""]
    if study:
        lines += [f"**{study.question}**", ""]
    lines += [f"Recipe `{spec.recipe}`{' (--quick)' if spec.quick else ''}, settings "
              f"{dict(spec.sets) or '-'}, grid {dict(spec.grid) or '-'}, seeds "
              f"{list(spec.seeds)}: {counts['done']} cells done, {counts['failed']} failed, "
              f"{counts['pending']} pending (rerun the same command to continue).", ""]
    failed = [(c, s) for c, s in ledger.state.items() if s["status"] == "failed"]
    lines += [f"- failed: {c}: {s['error']}" for c, s in failed] + ([""] if failed else [])
    if rows:
        lines += ["## Results", "", summary_table(rows, keys), ""]
        lines += growth_lines(cells)
    if study and rows:
        lines += ["## Answer", ""] + study.answer(rows, cells) + [""]
    lines += [f"![{name}](figures/{fname})" for name, fname in figures.items()]
    return "\n".join(lines) + "\n"
