"""Generalization gap: denoising loss on training points minus on held-out points
(docs/design.md §5.6).

Bonnaire et al. (2025) track exactly this figure: it opens (train loss below test loss) before
the memorization fraction of generated samples rises. At each fixed sigma,

    loss(S, sigma) = mean over x in S and noise draws eps of |D(x + sigma * eps, sigma) - x|^2 / d,

the plain per-dimension squared error (no EDM weight lambda(sigma): each sigma is reported on
its own). Train and test points see the SAME noise draws (common random numbers), so the gap
is not blurred by noise that differs between the two sets.

Shapes: n_train, n_test points of dimension d; R noise draws; B a batch of points.
"""
from __future__ import annotations

import numpy as np

from cdlite.backend import randn
from cdlite.errors import CdliteError
from cdlite.metrics._checks import as_pair, check_positive_int


def _denoising_loss(denoise, x, eps, sigma: float, batch_size: int) -> float:
    """Sum over points of |D(x + sigma eps, sigma) - x|^2 / d, in batches (float64 sum)."""
    total = 0.0
    for i in range(0, x.shape[0], batch_size):
        xb, eb = x[i:i + batch_size], eps[i:i + batch_size]    # (B, d)
        D = denoise(xb + sigma * eb, sigma)                     # (B, d)
        if D.shape != xb.shape:
            raise CdliteError(f"denoise returned shape {tuple(D.shape)} for input "
                              f"{tuple(xb.shape)}; it must return one denoised point per input")
        err = (D - xb).astype(np.float64)
        total += float((err * err).sum()) / x.shape[1]
    return total


def generalization_gap(denoise, train, test, sigmas, rng, n_noise: int = 4,
                       batch_size: int = 2048):
    """Denoising loss on train minus on test at fixed sigmas, same noise draws for both.

    denoise: any callable D(y, sigma) -> (B, d) with sigma a Python float (a trained model, the
    empirical optimal denoiser, ...). train (n_train, d), test (n_test, d): same scale as the
    model's training data. sigmas: noise levels. rng: numpy Generator; n_noise noise draws of
    shape (max(n_train, n_test), d) are made once and shared by both sets and all sigmas.

    Returns a JSON-ready dict: sigmas, train_loss, test_loss, gap (= train - test, per sigma;
    negative when the model fits its training points better than new ones), mean_gap (mean of
    gap over sigmas), n_noise. Loss per point = |D(x + sigma eps, sigma) - x|^2 / d.
    """
    xp, x_train, x_test = as_pair(train, test, "train", "test")
    sigmas = [float(s) for s in np.atleast_1d(np.asarray(sigmas, dtype=np.float64))]
    if not sigmas or min(sigmas) <= 0 or not np.all(np.isfinite(sigmas)):
        raise CdliteError(f"sigmas = {sigmas}: give one or more finite noise levels > 0")
    n_noise = check_positive_int(n_noise, "n_noise")
    batch_size = check_positive_int(batch_size, "batch_size")
    n_max = max(x_train.shape[0], x_test.shape[0])
    train_sum = np.zeros(len(sigmas))
    test_sum = np.zeros(len(sigmas))
    for _ in range(n_noise):
        eps = randn(rng, (n_max, x_train.shape[1]), xp, x_train.dtype)  # (n_max, d), shared
        for j, sigma in enumerate(sigmas):
            train_sum[j] += _denoising_loss(denoise, x_train, eps[:len(x_train)], sigma, batch_size)
            test_sum[j] += _denoising_loss(denoise, x_test, eps[:len(x_test)], sigma, batch_size)
    train_loss = train_sum / (n_noise * x_train.shape[0])
    test_loss = test_sum / (n_noise * x_test.shape[0])
    gap = train_loss - test_loss
    return {"sigmas": sigmas, "train_loss": train_loss.tolist(), "test_loss": test_loss.tolist(),
            "gap": gap.tolist(), "mean_gap": float(gap.mean()), "n_noise": n_noise}
