"""The CuPy path against the NumPy path: same seeds, same noise, same numbers (to float32
round-off). Skipped unless CuPy sees a CUDA device; run on a GPU machine with `pytest -m gpu`."""
import numpy as np
import pytest

from cdlite import backend

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not backend.gpu_available(), reason="needs CuPy and a GPU")]


@pytest.fixture
def cp():
    return backend.get_xp("gpu")


def test_network_forward_backward_match(cp):
    from cdlite.nn.networks import build_network
    net = build_network("mlp", d=3, hidden=32, depth=3, input_fourier=8)
    params = net.init(backend.make_rng(0))
    gparams = {k: cp.asarray(v) for k, v in params.items()}
    x = backend.randn(backend.make_rng(1), (64, 3))
    c = backend.randn(backend.make_rng(2), (64,))
    F, cache = net.forward(params, x, c)
    Fg, cache_g = net.forward(gparams, cp.asarray(x), cp.asarray(c))
    np.testing.assert_allclose(backend.to_numpy(Fg), F, rtol=1e-4, atol=1e-5)
    _, g = net.backward(params, F, cache)
    _, gg = net.backward(gparams, Fg, cache_g)
    for k in g:
        np.testing.assert_allclose(backend.to_numpy(gg[k]), g[k], rtol=1e-3, atol=1e-4)


def test_teacher_training_and_sampling_match(cp):
    from cdlite.data import circle_mixture
    from cdlite.diffusion import EDMDenoiser, TeacherConfig, generate, karras_sigmas, \
        train_teacher
    from cdlite.nn.networks import build_network
    train = circle_mixture().sample(16, backend.make_rng(0)).astype(np.float32)
    out = []
    for xp in (np, cp):
        net = build_network("mlp", d=2, hidden=32, depth=2, input_fourier=8)
        params = {k: xp.asarray(v) for k, v in net.init(backend.make_rng(1)).items()}
        den = EDMDenoiser(net, 1.4)
        res = train_teacher(den, params, xp.asarray(train), TeacherConfig(steps=50),
                            backend.make_rng(2))
        x, _ = generate(den.bind(res.ema), 256, 2, karras_sigmas(10, 0.002, 20.0),
                        backend.make_rng(3), xp=xp)
        out.append(backend.to_numpy(x))
    np.testing.assert_allclose(out[0], out[1], atol=5e-3)


def test_metrics_accept_cupy(cp):
    from cdlite.metrics import memorization_fraction
    rng = backend.make_rng(0)
    train = rng.standard_normal((50, 4)).astype(np.float32)
    r = memorization_fraction(cp.asarray(train), cp.asarray(train), n_boot=50)
    assert r["f_mem"] == 1.0


def test_quick_pipeline_on_the_gpu(tmp_path):
    from dataclasses import replace

    from cdlite.catalog import get_recipe
    from cdlite.runs.runner import run_recipe
    recipe = get_recipe("toy-gaussians")
    cfg = recipe.quick(recipe.defaults)
    cpu = run_recipe(recipe, cfg, tmp_path / "cpu", progress=False)
    gpu = run_recipe(recipe, replace(cfg, device="gpu"), tmp_path / "gpu", progress=False)
    for row in ("teacher", "student"):
        assert abs(cpu[row]["f_mem"] - gpu[row]["f_mem"]) < 0.1, row


def test_training_steps_match_numpy_to_rounding(cp):
    """Teacher and CD steps (plain passes, Adam, EMA target) on the GPU: the
    same weights as NumPy's to float32 rounding (the fake-device test checks the bits)."""
    from test_fake_gpu import NETS, _steps
    for kind, opts in NETS:
        host, device = _steps(np, kind, opts), _steps(cp, kind, opts)
        for k in host:
            np.testing.assert_allclose(device[k], host[k], rtol=1e-3, atol=1e-5, err_msg=k)


def test_forward_and_backward_on_the_gpu_match_numpy(cp):
    from cdlite.nn.networks import build_network
    net = build_network("mlp", d=4, hidden=64, depth=3, input_fourier=8)
    host = {k: v + np.float32(0.05) for k, v in net.init(backend.make_rng(0)).items()}
    x = backend.randn(backend.make_rng(1), (128, 4))
    c = backend.randn(backend.make_rng(2), (128,))
    F, cache = net.forward(host, x, c)
    _, g = net.backward(host, F, cache, need_dx=False)
    params = {k: cp.asarray(v) for k, v in host.items()}
    Fd, cache_d = net.forward(params, cp.asarray(x), cp.asarray(c))
    _, gd = net.backward(params, Fd, cache_d, need_dx=False)
    assert Fd.dtype == np.float32 and all(v.dtype == np.float32 for v in gd.values())
    np.testing.assert_allclose(backend.to_numpy(Fd), F, rtol=1e-5, atol=1e-6)
    for k in g:
        np.testing.assert_allclose(backend.to_numpy(gd[k]), g[k], rtol=1e-4, atol=1e-6)
