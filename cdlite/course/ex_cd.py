"""Exercises on consistency distillation (lesson 6) and on the memorization test (lesson 7).

References: the consistency loss built from cdlite's own pieces (teacher_ode_step,
ConsistencyFunction, distance: the lines of cdlite.distill.losses.cd_loss after its random
draws), float64 central differences with the target held fixed, and
cdlite.metrics.memorization_fraction for the ratio test.

Shapes: B batch, d data dimension, m generated samples, n training points.
"""
from __future__ import annotations

import numpy as np

from ..backend import make_rng
from ..data.gaussians import random_mixture
from ..diffusion.grids import consistency_grid
from ..distill.consistency import ConsistencyFunction
from ..distill.losses import distance, teacher_ode_step
from ..metrics.memorization import memorization_fraction
from ..nn.networks import build_network
from .exercise import Check, Exercise
from .grading import (Fail, as_array, as_scalar, compare, compare_at, fmt, numeric_grad,
                      randomized)

H = 1e-6  # central-difference step in float64


# ---- the CD loss -----------------------------------------------------------------------------

def _cd_case(seed, B=6, d=2, same_target=False):
    """A small float64 student (every layer non-zero, so every gradient is), its EMA target, an
    exact mixture teacher and one draw of (x, t_n, t_{n+1}, z)."""
    rng = make_rng(seed)
    net = build_network("mlp", d=d, hidden=12, depth=2, emb_dim=8)
    params = net.init(rng, np.float64)
    params["out.W"] = 0.5 * rng.standard_normal(params["out.W"].shape)  # zero-initialised
    target = {k: v if same_target else v + 0.1 * rng.standard_normal(v.shape)
              for k, v in params.items()}
    target = {k: v.copy() for k, v in target.items()}
    student = ConsistencyFunction(net, sigma_data=0.6, sigma_min=0.002)
    mixture = random_mixture(3, d, rng, spread=1.5, std=0.4)
    teacher = (lambda y, sigma: mixture.denoise(y, sigma))
    grid = consistency_grid(12, 0.002, 10.0)  # ascending t_1 < ... < t_N
    idx = rng.integers(0, len(grid) - 1, B)
    t_n, t_next = grid[idx][:, None], grid[idx + 1][:, None]  # (B, 1) columns
    x = mixture.sample(B, rng)
    z = rng.standard_normal((B, d))
    return student, params, target, teacher, x, t_n, t_next, z


def _f_target(student, target, teacher, x, t_n, t_next, z, solver="heun"):
    x_hat = teacher_ode_step(teacher, x + t_next * z, t_next, t_n, solver)  # line 5
    return student.forward(target, x_hat, t_n[:, 0])[0]  # a constant: no gradient


def _cd_reference(student, params, target, teacher, x, t_n, t_next, z):
    """(loss, grads) of Algorithm 2, lines 4-6, with cdlite's own pieces."""
    f_target = _f_target(student, target, teacher, x, t_n, t_next, z)
    f, cache = student.forward(params, x + t_next * z, t_next[:, 0])
    loss, df = distance(f, f_target, "l2")
    return loss, student.backward(params, df, cache)


def _student_cd(student_code, case, need_grads=True):
    """(loss, grads) the student returns, checked: a float and, unless need_grads is False, one
    array of the right shape per trained parameter array."""
    student, params, target, teacher, x, t_n, t_next, z = case
    out = student_code("cd_loss_and_grad", student, params, target, teacher, x, t_n, t_next, z)
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise Fail("cd_loss_and_grad should return 2 values (loss, grads); yours returned "
                   + (f"{len(out)} values" if isinstance(out, (tuple, list))
                      else f"a {type(out).__name__}"))
    loss, grads = as_scalar(out[0], "the loss"), out[1]
    if not need_grads:
        return loss, None
    if not isinstance(grads, dict):
        raise Fail(f"grads is a {type(grads).__name__}; return the dict that student.backward "
                   f"gives (one array per entry of params)")
    trainable = student.net.trainable  # (the frequencies of the noise embedding are fixed)
    missing = [k for k in trainable if k not in grads]
    if missing:
        raise Fail(f"grads has no entry {missing[0]!r} (of {len(trainable)}): return the "
                   f"gradients that student.backward gives, one per trained array")
    return loss, {k: as_array(grads[k], f"grads[{k!r}]", params[k].shape,
                              f"the shape of params[{k!r}]") for k in trainable}


def check_cd_returns(student_code):
    _student_cd(student_code, _cd_case(261))


def check_cd_loss(student_code):
    case = _cd_case(262)
    student, params, target, teacher, x, t_n, t_next, z = case
    loss, _ = _student_cd(student_code, case, need_grads=False)
    ref, _ = _cd_reference(*case)
    f, _ = student.forward(params, x + t_next * z, t_next[:, 0])
    wrong = {  # the loss a known mistake gives: f_target computed another way
        "yours computes the target with params; it uses the EMA weights target_params "
        "(theta_minus)": _f_target(student, params, teacher, x, t_n, t_next, z),
        "yours takes an Euler step of the teacher; Algorithm 2 uses Heun (two teacher "
        "evaluations)": _f_target(student, target, teacher, x, t_n, t_next, z, "euler"),
        "yours has no teacher step (x_hat_n = x_{n+1})":
            student.forward(target, x + t_next * z, t_n[:, 0])[0],
        "yours is the CT loss (x_hat_n = x + t_n z); CD takes the teacher's ODE step":
            student.forward(target, x + t_n * z, t_n[:, 0])[0],
    }
    mistakes = [(distance(f, ft)[0], text) for text, ft in wrong.items()]
    mistakes += [(ref * x.shape[1], "yours sums over the d coordinates: the loss averages over "
                                    "batch and coordinates"),
                 (ref * x.size, "yours is a sum: the loss averages over batch and coordinates")]
    compare(loss, ref, lambda i: "the loss d(f_theta(x_{n+1}, t_{n+1}), "
            "f_theta_minus(x_hat_n, t_n))", mistakes=mistakes)


def _x_hat(teacher, x, t_n, t_next, z):
    return teacher_ode_step(teacher, x + t_next * z, t_next, t_n, "heun")


def _grad_check(make_case, title):
    """Compare the student's grads with central differences of the loss, the target held fixed
    (the stop-gradient), at 6 random entries per array, then with cdlite's backward in full."""
    def check(student_code):
        case = make_case()
        student, params, target, teacher, x, t_n, t_next, z = case
        _, grads = _student_cd(student_code, case)
        _, ref = _cd_reference(*case)
        x_next, x_hat = x + t_next * z, _x_hat(teacher, x, t_n, t_next, z)
        f_target = student.forward(target, x_hat, t_n[:, 0])[0]  # fixed from here on
        f, _ = student.forward(params, x_next, t_next[:, 0])
        _, df = distance(f, f_target)
        # A known mistake: the gradient through both branches, as if the target were a function
        # of theta too (its weights equal theta when mu = 0, but CD stops the gradient there).
        _, cache_t = student.forward(params, x_hat, t_n[:, 0])
        through_target = student.backward(params, -df, cache_t)
        loss = (lambda: distance(student.forward(params, x_next, t_next[:, 0])[0], f_target)[0])
        rng = make_rng(7)
        for k in student.net.trainable:
            arr = params[k]
            picks = rng.choice(arr.size, size=min(6, arr.size), replace=False)
            numeric = numeric_grad(loss, arr, picks, h=H)
            mistakes = [(ref[k] + through_target[k], "yours also differentiates the target "
                         "f_theta_minus(x_hat_n, t_n): it is a constant (stop-gradient), only "
                         "f_theta(x_{n+1}, t_{n+1}) carries gradient"),
                        (ref[k] / 2, "yours misses the factor 2 of the square"),
                        (-ref[k], "yours has the sign of f - f_target flipped")]
            describe = (lambda idx, k=k: f"dL/d{k}[{', '.join(map(str, idx))}]{title}")
            compare_at(grads[k], numeric, picks, describe, mistakes)
            compare(grads[k], ref[k], describe, mistakes)
    return check


@randomized(265)
def check_cd_random(student_code, rng):
    """Random draws: a single row (B = 1), one and three data dimensions, against cdlite's
    backward in full."""
    for B, d in ((1, int(rng.integers(1, 4))), (int(rng.integers(2, 9)), 3)):
        case = _cd_case(int(rng.integers(1 << 30)), B=B, d=d)
        loss, grads = _student_cd(student_code, case)
        ref_loss, ref = _cd_reference(*case)
        size = f" (B = {B}, d = {d})"
        compare(loss, ref_loss, lambda i, size=size: "the loss" + size)
        for k in case[0].net.trainable:
            compare(grads[k], ref[k], lambda idx, k=k, size=size: f"dL/d{k}"
                    f"[{', '.join(map(str, idx))}]{size}")


CD_LOSS = Exercise(
    name="cd_loss", lesson=6, title="The consistency-distillation loss with its stop-gradient",
    functions=("cd_loss_and_grad",),
    math="""
Consistency distillation, Algorithm 2 of Song, Dhariwal, Chen & Sutskever (2023), lines 4-6
(counting from theta_minus <- theta as line 1). The random draws (x from the data, the grid
index n, z ~ N(0, I)) are given; you write:

    x_{n+1} = x + t_{n+1} z                                     line 4
    x_hat_n = one Heun step of the teacher's ODE dx/dt = (x - D(x, t)) / t
              from t_{n+1} down to t_n                          line 5
    L = d( f_theta(x_{n+1}, t_{n+1}), f_theta_minus(x_hat_n, t_n) )      line 6
    d(a, b) = 1/(B d) sum (a - b)^2   (squared L2, averaged over batch and coordinates)

and the gradient dL/dtheta. The target f_theta_minus(x_hat_n, t_n) uses the EMA weights
target_params and is a constant: no gradient flows through it (the stop-gradient), even when
target_params equals params.

What you are given:
    f, cache = student.forward(params, x, t)   f_theta(x, t) (B, d); t a (B, 1) column or (B,)
    grads = student.backward(params, df, cache)  dL/dtheta (a dict like params), given
                                               df = dL/df (B, d)
    teacher(x, t) -> D (B, d)                  the teacher's denoiser; t a (B, 1) column
For the Heun step you may use your heun_step exercise (it takes a float sigma; here each row has
its own t, so write it with columns) or cdlite.diffusion.samplers.slope and heun_step.
""",
    code='''
import numpy as np


def cd_loss_and_grad(student, params, target_params, teacher, x, t_n, t_next, z):
    """(loss, grads) of the CD loss for one batch.

    student: the consistency function f (forward/backward as described above);
    params: theta, a dict of arrays; target_params: theta_minus, a dict like params;
    teacher: a function (x, t) -> D; x: (B, d) training points;
    t_n, t_next: (B, 1) columns, t_n < t_next; z: (B, d) standard normal.
    Returns the loss (a float) and grads (the dict student.backward gives: one array per
    trained entry of params).
    """
    # YOUR CODE HERE
    raise NotImplementedError("write cd_loss_and_grad")
''',
    reference="cdlite/distill/losses.py, cd_loss",
    hints=("x_next = x + t_next z; the teacher's Heun step from t_next to t_n, with the columns "
           "t_next and t_n as sigma, gives x_hat.",
           "f_target = student.forward(target_params, x_hat, t_n)[0]: computed, then never "
           "differentiated (it is a constant of the loss).",
           "f, cache = student.forward(params, x_next, t_next); L = mean((f - f_target)^2), so "
           "df = 2 (f - f_target) / f.size and grads = student.backward(params, df, cache)."),
    checks=(Check("cd_loss_and_grad: returns a number and one gradient per parameter array",
                  check_cd_returns),
            Check("the loss value (target_params differs from params)", check_cd_loss),
            Check("dL/dtheta by central differences, target held fixed",
                  _grad_check(lambda: _cd_case(263), "")),
            Check("stop-gradient: target_params equal to params (mu = 0), the gradient still "
                  "flows through f_theta(x_{n+1}, t_{n+1}) only",
                  _grad_check(lambda: _cd_case(264, same_target=True), " (target = params)")),
            Check("random draws, a single row, one and three dimensions", check_cd_random)),
)


# ---- the f_mem ratio test --------------------------------------------------------------------

def _mem_case(seed, m=40, n=12, d=3):
    """Distinct training points and samples at all distances from them, so that the ratios
    d1 / d2 spread on both sides of the threshold."""
    rng = make_rng(seed)
    train = rng.standard_normal((n, d))
    scale = np.geomspace(0.01, 1.5, m)[rng.permutation(m)][:, None]  # (m, 1)
    samples = train[rng.integers(0, n, m)] + scale * rng.standard_normal((m, d))
    return samples, train


def _distances(samples, train):
    dist = np.sqrt(((samples[:, None, :] - train[None]) ** 2).sum(axis=-1))  # (m, n)
    return np.sort(dist, axis=1), np.argmin(dist, axis=1)


def _as_bools(value, m):
    what = "is_memorized(samples, train, threshold)"
    if value is None:
        raise Fail(f"{what} returned None: did you forget `return`?")
    a = np.asarray(value)
    if a.shape != (m,):
        raise Fail(f"{what} has shape {a.shape}, expected ({m},): one True/False per sample")
    if a.dtype != bool:
        if not np.issubdtype(a.dtype, np.number) or not np.isin(a, (0, 1)).all():
            raise Fail(f"{what} holds {a.dtype} values such as {fmt(a.ravel()[0])}; return "
                       f"booleans (True = memorized): compare the ratio with the threshold")
        a = a.astype(bool)
    return a


def _compare_bools(yours, expected, samples, train, mistakes=()):
    if np.array_equal(yours, expected):
        return
    i = int(np.argmax(yours != expected))
    dist, _ = _distances(samples, train)
    d1, d2 = dist[i, 0], dist[i, 1]
    hint = (f"sample {i} (d1 = {fmt(d1)}, d2 = {fmt(d2)}, d1/d2 = {fmt(d1 / d2)}): yours "
            f"{bool(yours[i])}, expected {bool(expected[i])}")
    for value, meaning in mistakes:
        if np.array_equal(yours, value):
            hint += f" ({meaning})"
            break
    raise Fail(hint)


def _mem_mistakes(samples, train, threshold):
    dist, _ = _distances(samples, train)
    ratio = dist[:, 0] / dist[:, 1]
    return [(ratio ** 2 < threshold, "yours compares squared distances: (d1/d2)^2 < "
                                     "threshold is a looser test"),
            (dist[:, 0] / dist[:, -1] < threshold, "yours takes the farthest training point "
                                                   "as a_(2), not the second nearest"),
            (ratio >= threshold, "yours flags the samples that are not memorized"),
            (ratio < 1 / 3, "yours ignores the threshold argument"),
            (dist[:, 0] < threshold, "yours compares d1 itself with the threshold, not d1/d2")]


def check_mem_values(student):
    samples, train = _mem_case(271)
    yours = _as_bools(student("is_memorized", samples, train, 1 / 3), len(samples))
    expected = memorization_fraction(samples, train, 1 / 3)["memorized"]
    _compare_bools(yours, expected, samples, train, _mem_mistakes(samples, train, 1 / 3))


def check_mem_copies(student):
    # Exact answer: a copy of a training point has d1 = 0, ratio 0: memorized.
    _, train = _mem_case(272, n=9, d=4)
    samples = train[make_rng(273).permutation(len(train))]
    yours = _as_bools(student("is_memorized", samples, train, 1 / 3), len(samples))
    if not yours.all():
        i = int(np.argmin(yours))
        raise Fail(f"sample {i} is an exact copy of a training point (d1 = 0, d1/d2 = 0): "
                   f"yours False, expected True (a_(1) is the copied point itself)")


def check_mem_threshold(student):
    samples, train = _mem_case(274, m=50, n=10, d=2)
    yours = _as_bools(student("is_memorized", samples, train, 0.5), len(samples))
    expected = memorization_fraction(samples, train, 0.5)["memorized"]
    _compare_bools(yours, expected, samples, train, _mem_mistakes(samples, train, 0.5))


@randomized(275)
def check_mem_random(student, rng):
    """Random sizes and thresholds, a single sample, the minimum of two training points, ties
    (a sample equally far from its two nearest points: ratio 1, never memorized)."""
    threshold = float(rng.uniform(0.1, 0.9))
    n, d = int(rng.integers(2, 12)), int(rng.integers(1, 5))
    samples, train = _mem_case(int(rng.integers(1 << 30)), m=int(rng.integers(5, 30)), n=n, d=d)
    tie = 0.5 * (train[0] + train[1])
    samples = np.vstack([samples, tie])[rng.permutation(len(samples) + 1)]
    for ss, tt, th in ((samples, train, threshold), (samples[:1], train, threshold),
                       (samples, train[:2], 0.99)):
        yours = _as_bools(student("is_memorized", ss, tt, th), len(ss))
        expected = memorization_fraction(ss, tt, th)["memorized"]
        _compare_bools(yours, expected, ss, tt, _mem_mistakes(ss, tt, th)
                       if len(tt) > 2 else ())


F_MEM = Exercise(
    name="f_mem", lesson=7, title="The memorization test: the nearest-neighbour ratio",
    functions=("is_memorized",),
    math="""
A generated sample counts as memorized (Yoon et al. 2023; Jiang & Zou 2026; docs/design.md
§5.1) when it is a near-copy of one training point. "Near" cannot be an absolute distance: data sets
have different scales, and in a dense region every sample is near some point. The test compares
two Euclidean distances of the sample, so that it is scale-free (multiply every point by 10 and
no answer changes) and tells a copy of one point from a sample that merely lies between several:
memorized when their ratio is below `threshold` (1/3 by default; 1 would flag almost everything).
Which two distances? Work it out, then write the test. f_mem, the memorization fraction, is the
mean of this test over the samples. (The training points here are all distinct; cdlite's own
version also merges duplicates.) Stuck? `cdlite exercise hint f_mem`.
""",
    code='''
import numpy as np


def is_memorized(samples, train, threshold=1 / 3):
    """One boolean per sample: True when d1 / d2 < threshold.

    samples: (m, d) generated points; train: (n, d) training points, n >= 2, all distinct;
    threshold: a float in (0, 1]. Returns a boolean array of shape (m,).
    """
    # YOUR CODE HERE
    raise NotImplementedError("write is_memorized")
''',
    reference="cdlite/metrics/memorization.py, memorization_fraction",
    hints=("The distances from each sample to every training point: an (m, n) array, "
           "sqrt of the summed squared differences.",
           "The two that matter are the nearest, d1 = |x - a_(1)|, and the second nearest, d2 = "
           "|x - a_(2)|: sort each row.",
           "Memorized when d1 / d2 < threshold: a copy has d1 = 0; a sample between two points "
           "has d1 / d2 near 1."),
    checks=(Check("against cdlite's f_mem test on 40 samples (threshold 1/3)", check_mem_values),
            Check("exact copies of training points are memorized", check_mem_copies),
            Check("threshold 0.5 instead of 1/3", check_mem_threshold),
            Check("random sizes and thresholds, one sample, two training points, a tie",
                  check_mem_random)),
)
