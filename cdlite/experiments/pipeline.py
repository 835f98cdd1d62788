"""The run pipeline, one named stage after another (docs/design.md §7), read top to bottom in
`run_pipeline`:

    data                fresh true samples (or held-out data): the chance level
    teacher             EDM training, with f_mem over training time (the teacher curve)
    teacher evaluation  Heun samples, and Euler with the student's NFE (the fair control)
    distillation        consistency distillation, with f_mem over distillation time
    student evaluation  1-step and 2-step consistency sampling
    consistency training  (run_ct only) the no-teacher baseline
    references          the empirical optimum, the perfect memorizer

Each stage (cdlite.experiments.stages) takes values and returns a StageResult: the entries of
metrics.json, the sample sets and, for a training stage, the trained weights. `run_stage` keeps
what a stage returns in the run folder as the stage ends; the stages never write metrics
themselves. Every random number comes from a named stream (cdlite.experiments.streams), so the
same config and seed give the same metrics.json on the CPU.
"""
from __future__ import annotations

import hashlib
import json
import math

import numpy as np

from ..backend import get_xp
from ..config import to_dict
from ..diffusion import EDMDenoiser
from ..errors import CdliteError
from ..nn.networks import make_network
from ..npzio import check_budget
from .config import AFTER_TEACHER, RunConfig
from .stages import (Context, Prepared, StageResult, ct_stage, data_stage,
                     distillation_stage, make_context, references_stage,
                     student_evaluation_stage, teacher_evaluation_stage, teacher_stage)
from .training import trained_weights

# The stages runs can share when their configs differ only after the teacher (a sweep over
# distillation settings trains one teacher for all its cells).
SHARED_STAGES = ("data", "teacher", "teacher evaluation")


def run_pipeline(cfg: RunConfig, folder, prepared: Prepared) -> None:
    """Run every stage of `cfg` into `folder`. In a resumed run the stages that finished are
    skipped; the weights they trained are read back from their checkpoints."""
    ctx = make_context(cfg, folder, prepared)
    run_stage(ctx, "data", data_stage)  # first: the chance level every f_mem is read against

    teacher = run_stage(ctx, "teacher", teacher_stage)
    teacher_params = teacher.weights if teacher else trained_weights(ctx, "teacher")
    # D(y, sigma): the trained teacher as a denoiser function, the only form CD and the
    # evaluation need from here on
    D = EDMDenoiser(ctx.net, ctx.sigma_data).bind(teacher_params)
    run_stage(ctx, "teacher evaluation", teacher_evaluation_stage, D)

    student = run_stage(ctx, "distillation", distillation_stage, D, teacher_params)
    student_params = student.weights if student else trained_weights(ctx, "student")
    run_stage(ctx, "student evaluation", student_evaluation_stage, student_params)

    # the baselines: CT without a teacher (optional: it costs a second training), and the
    # empirical optimum, the perfect memorizer every f_mem is read against
    if cfg.run_ct:
        run_stage(ctx, "consistency training", ct_stage)
    run_stage(ctx, "references", references_stage)


def run_stage(ctx: Context, name: str, stage, *args) -> StageResult | None:
    """stage(ctx, *args), unless it finished in an earlier session of this run (then None);
    its metrics and samples are kept in the folder, and saved, as it ends."""
    folder = ctx.folder
    if folder.done(name):
        return None
    with folder.stage(name):
        result = stage(ctx, *args)
        folder.record(result.metrics, result.samples)
    return result


# --- before the run folder exists --------------------------------------------------------------

def share_key(cfg: RunConfig) -> str:
    """Runs with the same key compute the same SHARED_STAGES: the config without the sections
    that act only after the teacher."""
    teacher_part = {k: v for k, v in to_dict(cfg).items() if k not in AFTER_TEACHER}
    return hashlib.sha1(json.dumps(teacher_part, sort_keys=True).encode()).hexdigest()[:12]


def prepare(cfg: RunConfig) -> Prepared:
    """Everything that can fail at the start, done before anything is written: the device, the
    memory the run will need (estimated before anything is allocated), the data and its scale."""
    xp = get_xp(cfg.device)
    generated_d = getattr(cfg.data, "d", 2 if hasattr(cfg.data, "noise") else None)
    if generated_d is not None:  # toy data is drawn, not read: its size is known now
        points = cfg.data.n_train + (cfg.data.n_test or 10_000) + cfg.eval.n_samples
        check_budget(8 * points * generated_d, f"the data ({points} points of dimension "
                     f"{generated_d})")
    check_budget(run_memory(cfg, generated_d or 1), "this run")
    ds = cfg.data.build(cfg.seed)
    check_budget(run_memory(cfg, ds.d), "this run")  # again, now that d is known
    check_scale(ds)
    return Prepared(xp=xp, ds=ds)


def run_memory(cfg: RunConfig, d: int) -> int:
    """A generous estimate of the bytes a run holds at once: the weights and their copies
    (parameters, gradients, two Adam moments, EMA, target, teacher), the activations a
    training step keeps for backward, and the sample sets of the evaluation."""
    net = make_network(cfg.net, d)
    params = sum(math.prod(s) for s in net.param_shapes().values())
    width = cfg.net.p if cfg.net.kind == "rf" else cfg.net.hidden
    depth = getattr(cfg.net, "depth", 1) + 2
    batch = max(cfg.teacher.batch, cfg.distill.batch)
    samples = 12 * (cfg.eval.n_samples + cfg.eval.n_curve) * d
    grids = cfg.diffusion.steps + cfg.distill.N  # karras_sigmas: ~6 float64 arrays while made
    return 4 * (8 * params + 8 * batch * width * depth + samples) + 48 * grids


def check_scale(ds) -> None:
    """Data whose scale EDM's preconditioning cannot handle in float32 gets its own message."""
    biggest = float(np.abs(ds.train).max())
    if not (1e-6 <= ds.sigma_data <= 1e6) or biggest > 1e8:
        raise CdliteError(
            f"dataset {ds.name!r}: its scale is sigma_data = {ds.sigma_data:.3g} (largest value "
            f"{biggest:.3g}); EDM's preconditioning (c_in = 1 / sqrt(sigma^2 + sigma_data^2)) "
            "and the squared distances of the metrics work in float32, which holds this only "
            "for scales between 1e-6 and 1e6: rescale the data (divide by its standard "
            "deviation), or give data.pixel_range / data.sigma_data")
