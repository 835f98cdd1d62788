"""Distill a memorizing teacher into a one-step student, and see how much memorization is left.

A teacher trained on n = 16 points of the 8-Gaussian mixture memorizes them (example 02).
Consistency distillation (CD, Song et al. 2023) turns it into a student that samples in one
network evaluation. The script prints f_mem of the teacher (Heun, 35 evaluations), of the
student (1 evaluation), of the fair control (the teacher with one Euler step, also 1 evaluation)
and the chance level, and plots the three sets of samples with the training points.
About 20-40 s on 2 cores.

    python examples/08_distill_gaussians.py [--quick] [--out examples_out/]
"""
import cdlite  # noqa: F401  (first: it picks one BLAS thread before NumPy is loaded)

import argparse
import pathlib

import matplotlib

matplotlib.use("Agg")  # write PNG files; no window needed
import matplotlib.pyplot as plt

from cdlite.backend import make_rng
from cdlite.data import make_dataset
from cdlite.diffusion import EDMDenoiser, TeacherConfig, generate, karras_sigmas, train_teacher
from cdlite.distill import ConsistencyFunction, DistillConfig, distill, sample_consistency
from cdlite.metrics import chance_level, mean_loglik, memorization_fraction
from cdlite.metrics.growth import growth
from cdlite.nn.networks import build_network
from cdlite.nn.optim import copy_params

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--quick", action="store_true", help="short training, for the tests")
parser.add_argument("--out", default="examples_out", help="folder for the figure")
args = parser.parse_args()
out = pathlib.Path(args.out)
out.mkdir(parents=True, exist_ok=True)

t_steps, cd_steps, m, heun_N = (300, 200, 300, 10) if args.quick else (4000, 2000, 2000, 18)
sigma_min, sigma_max = 0.002, 20.0
ds = make_dataset("gaussians", n_train=16, seed=0)
net = build_network("mlp", d=2, hidden=128, depth=3, input_fourier=32, input_fourier_scale=2.0)
rng = make_rng(0)

# --- 1. the teacher (as in example 02) ------------------------------------------------------------
teacher = EDMDenoiser(net, ds.sigma_data)
result = train_teacher(teacher, net.init(rng), ds.train, TeacherConfig(steps=t_steps, lr=2e-3),
                       rng)
D = teacher.bind(result.ema)  # frozen from here on

# --- 2. consistency distillation ------------------------------------------------------------------
# The student has the teacher's architecture and starts from its weights: at the start it is a
# denoiser read as a one-step sampler, which CD then bends towards the teacher's ODE end points.
student = ConsistencyFunction(net, ds.sigma_data, sigma_min)


def student_f_mem(step, params):
    # One-step sampling: x = f(sigma_max z, sigma_max). Followed during CD because f_mem keeps
    # drifting as CD goes on (docs/design.md §8): a single end value can hide the trend.
    x, _ = generate(student.bind(params), 1000, 2, [sigma_max], make_rng(3),
                    sampler=sample_consistency)
    return {"f_mem": memorization_fraction(x, ds.train)["f_mem"]}


# evaluated at 64, 128, 256, ... steps: f_mem grows with log(steps), so time goes on a log axis
cfg = DistillConfig(steps=cd_steps, lr=2e-4, N=18, mu=0.95, eval_schedule="log")
cd = distill(D, student, copy_params(result.ema), ds.train, cfg, rng, sigma_min=sigma_min,
             sigma_max=sigma_max, on_eval=student_f_mem)
print("student f_mem during CD: " + ", ".join(f"step {h['step']}: {h['f_mem']:.3f}"
                                             for h in cd.history))
# the growth law and cdlite's one convergence rule (cdlite/metrics/growth.py)
print("  " + growth([h for h in cd.history if h["step"] > 0], n_samples=1000).statement)

# --- 3. compare, at the same starting noise ------------------------------------------------------
# The fair control for "the student memorizes less" is the teacher with as few evaluations as the
# student (one Euler step): otherwise fewer steps alone could explain the drop.
samples = {
    "teacher, Heun": generate(D, m, 2, karras_sigmas(heun_N, sigma_min, sigma_max), make_rng(2)),
    "student, 1 step": generate(student.bind(cd.ema), m, 2, [sigma_max], make_rng(2),
                                sampler=sample_consistency),
    "teacher, 1 Euler step": generate(D, m, 2, karras_sigmas(1, sigma_min, sigma_max),
                                      make_rng(2), sampler="euler"),
}
fresh = ds.sample_true(m, make_rng(1))
chance = chance_level(fresh, ds.train)["f_mem"]
print(f"\nn = {ds.n}, {m} samples each; chance level f_mem = {chance:.3f}, "
      f"log-likelihood of true samples = {mean_loglik(fresh, ds.mixture):.2f}")
print(f"{'':>22} {'NFE':>4} {'f_mem':>6} {'coverage':>9} {'log-lik':>8}")
fig, axes = plt.subplots(1, 3, figsize=(13, 4.6), sharex=True, sharey=True)
for ax, (name, (x, nfe)) in zip(axes, samples.items()):
    r = memorization_fraction(x, ds.train)
    # The log-likelihood under the true mixture says whether samples still look like the data
    # (a teacher sitting on training points in dense regions can even beat true samples).
    print(f"{name:>22} {nfe:4d} {r['f_mem']:6.3f} {r['coverage']:9.3f} "
          f"{mean_loglik(x, ds.mixture):8.2f}")
    ax.scatter(*ds.train.T, s=60, facecolors="none", edgecolors="k", label="training points")
    ax.scatter(*x.T, s=2, alpha=0.4, color="tab:blue", label="samples")
    ax.set_title(f"{name} (NFE {nfe})\nf_mem {r['f_mem']:.2f}, chance {chance:.2f}")
    ax.set_xlim(-4, 4)
    ax.set_ylim(-4, 4)
    ax.set_aspect("equal")
axes[0].legend(loc="lower left", fontsize=8)
fig.tight_layout()
path = out / "08_distill_gaussians.png"
fig.savefig(path, dpi=90)
print(f"figure: {path}")
