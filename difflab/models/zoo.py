"""The model zoo: named, seeded problems whose objective is a function of one flat vector θ.

A network problem is a per-example ``predict(params, x)`` and ``loss(prediction, target)``
over a seeded synthetic batch (X, Y), declared as a ``BatchMean``; batchnorm-mlp is the one
network whose loss is not a per-example mean (batch normalization mixes the examples), so its
objective is a plain function of θ. A test function is a formula in θ itself. Either way
``objective(theta)`` gets its parameters back with ``unravel(theta)`` (difflab.ravel) and
is written with ``dnp`` only, so it runs under every number system: float, complex, SymPy,
mpmath and AD tensors. ``get(name, **overrides)`` builds a model, ``list_models()`` lists
them.
"""

import inspect
import math
from dataclasses import dataclass, field
from functools import partial
from typing import Callable, NamedTuple

import numpy as np

from .. import numpy as dnp
from ..errors import DiffLabError, UnknownModelError
from ..pytree import ravel
from . import datasets, functions, networks
from .objectives import BatchMean


class ModelConfigError(DiffLabError, ValueError):
    """A zoo model was asked for with arguments it cannot be built from."""


@dataclass(frozen=True, eq=False)
class Problem:
    """One zoo model: an objective of the flat parameter vector θ, and what it is made of.

    ``objective(theta)`` is a scalar; for a network it is the batch mean of the per-example
    loss plus the penalties, (1/B) Σ_i loss(predict(unravel(θ), x_i), y_i) + (l2/2)‖θ‖²
    + l1‖θ‖₁ (batchnorm-mlp has no per-example ``predict``: its predictions depend on the
    whole batch). ``outputs(theta)`` is the vector-valued map for Jacobians (a network's
    predictions over the batch, flattened; a test function's vector form).
    ``residuals(theta)``, where present, satisfies objective(θ) = Σ_k r_k(θ)², the form
    Gauss–Newton needs (MSE networks without an l1 term, Rosenbrock). ``theta0``
    is the seeded float64 start and ``params`` the same values as a pytree. ``theta0``,
    ``X`` and ``Y`` are read-only, so an optimizer cannot move the start of the next run by
    updating in place. Fields a model does not have are None.
    """

    name: str
    description: str
    objective: Callable
    theta0: np.ndarray
    unravel: Callable
    params: object = None
    predict: Callable | None = None
    loss: Callable | None = None
    X: np.ndarray | None = None
    Y: np.ndarray | None = None
    outputs: Callable | None = None
    residuals: Callable | None = None
    l2: float = 0.0
    l1: float = 0.0
    config: dict = field(default_factory=dict)

    def __post_init__(self):
        for constant in (self.theta0, self.X, self.Y):
            if constant is not None:
                constant.flags.writeable = False

    @property
    def n_params(self):
        return self.theta0.size


class ModelInfo(NamedTuple):
    name: str
    description: str
    n_params: int


# Argument checks: each names the model, the argument and what would be accepted.

def _check_count(model, name, value, minimum=1):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ModelConfigError(f"{model}: {name} must be an integer ≥ {minimum}, got {value!r}")
    return int(value)


def _check_widths(model, widths):
    if not isinstance(widths, (tuple, list)) or len(widths) < 2:
        raise ModelConfigError(
            f"{model}: widths must be a sequence (input, hidden…, output) of at least two "
            f"layer sizes, e.g. (2, 3, 1); got {widths!r}")
    return tuple(_check_count(model, "every width", w) for w in widths)


def _check_scale(model, name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) \
            or not math.isfinite(value) or value < 0:
        raise ModelConfigError(f"{model}: {name} must be a finite number ≥ 0, got {value!r}")
    return float(value)


def _choose(model, what, name, table):
    if not isinstance(name, str) or name not in table:
        raise ModelConfigError(
            f"{model}: unknown {what} {name!r}; choose one of {', '.join(table)}")
    return table[name]


def _check_fraction(model, name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) \
            or not 0 <= value < 1:
        raise ModelConfigError(f"{model}: {name} must be a number in [0, 1), got {value!r}")
    return float(value)


def _check_positive(model, name, value):
    if _check_scale(model, name, value) == 0:
        raise ModelConfigError(f"{model}: {name} must be > 0, got {value!r}")
    return float(value)


def _generators(model, seed):
    """Independent Generators for the data and for the initial parameters, both from ``seed``."""
    seed = _check_count(model, "seed", seed, minimum=0)
    data, init = np.random.SeedSequence(seed).spawn(2)
    return np.random.default_rng(data), np.random.default_rng(init)


# Data: every set is drawn for given input and output widths, or refused with a reason.

DATASETS = {
    "sine": lambda rng, n, d_in, d_out: datasets.noisy_sine(rng, n, d_in, d_out),
    "linear": lambda rng, n, d_in, d_out: datasets.linear(rng, n, d_in, d_out),
    "blobs": lambda rng, n, d_in, d_out: datasets.blobs(rng, n, d_in, d_out),
    "spirals": lambda rng, n, d_in, d_out: datasets.spirals(rng, n, d_out),
    "xor": lambda rng, n, d_in, d_out: datasets.xor(rng, n),
    "moons": lambda rng, n, d_in, d_out: datasets.two_moons(rng, n),
}
CLASSIFICATION = ("blobs", "spirals", "xor", "moons")
PLANAR = ("spirals", "xor", "moons")      # their inputs are points of the plane
TWO_CLASS = ("xor", "moons")


def _draw(model, data, rng, n, d_in, d_out):
    """``n`` examples of dataset ``data`` with d_in inputs and d_out targets (one per class)."""
    draw = _choose(model, "dataset", data, DATASETS)
    if data in CLASSIFICATION and d_out < 2:
        raise ModelConfigError(f"{model}: {data!r} is a classification set with one-hot "
                               f"targets, so it needs ≥ 2 outputs; got {d_out}")
    if data in PLANAR and d_in != 2:
        raise ModelConfigError(f"{model}: {data!r} has inputs in the plane, so it needs "
                               f"2 inputs; got {d_in}")
    if data in TWO_CLASS and d_out != 2:
        raise ModelConfigError(f"{model}: {data!r} has 2 classes, so it needs 2 outputs; "
                               f"got {d_out}")
    return draw(rng, n, d_in, d_out)


# Objectives of θ.

def _penalty(l2, l1):
    """θ ↦ (l2/2)‖θ‖² + l1‖θ‖₁ on every parameter, biases included; None if both are 0.

    ‖θ‖₁ is Σ dnp.abs(θ_i), whose derivative at θ_i = 0 is dnp's convention abs′(0) = 0
    (difflab.numpy): the penalty adds nothing to AD's or the symbolic gradient there, and
    the methods that sample f near θ (finite differences, the complex step, the reference)
    refuse the point as a kink.
    """
    if not l2 and not l1:
        return None

    def penalty(theta):
        ridge = dnp.sum(dnp.square(theta)) * (l2 / 2) if l2 else None
        lasso = dnp.sum(dnp.abs(theta)) * l1 if l1 else None
        if ridge is None or lasso is None:
            return lasso if ridge is None else ridge
        return ridge + lasso
    return penalty


def _least_squares_residuals(outputs, Y, l2):
    """r = [(ŷ − y)/√(B·m), √(l2/2)·θ], so Σ r² is the MSE objective with its ridge term."""
    scale = 1 / math.sqrt(Y.size)
    targets = Y.reshape(-1)

    def residuals(theta):
        r = (outputs(theta) - targets) * scale
        return dnp.concatenate([r, theta * math.sqrt(l2 / 2)]) if l2 else r
    return residuals


def supervised_problem(name, description, params, predict, loss, X, Y, l2, config, l1=None):
    """objective(θ) = (1/B) Σ_i loss(predict(unravel(θ), x_i), y_i) + (l2/2)‖θ‖² + l1‖θ‖₁
    over the batch, declared as a ``BatchMean``.

    ``l1`` defaults to ``config``'s, so a problem rebuilt from its fields (the report's float32
    edition passes name … l2, config) keeps its L1 term.
    """
    l1 = config.get("l1", 0.0) if l1 is None else l1
    theta0, unravel = ravel(params)

    def example_loss(theta, X, Y):
        return loss(predict(unravel(theta), X), Y)

    objective = BatchMean(example_loss, X, Y, _penalty(l2, l1))

    def outputs(theta):
        return dnp.reshape(predict(unravel(theta), X), (-1,))

    residuals = _least_squares_residuals(outputs, Y, l2) \
        if loss is networks.mse and not l1 else None
    return Problem(name, description, objective, theta0, unravel, params=params,
                   predict=predict, loss=loss, X=X, Y=Y, outputs=outputs,
                   residuals=residuals, l2=l2, l1=l1, config=config)


def whole_batch_problem(name, description, params, forward, loss, X, Y, l2, l1, config):
    """objective(θ) = mean(loss(forward(unravel(θ), X), Y)) + (l2/2)‖θ‖² + l1‖θ‖₁ as a plain
    function of θ, for a network whose predictions depend on the whole batch (batch norm):
    not a ``BatchMean``, so no method may treat the examples one at a time."""
    theta0, unravel = ravel(params)
    penalty = _penalty(l2, l1)

    def objective(theta):
        data_term = dnp.mean(loss(forward(unravel(theta), X), Y))
        return data_term + penalty(theta) if penalty is not None else data_term

    def outputs(theta):
        return dnp.reshape(forward(unravel(theta), X), (-1,))

    residuals = _least_squares_residuals(outputs, Y, l2) \
        if loss is networks.mse and not l1 else None
    return Problem(name, description, objective, theta0, unravel, params=params, loss=loss,
                   X=X, Y=Y, outputs=outputs, residuals=residuals, l2=l2, l1=l1,
                   config=config)


def _penalty_note(l2, l1=0.0):
    return (f" + {l2:g}/2·‖θ‖²" if l2 else "") + (f" + {l1:g}·‖θ‖₁" if l1 else "")


# The models.

LOSSES = {"mse": networks.mse, "cross-entropy": networks.softmax_cross_entropy}
LOSS_NAMES = {"mse": "MSE", "cross-entropy": "softmax cross-entropy"}


def linear_regression(d_in=3, d_out=1, batch=8, data="linear", l2=0.0, l1=0.0, seed=0):
    """Least squares: ŷ = x W + b, loss (1/m)‖ŷ − y‖² (MSE)."""
    name = "linear-regression"
    d_in, d_out = _check_count(name, "d_in", d_in), _check_count(name, "d_out", d_out)
    batch, l2 = _check_count(name, "batch", batch), _check_scale(name, "l2", l2)
    l1 = _check_scale(name, "l1", l1)
    data_rng, init_rng = _generators(name, seed)
    X, Y = _draw(name, data, data_rng, batch, d_in, d_out)
    params = (networks.glorot(init_rng, d_in, d_out), networks.small_bias(init_rng, d_out))
    description = (f"linear regression {d_in}→{d_out}, MSE on {data} data, batch {batch}"
                   + _penalty_note(l2, l1))
    config = dict(d_in=d_in, d_out=d_out, batch=batch, data=data, l2=l2, l1=l1, seed=seed)
    return supervised_problem(name, description, params, networks.dense, networks.mse,
                              X, Y, l2, config, l1)


def logistic_regression(d_in=2, batch=8, data="moons", l2=0.0, l1=0.0, seed=0):
    """Logistic regression: logit z = x w + b, loss softplus(z) − y z (binary cross-entropy)."""
    name = "logistic-regression"
    d_in = _check_count(name, "d_in", d_in)
    batch, l2 = _check_count(name, "batch", batch), _check_scale(name, "l2", l2)
    l1 = _check_scale(name, "l1", l1)
    if data not in CLASSIFICATION:
        raise ModelConfigError(f"{name}: needs a classification set, one of "
                               f"{', '.join(CLASSIFICATION)}; got {data!r}")
    data_rng, init_rng = _generators(name, seed)
    X, one_hot = _draw(name, data, data_rng, batch, d_in, 2)
    Y = one_hot[:, 1:]          # y = 1 for class 1, as a column to match the logit's shape
    params = (networks.glorot(init_rng, d_in, 1), networks.small_bias(init_rng, 1))
    description = (f"logistic regression {d_in}→1, binary cross-entropy on {data} data, "
                   f"batch {batch}" + _penalty_note(l2, l1))
    config = dict(d_in=d_in, batch=batch, data=data, l2=l2, l1=l1, seed=seed)
    return supervised_problem(name, description, params, networks.dense,
                              networks.binary_cross_entropy, X, Y, l2, config, l1)


class _Perceptron(NamedTuple):
    """An MLP model's checked arguments, its seeded batch and the Generators it came from."""
    widths: tuple
    batch: int
    activation: Callable
    loss: Callable
    data: str
    X: np.ndarray
    Y: np.ndarray
    data_rng: np.random.Generator
    init_rng: np.random.Generator
    l2: float
    l1: float
    config: dict

    def describe(self, kind, extra=""):
        """'<kind> 2-3-3-1 (tanh), MSE on sine data, batch 8 + penalties<extra>'."""
        c = self.config
        return (f"{kind} {'-'.join(map(str, self.widths))} ({c['activation']}), "
                f"{LOSS_NAMES[c['loss']]} on {self.data} data, batch {self.batch}"
                + _penalty_note(self.l2, self.l1) + extra)


def _perceptron_parts(name, *, widths, batch, activation, loss, data, l2, l1, seed):
    """Check an MLP model's arguments and draw its batch."""
    widths = _check_widths(name, widths)
    batch, l2 = _check_count(name, "batch", batch), _check_scale(name, "l2", l2)
    l1 = _check_scale(name, "l1", l1)
    act = _choose(name, "activation", activation, networks.ACTIVATIONS)
    loss_fn = _choose(name, "loss", loss, LOSSES)
    data = ("sine" if loss == "mse" else "blobs") if data is None else data
    if loss == "cross-entropy" and data not in CLASSIFICATION:
        raise ModelConfigError(f"{name}: cross-entropy needs a classification set, one of "
                               f"{', '.join(CLASSIFICATION)}; got {data!r}")
    data_rng, init_rng = _generators(name, seed)
    X, Y = _draw(name, data, data_rng, batch, widths[0], widths[-1])
    config = dict(widths=widths, batch=batch, activation=activation, loss=loss, data=data,
                  l2=l2, l1=l1, seed=seed)
    return _Perceptron(widths, batch, act, loss_fn, data, X, Y, data_rng, init_rng, l2, l1,
                       config)


def _perceptron(name, *, residual, **arguments):
    """An MLP problem (plain or residual) after checking every argument."""
    parts = _perceptron_parts(name, **arguments)
    params = networks.init_mlp(parts.init_rng, parts.widths, arguments["activation"])
    predict = partial(networks.mlp, activation=parts.activation, residual=residual)
    description = parts.describe("residual MLP" if residual else "MLP")
    return supervised_problem(name, description, params, predict, parts.loss, parts.X,
                              parts.Y, parts.l2, parts.config, parts.l1)


def mlp(widths=(2, 3, 3, 1), batch=8, activation="tanh", loss="mse", data=None, l2=0.0,
        l1=0.0, seed=0):
    """MLP: h ← act(h W + b) per hidden layer, linear output; MSE or softmax cross-entropy.

    ``data`` defaults to "sine" for MSE and "blobs" for cross-entropy, both of any width.
    """
    return _perceptron("mlp", widths=widths, batch=batch, activation=activation, loss=loss,
                       data=data, l2=l2, l1=l1, seed=seed, residual=False)


def mlp_classifier(widths=(2, 4, 2), batch=8, activation="tanh", data="spirals", l2=0.0,
                   l1=0.0, seed=0):
    """MLP classifier: loss −Σ_k y_k log softmax(z)_k on one-hot targets."""
    return _perceptron("mlp-classifier", widths=widths, batch=batch, activation=activation,
                       loss="cross-entropy", data=data, l2=l2, l1=l1, seed=seed,
                       residual=False)


def residual_mlp(widths=(2, 3, 3, 3, 1), batch=8, activation="tanh", loss="mse", data=None,
                 l2=0.0, l1=0.0, seed=0):
    """Residual MLP: h ← h + act(h W + b) between equal-width hidden layers."""
    name = "residual-mlp"
    hidden = _check_widths(name, widths)[1:-1]
    if not any(a == b for a, b in zip(hidden[:-1], hidden[1:])):
        raise ModelConfigError(
            f"{name}: widths {tuple(widths)} have no two equal consecutive hidden widths, so "
            "no layer can carry a skip connection; repeat a hidden width, e.g. (2, 3, 3, 1)")
    return _perceptron(name, widths=widths, batch=batch, activation=activation, loss=loss,
                       data=data, l2=l2, l1=l1, seed=seed, residual=True)


def _hidden_layers(name, widths, why):
    if len(_check_widths(name, widths)) < 3:
        raise ModelConfigError(f"{name}: widths {tuple(widths)} have no hidden layer {why}; "
                               "give at least (input, hidden, output), e.g. (2, 3, 1)")


def batchnorm_mlp(widths=(2, 3, 3, 1), batch=8, activation="tanh", loss="mse", data=None,
                  eps=networks.BATCH_NORM_EPS, l2=0.0, l1=0.0, seed=0):
    """Batch-norm MLP: h ← act(BN(h W)) per hidden layer, with the batch's own mean and
    variance (training mode), learnable γ and β, and ε under the square root.

    Every prediction depends on the whole batch, so the objective is not a per-example mean:
    it is a plain function of θ, not a ``BatchMean``, and the symbolic method traces and
    differentiates the whole batch at once instead of one example — the cost the model is
    there to show. It has no per-example ``predict``; ``outputs`` gives the batch's
    predictions.
    """
    name = "batchnorm-mlp"
    _hidden_layers(name, widths, "to normalize")
    if _check_count(name, "batch", batch) < 2:
        raise ModelConfigError(f"{name}: batch norm needs a batch of at least 2 examples "
                               f"(one has variance 0), got {batch}")
    eps = _check_positive(name, "eps", eps)
    parts = _perceptron_parts(name, widths=widths, batch=batch, activation=activation,
                              loss=loss, data=data, l2=l2, l1=l1, seed=seed)
    params = networks.init_batchnorm_mlp(parts.init_rng, parts.widths, activation)
    forward = partial(networks.batchnorm_mlp, activation=parts.activation, eps=eps)
    description = parts.describe(
        "batch-norm MLP", f", training-mode batch statistics (ε = {eps:g}): not a "
        "per-example mean, so symbolic differentiation traces the whole batch")
    return whole_batch_problem(name, description, params, forward, parts.loss, parts.X,
                               parts.Y, parts.l2, parts.l1, dict(parts.config, eps=eps))


def dropout_mlp(widths=(2, 3, 3, 1), batch=8, activation="tanh", loss="mse", data=None,
                rate=0.25, l2=0.0, l1=0.0, seed=0):
    """Dropout MLP: h ← act(h W + b) ⊙ m / (1 − rate) per hidden layer (inverted dropout),
    with keep masks m ~ Bernoulli(1 − rate) drawn once per example and hidden unit from the
    model's seed, so the objective is a deterministic function of θ.

    Each example carries its masks: X is [input | m_1 | m_2 | …], shape (batch, d_in +
    hidden units), so the objective stays a per-example mean (``BatchMean``) and a
    mini-batch keeps its examples' masks.
    """
    name = "dropout-mlp"
    _hidden_layers(name, widths, "to drop units from")
    rate = _check_fraction(name, "rate", rate)
    parts = _perceptron_parts(name, widths=widths, batch=batch, activation=activation,
                              loss=loss, data=data, l2=l2, l1=l1, seed=seed)
    units = sum(parts.widths[1:-1])
    keep = (parts.data_rng.random((parts.batch, units)) >= rate).astype(np.float64)
    params = networks.init_mlp(parts.init_rng, parts.widths, activation)
    predict = partial(networks.dropout_mlp, activation=parts.activation, rate=rate)
    description = parts.describe("dropout MLP", f", dropout rate {rate:g} by a fixed seeded "
                                                "mask per example")
    return supervised_problem(name, description, params, predict, parts.loss,
                              np.hstack([parts.X, keep]), parts.Y, parts.l2,
                              dict(parts.config, rate=rate), parts.l1)


def l1_mlp(widths=(2, 3, 3, 1), batch=8, activation="tanh", loss="mse", data=None, l1=0.01,
           l2=0.0, seed=0):
    """The mlp with an L1 penalty l1‖θ‖₁ and its biases starting at exactly 0 (its weights
    are the mlp's of the same seed), so θ₀ sits on a kink of |θ_i| at every bias.

    dnp's convention there is abs′(0) = 0 (difflab.numpy): AD and the symbolic method give
    the data term's derivative alone at a zero entry, the mean of the one-sided slopes. The
    methods that look at f's values near θ notice the kink and refuse by name
    (``KinkError``): the finite differences and the complex step, and difflab.reference
    (``ReferenceKinkError``, whose ``kinks`` are the zero entries).
    """
    name = "l1-mlp"
    parts = _perceptron_parts(name, widths=widths, batch=batch, activation=activation,
                              loss=loss, data=data, l2=l2, l1=l1, seed=seed)
    params = [(W, np.zeros_like(b))
              for W, b in networks.init_mlp(parts.init_rng, parts.widths, activation)]
    predict = partial(networks.mlp, activation=parts.activation)
    description = parts.describe("L1 MLP", ", biases starting at 0: on the kink of |θ|, "
                                           "where abs′(0) = 0")
    return supervised_problem(name, description, params, predict, parts.loss, parts.X,
                              parts.Y, parts.l2, parts.config, parts.l1)


def cnn(length=8, filters=2, kernel=3, batch=8, activation="tanh", l2=0.0, l1=0.0, seed=0):
    """1-D CNN: one valid convolution (``filters`` filters of width ``kernel``, stride 1), an
    activation, then a dense readout of the flattened feature map; MSE on the amplitude of a
    pulse hidden at a random place in each noisy signal (datasets.pulses)."""
    name = "cnn"
    length, filters = _check_count(name, "length", length), _check_count(name, "filters", filters)
    kernel = _check_count(name, "kernel", kernel)
    pulse = datasets.PULSE.size
    if length < max(kernel, pulse):
        raise ModelConfigError(f"{name}: a signal of length {length} must hold the kernel "
                               f"({kernel}) and the pulse ({pulse} samples); give length ≥ "
                               f"{max(kernel, pulse)}")
    batch, l2 = _check_count(name, "batch", batch), _check_scale(name, "l2", l2)
    l1 = _check_scale(name, "l1", l1)
    act = _choose(name, "activation", activation, networks.ACTIVATIONS)
    data_rng, init_rng = _generators(name, seed)
    X, Y = datasets.pulses(data_rng, batch, length)
    steps = length - kernel + 1
    params = networks.init_cnn(init_rng, kernel, 1, filters, steps, 1)
    description = (f"1-D CNN, {filters} filter(s) of width {kernel} ({activation}) on signals "
                   f"of length {length}, dense readout, MSE on pulse amplitudes, batch {batch}"
                   + _penalty_note(l2, l1))
    config = dict(length=length, filters=filters, kernel=kernel, batch=batch,
                  activation=activation, l2=l2, l1=l1, seed=seed)
    return supervised_problem(name, description, params, partial(networks.cnn, activation=act),
                              networks.mse, X, Y, l2, config, l1)


def attention(tokens=4, features=3, key_size=2, batch=6, l2=0.0, l1=0.0, seed=0):
    """Single-head self-attention with a residual and layer norm, mean-pooled over the
    tokens, then a dense readout; MSE on a content lookup (datasets.lookup_sequences)."""
    name = "attention"
    tokens, key_size = _check_count(name, "tokens", tokens), _check_count(name, "key_size",
                                                                         key_size)
    features = _check_count(name, "features", features, minimum=2)
    batch, l2 = _check_count(name, "batch", batch), _check_scale(name, "l2", l2)
    l1 = _check_scale(name, "l1", l1)
    data_rng, init_rng = _generators(name, seed)
    X, Y = datasets.lookup_sequences(data_rng, batch, tokens, features)
    params = networks.init_attention(init_rng, features, key_size, 1)
    description = (f"single-head self-attention, {tokens} tokens × {features} features, key "
                   f"size {key_size}, layer norm, dense readout, MSE on a content lookup, "
                   f"batch {batch}" + _penalty_note(l2, l1))
    config = dict(tokens=tokens, features=features, key_size=key_size, batch=batch, l2=l2,
                  l1=l1, seed=seed)
    return supervised_problem(name, description, params, networks.attention, networks.mse,
                              X, Y, l2, config, l1)


def rnn(hidden=3, steps=4, channels=1, batch=8, l2=0.0, l1=0.0, seed=0):
    """Elman tanh RNN unrolled over T steps, predicting the next value of noisy sines (MSE)."""
    return _recurrent("rnn", "tanh RNN", networks.init_rnn, networks.rnn, hidden, steps,
                      channels, batch, l2, l1, seed)


def gru(hidden=3, steps=4, channels=2, batch=4, l2=0.0, l1=0.0, seed=0):
    """GRU unrolled over T steps, predicting the next value of noisy sines (MSE)."""
    return _recurrent("gru", "GRU", networks.init_gru, networks.gru, hidden, steps, channels,
                      batch, l2, l1, seed)


def _recurrent(name, label, init, forward, hidden, steps, channels, batch, l2, l1, seed):
    """A recurrent network (``init``, ``forward``) on next-value prediction of noisy sines,
    after checking every argument."""
    hidden, steps = _check_count(name, "hidden", hidden), _check_count(name, "steps", steps)
    channels = _check_count(name, "channels", channels)
    batch, l2 = _check_count(name, "batch", batch), _check_scale(name, "l2", l2)
    l1 = _check_scale(name, "l1", l1)
    data_rng, init_rng = _generators(name, seed)
    X, Y = datasets.sine_sequences(data_rng, batch, steps, channels)
    params = init(init_rng, channels, hidden, channels)
    description = (f"{label}, {channels} channel(s), hidden {hidden}, T = {steps}, "
                   f"next-value MSE on noisy sines, batch {batch}" + _penalty_note(l2, l1))
    config = dict(hidden=hidden, steps=steps, channels=channels, batch=batch, l2=l2, l1=l1,
                  seed=seed)
    return supervised_problem(name, description, params, forward, networks.mse, X, Y, l2,
                              config, l1)


def rosenbrock(n=4, jitter=0.1, seed=0):
    """Rosenbrock's function in n dimensions, from (−1.2, 1, −1.2, …) + N(0, jitter²)."""
    name = "rosenbrock"
    n, jitter = _check_count(name, "n", n, minimum=2), _check_scale(name, "jitter", jitter)
    _, init_rng = _generators(name, seed)
    start = np.where(np.arange(n) % 2 == 0, -1.2, 1.0) + jitter * init_rng.normal(size=n)
    theta0, unravel = ravel(start)

    def objective(theta):
        return functions.rosenbrock(unravel(theta))

    def residuals(theta):
        return functions.rosenbrock_residuals(unravel(theta))

    return Problem(name, f"Rosenbrock, n = {n} ({2 * (n - 1)} residuals)", objective, theta0,
                   unravel, params=start, outputs=residuals, residuals=residuals,
                   config=dict(n=n, jitter=jitter, seed=seed))


def logistic_map(n=4, seed=0):
    """l_n of the logistic map l_{k+1} = 4 l_k (1 − l_k), as a function of l_0 = θ_0."""
    name = "logistic-map"
    n = _check_count(name, "n", n)
    _, init_rng = _generators(name, seed)
    start = init_rng.uniform(0.05, 0.95, size=1)
    theta0, unravel = ravel(start)

    def objective(theta):
        return functions.logistic_map(unravel(theta)[0], n)[-1]

    def outputs(theta):
        return dnp.stack(functions.logistic_map(unravel(theta)[0], n))

    return Problem(name, f"logistic map iterated n = {n} times (orbit l_1…l_n as outputs)",
                   objective, theta0, unravel, params=start, outputs=outputs,
                   config=dict(n=n, seed=seed))


MODELS = {
    "linear-regression": linear_regression,
    "logistic-regression": logistic_regression,
    "mlp": mlp,
    "mlp-classifier": mlp_classifier,
    "residual-mlp": residual_mlp,
    "batchnorm-mlp": batchnorm_mlp,
    "dropout-mlp": dropout_mlp,
    "l1-mlp": l1_mlp,
    "cnn": cnn,
    "attention": attention,
    "rnn": rnn,
    "gru": gru,
    "rosenbrock": rosenbrock,
    "logistic-map": logistic_map,
}


def get(name, **overrides):
    """Build zoo model ``name`` with its defaults overridden by keyword.

    ``get("mlp", widths=(4, 8, 8, 1), batch=16, activation="tanh")``. Unknown names raise
    UnknownModelError, unknown or invalid arguments ModelConfigError.
    """
    factory = MODELS.get(name) if isinstance(name, str) else None
    if factory is None:
        raise UnknownModelError(f"unknown model {name!r}; the zoo has: {', '.join(MODELS)}")
    accepted = inspect.signature(factory).parameters
    unknown = sorted(set(overrides) - set(accepted))
    if unknown:
        raise ModelConfigError(f"{name}: no argument(s) {', '.join(unknown)}; it takes "
                               f"{', '.join(accepted)}")
    return factory(**overrides)


def list_models():
    """[(name, description, n_params)] for the default instance of every zoo model."""
    return [ModelInfo(name, problem.description, problem.n_params)
            for name, problem in ((name, factory()) for name, factory in MODELS.items())]
