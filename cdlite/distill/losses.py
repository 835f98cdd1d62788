"""Consistency losses: distillation (CD, Algorithm 2) and training (CT, Algorithm 3) of Song et al.
(2023), written as siblings. They differ in one line: how the point x_hat_n on the same trajectory
at the lower level t_n is estimated from x_{n+1} = x + t_{n+1} z.

  CD: one ODE step of the teacher's probability-flow ODE from t_{n+1} down to t_n.
  CT: x + t_n z with the same z (the no-teacher, unbiased one-sample estimate).

Both return (loss, grads of the student's params); the gradient flows only through the student's
output at (x_{n+1}, t_{n+1}); the target network's output at (x_hat_n, t_n) is a constant.

Line numbers count the statements of Song et al.'s algorithms from the first one after "Input";
Algorithm 2 (CD): 1 theta_minus <- theta, 2 repeat, 3 sample x and n, 4 sample x_{t_{n+1}},
5 the teacher's ODE step to x_hat_{t_n}, 6 the loss, 7 the update of theta, 8 the update of
theta_minus. Algorithm 3 (CT) has no teacher step: 3 sample x and n, 4 sample z, 5 the loss,
6 theta, 7 theta_minus.
"""
from __future__ import annotations

import math

from ..backend import array_module, randint, randn
from ..diffusion.precond import sigma_column
from ..diffusion.samplers import euler_step, heun_step, slope
from ..errors import CdliteError


SOLVERS = ("heun", "euler")            # the teacher's ODE step in CD
DISTANCES = ("l2", "pseudo-huber")      # d(a, b) of the consistency loss


def teacher_ode_step(teacher, x, t_from, t_to, solver: str = "heun"):
    """One Euler or Heun step of the teacher's ODE dx/dt = (x - D(x, t)) / t from t_from down to
    t_to (both (B, 1) columns: one level per row), the samplers' own step functions."""
    if solver not in ("heun", "euler"):
        raise CdliteError(f"unknown teacher solver {solver!r}; use one of {', '.join(SOLVERS)}")
    d, _ = slope(teacher, x, t_from)
    if solver == "euler":
        return euler_step(x, d, t_from, t_to)
    return heun_step(teacher, x, d, t_from, t_to)


def distance(a, b, kind: str = "l2", c: float = 0.0):
    """d(a, b) per batch mean, and its gradient w.r.t. a.

    l2: mean_j (a - b)^2 per sample; pseudo-Huber: sqrt(|a - b|^2 + c^2) - c (Song & Dhariwal 2023).
    """
    xp = array_module(a)
    diff = a - b  # (B, d)
    B, d = diff.shape
    if kind == "l2":
        return float((diff * diff).mean()), (2.0 / (B * d)) * diff
    if kind == "pseudo-huber":
        r = xp.sqrt((diff * diff).sum(axis=1, keepdims=True) + c * c)  # (B, 1)
        return float((r - c).mean()), diff / (B * r)
    raise CdliteError(f"unknown distance {kind!r}; use one of {', '.join(DISTANCES)}")


def _draw_pair(x, grid, rng):
    """n ~ U{1..N-1} (Algorithm 2 and 3, line 3) and z ~ N(0, I) (line 4); t_n, t_{n+1} as
    (B, 1) columns."""
    xp = array_module(x)
    idx = randint(rng, 0, len(grid) - 1, x.shape[0], xp)  # 0-based n
    t_n = sigma_column(grid[idx], x)
    t_next = sigma_column(grid[idx + 1], x)
    z = randn(rng, x.shape, xp, x.dtype)
    return t_n, t_next, z


def _consistency_loss(student, params, target_params, x_next, t_next, x_hat, t_n, dist, c):
    """d(f_theta(x_{n+1}, t_{n+1}), f_theta_minus(x_hat_n, t_n)), gradient through the first
    (Algorithm 2, line 6; Algorithm 3, line 5; lambda(t_n) = 1)."""
    f_target, _ = student.forward(target_params, x_hat, t_n[:, 0])  # stop-gradient
    f, cache = student.forward(params, x_next, t_next[:, 0])
    loss, df = distance(f, f_target, dist, c)
    return loss, student.backward(params, df, cache)


def cd_loss(student, params, target_params, teacher, x, grid, rng, solver="heun",
            dist="l2", c=0.0):
    """Consistency distillation loss, Algorithm 2 of Song et al. (2023), lines 3-6.

    teacher: a denoiser function (y, sigma) -> D; grid: ascending t_1 = sigma_min < ... < t_N.
    """
    t_n, t_next, z = _draw_pair(x, grid, rng)
    x_next = x + t_next * z  # line 4: x_{t_{n+1}} ~ N(x, t_{n+1}^2 I)
    x_hat = teacher_ode_step(teacher, x_next, t_next, t_n, solver)  # line 5: teacher ODE step
    return _consistency_loss(student, params, target_params, x_next, t_next, x_hat, t_n, dist, c)


def ct_loss(student, params, target_params, teacher, x, grid, rng, solver="heun",
            dist="l2", c=0.0):
    """Consistency training loss, Algorithm 3 of Song et al. (2023), lines 3-5: no teacher, the
    same z at both levels."""
    t_n, t_next, z = _draw_pair(x, grid, rng)
    x_next = x + t_next * z
    x_hat = x + t_n * z  # the one line that differs from CD
    return _consistency_loss(student, params, target_params, x_next, t_next, x_hat, t_n, dist, c)


def ct_grid_size(k: int, K: int, s0: int = 2, s1: int = 150) -> int:
    """N(k) of Song et al. (2023), appendix C: grows from s0 to s1 + 1 over K steps."""
    return int(math.ceil(math.sqrt(k / K * ((s1 + 1) ** 2 - s0 ** 2) + s0 ** 2) - 1)) + 1
