"""Named recipes, and the one protocol every recipe follows.

A recipe is a config (a frozen dataclass with `seed` and `device` among its fields) plus what to
do with it:

    prepare(cfg) -> anything     what can fail at the start (the device, the data): done before a
                                 run folder exists, so a failed start leaves nothing behind
    run(cfg, folder, prepared)   compute, recording results in `folder` stage by stage
    report(folder, cfg)          figures and report.md from what the folder holds (also called
                                 for a partial or failed run), or None when `run` writes them
    table(metrics) -> str        what the terminal shows at the end of a run and in `cdlite show`

`cdlite.experiments.runner.run_recipe` serves every recipe alike (run folder, lock, status,
signals), and cli/ knows no recipe by name. The pipeline recipes differ only in their configs:
`toy-gaussians` is the headline (8 Gaussians on a circle in 2-D, n = 16 training points, an MLP
with random Fourier features of its input: a plain MLP is too smooth to memorize,
docs/design.md §3.7),
trained long enough to memorize, then distilled into a one-step student.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from ..data import Digits, Gaussians, TwoMoons
from ..diffusion.samplers import DiffusionConfig
from ..diffusion.train import TeacherConfig
from ..distill.train import DistillConfig
from ..errors import CdliteError
from ..nn.networks import MLPConfig
from .config import EvalConfig, RunConfig


@dataclass(frozen=True)
class Recipe:
    """One named experiment (see the module docstring for the protocol)."""
    name: str
    description: str
    defaults: Any                                  # the full recipe's config
    quick: Callable[[Any], Any]                    # config -> its --quick variant
    run: Callable[[Any, Any, Any], None]           # (cfg, folder, prepared)
    table: Callable[[dict], str]                   # metrics -> terminal summary
    report: Callable[[Any, Any], None] | None = None   # (folder, cfg) -> figures, report.md
    prepare: Callable[[Any], Any] = lambda cfg: None
    summarize: Callable[[list], dict] | None = None    # metrics of several seeds -> summary
    seed_table: Callable[[dict], str] | None = None    # that summary -> terminal table
    share_key: Callable[[Any], str] | None = None      # runs with one key share their first...
    shared_stages: tuple = ()                          # ...stages (a sweep trains one teacher)


# --- the pipeline recipes ---------------------------------------------------------------------

TOY_GAUSSIANS = RunConfig(
    data=Gaussians(n_train=16),
    net=MLPConfig(hidden=128, depth=3, input_fourier=32, input_fourier_scale=2.0),
    diffusion=DiffusionConfig(sigma_max=20.0),
    teacher=TeacherConfig(steps=4000, lr=2e-3, eval_every=500),
    distill=DistillConfig(steps=2000, lr=2e-4, N=18, mu=0.95, eval_every=250),
)
# the same pipeline on another 2-D shape: only the data and its noise range differ
TWO_MOONS = replace(TOY_GAUSSIANS, data=TwoMoons(n_train=16),
                    diffusion=DiffusionConfig(sigma_max=10.0))
DIGITS = RunConfig(
    data=Digits(n_train=32, n_test=500),
    net=MLPConfig(hidden=256, depth=3, input_fourier=0),
    diffusion=DiffusionConfig(sigma_max=20.0),
    teacher=TeacherConfig(steps=12000, lr=1e-3, eval_every=2000),
    distill=DistillConfig(steps=2000, lr=1e-4, N=18, mu=0.95, eval_every=500),
    eval=EvalConfig(n_samples=2000, n_curve=300),
)


def quick_pipeline(cfg: RunConfig) -> RunConfig:
    """The --quick variant: the whole pipeline in seconds, for tests and first contact.
    Too short for the effect to be reliable: use the full recipe for conclusions."""
    t, s, e = cfg.teacher, cfg.distill, cfg.eval
    return replace(
        cfg,
        teacher=replace(t, steps=min(t.steps, 400), eval_every=200),
        distill=replace(s, steps=min(s.steps, 150), eval_every=75),
        eval=replace(e, n_samples=min(e.n_samples, 500), n_curve=min(e.n_curve, 200),
                     n_boot=200, gap_noise=2),
        diffusion=replace(cfg.diffusion, steps=min(cfg.diffusion.steps, 10)),
    )


def pipeline_recipe(name: str, description: str, cfg: RunConfig) -> Recipe:
    from . import pipeline, report
    return Recipe(name, description, cfg, quick_pipeline, pipeline.run_pipeline,
                  report.summary_text, report.write_run_report, pipeline.prepare,
                  report.summarize_seeds, report.seed_table, pipeline.share_key,
                  pipeline.SHARED_STAGES)


# --- the random-feature theory ------------------------------------------------------------------

def rf_theory_recipe() -> Recipe:
    from ..theory import recipe as rf
    from ..theory.report import terminal_table

    def run(cfg, folder, prepared):  # one stage: its figures and report.md come with it
        with folder.stage("rf-theory"):
            folder.record(rf.run_rf_theory(cfg, folder.path, log=folder.log))
    return Recipe("rf-theory", "random-feature model of Bonnaire et al.: spectra, tau_gen and "
                  "tau_mem against n with error bars, CD as a spectral filter",
                  rf.RFTheoryConfig(), rf.quick, run, terminal_table)


def _recipes() -> dict[str, Recipe]:
    out = {r.name: r for r in (
        pipeline_recipe("toy-gaussians", "8 Gaussians in 2-D, n=16: a memorizing teacher and "
                        "its one-step CD student", TOY_GAUSSIANS),
        pipeline_recipe("two-moons", "two moons in 2-D, n=16: the same story on a curved "
                        "support", TWO_MOONS),
        pipeline_recipe("digits", "8x8 digits (d=64), n=32 images: memorization and "
                        "distillation of images", DIGITS),
    )}
    out["rf-theory"] = rf_theory_recipe()
    return out


RECIPES: dict[str, Recipe] = _recipes()


def get_recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise CdliteError(f"unknown recipe {name!r}; choose one of {', '.join(RECIPES)} "
                          f"(`cdlite list` describes them)")
    return RECIPES[name]
