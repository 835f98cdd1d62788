"""Checkpoints: exact round trips, atomic writes, and a clear refusal of every bad file."""
import json
import os

import numpy as np
import pytest

from cdlite.checkpoint import load_checkpoint, restore_rng, rng_state, save_checkpoint
from cdlite.errors import CdliteError
from cdlite.nn.optim import Adam


def arrays():
    rng = np.random.default_rng(0)
    return {"in.W": rng.standard_normal((3, 4)).astype(np.float32),
            "in.b": rng.standard_normal(4),                       # float64
            "adam.t": np.array(7, dtype=np.int64)}                # 0-d


def save_good(path):
    save_checkpoint(path, arrays(), {"step": 7})


# --- round trips -----------------------------------------------------------------------------

def test_round_trip_is_exact(tmp_path):
    rng = np.random.default_rng(123)
    rng.standard_normal(5)  # move the generator away from its seed state
    meta = {"config": {"model": {"width": 128, "act": "silu", "layers": [128, 128]},
                       "lr": 2e-3, "ema": None},
            "step": 7, "rng": rng_state(rng)}
    path = tmp_path / "ckpt.npz"
    save_checkpoint(path, arrays(), meta)
    loaded, loaded_meta = load_checkpoint(path)
    assert loaded.keys() == arrays().keys()
    for k, a in arrays().items():
        assert loaded[k].dtype == a.dtype and np.array_equal(loaded[k], a)
    assert loaded_meta == {**meta, "format_version": 1}
    assert np.array_equal(restore_rng(loaded_meta["rng"]).standard_normal(10),
                          rng.standard_normal(10))


@pytest.mark.parametrize("kind", ["PCG64", "MT19937", "Philox", "SFC64"])
def test_rng_state_survives_json(kind):
    rng = np.random.Generator(getattr(np.random, kind)(5))
    rng.random(3)
    state = json.loads(json.dumps(rng_state(rng)))
    assert np.array_equal(restore_rng(state).random(4), rng.random(4))


def test_meta_accepts_numpy_scalars(tmp_path):
    save_checkpoint(tmp_path / "c.npz", {}, {"loss": np.float32(0.25), "steps": np.int64(3)})
    assert load_checkpoint(tmp_path / "c.npz")[1] == {"loss": 0.25, "steps": 3,
                                                      "format_version": 1}


def test_resume_from_checkpoint_is_bit_exact(tmp_path):
    # a noisy training loop: params, Adam state and the rng all go through the file
    target = np.linspace(-1, 1, 8)

    def train(params, opt, rng, steps):
        for _ in range(steps):
            noise = rng.standard_normal(8)
            opt.step(params, {"w": params["w"] - target + 0.1 * noise})

    straight, rng = {"w": np.zeros(8)}, np.random.default_rng(4)
    train(straight, Adam(0.05), rng, 10)

    params, opt, rng = {"w": np.zeros(8)}, Adam(0.05), np.random.default_rng(4)
    train(params, opt, rng, 5)
    path = tmp_path / "ckpt.npz"
    save_checkpoint(path, {**params, **opt.state_dict()}, {"step": 5, "rng": rng_state(rng)})
    loaded, meta = load_checkpoint(path)
    resumed = Adam(0.05)
    resumed.load_state_dict(loaded)
    params = {"w": loaded["w"]}
    train(params, resumed, restore_rng(meta["rng"]), 5)
    assert np.array_equal(params["w"], straight["w"])


# --- bad files -------------------------------------------------------------------------------

def test_missing_file(tmp_path):
    with pytest.raises(CdliteError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.npz")


def test_truncated_file(tmp_path):
    path = tmp_path / "ckpt.npz"
    save_good(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CdliteError, match=r"ckpt\.npz is not a readable \.npz file.*truncated"):
        load_checkpoint(path)


def test_text_file_renamed_npz(tmp_path):
    path = tmp_path / "notes.npz"
    path.write_text("step,loss\n1,0.5\n")
    with pytest.raises(CdliteError, match=r"notes\.npz is not an \.npz file"):
        load_checkpoint(path)


def test_single_npy_file(tmp_path):
    path = tmp_path / "w.npz"
    with open(path, "wb") as f:
        np.save(f, np.zeros(3))
    with pytest.raises(CdliteError, match="single .npy array"):
        load_checkpoint(path)


def test_object_array_is_refused(tmp_path):
    path = tmp_path / "pickled.npz"
    np.savez(path, W=np.zeros(2), cfg=np.array([{"lr": 0.1}], dtype=object))
    with pytest.raises(CdliteError, match="'cfg' is an object array"):
        load_checkpoint(path)


def test_missing_meta(tmp_path):
    path = tmp_path / "plain.npz"
    np.savez(path, W=np.zeros(2))
    with pytest.raises(CdliteError, match="has no '__meta__' header"):
        load_checkpoint(path)


def test_unreadable_meta_and_unknown_version(tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, W=np.zeros(2), __meta__=np.frombuffer(b"{not json", dtype=np.uint8))
    with pytest.raises(CdliteError, match="unreadable '__meta__' header"):
        load_checkpoint(path)
    header = json.dumps({"format_version": 99}).encode()
    np.savez(path, W=np.zeros(2), __meta__=np.frombuffer(header, dtype=np.uint8))
    with pytest.raises(CdliteError, match="format_version 99"):
        load_checkpoint(path)


def test_expected_shapes_and_names(tmp_path):
    path = tmp_path / "ckpt.npz"
    save_checkpoint(path, {"in.W": np.zeros((2, 64)), "h1.W": np.zeros((64, 64)),
                           "h2.W": np.zeros((64, 64))}, {})
    # a params dict works as `expected` as well as a dict of shapes
    load_checkpoint(path, expected={"in.W": np.ones((2, 64)), "h1.W": (64, 64), "h2.W": (64, 64)})
    with pytest.raises(CdliteError) as err:
        load_checkpoint(path, expected={"in.W": (2, 128), "h1.W": (128, 128), "h3.W": (128, 128)})
    msg = str(err.value)
    assert "ckpt.npz" in msg and "different network config" in msg
    assert "has array 'in.W' of shape (2, 64), expected (2, 128)" in msg
    assert "has no array 'h3.W' (expected shape (128, 128))" in msg
    assert "has unexpected array 'h2.W' (shape (64, 64))" in msg


def test_save_refuses_what_cannot_be_loaded(tmp_path):
    path = tmp_path / "c.npz"
    with pytest.raises(CdliteError, match="object arrays"):
        save_checkpoint(path, {"cfg": np.array([None], dtype=object)}, {})
    with pytest.raises(CdliteError, match="not JSON-able"):
        save_checkpoint(path, {}, {"config": object()})
    with pytest.raises(CdliteError, match="__meta__"):
        save_checkpoint(path, {"__meta__": np.zeros(1)}, {})
    assert os.listdir(tmp_path) == []


# --- atomic writes ---------------------------------------------------------------------------

def _fail_replace(*args, **kwargs):
    raise OSError("simulated crash before the rename")


def _fail_savez(f, *args, **kwargs):
    f.write(b"PK\x03\x04 half a zip")  # something is on disk already, then the writer dies
    raise RuntimeError("simulated crash mid-write")


@pytest.mark.parametrize("target, fail", [("os.replace", _fail_replace),
                                          ("numpy.savez", _fail_savez)])
def test_interrupted_save_keeps_earlier_checkpoint(tmp_path, monkeypatch, target, fail):
    path = tmp_path / "ckpt.npz"
    save_good(path)
    monkeypatch.setattr(target, fail)
    with pytest.raises((OSError, RuntimeError), match="simulated"):
        save_checkpoint(path, {"in.W": np.ones((9, 9))}, {"step": 8})
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["ckpt.npz"]  # no temp file left behind
    loaded, meta = load_checkpoint(path)
    assert meta["step"] == 7 and np.array_equal(loaded["in.W"], arrays()["in.W"])


def test_save_overwrites_and_file_is_world_readable(tmp_path):
    path = tmp_path / "ckpt.npz"
    save_good(path)
    save_checkpoint(path, {"x": np.ones(2)}, {"step": 8})
    loaded, meta = load_checkpoint(path)
    assert meta["step"] == 8 and set(loaded) == {"x"}
    assert os.stat(path).st_mode & 0o044 == 0o044
