"""Exercises on the EDM teacher (Karras et al. 2022): preconditioning (lesson 1), the loss gradient
(lesson 3), the empirical-optimum denoiser (lesson 4) and one Heun step (lesson 5).

References: cdlite.diffusion (edm_coeffs, EDMDenoiser + denoising_loss, EmpiricalOptimalDenoiser,
slope + heun_step), float64 central differences, and exact answers: unit variances of the
preconditioned input and target, the exact ODE solution for Gaussian data, the limits of the
empirical optimum for sigma -> 0 and sigma -> infinity.

Shapes: B batch, d data dimension, n training points.
"""
from __future__ import annotations

import numpy as np

from ..backend import make_rng
from ..data.gaussians import random_mixture
from ..diffusion.closed_form import EmpiricalOptimalDenoiser
from ..diffusion.loss import denoising_loss
from ..diffusion.precond import EDMDenoiser, edm_coeffs
from ..diffusion.samplers import euler_step, heun_step, slope
from .exercise import Check, Exercise
from .grading import (Fail, as_array, as_scalar, compare, fmt, fmt_pair, log_uniform, numeric_grad,
                      randomized, unpack)

H = 1e-6  # central-difference step in float64


# ---- EDM preconditioning ---------------------------------------------------------------------

SIGMA_DATA = 0.7  # not the 0.5 of the template's text: the student's code must use its argument


def _sigmas():
    s = np.geomspace(0.002, 80.0, 9)
    s[4] = 2.0  # a round value the hint can name
    return s


def _student_coeffs(student, sigma, sigma_data):
    out = unpack(student("edm_coeffs", sigma, sigma_data), "edm_coeffs(sigma, sigma_data)",
                 ("c_skip", "c_out", "c_in", "c_noise"))
    return tuple(as_array(v, k, sigma.shape, "one value per sigma")
                 for v, k in zip(out, ("c_skip", "c_out", "c_in", "c_noise")))


def _coeff_check(k: int, mistakes):
    """Check coefficient k of (c_skip, c_out, c_in, c_noise) against cdlite's edm_coeffs."""
    name = ("c_skip", "c_out", "c_in", "c_noise")[k]

    def check(student):
        s, sd = _sigmas(), SIGMA_DATA
        yours = _student_coeffs(student, s, sd)[k]
        compare(yours, edm_coeffs(s, sd)[k],
                lambda i: f"{name} at sigma = {fmt(s[i])}, sigma_data = {sd}",
                mistakes=[(m(s, sd), text) for m, text in mistakes])
    return check


def check_edm_unit_variance(student):
    # Exact answer (Karras et al., appendix B.6): for data of variance sd^2 per coordinate, the
    # network input c_in y and the network target (x - c_skip y) / c_out have unit variance.
    s, sd = _sigmas(), 1.3
    c_skip, c_out, c_in, _ = _student_coeffs(student, s, sd)
    var_in = c_in ** 2 * (sd ** 2 + s ** 2)
    var_target = ((1 - c_skip) ** 2 * sd ** 2 + c_skip ** 2 * s ** 2) / c_out ** 2
    compare(var_in, np.ones_like(s), lambda i: f"Var(c_in y) at sigma = {fmt(s[i])}, "
            f"sigma_data = {sd}", rtol=1e-4)
    compare(var_target, np.ones_like(s), lambda i: f"Var((x - c_skip y) / c_out), the "
            f"network's target, at sigma = {fmt(s[i])}, sigma_data = {sd}", rtol=1e-4)


@randomized(236)
def check_edm_random(student, rng):
    """Random sigma_data, sigma from 1e-4 to 1e3, one sigma alone (K = 1)."""
    for K in (1, int(rng.integers(5, 12))):
        s = log_uniform(rng, 1e-4, 1e3, K)
        sd = float(log_uniform(rng, 0.05, 5.0))
        yours = _student_coeffs(student, s, sd)
        for k, name in enumerate(("c_skip", "c_out", "c_in", "c_noise")):
            compare(yours[k], edm_coeffs(s, sd)[k],
                    lambda i, name=name, s=s, sd=sd: f"{name} at sigma = {fmt(s[i[0]])}, "
                    f"sigma_data = {fmt(sd)}")


EDM_PRECOND = Exercise(
    name="edm_precond", lesson=1, title="EDM preconditioning: c_skip, c_out, c_in, c_noise",
    functions=("edm_coeffs",),
    math="""
EDM (Karras et al. 2022, appendix B.6) builds the denoiser from a raw network F:

    D(y, sigma) = c_skip(sigma) y + c_out(sigma) F(c_in(sigma) y, c_noise(sigma)),

for a noisy point y = x + sigma n, where each coordinate of x has variance sigma_data^2 (0.5^2 for
images in [-1, 1]) and n ~ N(0, I) is independent of x. Derive c_in, c_skip and c_out from three
requirements, at every noise level sigma:

    1. the network's input c_in y has unit variance;
    2. c_skip makes the variance of x - c_skip y, what the network is left to predict, as small
       as possible (so c_out, which multiplies the network's errors, is as small as possible);
    3. the network's training target (x - c_skip y) / c_out (the F that gives D = x) has unit
       variance.

c_noise is a choice, not a derivation: c_noise = ln(sigma) / 4. The checker compares your
coefficients with cdlite's and tests the two unit variances directly. Stuck? `cdlite exercise
hint edm_precond` gives the derivation one step at a time.
""",
    code='''
import numpy as np


def edm_coeffs(sigma, sigma_data):
    """(c_skip, c_out, c_in, c_noise) for an array of noise levels sigma.

    sigma: (K,) array of noise levels > 0; sigma_data: a float (e.g. 0.5).
    Returns four (K,) arrays.
    """
    # YOUR CODE HERE
    raise NotImplementedError("write edm_coeffs")
''',
    reference="cdlite/diffusion/precond.py, edm_coeffs",
    hints=("Var(y) = sigma_data^2 + sigma^2 (x and n are independent), so requirement 1 gives "
           "c_in = 1 / sqrt(sigma^2 + sigma_data^2).",
           "x - c_skip y = (1 - c_skip) x - c_skip sigma n has variance (1 - c_skip)^2 "
           "sigma_data^2 + c_skip^2 sigma^2.",
           "Set its derivative in c_skip to zero: -2 (1 - c_skip) sigma_data^2 + 2 c_skip sigma^2 "
           "= 0, so c_skip = sigma_data^2 / (sigma^2 + sigma_data^2).",
           "With that c_skip the variance is sigma^2 sigma_data^2 / (sigma^2 + sigma_data^2); "
           "requirement 3 makes c_out its square root: sigma sigma_data / sqrt(sigma^2 + "
           "sigma_data^2)."),
    checks=(
        Check("edm_coeffs: four arrays with one value per sigma",
              lambda st: _student_coeffs(st, _sigmas(), SIGMA_DATA)),
        Check("c_skip", _coeff_check(0, [
            (lambda s, sd: sd ** 2 / (s + sd ** 2), "yours has sigma where sigma^2 belongs"),
            (lambda s, sd: sd / (s ** 2 + sd ** 2), "yours has sigma_data where sigma_data^2 "
                                                    "belongs")])),
        Check("c_out", _coeff_check(1, [
            (lambda s, sd: s * sd / (s ** 2 + sd ** 2), "yours misses the square root"),
            (lambda s, sd: s * sd / np.sqrt(s + sd ** 2), "yours has sigma where sigma^2 "
                                                          "belongs")])),
        Check("c_in", _coeff_check(2, [
            (lambda s, sd: 1 / (s ** 2 + sd ** 2), "yours misses the square root"),
            (lambda s, sd: 1 / np.sqrt(s + sd ** 2), "yours has sigma where sigma^2 belongs")])),
        Check("c_noise", _coeff_check(3, [
            (lambda s, sd: np.log(s), "yours misses the factor 1/4"),
            (lambda s, sd: np.log10(s) / 4, "yours uses log10; ln is the natural log, np.log"),
            (lambda s, sd: s / 4, "yours misses the logarithm")])),
        Check("exact: unit variance of the network's input and target (sigma_data = 1.3)",
              check_edm_unit_variance),
        Check("random sigma_data, sigma from 1e-4 to 1e3, a single sigma", check_edm_random),
    ),
)


# ---- the EDM loss and its gradient -----------------------------------------------------------

class _GivenOutput:
    """A 'network' whose output is its only parameter: F = params['F']. Wrapped in cdlite's own
    EDMDenoiser and denoising_loss, its gradient is exactly dL/dF."""

    def forward(self, params, x, c_noise):
        return params["F"], None

    def backward(self, params, dF, cache, need_dx=False):
        return None, {"F": dF}


def _loss_reference(F, x, noise, sigma, sigma_data):
    """(L, dL/dF) from cdlite.diffusion.loss.denoising_loss."""
    loss, grads = denoising_loss(EDMDenoiser(_GivenOutput(), sigma_data), {"F": F}, x, sigma,
                                 noise)
    return loss, grads["F"]


def _loss_case(seed, B, d):
    rng = make_rng(seed)
    x, noise, F = (rng.standard_normal((B, d)) for _ in range(3))
    sigma = np.exp(-1.2 + 1.2 * rng.standard_normal(B))  # EDM's training distribution
    return F, x, noise, sigma


def _loss_parts(F, x, noise, sigma, sd):
    s = sigma[:, None]  # (B, 1)
    c_skip, c_out, _, _ = edm_coeffs(s, sd)
    D = c_skip * (x + s * noise) + c_out * F  # (B, d)
    lam = (s ** 2 + sd ** 2) / (s * sd) ** 2  # (B, 1)
    return D - x, lam, c_out


def _student_loss(student, F, x, noise, sigma, sd):
    out = unpack(student("edm_loss_and_grad", F, x, noise, sigma, sd),
                 "edm_loss_and_grad(F, x, noise, sigma, sigma_data)", ("loss", "dF"))
    return as_scalar(out[0], "the loss"), as_array(out[1], "dF", F.shape, "the shape of F, (B, d)")


def check_loss_shapes(student):
    _student_loss(student, *_loss_case(231, 6, 3), 0.5)


def check_loss_value(student):
    sd = 0.6
    F, x, noise, sigma = _loss_case(232, 8, 3)
    loss, _ = _student_loss(student, F, x, noise, sigma, sd)
    err, lam, c_out = _loss_parts(F, x, noise, sigma, sd)
    lam_sigma = (sigma[:, None] + sd ** 2) / (sigma[:, None] * sd) ** 2
    compare(loss, _loss_reference(F, x, noise, sigma, sd)[0],
            lambda i: f"the loss L (B = 8, d = 3, sigma_data = {sd})", mistakes=[
                ((err ** 2).mean(), "yours has no weight lambda(sigma)"),
                ((lam * err ** 2).sum() / err.shape[0], "yours sums over the d coordinates: L "
                                                        "averages over batch and coordinates"),
                ((lam * err ** 2).sum(), "yours is a sum: L averages over batch and coordinates"),
                ((lam_sigma * err ** 2).mean(), "yours has sigma where sigma^2 belongs in "
                                                "lambda"),
                ((lam * err ** 2).mean() ** 0.5, "yours is a square root of L")])


def check_loss_grad(student):
    sd = 0.6
    F, x, noise, sigma = _loss_case(233, 7, 3)
    _, dF = _student_loss(student, F, x, noise, sigma, sd)
    numeric = numeric_grad(lambda: _loss_reference(F, x, noise, sigma, sd)[0], F, h=H)
    err, lam, c_out = _loss_parts(F, x, noise, sigma, sd)
    dD = 2 * lam * err / err.size  # dL/dD
    compare(dF, numeric, lambda i: f"dL/dF[{i[0]}, {i[1]}] (sigma = {fmt(sigma[i[0]])})",
            mistakes=[(dD, "yours is dL/dD: the chain rule through D = c_skip y + c_out F "
                           "multiplies by c_out"),
                      (dD * c_out / 2, "yours misses the factor 2 of the square"),
                      (dD * c_out * err.shape[1], "yours is the gradient of a sum over the d "
                                                  "coordinates: L averages"),
                      (2 * err * c_out / err.size, "yours has no weight lambda(sigma)")])


def check_loss_rows(student):
    # B = d: a sigma of shape (B,) broadcast along the wrong axis keeps the shape, not the values.
    sd = 0.5
    F, x, noise, _ = _loss_case(234, 4, 4)
    sigma = np.array([0.01, 0.3, 2.0, 40.0])
    loss, dF = _student_loss(student, F, x, noise, sigma, sd)
    ref_loss, ref_dF = _loss_reference(F, x, noise, sigma, sd)
    wrong_loss, wrong_dF = _loss_reference(F.T, x.T, noise.T, sigma, sd)  # sigma along columns
    compare(loss, ref_loss, lambda i: "the loss L with B = d = 4, sigma = [0.01, 0.3, 2, 40] "
            "(row b has noise level sigma[b])",
            mistakes=[(wrong_loss, "yours applies sigma[j] to column j: make it a (B, 1) "
                                   "column, sigma[:, None]")])
    compare(dF, ref_dF, lambda i: f"dL/dF[{i[0]}, {i[1]}] with B = d = 4 (sigma = "
            f"{fmt(sigma[i[0]])})", mistakes=[(wrong_dF.T, "yours applies sigma[j] to column "
                                                           "j: make it a (B, 1) column")])


@randomized(235)
def check_loss_random(student, rng):
    """Random sizes (a single row), sigma from 1e-3 to 1e2, random sigma_data."""
    for B, d in [(1, int(rng.integers(1, 5))), tuple(int(n) for n in rng.integers(2, 7, 2))]:
        F, x, noise, _ = _loss_case(int(rng.integers(1 << 30)), B, d)
        sigma = log_uniform(rng, 1e-3, 1e2, B)
        sd = float(log_uniform(rng, 0.1, 2.0))
        loss, dF = _student_loss(student, F, x, noise, sigma, sd)
        ref_loss, ref_dF = _loss_reference(F, x, noise, sigma, sd)
        size = f"B = {B}, d = {d}, sigma_data = {fmt(sd)}"
        compare(loss, ref_loss, lambda i, size=size: f"the loss L ({size})")
        compare(dF, ref_dF, lambda i, size=size, sigma=sigma: f"dL/dF[{i[0]}, {i[1]}] ({size}, "
                f"sigma = {fmt(sigma[i[0]])})")


EDM_LOSS = Exercise(
    name="edm_loss", lesson=3, title="The EDM loss and its gradient with respect to F",
    functions=("edm_loss_and_grad",),
    math="""
The EDM denoising loss (Karras et al. 2022, eq. 2 and Table 1), for a batch of B clean points
x (B, d), one noise level sigma_b per row and noise n (B, d):

    y = x + sigma n                                    (each row b with its own sigma_b)
    D = c_skip(sigma) y + c_out(sigma) F               (F (B, d): the raw network's output)
    lambda(sigma) = (sigma^2 + sigma_data^2) / (sigma sigma_data)^2
    L = 1/(B d) sum_b lambda(sigma_b) sum_j (D_bj - x_bj)^2

with c_skip = sigma_data^2 / (sigma^2 + sigma_data^2), c_out = sigma sigma_data /
sqrt(sigma^2 + sigma_data^2) (your edm_precond exercise, or cdlite.diffusion.precond.edm_coeffs).
Return L and its gradient dL/dF (B, d): the array the network's backward pass starts from.
""",
    code='''
import numpy as np


def edm_loss_and_grad(F, x, noise, sigma, sigma_data):
    """The EDM loss L (a float) and dL/dF (B, d).

    F: (B, d) raw network output; x: (B, d) clean points; noise: (B, d) standard normal;
    sigma: (B,) one noise level per row; sigma_data: a float.
    """
    # YOUR CODE HERE
    raise NotImplementedError("write edm_loss_and_grad")
''',
    reference="cdlite/diffusion/loss.py, denoising_loss, with EDMDenoiser",
    hints=("Make sigma a (B, 1) column, sigma[:, None], so that row b is scaled by its own "
           "sigma_b.",
           "L is a mean of B d terms lambda_b (D_bj - x_bj)^2, so dL/dD_bj = 2 lambda_b (D_bj - "
           "x_bj) / (B d).",
           "D depends on F only through c_out F: dL/dF = dL/dD * c_out (chain rule)."),
    checks=(Check("edm_loss_and_grad: returns a number and an array of F's shape",
                  check_loss_shapes),
            Check("the loss value", check_loss_value),
            Check("dL/dF by central differences", check_loss_grad),
            Check("one sigma per row (B = d, so a wrong axis keeps the shape)", check_loss_rows),
            Check("random sizes, a single row, sigma from 1e-3 to 100", check_loss_random)),
)


# ---- one Heun step ---------------------------------------------------------------------------

class _Counted:
    """A denoiser that counts its calls (the number of function evaluations, NFE)."""

    def __init__(self, denoiser):
        self.denoiser, self.calls = denoiser, 0

    def __call__(self, x, sigma):
        self.calls += 1
        return self.denoiser(np.asarray(x, np.float64), sigma)


def _mixture_denoiser(seed, d):
    mixture = random_mixture(3, d, make_rng(seed), spread=1.5, std=0.4)
    return (lambda x, sigma: mixture.denoise(x, sigma)), mixture


def _heun_reference(denoiser, x, s, s_next):
    d, _ = slope(denoiser, x, s)
    return heun_step(denoiser, x, d, s, s_next) if s_next > 0 else euler_step(x, d, s, s_next)


def _student_step(student, denoiser, x, s, s_next):
    counted = _Counted(denoiser)
    out = student("heun_step", counted, x, s, s_next)
    x_next = as_array(out, f"heun_step(denoiser, x, {fmt(s)}, {fmt(s_next)})", x.shape,
                      "the shape of x", nonfinite="the step to sigma_next = 0 is a plain Euler "
                      "step: the slope at 0 divides by 0" if s_next == 0 else
                      "overflow or a division by zero?")
    return x_next, counted.calls


def check_heun_values(student):
    for s, s_next in ((2.0, 1.2), (0.6, 0.3), (0.05, 0.01)):  # the correction matters at every
        _heun_values(student, s, s_next)                       # noise level, small ones too


def _heun_values(student, s, s_next):
    denoiser, _ = _mixture_denoiser(241, 3)
    x = 2.0 * make_rng(242).standard_normal((6, 3))
    x_next, _ = _student_step(student, denoiser, x, s, s_next)
    d, D = slope(denoiser, x, s)
    x_euler = euler_step(x, d, s, s_next)
    d_at_x = (x - denoiser(x, s_next)) / s_next
    d_next = (x_euler - denoiser(x_euler, s_next)) / s_next
    compare(x_next, _heun_reference(denoiser, x, s, s_next),
            lambda i: f"x_next[{i[0]}, {i[1]}] after one step sigma {fmt(s)} -> {fmt(s_next)}",
            mistakes=[(x_euler, "yours is the Euler step alone: Heun corrects it with the "
                                "slope at sigma_next"),
                      (x + (s_next - s) * d_next, "yours uses the end slope alone: Heun averages "
                                                  "(d + d') / 2"),
                      (x + (s_next - s) * 0.5 * (d + d_at_x), "yours takes the second slope at "
                                                              "x, not at the Euler point"),
                      (x + (s - s_next) * 0.5 * (d + d_next), "yours steps the wrong way: "
                                                              "multiply by (sigma_next - sigma)")])


def check_heun_nfe(student):
    denoiser, _ = _mixture_denoiser(243, 2)
    x = make_rng(244).standard_normal((5, 2))
    _, calls = _student_step(student, denoiser, x, 1.5, 0.9)
    if calls != 2:
        raise Fail(f"one Heun step from sigma = 1.5 to 0.9 called the denoiser {calls} time(s); "
                   f"Heun takes 2 (NFE = 2): D at x, then D at the Euler point")


def check_heun_last_step(student):
    # EDM Algorithm 1, line 8: no correction on the step to sigma = 0 (the slope there divides
    # by 0). Then x_next = x - sigma (x - D) / sigma = D(x, sigma): exact, one evaluation.
    denoiser, _ = _mixture_denoiser(245, 3)
    x = make_rng(246).standard_normal((4, 3))
    x_next, calls = _student_step(student, denoiser, x, 0.3, 0.0)
    compare(x_next, denoiser(x, 0.3), lambda i: f"x_next[{i[0]}, {i[1]}] on the last step, "
            f"sigma 0.3 -> 0 (a plain Euler step gives D(x, 0.3))")
    if calls != 1:
        raise Fail(f"the last step (sigma_next = 0) called the denoiser {calls} times; it is a "
                   f"plain Euler step: 1 evaluation")


def check_heun_exact(student):
    # Exact answer: for data N(0, v I) the denoiser is D = v / (v + sigma^2) y and the ODE
    # dx/dsigma = (x - D) / sigma is solved by x(sigma) = x0 sqrt((v + sigma^2) / (v + sigma0^2)).
    v, s, s_next = 0.8, 1.0, 0.8
    gauss = (lambda y, sigma: v / (v + np.asarray(sigma) ** 2) * y)
    x = 3.0 * make_rng(247).standard_normal((8, 2))
    x_next, _ = _student_step(student, gauss, x, s, s_next)
    exact = x * np.sqrt((v + s_next ** 2) / (v + s ** 2))
    yours = float(np.abs(x_next - exact).max())
    heun = float(np.abs(_heun_reference(gauss, x, s, s_next) - exact).max())
    if yours > 1.01 * heun + 1e-12:
        a, b = fmt_pair(yours, heun)
        raise Fail(f"one step sigma {fmt(s)} -> {fmt(s_next)} on Gaussian data, largest error to "
                   f"the exact ODE solution: yours {a}, Heun's {b}")


@randomized(248)
def check_heun_random(student, rng):
    """Random steps: sigma from 0.002 to 80, sigma_next from just below sigma to 0.001, and 0;
    the number of denoiser calls of each."""
    s_big = float(log_uniform(rng, 1.0, 80.0))
    s_small = float(log_uniform(rng, 0.003, 0.5))
    steps = [(s_big, s_big * rng.uniform(0.3, 0.95)), (s_small, s_small * rng.uniform(0.1, 0.9)),
             (s_small, float(log_uniform(rng, 1e-3, 0.5 * s_small))), (s_big, 0.0),
             (float(log_uniform(rng, 0.002, 2.0)), 0.0)]
    for k in rng.permutation(len(steps)):
        s, s_next = steps[k]
        d = int(rng.integers(1, 4))
        denoiser, _ = _mixture_denoiser(int(rng.integers(1 << 30)), d)
        x = rng.standard_normal((int(rng.choice([1, 5])), d)) * np.sqrt(1.0 + s * s)
        x_next, calls = _student_step(student, denoiser, x, s, s_next)
        compare(x_next, _heun_reference(denoiser, x, s, s_next),
                lambda i, s=s, s_next=s_next: f"x_next[{i[0]}, {i[1]}] after one step sigma "
                f"{fmt(s)} -> {fmt(s_next)}")
        want = 2 if s_next > 0 else 1
        if calls != want:
            raise Fail(f"one step sigma {fmt(s)} -> {fmt(s_next)} called the denoiser {calls} "
                       f"time(s), expected {want}")


HEUN = Exercise(
    name="heun_step", lesson=5, title="One step of Heun's method on the probability-flow ODE",
    functions=("heun_step",),
    math="""
The probability-flow ODE of EDM (Karras et al. 2022) in the "sigma as time" convention:

    dx/dsigma = (x - D(x, sigma)) / sigma.

Write one step of Heun's method from sigma down to sigma_next < sigma. Heun's method is the
explicit trapezoid rule: a first-order guess of the end point (predictor), then a step along the
average of the slopes at the start and at that guess (corrector); it is second order, at two
denoiser evaluations per step. On the last step, to sigma_next = 0, the slope at the end cannot
be evaluated (it divides by sigma_next): take the predictor alone there, with one evaluation.
The checker counts your denoiser calls (NFE) and tries steps at every noise level.
Stuck? `cdlite exercise hint heun_step`.
""",
    code='''
import numpy as np


def heun_step(denoiser, x, sigma, sigma_next):
    """x at sigma_next after one Heun step from sigma (plain Euler when sigma_next == 0).

    denoiser(x, sigma) -> D: a function of a (B, d) array and a float; x: (B, d);
    sigma > sigma_next >= 0: floats. Returns a (B, d) array.
    """
    # YOUR CODE HERE
    raise NotImplementedError("write heun_step")
''',
    reference="cdlite/diffusion/samplers.py, slope, euler_step and heun_step",
    hints=("The slope at the start: d = (x - D(x, sigma)) / sigma (one denoiser call).",
           "The predictor is Euler's step along it: x' = x + (sigma_next - sigma) d.",
           "If sigma_next > 0, the slope at the predicted point: d' = (x' - D(x', sigma_next)) / "
           "sigma_next (the second call).",
           "The corrector: x_next = x + (sigma_next - sigma) (d + d') / 2; with sigma_next = 0 "
           "return x' itself."),
    checks=(Check("steps 2 -> 1.2, 0.6 -> 0.3, 0.05 -> 0.01 against cdlite's heun_step",
                  check_heun_values),
            Check("two denoiser evaluations per step (NFE)", check_heun_nfe),
            Check("the last step to sigma = 0 is a plain Euler step", check_heun_last_step),
            Check("exact: the error to the ODE's solution for Gaussian data is Heun's",
                  check_heun_exact),
            Check("random steps from sigma = 80 down to 0.001, and to 0; the calls of each",
                  check_heun_random)),
)


# ---- the empirical optimum -------------------------------------------------------------------

def _denoise_case(seed, B, n, d):
    rng = make_rng(seed)
    train = rng.standard_normal((n, d))
    y = train[rng.integers(0, n, B)] + 0.7 * rng.standard_normal((B, d))
    return y, train


def _student_denoise(student, y, sigma, train):
    return as_array(student("empirical_denoiser", y, sigma, train),
                    f"empirical_denoiser(y, {fmt(sigma)}, train)", y.shape, "the shape of y, "
                    "(B, d): one denoised point per row of y",
                    nonfinite="every weight exp(-|y - a|^2 / (2 sigma^2)) of a row underflows "
                              "to 0 at small sigma: subtract each row's own largest logit, "
                              "logits.max(axis=1, keepdims=True) (one maximum over the whole "
                              "array leaves the rows far from it at 0 / 0)")


def _softmax_mistakes(y, sigma, train):
    d2 = ((y[:, None, :] - train[None]) ** 2).sum(axis=-1)  # (B, n)

    def weighted(logits, axis=1):
        w = np.exp(logits - logits.max(axis=axis, keepdims=True))
        return (w / w.sum(axis=axis, keepdims=True)) @ train

    return [(weighted(-d2 / (2 * sigma)), "yours has sigma where sigma^2 belongs"),
            (weighted(-d2 / sigma ** 2), "yours misses the 1/2 in -|y - a|^2 / (2 sigma^2)"),
            (weighted(-np.sqrt(d2) / (2 * sigma ** 2)), "yours uses |y - a|, not its square"),
            (weighted(d2 / (2 * sigma ** 2)), "yours drops the minus sign: near points should "
                                              "weigh more"),
            (weighted(-d2 / (2 * sigma ** 2), axis=0), "yours normalizes the weights over the "
                                                       "batch; each row of y sums over the n "
                                                       "training points")]


def check_denoise_values(student):
    y, train = _denoise_case(251, 5, 7, 3)
    reference = EmpiricalOptimalDenoiser(train)
    for sigma in (0.4, 1.0, 3.0):
        D = _student_denoise(student, y, sigma, train)
        compare(D, reference(y, sigma), lambda i, s=sigma: f"D[{i[0]}, {i[1]}] at sigma = {s}",
                mistakes=_softmax_mistakes(y, sigma, train))


def check_denoise_small_sigma(student):
    # Exact answer: as sigma -> 0 all weight goes to the nearest training point. At sigma = 0.01
    # every exp(-|y - a|^2 / (2 sigma^2)) underflows to 0 unless the largest logit is subtracted.
    y, train = _denoise_case(252, 6, 5, 2)
    sigma = 0.01
    D = _student_denoise(student, y, sigma, train)
    nearest = train[np.argmin(((y[:, None] - train[None]) ** 2).sum(-1), axis=1)]
    compare(D, nearest, lambda i: f"D[{i[0]}, {i[1]}] at sigma = {sigma} (the nearest training "
            f"point)")


def check_denoise_large_sigma(student):
    # Exact answer: as sigma -> infinity the weights become equal: D -> the mean of train.
    y, train = _denoise_case(253, 4, 6, 3)
    sigma = 1e4
    D = _student_denoise(student, y, sigma, train)
    compare(D, np.broadcast_to(train.mean(axis=0), y.shape), lambda i: f"D[{i[0]}, {i[1]}] at "
            f"sigma = 1e4 (the mean of the training points)", rtol=1e-4)


@randomized(254)
def check_denoise_random(student, rng):
    """Random sizes and sigma from 1e-3 to 1e3, a single row, a single training point, ties (a
    duplicated training point, a y halfway between two), rows near and far from the data."""
    d = int(rng.integers(1, 4))
    train = rng.standard_normal((int(rng.integers(3, 9)), d))
    train[-1] = train[0]  # a duplicated training point: it weighs twice
    half = 0.5 * (train[0] + train[1])  # a tie: equally far from a_0 (twice) and a_1
    far = train[1] + 6.0 * rng.standard_normal(d)  # far from everything: tiny logits
    y = np.vstack([train[rng.integers(0, len(train), 3)] + 0.1 * rng.standard_normal((3, d)),
                   half, far])[rng.permutation(5)]
    cases = [(y, train), (y[:1], train), (y, train[:1])]
    for k in rng.permutation(3):
        yy, tt = cases[k]
        for sigma in (float(log_uniform(rng, 1e-3, 0.05)), float(log_uniform(rng, 0.05, 3.0)),
                      float(log_uniform(rng, 3.0, 1e3))):
            D = _student_denoise(student, yy, sigma, tt)
            where = f"at sigma = {fmt(sigma)} (B = {len(yy)}, n = {len(tt)})"
            compare(D, EmpiricalOptimalDenoiser(tt)(yy, sigma),
                    lambda i, where=where: f"D[{i[0]}, {i[1]}] {where}", rtol=1e-4, atol=1e-9)


EMPIRICAL = Exercise(
    name="empirical_denoiser", lesson=4,
    title="The empirical-optimum denoiser, the perfect memorizer",
    functions=("empirical_denoiser",),
    math="""
Train a denoiser on a training set {a_1, ..., a_n} with the loss E |D(x + sigma n, sigma) - x|^2,
x drawn uniformly from the training set, n ~ N(0, I). Minimized over all functions D (not over a
network's weights), the loss has a closed-form minimizer, the empirical optimum D*(y, sigma)
(docs/design.md §3): the perfect memorizer, which can only ever return training points or
blends of them.

Derive D* (what minimizes a squared error given y? Bayes' rule does the rest) and compute it for
a batch of noisy points y. It must stay finite where the naive formula does not: at sigma = 0.01
and for points y far from every a_i. The checker tests it from sigma = 1e-3 to 1e4, with ties.
Stuck? `cdlite exercise hint empirical_denoiser`.
""",
    code='''
import numpy as np


def empirical_denoiser(y, sigma, train):
    """D*(y, sigma) for the training points `train`.

    y: (B, d) noisy points; sigma: a float > 0; train: (n, d) training points.
    Returns a (B, d) array.
    """
    # YOUR CODE HERE
    raise NotImplementedError("write empirical_denoiser")
''',
    reference="cdlite/diffusion/closed_form.py, EmpiricalOptimalDenoiser",
    hints=("The function that minimizes E |D(y) - x|^2 is the posterior mean: D*(y) = E[x | y] = "
           "sum_i P(x = a_i | y) a_i.",
           "Bayes with the uniform prior 1/n: P(a_i | y) is proportional to p(y | a_i), the "
           "Gaussian N(a_i, sigma^2 I) at y, i.e. to exp(-|y - a_i|^2 / (2 sigma^2)) (the "
           "constants cancel).",
           "Normalized over i, the weights are softmax_i(-|y - a_i|^2 / (2 sigma^2)): one "
           "softmax per row of y, over the n training points.",
           "exp underflows to 0 for very negative logits: subtract each row's largest logit "
           "(logits.max(axis=1, keepdims=True)) before exp; the softmax does not change."),
    checks=(Check("shape and values at sigma = 0.4, 1, 3 (B = 5, n = 7, d = 3)",
                  check_denoise_values),
            Check("sigma = 0.01: the nearest training point, without overflow",
                  check_denoise_small_sigma),
            Check("sigma = 1e4: the mean of the training points", check_denoise_large_sigma),
            Check("random sigma 1e-3 to 1e3, one row, one training point, ties, far rows",
                  check_denoise_random)),
)
