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
# # Lesson 8: the random-feature picture of tau_gen and tau_mem
#
# **Learning goals.** Read the spectrum of a random-feature score model (Bonnaire, Urfin, Biroli
# & Mezard 2025) as three parts with three jobs. Explain why training first generalizes (tau_gen,
# independent of n) and only much later memorizes (tau_mem, growing with n), from the rule that
# the mode of eigenvalue lambda is learnt on the timescale psi_p / (2 Delta_t lambda).
#
# **Time**: 30 minutes; the script takes a few seconds. No exercise: the questions are the work.
#
# Run it as a script: `python examples/lessons/08_random_features.py [--quick] [--out DIR]`.
# As a notebook (`pip install -e ".[course]"`; `--quick` works there too):
# `python -m cdlite.course.notebook examples/lessons/08_random_features.py`.
# The full study with consistency distillation in the same model: `cdlite run rf-theory`.

# %%
import cdlite  # noqa: F401  (first: it picks one BLAS thread before NumPy is loaded)

import math

import matplotlib.pyplot as plt
import numpy as np

from cdlite.backend import make_rng
from cdlite.course.lesson import setup
from cdlite.theory import (GradientFlow, dsm_target, eigh_desc, gaussian_data, ge_constants,
                           gen_bulk_scale, make_features, mc_regressions, mem_bulk_edges,
                           score_target, split_bulks, tau_gen, tau_mem)

lesson = setup("08_random_features")

# %% [markdown]
# ## The model
#
# One diffusion time t of the Ornstein-Uhlenbeck process x_t = e^-t x + sqrt(Delta_t) xi,
# Delta_t = 1 - e^-2t, with data x ~ N(0, I_d). The score model is
# s_A(x) = (A / sqrt(p)) tanh(W x / sqrt(d)): W (p x d) random and fixed, only the readout A
# (d x p) is trained, from 0, on the denoising loss over n training points. The loss is
# quadratic in A, so gradient flow is solved exactly in the eigenbasis of the feature
# covariance U = (1/n) sum E[phi phi^T] (p x p): the mode of eigenvalue lambda relaxes on the
# timescale psi_p / (2 Delta_t lambda), psi_p = p / d. (Time tau as in cdlite/theory/dynamics.py,
# which also maps it to Bonnaire et al.'s clock.)
#
# U and the regression targets are estimated by Monte Carlo with 8 p noisy samples each.

# %%
d, p = lesson.pick((32, 1024), (8, 128))
t = 0.01
ns = (2 * d, 4 * d, 8 * d)  # n > d so that a memorization bulk exists; p / n = 16, 8, 4
n_mc = 8 * p
rng = make_rng(0)
W = make_features(rng, p, d)  # (p, d), fixed
X = gaussian_data(rng, max(ns), d)  # (n, d): nested training sets X[:n]
c = ge_constants(t)  # the Gaussian-equivalence constants of tanh at this t
pop = mc_regressions(gaussian_data(rng, n_mc, d), W, t, rng, n_mc,
                     {"dsm": dsm_target(t), "score": score_target()})  # fresh data: the test loss
taus = np.geomspace(1, 1e9, lesson.pick(300, 60))
print(f"d = {d}, p = {p}, t = {t}, n = {ns}; Delta_t = {1 - math.exp(-2 * t):.4f}")

curves = {}
for n in ns:
    fit = mc_regressions(X[:n], W, t, rng, n_mc, {"dsm": dsm_target(t)})["dsm"]
    train = mc_regressions(X[:n], W, t, rng, n_mc, {"dsm": dsm_target(t)})["dsm"]  # fresh noise
    lam, Q = eigh_desc(fit.U)  # eigenvalues in decreasing order
    flow = GradientFlow.from_regression(fit, eig=(lam, Q))
    train_loss, test_loss = flow.losses(taus, train), flow.losses(taus, pop["dsm"])
    gap_inf = (flow.losses([math.inf], pop["dsm"]) - flow.losses([math.inf], train))[0]
    score_error = flow.losses(taus, pop["score"])
    curves[n] = {"lam": lam, "train": train_loss, "test": test_loss, "score": score_error,
                 "tau_gen": tau_gen(taus, score_error),
                 "tau_mem": tau_mem(taus, test_loss - train_loss, gap_inf, frac=0.1),
                 "parts": split_bulks(p, d, n), "edges": mem_bulk_edges(c, p / d, n / d)}
    k = curves[n]
    lo, hi = k["edges"]
    print(f"n = {n:4d}: generalization bulk median {np.median(lam[k['parts']['gen']]):.3g} "
          f"(predicted scale {gen_bulk_scale(c, p / d):.3g}); memorization bulk "
          f"[{lam[n - 1]:.3g}, {lam[d]:.3g}] (predicted [{lo:.3g}, {hi:.3g}]); "
          f"tau_gen {k['tau_gen']:.3g}, tau_mem {k['tau_mem']:.3g}")
slope = np.polyfit(np.log(ns), np.log([curves[n]["tau_mem"] for n in ns]), 1)[0]
gens = [curves[n]["tau_gen"] for n in ns]
print(f"tau_mem grows like n^{slope:.2f}; tau_gen stays between {min(gens):.3g} and "
      f"{max(gens):.3g}")

# %% [markdown]
# ## The spectrum: three parts
#
# With p > n > d the p eigenvalues of U fall into three parts (cdlite/theory/spectrum.py):
#
# - d large ones on the scale psi_p mu_1^2, the **generalization bulk**: the directions of the
#   data itself, which carry the population score;
# - n - d middle ones, the **memorization bulk** (Marchenko-Pastur, ratio p / n, scale
#   shrinking like psi_p / psi_n): the rest of the span of the n training points, which carries
#   the sample-specific part of the empirical score;
# - p - n small ones near s_t^2, the "spike" of the d -> infinity theory (at finite d it spreads
#   into a bulk of its own): the noise part of the features, learnt last of all.
#
# Shaded: the predicted edges of the memorization bulk for each n; dotted: the predicted scale
# of the generalization bulk.

# %%
fig, ax = plt.subplots(figsize=(7, 4.2))
for i, n in enumerate(ns):
    ax.hist(np.log10(np.maximum(curves[n]["lam"], 1e-12)), bins=80, histtype="step",
            color=f"C{i}", label=f"n = {n}")
    ax.axvspan(*np.log10(curves[n]["edges"]), color=f"C{i}", alpha=0.12)
ax.axvline(np.log10(gen_bulk_scale(c, p / d)), color="k", ls=":", label="generalization scale")
ax.set(xlabel="log10 eigenvalue of U", ylabel="count", yscale="log",
       title="Spectrum of U (shaded: predicted memorization bulk)")
ax.legend(fontsize=8)
lesson.show(fig, "spectrum")

# %% [markdown]
# ## Training: first generalize, then memorize
#
# Along the flow: the training loss and the test loss (left), the error of the learnt score
# against the true one, -x for N(0, I) data (middle: its minimum is tau_gen), and the
# generalization gap test - train (right: tau_mem is the time it reaches 10% of its final
# value).
#
# **Which definition.** This lesson times tau_mem at 10% of the final gap, the onset of
# memorization, on one draw of the features and small n; its slope against n is the one printed
# above. The README's section "The random-feature theory with error bars" (`cdlite run
# rf-theory`) times it at 50% of the final gap, on 5 draws per n and n up to 512, and finds a
# smaller exponent (n^0.81 there); it also shows how the exponent moves with the definition (25%
# of the gap gives a steeper slope than 75%) and with the range of n. The two numbers measure
# different moments of the same curve: quote each with its definition.

# %%
fig, (ax_l, ax_s, ax_g) = plt.subplots(1, 3, figsize=(16, 4.2))
for i, n in enumerate(ns):
    k = curves[n]
    ax_l.loglog(taus, k["train"], color=f"C{i}", label=f"n = {n}, train")
    ax_l.loglog(taus, k["test"], "--", color=f"C{i}", label=f"n = {n}, test")
    ax_s.loglog(taus, k["score"], color=f"C{i}", label=f"n = {n}")
    ax_s.axvline(k["tau_gen"], color=f"C{i}", ls=":")
    ax_g.semilogx(taus, k["test"] - k["train"], color=f"C{i}", label=f"n = {n}")
    ax_g.axvline(k["tau_mem"], color=f"C{i}", ls=":")
ax_l.set(xlabel="training time tau", ylabel="denoising loss", title="Training and test loss")
ax_s.set(xlabel="training time tau", ylabel="score error",
         title="Score error (dotted: tau_gen)")
ax_g.set(xlabel="training time tau", ylabel="test - train", title="Gap (dotted: tau_mem)")
for ax in (ax_l, ax_s, ax_g):
    ax.legend(fontsize=7)
lesson.show(fig, "training")

fig, ax = plt.subplots(figsize=(5.5, 4))
ax.loglog(ns, [curves[n]["tau_mem"] for n in ns], "o-", label=f"tau_mem (slope {slope:.2f})")
ax.loglog(ns, [curves[n]["tau_gen"] for n in ns], "s-", label="tau_gen")
ax.set(xlabel="n training points", ylabel="training time tau", title="Two timescales")
ax.legend(fontsize=8)
lesson.show(fig, "timescales")

# %% [markdown]
# ## Questions
#
# 1. In `spectrum`, which of the three parts moves when n grows, and in which direction? Do the
#    measured memorization bulks sit inside the predicted (shaded) ranges?
# 2. In `training` (left and right), when do training and test loss separate, and how does that
#    time change with n? What does the middle panel say about stopping training at tau_gen?
# 3. In `timescales`, what slope does tau_mem have against n, and what does that predict for a
#    training set 10 times larger? Does tau_gen depend on n?
# 4. Lesson 3's teacher memorized 16 points within about a thousand steps. Using the timescale
#    rule, explain why a larger training set (n = 128 in docs/design.md §8) takes far longer.
