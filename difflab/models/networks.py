"""The networks of the zoo: forward passes, per-example losses and seeded initializers.

Forward passes and losses use ``dnp`` only, so they run under every number system. They
take one example (x of shape (d,), or (T, d) for the RNN) or a batch (a leading batch
axis) alike: layers are ``x @ W + b``, reductions run over ``axis=-1``. Values that depend
on the parameters stand on the left of operators whose other side is data, so an AD tensor
is asked first, not a NumPy array. Initializers use NumPy: they only make constants.
"""

import numpy as np

from .. import numpy as dnp

ACTIVATIONS = {
    "tanh": dnp.tanh,
    "sigmoid": dnp.sigmoid,
    "relu": dnp.relu,
    "softplus": dnp.softplus,
}

BIAS_SCALE = 0.1


def dense(layer, x):
    """Affine layer x W + b."""
    W, b = layer
    return dnp.matmul(x, W) + b


def mlp(params, x, activation=dnp.tanh, residual=False):
    """h_{l+1} = act(h_l W_l + b_l) on the hidden layers, then a linear output layer.

    With ``residual``, hidden-to-hidden layers of equal width keep a skip connection,
    h_{l+1} = h_l + act(h_l W_l + b_l) (He et al. 2016); the input layer never does, since
    the data are not a hidden state.
    """
    *hidden, output = params
    h = x
    for depth, layer in enumerate(hidden):
        z = activation(dense(layer, h))
        h = h + z if residual and depth > 0 and _is_square(layer[0]) else z
    return dense(output, h)


def _is_square(W):
    rows, cols = dnp.shape_of(W)
    return rows == cols


def rnn(params, x):
    """Elman RNN: h_t = tanh(x_t W_x + h_{t−1} W_h + b_h), h_0 = 0; prediction h_T W_y + b_y.

    ``x`` holds one sequence (T, d) or a batch (..., T, d); the loop unrolls the T steps.
    """
    steps = dnp.shape_of(x)[-2]
    # h_0 = 0, so the first step has no h W_h term (and needs no zero of the number system).
    h = dnp.tanh(dnp.matmul(x[..., 0, :], params["W_x"]) + params["b_h"])
    for t in range(1, steps):
        pre = dnp.matmul(h, params["W_h"]) + dnp.matmul(x[..., t, :], params["W_x"])
        h = dnp.tanh(pre + params["b_h"])
    return dnp.matmul(h, params["W_y"]) + params["b_y"]


def gru(params, x):
    """GRU (Cho et al. 2014), h_0 = 0, unrolled over the T steps of x (T, d) or (..., T, d):

        z = σ(x_t W_z + h U_z + b_z)          update gate
        r = σ(x_t W_r + h U_r + b_r)          reset gate
        c = tanh(x_t W_c + (r ⊙ h) U_c + b_c) candidate
        h ← (1 − z) ⊙ c + z ⊙ h

    prediction h_T W_y + b_y. The first step drops the terms of h_0 = 0.
    """
    steps = dnp.shape_of(x)[-2]
    h = None
    for t in range(steps):
        x_t = x[..., t, :]
        z = dnp.matmul(x_t, params["W_z"]) + params["b_z"]
        r = dnp.matmul(x_t, params["W_r"]) + params["b_r"]
        c = dnp.matmul(x_t, params["W_c"]) + params["b_c"]
        if h is None:
            z = dnp.sigmoid(z)
            h = (1 - z) * dnp.tanh(c)
            continue
        z = dnp.sigmoid(z + dnp.matmul(h, params["U_z"]))
        r = dnp.sigmoid(r + dnp.matmul(h, params["U_r"]))
        c = dnp.tanh(c + dnp.matmul(r * h, params["U_c"]))
        h = (1 - z) * c + z * h
    return dnp.matmul(h, params["W_y"]) + params["b_y"]


def mse(prediction, target):
    """Squared error averaged over the outputs, (1/m) Σ_j (ŷ_j − y_j)²: one value per example."""
    return dnp.mean(dnp.square(prediction - target), axis=-1)


def binary_cross_entropy(logit, target):
    """−[y log σ(z) + (1 − y) log(1 − σ(z))] = softplus(z) − y z, summed over the last axis.

    The right-hand form never takes the log of a rounded-to-zero probability.
    """
    return dnp.sum(dnp.softplus(logit) - logit * target, axis=-1)


def softmax_cross_entropy(logits, target):
    """−Σ_k y_k log softmax(z)_k over the last axis, for one-hot (or any probability) y."""
    return -dnp.sum(dnp.log_softmax(logits, axis=-1) * target, axis=-1)


def glorot(rng, fan_in, fan_out):
    """W ~ N(0, 2/(fan_in + fan_out)) (Glorot & Bengio 2010): keeps tanh layers O(1)."""
    return rng.normal(0.0, np.sqrt(2.0 / (fan_in + fan_out)), size=(fan_in, fan_out))


def he(rng, fan_in, fan_out):
    """W ~ N(0, 2/fan_in) (He et al. 2015): keeps relu layers O(1)."""
    return rng.normal(0.0, np.sqrt(2.0 / fan_in), size=(fan_in, fan_out))


def small_bias(rng, size):
    """b ~ N(0, 0.1²): small, but never exactly 0, so no relu sits on its kink at the start."""
    return rng.normal(0.0, BIAS_SCALE, size=size)


def init_mlp(rng, widths, activation="tanh"):
    """[(W_l, b_l)] for widths (d_0, …, d_L): He for relu hidden layers, Glorot elsewhere."""
    layers = []
    for depth, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:])):
        hidden = depth < len(widths) - 2
        weights = he if hidden and activation == "relu" else glorot
        layers.append((weights(rng, fan_in, fan_out), small_bias(rng, fan_out)))
    return layers


def init_rnn(rng, inputs, hidden, outputs):
    """Glorot W_x (inputs×hidden), W_h (hidden×hidden) and W_y (hidden×outputs); small biases."""
    return {
        "W_x": glorot(rng, inputs, hidden),
        "W_h": glorot(rng, hidden, hidden),
        "b_h": small_bias(rng, hidden),
        "W_y": glorot(rng, hidden, outputs),
        "b_y": small_bias(rng, outputs),
    }


def init_gru(rng, inputs, hidden, outputs):
    """Glorot input (W_z, W_r, W_c: inputs×hidden), recurrent (U_·: hidden×hidden) and output
    (W_y: hidden×outputs) weights; small biases."""
    params = {}
    for gate in "zrc":
        params[f"W_{gate}"] = glorot(rng, inputs, hidden)
        params[f"U_{gate}"] = glorot(rng, hidden, hidden)
        params[f"b_{gate}"] = small_bias(rng, hidden)
    params["W_y"] = glorot(rng, hidden, outputs)
    params["b_y"] = small_bias(rng, outputs)
    return params
