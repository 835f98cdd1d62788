"""A tiny progress bar with ETA on stderr: shown only on a terminal, silent otherwise."""
from __future__ import annotations

import sys
import time


def progress(iterable, total: int | None = None, desc: str = "", enabled: bool | None = None,
             every: float = 0.2):
    """Yield from `iterable`, redrawing `desc [#####....] k/total  elapsed  ETA` at most every
    `every` seconds. enabled=None means: only when stderr is a terminal."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    total = total if total is not None else (len(iterable) if hasattr(iterable, "__len__") else 0)
    if not enabled:
        yield from iterable
        return
    start = last = time.perf_counter()
    k = 0
    for k, item in enumerate(iterable, 1):
        yield item
        now = time.perf_counter()
        if now - last >= every or k == total:
            last = now
            frac = k / total if total else 0.0
            eta = (now - start) * (1 - frac) / frac if frac > 0 else 0.0
            bar = "#" * int(24 * frac)
            sys.stderr.write(f"\r{desc:<18} [{bar:<24}] {k}/{total}  {now - start:5.1f}s"
                             f"  ETA {eta:5.1f}s ")
            sys.stderr.flush()
    sys.stderr.write("\n")
    sys.stderr.flush()
