"""Memorization metrics with known answers: exact blocked search, ratio test, duplicates."""
import json

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from cdlite.errors import CdliteError
from cdlite.metrics import (bootstrap_ci, chance_level, copy_similarity, memorization_fraction,
                            memorization_report, nearest_neighbors, nn_ratios)


from cdlite.metrics.nearest import nearest_neighbors_brute as brute_force  # the definition


def test_the_definition_is_scipys_cdist_sorted():
    rng = np.random.default_rng(3)
    x, a = rng.standard_normal((7, 4)), rng.standard_normal((50, 4))
    D = cdist(x, a)
    idx = np.argsort(D, axis=1, kind="stable")[:, :3]
    dist, got = brute_force(x, a, k=3)
    np.testing.assert_array_equal(got, idx)
    np.testing.assert_allclose(dist, np.take_along_axis(D, idx, axis=1), rtol=1e-13)
    with pytest.raises(CdliteError, match="k = 51"):
        brute_force(x, a, k=51)


def _adversarial_sets():
    """(name, x, train): ties, duplicates, points at equal distance, float32 and float64."""
    rng = np.random.default_rng(12)
    ring = np.array([[1, 0], [0, 1], [-1, 0], [0, -1], [1, 1], [-1, -1]], np.float64)
    grid = np.stack(np.meshgrid(np.arange(8.0), np.arange(8.0)), -1).reshape(-1, 2)
    base = rng.standard_normal((40, 6))
    dup = np.concatenate([base, base[[3, 3, 17, 0]], base[::-1]])  # exact duplicates
    return [
        ("equidistant from the origin", np.zeros((3, 2)), ring),
        ("midpoints of a lattice", grid[:20] + 0.5, grid),          # 4 neighbours tie
        ("lattice points themselves", grid[::3], grid),             # distance 0, then 4 ties
        ("duplicates", np.concatenate([base[:5], base[:5] + 1e-7]), dup),
        ("all training points equal", rng.standard_normal((4, 3)), np.ones((30, 3))),
        ("float32 near-ties", rng.standard_normal((6, 3)).astype(np.float32),
         np.repeat(rng.standard_normal((50, 3)), 3, axis=0).astype(np.float32)),
    ]


@pytest.mark.parametrize("case", range(len(_adversarial_sets())))
@pytest.mark.parametrize("k", [1, 2, 5])
def test_blocked_search_equals_the_definition_on_adversarial_sets(case, k):
    name, x, a = _adversarial_sets()[case]
    ref_d, ref_i = brute_force(x, a, k=k)
    for max_bytes in (10**8, 2_000):  # one block; many tiny blocks
        dist, idx = nearest_neighbors(x, a, k=k, max_bytes=max_bytes)
        np.testing.assert_array_equal(idx, ref_i, err_msg=name)
        np.testing.assert_allclose(dist, ref_d, rtol=1e-12, atol=0, err_msg=name)


# small max_bytes: many row AND column blocks; n = 3000 also runs the group pre-selection
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m,n,d,max_bytes", [(40, 3000, 3, 60_000), (30, 500, 20, 10**8),
                                             (5, 3, 2, 10**8)])
def test_blocked_search_equals_the_definition_on_random_sets(dtype, m, n, d, max_bytes):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, d)).astype(dtype)
    x = rng.standard_normal((m, d)).astype(dtype)
    dist, idx = nearest_neighbors(x, a, k=min(2, n), max_bytes=max_bytes)
    ref_d, ref_i = brute_force(x, a, k=min(2, n))
    np.testing.assert_allclose(dist, ref_d, rtol=1e-12)
    np.testing.assert_array_equal(idx, ref_i)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("offset", [0.0, 1e3])
def test_near_copies_at_1e_4(dtype, offset):
    # the cancellation case: |x|^2 - 2 x.a + |a|^2 loses everything at distance 1e-4,
    # the recomputed candidates must not. A 1e3 offset forces the float32 certificate to fail.
    rng = np.random.default_rng(1)
    a = (rng.standard_normal((2000, 16)) + offset).astype(dtype)
    u = rng.standard_normal((50, 16))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    x = (a[:50].astype(np.float64) + 1e-4 * u).astype(dtype)
    dist, idx = nearest_neighbors(x, a, max_bytes=200_000)
    ref_d, ref_i = brute_force(x, a)
    np.testing.assert_allclose(dist, ref_d, rtol=1e-10)
    np.testing.assert_array_equal(idx, ref_i)
    r = nn_ratios(x, a)
    np.testing.assert_allclose(r["ratio"], ref_d[:, 0] / ref_d[:, 1], rtol=1e-10)
    if dtype == np.float64 and offset == 0.0:
        np.testing.assert_allclose(r["d1"], 1e-4, rtol=1e-8)


def test_certificate_catches_float32_near_ties(monkeypatch):
    # 3000 unit vectors seen from the origin: all distances are 1 to within float32 rounding,
    # so the float32 product cannot order them; the certificate must send them to float64.
    import cdlite.metrics.neighbors as nb
    passes = []
    search = nb._search

    def spy(x, a, k, K, cdtype, max_bytes):
        out = search(x, a, k, K, cdtype, max_bytes)
        passes.append((np.dtype(cdtype).name, int((~out[2]).sum())))
        return out

    monkeypatch.setattr(nb, "_search", spy)
    u = np.random.default_rng(11).standard_normal((3000, 3))
    a = (u / np.linalg.norm(u, axis=1, keepdims=True)).astype(np.float32)
    x = np.zeros((4, 3), np.float32)
    dist, idx = nearest_neighbors(x, a)
    ref_d, ref_i = brute_force(x, a)
    np.testing.assert_allclose(dist, ref_d, rtol=1e-14)
    np.testing.assert_array_equal(idx, ref_i)
    assert passes == [("float32", 4), ("float64", 0)]


def test_training_points_are_memorized():
    rng = np.random.default_rng(2)
    train = rng.standard_normal((64, 5)).astype(np.float32)
    r = memorization_fraction(train, train)
    assert np.all(r["ratio"] == 0.0) and r["f_mem"] == 1.0 and r["coverage"] == 1.0
    np.testing.assert_array_equal(r["idx1"], np.arange(64))


def test_fresh_samples_are_rarely_memorized():
    rng = np.random.default_rng(3)
    train = rng.standard_normal((32, 8))
    c = chance_level(rng.standard_normal((2000, 8)), train, rng=rng)
    assert c["f_mem"] < 0.02
    assert c["f_mem_ci"][0] <= c["f_mem"] <= c["f_mem_ci"][1]


def test_ratio_invariant_under_scale_and_shift():
    rng = np.random.default_rng(4)
    train, x = rng.standard_normal((100, 6)), rng.standard_normal((200, 6))
    x[:50] = train[:50] + 1e-3 * rng.standard_normal((50, 6))
    base = nn_ratios(x, train)["ratio"]
    shift = rng.standard_normal(6) * 100
    moved = nn_ratios(7.5 * x + shift, 7.5 * train + shift)["ratio"]
    np.testing.assert_allclose(moved, base, rtol=1e-7)


def test_duplicate_training_points_count_once():
    rng = np.random.default_rng(5)
    base = rng.standard_normal((10, 3))
    train = np.concatenate([base, base[[2, 2, 7]]])              # point 2 three times, 7 twice
    x = np.stack([base[2], base[2] + 1e-6, base[7], base[0] + 1e-6])
    r = nn_ratios(x, train)
    assert np.all(np.isfinite(r["ratio"])) and r["n_distinct"] == 10
    assert r["ratio"][0] == 0.0 and r["ratio"][2] == 0.0          # exact copies: ratio 0, not 0/0
    assert r["ratio"][1] < 1e-5                                  # near a duplicated point
    np.testing.assert_array_equal(r["idx1"], [2, 2, 7, 0])       # first copy
    ref = brute_force(x[[1]], base)[0][0]
    assert r["ratio"][1] == pytest.approx(ref[0] / ref[1], rel=1e-9)
    with pytest.raises(CdliteError, match="distinct"):
        nn_ratios(x, np.repeat(base[:1], 5, axis=0))


def test_coverage_tells_collapse_from_memorization():
    rng = np.random.default_rng(6)
    train = rng.standard_normal((20, 4))
    collapsed = np.repeat(train[:1], 100, axis=0)
    r = memorization_fraction(collapsed, train)
    assert r["f_mem"] == 1.0 and r["coverage"] == pytest.approx(1 / 20)


def test_bootstrap_ci():
    mem = np.zeros(400, bool)
    mem[:100] = True
    lo, hi = bootstrap_ci(mem, n_boot=2000, rng=np.random.default_rng(0))
    se = np.sqrt(0.25 * 0.75 / 400)                              # binomial standard error
    assert lo < 0.25 < hi and hi - lo == pytest.approx(2 * 1.96 * se, rel=0.15)
    assert bootstrap_ci(mem, rng=np.random.default_rng(1)) == \
        bootstrap_ci(mem, rng=np.random.default_rng(1))
    assert bootstrap_ci(np.ones(10, bool)) == [1.0, 1.0]


def test_threshold_is_configurable():
    rng = np.random.default_rng(7)
    train, x = rng.standard_normal((30, 2)), rng.standard_normal((300, 2))
    r = memorization_fraction(x, train, threshold=0.6)
    assert r["f_mem"] == pytest.approx(np.mean(r["ratio"] < 0.6))
    with pytest.raises(CdliteError, match="threshold"):
        memorization_fraction(x, train, threshold=0.0)


def test_report_is_json_ready():
    rng = np.random.default_rng(8)
    train = rng.standard_normal((16, 2)).astype(np.float32)
    x = np.concatenate([train[:4] + 1e-3, rng.standard_normal((60, 2)).astype(np.float32)])
    rep = memorization_report(x, train, n_boot=200, rng=rng, reference=rng.standard_normal((64, 2)),
                              copy_threshold=0.9)
    json.dumps(rep)
    assert rep["f_mem"] >= 4 / 64 and len(rep["ratio"]) == 64
    assert sum(rep["ratio_hist"]["counts"]) == 64
    for key in ("chance_f_mem", "copy_mean", "copy_frac_above", "coverage", "f_mem_ci"):
        assert key in rep


def test_copy_similarity():
    rng = np.random.default_rng(9)
    train = rng.standard_normal((50, 6))
    r = copy_similarity(train, train)
    np.testing.assert_allclose(r["similarity"], 1.0)
    assert r["frac_above"] == 1.0 and r["p95"] == pytest.approx(1.0)
    # a known cosine: x = cos(t) e1 + sin(t) e2 against train {e1, -e1}, and a zero vector
    t = 0.3
    r = copy_similarity(np.array([[np.cos(t), np.sin(t)], [0.0, 0.0]]),
                        np.array([[1.0, 0.0], [-2.0, 0.0]]), threshold=0.5)
    np.testing.assert_allclose(r["similarity"], [np.cos(t), 0.0], atol=1e-14)
    assert r["frac_above"] == 0.5 and r["idx"][0] == 0
    # features are applied to both sets: |x| maps everything onto one ray
    r = copy_similarity(-train, train, features=np.abs)
    np.testing.assert_allclose(r["similarity"], 1.0)


@pytest.mark.parametrize("bad, match", [
    (np.full((3, 2), np.nan), "NaN"),
    (np.zeros((3, 5)), "dimension"),
    (np.zeros(2), "batch of points"),
    (np.zeros((0, 2)), "at least 1"),
])
def test_bad_input_is_explained(bad, match):
    train = np.random.default_rng(0).standard_normal((10, 2))
    with pytest.raises(CdliteError, match=match):
        memorization_fraction(bad, train)
    with pytest.raises(CdliteError, match="k = 11"):
        nearest_neighbors(train, train, k=11)


@pytest.mark.gpu
def test_cupy_matches_numpy():
    cp = pytest.importorskip("cupy")
    from cdlite.backend import gpu_available
    if not gpu_available():
        pytest.skip("no CUDA device")
    rng = np.random.default_rng(10)
    a = rng.standard_normal((3000, 10)).astype(np.float32)
    x = np.concatenate([a[:20] + np.float32(1e-4),
                        rng.standard_normal((80, 10)).astype(np.float32)])
    d_np, i_np = nearest_neighbors(x, a)
    d_cp, i_cp = nearest_neighbors(cp.asarray(x), cp.asarray(a))
    assert isinstance(d_cp, np.ndarray)
    np.testing.assert_allclose(d_cp, d_np, rtol=1e-10)
    np.testing.assert_array_equal(i_cp, i_np)


def test_ratio_exactly_at_the_threshold_is_not_memorized():
    # training points 0 and 4 on a line, a sample at 1: d1 = 1, d2 = 3, ratio exactly 1/3
    train = np.array([[0.0], [4.0]])
    r = memorization_fraction(np.array([[1.0], [0.5]]), train, n_boot=10)
    np.testing.assert_allclose(r["ratio"], [1 / 3, 0.5 / 3.5])
    assert r["memorized"].tolist() == [False, True]  # strictly below the threshold


def test_exact_candidate_distances_equal_the_plain_formula():
    """The re-check runs a few rows at a time in one reused array: the same bits as the plain
    all-rows-at-once formula."""
    from cdlite.metrics.neighbors import _exact_d2
    rng = np.random.default_rng(12)
    a = rng.standard_normal((500, 37)).astype(np.float32)
    x = rng.standard_normal((45, 37)).astype(np.float32)
    idx = rng.integers(0, 500, (45, 9))
    diff = x.astype(np.float64)[:, None, :] - a[idx].astype(np.float64)
    np.testing.assert_array_equal(_exact_d2(x, a, idx), (diff * diff).sum(axis=2))
