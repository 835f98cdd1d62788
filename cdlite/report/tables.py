"""The run report of the pipeline recipes: the summary table (terminal and Markdown), report.md,
the figures, and the summary over seeds."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..fileio import write_text
from ..experiments.curves import frontier, frontier_sentence, transfer_sentence, transfer_trend
from ..metrics.scores import SCORES, table_columns
from .format import plus_minus

ROWS = [  # (metrics key, label); reference rows come from metrics["reference"]
    ("teacher", "teacher (Heun)"),
    ("teacher_fewstep", "teacher, 1-step Euler"),
    ("teacher_fewstep_2", "teacher, 2-step Euler"),
    ("student", "CD student, 1 step"),
    ("student_2step", "CD student, 2 steps"),
    ("ct", "CT (no teacher), 1 step"),
    ("fresh_true", "fresh true samples"),
    ("empirical_optimum", "empirical optimum"),
]


def _entry(metrics: dict, key: str):
    if key in ("fresh_true", "empirical_optimum"):
        return metrics.get("reference", {}).get(key)
    return metrics.get(key)


def _fmt(v, digits=3):
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    return f"{v:.{digits}f}" if isinstance(v, float) else str(v)


def table_rows(metrics: dict) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the summary table."""
    chance = (_entry(metrics, "fresh_true") or {}).get("f_mem")
    present = [(k, lab) for k, lab in ROWS if _entry(metrics, k)]
    qkeys = [(q, lab) for q, lab in table_columns()
             if any(q in (_entry(metrics, k) or {}).get("quality", {}) for k, _ in present)]
    header = ["model", "NFE", "f_mem", "95% CI", "chance", "coverage"] + [lab for _, lab in qkeys]
    rows = []
    for k, lab in present:
        e = _entry(metrics, k)
        if k == "fresh_true" and e.get("source") == "held-out data":
            lab = "held-out data"  # images: no generator, held-out data is the chance reference
        ci = e.get("f_mem_ci") or [None, None]
        rows.append([lab, _fmt(e.get("nfe")), _fmt(e["f_mem"]),
                     f"[{_fmt(ci[0])}, {_fmt(ci[1])}]", _fmt(chance), _fmt(e.get("coverage"))]
                    + [_fmt(e.get("quality", {}).get(q)) for q, _ in qkeys])
    return header, rows


def _text_grid(header: list, rows: list) -> str:
    """Left-aligned columns with a dashed rule under the header, for the terminal."""
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    line = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths))  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in rows])


def text_table(metrics: dict) -> str:
    return _text_grid(*table_rows(metrics))


def markdown_table(metrics: dict) -> str:
    header, rows = table_rows(metrics)
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(out + ["| " + " | ".join(r) + " |" for r in rows])


def _change(name: str, a: float, b: float, higher_is_better: bool, fmt: str) -> str:
    """'energy distance 0.119 -> 0.082 (better)': a quality figure and which way it moved."""
    if a is None or b is None:  # not finite in metrics.json
        return f"{name} {_fmt(a)} -> {_fmt(b)}"
    better = (b > a) == higher_is_better
    word = "about the same" if abs(b - a) <= 0.02 * max(abs(a), abs(b), 1e-12) else \
        ("better" if better else "worse")
    return f"{name} {a:{fmt}} -> {b:{fmt}} ({word})"


def _interval(row: dict) -> tuple[float, float]:
    """The 95% interval of a row's f_mem; the point value where the interval is missing."""
    lo, hi = row.get("f_mem_ci") or [None, None]
    f = row["f_mem"]
    return (f if lo is None else lo), (f if hi is None else hi)


def verdict(metrics: dict) -> str:
    """Plain sentences: did the student memorize less, and what happened to quality?"""
    t, s = metrics.get("teacher"), metrics.get("student")
    if not t or not s:
        return "The run stopped before the student was evaluated: no comparison yet."
    chance = (_entry(metrics, "fresh_true") or {}).get("f_mem", float("nan"))
    t_lo, t_hi = _interval(t)
    s_lo, s_hi = _interval(s)
    less, more = s_hi < t_lo, s_lo > t_hi
    word = "less than" if less else ("more than" if more else "about as much as")
    tq, sq = t["quality"], s["quality"]
    q = [_change(SCORES[k].label, tq[k], sq[k], SCORES[k].direction > 0, fmt)
         for k, fmt in (("loglik", ".2f"), ("energy_distance", ".4f")) if k in tq]
    text = (f"The one-step CD student memorized {word} its teacher (f_mem {t['f_mem']:.2f}"
            f" -> {s['f_mem']:.2f}; chance level {_fmt(chance, 2)}); quality, teacher -> "
            "student: "
            + "; ".join(q) + ".")
    if chance is not None and t_hi <= chance + 0.05:
        text += (" Note: the teacher itself did not memorize beyond chance, so there was little "
                 "for the student to inherit; train the teacher longer (teacher.steps) or on "
                 "fewer points (data.n_train).")
    elif chance is not None and s["f_mem"] < chance and (s.get("coverage") or 1.0) < 0.5:
        text += (" Note: the student is below the chance level and its few memorized samples "
                 f"cover {s['coverage']:.0%} of the training points: it has not learned the data "
                 "yet (see its quality), so its low f_mem says little.")
    return text


def summary_text(metrics: dict) -> str:
    """What the terminal shows after a run and in `cdlite show`: the table and the verdict."""
    return text_table(metrics) + "\n\n" + verdict(metrics)


def write_run_report(folder, cfg) -> None:
    """The figures (figures/*.png) and report.md of what the run folder holds."""
    from .figures import make_figures
    m = folder.metrics
    m["frontier"] = {k: frontier(m, k) for k in ("student", "student_2step") if m.get(k)}
    m["figures"] = make_figures(folder.path / "figures", m, folder.samples,
                                m.get("image_shape"), cfg.eval.threshold)
    write_report(folder.path, m, cfg, stopped=folder.stopped)


def write_report(out: Path, m: dict, cfg, stopped: bool = False) -> None:
    figs = m.get("figures", {})
    lines = [f"# cdlite run: {m['recipe']} (seed {m['seed']})", ""]
    done = [s for s in m.get("stages_done", []) if s != "report"]
    if stopped:
        lines += [f"**PARTIAL RUN**: stopped during `{m.get('stage')}`; what follows covers the "
                  f"stages that finished ({', '.join(done) or 'none'}).", ""]
    lines += [m.get("description", ""), "",
              f"Data: `{m.get('dataset')}`, n = {m.get('n_train')} training points, d = "
              f"{m.get('dim')}; teacher {cfg.teacher.steps} Adam steps, CD {cfg.distill.steps} "
              f"steps (N = {cfg.distill.N}, mu = {cfg.distill.mu}, {cfg.distill.solver} teacher "
              f"step); {cfg.eval.n_samples} samples per row. Config: `config.toml`.", "",
              "## Summary", "", verdict(m), "", markdown_table(m), "",
              "f_mem: fraction of samples with |x - a_(1)| / |x - a_(2)| < "
              f"{cfg.eval.threshold:.3g}. chance: f_mem of "
              f"{(m.get('reference', {}).get('fresh_true') or {}).get('source', 'reference data')}"
              " against the same training set. coverage: fraction of training points that are the "
              "nearest neighbour of some memorized sample. The Euler rows are the teacher with the "
              "student's number of network evaluations (NFE).", ""]
    lines += _frontier_lines(m) + _time_lines(m)
    for name, title in (("samples", "Samples"), ("curves", "Memorization over training"),
                        ("frontier", "Memorization against quality"),
                        ("transfer", "Transfer against imitation error"),
                        ("ratios", "Nearest-neighbour ratios")):
        for key, fname in figs.items():
            if key.startswith(name):
                lines += [f"## {title}" if key == name else f"### {key}", "",
                          f"![{key}](figures/{fname})", ""]
    t = m.get("timings_s", {})
    lines += ["## Timings (s)", "", ", ".join(f"{k}: {v:.1f}" for k, v in t.items()), ""]
    write_text(out / "report.md", "\n".join(lines))


def _frontier_lines(m: dict) -> list:
    """The frontier, one sentence per score and student (cdlite.experiments.curves)."""
    found = m.get("frontier") or {}
    lines = []
    for who, title in (("student", "one-step"), ("student_2step", "two-step")):
        lines += [f"- {title} student: " + frontier_sentence(m, key, f)
                  for key, f in (found.get(who) or {}).items()]
    if not lines:
        return []
    return ["## Memorization at matched quality", "",
            "The teacher at the student's quality is read off the teacher's own curve after its "
            "low point (its worst checkpoint on that score), interpolated between checkpoints; "
            "see cdlite/experiments/curves.py.", ""] + lines + [""]


def _time_lines(m: dict) -> list:
    """Over distillation time: the growth law of f_mem (its rule stated, cdlite.metrics.growth)
    and the transfer per latent as the student imitates the teacher better."""
    lines = []
    g = m.get("student_growth")
    if g:
        lines += [g["statement"], ""]
    t = m.get("transfer_teacher")
    if t:
        lines += [f"Transfer per latent: teacher and student are sampled from the same "
                  f"{t['n_latents']} latents x_T = sigma_max z. The teacher (Heun on its full "
                  f"grid) memorizes {t['f_mem']:.2f} of them; Phi_teacher (Heun down the CD "
                  f"grid, the map a perfect student equals) {t['cd_grid_f_mem']:.2f}.", ""]
        for who, title in (("student", "one-step"), ("student_2step", "two-step")):
            r = (m.get(who) or {}).get("transfer")
            if r:
                lines.append(f"- final {title} student: f_mem {r['student_f_mem']:.2f}; "
                             f"P(same point | teacher memorized) {_fmt(r['transfer'], 2)} "
                             f"(of {r['n_teacher_memorized']}); P(memorized | teacher did "
                             f"not) {_fmt(r['mem_if_not'], 2)}; imitation error "
                             f"{r['imitation_error']:.3g}"
                             + ("" if who == "student" else " (its second step draws fresh "
                                "noise, so it is compared with Phi_teacher of its first latent "
                                "only: not a distance from CD's fixed point)"))
        lines += ["", transfer_sentence(transfer_trend(m.get("student_curve") or [])), ""]
    return ["## Over distillation time", ""] + lines if lines else []


def summarize_seeds(runs: list) -> dict:
    """Mean and standard deviation over seeds of f_mem, coverage and the quality figures."""
    out = {"recipe": runs[0]["recipe"], "seeds": [r["seed"] for r in runs], "rows": {}}
    for key, _ in ROWS:
        entries = [_entry(r, key) for r in runs]
        if not all(entries):
            continue
        vals = {"f_mem": [e["f_mem"] for e in entries],
                "coverage": [e["coverage"] for e in entries]}
        for q, _ in table_columns():
            if all(q in e["quality"] and e["quality"][q] is not None for e in entries):
                vals[q] = [e["quality"][q] for e in entries]
        out["rows"][key] = {k: {"mean": float(np.mean(v)), "std": float(np.std(v)), "values": v}
                            for k, v in vals.items()}
        out["rows"][key]["nfe"] = entries[0].get("nfe")
    rows = out["rows"]
    if "teacher" in rows and "student" in rows:
        t, s = rows["teacher"]["f_mem"]["values"], rows["student"]["f_mem"]["values"]
        lower = sum(b < a for a, b in zip(t, s))
        out["conclusion"] = (f"The one-step student's f_mem was below its teacher's in {lower} of "
                             f"{len(t)} seeds (teacher {rows['teacher']['f_mem']['mean']:.2f}, "
                             f"student {rows['student']['f_mem']['mean']:.2f} on average).")
    return out


def seed_table(summary: dict) -> str:
    rows = summary["rows"]
    qs = [(q, lab) for q, lab in table_columns() if any(q in r for r in rows.values())]
    head = ["model", "NFE", "f_mem", "chance", "coverage"] + [lab for _, lab in qs]
    pm = lambda d: plus_minus(d["mean"], d["std"]) if d else "-"  # noqa: E731
    chance = pm(rows.get("fresh_true", {}).get("f_mem"))
    body = [[lab, _fmt(rows[k].get("nfe")), pm(rows[k]["f_mem"]), chance,
             pm(rows[k]["coverage"])]
            + [pm(rows[k].get(q)) for q, _ in qs] for k, lab in ROWS if k in rows]
    return _text_grid(head, body)
