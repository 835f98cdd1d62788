"""A diffusion teacher memorizes its training set: watch f_mem rise during training.

An EDM denoiser (MLP with random Fourier features of its input) is trained on n = 16 points of
the 8-Gaussian mixture. Every few hundred steps we draw samples with the Heun sampler and print
the memorization fraction f_mem beside the chance level, the f_mem that fresh true samples get
against the same 16 points. The figure shows the samples at a few training times: first a shapeless
cloud, then a collapse onto the training points. About 10-30 s on 2 cores.

    python examples/02_teacher_memorizes.py [--quick] [--out examples_out/]
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
from cdlite.metrics import chance_level, memorization_fraction
from cdlite.nn.networks import build_network

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--quick", action="store_true", help="a few hundred steps, for the tests")
parser.add_argument("--out", default="examples_out", help="folder for the figure")
args = parser.parse_args()
out = pathlib.Path(args.out)
out.mkdir(parents=True, exist_ok=True)

steps, every, m, heun_N = (300, 100, 300, 10) if args.quick else (4000, 500, 1000, 18)
sigma_max = 20.0  # ~14x sigma_data: enough for 2-D toy data, and trains faster than EDM's 80

ds = make_dataset("gaussians", n_train=16, seed=0)
# A plain MLP is too smooth to fit 16 isolated points (spectral bias, docs/design.md §3.7); random
# Fourier features of its input give it the high frequencies that memorizing needs.
net = build_network("mlp", d=2, hidden=128, depth=3, input_fourier=32, input_fourier_scale=2.0)
rng = make_rng(0)
params = net.init(rng)
teacher = EDMDenoiser(net, ds.sigma_data)
sigmas = karras_sigmas(heun_N, 0.002, sigma_max)

# The chance level: fresh samples of the true mixture, scored against the same 16 points. In 2-D
# an isolated training point catches some of them: a model that generalizes perfectly scores this.
chance = chance_level(ds.sample_true(m, make_rng(1)), ds.train)["f_mem"]
print(f"n = {ds.n} training points, chance level f_mem = {chance:.3f}; training {steps} steps")

snapshots = {}  # step -> samples, for the figure


def on_eval(step, eval_params):
    # The same sampling seed at every evaluation: what changes is the weights, not the noise.
    x, _ = generate(teacher.bind(eval_params), m, 2, sigmas, make_rng(2), sampler="heun")
    snapshots[step] = x
    r = memorization_fraction(x, ds.train)
    return {"f_mem": r["f_mem"], "coverage": r["coverage"]}


result = train_teacher(teacher, params, ds.train, TeacherConfig(steps=steps, lr=2e-3,
                       eval_every=every), rng, on_eval=on_eval)

# The loss is noisy (random sigma and noise per batch): average it over each evaluation window.
print(f"{'step':>6} {'loss':>8} {'f_mem':>6} {'chance':>7} {'coverage':>9}")
for h in result.history:
    window = result.losses[max(0, h["step"] - every):h["step"]] or [float("nan")]
    print(f"{h['step']:6d} {sum(window) / len(window):8.4f} {h['f_mem']:6.3f} {chance:7.3f} "
          f"{h['coverage']:9.3f}")
# Coverage near 1 says the samples land on (almost) all 16 points: the teacher reproduces its
# training set, it has not collapsed onto a few points.

# Five moments: the start (untrained, the output layer is zero: D = c_skip y), the first
# evaluations, the middle and the end.
shown = sorted({s for s in (0, every, 2 * every, steps // 2, steps) if s in snapshots})
fig, axes = plt.subplots(1, len(shown), figsize=(3.2 * len(shown), 3.8), sharex=True, sharey=True)
for ax, step in zip(axes, shown):
    x = snapshots[step]
    # Open circles for the training points, so that the samples sitting on them stay visible.
    ax.scatter(ds.train[:, 0], ds.train[:, 1], s=70, facecolors="none", edgecolors="k",
               label="training points")
    ax.scatter(x[:, 0], x[:, 1], s=3, alpha=0.5, color="tab:blue", label="samples")
    f_mem = next(h["f_mem"] for h in result.history if h["step"] == step)
    ax.set_title(f"step {step}: f_mem {f_mem:.2f}")
    ax.set_xlim(-4, 4)
    ax.set_ylim(-4, 4)
    ax.set_aspect("equal")
axes[0].legend(loc="lower left", fontsize=7)
fig.suptitle(f"Teacher samples (Heun, {heun_N} steps) during training; "
             f"chance f_mem = {chance:.2f}")
fig.tight_layout()
path = out / "02_teacher_memorizes.png"
fig.savefig(path, dpi=90)
print(f"figure: {path}")
