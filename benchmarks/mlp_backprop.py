"""Hand-written NumPy backprop of the zoo's MSE MLP: the baseline AD is measured against.

L(θ) = (1/(B·m)) Σ_b Σ_j (ŷ_bj − y_bj)², ŷ = h_L W_L + b_L, h_{l+1} = tanh(h_l W_l + b_l).
"""

import numpy as np


def forward(params, X, Y):
    h = X
    for W, b in params[:-1]:
        h = np.tanh(h @ W + b)
    W, b = params[-1]
    residual = h @ W + b - Y
    return np.mean(residual * residual)


def value_and_gradient(params, X, Y):
    """The loss and its gradient as a list of (dW, db), by the chain rule written out."""
    hs = [X]
    for W, b in params[:-1]:
        hs.append(np.tanh(hs[-1] @ W + b))
    W, b = params[-1]
    residual = hs[-1] @ W + b - Y
    loss = np.mean(residual * residual)
    delta = residual * (2.0 / residual.size)
    grads = []
    for layer in range(len(params) - 1, -1, -1):
        W, _ = params[layer]
        h = hs[layer]
        grads.append((h.T @ delta, delta.sum(axis=0)))
        if layer:
            delta = (delta @ W.T) * (1 - h * h)
    return loss, grads[::-1]
