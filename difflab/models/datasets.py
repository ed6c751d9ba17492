"""Seeded synthetic datasets: nothing is downloaded, every draw comes from the Generator given.

Classification sets return inputs X of shape (n, 2) or (n, dim) and one-hot float targets
Y of shape (n, classes); regression sets return Y of shape (n, dim_out); the sequence sets
return X of shape (n, steps, channels) and the signal set (n, length, 1). Class labels cycle
through 0, 1, …, so even a batch of 4 holds every class.
"""

import numpy as np


def one_hot(labels, classes):
    """Row i is e_{labels[i]}, the labels[i]-th unit vector of length ``classes`` (float64)."""
    return np.eye(classes)[labels]


def _cycling_labels(n, classes):
    return np.arange(n) % classes


def xor(rng, n, noise=0.1):
    """Corners of [−1, 1]² plus N(0, noise²) jitter; class 1 where x₁x₂ < 0 (the signs differ)."""
    corners = np.array([[-1.0, -1.0], [-1.0, 1.0], [1.0, 1.0], [1.0, -1.0]])
    pick = _cycling_labels(n, 4)
    labels = pick % 2
    return corners[pick] + noise * rng.normal(size=(n, 2)), one_hot(labels, 2)


def two_moons(rng, n, noise=0.1):
    """Class 0 on the arc (cos t, sin t), class 1 on (1 − cos t, ½ − sin t), t ~ U(0, π)."""
    labels = _cycling_labels(n, 2)
    t = rng.uniform(0.0, np.pi, n)
    upper = np.stack([np.cos(t), np.sin(t)], axis=1)
    lower = np.stack([1 - np.cos(t), 0.5 - np.sin(t)], axis=1)
    X = np.where(labels[:, None] == 0, upper, lower)
    return X + noise * rng.normal(size=(n, 2)), one_hot(labels, 2)


def spirals(rng, n, classes=2, noise=0.05):
    """Arm c of k: x = r (cos φ, sin φ), φ = 2πc/k + 3πr, r ~ U(0.1, 1); the class is the arm."""
    labels = _cycling_labels(n, classes)
    r = rng.uniform(0.1, 1.0, n)
    phi = 2 * np.pi * labels / classes + 3 * np.pi * r
    X = r[:, None] * np.stack([np.cos(phi), np.sin(phi)], axis=1)
    return X + noise * rng.normal(size=(n, 2)), one_hot(labels, classes)


def blobs(rng, n, dim, classes):
    """Gaussian clusters x = (μ_c + ε)/√2, μ_c and ε ~ N(0, I): unit-variance features, any dim."""
    labels = _cycling_labels(n, classes)
    centers = rng.normal(size=(classes, dim))
    X = (centers[labels] + rng.normal(size=(n, dim))) / np.sqrt(2)
    return X, one_hot(labels, classes)


def noisy_sine(rng, n, dim_in=1, dim_out=1, noise=0.1):
    """y_j = sin(π ⟨x, a_j⟩) + noise·ε with x ~ U(−1, 1)^dim_in and random unit vectors a_j.

    With dim_in = dim_out = 1 this is the classic y = ±sin(πx) + noise.
    """
    directions = rng.normal(size=(dim_in, dim_out))
    directions /= np.linalg.norm(directions, axis=0)
    X = rng.uniform(-1.0, 1.0, size=(n, dim_in))
    return X, np.sin(np.pi * X @ directions) + noise * rng.normal(size=(n, dim_out))


def linear(rng, n, dim_in=1, dim_out=1, noise=0.1):
    """y = x A + c + noise·ε with x, A, c and ε all standard normal."""
    A = rng.normal(size=(dim_in, dim_out))
    c = rng.normal(size=dim_out)
    X = rng.normal(size=(n, dim_in))
    return X, X @ A + c + noise * rng.normal(size=(n, dim_out))


def sine_sequences(rng, n, steps, channels=1, noise=0.05, dt=0.5):
    """Windows s_0 … s_{T−1} of s_t = sin(ω t·dt + φ) + noise·ε, target s_T (the next value).

    Each example and channel has its own ω ~ U(0.5, 1.5) and φ ~ U(0, 2π). X has shape
    (n, steps, channels) and Y shape (n, channels).
    """
    omega = rng.uniform(0.5, 1.5, size=(n, 1, channels))
    phase = rng.uniform(0.0, 2 * np.pi, size=(n, 1, channels))
    t = np.arange(steps + 1)[None, :, None] * dt
    s = np.sin(omega * t + phase) + noise * rng.normal(size=(n, steps + 1, channels))
    return s[:, :steps, :], s[:, steps, :]


PULSE = np.array([0.5, 1.0, 0.5])       # the shape hidden in each signal


def pulses(rng, n, length, noise=0.1):
    """Signals of ``length`` samples holding one pulse a·(½, 1, ½) at a random place in
    N(0, noise²) noise; the target is its amplitude a ~ U(−1, 1), which a filter matched to
    the pulse finds wherever it sits. X has shape (n, length, 1) and Y shape (n, 1)."""
    if length < PULSE.size:
        raise ValueError(f"pulses: a signal of {length} samples cannot hold a pulse of "
                         f"{PULSE.size}")
    amplitude = rng.uniform(-1.0, 1.0, size=n)
    start = rng.integers(0, length - PULSE.size + 1, size=n)
    X = noise * rng.normal(size=(n, length))
    for i in range(n):
        X[i, start[i]:start[i] + PULSE.size] += amplitude[i] * PULSE
    return X[:, :, None], amplitude[:, None]


def lookup_sequences(rng, n, tokens, features):
    """Sequences of standard normal tokens (n, tokens, features); the target (n, 1) is the
    first feature of the token whose second feature is largest: a content-based lookup, the
    task attention is built for."""
    X = rng.normal(size=(n, tokens, features))
    chosen = np.argmax(X[:, :, 1], axis=1)
    return X, X[np.arange(n), chosen, 0][:, None]
