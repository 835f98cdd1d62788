"""Small image sets: the 8x8 digits shipped with cdlite, MNIST-format IDX files, user .npy/.npz.

Loaders here return pixels in their file's own units (digits 0..16, MNIST 0..255) as float32;
scaling to the model's range is done once, in `dataset.make_dataset`.

IDX (LeCun & Cortes, the MNIST file format, also used by Fashion-MNIST): a 4-byte magic number
00 00 <type code> <ndim>, then ndim big-endian int32 sizes, then the values in C order, big-endian.
"""
from __future__ import annotations

import gzip
import math
import os
from importlib import resources

import numpy as np

from .. import npzio
from ..errors import CdliteError

# IDX type code -> big-endian NumPy dtype
IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
GZIP_MAGIC = b"\x1f\x8b"


# --- the 8x8 digits -------------------------------------------------------------------------------

def load_digits():
    """The UCI optical-recognition 8x8 digits (Alpaydin & Kaynak 1998, CC BY 4.0), 1,797 images.

    Returns (images float32 (1797, 8, 8) with integer values in [0, 16], labels int64 (1797,)).
    The file ships inside the package; see DIGITS_LICENSE.txt for attribution and provenance.
    """
    path = resources.files(__package__).joinpath("digits.npz")
    with path.open("rb") as f, np.load(f, allow_pickle=False) as z:
        return z["images"].astype(np.float32), z["labels"].astype(np.int64)


# --- IDX files (MNIST, Fashion-MNIST) ------------------------------------------------------------

def _open_idx(path):
    """(a binary stream of the IDX file's bytes, its size on disk if it is gzipped else None).
    A gzipped file (it starts with the magic 1f 8b) is decompressed on the fly, so that a gzip
    bomb is never decompressed whole."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CdliteError(f"IDX file not found: {path!r}; download the MNIST or Fashion-MNIST "
                          f"files (e.g. train-images-idx3-ubyte.gz) and pass their path")
    with open(path, "rb") as f:
        gzipped = f.read(2) == GZIP_MAGIC
    if gzipped:
        return gzip.open(path, "rb"), os.path.getsize(path)
    return open(path, "rb"), None


def _read_exactly(fh, n: int, name: str, what: str) -> bytes:
    try:
        data = fh.read(n)
    except (OSError, EOFError) as e:  # BadGzipFile is an OSError; a cut stream raises EOFError
        raise CdliteError(f"{name!r}: corrupt or truncated gzip data ({e}); download it "
                          "again") from None
    if len(data) != n:
        raise CdliteError(f"{name!r}: {what}: needs {n} bytes, found {len(data)}")
    return data


def read_idx(path) -> np.ndarray:
    """Read one IDX file (raw or gzipped, told apart by its first bytes) into a NumPy array.

    The array keeps the file's shape and value type, in native byte order (MNIST images:
    uint8 (60000, 28, 28); labels: uint8 (60000,)). The header is read first and the size it
    declares checked against the memory budget before the data is read (or decompressed).
    Every malformed file raises CdliteError naming the file and the problem.
    """
    name = os.fspath(path)
    fh, compressed = _open_idx(path)
    with fh:
        magic = _read_exactly(fh, 4, name, "truncated IDX header")
        if magic[0] != 0 or magic[1] != 0:
            raise CdliteError(f"{name!r} is not an IDX file: bad magic number "
                              f"{magic.hex(' ')!r} (an IDX file starts with 00 00 <type> <ndim>)")
        code, ndim = magic[2], magic[3]
        if code not in IDX_DTYPES:
            known = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
            raise CdliteError(f"{name!r}: unknown IDX data type code 0x{code:02X} (known: "
                              f"{known})")
        if ndim == 0:
            raise CdliteError(f"{name!r}: truncated IDX header (ndim = 0)")
        shape = tuple(int(n) for n in np.frombuffer(
            _read_exactly(fh, 4 * ndim, name, "truncated IDX header"), dtype=">i4"))
        if min(shape) < 0:
            raise CdliteError(f"{name!r}: negative size in its IDX header, shape {shape}")
        dtype = np.dtype(IDX_DTYPES[code])
        expected = math.prod(shape) * dtype.itemsize
        if compressed is not None:  # real images compress 2-10x; a gzip bomb ~1000x
            npzio.check_ratio(expected, compressed, f"{name!r} (shape {shape} of {dtype.name})",
                              "decompress it first (gunzip) and pass the raw file")
        # the bytes read, and the array in native byte order made from them
        npzio.check_budget(2 * expected, f"{name!r} (shape {shape} of {dtype.name})")
        data = _read_exactly(fh, expected, name, f"IDX data truncated: shape {shape} of "
                             f"{dtype.name} after the header")
        if _read_exactly_or_less(fh, name):
            raise CdliteError(f"{name!r}: IDX data longer than its header says: shape {shape} "
                              f"of {dtype.name} needs {expected} bytes after the header")
    arr = np.frombuffer(data, dtype=dtype).reshape(shape)
    return arr.astype(dtype.newbyteorder("="))  # native byte order, and a writeable copy


def _read_exactly_or_less(fh, name: str) -> bytes:
    """One more byte, if there is one (to find data beyond what the header declares)."""
    try:
        return fh.read(1)
    except (OSError, EOFError) as e:
        raise CdliteError(f"{name!r}: corrupt or truncated gzip data ({e}); download it "
                          "again") from None


def avg_pool(images: np.ndarray, factor: int) -> np.ndarray:
    """Average pooling over non-overlapping factor x factor blocks: (n, h, w) -> (n, h/f, w/f)."""
    n, h, w = images.shape
    if factor < 1 or h % factor or w % factor:
        raise CdliteError(f"downsample factor {factor} must be a positive integer that divides "
                          f"the image size {h}x{w}")
    if factor == 1:
        return images
    blocks = images.reshape(n, h // factor, factor, w // factor, factor)  # (n, h', f, w', f)
    return blocks.mean(axis=(2, 4), dtype=np.float64).astype(images.dtype)


def filter_classes(images, labels, classes, source="data"):
    """Keep the images whose label is in `classes`; every requested class must occur."""
    if classes is None:
        return images, labels
    if labels is None:
        raise CdliteError(f"{source}: class filtering (classes={list(classes)}) needs labels; "
                          f"pass the labels file too")
    classes = [int(c) for c in np.atleast_1d(classes)]
    missing = sorted(set(classes) - set(np.unique(labels).tolist()))
    if missing:
        raise CdliteError(f"{source}: classes {missing} do not occur in the labels "
                          f"(present: {sorted(np.unique(labels).tolist())})")
    keep = np.isin(labels, classes)
    return images[keep], labels[keep]


def load_idx_images(images_path, labels_path=None, downsample: int = 1, classes=None):
    """MNIST-format images as float32 (n, h/downsample, w/downsample) in the file's units (0..255).

    Returns (images, labels int64 (n,) or None). `downsample` average-pools by an integer factor
    (28x28 -> 14x14 with 2); `classes` (e.g. [0, 1]) keeps only those labels.
    """
    images = read_idx(images_path)
    if images.ndim != 3:
        raise CdliteError(f"{os.fspath(images_path)!r}: expected an IDX image file of shape "
                          f"(n, h, w), got shape {images.shape} (is it a labels file?)")
    # the file's values, and the float32 copy made of them below
    npzio.check_budget(images.nbytes + 4 * images.size,
                       f"{os.fspath(images_path)!r} as float32")
    labels = None
    if labels_path is not None:
        labels = read_idx(labels_path)
        if labels.shape != images.shape[:1]:
            raise CdliteError(f"{os.fspath(labels_path)!r}: expected {images.shape[0]} labels "
                              f"(one per image), got an array of shape {labels.shape}")
        labels = labels.astype(np.int64)
    images, labels = filter_classes(images, labels, classes, source=os.fspath(images_path))
    return avg_pool(images.astype(np.float32), int(downsample)), labels


# --- arrays the user gives ------------------------------------------------------------------------

def load_array(path, key=None) -> np.ndarray:
    """Read a user's .npy or .npz (allow_pickle=False) holding (n, d) vectors or (n, h, w) images.

    For an .npz, `key` names the array; it may be left out when the file holds only one. The
    headers are checked before anything is read (cdlite.npzio: sizes, bombs, memory budget).
    Returns the array as float32, shape unchanged.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CdliteError(f"array file not found: {path!r}")
    infos = npzio.inspect(path)
    if "" in infos:  # a .npy file: one array
        if key is not None:
            raise CdliteError(f"{path!r} is a .npy file holding one array; drop the key "
                              f"{key!r} (keys name the arrays of an .npz)")
        name = ""
    else:
        name = _pick_array(sorted(infos), path, key)
    info = infos[name]
    npzio.check(path, {name: info})  # sizes agree with the file, no bomb, within the budget
    if not (np.issubdtype(info.dtype, np.number) or info.dtype == np.bool_) or \
            np.issubdtype(info.dtype, np.complexfloating):
        raise CdliteError(f"{path!r}: expected a real numeric array, got dtype {info.dtype}")
    if len(info.shape) not in (2, 3):
        raise CdliteError(f"{path!r}: expected shape (n, d) for vectors or (n, h, w) for images, "
                          f"got {len(info.shape)}-D shape {info.shape}")
    npzio.check_budget(math.prod(info.shape) * 4, f"{path!r} as float32")
    arr = npzio.load(path, names=[name], infos=infos)[name]
    out = arr.astype(np.float32)
    if np.isfinite(arr).all() and not np.isfinite(out).all():
        raise CdliteError(f"{path!r}: values up to {np.abs(arr).max():.3g} do not fit in float32 "
                          "(cdlite's working precision); rescale the data first")
    return out


def _pick_array(names, path, key):
    """The name of array `key` of an .npz archive, or of its only array when key is None."""
    if not names:
        raise CdliteError(f"{path!r} is an empty .npz (it holds no arrays)")
    if key is None:
        if len(names) != 1:
            raise CdliteError(f"{path!r} holds {len(names)} arrays {names}; say which one "
                              f"(--key NAME on the command line, key=NAME in Python)")
        key = names[0]
    if key not in names:
        raise CdliteError(f"{path!r} has no array {key!r}; it holds {names}")
    return key
