"""Float64 central-difference gradient checks for every layer and both networks."""
import numpy as np
import pytest

from cdlite.nn.embeddings import FourierEmbedding, SinusoidalEmbedding
from cdlite.nn.gradcheck import check_grads
from cdlite.nn.layers import (GELU, LayerNorm, Linear, ReLU, Residual, Sequential, SiLU, Tanh)
from cdlite.nn.networks import (MLP, MLPConfig, RandomFeatureNet, RFConfig, build_network,
                                network_spec)

SHAPES = [(1, 3, 4), (5, 7, 2), (16, 4, 9)]  # (B, I, O)


def _check_layer(layer, x, rng, d_out, perturb=False):
    """L = sum(layer(x) * R): check dL/dx and dL/dparams (perturb: move every parameter away
    from its initial value, e.g. LayerNorm's gamma = 1, beta = 0, which hide some terms)."""
    params = layer.init(rng, np.float64)
    if perturb:
        params = {k: v + 0.5 * rng.standard_normal(v.shape) for k, v in params.items()}
    R = rng.standard_normal((x.shape[0], d_out))

    def loss():
        return float(np.sum(layer.forward(params, x)[0] * R))

    y, cache = layer.forward(params, x)
    dx, grads = layer.backward(params, R, cache)
    arrays = {"x": x, **{k: params[k] for k in layer.trainable}}
    analytic = {"x": dx, **grads}
    assert set(grads) == set(layer.trainable)
    check_grads(loss, analytic, arrays, rng, tol=1e-6)


@pytest.mark.parametrize("B,I,O", SHAPES)
@pytest.mark.parametrize("make", [
    lambda I, O: Linear("lin", I, O),
    lambda I, O: Linear("lin", I, O, bias=False),
    lambda I, O: Sequential([Linear("a", I, O), SiLU(), Linear("b", O, O)]),
])
def test_linear_gradients(make, B, I, O):
    rng = np.random.default_rng(B * 100 + I)
    _check_layer(make(I, O), rng.standard_normal((B, I)), rng, O)


@pytest.mark.parametrize("act", [SiLU, ReLU, Tanh, GELU])
@pytest.mark.parametrize("B,I,O", SHAPES)
def test_activation_gradients(act, B, I, O):
    rng = np.random.default_rng(7 + B)
    _check_layer(act(), 2 * rng.standard_normal((B, I)), rng, I)


@pytest.mark.parametrize("B,I,O", SHAPES[1:])
def test_layernorm_and_residual_gradients(B, I, O):
    rng = np.random.default_rng(3 + I)
    _check_layer(LayerNorm("ln", I), rng.standard_normal((B, I)) * 3 + 1, rng, I, perturb=True)
    _check_layer(Residual("res", I, "gelu", layernorm=True), rng.standard_normal((B, I)), rng, I,
                 perturb=True)
    _check_layer(Residual("res", I, "silu", layernorm=False), rng.standard_normal((B, I)), rng, I,
                 perturb=True)


@pytest.mark.parametrize("emb", [SinusoidalEmbedding("e", 8),
                                 FourierEmbedding("e", 6, 1.5, d_in=3)])
def test_embedding_gradients(emb):
    rng = np.random.default_rng(11)
    x = rng.standard_normal((5, emb.d_in)) * 0.5
    _check_layer(emb, x, rng, emb.dim)


def test_layernorm_normalises():
    rng = np.random.default_rng(0)
    ln = LayerNorm("ln", 16)
    y, _ = ln.forward(ln.init(rng, np.float64), 5 + 3 * rng.standard_normal((4, 16)))
    np.testing.assert_allclose(y.mean(axis=1), 0, atol=1e-12)
    np.testing.assert_allclose(y.std(axis=1), 1, atol=1e-4)


NET_CONFIGS = [
    ("mlp", dict(d=2, hidden=16, depth=3)),
    ("mlp", dict(d=3, hidden=8, depth=2, emb="fourier", emb_mode="add", input_fourier=4)),
    ("mlp", dict(d=4, hidden=8, depth=3, residual=True, layernorm=True, activation="gelu",
                 input_fourier=3, input_fourier_scale=0.5)),
    ("rf", dict(d=3, p=32, emb_dim=4)),
    ("rf", dict(d=2, p=16, emb_dim=0, train_first=True, activation="silu")),
]


@pytest.mark.parametrize("kind,opts", NET_CONFIGS)
@pytest.mark.parametrize("B", [1, 6])
def test_network_gradients_end_to_end(kind, opts, B):
    rng = np.random.default_rng(B + len(opts))
    net = build_network(kind, **opts)
    params = net.init(rng, np.float64)
    # the zero-initialised output would hide the gradients of everything below it
    for k in params:
        if k in net.trainable and not np.any(params[k]):
            params[k] = 0.3 * rng.standard_normal(params[k].shape)
    d = net.d
    x = rng.standard_normal((B, d))
    c_noise = rng.standard_normal(B)
    R = rng.standard_normal((B, d))

    def loss():
        return float(np.sum(net.forward(params, x, c_noise)[0] * R))

    F, cache = net.forward(params, x, c_noise)
    assert F.shape == (B, d)
    dx, grads = net.backward(params, R, cache)
    assert set(grads) == set(net.trainable)
    check_grads(loss, {"x": dx, **grads}, {"x": x, **{k: params[k] for k in grads}}, rng, tol=1e-6)
    # need_dx=False gives the same parameter gradients
    _, grads2 = net.backward(params, R, net.forward(params, x, c_noise)[1], need_dx=False)
    for k in grads:
        np.testing.assert_array_equal(grads[k], grads2[k])


def test_gradcheck_catches_a_wrong_gradient():
    rng = np.random.default_rng(0)
    layer = Linear("lin", 3, 2)
    params = layer.init(rng, np.float64)
    x = rng.standard_normal((4, 3))
    R = rng.standard_normal((4, 2))
    _, grads = layer.backward(params, R, layer.forward(params, x)[1])
    grads["lin.W"] = grads["lin.W"] * 1.01  # a 1% bug
    with pytest.raises(AssertionError, match="lin.W"):
        check_grads(lambda: float(np.sum(layer.forward(params, x)[0] * R)), grads,
                    {k: params[k] for k in grads}, rng, tol=1e-6)


def test_float32_default_and_zero_output():
    rng = np.random.default_rng(0)
    net = MLP(MLPConfig(input_fourier=8), 2)
    params = net.init(rng)
    assert all(v.dtype == np.float32 for v in params.values())
    F, _ = net.forward(params, np.ones((3, 2), np.float32), np.zeros(3, np.float32))
    assert F.dtype == np.float32 and not np.any(F)  # zero output layer: F = 0 at init


def test_fixed_buffers_have_no_gradient_and_spec_round_trip():
    rng = np.random.default_rng(0)
    net = RandomFeatureNet(RFConfig(p=8), 2)
    params = net.init(rng)
    assert "W.W" in params and "W.W" not in net.trainable and net.trainable == ["A.W"]
    again = build_network(**network_spec(net))
    assert again.cfg == net.cfg
    mlp = MLP(MLPConfig(input_fourier=4), 2)
    assert "xfourier.freqs" in mlp.init(rng) and "xfourier.freqs" not in mlp.trainable


def test_unknown_options_are_refused():
    with pytest.raises(ValueError, match="activation"):
        MLP(MLPConfig(activation="swish2"), 2)
    with pytest.raises(ValueError, match="network kind"):
        build_network("cnn", d=2)


# --- float32 stays float32 -----------------------------------------------------------------

def _walk_arrays(obj):
    """Every array inside nested tuples, lists and dicts (a cache, a gradient dict)."""
    if isinstance(obj, np.ndarray):
        yield obj
    elif isinstance(obj, (tuple, list)):
        for o in obj:
            yield from _walk_arrays(o)
    elif isinstance(obj, dict):
        for o in obj.values():
            yield from _walk_arrays(o)


@pytest.mark.parametrize("kind,opts", NET_CONFIGS + [
    ("mlp", dict(d=3, hidden=8, depth=3, activation="relu", input_fourier=2)),
    ("mlp", dict(d=3, hidden=8, depth=2, activation="tanh", emb_mode="add")),
])
def test_float32_in_float32_everywhere(kind, opts):
    """No array of a forward or backward pass is silently float64."""
    rng = np.random.default_rng(5)
    net = build_network(kind, **opts)
    params = net.init(rng, np.float32)
    x = rng.standard_normal((6, net.d)).astype(np.float32)
    c = rng.standard_normal(6).astype(np.float32)
    F, cache = net.forward(params, x, c)
    dx, grads = net.backward(params, F, cache)
    for a in _walk_arrays((F, cache, dx, grads)):
        assert a.dtype in (np.float32, bool), a.dtype


def test_silu_keeps_the_sigmoid_of_its_forward():
    rng = np.random.default_rng(0)
    x = (3 * rng.standard_normal((64, 33))).astype(np.float32)
    y, (xc, s) = SiLU().forward({}, x)
    np.testing.assert_array_equal(s, 1.0 / (1.0 + np.exp(-x)))  # the sigmoid, computed once
    np.testing.assert_array_equal(y, x * s)


def test_mlp_input_is_the_concatenation_of_x_fourier_and_embedding():
    rng = np.random.default_rng(1)
    net = build_network("mlp", d=3, hidden=8, depth=2, input_fourier=4)
    params = net.init(rng, np.float64)
    x, c = rng.standard_normal((5, 3)), rng.standard_normal(5)
    _, (_, inp, _, _) = net.forward(params, x, c)  # the input layer's cache is its input
    expected = np.concatenate([x, net.fourier.forward(params, x)[0],
                               net.emb.forward(params, c)[0]], axis=1)
    np.testing.assert_array_equal(inp, expected)
    assert inp.shape == (5, 3 + 8 + net.cfg.emb_dim)
