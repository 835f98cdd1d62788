"""Benchmark: exact nearest-neighbour search of 10,000 samples among 60,000 points in 784-D.

The memorization metric on MNIST-sized data (docs/design.md §5.4). Prints the wall time, the peak
of extra memory (NumPy allocations, by tracemalloc; the inputs are not counted) and the
rate achieved, as a fraction of the plain matrix-product rate measured on the same machine with the
same block shapes. 10% of the samples are near-copies of training points (distance ~1e-3), as in
a model that memorizes. Not a timed test: run it by hand.

    python benchmarks/bench_nn_search.py            # the full size, about a minute on 2 cores
    python benchmarks/bench_nn_search.py --m 1000   # quicker
"""
from __future__ import annotations

import argparse
import os
import time
import tracemalloc

import numpy as np

import cdlite.metrics.neighbors as nb
from cdlite.backend import make_rng


def plain_matmul_rate(x, a, bm: int, repeats: int = 3) -> float:
    """GFLOP/s of the bare product x[:bm] @ a.T, the operation the search is built on.

    Best of `repeats`, written into one preallocated output: the machine's top speed.
    """
    xb = np.ascontiguousarray(x[:bm])
    out = np.empty((bm, a.shape[0]), dtype=np.result_type(x, a))
    np.matmul(xb, a.T, out=out)                                  # warm up the BLAS threads
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        np.matmul(xb, a.T, out=out)                              # (bm, n)
        best = min(best, time.perf_counter() - t)
    return 2.0 * xb.shape[0] * a.shape[0] * a.shape[1] / best / 1e9


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--m", type=int, default=10_000, help="number of generated samples")
    p.add_argument("--n", type=int, default=60_000, help="number of training points")
    p.add_argument("--d", type=int, default=784, help="dimension")
    p.add_argument("--max-bytes", type=int, default=nb.DEFAULT_MAX_BYTES,
                   help="working memory of one block of scores")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    rng = make_rng(args.seed)
    train = rng.random((args.n, args.d), dtype=np.float32) * 2 - 1   # pixels in [-1, 1]
    x = rng.random((args.m, args.d), dtype=np.float32) * 2 - 1
    copies = rng.choice(args.n, size=args.m // 10, replace=False)
    x[: args.m // 10] = train[copies] + 1e-3 * rng.standard_normal((args.m // 10, args.d),
                                                                  dtype=np.float32)

    # count the queries whose float32 certificate fails (re-searched in float64)
    redone = []
    search = nb._search

    def counting_search(xq, a, k, K, cdtype, max_bytes):
        out = search(xq, a, k, K, cdtype, max_bytes)
        if cdtype == np.float32:
            redone.append(int((~out[2]).sum()))
        return out

    bm, _ = nb.block_sizes(args.m, args.n, 4 + 1, args.max_bytes)
    plain_before = plain_matmul_rate(x, train, bm)              # the machine's rate, measured
    nb._search = counting_search                                 # before and after the search
    tracemalloc.start()
    t = time.perf_counter()
    dist, idx = nb.nearest_neighbors(x, train, k=2, max_bytes=args.max_bytes)
    seconds = time.perf_counter() - t
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    nb._search = search

    # spot check against direct float64 distances
    for i in rng.choice(args.m, size=5, replace=False).tolist() + [0]:
        d_all = np.sqrt(((train.astype(np.float64) - x[i].astype(np.float64)) ** 2).sum(axis=1))
        assert np.allclose(np.sort(d_all)[:2], dist[i], rtol=1e-12), i
    assert np.array_equal(idx[: args.m // 10, 0], copies)

    achieved = 2.0 * args.m * args.n * args.d / seconds / 1e9
    plain = max(plain_before, plain_matmul_rate(x, train, bm))   # the better of the two
    print(f"nearest-neighbour search: {args.m} samples x {args.n} training points, d = {args.d}, "
          f"float32, {os.cpu_count()} CPU cores, max_bytes = {args.max_bytes / 2**20:.0f} MiB")
    print(f"  time            {seconds:.2f} s")
    print(f"  memory peak     {peak / 2**20:.0f} MiB extra (NumPy allocations during the search)")
    print(f"  rate            {achieved:.1f} GFLOP/s  = {achieved / plain:.2f} of the plain "
          f"matrix product ({plain:.1f} GFLOP/s, blocks of {bm} x {args.n})")
    print(f"  float64 re-search: {sum(redone)} of {args.m} queries; spot checks vs float64: ok")


if __name__ == "__main__":
    main()
