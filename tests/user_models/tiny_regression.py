"""A user's own model, written from scratch for the report's --model test: a one-hidden-layer
softplus network with a ridge term on every parameter (so Newton meets an isolated minimizer), on a fixed batch, with params as a dict."""

import numpy as np

import difflab.numpy as dnp

_rng = np.random.default_rng(11)
X = _rng.normal(size=(5, 2))
Y = np.cos(X[:, 0]) - 0.5 * X[:, 1]


def params():
    return {"W": 0.4 * _rng.normal(size=(2, 3)), "b": np.full(3, 0.1),
            "v": 0.4 * _rng.normal(size=3)}


def loss(p):
    hidden = dnp.softplus(X @ p["W"] + p["b"])
    ridge = dnp.sum(p["W"] ** 2) + dnp.sum(p["b"] ** 2) + dnp.sum(p["v"] ** 2)
    return dnp.mean((hidden @ p["v"] - Y) ** 2) + 0.05 * ridge


def ranked(p):
    """The same loss through a sort, which the symbolic method cannot trace."""
    return loss(p) + 1e-3 * dnp.sum(dnp.sort(p["b"]))
