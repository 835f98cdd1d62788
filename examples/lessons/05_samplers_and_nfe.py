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
# # Lesson 5: samplers and NFE
#
# **Learning goals.** Sample by solving the probability-flow ODE dx/dsigma = (x - D(x, sigma)) /
# sigma from sigma_max down to 0. Count the cost in network evaluations (NFE) and measure the
# error of Euler (first order) and Heun (second order) against it. See what one or two steps
# produce: the reason a few-step teacher is the fair control for a one-step student.
#
# **Time**: 20 minutes; the script takes a few seconds. **Exercise**: `heun_step`.
#
# Run it as a script: `python examples/lessons/05_samplers_and_nfe.py [--quick] [--out DIR]`.
# As a notebook (`pip install -e ".[course]"`; `--quick` works there too):
# `python -m cdlite.course.notebook examples/lessons/05_samplers_and_nfe.py`.

# %%
import cdlite  # noqa: F401  (first: it picks one BLAS thread before NumPy is loaded)

import matplotlib.pyplot as plt
import numpy as np

from cdlite.backend import make_rng
from cdlite.course.lesson import setup
from cdlite.data import make_dataset
from cdlite.diffusion import gaussian_mixture_denoiser, karras_sigmas, sample_euler, sample_heun
from cdlite.metrics import mean_loglik

lesson = setup("05_samplers_and_nfe")

# %% [markdown]
# ## One ODE, two solvers
#
# The denoiser is the exact E[x | y] of the 8-Gaussian mixture, so the ODE itself is exact and
# every error below is the solver's. The grid is Karras et al.'s: N steps from sigma_max = 20 to
# sigma_min = 0.002, denser near 0 (rho = 7), then a last step to 0. Euler takes N evaluations;
# Heun (EDM Algorithm 1) corrects each Euler step with the slope at its end point, except on the
# last step to 0, so NFE = 2N - 1. The reference is Heun with 512 steps from the same noise.

# %%
ds = make_dataset("gaussians", n_train=16, seed=0)  # only its mixture is used here
D = gaussian_mixture_denoiser(ds.mixture)
sigma_min, sigma_max = 0.002, 20.0
m = lesson.pick(2000, 200)
x_T = sigma_max * make_rng(0).standard_normal((m, 2))  # the same starting noise for all
reference, _ = sample_heun(D, x_T, karras_sigmas(lesson.pick(512, 64), sigma_min, sigma_max))

Ns = lesson.pick([1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64], [1, 2, 4, 8])
results = {"euler": [], "heun": []}
for N in Ns:
    grid = karras_sigmas(N, sigma_min, sigma_max)
    for name, sampler in (("euler", sample_euler), ("heun", sample_heun)):
        x, nfe = sampler(D, x_T, grid)
        rms = float(np.sqrt(np.mean(np.sum((x - reference) ** 2, axis=1))))
        results[name].append((nfe, rms, x))
print(f"{'N':>3} {'Euler NFE':>9} {'Euler error':>12} {'Heun NFE':>9} {'Heun error':>11}")
for N, (ne, ee, _), (nh, eh, _) in zip(Ns, results["euler"], results["heun"]):
    print(f"{N:3d} {ne:9d} {ee:12.2e} {nh:9d} {eh:11.2e}")

# Convergence order: the slope of log(error) against log(NFE) over the finer half of the grids.
slopes = {}
for name, rows in results.items():
    nfe, err = np.array([r[0] for r in rows]), np.array([r[1] for r in rows])
    fine = slice(len(rows) // 2, None)
    slopes[name] = np.polyfit(np.log(nfe[fine]), np.log(err[fine]), 1)[0]
    print(f"{name}: error ~ NFE^{slopes[name]:.2f} on the finer grids")

fig, ax = plt.subplots(figsize=(6.5, 4.5))
for name, rows in results.items():
    ax.loglog([r[0] for r in rows], [r[1] for r in rows], "o-",
              label=f"{name} (slope {slopes[name]:.2f})")
ax.set(xlabel="network evaluations (NFE)", ylabel="rms distance to the reference samples",
       title="Solver error against cost")
ax.legend(fontsize=8)
lesson.show(fig, "error_vs_nfe")

# %% [markdown]
# ## What few steps produce
#
# With one Euler step from sigma_max to 0, x_next = x + (0 - sigma) (x - D(x, sigma)) / sigma =
# D(x, sigma_max): the denoiser's guess from pure noise, which is close to the data mean. More
# steps bring the samples back to the data. Heun's correction uses the slope at the end of a
# huge Euler step, where sigma is small and the slope (x - D) / sigma is enormous. The mean
# log-likelihood under the true mixture measures all this; fresh samples of the mixture give
# its reference value.

# %%
fresh = ds.sample_true(m, make_rng(1))
print(f"log-likelihood of fresh true samples: {mean_loglik(fresh, ds.mixture):.2f}")
shown = [("euler", 1), ("euler", 3), ("euler", 8), ("heun", 2), ("heun", 4), ("heun", 16)]
shown = [(name, N) for name, N in shown if N in Ns]
fig, axes = plt.subplots(1, len(shown), figsize=(3.1 * len(shown), 3.5), sharex=True,
                         sharey=True)
for ax, (name, N) in zip(np.atleast_1d(axes), shown):
    nfe, rms, x = results[name][Ns.index(N)]
    ll = mean_loglik(x, ds.mixture)
    print(f"{name:>5}, N = {N:2d}: NFE {nfe:2d}, log-likelihood {ll:7.2f}, error {rms:.3f}")
    ax.scatter(*x.T, s=2, alpha=0.4)
    ax.set(title=f"{name}, NFE {nfe}\nlog-lik {ll:.2f}", xlim=(-4, 4), ylim=(-4, 4),
           aspect="equal")
lesson.show(fig, "few_steps")

# %% [markdown]
# ## Questions
#
# 1. In `error_vs_nfe`, what slopes do Euler and Heun reach, and which orders do they correspond
#    to? How many NFE does each need to get below an error of 0.01?
# 2. Heun pays two evaluations per step. From which NFE on is it more accurate than Euler at the
#    same cost? What happens to Heun with 2 to 4 huge steps (table and `few_steps`)?
# 3. In `few_steps`, what do the samples of one Euler step look like, and what is their
#    log-likelihood next to fresh samples? Which few-step teacher is then the fair control for a
#    one-step student (lesson 7): Euler or Heun?
# 4. Why does Heun skip its correction on the step to sigma = 0? (The `heun_step` exercise checks
#    this; see its docstring.)
