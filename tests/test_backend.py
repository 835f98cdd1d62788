"""Backend choice: NumPy by default, a clear error when the GPU is asked for and missing."""
import numpy as np
import pytest

from cdlite import backend
from cdlite.backend import BackendError, array_module, get_xp, randn, to_numpy



def test_numpy_is_the_default(monkeypatch):
    monkeypatch.delenv("CDLITE_DEVICE", raising=False)
    assert get_xp() is np
    assert get_xp("cpu") is np
    assert array_module(np.zeros(3)) is np
    assert array_module(1.0, [1, 2]) is np


def test_environment_variable_and_bad_names(monkeypatch):
    monkeypatch.setenv("CDLITE_DEVICE", "tpu")
    with pytest.raises(BackendError, match="unknown device 'tpu'"):
        get_xp()
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
