"""A two-layer network in plain NumPy with hand-written backprop, and four classic bugs.

    loss(p) = (1/B) Σᵢ ½‖tanh(xᵢW1 + b1)W2 + b2 − yᵢ‖²

``grad`` is the correct backward pass; ``grad_missing_transpose``,
``grad_wrong_activation_derivative``, ``grad_forgotten_bias`` and ``grad_off_by_batch_size``
each carry one bug. Check them from Python:

    from difflab import gradcheck
    import two_layer_backprop as net
    print(gradcheck(net.loss, net.params(), net.grad_forgotten_bias))

or from the command line (the file provides ``params``; ``--grad`` names the gradient):

    difflab gradcheck examples/two_layer_backprop.py:loss --grad grad_forgotten_bias
"""

import numpy as np

INPUTS, HIDDEN, OUTPUTS, BATCH = 3, 5, 2, 16

_rng = np.random.default_rng(0)
X = _rng.normal(size=(BATCH, INPUTS))
Y = np.sin(X @ _rng.normal(size=(INPUTS, OUTPUTS)))


def params():
    """W1 (3, 5), b1 (5,), W2 (5, 2), b2 (2,): Glorot-scaled weights, small biases."""
    rng = np.random.default_rng(1)
    return {"W1": rng.normal(size=(INPUTS, HIDDEN)) / np.sqrt(INPUTS),
            "b1": 0.1 * rng.normal(size=HIDDEN),
            "W2": rng.normal(size=(HIDDEN, OUTPUTS)) / np.sqrt(HIDDEN),
            "b2": 0.1 * rng.normal(size=OUTPUTS)}


def forward(p):
    H = np.tanh(X @ p["W1"] + p["b1"])
    return H, H @ p["W2"] + p["b2"]


def loss(p):
    _, P = forward(p)
    return 0.5 * np.sum((P - Y) ** 2) / BATCH


def grad(p):
    """The backward pass: dP = (P − Y)/B, then the chain rule layer by layer."""
    H, P = forward(p)
    dP = (P - Y) / BATCH
    dZ = (dP @ p["W2"].T) * (1 - H ** 2)          # tanh′ = 1 − tanh²
    return {"W1": X.T @ dZ, "b1": dZ.sum(axis=0), "W2": H.T @ dP, "b2": dP.sum(axis=0)}


def grad_missing_transpose(p):
    """dW1 written as dZᵀX: the shape of W1ᵀ."""
    g = grad(p)
    H, P = forward(p)
    dZ = ((P - Y) / BATCH @ p["W2"].T) * (1 - H ** 2)
    return {**g, "W1": dZ.T @ X}


def grad_wrong_activation_derivative(p):
    """tanh′ taken as 1 − tanh instead of 1 − tanh²: wrong W1 and b1."""
    H, P = forward(p)
    dP = (P - Y) / BATCH
    dZ = (dP @ p["W2"].T) * (1 - H)
    return {"W1": X.T @ dZ, "b1": dZ.sum(axis=0), "W2": H.T @ dP, "b2": dP.sum(axis=0)}


def grad_forgotten_bias(p):
    """The hidden bias never gets its gradient (left at zero)."""
    return {**grad(p), "b1": np.zeros(HIDDEN)}


def grad_off_by_batch_size(p):
    """db2 averaged over the batch although dP already carries 1/B: B times too small."""
    H, P = forward(p)
    dP = (P - Y) / BATCH
    return {**grad(p), "b2": dP.mean(axis=0)}


# Each buggy gradient and the parameters it gets wrong.
BUGS = {"grad_missing_transpose": ("W1",), "grad_wrong_activation_derivative": ("W1", "b1"),
        "grad_forgotten_bias": ("b1",), "grad_off_by_batch_size": ("b2",)}
