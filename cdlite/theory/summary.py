"""The metrics dict of the rf-theory recipe: the per-training-set results of analysis.py
gathered over draws and sizes into plain numbers (floats, lists, dicts keyed by str(n)), with
the slopes and bootstrap intervals of stats.py. report.py turns it into text.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from .model import ou_coeffs
from .stats import over_draws

TIME_UNIT = ("tau, the time of the gradient flow dA/dtau = -d^2 grad_A L (mode lambda of U "
             "relaxes as exp(-2 Delta_t lambda tau / psi_p), on psi_p / (2 Delta_t lambda))")
PAPER_TIME = ("Bonnaire et al.'s script time tau' (steps x learning rate, model without "
              "1/sqrt(p)) is tau d^2 / p; the same number when d^2 = p")


def _values(runs, get) -> np.ndarray:
    """(R, N) array of get(result) over draws (rows) and training-set sizes (columns)."""
    return np.array([[get(res) for res in row] for row in runs], dtype=float)


def timescale_metrics(cfg, runs, rng) -> dict:
    """tau_gen, tau_mem (every fraction) and the bulks' relaxation times over the draws."""
    ns, B = list(cfg.ns), cfg.bootstrap
    fracs = sorted(set(cfg.gap_fractions) | {cfg.gap_fraction})
    gap = _values(runs, lambda r: r["gap_inf"])
    top = _values(runs, lambda r: r["gap_inf_top"])
    return {
        "tau_gen": over_draws(ns, _values(runs, lambda r: r["tau_gen"]), rng, B),
        "tau_mem": over_draws(ns, _values(runs, lambda r: r["tau_mem"][cfg.gap_fraction]),
                              rng, B),
        "tau_mem_by_fraction": {str(f): over_draws(
            ns, _values(runs, lambda r, f=f: r["tau_mem"][f]), rng, B) for f in fracs},
        "clock_gen": over_draws(ns, _values(runs, lambda r: r["clock"]["gen"]), rng, B),
        "clock_mem": over_draws(ns, _values(runs, lambda r: r["clock"]["mem"]), rng, B),
        "gap_inf": over_draws(ns, gap, rng, B),
        "gap_share_top_n": {str(n): [float(x) for x in col] for n, col in zip(ns, (top / gap).T)},
        "score_error_min": over_draws(ns, _values(runs, lambda r: r["score_min"]), rng, B),
    }


def spectrum_metrics(cfg, runs) -> dict:
    """Draw 0's spectrum against the predictions, per n."""
    keys = ("mem_edges_emp", "mem_edges_pred", "spike_quantiles", "spike_edges_pred",
            "gen_median_emp", "gen_scale_pred")
    return {str(res["n"]): {k: res[k] for k in keys} for res in runs[0]}


def gd_metrics(runs) -> dict:
    """The simulated-GD check of every draw and n: largest relative deviation per loss."""
    out = {"eta": runs[0][0]["gd"]["eta"], "batch": runs[0][0]["gd"]["batch"]}
    for kind in ("rel_dev", "abs_dev"):
        by = [[res["gd"][kind] for res in row] for row in runs]
        out[f"max_{kind}"] = {k: max(x[k] for row in by for x in row) for k in by[0][0]}
        out[f"{kind}_by_draw"] = by
    return out


def finite_size_metrics(cfg, sizes: dict) -> dict:
    """Per p: the slope of every draw against n at the fixed n / p, for each fraction."""
    fracs = sorted(set(cfg.gap_fractions) | {cfg.gap_fraction})
    out = {}
    for p, s in sizes.items():
        per = {str(f): _values(s["runs"], lambda r, f=f: r["tau_mem"][f]) for f in fracs}
        per["tau_gen"] = _values(s["runs"], lambda r: r["tau_gen"])
        per["clock_mem"] = _values(s["runs"], lambda r: r["clock"]["mem"])
        slopes = {k: [float(np.polyfit(np.log(s["ns"]), np.log(row), 1)[0])
                      if np.all(np.isfinite(row) & (row > 0)) else math.nan for row in v]
                  for k, v in per.items()}
        out[str(p)] = {"d": s["d"], "ns": s["ns"], "draws": len(s["runs"]),
                       "slopes": {k: {"mean": float(np.nanmean(v)) if np.isfinite(v).any()
                                      else math.nan, "per_draw": v}
                                  for k, v in slopes.items()}}
    return {"n_over_p": list(cfg.size_n_over_p), "by_p": out}


def cd_metrics(cfg, cd: dict, rng) -> dict:
    """CD per distilled n (mean over its draws) and how the window scales with n."""
    def mean(vals):
        return float(np.mean(vals))

    by_n = {}
    for n, results in cd.items():
        by_n[str(n)] = {
            "tau_teacher": mean([r["tau_teacher"] for r in results]),
            "teacher_gap": mean([r["teacher_gap"] for r in results]),
            "student_gap_converged": mean([r["gap_inf"]["zero"] for r in results]),
            "transfer_converged": {init: {b: mean([r["medians_inf"][init][b] for r in results])
                                          for b in results[0]["medians_inf"][init]}
                                   for init in ("zero", "teacher")},
            **{k: mean([r["window"][k] for r in results])
               for k in ("tau_keep", "tau_leak", "width", "tau_best", "kept_best",
                         "leaked_best")},
            "open": all(r["window"]["open"] for r in results),
            "at_best": {b: mean([r["at_best"][b] for r in results]) for b in results[0]["at_best"]},
        }
    ns = list(cd)
    grid = {k: np.array([[cd[n][j]["window"][k] for n in ns]
                         for j in range(min(len(v) for v in cd.values()))])
            for k in ("tau_keep", "tau_leak", "tau_best", "width")}
    first = cd[ns[0]][0]
    return {"ns": ns, "draws": cfg.cd_draws, "levels": cfg.cd_levels, "t_min": cfg.cd_t_min,
            "teacher_tau_factor": cfg.cd_teacher_tau_factor, "keep": cfg.cd_keep,
            "leak": cfg.cd_leak, "times": [float(x) for x in first["times"]], "by_n": by_n,
            "scaling": {k: over_draws(ns, v, rng, cfg.bootstrap) for k, v in grid.items()},
            "sim_max_abs_dev_transfer": first["sim"]["max_abs_dev"] if "sim" in first else None,
            "b1_vs_a1_rel_diff": max(r["b1_vs_a1_rel_diff"] for v in cd.values() for r in v)}


def build_metrics(cfg, consts, consts_mc, main, sizes, mc, timings, rng) -> dict:
    """The metrics dict: scalars, short lists and dicts keyed by str(n); `rng` draws the
    bootstrap resamples."""
    _, Delta = ou_coeffs(cfg.t)
    return {
        "recipe": "rf-theory", "seed": cfg.seed, "time_unit": TIME_UNIT,
        "step_size_rule": f"eta = {cfg.gd_safety} psi_p / (Delta_t lambda_max), lambda_max by "
                          "power iteration; one GD step advances tau by eta",
        "paper_time": PAPER_TIME,
        "setting": {"d": cfg.d, "p": cfg.p, "t": cfg.t, "ns": list(cfg.ns), "draws": cfg.draws,
                    "redraw_features": cfg.redraw_features,
                    "mc_samples": cfg.mc_per_feature * cfg.p, "gap_fraction": cfg.gap_fraction},
        "ge_constants": dataclasses.asdict(consts),
        "ge_constants_mc": dataclasses.asdict(consts_mc),
        "tau_spike": cfg.p / cfg.d / (2 * Delta * consts.s2),
        **timescale_metrics(cfg, main["runs"], rng),
        "spectrum": spectrum_metrics(cfg, main["runs"]),
        "gd_check": gd_metrics(main["runs"]),
        "finite_size": finite_size_metrics(cfg, sizes) if sizes else None,
        "mc_check": mc,
        "cd": cd_metrics(cfg, main["cd"], rng) if main["cd"] else None,
        "timings_s": timings,
    }
