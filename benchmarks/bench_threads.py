"""Why cdlite asks for one BLAS thread: time a teacher-sized matrix product (batch 256, width
128, float32) with 1 and with 2 OpenBLAS threads, each in a fresh process.

    python benchmarks/bench_threads.py
"""
import os
import subprocess
import sys

CODE = """
import numpy as np, time
rng = np.random.default_rng(0)
a = rng.standard_normal((256, 162)).astype(np.float32)
w = rng.standard_normal((162, 128)).astype(np.float32)
for _ in range(50): a @ w
t = time.perf_counter()
for _ in range(3000): a @ w
print((time.perf_counter() - t) / 3000 * 1e6)
"""

for threads in ("1", "2"):
    env = dict(os.environ, OPENBLAS_NUM_THREADS=threads, OMP_NUM_THREADS=threads,
               MKL_NUM_THREADS=threads)
    us = float(subprocess.check_output([sys.executable, "-c", CODE], env=env))
    print(f"{threads} BLAS thread(s): {us:7.1f} us per (256x162)@(162x128) float32 product")
