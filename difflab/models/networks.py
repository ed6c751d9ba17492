"""The networks of the zoo: forward passes, per-example losses and seeded initializers.

Forward passes and losses use ``dnp`` only, so they run under every number system. They
take one example (x of shape (d,), or (T, d) for the sequence models and the CNN) or a batch
(a leading batch axis) alike: layers are ``x @ W + b``, reductions run over the example's
own axes. The exception is ``batchnorm_mlp``, which takes the whole batch: batch
normalization mixes its examples. Values that depend on the parameters stand on the left of
operators whose other side is data, so an AD tensor is asked first, not a NumPy array.
Initializers use NumPy: they only make constants.
"""

import math

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


BATCH_NORM_EPS = 1e-5     # the variance floor of batch and layer norm, as in PyTorch


def batch_norm(z, gamma, beta, eps=BATCH_NORM_EPS):
    """γ (z − μ_B)/√(σ²_B + ε) + β with the batch's mean μ_B and variance σ²_B of each feature
    (training mode, Ioffe & Szegedy 2015): every example's output depends on the whole batch."""
    mean = dnp.mean(z, axis=0, keepdims=True)
    variance = dnp.var(z, axis=0, keepdims=True)
    return gamma * (z - mean) / dnp.sqrt(variance + eps) + beta


def batchnorm_mlp(params, X, activation=dnp.tanh, eps=BATCH_NORM_EPS):
    """h_{l+1} = act(BN(h_l W_l)) on the hidden layers (no bias: β is the shift), then a
    linear output layer. X is the whole batch (B, d): batch norm needs it."""
    *hidden, output = params
    h = X
    for W, gamma, beta in hidden:
        h = activation(batch_norm(dnp.matmul(h, W), gamma, beta, eps))
    return dense(output, h)


def dropout_mlp(params, x, activation=dnp.tanh, *, rate):
    """An MLP whose hidden units are dropped by a fixed keep mask carried with the example.

    x = [input | m_1 | m_2 | …]: the input, then one 0/1 keep mask per hidden layer, so a
    batch's masks travel with its examples. h_{l+1} = act(h_l W_l + b_l) ⊙ m_l / (1 − rate)
    (inverted dropout, Srivastava et al. 2014: the expected activation is unchanged).
    """
    *hidden, output = params
    start = dnp.shape_of(hidden[0][0])[0]
    h = x[..., :start]
    for layer in hidden:
        width = dnp.shape_of(layer[1])[0]
        keep = x[..., start:start + width]
        start += width
        h = activation(dense(layer, h)) * keep * (1 / (1 - rate))
    return dense(output, h)


def conv1d(x, kernel, bias):
    """Valid 1-D convolution, stride 1: y[t, f] = Σ_{k, c} x[t + k, c] K[k, c, f] + b[f].

    x is (L, C) or (..., L, C), K is (width, C, F); y is (..., L − width + 1, F).
    """
    width = dnp.shape_of(kernel)[0]
    steps = dnp.shape_of(x)[-2] - width + 1
    y = dnp.matmul(x[..., 0:steps, :], kernel[0])
    for k in range(1, width):
        y = y + dnp.matmul(x[..., k:k + steps, :], kernel[k])
    return y + bias


def cnn(params, x, activation=dnp.tanh):
    """act(conv1d(x)) flattened (position-major), then a dense output: x (L, C) or (..., L, C)."""
    h = activation(conv1d(x, params["K"], params["b_conv"]))
    shape = dnp.shape_of(h)
    h = dnp.reshape(h, tuple(shape[:-2]) + (shape[-2] * shape[-1],))
    return dnp.matmul(h, params["W_y"]) + params["b_y"]


def layer_norm(z, gamma, beta, eps=BATCH_NORM_EPS):
    """γ (z − μ)/√(σ² + ε) + β with the mean and variance of each token's own features
    (Ba et al. 2016): unlike batch norm, no example sees another."""
    mean = dnp.mean(z, axis=-1, keepdims=True)
    variance = dnp.var(z, axis=-1, keepdims=True)
    return gamma * (z - mean) / dnp.sqrt(variance + eps) + beta


def attention(params, x):
    """Single-head self-attention with a residual and post-layer norm, mean-pooled, then a
    dense readout (Vaswani et al. 2017), on x (T, d) or (..., T, d):

        A = softmax(q kᵀ/√d_k) with q = x W_q, k = x W_k     (T × T, rows sum to 1)
        u = LN(A (x W_v) + x)                                 per token
        ŷ = mean_t(u_t) W_y + b_y
    """
    q = dnp.matmul(x, params["W_q"])
    k = dnp.matmul(x, params["W_k"])
    v = dnp.matmul(x, params["W_v"])
    scores = dnp.matmul(q, dnp.swapaxes(k, -1, -2)) / math.sqrt(dnp.shape_of(q)[-1])
    z = dnp.matmul(dnp.softmax(scores, axis=-1), v) + x
    u = layer_norm(z, params["gamma"], params["beta"])
    return dnp.matmul(dnp.mean(u, axis=-2), params["W_y"]) + params["b_y"]


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


def init_batchnorm_mlp(rng, widths, activation="tanh"):
    """[(W_l, γ_l, β_l)] for the hidden layers, then (W, b): init_mlp's weights; γ = 1 and
    β = 0 perturbed by N(0, 0.1²), so neither sits at a special point at the start."""
    *hidden, output = init_mlp(rng, widths, activation)
    layers = [(W, 1 + small_bias(rng, W.shape[1]), small_bias(rng, W.shape[1]))
              for W, _ in hidden]
    return layers + [output]


def init_cnn(rng, width, channels, filters, steps, outputs):
    """Glorot kernel K (width×channels×filters, fan-in width·channels) and readout W_y
    (steps·filters × outputs); small biases."""
    kernel = glorot(rng, width * channels, filters).reshape(width, channels, filters)
    return {"K": kernel, "b_conv": small_bias(rng, filters),
            "W_y": glorot(rng, steps * filters, outputs), "b_y": small_bias(rng, outputs)}


def init_attention(rng, features, key_size, outputs):
    """Glorot W_q, W_k (features×key_size), W_v (features×features) and W_y; layer norm's
    γ = 1 + N(0, 0.1²) and β = N(0, 0.1²); a small readout bias."""
    return {
        "W_q": glorot(rng, features, key_size),
        "W_k": glorot(rng, features, key_size),
        "W_v": glorot(rng, features, features),
        "gamma": 1 + small_bias(rng, features),
        "beta": small_bias(rng, features),
        "W_y": glorot(rng, features, outputs),
        "b_y": small_bias(rng, outputs),
    }


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
