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
# # Lesson 1: the forward process and the denoiser
#
# **Learning goals.** Write the forward process y = x + sigma n and see what noise of each size
# does to data. Know the posterior mean E[x | y] as the best possible denoiser and read its error
# curve. Explain why EDM wraps the network in c_skip, c_out, c_in and c_noise.
#
# **Time**: 15 minutes of reading, seconds to run. **Exercise**:
# `cdlite exercise start edm_precond exercises` (EDM's four coefficients).
#
# Run it as a script: `python examples/lessons/01_forward_and_denoiser.py [--quick] [--out DIR]`.
# As a notebook (`pip install -e ".[course]"`; `--quick` works there too):
# `python -m cdlite.course.notebook examples/lessons/01_forward_and_denoiser.py`.

# %%
import cdlite  # noqa: F401  (first: it picks one BLAS thread before NumPy is loaded)

import matplotlib.pyplot as plt
import numpy as np

from cdlite.backend import make_rng
from cdlite.course.lesson import setup
from cdlite.data import circle_mixture
from cdlite.diffusion import edm_coeffs

lesson = setup("01_forward_and_denoiser")

# %% [markdown]
# ## The data and the forward process
#
# Eight Gaussians on a circle of radius 2, each of standard deviation 0.3 (d = 2). For this
# mixture E[x | y] is known in closed form (docs/design.md §3.6): no network is needed to see
# what the best denoiser does. Noise is added in EDM's "variance exploding" convention,
# y = x + sigma n with n ~ N(0, I): sigma is the noise's standard deviation, and it can grow far
# beyond the data's own scale sigma_data.

# %%
mixture = circle_mixture()  # K = 8 components, d = 2
sigma_data = mixture.data_std()  # per-coordinate standard deviation of the data
m = lesson.pick(4000, 400)
rng = make_rng(0)
x = mixture.sample(m, rng)  # (m, 2) clean points
print(f"{mixture}; sigma_data = {sigma_data:.3f}; {m} points")

sigmas_shown = [0.05, 0.3, 1.0, 3.0]
print("mean |E[x | y]|: about 2 (the radius) while the components are told apart, towards 0 (the "
      "data mean) when they are not")
fig, axes = plt.subplots(2, 4, figsize=(12.8, 6.4), sharex=True, sharey=True,
                         layout="constrained")
for col, sigma in enumerate(sigmas_shown):
    y = x + sigma * rng.standard_normal(x.shape)  # the forward process
    D = mixture.denoise(y, sigma)  # E[x | y]: the best denoiser in squared error
    axes[0, col].scatter(*y.T, s=2, alpha=0.4, color="tab:blue")
    axes[0, col].set_title(f"y = x + {sigma:g} n")
    k = 40  # arrows from a few noisy points to where the denoiser sends them
    axes[1, col].quiver(y[:k, 0], y[:k, 1], *(D[:k] - y[:k]).T, angles="xy", scale_units="xy",
                        scale=1, width=0.004, color="0.6")
    axes[1, col].scatter(*D.T, s=2, alpha=0.4, color="tab:red")
    axes[1, col].set_title(f"E[x | y], sigma = {sigma:g}")
    print(f"  sigma = {sigma:4.2f}: mean |E[x | y]| = {np.linalg.norm(D, axis=1).mean():.2f}")
for ax in axes.ravel():
    ax.scatter(*mixture.means.T, marker="x", color="k", s=30, zorder=3)
    ax.set(xlim=(-5, 5), ylim=(-5, 5), aspect="equal")
fig.suptitle("Forward process (top) and the exact denoiser E[x | y] (bottom); x = means")
lesson.show(fig, "noise_and_denoiser")

# %% [markdown]
# ## How good can a denoiser be?
#
# The error of E[x | y], per coordinate, is the smallest any denoiser can reach (the minimum mean
# squared error, MMSE). Two trivial denoisers bound it: returning y itself (error sigma^2) and
# returning the data mean (error sigma_data^2). The best *linear* denoiser, which only knows the
# data's variance, gets sigma_data^2 sigma^2 / (sigma_data^2 + sigma^2). What the mixture's
# structure is worth is the gap between that line and the MMSE.

# %%
sigmas = np.geomspace(0.01, 50.0, lesson.pick(25, 8))
mmse = []
for sigma in sigmas:
    y = x + sigma * rng.standard_normal(x.shape)
    mmse.append(np.mean((mixture.denoise(y, sigma) - x) ** 2))  # per coordinate
mmse = np.array(mmse)
linear = sigma_data ** 2 * sigmas ** 2 / (sigma_data ** 2 + sigmas ** 2)
i = int(np.argmax(linear / mmse))
print(f"MMSE at sigma = 0.01: {mmse[0]:.2e} (sigma^2 = {sigmas[0] ** 2:.0e}); at sigma = 50: "
      f"{mmse[-1]:.3f} (sigma_data^2 = {sigma_data ** 2:.3f})")
print(f"largest gain of the mixture's structure over the linear denoiser: "
      f"{linear[i] / mmse[i]:.1f}x at sigma = {sigmas[i]:.2f}")

# %% [markdown]
# ## EDM's preconditioning
#
# A network that output D directly would have to return y almost unchanged at small sigma and a
# mean of far-away points at large sigma, with inputs whose scale runs from 1 to 100. EDM
# (Karras et al. 2022, Table 1) instead writes
#
#     D(y, sigma) = c_skip y + c_out F(c_in y, c_noise)
#
# with c_skip = sd^2 / (sigma^2 + sd^2), c_out = sigma sd / sqrt(sigma^2 + sd^2),
# c_in = 1 / sqrt(sigma^2 + sd^2), c_noise = ln(sigma) / 4 (sd = sigma_data). Then the network
# F sees an input c_in y of unit variance and is trained towards the target (x - c_skip y) / c_out,
# also of unit variance, at every sigma. We measure both variances on the data.

# %%
c_skip, c_out, c_in, c_noise = edm_coeffs(sigmas, sigma_data)
var_in, var_target = [], []
for sigma, cs, co, ci in zip(sigmas, c_skip, c_out, c_in):
    y = x + sigma * rng.standard_normal(x.shape)
    var_in.append(np.mean((ci * y) ** 2))  # the mixture has mean 0
    var_target.append(np.mean(((x - cs * y) / co) ** 2))
print(f"{'sigma':>7} {'c_skip':>7} {'c_out':>7} {'c_in':>7} {'c_noise':>8} {'Var(c_in y)':>12} "
      f"{'Var(target)':>12}")
for j in range(0, len(sigmas), max(1, len(sigmas) // 6)):
    print(f"{sigmas[j]:7.3f} {c_skip[j]:7.3f} {c_out[j]:7.3f} {c_in[j]:7.3f} {c_noise[j]:8.3f} "
          f"{var_in[j]:12.3f} {var_target[j]:12.3f}")

print(f"over all {len(sigmas)} sigmas: Var(c_in y) in [{min(var_in):.3f}, {max(var_in):.3f}], "
      f"Var(target) in [{min(var_target):.3f}, {max(var_target):.3f}]")

fig, (ax_e, ax_c) = plt.subplots(1, 2, figsize=(12, 4.5))
ax_e.loglog(sigmas, mmse, "o-", color="tab:red", label="E[x | y] (the MMSE)")
ax_e.loglog(sigmas, linear, "--", color="0.3", label="best linear denoiser")
ax_e.loglog(sigmas, sigmas ** 2, ":", color="tab:blue", label="D = y (error sigma^2)")
ax_e.axhline(sigma_data ** 2, ls=":", color="tab:green", label="D = mean (sigma_data^2)")
ax_e.axvline(sigma_data, color="0.8", lw=1)
ax_e.set(xlabel="sigma", ylabel="error per coordinate", ylim=(1e-4, 10),
         title="How good a denoiser can be")
ax_e.legend(fontsize=8)
for name, c in (("c_skip", c_skip), ("c_out", c_out), ("c_in", c_in), ("c_noise", c_noise)):
    ax_c.semilogx(sigmas, c, label=name)
ax_c.semilogx(sigmas, var_in, "k^", ms=4, label="Var(c_in y), measured")
ax_c.semilogx(sigmas, var_target, "kv", ms=4, label="Var(target), measured")
ax_c.axvline(sigma_data, color="0.8", lw=1)
ax_c.set(xlabel="sigma", ylim=(-1.5, 2.5), title="EDM's preconditioning (grey: sigma_data)")
ax_c.legend(fontsize=8)
lesson.show(fig, "error_and_preconditioning")

# %% [markdown]
# ## Questions
#
# The answers are in this lesson's figures and printed tables (run it without `--quick`).
#
# 1. In `noise_and_denoiser`, from which sigma on does E[x | y] stop telling the eight
#    components apart, and where does it send every point then?
# 2. In `error_and_preconditioning` (left), the MMSE follows one trivial line at small sigma and
#    another at large sigma. Which ones, and near which value of sigma do they cross?
# 3. Same panel: at which sigma is the mixture's structure worth the most over the linear
#    denoiser, and by what factor (printed above the table)?
# 4. Right panel: which coefficient tends to 1 as sigma -> 0, and what does D become then?
#    What do the measured variances (triangles) tell you about the network's input and target?
