"""One step of consistency distillation (Algorithm 2 of Song et al. 2023), line by line.

The teacher is the exact denoiser E[x | y] of the 8-Gaussian mixture, so nothing has to be
trained first. The script draws training points x, a grid index n and noise z, builds
x_{n+1} = x + t_{n+1} z, takes one Heun step of the teacher's ODE down to x_hat_n, evaluates the
student f_theta(x_{n+1}, t_{n+1}) and the target f_theta_minus(x_hat_n, t_n), and prints every
quantity with its shape, then the loss, one Adam step and the target's EMA update. It checks that
the library's `cd_loss` gives the same number. The figure compares the teacher's step with the
no-teacher estimate of consistency training (CT). A few seconds on 2 cores.

    python examples/04_one_cd_step.py [--quick] [--out examples_out/]
"""
import cdlite  # noqa: F401  (first: it picks one BLAS thread before NumPy is loaded)

import argparse
import pathlib

import matplotlib

matplotlib.use("Agg")  # write PNG files; no window needed
import matplotlib.pyplot as plt
import numpy as np

from cdlite.backend import make_rng, randint, randn
from cdlite.data import make_dataset
from cdlite.diffusion import gaussian_mixture_denoiser, karras_sigmas
from cdlite.distill import ConsistencyFunction, cd_loss, distance, teacher_ode_step
from cdlite.nn.networks import build_network
from cdlite.nn.optim import Adam, copy_params, ema_update

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--quick", action="store_true", help="fewer points in the figure")
parser.add_argument("--out", default="examples_out", help="folder for the figure")
args = parser.parse_args()
out = pathlib.Path(args.out)
out.mkdir(parents=True, exist_ok=True)


B, N, sigma_min, sigma_max, mu = 8, 18, 0.002, 20.0, 0.95
ds = make_dataset("gaussians", n_train=16, seed=0)
teacher = gaussian_mixture_denoiser(ds.mixture)  # exact E[x | y]: a teacher with no training
net = build_network("mlp", d=2, hidden=128, depth=3, input_fourier=32, input_fourier_scale=2.0)
student = ConsistencyFunction(net, ds.sigma_data, sigma_min)
params = net.init(make_rng(0))  # theta. (Real CD copies the teacher's weights; ours has none.)
target = copy_params(params)  # theta_minus <- theta (line 1)
# The grid ascending, t_1 = sigma_min < ... < t_N = sigma_max: Karras' grid read backwards.
grid = karras_sigmas(N, sigma_min, sigma_max, dtype=np.float32)[:-1][::-1].copy()  # (N,)
print(f"grid t_1..t_N (N = {N}): {np.array2string(grid, precision=3)}\n")

rng = make_rng(1)
x = ds.train[randint(rng, 0, ds.n, B)]  # line 3: a batch of training points, (B, d)
idx = randint(rng, 0, N - 1, B)  # line 3: n ~ U{1..N-1}, here 0-based, so t_n = grid[idx]
t_n, t_next = grid[idx][:, None], grid[idx + 1][:, None]  # (B, 1) columns broadcast over d
z = randn(rng, x.shape)  # (line 4 draws x_{t_{n+1}} ~ N(x, t_{n+1}^2 I) as x + t_{n+1} z)
x_next = x + t_next * z  # line 4: the noisy point, on the forward process at level t_{n+1}
# Line 5: one Heun step of the teacher's probability-flow ODE from t_{n+1} to t_n. This is all
# CD takes from the teacher: where the trajectory through x_{n+1} is one grid step lower.
x_hat = teacher_ode_step(teacher, x_next, t_next, t_n, solver="heun")
f, cache = student.forward(params, x_next, t_next[:, 0])  # f_theta(x_{n+1}, t_{n+1})
f_target, _ = student.forward(target, x_hat, t_n[:, 0])  # f_theta_minus(x_hat_n, t_n): constant
print(f"{'quantity':<28} {'shape':<9} first two rows")
for name, a in [("x", x), ("n (0-based index)", idx), ("t_n", t_n), ("t_{n+1}", t_next),
                ("z", z), ("x_{n+1} = x + t_{n+1} z", x_next), ("x_hat_n (teacher Heun)", x_hat),
                ("f_theta(x_{n+1}, t_{n+1})", f), ("f_theta_minus(x_hat_n, t_n)", f_target)]:
    rows = np.array2string(a[:2], precision=3, separator=", ").replace("\n", "")
    print(f"{name:<28} {str(a.shape):<9} {rows} ...")
# The output layer starts at zero, so for now f(x, t) = c_skip'(t) x, a shrunken copy of x.

# Line 6: the squared L2 distance, averaged over batch and coordinates. Its gradient flows only
# through f: the target is a fixed regression label (stop-gradient), as in Algorithm 2.
loss, df = distance(f, f_target, "l2")
grads = student.backward(params, df, cache)
print(f"\nloss d(f, f_target) = {loss:.5f};  df {df.shape};  {len(grads)} gradient arrays, "
      f"e.g. dW of the output layer {grads['out.W'].shape}")

# The library does lines 3-6 in one call; the same seed gives the same draws and the same loss.
rng = make_rng(1)
x_lib = ds.train[randint(rng, 0, ds.n, B)]
loss_lib, _ = cd_loss(student, params, target, teacher, x_lib, grid, rng)
print(f"cdlite.distill.cd_loss on the same draws: {loss_lib:.5f}  (equal: {loss == loss_lib})")

Adam(lr=2e-4).step(params, grads)  # line 7: theta <- theta - eta * (Adam direction)
ema_update(target, params, mu)  # line 8: theta_minus <- mu theta_minus + (1 - mu) theta
loss_after = distance(student.forward(params, x_next, t_next[:, 0])[0],
                      student.forward(target, x_hat, t_n[:, 0])[0])[0]
print(f"after one Adam step and the EMA update (mu = {mu}), same draws: loss {loss_after:.5f}")

# --- figure: what the teacher's step adds over consistency training ---------------------------
# CT has no teacher and takes x_hat_n = x + t_n z (the same z): a point on the forward process of
# this x, not on the ODE path through x_{n+1}. Given x_{n+1} its mean is an Euler step of the
# exact ODE, so CT is right on average but noisy: CD's arrows form a smooth field towards the
# data, CT's point back at each pair's own x.
m, rng = (60 if args.quick else 300), make_rng(2)
xs, k = ds.train[randint(rng, 0, ds.n, m)], int(np.searchsorted(grid, 1.0))  # t_{n+1} ~ 1
zs = randn(rng, xs.shape)
ys = xs + grid[k] * zs
cd_hat = teacher_ode_step(teacher, ys, np.full((m, 1), grid[k]), np.full((m, 1), grid[k - 1]))
ct_hat = xs + grid[k - 1] * zs
print(f"mean |x_hat_n(CD) - x_hat_n(CT)| at t_(n+1) = {grid[k]:.2f}: "
      f"{np.linalg.norm(cd_hat - ct_hat, axis=1).mean():.3f}")
fig, axes = plt.subplots(1, 2, figsize=(10, 5), sharex=True, sharey=True)
for ax, hat, title in [(axes[0], cd_hat, "CD: teacher Heun step"),
                       (axes[1], ct_hat, "CT: x + t_n z")]:
    ax.quiver(ys[:, 0], ys[:, 1], *(hat - ys).T, angles="xy", scale_units="xy", scale=1,
              width=0.003, color="0.5")
    ax.scatter(*ys.T, s=6, color="tab:blue", label=f"x_(n+1), t = {grid[k]:.2f}")
    ax.scatter(*hat.T, s=6, color="tab:red", label=f"x_hat_n, t = {grid[k - 1]:.2f}")
    ax.scatter(*ds.train.T, s=50, facecolors="none", edgecolors="k", label="training points")
    ax.set_title(title)
    ax.set_aspect("equal")
axes[0].legend(loc="lower left", fontsize=8)
fig.suptitle("Where the pair (x_(n+1), x_hat_n) comes from: the ODE (CD) or the noise (CT)")
fig.tight_layout()
path = out / "04_one_cd_step.png"
fig.savefig(path, dpi=90)
print(f"figure: {path}")
