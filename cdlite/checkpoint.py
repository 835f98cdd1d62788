"""Checkpoints: plain .npz files with a JSON header, written atomically (docs/design.md §7.1).

A checkpoint is what `np.savez` writes: one .npy member per array, plus one member "__meta__"
holding UTF-8 JSON bytes (a uint8 array) with "format_version", the config, the step, the state
of the random generator, and whatever else the caller adds. It is read with allow_pickle=False,
so loading a file never runs code, and any NumPy can read it without cdlite.

Writes go to a temporary file in the same folder, are flushed to disk, and then renamed over the
target with `os.replace` (atomic on POSIX and Windows): a crash mid-save leaves the previous
checkpoint intact instead of a half-written one.
"""
from __future__ import annotations

import json
import math
import os

import numpy as np

from . import npzio
from .backend import to_numpy
from .errors import CdliteError
from .fileio import atomic_file, json_safe

FORMAT_VERSION = 1
META_KEY = "__meta__"
# names np.savez would take as its own arguments instead of as arrays
_RESERVED = (META_KEY, "file", "allow_pickle")


# --- saving ----------------------------------------------------------------------------------

def save_checkpoint(path, arrays: dict, meta: dict) -> None:
    """Save `arrays` (NumPy or CuPy, copied to the host) and the JSON-able dict `meta` to the
    .npz file `path`, atomically. "format_version" is added to the metadata."""
    path = os.fspath(path)
    bad = [k for k in arrays if not isinstance(k, str) or not k or k in _RESERVED]
    if bad:
        raise CdliteError(f"cannot save arrays named {bad} to {path}: names must be non-empty "
                          f"strings other than {_RESERVED}; rename them")
    host = {k: to_numpy(a) for k, a in arrays.items()}
    objects = [k for k, a in host.items() if a.dtype == object]
    if objects:
        raise CdliteError(f"cannot save {objects} to {path}: object arrays need pickle, which "
                          "checkpoints refuse; store numbers, or put small values in meta")
    try:
        text = json.dumps(json_safe({**meta, "format_version": FORMAT_VERSION}), allow_nan=False)
    except (TypeError, ValueError) as e:
        raise CdliteError(f"checkpoint metadata for {path} is not JSON-able ({e}); pass plain "
                          "numbers, strings, lists and dicts (e.g. dataclasses.asdict(config))"
                          ) from e
    header = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)

    with atomic_file(path) as f:
        np.savez(f, **host, **{META_KEY: header})


# --- loading ---------------------------------------------------------------------------------

def load_checkpoint(path, expected: dict | None = None) -> tuple[dict, dict]:
    """Read a checkpoint written by `save_checkpoint`: returns (arrays, meta), arrays as NumPy.

    The arrays' headers are read first (cdlite.npzio): object arrays, sizes that disagree with
    the file, decompression bombs and arrays beyond the memory budget are refused before
    anything is allocated; so is a header that is oversized or names a network larger than the
    file (`check_sizes`). `expected` (name -> shape, or a params dict whose arrays give the
    shapes) is compared with the headers before the arrays are read: missing names, unexpected
    names and shape mismatches raise a CdliteError that lists them. Weights that are NaN or
    infinite are refused. Every other problem with the file (missing, truncated, not an .npz,
    no or unreadable header, unknown format version) raises a CdliteError too.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise CdliteError(f"checkpoint {path} does not exist; check the path (and that the run "
                          "that should have written it finished its first save)")
    try:
        with open(path, "rb") as f:
            magic = f.read(6)
    except OSError as e:  # e.g. a folder, or no read permission
        raise CdliteError(f"checkpoint {path} cannot be read ({e}); pass a readable .npz file"
                          ) from e
    if magic.startswith(b"\x93NUMPY"):
        raise CdliteError(f"checkpoint {path} is a single .npy array, not an .npz archive with "
                          "a header; it was not written by cdlite's save_checkpoint")
    if not magic.startswith(b"PK\x03\x04"):  # every .npz is a zip archive
        raise CdliteError(f"checkpoint {path} is not an .npz file (its first bytes are {magic!r},"
                          " not a zip archive's); use a file that save_checkpoint wrote")
    infos = npzio.inspect(path)
    if META_KEY not in infos:
        raise CdliteError(f"checkpoint {path} has no {META_KEY!r} header: it is an .npz file "
                          "but was not written by cdlite's save_checkpoint")
    if expected is not None:
        _check_expected(path, {k: a.shape for k, a in infos.items() if k != META_KEY}, expected)
    check_sizes(path, infos)
    arrays = npzio.load(path, infos=infos)  # (checks sizes, bombs and the budget first)
    meta = read_meta(path, arrays.pop(META_KEY))
    check_network_sizes(path, meta, infos)
    bad = [k for k, a in arrays.items()
           if np.issubdtype(a.dtype, np.inexact) and not np.isfinite(a).all()]
    if bad:
        raise CdliteError(f"checkpoint {path}: array(s) {bad[:5]} hold NaN or inf: the weights "
                          "diverged (or the file was damaged); use an earlier checkpoint, or "
                          "train again with a lower learning rate")
    return arrays, meta


def read_header(path) -> dict:
    """Only the JSON header of a checkpoint: its other arrays are not read (nor allocated), but
    their headers are checked (sizes, bombs, the memory budget), and so are the network sizes
    the header names (`check_network_sizes`), so that what is built from it is bounded."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CdliteError(f"checkpoint {path} does not exist; check the path")
    infos = npzio.inspect(path)
    if META_KEY not in infos:
        raise CdliteError(f"checkpoint {path} has no {META_KEY!r} header: it is not a cdlite "
                          "checkpoint (written by save_checkpoint)")
    check_sizes(path, infos)
    npzio.check(path, infos)
    meta = read_meta(path, npzio.load(path, names=[META_KEY], infos=infos)[META_KEY])
    check_network_sizes(path, meta, infos)
    return meta


# --- sizes a header may declare --------------------------------------------------------------

META_LIMIT = 1 << 20  # bytes of JSON header (a run's is a few thousand: config, step, rng state)


def check_sizes(path: str, infos: dict) -> None:
    """Refuse a JSON header too large to be cdlite's before it is read (json.loads would make
    Python objects many times its size)."""
    meta = infos[META_KEY]
    if meta.nbytes > META_LIMIT:
        raise CdliteError(f"checkpoint {path} has a {npzio.gib(meta.nbytes)} {META_KEY!r} "
                          f"header, more than the {META_LIMIT:,} bytes a cdlite header can "
                          "take; the file is damaged or forged; use an intact file")


def check_network_sizes(path: str, meta: dict, infos: dict) -> None:
    """Refuse a header whose "network" names a size larger than the number of values the file
    stores (its arrays, whose total is already within the memory budget).

    Every whole number of a network description (d, hidden, depth, emb_dim, p, ...) counts
    something each of which owns at least one stored weight: a layer, a unit, an input. So a
    genuine file stores at least as many values as any of them, and a header claiming depth 1e9
    next to a few thousand weights is refused here, before a network of a billion layers is
    built from it (building one allocates without bound: layers are Python objects)."""
    network = meta.get("network")
    if not isinstance(network, dict):
        return
    stored = sum(math.prod(a.shape) for k, a in infos.items() if k != META_KEY)
    for key, v in network.items():
        if isinstance(v, int) and not isinstance(v, bool) and v > stored:
            raise CdliteError(f"checkpoint {path}: its header says network {key}={v}, but the "
                              f"file stores only {stored:,} weights, too few for any network of "
                              "that size; the file is damaged or forged; use an intact file")


def read_meta(path: str, header) -> dict:
    """The JSON header of a checkpoint from its __meta__ array, checked."""
    if header is None:
        raise CdliteError(f"checkpoint {path} has no {META_KEY!r} header: it is an .npz file "
                          "but was not written by cdlite's save_checkpoint")
    try:
        if header.dtype != np.uint8 or header.ndim != 1:
            raise ValueError(f"header is a {header.dtype} array of shape {header.shape}, "
                             "not 1-d uint8")
        meta = json.loads(header.tobytes().decode("utf-8"))
        if not isinstance(meta, dict):
            raise ValueError(f"header is a JSON {type(meta).__name__}, not an object")
    except ValueError as e:  # includes UnicodeDecodeError and json.JSONDecodeError
        raise CdliteError(f"checkpoint {path} has an unreadable {META_KEY!r} header ({e}); "
                          "the file is damaged or was not written by cdlite") from e
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise CdliteError(f"checkpoint {path} has format_version {version!r}; this cdlite reads "
                          f"version {FORMAT_VERSION}; load it with the cdlite version that wrote "
                          "it")
    return meta


def _shape_of(v) -> tuple:
    # an array (a params dict was passed), a shape tuple/list, or an int for a 1-d shape
    if hasattr(v, "shape"):
        return tuple(v.shape)
    return (int(v),) if isinstance(v, (int, np.integer)) else tuple(int(n) for n in v)


def _check_expected(path: str, found: dict, expected: dict) -> None:
    """Compare the shapes in the file (name -> shape) with the expected ones."""
    shapes = {k: _shape_of(v) for k, v in expected.items()}
    problems = []
    for k, shape in shapes.items():
        if k not in found:
            problems.append(f"has no array {k!r} (expected shape {shape})")
        elif tuple(found[k]) != shape:
            problems.append(f"has array {k!r} of shape {tuple(found[k])}, expected {shape}")
    for k in found:
        if k not in shapes:
            problems.append(f"has unexpected array {k!r} (shape {tuple(found[k])})")
    if problems:
        shown = "; ".join(problems[:10])
        more = f"; and {len(problems) - 10} more" if len(problems) > 10 else ""
        raise CdliteError(f"checkpoint {path} {shown}{more}; was it saved from a different "
                          "network config? Compare meta['config'] with yours")


# --- random generator state ------------------------------------------------------------------

def rng_state(rng: np.random.Generator) -> dict:
    """The state of `rng` as a JSON-able dict, for a checkpoint's metadata (some bit generators,
    MT19937 and Philox, hold NumPy arrays in their state; json_safe makes them lists)."""
    return json_safe(rng.bit_generator.state)


def restore_rng(state: dict) -> np.random.Generator:
    """A new Generator that continues exactly where the one of `rng_state(rng)` stopped."""
    name = state.get("bit_generator") if isinstance(state, dict) else None
    known = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")
    if name not in known:
        raise CdliteError(f"cannot restore a random generator of kind {name!r}; the state must "
                          f"come from rng_state(rng) of a generator using one of {known}")
    bit_generator = getattr(np.random, name)()
    try:
        bit_generator.state = state
    except (TypeError, ValueError, KeyError) as e:
        raise CdliteError(f"the saved {name} random-generator state is invalid ({e}); "
                          "the checkpoint's metadata is damaged") from e
    return np.random.Generator(bit_generator)
