"""The capstone: the student's own exercises train a teacher, distill it and measure both.

    cdlite exercise capstone DIR     (DIR holds edm_loss.py, heun_step.py, cd_loss.py, f_mem.py)

The pipeline is cdlite's, with the four ideas the course had the student write put in place of
cdlite's own, on the toy of lessons 3 and 6 (16 points of the 8-Gaussian mixture):

1. teacher: Adam on the student's `edm_loss_and_grad` (the loop of cdlite.diffusion.train_teacher,
   with the student's loss and dL/dF where cdlite's denoising_loss would be), evaluated along its
   training with the student's `heun_step` as the sampler and the student's `is_memorized`;
2. student: consistency distillation with the student's `cd_loss_and_grad` in the loop of
   cdlite.distill's distill (the random draws of its cd_loss), sampled in one step;
3. outcomes, measured with cdlite's metrics (the student's f_mem is shown beside them, and must
   agree): the teacher memorizes (f_mem >= 0.8), and the distilled student lies below the
   teacher's memorization-quality curve at matched log-likelihood (cdlite.experiments.curves:
   the teacher's f_mem when its samples were as likely under the true density as the student's).

Grading is on outcomes only: how the student wrote the four functions does not matter as long as
the pipeline they drive does what it should. Each file is first checked as in `cdlite exercise
check` (in a child process with a time limit), so a file that loops or fails says so in one line.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..backend import make_rng, randint, randn
from ..data import make_dataset
from ..diffusion import EDMDenoiser, generate, karras_sigmas
from ..diffusion.grids import consistency_grid, sample_training_sigmas
from ..diffusion.precond import edm_input_coeffs, sigma_column
from ..distill import ConsistencyFunction, sample_consistency
from ..errors import CdliteError
from ..experiments.curves import frontier
from ..nn.loop import check_loss
from ..nn.networks import build_network
from ..nn.optim import Adam, clip_grad_norm, copy_params, ema_update, lr_schedule
from .grading import Fail, one_line

FILES = {"edm_loss": "edm_loss_and_grad", "heun_step": "heun_step", "cd_loss": "cd_loss_and_grad",
         "f_mem": "is_memorized"}
F_MEM_GOAL = 0.8        # the teacher must memorize at least this much
TEACHER_STEPS = 2000    # Adam steps of the teacher (lesson 3: f_mem 0.89 at 1,000 steps)
CD_STEPS = 800          # distillation steps (lesson 6 uses 2,000)
EVAL_STEPS = (0, 100, 200, 300, 500, 750, 1000, 1500, 2000)  # the teacher's curve
M = 1000                # samples per evaluation
SIGMA_MIN, SIGMA_MAX, N_GRID = 0.002, 20.0, 18


@dataclass
class CapstoneReport:
    folder: str
    lines: list = field(default_factory=list)   # what happened, in order
    outcomes: list = field(default_factory=list)  # (title, ok, detail)
    fatal: str = ""
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return not self.fatal and bool(self.outcomes) and all(ok for _, ok, _ in self.outcomes)

    def text(self) -> str:
        out = [f"capstone: {self.folder}"] + [f"  {line}" for line in self.lines]
        if self.fatal:
            out += ["  FAIL  the pipeline did not run", f"        {self.fatal}"]
        for title, ok, detail in self.outcomes:
            out += [f"  {'pass' if ok else 'FAIL'}  {title}", f"        {detail}"]
        n = sum(ok for _, ok, _ in self.outcomes)
        out.append(f"all {n} outcomes pass ({self.seconds:.0f} s)." if self.passed else
                   f"{n} of {len(self.outcomes)} outcomes pass ({self.seconds:.0f} s).")
        return "\n".join(out)


def _files(folder: Path) -> dict:
    if not folder.is_dir():
        raise CdliteError(f"{folder} is not a folder; give the folder of your exercise files "
                          f"(cdlite exercise start NAME {folder} writes them there)")
    missing = [f"{name}.py" for name in FILES if not (folder / f"{name}.py").is_file()]
    if missing:
        raise CdliteError(f"{folder} has no {', '.join(missing)}; the capstone uses your "
                          f"edm_loss, heun_step, cd_loss and f_mem exercises: start each with "
                          f"`cdlite exercise start NAME {folder}` and make it pass")
    return {name: folder / f"{name}.py" for name in FILES}


def check_exercises(paths: dict, timeout: float) -> str:
    """'' when every file passes its checks, else one line naming the first that does not."""
    from .runner import check_file
    for path in paths.values():
        report = check_file(path, timeout=timeout)
        if not report.passed:
            why = report.fatal or next((r.hint for r in report.results if r.ok is False), "")
            return (f"{path.name}: {report.n_passed} of {len(report.exercise.checks)} checks "
                    f"pass ({one_line(why, 160)}); make it pass first: cdlite exercise check "
                    f"{path}")
    return ""


class _Call:
    """One of the student's functions: an error inside it becomes a Fail naming the function."""

    def __init__(self, student, name):
        self.student, self.name = student, name

    def __call__(self, *args):
        return self.student(self.name, *args)


def _modules(paths: dict) -> dict:
    from .grading import Student
    from .runner import load_student
    return {name: _Call(Student(load_student(p, name), str(p.resolve())), FILES[name])
            for name, p in paths.items()}


def _sampler(heun):
    """The sampler protocol of cdlite.diffusion.generate, stepping with the student's heun_step."""
    def run(denoiser, x, sigmas, rng=None):
        nfe = 0
        for s, s_next in zip(sigmas[:-1], sigmas[1:]):
            x = np.asarray(heun(denoiser, x, float(s), float(s_next)), dtype=x.dtype)
            nfe += 2 if s_next > 0 else 1
        return x, nfe
    return run


def _measure(x, ds, is_memorized) -> dict:
    """cdlite's f_mem (with its interval) and log-likelihood of samples x; the student's f_mem."""
    from ..metrics import bootstrap_ci, mean_loglik, memorization_fraction
    memorized = memorization_fraction(x, ds.train)["memorized"]  # (m,) cdlite's ratio test
    f_mem, ci = float(memorized.mean()), bootstrap_ci(memorized, rng=make_rng(11))
    mine = float(np.mean(np.asarray(is_memorized(x.astype(np.float64), ds.train, 1 / 3),
                                    dtype=bool)))
    # a curve point as cdlite.experiments.curves reads it
    return {"f_mem": f_mem, "f_mem_ci": ci, "yours": mine,
            "quality": {"loglik": mean_loglik(x, ds.mixture)}}


def _train_teacher(fn, ds, net, steps: int, evals, m: int):
    """The teacher: the loop of cdlite.diffusion.train_teacher (Adam on mini-batches, EDM's sigma
    distribution, gradient clipping, warm-up), with the student's edm_loss_and_grad where cdlite's
    denoising_loss would be. Returns (params, curve): the curve has one point per step in evals,
    sampled with the student's heun_step."""
    denoiser = EDMDenoiser(net, ds.sigma_data)
    sigmas = karras_sigmas(N_GRID, SIGMA_MIN, SIGMA_MAX)  # 18 steps, 35 evaluations
    sampler = _sampler(fn["heun_step"])

    def point(step, params):
        x, _ = generate(denoiser.bind(params), m, 2, sigmas, make_rng(2), sampler=sampler)
        return {"step": step, **_measure(x, ds, fn["f_mem"])}

    rng, params, lr = make_rng(0), net.init(make_rng(0)), 2e-3
    opt, curve = Adam(lr), [point(0, params)]
    for step in range(1, steps + 1):
        x = ds.train[randint(rng, 0, ds.n, 256)]  # (B, d)
        sigma = sample_training_sigmas(rng, x.shape[0], dtype=x.dtype)  # (B,)
        noise = randn(rng, x.shape, np, x.dtype)  # (B, d)
        c_in, c_noise = edm_input_coeffs(sigma[:, None], ds.sigma_data)  # (B, 1) each
        F, cache = net.forward(params, c_in * (x + sigma[:, None] * noise), c_noise[:, 0])
        loss, dF = fn["edm_loss"](F, x, noise, sigma, ds.sigma_data)  # the student's
        check_loss(float(loss), step, lr, "teacher training with your edm_loss")
        _, grads = net.backward(params, np.asarray(dF, F.dtype), cache, need_dx=False)
        clip_grad_norm(grads, 1.0)
        opt.step(params, grads, lr=lr_schedule(step - 1, lr, 100, steps, "constant"))
        if step in evals:
            curve.append(point(step, params))
    return params, curve


def _distill(fn, ds, net, teacher_params, steps: int, m: int) -> dict:
    """Consistency distillation, Algorithm 2 of Song et al. (2023): the loop of cdlite.distill's
    distill and the draws of its cd_loss (x, n ~ U{1..N-1}, z), with the student's
    cd_loss_and_grad for lines 4-6. Returns the one-step samples' point."""
    teacher = EDMDenoiser(net, ds.sigma_data).bind(teacher_params)
    student = ConsistencyFunction(net, ds.sigma_data, SIGMA_MIN)
    params, target = copy_params(teacher_params), copy_params(teacher_params)  # line 1
    grid = consistency_grid(N_GRID, SIGMA_MIN, SIGMA_MAX)  # t_1 < ... < t_N
    rng, lr, mu = make_rng(4), 2e-4, 0.95
    opt = Adam(lr)
    for step in range(1, steps + 1):
        x = ds.train[randint(rng, 0, ds.n, 256)]  # line 3: x ~ data
        idx = randint(rng, 0, len(grid) - 1, x.shape[0])  # line 3: n ~ U{1..N-1}
        t_n, t_next = (sigma_column(grid[k], x) for k in (idx, idx + 1))  # (B, 1) each
        z = randn(rng, x.shape, np, x.dtype)  # line 4: z ~ N(0, I)
        loss, grads = fn["cd_loss"](student, params, target, teacher, x, t_n, t_next, z)
        check_loss(float(loss), step, lr, "distillation with your cd_loss")
        grads = {k: np.asarray(v, params[k].dtype) for k, v in grads.items()}
        clip_grad_norm(grads, 1.0)
        opt.step(params, grads)  # line 7
        ema_update(target, params, mu)  # line 8: theta_minus <- mu theta_minus + (1 - mu) theta
    x, _ = generate(student.bind(params), m, 2, [SIGMA_MAX], make_rng(3),
                    sampler=sample_consistency)
    return _measure(x, ds, fn["f_mem"])


def _outcomes(curve: list, s: dict, steps: int) -> list:
    """(title, ok, detail) of the three outcomes, measured with cdlite's metrics."""
    t = curve[-1]
    out = [(f"the teacher memorizes: f_mem >= {F_MEM_GOAL}", t["f_mem"] >= F_MEM_GOAL,
            f"f_mem {t['f_mem']:.3f} [{t['f_mem_ci'][0]:.3f}, {t['f_mem_ci'][1]:.3f}] "
            f"after {steps} steps (curve: "
            + ", ".join(f"{p['step']}: {p['f_mem']:.2f}" for p in curve) + ")")]
    f = frontier({"teacher_curve": curve, "student": s}).get("loglik", {})
    match = f.get("teacher", {})
    out.append(("the student lies below the teacher's curve at matched log-likelihood",
                f.get("below_teacher") is True,
                f"student f_mem {s['f_mem']:.3f} [{s['f_mem_ci'][0]:.3f}, "
                f"{s['f_mem_ci'][1]:.3f}] at log-likelihood {s['quality']['loglik']:.2f}; the "
                f"teacher at that log-likelihood ({match.get('where')}, step "
                f"{match.get('step', float('nan')):.0f}): f_mem "
                f"{match.get('f_mem', float('nan')):.3f}"))
    agree = max(abs(p["yours"] - p["f_mem"]) for p in curve + [s])
    out.append(("your f_mem agrees with cdlite's on every sample set", agree <= 0.02,
                f"largest difference {agree:.3f}"))
    return out


def run_capstone(folder, timeout: float = 10.0, quick: bool = False, log=print) -> CapstoneReport:
    """Check the four exercise files in `folder`, then train, distill and measure with them."""
    folder = Path(folder)
    report = CapstoneReport(str(folder))
    start = time.perf_counter()

    def say(line):
        report.lines.append(line)
        log(f"  {line}")

    paths = _files(folder)
    report.fatal = check_exercises(paths, timeout)
    if not report.fatal:
        say("your edm_loss, heun_step, cd_loss and f_mem pass their checks")
        fn = _modules(paths)
        steps, evals, cd_steps, m = ((150, (0, 75, 150), 40, 200) if quick else
                                     (TEACHER_STEPS, EVAL_STEPS, CD_STEPS, M))
        ds = make_dataset("gaussians", n_train=16, seed=0)
        net = build_network("mlp", d=2, hidden=128, depth=3, input_fourier=32,
                            input_fourier_scale=2.0)  # lesson 3's teacher
        try:
            params, curve = _train_teacher(fn, ds, net, steps, evals, m)
            t = curve[-1]
            say(f"teacher: {steps} steps with your edm_loss; sampled with your heun_step: f_mem "
                f"{t['f_mem']:.3f} (yours {t['yours']:.3f}), log-likelihood "
                f"{t['quality']['loglik']:.2f}")
            s = _distill(fn, ds, net, params, cd_steps, m)
            say(f"student: {cd_steps} CD steps with your cd_loss, one-step samples: f_mem "
                f"{s['f_mem']:.3f} (yours {s['yours']:.3f}), log-likelihood "
                f"{s['quality']['loglik']:.2f}")
            report.outcomes = _outcomes(curve, s, steps)
        except Fail as f:
            report.fatal = (f"{f}; the exercise passed its checks, so look at what the pipeline "
                            f"gave it")
        except CdliteError as e:
            report.fatal = str(e)
    report.seconds = time.perf_counter() - start
    return report
