"""The model zoo: every number system agrees, and every model matches an independent computation.

Reference values are computed here, in scalar Python (``math``) or mpmath, never by the zoo.
"""

import math

import mpmath
import numpy as np
import pytest
import sympy

from difflab import models, tree_flatten, tree_leaves, tree_unflatten
from difflab.errors import DiffLabError, UnknownModelError
from difflab.models import ModelConfigError, datasets

TOLERANCE = 1e-13
NAMES = list(models.MODELS)
DEFAULT_SIZES = {                     # parameter counts, worked out by hand
    "linear-regression": 3 * 1 + 1,
    "logistic-regression": 2 + 1,
    "mlp": 2 * 3 + 3 + 3 * 3 + 3 + 3 * 1 + 1,
    "mlp-classifier": 2 * 4 + 4 + 4 * 2 + 2,
    "residual-mlp": 2 * 3 + 3 + 2 * (3 * 3 + 3) + 3 * 1 + 1,
    "batchnorm-mlp": (2 * 3 + 3 + 3) + (3 * 3 + 3 + 3) + 3 * 1 + 1,    # W, γ, β; no bias
    "dropout-mlp": 2 * 3 + 3 + 3 * 3 + 3 + 3 * 1 + 1,
    "l1-mlp": 2 * 3 + 3 + 3 * 3 + 3 + 3 * 1 + 1,
    "cnn": 3 * 1 * 2 + 2 + (8 - 3 + 1) * 2 * 1 + 1,                 # K, b; readout of 6×2
    "attention": 3 * 2 + 3 * 2 + 3 * 3 + 3 + 3 + 3 * 1 + 1,         # W_q, W_k, W_v, γ, β
    "rnn": 1 * 3 + 3 * 3 + 3 + 3 * 1 + 1,
    "gru": 3 * (2 * 3 + 3 * 3 + 3) + 3 * 2 + 2,
    "rosenbrock": 4,
    "logistic-map": 1,
}
# Default instances, plus variants that reach the other activations, losses and options.
CASES = [(name, {}) for name in NAMES] + [
    ("mlp", {"activation": "relu"}),
    ("mlp", {"activation": "sigmoid", "l2": 0.1}),
    ("mlp", {"activation": "softplus", "widths": (3, 4, 2), "loss": "cross-entropy"}),
    ("mlp-classifier", {"data": "xor", "activation": "relu"}),
    ("residual-mlp", {"widths": (2, 3, 3, 2), "loss": "cross-entropy", "data": "moons"}),
    ("rnn", {"channels": 2, "l2": 0.01}),
    ("gru", {"channels": 1, "hidden": 2, "l2": 0.01}),
    ("linear-regression", {"d_out": 2, "data": "sine", "l2": 0.5}),
    ("mlp", {"l1": 0.1, "l2": 0.1}),
    ("batchnorm-mlp", {"widths": (2, 2, 1), "batch": 3, "activation": "relu", "l1": 0.01}),
    ("dropout-mlp", {"widths": (3, 4, 2), "loss": "cross-entropy", "rate": 0.5}),
    ("cnn", {"length": 5, "filters": 3, "kernel": 2, "activation": "softplus"}),
    ("attention", {"tokens": 2, "key_size": 1, "batch": 2, "l2": 0.01}),
]
SUPERVISED = ("linear-regression", "logistic-regression", "mlp", "mlp-classifier",
              "residual-mlp", "dropout-mlp", "l1-mlp", "cnn", "attention", "rnn", "gru")
LEAST_SQUARES = ("linear-regression", "mlp", "residual-mlp", "batchnorm-mlp", "dropout-mlp",
                 "cnn", "attention", "rnn", "gru", "rosenbrock")


def cases(names=NAMES):
    """The CASES of the models ``names``, as pytest params with readable ids."""
    return [pytest.param(name, kwargs,
                         id=name + "".join(f"-{k}={v}" for k, v in kwargs.items()))
            for name, kwargs in CASES if name in names]


def vector_maps(problem):
    """The problem's maps of θ, by field name: objective, and outputs/residuals if it has them."""
    fields = ("objective", "outputs", "residuals")
    return {f: getattr(problem, f) for f in fields if getattr(problem, f) is not None}


def mp_vector(values):
    return np.array([mpmath.mpf(float(v)) for v in values], dtype=object)


def relative_difference(values, expected):
    """‖a − b‖ / ‖b‖ in mpmath at the current precision (b a float64 array)."""
    a = [mpmath.mpf(v) for v in np.ravel(values)]
    b = [mpmath.mpf(float(v)) for v in np.ravel(expected)]
    assert len(a) == len(b)
    return mpmath.norm([x - y for x, y in zip(a, b)]) / mpmath.norm(b)


# One model, every number system.

@pytest.mark.parametrize("name, kwargs", cases())
def test_mpmath_at_50_digits_agrees_with_float64(name, kwargs):
    problem = models.get(name, **kwargs)
    for field, fn in vector_maps(problem).items():
        expected = np.asarray(fn(problem.theta0), dtype=float)
        with mpmath.workdps(50):
            values = np.asarray(fn(mp_vector(problem.theta0)), dtype=object)
            assert values.shape == expected.shape, field
            assert all(isinstance(v, mpmath.mpf) for v in values.flat), f"{field} leaked floats"
            assert relative_difference(values, expected) <= TOLERANCE, field


@pytest.mark.parametrize("name, kwargs", [
    # the default gru's whole-batch SymPy expressions take ~45 s, attention's ~10 s and
    # batchnorm-mlp's ~6 s; their small variants stay
    pytest.param(*case.values, id=case.id, marks=pytest.mark.slow)
    if case.values in (("gru", {}), ("attention", {}), ("batchnorm-mlp", {})) else case
    for case in cases()])
def test_sympy_expressions_evaluate_to_float64(name, kwargs):
    problem = models.get(name, **kwargs)
    symbols = np.array(sympy.symbols(f"theta0:{problem.n_params}"), dtype=object)
    point = {s: sympy.Float(float(v), 50) for s, v in zip(symbols, problem.theta0)}
    for field, fn in vector_maps(problem).items():
        expected = np.asarray(fn(problem.theta0), dtype=float)
        expressions = np.asarray(fn(symbols), dtype=object)
        assert expressions.shape == expected.shape, field
        assert all(isinstance(e, sympy.Basic) for e in expressions.flat), field
        if field == "objective":    # every parameter reaches the objective
            assert expressions[()].free_symbols == set(symbols)
        with mpmath.workdps(50):
            values = [mpmath.mpf(e.xreplace(point).evalf(50)) for e in expressions.flat]
            assert relative_difference(values, expected) <= TOLERANCE, field


def with_first_parameter_shifted(params, h):
    """The pytree with h added to its first entry; leaves become complex if h is complex."""
    leaves, treedef = tree_flatten(params)
    dtype = np.result_type(leaves[0], h)
    leaves = [np.array(leaf, dtype=dtype) for leaf in leaves]
    leaves[0].flat[0] += h
    return tree_unflatten(treedef, leaves)


@pytest.mark.parametrize("name, kwargs", cases(SUPERVISED))
def test_predict_and_loss_give_complex_step_derivatives(name, kwargs):
    problem = models.get(name, **kwargs)

    def mean_loss(params):
        return np.mean(problem.loss(problem.predict(params, problem.X), problem.Y))

    tiny, h = 1e-30, 1e-6
    stepped = mean_loss(with_first_parameter_shifted(problem.params, 1j * tiny))
    central = (mean_loss(with_first_parameter_shifted(problem.params, h))
               - mean_loss(with_first_parameter_shifted(problem.params, -h))) / (2 * h)
    assert stepped.real == pytest.approx(mean_loss(problem.params), rel=1e-14)
    assert stepped.imag / tiny == pytest.approx(central, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("name", ["rosenbrock", "mlp"])
def test_objective_takes_a_complex_step(name):
    problem = models.get(name)
    tiny = 1e-30
    theta = problem.theta0.astype(complex)
    theta[0] += 1j * tiny
    h = 1e-6
    shift = np.zeros(problem.n_params)
    shift[0] = h
    central = (problem.objective(problem.theta0 + shift)
               - problem.objective(problem.theta0 - shift)) / (2 * h)
    assert problem.objective(theta).imag / tiny == pytest.approx(central, rel=1e-6)


# Seeds, sizes, structure.

@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_problem_and_other_seed_another(name):
    first, again, other = models.get(name, seed=1), models.get(name, seed=1), \
        models.get(name, seed=2)
    assert np.array_equal(first.theta0, again.theta0)
    assert first.theta0.dtype == np.float64
    assert not np.allclose(first.theta0, other.theta0)
    if first.X is not None:
        assert np.array_equal(first.X, again.X) and np.array_equal(first.Y, again.Y)
        assert not np.allclose(first.X, other.X)


def test_default_instances_are_small_and_listed_with_their_sizes():
    listed = models.list_models()
    assert [m.name for m in listed] == list(DEFAULT_SIZES)
    for info in listed:
        assert info.n_params == DEFAULT_SIZES[info.name]
        assert models.get(info.name).n_params == DEFAULT_SIZES[info.name]
        assert info.description


def mlp_size(widths):
    return sum(a * b + b for a, b in zip(widths[:-1], widths[1:]))


@pytest.mark.parametrize("widths, batch, size", [
    ((4, 8, 8, 1), 16, 4 * 8 + 8 + 8 * 8 + 8 + 8 * 1 + 1),
    ((16, 32, 32, 1), 64, 16 * 32 + 32 + 32 * 32 + 32 + 32 * 1 + 1),
    ((784, 128, 64, 10), 64, 784 * 128 + 128 + 128 * 64 + 64 + 64 * 10 + 10),
])
def test_benchmark_sized_mlps(widths, batch, size):
    assert mlp_size(widths) == size and size in (121, 1633, 109386)
    for loss in ("mse", "cross-entropy") if widths[-1] > 1 else ("mse",):
        problem = models.get("mlp", widths=widths, batch=batch, loss=loss)
        assert problem.n_params == size
        assert problem.X.shape == (batch, widths[0]) and problem.Y.shape == (batch, widths[-1])
        assert problem.outputs(problem.theta0).shape == (batch * widths[-1],)
        assert np.isfinite(problem.objective(problem.theta0))


@pytest.mark.parametrize("hidden, channels", [(3, 1), (5, 2)])
def test_rnn_size(hidden, channels):
    problem = models.get("rnn", hidden=hidden, channels=channels, steps=6, batch=5)
    size = channels * hidden + hidden * hidden + hidden + hidden * channels + channels
    assert problem.n_params == size
    assert problem.X.shape == (5, 6, channels) and problem.Y.shape == (5, channels)


@pytest.mark.parametrize("name", ["mlp", "rosenbrock"])
def test_start_and_data_cannot_be_changed_in_place(name):
    problem = models.get(name)
    with pytest.raises(ValueError):
        problem.theta0[0] += 1.0
    if problem.X is not None:
        with pytest.raises(ValueError):
            problem.X[0, 0] = 0.0
    assert np.array_equal(problem.theta0, models.get(name).theta0)


@pytest.mark.parametrize("name", NAMES)
def test_params_are_theta0_unraveled(name):
    problem = models.get(name)
    rebuilt = tree_leaves(problem.unravel(problem.theta0))
    for leaf, original in zip(rebuilt, tree_leaves(problem.params), strict=True):
        assert np.array_equal(leaf, original)


@pytest.mark.parametrize("activation, std", [("tanh", math.sqrt(2 / (784 + 128))),
                                             ("relu", math.sqrt(2 / 784))])
def test_initial_scale_keeps_activations_of_order_one(activation, std):
    problem = models.get("mlp", widths=(784, 128, 64, 10), batch=64, activation=activation)
    (W, b), *_ = problem.params
    assert W.std() == pytest.approx(std, rel=0.05)
    assert np.all(b != 0) and np.abs(b).max() < 0.5
    pre_activation = problem.X @ W + b
    assert 0.3 < pre_activation.std() < 3


# Independent forward passes, in scalar Python.

ACTIVATIONS = {
    "tanh": math.tanh,
    "sigmoid": lambda v: 1 / (1 + math.exp(-v)),
    "relu": lambda v: max(v, 0.0),
    "softplus": lambda v: math.log1p(math.exp(v)),
}


def affine(h, W, b):
    return [sum(h[i] * W[i][j] for i in range(len(h))) + b[j] for j in range(len(b))]


def reference_mlp(layers, x, act, residual):
    h = list(x)
    for depth, (W, b) in enumerate(layers[:-1]):
        z = [act(v) for v in affine(h, W.tolist(), b.tolist())]
        skip = residual and depth > 0 and len(z) == len(h)
        h = [a + c for a, c in zip(h, z)] if skip else z
    W, b = layers[-1]
    return affine(h, W.tolist(), b.tolist())


def reference_loss(kind, z, y):
    if kind == "mse":
        return sum((a - c) ** 2 for a, c in zip(z, y)) / len(y)
    probabilities = [math.exp(v) / sum(math.exp(u) for u in z) for v in z]
    return -math.log(probabilities[int(np.argmax(y))])     # y is one-hot


@pytest.mark.parametrize("residual", [False, True])
@pytest.mark.parametrize("loss", ["mse", "cross-entropy"])
@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_mlp_matches_a_scalar_python_forward_pass(activation, loss, residual):
    name = "residual-mlp" if residual else "mlp"
    problem = models.get(name, widths=(4, 4, 4, 2), batch=5, activation=activation, loss=loss)
    act = ACTIVATIONS[activation]
    logits = [reference_mlp(problem.params, x, act, residual) for x in problem.X]
    losses = [reference_loss(loss, z, y) for z, y in zip(logits, problem.Y)]
    assert np.allclose(problem.predict(problem.params, problem.X), logits, rtol=1e-13)
    assert np.allclose(problem.loss(np.array(logits), problem.Y), losses, rtol=1e-13)
    assert problem.objective(problem.theta0) == pytest.approx(np.mean(losses), rel=1e-13)


def test_residual_connections_change_the_function():
    plain = models.get("mlp", widths=(2, 3, 3, 1))
    residual = models.get("residual-mlp", widths=(2, 3, 3, 1))
    assert np.array_equal(plain.theta0, residual.theta0)
    assert not np.isclose(plain.objective(plain.theta0), residual.objective(residual.theta0))


def reference_rnn(p, sequence):
    """h_0 = 0 and the full recurrence h_t = tanh(x_t W_x + h_{t−1} W_h + b) at every step."""
    W_x, W_h, b = p["W_x"].tolist(), p["W_h"].tolist(), p["b_h"].tolist()
    h = [0.0] * len(b)
    for x_t in sequence:
        from_input = affine(list(x_t), W_x, b)
        from_state = affine(h, W_h, [0.0] * len(b))
        h = [math.tanh(u + v) for u, v in zip(from_input, from_state)]
    return affine(h, p["W_y"].tolist(), p["b_y"].tolist())


@pytest.mark.parametrize("channels", [1, 2])
def test_rnn_matches_a_scalar_python_recurrence(channels):
    problem = models.get("rnn", hidden=4, steps=5, channels=channels, batch=6)
    predictions = [reference_rnn(problem.params, sequence) for sequence in problem.X]
    assert np.allclose(problem.predict(problem.params, problem.X), predictions, rtol=1e-13)
    losses = [reference_loss("mse", z, y) for z, y in zip(predictions, problem.Y)]
    assert problem.objective(problem.theta0) == pytest.approx(np.mean(losses), rel=1e-13)


def reference_gru(p, sequence):
    """h_0 = 0 and the GRU equations of Cho et al. (2014) at every step, gate by gate, in
    Python floats: z and r from σ, the candidate from tanh of the reset state."""
    sigma = lambda u: 1 / (1 + math.exp(-u))
    hidden = len(p["b_z"])
    h = [0.0] * hidden
    for x_t in sequence:
        x_t = list(x_t)
        gate = {g: [a + b for a, b in zip(affine(x_t, p[f"W_{g}"].tolist(), p[f"b_{g}"].tolist()),
                                          affine(h, p[f"U_{g}"].tolist(), [0.0] * hidden))]
                for g in "zr"}
        z, r = [sigma(u) for u in gate["z"]], [sigma(u) for u in gate["r"]]
        reset = [ri * hi for ri, hi in zip(r, h)]
        c = [math.tanh(a + b) for a, b in zip(affine(x_t, p["W_c"].tolist(), p["b_c"].tolist()),
                                              affine(reset, p["U_c"].tolist(), [0.0] * hidden))]
        h = [(1 - zi) * ci + zi * hi for zi, ci, hi in zip(z, c, h)]
    return affine(h, p["W_y"].tolist(), p["b_y"].tolist())


@pytest.mark.parametrize("channels, hidden", [(1, 3), (2, 4)])
def test_gru_matches_a_scalar_python_recurrence(channels, hidden):
    problem = models.get("gru", hidden=hidden, steps=5, channels=channels, batch=6)
    size = 3 * (channels * hidden + hidden * hidden + hidden) + hidden * channels + channels
    assert problem.n_params == size
    predictions = [reference_gru(problem.params, sequence) for sequence in problem.X]
    assert np.allclose(problem.predict(problem.params, problem.X), predictions, rtol=1e-13)
    losses = [reference_loss("mse", z, y) for z, y in zip(predictions, problem.Y)]
    assert problem.objective(problem.theta0) == pytest.approx(np.mean(losses), rel=1e-13)


def test_logistic_regression_is_binary_cross_entropy():
    problem = models.get("logistic-regression", batch=10, l2=0.0)
    (w, b) = problem.params
    losses = []
    for x, y in zip(problem.X, problem.Y[:, 0]):
        p = 1 / (1 + math.exp(-(x @ w[:, 0] + b[0])))
        losses.append(-(y * math.log(p) + (1 - y) * math.log(1 - p)))
    assert problem.objective(problem.theta0) == pytest.approx(np.mean(losses), rel=1e-13)
    assert set(problem.Y[:, 0]) == {0.0, 1.0}


def test_binary_cross_entropy_stays_finite_for_huge_logits():
    loss = models.get("logistic-regression").loss
    z = np.array([[800.0], [-800.0]])
    assert np.allclose(loss(z, np.array([[1.0], [0.0]])), 0.0, atol=1e-300)
    assert np.allclose(loss(z, np.array([[0.0], [1.0]])), 800.0, rtol=1e-15)


def test_linear_regression_at_the_least_squares_solution():
    problem = models.get("linear-regression", d_in=3, d_out=2, batch=12)
    design = np.hstack([problem.X, np.ones((12, 1))])
    solution, *_ = np.linalg.lstsq(design, problem.Y, rcond=None)
    sum_of_squares = np.sum((design @ solution - problem.Y) ** 2)
    theta = np.concatenate([solution[:3].ravel(), solution[3]])   # (W, b) in ravel order
    assert problem.objective(theta) == pytest.approx(sum_of_squares / problem.Y.size,
                                                     rel=1e-12)
    for k in range(theta.size):           # a minimum: every coordinate move goes uphill
        for step in (1e-3, -1e-3):
            moved = theta.copy()
            moved[k] += step
            assert problem.objective(moved) > problem.objective(theta)


@pytest.mark.parametrize("name", ["linear-regression", "mlp", "mlp-classifier", "dropout-mlp",
                                  "cnn", "attention", "rnn", "gru"])
def test_single_example_and_batch_agree(name):
    problem = models.get(name)
    batch_predictions = problem.predict(problem.params, problem.X)
    batch_losses = problem.loss(batch_predictions, problem.Y)
    assert batch_losses.shape == (problem.X.shape[0],)
    for i in range(problem.X.shape[0]):
        prediction = problem.predict(problem.params, problem.X[i])
        assert np.allclose(prediction, batch_predictions[i], rtol=1e-14)
        assert np.ndim(problem.loss(prediction, problem.Y[i])) == 0
        assert problem.loss(prediction, problem.Y[i]) == pytest.approx(batch_losses[i],
                                                                       rel=1e-14)


def test_outputs_are_the_batch_predictions_flattened():
    problem = models.get("mlp-classifier")
    logits = [reference_mlp(problem.params, x, math.tanh, False) for x in problem.X]
    assert np.allclose(problem.outputs(problem.theta0), np.ravel(logits), rtol=1e-13)


# L2 and least-squares residuals.

@pytest.mark.parametrize("name", ["linear-regression", "mlp", "residual-mlp", "rnn",
                                  "mlp-classifier"])
def test_l2_adds_half_l2_times_squared_norm(name):
    plain, ridge = models.get(name), models.get(name, l2=0.3)
    theta = plain.theta0
    assert np.array_equal(theta, ridge.theta0)
    added = ridge.objective(theta) - plain.objective(theta)
    assert added == pytest.approx(0.15 * sum(v * v for v in theta), rel=1e-12)


@pytest.mark.parametrize("name, kwargs", [case for case in cases(LEAST_SQUARES)
                                          if case.values[1].get("loss") != "cross-entropy"
                                          and not case.values[1].get("l1")])
def test_objective_is_the_sum_of_squared_residuals(name, kwargs):
    problem = models.get(name, **kwargs)
    r = problem.residuals(problem.theta0)
    assert problem.objective(problem.theta0) == pytest.approx(float(r @ r), rel=1e-13)


def test_mse_models_have_residuals_and_the_others_do_not():
    assert models.get("mlp").residuals is not None
    assert models.get("rnn").residuals is not None
    assert models.get("mlp-classifier").residuals is None
    assert models.get("logistic-regression").residuals is None
    # |θ| is no smooth square: an l1 term leaves no least-squares form
    assert models.get("mlp", l1=0.1).residuals is None
    assert models.get("l1-mlp").residuals is None


# Test functions against their closed forms.

def test_rosenbrock_closed_form_residuals_and_minimum():
    problem = models.get("rosenbrock", n=6)
    x = problem.theta0
    closed = sum(100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2 for i in range(5))
    assert problem.objective(x) == pytest.approx(closed, rel=1e-14)
    r = problem.residuals(x)
    assert r.shape == (10,)
    assert np.allclose(r[:5], [10 * (x[i + 1] - x[i] ** 2) for i in range(5)], rtol=1e-14)
    assert np.allclose(r[5:], 1 - x[:5], rtol=1e-14)
    ones = np.ones(6)
    assert problem.objective(ones) == 0.0 and not np.any(problem.residuals(ones))


def test_rosenbrock_classic_start():
    problem = models.get("rosenbrock", n=2, jitter=0.0)
    assert np.array_equal(problem.theta0, [-1.2, 1.0])
    assert problem.objective(problem.theta0) == pytest.approx(24.2, rel=1e-14)


def closed_form_logistic(l0, k):
    """l_k = sin²(2^k arcsin √l_0), in mpmath at the current precision."""
    return mpmath.sin(2 ** k * mpmath.asin(mpmath.sqrt(l0))) ** 2


@pytest.mark.parametrize("n", [1, 4, 9])
def test_logistic_map_in_float_matches_closed_form(n):
    problem = models.get("logistic-map", n=n, seed=3)
    with mpmath.workdps(50):
        orbit = [closed_form_logistic(mpmath.mpf(problem.theta0[0]), k)
                 for k in range(1, n + 1)]
    # the map keeps [0, 1] and doubles a rounding error per step on average: compare
    # absolutely (l_n may be near 0), allowing 2^n rounding errors of size 1e-15
    tolerance = 2.0 ** n * 1e-15
    assert abs(problem.objective(problem.theta0) - orbit[-1]) <= tolerance
    assert np.allclose(problem.outputs(problem.theta0), np.array(orbit, dtype=float),
                       rtol=0, atol=tolerance)


def test_logistic_map_in_mpmath_matches_closed_form_to_many_digits():
    problem = models.get("logistic-map", n=30)
    with mpmath.workdps(60):
        l0 = mpmath.mpf(problem.theta0[0])
        value = problem.objective(np.array([l0], dtype=object))
        exact = closed_form_logistic(l0, 30)
        assert abs(value - exact) <= mpmath.mpf(10) ** -45 * abs(exact)


def test_logistic_map_swells_under_sympy():
    l0 = sympy.Symbol("l0")
    sizes = [sympy.count_ops(models.get("logistic-map", n=n).objective(np.array([l0])))
             for n in (2, 4, 6)]
    polynomial = sympy.Poly(models.get("logistic-map", n=5).objective(np.array([l0])), l0)
    assert sizes[0] < sizes[1] < sizes[2]
    assert polynomial.degree() == 2 ** 5


# Datasets.

CLASSIFIERS = {
    "xor": lambda rng: datasets.xor(rng, 12),
    "moons": lambda rng: datasets.two_moons(rng, 12),
    "spirals": lambda rng: datasets.spirals(rng, 12, classes=3),
    "blobs": lambda rng: datasets.blobs(rng, 12, dim=5, classes=4),
}


@pytest.mark.parametrize("name", list(CLASSIFIERS))
def test_classification_targets_are_one_hot_with_every_class(name):
    X, Y = CLASSIFIERS[name](np.random.default_rng(0))
    assert X.shape[0] == Y.shape[0] == 12 and Y.dtype == np.float64
    assert np.all(Y.sum(axis=1) == 1) and set(np.unique(Y)) == {0.0, 1.0}
    assert np.all(Y.sum(axis=0) > 0)
    again = CLASSIFIERS[name](np.random.default_rng(0))
    assert np.array_equal(X, again[0]) and np.array_equal(Y, again[1])


def test_xor_class_is_whether_the_signs_differ():
    X, Y = datasets.xor(np.random.default_rng(1), 40)
    assert np.array_equal(Y[:, 1] == 1, X[:, 0] * X[:, 1] < 0)


def test_moons_lie_on_their_arcs():
    X, Y = datasets.two_moons(np.random.default_rng(2), 200, noise=0.0)
    upper, lower = X[Y[:, 0] == 1], X[Y[:, 1] == 1]
    assert np.allclose(np.hypot(*upper.T), 1) and np.all(upper[:, 1] >= 0)
    assert np.allclose(np.hypot(lower[:, 0] - 1, lower[:, 1] - 0.5), 1)
    assert np.all(lower[:, 1] <= 0.5)


def test_noisy_sine_without_noise_is_a_sine():
    X, Y = datasets.noisy_sine(np.random.default_rng(4), 50, 1, 1, noise=0.0)
    assert np.allclose(np.abs(Y), np.abs(np.sin(np.pi * X)), atol=1e-15)
    X, Y = datasets.noisy_sine(np.random.default_rng(4), 50, 6, 3)
    assert X.shape == (50, 6) and Y.shape == (50, 3) and np.all(np.abs(X) <= 1)


def test_sequence_target_continues_the_sine():
    X, Y = datasets.sine_sequences(np.random.default_rng(5), 20, steps=5, noise=0.0)
    s = np.concatenate([X[..., 0], Y], axis=1)        # s_0 … s_5
    # a pure sinusoid obeys s_{t+1} + s_{t−1} = 2 cos(ω dt) s_t for one constant per example
    assert np.allclose((s[:, 2] + s[:, 0]) * s[:, 4], (s[:, 5] + s[:, 3]) * s[:, 1],
                       atol=1e-12)


# Errors.

def test_unknown_model_names_the_valid_ones():
    with pytest.raises(UnknownModelError) as caught:
        models.get("transformer")
    assert isinstance(caught.value, DiffLabError) and isinstance(caught.value, KeyError)
    assert "transformer" in str(caught.value)
    assert all(name in str(caught.value) for name in NAMES)


@pytest.mark.parametrize("name, kwargs, words", [
    ("mlp", {"widths": (4,)}, "widths"),
    ("mlp", {"widths": (4, 0, 1)}, "width"),
    ("mlp", {"widths": 4}, "widths"),
    ("mlp", {"activation": "gelu"}, "tanh"),
    ("mlp", {"batch": 0}, "batch"),
    ("mlp", {"loss": "hinge"}, "cross-entropy"),
    ("mlp", {"loss": "cross-entropy", "data": "sine"}, "classification"),
    ("mlp", {"data": "mnist"}, "spirals"),
    ("mlp", {"widths": (2, 3, 1), "loss": "cross-entropy"}, "outputs"),
    ("mlp-classifier", {"widths": (3, 4, 2)}, "2 inputs"),
    ("residual-mlp", {"widths": (2, 3, 4, 1)}, "skip"),
    ("logistic-regression", {"data": "sine"}, "classification"),
    ("rnn", {"steps": 0}, "steps"),
    ("rnn", {"hidden": 2.5}, "hidden"),
    ("gru", {"steps": 0}, "steps"),
    ("gru", {"channels": -1}, "channels"),
    ("rosenbrock", {"n": 1}, "n"),
    ("logistic-map", {"n": 0}, "n"),
    ("mlp", {"l2": -1.0}, "l2"),
    ("mlp", {"l1": -1.0}, "l1"),
    ("rnn", {"l1": float("inf")}, "l1"),
    ("l1-mlp", {"l1": "0.1"}, "l1"),
    ("batchnorm-mlp", {"eps": 0.0}, "eps"),
    ("batchnorm-mlp", {"batch": 1}, "batch"),
    ("dropout-mlp", {"rate": 1.0}, "rate"),
    ("cnn", {"length": 2}, "length"),
    ("cnn", {"filters": 0}, "filters"),
    ("attention", {"features": 1}, "features"),
    ("attention", {"key_size": 0}, "key_size"),
    ("mlp", {"seed": -1}, "seed"),
    ("mlp", {"widthz": (2, 1)}, "widthz"),
])
def test_bad_arguments_raise_a_clear_difflab_error(name, kwargs, words):
    with pytest.raises(ModelConfigError) as caught:
        models.get(name, **kwargs)
    assert isinstance(caught.value, DiffLabError)
    assert name in str(caught.value) and words in str(caught.value)
