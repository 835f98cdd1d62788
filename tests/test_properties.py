"""Property-based tests (hypothesis): whatever a user or a file feeds them, the config parser,
the .npy/.npz/IDX readers and checkpoint loading give a valid result or one CdliteError, never
another exception (a traceback from inside NumPy, a MemoryError, a silent wrong value)."""
import io
import json
import math
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cdlite.checkpoint import META_KEY, load_checkpoint, save_checkpoint
from cdlite.config import keys
from cdlite.data.images import load_array, read_idx
from cdlite.errors import CdliteError
from cdlite.catalog import get_recipe
from cdlite.experiments import RunConfig
from cdlite.runs.checkpoints import load_model
from cdlite.runs.runner import resolve_config
from cdlite.nn.networks import build_network, network_spec

FAST = settings(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow,
                                       HealthCheck.function_scoped_fixture])
RECIPE = get_recipe("toy-gaussians")
KEYS = keys(RunConfig())

values = st.one_of(
    st.text(max_size=12), st.integers(-10**12, 10**12).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["true", "no", "[1, 2]", "[]", "1e400", "-0", "mlp", "rf", "digits",
                     "array", "heun", "stochastic", "[1,\"a\"]", "1e5", "0.5"]))
set_keys = st.one_of(st.sampled_from(KEYS + ["net.kind", "data.name", "recipe", "nope"]),
                     st.text(max_size=15))


def _valid_or_cdlite_error(fn, *args, **kwargs):
    """fn's value, or None when it raised CdliteError; any other exception (a traceback from
    inside NumPy, a MemoryError, ...) escapes here and fails the test that called it."""
    try:
        return fn(*args, **kwargs)
    except CdliteError as e:
        assert_one_line(e)
        return None


def assert_one_line(error: CdliteError) -> None:
    """The property every refusal has: one non-empty line that a user can act on."""
    text = str(error).strip()
    assert text and "\n" not in text, f"not one line: {text!r}"


@FAST
@given(st.lists(st.tuples(set_keys, values), max_size=5))
def test_any_set_gives_a_config_or_one_error(pairs):
    sets = [f"{k}={v}" for k, v in pairs]
    cfg = _valid_or_cdlite_error(resolve_config, RECIPE, True, None, sets)
    if cfg is not None:  # a config came out: every float in it is finite, every key valid
        for k in keys(cfg):
            v = cfg
            for part in k.split("."):
                v = getattr(v, part)
            assert not (isinstance(v, float) and not math.isfinite(v)), k


toml_scalars = st.one_of(st.integers(-10**20, 10**20), st.floats(allow_nan=True),
                         st.booleans(), st.text(max_size=8),
                         st.lists(st.integers(-5, 5), max_size=3))


def _toml(d):
    from cdlite.config import toml_text  # the writer the run folders use
    return toml_text(d)


@FAST
@given(st.dictionaries(st.sampled_from(["seed", "device", "run_ct", "recipe", "x"]),
                       toml_scalars, max_size=3),
       st.dictionaries(st.sampled_from(["teacher", "data", "net", "eval", "bogus"]),
                       st.dictionaries(st.sampled_from(["steps", "lr", "name", "kind", "d",
                                                        "n_train", "threshold", "zz"]),
                                       toml_scalars, max_size=3), max_size=3))
def test_any_toml_file_gives_a_config_or_one_error(tmp_path, top, tables):
    """Property: any TOML config file gives a RunConfig or one CdliteError line; no traceback
    escapes."""
    path = tmp_path / "c.toml"
    try:
        path.write_text(_toml({**top, **tables}))
    except UnicodeEncodeError:
        return
    cfg = _valid_or_cdlite_error(resolve_config, RECIPE, True, path)
    assert cfg is None or isinstance(cfg, RunConfig), type(cfg)


@FAST
@given(st.binary(max_size=200))
def test_random_bytes_as_a_toml_file(tmp_path, data):
    """Property: random bytes as a config file give a RunConfig or one CdliteError line; no
    traceback escapes (undecodable text and TOML syntax errors included)."""
    path = tmp_path / "c.toml"
    path.write_bytes(data)
    cfg = _valid_or_cdlite_error(resolve_config, RECIPE, True, path)
    assert cfg is None or isinstance(cfg, RunConfig), type(cfg)


# --- array files -----------------------------------------------------------------------------

def _npz_bytes(**arrays):
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def _npy_bytes(a):
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


GOOD = {"npy": _npy_bytes(np.arange(24, dtype=np.float32).reshape(6, 4)),
        "npz": _npz_bytes(x=np.ones((5, 3), np.float32))}


def mutated(data: bytes):
    """A file a bit wrong: bytes overwritten, cut, or inserted."""
    return st.one_of(
        st.tuples(st.integers(0, len(data) - 1), st.binary(min_size=1, max_size=8)).map(
            lambda t: data[:t[0]] + t[1] + data[t[0] + len(t[1]):]),
        st.integers(0, len(data)).map(lambda n: data[:n]),
        st.tuples(st.integers(0, len(data)), st.binary(min_size=1, max_size=8)).map(
            lambda t: data[:t[0]] + t[1] + data[t[0]:]))


@FAST
@given(st.sampled_from(["npy", "npz"]).flatmap(lambda k: st.tuples(st.just(k),
                                                                    mutated(GOOD[k]))))
def test_damaged_array_files_give_an_array_or_one_error(tmp_path, case):
    kind, data = case
    path = tmp_path / f"a.{kind}"
    path.write_bytes(data)
    a = _valid_or_cdlite_error(load_array, path)
    if a is not None:
        assert a.dtype == np.float32 and a.ndim in (2, 3)


@FAST
@given(st.lists(st.integers(0, 10**12), min_size=1, max_size=3),
       st.sampled_from(["<f4", "<f8", "|u1", "<i8", "|O"]))
def test_npy_headers_that_lie_are_refused_before_allocating(tmp_path, shape, dtype):
    """A .npy whose header declares any shape, with 16 bytes of data behind it."""
    header = {"descr": dtype, "fortran_order": False, "shape": tuple(shape)}
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, header)
    path = tmp_path / "lie.npy"
    path.write_bytes(buf.getvalue() + b"\0" * 16)
    a = _valid_or_cdlite_error(load_array, path)
    if a is not None:  # only possible if the header told the truth
        assert a.size * np.dtype(dtype).itemsize == 16


def _idx(shape, code=0x08):
    data = bytes([0, 0, code, len(shape)]) + np.array(shape, ">i4").tobytes()
    return data + bytes(int(np.prod(shape)))


@FAST
@given(mutated(_idx((3, 2, 2))))
def test_damaged_idx_files_give_an_array_or_one_error(tmp_path, data):
    """Property: a damaged IDX file gives an array of the size its header declares, or one
    CdliteError line; no traceback escapes."""
    path = tmp_path / "x.idx"
    path.write_bytes(data)
    a = _valid_or_cdlite_error(read_idx, path)
    if a is not None:  # the header read back: the data behind it fills exactly that shape
        ndim = data[3]
        assert a.shape == tuple(np.frombuffer(data[4:4 + 4 * ndim], ">i4")), a.shape


@FAST
@given(st.lists(st.integers(0, 2**31 - 1), min_size=1, max_size=4))
def test_idx_headers_declaring_any_size(tmp_path, shape):
    """Property: an IDX header declaring any size, with 2 bytes behind it, gives the array only
    when the header tells the truth, else one CdliteError line, before allocating what it
    declares; no traceback (nor MemoryError) escapes."""
    path = tmp_path / "big.idx"
    path.write_bytes(bytes([0, 0, 0x08, len(shape)]) + np.array(shape, ">i4").tobytes() + b"12")
    a = _valid_or_cdlite_error(read_idx, path)
    assert a is None or (a.shape == tuple(shape) and a.size == 2), getattr(a, "shape", None)


# --- checkpoints -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    net = build_network("mlp", d=2, hidden=8, depth=2)
    path = tmp_path_factory.mktemp("ck") / "student.npz"
    meta = {"model": "student", "network": network_spec(net), "sigma_data": 0.5,
            "sigma_min": 0.002, "sigma_max": 20.0, "rho": 7.0, "sampler": "heun", "steps": 18,
            "step": 10, "image_shape": None}
    save_checkpoint(path, net.init(np.random.default_rng(0)), meta)
    return path, meta, net


header_values = st.one_of(st.none(), st.booleans(), st.integers(-10**9, 10**9),
                          st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=6),
                          st.lists(st.integers(-3, 3), max_size=3))


@FAST
@given(st.dictionaries(st.sampled_from(["model", "sigma_data", "sigma_min", "sigma_max", "rho",
                                        "sampler", "steps", "step", "image_shape", "network"]),
                       header_values, min_size=1, max_size=3),
       st.dictionaries(st.sampled_from(["kind", "d", "hidden", "depth", "activation", "emb_dim",
                                        "input_fourier", "p"]), header_values, max_size=2))
def test_checkpoint_headers_that_lie_give_a_model_or_one_error(tmp_path, model_file, top, net):
    path, meta, network = model_file
    lying = {**meta, **top}
    if net and isinstance(lying.get("network"), dict):
        lying["network"] = {**lying["network"], **net}
    out = tmp_path / "lie.npz"
    arrays = network.init(np.random.default_rng(0))
    save_checkpoint(out, arrays, json.loads(json.dumps(lying, default=str)))
    got = _valid_or_cdlite_error(load_model, out)
    if got is not None:  # a header that still describes the weights: they come back whole
        _, params, _ = got
        assert params.keys() == arrays.keys()
        assert all(np.array_equal(params[k], arrays[k]) for k in arrays)


@FAST
@given(st.data())
def test_damaged_checkpoint_bytes(tmp_path, model_file, data):
    """Property: a checkpoint with bytes overwritten, cut or inserted gives a model whose
    weights are finite and of the network's shapes, or one CdliteError line; no traceback
    escapes."""
    path, _, network = model_file
    bad = tmp_path / "bad.npz"
    bad.write_bytes(data.draw(mutated(path.read_bytes())))
    got = _valid_or_cdlite_error(load_model, bad)
    if got is not None:
        _, params, _ = got
        shapes = {k: v.shape for k, v in network.init(np.random.default_rng(0)).items()}
        assert {k: v.shape for k, v in params.items()} == shapes
        assert all(np.isfinite(v).all() for v in params.values())


def test_a_decompression_bomb_is_refused_before_it_is_decompressed(tmp_path):
    """40 MB of zeros deflated to ~40 KB: refused from the sizes in the zip directory."""
    big = tmp_path / "bomb.npz"
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False,
                                                  "shape": (10_000_000,)})
    meta = json.dumps({"format_version": 1}).encode()
    with zipfile.ZipFile(big, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("W.npy", header.getvalue() + bytes(40_000_000))
        zf.writestr(f"{META_KEY}.npy", _npy_bytes(np.frombuffer(meta, np.uint8)))
    assert big.stat().st_size < 200_000
    with pytest.raises(CdliteError, match="decompression bomb"):
        load_checkpoint(big)
