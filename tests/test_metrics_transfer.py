"""Per-latent transferred memorization with known answers, and sampling from shared latents."""
import json

import numpy as np
import pytest

from cdlite.backend import make_rng
from cdlite.diffusion import EmpiricalOptimalDenoiser, karras_sigmas, sample_heun
from cdlite.errors import CdliteError
from cdlite.metrics.memorization import memorization_fraction
from cdlite.metrics.transfer import (draw_latents, per_latent, student_samples, teacher_samples,
                                     transfer_report)

TRAIN = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]])


def test_student_equal_to_teacher_transfers_everything_with_no_error():
    rng = np.random.default_rng(0)
    teacher = TRAIN[rng.integers(0, 4, 300)] + rng.normal(0, 1.0, (300, 2))   # some memorized
    r = transfer_report(TRAIN, teacher, teacher.copy(), sigma_data=5.0)
    assert 0 < r["n_teacher_memorized"] < 300
    assert r["transfer"] == 1.0 and r["n_transferred"] == r["n_teacher_memorized"]
    assert r["mem_if_not"] == 0.0 and r["n_other_point"] == 0
    assert r["imitation_error"] == 0.0 == r["imitation_error_if_teacher_memorized"]
    assert r["teacher_f_mem"] == r["student_f_mem"]
    json.dumps(r)                                                            # JSON-ready


def test_fresh_far_points_transfer_nothing():
    rng = np.random.default_rng(1)
    teacher = TRAIN[rng.integers(0, 4, 200)] + rng.normal(0, 0.01, (200, 2))  # all memorized
    student = rng.uniform(3.0, 7.0, (200, 2))   # between the points: every ratio d1/d2 > 0.4
    r = transfer_report(TRAIN, teacher, student, sigma_data=5.0)
    assert r["n_teacher_memorized"] == 200 and r["transfer"] == 0.0 and r["n_transferred"] == 0
    assert r["mem_if_not"] is None and r["mem_if_not_ci"] is None     # no latent to condition on
    assert r["student_f_mem"] == 0.0


def test_hand_built_2d_case():
    """Latent by latent, the nearest points and the verdicts are known:
    0: teacher on point 0, student on point 0          -> same point
    1: teacher on point 1, student on point 3          -> memorized, another point
    2: teacher on point 2, student halfway to point 3  -> student not memorized
    3: teacher halfway (not), student on point 3       -> memorizes although the teacher did not
    4: teacher halfway (not), student halfway (not)."""
    teacher = np.array([[0.1, 0.0], [10.0, 0.1], [0.0, 9.9], [5.0, 5.0], [5.0, 0.0]])
    student = np.array([[0.0, 0.2], [9.9, 10.0], [5.0, 10.0], [10.0, 9.8], [5.0, 0.0]])
    sd = 2.0
    p = per_latent(TRAIN, teacher, student, sd)
    np.testing.assert_array_equal(p["teacher_memorized"], [1, 1, 1, 0, 0])
    np.testing.assert_array_equal(p["student_memorized"], [1, 1, 0, 1, 0])
    np.testing.assert_array_equal(p["teacher_point"][:3], [0, 1, 2])
    np.testing.assert_array_equal(p["student_point"][[0, 1, 3]], [0, 3, 3])
    np.testing.assert_array_equal(p["same"], [1, 0, 0, 0, 0])
    expected = ((student - teacher) ** 2).sum(axis=1) / (2 * sd ** 2)    # per dimension
    np.testing.assert_allclose(p["error"], expected)
    r = transfer_report(TRAIN, teacher, student, sd)
    assert (r["n_teacher_memorized"], r["n_transferred"], r["n_other_point"]) == (3, 1, 1)
    assert r["transfer"] == pytest.approx(1 / 3) and r["mem_if_not"] == 0.5
    assert r["n_mem_if_not"] == 1
    assert r["imitation_error"] == pytest.approx(expected.mean())
    assert r["imitation_error_if_teacher_memorized"] == pytest.approx(expected[:3].mean())
    assert r["imitation_error_if_not"] == pytest.approx(expected[3:].mean())


def test_hand_built_1d_case():
    train = np.array([[0.0], [1.0], [3.0]])
    teacher = np.array([[0.05], [2.9], [0.5]])      # on 0, on 3, halfway between 0 and 1
    student = np.array([[0.02], [3.1], [0.98]])     # on 0, on 3, on 1
    p = per_latent(train, teacher, student, sigma_data=1.0)
    np.testing.assert_array_equal(p["same"], [1, 1, 0])
    np.testing.assert_array_equal(p["student_point"], [0, 2, 1])
    np.testing.assert_allclose(p["error"], [0.03 ** 2, 0.2 ** 2, 0.48 ** 2])


def test_swapped_points_are_memorized_but_not_the_same():
    rng = np.random.default_rng(2)
    which = rng.integers(0, 4, 100)
    teacher = TRAIN[which] + rng.normal(0, 0.05, (100, 2))
    student = TRAIN[3 - which] + rng.normal(0, 0.05, (100, 2))             # 0<->3, 1<->2
    r = transfer_report(TRAIN, teacher, student, sigma_data=5.0)
    assert r["student_f_mem"] == 1.0 == r["teacher_f_mem"]
    assert r["transfer"] == 0.0 and r["n_other_point"] == 100


def test_teacher_result_can_be_reused():
    rng = np.random.default_rng(3)
    teacher = TRAIN[rng.integers(0, 4, 50)] + rng.normal(0, 1.0, (50, 2))
    student = teacher + rng.normal(0, 0.5, (50, 2))
    tm = memorization_fraction(teacher, TRAIN)
    a = transfer_report(TRAIN, teacher, student, 5.0, rng=make_rng(0))
    b = transfer_report(TRAIN, teacher, student, 5.0, rng=make_rng(0), teacher_mem=tm)
    assert {k: v for k, v in a.items() if "ci" not in k} == \
        {k: v for k, v in b.items() if "ci" not in k}
    with pytest.raises(CdliteError, match="teacher_mem"):
        transfer_report(TRAIN, teacher[:10], student[:10], 5.0, teacher_mem=tm)


def test_bad_input_is_one_line():
    with pytest.raises(CdliteError, match="same latents"):
        transfer_report(TRAIN, TRAIN[:3], TRAIN[:2], 1.0)
    with pytest.raises(CdliteError, match="sigma_data"):
        transfer_report(TRAIN, TRAIN, TRAIN, 0.0)
    with pytest.raises(CdliteError, match="dimension"):
        transfer_report(TRAIN, TRAIN, np.zeros((4, 3)), 1.0)


# --- sampling from the same latents ---------------------------------------------------------------

def test_samplers_start_from_the_given_latents():
    """With the empirical optimal denoiser as teacher, its ODE from x_T lands on a training point;
    the helpers must reproduce sample_heun on the same x_T exactly, batch by batch."""
    train = TRAIN / 5.0
    D = EmpiricalOptimalDenoiser(train)
    x_T = draw_latents(30, 2, 20.0, make_rng(4), dtype=np.float64)
    grid = karras_sigmas(12, 0.002, 20.0, 7.0)
    t = teacher_samples(D, x_T, grid, N=18, sigma_min=0.002, rho=7.0, batch=7)
    np.testing.assert_array_equal(t["teacher"], sample_heun(D, x_T, grid)[0])
    cd = karras_sigmas(18, 0.002, 20.0, 7.0)[:-1]              # t_N = sigma_max ... t_1 = sigma_min
    np.testing.assert_allclose(t["teacher_cd_grid"], sample_heun(D, x_T, cd)[0], rtol=1e-12)
    assert memorization_fraction(t["teacher_cd_grid"], train)["f_mem"] == 1.0

    def f(x, sigma):                                          # a consistency function to check
        return x / (1.0 + sigma)
    s = student_samples(f, x_T, 20.0, 1.0, 0.002, make_rng(5), batch=7)
    np.testing.assert_allclose(s["student"], x_T / 21.0)
    z = make_rng(5).standard_normal((7, 2))                   # the first batch's re-noise
    expected = (x_T[:7] / 21.0 + np.sqrt(1.0 - 0.002 ** 2) * z) / 2.0
    np.testing.assert_allclose(s["student_2step"][:7], expected.astype(np.float32), rtol=1e-6)
    r = transfer_report(train, t["teacher_cd_grid"], t["teacher_cd_grid"], 1.0)
    assert r["transfer"] == 1.0


def test_device_arrays_give_numpys_numbers(monkeypatch):
    """On the strict CuPy stand-in (tests/fake_cupy.py): same samples, same report."""
    import fake_cupy
    from cdlite.backend import array_module, to_numpy
    cp = fake_cupy.install(monkeypatch)
    train = (TRAIN / 5.0).astype(np.float32)
    out = {}
    for xp in (np, cp):
        D = EmpiricalOptimalDenoiser(xp.asarray(train))
        x_T = draw_latents(40, 2, 20.0, make_rng(6), xp=xp)
        t = teacher_samples(D, x_T, karras_sigmas(8, 0.002, 20.0, 7.0, xp), 10, 0.002, 7.0)
        s = student_samples(lambda x, sigma: x / (1.0 + sigma), x_T, 20.0, 1.0, 0.002,
                            make_rng(7))
        assert all(array_module(a) is xp for a in (*t.values(), *s.values()))
        out[xp] = (transfer_report(xp.asarray(train), t["teacher"], s["student"], 1.0,
                                   rng=make_rng(8)),
                   [to_numpy(a) for a in (*t.values(), *s.values())])
    assert out[np][0] == out[cp][0]
    for a, b in zip(out[np][1], out[cp][1]):
        np.testing.assert_array_equal(a, b)
