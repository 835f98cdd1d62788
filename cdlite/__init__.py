"""cdlite: diffusion memorization and consistency distillation in plain NumPy/CuPy."""
import os as _os
import sys as _sys

__version__ = "0.1.0"

# cdlite's matrices are small (batch 256 x width 128). On an idle 2-core laptop a second BLAS
# thread helps a little, but as soon as anything else runs (a test, a second experiment) the two
# threads wait on each other and the product gets slower than with one (benchmarks/
# bench_threads.py measures both). So, unless you chose otherwise (set OPENBLAS_NUM_THREADS,
# OMP_NUM_THREADS or MKL_NUM_THREADS before importing), cdlite asks for one BLAS thread. This
# only works when cdlite is imported before NumPy, as the `cdlite` command and the tests do.
if "numpy" not in _sys.modules:
    for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        _os.environ.setdefault(_var, _os.environ.get("CDLITE_THREADS", "1"))
