"""Spectrum of U in the random-feature model (Bonnaire et al., arXiv 2505.17638, Sec. 3-4).

Gaussian equivalence, written out for cdlite's setting (N(0, I_d) data, rows of W with
|w_i|^2 ~ d, sigma = tanh). The pre-activation of feature i on a noisy training point is

    h_i = e^-t u_i + sqrt(Delta_t) z_i,   u_i = w_i . x / sqrt(d) (data),   z_i = w_i . xi / sqrt(d)

and h_i ~ N(0, 1). Split sigma(h) into four uncorrelated pieces:

    a_t u           linear in the data,   a_t = e^-t mu_1,   mu_1 = E[sigma'(g)] = E[g sigma(g)]
    m(u) - a_t u    non-linear in the data, variance v_t^2 = E[m(u)^2] - a_t^2,  m(u) = E_z sigma(h)
    b_t z           linear in the noise,  b_t = sqrt(Delta_t) mu_1
    the rest        non-linear in the noise, variance s_t^2 = E[sigma(g)^2] - E[m(u)^2] - b_t^2

Averaged over the noise and the n training points this gives, up to small corrections,

    U ~ W (a_t^2 X^T X / n + b_t^2 I) W^T / d   +   v_t^2 Omega Omega^T / n   +   s_t^2 I_p,

with Omega (p, n) made of independent unit-variance entries. Hence three parts (p > n > d),
counted by rank in a descending spectrum:
  * generalisation bulk: d eigenvalues on the scale psi_p mu_1^2 (the W-terms), psi_p = p / d;
  * memorisation bulk: the other n - d directions spanned by the training points (d of the n
    go to the data-linear part above), Marchenko-Pastur with ratio p / n, shifted by s_t^2:
        s_t^2 + v_t^2 (1 -+ sqrt(psi_p / psi_n))^2,   psi_n = n / d;
  * a spike of p - n eigenvalues at s_t^2 in the d -> infinity limit.
The edges are the d -> infinity limit. At finite d the norms |x|^2 / d of the data points spread
by sqrt(2 / d) and widen the bulk: at d = 32, p = 1024, n = 64 the lowest memorisation
eigenvalue sits ~20% below the predicted edge; at d = 48, p = 768, n = 96 within ~5%.

The spike at finite d (cdlite's own reading, checked by the recipe). Almost all of s_t^2 is the
noise-linear part with a data-dependent slope: sqrt(Delta_t) sigma_1(u_i) z_i, with
sigma_1(u) = E_z sigma'(e^-t u + sqrt(Delta_t) z), whose variance over the data is kappa_t
(Delta_t kappa_t = 97% of s_t^2 at t = 0.01). Averaged over the n training points, its deviation
from the mean slope mu_1 is a sum of n d rank-one terms in p dimensions, a Marchenko-Pastur bulk

    spike bulk ~ (s_t^2 - Delta_t kappa_t) + Delta_t kappa_t (1 -+ sqrt(p / (n d)))^2,

which shrinks to the delta at s_t^2 only when n d / p = psi_n d / psi_p -> infinity. At d = 32,
p = 1024 it spans a factor ~30 at n = 64. Its directions hold the training points' own slopes,
so fitting them (on timescales psi_p / (2 Delta_t s_t^2) and longer) is memorisation too.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..backend import to_numpy
from .model import ou_coeffs


@dataclass(frozen=True)
class GEConstants:
    """Gaussian-equivalence constants of sigma at diffusion time t (see the module docstring)."""
    t: float
    mu1: float    # E[sigma'(g)], g ~ N(0, 1)
    a: float      # a_t = e^-t mu1: weight of the data-linear part
    b: float      # b_t = sqrt(Delta_t) mu1: weight of the noise-linear part
    v2: float     # v_t^2: variance of the data-non-linear part (memorisation bulk)
    s2: float     # s_t^2: variance of the noise-non-linear part (the spike)
    kappa: float  # kappa_t: variance over the data of the smoothed slope sigma_1(u)


def _derivative(sigma, eps: float = 1e-5):
    """sigma' by a central difference (exact to ~1e-10 for tanh), so any sigma can be passed."""
    return lambda h: (sigma(h + eps) - sigma(h - eps)) / (2.0 * eps)


def ge_constants(t: float, sigma=np.tanh, n_nodes: int = 101) -> GEConstants:
    """Gaussian-equivalence constants by Gauss-Hermite quadrature (probabilists' Hermite nodes)."""
    g, w = np.polynomial.hermite_e.hermegauss(n_nodes)
    w = w / math.sqrt(2.0 * math.pi)            # weights of E over N(0, 1)
    e, Delta = ou_coeffs(t)
    mu1 = float(w @ (g * sigma(g)))              # Stein: E[sigma'(g)] = E[g sigma(g)]
    e_sig2 = float(w @ sigma(g) ** 2)           # E[sigma(g)^2]
    # m(u) = E_z sigma(e u + sqrt(Delta) z): inner quadrature over z for every node u
    m = sigma(e * g[:, None] + math.sqrt(Delta) * g[None, :]) @ w   # (n_nodes,)
    e_m2 = float(w @ m ** 2)                    # E_u[m(u)^2]
    # the smoothed slope sigma_1(u) = E_z sigma'(e u + sqrt(Delta) z) for every node u
    slope = _derivative(sigma)(e * g[:, None] + math.sqrt(Delta) * g[None, :]) @ w
    a, b = e * mu1, math.sqrt(Delta) * mu1
    return GEConstants(t=t, mu1=mu1, a=a, b=b, v2=e_m2 - a * a, s2=e_sig2 - e_m2 - b * b,
                       kappa=float(w @ slope ** 2) - mu1 ** 2)


def ge_constants_mc(t: float, rng, n: int = 1_000_000, sigma=np.tanh) -> GEConstants:
    """The same constants by Monte Carlo, as an independent check of the quadrature.

    E[m(u)^2] = E[sigma(h) sigma(h')] where h, h' share the data part u and have independent
    noise parts z, z'; likewise E[sigma_1(u)^2] = E[sigma'(h) sigma'(h')]."""
    e, Delta = ou_coeffs(t)
    u, z, z2 = rng.standard_normal((3, n))
    h, h2 = e * u + math.sqrt(Delta) * z, e * u + math.sqrt(Delta) * z2
    s, s2_ = sigma(h), sigma(h2)
    mu1 = float(np.mean(h * s))
    e_m2 = float(np.mean(s * s2_))
    a, b = e * mu1, math.sqrt(Delta) * mu1
    slopes = _derivative(sigma)(h) * _derivative(sigma)(h2)
    return GEConstants(t=t, mu1=mu1, a=a, b=b, v2=e_m2 - a * a,
                       s2=float(np.mean(s * s)) - e_m2 - b * b,
                       kappa=float(np.mean(slopes)) - mu1 ** 2)


def mem_bulk_edges(c: GEConstants, psi_p: float, psi_n: float) -> tuple[float, float]:
    """Predicted edges of the memorisation bulk: s_t^2 + v_t^2 (1 -+ sqrt(psi_p / psi_n))^2."""
    r = math.sqrt(psi_p / psi_n)
    return c.s2 + c.v2 * (1.0 - r) ** 2, c.s2 + c.v2 * (1.0 + r) ** 2


def spike_bulk_edges(c: GEConstants, p: int, n: int, d: int) -> tuple[float, float]:
    """Predicted edges of the spike at finite d (module docstring):
    (s_t^2 - Delta_t kappa_t) + Delta_t kappa_t (1 -+ sqrt(p / (n d)))^2."""
    _, Delta = ou_coeffs(c.t)
    r, k = math.sqrt(p / (n * d)), Delta * c.kappa
    return c.s2 - k + k * (1.0 - r) ** 2, c.s2 - k + k * (1.0 + r) ** 2


def gen_bulk_scale(c: GEConstants, psi_p: float) -> float:
    """Scale of the generalisation bulk: psi_p (a_t^2 + b_t^2) = psi_p mu_1^2 (+ s_t^2)."""
    return c.s2 + psi_p * (c.a ** 2 + c.b ** 2)


# --- eigendecomposition -----------------------------------------------------------------------

def eigh_desc(U):
    """Eigenvalues in descending order (p,) and eigenvectors as columns Q (p, p), on the host."""
    lam, Q = np.linalg.eigh(to_numpy(U).astype(np.float64))
    return lam[::-1].copy(), Q[:, ::-1].copy()


def power_iteration(U, rng, n_iter: int = 100) -> float:
    """Largest eigenvalue of a symmetric PSD matrix U by power iteration (sets the GD step)."""
    U = to_numpy(U)
    q = rng.standard_normal(U.shape[0])
    lam = 0.0
    for _ in range(n_iter):
        z = U @ q
        lam = float(np.linalg.norm(z))
        q = z / lam
    return float(q @ U @ q)


def split_bulks(p: int, d: int, n: int) -> dict[str, slice]:
    """Indices of the three parts in a descending spectrum: d generalisation modes (the rank-d
    W-terms), then n - d memorisation modes (the rest of the span of the n training points),
    then the spike. Needs p > n > d to be meaningful (the recipe checks it)."""
    n = min(max(n, d), p)
    return {"gen": slice(0, d), "mem": slice(d, n), "spike": slice(n, p)}
