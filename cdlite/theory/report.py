"""report.md and the terminal table of the rf-theory recipe: the metrics dict (summary.py) in,
text out.

Every sentence of the report is written from the measured numbers of the run; nothing in it is
prewritten. Both read a metrics dict back from JSON as well (keys as strings, None where a value
was nan or inf).
"""
from __future__ import annotations

import math

import numpy as np

from .model import ou_coeffs
from .stats import ci_contains


def num(x) -> float:
    """A float from a metrics value (None, as JSON writes nan, becomes nan)."""
    return math.nan if x is None else float(x)


def fmt(x, spec: str = ".3g") -> str:
    """x formatted, 'n/a' for None / nan / inf."""
    x = num(x)
    return format(x, spec) if math.isfinite(x) else "n/a"


def interval(s: dict, spec: str = ".2f") -> str:
    """'slope [lo, hi]' of an over_draws summary."""
    lo, hi = s["slope_ci"]
    return f"{fmt(s['slope'], spec)} [{fmt(lo, spec)}, {fmt(hi, spec)}]"


# --- the terminal table ------------------------------------------------------------------------

def _pm(s: dict, k: str) -> str:
    """'mean +- sd' of an over_draws summary at n = k."""
    return f"{fmt(s['mean'][k], '.4g')} +- {fmt(s['sd'][k], '.2g')}"


def terminal_table(metrics: dict) -> str:
    """The lines `cdlite run rf-theory` and `cdlite show` print: tau_gen and tau_mem per n
    (mean +/- spread over draws), the slopes with their intervals, the finite-size slopes and
    the CD window per n. Works on the dict run_rf_theory returns and on metrics.json."""
    m = metrics
    gen, mem = m["tau_gen"], m["tau_mem"]
    frac = m["setting"]["gap_fraction"]
    head = f"tau_mem ({frac} of final gap)"
    lines = [f"{'n':>6}  {'tau_gen':<18}  {head:<28}  mem-bulk clock"]
    for n in gen["ns"]:
        k = str(n)
        lines.append(f"{n:>6}  {_pm(gen, k):<18}  {_pm(mem, k):<28}  "
                     f"{fmt(m['clock_mem']['mean'][k], '.4g')}")
    level = int(round(100 * mem["ci_level"]))
    lines.append(f"slopes against n ({level}% bootstrap over {m['setting']['draws']} draws): "
                 f"tau_mem {interval(mem)} (theory 1), tau_gen {interval(gen)} (theory 0), "
                 f"mem-bulk clock {interval(m['clock_mem'])}")
    lines.append("tau_mem slope by gap fraction: " + ", ".join(
        f"{f}: {interval(s)}" for f, s in m["tau_mem_by_fraction"].items()))
    if m.get("finite_size"):
        fs = m["finite_size"]
        lines.append(f"finite size (n/p = {', '.join(fmt(x) for x in fs['n_over_p'])}), tau_mem "
                     "slope per p: " + ", ".join(
                         f"{p}: {fmt(v['slopes'][str(frac)]['mean'], '.2f')}"
                         for p, v in fs["by_p"].items()))
    if m.get("cd"):
        lines.append("CD window (gen kept, mem not yet leaked) per n: " + ", ".join(
            f"{n}: [{fmt(v['tau_keep'])}, {fmt(v['tau_leak'])}]"
            for n, v in m["cd"]["by_n"].items()))
    return "\n".join(lines)


# --- report.md ---------------------------------------------------------------------------------

def _table_head(*names) -> str:
    """The first two lines of a Markdown table."""
    return "| " + " | ".join(names) + " |\n|" + "---|" * len(names)


def _yes(flag) -> str:
    return {True: "inside", False: "outside", None: "n/a"}[flag]


def _spread(values) -> float:
    """max - min of the finite values (nan when fewer than two)."""
    v = np.array([num(x) for x in values], dtype=float)
    v = v[np.isfinite(v)]
    return float(v.max() - v.min()) if len(v) > 1 else math.nan


def _header(m) -> str:
    s = m["setting"]
    return f"""# rf-theory

Random-feature score model of Bonnaire et al. (arXiv 2505.17638),
s_A(x) = (A/sqrt(p)) tanh(W x/sqrt(d)), at d = {s['d']}, p = {s['p']}, t = {s['t']}, Gaussian data
N(0, I_d), n in {s['ns']}: {s['draws']} draws per n (training sets nested within a draw; W
{'redrawn for every draw' if s['redraw_features'] else 'the same for all draws'}). U and V are
Monte-Carlo estimates with {s['mc_samples']} samples; losses are evaluated on samples not used for
fitting.

Time unit: {m['time_unit']}. Step-size rule: {m['step_size_rule']}. {m['paper_time']}.

tau_gen = the time of the smallest score error (1/d) E|s_A - s*|^2 (s* = -x for this data);
tau_mem = the first time the generalisation gap (test - train denoising loss) reaches
{s['gap_fraction']} of its tau -> inf value. The bulk clocks are the medians of
psi_p / (2 Delta_t lambda) over the modes of each bulk of the spectrum (the theory's
timescales). Values are mean +- standard deviation over the draws.
"""


def _timescale_section(m) -> str:
    gen, mem = m["tau_gen"], m["tau_mem"]
    rows = []
    for n in gen["ns"]:
        k = str(n)
        share = [num(x) for x in m["gap_share_top_n"][k]]
        rows.append(
            f"| {n} | {fmt(gen['mean'][k], '.4g')} +- {fmt(gen['sd'][k], '.2g')} "
            f"| {fmt(mem['mean'][k], '.4g')} +- {fmt(mem['sd'][k], '.2g')} "
            f"| {fmt(m['clock_gen']['mean'][k], '.3g')} | {fmt(m['clock_mem']['mean'][k], '.3g')} "
            f"| {fmt(m['gap_inf']['mean'][k], '.3g')} +- {fmt(m['gap_inf']['sd'][k], '.2g')} "
            f"| {fmt(100 * np.nanmean(share), '.2g')}% "
            f"| {fmt(m['score_error_min']['mean'][k], '.3g')} |")
    level = int(round(100 * mem["ci_level"]))
    cm, cg = m["clock_mem"], m["clock_gen"]
    fr = ", ".join(f"{f} of the final gap: {interval(s)} (1 {_yes(ci_contains(s, 1.0))})"
                   for f, s in m["tau_mem_by_fraction"].items())
    return f"""## tau_gen and tau_mem against n

{_table_head("n", "tau_gen", "tau_mem", "gen-bulk clock", "mem-bulk clock", "gap at tau = inf",
             "share of that gap in the n largest modes", "min score error")}
{chr(10).join(rows)}

Log-log slopes against n, with {level}% bootstrap intervals over the draws:
- tau_mem: **{interval(mem)}**; 1 is {_yes(ci_contains(mem, 1.0))} the interval. Per draw:
  {', '.join(fmt(x, '.2f') for x in mem['slope_per_draw'])}. Between neighbouring n:
  {', '.join(fmt(x, '.2f') for x in mem['local_slopes'])}.
- tau_mem by criterion: {fr}.
- tau_gen: **{interval(gen)}**; 0 is {_yes(ci_contains(gen, 0.0))} the interval.
- memorisation-bulk clock: {interval(cm)} (1 {_yes(ci_contains(cm, 1.0))});
  generalisation-bulk clock: {interval(cg)} (0 {_yes(ci_contains(cg, 0.0))}).

![tau vs n](figures/tau_vs_n.png)
"""


def _sensitivity_section(m) -> str:
    """Which of the checks moves the slope of tau_mem, ranked by the measured range."""
    frac = str(m["setting"]["gap_fraction"])
    mem = m["tau_mem"]
    moves = {"the gap criterion (fractions " + ", ".join(m["tau_mem_by_fraction"]) + ")":
             _spread([s["slope"] for s in m["tau_mem_by_fraction"].values()]),
             "the draws (per-draw slopes)": _spread(mem["slope_per_draw"]),
             "the range of n / p (slopes between neighbouring n)": _spread(mem["local_slopes"])}
    lines = []
    fs = m.get("finite_size")
    if fs:
        lines += _finite_size_lines(m, fs, frac)
        slopes = {int(p): num(v["slopes"][frac]["mean"]) for p, v in fs["by_p"].items()}
        main_p = m["setting"]["p"]
        # what moves the slope at and above the main size, where the recipe's numbers live
        upper = [v for p, v in slopes.items() if p >= main_p]
        moves[f"p at fixed n / p and p / d, from p = {main_p} up (all p: range "
              f"{fmt(_spread(slopes.values()), '.2f')})"] = _spread(upper)
    mc = m.get("mc_check")
    if mc and len(mc["by_n"]) == 2:
        n0, n1 = mc["by_n"]
        moves[f"twice the Monte-Carlo samples (slope from n = {n0} to {n1})"] = _mc_shift(mc)
    ranked = sorted(moves.items(), key=lambda kv: -kv[1] if math.isfinite(kv[1]) else 0.0)
    lines += ["", "Ranked by how far each moves the slope of tau_mem (range of the slopes): "
              + "; ".join(f"{name}: {fmt(v, '.2f')}" for name, v in ranked) + "."]
    if mc:
        lines.append(f"Monte-Carlo check (draw 0, {mc['mc_samples'][0]} -> {mc['mc_samples'][1]} "
                     "samples): " + "; ".join(
                         f"n = {n}: gap at tau = inf {_change(v['gap_inf'])}, tau_mem "
                         f"{_change(v['tau_mem'])}, tau_gen {_change(v['tau_gen'])}"
                         for n, v in mc["by_n"].items()) + ".")
    return "## Is the slope real?\n\n" + "\n".join(lines) + "\n"


def _finite_size_lines(m, fs, frac: str) -> list[str]:
    """The finite-size table: slopes against n at the same n / p and p / d, per p."""
    by_p = fs["by_p"]
    ps = sorted(by_p, key=int)
    keys = [*m["tau_mem_by_fraction"], "clock_mem", "tau_gen"]
    rows = [f"| {p} | {by_p[p]['d']} | {by_p[p]['ns']} | {by_p[p]['draws']} | "
            + " | ".join(fmt(by_p[p]["slopes"][k]["mean"], ".2f") for k in keys) + " |"
            for p in ps]
    head = [f"tau_mem {k}" for k in m["tau_mem_by_fraction"]]
    lines = [f"Finite size: the same n / p = {', '.join(fmt(x) for x in fs['n_over_p'])} and "
             "p / d at every p; slopes against n, mean over the draws:", "",
             _table_head("p", "d", "n", "draws", *head, "mem-bulk clock", "tau_gen"), *rows, ""]
    if len(ps) > 1:
        a, b = (num(by_p[p]["slopes"][frac]["mean"]) for p in ps[-2:])
        lines.append(f"From p = {ps[-2]} to p = {ps[-1]} the slope at {frac} moves by "
                     f"{fmt(b - a, '+.2f')}.")
    return lines


def _mc_shift(mc) -> float:
    """|change of the slope of tau_mem between the two ends of ns| when the Monte-Carlo samples
    double (draw 0)."""
    (n0, a), (n1, b) = ((int(n), [num(x) for x in v["tau_mem"]]) for n, v in mc["by_n"].items())
    with np.errstate(all="ignore"):
        return abs(float((np.log(b[1] / b[0]) - np.log(a[1] / a[0])) / np.log(n1 / n0)))


def _change(pair) -> str:
    a, b = num(pair[0]), num(pair[1])
    return f"{fmt(100 * (b - a) / abs(a), '+.1f')}%" if a else "n/a"


def _spectrum_section(m) -> str:
    """Where the gap at tau = inf lives, and the spike bulk against its prediction."""
    rows = "\n".join(
        f"| {n} | {fmt(s['mem_edges_emp'][0])} / {fmt(s['mem_edges_pred'][0])} "
        f"| {fmt(s['mem_edges_emp'][1])} / {fmt(s['mem_edges_pred'][1])} "
        f"| {' / '.join(fmt(x) for x in s['spike_quantiles'])} "
        f"| {fmt(s['spike_edges_pred'][0])} .. {fmt(s['spike_edges_pred'][1])} |"
        for n, s in m["spectrum"].items())
    shares = [num(x) for v in m["gap_share_top_n"].values() for x in v]
    return f"""## Where the gap lives

The n largest modes (generalisation and memorisation bulks) carry
{fmt(100 * np.nanmin(shares), '.2g')}% to {fmt(100 * np.nanmax(shares), '.2g')}% of the gap at
tau = inf over all n and draws; the rest is in the p - n modes below the memorisation bulk, the
spike of the d -> infinity theory (s_t^2 = {fmt(m['ge_constants']['s2'])}, timescale
psi_p / (2 Delta_t s_t^2) = {fmt(m['tau_spike'])}), which at this d is a bulk (cdlite/theory/
spectrum.py). Draw 0:

{_table_head("n", "lowest mem. eigenvalue emp. / pred.", "highest emp. / pred.",
             "spike 10% / 50% / 90% quantiles", "spike bulk pred.")}
{rows}

![spectrum](figures/spectrum.png)
"""


def _gd_section(m) -> str:
    g = m["gd_check"]
    dev, absdev = g["max_rel_dev"], g["max_abs_dev"]
    smin = min(num(x) for x in m["score_error_min"]["mean"].values())
    _, Delta = ou_coeffs(m["setting"]["t"])
    return f"""## Check by simulated gradient descent

Every draw and every n: float32 GD with fresh noise every step (eta = {fmt(g['eta'])},
batch {g['batch']} in draw 0 at n = {m['tau_gen']['ns'][0]}), against the closed form at 8 times.
Largest relative deviation over all of them: train loss {fmt(100 * num(dev['train']), '.2g')}%,
test loss {fmt(100 * num(dev['test']), '.2g')}%. The score error is (test loss - its constant) /
Delta_t and so magnifies loss differences {1 / Delta:.0f} times, GD's noise floor included: its
largest absolute deviation is {fmt(absdev['score'])}, against a score error of 1 at tau = 0 and
a smallest mean minimum of {fmt(smin)} (tests/test_theory.py checks it at a smaller step).

![losses](figures/losses.png)
"""


def _cd_section(m) -> str:
    cd = m["cd"]
    rows = []
    for n, v in cd["by_n"].items():
        z, b = v["transfer_converged"]["zero"], v["at_best"]
        rows.append(
            f"| {n} | {fmt(v['tau_teacher'])} | {fmt(v['teacher_gap'])} "
            f"| {fmt(z['gen'], '.2f')} / {fmt(z['mem'], '.2f')} / {fmt(z.get('spike'), '.2f')} "
            f"| {fmt(v['student_gap_converged'])} "
            f"| {fmt(v['tau_keep'])} .. {fmt(v['tau_leak'])} ({'open' if v['open'] else 'shut'}, "
            f"x{fmt(v['width'], '.2g')}) "
            f"| {fmt(v['tau_best'])}: {fmt(b['gen'], '.2f')} / {fmt(b['mem'], '.2f')} / "
            f"{fmt(b.get('spike'), '.2f')}, gap {fmt(b['gap'])} (teacher stopped there: "
            f"{fmt(b.get('teacher_gap_same_tau'))}) |")
    sc = cd["scaling"]
    conv = [v["transfer_converged"]["zero"] for v in cd["by_n"].values()]
    mems, gens = [num(c["mem"]) for c in conv], [num(c["gen"]) for c in conv]
    best = "; ".join(f"n = {n}: {fmt(v['tau_best'])} (gen kept "
                     f"{fmt(100 * num(v['kept_best']), '.0f')}%, mem leaked "
                     f"{fmt(100 * num(v['leaked_best']), '.0f')}%)" for n, v in cd["by_n"].items())
    opened = ", ".join(n for n, v in cd["by_n"].items() if v["open"]) or "none"
    sim = cd.get("sim_max_abs_dev_transfer")
    sim_txt = (f"simulated CD agrees with the closed form within "
               f"{fmt(max(num(x) for x in sim.values()), '.2f')} in median transfer (n = "
               f"{cd['ns'][0]}, draw 0); " if sim else "")
    return f"""## Consistency distillation over distillation time
(cdlite's own model, cdlite/theory/distill.py)

A teacher of random-feature scores on the grid t = {', '.join(fmt(x) for x in cd['times'])},
each level trained for tau_T = {fmt(cd['teacher_tau_factor'])} tau_mem(n) on the n points; a
student with the same features distilled level by level (distill.py), from zero unless said.
Transfer = |B q| / |A_teacher q| per eigenvector q of the teacher's training feature covariance,
median per bulk (gen / mem / spike). The window runs from the first tau_D where the generalisation
bulk has {cd['keep']} of its converged transfer to the first where the memorisation bulk has
{cd['leak']} of its own; tau_best maximises (gen kept) - (mem leaked). Level 1 equals the teacher
to {fmt(cd['b1_vs_a1_rel_diff'], '.1e')} (relative); {sim_txt}{cd['draws']} draw(s) per n.

{_table_head("n", "tau_T", "teacher gap", "converged transfer gen / mem / spike",
             "converged student gap", "window in tau_D (width)",
             "tau_best: transfer gen / mem / spike, student gap")}
{chr(10).join(rows)}

The memorisation bulk is filtered most while the generalisation bulk is kept at tau_D =
tau_best (percentages of each bulk's converged transfer): {best}. The window
[tau_keep, tau_leak] is open for n = {opened}.

At convergence the student keeps a median {fmt(min(mems), '.2f')} to {fmt(max(mems), '.2f')} of
each memorisation-bulk component of the teacher, against {fmt(min(gens), '.2f')} to
{fmt(max(gens), '.2f')} of each generalisation-bulk component. Against n, log-log slopes
(intervals when there are two draws or more): window start tau_keep {interval(sc['tau_keep'])},
window end tau_leak {interval(sc['tau_leak'])}, width {interval(sc['width'])}, tau_best
{interval(sc['tau_best'])}.

![distillation](figures/distill.png)
"""


def report_markdown(m) -> str:
    """report.md: what was run, the tables, which check moves the slope, CD, the figures."""
    parts = [_header(m), _timescale_section(m), _sensitivity_section(m), _spectrum_section(m),
             _gd_section(m)]
    if m.get("cd"):
        parts.append(_cd_section(m))
    parts.append(f"Timings (s): {m['timings_s']}\n")
    return "\n".join(parts)
