"""Why cdlite asks for one BLAS thread: time a teacher-sized matrix product (batch 256, width
128, float32) with 1 and with 2 OpenBLAS threads, each in a fresh process, on an idle machine and
with one other busy process (a test run, a browser, a second experiment) on the same 2 cores.

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
for _ in range(2000): a @ w
print((time.perf_counter() - t) / 2000 * 1e6)
"""


def measure(threads: str) -> float:
    env = dict(os.environ, OPENBLAS_NUM_THREADS=threads, OMP_NUM_THREADS=threads,
               MKL_NUM_THREADS=threads)
    return float(subprocess.check_output([sys.executable, "-c", CODE], env=env))


print(f"{os.cpu_count()} cores; microseconds per (256x162)@(162x128) float32 product")
for label in ("idle", "one busy process"):
    busy = (subprocess.Popen([sys.executable, "-c", "while True: pass"]) if label != "idle"
            else None)
    try:
        one, two = measure("1"), measure("2")
    finally:
        if busy:
            busy.kill()
    print(f"{label:>17}: 1 thread {one:8.1f} us   2 threads {two:8.1f} us")
