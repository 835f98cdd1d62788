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
# # Lesson 2: backprop by hand and the gradient check
#
# **Learning goals.** Read a layer as a forward pass that keeps a cache and a backward pass that
# turns dy into dx and parameter gradients. Check any backward pass with float64 central
# differences, and choose the step h knowing where truncation and round-off errors come from.
#
# **Time**: 20 minutes of reading, seconds to run. **Exercises**: `silu`, `linear`, `layernorm`
# (`cdlite exercise start silu exercises`, and so on).
#
# Run it as a script: `python examples/lessons/02_backprop_by_hand.py [--quick] [--out DIR]`.
# As a notebook (`pip install -e ".[course]"`; `--quick` works there too):
# `python -m cdlite.course.notebook examples/lessons/02_backprop_by_hand.py`.

# %%
import cdlite  # noqa: F401  (first: it picks one BLAS thread before NumPy is loaded)

import matplotlib.pyplot as plt
import numpy as np

from cdlite.backend import make_rng
from cdlite.course.lesson import setup
from cdlite.nn.gradcheck import check_grads, rel_error
from cdlite.nn.layers import LayerNorm, Linear, Sequential, SiLU

lesson = setup("02_backprop_by_hand")

# %% [markdown]
# ## Forward keeps a cache, backward uses it
#
# Every cdlite layer has `y, cache = layer.forward(params, x)` and
# `dx, grads = layer.backward(params, dy, cache)` (cdlite/nn/layers.py, each backward right under
# its forward). A network is the layers in order; its backward runs them in reverse, each turning
# the gradient of its output dy into the gradient of its input dx. To test a backward pass we
# need a scalar: L = sum(R * y) for a fixed random R, whose gradient with respect to y is R. So
# `backward(params, R, cache)` must return dL/dx and dL/dtheta.

# %%
B, I, H, O = 8, 3, 16, 2  # batch, input, hidden, output
net = Sequential([Linear("l1", I, H), SiLU(), LayerNorm("ln", H), Linear("l2", H, O)])
rng = make_rng(0)
params = net.init(rng, np.float64)  # gradient checks need float64: see below
params["ln.gamma"] += 0.3 * rng.standard_normal(H)  # away from the initial 1 and 0, so that
params["ln.beta"] += 0.3 * rng.standard_normal(H)   # a bug involving them would show
x = rng.standard_normal((B, I))
R = rng.standard_normal((B, O))

y, cache = net.forward(params, x)
print(f"x {x.shape} -> y {y.shape}; the caches hold, layer by layer:")
for layer, c in zip(net.layers, cache):
    parts = c if isinstance(c, tuple) else (c,)
    print(f"  {type(layer).__name__:<10} {[p.shape for p in parts]}")
dx, grads = net.backward(params, R, cache)
print(f"backward: dx {dx.shape}; " + ", ".join(f"d{k} {g.shape}" for k, g in grads.items()))


def loss():
    return float(np.sum(R * net.forward(params, x)[0]))


# %% [markdown]
# ## The gradient check
#
# `check_grads` (cdlite/nn/gradcheck.py) perturbs a few random entries of each parameter array by
# +h and -h, takes (L(theta + h) - L(theta - h)) / 2h, and compares with the backward pass by the
# relative error |a - b| / (|a| + |b|) over those entries. A correct backward gives about 1e-9
# in float64; a wrong one gives 1e-2 to 1.

# %%
errors = check_grads(loss, grads, {k: params[k] for k in net.trainable}, make_rng(1),
                     n_entries=12)
print("relative errors, correct backward: "
      + ", ".join(f"{k} {e:.1e}" for k, e in errors.items()))

# %% [markdown]
# ## Choosing h
#
# Central differences have a truncation error of order h^2 (forward differences (L(theta + h) -
# L(theta)) / h only h), and a round-off error of order eps / h, with eps the machine precision:
# 1e-16 in float64, 6e-8 in float32. Too large an h is inaccurate, too small an h is noise. We
# measure both on one weight, in float64 and in float32.

# %%
hs = np.logspace(-1, -12, lesson.pick(45, 12))
k, idx = "l1.W", (1, 2)
analytic = grads[k][idx]


def difference(h, dtype, central=True):
    p = {name: a.astype(dtype) for name, a in params.items()}
    xx, RR = x.astype(dtype), R.astype(dtype)
    L = (lambda: float(np.sum(RR * net.forward(p, xx)[0], dtype=dtype)))
    old = p[k][idx]
    p[k][idx] = old + dtype(h)
    up = L()
    p[k][idx] = old - dtype(h) if central else old
    down = L()
    return (up - down) / (2 * h if central else h)


curves = {
    "central, float64": [rel_error(difference(h, np.float64), analytic) for h in hs],
    "forward, float64": [rel_error(difference(h, np.float64, False), analytic) for h in hs],
    "central, float32": [rel_error(difference(h, np.float32), analytic) for h in hs],
}
for name, err in curves.items():
    j = int(np.argmin(err))
    print(f"{name}: smallest relative error {err[j]:.1e} at h = {hs[j]:.0e}")

# %% [markdown]
# ## A bug the check catches
#
# LayerNorm's backward has three terms, because the row's mean and variance depend on every
# input of the row. Drop the term from the mean (a classic mistake) and check again.

# %%


class LayerNormNoMeanPath(LayerNorm):
    """LayerNorm whose backward forgets that the mean depends on x (wrong on purpose)."""

    def backward(self, params, dy, cache, need_dx=True):
        xhat, rstd = cache
        grads = {self.g: (dy * xhat).sum(axis=0), self.b: dy.sum(axis=0)}
        dxhat = dy * params[self.g]
        return rstd * (dxhat - xhat * (dxhat * xhat).mean(axis=-1, keepdims=True)), grads


buggy = Sequential([Linear("l1", I, H), SiLU(), LayerNormNoMeanPath("ln", H),
                    Linear("l2", H, O)])
_, buggy_grads = buggy.backward(params, R, buggy.forward(params, x)[1])
buggy_errors = check_grads(loss, buggy_grads, {k: params[k] for k in net.trainable}, make_rng(1),
                           n_entries=12, tol=float("inf"))  # tol = inf: report, do not raise
print("relative errors, buggy LayerNorm:  "
      + ", ".join(f"{k} {e:.1e}" for k, e in buggy_errors.items()))

fig, (ax_h, ax_b) = plt.subplots(1, 2, figsize=(12, 4.5))
for name, err in curves.items():
    ax_h.loglog(hs, np.maximum(err, 1e-17), "o-", ms=3, label=name)
ax_h.invert_xaxis()
ax_h.set(xlabel="step h", ylabel="relative error against the backward pass",
         title=f"Finite differences of dL/d{k}[1, 2]")
ax_h.legend(fontsize=8)
names = list(errors)
pos = np.arange(len(names))
ax_b.bar(pos - 0.2, [max(errors[n], 1e-17) for n in names], 0.4, label="correct backward")
ax_b.bar(pos + 0.2, [max(buggy_errors[n], 1e-17) for n in names], 0.4,
         label="LayerNorm without the mean path")
ax_b.axhline(1e-5, color="k", ls="--", lw=1, label="check_grads' tolerance 1e-5")
ax_b.set(yscale="log", xticks=pos, ylabel="relative error (12 entries per array)",
         title="Gradient check per parameter array, h = 1e-6")
ax_b.set_xticklabels(names, rotation=30)
ax_b.legend(fontsize=8)
lesson.show(fig, "gradient_check")

# %% [markdown]
# ## Questions
#
# 1. In `gradient_check` (left), at which h is the central difference in float64 most accurate,
#    and how accurate? Why does its error grow again for smaller h?
# 2. Same panel: the forward difference's error falls with a different slope for large h. Which
#    slope, and why does its best h differ from the central difference's?
# 3. What is the best relative error float32 reaches? Why do cdlite's gradient checks run in
#    float64 although training runs in float32?
# 4. Right panel: which parameter arrays does the LayerNorm bug spoil, and which does it leave
#    right? Explain with the order in which backward visits the layers.
