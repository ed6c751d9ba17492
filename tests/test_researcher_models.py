"""Issue 15: the models a researcher writes in dnp pass gradcheck, and match independent truths.

The models live in ``examples/researcher_models.py`` (batch norm, layer norm, self-attention,
an LSTM cell, 1-D and 2-D convolutions, GELU through erf). Here each is checked three ways:

- its value in float64 against the same layer written independently, in plain NumPy loops
  and ``math.erf`` (no dnp composite involved), so a wrong einsum, split, stack or var is
  caught even where every differentiator would agree with it;
- ``gradcheck`` (AD against central differences, the complex step and the mpmath reference),
  in full mode, and with ``order=2`` for batch norm and attention;
- AD's and the symbolic differentiator's gradients on the flat θ against
  ``difflab.reference.gradient`` within ``interface.tolerance``.
"""

import importlib.util
import io
import math
from pathlib import Path

import numpy as np
import pytest

import difflab.numpy as dnp
from difflab import differentiator, gradcheck, ravel, reference
from difflab.cli import main
from difflab.errors import NonAnalyticError
from difflab.interface import tolerance

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
_spec = importlib.util.spec_from_file_location("researcher_models",
                                               EXAMPLES / "researcher_models.py")
rm = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(rm)

NAMES = list(rm.MODELS)
VALUE_TOLERANCE = 1e-13


def flat(name):
    """The model as a function of its flat θ, and θ."""
    loss, params = rm.MODELS[name]
    theta, unravel = ravel(params())
    return (lambda t: loss(unravel(t))), theta


# The layers written again, in plain NumPy loops: the independent truth for the values.

def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _softmax_rows(s):
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _normalized_columns(h):
    out = np.empty_like(h)
    for j in range(h.shape[1]):
        column = h[:, j]
        mu = sum(column) / len(column)
        var = sum((v - mu) ** 2 for v in column) / len(column)
        out[:, j] = (column - mu) / math.sqrt(var + rm.EPS)
    return out


def plain_batch_norm(p):
    h = rm.X_BN @ p["W"]
    out = np.tanh(p["gamma"] * _normalized_columns(h) + p["beta"]) @ p["V"]
    return np.mean((out - rm.Y_BN) ** 2)


def plain_layer_norm(p):
    h = rm.X_LN @ p["W"] + p["b"]
    out = p["gamma"] * _normalized_columns(h.T).T + p["beta"]
    return np.mean((np.tanh(out) @ p["v"] - rm.Y_LN) ** 2)


def plain_attention(p):
    x = rm.X_ATT
    out = np.empty_like(x)
    for n in range(x.shape[0]):
        q, k, v = x[n] @ p["Wq"], x[n] @ p["Wk"], x[n] @ p["Wv"]
        scores = np.array([[q[t] @ k[s] for s in range(len(k))] for t in range(len(q))])
        out[n] = _softmax_rows(scores / math.sqrt(q.shape[1])) @ v @ p["Wo"] + x[n]
    return np.mean((out - rm.Y_ATT) ** 2)


def plain_lstm(p):
    H = rm.HIDDEN
    batch = rm.X_LSTM.shape[1]
    h, c = np.zeros((batch, H)), np.zeros((batch, H))
    for x in rm.X_LSTM:
        z = np.hstack([x, h]) @ p["W"] + p["b"]
        i, f, g, o = (z[:, m * H:(m + 1) * H] for m in range(4))
        c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
        h = _sigmoid(o) * np.tanh(c)
    return np.mean((h @ p["v"] - rm.Y_LSTM) ** 2)


def plain_conv1d(x, K, b):
    width = K.shape[0]
    n, length, _ = x.shape
    y = np.empty((n, length - width + 1, K.shape[2]))
    for m in range(n):
        for t in range(y.shape[1]):
            for o in range(y.shape[2]):
                y[m, t, o] = b[o] + sum(x[m, t + k, c] * K[k, c, o]
                                        for k in range(width) for c in range(K.shape[1]))
    return y


def plain_conv2d(x, K, b):
    kh, kw, channels, outs = K.shape
    n, rows, columns = x.shape[0], x.shape[1] - kh + 1, x.shape[2] - kw + 1
    y = np.empty((n, rows, columns, outs))
    for m in range(n):
        for r in range(rows):
            for s in range(columns):
                for o in range(outs):
                    y[m, r, s, o] = b[o] + sum(x[m, r + i, s + j, c] * K[i, j, c, o]
                                               for i in range(kh) for j in range(kw)
                                               for c in range(channels))
    return y


def _gelu(x):
    return np.vectorize(lambda v: v * (1.0 + math.erf(v / math.sqrt(2.0))) / 2.0)(x)


def plain_conv1d_loss(p):
    return np.mean((_gelu(plain_conv1d(rm.X_C1, p["K"], p["b"])) - rm.Y_C1) ** 2)


def plain_conv2d_loss(p):
    return np.mean((np.tanh(plain_conv2d(rm.X_C2, p["K"], p["b"])) - rm.Y_C2) ** 2)


def plain_gelu(p):
    hidden = _gelu(rm.X_GELU @ p["W1"] + p["b1"])
    return np.mean((hidden @ p["w2"] - rm.Y_GELU) ** 2)


PLAIN = {"batch_norm": plain_batch_norm, "layer_norm": plain_layer_norm,
         "attention": plain_attention, "attention_matmul": plain_attention, "lstm": plain_lstm,
         "conv1d": plain_conv1d_loss, "conv2d": plain_conv2d_loss, "gelu": plain_gelu}


def test_every_model_has_an_independent_value():
    assert set(PLAIN) == set(rm.MODELS)


@pytest.mark.parametrize("name", NAMES)
def test_the_value_matches_plain_numpy_loops(name):
    loss, params = rm.MODELS[name]
    p = params()
    value, truth = float(loss(p)), float(PLAIN[name](p))
    assert abs(value - truth) <= VALUE_TOLERANCE * abs(truth), (value, truth)


@pytest.mark.parametrize("layer, plain, x, params", [
    (rm.conv1d, plain_conv1d, rm.X_C1, rm.conv1d_params),
    (rm.conv2d, plain_conv2d, rm.X_C2, rm.conv2d_params),
])
def test_the_convolutions_match_loops_entry_by_entry(layer, plain, x, params):
    p = params()
    y, truth = np.asarray(layer(x, p["K"], p["b"])), plain(x, p["K"], p["b"])
    assert y.shape == truth.shape
    np.testing.assert_allclose(y, truth, rtol=0, atol=VALUE_TOLERANCE * np.abs(truth).max())


def test_the_models_stay_small_enough_for_the_reference():
    for name in NAMES:
        _, theta = flat(name)
        assert theta.size <= 100, name        # gradcheck's reference limit in full mode
    for name in ("batch_norm", "attention"):
        assert flat(name)[1].size <= 30, name  # and for HVPs


# gradcheck: AD against the numeric truths and the reference.

@pytest.mark.parametrize("name", NAMES)
def test_gradcheck_passes_judged_by_the_reference(name):
    loss, params = rm.MODELS[name]
    result = gradcheck(loss, params())
    assert result.passed, result
    assert result.judge == {"gradient": "reference"}, result
    assert {"reference", "fd-central"} <= set(result.agreement), result
    assert max(result.agreement.values()) <= 1.0, result


@pytest.mark.parametrize("name", ["batch_norm", "attention"])
def test_gradcheck_of_hessian_vector_products_passes(name):
    loss, params = rm.MODELS[name]
    result = gradcheck(loss, params(), order=2)
    assert result.passed, result
    assert result.judge == {"gradient": "reference", "hvp": "reference"}, result
    assert {row.quantity for row in result.rows} == {"gradient", "hvp"}


# Gradients on the flat θ against the reference.

@pytest.fixture(scope="module")
def references():
    """Each model's reference gradient (50-digit mpmath), computed once."""
    return {name: reference.gradient(*flat(name)) for name in NAMES}


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("method", ["ad", "symbolic"])
def test_the_gradient_agrees_with_the_reference(name, method, references):
    f, theta = flat(name)
    g = differentiator(method).gradient(f, theta)
    error = reference.relative_error(g, references[name])
    assert error <= tolerance(method, "gradient"), (name, method, error)


@pytest.mark.parametrize("name", NAMES)
def test_the_complex_step_agrees_or_refuses_by_name(name, references):
    """Never a wrong number: NumPy's own ``ndarray.var`` on the complex step's arrays is
    Σ|x − x̄|²/N, not analytic (batch norm calls ``h.var(axis=0)``), and must be refused."""
    f, theta = flat(name)
    try:
        g = differentiator("complex-step").gradient(f, theta)
    except NonAnalyticError:
        assert name == "batch_norm"
        return
    error = reference.relative_error(g, references[name])
    assert error <= tolerance("complex-step", "gradient"), (name, error)


def test_the_command_line_checks_a_model_from_the_example_file():
    out = io.StringIO()
    status = main(["gradcheck", f"{EXAMPLES / 'researcher_models.py'}:lstm_loss",
                   "--params", "lstm_params"], out=out)
    assert status == 0, out.getvalue()
    assert "passed" in out.getvalue().splitlines()[0]


# Regressions in the composites the models stand on (difflab/numpy/composites.py).

def test_einsum_broadcasts_a_size_one_label_against_a_later_operand():
    """'ij,j,i->i' with i of size 1 in the first operand and 3 in the third: NumPy broadcasts;
    the pairwise contraction used to reshape the first product to the label's size 3 and fail
    with a bare ValueError."""
    rng = np.random.default_rng(3)
    a, b, c = rng.normal(size=(1, 2)), rng.normal(size=2), rng.normal(size=3)
    for optimize in (False, "greedy"):
        got = dnp.einsum("ij,j,i->i", a, b, c, optimize=optimize)
        np.testing.assert_allclose(got, np.einsum("ij,j,i->i", a, b, c), rtol=1e-14)
    f = lambda t: dnp.sum(dnp.einsum("ij,j,i->i", dnp.reshape(t[:2], (1, 2)), t[2:4], c) ** 2)
    theta = rng.normal(size=4)
    g = differentiator("ad").gradient(f, theta)
    assert reference.relative_error(g, reference.gradient(f, theta)) <= \
        tolerance("ad", "gradient")


def test_einsum_plans_are_reused_per_subscripts_and_shapes():
    """The plan is cached by (subscripts, shapes, optimize), never by the operands: the same
    subscripts on other shapes get their own plan and NumPy's answer."""
    from difflab.numpy.composites import _einsum_plan
    rng = np.random.default_rng(4)
    before = _einsum_plan.cache_info()
    for shape in [(2, 3, 4), (2, 3, 4), (1, 5, 2)]:
        a, b = rng.normal(size=shape), rng.normal(size=shape[:1] + shape[2:] + (3,))
        np.testing.assert_allclose(dnp.einsum("bij,bjk->bik", a, b),
                                   np.einsum("bij,bjk->bik", a, b), rtol=1e-14)
    after = _einsum_plan.cache_info()
    assert after.hits - before.hits >= 1
    assert after.misses - before.misses <= 2
