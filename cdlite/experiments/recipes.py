"""The named configs of the run pipeline: the recipes differ only in these.

`toy-gaussians` is the headline (8 Gaussians on a circle in 2-D, n = 16 training points, an MLP
with random Fourier features of its input: a plain MLP is too smooth to memorize,
docs/design.md §8), trained long enough to memorize, then distilled into a one-step student.
cdlite.catalog binds each config to the pipeline and its report under the recipe's name.
"""
from __future__ import annotations

from dataclasses import replace

from ..data import Digits, Gaussians, TwoMoons
from ..diffusion.samplers import DiffusionConfig
from ..diffusion.train import TeacherConfig
from ..nn.networks import MLPConfig
from .config import DistillPlan, EvalConfig, RunConfig

TOY_GAUSSIANS = RunConfig(
    data=Gaussians(n_train=16),
    net=MLPConfig(hidden=128, depth=3, input_fourier=32, input_fourier_scale=2.0),
    diffusion=DiffusionConfig(sigma_max=20.0),
    teacher=TeacherConfig(steps=4000, lr=2e-3, eval_every=500),
    distill=DistillPlan(steps=2000, lr=2e-4, N=18, mu=0.95, eval_every=250),
)
# the same pipeline on another 2-D shape: only the data and its noise range differ
TWO_MOONS = replace(TOY_GAUSSIANS, data=TwoMoons(n_train=16),
                    diffusion=DiffusionConfig(sigma_max=10.0))
DIGITS = RunConfig(
    data=Digits(n_train=32, n_test=500),
    net=MLPConfig(hidden=256, depth=3, input_fourier=0),
    diffusion=DiffusionConfig(sigma_max=20.0),
    teacher=TeacherConfig(steps=12000, lr=1e-3, eval_every=2000),
    distill=DistillPlan(steps=2000, lr=1e-4, N=18, mu=0.95, eval_every=500),
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
