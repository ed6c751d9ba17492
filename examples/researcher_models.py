"""The layers a researcher writes, in difflab.numpy, each with a scalar loss over a seeded batch.

Each ``*_loss(params)`` is a plain function of a dict of arrays, written as one would in NumPy
(methods such as ``h.mean(axis=0)``, ``h.var(axis=0)``, ``x.T``; ``dnp.split``, ``dnp.einsum``,
``dnp.stack``), so every differentiator and ``gradcheck`` can take it:

    difflab gradcheck examples/researcher_models.py:batch_norm_loss --params batch_norm_params
    difflab gradcheck examples/researcher_models.py:attention_loss --params attention_params \
        --order 2

``MODELS`` maps each loss to its ``params()``; sizes are small (at most 100 parameters, at most 30 for
the two checked with ``order=2``) so the mpmath reference takes part in every check.
"""

import math

import numpy as np

import difflab.numpy as dnp

EPS = 1e-5     # the variance floor of batch and layer norm, as in PyTorch


def _data(seed, *shape):
    return np.random.default_rng(seed).normal(size=shape)


def _init(seed, **shapes):
    """A dict of seeded arrays, each scaled by 1/√(fan-in) (its first axis)."""
    rng = np.random.default_rng(seed)
    return {name: rng.normal(size=shape) / math.sqrt(shape[0] if shape else 1)
            for name, shape in shapes.items()}


def _mse(prediction, target):
    return ((prediction - target) ** 2).mean()


# Batch norm (Ioffe & Szegedy 2015): normalize each feature by the batch's mean and variance.

X_BN, Y_BN = _data(10, 6, 3), _data(11, 6, 2)


def batch_norm_params():
    p = _init(1, W=(3, 3), V=(3, 2))
    p["gamma"], p["beta"] = 1.0 + 0.1 * _data(2, 3), 0.1 * _data(3, 3)
    return p


def batch_norm_loss(p):
    h = X_BN @ p["W"]
    normalized = (h - h.mean(axis=0)) / dnp.sqrt(h.var(axis=0) + EPS)
    return _mse(dnp.tanh(p["gamma"] * normalized + p["beta"]) @ p["V"], Y_BN)


# Layer norm (Ba et al. 2016): normalize each example across its features.

X_LN, Y_LN = _data(20, 5, 3), _data(21, 5)


def layer_norm_params():
    p = _init(4, W=(3, 4), v=(4,))
    p["b"], p["gamma"], p["beta"] = 0.1 * _data(5, 4), 1.0 + 0.1 * _data(6, 4), 0.1 * _data(7, 4)
    return p


def layer_norm_loss(p):
    h = X_LN @ p["W"] + p["b"]
    mu, var = h.mean(axis=-1, keepdims=True), dnp.var(h, axis=-1, keepdims=True)
    out = p["gamma"] * (h - mu) / dnp.sqrt(var + EPS) + p["beta"]
    return _mse(dnp.tanh(out) @ p["v"], Y_LN)


# Single-head self-attention (Vaswani et al. 2017) over a batch of two sequences of four tokens.

X_ATT, Y_ATT = _data(30, 2, 4, 3), _data(31, 2, 4, 3)


def attention_params():
    return _init(8, Wq=(3, 2), Wk=(3, 2), Wv=(3, 2), Wo=(2, 3))


def attention_loss(p):
    d = p["Wq"].shape[1]
    q, k, v = X_ATT @ p["Wq"], X_ATT @ p["Wk"], X_ATT @ p["Wv"]
    scores = dnp.einsum("btd,bsd->bts", q, k) / math.sqrt(d)
    weights = dnp.softmax(scores, axis=-1)
    return _mse(dnp.matmul(weights, v) @ p["Wo"] + X_ATT, Y_ATT)


def attend(p, x):
    """One sequence x (tokens, features), written with ``@`` and ``.T`` instead of einsum."""
    q, k, v = x @ p["Wq"], x @ p["Wk"], x @ p["Wv"]
    weights = dnp.softmax(q @ k.T / math.sqrt(q.shape[1]), axis=-1)
    return weights @ v @ p["Wo"] + x


def attention_loss_matmul(p):
    """The same layer, one sequence at a time, stacked back into a batch."""
    return _mse(dnp.stack([attend(p, x) for x in X_ATT]), Y_ATT)


# An LSTM cell (Hochreiter & Schmidhuber 1997), unrolled over three steps.

X_LSTM, Y_LSTM = _data(40, 3, 2, 2), _data(41, 2)     # (time, batch, inputs), (batch,)
HIDDEN = 2


def lstm_params():
    p = _init(9, W=(2 + HIDDEN, 4 * HIDDEN), v=(HIDDEN,))
    p["b"] = 0.1 * _data(12, 4 * HIDDEN)
    return p


def lstm_cell(p, x, h, c):
    """One step: the four gates from one product, split along the feature axis."""
    z = dnp.concatenate([x, h], axis=1) @ p["W"] + p["b"]
    i, f, g, o = dnp.split(z, 4, axis=1)
    c = dnp.sigmoid(f) * c + dnp.sigmoid(i) * dnp.tanh(g)
    return dnp.sigmoid(o) * dnp.tanh(c), c


def lstm_loss(p):
    batch = X_LSTM.shape[1]
    h, c = np.zeros((batch, HIDDEN)), np.zeros((batch, HIDDEN))
    for x in X_LSTM:
        h, c = lstm_cell(p, x, h, c)
    return _mse(h @ p["v"], Y_LSTM)


# Convolutions (valid, stride 1) by sliding windows: slices stacked, then one einsum.

X_C1, Y_C1 = _data(50, 2, 7, 2), _data(51, 2, 5, 2)             # (batch, length, channels)


def conv1d_params():
    return {"K": _data(13, 3, 2, 2) / math.sqrt(6), "b": 0.1 * _data(14, 2)}


def conv1d(x, kernel, bias):
    """y[n, t, o] = Σ_{k, c} x[n, t + k, c]·K[k, c, o] + b[o]."""
    width, length = kernel.shape[0], x.shape[1]
    windows = dnp.stack([x[:, k:length - width + 1 + k, :] for k in range(width)], axis=2)
    return dnp.einsum("ntkc,kco->nto", windows, kernel) + bias


def conv1d_loss(p):
    return _mse(dnp.gelu(conv1d(X_C1, p["K"], p["b"])), Y_C1)


X_C2, Y_C2 = _data(60, 2, 5, 5, 1), _data(61, 2, 3, 3, 2)       # (batch, rows, columns, channels)


def conv2d_params():
    return {"K": _data(15, 3, 3, 1, 2) / 3.0, "b": 0.1 * _data(16, 2)}


def conv2d(x, kernel, bias):
    """y[n, r, s, o] = Σ_{i, j, c} x[n, r + i, s + j, c]·K[i, j, c, o] + b[o]."""
    kh, kw = kernel.shape[:2]
    rows, columns = x.shape[1] - kh + 1, x.shape[2] - kw + 1
    patches = dnp.stack([dnp.stack([x[:, i:i + rows, j:j + columns, :] for j in range(kw)],
                                   axis=3)
                         for i in range(kh)], axis=3)          # (n, r, s, i, j, c)
    return dnp.einsum("nrsijc,ijco->nrso", patches, kernel) + bias


def conv2d_loss(p):
    y = conv2d(X_C2, p["K"], p["b"])
    return _mse(dnp.tanh(y), Y_C2)


# GELU (Hendrycks & Gimpel 2016) written by hand through erf, in a two-layer MLP.

X_GELU, Y_GELU = _data(70, 6, 3), _data(71, 6)


def gelu_params():
    p = _init(17, W1=(3, 4), w2=(4,))
    p["b1"] = 0.1 * _data(18, 4)
    return p


def gelu(x):
    return 0.5 * x * (1.0 + dnp.erf(x / math.sqrt(2.0)))


def gelu_loss(p):
    return _mse(gelu(X_GELU @ p["W1"] + p["b1"]) @ p["w2"], Y_GELU)


MODELS = {
    "batch_norm": (batch_norm_loss, batch_norm_params),
    "layer_norm": (layer_norm_loss, layer_norm_params),
    "attention": (attention_loss, attention_params),
    "attention_matmul": (attention_loss_matmul, attention_params),
    "lstm": (lstm_loss, lstm_params),
    "conv1d": (conv1d_loss, conv1d_params),
    "conv2d": (conv2d_loss, conv2d_params),
    "gelu": (gelu_loss, gelu_params),
}

