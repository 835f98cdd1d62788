"""The GPU path run on a strict stand-in for CuPy (tests/fake_cupy.py), on any machine.

The fake computes with NumPy underneath, so the device path must give exactly NumPy's numbers;
and it refuses what CuPy refuses (an implicit conversion to a host array, a host array in a
device operation), so a host/device mix-up anywhere on the path fails here. Until a real GPU
run is recorded (tests/test_gpu.py, benchmarks/gpu_check.py), this is what tests the GPU path.
"""
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import fake_cupy
from cdlite.backend import array_module, get_xp, make_rng, to_numpy

FINGERPRINT = Path(__file__).parent / "data" / "quick_toy_fingerprint.json"


@pytest.fixture
def cp(monkeypatch):
    return fake_cupy.install(monkeypatch)


def test_the_fake_refuses_what_cupy_refuses(cp):
    a = cp.asarray(np.arange(6.0, dtype=np.float32).reshape(2, 3))
    assert array_module(a) is cp and get_xp("gpu") is cp and get_xp("auto") is cp
    for implicit in (np.asarray, np.array, np.ascontiguousarray):
        with pytest.raises(TypeError, match="Implicit conversion"):
            implicit(a)
    for mixed in (lambda: a + np.ones(3), lambda: np.ones(3) * a,
                  lambda: cp.concatenate([a, np.ones((1, 3))]),
                  lambda: cp.matmul(np.ones((3, 3)), a.T), lambda: a.__setitem__(0, np.ones(3))):
        with pytest.raises(TypeError, match="Unsupported type"):
            mixed()
    # what CuPy allows: scalars, explicit copies, host index arrays, 0-d reductions
    assert float(a.sum()) == 15.0 and type(a.sum()) is cp.ndarray and a.sum().ndim == 0
    host = np.arange(3.0)
    b = cp.asarray(host)
    host[0] = 99.0  # asarray copied: the device array does not alias the host one
    assert float(b[0]) == 0.0 and to_numpy(a[np.array([1])]).shape == (1, 3)
    assert isinstance(a.get(), np.ndarray) and isinstance(cp.asnumpy(a * 2.0), np.ndarray)


# --- the pieces: networks and training steps, samplers, metrics ---------------------------------

def _steps(xp, kind, opts, steps=6):
    """Teacher steps, then CD steps (Heun teacher, EMA target), on `xp`: the final weights."""
    from cdlite.diffusion import EDMDenoiser, edm_loss, consistency_grid
    from cdlite.distill import ConsistencyFunction, cd_loss
    from cdlite.nn.networks import build_network
    from cdlite.nn.optim import Adam, clip_grad_norm, copy_params, ema_update
    net = build_network(kind, **opts)
    params = {k: xp.asarray(v) for k, v in net.init(make_rng(0)).items()}
    train = xp.asarray(make_rng(1).standard_normal((16, net.d)).astype(np.float32))
    rng, opt, den = make_rng(2), Adam(1e-2), EDMDenoiser(net, 1.2)
    for _ in range(steps):
        _, g = edm_loss(den, params, train, rng)
        clip_grad_norm(g, 1.0)
        opt.step(params, g)
    student = ConsistencyFunction(net, 1.2, 0.002)
    sp, target = copy_params(params), copy_params(params)
    grid = consistency_grid(10, 0.002, 20.0, 7.0, xp, np.float32)
    opt = Adam(1e-3)
    for _ in range(steps):
        _, g = cd_loss(student, sp, target, den.bind(params), train, grid, rng)
        clip_grad_norm(g, 1.0)
        opt.step(sp, g)
        ema_update(target, sp, 0.9)
    return {k: to_numpy(v) for k, v in {**params, **{"s." + k: v for k, v in sp.items()},
                                         **{"t." + k: v for k, v in target.items()}}.items()}


NETS = [("mlp", dict(d=2, hidden=16, depth=3, input_fourier=4)),
        ("mlp", dict(d=3, hidden=8, depth=2, residual=True, layernorm=True, emb_mode="add")),
        ("rf", dict(d=2, p=32, emb_dim=4))]


@pytest.mark.parametrize("kind,opts", NETS)
def test_training_steps_give_numpys_bits_on_the_device(cp, kind, opts):
    host, device = _steps(np, kind, opts), _steps(cp, kind, opts)
    for k in host:
        np.testing.assert_array_equal(device[k], host[k], err_msg=k)


def test_a_step_makes_only_float32_arrays(cp):
    """No silent float64 upcast anywhere in a teacher step or a CD step (clipping's float64 norm
    is deliberate and checked apart)."""
    from cdlite.diffusion import EDMDenoiser, edm_loss, consistency_grid
    from cdlite.distill import ConsistencyFunction, cd_loss
    from cdlite.nn.networks import build_network
    from cdlite.nn.optim import Adam, clip_grad_norm, ema_update
    net = build_network("mlp", d=2, hidden=16, depth=3, input_fourier=4)
    params = {k: cp.asarray(v) for k, v in net.init(make_rng(0)).items()}
    x = cp.asarray(make_rng(1).standard_normal((32, 2)).astype(np.float32))
    den, student = EDMDenoiser(net, 1.0), ConsistencyFunction(net, 1.0, 0.002)
    grid = consistency_grid(10, 0.002, 20.0, 7.0, cp, np.float32)
    target = {k: v.copy() for k, v in params.items()}
    opt, rng = Adam(1e-3), make_rng(2)
    with fake_cupy.record() as made:
        _, g = edm_loss(den, params, x, rng)
        opt.step(params, g)
        _, g = cd_loss(student, params, target, den.bind(params), x, grid, rng)
        opt.step(params, g)
        ema_update(target, params, 0.9)
    floats = {str(dt) for dt, _ in made if dt.kind == "f"}
    assert floats == {"float32"}, floats
    assert len(made) > 100  # the recording saw the step
    with fake_cupy.record() as made:
        clip_grad_norm(g, 1.0)
    assert {str(dt) for dt, shape in made if dt.kind == "f" and len(shape) > 0} <= \
        {"float64"}  # only the squared entries, summed in float64 on purpose


def test_samplers_give_numpys_bits_on_the_device(cp):
    from cdlite.diffusion import EDMDenoiser, EmpiricalOptimalDenoiser, generate, karras_sigmas
    from cdlite.distill import ConsistencyFunction, sample_consistency
    from cdlite.nn.networks import build_network
    net = build_network("mlp", d=2, hidden=16, depth=2, input_fourier=4)
    host = {k: v + np.float32(0.1) for k, v in net.init(make_rng(0)).items()}
    train = make_rng(1).standard_normal((8, 2)).astype(np.float32)
    sig = karras_sigmas(6, 0.002, 20.0)
    for xp in (np, cp):
        params = {k: xp.asarray(v) for k, v in host.items()}
        D = EDMDenoiser(net, 1.0).bind(params)
        f = ConsistencyFunction(net, 1.0, 0.002).bind(params)
        out = [generate(D, 50, 2, sig, make_rng(3), sampler=s, xp=xp, batch=32)[0]
               for s in ("euler", "heun", "stochastic")]
        out.append(generate(EmpiricalOptimalDenoiser(xp.asarray(train)), 50, 2, sig, make_rng(4),
                            xp=xp)[0])
        out.append(generate(f, 50, 2, [20.0, 1.0], make_rng(5), sampler=sample_consistency,
                            xp=xp)[0])
        if xp is np:
            expected = out
    for a, b in zip(out, expected):
        assert array_module(a) is cp
        np.testing.assert_array_equal(to_numpy(a), b)


def test_metrics_take_device_arrays_and_give_numpys_numbers(cp):
    from cdlite.data.gaussians import circle_mixture
    from cdlite.diffusion import EmpiricalOptimalDenoiser
    from cdlite.metrics import (copy_similarity, generalization_gap, memorization_report,
                                nearest_neighbors, quality_report)
    mix = circle_mixture()
    x = mix.sample(400, make_rng(0)).astype(np.float32)
    y = mix.sample(300, make_rng(1)).astype(np.float32)
    train = y[:20]
    calls = {
        "memorization": lambda a, b, t: memorization_report(a, t, rng=make_rng(2), reference=b,
                                                            copy_threshold=0.9),
        "quality": lambda a, b, t: quality_report(a, b, mixture=mix, rng=make_rng(3)),
        "neighbors": lambda a, b, t: nearest_neighbors(a, t, k=3),
        "copy": lambda a, b, t: copy_similarity(a, t),
        "gap": lambda a, b, t: generalization_gap(EmpiricalOptimalDenoiser(t), t, b[:40],
                                                  [0.1, 1.0], make_rng(4), n_noise=2),
    }
    for name, call in calls.items():
        host = call(x, y, train)
        dev = call(cp.asarray(x), cp.asarray(y), cp.asarray(train))
        flat_h, flat_d = (host, dev) if isinstance(host, tuple) else ((host,), (dev,))
        for h, d in zip(flat_h, flat_d):
            if isinstance(h, dict):
                h, d = ({k: v.tolist() if isinstance(v, np.ndarray) else v for k, v in
                         r.items()} for r in (h, d))
                assert h == d, name
            else:
                np.testing.assert_array_equal(d, h, err_msg=name)


def test_checkpoints_of_device_arrays_save_and_load(cp, tmp_path):
    from cdlite.checkpoint import load_checkpoint, save_checkpoint
    params = {"in.W": cp.asarray(np.ones((3, 2), np.float32)), "in.b": cp.zeros(2, np.float32)}
    save_checkpoint(tmp_path / "c.npz", params, {"step": 1})
    arrays, meta = load_checkpoint(tmp_path / "c.npz")
    assert meta["step"] == 1 and all(isinstance(a, np.ndarray) for a in arrays.values())
    np.testing.assert_array_equal(arrays["in.W"], np.ones((3, 2)))


# --- the whole quick pipeline with --device gpu ---------------------------------------------------

def _variants(cfg):
    """A tiny run through every other branch: CT, the stochastic sampler, evaluation EMAs,
    pseudo-Huber, a student from scratch, the Euler teacher step."""
    t, s, e = cfg.teacher, cfg.distill, cfg.eval
    return replace(cfg, run_ct=True,
                   teacher=replace(t, steps=60, eval_every=30, ema_half_life=10.0),
                   distill=replace(s, steps=40, eval_every=20, ema_half_life=10.0, init="scratch",
                                   distance="pseudo-huber", solver="euler"),
                   diffusion=replace(cfg.diffusion, sampler="stochastic", steps=6),
                   eval=replace(e, n_samples=200, n_curve=100))


@pytest.mark.parametrize("variant", ["quick", "branches"])
def test_quick_pipeline_on_the_fake_gpu_gives_the_cpu_numbers(cp, tmp_path, variant):
    from cdlite.catalog import get_recipe
    from cdlite.runs.runner import run_recipe
    from cdlite.runs.commands import sample_checkpoint
    recipe = get_recipe("toy-gaussians")
    cfg = recipe.quick(recipe.defaults)
    cfg = cfg if variant == "quick" else _variants(cfg)
    run_recipe(recipe, cfg, tmp_path / "cpu", progress=False)
    run_recipe(recipe, replace(cfg, device="gpu"), tmp_path / "gpu", progress=False)
    cpu, gpu = (json.loads((tmp_path / d / "metrics.json").read_text()) for d in ("cpu", "gpu"))
    assert gpu["device"] == "gpu"
    for key in cpu:  # (the files' hashes differ: the checkpoints' headers name the device)
        if key not in ("device", "timings_s", "files"):
            assert gpu[key] == cpu[key], key
    with np.load(tmp_path / "cpu" / "samples.npz") as a, \
            np.load(tmp_path / "gpu" / "samples.npz") as b:
        assert a.files == b.files
        for k in a.files:
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    for role in ("teacher", "student"):  # `cdlite sample --device gpu` from a checkpoint
        ckpt = tmp_path / "gpu" / "checkpoints" / f"{role}.npz"
        on_gpu, _, _ = sample_checkpoint(ckpt, 64, 0, None, "gpu")
        on_cpu, _, _ = sample_checkpoint(ckpt, 64, 0, None, "cpu")
        assert isinstance(on_gpu, np.ndarray)
        np.testing.assert_array_equal(on_gpu, on_cpu)
    if variant == "quick":
        # the quick run's f_mem values lie within the bootstrap intervals stored with its
        # fingerprint (what survives a change of float32 rounding, unlike the exact fingerprint)
        stored = json.loads(FINGERPRINT.read_text())
        rows = [(r, stored[r], cpu[r]) for r in ("teacher", "teacher_fewstep",
                                                "teacher_fewstep_2", "student", "student_2step")]
        rows += [(r, stored["reference"][r], cpu["reference"][r]) for r in stored["reference"]]
        for name, ref, got in rows:
            lo, hi = ref["f_mem_ci"]
            assert lo <= got["f_mem"] <= hi, (name, got["f_mem"], ref["f_mem_ci"])
