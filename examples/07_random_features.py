"""07 - Random features: why memorisation comes late, and later for more data.

Bonnaire, Urfin, Biroli & Mezard (arXiv 2505.17638): a random-feature score model at one
diffusion time t learns the eigenmodes of its feature covariance U one by one, mode lambda on the
timescale psi_p / (2 Delta_t lambda) (cdlite's time unit, cdlite/theory/dynamics.py). The large
eigenvalues carry the population score (generalisation, learnt early); a bulk of smaller ones,
whose size shrinks as 1/n, carries the training points themselves (memorisation, later for more
data). Below it sits the spike near s_t^2, which at small d is a bulk of its own.

This script prints the three parts of the spectrum with their predicted locations, the two bulk
clocks (median psi_p / (2 Delta_t lambda) over each bulk), tau_gen and tau_mem (50% of the final
gap) for three training-set sizes, and the log-log slopes against n; it saves
07_random_features.png. A few seconds on 2 cores. With error bars over many training sets and the
finite-size check: `cdlite run rf-theory`.

    python examples/07_random_features.py [--quick] [--out examples_out/]
"""
import cdlite  # noqa: F401  (first: it picks one BLAS thread before NumPy is loaded)

import argparse
import pathlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from cdlite.backend import make_rng
from cdlite.theory import gaussian_data, ge_constants, make_features
from cdlite.theory.analysis import analyse_training_set, population

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--quick", action="store_true", help="smaller d and p, for the tests")
parser.add_argument("--out", default="examples_out", help="folder for the figure")
args = parser.parse_args()
out = pathlib.Path(args.out)
out.mkdir(parents=True, exist_ok=True)

d, p, t = (8, 256, 0.01) if args.quick else (16, 512, 0.01)
ns = (2 * d, 4 * d, 8 * d)        # n > d, so that a memorisation bulk exists; p / n = 16, 8, 4
n_mc = 8 * p                      # Monte-Carlo samples per estimate of U (docs/design.md §6.2)
rng = make_rng(0)
W = make_features(rng, p, d)                          # (p, d), fixed
X = gaussian_data(rng, max(ns), d)                    # (n, d), nested training sets
c = ge_constants(t)                                   # a_t, b_t, v_t^2, s_t^2, mu_1
print(f"Gaussian-equivalence constants at t={t}: mu1={c.mu1:.4f} v_t^2={c.v2:.4f} "
      f"s_t^2={c.s2:.5f}")

pop = population(W, t, n_mc, rng)       # test loss and score error against s*(x) = -x
taus = np.geomspace(0.1, 1e9, 300)      # training time tau
fig, (ax_s, ax_t) = plt.subplots(1, 2, figsize=(10, 3.6))
res = []
for i, n in enumerate(ns):
    r = analyse_training_set(X[:n], W, t, pop, taus, n_mc, rng, c, fractions=(0.5,))
    res.append(r)
    (lo, hi), (elo, ehi) = r["mem_edges_pred"], r["mem_edges_emp"]
    # finite d widens the memorisation bulk beyond the d -> infinity edges (spectrum.py)
    print(f"n={n:4d}: generalisation bulk median {r['gen_median_emp']:.3g} (scale "
          f"{r['gen_scale_pred']:.3g}); memorisation bulk [{elo:.3g}, {ehi:.3g}] (predicted "
          f"[{lo:.3g}, {hi:.3g}]); spike median {r['spike_quantiles'][1]:.3g}")
    print(f"        clocks: gen bulk {r['clock']['gen']:.4g}, mem bulk {r['clock']['mem']:.4g}; "
          f"tau_gen = {r['tau_gen']:.4g}, tau_mem = {r['tau_mem'][0.5]:.4g}")
    ax_s.hist(np.log10(r["lam"]), bins=80, histtype="step", label=f"n={n}", color=f"C{i}")
    ax_s.axvspan(np.log10(lo), np.log10(hi), color=f"C{i}", alpha=0.1)


def slope(values):
    return np.polyfit(np.log(ns), np.log(values), 1)[0]


curves = {"mem-bulk clock": [r["clock"]["mem"] for r in res],
          "gen-bulk clock": [r["clock"]["gen"] for r in res],
          "tau_mem (50% of final gap)": [r["tau_mem"][0.5] for r in res],
          "tau_gen (min score error)": [r["tau_gen"] for r in res]}
for name, values in curves.items():
    print(f"{name:>28}: log-log slope against n {slope(values):+.2f}")
    ax_t.loglog(ns, values, "o-", label=f"{name} ({slope(values):+.2f})")
# the gap at tau = inf is mostly the spike's at this small d: the run's finite-size check shows
# how its tau_mem slope moves with p
print("the memorisation-bulk clock follows n; tau_mem from the gap depends on d and p here "
      "(see `cdlite run rf-theory`, 'Is the slope real?')")
ax_s.set(xlabel="log10 eigenvalue of U (shaded: predicted memorisation bulk)", ylabel="count",
         yscale="log")
ax_s.legend()
ax_t.set(xlabel="n", ylabel="tau")
ax_t.legend(fontsize=7)
fig.savefig(out / "07_random_features.png", dpi=100, bbox_inches="tight")
print(f"saved {out / '07_random_features.png'}")
