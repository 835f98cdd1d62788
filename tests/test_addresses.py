"""Dask scheduler addresses (cdlite.addresses): the text is checked, then the peer, before a
Client could allocate from its bytes."""
import socket
import struct
import threading
import time

import pytest

from cdlite.addresses import probe_scheduler, scheduler_address, split_address
from cdlite.errors import CdliteError


@pytest.mark.parametrize("text, expected", [
    ("tcp://10.0.0.5:8786", "tcp://10.0.0.5:8786"),
    (" TCP://scheduler.example.org:1 ", "tcp://scheduler.example.org:1"),
    ("localhost:65535", "tcp://localhost:65535"),  # bare HOST:PORT is tcp, as for Dask
    ("tcp://[::1]:8786", "tcp://[::1]:8786"),
])
def test_valid_addresses(text, expected):
    assert scheduler_address(text) == expected


@pytest.mark.parametrize("text, message", [
    ("http://10.0.0.5:8787", "http:// address is a web page"),
    ("https://dask.example.org", "https:// address is a web page"),
    ("tls://h:8786", "tls:// needs certificates"),
    ("gopher://h:70", "gopher:// is not Dask's tcp://"),
    ("tcp://:8786", "has no host"),
    ("tcp://h", "has no port"),
    ("tcp://h:", "port '' is not a number from 1 to 65535"),
    ("tcp://h:0", "port '0' is not a number"),
    ("tcp://h:65536", "port '65536' is not a number"),
    ("tcp://h:-1", "port '-1' is not a number"),
    ("tcp://h:8786/status", "is not HOST:PORT (at '/status')"),
    ("tcp://user@h:8786", "is not HOST:PORT"),
    ("", "has no host"),
])
def test_invalid_addresses_are_one_line(text, message):
    with pytest.raises(CdliteError) as e:
        split_address(text)
    assert message in str(e.value) and "give tcp://HOST:PORT" in str(e.value)
    assert "\n" not in str(e.value)


def _greeting(message: bytes) -> bytes:
    """What a Dask scheduler writes first: total length, frame count, frame lengths, frames."""
    body = struct.pack("<QQ", 1, len(message)) + message
    return struct.pack("<Q", len(body)) + body


# msgpack of {"compression": None, "python": [3, 11, 7], "pickle-protocol": 5}, as distributed
# 2026.8's scheduler sends it (read off a real one)
HANDSHAKE = b"\x83\xabcompression\xc0\xa6python\x93\x03\x0b\x07\xafpickle-protocol\x05"


@pytest.fixture
def server():
    """serve(first_bytes or None): a TCP server that writes those bytes on accepting and hangs
    up (None: writes nothing, as an HTTP server waiting for a request); returns its address."""
    listeners = []

    def serve(first):
        sock = socket.create_server(("127.0.0.1", 0))
        listeners.append(sock)

        def run():
            conn, _ = sock.accept()
            with conn:
                if first is None:
                    time.sleep(1)
                else:
                    conn.sendall(first)  # then hang up
        threading.Thread(target=run, daemon=True).start()
        return f"tcp://127.0.0.1:{sock.getsockname()[1]}"
    yield serve
    for sock in listeners:
        sock.close()


def test_a_dask_greeting_passes(server):
    reply = probe_scheduler(server(_greeting(HANDSHAKE)), timeout=5)
    assert reply == {"compression": None, "python": [3, 11, 7], "pickle-protocol": 5}


@pytest.mark.parametrize("first, message", [
    (None, "sent nothing within 0.3 s"),                      # an HTTP server
    (b"HTTP/1.1 400 Bad Request\r\n\r\n", "announce a message of 3,"),  # what Dask read as 3 EiB
    (b"SSH-2.0-OpenSSH_9.6\r\n", "announce a message of"),
    (b"", "closed the connection"),
    (_greeting(b"\x93\x01\x02\x03"), "holds no handshake"),   # Dask framing, not a handshake
    (struct.pack("<QQQ", 16, 10**6, 0), "announces 1,000,000 frames"),
    (struct.pack("<QQQ", 24, 1, 99) + b"x" * 8, "frame lengths do not add up"),
    (_greeting(HANDSHAKE)[:30], "closed the connection"),     # cut short
])
def test_a_peer_that_is_not_a_scheduler_is_one_line(server, first, message):
    start = time.perf_counter()
    with pytest.raises(CdliteError, match="is not a Dask scheduler") as e:
        probe_scheduler(server(first), timeout=0.3)
    assert message in str(e.value)
    assert time.perf_counter() - start < 2


def test_nobody_listening_is_one_line():
    with socket.create_server(("127.0.0.1", 0)) as sock:
        port = sock.getsockname()[1]
    with pytest.raises(CdliteError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:"):
        probe_scheduler(f"tcp://127.0.0.1:{port}", timeout=2)


def test_a_real_scheduler_passes():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=0, processes=False, protocol="tcp://",
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        reply = probe_scheduler(cluster.scheduler_address, timeout=10)
    assert reply["python"][0] == 3 and "pickle-protocol" in reply
