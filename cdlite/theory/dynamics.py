"""Closed-form gradient flow of the random-feature model (Bonnaire et al., arXiv 2505.17638).

Time unit (the one cdlite.theory uses everywhere: docstrings, figures, metrics). On a quadratic
loss L(A) (a `Regression`, see model.py) the training time tau is the time of the gradient flow

    dA/dtau = -d^2 grad_A L(A) = -(2 weight / psi_p) (A U - sqrt(p) R^T),      psi_p = p / d.

The factor d^2 undoes the 1/d of the loss and the 1/sqrt(p)^2 of the model, so that the mode of U
with eigenvalue lambda relaxes as exp(-2 weight lambda tau / psi_p). For the denoising loss
(weight = Delta_t) that is the timescale tau_lambda = psi_p / (2 Delta_t lambda) of docs/design.md
§6.1: large eigenvalues (generalisation bulk) are learnt first, small ones (memorisation bulk,
then the spike) late.

Step-size rule. Simulated gradient descent uses A <- A - eta d^2 grad L_batch with fresh noise in
every step, so one step advances tau by exactly eta. A step multiplies the error of mode lambda by
(1 - eta rate), stable when eta < psi_p / (weight lambda_max); cdlite takes
eta = safety * psi_p / (weight lambda_max), safety = 0.5 by default, with lambda_max from power
iteration on U.

Bonnaire et al.'s clock. The authors' public script for the random-feature runs
(github.com/tbonnair/Why-Diffusion-Models-Don-t-Memorize, Theory/src/Training_random_features)
writes the model without the 1/sqrt(p), A' = A / sqrt(p), takes plain gradient steps on the same
loss with learning rate 1e-4 d / Delta_t and records time tau' = steps * learning rate. There mode
lambda relaxes as exp(-2 Delta_t lambda tau' / d), so

    tau' = tau d^2 / p        (the same number at d = 32, p = 1024, where d^2 = p).

Its 5e6 steps reach tau' = 8e5 at d = 32, t = 0.01; it also adds a ridge 1e-3 Delta_t |A'|^2 / d
to the loss, which lifts every eigenvalue of U by 1e-3 (cdlite has no ridge).

Closed form. With U = Q diag(lambda) Q^T and A(0) = A0, each column of A Q evolves on its own:

    A(tau) Q = G diag(h(tau)) + A0 Q diag(exp(-rate tau)),   G = sqrt(p) R^T Q (d, p),
    h(tau) = (1 - exp(-rate tau)) / lambda,   rate = 2 weight lambda / psi_p,

and h(inf) = 1 / lambda gives the least-squares readout sqrt(p) R^T U^-1.

Shape letters: T number of times, d data dimension, p random features, B batch.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..backend import array_module, randn, to_numpy
from .model import Regression, features, ou_coeffs
from .spectrum import eigh_desc, power_iteration


@dataclass
class RotatedLoss:
    """A Regression written in a flow's eigenbasis: M = Q^T U Q (p, p) and Rq = Q^T R (p, d).
    Rotating costs two (p, p) products; evaluating it along the flow after that is cheap."""
    M: np.ndarray
    Rq: np.ndarray
    r2: float
    weight: float


@dataclass
class GradientFlow:
    """Bonnaire et al. Sec. 4: gradient flow of one Regression, solved mode by mode of U."""
    lam: np.ndarray            # (p,) eigenvalues of U, descending
    Q: np.ndarray              # (p, p) eigenvectors (columns)
    G: np.ndarray              # (d, p) sqrt(p) R^T Q: the least-squares readout times lambda
    C0: np.ndarray | None      # (d, p) initial readout A0 Q, None for A0 = 0
    weight: float

    @classmethod
    def from_regression(cls, reg: Regression, A0=None, eig=None) -> GradientFlow:
        """Diagonalise U (or reuse `eig` = (lam, Q)) and rotate the target moments."""
        lam, Q = eig if eig is not None else eigh_desc(reg.U)
        G = math.sqrt(reg.p) * to_numpy(reg.R).T @ Q                    # (d, p)
        C0 = None if A0 is None else to_numpy(A0) @ Q                   # (d, p)
        return cls(lam=lam, Q=Q, G=G, C0=C0, weight=reg.weight)

    @property
    def psi_p(self) -> float:
        return self.Q.shape[0] / self.G.shape[0]

    def rates(self):
        """Relaxation rate of every mode, 2 weight lambda / psi_p (p,)."""
        return 2.0 * self.weight * np.clip(self.lam, 0.0, None) / self.psi_p

    def h(self, taus):
        """(1 - exp(-rate tau)) / lambda for each tau and mode (T, p); tau = inf gives 1/lambda."""
        taus = np.atleast_1d(np.asarray(taus, dtype=np.float64))[:, None]   # (T, 1)
        rate = self.rates()[None, :]                                        # (1, p)
        lam = self.lam[None, :]
        tiny = 1e-12 * self.lam[0]    # modes this small are treated as exactly flat (pinv)
        safe = np.where(lam > tiny, lam, 1.0)
        with np.errstate(invalid="ignore"):
            finite = -np.expm1(-rate * np.where(np.isinf(taus), 0.0, taus)) / safe
            # a flat mode grows linearly, rate/lambda * tau, and is left out at tau = inf
            flat = np.where(np.isinf(taus), 0.0, 2.0 * self.weight / self.psi_p * taus)
        out = np.where(lam > tiny, np.where(np.isinf(taus), 1.0 / safe, finite), flat)
        return out

    def decay(self, taus):
        """exp(-rate tau) (T, p): what is left of the initial readout."""
        taus = np.atleast_1d(np.asarray(taus, dtype=np.float64))[:, None]
        with np.errstate(invalid="ignore"):
            return np.where(np.isinf(taus) & (self.rates() > 0), 0.0,
                            np.exp(-self.rates()[None, :] * np.where(np.isinf(taus), 0.0, taus)))

    def coords(self, taus):
        """The readout in eigen-coordinates, A(tau) Q, for each tau (T, d, p)."""
        C = self.G[None] * self.h(taus)[:, None, :]
        if self.C0 is not None:
            C = C + self.C0[None] * self.decay(taus)[:, None, :]
        return C

    def readout(self, tau: float):
        """A(tau) (d, p) on the host."""
        return self.coords([tau])[0] @ self.Q.T

    def rotate(self, regs: dict) -> dict:
        """{name: RotatedLoss} in this eigenbasis; Regressions that share one U (the same
        array, as mc_regressions returns them) share its rotation."""
        rotated_U, out = {}, {}
        for name, reg in regs.items():
            if id(reg.U) not in rotated_U:
                rotated_U[id(reg.U)] = self.Q.T @ to_numpy(reg.U) @ self.Q     # (p, p)
            out[name] = RotatedLoss(rotated_U[id(reg.U)], self.Q.T @ to_numpy(reg.R),
                                    reg.r2, reg.weight)
        return out

    def losses(self, taus, reg, modes: slice | None = None):
        """The loss `reg` (a Regression or a RotatedLoss: train, test or score error) along the
        flow, for every tau (T,). `modes` keeps only those eigenmodes of the readout (the others
        set to zero), to see which part of the spectrum a loss comes from.

        Works in eigen-coordinates: with A Q = sum_a B_a diag(c_a) the quadratic term is
        sum_ab c_a^T (M o B_a^T B_b) c_b, M = Q^T U Q, so one evaluation costs O(T p^2)."""
        rot = reg if isinstance(reg, RotatedLoss) else self.rotate({"loss": reg})["loss"]
        keep = np.zeros(len(self.lam))
        keep[modes if modes is not None else slice(None)] = 1.0
        parts = [(self.G, self.h(taus) * keep)]
        if self.C0 is not None:
            parts.append((self.C0, self.decay(taus) * keep))
        quad = 0.0
        lin = 0.0
        for Ba, ca in parts:
            lin = lin + ca @ np.sum(Ba.T * rot.Rq, axis=1)                  # tr(A R)
            for Bb, cb in parts:
                quad = quad + np.sum((ca @ (rot.M * (Ba.T @ Bb))) * cb, axis=1)  # tr(A U A^T)
        p, d = self.Q.shape[0], self.G.shape[0]
        return (rot.weight / d) * (quad / p - 2.0 * lin / math.sqrt(p) + rot.r2)


def relaxation_times(lam, weight: float, psi_p: float):
    """psi_p / (2 weight lambda): the time on which each mode is learnt (inf where lambda <= 0)."""
    lam = np.asarray(lam, dtype=float)
    with np.errstate(divide="ignore"):
        return np.where(lam > 0, psi_p / (2.0 * weight * np.where(lam > 0, lam, 1.0)), np.inf)


# --- simulated gradient descent ---------------------------------------------------------------

def gd_step_size(U, weight: float, d: int, rng, safety: float = 0.5) -> float:
    """eta = safety * psi_p / (weight lambda_max), lambda_max by power iteration (see the top)."""
    p = U.shape[0]
    return safety * (p / d) / (weight * power_iteration(U, rng))


def simulate_gd(X, W, t: float, target, rng, eta: float, taus_record, A0=None,
                noise_per_point: int = 1, dtype=np.float32):
    """Gradient descent A <- A - eta d^2 grad L_batch on (weight / d) E|A phi / sqrt(p) - r|^2,
    with fresh noise xi for every training point in every step, in `dtype` (float32 by default).

    `target` is (target_fn, weight) as in model.mc_regressions. Records A at the steps closest
    to `taus_record` (tau = steps * eta). Returns (taus (T,), readouts (T, d, p)) on the host."""
    xp = array_module(X, W)
    X, W = X.astype(dtype), W.astype(dtype)
    d = X.shape[1]
    p = W.shape[0]
    fn, weight = target
    e, Delta = ou_coeffs(t)
    x0 = xp.concatenate([X] * noise_per_point)                   # (B, d)
    A = xp.zeros((d, p), dtype) if A0 is None else xp.asarray(A0, dtype=dtype)
    steps = sorted({max(0, round(float(tau) / eta)) for tau in np.atleast_1d(taus_record)})
    record, out_taus = [], []
    step = 0
    for target_step in steps:
        while step < target_step:
            xi = randn(rng, x0.shape, xp, dtype)                 # fresh noise every step
            x_t = e * x0 + math.sqrt(Delta) * xi
            phi = features(x_t, W)                               # (B, p)
            err = phi @ A.T / math.sqrt(p) - fn(x_t, xi)         # (B, d)
            # d^2 * dL/dA = d^2 (2 weight / (B d)) err^T phi / sqrt(p)
            A = A - eta * (2.0 * weight * d / (x0.shape[0] * math.sqrt(p))) * (err.T @ phi)
            step += 1
        record.append(to_numpy(A).astype(np.float64))
        out_taus.append(step * eta)
    return np.array(out_taus), np.stack(record)


# --- the two timescales -----------------------------------------------------------------------

def tau_gen(taus, score_error) -> float:
    """tau_gen: the training time of the smallest score error, refined by a parabola in log tau."""
    taus, err = np.asarray(taus, dtype=float), np.asarray(score_error, dtype=float)
    i = int(np.argmin(err))
    if 0 < i < len(taus) - 1:
        x = np.log(taus[i - 1:i + 2])
        a, b, _ = np.polyfit(x, err[i - 1:i + 2], 2)
        if a > 0:
            return float(np.exp(np.clip(-b / (2 * a), x[0], x[2])))
    return float(taus[i])


def first_crossing(taus, curve, level: float) -> float:
    """The first tau at which `curve` reaches `level` (from below), interpolated linearly in
    log tau; nan when it never does on the grid."""
    taus, curve = np.asarray(taus, dtype=float), np.asarray(curve, dtype=float)
    above = np.nonzero(curve >= level)[0]
    if len(above) == 0 or not np.isfinite(level):
        return float("nan")
    i = int(above[0])
    if i == 0:
        return float(taus[0])
    g0, g1 = curve[i - 1], curve[i]
    w = (level - g0) / (g1 - g0)
    return float(np.exp(np.log(taus[i - 1]) + w * (np.log(taus[i]) - np.log(taus[i - 1]))))


def tau_mem(taus, gap, gap_final: float, frac: float = 0.5) -> float:
    """tau_mem: the first time the generalisation gap reaches `frac` of its tau -> inf value,
    interpolated linearly in log tau. nan when it is never reached on the grid."""
    return first_crossing(taus, gap, frac * gap_final)
