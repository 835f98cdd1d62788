"""Recipe `cdlite run rf-theory`: the random-feature theory of Bonnaire et al. (arXiv 2505.17638)
computed end to end, and cdlite's consistency-distillation model on top of it.

It writes a run folder: config.toml, metrics.json, figures/*.png and report.md. Units and rules
are those of the theory modules: tau is the gradient-flow time of dA/dtau = -d^2 grad L
(mode lambda relaxes on psi_p / (2 Delta_t lambda)); simulated GD takes
eta = gd_safety * psi_p / (Delta_t lambda_max) and advances tau by eta per step.
"""
from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..backend import make_rng
from ..errors import CdliteError
from ..fileio import to_toml, write_text
from . import figures
from .analysis import analyse_distillation, analyse_training_set
from .dynamics import tau_mem
from .model import dsm_target, gaussian_data, make_features, mc_regressions, ou_coeffs, score_target
from .report import build_metrics, json_num, report_markdown
from .spectrum import eigh_desc, ge_constants, ge_constants_mc, split_bulks


@dataclass(frozen=True)
class RFTheoryConfig:
    """Settings of the rf-theory recipe (saved, with the seed, as config.toml in the run folder)."""
    d: int = 32                         # data dimension; data are N(0, I_d)
    p: int = 1024                       # random features, psi_p = p / d
    t: float = 0.01                     # diffusion time of the analysed score model
    ns: tuple = (64, 128, 256)          # training-set sizes (nested subsets of one draw)
    mc_per_feature: int = 16            # MC samples per estimate = this * p (DESIGN: >= 8p)
    n_taus: int = 300                   # points of the log-spaced training-time grid
    gap_fraction: float = 0.1           # tau_mem: gap reaches this fraction of its tau=inf value
    gd_safety: float = 0.5              # eta = gd_safety psi_p / (Delta_t lambda_max); < 1: stable
    gd_batch: int = 1024                # noisy samples per GD step (each point gd_batch / n times)
    gd_steps: int = 300                 # GD steps per n; simulated tau reaches gd_steps * eta
    cd_n: int = 64                      # training-set size of the distillation (one of ns)
    cd_levels: int = 3                  # K: teacher / student grid t_0 < ... < t_K = t
    cd_t_min: float = 0.002             # t_0, the student's boundary time
    cd_teacher_tau_factor: float = 3.0  # teacher trained for tau_T = this * tau_mem(cd_n)
    cd_n_taus: int = 40                 # points of the distillation-time grid
    cd_gd_steps: int = 300              # steps of the simulated CD check (fresh noise, float32)

    @classmethod
    def quick(cls) -> RFTheoryConfig:
        """A variant that runs in seconds (tests, first contact); too small for conclusions."""
        return cls(d=8, p=256, ns=(16, 32, 64), n_taus=120, gd_batch=256, gd_steps=80,
                   cd_n=16, cd_n_taus=16, cd_gd_steps=60)

    def check(self) -> None:
        """Raise CdliteError with what to change when the settings cannot work."""
        small = [f"{k}={getattr(self, k)}" for k in ("d", "p", "mc_per_feature", "n_taus",
                                                      "gd_batch", "gd_steps", "cd_levels",
                                                      "cd_n_taus", "cd_gd_steps")
                 if not getattr(self, k) >= 1]
        if small or not self.t > 0 or not self.cd_teacher_tau_factor > 0:
            raise CdliteError("rf-theory settings must be positive: "
                              + ", ".join(small or [f"t={self.t}", "cd_teacher_tau_factor="
                                                    f"{self.cd_teacher_tau_factor}"]))
        ns = tuple(int(n) for n in self.ns)
        if not ns or min(ns) <= self.d or max(ns) >= self.p:
            raise CdliteError(f"rf-theory needs d < n < p for every n (the three parts of the "
                              f"spectrum exist only then); got d={self.d}, p={self.p}, ns={ns}")
        if self.cd_n not in ns:
            raise CdliteError(f"cd_n={self.cd_n} must be one of ns={ns} (it reuses that analysis)")
        if not 0 < self.cd_t_min < self.t:
            raise CdliteError(f"need 0 < cd_t_min < t, got cd_t_min={self.cd_t_min}, t={self.t}")
        if not 0 < self.gd_safety < 1:
            raise CdliteError(f"gd_safety must be in (0, 1) for stable GD, got {self.gd_safety}")
        if not 0 < self.gap_fraction < 1:
            raise CdliteError(f"gap_fraction must be in (0, 1), got {self.gap_fraction}")


def config_toml(cfg: RFTheoryConfig, seed: int) -> str:
    """The config and its seed as flat TOML (what the run folder keeps and --dry-run prints)."""
    return to_toml({"seed": seed, **{k: list(v) if isinstance(v, tuple) else v
                                     for k, v in dataclasses.asdict(cfg).items()}})


# fractions at which tau_mem is also reported, to show how the slope depends on the definition
FRACTIONS = (0.03, 0.1, 0.25, 0.5)


def _loglog_fit(ns, taus) -> tuple[float, float]:
    """(slope, intercept) of log tau against log n over the finite values."""
    ns, taus = np.asarray(ns, dtype=float), np.asarray(taus, dtype=float)
    ok = np.isfinite(taus) & (taus > 0)
    if ok.sum() < 2:
        return math.nan, math.nan
    slope, intercept = np.polyfit(np.log(ns[ok]), np.log(taus[ok]), 1)
    return float(slope), float(intercept)


def run_rf_theory(cfg: RFTheoryConfig, out_dir, seed: int = 0, log=print) -> dict:
    """Run the rf-theory recipe into out_dir and return its metrics dict."""
    cfg.check()
    out_dir = Path(out_dir)
    (out_dir / "figures").mkdir(parents=True, exist_ok=True)
    # the resolved config, readable back with `cdlite run rf-theory --config config.toml`
    write_text(out_dir / "config.toml", config_toml(cfg, seed))
    timings, clock = {}, time.perf_counter()

    def lap(name):
        nonlocal clock
        now = time.perf_counter()
        timings[name] = round(now - clock, 2)
        clock = now

    rng = make_rng(seed)
    d, p, t = cfg.d, cfg.p, cfg.t
    ns = sorted(int(n) for n in cfg.ns)
    n_mc = cfg.mc_per_feature * p
    _, Delta = ou_coeffs(t)
    psi_p = p / d
    W = make_features(rng, p, d)                         # (p, d), shared by every n and time
    X_all = gaussian_data(rng, max(ns), d)               # nested training sets X_all[:n]
    consts = ge_constants(t)
    consts_mc = ge_constants_mc(t, rng, 400_000)
    log(f"rf-theory: d={d} p={p} t={t} ns={ns}; Monte Carlo {n_mc} samples per estimate")
    pop = mc_regressions(gaussian_data(rng, n_mc, d), W, t, rng, n_mc,
                         {"dsm": dsm_target(t), "score": score_target()})
    pop_lam = eigh_desc(pop["dsm"].U)[0]
    lap("population")

    # one tau grid for every n: from well before the fastest mode to well after the spike s_t^2
    def tau_of(lam):                                     # the paper's tau_lambda
        return psi_p / (2.0 * Delta * lam)

    taus = np.geomspace(0.1 * tau_of(4.0 * pop_lam[0]), 30.0 * tau_of(consts.s2), cfg.n_taus)
    per_n = {}
    for n in ns:
        per_n[n] = analyse_training_set(X_all[:n], W, t, pop, taus, n_mc, rng, consts,
                                        cfg.gap_fraction, cfg.gd_safety, cfg.gd_batch, cfg.gd_steps)
        r = per_n[n]
        log(f"  n={n}: tau_gen={r['tau_gen']:.4g}  tau_mem={r['tau_mem']:.4g}  "
            f"gap(inf)={r['gap_inf']:.4g}")
        lap(f"n={n}")
    tau_mems = np.array([per_n[n]["tau_mem"] for n in ns])
    slope, intercept = _loglog_fit(ns, tau_mems)
    # how much the slope depends on the stated fraction (reported, not used to pick one)
    by_frac = {}
    for frac in FRACTIONS:
        tm = [tau_mem(taus, per_n[n]["test"] - per_n[n]["train"], per_n[n]["gap_inf"], frac)
              for n in ns]
        by_frac[str(frac)] = {"tau_mem": [json_num(v) for v in tm],
                              "slope": json_num(_loglog_fit(ns, np.array(tm))[0])}

    # consistency distillation on the cd_n training points
    top = per_n[cfg.cd_n]
    tau_teacher = cfg.cd_teacher_tau_factor * top["tau_mem"]
    taus_d = np.geomspace(taus[0], taus[-1], cfg.cd_n_taus)
    cd = analyse_distillation(X_all[:cfg.cd_n], W, t, cfg.cd_t_min, cfg.cd_levels, tau_teacher,
                              top, pop, taus_d, n_mc, rng, cfg.gd_safety, cfg.gd_batch,
                              cfg.cd_gd_steps, log=log)
    lap("distillation")

    # figures
    fig_dir = out_dir / "figures"
    figures.plot_spectrum(fig_dir / "spectrum.png", per_n, pop_lam, consts, psi_p)
    figures.plot_losses(fig_dir / "losses.png", taus, per_n)
    figures.plot_tau_vs_n(fig_dir / "tau_vs_n.png", ns, tau_mems,
                          [per_n[n]["tau_gen"] for n in ns], slope, intercept)
    teacher_flow_gap = (taus, top["test"] - top["train"], cd["teacher_gap"])
    curves = {(init, b): m for init, meds in cd["medians"].items() for b, m in meds.items()}
    figures.plot_distill(fig_dir / "distill.png", top["lam"], split_bulks(p, d, cfg.cd_n),
                         cd["snapshots"], taus_d, curves,
                         {b: (cd["sim"]["taus"], m) for b, m in cd["sim"]["medians"].items()},
                         cd["gap"], teacher_flow_gap, tau_teacher)
    lap("figures")

    timings["total"] = round(sum(timings.values()), 2)
    metrics = build_metrics(cfg, seed, consts, consts_mc, per_n, ns, slope, by_frac, cd, timings)
    write_text(out_dir / "metrics.json", json.dumps(metrics, indent=2))
    write_text(out_dir / "report.md", report_markdown(cfg, metrics))
    log(f"rf-theory: done in {timings['total']:.1f} s -> {out_dir}")
    return metrics
