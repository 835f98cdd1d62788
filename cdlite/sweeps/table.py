"""What a sweep shows across its cells: one row per finished cell (sweep.csv, sweep.json),
the figures across them and the report (the shipped studies add their answers).

    phase_diagram.png   teacher f_mem over the first grid key x training time, and the final
                        f_mem of teacher and student per grid value (mean and spread over seeds)
    distillation.png    the student's f_mem over distillation time (log step axis), per setting
    frontier.png        memorization against quality for every cell (cdlite.experiments.curves)
    transfer.png        the student's f_mem and transfer rate against its imitation error over
                        distillation time, per setting (cdlite.metrics.transfer)
"""
from __future__ import annotations

import csv
import io
from pathlib import Path


from ..fileio import write_text
from ..runs.folder import read_json
from ..report.format import mean_sd, plus_minus
from ..experiments.curves import frontier, score, scores_of
from ..experiments.schema import SWEEP_MODELS


def cell_metrics(out: Path, ledger) -> list[tuple]:
    """(cell, metrics) of every finished cell, in grid order."""
    done = [c for c in ledger.cells if ledger.state[c.folder]["status"] == "done"]
    return [(c, read_json(out / c.folder / "metrics.json", "cell's metrics.json"))
            for c in done]


def time_to(curve: list, level: float):
    """The first training step at which f_mem reaches `level`, interpolated; None if never."""
    for a, b in zip(curve, curve[1:]):
        if b["f_mem"] >= level > a["f_mem"]:
            w = (level - a["f_mem"]) / (b["f_mem"] - a["f_mem"])
            return a["step"] + w * (b["step"] - a["step"])
    return 0.0 if curve and curve[0]["f_mem"] >= level else None


def row(cell, m: dict, seconds) -> dict:
    """One row of sweep.csv: the cell's settings and its headline numbers (its columns are
    declared in cdlite.experiments.schema.SWEEP_CSV, in this order)."""
    r = {"folder": cell.folder, **cell.settings, "seed": cell.seed, "n_train": m.get("n_train"),
         "chance": (m.get("reference", {}).get("fresh_true") or {}).get("f_mem")}
    for name in SWEEP_MODELS:
        e = m.get(name) or {}
        r[f"{name}_f_mem"] = e.get("f_mem")
        r[f"{name}_coverage"] = e.get("coverage")
        for key in scores_of(m):
            r[f"{name}_{key}"] = score(e, key) if e else None
    t_curve = m.get("teacher_curve") or []
    r["teacher_steps_to_f_mem_0.5"] = time_to(t_curve, 0.5)
    r["teacher_steps_to_f_mem_0.9"] = time_to(t_curve, 0.9)
    r["distill_steps"] = (m.get("student_curve") or [{}])[-1].get("step")
    growth = m.get("student_growth") or {}
    r["student_growth"] = growth.get("slope")
    r["student_converged"] = growth.get("converged")
    transfer = (m.get("student") or {}).get("transfer") or {}
    r["phi_teacher_f_mem"] = transfer.get("teacher_f_mem")
    r["student_transfer"] = transfer.get("transfer")
    r["student_imitation_error"] = transfer.get("imitation_error")
    for key, f in frontier(m).items():
        r[f"teacher_f_mem_at_student_{key}"] = f["teacher"].get("f_mem")
        r[f"student_below_teacher_{key}"] = f["below_teacher"]
        r[f"weak_{key}"] = f["weak"]  # the score rates the untrained blob as well as the student
    r["seconds"] = seconds
    return r


def write_table(out: Path, rows: list[dict]) -> None:
    """sweep.csv: the union of the rows' columns, in first-seen order."""
    columns = list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, columns, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: ("" if v is None else v) for k, v in r.items()})
    write_text(out / "sweep.csv", buf.getvalue())


def by_setting(rows: list[dict], keys: list[str]) -> dict:
    """Rows grouped by their grid values (seeds together), in grid order."""
    groups: dict = {}
    for r in rows:
        groups.setdefault(tuple(r.get(k) for k in keys), []).append(r)
    return groups


def summary_table(rows: list[dict], keys: list[str]) -> str:
    """Markdown: per grid setting, mean ± sd over seeds of the headline numbers."""
    cols = [("teacher_f_mem", "teacher f_mem"), ("student_f_mem", "student f_mem (1 step)"),
            ("student_2step_f_mem", "2 steps"), ("chance", "chance")]
    score_cols = [c for c in rows[0] if c.startswith("teacher_f_mem_at_student_")] if rows \
        else []
    cols += [(c, "teacher f_mem at the student's " + c.rsplit("_student_", 1)[1])
             for c in score_cols]
    lines = ["| " + " | ".join(keys + ["seeds"] + [lab for _, lab in cols]) + " |",
             "|" + "---|" * (len(keys) + 1 + len(cols))]
    for setting, group in by_setting(rows, keys).items():
        cells = [plus_minus(*mean_sd(r.get(c) for r in group)) for c, _ in cols]
        lines.append("| " + " | ".join([str(v) for v in setting] + [str(len(group))] + cells)
                     + " |")
    return "\n".join(lines)
