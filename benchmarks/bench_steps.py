"""Cost of one training step next to its matrix-product floor and the same step in PyTorch.

Two steps, each exactly the body of cdlite's training loops (cdlite/diffusion/train.py and
cdlite/distill/train.py): the teacher step (a mini-batch, the EDM loss forward + backward,
global-norm clipping, Adam) and the CD step (a Heun teacher step = 2 teacher evaluations, the
target's evaluation, the student's forward + backward, clipping, Adam, the target EMA). Two
sizes, the recipes' networks: toy (d = 2, 3 x 128, 32 random Fourier frequencies) and digits
(d = 64, 3 x 256). Batch 256 unless --batch says otherwise.

Three contenders, interleaved in one process round after round (the block order rotates), at
the same number of threads (--threads, default 1):
  cdlite   the steps above;
  torch    the identical network, loss and optimizer in PyTorch (benchmarks/torch_reference.py),
           only if torch is installed: `pip install torch==2.13.0` (the CPU build; a benchmark-
           only dependency, cdlite itself never needs it);
  floor    exactly the step's matrix products at the same shapes and layouts, written into
           preallocated outputs: h @ W for every layer of every network evaluation, and
           h.T @ g and g @ W.T for the backward. No step that computes these products can be
           faster, so cdlite/floor measures everything else a step does.
Printed per size and step: the median time per step of each and the ratios cdlite/torch,
cdlite/floor, torch/floor and CD/teacher as median [min - max] over the rounds (each ratio is
taken within one round, so load that changes slowly cancels). Without torch, the floor ratios
only. Timings depend on the load: the machine's load average is printed with them, and so is the
allocator setting (cdlite.backend.set_allocator; CDLITE_MALLOC=system runs without it).

    python benchmarks/bench_steps.py                          # toy and digits, batch 256, CPU
    python benchmarks/bench_steps.py --size digits --rounds 40
    python benchmarks/bench_steps.py --device gpu --batch 256 1024 4096 8192 --json steps.json
"""
import cdlite  # noqa: F401  (first: one BLAS thread)

import argparse
import json
import os
import platform
import time

import numpy as np

from cdlite import set_blas_threads
from cdlite.backend import get_xp, make_rng, randint
from cdlite.diffusion import EDMDenoiser, edm_loss
from cdlite.diffusion.grids import consistency_grid
from cdlite.distill import ConsistencyFunction, cd_loss
from cdlite.nn.layers import Linear, Residual
from cdlite.nn.optim import Adam, clip_grad_norm, copy_params, ema_update
from cdlite.nn.networks import build_network

SIZES = {  # the recipes' networks (cdlite/experiments/recipes.py) and training-set sizes
    "toy": dict(d=2, hidden=128, depth=3, input_fourier=32, n=16),
    "digits": dict(d=64, hidden=256, depth=3, input_fourier=0, n=32),
}
SIGMA_DATA, LR, MU = 1.0, 2e-3, 0.95


def sync(xp):
    """Wait for the device (CuPy runs asynchronously); nothing to do on the CPU."""
    if xp.__name__ != "numpy":
        xp.cuda.Device().synchronize()


def problem(size: str, B: int, seed: int = 0):
    """The network, its initial weights, a training set (host arrays) and the CD grid."""
    opts = dict(SIZES[size])
    n = opts.pop("n")
    net = build_network("mlp", **opts)
    params = net.init(make_rng(seed))
    train = make_rng(seed + 1).standard_normal((n, net.d)).astype(np.float32)
    grid = consistency_grid(18, 0.002, 20.0, 7.0, np, np.float32)
    return net, params, train, grid


def cdlite_steps(net, params, train, grid, B: int, xp):
    """(teacher_step, cd_step): the bodies of train_teacher and of the consistency loop."""
    params = {k: xp.asarray(v) for k, v in params.items()}
    train, grid = xp.asarray(train), xp.asarray(grid)
    n = train.shape[0]
    rng = make_rng(2)
    teacher = EDMDenoiser(net, SIGMA_DATA)
    opt = Adam(LR)

    def teacher_step():
        x = train[randint(rng, 0, n, B, xp)]  # (B, d)
        loss, grads = edm_loss(teacher, params, x, rng)
        clip_grad_norm(grads, 1.0)
        opt.step(params, grads)
        return loss

    student = ConsistencyFunction(net, SIGMA_DATA, 0.002)
    sparams, target = copy_params(params), copy_params(params)
    D = teacher.bind(params)
    opt_s = Adam(LR / 10)

    def cd_step():
        x = train[randint(rng, 0, n, B, xp)]
        loss, grads = cd_loss(student, sparams, target, D, x, grid, rng)
        clip_grad_norm(grads, 1.0)
        opt_s.step(sparams, grads)
        ema_update(target, sparams, MU)
        return loss

    return teacher_step, cd_step


# --- the floor: the step's matrix products and nothing else -------------------------------------

def linears(net):
    """(I, O, trainable, needs dx) of every product of one MLP evaluation, in order: the
    embeddings' frequency products (fixed), the input layer(s) (no dx: nothing below them
    learns), then the trunk's Linear layers."""
    out = [(1, net.emb.dim // 2, False, False)]
    if net.fourier:
        out.append((net.d, net.cfg.input_fourier, False, False))
    out += [(lay.d_in, lay.d_out, True, False) for lay in (net.inp, net.inp_emb) if lay]
    for layer in net.trunk.layers:
        for lay in (layer.branch.layers if isinstance(layer, Residual) else [layer]):
            if isinstance(lay, Linear):
                out.append((lay.d_in, lay.d_out, True, True))
    return out


def floor_step(net, B: int, xp, forwards: int):
    """The matrix products of `forwards` forward-only evaluations plus one forward and backward
    pass, each into a preallocated output: a function that runs them once."""
    rng = make_rng(3)

    def arr(*shape):
        return xp.asarray(rng.standard_normal(shape).astype(np.float32))

    products = []
    for I, O, trainable, dx in linears(net):
        h, W, g = arr(B, I), arr(I, O), arr(B, O)
        products += [(h, W, xp.empty((B, O), np.float32))] * (forwards + 1)  # h @ W
        if trainable:
            products.append((h.T, g, xp.empty((I, O), np.float32)))           # dW = h.T @ g
        if dx:
            products.append((g, W.T, xp.empty((B, I), np.float32)))           # dh = g @ W.T

    def run():
        for a, b, out in products:
            xp.matmul(a, b, out=out)
    return run


# --- timing ---------------------------------------------------------------------------------------

def block_time(fn, n: int, xp) -> float:
    """Seconds per call of fn, over n calls (the device finishing included)."""
    sync(xp)
    t = time.perf_counter()
    for _ in range(n):
        fn()
    sync(xp)
    return (time.perf_counter() - t) / n


def measure(contenders: dict, rounds: int, block_s: float, xp) -> dict:
    """{name: [seconds per call, one per round]}, the contenders interleaved round by round."""
    reps = {}
    for name, fn in contenders.items():
        for _ in range(3):
            fn()  # warm up (and move the zero-initialised output layer away from 0)
        reps[name] = max(1, int(block_s / max(block_time(fn, 3, xp), 1e-6)))
    times = {name: [] for name in contenders}
    names = list(contenders)
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:  # rotate the order
            times[name].append(block_time(contenders[name], reps[name], xp))
    return times


def ratio(times: dict, a: str, b: str) -> dict:
    r = np.array(times[a]) / np.array(times[b])  # per round
    return {"median": float(np.median(r)), "min": float(r.min()), "max": float(r.max())}


def bench(size: str, B: int, xp, torch_mod, rounds: int, block_s: float) -> dict:
    net, params, train, grid = problem(size, B)
    teacher_step, cd_step = cdlite_steps(net, params, train, grid, B, xp)
    contenders = {"cdlite teacher": teacher_step, "cdlite CD": cd_step,
                  "floor teacher": floor_step(net, B, xp, forwards=0),
                  "floor CD": floor_step(net, B, xp, forwards=3)}
    if torch_mod is not None:
        t_teacher, t_cd = torch_mod.steps(net, params, train, SIGMA_DATA, B, grid, LR, MU)
        contenders.update({"torch teacher": t_teacher, "torch CD": t_cd})
    times = measure(contenders, rounds, block_s, xp)
    out = {"size": size, "batch": B, "device": xp.__name__,
           "ms": {k: 1e3 * float(np.median(v)) for k, v in times.items()}, "ratios": {}}
    for step in ("teacher", "CD"):
        pairs = [("cdlite", "floor")]
        if torch_mod is not None:
            pairs = [("cdlite", "torch"), ("cdlite", "floor"), ("torch", "floor")]
        for a, b in pairs:
            out["ratios"][f"{step}: {a}/{b}"] = ratio(times, f"{a} {step}", f"{b} {step}")
    for who in ("cdlite", "torch") if torch_mod is not None else ("cdlite",):
        out["ratios"][f"{who}: CD/teacher"] = ratio(times, f"{who} CD", f"{who} teacher")
    return out


def print_result(res: dict) -> None:
    ms = res["ms"]
    print(f"\n{res['size']}, batch {res['batch']}, {res['device']}: ms per step (median)")
    for step in ("teacher", "CD"):
        row = "   ".join(f"{who} {ms[f'{who} {step}']:.3f}" for who in ("cdlite", "torch", "floor")
                       if f"{who} {step}" in ms)
        print(f"  {step:<8} {row}")
    for name, r in res["ratios"].items():
        print(f"  {name:<24} {r['median']:.2f}  [{r['min']:.2f} - {r['max']:.2f}]")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", nargs="+", default=list(SIZES), choices=list(SIZES))
    ap.add_argument("--batch", nargs="+", type=int, default=[256])
    ap.add_argument("--device", default="cpu", choices=["cpu", "gpu"])
    ap.add_argument("--threads", type=int, default=1, help="BLAS (and torch) threads")
    ap.add_argument("--rounds", type=int, default=15, help="interleaved rounds")
    ap.add_argument("--block-ms", type=float, default=60.0, help="time of one timed block")
    ap.add_argument("--no-torch", action="store_true", help="skip PyTorch even if installed")
    ap.add_argument("--json", help="also write the results to this JSON file")
    args = ap.parse_args(argv)

    set_blas_threads(args.threads)
    xp = get_xp(args.device)
    torch_mod = None
    if not args.no_torch and args.device == "cpu":
        try:
            import torch
            torch.set_num_threads(args.threads)
            import torch_reference as torch_mod
        except ImportError:
            print("(PyTorch not installed: floor ratios only; `pip install torch==2.13.0`)")
    versions = f"NumPy {np.__version__}" + (f", PyTorch {torch_mod.torch.__version__}"
                                            if torch_mod else "")
    load = os.getloadavg()
    allocator = getattr(cdlite.backend, "ALLOCATOR", None)  # (None before issue 18)
    print(f"{platform.machine()}, {os.cpu_count()} cores, {args.threads} thread(s), {versions}; "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; allocator {allocator}")
    results = []
    for size in args.size:
        for B in args.batch:
            res = bench(size, B, xp, torch_mod, args.rounds, args.block_ms / 1e3)
            print_result(res)
            results.append(res)
    load = os.getloadavg()
    print(f"\nload average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"load_before_after": [list(os.getloadavg())], "threads": args.threads,
                       "allocator": allocator,
                       "versions": versions, "results": results}, f, indent=1)
    return results


if __name__ == "__main__":
    main()
