"""Exercises of lesson 2, backprop by hand: SiLU, Linear and LayerNorm, forward beside backward.

References: cdlite.nn.layers (SiLU, Linear, LayerNorm) and float64 central differences of the
scalar L = sum(dy * y), whose gradient with respect to y is dy (so dx = dL/dx is the backward
pass for the upstream gradient dy).

Shapes: B batch, I input features, O output features.
"""
from __future__ import annotations

import numpy as np

from ..backend import make_rng
from ..nn.layers import LayerNorm, Linear, SiLU
from .exercise import Check, Exercise
from .grading import (as_array, compare, fmt, index_name, log_uniform, numeric_grad, randomized,
                      unpack)

H = 1e-6  # central-difference step in float64: truncation ~h^2, round-off ~1e-16 / h


# ---- SiLU ------------------------------------------------------------------------------------

def _silu(x):
    return SiLU().forward({}, x)[0]


def _silu_derivative(x):
    """dSiLU/dx by central differences of cdlite's forward, entry by entry (float64)."""
    return (_silu(x + H) - _silu(x - H)) / (2 * H)


def _silu_points(seed, shape):
    x = make_rng(seed).uniform(-6.0, 6.0, shape)
    x.flat[:5] = [-2.0, -0.5, 0.0, 1.0, 3.0]  # round values the hint can name
    return x


def check_silu_forward(student):
    x = _silu_points(201, (3, 4, 5))
    y = as_array(student("silu_forward", x), "silu_forward(x)", x.shape, "the shape of x")
    s = 1.0 / (1.0 + np.exp(-x))
    compare(y, _silu(x), lambda i: f"SiLU({fmt(x[i])})", mistakes=[
        (s, "yours is sigmoid(x): SiLU multiplies it by x"),
        (x / (1.0 + np.exp(x)), "yours is x * sigmoid(-x): check the sign inside exp"),
        (x * np.exp(-x), "yours is x * exp(-x): sigmoid(x) = 1 / (1 + exp(-x))")])


def check_silu_derivative(student):
    x = _silu_points(202, (4, 6))
    dx = as_array(student("silu_backward", x, np.ones_like(x)), "silu_backward(x, dy = 1)",
                  x.shape, "the shape of x")
    s = 1.0 / (1.0 + np.exp(-x))
    compare(dx, _silu_derivative(x), lambda i: f"d/dx of SiLU at x = {fmt(x[i])}", mistakes=[
        (s, "yours is sigmoid(x) alone: the product rule on x * s(x) adds x * s'(x)"),
        (s * (1 - s), "yours is the derivative of sigmoid, not of x * sigmoid(x)"),
        (x * s * (1 - s), "yours is x * s'(x) alone: the product rule adds s(x)"),
        (s * (1 + x * s), "yours has s where (1 - s) belongs: s'(x) = s (1 - s)")])


def check_silu_chain_rule(student):
    x = _silu_points(203, (5, 3))
    dy = make_rng(204).standard_normal(x.shape)
    dx = as_array(student("silu_backward", x, dy), "silu_backward(x, dy)", x.shape,
                  "the shape of x")
    g = _silu_derivative(x)
    compare(dx, dy * g, lambda i: f"dx at x = {fmt(x[i])}, dy = {fmt(dy[i])}", mistakes=[
        (g, "yours ignores dy: the chain rule gives dx = dy * dSiLU/dx"),
        (dy / (1.0 + np.exp(-x)), "yours is dy * sigmoid(x): the product rule on x * s(x) adds "
                                  "x * s'(x)"),
        (dy * _silu(x), "yours is dy * SiLU(x): multiply dy by the derivative, not the value")])


@randomized(205)
def check_silu_random(student, rng):
    """Random shapes, a single row, and |x| from 1e-4 to 40 with both signs."""
    for shape in [(1, int(rng.integers(1, 7))), tuple(int(n) for n in rng.integers(1, 6, 3))]:
        x = rng.choice([-1.0, 1.0], shape) * log_uniform(rng, 1e-4, 40.0, shape)
        dy = rng.standard_normal(shape)
        y = as_array(student("silu_forward", x), "silu_forward(x)", x.shape, "the shape of x")
        compare(y, _silu(x), lambda i, x=x: f"SiLU({fmt(x[i])})")
        dx = as_array(student("silu_backward", x, dy), "silu_backward(x, dy)", x.shape,
                      "the shape of x")
        compare(dx, dy * _silu_derivative(x), lambda i, x=x, dy=dy: f"dx at x = {fmt(x[i])}, "
                f"dy = {fmt(dy[i])}")


SILU = Exercise(
    name="silu", lesson=2, title="SiLU forward and backward",
    functions=("silu_forward", "silu_backward"),
    math="""
SiLU (Elfwing et al. 2018) is the activation of cdlite's MLPs:

    y = SiLU(x) = x * s(x),   s(x) = sigmoid(x) = 1 / (1 + exp(-x)).

It acts entry by entry, so its backward pass is one product per entry: given the upstream
gradient dy = dL/dy (same shape as y), return dx = dL/dx = dy * dSiLU/dx. Derive dSiLU/dx
yourself, and write it with s(x) alone (no second exp): that is what a backward pass reuses from
the forward pass. Stuck? `cdlite exercise hint silu`.
""",
    code='''
import numpy as np


def silu_forward(x):
    """SiLU(x) entry by entry. x: an array of any shape; returns an array of the same shape."""
    # YOUR CODE HERE
    raise NotImplementedError("write silu_forward")


def silu_backward(x, dy):
    """dx = dy * dSiLU/dx, entry by entry. x, dy: arrays of the same shape; returns that shape."""
    # YOUR CODE HERE
    raise NotImplementedError("write silu_backward")
''',
    reference="cdlite/nn/layers.py, class SiLU",
    hints=("The product rule: d/dx [x s(x)] = s(x) + x s'(x).",
           "s(x) = 1 / (1 + e^-x), so s'(x) = e^-x / (1 + e^-x)^2.",
           "e^-x / (1 + e^-x) = 1 - s(x), so s'(x) = s(x) (1 - s(x)).",
           "dSiLU/dx = s (1 + x (1 - s)); the backward pass returns dy times that."),
    checks=(Check("silu_forward: values on a (3, 4, 5) array", check_silu_forward),
            Check("silu_backward: the derivative (dy = 1), by central differences",
                  check_silu_derivative),
            Check("silu_backward: the chain rule with a random dy", check_silu_chain_rule),
            Check("forward and backward on random shapes, one row, tiny and large |x|",
                  check_silu_random)),
)


# ---- Linear ----------------------------------------------------------------------------------

def _linear_case(seed, B, I, O):
    rng = make_rng(seed)
    x, W = rng.standard_normal((B, I)), rng.standard_normal((I, O))
    b, dy = rng.standard_normal(O), rng.standard_normal((B, O))
    return x, W, b, dy


def _linear_numeric(x, W, b, dy):
    """(dx, dW, db) of L = sum(dy * (x @ W + b)) by central differences of cdlite's Linear."""
    layer = Linear("lin", W.shape[0], W.shape[1])
    params = {"lin.W": W, "lin.b": b}
    loss = (lambda: float(np.sum(dy * layer.forward(params, x)[0])))
    return tuple(numeric_grad(loss, a, h=H) for a in (x, W, b))


def _student_linear(student, x, W, dy):
    out = unpack(student("linear_backward", x, W, dy), "linear_backward(x, W, dy)",
                 ("dx", "dW", "db"))
    B, I = x.shape
    O = W.shape[1]
    return (as_array(out[0], "dx", (B, I), "the shape of x, (B, I)"),
            as_array(out[1], "dW", (I, O), "the shape of W, (I, O)"),
            as_array(out[2], "db", (O,), "the shape of b, (O,)"))


def check_linear_shapes(student):
    x, W, _, dy = _linear_case(211, 4, 5, 3)
    _student_linear(student, x, W, dy)


def check_linear_dx(student):
    x, W, b, dy = _linear_case(212, 6, 5, 3)
    dx, _, _ = _student_linear(student, x, W, dy)
    compare(dx, _linear_numeric(x, W, b, dy)[0], index_name("dx"))


def check_linear_dW(student):
    x, W, b, dy = _linear_case(213, 7, 4, 3)
    _, dW, _ = _student_linear(student, x, W, dy)
    compare(dW, _linear_numeric(x, W, b, dy)[1], index_name("dW"), mistakes=[
        (x.T @ dy / x.shape[0], "yours is averaged over the batch: L = sum(dy * y) sums, so "
                                "dW = x^T dy, no 1/B")])


def check_linear_db(student):
    x, W, b, dy = _linear_case(214, 5, 3, 4)
    _, _, db = _student_linear(student, x, W, dy)
    compare(db, _linear_numeric(x, W, b, dy)[2], index_name("db"), mistakes=[
        (dy.mean(axis=0), "yours is the mean over the batch: b is added to every row, so db is "
                          "the sum of dy over the batch"),
        (dy[0], "yours is the first row of dy only: b is added to every row")])


def check_linear_square(student):
    # I = O: a transposed matrix has the right shape here, so only the values can tell.
    x, W, b, dy = _linear_case(215, 5, 4, 4)
    dx, dW, db = _student_linear(student, x, W, dy)
    ndx, ndW, ndb = _linear_numeric(x, W, b, dy)
    compare(dx, ndx, index_name("dx (I = O = 4)"), mistakes=[
        (dy @ W, "yours is dy @ W: it needs W transposed, dx = dy @ W^T")])
    compare(dW, ndW, index_name("dW (I = O = 4)"), mistakes=[
        (dy.T @ x, "yours is dW transposed: dW = x^T dy has W's layout (I, O)")])
    compare(db, ndb, index_name("db (I = O = 4)"))


@randomized(216)
def check_linear_random(student, rng):
    """Random sizes, among them a single row (B = 1), one input (I = 1) and one output (O = 1)."""
    for B, I, O in [(1, int(rng.integers(2, 6)), int(rng.integers(2, 6))),
                    (int(rng.integers(2, 8)), 1, 1),
                    tuple(int(n) for n in rng.integers(2, 7, 3))]:
        x, W, b, dy = _linear_case(int(rng.integers(1 << 30)), B, I, O)
        dx, dW, db = _student_linear(student, x, W, dy)
        ndx, ndW, ndb = _linear_numeric(x, W, b, dy)
        size = f" (B = {B}, I = {I}, O = {O})"
        compare(dx, ndx, index_name("dx" + size))
        compare(dW, ndW, index_name("dW" + size))
        compare(db, ndb, index_name("db" + size))


LINEAR = Exercise(
    name="linear", lesson=2, title="Linear backward",
    functions=("linear_backward",),
    math="""
A linear layer, as cdlite stores it (cdlite/nn/layers.py):

    y = x @ W + b,   x (B, I), W (I, O), b (O,), y (B, O).

Given the upstream gradient dy = dL/dy (B, O), the backward pass returns the gradients of L with
respect to the layer's input and parameters: dx (B, I), dW (I, O), db (O,). Each has the shape of
the array it is the gradient of. (The checker uses L = sum(dy * y), whose gradient w.r.t. y is
dy, and float64 central differences of it.)
""",
    code='''
import numpy as np


def linear_backward(x, W, dy):
    """(dx, dW, db) of y = x @ W + b for upstream gradient dy.

    x: (B, I) input, W: (I, O) weights, dy: (B, O). b does not appear in any of the three.
    Returns dx (B, I), dW (I, O), db (O,).
    """
    # YOUR CODE HERE
    raise NotImplementedError("write linear_backward")
''',
    reference="cdlite/nn/layers.py, class Linear",
    hints=("Write y_bo = sum_i x_bi W_io + b_o and differentiate L = sum_bo dy_bo y_bo one "
           "entry at a time.",
           "dL/dW_io = sum_b x_bi dy_bo: as matrices, dW = x^T dy (I, O).",
           "dL/dx_bi = sum_o dy_bo W_io: dx = dy W^T (B, I); db = the sum of dy over the "
           "batch (O,)."),
    checks=(Check("linear_backward: returns dx, dW, db with the shapes of x, W, b",
                  check_linear_shapes),
            Check("dx by central differences", check_linear_dx),
            Check("dW by central differences", check_linear_dW),
            Check("db by central differences", check_linear_db),
            Check("dx, dW, db when I = O (a transpose keeps the shape)", check_linear_square),
            Check("random sizes: one row, one input, one output", check_linear_random)),
)


# ---- LayerNorm -------------------------------------------------------------------------------

def _layernorm_case(seed, B, I, scale=1.0):
    rng = make_rng(seed)
    x = scale * rng.standard_normal((B, I)) + rng.standard_normal((B, 1))  # rows with an offset
    gamma = 1.0 + 0.5 * rng.standard_normal(I)
    beta, dy = rng.standard_normal(I), rng.standard_normal((B, I))
    return x, gamma, beta, dy


def _layernorm_numeric(x, gamma, beta, dy, eps):
    """(dx, dgamma, dbeta) of L = sum(dy * LayerNorm(x)) by central differences of cdlite's."""
    layer = LayerNorm("ln", x.shape[1], eps)
    params = {"ln.gamma": gamma, "ln.beta": beta}
    loss = (lambda: float(np.sum(dy * layer.forward(params, x)[0])))
    return tuple(numeric_grad(loss, a, h=H) for a in (x, gamma, beta))


def _layernorm_parts(x, gamma, dy, eps):
    """The pieces a wrong answer is made of: xhat, rstd, dxhat."""
    xc = x - x.mean(axis=1, keepdims=True)
    rstd = 1.0 / np.sqrt((xc * xc).mean(axis=1, keepdims=True) + eps)  # (B, 1)
    return xc * rstd, rstd, dy * gamma


def _student_layernorm(student, x, gamma, dy, eps):
    out = unpack(student("layernorm_backward", x, gamma, dy, eps),
                 "layernorm_backward(x, gamma, dy, eps)", ("dx", "dgamma", "dbeta"))
    B, I = x.shape
    return (as_array(out[0], "dx", (B, I), "the shape of x, (B, I)"),
            as_array(out[1], "dgamma", (I,), "the shape of gamma, (I,)"),
            as_array(out[2], "dbeta", (I,), "the shape of beta, (I,)"))


def check_layernorm_shapes(student):
    x, gamma, _, dy = _layernorm_case(221, 3, 6)
    _student_layernorm(student, x, gamma, dy, 1e-5)


def check_layernorm_params(student):
    x, gamma, beta, dy = _layernorm_case(222, 5, 4)
    _, dgamma, dbeta = _student_layernorm(student, x, gamma, dy, 1e-5)
    _, ndgamma, ndbeta = _layernorm_numeric(x, gamma, beta, dy, 1e-5)
    xhat, _, _ = _layernorm_parts(x, gamma, dy, 1e-5)
    compare(dbeta, ndbeta, index_name("dbeta"), mistakes=[
        (dy.mean(axis=0), "yours is the mean over the batch: beta is added to every row, so "
                          "dbeta is the sum")])
    compare(dgamma, ndgamma, index_name("dgamma"), mistakes=[
        (dy.sum(axis=0), "yours misses the factor xhat: y = gamma * xhat + beta"),
        ((dy * x).sum(axis=0), "yours uses x where the normalized xhat belongs")])


def _dx_mistakes(x, gamma, dy, eps):
    xhat, rstd, dxhat = _layernorm_parts(x, gamma, dy, eps)
    mean = (lambda a: a.mean(axis=1, keepdims=True))
    return [
        (rstd * dxhat, "yours treats the row's mean and variance as constants: both depend on "
                       "every x of the row"),
        (rstd * (dxhat - mean(dxhat)), "yours misses the path through the variance"),
        (rstd * (dxhat - xhat * mean(dxhat * xhat)), "yours misses the path through the mean"),
        (rstd * (dy - mean(dy) - xhat * mean(dy * xhat)), "yours misses the factor gamma: "
                                                         "dxhat = dy * gamma")]


def check_layernorm_dx(student):
    x, gamma, beta, dy = _layernorm_case(223, 4, 7)
    dx, _, _ = _student_layernorm(student, x, gamma, dy, 1e-5)
    compare(dx, _layernorm_numeric(x, gamma, beta, dy, 1e-5)[0], index_name("dx"),
            mistakes=_dx_mistakes(x, gamma, dy, 1e-5))


def check_layernorm_eps(student):
    # Rows of small spread: eps = 0.05 is then a large part of var + eps, so it must be used.
    x, gamma, beta, dy = _layernorm_case(224, 3, 5, scale=0.2)
    dx, _, _ = _student_layernorm(student, x, gamma, dy, 0.05)
    numeric = _layernorm_numeric(x, gamma, beta, dy, 0.05)[0]
    compare(dx, numeric, index_name("dx (eps = 0.05)"), mistakes=[
        (_layernorm_numeric(x, gamma, beta, dy, 0.0)[0],
         "yours ignores eps: rstd = 1 / sqrt(var + eps)"),
        (_layernorm_numeric(x, gamma, beta, dy, 1e-5)[0],
         "yours uses eps = 1e-5, not the eps argument")] + _dx_mistakes(x, gamma, dy, 0.05))


def _layernorm_reference(x, gamma, beta, dy, eps):
    """(dx, dgamma, dbeta) from cdlite's LayerNorm.backward (gradient-checked in the tests): central
    differences lose their accuracy on rows whose spread is far from 1."""
    layer = LayerNorm("ln", x.shape[1], eps)
    params = {"ln.gamma": gamma, "ln.beta": beta}
    _, cache = layer.forward(params, x)
    dx, grads = layer.backward(params, dy, cache)
    return dx, grads["ln.gamma"], grads["ln.beta"]


@randomized(225)
def check_layernorm_random(student, rng):
    """Random sizes (one row; two features), rows of spread 1e-3 to 1e3, a constant row."""
    for B, I in [(1, int(rng.integers(2, 8))), (int(rng.integers(3, 7)), 2),
                 (int(rng.integers(3, 7)), int(rng.integers(3, 9)))]:
        x, gamma, beta, dy = _layernorm_case(int(rng.integers(1 << 30)), B, I)
        x = x * log_uniform(rng, 1e-3, 1e3, (B, 1))
        if B > 2:
            x[-1] = rng.standard_normal()  # a constant row: var = 0, only eps keeps rstd finite
        eps = float(rng.choice([1e-5, 1e-2]))
        dx, dgamma, dbeta = _student_layernorm(student, x, gamma, dy, eps)
        rdx, rdgamma, rdbeta = _layernorm_reference(x, gamma, beta, dy, eps)
        size = f" (B = {B}, I = {I}, eps = {eps:g})"
        compare(dbeta, rdbeta, index_name("dbeta" + size))
        compare(dgamma, rdgamma, index_name("dgamma" + size))
        spread = x.std(axis=1)
        compare(dx, rdx, lambda i, size=size, spread=spread: f"dx[{i[0]}, {i[1]}]{size[:-1]}; "
                f"row {i[0]} has spread {fmt(spread[i[0]])})")


LAYERNORM = Exercise(
    name="layernorm", lesson=2, title="LayerNorm backward",
    functions=("layernorm_backward",),
    math="""
LayerNorm (Ba et al. 2016) normalizes each row of x (B, I) over its I features:

    mu = mean_i x_i,   var = mean_i (x_i - mu)^2,   rstd = 1 / sqrt(var + eps)   (one per row)
    xhat = (x - mu) * rstd,   y = gamma * xhat + beta,   gamma, beta (I,).

The forward pass is given below. Write the backward pass: given dy = dL/dy (B, I), return
dx (B, I), dgamma (I,) and dbeta (I,). The catch: mu and var depend on every x_i of the row, so
changing one x_i moves every xhat_j of its row. (A tidy answer has three terms.)
""",
    code='''
import numpy as np


def layernorm_forward(x, gamma, beta, eps=1e-5):
    """Given: y = gamma * xhat + beta, each row of x normalized over its last axis."""
    mu = x.mean(axis=-1, keepdims=True)  # (B, 1)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)  # (B, 1)
    xhat = (x - mu) / np.sqrt(var + eps)  # (B, I)
    return gamma * xhat + beta


def layernorm_backward(x, gamma, dy, eps=1e-5):
    """(dx, dgamma, dbeta) of y = layernorm_forward(x, gamma, beta, eps) for upstream dy.

    x: (B, I), gamma: (I,), dy: (B, I). beta does not appear in any of the three.
    Returns dx (B, I), dgamma (I,), dbeta (I,).
    """
    # YOUR CODE HERE
    raise NotImplementedError("write layernorm_backward")
''',
    reference="cdlite/nn/layers.py, class LayerNorm",
    hints=("dbeta = sum of dy over the batch; dgamma = sum of dy * xhat over the batch; and "
           "dxhat = dy * gamma is the gradient arriving at xhat.",
           "xhat_j = (x_j - mu) rstd depends on x_i directly, through mu (dmu/dx_i = 1/I) and "
           "through rstd (d rstd / dx_i = -rstd^3 (x_i - mu) / I).",
           "Collect the three paths: dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat * xhat)), "
           "the means over each row."),
    checks=(Check("layernorm_backward: returns dx, dgamma, dbeta with the right shapes",
                  check_layernorm_shapes),
            Check("dgamma and dbeta by central differences", check_layernorm_params),
            Check("dx by central differences", check_layernorm_dx),
            Check("dx with eps = 0.05 on rows of small spread", check_layernorm_eps),
            Check("random sizes, one row, tiny and huge spreads, a constant row",
                  check_layernorm_random)),
)
