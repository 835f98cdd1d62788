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
# # Lesson 7: measuring memorization honestly
#
# **Learning goals.** Read f_mem, the nearest-neighbour ratio test, only next to the figures
# that give it meaning: the chance level (f_mem of perfectly fresh samples), the coverage (how
# many training points are copied), a confidence interval, sample quality, and the control with
# the same number of network evaluations. Know how each depends on n, d, the threshold and the
# number of samples.
#
# **Time**: 20 minutes; the script takes a few seconds. **Exercise**: `f_mem`.
#
# Run it as a script: `python examples/lessons/07_measuring_memorization.py [--quick] [--out DIR]`.
# As a notebook (`pip install -e ".[course]"`; `--quick` works there too):
# `python -m cdlite.course.notebook examples/lessons/07_measuring_memorization.py`.

# %%
import cdlite  # noqa: F401  (first: it picks one BLAS thread before NumPy is loaded)

import matplotlib.pyplot as plt
import numpy as np

from cdlite.backend import make_rng
from cdlite.course.lesson import setup
from cdlite.data import make_dataset
from cdlite.diffusion import EmpiricalOptimalDenoiser, generate, karras_sigmas
from cdlite.metrics import (MEM_THRESHOLD, chance_level, mean_loglik, memorization_fraction,
                            nn_ratios)

lesson = setup("07_measuring_memorization")

# %% [markdown]
# ## Five sample sets with known answers
#
# A sample x is memorized when |x - a_(1)| / |x - a_(2)| < 1/3, a_(1) and a_(2) its nearest and
# second-nearest training points. We score sets whose truth we know, against n = 16 points:
#
# - the **perfect memorizer**: Heun samples of the empirical optimum D* (lesson 4);
# - **fresh true samples** of the mixture: no memorization at all, yet some land close to a
#   training point by chance: their f_mem is the **chance level**;
# - **half and half**: 50% of each, a model that copies half of the time;
# - a **collapse**: every sample next to the same training point;
# - the **one-step control**: D* with one Euler step, the cost of a one-step student (lesson 5).
#
# Beside f_mem: its bootstrap 95% interval, the coverage (the fraction of training points that
# are the nearest neighbour of a memorized sample) and the mean log-likelihood under the true
# mixture. The "excess" (f_mem - chance) / (1 - chance) is a rough correction of this lesson's
# own: the fraction of samples memorized beyond what chance explains, if a set is a mixture of
# copies and fresh samples.

# %%
m = lesson.pick(4000, 400)
ds = make_dataset("gaussians", n_train=16, seed=0)
D_star = EmpiricalOptimalDenoiser(ds.train)
grid = karras_sigmas(18, 0.002, 20.0)
rng = make_rng(0)
copies, _ = generate(D_star, m, 2, grid, make_rng(1))
fresh = ds.sample_true(m, make_rng(2))
sets = {
    "perfect memorizer (D*)": copies,
    "fresh true samples": fresh,
    "half and half": np.concatenate([copies[:m // 2], fresh[m // 2:]]),
    "collapse onto one point": ds.train[0] + 0.01 * rng.standard_normal((m, 2)),
    "one-step control (D*, Euler)": generate(D_star, m, 2, karras_sigmas(1, 0.002, 20.0),
                                             make_rng(1), sampler="euler")[0],
}
chance = chance_level(fresh, ds.train)["f_mem"]
print(f"{'':>29} {'f_mem':>6} {'95% interval':>15} {'excess':>7} {'coverage':>9} {'log-lik':>8}")
results = {}
for name, x in sets.items():
    r = results[name] = memorization_fraction(x.astype(np.float32), ds.train, rng=make_rng(3))
    lo, hi = r["f_mem_ci"]
    excess = (r["f_mem"] - chance) / (1 - chance)
    print(f"{name:>29} {r['f_mem']:6.3f} [{lo:5.3f}, {hi:5.3f}] {excess:7.3f} "
          f"{r['coverage']:9.3f} {mean_loglik(x, ds.mixture):8.2f}")
print(f"chance level (fresh samples): {chance:.3f}")

# %% [markdown]
# ## The chance level depends on n and d
#
# In 2-D an isolated training point owns a large zone where d1/d2 < 1/3 (for two points at
# distance D it is a disk of radius 3D/8), and fresh samples fall into it. We measure the chance
# level for several n in d = 2 and d = 8 (the same circle, 6 extra coordinates of pure noise),
# over 3 draws of the training set each.

# %%
ns = lesson.pick([4, 8, 16, 32, 64, 128, 256], [4, 16, 64])
chance_by_d = {}
for d in (2, 8):
    rows = []
    for n in ns:
        values = []
        for seed in range(3):
            dsn = make_dataset("gaussians", n_train=n, seed=seed, d=d)
            fresh_n = dsn.sample_true(lesson.pick(2000, 300), make_rng(10 + seed))
            values.append(chance_level(fresh_n, dsn.train)["f_mem"])
        rows.append((np.mean(values), np.min(values), np.max(values)))
    chance_by_d[d] = np.array(rows)  # (len(ns), 3): mean, min, max over the 3 training sets
    print(f"d = {d}, chance level (mean [min, max] of 3 training sets) at n = "
          + ", ".join(f"{n}: {v:.3f} [{lo:.3f}, {hi:.3f}]" for n, (v, lo, hi)
                      in zip(ns, chance_by_d[d])))

# %% [markdown]
# ## The threshold and the number of samples
#
# The threshold 1/3 is a convention (Yoon et al. 2023). The ratio histograms show how cleanly it
# separates copies from fresh samples. The bootstrap interval shrinks like 1 / sqrt(m): we
# measure its width for the half-and-half set at several m.

# %%
thresholds = np.linspace(0.05, 0.95, 19)
ratios = {name: nn_ratios(x.astype(np.float32), ds.train)["ratio"]
          for name, x in sets.items() if name in ("perfect memorizer (D*)", "fresh true samples",
                                                  "half and half")}
f_mem_at = {name: [(r < t).mean() for t in thresholds] for name, r in ratios.items()}
for t in (0.2, 1 / 3, 0.5):
    print(f"threshold {t:.3f}: f_mem " + ", ".join(f"{name} {(r < t).mean():.3f}"
                                                  for name, r in ratios.items()))
half = sets["half and half"]
ms = [m_ for m_ in (100, 300, 1000, 3000) if m_ <= m]
widths = []
for m_ in ms:
    lo, hi = memorization_fraction(half[make_rng(4).permutation(m)[:m_]].astype(np.float32),
                                   ds.train, rng=make_rng(5))["f_mem_ci"]
    widths.append(hi - lo)
print("95% interval width for the half-and-half set: "
      + ", ".join(f"m = {m_}: {w:.3f}" for m_, w in zip(ms, widths)))

fig, axes = plt.subplots(2, 2, figsize=(12, 9))
axes = axes.ravel()
ax = axes[0]
for d, color in ((2, "tab:blue"), (8, "tab:orange")):
    c = chance_by_d[d]
    ax.semilogx(ns, c[:, 0], "o-", color=color, label=f"d = {d}")
    ax.fill_between(ns, c[:, 1], c[:, 2], color=color, alpha=0.2)
ax.set(xlabel="n training points", ylabel="chance level f_mem",
       title="Chance level (band: 3 training sets)")
ax.legend(fontsize=8)
ax = axes[1]
for name, r in ratios.items():
    ax.hist(r, bins=40, range=(0, 1), alpha=0.5, label=name)
ax.axvline(MEM_THRESHOLD, color="k", ls="--", lw=1)
ax.set(xlabel="d1 / d2", ylabel="samples", yscale="log", title="Ratio histograms (n = 16)")
ax.legend(fontsize=8)
ax = axes[2]
for name, f in f_mem_at.items():
    ax.plot(thresholds, f, "o-", ms=3, label=name)
ax.axvline(MEM_THRESHOLD, color="k", ls="--", lw=1, label="1/3")
ax.set(xlabel="threshold", ylabel="f_mem", ylim=(0, 1.05), title="f_mem against the threshold")
ax.legend(fontsize=8)
ax = axes[3]
ax.loglog(ms, widths, "o-", label="measured")
ax.loglog(ms, widths[0] * np.sqrt(ms[0] / np.array(ms)), "k:", label="~ 1 / sqrt(m)")
ax.set(xlabel="m samples", ylabel="width of the 95% interval",
       title="Bootstrap interval, half-and-half set")
ax.legend(fontsize=8)
lesson.show(fig, "chance_threshold_ci")

# %% [markdown]
# ## Questions
#
# 1. In the table, which set has f_mem near 1 but a coverage of 1/16? Which has f_mem 0, and
#    what does its log-likelihood say about why? What must therefore be reported beside a
#    student's low f_mem?
# 2. The half-and-half set copies half of the time: what f_mem does it get, and does the
#    "excess" column recover the 0.5?
# 3. In `chance_threshold_ci` (first panel), how does the chance level change with n and with d?
#    What is it at n = 16 in d = 2, and how much does it vary between training sets?
# 4. Second and third panels: over which range of thresholds do copies and fresh samples stay
#    well apart? How many samples does a +-0.01 interval need (fourth panel, extrapolated)?
