"""Quality metrics and the generalization gap, against closed forms and known answers."""
import json

import numpy as np
import pytest
from scipy.linalg import sqrtm
from scipy.stats import multivariate_normal

from cdlite.data.gaussians import GaussianMixture
from cdlite.errors import CdliteError
from cdlite.metrics import (energy_distance, frechet_distance, frechet_distance_gaussians,
                            generalization_gap, mean_loglik, mmd_rbf, precision_recall,
                            quality_report, sliced_wasserstein)


def two_samples(shift, m=600, d=2, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((m, d)), rng.standard_normal((m, d)) + shift


def test_energy_and_mmd_separate_shifted_samples():
    x, y_same = two_samples(0.0)
    _, y_far = two_samples(1.0, seed=1)
    e_same, e_far = energy_distance(x, y_same), energy_distance(x, y_far)
    assert abs(e_same) < 0.02 and e_far > 0.5                    # E = 0.57 for a unit shift
    (m_same, h), (m_far, _) = mmd_rbf(x, y_same), mmd_rbf(x, y_far)
    assert abs(m_same) < 0.01 and m_far > 0.05 and 1.0 < h < 3.0
    assert mmd_rbf(x, y_far, bandwidth=1.0)[1] == 1.0


def test_energy_distance_of_two_points():
    # x = {0, 0}, y = {3, 3} in 1-D: 2 * 3 - 0 - 0 = 6
    assert energy_distance([[0.0], [0.0]], [[3.0], [3.0]]) == pytest.approx(6.0)


def test_frechet_closed_forms():
    rng = np.random.default_rng(2)
    A, B = rng.standard_normal((3, 3)), rng.standard_normal((3, 3))
    S1, S2 = A @ A.T + 0.1 * np.eye(3), B @ B.T + 0.1 * np.eye(3)   # non-commuting
    mu1, mu2 = rng.standard_normal(3), rng.standard_normal(3)
    assert frechet_distance_gaussians(mu1, S1, mu1, S1) == pytest.approx(0.0, abs=1e-10)
    ref = ((mu1 - mu2) ** 2).sum() + np.trace(S1 + S2 - 2 * sqrtm(sqrtm(S1) @ S2 @ sqrtm(S1)).real)
    assert frechet_distance_gaussians(mu1, S1, mu2, S2) == pytest.approx(ref, rel=1e-9)
    # diagonal covariances: |mu1 - mu2|^2 + sum (s1 - s2)^2 with s the standard deviations
    s1, s2 = np.array([1.0, 2.0]), np.array([3.0, 0.5])
    fd = frechet_distance_gaussians([0, 0], np.diag(s1 ** 2), [1, 1], np.diag(s2 ** 2))
    assert fd == pytest.approx(2 + ((s1 - s2) ** 2).sum(), rel=1e-12)
    x = rng.standard_normal((500, 3))
    assert frechet_distance(x, x) == pytest.approx(0.0, abs=1e-10)
    # sample version approaches the closed form for large samples
    L1, L2 = np.linalg.cholesky(S1), np.linalg.cholesky(S2)
    xs = mu1 + rng.standard_normal((20000, 3)) @ L1.T
    ys = mu2 + rng.standard_normal((20000, 3)) @ L2.T
    assert frechet_distance(xs, ys) == pytest.approx(ref, rel=0.05)


def test_precision_recall():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((300, 2))
    assert precision_recall(x, x.copy()) == (1.0, 1.0)
    far = x + 100.0
    assert precision_recall(far, x) == (0.0, 0.0)
    # samples collapsed on one real point: precise (inside the manifold) but no recall
    p, r = precision_recall(np.repeat(x[:1], 50, axis=0) + 1e-9 * rng.standard_normal((50, 2)), x)
    assert p == 1.0 and r < 0.05


def test_sliced_wasserstein():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((200, 1))
    assert sliced_wasserstein(x, x + 3.0) == pytest.approx(3.0, rel=1e-12)   # 1-D: W2 of a shift
    assert sliced_wasserstein(x, np.repeat(x, 2, axis=0)) == pytest.approx(0.0, abs=1e-12)
    x2 = rng.standard_normal((400, 2))
    v = np.array([2.0, 0.0])   # SW2^2 = E (theta . v)^2 = |v|^2 / d for uniform directions
    sw = sliced_wasserstein(x2, x2 + v, n_projections=2000, rng=rng)
    assert sw == pytest.approx(np.sqrt(2.0), rel=0.05)


def test_mean_loglik_matches_scipy_for_one_gaussian():
    mu, S = np.array([1.0, -2.0]), np.array([[2.0, 0.3], [0.3, 0.5]])
    x = np.random.default_rng(5).standard_normal((100, 2))
    ref = multivariate_normal(mu, S).logpdf(x).mean()
    mixture = GaussianMixture(mu[None], S[None])                 # K = 1 component
    assert mean_loglik(x, mixture) == pytest.approx(ref, rel=1e-12)
    assert mean_loglik(x.astype(np.float32), mixture) == pytest.approx(ref, rel=1e-6)
    with pytest.raises(CdliteError, match="log_density"):
        mean_loglik(x, object())


def test_quality_report_keys_and_json():
    rng = np.random.default_rng(6)
    s, t = rng.standard_normal((3000, 2)), rng.standard_normal((2500, 2))
    rep = quality_report(s, t, mixture=GaussianMixture(np.zeros((1, 2)), np.eye(2)[None]),
                         features=lambda z: np.tanh(z), max_points=500)
    json.dumps(rep)
    for key in ("energy_distance", "mmd2_rbf", "mmd_bandwidth", "sliced_wasserstein", "frechet",
                "precision", "recall", "loglik", "loglik_ref", "frechet_features"):
        assert isinstance(rep[key], float), key
    assert rep["n_samples"] == 3000 and rep["subsample"] == 500
    assert rep["loglik"] == pytest.approx(rep["loglik_ref"], abs=0.1)
    assert quality_report(s, t, max_points=500) == quality_report(s, t, max_points=500)


def empirical_denoiser(train):
    """D*(y, sigma) = sum_i softmax(-|y - a_i|^2 / 2 sigma^2) a_i: the perfect memorizer."""
    def denoise(y, sigma):
        d2 = ((y[:, None, :] - train[None]) ** 2).sum(-1)        # (B, n)
        logw = -d2 / (2 * sigma ** 2)
        w = np.exp(logw - logw.max(axis=1, keepdims=True))
        return (w / w.sum(axis=1, keepdims=True)) @ train
    return denoise


def test_generalization_gap():
    rng = np.random.default_rng(7)
    train, test = rng.standard_normal((40, 2)), rng.standard_normal((60, 2))
    sigmas = [0.05, 0.5]
    g = generalization_gap(empirical_denoiser(train), train, test, sigmas, rng, n_noise=3)
    json.dumps(g)
    assert g["train_loss"][0] < 0.01 < g["test_loss"][0]          # memorizer: gap opens
    assert all(gap < 0 for gap in g["gap"]) and g["mean_gap"] == pytest.approx(np.mean(g["gap"]))
    # same noise draws for train and test: identical sets give exactly zero gap
    same = generalization_gap(empirical_denoiser(train), train, train.copy(), sigmas, rng)
    assert same["gap"] == [0.0, 0.0]
    # loss = |D - x|^2 / d: the identity denoiser D(y) = y gives sigma^2 on average
    ident = generalization_gap(lambda y, s: y, train, test, [0.3], rng, n_noise=50)
    assert ident["train_loss"][0] == pytest.approx(0.09, rel=0.1)
    with pytest.raises(CdliteError, match="sigmas"):
        generalization_gap(lambda y, s: y, train, test, [0.0], rng)
    with pytest.raises(CdliteError, match="denoise returned"):
        generalization_gap(lambda y, s: y[:, :1], train, test, [0.1], rng)


def _u_statistics(x, y, kernel):
    """Reference: unbiased within-set means (diagonal left out), full cross mean."""
    from scipy.spatial.distance import cdist
    kxx, kyy, kxy = kernel(cdist(x, x)), kernel(cdist(y, y)), kernel(cdist(x, y))
    m, n = len(x), len(y)
    return ((kxx.sum() - np.trace(kxx)) / (m * (m - 1)),
            (kyy.sum() - np.trace(kyy)) / (n * (n - 1)),
            kxy.mean())


def test_energy_and_mmd_are_the_unbiased_u_statistics():
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((40, 3)), rng.standard_normal((30, 3)) + 0.3
    xx, yy, xy = _u_statistics(x, y, lambda r: r)
    # (rel 1e-7: the diagonal |x_i - x_i|^2 comes out ~1e-16, not 0, and sqrt magnifies it)
    assert energy_distance(x, y) == pytest.approx(2 * xy - xx - yy, rel=1e-7)
    h = 1.3
    xx, yy, xy = _u_statistics(x, y, lambda r: np.exp(-r ** 2 / (2 * h * h)))
    assert mmd_rbf(x, y, bandwidth=h)[0] == pytest.approx(xx + yy - 2 * xy, rel=1e-10)
    with pytest.raises(CdliteError, match="bandwidth"):
        mmd_rbf(x, y, bandwidth=0.0)


def test_precision_recall_match_a_direct_computation():
    """Kynkaanniemi et al. (2019): a sample counts for precision when it lies inside the ball of
    some real point whose radius is that point's distance to its k-th nearest real neighbour."""
    from scipy.spatial.distance import cdist
    rng = np.random.default_rng(4)
    fake, real = rng.standard_normal((120, 2)) * 1.3, rng.standard_normal((100, 2))
    k = 3

    def covered(q, ref):
        radii = np.sort(cdist(ref, ref), axis=1)[:, k]  # column 0 is the point itself
        return np.mean((cdist(q, ref) <= radii[None, :]).any(axis=1))

    p, r = precision_recall(fake, real, k=k)
    assert p == pytest.approx(covered(fake, real)) and r == pytest.approx(covered(real, fake))
    assert 0.3 < p < 1.0 and 0.3 < r < 1.0  # a case where both are informative


def test_one_pass_energy_and_mmd_equal_the_separate_figures():
    """quality_report takes both from one pass over the pair tables: the same bits as the two
    public functions, which share the blocked distance code; and that code equals the plain
    formula block by block."""
    from cdlite.metrics.distances import _sq_dist_blocks, energy_and_mmd
    rng = np.random.default_rng(7)
    x = rng.standard_normal((300, 3))
    y = rng.standard_normal((250, 3)) + 0.3
    energy, mmd2, h = energy_and_mmd(x, y, rng=np.random.default_rng(1))
    assert energy == energy_distance(x, y)
    assert (mmd2, h) == mmd_rbf(x, y, rng=np.random.default_rng(1))
    seen = 0
    for rows, cols, d2 in _sq_dist_blocks(x, y, max_bytes=24 * 120 * 100):  # several blocks
        xx, yy = (x * x).sum(axis=1), (y * y).sum(axis=1)
        plain = (xx[rows, None] + yy[None, cols] - 2.0 * (x[rows] @ y[cols].T)).clip(0.0)
        np.testing.assert_array_equal(d2, plain)
        seen += d2.size
    assert seen == x.shape[0] * y.shape[0]
