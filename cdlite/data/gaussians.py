"""Gaussian mixtures: data whose density, score and optimal denoiser are known exactly.

For p(x) = sum_k w_k N(x; mu_k, Sigma_k) and y = x + sigma * n, n ~ N(0, I), the noisy density is
again a mixture, p_sigma(y) = sum_k w_k N(y; mu_k, Sigma_k + sigma^2 I) (docs/design.md §3.6).
Everything below follows from that one fact:

  log_density(y, sigma)  log p_sigma(y)                       (logsumexp over components)
  score(y, sigma)        grad_y log p_sigma(y)
  denoise(y, sigma)      E[x | y] = y + sigma^2 score(y, sigma) (Tweedie), written per component

Each covariance is eigendecomposed once, Sigma_k = U_k diag(lam_k) U_k^T. Then
Sigma_k + sigma^2 I = U_k diag(lam_k + sigma^2) U_k^T for *every* sigma, so a whole batch with a
different sigma per row costs one rotation z = U_k^T (y - mu_k) and a few divisions: no matrix is
inverted, and sigma -> 0 or sigma -> infinity stay finite. (For one fixed sigma this is as stable as
a Cholesky solve; for a batch of sigmas it avoids one factorization per row.)

Shape letters: B batch, K components, d data dimension.
"""
from __future__ import annotations

import math

import numpy as np

from ..backend import array_module
from ..errors import CdliteError


class GaussianMixture:
    """A mixture sum_k w_k N(mu_k, Sigma_k) with exact noisy log-density, score and denoiser.

    means (K, d), covs (K, d, d) symmetric positive semi-definite, weights (K,) (normalized
    here). Parameters are held as float64 NumPy arrays; the math methods accept NumPy or CuPy
    input and answer on the same backend, in the input's float dtype.
    """

    def __init__(self, means, covs, weights=None):
        means = np.asarray(means, dtype=np.float64)
        covs = np.asarray(covs, dtype=np.float64)
        if means.ndim != 2:
            raise CdliteError(f"GaussianMixture: means must have shape (K, d), got {means.shape}")
        K, d = means.shape
        if covs.shape != (K, d, d):
            raise CdliteError(f"GaussianMixture: covs must have shape (K, d, d) = {(K, d, d)}, "
                              f"got {covs.shape}")
        weights = np.full(K, 1.0 / K) if weights is None else np.asarray(weights, np.float64)
        if weights.shape != (K,) or np.any(weights < 0) or weights.sum() <= 0:
            raise CdliteError(f"GaussianMixture: weights must be K = {K} non-negative numbers "
                              f"with a positive sum, got {weights}")
        if not (np.all(np.isfinite(means)) and np.all(np.isfinite(covs))):
            raise CdliteError("GaussianMixture: means and covs must be finite (found NaN or inf)")
        if not np.allclose(covs, covs.transpose(0, 2, 1), atol=1e-10, rtol=1e-8):
            raise CdliteError("GaussianMixture: every covariance must be symmetric")
        lam, U = np.linalg.eigh(covs)  # (K, d), (K, d, d): Sigma_k = U_k diag(lam_k) U_k^T
        scale = max(1.0, float(np.abs(lam).max()))
        if lam.min() < -1e-9 * scale:
            raise CdliteError(f"GaussianMixture: covariances must be positive semi-definite; "
                              f"smallest eigenvalue is {lam.min():.3g}")
        self.means, self.covs = means, covs
        self.weights = weights / weights.sum()
        self.lam = np.clip(lam, 0.0, None)  # round-off can leave -1e-17 where 0 is meant
        self.U = U
        self._on_device = {}  # backend name -> parameters moved there (filled on first use)

    @property
    def K(self) -> int:
        return self.means.shape[0]

    @property
    def d(self) -> int:
        return self.means.shape[1]

    def __repr__(self):
        return f"GaussianMixture(K={self.K}, d={self.d})"

    # --- statistics of the clean data ------------------------------------------------------------

    def mean(self) -> np.ndarray:
        """E[x] = sum_k w_k mu_k, shape (d,)."""
        return self.weights @ self.means

    def covariance(self) -> np.ndarray:
        """Cov[x] = sum_k w_k (Sigma_k + mu_k mu_k^T) - E[x] E[x]^T (law of total covariance)."""
        m = self.mean()
        second = np.einsum("k,kij->ij", self.weights,
                           self.covs + self.means[:, :, None] * self.means[:, None, :])
        return second - np.outer(m, m)

    def data_std(self) -> float:
        """Per-coordinate RMS standard deviation sqrt(trace(Cov[x]) / d): the EDM sigma_data."""
        return float(math.sqrt(np.trace(self.covariance()) / self.d))

    # --- sampling ------------------------------------------------------------------------------

    def sample(self, m: int, rng: np.random.Generator) -> np.ndarray:
        """Draw m points: component k ~ Categorical(w), then x = mu_k + U_k sqrt(lam_k) eps.

        Returns a float64 NumPy array (m, d). Always on the host: the generator is a host one.
        """
        k = rng.choice(self.K, size=m, p=self.weights)  # (m,)
        eps = rng.standard_normal((m, self.d))  # (m, d)
        x = np.empty((m, self.d))
        for j in range(self.K):  # a loop over K keeps memory at O(m d), not O(m d^2)
            rows = k == j
            A = self.U[j] * np.sqrt(self.lam[j])  # (d, d): A A^T = Sigma_j
            x[rows] = self.means[j] + eps[rows] @ A.T
        return x

    # --- the noisy density: one shared computation -----------------------------------------------

    def _params(self, xp):
        """(means, U, lam, log w) on backend xp, float64; copied to the GPU once and kept."""
        key = xp.__name__
        if key not in self._on_device:
            self._on_device[key] = tuple(xp.asarray(a) for a in
                                         (self.means, self.U, self.lam, np.log(self.weights)))
        return self._on_device[key]

    def _components(self, x, sigma):
        """Per-component pieces for y = x at noise level sigma, all float64 on x's backend.

        Returns z (K, B, d) = U_k^T (x - mu_k), s2 (1, B or 1, 1) = sigma^2, lam (K, 1, d) and
        log_r (K, B): log of w_k N(x; mu_k, Sigma_k + sigma^2 I), unnormalized responsibilities.
        """
        xp = array_module(x)
        if x.ndim != 2 or x.shape[1] != self.d:
            raise CdliteError(f"expected points of shape (B, {self.d}), got {tuple(x.shape)}")
        means, U, lam, log_w = self._params(xp)
        x = x.astype(xp.float64, copy=False)
        B = x.shape[0]
        s = xp.asarray(sigma, dtype=xp.float64).reshape(-1, 1)  # (B, 1) or (1, 1)
        if s.shape[0] not in (1, B):
            raise CdliteError(f"sigma must be a scalar or have one value per row (B = {B}), "
                              f"got {s.shape[0]} values")
        s2 = (s * s)[None]  # (1, B|1, 1)
        # Rotate into each component's eigenbasis: z_k = U_k^T (x - mu_k).
        z = x[None] @ U - (means[:, None, :] @ U)  # (K, B, d)
        lam = lam[:, None, :]  # (K, 1, d)
        var = lam + s2  # (K, B|1, d): eigenvalues of Sigma_k + sigma^2 I
        if bool(xp.any(var <= 0)):
            raise CdliteError("a component with a singular covariance has no density at "
                              "sigma = 0; use sigma > 0 (e.g. 1e-3)")
        quad = xp.sum(z * z / var, axis=-1)  # (K, B): Mahalanobis distance^2
        logdet = xp.sum(xp.log(var), axis=-1)  # (K, B|1)
        log_r = log_w[:, None] - 0.5 * (quad + logdet + self.d * math.log(2 * math.pi))  # (K, B)
        return z, s2, lam, log_r

    @staticmethod
    def _logsumexp(a, xp):
        """log sum_k exp(a_k) over axis 0, shifted by the max so that nothing overflows."""
        a_max = xp.max(a, axis=0, keepdims=True)
        return (a_max + xp.log(xp.sum(xp.exp(a - a_max), axis=0, keepdims=True)))[0]

    def _responsibilities(self, log_r, xp):
        """r_k(y) = posterior probability of component k given y; (K, B), columns sum to 1."""
        return xp.exp(log_r - self._logsumexp(log_r, xp)[None])

    @staticmethod
    def _out_dtype(x, xp):  # float32 in -> float32 out; integers -> float64
        return x.dtype if np.issubdtype(x.dtype, np.floating) else np.float64

    # --- public math ---------------------------------------------------------------------------

    def log_density(self, x, sigma=0.0):
        """log p_sigma(x) = logsumexp_k [log w_k + log N(x; mu_k, Sigma_k + sigma^2 I)], (B,)."""
        xp = array_module(x)
        _, _, _, log_r = self._components(x, sigma)
        return self._logsumexp(log_r, xp).astype(self._out_dtype(x, xp), copy=False)

    def score(self, x, sigma=0.0):
        """grad_x log p_sigma(x) = -sum_k r_k(x) (Sigma_k + sigma^2 I)^-1 (x - mu_k), (B, d)."""
        xp = array_module(x)
        z, s2, lam, log_r = self._components(x, sigma)
        r = self._responsibilities(log_r, xp)  # (K, B)
        g = -z / (lam + s2)  # (K, B, d): the per-component score, in the eigenbasis
        g = g @ self._params(xp)[1].transpose(0, 2, 1)  # (K, B, d): back to data coordinates
        return xp.sum(r[:, :, None] * g, axis=0).astype(self._out_dtype(x, xp), copy=False)

    def denoise(self, y, sigma):
        """Exact posterior mean E[x | y] for y = x + sigma n (docs/design.md §3.6).

        E[x | y] = sum_k r_k(y) [mu_k + Sigma_k (Sigma_k + sigma^2 I)^-1 (y - mu_k)]; in the
        eigenbasis the matrix is the shrinkage diag(lam / (lam + sigma^2)), which tends to 1
        (return y) as sigma -> 0 and to 0 (return the responsible mean) as sigma -> infinity.
        Equal to Tweedie's formula y + sigma^2 score(y, sigma). Output has y's float dtype.
        """
        xp = array_module(y)
        z, s2, lam, log_r = self._components(y, sigma)
        r = self._responsibilities(log_r, xp)  # (K, B)
        shrink = lam / (lam + s2)  # (K, B|1, d): eigenvalues of Sigma_k (Sigma_k + sigma^2 I)^-1
        means, U, _, _ = self._params(xp)
        post = means[:, None, :] + (shrink * z) @ U.transpose(0, 2, 1)  # (K, B, d)
        return xp.sum(r[:, :, None] * post, axis=0).astype(self._out_dtype(y, xp), copy=False)


# --- ready-made mixtures --------------------------------------------------------------------------

def circle_mixture(K: int = 8, radius: float = 2.0, std: float = 0.3,
                   d: int = 2) -> GaussianMixture:
    """K equal-weight isotropic Gaussians N(mu_k, std^2 I), means evenly spaced on a circle.

    The circle lies in the first two coordinates; for d > 2 the other coordinates of every mean
    are 0, so they carry pure N(0, std^2) noise. In 1-D, where there is no circle, the means are
    evenly spaced on the segment [-radius, radius]. K = 8, radius 2, std 0.3 is the classic toy
    set.
    """
    if K < 1 or d < 1 or radius < 0 or std <= 0:
        raise CdliteError(f"circle_mixture needs K >= 1, d >= 1, radius >= 0, std > 0; "
                          f"got K={K}, d={d}, radius={radius}, std={std}")
    means = np.zeros((K, d))
    if d == 1:
        means[:, 0] = np.linspace(-radius, radius, K) if K > 1 else 0.0
    else:
        angle = 2 * np.pi * np.arange(K) / K  # (K,)
        means[:, 0], means[:, 1] = radius * np.cos(angle), radius * np.sin(angle)
    covs = np.broadcast_to(std**2 * np.eye(d), (K, d, d)).copy()
    return GaussianMixture(means, covs)


def random_mixture(K: int, d: int, rng: np.random.Generator, spread: float = 2.0,
                   std: float = 0.3, anisotropic: bool = True) -> GaussianMixture:
    """A random mixture: means ~ N(0, spread^2 I), weights ~ Dirichlet(1, ..., 1).

    With anisotropic=True each covariance is std^2 * Q diag(s) Q^T, Q a random rotation and
    s ~ Uniform(0.2, 1.8) (mean 1, so std stays the typical scale); else std^2 I.
    """
    if K < 1 or d < 1 or std <= 0:
        raise CdliteError(f"random_mixture needs K >= 1, d >= 1, std > 0; got K={K}, d={d}, "
                          f"std={std}")
    means = spread * rng.standard_normal((K, d))  # (K, d)
    weights = rng.dirichlet(np.ones(K))  # (K,)
    covs = np.empty((K, d, d))
    for k in range(K):
        if anisotropic:
            Q, _ = np.linalg.qr(rng.standard_normal((d, d)))  # random orthogonal matrix
            s = rng.uniform(0.2, 1.8, size=d)
            covs[k] = std**2 * (Q * s) @ Q.T
            covs[k] = 0.5 * (covs[k] + covs[k].T)  # exact symmetry despite round-off
        else:
            covs[k] = std**2 * np.eye(d)
    return GaussianMixture(means, covs, weights)
