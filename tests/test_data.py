"""cdlite.data: IDX files, the shipped digits, user arrays, 2-D shapes and make_dataset."""
import gzip
import struct

import numpy as np
import pytest

from cdlite.backend import make_rng
from cdlite.data import (
    DATASETS,
    SHAPES,
    avg_pool,
    load_array,
    load_digits,
    load_idx_images,
    make_dataset,
    read_idx,
)
from cdlite.errors import CdliteError


def idx_bytes(arr, code=0x08):
    """Encode an array in the IDX format: 00 00 <code> <ndim>, big-endian int32 sizes, data."""
    dtype = {0x08: ">u1", 0x0B: ">i2", 0x0D: ">f4"}[code]
    head = bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}i", *arr.shape)
    return head + arr.astype(dtype).tobytes()


def write(path, data, gz=False):
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


@pytest.fixture
def idx_pair(tmp_path):
    """A tiny MNIST look-alike: 12 images 4x4 uint8 with labels 0, 1, 2, 0, 1, 2, ..."""
    images = make_rng(0).integers(0, 256, size=(12, 4, 4)).astype(np.uint8)
    labels = (np.arange(12) % 3).astype(np.uint8)
    ip = write(tmp_path / "img.idx3-ubyte.gz", idx_bytes(images), gz=True)
    lp = write(tmp_path / "lab.idx1-ubyte", idx_bytes(labels))
    return images, labels, ip, lp


# --- IDX ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("gz", [False, True])
def test_idx_round_trip(tmp_path, gz):
    a = make_rng(1).integers(0, 256, size=(5, 3, 2)).astype(np.uint8)
    b = read_idx(write(tmp_path / "a.idx", idx_bytes(a), gz))
    assert b.dtype == np.uint8 and b.shape == (5, 3, 2)
    np.testing.assert_array_equal(a, b)


def test_idx_other_types_come_back_native(tmp_path):
    a = np.array([[1.5, -2.0], [3.25, 0.0]], dtype=np.float32)
    b = read_idx(write(tmp_path / "f.idx", idx_bytes(a, code=0x0D)))
    assert b.dtype == np.float32 and b.dtype.isnative
    np.testing.assert_array_equal(a, b)
    c = np.array([-300, 7], dtype=np.int16)
    np.testing.assert_array_equal(read_idx(write(tmp_path / "i.idx", idx_bytes(c, 0x0B))), c)


def test_idx_errors(tmp_path):
    good = idx_bytes(np.zeros((2, 3, 3), np.uint8))
    with pytest.raises(CdliteError, match="IDX file not found: .*nope.idx"):
        read_idx(tmp_path / "nope.idx")
    with pytest.raises(CdliteError, match="bad.idx.*not an IDX file: bad magic"):
        read_idx(write(tmp_path / "bad.idx", b"\x12\x34" + good[2:]))
    with pytest.raises(CdliteError, match="code.idx.*unknown IDX data type code 0x07"):
        read_idx(write(tmp_path / "code.idx", good[:2] + b"\x07" + good[3:]))
    with pytest.raises(CdliteError, match=r"cut.idx.*truncated: shape \(2, 3, 3\).*found 17"):
        read_idx(write(tmp_path / "cut.idx", good[:-1]))
    with pytest.raises(CdliteError, match="long.idx.*longer than its header says"):
        read_idx(write(tmp_path / "long.idx", good + b"\x00"))
    with pytest.raises(CdliteError, match="head.idx.*truncated IDX header"):
        read_idx(write(tmp_path / "head.idx", good[:9]))
    with pytest.raises(CdliteError, match="gz.idx.*corrupt or truncated gzip"):
        read_idx(write(tmp_path / "gz.idx", gzip.compress(good)[:-6]))


def test_load_idx_images_downsample_and_classes(idx_pair):
    images, labels, ip, lp = idx_pair
    x, y = load_idx_images(ip, lp)
    assert x.dtype == np.float32 and x.shape == (12, 4, 4) and y.dtype == np.int64
    x2, _ = load_idx_images(ip, lp, downsample=2)
    assert x2.shape == (12, 2, 2)
    blocks = images.astype(np.float64)[:, :2, 2:4]  # top-right 2x2 block of every image
    np.testing.assert_allclose(x2[:, 0, 1], blocks.mean(axis=(1, 2)), rtol=1e-6)
    x1, y1 = load_idx_images(ip, lp, classes=[1, 2])
    assert set(y1) == {1, 2} and len(y1) == 8
    np.testing.assert_array_equal(x1, images[labels != 0])


def test_load_idx_images_errors(idx_pair, tmp_path):
    _images, labels, ip, lp = idx_pair
    with pytest.raises(CdliteError, match="divides the image size 4x4"):
        load_idx_images(ip, downsample=3)
    with pytest.raises(CdliteError, match="needs labels"):
        load_idx_images(ip, classes=[1])
    with pytest.raises(CdliteError, match=r"classes \[7\] do not occur"):
        load_idx_images(ip, lp, classes=[1, 7])
    with pytest.raises(CdliteError, match="is it a labels file"):
        load_idx_images(lp)
    short = write(tmp_path / "short.idx", idx_bytes(labels[:5]))
    with pytest.raises(CdliteError, match="expected 12 labels"):
        load_idx_images(ip, short)


def test_avg_pool_is_block_mean():
    a = np.arange(2 * 28 * 28, dtype=np.float32).reshape(2, 28, 28)
    p = avg_pool(a, 2)
    assert p.shape == (2, 14, 14)
    np.testing.assert_allclose(p[1, 3, 5], a[1, 6:8, 10:12].mean())


# --- digits and user arrays ----------------------------------------------------------------------

def test_digits():
    images, labels = load_digits()
    assert images.shape == (1797, 8, 8) and images.dtype == np.float32
    assert images.min() == 0 and images.max() == 16 and np.all(images == np.round(images))
    assert labels.shape == (1797,) and labels.dtype == np.int64
    assert sorted(set(labels.tolist())) == list(range(10))


def test_load_array(tmp_path):
    a = make_rng(2).standard_normal((6, 3))
    np.save(tmp_path / "a.npy", a)
    np.savez(tmp_path / "b.npz", x=a, y=a[:, :2])
    np.testing.assert_allclose(load_array(tmp_path / "a.npy"), a.astype(np.float32))
    assert load_array(tmp_path / "b.npz", key="y").shape == (6, 2)
    with pytest.raises(CdliteError, match=r"holds 2 arrays \['x', 'y'\]; say which one"):
        load_array(tmp_path / "b.npz")
    with pytest.raises(CdliteError, match="has no array 'z'"):
        load_array(tmp_path / "b.npz", key="z")
    with pytest.raises(CdliteError, match="array file not found"):
        load_array(tmp_path / "c.npy")


def test_load_array_refuses_objects_and_bad_shapes(tmp_path):
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    with pytest.raises(CdliteError, match="obj.npy.*Python objects"):
        load_array(tmp_path / "obj.npy")
    np.savez(tmp_path / "obj.npz", x=np.array([[1], "a"], dtype=object))
    with pytest.raises(CdliteError, match="obj.npz.*Python objects"):
        load_array(tmp_path / "obj.npz")
    for shape in ((5,), (2, 3, 4, 5)):
        np.save(tmp_path / "s.npy", np.zeros(shape))
        with pytest.raises(CdliteError, match=rf"{len(shape)}-D shape"):
            load_array(tmp_path / "s.npy")
    np.save(tmp_path / "str.npy", np.array([["a", "b"]]))
    with pytest.raises(CdliteError, match="numeric array"):
        load_array(tmp_path / "str.npy")


# --- 2-D shapes -----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(SHAPES))
def test_shapes_are_unit_scale_and_seeded(name):
    x = SHAPES[name](20_000, make_rng(3))
    assert x.shape == (20_000, 2) and x.dtype == np.float64
    rms = np.sqrt(np.mean(x.var(axis=0)))
    assert 0.9 < rms < 1.1 and np.all(np.abs(x.mean(axis=0)) < 0.1)
    np.testing.assert_array_equal(SHAPES[name](7, make_rng(4)), SHAPES[name](7, make_rng(4)))


def test_checkerboard_only_dark_cells():
    x = SHAPES["checkerboard"](5000, make_rng(5), n_cells=4)
    cell = np.floor((x / np.sqrt(3) + 1) / 2 * 4).astype(int)  # back to cell indices 0..3
    assert np.all(cell.sum(axis=1) % 2 == 0)


# --- make_dataset ---------------------------------------------------------------------------------

def test_make_dataset_digits_seeded_and_disjoint():
    a = make_dataset("digits", 64, n_test=200, seed=3)
    b = make_dataset("digits", 64, n_test=200, seed=3)
    c = make_dataset("digits", 64, n_test=200, seed=4)
    np.testing.assert_array_equal(a.train, b.train)
    assert not np.array_equal(a.train, c.train)
    assert a.train.shape == (64, 64) and a.test.shape == (200, 64) and a.train.dtype == np.float32
    assert a.image_shape == (8, 8) and a.sigma_data == 0.5 and a.sample_true is None
    assert a.train.min() >= -1 and a.train.max() <= 1
    # The 1,797 digits are pairwise distinct, so disjoint indices mean disjoint rows.
    rows = lambda x: {r.tobytes() for r in x}
    assert len(rows(a.train)) == 64 and not rows(a.train) & rows(a.test)
    bigger = make_dataset("digits", 128, n_test=200, seed=3)
    np.testing.assert_array_equal(bigger.train[:64], a.train)  # nested in n_train
    np.testing.assert_array_equal(bigger.test, a.test)  # same held-out set
    assert a.to_images(a.train).shape == (64, 8, 8)
    with pytest.raises(ValueError):
        a.train[0, 0] = 0.0  # read-only


def test_make_dataset_digits_classes():
    ds = make_dataset("digits", 50, seed=0, classes=[3, 7])
    assert set(ds.train_labels) | set(ds.test_labels) == {3, 7}
    assert ds.n + len(ds.test) == 183 + 179  # every 3 and 7 of the pool


@pytest.mark.parametrize("name", ["gaussians", "two-moons", "rings", "swiss-roll", "checkerboard"])
def test_make_dataset_toy(name):
    ds = make_dataset(name, 16, n_test=500, seed=1)
    again = make_dataset(name, 16, n_test=500, seed=1)
    np.testing.assert_array_equal(ds.train, again.train)
    np.testing.assert_array_equal(ds.test, again.test)
    assert ds.train.shape == (16, 2) and ds.test.shape == (500, 2)
    assert ds.train.dtype == ds.test.dtype == np.float32 and ds.image_shape is None
    fresh = ds.sample_true(100, make_rng(0))
    assert fresh.shape == (100, 2) and fresh.dtype == np.float32
    assert 0.8 < ds.sigma_data < 1.6


def test_make_dataset_gaussians_options():
    ds = make_dataset("gaussians", 32, n_test=10, K=4, d=6, radius=3.0, std=0.2)
    assert ds.mixture.K == 4 and ds.d == 6
    np.testing.assert_allclose(ds.sigma_data, np.sqrt((6 * 0.04 + 9.0) / 6))


def test_make_dataset_mnist_and_array(idx_pair, tmp_path):
    images, _labels, ip, lp = idx_pair
    ds = make_dataset("mnist", 6, n_test=4, path=ip, labels_path=lp, downsample=2)
    assert ds.image_shape == (2, 2) and ds.d == 4 and ds.sigma_data == 0.5
    assert ds.train.min() >= -1 and ds.train.max() <= 1
    assert make_dataset("fashion-mnist", 3, path=ip, labels_path=lp, classes=[0]).n == 3
    np.save(tmp_path / "imgs.npy", images)
    arr = make_dataset("array", 8, path=tmp_path / "imgs.npy", pixel_range=(0, 255))
    assert arr.image_shape == (4, 4) and len(arr.test) == 4 and arr.sigma_data == 0.5
    np.save(tmp_path / "v.npy", make_rng(0).standard_normal((50, 3)) * 2)
    vec = make_dataset("array", 40, path=tmp_path / "v.npy")
    assert vec.image_shape is None and 1.5 < vec.sigma_data < 2.5


def test_make_dataset_errors(tmp_path):
    with pytest.raises(CdliteError, match="unknown dataset 'cifar'; choose one of gaussians, "):
        make_dataset("cifar", 10)
    with pytest.raises(CdliteError, match="only 1797 points are available"):
        make_dataset("digits", 5000)
    with pytest.raises(CdliteError, match="lower n_test to at most 797"):
        make_dataset("digits", 1000, n_test=1000)
    with pytest.raises(CdliteError, match="n_train must be an integer >= 2, got 1"):
        make_dataset("two-moons", 1)
    with pytest.raises(CdliteError, match=r"does not take option\(s\) \['radius'\]"):
        make_dataset("digits", 10, radius=3)
    with pytest.raises(CdliteError, match="needs path="):
        make_dataset("mnist", 10)
    bad = np.ones((10, 3))
    bad[4, 1] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    with pytest.raises(CdliteError, match=r"1 value\(s\) are NaN or inf \(first at index \[4, 1"):
        make_dataset("array", 5, path=tmp_path / "nan.npy")
    np.save(tmp_path / "empty.npy", np.zeros((0, 3)))
    with pytest.raises(CdliteError, match="no data"):
        make_dataset("array", 5, path=tmp_path / "empty.npy")
    np.save(tmp_path / "flat.npy", np.zeros(10))
    with pytest.raises(CdliteError, match="1-D shape"):
        make_dataset("array", 5, path=tmp_path / "flat.npy")
    np.save(tmp_path / "same.npy", np.ones((10, 3)))
    with pytest.raises(CdliteError, match="all identical"):
        make_dataset("array", 5, path=tmp_path / "same.npy")
    assert set(DATASETS) >= {"gaussians", "digits", "mnist", "fashion-mnist", "array"}
