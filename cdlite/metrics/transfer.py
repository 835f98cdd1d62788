"""Transferred memorization, per latent: does the student copy the training point its teacher
copies from the same noise? (docs/design.md §5; issue 20)

With a perfect student, consistency distillation's fixed point is the teacher's own ODE map on
the CD grid, Phi_teacher(x_T), which memorizes like the teacher. So teacher and student are
sampled from the SAME latents x_T = sigma_max z (row i of every sample set from latent i), and
for each latent we ask:

    did the teacher's sample memorize a training point, and which one (the ratio test of
    cdlite.metrics.memorization: d1 / d2 < 1/3, the point is the nearest one a_(1));
    did the student's sample memorize, and the SAME point?

Reported (m latents, counts beside the rates so that a report can give intervals):

    transfer          P(student memorizes the same point | teacher memorized)
    mem_if_not        P(student memorizes                | teacher did not)
    imitation_error   E |f_student(x_T) - Phi_teacher(x_T)|^2 / (d sigma_data^2)

The imitation error is PER DIMENSION: the squared distance is divided by d sigma_data^2, so a
student off by one data standard deviation in every coordinate scores 1 in any dimension. It is
the mean over latents, overall and split by whether the teacher memorized. It only means "how far
from the fixed point" when `teacher` is Phi_teacher, the teacher's Heun map on the CD grid, and
`student` the one-step student (see `teacher_samples`, `student_samples`).

Shapes: m latents, d data dimension, n training points.
"""
from __future__ import annotations

import numpy as np

from cdlite.backend import array_module, randn, to_numpy
from cdlite.diffusion import consistency_grid, sample_heun
from cdlite.distill import sample_consistency
from cdlite.errors import CdliteError
from cdlite.metrics._checks import as_pair
from cdlite.metrics.memorization import MEM_THRESHOLD, bootstrap_ci, memorization_fraction


def per_latent(train, teacher, student, sigma_data: float, threshold: float = MEM_THRESHOLD,
               n_boot: int = 1000, rng=None, teacher_mem: dict | None = None) -> dict:
    """Per-latent flags and errors: NumPy arrays of shape (m,) `teacher_memorized`,
    `teacher_point`, `student_memorized`, `student_point` (index of the nearest training point,
    first copy of duplicates), `same` (both memorized the same point), `error` (|s - t|^2 /
    (d sigma_data^2)), and the two `memorization_fraction` dicts `teacher_mem`, `student_mem`.

    `teacher_mem`: the teacher's `memorization_fraction(teacher, train, threshold)` from an
    earlier call on the same samples (the teacher is fixed while the student trains)."""
    _, t, s = as_pair(teacher, student, "teacher samples", "student samples")
    if t.shape[0] != s.shape[0]:
        raise CdliteError(
            f"teacher has {t.shape[0]} samples but student {s.shape[0]}: transfer compares them "
            f"latent by latent, so sample both from the same latents x_T (row i from latent i)")
    sigma_data = float(sigma_data)
    if not sigma_data > 0:
        raise CdliteError(f"sigma_data = {sigma_data}: pass the data's standard deviation "
                          f"(dataset.sigma_data), a positive number")
    tm = teacher_mem if teacher_mem is not None else \
        memorization_fraction(t, train, threshold, n_boot, rng)
    if tm["memorized"].shape[0] != t.shape[0] or tm["threshold"] != float(threshold):
        raise CdliteError(
            f"teacher_mem is for {tm['memorized'].shape[0]} samples at threshold "
            f"{tm['threshold']:.4g}, not these {t.shape[0]} at {float(threshold):.4g}: pass the "
            f"result of memorization_fraction(teacher, train, threshold), or None")
    sm = memorization_fraction(s, train, threshold, n_boot, rng)
    diff = to_numpy(s).astype(np.float64) - to_numpy(t).astype(np.float64)   # (m, d)
    error = (diff * diff).sum(axis=1) / (diff.shape[1] * sigma_data ** 2)    # (m,)
    same = tm["memorized"] & sm["memorized"] & (tm["idx1"] == sm["idx1"])
    return {"teacher_memorized": tm["memorized"], "teacher_point": tm["idx1"],
            "student_memorized": sm["memorized"], "student_point": sm["idx1"],
            "same": same, "error": error, "teacher_mem": tm, "student_mem": sm}


def _rate(flags, given, n_boot, rng):
    """(count, n, fraction, bootstrap interval) of flags among the latents where `given`."""
    n = int(given.sum())
    if n == 0:
        return 0, 0, None, None
    k = int(flags[given].sum())
    return k, n, k / n, bootstrap_ci(flags[given], n_boot, rng=rng)


def _mean(error, given):
    return float(error[given].mean()) if given.any() else None


def transfer_report(train, teacher, student, sigma_data: float,
                    threshold: float = MEM_THRESHOLD, n_boot: int = 1000, rng=None,
                    teacher_mem: dict | None = None) -> dict:
    """The transfer metrics of the module docstring as JSON-ready values.

    Keys: n_latents; teacher_f_mem, teacher_f_mem_ci, student_f_mem, student_f_mem_ci;
    n_teacher_memorized; transfer (P(same point | teacher memorized)), transfer_ci,
    n_transferred; n_other_point (student memorized, but another point); mem_if_not
    (P(student memorizes | teacher did not)), mem_if_not_ci, n_mem_if_not; imitation_error,
    imitation_error_if_teacher_memorized, imitation_error_if_not (per dimension, / sigma_data^2).
    A rate over no latents is None. Arguments as in `per_latent`."""
    r = per_latent(train, teacher, student, sigma_data, threshold, n_boot, rng, teacher_mem)
    t_mem, s_mem, error = r["teacher_memorized"], r["student_memorized"], r["error"]
    k_same, n_mem, transfer, transfer_ci = _rate(r["same"], t_mem, n_boot, rng)
    k_not, _, mem_if_not, mem_if_not_ci = _rate(s_mem, ~t_mem, n_boot, rng)
    return {
        "n_latents": int(t_mem.size),
        "teacher_f_mem": r["teacher_mem"]["f_mem"],
        "teacher_f_mem_ci": r["teacher_mem"]["f_mem_ci"],
        "student_f_mem": r["student_mem"]["f_mem"],
        "student_f_mem_ci": r["student_mem"]["f_mem_ci"],
        "n_teacher_memorized": n_mem,
        "transfer": transfer, "transfer_ci": transfer_ci, "n_transferred": k_same,
        "n_other_point": int((t_mem & s_mem & ~r["same"]).sum()),
        "mem_if_not": mem_if_not, "mem_if_not_ci": mem_if_not_ci, "n_mem_if_not": k_not,
        "imitation_error": float(error.mean()),
        "imitation_error_if_teacher_memorized": _mean(error, t_mem),
        "imitation_error_if_not": _mean(error, ~t_mem),
    }


# --- sampling teacher and student from the same latents ----------------------------------------

def draw_latents(m: int, d: int, sigma_max: float, rng, xp=np, dtype=np.float32):
    """x_T = sigma_max z, z ~ N(0, I): the latents every sampler below starts from. (m, d)"""
    return float(sigma_max) * randn(rng, (int(m), int(d)), xp, dtype)


def _in_batches(run, x_T, batch: int):
    """run(rows of x_T) over batches of at most `batch` latents, concatenated in order."""
    xp = array_module(x_T)
    return xp.concatenate([run(x_T[i:i + batch]) for i in range(0, x_T.shape[0], batch)], axis=0)


def teacher_samples(D, x_T, full_grid, N: int, sigma_min: float, rho: float,
                    batch: int = 4096) -> dict:
    """The teacher D from latents x_T (m, d), x_T = sigma_max z with sigma_max = full_grid[0]:

    "teacher": Heun (Karras et al. 2022, Algorithm 1) on its full sampling grid `full_grid`
               (DiffusionConfig.grid(), ending at 0);
    "teacher_cd_grid": Phi_teacher, Heun steps down the CD grid t_N = sigma_max > ... > t_1 =
               sigma_min (consistency_grid(N) read downwards, Song et al. 2023 section 5), the
               map a perfect CD student equals (it stops at sigma_min, where f(x, sigma_min) = x).
    """
    sigma_max = float(full_grid[0])
    cd_grid = consistency_grid(N, sigma_min, sigma_max, rho)[::-1]    # (N,) from sigma_max down
    return {"teacher": _in_batches(lambda x: sample_heun(D, x, full_grid)[0], x_T, batch),
            "teacher_cd_grid": _in_batches(lambda x: sample_heun(D, x, cd_grid)[0], x_T, batch)}


def student_samples(f, x_T, sigma_max: float, tau: float, sigma_min: float, rng,
                    batch: int = 4096) -> dict:
    """The consistency student f from latents x_T (Song et al. 2023, Algorithm 1):
    "student": one step, f(x_T, sigma_max); "student_2step": re-noised to tau by `rng` and
    mapped again (the 2-step sample shares x_T, not the fresh noise of its second step)."""
    one = _in_batches(lambda x: sample_consistency(f, x, [sigma_max], sigma_min=sigma_min)[0],
                      x_T, batch)
    two = _in_batches(lambda x: sample_consistency(f, x, [sigma_max, tau], rng,
                                                   sigma_min=sigma_min)[0], x_T, batch)
    return {"student": one, "student_2step": two}
