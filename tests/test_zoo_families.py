"""The network families reviewers check (issue 18, item 8): batch norm, dropout, L1, a 1-D CNN
and self-attention, each against an independent scalar Python forward pass and the reference.

The truths are written here in Python floats and the ``math`` module (no dnp, no NumPy
arithmetic on the parameters), and ``difflab.reference`` (mpmath at 50 digits).
"""

import math

import numpy as np
import pytest

import difflab
from difflab import DiffLabError, ad, models, reference
from difflab.errors import KinkError
from difflab.models import BatchMean, ModelConfigError, datasets, networks, zoo

FAMILIES = ("batchnorm-mlp", "dropout-mlp", "l1-mlp", "cnn", "attention")
VALUE_TOLERANCE = 1e-13
GRADIENT_TOLERANCE = 1e-13
EPS = 1e-5                        # batch and layer norm's variance floor, PyTorch's default

ACTIVATIONS = {
    "tanh": math.tanh,
    "relu": lambda v: max(v, 0.0),
    "softplus": lambda v: math.log1p(math.exp(v)),
    "sigmoid": lambda v: 1 / (1 + math.exp(-v)),
}


# Scalar Python forward passes: lists of floats, one example (or, for batch norm, the batch).

def affine(h, W, b):
    """h W + b for a list h, nested lists W (rows) and a list b."""
    return [math.fsum(h[i] * W[i][j] for i in range(len(h))) + b[j] for j in range(len(b))]


def loss(kind, z, y):
    """MSE (1/m) Σ (z − y)², or −log softmax(z)_c for one-hot y with its 1 at c."""
    if kind == "mse":
        return math.fsum((a - c) ** 2 for a, c in zip(z, y)) / len(y)
    top = max(z)
    log_total = top + math.log(math.fsum(math.exp(v - top) for v in z))
    return log_total - z[list(y).index(1.0)]


def mean(values):
    return math.fsum(values) / len(values)


def reference_batchnorm_mlp(p, X, act, eps):
    """Each hidden feature normalized over the batch: (z − μ_B)/√(σ²_B + ε), then γ·, + β, act."""
    H = [list(x) for x in X]
    for W, gamma, beta in p[:-1]:
        Z = [affine(h, W.tolist(), [0.0] * len(gamma)) for h in H]
        H = [[0.0] * len(gamma) for _ in Z]
        for j in range(len(gamma)):
            column = [z[j] for z in Z]
            mu = mean(column)
            sigma = math.sqrt(mean([(v - mu) ** 2 for v in column]) + eps)
            for i, v in enumerate(column):
                H[i][j] = act(gamma[j] * (v - mu) / sigma + beta[j])
    W, b = p[-1]
    return [affine(h, W.tolist(), b.tolist()) for h in H]


def reference_dropout_mlp(p, x, keep, act, rate):
    """Hidden unit j of an example kept (×1/(1 − rate)) or dropped (×0) by its mask entry."""
    h, keep = list(x), list(keep)
    for W, b in p[:-1]:
        z = affine(h, W.tolist(), b.tolist())
        mask, keep = keep[:len(z)], keep[len(z):]
        h = [act(v) / (1 - rate) if m == 1.0 else 0.0 for v, m in zip(z, mask)]
    assert not keep
    W, b = p[-1]
    return affine(h, W.tolist(), b.tolist())


def reference_mlp(p, x, act):
    h = list(x)
    for W, b in p[:-1]:
        h = [act(v) for v in affine(h, W.tolist(), b.tolist())]
    W, b = p[-1]
    return affine(h, W.tolist(), b.tolist())


def reference_cnn(p, signal, act):
    """y[t][f] = b[f] + Σ_k Σ_c x[t+k][c]·K[k][c][f] over the valid positions, act, then the
    features position by position into the readout."""
    K, b = p["K"].tolist(), p["b_conv"].tolist()
    width, channels, filters = len(K), len(K[0]), len(b)
    x = signal.tolist()
    features = []
    for t in range(len(x) - width + 1):
        for f in range(filters):
            y = b[f] + math.fsum(x[t + k][c] * K[k][c][f]
                                 for k in range(width) for c in range(channels))
            features.append(act(y))
    return affine(features, p["W_y"].tolist(), p["b_y"].tolist())


def reference_attention(p, sequence):
    """Token t attends to every s with weight e^{q_t·k_s/√d_k} / Σ_s' e^{q_t·k_s'/√d_k};
    u_t = LN(Σ_s w_ts v_s + x_t) over its own features; ŷ = mean_t u_t, W_y, b_y."""
    xs = [list(x) for x in sequence]
    def project(W):
        return [affine(x, W.tolist(), [0.0] * W.shape[1]) for x in xs]
    q, k, v = project(p["W_q"]), project(p["W_k"]), project(p["W_v"])
    scale = math.sqrt(len(q[0]))
    gamma, beta = p["gamma"].tolist(), p["beta"].tolist()
    pooled = [0.0] * len(gamma)
    for t, x in enumerate(xs):
        scores = [math.fsum(a * c for a, c in zip(q[t], k[s])) / scale for s in range(len(xs))]
        top = max(scores)
        weights = [math.exp(s - top) for s in scores]
        total = math.fsum(weights)
        z = [math.fsum(weights[s] * v[s][j] for s in range(len(xs))) / total + x[j]
             for j in range(len(x))]
        mu = mean(z)
        sigma = math.sqrt(mean([(a - mu) ** 2 for a in z]) + EPS)
        for j in range(len(z)):
            pooled[j] += (gamma[j] * (z[j] - mu) / sigma + beta[j]) / len(xs)
    return affine(pooled, p["W_y"].tolist(), p["b_y"].tolist())


def reference_objective(problem):
    """The objective at θ₀ in scalar Python: the mean loss plus l2/2·Σθ² + l1·Σ|θ|."""
    c, p = problem.config, problem.params
    name = problem.name
    if name == "batchnorm-mlp":
        predictions = reference_batchnorm_mlp(p, problem.X, ACTIVATIONS[c["activation"]],
                                              c["eps"])
    elif name == "dropout-mlp":
        d_in = c["widths"][0]
        predictions = [reference_dropout_mlp(p, row[:d_in], row[d_in:],
                                             ACTIVATIONS[c["activation"]], c["rate"])
                       for row in problem.X]
    elif name == "l1-mlp":
        predictions = [reference_mlp(p, x, ACTIVATIONS[c["activation"]]) for x in problem.X]
    elif name == "cnn":
        predictions = [reference_cnn(p, x, ACTIVATIONS[c["activation"]]) for x in problem.X]
    else:
        predictions = [reference_attention(p, x) for x in problem.X]
    kind = c.get("loss", "mse")
    data = mean([loss(kind, z, y) for z, y in zip(predictions, problem.Y.tolist())])
    theta = problem.theta0.tolist()
    return data + c["l2"] / 2 * math.fsum(t * t for t in theta) \
        + c["l1"] * math.fsum(abs(t) for t in theta)


VARIANTS = [(name, {}) for name in FAMILIES] + [
    ("batchnorm-mlp", {"widths": (3, 4, 2), "loss": "cross-entropy", "activation": "relu",
                       "batch": 6, "eps": 1e-3}),
    ("batchnorm-mlp", {"widths": (2, 3, 2, 1), "activation": "sigmoid", "l2": 0.1}),
    ("dropout-mlp", {"widths": (3, 4, 2), "loss": "cross-entropy", "rate": 0.5, "l1": 0.1}),
    ("l1-mlp", {"activation": "softplus", "l1": 0.2, "l2": 0.05}),
    ("cnn", {"length": 6, "filters": 3, "kernel": 2, "activation": "relu", "l1": 0.01}),
    ("attention", {"tokens": 3, "features": 4, "key_size": 3, "batch": 4, "l2": 0.1}),
]


def variant_id(name, kwargs):
    return name + "".join(f"-{k}={v}" for k, v in kwargs.items())


@pytest.mark.parametrize("name, kwargs", VARIANTS,
                         ids=[variant_id(*v) for v in VARIANTS])
def test_objective_matches_a_scalar_python_forward_pass(name, kwargs):
    problem = models.get(name, **kwargs)
    truth = reference_objective(problem)
    value = problem.objective(problem.theta0)
    assert abs(value - truth) <= VALUE_TOLERANCE * abs(truth), (value, truth)


@pytest.mark.parametrize("name, kwargs, size", [
    # batch norm: W, γ and β per hidden layer (β is the bias), then the output's W and b
    ("batchnorm-mlp", {"widths": (3, 4, 2)}, (3 * 4 + 4 + 4) + (4 * 2 + 2)),
    ("batchnorm-mlp", {"widths": (2, 3, 2, 1)}, (2 * 3 + 3 + 3) + (3 * 2 + 2 + 2) + (2 + 1)),
    ("dropout-mlp", {"widths": (3, 5, 2)}, (3 * 5 + 5) + (5 * 2 + 2)),
    ("l1-mlp", {"widths": (4, 2, 1)}, (4 * 2 + 2) + (2 * 1 + 1)),
    # the CNN: K (kernel × 1 channel × filters), b, then a readout of (length − kernel + 1)
    # positions × filters features
    ("cnn", {"length": 10, "filters": 3, "kernel": 4}, 4 * 1 * 3 + 3 + (10 - 4 + 1) * 3 + 1),
    # attention: W_q, W_k (features × key size), W_v (features²), γ, β, W_y, b_y
    ("attention", {"features": 4, "key_size": 3}, 4 * 3 + 4 * 3 + 4 * 4 + 4 + 4 + 4 + 1),
])
def test_parameter_counts(name, kwargs, size):
    assert models.get(name, **kwargs).n_params == size


def test_default_instances_are_small_enough_for_reference_hessians():
    for name in FAMILIES:
        problem = models.get(name)
        assert problem.n_params <= 40, name
        assert problem.description and problem.config


# AD against the reference, on variants the zoo-wide tests (tests/test_ad_api.py) do not
# reach; l1-mlp moved off its kink.

GRADIENT_CASES = [
    ("batchnorm-mlp", {"widths": (3, 4, 2), "loss": "cross-entropy", "activation": "relu",
                       "batch": 6}),
    ("dropout-mlp", {"rate": 0.5, "l1": 0.1, "l2": 0.1}),
    ("cnn", {"length": 6, "filters": 3, "activation": "softplus", "l2": 0.1}),
    ("attention", {"tokens": 3, "key_size": 1}),
]


@pytest.mark.parametrize("name, kwargs", GRADIENT_CASES,
                         ids=[variant_id(*c) for c in GRADIENT_CASES])
def test_ad_gradient_matches_the_reference(name, kwargs):
    problem = models.get(name, **kwargs)
    g = ad.grad(problem.objective)(problem.theta0)
    truth = reference.gradient(problem.objective, problem.theta0)
    assert reference.relative_error(g, truth) <= GRADIENT_TOLERANCE


def test_ad_gradient_of_l1_mlp_off_its_kink_matches_the_reference():
    problem = models.get("l1-mlp")
    theta = problem.theta0 + 0.01 * np.sign(np.arange(problem.n_params) % 2 - 0.5)
    g = ad.grad(problem.objective)(theta)
    assert reference.relative_error(g, reference.gradient(problem.objective, theta)) \
        <= GRADIENT_TOLERANCE


# The default instances' 50-digit Hessians take 5–20 s each (slow, in tests/test_ad_api.py);
# these small ones reach the same second derivatives of normalization, masks, convolution and
# softmax attention in a second or so.
HESSIAN_CASES = [
    ("batchnorm-mlp", {"widths": (2, 2, 1), "batch": 3}),
    ("dropout-mlp", {"widths": (2, 2, 1), "batch": 4, "rate": 0.5}),
    ("cnn", {"length": 4, "filters": 1, "kernel": 2, "batch": 3}),
    ("attention", {"tokens": 2, "features": 2, "key_size": 1, "batch": 1}),
]


@pytest.mark.parametrize("name, kwargs", HESSIAN_CASES,
                         ids=[variant_id(*c) for c in HESSIAN_CASES])
def test_ad_hessian_of_a_small_instance_matches_the_reference(name, kwargs):
    problem = models.get(name, **kwargs)
    H = ad.hessian(problem.objective)(problem.theta0)
    truth = reference.hessian(problem.objective, problem.theta0)
    assert reference.relative_error(H, truth) <= GRADIENT_TOLERANCE
    assert np.allclose(H, H.T, rtol=1e-14, atol=1e-14 * np.abs(H).max())


# Batch norm: the examples are coupled, so the objective is no per-example mean.

def first_layer_normalized(problem, X):
    """BN(X W_1) of the first hidden layer, before γ, β and the activation, for batch X."""
    W, _, _ = problem.params[0]
    ones, zeros = np.ones(W.shape[1]), np.zeros(W.shape[1])
    return networks.batch_norm(X @ W, ones, zeros)


def test_batch_norm_is_not_a_batch_mean_and_has_no_per_example_prediction():
    problem = models.get("batchnorm-mlp")
    assert not isinstance(problem.objective, BatchMean)
    assert problem.predict is None
    assert isinstance(models.get("mlp").objective, BatchMean)
    assert isinstance(models.get("dropout-mlp").objective, BatchMean)
    assert "whole batch" in problem.description


def test_batch_norm_couples_the_examples():
    problem = models.get("batchnorm-mlp")
    X = np.array(problem.X)
    moved = X.copy()
    moved[0] += 0.5                                   # change example 0 only
    before, after = first_layer_normalized(problem, X), first_layer_normalized(problem, moved)
    assert not np.allclose(before[1], after[1])       # example 1's activation moves with it
    forward = networks.batchnorm_mlp
    assert not np.allclose(forward(problem.params, X)[1], forward(problem.params, moved)[1])
    # a per-example network does not couple them
    mlp = models.get("mlp")
    assert np.array_equal(mlp.predict(mlp.params, X)[1], mlp.predict(mlp.params, moved)[1])


def test_batch_norm_normalizes_each_feature_over_the_batch():
    problem = models.get("batchnorm-mlp", batch=16)
    W, _, _ = problem.params[0]
    variance = np.var(problem.X @ W, axis=0)
    normalized = first_layer_normalized(problem, problem.X)
    assert np.allclose(normalized.mean(axis=0), 0, atol=1e-15)
    assert np.allclose(normalized.var(axis=0), variance / (variance + EPS), rtol=1e-13)


def test_symbolic_size_grows_with_the_batch_for_batch_norm_only():
    """The symbolic method differentiates a BatchMean's loss once, for one example; batch
    norm's whole-batch objective is traced whole, so its expression grows with the batch."""
    symbolic = difflab.differentiator("symbolic")

    def size(name, batch):
        problem = models.get(name, widths=(2, 2, 1), batch=batch)
        return symbolic.measure("gradient", problem.objective, problem.theta0).cost.size
    assert size("batchnorm-mlp", 8) > 1.5 * size("batchnorm-mlp", 4)
    assert size("mlp", 8) == size("mlp", 4)


# Dropout: a fixed mask per example, drawn from the seed.

def test_dropout_masks_travel_with_the_examples():
    problem = models.get("dropout-mlp", widths=(2, 5, 4, 1), batch=2000, rate=0.25)
    keep = problem.X[:, 2:]
    assert problem.X.shape == (2000, 2 + 5 + 4)
    assert set(np.unique(keep)) == {0.0, 1.0}
    assert abs((keep == 0).mean() - 0.25) < 0.02


def test_dropout_mask_is_fixed_and_seeds_differ():
    first, again = models.get("dropout-mlp", seed=1), models.get("dropout-mlp", seed=1)
    other = models.get("dropout-mlp", seed=2)
    assert np.array_equal(first.X, again.X)
    assert first.objective(first.theta0) == first.objective(first.theta0) \
        == again.objective(again.theta0)
    assert not np.array_equal(first.X[:, 2:], other.X[:, 2:])
    assert 0 < (first.X[:, 2:] == 0).sum() < first.X[:, 2:].size


def test_dropout_at_rate_zero_is_the_mlp():
    dropout, plain = models.get("dropout-mlp", rate=0.0), models.get("mlp")
    assert np.all(dropout.X[:, 2:] == 1.0)
    assert np.array_equal(dropout.theta0, plain.theta0)
    assert dropout.objective(dropout.theta0) == plain.objective(plain.theta0)


def test_a_dropped_unit_does_not_reach_its_example():
    problem = models.get("dropout-mlp")
    keep = problem.X[:, 2:5]                          # the first hidden layer's masks
    example, unit = map(int, np.argwhere(keep == 0)[0])
    kept = int(np.flatnonzero(keep[:, unit] == 1)[0])
    params = [(W.copy(), b.copy()) for W, b in problem.params]
    params[0][0][:, unit] += 1.0
    params[0][1][unit] += 1.0
    before = problem.predict(problem.params, problem.X)
    after = problem.predict(params, problem.X)
    assert np.array_equal(before[example], after[example])
    assert not np.allclose(before[kept], after[kept])


# L1: the penalty, and the kink l1-mlp starts on.

@pytest.mark.parametrize("name", ["linear-regression", "mlp", "rnn", "batchnorm-mlp",
                                  "dropout-mlp", "cnn", "attention"])
def test_l1_adds_exactly_l1_times_the_sum_of_absolute_values(name):
    plain, lasso = models.get(name), models.get(name, l1=0.3)
    both = models.get(name, l1=0.3, l2=0.2)
    theta = plain.theta0
    assert np.array_equal(theta, lasso.theta0) and (theta < 0).any() and (theta > 0).any()
    absolute = math.fsum(abs(v) for v in theta)
    assert lasso.objective(theta) - plain.objective(theta) == pytest.approx(0.3 * absolute,
                                                                            rel=1e-12)
    squares = math.fsum(v * v for v in theta)
    assert both.objective(theta) - plain.objective(theta) == pytest.approx(
        0.3 * absolute + 0.1 * squares, rel=1e-12)
    assert lasso.l1 == lasso.config["l1"] == 0.3 and "0.3·‖θ‖₁" in lasso.description


def test_l1_mlp_is_the_mlp_with_zero_biases_and_an_l1_term():
    problem, plain = models.get("l1-mlp"), models.get("mlp", l1=0.01)
    for (W, b), (W_plain, _) in zip(problem.params, plain.params, strict=True):
        assert np.array_equal(W, W_plain) and np.all(b == 0)
    assert problem.l1 == 0.01 and "abs′(0) = 0" in problem.description
    assert problem.objective(problem.theta0) == plain.objective(problem.theta0)


def test_a_problem_rebuilt_from_its_fields_keeps_its_l1_term():
    """The report's float32 edition calls supervised_problem(name … l2, config) again."""
    problem = models.get("l1-mlp")
    rebuilt = zoo.supervised_problem(problem.name, problem.description, problem.params,
                                     problem.predict, problem.loss, problem.X, problem.Y,
                                     problem.l2, problem.config)
    assert rebuilt.l1 == problem.l1
    assert rebuilt.objective(problem.theta0) == problem.objective(problem.theta0)


def test_at_the_kink_ad_and_symbolic_follow_the_convention_and_the_others_refuse():
    """abs′(0) = 0: at a zero entry AD and the symbolic gradient are the mean of the one-sided
    slopes (the data term's derivative); the reference names exactly the zero entries."""
    problem = models.get("l1-mlp")
    f, theta = problem.objective, problem.theta0
    with pytest.raises(reference.ReferenceKinkError) as caught:
        reference.gradient(f, theta)
    kink = caught.value
    assert np.array_equal(kink.kinks, theta == 0) and kink.kinks.sum() == 3 + 3 + 1
    assert np.allclose((kink.right - kink.left)[kink.kinks], 2 * problem.l1, rtol=1e-12)
    convention = np.where(kink.kinks, (kink.left + kink.right) / 2, kink.partial)
    for method in ("ad", "symbolic"):
        g = difflab.differentiator(method).gradient(f, theta)
        assert reference.relative_error(g, convention) <= GRADIENT_TOLERANCE, method
    for method in ("fd-central", "complex-step"):
        with pytest.raises(KinkError):
            difflab.differentiator(method).gradient(f, theta)


# The CNN and attention: their data and their symmetries.

def test_pulses_hold_one_pulse_whose_amplitude_is_the_target():
    X, Y = datasets.pulses(np.random.default_rng(3), 20, 9, noise=0.0)
    assert X.shape == (20, 9, 1) and Y.shape == (20, 1)
    for signal, (amplitude,) in zip(X[:, :, 0], Y):
        start = int(np.flatnonzero(signal)[0])
        assert np.array_equal(signal[start:start + 3], amplitude * datasets.PULSE)
        assert np.count_nonzero(signal) == 3


def test_lookup_target_is_the_first_feature_of_the_token_with_the_largest_second():
    X, Y = datasets.lookup_sequences(np.random.default_rng(4), 10, 5, 3)
    for tokens, (y,) in zip(X, Y):
        assert y == tokens[np.argmax([t[1] for t in tokens])][0]


def test_cnn_prediction_moves_with_a_shifted_pulse_only_through_the_readout():
    """Shifting the signal shifts the feature map by one position: with a readout that is the
    same at every position, the prediction would not change."""
    problem = models.get("cnn")
    params = dict(problem.params)
    filters = params["K"].shape[2]
    params["W_y"] = np.tile(params["W_y"][:filters], (params["W_y"].shape[0] // filters, 1))
    signal = np.zeros((1, 8, 1))
    signal[0, 2:5, 0] = datasets.PULSE
    shifted = np.roll(signal, 1, axis=1)
    assert problem.predict(params, signal) == pytest.approx(problem.predict(params, shifted),
                                                            rel=1e-14)
    assert not np.isclose(problem.predict(problem.params, signal)[0, 0],
                          problem.predict(problem.params, shifted)[0, 0])


def test_attention_is_invariant_to_the_order_of_the_tokens():
    problem = models.get("attention")
    order = [2, 0, 3, 1]
    assert np.allclose(problem.predict(problem.params, problem.X[:, order, :]),
                       problem.predict(problem.params, problem.X), rtol=1e-13)


# Arguments: refused with the reason and what would be accepted.

@pytest.mark.parametrize("name, kwargs, words", [
    ("batchnorm-mlp", {"batch": 1}, "at least 2"),
    ("batchnorm-mlp", {"widths": (2, 1)}, "hidden layer"),
    ("batchnorm-mlp", {"eps": -1e-5}, "eps"),
    ("batchnorm-mlp", {"activation": "gelu"}, "tanh"),
    ("dropout-mlp", {"widths": (3, 2)}, "hidden layer"),
    ("dropout-mlp", {"rate": -0.1}, "[0, 1)"),
    ("dropout-mlp", {"rate": True}, "rate"),
    ("l1-mlp", {"l1": -0.01}, "l1"),
    ("l1-mlp", {"loss": "cross-entropy", "data": "sine"}, "classification"),
    ("cnn", {"kernel": 9}, "length ≥ 9"),
    ("cnn", {"length": 2, "kernel": 1}, "pulse"),
    ("cnn", {"activation": "swish"}, "relu"),
    ("attention", {"features": 1}, "features"),
    ("attention", {"tokens": 2.0}, "tokens"),
    ("attention", {"batch": 0}, "batch"),
    ("attention", {"l1": float("nan")}, "l1"),
])
def test_bad_arguments_raise_model_config_errors(name, kwargs, words):
    with pytest.raises(ModelConfigError) as caught:
        models.get(name, **kwargs)
    assert isinstance(caught.value, DiffLabError)
    assert name in str(caught.value) and words in str(caught.value)
