"""Dask scheduler addresses: checked as text, then the peer checked to speak Dask's protocol
before a dask.distributed Client reads anything from it.

Why the probe: a Client trusts the first 8 bytes it reads as the length of a message and
allocates that much at once (distributed.comm.tcp.TCP.read: struct "Q", then host_array(n)).
Dask has no setting that bounds it: `distributed.comm.shard` (64 MiB) only splits the frames a
peer *writes*, and there is no maximum frame size for reading. So a Client pointed at an HTTP
server (the dashboard port, 8787) sends its greeting, reads "HTTP/1.1" back as a length of
3.5e18 bytes, and asks for 3 EiB.

A Dask scheduler speaks first: as soon as a connection is accepted it writes its handshake,
the 8-byte little-endian length of what follows, the number of frames, each frame's length, then
the frames, msgpack of {"compression", "python", "pickle-protocol"} (about 66 bytes in all,
distributed 2026.8). `probe_scheduler` connects, writes nothing, reads that greeting with every
length checked against GREETING_LIMIT before it is read, and hangs up: an HTTP server never
speaks first (so it times out), and any other service's first bytes fail a check. The scheduler
logs "closed before handshake completed" at INFO level for the probe's connection.
"""
from __future__ import annotations

import re
import socket
import struct

from .errors import CdliteError

DEFAULT_PORT = 8786  # what `dask scheduler` listens on unless told otherwise
GREETING_LIMIT = 1 << 16  # bytes the handshake may take (it takes about 66)
_ADDRESS = re.compile(r"(?:(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://)?"
                      r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]*)"
                      r"(?::(?P<port>[^/]*))?(?P<rest>.*)", re.DOTALL)
_OTHER_SCHEMES = {
    "http": "an http:// address is a web page (the dashboard's, port 8787), not the scheduler",
    "https": "an https:// address is a web page (the dashboard's), not the scheduler",
    "tls": "tls:// needs certificates, which cdlite does not pass to Dask",
    "ucx": "ucx:// needs UCX, which cdlite does not set up",
    "ws": "ws:// is Dask's websocket transport, which cdlite does not set up",
    "wss": "wss:// is Dask's websocket transport, which cdlite does not set up",
    "inproc": "inproc:// names a scheduler inside one Python process",
}


def scheduler_address(text: str) -> str:
    """`text` as "tcp://HOST:PORT", or a one-line CdliteError. A bare HOST:PORT is taken as
    tcp:// (as Dask does); HOST is a name, an IPv4 address or an [IPv6] address."""
    host, port = split_address(text)
    return f"tcp://{host}:{port}"


def split_address(text: str) -> tuple[str, int]:
    """(HOST, PORT) of a tcp:// scheduler address (IPv6 hosts keep their brackets)."""
    text = str(text).strip()
    wanted = (f"give tcp://HOST:PORT, the address `dask scheduler` prints (e.g. "
              f"tcp://10.0.0.5:{DEFAULT_PORT})")
    m = _ADDRESS.fullmatch(text)
    scheme = (m["scheme"] or "tcp").lower() if m else None
    if m is None or scheme != "tcp":
        why = _OTHER_SCHEMES.get(scheme, f"{scheme}:// is not Dask's tcp://" if scheme else
                                 "it is not an address")
        raise CdliteError(f"scheduler address {text!r}: {why}; {wanted}")
    if m["rest"]:
        raise CdliteError(f"scheduler address {text!r} is not HOST:PORT (at {m['rest']!r}); "
                          f"{wanted}")
    if not m["host"] or m["port"] is None:
        part = "host" if not m["host"] else "port"
        raise CdliteError(f"scheduler address {text!r} has no {part}; {wanted}")
    port = m["port"]
    if not (port.isdigit() and 1 <= int(port) <= 65535):
        raise CdliteError(f"scheduler address {text!r}: port {port!r} is not a number from 1 "
                          f"to 65535; {wanted}")
    return m["host"], int(port)


def probe_scheduler(address: str, timeout: float = 5.0) -> dict:
    """Connect to a tcp:// scheduler address and read the handshake a Dask scheduler sends
    first, reading no more than GREETING_LIMIT bytes; returns it ({"python": [3, 11, 7],
    "pickle-protocol": 5, ...}). Anything else (no answer, a refusal, another protocol) is a
    one-line CdliteError, and nothing is allocated from the peer's bytes."""
    host, port = split_address(address)
    where = f"tcp://{host}:{port}"
    try:
        sock = socket.create_connection((host.strip("[]"), port), timeout=timeout)
    except OSError as e:  # refused, unreachable, unknown host, timed out
        why = e.strerror or str(e) or type(e).__name__
        raise CdliteError(f"cannot reach the Dask scheduler at {where} ({why}); start one with "
                          "`dask scheduler` and workers with `dask worker ADDRESS`, or drop "
                          "--scheduler to use the local pool") from None
    with sock:
        sock.settimeout(timeout)
        frames = _read_greeting(sock, where, timeout)
    for frame in frames:
        message = _msgpack(frame)
        if isinstance(message, dict) and "python" in message:
            return message
    raise _not_dask(where, "its greeting is framed like Dask's but holds no handshake")


def _read_greeting(sock, where: str, timeout: float) -> list[bytes]:
    (total,) = struct.unpack("<Q", _recv(sock, 8, where, timeout))
    if not 16 <= total <= GREETING_LIMIT:
        raise _not_dask(where, f"its first bytes would announce a message of {total:,} bytes")
    body = _recv(sock, total, where, timeout)
    (n,) = struct.unpack_from("<Q", body)
    if not 1 <= n <= (total - 8) // 8:
        raise _not_dask(where, f"its greeting announces {n:,} frames in {total} bytes")
    lengths = struct.unpack_from(f"<{n}Q", body, 8)
    start = 8 * (n + 1)
    if start + sum(lengths) != total:
        raise _not_dask(where, "its greeting's frame lengths do not add up")
    frames = []
    for length in lengths:
        frames.append(body[start:start + length])
        start += length
    return frames


def _recv(sock, n: int, where: str, timeout: float) -> bytes:
    """Exactly n bytes from the socket (n is already bounded by GREETING_LIMIT)."""
    data = b""
    try:
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            if not chunk:
                raise _not_dask(where, "it closed the connection without the greeting a Dask "
                                "scheduler sends")
            data += chunk
    except TimeoutError:
        raise _not_dask(where, f"it sent nothing within {timeout:g} s, and a Dask scheduler "
                        "greets at once (an HTTP server waits for a request)") from None
    except OSError as e:
        raise _not_dask(where, f"the connection failed ({e.strerror or e})") from None
    return data


def _msgpack(frame: bytes):
    try:
        import msgpack  # installed with distributed
    except ImportError:  # pragma: no cover
        return {"python": None}  # the framing was checked; nothing more can be
    try:
        return msgpack.unpackb(frame, raw=False)
    except Exception:  # msgpack raises its own exception types for bad data
        return None


def _not_dask(where: str, why: str) -> CdliteError:
    return CdliteError(f"the peer at {where} is not a Dask scheduler: {why}; give the address "
                       f"`dask scheduler` prints (tcp://HOST:{DEFAULT_PORT} by default)")
