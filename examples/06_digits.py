"""Memorization on images: a teacher on 32 of the 8x8 digits, then a briefly distilled student.

The data are vectors of d = 64 pixels in [-1, 1]. A plain MLP (3 x 256, no Fourier features: in
64-D the plain network is already flexible enough) is trained as an EDM teacher on n = 32 images.
Its Heun samples are shown next to their nearest training images, with f_mem beside the chance
level (held-out digits scored against the same 32). Then CD distills it into a one-step student
for a short while, and the same is shown for the student. Without --quick this takes about 1-2
minutes on 2 cores (the teacher needs several thousand steps to memorize).

    python examples/06_digits.py [--quick] [--out examples_out/]
"""
import cdlite  # noqa: F401  (first: it picks one BLAS thread before NumPy is loaded)

import argparse
import pathlib

import matplotlib

matplotlib.use("Agg")  # write PNG files; no window needed
import matplotlib.pyplot as plt
import numpy as np

from cdlite.backend import make_rng
from cdlite.data import make_dataset
from cdlite.diffusion import EDMDenoiser, TeacherConfig, generate, karras_sigmas, train_teacher
from cdlite.distill import ConsistencyFunction, DistillConfig, distill, sample_consistency
from cdlite.metrics import chance_level, memorization_fraction
from cdlite.nn.networks import build_network
from cdlite.nn.optim import copy_params

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--quick", action="store_true", help="short training, for the tests")
parser.add_argument("--out", default="examples_out", help="folder for the figure")
args = parser.parse_args()
out = pathlib.Path(args.out)
out.mkdir(parents=True, exist_ok=True)

t_steps, cd_steps, m, heun_N = (200, 20, 64, 10) if args.quick else (8000, 1000, 500, 18)
sigma_min, sigma_max = 0.002, 20.0
ds = make_dataset("digits", n_train=32, n_test=500, seed=0)  # sigma_data = 0.5 for [-1, 1]
net = build_network("mlp", d=ds.d, hidden=256, depth=3)
rng = make_rng(0)
# In 64-D distances concentrate: a held-out digit is almost never 3x closer to one training image
# than to the next, so the chance level is ~0 here, unlike in 2-D (examples 02, 05).
held_out = chance_level(ds.test, ds.train)
chance = held_out["f_mem"]
print(f"digits: n = {ds.n} training images of {ds.image_shape}, d = {ds.d}")
print(f"held-out digits: f_mem = {chance:.3f} (the chance level), median distance to the nearest "
      f"training image {np.median(held_out['d1']):.2f}")
heun = karras_sigmas(heun_N, sigma_min, sigma_max)

# --- the teacher ----------------------------------------------------------------------------------
teacher = EDMDenoiser(net, ds.sigma_data)


def teacher_f_mem(step, params):
    x, _ = generate(teacher.bind(params), 200, ds.d, heun, make_rng(3))
    f_mem = memorization_fraction(x, ds.train)["f_mem"]
    print(f"  teacher step {step:6d}: f_mem {f_mem:.3f} (200 samples)", flush=True)
    return {"f_mem": f_mem}


cfg = TeacherConfig(steps=t_steps, lr=1e-3, eval_every=max(t_steps // 5, 1))
result = train_teacher(teacher, net.init(rng), ds.train, cfg, rng, on_eval=teacher_f_mem)
D = teacher.bind(result.ema)

# --- the student: a short distillation, starting from the teacher's weights -----------------------
student = ConsistencyFunction(net, ds.sigma_data, sigma_min)
# lr 1e-4 and mu 0.95, the settings of the `digits` recipe (cdlite/experiments/recipes.py).
cd = distill(D, student, copy_params(result.ema), ds.train,
             DistillConfig(steps=cd_steps, lr=1e-4, N=18, mu=0.95), rng,
             sigma_min=sigma_min, sigma_max=sigma_max)

# --- samples beside their nearest training images -------------------------------------------------
samples = {
    "teacher (Heun)": generate(D, m, ds.d, heun, make_rng(2))[0],
    "student (1 step)": generate(student.bind(cd.ema), m, ds.d, [sigma_max], make_rng(2),
                                 sampler=sample_consistency)[0],
}


def strip(images, gap=1):
    """Images (k, h, w) side by side, `gap` pixels apart, as one array for imshow."""
    k, h, w = images.shape
    canvas = np.zeros((h, k * (w + gap) - gap))  # 0 = mid grey between white -1 and black +1
    for i, im in enumerate(images):
        canvas[:, i * (w + gap):i * (w + gap) + w] = im
    return canvas


k = 10  # the first k samples: not chosen, so the figure is an honest draw
fig, axes = plt.subplots(2, 1, figsize=(9, 4.6))
for ax, (name, x) in zip(axes, samples.items()):
    r = memorization_fraction(x, ds.train)
    print(f"{name:>18}: f_mem {r['f_mem']:.3f} (chance {chance:.3f}), coverage "
          f"{r['coverage']:.3f}, median nearest distance {np.median(r['d1']):.2f}")
    top = strip(ds.to_images(np.clip(x[:k], -1, 1)))  # generated
    bottom = strip(ds.to_images(ds.train[r["idx1"][:k]]))  # its nearest training image
    ax.imshow(np.vstack([top, np.zeros((1, top.shape[1])), bottom]), cmap="gray_r", vmin=-1,
              vmax=1)
    ax.set_title(f"{name}: f_mem {r['f_mem']:.2f} (chance {chance:.2f}); "
                 f"top: samples, bottom: nearest training image", fontsize=10)
    ax.axis("off")
# Read f_mem with the distances: a sample much closer to a training image than held-out digits
# are, yet above the 1/3 ratio, is a noisy near-copy that the test does not count. Look at the
# figure too.
fig.tight_layout()
path = out / "06_digits.png"
fig.savefig(path, dpi=90)
print(f"figure: {path}")
