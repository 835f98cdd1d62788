"""The perfect memorizer: the closed-form optimum of the denoising loss on n training points.

Minimised over all functions, the denoising loss on a finite training set {a_i} has the solution
D*(y, sigma) = sum_i softmax_i(-|y - a_i|^2 / (2 sigma^2)) a_i (docs/design.md §3.6). Running the
Heun sampler with D* lands every sample on a training point: f_mem = 1, at distance 0 (up to
round-off) from its nearest point. The exact denoiser of the mixture the points came from instead
generalizes: its samples are fresh draws, and their f_mem is the chance level. A trained network
sits somewhere between these two closed forms. A few seconds on 2 cores.

    python examples/03_empirical_optimum.py [--quick] [--out examples_out/]
"""
import cdlite  # noqa: F401  (first: it picks one BLAS thread before NumPy is loaded)

import argparse
import pathlib

import matplotlib

matplotlib.use("Agg")  # write PNG files; no window needed
import matplotlib.pyplot as plt
import numpy as np

from cdlite.backend import make_rng
from cdlite.data import make_dataset
from cdlite.diffusion import (EmpiricalOptimalDenoiser, gaussian_mixture_denoiser, generate,
                              karras_sigmas, sample_heun)
from cdlite.metrics import chance_level, memorization_fraction

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--quick", action="store_true", help="fewer samples, for the tests")
parser.add_argument("--out", default="examples_out", help="folder for the figure")
args = parser.parse_args()
out = pathlib.Path(args.out)
out.mkdir(parents=True, exist_ok=True)

m = 500 if args.quick else 5000
ds = make_dataset("gaussians", n_train=16, seed=0)
sigmas = karras_sigmas(18, 0.002, 20.0)  # 18 Heun steps from sigma_max = 20 down to 0
denoisers = {
    "empirical optimum D*": EmpiricalOptimalDenoiser(ds.train),  # knows only the 16 points
    "exact mixture denoiser": gaussian_mixture_denoiser(ds.mixture),  # knows the distribution
}
chance = chance_level(ds.sample_true(m, make_rng(1)), ds.train)["f_mem"]
print(f"n = {ds.n} training points, {m} samples each, chance level f_mem = {chance:.3f}")

fig, axes = plt.subplots(1, 2, figsize=(9, 5), sharex=True, sharey=True)
for ax, (name, D) in zip(axes, denoisers.items()):
    # Same seed for both: the two ODEs start from exactly the same noise.
    x, nfe = generate(D, m, ds.d, sigmas, make_rng(2), sampler="heun")
    r = memorization_fraction(x, ds.train)
    print(f"{name:>24}: f_mem {r['f_mem']:.3f}  coverage {r['coverage']:.3f}  "
          f"max distance to its nearest training point {r['d1'].max():.2e}  (NFE {nfe})")

    # A few whole ODE trajectories, recorded by the sampler's callback at every step.
    start = 20.0 * make_rng(3).standard_normal((12, ds.d)).astype(np.float32)
    states = []  # one list per panel: the callback appends to this one
    end, _ = sample_heun(D, start, sigmas, callback=lambda i, xi, s, Di, states=states:
                         states.append(xi))
    path = np.stack(states + [end])  # (steps + 1, 12, d): the states from sigma_max down to 0
    ax.plot(path[:, :, 0], path[:, :, 1], color="0.6", lw=0.8)
    ax.scatter(x[:, 0], x[:, 1], s=2, alpha=0.3, color="tab:blue", label="samples")
    ax.scatter(ds.train[:, 0], ds.train[:, 1], s=60, facecolors="none", edgecolors="k",
               label="training points")
    ax.set_title(f"{name}\nf_mem {r['f_mem']:.2f} (chance {chance:.2f})")
    ax.set_xlim(-4, 4)
    ax.set_ylim(-4, 4)
    ax.set_aspect("equal")
axes[0].legend(loc="lower left", fontsize=8)
fig.suptitle("Heun with the memorizing optimum vs the generalizing mixture denoiser "
             "(grey: ODE paths)")
fig.tight_layout()
path = out / "03_empirical_optimum.png"
fig.savefig(path, dpi=90)
print(f"figure: {path}")
# Why D* memorizes: as sigma -> 0 its softmax puts all weight on the nearest a_i, so the last
# step of the ODE snaps onto that point. The mixture denoiser instead shrinks y only towards the
# component it belongs to, by lam / (lam + sigma^2) -> 1: any point of the Gaussian can be reached.
