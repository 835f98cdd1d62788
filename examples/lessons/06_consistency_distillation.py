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
# # Lesson 6: one CD step, then a student
#
# **Learning goals.** Follow one step of consistency distillation (Song et al. 2023, Algorithm 2)
# line by line: the pair of points on one ODE trajectory, the student and its EMA target, the
# stop-gradient. Check the boundary condition f(x, sigma_min) = x. Distill a memorizing teacher
# into a one-step student and compare their samples.
#
# **Time**: 30 minutes; the script takes 10-20 s on a laptop. **Exercise**: `cd_loss`.
#
# Run it as a script (`--quick` and `--out DIR` optional):
# `python examples/lessons/06_consistency_distillation.py`.
# As a notebook (`pip install -e ".[course]"`; `--quick` works there too):
# `python -m cdlite.course.notebook examples/lessons/06_consistency_distillation.py`.

# %%
import cdlite  # noqa: F401  (first: it picks one BLAS thread before NumPy is loaded)

import matplotlib.pyplot as plt
import numpy as np

from cdlite.backend import make_rng, randint, randn
from cdlite.course.lesson import setup
from cdlite.data import make_dataset
from cdlite.diffusion import EDMDenoiser, TeacherConfig, generate, karras_sigmas, train_teacher
from cdlite.distill import (ConsistencyFunction, DistillConfig, cd_loss, distance, distill,
                            sample_consistency, teacher_ode_step)
from cdlite.metrics import chance_level, mean_loglik, memorization_fraction
from cdlite.nn.networks import build_network
from cdlite.nn.optim import copy_params

lesson = setup("06_consistency_distillation")

# %% [markdown]
# ## A teacher that memorizes
#
# The teacher of lesson 3: 16 points, MLP with Fourier features, 4,000 Adam steps. It is frozen
# from here on; CD only ever calls its denoiser D(x, sigma).

# %%
sigma_min, sigma_max, N, mu = 0.002, 20.0, 18, 0.95
m = lesson.pick(2000, 200)
ds = make_dataset("gaussians", n_train=16, seed=0)
net = build_network("mlp", d=2, hidden=128, depth=3, input_fourier=32, input_fourier_scale=2.0)
teacher_net = EDMDenoiser(net, ds.sigma_data)
trained = train_teacher(teacher_net, net.init(make_rng(0)), ds.train,
                        TeacherConfig(steps=lesson.pick(4000, 150), lr=2e-3), make_rng(0))
teacher = teacher_net.bind(trained.ema)  # D(x, sigma), frozen

# %% [markdown]
# ## One CD step, line by line
#
# The student is a *consistency function* f_theta(x, sigma) = c_skip'(sigma) x +
# c_out'(sigma) F_theta(c_in x, c_noise), with c_skip'(sigma_min) = 1 and c_out'(sigma_min) = 0:
# f(x, sigma_min) = x whatever the weights. It has the teacher's architecture and starts from the
# teacher's weights. CD trains it so that f gives the same answer at two neighbouring points of
# one teacher ODE trajectory:
#
# 1. x from the training set, n uniform in 1..N-1, z ~ N(0, I) (lines 3-4 of Algorithm 2);
# 2. x_{n+1} = x + t_{n+1} z, a point at noise level t_{n+1} (line 4);
# 3. x_hat_n: one Heun step of the *teacher's* ODE from t_{n+1} down to t_n (line 5);
# 4. loss d(f_theta(x_{n+1}, t_{n+1}), f_theta_minus(x_hat_n, t_n)) with the EMA target
#    theta_minus held constant (the stop-gradient) (line 6); then theta and theta_minus update.

# %%
student = ConsistencyFunction(net, ds.sigma_data, sigma_min)
params = copy_params(trained.ema)  # theta <- the teacher's weights
target = copy_params(params)  # theta_minus <- theta (line 1)
grid = karras_sigmas(N, sigma_min, sigma_max, dtype=np.float32)[:-1][::-1].copy()  # ascending

B = 6
rng = make_rng(1)
x = ds.train[randint(rng, 0, ds.n, B)]  # (B, d)
idx = randint(rng, 0, N - 1, B)  # 0-based n: t_n = grid[idx], t_{n+1} = grid[idx + 1]
t_n, t_next = grid[idx][:, None], grid[idx + 1][:, None]  # (B, 1) columns
z = randn(rng, x.shape)
x_next = x + t_next * z
x_hat = teacher_ode_step(teacher, x_next, t_next, t_n, solver="heun")
f, cache = student.forward(params, x_next, t_next[:, 0])
f_target, _ = student.forward(target, x_hat, t_n[:, 0])  # no cache kept: no gradient
loss, df = distance(f, f_target, "l2")
grads = student.backward(params, df, cache)
for name, a in [("x", x), ("t_n", t_n), ("t_{n+1}", t_next), ("x_{n+1}", x_next),
                ("x_hat_n", x_hat), ("f_theta(x_{n+1}, t_{n+1})", f),
                ("f_theta_minus(x_hat_n, t_n)", f_target)]:
    print(f"{name:<28} {str(a.shape):<8} first row {np.array2string(a[0], precision=3)}")
print(f"loss {loss:.5f}; {len(grads)} gradient arrays, e.g. out.W {grads['out.W'].shape}")
print("per row, t_{n+1} and the teacher's move |x_hat_n - x_{n+1}|: "
      + ", ".join(f"{t:.3g}: {v:.3g}" for t, v in zip(t_next[:, 0],
                                                    np.linalg.norm(x_hat - x_next, axis=1))))

rng = make_rng(1)  # the library's cd_loss makes the same draws from the same generator
loss_lib, _ = cd_loss(student, params, target, teacher, ds.train[randint(rng, 0, ds.n, B)], grid,
                      rng)
print(f"cdlite.distill.cd_loss on the same draws: {loss_lib:.5f}")
f_min, _ = student.forward(params, x, np.full(B, sigma_min, np.float32))
print(f"boundary condition: max |f(x, sigma_min) - x| = {np.abs(f_min - x).max():.1e}")

# %% [markdown]
# ## Distillation
#
# `distill` repeats the step with batches of 256, Adam (lr 2e-4) and the target's EMA mu = 0.95,
# for 2,000 steps. Every 250 steps we draw one-step samples x = f(sigma_max z, sigma_max) and
# measure their f_mem.

# %%


def one_step_samples(p, n_samples=m):
    return generate(student.bind(p), n_samples, 2, [sigma_max], make_rng(3),
                    sampler=sample_consistency)[0]


def on_eval(step, p):
    return {"f_mem": memorization_fraction(one_step_samples(p, 1000), ds.train)["f_mem"]}


cd_steps = lesson.pick(2000, 40)
cfg = DistillConfig(steps=cd_steps, lr=2e-4, N=N, mu=mu, eval_every=lesson.pick(250, 20))
result = distill(teacher, student, params, ds.train, cfg, make_rng(4), sigma_min=sigma_min,
                 sigma_max=sigma_max, on_eval=on_eval)
print("student f_mem during CD: "
      + ", ".join(f"{h['step']}: {h['f_mem']:.2f}" for h in result.history))

# %% [markdown]
# ## Teacher against student
#
# Same starting noise for all. The teacher with 18 Heun steps (35 evaluations), the teacher with
# one Euler step (1 evaluation, the student's cost), the student with one step and with two
# (re-noised to tau = 1 in between, Algorithm 1 of Song et al.).

# %%
chance = chance_level(ds.sample_true(m, make_rng(5)), ds.train)["f_mem"]
samples = {
    "teacher, Heun": generate(teacher, m, 2, karras_sigmas(18, sigma_min, sigma_max),
                              make_rng(3)),
    "teacher, 1 Euler step": generate(teacher, m, 2, karras_sigmas(1, sigma_min, sigma_max),
                                      make_rng(3), sampler="euler"),
    "student, 1 step": generate(student.bind(result.params), m, 2, [sigma_max], make_rng(3),
                                sampler=sample_consistency),
    "student, 2 steps": generate(student.bind(result.params), m, 2, [sigma_max, 1.0],
                                 make_rng(3), sampler=sample_consistency),
}
print(f"chance level f_mem {chance:.3f}; log-likelihood of fresh samples "
      f"{mean_loglik(ds.sample_true(m, make_rng(5)), ds.mixture):.2f}")
print(f"{'':>22} {'NFE':>4} {'f_mem':>6} {'coverage':>9} {'log-lik':>8}")
# layout="constrained" leaves room for the suptitle above the square panels (tight_layout does not)
fig, axes = plt.subplots(1, 4, figsize=(16, 4.3), sharex=True, sharey=True,
                         layout="constrained")
for ax, (name, (xs, nfe)) in zip(axes, samples.items()):
    r = memorization_fraction(xs, ds.train)
    ll = mean_loglik(xs, ds.mixture)
    print(f"{name:>22} {nfe:4d} {r['f_mem']:6.3f} {r['coverage']:9.3f} {ll:8.2f}")
    ax.scatter(*ds.train.T, s=60, facecolors="none", edgecolors="k")
    ax.scatter(*xs[~r["memorized"]].T, s=2, alpha=0.4, color="tab:blue")
    ax.scatter(*xs[r["memorized"]].T, s=2, alpha=0.4, color="tab:red")
    ax.set(title=f"{name} (NFE {nfe})\nf_mem {r['f_mem']:.2f}, log-lik {ll:.2f}",
           xlim=(-4, 4), ylim=(-4, 4), aspect="equal")
fig.suptitle(f"Red: memorized samples (d1/d2 < 1/3); circles: training points; chance f_mem "
             f"{chance:.2f}")
lesson.show(fig, "samples")

fig, (ax_l, ax_m) = plt.subplots(1, 2, figsize=(12, 4))
window = max(1, cd_steps // 40)
ax_l.plot(np.convolve(result.losses, np.ones(window) / window, mode="valid"))
ax_l.set(xlabel="CD step", ylabel="CD loss", yscale="log",
         title=f"CD loss (moving average over {window} steps)")
ax_m.plot([h["step"] for h in result.history], [h["f_mem"] for h in result.history], "o-",
          label="student, 1 step")
teacher_f_mem = memorization_fraction(samples["teacher, Heun"][0], ds.train)["f_mem"]
ax_m.axhline(teacher_f_mem, color="tab:red", ls="--", label="teacher, Heun")
ax_m.axhline(chance, color="k", ls=":", label="chance level")
ax_m.set(xlabel="CD step", ylabel="f_mem", ylim=(0, 1.05), title="Memorization during CD")
ax_m.legend(fontsize=8)
lesson.show(fig, "distillation")

# %% [markdown]
# ## Questions
#
# 1. In the printed step, does the teacher move x_{n+1} further at large or at small t_{n+1}?
#    What is max |f(x, sigma_min) - x|, and why exactly that value?
# 2. In `distillation` (right), what is the student's f_mem at the start of CD (it has the
#    teacher's weights, read as a one-step sampler), and where does it end? Is it still moving?
# 3. In `samples`, compare the student with one step against the teacher with one Euler step:
#    same cost, what differs in f_mem and in log-likelihood?
# 4. Does the second student step put memorization back? By how much, compared with the teacher?
