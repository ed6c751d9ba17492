"""A network written with difflab.numpy, so difflab's AD can differentiate it.

``gradcheck`` then compares AD's gradient with central differences, the complex step and the
mpmath reference (``--order 2`` adds Hessian-vector products):

    difflab gradcheck examples/dnp_mlp.py:loss
    difflab gradcheck examples/dnp_mlp.py:loss_relu       # one entry sits on relu's kink

In ``loss_relu`` the first example is all zeros and the first hidden bias is 0, so that
unit's pre-activation is exactly 0: relu′(0) is a convention (0 here), the finite
differences see the average of both sides, and gradcheck reports the entry as a kink. In
``--mode fast`` every random projection of b1 crosses that kink, so b1 cannot be judged there
and the check is inconclusive: check at a point off the kink, or in full mode.
"""

import numpy as np

import difflab.numpy as dnp

_rng = np.random.default_rng(0)
X = _rng.normal(size=(12, 3))
X[0] = 0.0
Y = np.tanh(X @ _rng.normal(size=(3, 1)))


def params():
    rng = np.random.default_rng(1)
    b1 = 0.1 * rng.normal(size=4)
    b1[0] = 0.0
    return {"W1": rng.normal(size=(3, 4)) / np.sqrt(3), "b1": b1,
            "W2": rng.normal(size=(4, 1)) / 2, "b2": np.zeros(1)}


def _loss(p, activation):
    hidden = activation(dnp.matmul(X, p["W1"]) + p["b1"])
    prediction = dnp.matmul(hidden, p["W2"]) + p["b2"]
    return dnp.mean(dnp.square(prediction - Y))


def loss(p):
    return _loss(p, dnp.tanh)


def loss_relu(p):
    return _loss(p, dnp.relu)
