"""The config of one pipeline run (docs/design.md §7): the component configs composed as sections.

Each section is the config class of the component that reads it, declared there once:

    data       a dataset config of cdlite.data (data.name picks the dataset and its options)
    net        MLPConfig or RFConfig of cdlite.nn.networks (net.kind picks the family)
    diffusion  DiffusionConfig of cdlite.diffusion.samplers (noise range, teacher sampler)
    teacher    TeacherConfig of cdlite.diffusion.train
    distill    DistillPlan below: DistillConfig of cdlite.distill.train (what the loop reads)
               plus the student's size (what the pipeline reads when it builds the student)
    eval       EvalConfig below (what the run measures)

Any field can be set by its dotted name (`--set teacher.steps=8000`) or from a TOML file with the
same [sections]; cdlite.config derives both from the fields. The resolved config is written
into the run folder as config.toml, so a run can be repeated.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..config import Config, Device, at_least, positive
from ..data import AnyData, Gaussians
from ..diffusion.samplers import DiffusionConfig
from ..diffusion.train import TeacherConfig
from ..distill.train import DistillConfig
from ..nn.networks import MLPConfig, RFConfig


# The sections that act only after the teacher: they play no part in what the teacher stages
# compute, so runs that differ only in them share one teacher (a sweep trains it once).
AFTER_TEACHER = ("distill", "run_ct")


@dataclass(frozen=True)
class DistillPlan(DistillConfig):
    """The distillation section of a run: the loop's settings, and the size of the student,
    which the pipeline reads when it builds the student's network (the loop never does)."""
    student_width: int = 0        # the student's hidden width (MLP) or p (RF); 0 = the teacher's
    student_depth: int = 0        # the student's hidden layers (MLP); 0 = the teacher's

    def check(self):
        yield from super().check()
        yield from at_least(self, 0, "student_width", "student_depth")


@dataclass(frozen=True)
class EvalConfig(Config):
    """What a run measures, and on how many samples."""
    n_samples: int = 10000        # samples per model in the final evaluation
    n_curve: int = 1000           # samples per checkpoint on the training curves
    threshold: float = 1 / 3      # memorized when |x - a_(1)| / |x - a_(2)| < threshold
    n_boot: int = 1000            # bootstrap resamples for confidence intervals
    student_tau: float = 1.0      # intermediate level of 2-step consistency sampling
    gap_sigmas: tuple[float, ...] = (0.05, 0.2, 1.0)  # sigma values of the generalization gap
    gap_noise: int = 32           # noise draws per point for the generalization gap

    def check(self):
        yield from at_least(self, 10, "n_samples", "n_curve")  # the quality figures need 10
        yield from positive(self, "n_boot", "gap_noise", "student_tau")
        if not 0.0 < self.threshold <= 1.0:
            yield f"threshold={self.threshold} (a ratio in (0, 1])"
        if not self.gap_sigmas or min(self.gap_sigmas) <= 0:
            yield f"gap_sigmas={list(self.gap_sigmas)} (one or more noise levels > 0)"


@dataclass(frozen=True)
class RunConfig(Config):
    """One run: data -> teacher -> consistency distillation -> evaluation."""
    seed: int = 0                 # one seed for everything (cdlite.experiments.streams)
    device: Device = "cpu"        # NumPy on the CPU, CuPy on a GPU, or "auto"
    run_ct: bool = False          # also train a consistency model without teacher (CT baseline)
    data: AnyData = field(default_factory=Gaussians)
    net: MLPConfig | RFConfig = field(default_factory=MLPConfig)
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    distill: DistillPlan = field(default_factory=DistillPlan)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def check(self):
        yield from at_least(self, 0, "seed")
        d = self.distill
        if (d.student_width or d.student_depth) and self.student_net() != self.net and \
                d.init == "teacher":
            yield ("distill.student_width/student_depth make a student of another size than the "
                   "teacher, which cannot start from the teacher's weights (set "
                   "distill.init=scratch)")
        if d.student_depth and self.net.kind != "mlp":
            yield f"distill.student_depth={d.student_depth} (only an MLP has a depth; leave it 0)"
        if not self.eval.student_tau > self.diffusion.sigma_min:
            yield (f"eval.student_tau={self.eval.student_tau} (must exceed diffusion.sigma_min="
                   f"{self.diffusion.sigma_min})")

    def sigma_data(self, ds) -> float:
        """The one data scale of the run (EDM's sigma_data): diffusion.sigma_data when set,
        else the dataset's (known for toy data, measured on the training set for files)."""
        return self.diffusion.sigma_data or ds.sigma_data

    def student_net(self):
        """The student's network config: the teacher's, resized by distill.student_width and
        distill.student_depth when they are set."""
        d, net = self.distill, self.net
        if net.kind == "mlp":
            return replace(net, hidden=d.student_width or net.hidden,
                           depth=d.student_depth or net.depth)
        return replace(net, p=d.student_width or net.p)
