"""Backend choice: NumPy by default, a clear error when the GPU is asked for and missing."""
import platform

import numpy as np
import pytest

from cdlite import backend
from cdlite.backend import BackendError, array_module, get_xp, randn, to_numpy
from cdlite.errors import CdliteError


def test_numpy_is_the_default(monkeypatch):
    monkeypatch.delenv("CDLITE_DEVICE", raising=False)
    assert get_xp() is np
    assert get_xp("cpu") is np
    assert array_module(np.zeros(3)) is np
    assert array_module(1.0, [1, 2]) is np


def test_environment_variable_and_bad_names(monkeypatch):
    monkeypatch.setenv("CDLITE_DEVICE", "tpu")  # read by cdlite.settings: names the variable
    with pytest.raises(CdliteError, match="CDLITE_DEVICE='tpu' is not valid"):
        get_xp()
    with pytest.raises(BackendError, match="unknown device 'tpu'"):
        get_xp("tpu")
    monkeypatch.setenv("CDLITE_DEVICE", "CPU")
    assert get_xp() is np


def test_gpu_request_without_cupy_says_how_to_install(monkeypatch):
    monkeypatch.setattr(backend, "_cupy_or_none", lambda: None)
    with pytest.raises(BackendError, match="pip install"):
        get_xp("gpu")
    assert get_xp("auto") is np  # auto falls back quietly


def test_host_noise_is_reproducible():
    a = randn(backend.make_rng(3), (4, 2))
    b = randn(backend.make_rng(3), (4, 2))
    assert a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert to_numpy(a) is a


@pytest.mark.gpu
def test_cpu_and_gpu_see_the_same_noise():
    if not backend.gpu_available():
        pytest.skip("needs CuPy and a CUDA device")
    cp = get_xp("gpu")
    a = randn(backend.make_rng(5), (8, 3), xp=cp)
    assert array_module(a) is cp
    np.testing.assert_array_equal(to_numpy(a), randn(backend.make_rng(5), (8, 3)))


def _blas_threads_after_import(env_extra: dict, numpy_first: bool = True) -> list:
    """BLAS thread counts after `import cdlite` in a fresh process (NumPy imported first, as in a
    notebook, where environment variables set afterwards no longer reach OpenBLAS)."""
    import json
    import os
    import subprocess
    import sys
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                        "CDLITE_THREADS")}
    env.update(env_extra)
    # numpy first, and its BLAS at 2 threads (the default on 2 cores, made explicit here)
    code = ("import numpy, threadpoolctl; threadpoolctl.threadpool_limits(2)\n"
            if numpy_first else "") + (
        "import cdlite, threadpoolctl, json\n"
        "print(json.dumps([i['num_threads'] for i in threadpoolctl.threadpool_info()"
        " if i['user_api'] == 'blas']))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout)


def test_import_sets_one_blas_thread_even_when_numpy_came_first():
    counts = _blas_threads_after_import({"CDLITE_THREADS": "1"})
    assert counts and all(c == 1 for c in counts)
    assert all(c == 1 for c in _blas_threads_after_import({}))


def test_import_keeps_the_users_own_blas_thread_choice():
    counts = _blas_threads_after_import({"OPENBLAS_NUM_THREADS": "2"})
    assert counts and all(c == 2 for c in counts)
    assert all(c == 2 for c in _blas_threads_after_import({"CDLITE_THREADS": "2"}))


# --- the allocator (cdlite.backend.set_allocator) --------------------------------------------

_REPORT = """
import json, resource
import numpy as np
import cdlite
from cdlite.backend import ALLOCATOR
f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(100):  # a fresh 256 KB array, freed, made again: a training step's pattern
    x = np.ones((256, 256), np.float32) * 2.0
    del x
print(json.dumps({**ALLOCATOR, "faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0}))
"""


def _fresh_process(malloc=None):
    import json
    import os
    import subprocess
    import sys
    env = {k: v for k, v in os.environ.items() if k != "CDLITE_MALLOC"}
    if malloc is not None:
        env["CDLITE_MALLOC"] = malloc
    out = subprocess.run([sys.executable, "-c", _REPORT], env=env, capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout), out.stderr


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_import_sets_the_allocator_and_freed_pages_are_reused():
    on, _ = _fresh_process()
    off, _ = _fresh_process("system")
    assert on["mode"] == "cdlite" and on["applied"] is True
    assert off["mode"] == "system" and off["applied"] is False
    # 100 arrays of 64 pages each: the default allocator faults most of them in again, the
    # setting reuses the first one's pages
    assert on["faults"] < 200 < 1000 < off["faults"], (on, off)


def test_a_bad_allocator_mode_is_one_clear_line():
    report, err = _fresh_process("bogus")
    assert report["applied"] is False and "'bogus'" in err and "CDLITE_MALLOC=system" in err
    with pytest.raises(backend.BackendError, match="unknown allocator mode 'jemalloc'"):
        backend.set_allocator("jemalloc")
