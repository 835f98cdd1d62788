"""07 - Random features: why memorisation comes late, and later for more data.

Bonnaire, Urfin, Biroli & Mezard (arXiv 2505.17638): a random-feature score model at one
diffusion time t learns the eigenmodes of its feature covariance U one by one, mode lambda on the
timescale psi_p / (2 Delta_t lambda). The large eigenvalues carry the population score
(generalisation, learnt early, tau_gen); a bulk of smaller ones, whose size shrinks as 1/n,
carries the training points themselves (memorisation, tau_mem growing with n).

This script prints the three parts of the spectrum with their predicted locations, tau_gen and
tau_mem for three training-set sizes, and the log-log slope of tau_mem against n; it saves
07_random_features.png. A few seconds on 2 cores. The full study: `cdlite run rf-theory`.

    python examples/07_random_features.py [--quick] [--out examples_out/]
"""
import cdlite  # noqa: F401  (first: it picks one BLAS thread before NumPy is loaded)

import argparse
import math
import pathlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from cdlite.backend import make_rng
from cdlite.theory import (GradientFlow, dsm_target, eigh_desc, gaussian_data, ge_constants,
                           gen_bulk_scale, make_features, mc_regressions, mem_bulk_edges,
                           score_target, split_bulks, tau_gen, tau_mem)

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--quick", action="store_true", help="smaller d and p, for the tests")
parser.add_argument("--out", default="examples_out", help="folder for the figure")
args = parser.parse_args()
out = pathlib.Path(args.out)
out.mkdir(parents=True, exist_ok=True)

d, p, t = (8, 256, 0.01) if args.quick else (16, 512, 0.01)
ns = (2 * d, 4 * d, 8 * d)        # n > d, so that a memorisation bulk exists; p / n = 16, 8, 4
n_mc = 8 * p                      # Monte-Carlo samples per estimate of U (DESIGN: >= 8p)
rng = make_rng(0)
W = make_features(rng, p, d)                          # (p, d), fixed
X = gaussian_data(rng, max(ns), d)                    # (n, d), nested training sets
c = ge_constants(t)                                   # a_t, b_t, v_t^2, s_t^2, mu_1
print(f"Gaussian-equivalence constants at t={t}: mu1={c.mu1:.4f} v_t^2={c.v2:.4f} "
      f"s_t^2={c.s2:.5f}")

# population moments: the test loss and the score error against s*(x) = -x
pop = mc_regressions(gaussian_data(rng, n_mc, d), W, t, rng, n_mc,
                     {"dsm": dsm_target(t), "score": score_target()})
taus = np.geomspace(1, 1e9, 300)                      # training time, see cdlite/theory/dynamics.py
fig, (ax_s, ax_t) = plt.subplots(1, 2, figsize=(10, 3.6))
tau_mems, tau_gens = [], []
for i, n in enumerate(ns):
    fit = mc_regressions(X[:n], W, t, rng, n_mc, {"dsm": dsm_target(t)})["dsm"]
    train = mc_regressions(X[:n], W, t, rng, n_mc, {"dsm": dsm_target(t)})["dsm"]  # fresh noise
    lam, Q = eigh_desc(fit.U)
    flow = GradientFlow.from_regression(fit, eig=(lam, Q))
    parts = split_bulks(p, d, n)
    lo, hi = mem_bulk_edges(c, p / d, n / d)
    # finite d widens the memorisation bulk beyond the d -> infinity edges (spectrum.py)
    print(f"n={n:4d}: generalisation bulk median {np.median(lam[parts['gen']]):.3g} "
          f"(scale {gen_bulk_scale(c, p / d):.3g}); memorisation bulk "
          f"[{lam[n - 1]:.3g}, {lam[d]:.3g}] (predicted [{lo:.3g}, {hi:.3g}])")
    # closed-form train / test loss and score error along the flow
    gap = flow.losses(taus, pop["dsm"]) - flow.losses(taus, train)
    gap_inf = (flow.losses([math.inf], pop["dsm"]) - flow.losses([math.inf], train))[0]
    tau_gens.append(tau_gen(taus, flow.losses(taus, pop["score"])))
    tau_mems.append(tau_mem(taus, gap, gap_inf, frac=0.1))
    print(f"        tau_gen = {tau_gens[-1]:.4g}   tau_mem = {tau_mems[-1]:.4g}")
    ax_s.hist(np.log10(lam), bins=80, histtype="step", label=f"n={n}", color=f"C{i}")
    ax_s.axvspan(np.log10(lo), np.log10(hi), color=f"C{i}", alpha=0.1)

slope = np.polyfit(np.log(ns), np.log(tau_mems), 1)[0]
print(f"tau_mem grows with n with log-log slope {slope:.2f}; "
      f"tau_gen stays near {np.mean(tau_gens):.3g}")
ax_s.set(xlabel="log10 eigenvalue of U (shaded: predicted memorisation bulk)", ylabel="count",
         yscale="log")
ax_s.legend()
ax_t.loglog(ns, tau_mems, "o-", label=f"tau_mem (slope {slope:.2f})")
ax_t.loglog(ns, tau_gens, "s-", label="tau_gen")
ax_t.set(xlabel="n", ylabel="tau")
ax_t.legend()
fig.savefig(out / "07_random_features.png", dpi=100, bbox_inches="tight")
print(f"saved {out / '07_random_features.png'}")
