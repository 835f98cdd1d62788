# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lesson 4: the empirical optimum, the perfect memorizer
#
# **Learning goals.** Derive the denoiser that minimizes the loss on a finite training set, and
# see that its sampler can only return training points. Tell the two closed-form references
# apart: the empirical optimum (knows the 16 points) and the exact mixture denoiser (knows the
# distribution), by their samples and by their error on training and on held-out points.
#
# **Time**: 20 minutes; the script takes a few seconds. **Exercise**: `empirical_denoiser`.
#
# Run it as a script: `python examples/lessons/04_empirical_optimum.py [--quick] [--out DIR]`.
# As a notebook (`pip install -e ".[course]"`; `--quick` works there too):
# `python -m cdlite.course.notebook examples/lessons/04_empirical_optimum.py`.

# %%
import cdlite  # noqa: F401  (first: it picks one BLAS thread before NumPy is loaded)

import matplotlib.pyplot as plt
import numpy as np
from scipy.special import softmax

from cdlite.backend import make_rng
from cdlite.course.lesson import setup
from cdlite.data import make_dataset
from cdlite.diffusion import (EmpiricalOptimalDenoiser, gaussian_mixture_denoiser, generate,
                              karras_sigmas, sample_heun)
from cdlite.metrics import chance_level, generalization_gap, memorization_fraction

lesson = setup("04_empirical_optimum")

# %% [markdown]
# ## The optimum of the training loss
#
# On a training set {a_1, ..., a_n} the loss E |D(a + sigma n, sigma) - a|^2 averages over the
# n points only. Minimized over *all* functions D, pointwise in y, the answer is the posterior
# mean under the empirical distribution:
#
#     D*(y, sigma) = sum_i w_i(y) a_i,   w = softmax_i(-|y - a_i|^2 / (2 sigma^2)).
#
# The weights say how likely each training point is to have produced y. Their spread is measured
# by the effective number of points n_eff = 1 / sum_i w_i^2 (n when all are equal, 1 when one
# point takes everything).

# %%
m = lesson.pick(2000, 300)
ds = make_dataset("gaussians", n_train=16, seed=0)
a = ds.train.astype(np.float64)  # (n, d) the training points
D_star = EmpiricalOptimalDenoiser(ds.train)  # cdlite/diffusion/closed_form.py
D_mix = gaussian_mixture_denoiser(ds.mixture)  # E[x | y] of the true distribution (lesson 1)
rng = make_rng(0)
sigmas = np.geomspace(0.01, 10.0, lesson.pick(30, 8))
starts = {"noisy training points": a[rng.integers(0, ds.n, m)],
          "noisy fresh points": ds.sample_true(m, rng).astype(np.float64)}
n_eff = {name: [] for name in starts}
for sigma in sigmas:
    for name, x in starts.items():
        y = x + sigma * rng.standard_normal(x.shape)
        d2 = ((y[:, None, :] - a[None]) ** 2).sum(axis=-1)  # (m, n)
        w = softmax(-d2 / (2 * sigma ** 2), axis=1)  # (m, n), rows sum to 1
        n_eff[name].append(np.mean(1.0 / (w ** 2).sum(axis=1)))
for name, v in n_eff.items():
    below = sigmas[np.array(v) < 1.5]
    print(f"{name}: n_eff < 1.5 for sigma up to {below.max() if below.size else 0:.3f}; "
          f"n_eff at sigma = 10: {v[-1]:.1f} of {ds.n}")

fig, ax = plt.subplots(figsize=(6, 4))
for name, v in n_eff.items():
    ax.semilogx(sigmas, v, "o-", ms=3, label=name)
ax.axhline(ds.n, color="k", ls=":", label=f"n = {ds.n}")
ax.set(xlabel="sigma", ylabel="n_eff = 1 / sum w_i^2", title="How many training points D* mixes")
ax.legend(fontsize=8)
lesson.show(fig, "weights")

# %% [markdown]
# ## Its sampler can only end on training points
#
# As sigma -> 0 the softmax puts all weight on the nearest a_i, so the last steps of the
# probability-flow ODE snap onto that point. The exact mixture denoiser instead shrinks y towards
# the component it belongs to by a factor that tends to 1: any point of the Gaussian can be an
# end point. Same Heun grid, same starting noise for both.

# %%
grid = karras_sigmas(18, 0.002, 20.0)
chance = chance_level(ds.sample_true(m, make_rng(1)), ds.train)["f_mem"]
fig, axes = plt.subplots(1, 2, figsize=(10, 5), sharex=True, sharey=True, layout="constrained")
for ax, (name, D) in zip(axes, {"empirical optimum D*": D_star,
                                "exact mixture denoiser": D_mix}.items()):
    x, nfe = generate(D, m, ds.d, grid, make_rng(2))
    r = memorization_fraction(x, ds.train)
    print(f"{name:>24}: f_mem {r['f_mem']:.3f} (chance {chance:.3f}), coverage "
          f"{r['coverage']:.3f}, largest distance to the nearest training point "
          f"{r['d1'].max():.2e}, NFE {nfe}")
    start = 20.0 * make_rng(3).standard_normal((12, ds.d)).astype(np.float32)
    states = []  # the sampler's callback records the state at every step
    end, _ = sample_heun(D, start, grid, callback=lambda i, xi, s, Di, states=states:
                         states.append(xi))
    path = np.stack(states + [end])  # (steps + 1, 12, d): whole ODE trajectories
    ax.plot(path[:, :, 0], path[:, :, 1], color="0.6", lw=0.8)
    ax.scatter(*x.T, s=2, alpha=0.3, color="tab:blue")
    ax.scatter(*ds.train.T, s=60, facecolors="none", edgecolors="k")
    ax.set(title=f"{name}: f_mem {r['f_mem']:.2f}", xlim=(-4, 4), ylim=(-4, 4),
           aspect="equal")
fig.suptitle(f"Heun samples (blue) and 12 ODE paths (grey); circles: training points; chance "
             f"f_mem {chance:.2f}")
lesson.show(fig, "samples")

# %% [markdown]
# ## Best on the training set, worse on new points
#
# D* is the best denoiser *on the training set* by construction. On held-out points it must be
# worse than E[x | y], the best denoiser for the distribution. We measure the plain error per
# coordinate on the 16 training points and on 2,000 held-out points (same noise for both), and
# then whether D* ever stops memorizing as n grows.

# %%
gap_sigmas = np.geomspace(0.02, 5.0, lesson.pick(10, 4))
held_out = ds.test[:2000]
errors = {name: generalization_gap(D, ds.train, held_out, gap_sigmas, make_rng(4), n_noise=8)
          for name, D in (("D*", D_star), ("mixture", D_mix))}
print(f"{'sigma':>7} {'D* train':>9} {'D* held-out':>12} {'mix train':>10} {'mix held-out':>13}")
for j, sigma in enumerate(gap_sigmas):
    print(f"{sigma:7.3f} {errors['D*']['train_loss'][j]:9.4f} {errors['D*']['test_loss'][j]:12.4f}"
          f" {errors['mixture']['train_loss'][j]:10.4f} {errors['mixture']['test_loss'][j]:13.4f}")

ns = lesson.pick([4, 16, 64, 256], [4, 16])
f_mem_n, chance_n = [], []
for n in ns:
    dsn = make_dataset("gaussians", n_train=n, seed=0)
    x, _ = generate(EmpiricalOptimalDenoiser(dsn.train), m, 2, grid, make_rng(5))
    f_mem_n.append(memorization_fraction(x, dsn.train)["f_mem"])
    chance_n.append(chance_level(dsn.sample_true(m, make_rng(6)), dsn.train)["f_mem"])
    print(f"n = {n:4d}: f_mem of D* {f_mem_n[-1]:.3f}, chance level {chance_n[-1]:.3f}")

fig, (ax_l, ax_n) = plt.subplots(1, 2, figsize=(12, 4.5))
for (name, g), color in zip(errors.items(), ("tab:red", "tab:green")):
    ax_l.loglog(gap_sigmas, g["train_loss"], "o-", color=color, label=f"{name}, training points")
    ax_l.loglog(gap_sigmas, g["test_loss"], "s--", color=color, label=f"{name}, held-out points")
ax_l.set(xlabel="sigma", ylabel="error per coordinate",
         title="Denoising error on training and held-out points")
ax_l.legend(fontsize=8)
ax_n.semilogx(ns, f_mem_n, "o-", label="f_mem of D*")
ax_n.semilogx(ns, chance_n, "s:", color="k", label="chance level")
ax_n.set(xlabel="n training points", ylim=(0, 1.05), title="D* memorizes at every n")
ax_n.legend(fontsize=8)
lesson.show(fig, "errors_and_n")

# %% [markdown]
# ## Questions
#
# 1. In `weights`, below which sigma does D* use essentially one training point (n_eff < 1.5)
#    for noisy training points, and for noisy fresh points? What happens at large sigma?
# 2. In `samples`, where do the ODE paths of D* end, and how far from a training point at most
#    (printed)? How does the mixture denoiser's f_mem compare with the chance level?
# 3. In `errors_and_n` (left), which denoiser has the smaller error on the training points and
#    which on held-out points? At which sigma is the held-out difference largest?
# 4. Right panel: does D* memorize less as n grows? A trained network does (docs/design.md §8:
#    at n = 128 it did not reach f_mem 0.9 in 16,000 steps): what does the network lack that D* has?
