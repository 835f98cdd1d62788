"""What a training stage keeps while its loop runs: the curve of evaluation points, the model
checkpoint that `cdlite sample` reads, and the loop's state for --resume.

The loops (cdlite.diffusion.train_teacher, cdlite.distill.distill) call on_eval(step, weights)
at each evaluation and keep what it returns in their `history`; the stage reads the curve back
from there, as a value. CurveRecorder also holds the points itself, because two readers need
them before the loop returns: the run folder, which saves the curve as it grows so that a
killed run keeps every point it paid for.
"""
from __future__ import annotations

from ..checkpoint import save_checkpoint
from ..config import to_dict
from ..nn.networks import network_spec
from ..runs.checkpoints import load_model, load_state, save_state
from .config import AFTER_TEACHER
from .evaluation import curve_point
from .streams import rng


class CurveRecorder:
    """The on_eval and on_state of the training loop of `role` ("teacher" or "student").

    samplers: (name, sample, sample stream, metric stream) per curve; the first gives the curve
    point itself, the others are nested under their name (the 2-step student as "two_step").
    `extra(step, model, point)` (optional) returns the point with more entries (the student's
    transfer per latent). `resume` is the state an earlier session of this run
    saved (or None); `resumed` the curve points that session made up to that state's step,
    which this session continues."""

    def __init__(self, ctx, role: str, model, samplers: list, steps_planned: int, extra=None):
        self.ctx, self.role, self.model, self.samplers = ctx, role, model, samplers
        self.extra = extra
        folder = ctx.folder
        net = ctx.net if role == "teacher" else ctx.student_net
        self.resume = load_state(folder.path, role, net)
        # points after the saved state were made by a session that was then stopped: the
        # resumed loop makes them again, so they are dropped rather than counted twice
        step0 = self.resume.step if self.resume is not None else -1
        self.resumed = [p for p in folder.metrics.get(f"{role}_curve", []) if p["step"] <= step0]
        self.points = list(self.resumed)
        self.meta, self.steps_planned = model_meta(ctx, role), steps_planned

    def on_eval(self, step: int, params) -> dict:
        """Evaluate the current weights (one point of the curve), checkpoint them, save the
        curve so far; the point goes back to the loop, which keeps it in its history."""
        ctx, seed = self.ctx, self.ctx.cfg.seed
        D = self.model.bind(params)
        # the checkpoint first: a run stopped during the evaluation still leaves a model that
        # `cdlite sample` can read, with the step it was trained to
        save_checkpoint(ctx.folder.path / "checkpoints" / f"{self.role}.npz", params,
                        {**self.meta, "step": step, "steps_planned": self.steps_planned})
        point = None
        for name, sample, sample_stream, metric_stream in self.samplers:
            x, _ = sample(D, rng(seed, sample_stream, step))
            # the generalization gap is measured once per point, on the main model only
            p = curve_point(x, ctx.ds, ctx.cfg, rng(seed, metric_stream, step),
                            denoise=D if point is None else None, features=ctx.features)
            point = p if point is None else {**point, name: p}
        if self.extra is not None:
            point = self.extra(step, D, point)
        self.points.append({"step": step, **point})
        # saved as it grows: a killed run keeps every point it paid for (the samples are
        # unchanged during training, so only metrics.json is rewritten)
        ctx.folder.record({f"{self.role}_curve": self.points})
        ctx.folder.save(samples=False)
        return point

    def on_state(self, state) -> None:
        """The loop's full state after an evaluation: what --resume continues from."""
        save_state(self.ctx.folder.path, self.role, state, self.meta["config"])


def model_meta(ctx, role: str) -> dict:
    """The checkpoint header: all that `cdlite sample` needs to rebuild and sample the model."""
    dif = ctx.cfg.diffusion
    net = ctx.net if role == "teacher" else ctx.student_net
    config = to_dict(ctx.cfg)
    if role == "teacher":  # what made the teacher: distillation settings play no part
        config = {k: v for k, v in config.items() if k not in AFTER_TEACHER}
    return {"model": role, "network": network_spec(net), "sigma_data": ctx.sigma_data,
            "sigma_min": dif.sigma_min, "sigma_max": dif.sigma_max, "rho": dif.rho,
            "sampler": dif.sampler, "steps": dif.steps,
            "image_shape": list(ctx.ds.image_shape) if ctx.ds.image_shape else None,
            "config": config}


def trained_weights(ctx, role: str) -> dict:
    """The final evaluation weights of a training stage that finished earlier, from its model
    checkpoint, on the run's device."""
    _, params, _ = load_model(ctx.folder.path / "checkpoints" / f"{role}.npz")
    return {k: ctx.xp.asarray(v) for k, v in params.items()}
