"""Teacher training: Adam on the EDM denoising loss over mini-batches of the n training points,
with an EMA of the weights and evaluation callbacks so memorization can be followed over time."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ..backend import array_module, randint
from ..config import Config, at_least, positive
from ..nn.loop import (TrainState, check_loss, check_training_data, evaluation_ema,
                       evaluation_hook, restore)
from ..nn.optim import DECAYS, Adam, clip_grad_norm, ema_update, lr_schedule
from ..progress import progress
from .loss import edm_loss


@dataclass(frozen=True)
class TeacherConfig(Config):
    steps: int = 4000             # Adam steps
    batch: int = 256              # mini-batch, drawn with replacement from the n training points
    lr: float = 2e-3              # Adam learning rate
    warmup: int = 100             # linear learning-rate warm-up steps
    lr_decay: Literal[DECAYS] = "constant"  # after warm-up: constant, cosine or linear decay
    grad_clip: float = 1.0        # clip the global gradient norm (0 = off)
    ema_half_life: float = 0.0    # EMA half-life in steps (0 = evaluate the raw weights)
    P_mean: float = -1.2          # ln(sigma) ~ N(P_mean, P_std^2) during training
    P_std: float = 1.2
    eval_every: int = 500         # call on_eval every this many steps (and at the end)

    def check(self):
        yield from positive(self, "steps", "batch", "lr", "eval_every", "P_std")
        yield from at_least(self, 0, "warmup", "ema_half_life", "grad_clip")


@dataclass
class TrainResult:
    params: dict                  # the trained weights
    ema: dict                     # their EMA (the weights to evaluate and distill from)
    losses: list = field(default_factory=list)   # loss per step
    history: list = field(default_factory=list)  # one dict per evaluation: {"step", ...}


def train_teacher(denoiser, params, train_x, cfg: TeacherConfig, rng, on_eval=None,
                  show_progress=None, resume: TrainState | None = None,
                  on_state=None) -> TrainResult:
    """Train `params` of an EDMDenoiser on `train_x` (n, d).

    on_eval(step, eval_params) -> dict is called at step 0, every cfg.eval_every steps and at the
    end; its dicts are collected in `history`. eval_params is the EMA (or the raw weights when
    cfg.ema_half_life == 0). on_state(TrainState) follows each on_eval after step 0 (to save a
    checkpoint); `resume`, such a state, continues the loop after its step, bit for bit.
    """
    check_training_data(train_x, denoiser.net.d)
    xp = array_module(train_x)
    n = train_x.shape[0]
    opt = Adam(cfg.lr)
    ema, rate = evaluation_ema(params, cfg.ema_half_life)
    result = TrainResult(params, ema)
    start = 0 if resume is None else restore(resume, params, ema, None, opt, rng)

    evaluate = evaluation_hook(result, on_eval, on_state, opt, rng)

    if start == 0:
        evaluate(0)
    for step in progress(range(start + 1, cfg.steps + 1), cfg.steps, "teacher", show_progress):
        x = train_x[randint(rng, 0, n, cfg.batch, xp)]  # (B, d)
        loss, grads = edm_loss(denoiser, params, x, rng, cfg.P_mean, cfg.P_std)
        lr = lr_schedule(step - 1, cfg.lr, cfg.warmup, cfg.steps, cfg.lr_decay)  # counts from 0
        check_loss(loss, step, lr, "teacher training")
        if cfg.grad_clip > 0:
            clip_grad_norm(grads, cfg.grad_clip)
        opt.step(params, grads, lr=lr)
        if ema is not params:
            ema_update(ema, params, rate)
        result.losses.append(loss)
        if step % cfg.eval_every == 0 or step == cfg.steps:
            evaluate(step)
    return result
