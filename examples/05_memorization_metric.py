"""The memorization metric itself: the nearest-neighbour ratio test, on point sets we build by hand.

A sample x counts as memorized when |x - a_(1)| / |x - a_(2)| < 1/3, a_(1) and a_(2) its nearest
and second-nearest training points (docs/design.md §5.1). Here: the training points themselves
(ratio 0, all memorized), fresh samples of the true distribution (rarely: the chance level),
near copies at distance 1e-3 (all memorized), midpoints of two training points (never), and a
collapse onto one training point, which has f_mem = 1 but coverage 1/n. That is why coverage is
printed beside f_mem. A few seconds on 2 cores.

    python examples/05_memorization_metric.py [--quick] [--out examples_out/]
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
from cdlite.metrics import MEM_THRESHOLD, memorization_fraction, nn_ratios, ratio_histogram

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--quick", action="store_true", help="fewer points, for the tests")
parser.add_argument("--out", default="examples_out", help="folder for the figure")
args = parser.parse_args()
out = pathlib.Path(args.out)
out.mkdir(parents=True, exist_ok=True)

m = 300 if args.quick else 5000
rng = make_rng(0)
ds = make_dataset("gaussians", n_train=16, seed=0)
a = ds.train  # (n, d) the training points
n = ds.n
pick = rng.integers(0, n, m)  # (m,) a random training point for each constructed sample
direction = rng.standard_normal((m, ds.d))
direction /= np.linalg.norm(direction, axis=1, keepdims=True)  # unit vectors
partner = np.argsort(np.linalg.norm(a[:, None] - a[None], axis=2), axis=1)[:, 1]  # nearest other
cases = {
    "training points": a,
    "fresh true samples": ds.sample_true(m, rng),
    "near copies (1e-3)": a[pick] + 1e-3 * direction,
    "midpoints of 2 points": 0.5 * (a[pick] + a[partner[pick]]),
    "collapse onto a_0": a[0] + 1e-3 * direction,
}

print(f"n = {n} training points; memorized when d1 / d2 < {MEM_THRESHOLD:.3f}")
print(f"{'points':>22} {'m':>5} {'f_mem':>6} {'95% interval':>14} {'coverage':>9} "
      f"{'median ratio':>13}")
results = {}
for name, x in cases.items():
    r = memorization_fraction(x.astype(np.float32), a, rng=make_rng(1))
    results[name] = r
    lo, hi = r["f_mem_ci"]
    print(f"{name:>22} {len(x):5d} {r['f_mem']:6.3f} [{lo:5.3f}, {hi:5.3f}] "
          f"{r['coverage']:9.3f} {np.median(r['ratio']):13.3g}")
# A midpoint is made of training data, yet it sits at ratio ~1: the test asks "is this one
# training point?", not "is this built from training points?".

print("\nratio histogram (10 bins over [0, 1]; '|' marks the threshold 1/3):")
for name in ("fresh true samples", "near copies (1e-3)"):
    h = ratio_histogram(results[name]["ratio"], bins=10)
    print(f"  {name}")
    for lo, count in zip(h["edges"], h["counts"]):
        mark = "|" if lo <= MEM_THRESHOLD < lo + 0.1 else " "
        bar = "#" * round(40 * count / max(h["counts"]))
        print(f"    {lo:3.1f}-{lo + 0.1:3.1f} {mark} {count:5d} {bar}")

# --- figure: where in the plane a sample would count as memorized -------------------------------
# For two points at distance D the zone ratio < 1/3 is a disk of radius 3D/8 (an Apollonius
# circle): isolated training points own large zones and catch fresh samples by chance, which is
# the chance level; points in a tight cluster own tiny ones.
g = np.linspace(-4, 4, 120 if args.quick else 300)
grid = np.stack(np.meshgrid(g, g), axis=-1).reshape(-1, 2).astype(np.float32)  # (G*G, 2)
ratio = nn_ratios(grid, a)["ratio"].reshape(len(g), len(g))
fresh = results["fresh true samples"]
fig, axes = plt.subplots(1, 2, figsize=(11, 5))
ax = axes[0]
ax.contourf(g, g, ratio, levels=[0, MEM_THRESHOLD, 1], colors=["#f4c7c3", "white"])
ax.contour(g, g, ratio, levels=[MEM_THRESHOLD], colors="tab:red", linewidths=0.8)
x = cases["fresh true samples"]
ax.scatter(*x[~fresh["memorized"]].T, s=2, color="0.6", label="fresh sample, not memorized")
ax.scatter(*x[fresh["memorized"]].T, s=2, color="tab:red", label="fresh sample, 'memorized'")
ax.scatter(*a.T, s=50, facecolors="none", edgecolors="k", label="training points")
ax.set_aspect("equal")
ax.set_title(f"zones d1/d2 < 1/3 (shaded); chance f_mem = {fresh['f_mem']:.2f}")
ax.legend(loc="lower left", fontsize=7)
ax = axes[1]
for name in ("fresh true samples", "near copies (1e-3)", "midpoints of 2 points"):
    ax.hist(results[name]["ratio"], bins=40, range=(0, 1), alpha=0.6, label=name)
ax.axvline(MEM_THRESHOLD, color="k", ls="--", lw=1, label="threshold 1/3")
ax.set_xlabel("ratio d1 / d2")
ax.set_ylabel("count")
ax.set_yscale("log")
ax.legend(loc="upper center", fontsize=8)
ax.set_title("distribution of the ratio")
fig.tight_layout()
path = out / "05_memorization_metric.png"
fig.savefig(path, dpi=90)
print(f"figure: {path}")
