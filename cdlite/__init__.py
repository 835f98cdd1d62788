"""cdlite: diffusion memorization and consistency distillation in plain NumPy/CuPy."""
import os as _os

__version__ = "0.1.0"

# cdlite's matrices are small (batch 256 x width 128). On an idle 2-core laptop a second BLAS
# thread helps a little, but as soon as anything else runs (a test, a second experiment) the two
# threads wait on each other and the product gets slower than with one (benchmarks/
# bench_threads.py measures both). So cdlite asks for one BLAS thread, or for $CDLITE_THREADS,
# unless you chose a number yourself (OPENBLAS_NUM_THREADS, OMP_NUM_THREADS or MKL_NUM_THREADS).
_USER_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def blas_threads_wanted(strict: bool = True) -> int | None:
    """The BLAS thread count cdlite sets: $CDLITE_THREADS, else 1; None when the user set one
    of the BLAS libraries' own variables (their choice is kept). An invalid $CDLITE_THREADS
    raises a CdliteError, or with strict=False counts as unset (so that `import cdlite`, and
    `cdlite --version`, never fail on it: the commands that compute report it)."""
    from .errors import CdliteError
    from .settings import threads
    try:
        n = threads()
    except CdliteError:
        if strict:
            raise
        n = None
    if n is not None:
        return n
    if any(_os.environ.get(v) for v in _USER_VARS):
        return None
    return 1


def set_blas_threads(n: int) -> None:
    """Limit the BLAS libraries NumPy has loaded to `n` threads, now (threadpoolctl works at any
    time, also after NumPy was imported, as in a notebook), and in child processes (through the
    environment variables they read at start)."""
    import numpy  # noqa: F401  (loads the BLAS library that threadpoolctl then finds)
    from threadpoolctl import threadpool_limits
    for var in _USER_VARS:
        _os.environ[var] = str(n)
    threadpool_limits(limits=int(n), user_api="blas")


if blas_threads_wanted(strict=False) is not None:
    set_blas_threads(blas_threads_wanted(strict=False))

# keep freed memory for the next array of the same size (glibc; see cdlite.backend.set_allocator)
from .backend import set_allocator_at_import as _set_allocator  # noqa: E402

_set_allocator()
