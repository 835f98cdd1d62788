"""Recipe `cdlite run rf-theory`: the random-feature theory of Bonnaire et al. (arXiv 2505.17638)
computed end to end over many training sets, and cdlite's consistency-distillation model on top.

Time is the gradient-flow time tau of cdlite/theory/dynamics.py: dA/dtau = -d^2 grad L, so mode
lambda of U relaxes on psi_p / (2 Delta_t lambda); simulated GD takes
eta = gd_safety * psi_p / (Delta_t lambda_max) and advances tau by eta per step; Bonnaire et al.'s
script time is tau' = tau d^2 / p (dynamics.py says why).

Steps: (1) `draws` training sets per n (nested within a draw: the first n points of one sample),
each analysed by analysis.analyse_training_set, with a simulated-GD check on every one;
(2) the finite-size check, the same at other p with p / d and n / p fixed; (3) a Monte-Carlo
check at twice the samples; (4) CD over distillation time for the n in cd_ns. run_rf_theory
writes figures/ and report.md into the run folder and returns the metrics; the folder's owner
writes config.toml and metrics.json.
"""
from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from enum import IntEnum, unique
from pathlib import Path

import numpy as np

from ..streams import stream_rng
from ..config import Config
from ..fileio import write_text
from . import figures
from .analysis import analyse_distillation, analyse_training_set, population
from .model import gaussian_data, make_features, ou_coeffs
from .report import report_markdown
from .spectrum import gen_bulk_scale, ge_constants, ge_constants_mc
from .summary import build_metrics


@dataclass(frozen=True)
class RFTheoryConfig(Config):
    """Settings of the rf-theory recipe, a config like every other (cdlite.config): the type
    of every field is checked from its annotation, then its range by `check`."""
    d: int = 32                                     # data dimension; data are N(0, I_d)
    p: int = 1024                                   # random features, psi_p = p / d
    t: float = 0.01                                 # diffusion time of the analysed score model
    ns: tuple[int, ...] = (48, 64, 128, 256, 512)   # training-set sizes, each d < n < p
    draws: int = 5                                  # training sets (draws) per n
    redraw_features: bool = True                    # a fresh W per draw (False: one W for all)
    mc_per_feature: int = 16                        # MC samples per estimate = this * p, >= 8
    n_taus: int = 300                               # points of the log-spaced training-time grid
    gap_fraction: float = 0.5                       # tau_mem: gap reaches this of its final value
    gap_fractions: tuple[float, ...] = (0.25, 0.5, 0.75)  # fractions whose slopes are reported
    bootstrap: int = 2000                           # resamples of the draws for slope intervals
    size_ps: tuple[int, ...] = (256, 512, 2048)     # finite-size check: other p, same p/d and n/p
    size_n_over_p: tuple[float, ...] = (0.0625, 0.125, 0.25)  # the n / p of that check
    size_draws: int = 2                             # draws per p in the finite-size check
    mc_check: bool = True                           # refit ns[0], ns[-1] with twice the MC samples
    gd_safety: float = 0.5                          # eta = gd_safety psi_p / (Delta_t lambda_max)
    gd_batch: int = 1024                            # noisy samples per GD step
    gd_steps: int = 300                             # GD steps per training set (tau to steps eta)
    cd_ns: tuple[int, ...] = (48, 64, 128, 256, 512)  # sizes distilled (each one of ns)
    cd_draws: int = 2                               # draws distilled per n
    cd_levels: int = 3                              # K: teacher / student grid t_0 < ... < t_K = t
    cd_t_min: float = 0.002                         # t_0, the student's boundary time
    cd_teacher_tau_factor: float = 3.0              # teacher trained for this * tau_mem(n)
    cd_n_taus: int = 120                            # points of the distillation-time grid
    cd_keep: float = 0.9                            # window opens at gen transfer / final = this
    cd_leak: float = 0.1                            # window shuts at mem transfer / final = this
    cd_gd_steps: int = 300                          # simulated-CD check (draw 0, cd_ns[0])
    seed: int = 0                                   # seed of W, the data and the Monte Carlo
    device: str = "cpu"                             # NumPy only ("cpu")

    def check(self):
        """Ranges and sizes; cdlite.config has checked every field's type already."""
        typed = {f.name for f in dataclasses.fields(self)}
        yield from _range_problems(self, typed)
        yield from _size_problems(self, typed)


def quick(cfg: RFTheoryConfig) -> RFTheoryConfig:
    """The --quick variant of `cfg` (seconds: tests, first contact; too small for conclusions)."""
    return dataclasses.replace(cfg, d=8, p=256, ns=(16, 32, 64), draws=2, n_taus=120,
                               bootstrap=500, size_ps=(512,), size_draws=2, gd_batch=2048,
                               gd_steps=60, cd_ns=(16, 64), cd_n_taus=24, cd_gd_steps=60)


# --- validation --------------------------------------------------------------------------------

def _range_problems(cfg, typed: set):
    """Values outside their range, among the fields in `typed` (those of the right type)."""
    def ok(*names):
        return set(names) <= typed

    for name in ("d", "p", "draws", "n_taus", "bootstrap", "size_draws", "gd_batch", "gd_steps",
                 "cd_draws", "cd_levels", "cd_n_taus", "cd_gd_steps"):
        if ok(name) and getattr(cfg, name) < 1:
            yield f"{name}={getattr(cfg, name)} (must be >= 1)"
    if ok("seed") and cfg.seed < 0:
        yield f"seed={cfg.seed} (must be >= 0)"
    if ok("mc_per_feature") and cfg.mc_per_feature < 8:
        yield (f"mc_per_feature={cfg.mc_per_feature} (must be >= 8: docs/design.md §6.2 asks "
               "for 8 p samples)")
    if ok("t") and not cfg.t > 0:
        yield f"t={cfg.t} (must be > 0)"
    if ok("t", "cd_t_min") and not 0 < cfg.cd_t_min < cfg.t:
        yield f"cd_t_min={cfg.cd_t_min} (must be in (0, t={cfg.t}))"
    if ok("gd_safety") and not 0 < cfg.gd_safety < 1:
        yield f"gd_safety={cfg.gd_safety} (must be in (0, 1) for stable GD)"
    if ok("cd_teacher_tau_factor") and not cfg.cd_teacher_tau_factor > 0:
        yield f"cd_teacher_tau_factor={cfg.cd_teacher_tau_factor} (must be > 0)"
    for name in ("gap_fraction", "cd_keep", "cd_leak"):
        if ok(name) and not 0 < getattr(cfg, name) < 1:
            yield f"{name}={getattr(cfg, name)} (must be in (0, 1))"
    if ok("gap_fractions") and not (cfg.gap_fractions
                                     and all(0 < f < 1 for f in cfg.gap_fractions)):
        yield f"gap_fractions={cfg.gap_fractions} (each must be in (0, 1))"
    if ok("device") and cfg.device != "cpu":
        yield f"device={cfg.device!r} (rf-theory runs on NumPy only, drop --device)"


def _size_problems(cfg, typed: set):
    """Training-set sizes that leave a part of the spectrum empty, and finite-size settings that
    do not give integer d and n (only when the fields they read have the right type)."""
    if not {"d", "p", "ns", "cd_ns", "size_ps", "size_n_over_p"} <= typed or cfg.d < 1 or cfg.p < 1:
        return                       # said above; the ratios below need all of them
    if not cfg.ns or not all(cfg.d < n < cfg.p for n in cfg.ns):
        yield (f"ns={cfg.ns} (need d < n < p for every n, here {cfg.d} < n < {cfg.p}: only then "
               "do the three parts of the spectrum exist)")
    elif not set(cfg.cd_ns) <= set(cfg.ns):
        yield f"cd_ns={cfg.cd_ns} (each must be one of ns={cfg.ns}: CD reuses that analysis)"
    for q in size_ps_all(cfg):
        if size_dims(cfg, q) is None:
            yield (f"size_ps: p={q} (needs an integer d = p * {cfg.d} / {cfg.p} and integer "
                   f"d < n < p for every n / p in size_n_over_p={cfg.size_n_over_p})")


def size_ps_all(cfg: RFTheoryConfig) -> list[int]:
    """The p of the finite-size check: size_ps and the main p (none when size_ps is empty)."""
    return sorted(set(cfg.size_ps) | {cfg.p}) if cfg.size_ps else []


def size_dims(cfg: RFTheoryConfig, p: int):
    """(d, ns) of the finite-size check at p: p / d and every n / p as in the main setting, or
    None when they are not integers with d < n < p."""
    d = p * cfg.d / cfg.p
    ns = [x * p for x in cfg.size_n_over_p]
    if not (p >= 2 and d == int(d) and d >= 1 and cfg.size_n_over_p
            and all(n == int(n) and d < n < p for n in ns)):
        return None
    return int(d), [int(n) for n in ns]


# --- the steps ---------------------------------------------------------------------------------

@unique  # two names with one number would share random numbers
class Stream(IntEnum):
    """The uses of randomness of rf-theory, in the one scheme of cdlite.streams."""
    DRAW = 0            # + p, r: training set r at size p (and its features when redrawn)
    FEATURES = 1        # + p: one W for every draw (redraw_features = False)
    POPULATION = 2      # + p: the population estimate for that W
    MC_CHECK = 3        # + p: the Monte-Carlo check
    GE_CONSTANTS = 4    # the constants by Monte Carlo
    BOOTSTRAP = 5       # resamples of the draws for the slope intervals
    CD = 6              # + p, r, n: distillation of draw r at size n


def stream(seed: int, name: str, *key: int):
    """The random generator of one named use of the seed (draw r at size p: 'draw', p, r), so
    that adding draws, sizes or checks never changes the numbers of the others."""
    return stream_rng(seed, Stream[name.upper()], *key)


def time_grid(consts, p: int, d: int, n_taus: int) -> np.ndarray:
    """One training-time grid for every n: from well before the generalisation bulk is learnt
    to well after the slowest spike modes (their eigenvalues reach ~s_t^2 / 20)."""
    _, Delta = ou_coeffs(consts.t)
    psi_p = p / d
    return np.geomspace(0.1 * psi_p / (2 * Delta * 4 * gen_bulk_scale(consts, psi_p)),
                        300.0 * psi_p / (2 * Delta * consts.s2), n_taus)


def run_draws(cfg, d: int, p: int, ns, draws: int, consts, *, gd=None, cd_n=(), cd_draws=0,
              log=print) -> dict:
    """Analyse `draws` training sets at every n in ns (nested within a draw), at sizes (d, p).

    Draw r has its own random stream (seed, p, r), so adding draws or sizes never changes the
    others. Returns {'runs': [[result per n] per draw], 'cd': {n: [result per draw]}, 'taus',
    'first': (W, X, pop) of draw 0}."""
    n_mc, taus = cfg.mc_per_feature * p, time_grid(consts, p, d, cfg.n_taus)
    W = None if cfg.redraw_features else make_features(stream(cfg.seed, 'features', p), p, d)
    pop = None if W is None else population(W, cfg.t, n_mc, stream(cfg.seed, 'population', p))
    runs, cd, first = [], {n: [] for n in cd_n}, None
    for r in range(draws):
        rng = stream(cfg.seed, 'draw', p, r)
        if cfg.redraw_features:
            W = make_features(rng, p, d)                        # (p, d)
            pop = population(W, cfg.t, n_mc, rng)
        X = gaussian_data(rng, max(ns), d)                      # (n_max, d), nested sets X[:n]
        first = first or (W, X, pop)
        row = []
        for n in ns:
            res = analyse_training_set(X[:n], W, cfg.t, pop, taus, n_mc, rng, consts,
                                       tuple(cfg.gap_fractions) + (cfg.gap_fraction,), gd)
            if n in cd and r < cd_draws:      # its own stream: distilling changes nothing else
                cd[n].append(distill_one(cfg, X[:n], W, res, pop, taus,
                                         stream(cfg.seed, "cd", p, r, n), r, log))
            res.pop("_reuse")                                   # frees the (p, p) matrices
            row.append(res)
        runs.append(row)
        log(f"  p={p} draw {r + 1}/{draws}: tau_mem = "
            + ", ".join(f"{x['tau_mem'][cfg.gap_fraction]:.3g}" for x in row) + f" (n = {ns})")
    return {"runs": runs, "cd": cd, "taus": taus, "first": first}


def distill_one(cfg, X, W, res, pop, taus, rng, r: int, log) -> dict:
    """CD on one training set: teacher trained for cd_teacher_tau_factor * tau_mem(n) (tau =
    inf when tau_mem was not reached), distillation times spanning the whole training grid."""
    tau_m = res["tau_mem"][cfg.gap_fraction]
    tau_teacher = cfg.cd_teacher_tau_factor * tau_m if math.isfinite(tau_m) else math.inf
    sim = None
    if r == 0 and len(X) == cfg.cd_ns[0]:
        sim = {"safety": cfg.gd_safety, "batch": cfg.gd_batch, "steps": cfg.cd_gd_steps}
    out = analyse_distillation(X, W, cfg.t, res, pop,
                               np.geomspace(taus[0], taus[-1], cfg.cd_n_taus),
                               cfg.mc_per_feature * W.shape[0], rng, t_min=cfg.cd_t_min,
                               levels=cfg.cd_levels, tau_teacher=tau_teacher, keep=cfg.cd_keep,
                               leak=cfg.cd_leak, sim=sim)
    # the control: the teacher's own gap when its training is stopped at tau = tau_D
    out["teacher_curve"] = (taus, res["test"] - res["train"])
    w = out["window"]
    out["at_best"]["teacher_gap_same_tau"] = float(np.interp(
        np.log(w["tau_best"]), np.log(taus), res["test"] - res["train"]))
    log(f"  CD n={len(X)} draw {r + 1}: window tau_D in [{w['tau_keep']:.3g}, "
        f"{w['tau_leak']:.3g}], best {w['tau_best']:.3g}")
    return out


def finite_size(cfg, main: dict, consts, log) -> dict:
    """The finite-size check: for every p in size_ps (and the main p) the draws at the n with
    the stated n / p, p / d as in the main setting. The main p reuses the main draws when ns
    holds those n."""
    out = {}
    for p in size_ps_all(cfg):
        d, ns = size_dims(cfg, p)
        if p == cfg.p and set(ns) <= set(cfg.ns):
            runs = [[row[list(cfg.ns).index(n)] for n in ns] for row in main["runs"]]
        else:
            runs = run_draws(cfg, d, p, ns, cfg.size_draws, consts, log=log)["runs"]
        out[p] = {"d": d, "ns": ns, "runs": runs}
    return out


def mc_check(cfg, main: dict, consts) -> dict:
    """Draw 0 at ns[0] and ns[-1] again with twice the Monte-Carlo samples (fit, eval and
    population): how much the final gap, tau_mem and tau_gen move."""
    W, X, _ = main["first"]
    n_mc, taus = 2 * cfg.mc_per_feature * cfg.p, main["taus"]
    rng = stream(cfg.seed, 'mc_check', cfg.p)
    pop = population(W, cfg.t, n_mc, rng)
    out = {"mc_samples": [n_mc // 2, n_mc], "by_n": {}}
    for j in sorted({0, len(cfg.ns) - 1}):
        n = cfg.ns[j]
        runs = [main["runs"][0][j], analyse_training_set(X[:n], W, cfg.t, pop, taus, n_mc, rng,
                                                         consts, (cfg.gap_fraction,))]
        out["by_n"][n] = {"gap_inf": [r["gap_inf"] for r in runs],
                          "tau_gen": [r["tau_gen"] for r in runs],
                          "tau_mem": [r["tau_mem"][cfg.gap_fraction] for r in runs]}
    return out


def run_rf_theory(cfg: RFTheoryConfig, folder, log=print) -> dict:
    """Run the rf-theory recipe: figures into folder/figures/, folder/report.md; returns the
    metrics dict (plain floats, lists and dicts; nan where a value was not reached)."""
    folder = Path(folder)
    timings, clock = {}, [time.perf_counter()]

    def lap(name):
        now = time.perf_counter()
        timings[name] = round(now - clock[0], 2)
        clock[0] = now

    consts = ge_constants(cfg.t)
    consts_mc = ge_constants_mc(cfg.t, stream(cfg.seed, 'ge_constants'), 400_000)
    log(f"rf-theory: d={cfg.d} p={cfg.p} t={cfg.t} ns={list(cfg.ns)}, {cfg.draws} draws; "
        f"Monte Carlo {cfg.mc_per_feature * cfg.p} samples per estimate")
    gd = {"safety": cfg.gd_safety, "batch": cfg.gd_batch, "steps": cfg.gd_steps}
    main = run_draws(cfg, cfg.d, cfg.p, list(cfg.ns), cfg.draws, consts, gd=gd,
                     cd_n=cfg.cd_ns, cd_draws=cfg.cd_draws, log=log)
    lap("draws_and_cd")
    sizes = finite_size(cfg, main, consts, log)
    lap("finite_size")
    mc = mc_check(cfg, main, consts) if cfg.mc_check else None
    lap("mc_check")
    metrics = build_metrics(cfg, consts, consts_mc, main, sizes, mc, timings,
                            stream(cfg.seed, "bootstrap"))
    figures.write_all(folder / "figures", cfg, consts, main, sizes, metrics)
    lap("figures")
    timings["total"] = round(sum(timings.values()), 2)
    write_text(folder / "report.md", report_markdown(metrics))
    log(f"rf-theory: done in {timings['total']:.1f} s -> {folder}")
    return metrics
