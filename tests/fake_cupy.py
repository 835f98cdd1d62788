"""A strict stand-in for CuPy: what the GPU path is tested by until a real GPU run is recorded.

`install(monkeypatch)` puts a module named `cupy` into sys.modules. Its arrays are thin
wrappers around NumPy arrays (so every number is computed exactly as NumPy computes it) that
behave like CuPy's where host/device mix-ups show:

- `type(a).__module__` is "cupy": cdlite.backend.array_module picks this module;
- an implicit conversion to a host NumPy array raises TypeError, as CuPy's `__array__` does:
  np.asarray(a), np.array(a), np.savez(..., a=a), anything that calls `__array__`;
- a host NumPy array given to a device operation raises TypeError, as CuPy's kernels do
  ("Unsupported type <class 'numpy.ndarray'>"): a + host, xp.concatenate([a, host]),
  xp.matmul(host, a), a[...] = host; Python and NumPy scalars are fine, as on CuPy;
- `.get()` and `cupy.asnumpy` copy explicitly; `cupy.asarray(host)` copies in (never aliases);
- reductions and scalar indexing return 0-d device arrays (CuPy does not return NumPy
  scalars); float(), int(), bool(), .item(), .tolist() copy to the host, as on CuPy;
- integer and boolean index arrays from the host are accepted (CuPy copies them over).

`record()` collects the dtype of every array the fake creates, so a test can check that a step
makes no float64 arrays. Not a GPU emulator: no streams, no memory limits, no kernel launches.
"""
from __future__ import annotations

import contextlib
import sys
import types

import numpy as np

IMPLICIT = ("Implicit conversion to a NumPy array is not allowed. Please use `.get()` to "
            "construct a NumPy array explicitly.")
HOST_IN = {"asarray", "array", "asnumpy", "ascontiguousarray", "asanyarray"}  # explicit copies
_recorded: list | None = None


def _host_error(where: str) -> TypeError:
    return TypeError(f"Unsupported type {np.ndarray} in {where}: a host NumPy array was given to "
                     "a device operation (fake CuPy); move it with cupy.asarray first")


def _unwrap(obj, host_ok: bool, where: str):
    """Device arrays -> their NumPy array; host arrays refused unless host_ok."""
    if isinstance(obj, ndarray):
        return obj._a
    if isinstance(obj, np.ndarray):
        if not host_ok:
            raise _host_error(where)
        return obj
    if type(obj) in (list, tuple):
        return type(obj)(_unwrap(o, host_ok, where) for o in obj)
    if type(obj) is dict:
        return {k: _unwrap(v, host_ok, where) for k, v in obj.items()}
    return obj


def _wrap(obj):
    """NumPy results -> device arrays (NumPy scalars become 0-d arrays, as CuPy returns)."""
    if isinstance(obj, np.generic):
        obj = np.asarray(obj)
    if isinstance(obj, np.ndarray):
        if _recorded is not None:
            _recorded.append((obj.dtype, obj.shape))
        return ndarray(obj)
    if type(obj) in (list, tuple):
        return type(obj)(_wrap(o) for o in obj)
    return obj


class ndarray:  # noqa: N801  (CuPy's name)
    """A device array: a NumPy array that refuses to leave or meet the host implicitly."""
    __hash__ = None
    __module__ = "cupy"  # what cdlite.backend.array_module looks at

    def __init__(self, a: np.ndarray):
        self._a = a

    # --- explicit copies to the host, and what CuPy allows implicitly (scalars) ---------------
    def get(self):
        return self._a.copy()

    def __array__(self, *args, **kwargs):
        raise TypeError(IMPLICIT)

    def __float__(self):
        return float(self._a)

    def __int__(self):
        return int(self._a)

    def __index__(self):
        return self._a.__index__()

    def __bool__(self):
        return bool(self._a)

    def __complex__(self):
        return complex(self._a)

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        return (_wrap(x) for x in self._a)

    def __repr__(self):
        return f"fake_cupy.{self._a!r}"

    def __format__(self, spec):
        return self._a.__format__(spec)

    # --- NumPy's protocols: np.exp(a) and np.concatenate([a, b]) run on the device ------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        where = f"numpy.{ufunc.__name__}"
        out = kwargs.get("out")
        kwargs = _unwrap(kwargs, False, where)
        res = getattr(ufunc, method)(*_unwrap(inputs, False, where), **kwargs)
        if out is not None:
            return out[0] if len(out) == 1 else out
        return _wrap(res)

    def __array_function__(self, func, types_, args, kwargs):
        fn = module  # the function of the same name in this module (numpy.linalg.x: linalg.x)
        try:
            for part in func.__module__.split(".")[1:] + [func.__name__]:
                fn = getattr(fn, part)
        except AttributeError:
            return NotImplemented
        return fn(*args, **kwargs)

    # --- attributes and methods of the NumPy array, device in and device out ------------------
    def __getattr__(self, name):
        if name == "_a" or name.startswith("__"):  # no __array_interface__ & co: those
            raise AttributeError(name)              # would let NumPy convert implicitly
        attr = getattr(self._a, name)
        if not callable(attr):
            return _wrap(attr) if isinstance(attr, np.ndarray) else attr
        host_ok = name in ("take", "put")  # index arrays, as CuPy accepts them

        def method(*args, **kwargs):
            where = f"ndarray.{name}"
            return _wrap(attr(*_unwrap(args, host_ok, where), **_unwrap(kwargs, host_ok, where)))
        return method

    @property
    def T(self):  # noqa: N802
        return _wrap(self._a.T)

    def __getitem__(self, key):
        return _wrap(self._a[_unwrap(key, True, "indexing")])

    def __setitem__(self, key, value):
        self._a[_unwrap(key, True, "indexing")] = _unwrap(value, False, "item assignment")


def _binary(op):
    def f(self, other):
        return _wrap(op(self._a, _unwrap(other, False, f"operator {op.__name__}")))
    return f


def _reflected(op):
    def f(self, other):
        return _wrap(op(_unwrap(other, False, f"operator {op.__name__}"), self._a))
    return f


def _inplace(ufunc):
    def f(self, other):
        ufunc(self._a, _unwrap(other, False, f"operator {ufunc.__name__}="), out=self._a)
        return self
    return f


def _unary(op):
    return lambda self: _wrap(op(self._a))


_BINARY = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "truediv": np.true_divide,
           "floordiv": np.floor_divide, "mod": np.remainder, "pow": np.power,
           "matmul": np.matmul, "and": np.bitwise_and, "or": np.bitwise_or,
           "xor": np.bitwise_xor}
for _name, _uf in _BINARY.items():
    setattr(ndarray, f"__{_name}__", _binary(_uf))
    setattr(ndarray, f"__r{_name}__", _reflected(_uf))
    if _uf is not np.matmul:
        setattr(ndarray, f"__i{_name}__", _inplace(_uf))
for _name, _uf in {"lt": np.less, "le": np.less_equal, "gt": np.greater,
                   "ge": np.greater_equal, "eq": np.equal, "ne": np.not_equal}.items():
    setattr(ndarray, f"__{_name}__", _binary(_uf))
for _name, _uf in {"neg": np.negative, "pos": np.positive, "abs": np.absolute,
                   "invert": np.invert}.items():
    setattr(ndarray, f"__{_name}__", _unary(_uf))


# --- the module ------------------------------------------------------------------------------

def asarray(a, dtype=None, order=None):
    if isinstance(a, ndarray):
        return a if dtype is None or a.dtype == np.dtype(dtype) else a.astype(dtype)
    return _wrap(np.array(_unwrap(a, True, "asarray"), dtype=dtype, order=order or "K"))


def array(a, dtype=None, copy=True, order="K"):
    if isinstance(a, ndarray) and not copy:
        return asarray(a, dtype)
    return _wrap(np.array(_unwrap(a, True, "array"), dtype=dtype, copy=True, order=order))


def asnumpy(a):
    return a.get() if isinstance(a, ndarray) else np.asarray(a)


def get_array_module(*args):
    return module if any(isinstance(a, ndarray) for a in args) else np


class _Device:
    def __init__(self, device_id: int = 0):
        self.id = device_id

    def synchronize(self):
        pass


cuda = types.SimpleNamespace(
    Device=_Device,
    runtime=types.SimpleNamespace(getDeviceCount=lambda: 1,
                                  getDeviceProperties=lambda i: {"name": b"fake CuPy device"}))


def _namespace_getattr(source, prefix: str):
    """Everything else: NumPy's function of that name, device arrays in and out."""
    def getattr_(name):
        attr = getattr(source, name)
        if isinstance(attr, types.ModuleType):
            sub = types.ModuleType(f"{prefix}.{name}")
            sub.__getattr__ = _namespace_getattr(attr, f"{prefix}.{name}")
            return sub
        if not callable(attr) or isinstance(attr, type):
            return attr  # constants, dtypes (cupy.float32 is numpy.float32)

        def fn(*args, **kwargs):
            where = f"{prefix}.{name}"
            host_ok = name in HOST_IN
            res = _wrap(attr(*_unwrap(args, host_ok, where), **_unwrap(kwargs, host_ok, where)))
            out = kwargs.get("out")
            return out if isinstance(out, ndarray) else res
        fn.__name__ = name
        return fn
    return getattr_


module = types.ModuleType("cupy")
module.__version__ = "0+fake"
module.__fake__ = True
for _obj in (ndarray, asarray, array, asnumpy, get_array_module):
    setattr(module, _obj.__name__, _obj)
module.cuda = cuda
module.__getattr__ = _namespace_getattr(np, "cupy")


def install(monkeypatch):
    """Make `import cupy` give this fake for the rest of a test (pytest's monkeypatch)."""
    monkeypatch.setitem(sys.modules, "cupy", module)
    return module


@contextlib.contextmanager
def record():
    """Collect (dtype, shape) of every device array created inside the block."""
    global _recorded
    saved, _recorded = _recorded, []
    try:
        yield _recorded
    finally:
        _recorded = saved
