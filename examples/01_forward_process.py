"""The forward process y = x + sigma * n, and the exact denoiser E[x | y] that undoes it.

Data: 8 Gaussians on a circle (radius 2, std 0.3), whose denoiser is known in closed form
(docs/design.md §3.1). For a few noise levels sigma the figure shows the noisy points y (top) and
where the optimal denoiser sends them (bottom). Small sigma: E[x | y] is y, barely moved. Medium
sigma: each point is pulled to the Gaussian it most likely came from. Large sigma: nothing can be
told apart any more, and every point is pulled towards the mean of the whole data set, the
origin. About 2 s on 2 cores.

    python examples/01_forward_process.py [--quick] [--out examples_out/]
"""
import cdlite  # noqa: F401  (first: it picks one BLAS thread before NumPy is loaded)

import argparse
import pathlib

import matplotlib

matplotlib.use("Agg")  # write PNG files; no window needed
import matplotlib.pyplot as plt
import numpy as np

from cdlite.backend import make_rng
from cdlite.data import circle_mixture

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--quick", action="store_true", help="fewer points, for the tests")
parser.add_argument("--out", default="examples_out", help="folder for the figure")
args = parser.parse_args()
out = pathlib.Path(args.out)
out.mkdir(parents=True, exist_ok=True)

rng = make_rng(0)
mixture = circle_mixture()  # K = 8 components, d = 2
m = 500 if args.quick else 4000
x = mixture.sample(m, rng)  # (m, 2) clean points
sigmas = [0.05, 0.3, 1.0, 3.0]  # from "almost clean" to "far wider than the circle"

print(f"data: {mixture}, sigma_data = {mixture.data_std():.3f}, {m} points")
print(f"{'sigma':>6} {'rms |y - x|':>12} {'rms |D - x|':>12} {'mean |D|':>9}")
fig, axes = plt.subplots(2, len(sigmas), figsize=(3.2 * len(sigmas), 6.4), sharex=True,
                         sharey=True)
for col, sigma in enumerate(sigmas):
    # The same noise n at every sigma would also do; fresh noise keeps each panel a fair sample.
    noise = rng.standard_normal(x.shape)
    y = x + sigma * noise  # the forward process, EDM's "variance exploding" convention
    D = mixture.denoise(y, sigma)  # E[x | y]: the best any denoiser can do in squared error
    # rms |y - x| grows like sigma * sqrt(d); the denoiser's error stays below the data's own
    # spread, because when y says nothing, E[x | y] falls back to the data mean.
    err_y = np.sqrt(np.mean(np.sum((y - x) ** 2, axis=1)))
    err_D = np.sqrt(np.mean(np.sum((D - x) ** 2, axis=1)))
    radius = np.mean(np.linalg.norm(D, axis=1))  # 2 while modes are resolved, -> 0 as sigma grows
    print(f"{sigma:6.2f} {err_y:12.3f} {err_D:12.3f} {radius:9.3f}")

    top, bottom = axes[0, col], axes[1, col]
    top.scatter(y[:, 0], y[:, 1], s=2, alpha=0.4, color="tab:blue")
    top.set_title(f"y = x + {sigma:g} n")
    # Arrows from a few noisy points to their denoised estimate show the pull of E[x | y].
    k = 40
    bottom.quiver(y[:k, 0], y[:k, 1], D[:k, 0] - y[:k, 0], D[:k, 1] - y[:k, 1], angles="xy",
                  scale_units="xy", scale=1, width=0.004, color="0.6")
    bottom.scatter(D[:, 0], D[:, 1], s=2, alpha=0.4, color="tab:red")
    bottom.set_title(f"E[x | y] at sigma = {sigma:g}")
for ax in axes.ravel():
    ax.scatter(*mixture.means.T, marker="x", color="k", s=30, zorder=3)  # component means
    ax.set_xlim(-5, 5)
    ax.set_ylim(-5, 5)
    ax.set_aspect("equal")
fig.suptitle("Forward process (top) and the exact mixture denoiser (bottom); x = component means")
fig.tight_layout()
path = out / "01_forward_process.png"
fig.savefig(path, dpi=90)
print(f"figure: {path}")
