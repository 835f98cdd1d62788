"""Named recipes: a RunConfig each, with honest defaults, and a --quick variant of each.

`toy-gaussians` is the headline: 8 Gaussians on a circle in 2-D, n = 16 training points, an MLP
with random Fourier features of its input (a plain MLP is too smooth to memorize, DESIGN.md 8),
trained long enough to memorize, then distilled into a one-step student.
"""
from __future__ import annotations

from dataclasses import replace

from ..diffusion.train import TeacherConfig
from ..distill.train import DistillConfig
from ..errors import CdliteError
from .config import DataConfig, DiffusionConfig, EvalConfig, NetConfig, RunConfig

TOY_GAUSSIANS = RunConfig(
    recipe="toy-gaussians",
    description="8 Gaussians in 2-D, n=16: a memorizing teacher and its one-step CD student",
    data=DataConfig(name="gaussians", n_train=16),
    net=NetConfig(kind="mlp", hidden=128, depth=3, input_fourier=32, input_fourier_scale=2.0),
    diffusion=DiffusionConfig(sigma_max=20.0),
    teacher=TeacherConfig(steps=4000, lr=2e-3, eval_every=500),
    distill=DistillConfig(steps=2000, lr=2e-4, N=18, mu=0.95, eval_every=250),
)

RECIPES: dict[str, RunConfig] = {
    "toy-gaussians": TOY_GAUSSIANS,
    # the same pipeline on another 2-D shape: only the data and its noise range differ
    "two-moons": replace(
        TOY_GAUSSIANS,
        recipe="two-moons",
        description="two moons in 2-D, n=16: the same story on a curved support",
        data=DataConfig(name="two-moons", n_train=16),
        diffusion=DiffusionConfig(sigma_max=10.0),
    ),
    "digits": RunConfig(
        recipe="digits",
        description="8x8 digits (d=64), n=32 images: memorization and distillation of images",
        data=DataConfig(name="digits", n_train=32, n_test=500),
        net=NetConfig(kind="mlp", hidden=256, depth=3, input_fourier=0),
        diffusion=DiffusionConfig(sigma_max=20.0),
        teacher=TeacherConfig(steps=12000, lr=1e-3, eval_every=2000),
        distill=DistillConfig(steps=2000, lr=1e-4, N=18, mu=0.95, eval_every=500),
        eval=EvalConfig(n_samples=2000, n_curve=300),
    ),
}

# The random-feature theory recipe runs its own pipeline (cdlite.theory.recipe).
THEORY_RECIPES = {"rf-theory": "random-feature model of Bonnaire et al.: spectra, tau_mem vs n, "
                               "CD as a spectral filter"}


def quick(cfg: RunConfig) -> RunConfig:
    """The --quick variant: the whole pipeline in seconds, for tests and first contact.
    Too short for the effect to be reliable: use the full recipe for conclusions."""
    t, s, e = cfg.teacher, cfg.distill, cfg.eval
    return replace(
        cfg,
        teacher=replace(t, steps=min(t.steps, 400), eval_every=200),
        distill=replace(s, steps=min(s.steps, 150), eval_every=75),
        eval=replace(e, n_samples=min(e.n_samples, 500), n_curve=min(e.n_curve, 200),
                     n_boot=200, gap_noise=2),
        diffusion=replace(cfg.diffusion, heun_steps=min(cfg.diffusion.heun_steps, 10)),
    )


def recipe_names() -> list[str]:
    return list(RECIPES) + list(THEORY_RECIPES)


def get_recipe(name: str, quick_variant: bool = False) -> RunConfig:
    if name not in RECIPES:
        raise CdliteError(f"unknown recipe {name!r}; choose one of {', '.join(recipe_names())} "
                          f"(`cdlite list` describes them)")
    cfg = RECIPES[name]
    return quick(cfg) if quick_variant else cfg
