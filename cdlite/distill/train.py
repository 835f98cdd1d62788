"""The consistency loop, shared by distillation (CD, Algorithm 2) and training (CT, Algorithm 3) of
Song et al. (2023). Four sets of weights, named so they are never confused:

  teacher   the trained diffusion model (a denoiser function); frozen, used only by CD
  params    theta: the student, the only weights the optimizer changes
  target    theta_minus: EMA of the student with rate mu, gives the regression targets
            (mu = 0: a stop-gradient copy of the student)
  ema       a separate, slower EMA of the student used only for evaluation (optional)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from ..backend import array_module, randint
from ..config import Config, at_least, positive
from ..diffusion.grids import consistency_grid
from ..metrics.growth import log_spaced_steps
from ..nn import schedules
from ..nn.loop import check_loss, check_training_data, evaluation_ema, evaluation_hook, restore
from ..nn.optim import Adam, clip_grad_norm, copy_params, ema_update
from ..progress import progress
from .losses import DISTANCES, SOLVERS, cd_loss, ct_grid_size, ct_loss


LOG_FIRST = 64  # the log schedule's first step: before it the student has hardly moved


@dataclass(frozen=True)
class DistillConfig(Config):
    steps: int = 2000             # student Adam steps
    batch: int = 256              # mini-batch from the training points
    lr: float = 2e-4              # Adam learning rate
    N: int = 18                   # grid size (CIFAR-10 setting of Song et al.)
    mu: float = 0.95              # target EMA rate theta_minus <- mu theta_minus + (1 - mu) theta
    solver: Literal[SOLVERS] = "heun"  # teacher ODE step (CD only)
    distance: Literal[DISTANCES] = "l2"  # squared L2 or pseudo-Huber
    huber_c: float = 0.0          # pseudo-Huber c (0 = 0.00054 sqrt(d), Song & Dhariwal 2023)
    init: Literal["teacher", "scratch"] = "teacher"  # the student's initial weights
    ema_half_life: float = 0.0    # evaluation EMA half-life in steps (0 = evaluate the student)
    grad_clip: float = 1.0        # global gradient-norm clip (0 = off)
    ct_schedule: bool = False     # grow the grid from 2 to N points over training (CT, appendix
    #                               C); unlike Song et al., mu stays fixed rather than following N
    lr_schedule: Literal[schedules.DECAYS] = "constant"  # the learning rate over the budget
    #                               `steps`: constant, or a cosine or linear decay to 0 at the end
    eval_schedule: Literal["linear", "log"] = "linear"  # when on_eval is called: every
    #                               eval_every steps, or at log-spaced steps (64, 128, 256, ...,
    #                               then `steps`: cdlite.metrics.growth.log_spaced_steps)
    eval_every: int = 500         # the spacing of the linear schedule (and at the end)

    def eval_steps(self) -> frozenset:
        """The steps after which the loop evaluates (step 0, before training, always too)."""
        if self.eval_schedule == "log":
            return frozenset(log_spaced_steps(self.steps, LOG_FIRST))
        return frozenset(range(self.eval_every, self.steps, self.eval_every)) | {self.steps}

    def check(self):
        yield from positive(self, "steps", "batch", "lr", "eval_every")
        yield from at_least(self, 0, "huber_c", "ema_half_life", "grad_clip")
        if self.eval_schedule == "log" and self.steps > 0:
            points = log_spaced_steps(self.steps, LOG_FIRST, min_points=1)
            if len(points) < 3:  # the growth law fits a line and needs 3 points
                yield (f"steps={self.steps} (eval_schedule=log evaluates at {points}, fewer "
                       f"than the 3 points the growth law needs: raise steps to at least "
                       f"{LOG_FIRST * 2 + 1} or set eval_schedule=linear)")
        if self.N < 2:
            yield f"N={self.N} (the grid needs at least 2 levels)"
        if not 0.0 <= self.mu <= 1.0:
            yield f"mu={self.mu} (an EMA rate in [0, 1])"


@dataclass
class DistillResult:
    params: dict                  # theta, the student
    target: dict                  # theta_minus
    ema: dict                     # evaluation EMA (is `params` when ema_half_life == 0)
    losses: list = field(default_factory=list)
    history: list = field(default_factory=list)


def _consistency_loop(loss_fn, student, params, teacher, train_x, cfg: DistillConfig, rng,
                      sigma_min, sigma_max, rho, on_eval, show_progress, desc, resume=None,
                      on_state=None):
    check_training_data(train_x, student.net.d)
    xp = array_module(train_x)
    d = train_x.shape[1]
    c = cfg.huber_c or 0.00054 * np.sqrt(d)
    target = copy_params(params)  # theta_minus <- theta (Algorithm 2, line 1)
    ema, ema_rate = evaluation_ema(params, cfg.ema_half_life)
    opt = Adam(cfg.lr)
    result = DistillResult(params, target, ema)
    start = 0 if resume is None else restore(resume, params, ema, target, opt, rng)

    def grid_for(step):
        N = ct_grid_size(step, cfg.steps, s1=cfg.N - 1) if cfg.ct_schedule else cfg.N
        return consistency_grid(N, sigma_min, sigma_max, rho, xp, train_x.dtype)

    evaluate = evaluation_hook(result, on_eval, on_state, opt, rng, target)
    eval_steps = cfg.eval_steps()

    if start == 0:
        evaluate(0)
    grid = grid_for(start)
    for step in progress(range(start + 1, cfg.steps + 1), cfg.steps, desc, show_progress):
        if cfg.ct_schedule and len(grid) != ct_grid_size(step, cfg.steps, s1=cfg.N - 1):
            grid = grid_for(step)  # N(k) grew: rebuild the grid
        x = train_x[randint(rng, 0, train_x.shape[0], cfg.batch, xp)]  # line 3: x ~ data
        loss, grads = loss_fn(student, params, target, teacher, x, grid, rng, cfg.solver,
                              cfg.distance, c)
        # eta over the budget cfg.steps: constant, or a cosine or linear decay to 0 at the end
        lr = schedules.lr_schedule(step - 1, cfg.lr, 0, cfg.steps, cfg.lr_schedule)
        check_loss(loss, step, lr, desc)
        if cfg.grad_clip > 0:
            clip_grad_norm(grads, cfg.grad_clip)
        opt.step(params, grads, lr=lr)  # Alg. 2 line 7 (Alg. 3 line 6): theta <- theta - eta grad
        # Alg. 2 line 8 (Alg. 3 line 7): theta_minus <- mu theta_minus + (1 - mu) theta
        ema_update(target, params, cfg.mu)
        if ema is not params:
            ema_update(ema, params, ema_rate)
        result.losses.append(loss)
        if step in eval_steps:
            evaluate(step)
    return result


def distill(teacher, student, params, train_x, cfg: DistillConfig, rng, sigma_min=0.002,
            sigma_max=80.0, rho=7.0, on_eval=None, show_progress=None, resume=None,
            on_state=None) -> DistillResult:
    """Consistency distillation (Algorithm 2 of Song et al. 2023).

    teacher: denoiser function (y, sigma) -> D; student: ConsistencyFunction; params: its initial
    weights (a copy of the teacher's for init='teacher'), trained in place.
    on_eval(step, eval_params) -> dict is recorded in `history`; on_state(TrainState) follows it
    (after step 0) and `resume` continues from such a state, as in train_teacher; on_eval is
    called at step 0 and at cfg.eval_steps(). The learning rate over the budget cfg.steps is
    cfg.lr_schedule: "constant" (cfg.lr throughout), "cosine" or "linear" (from cfg.lr down to
    0 at step cfg.steps; cdlite.nn.schedules.lr_schedule).
    """
    return _consistency_loop(cd_loss, student, params, teacher, train_x, cfg, rng, sigma_min,
                             sigma_max, rho, on_eval, show_progress, "distill (CD)", resume,
                             on_state)


def consistency_train(student, params, train_x, cfg: DistillConfig, rng, sigma_min=0.002,
                      sigma_max=80.0, rho=7.0, on_eval=None, show_progress=None, resume=None,
                      on_state=None) -> DistillResult:
    """Consistency training (Algorithm 3 of Song et al. 2023): the same loop without a teacher
    (the learning rate and the evaluations as in `distill`)."""
    return _consistency_loop(ct_loss, student, params, None, train_x, cfg, rng, sigma_min,
                             sigma_max, rho, on_eval, show_progress, "train (CT)", resume,
                             on_state)
