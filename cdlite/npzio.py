"""Reading .npy and .npz files without trusting them: every array's shape and dtype are read
from its header and checked against the file and a memory budget before anything is allocated
or decompressed, and nothing is ever unpickled.

A .npy file is a header (magic, version, a Python-literal dict with shape, dtype and order) and
the raw bytes. An .npz file is a zip archive of .npy members, stored or deflated. So for each
member we read only its header (a few hundred bytes of the stream), then require:

  - a numeric dtype (no object arrays: those would need pickle);
  - header shape x itemsize = the member's size in the archive minus its header (a file that
    says otherwise is damaged, or built to make a reader allocate what is not there);
  - a deflated member at most MAX_RATIO times larger than its compressed bytes (real numbers
    compress a few times at most; a "decompression bomb" expands ~1000x);
  - all members together within the memory budget (cdlite.settings.memory_budget()).

Only then are the arrays read, with allow_pickle=False.
"""
from __future__ import annotations

import math
import os
import tokenize
import zipfile
import zlib
from dataclasses import dataclass

import numpy as np

from .errors import CdliteError
from .settings import memory_budget

MAX_RATIO = 200          # declared bytes per compressed byte a deflated member may have
SMALL = 1 << 20          # members below 1 MiB skip the ratio test (zeros compress very well)
_HEADER_LIMIT = 1 << 16  # bytes a .npy header may take (NumPy's own default limit is 10,000)
# what a damaged file can make NumPy's reader or zipfile raise (the header is a Python literal)
_DAMAGED = (ValueError, OSError, EOFError, SyntaxError, tokenize.TokenError, zlib.error,
            zipfile.BadZipFile, KeyError, TypeError, OverflowError, NotImplementedError,
            RuntimeError)  # zipfile: an unknown compression method, "encrypted" flag bits


def gib(n: int) -> str:
    return f"{n / (1 << 30):.3g} GiB" if n >= 1 << 30 else f"{n / (1 << 20):.3g} MiB"


def check_budget(nbytes: int, what: str, budget: int | None = None) -> None:
    """Refuse to allocate `nbytes` for `what` beyond the memory budget, in one line."""
    budget = memory_budget() if budget is None else budget
    if nbytes > budget:
        raise CdliteError(f"{what} needs about {gib(nbytes)}, more than the memory budget of "
                          f"{gib(budget)}; make it smaller, or raise CDLITE_MEMORY_BUDGET if the "
                          "machine really has the memory")


def check_ratio(nbytes: int, compressed: int, where: str, remedy: str) -> None:
    """Refuse compressed data that declares more than MAX_RATIO times its compressed size."""
    if nbytes > SMALL and nbytes > MAX_RATIO * max(compressed, 1):
        raise CdliteError(f"{where} would expand from {compressed} compressed bytes to "
                          f"{gib(nbytes)} ({nbytes // max(compressed, 1)}x), like a "
                          f"decompression bomb; if it is genuine, {remedy}")


@dataclass(frozen=True)
class ArrayInfo:
    """What a .npy header declares, and where its data lies."""
    shape: tuple
    dtype: np.dtype
    nbytes: int              # shape x itemsize, computed exactly (Python integers)
    stored: int              # bytes of data the file (or archive member) actually holds
    compressed: int          # bytes on disk (= stored for uncompressed data)


def _read_header(fh, where: str):
    """(shape, dtype, header length) of the .npy stream fh, refusing what is not numeric."""
    try:
        major, minor = np.lib.format.read_magic(fh)
        read = {(1, 0): np.lib.format.read_array_header_1_0,
                (2, 0): np.lib.format.read_array_header_2_0}.get((major, minor))
        if read is None:
            raise ValueError(f"unknown .npy format version {major}.{minor}")
        shape, _, dtype = read(fh, max_header_size=_HEADER_LIMIT)
    except _DAMAGED as e:
        raise CdliteError(f"{where}: not a readable .npy header ({e}); the file is damaged or "
                          "not written by NumPy") from None
    if dtype.hasobject:
        raise CdliteError(f"{where} is an object array (pickled Python objects), which cdlite "
                          "never loads since unpickling can run code; save numeric arrays only")
    if not all(isinstance(n, int) and n >= 0 for n in shape):
        raise CdliteError(f"{where}: invalid shape {shape} in its header")
    return tuple(shape), dtype, fh.tell()


def inspect(path) -> dict[str, ArrayInfo]:
    """The arrays a .npy or .npz file declares ({"": info} for a .npy), headers only."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as fh:
            magic = fh.read(6)
            if magic.startswith(b"\x93NUMPY"):
                fh.seek(0)
                shape, dtype, offset = _read_header(fh, path)
                stored = os.fstat(fh.fileno()).st_size - offset
                return {"": _info(shape, dtype, stored, stored)}
    except OSError as e:
        raise CdliteError(f"cannot read {path}: {e.strerror}") from None
    if not magic.startswith(b"PK"):
        raise CdliteError(f"{path} is neither a .npy nor an .npz file (it starts with "
                          f"{magic!r}); save arrays with numpy.save or numpy.savez")
    return _inspect_npz(path)


def _inspect_npz(path: str) -> dict[str, ArrayInfo]:
    out = {}
    size = os.path.getsize(path)
    try:
        with zipfile.ZipFile(path) as zf:
            for m in zf.infolist():
                if not m.filename.endswith(".npy"):
                    continue
                if m.header_offset + m.compress_size > size:
                    raise CdliteError(f"{path}: member {m.filename} claims {m.compress_size} "
                                      f"bytes beyond the end of the {size}-byte file; the file "
                                      "is truncated or forged; use an intact file")
                with zf.open(m) as fh:
                    shape, dtype, offset = _read_header(fh, f"{path}: array {m.filename[:-4]!r}")
                out[m.filename[:-4]] = _info(shape, dtype, m.file_size - offset, m.compress_size)
    except CdliteError:
        raise
    except (*_DAMAGED, zipfile.LargeZipFile) as e:
        raise CdliteError(f"{path} is not a readable .npz file ({type(e).__name__}: {e}); it "
                          "may be truncated (an interrupted copy?) or damaged; use an intact "
                          "file") from None
    return out


def _info(shape, dtype, stored: int, compressed: int) -> ArrayInfo:
    return ArrayInfo(shape, dtype, math.prod(shape) * dtype.itemsize, stored, compressed)


def check(path, infos: dict[str, ArrayInfo], budget: int | None = None) -> None:
    """Refuse a file whose headers disagree with its size, that expands like a bomb, or whose
    arrays together exceed the memory budget."""
    for name, a in infos.items():
        where = f"{path}" + (f": array {name!r}" if name else "")
        if a.nbytes != a.stored:
            raise CdliteError(f"{where} declares shape {a.shape} of {a.dtype} ({a.nbytes} bytes) "
                              f"but holds {a.stored} bytes of data; the file is damaged or "
                              "forged; use an intact file")
        check_ratio(a.nbytes, a.compressed, where, "save it uncompressed (numpy.savez)")
    check_budget(sum(a.nbytes for a in infos.values()), f"reading {path}", budget)


def load(path, names=None, budget: int | None = None, infos=None) -> dict[str, np.ndarray]:
    """The arrays of a .npy ({"": array}) or .npz file (or only `names`), after `check`;
    `infos`, what inspect(path) returned, saves reading the headers again."""
    infos = inspect(path) if infos is None else infos
    if names is not None:
        missing = [n for n in names if n not in infos]
        if missing:
            raise CdliteError(f"{path} has no array {missing[0]!r}; it holds {sorted(infos)}")
        infos = {n: infos[n] for n in names}
    check(path, infos, budget)
    try:
        if "" in infos:
            return {"": np.load(path, allow_pickle=False)}
        with np.load(path, allow_pickle=False) as z:
            return {n: z[n] for n in infos}
    except _DAMAGED as e:
        raise CdliteError(f"{path}: cannot read its arrays ({type(e).__name__}: {e}); the file "
                          "is damaged or truncated; use an intact file") from None
