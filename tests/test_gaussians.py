"""Closed-form checks of GaussianMixture: density against SciPy, score against finite
differences, denoiser against Tweedie's formula and the one-Gaussian linear map."""
import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from cdlite.backend import gpu_available, make_rng
from cdlite.data import GaussianMixture, circle_mixture, random_mixture
from cdlite.errors import CdliteError


@pytest.fixture
def gm():
    return random_mixture(K=4, d=3, rng=make_rng(0), spread=1.5, std=0.5)


def direct_log_density(gm, x, sigma):
    """log sum_k w_k N(x; mu_k, Sigma_k + sigma^2 I), one SciPy call per component."""
    terms = [np.log(w) + multivariate_normal(mu, S + sigma**2 * np.eye(gm.d)).logpdf(x)
             for w, mu, S in zip(gm.weights, gm.means, gm.covs)]
    return logsumexp(np.stack(terms), axis=0)


def test_single_gaussian_log_density_matches_scipy():
    rng = make_rng(1)
    A = rng.standard_normal((3, 3))
    mu, S = rng.standard_normal(3), A @ A.T + 0.1 * np.eye(3)
    gm = GaussianMixture(mu[None], S[None])
    x = rng.standard_normal((50, 3))
    for sigma in (0.0, 0.7):
        ref = multivariate_normal(mu, S + sigma**2 * np.eye(3)).logpdf(x)
        np.testing.assert_allclose(gm.log_density(x, sigma), ref, rtol=1e-10)


def test_mixture_log_density_matches_direct_sum(gm):
    x = make_rng(2).standard_normal((40, 3)) * 2
    for sigma in (0.0, 0.3, 5.0):
        np.testing.assert_allclose(gm.log_density(x, sigma), direct_log_density(gm, x, sigma),
                                   rtol=1e-10)


def test_per_row_sigma_equals_rowwise_scalar_sigma(gm):
    x = make_rng(3).standard_normal((6, 3))
    sigma = np.array([0.01, 0.1, 0.5, 1.0, 3.0, 20.0])
    for s_shape in ((6,), (6, 1)):
        ld = gm.log_density(x, sigma.reshape(s_shape))
        D = gm.denoise(x, sigma.reshape(s_shape))
        for i in range(6):
            np.testing.assert_allclose(ld[i], gm.log_density(x[i:i + 1], sigma[i])[0], rtol=1e-12)
            np.testing.assert_allclose(D[i], gm.denoise(x[i:i + 1], sigma[i])[0], rtol=1e-12)


def test_log_density_far_from_data_is_finite(gm):
    # Far away every component's density underflows to 0 in exp; logsumexp must not.
    x = np.full((2, 3), 1e3)
    ld = gm.log_density(x)
    assert np.all(np.isfinite(ld)) and np.all(ld < -1e5)
    np.testing.assert_allclose(ld, direct_log_density(gm, x, 0.0), rtol=1e-10)


@pytest.mark.parametrize("sigma", [0.0, 0.2, 2.0])
def test_score_matches_finite_differences(gm, sigma):
    x = make_rng(4).standard_normal((8, 3))
    h = 1e-5
    fd = np.empty_like(x)
    for j in range(3):
        e = np.zeros(3)
        e[j] = h
        fd[:, j] = (gm.log_density(x + e, sigma) - gm.log_density(x - e, sigma)) / (2 * h)
    np.testing.assert_allclose(gm.score(x, sigma), fd, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("sigma", [0.05, 0.5, 4.0])
def test_denoise_is_tweedie(gm, sigma):
    y = make_rng(5).standard_normal((20, 3)) * 2
    np.testing.assert_allclose(gm.denoise(y, sigma), y + sigma**2 * gm.score(y, sigma),
                               rtol=1e-9, atol=1e-12)


def test_denoise_at_tiny_sigma_returns_y(gm):
    y = make_rng(6).standard_normal((20, 3))
    np.testing.assert_allclose(gm.denoise(y, 1e-6), y, atol=1e-10)
    np.testing.assert_allclose(gm.denoise(y, 0.0), y, atol=1e-12)


def test_denoise_at_huge_sigma_is_the_mean(gm):
    y = make_rng(7).standard_normal((5, 3))
    D = gm.denoise(y, 1e6)
    assert np.all(np.isfinite(D))
    np.testing.assert_allclose(D, np.broadcast_to(gm.mean(), D.shape), atol=1e-6)


def test_single_gaussian_denoise_is_the_linear_map():
    rng = make_rng(8)
    A = rng.standard_normal((4, 4))
    mu, S = rng.standard_normal(4), A @ A.T
    gm = GaussianMixture(mu[None], S[None])
    y, sigma = rng.standard_normal((10, 4)), 0.8
    M = S @ np.linalg.inv(S + sigma**2 * np.eye(4))  # Wiener filter
    np.testing.assert_allclose(gm.denoise(y, sigma), mu + (y - mu) @ M.T, rtol=1e-10)


def test_output_keeps_float32():
    gm = circle_mixture()
    y = make_rng(9).standard_normal((7, 2)).astype(np.float32)
    for out in (gm.denoise(y, 0.5), gm.score(y, 0.5), gm.log_density(y, 0.5)):
        assert out.dtype == np.float32
    np.testing.assert_allclose(gm.denoise(y, 0.5), gm.denoise(y.astype(np.float64), 0.5),
                               rtol=1e-6)


def test_sample_moments_and_determinism(gm):
    x = gm.sample(100_000, make_rng(10))
    assert x.shape == (100_000, 3) and x.dtype == np.float64
    np.testing.assert_allclose(x.mean(0), gm.mean(), atol=0.03)
    np.testing.assert_allclose(np.cov(x.T), gm.covariance(), atol=0.05)
    np.testing.assert_array_equal(gm.sample(5, make_rng(3)), gm.sample(5, make_rng(3)))


def test_circle_mixture_geometry():
    gm = circle_mixture(K=8, radius=2.0, std=0.3, d=5)
    np.testing.assert_allclose(np.linalg.norm(gm.means, axis=1), 2.0)
    np.testing.assert_array_equal(gm.means[:, 2:], 0.0)
    np.testing.assert_allclose(gm.covs, np.broadcast_to(0.09 * np.eye(5), (8, 5, 5)))
    # trace Cov = d std^2 + radius^2 (means centred on the origin)
    np.testing.assert_allclose(gm.data_std(), np.sqrt((5 * 0.09 + 4.0) / 5))


def test_bad_parameters_raise():
    with pytest.raises(CdliteError, match="positive semi-definite"):
        GaussianMixture(np.zeros((1, 2)), -np.eye(2)[None])
    with pytest.raises(CdliteError, match=r"covs must have shape \(K, d, d\)"):
        GaussianMixture(np.zeros((2, 2)), np.eye(2)[None])
    with pytest.raises(CdliteError, match="symmetric"):
        GaussianMixture(np.zeros((1, 2)), np.array([[[1.0, 0.5], [0.0, 1.0]]]))
    with pytest.raises(CdliteError, match="one value per row"):
        circle_mixture().denoise(np.zeros((3, 2)), np.ones(2))
    with pytest.raises(CdliteError, match=r"shape \(B, 2\)"):
        circle_mixture().score(np.zeros((3, 3)))


@pytest.mark.gpu
@pytest.mark.skipif(not gpu_available(), reason="needs CuPy and a CUDA device")
def test_cupy_matches_numpy(gm):
    import cupy as cp
    y = make_rng(11).standard_normal((16, 3))
    sigma = np.linspace(0.01, 3.0, 16)[:, None]
    for f in (gm.log_density, gm.score, gm.denoise):
        out = f(cp.asarray(y), cp.asarray(sigma))
        assert isinstance(out, cp.ndarray)
        np.testing.assert_allclose(cp.asnumpy(out), f(y, sigma), rtol=1e-10, atol=1e-12)
