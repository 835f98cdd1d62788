"""Sizes a file declares are bounded before anything is allocated: config files (read with a
limit), gzipped IDX files (a ratio limit and the memory budget), checkpoint headers (the network
they name against the weights they store)."""
import gzip
import os
import resource
import struct
import subprocess
import sys
import time

import numpy as np
import pytest

from cdlite.checkpoint import META_LIMIT, read_header, save_checkpoint
from cdlite.config import TOML_LIMIT, read_toml
from cdlite.data.images import load_idx_images, read_idx
from cdlite.errors import CdliteError
from cdlite.fileio import read_limited
from cdlite.nn.networks import build_network, network_spec

# --- config files ---------------------------------------------------------------------------


@pytest.mark.parametrize("path, kind", [("/dev/zero", "a character device"),
                                        ("/dev/urandom", "a character device"),
                                        ("/", "a folder")])
def test_config_files_that_are_not_files_are_one_line_at_once(path, kind):
    start = time.perf_counter()
    with pytest.raises(CdliteError, match=f"config file {path} is {kind}, not a file"):
        read_toml(path)
    assert time.perf_counter() - start < 1


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(CdliteError, match="named pipe"):
        read_toml(tmp_path / "pipe")


def test_config_files_are_read_with_a_limit(tmp_path):
    (tmp_path / "big.toml").write_text("# " + "x" * TOML_LIMIT + "\n")
    with pytest.raises(CdliteError, match=f"larger than {TOML_LIMIT:,} bytes"):
        read_toml(tmp_path / "big.toml")
    (tmp_path / "ok.toml").write_text('recipe = "digits"\n[net]\ndepth = 3\n')
    assert read_toml(tmp_path / "ok.toml") == {"recipe": "digits", "net": {"depth": 3}}
    size = (tmp_path / "ok.toml").stat().st_size
    assert read_limited(tmp_path / "ok.toml", size) == (tmp_path / "ok.toml").read_bytes()
    with pytest.raises(CdliteError, match=f"larger than {size - 1} bytes"):
        read_limited(tmp_path / "ok.toml", size - 1)
    (tmp_path / "bad.toml").write_text("net = [\n")
    with pytest.raises(CdliteError, match="is not valid TOML"):
        read_toml(tmp_path / "bad.toml")
    with pytest.raises(CdliteError, match="does not exist"):
        read_toml(tmp_path / "missing.toml")


# --- gzipped IDX files ----------------------------------------------------------------------

def _idx_gz(path, n, zeros=True):
    """An IDX uint8 (n, 28, 28) file, gzipped; all zeros compress ~1000x (a gzip bomb)."""
    with gzip.open(path, "wb", compresslevel=9) as g:
        g.write(bytes([0, 0, 8, 3]) + struct.pack(">iii", n, 28, 28))
        rng = np.random.default_rng(0)
        for _ in range(n // 1000):
            block = np.zeros(784_000, np.uint8) if zeros else rng.integers(0, 256, 784_000)
            g.write(block.astype(np.uint8).tobytes())
    return path


def test_a_gzip_bomb_is_refused_in_one_line_without_growing(tmp_path):
    bomb = _idx_gz(tmp_path / "bomb-idx3-ubyte.gz", 200_000)  # 157 MB of zeros in ~152 KB
    assert os.path.getsize(bomb) < 200_000
    # the peak from /proc (VmHWM, of this program only; ru_maxrss would include the parent's
    # peak, copied by fork)
    code = ("import sys\nfrom cdlite.data.images import load_idx_images\n"
            "from cdlite.errors import CdliteError\n"
            "try:\n    load_idx_images(sys.argv[1])\nexcept CdliteError as e:\n    print(e)\n"
            "print([line.split()[1] for line in open('/proc/self/status')\n"
            "       if line.startswith('VmHWM:')][0])")
    out = subprocess.run([sys.executable, "-c", code, str(bomb)], capture_output=True, text=True,
                         env={**os.environ, "CDLITE_MEMORY_BUDGET": "1G"}, check=True)
    message, peak_kib = out.stdout.strip().splitlines()
    assert "like a decompression bomb" in message and "gunzip" in message
    assert int(peak_kib) < 150 * 1024  # the interpreter and NumPy; nothing of the 157 MB


def test_genuine_gzipped_images_still_load(tmp_path):
    path = _idx_gz(tmp_path / "noise-idx3-ubyte.gz", 2000, zeros=False)  # 1.5 MB, incompressible
    images, labels = load_idx_images(path)
    assert images.shape == (2000, 28, 28) and images.dtype == np.float32 and labels is None


def test_the_idx_budget_counts_the_copies_made_while_reading(tmp_path, monkeypatch):
    path = _idx_gz(tmp_path / "noise-idx3-ubyte.gz", 2000, zeros=False)  # 1.57 MB of data
    monkeypatch.setenv("CDLITE_MEMORY_BUDGET", "2M")  # the bytes fit; bytes + copy do not
    with pytest.raises(CdliteError, match="more than the memory budget of 2 MiB"):
        read_idx(path)
    monkeypatch.setenv("CDLITE_MEMORY_BUDGET", "4M")  # the array fits; its float32 copy not
    with pytest.raises(CdliteError, match="as float32 needs about"):
        load_idx_images(path)


# --- checkpoint headers ---------------------------------------------------------------------

def _model_file(path, **network_overrides):
    net = build_network("mlp", 2, hidden=16, depth=2)
    params = net.init(np.random.default_rng(0))
    meta = {"model": "teacher", "network": {**network_spec(net), **network_overrides},
            "sigma_data": 0.5, "sigma_min": 0.002, "sigma_max": 80.0, "steps": 18}
    save_checkpoint(path, params, meta)
    return path


@pytest.mark.parametrize("field", ["depth", "hidden", "d", "emb_dim"])
def test_a_header_naming_a_network_larger_than_its_file_is_refused(tmp_path, field):
    from cdlite.runs.checkpoints import load_model
    path = _model_file(tmp_path / "m.npz", **{field: 10**9})
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    with pytest.raises(CdliteError, match=rf"network {field}=1000000000, but the file stores "
                                          r"only [\d,]+ weights"):
        load_model(path)
    assert time.perf_counter() - start < 1
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 50 * 1024
    assert read_header(_model_file(tmp_path / "ok.npz"))["network"]["depth"] == 2


def test_an_oversized_header_is_refused_before_it_is_parsed(tmp_path):
    path = tmp_path / "m.npz"
    np.savez(path, w=np.zeros(3, np.float32),
             __meta__=np.frombuffer(b" " * (META_LIMIT + 1), np.uint8))
    with pytest.raises(CdliteError, match="header, more than the 1,048,576 bytes"):
        read_header(path)
