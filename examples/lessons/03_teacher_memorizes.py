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
# # Lesson 3: training a teacher, watching it memorize
#
# **Learning goals.** Train an EDM denoiser with the weighted loss lambda(sigma) |D - x|^2 and
# follow what it learns: the memorization fraction f_mem of its samples against the chance level,
# and the generalization gap (test loss minus training loss). See that the training loss alone
# does not tell you the model memorizes.
#
# **Time**: 20 minutes; the script takes 10-20 s on a laptop. **Exercise**: `edm_loss`
# (the loss and its gradient with respect to the network's output).
#
# Run it as a script: `python examples/lessons/03_teacher_memorizes.py [--quick] [--out DIR]`.
# As a notebook (`pip install -e ".[course]"`; `--quick` works there too):
# `python -m cdlite.course.notebook examples/lessons/03_teacher_memorizes.py`.

# %%
import cdlite  # noqa: F401  (first: it picks one BLAS thread before NumPy is loaded)

import matplotlib.pyplot as plt
import numpy as np

from cdlite.backend import make_rng
from cdlite.course.lesson import setup
from cdlite.data import make_dataset
from cdlite.diffusion import EDMDenoiser, TeacherConfig, generate, karras_sigmas, train_teacher
from cdlite.metrics import chance_level, generalization_gap, memorization_fraction
from cdlite.nn.networks import build_network

lesson = setup("03_teacher_memorizes")

# %% [markdown]
# ## The set-up
#
# n = 16 points from the 8-Gaussian mixture of lesson 1. The network F is an MLP (3 hidden layers
# of 128, SiLU) on [c_in y, 32 random Fourier features of c_in y, an embedding of c_noise]. The
# Fourier features matter: a plain MLP is too smooth to put a sharp peak on each of 16 isolated
# points (its spectral bias): without them this teacher reaches f_mem 0.67 instead of 0.95
# (docs/design.md §8).
#
# The training loss (cdlite/diffusion/loss.py) draws ln(sigma) ~ N(-1.2, 1.2^2) and noise n per
# example and averages lambda(sigma) |D(x + sigma n, sigma) - x|^2, lambda = 1 / c_out^2.
# Every `every` steps we sample 18 Heun steps from sigma_max = 20 and measure:
#
# - f_mem: the fraction of samples whose nearest training point is 3 times closer than the
#   second nearest (lesson 7 takes this test apart), next to the **chance level**: f_mem of
#   fresh samples of the true mixture against the same 16 points;
# - the **generalization gap**: the plain denoising error on 500 held-out points minus on the 16
#   training points, at sigma = 0.1 and 0.5, with the same noise for both sets.

# %%
steps, every, m = lesson.pick(4000, 150), 50, lesson.pick(1000, 200)
ds = make_dataset("gaussians", n_train=16, seed=0)
net = build_network("mlp", d=2, hidden=128, depth=3, input_fourier=32, input_fourier_scale=2.0)
teacher = EDMDenoiser(net, ds.sigma_data)
sigmas = karras_sigmas(18, 0.002, 20.0)  # the sampler's grid, 35 network evaluations
gap_sigmas = [0.1, 0.5]
held_out = ds.test[:500]
chance = chance_level(ds.sample_true(m, make_rng(1)), ds.train)["f_mem"]
print(f"n = {ds.n}, sigma_data = {ds.sigma_data:.3f}, chance level f_mem = {chance:.3f}")

snapshots = {}


def on_eval(step, params):
    D = teacher.bind(params)
    x, _ = generate(D, m, 2, sigmas, make_rng(2))  # the same noise at every evaluation
    snapshots[step] = x
    r = memorization_fraction(x, ds.train)
    g = generalization_gap(D, ds.train, held_out, gap_sigmas, make_rng(3))
    return {"f_mem": r["f_mem"], "coverage": r["coverage"],
            "gap": [-v for v in g["gap"]],  # test minus train: > 0 when training points fit better
            "rel_gap": [-v / t for v, t in zip(g["gap"], g["test_loss"])]}  # gap / test error


result = train_teacher(teacher, net.init(make_rng(0)), ds.train,
                       TeacherConfig(steps=steps, lr=2e-3, eval_every=every), make_rng(0),
                       on_eval=on_eval)
print(f"{'step':>5} {'loss':>7} {'f_mem':>6} {'coverage':>9} "
      + " ".join(f"{'gap@' + str(s):>8}" for s in gap_sigmas))
for h in result.history:
    if h["step"] > 300 and h["step"] % 500:
        continue  # the table shows the start closely, then every 500 steps
    window = result.losses[max(0, h["step"] - every):h["step"]] or [np.nan]
    print(f"{h['step']:5d} {np.mean(window):7.4f} {h['f_mem']:6.3f} {h['coverage']:9.3f} "
          + " ".join(f"{v:8.4f}" for v in h["gap"]))
last = result.history[-1]
print("relative gap at the end, (test - train) / test: "
      + ", ".join(f"sigma {s}: {v:.2f}" for s, v in zip(gap_sigmas, last["rel_gap"])))

# %%
shown = sorted({s for s in (0, 100, 300, 1000, steps) if s in snapshots})
fig, axes = plt.subplots(1, len(shown), figsize=(3.2 * len(shown), 3.6), sharex=True, sharey=True,
                         layout="constrained")
for ax, step in zip(axes, shown):
    h = next(h for h in result.history if h["step"] == step)
    ax.scatter(*ds.train.T, s=60, facecolors="none", edgecolors="k")
    ax.scatter(*snapshots[step].T, s=2, alpha=0.4, color="tab:blue")
    ax.set(title=f"step {step}: f_mem {h['f_mem']:.2f}", xlim=(-4, 4), ylim=(-4, 4),
           aspect="equal")
fig.suptitle(f"Teacher samples (Heun, 35 evaluations); circles: the 16 training points; "
             f"chance f_mem {chance:.2f}")
lesson.show(fig, "samples")

steps_seen = [h["step"] for h in result.history]
fig, (ax_m, ax_l, ax_g) = plt.subplots(1, 3, figsize=(16, 4.2))
ax_m.plot(steps_seen, [h["f_mem"] for h in result.history], "o-", label="f_mem")
ax_m.plot(steps_seen, [h["coverage"] for h in result.history], "s--", label="coverage")
ax_m.axhline(chance, color="k", ls=":", label="chance level")
ax_m.set(xlabel="training step", ylim=(0, 1.05), title="Memorization of the samples")
ax_m.legend(fontsize=8, loc="lower right")
window = 50
smooth = np.convolve(result.losses, np.ones(window) / window, mode="valid")
ax_l.plot(np.arange(window, len(result.losses) + 1), smooth)
ax_l.set(xlabel="training step", ylabel="weighted loss", yscale="log",
         title=f"Training loss (moving average over {window} steps)")
for j, s in enumerate(gap_sigmas):
    ax_g.plot(steps_seen, [h["gap"][j] for h in result.history], "o-", label=f"sigma = {s}")
ax_g.axhline(0, color="k", lw=0.5)
ax_g.set(xlabel="training step", ylabel="test error - training error",
         title="Generalization gap")
ax_g.legend(fontsize=8)
lesson.show(fig, "curves")

# %% [markdown]
# ## Questions
#
# 1. In `curves` (left), at which step does f_mem first pass 0.5, and where does it end compared
#    with the chance level? What does coverage near 1 rule out?
# 2. Compare the three panels of `curves`: does the generalization gap open before, with, or
#    after f_mem rises? In absolute terms the gap is larger at sigma = 0.5 than at 0.1 (right
#    panel); the relative gap printed under the table, (test - train) / test, says the opposite.
#    Why is the absolute error larger at the larger sigma for both sets, and why does the small
#    sigma show the memorization more, relative to its error?
# 3. The training loss flattens early while f_mem keeps rising. Why can the loss not tell you
#    that the model is memorizing? (Hint: what is the loss of a perfect memorizer? Lesson 4.)
# 4. In `samples`, what do the untrained model's samples (step 0) look like, and why? (Its
#    output layer starts at zero, so D = c_skip y.)
