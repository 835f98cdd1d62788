"""Random-feature score model of Bonnaire, Urfin, Biroli & Mezard (arXiv 2505.17638), Sec. 3.

One model per diffusion time t of the Ornstein-Uhlenbeck process

    x_t = e^-t x + sqrt(Delta_t) xi,      Delta_t = 1 - e^-2t,     xi ~ N(0, I_d)

with the score model  s_A(x) = (A / sqrt(p)) tanh(W x / sqrt(d)):  W (p, d) fixed N(0, 1), the
readout A (d, p) trained from zero on the denoising loss of n training points

    L(A) = (1 / (n d)) sum_nu E_xi |sqrt(Delta_t) s_A(x_t^nu) + xi|^2.

Every loss in cdlite.theory has the same shape: fit A phi / sqrt(p) to a target r with a weight,

    L(A) = (weight / d) E |A phi / sqrt(p) - r|^2
         = (weight / d) [ tr(A U A^T) / p - 2 tr(A R) / sqrt(p) + E|r|^2 ],

with U = E[phi phi^T] (p, p) and R = E[phi r^T] (p, d). The denoising loss is the case
r = -xi / sqrt(Delta_t), weight = Delta_t (then R = -V / sqrt(Delta_t) with the paper's
V = E[phi xi^T], estimated through Stein's lemma); the score error against the true score is
r = s*(x_t), weight = 1; the consistency-distillation loss of distill.py is a third target.
A `Regression` holds U, R, E|r|^2 and the weight, estimated by Monte Carlo (`mc_regressions`),
so every loss and every gradient flow below is a quadratic form in A.

Shape letters: B batch, d data dimension, p random features, n training points.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from collections.abc import Callable

import numpy as np

from ..backend import array_module, randn, to_numpy
from ..errors import CdliteError

# a target maps (x_t (B, d), xi (B, d)) to r (B, d); it comes with the weight of its loss
TargetFn = Callable[[object, object], object]


# --- the forward process and the model --------------------------------------------------------

def ou_coeffs(t: float) -> tuple[float, float]:
    """(e^-t, Delta_t = 1 - e^-2t) of the OU process x_t = e^-t x + sqrt(Delta_t) xi."""
    if not t > 0:
        raise CdliteError(f"diffusion time t must be > 0, got {t}; the paper uses t = 0.01 to 1")
    return math.exp(-t), -math.expm1(-2.0 * t)


def gaussian_data(rng, n: int, d: int, xp=np, dtype=np.float64):
    """n clean points from N(0, I_d), the default data of the theory (x_t is then N(0, I) too)."""
    return randn(rng, (n, d), xp, dtype)  # (n, d)


def gaussian_score(x_t):
    """True score of x_t for N(0, I_d) data: x_t ~ N(0, I) at every t, so s*(x_t) = -x_t."""
    return -x_t


def make_features(rng, p: int, d: int, xp=np, dtype=np.float64):
    """The fixed first layer W (p, d), entries N(0, 1)."""
    return randn(rng, (p, d), xp, dtype)


def features(x, W):
    """phi(x) = tanh(W x / sqrt(d)) for a batch x (B, d) -> (B, p)."""
    d = W.shape[1]
    xp = array_module(x, W)
    return xp.tanh(x @ W.T / math.sqrt(d))  # (B, p)


def rf_score(A, x, W):
    """s_A(x) = (A / sqrt(p)) phi(x) for a batch x (B, d) -> (B, d)."""
    p = W.shape[0]
    return features(x, W) @ A.T / math.sqrt(p)  # (B, d)


# --- the denoising loss on a batch (what gradient descent sees) -------------------------------

def dsm_loss_and_grad(A, x, xi, W, t: float):
    """Training loss of Bonnaire et al. (Sec. 3) on one batch of noise draws:
    L = (1 / (B d)) sum_b |sqrt(Delta_t) s_A(x_t^b) + xi^b|^2, and its gradient dA (d, p)."""
    B, d = x.shape
    p = W.shape[0]
    e, Delta = ou_coeffs(t)
    x_t = e * x + math.sqrt(Delta) * xi                  # (B, d)
    phi = features(x_t, W)                               # (B, p)
    res = math.sqrt(Delta) * phi @ A.T / math.sqrt(p) + xi  # (B, d)  residual of each sample
    loss = float((res * res).sum()) / (B * d)
    # d/dA of |sqrt(Delta) A phi / sqrt(p) + xi|^2 = 2 sqrt(Delta / p) res phi^T
    dA = (2.0 * math.sqrt(Delta / p) / (B * d)) * (res.T @ phi)  # (d, p)
    return loss, dA


# --- quadratic losses from moments ------------------------------------------------------------

@dataclass
class Regression:
    """L(A) = (weight / d) [tr(A U A^T) / p - 2 tr(A R) / sqrt(p) + r2]: the loss of fitting
    A phi / sqrt(p) to a target r, written with its moments U = E[phi phi^T] (p, p),
    R = E[phi r^T] (p, d), r2 = E|r|^2."""
    U: object
    R: object
    r2: float
    weight: float

    @property
    def p(self) -> int:
        return self.U.shape[0]

    @property
    def d(self) -> int:
        return self.R.shape[1]

    def loss(self, A):
        """Loss of one readout A (d, p) or of a stack (T, d, p) -> float or host array (T,)."""
        xp = array_module(self.U)
        A = xp.asarray(A, dtype=self.U.dtype)            # on the device of the moments
        quad = xp.sum((A @ self.U) * A, axis=(-2, -1))   # tr(A U A^T)
        lin = xp.sum(A * self.R.T, axis=(-2, -1))        # tr(A R)
        out = (self.weight / self.d) * (quad / self.p - 2.0 * lin / math.sqrt(self.p) + self.r2)
        return float(out) if out.ndim == 0 else to_numpy(out)

    def grad(self, A):
        """dL/dA (d, p) = (2 weight / d) (A U / p - R^T / sqrt(p))."""
        return (2.0 * self.weight / self.d) * (A @ self.U / self.p - self.R.T / math.sqrt(self.p))

    def least_squares(self):
        """The minimiser A* = sqrt(p) R^T U^-1 (d, p): where gradient flow ends at tau = inf."""
        xp = array_module(self.U)
        return math.sqrt(self.p) * xp.linalg.solve(self.U, self.R).T  # U symmetric


def dsm_target(t: float, stein: bool = True) -> tuple[TargetFn, float]:
    """The denoising target r = -xi / sqrt(Delta_t) with weight Delta_t (Bonnaire et al.).

    With stein=True, mc_regressions estimates R = E[phi r^T] by Stein's lemma (see there)."""
    _, Delta = ou_coeffs(t)

    def r(x_t, xi):
        return -xi / math.sqrt(Delta)
    r.stein = stein
    return r, Delta


def score_target(score_fn=gaussian_score) -> tuple[TargetFn, float]:
    """The true score r = s*(x_t) with weight 1: the loss is then the score error
    (1/d) E|s_A(x_t) - s*(x_t)|^2."""
    return (lambda x_t, xi: score_fn(x_t)), 1.0


def mc_regressions(X, W, t: float, rng, n_mc: int, targets: dict, chunk: int = 2048,
                   U=None) -> dict:
    """Monte-Carlo U and (R, E|r|^2) of each target over x_t = e^-t x + sqrt(Delta_t) xi.

    X (m, d) are the clean points: the n training points (each is then noised ceil(n_mc / m)
    times, which estimates the paper's (1/n) sum_nu E_xi) or m fresh points for the population
    version. `targets` maps a name to (target_fn, weight). All targets share the same samples,
    so their losses are consistent with one another. Passing a `U` already estimated on the same
    clean points skips the (p, p) products, the costly part. Returns {name: Regression}.
    """
    xp = array_module(X, W)
    m, d = X.shape
    p = W.shape[0]
    e, Delta = ou_coeffs(t)
    k = max(1, -(-n_mc // m))     # noise draws per clean point
    total = m * k
    given_U = U
    U = xp.zeros((p, p), dtype=X.dtype) if given_U is None else None
    R = {name: xp.zeros((p, d), dtype=X.dtype) for name in targets}
    r2 = {name: 0.0 for name in targets}
    for start in range(0, total, chunk):
        idx = xp.arange(start, min(start + chunk, total)) % m   # every point k times
        x0 = X[idx]                                             # (B, d)
        xi = randn(rng, x0.shape, xp, X.dtype)                  # (B, d)
        x_t = e * x0 + math.sqrt(Delta) * xi
        phi = features(x_t, W)                                  # (B, p)
        if given_U is None:
            U += phi.T @ phi                                    # (p, p)
        for name, (fn, _) in targets.items():
            if getattr(fn, "stein", False):
                # Stein's lemma: E[phi_i xi_k] = sqrt(Delta) E[sigma'(h_i)] W_ik / sqrt(d), so
                # E[phi r^T] = -E[sigma'(h)] W / sqrt(d) with sigma' = 1 - tanh^2. Same mean as
                # phi r^T, far less variance: r carries noise of size 1/sqrt(Delta) (7 at t=0.01)
                R[name] += -(1.0 - phi * phi).sum(axis=0)[:, None] * W / math.sqrt(d)
                r2[name] += x0.shape[0] * d / Delta             # E|xi|^2 / Delta, exactly
            else:
                r = fn(x_t, xi)                                 # (B, d)
                R[name] += phi.T @ r                            # (p, d)
                r2[name] += float((r * r).sum())
    U = U / total if given_U is None else given_U   # one U, shared by every target
    return {name: Regression(U, R[name] / total, r2[name] / total, w)
            for name, (_, w) in targets.items()}
