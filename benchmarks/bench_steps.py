"""Cost of one training step: teacher (EDM loss, forward + backward + Adam) and CD student
(Heun teacher step = 2 teacher evaluations, target, student forward + backward), for the
toy-gaussians network (3 x 128, 32 Fourier frequencies) at batch 256, float32.

    python benchmarks/bench_steps.py
"""
import cdlite  # noqa: F401  (first: one BLAS thread)

import time

import numpy as np

from cdlite.backend import make_rng
from cdlite.diffusion import EDMDenoiser, edm_loss
from cdlite.distill import ConsistencyFunction, cd_loss
from cdlite.diffusion.grids import karras_sigmas
from cdlite.nn.networks import build_network
from cdlite.nn.optim import Adam, copy_params


def timed(fn, n=300):
    for _ in range(20):
        fn()
    t = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t) / n * 1e3


rng = make_rng(0)
net = build_network("mlp", d=2, hidden=128, depth=3, input_fourier=32)
params = net.init(rng)
x = rng.standard_normal((256, 2)).astype(np.float32)
teacher = EDMDenoiser(net, 1.45)
opt = Adam(1e-3)


def teacher_step():
    _, g = edm_loss(teacher, params, x, rng)
    opt.step(params, g)


student = ConsistencyFunction(net, 1.45, 0.002)
sp, target = copy_params(params), copy_params(params)
grid = karras_sigmas(18, 0.002, 20.0)[:-1][::-1].copy()
D = teacher.bind(params)


def cd_step():
    _, g = cd_loss(student, sp, target, D, x, grid, rng)
    opt.step(sp, g)


t1, t2 = timed(teacher_step), timed(cd_step)
print(f"teacher step: {t1:.2f} ms   CD step: {t2:.2f} ms   ratio {t2 / t1:.2f}")
