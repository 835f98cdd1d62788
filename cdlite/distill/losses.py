"""Consistency losses: distillation (CD, Algorithm 2) and training (CT, Algorithm 3) of Song et al.
(2023), written as siblings. They differ in one line: how the point x_hat_n on the same trajectory
at the lower level t_n is estimated from x_{n+1} = x + t_{n+1} z.

  CD: one ODE step of the teacher's probability-flow ODE from t_{n+1} down to t_n.
  CT: x + t_n z with the same z (the no-teacher, unbiased one-sample estimate).

Both return (loss, grads of the student's params); the gradient flows only through the student's
output at (x_{n+1}, t_{n+1}); the target network's output at (x_hat_n, t_n) is a constant.
"""
from __future__ import annotations

import math

from ..backend import array_module, randint, randn
from ..diffusion.precond import sigma_column
from ..diffusion.samplers import euler_step, heun_step, slope


def teacher_ode_step(teacher, x, t_from, t_to, solver: str = "heun"):
    """One Euler or Heun step of the teacher's ODE dx/dt = (x - D(x, t)) / t from t_from down to
    t_to (both (B, 1) columns: one level per row), the samplers' own step functions."""
    if solver not in ("heun", "euler"):
        raise ValueError(f"unknown teacher solver {solver!r}; use 'heun' or 'euler'")
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
    raise ValueError(f"unknown distance {kind!r}; use 'l2' or 'pseudo-huber'")


def _draw_pair(x, grid, rng):
    """Algorithm 2/3 lines 3-4: n ~ U{1..N-1}, z ~ N(0, I); t_n, t_{n+1} as (B, 1) columns."""
    xp = array_module(x)
    idx = randint(rng, 0, len(grid) - 1, x.shape[0], xp)  # 0-based n
    t_n = sigma_column(grid[idx], x)
    t_next = sigma_column(grid[idx + 1], x)
    z = randn(rng, x.shape, xp, x.dtype)
    return t_n, t_next, z


def _consistency_loss(student, params, target_params, x_next, t_next, x_hat, t_n, dist, c):
    """d(f_theta(x_{n+1}, t_{n+1}), f_theta_minus(x_hat_n, t_n)), gradient through the first."""
    f_target, _ = student.forward(target_params, x_hat, t_n[:, 0])  # stop-gradient
    f, cache = student.forward(params, x_next, t_next[:, 0])
    loss, df = distance(f, f_target, dist, c)
    return loss, student.backward(params, df, cache)


def cd_loss(student, params, target_params, teacher, x, grid, rng, solver="heun",
            dist="l2", c=0.0):
    """Consistency distillation loss, Algorithm 2 of Song et al. (2023), lines 3-7.

    teacher: a denoiser function (y, sigma) -> D; grid: ascending t_1 = sigma_min < ... < t_N.
    """
    t_n, t_next, z = _draw_pair(x, grid, rng)
    x_next = x + t_next * z  # line 5
    x_hat = teacher_ode_step(teacher, x_next, t_next, t_n, solver)  # line 6: teacher ODE step
    return _consistency_loss(student, params, target_params, x_next, t_next, x_hat, t_n, dist, c)


def ct_loss(student, params, target_params, teacher, x, grid, rng, solver="heun",
            dist="l2", c=0.0):
    """Consistency training loss, Algorithm 3 of Song et al. (2023): no teacher, same z."""
    t_n, t_next, z = _draw_pair(x, grid, rng)
    x_next = x + t_next * z
    x_hat = x + t_n * z  # the one line that differs from CD
    return _consistency_loss(student, params, target_params, x_next, t_next, x_hat, t_n, dist, c)


def ct_grid_size(k: int, K: int, s0: int = 2, s1: int = 150) -> int:
    """N(k) of Song et al. (2023), appendix C: grows from s0 to s1 + 1 over K steps."""
    return int(math.ceil(math.sqrt(k / K * ((s1 + 1) ** 2 - s0 ** 2) + s0 ** 2) - 1)) + 1
