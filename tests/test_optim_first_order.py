"""First-order optimizers, clipping, schedules and the training loop.

Each update rule is written out again here in plain NumPy, from the formula in PyTorch's
documentation, and compared with difflab.optim over three steps of a fixed gradient sequence.
The sequence has a zero entry (a coordinate that must not move) and an entry of the size of ε
(where ε's placement decides the step), so a rule with ε in the wrong place fails.
"""

import math

import numpy as np
import pytest

import difflab
import difflab.numpy as dnp
from difflab import models
from difflab.errors import DiffLabError, NonFiniteValueError, ShapeError
from difflab.optim import (OPTIMIZERS, SGD, Adagrad, Adam, Momentum, Nadam, Nesterov,
                           NonFiniteGradientError, OptimizerConfigError, RMSprop,
                           TrainingConfigError, clip_by_global_norm, clip_by_value, constant,
                           cosine_decay, exponential_decay, global_norm, step_decay, train)

THETA0 = np.array([0.5, -1.0, 2.0, 0.0, 0.3])
GRADS = [np.array([0.2, -0.4, 1.5, 0.0, 1e-8]),
         np.array([-0.1, 0.3, 1.0, 0.0, 2e-8]),
         np.array([0.4, 0.1, -2.0, 0.0, -1e-8])]
EPS = 1e-8


def run(optimizer, theta=THETA0, grads=GRADS):
    """The iterates θ₁, θ₂, θ₃ of ``optimizer`` on the fixed gradient sequence."""
    state = optimizer.init(theta)
    iterates = []
    for g in grads:
        theta, state = optimizer.step(theta, g, state)
        iterates.append(theta)
    return iterates


def assert_iterates(optimizer, expected):
    for t, (ours, theirs) in enumerate(zip(run(optimizer), expected), start=1):
        np.testing.assert_allclose(ours, theirs, rtol=1e-13, atol=1e-16,
                                   err_msg=f"{optimizer!r}, step {t}")


# Update rules, three steps, against the formula written out here.

def test_sgd_with_weight_decay():
    lr, wd = 0.1, 0.05
    theta, expected = THETA0.copy(), []
    for g in GRADS:
        theta = theta - lr * (g + wd * theta)
        expected.append(theta)
    assert_iterates(SGD(lr=lr, weight_decay=wd), expected)


def test_sgd_without_weight_decay_is_plain_gradient_descent():
    assert_iterates(SGD(lr=0.1), [THETA0 - 0.1 * sum(GRADS[:t]) for t in (1, 2, 3)])


def test_heavy_ball_momentum():
    lr, mu = 0.1, 0.8
    b1 = GRADS[0]
    b2 = mu * b1 + GRADS[1]
    b3 = mu * b2 + GRADS[2]
    theta1 = THETA0 - lr * b1
    theta2 = theta1 - lr * b2
    theta3 = theta2 - lr * b3
    assert_iterates(Momentum(lr=lr, momentum=mu), [theta1, theta2, theta3])
    assert_iterates(SGD(lr=lr, momentum=mu), [theta1, theta2, theta3])


def test_nesterov_uses_g_plus_mu_b():
    lr, mu = 0.1, 0.8
    b1 = GRADS[0]
    b2 = mu * b1 + GRADS[1]
    b3 = mu * b2 + GRADS[2]
    theta1 = THETA0 - lr * (GRADS[0] + mu * b1)
    theta2 = theta1 - lr * (GRADS[1] + mu * b2)
    theta3 = theta2 - lr * (GRADS[2] + mu * b3)
    assert_iterates(Nesterov(lr=lr, momentum=mu), [theta1, theta2, theta3])
    assert_iterates(SGD(lr=lr, momentum=mu, nesterov=True), [theta1, theta2, theta3])


@pytest.mark.parametrize("s0", [0.0, 0.5])
def test_adagrad_eps_outside_the_root(s0):
    lr = 0.1
    s1 = s0 + GRADS[0] ** 2
    s2 = s1 + GRADS[1] ** 2
    s3 = s2 + GRADS[2] ** 2
    theta1 = THETA0 - lr * GRADS[0] / (np.sqrt(s1) + EPS)
    theta2 = theta1 - lr * GRADS[1] / (np.sqrt(s2) + EPS)
    theta3 = theta2 - lr * GRADS[2] / (np.sqrt(s3) + EPS)
    assert_iterates(Adagrad(lr=lr, eps=EPS, initial_accumulator=s0), [theta1, theta2, theta3])


def test_rmsprop_eps_outside_the_root():
    lr, alpha = 0.01, 0.9
    v1 = (1 - alpha) * GRADS[0] ** 2
    v2 = alpha * v1 + (1 - alpha) * GRADS[1] ** 2
    v3 = alpha * v2 + (1 - alpha) * GRADS[2] ** 2
    theta1 = THETA0 - lr * GRADS[0] / (np.sqrt(v1) + EPS)
    theta2 = theta1 - lr * GRADS[1] / (np.sqrt(v2) + EPS)
    theta3 = theta2 - lr * GRADS[2] / (np.sqrt(v3) + EPS)
    assert_iterates(RMSprop(lr=lr, alpha=alpha, eps=EPS), [theta1, theta2, theta3])


def test_adam_eps_added_to_the_corrected_root():
    lr, b1, b2 = 0.01, 0.9, 0.999
    m = v = np.zeros(5)
    theta, expected = THETA0, []
    for t, g in enumerate(GRADS, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat, v_hat = m / (1 - b1 ** t), v / (1 - b2 ** t)
        theta = theta - lr * m_hat / (np.sqrt(v_hat) + EPS)
        expected.append(theta)
    assert_iterates(Adam(lr=lr, beta1=b1, beta2=b2, eps=EPS), expected)


def test_nadam_with_pytorch_momentum_schedule():
    lr, b1, b2, psi = 0.002, 0.9, 0.999, 0.004
    mu = {t: b1 * (1 - 0.5 * 0.96 ** (t * psi)) for t in range(1, 5)}
    m = v = np.zeros(5)
    theta, expected = THETA0, []
    for t, g in enumerate(GRADS, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        prod_t = math.prod(mu[i] for i in range(1, t + 1))
        prod_next = math.prod(mu[i] for i in range(1, t + 2))
        m_hat = mu[t + 1] * m / (1 - prod_next) + (1 - mu[t]) * g / (1 - prod_t)
        v_hat = v / (1 - b2 ** t)
        theta = theta - lr * m_hat / (np.sqrt(v_hat) + EPS)
        expected.append(theta)
    assert_iterates(Nadam(lr=lr, beta1=b1, beta2=b2, eps=EPS, momentum_decay=psi), expected)
    assert Nadam().mu(1) == pytest.approx(0.9 * (1 - 0.5 * 0.96 ** 0.004), rel=1e-15)


def test_eps_placement_decides_a_tiny_gradients_step():
    # g = ε at the first step: outside the root, g/(|g| + ε) = 1/2; inside it would be ≈ 10⁻⁴.
    g = np.array([EPS])
    for optimizer in (Adagrad(lr=1.0, eps=EPS), RMSprop(lr=1.0, alpha=0.0, eps=EPS),
                      Adam(lr=1.0, eps=EPS)):
        theta, _ = optimizer.step(np.zeros(1), g, optimizer.init(np.zeros(1)))
        assert theta[0] == pytest.approx(-0.5, rel=1e-12), optimizer


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_step_is_pure(name):
    optimizer = OPTIMIZERS[name]()
    theta = THETA0.copy()
    state = optimizer.init(theta)
    before = {k: np.copy(v) for k, v in state.items()}
    first = optimizer.step(theta, GRADS[0], state)
    again = optimizer.step(theta, GRADS[0], state)
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(theta, THETA0)
    for key, value in before.items():
        np.testing.assert_array_equal(state[key], value)
    assert first[1]["t"] == 1 and state["t"] == 0


def test_pytorch_defaults():
    assert (SGD().lr, Adagrad().lr, RMSprop().lr, Adam().lr, Nadam().lr) == (
        1e-3, 1e-2, 1e-2, 1e-3, 2e-3)
    assert (Adagrad().eps, Adagrad().initial_accumulator) == (1e-10, 0.0)
    assert (RMSprop().alpha, RMSprop().eps) == (0.99, 1e-8)
    assert (Adam().beta1, Adam().beta2, Adam().eps) == (0.9, 0.999, 1e-8)
    assert Nadam().momentum_decay == 4e-3
    assert Momentum().momentum == Nesterov().momentum == 0.9 and Nesterov().nesterov


# Clipping.

def test_clip_by_value():
    np.testing.assert_array_equal(clip_by_value(np.array([3.0, -0.5, -7.0, 2.0]), 2.0),
                                  [2.0, -0.5, -2.0, 2.0])


def test_clip_by_global_norm():
    np.testing.assert_allclose(clip_by_global_norm(np.array([3.0, 4.0]), 1.0), [0.6, 0.8],
                               rtol=1e-15)
    short = np.array([0.3, -0.4])
    np.testing.assert_array_equal(clip_by_global_norm(short, 1.0), short)
    tree = {"a": np.array([3.0, 4.0]), "b": np.array([12.0])}     # global norm 13
    assert global_norm(tree) == 13.0
    clipped = clip_by_global_norm(tree, 2.6)
    np.testing.assert_allclose(clipped["a"], [0.6, 0.8], rtol=1e-15)
    np.testing.assert_allclose(clipped["b"], [2.4], rtol=1e-15)
    big = np.random.default_rng(0).normal(size=50) * 100
    assert np.linalg.norm(clip_by_global_norm(big, 1.5)) == pytest.approx(1.5, rel=1e-15)


def test_clipping_as_an_option_comes_before_weight_decay():
    theta, g = np.array([2.0, 2.0]), np.array([3.0, -3.0])
    # clipped to (1, −1), plus 0.5·θ = (1, 1): d = (2, 0)
    new, _ = SGD(lr=1.0, weight_decay=0.5, clip_value=1.0).step(theta, g, {"t": 0})
    np.testing.assert_array_equal(new, [0.0, 2.0])
    new, _ = SGD(lr=1.0, clip_norm=1.0).step(np.zeros(2), np.array([3.0, 4.0]), {"t": 0})
    np.testing.assert_allclose(new, [-0.6, -0.8], rtol=1e-15)
    for name, cls in OPTIMIZERS.items():
        clipped = cls(clip_norm=0.5)
        plain = cls()
        expected = run(plain, grads=[clip_by_global_norm(g, 0.5) for g in GRADS])
        for ours, theirs in zip(run(clipped), expected):
            np.testing.assert_array_equal(ours, theirs, err_msg=name)


# Schedules.

def test_schedules_closed_forms():
    assert [constant(0.1)(k) for k in (0, 7, 1000)] == [0.1, 0.1, 0.1]
    assert [step_decay(1.0, every=3, factor=0.5)(k) for k in range(8)] == [
        1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25]
    decay = exponential_decay(2.0, gamma=0.9)
    assert [decay(k) for k in range(4)] == pytest.approx([2.0, 1.8, 1.62, 1.458], rel=1e-15)
    cosine = cosine_decay(1.0, total=10, lr_min=0.1)
    assert [cosine(k) for k in (0, 5, 10, 20)] == pytest.approx([1.0, 0.55, 0.1, 0.1],
                                                                rel=1e-15)
    assert cosine(2) == pytest.approx(0.1 + 0.45 * (1 + math.cos(math.pi / 5)), rel=1e-15)


def test_schedule_drives_the_learning_rate_from_the_first_step():
    schedule = step_decay(1.0, every=1, factor=0.5)
    ones = [np.ones(1)] * 3
    iterates = run(SGD(lr=schedule), theta=np.zeros(1), grads=ones)
    assert [float(x[0]) for x in iterates] == [-1.0, -1.5, -1.75]
    history = train("mlp", Adam(lr=cosine_decay(0.01, total=4)), steps=5)
    np.testing.assert_allclose(history.lr, [cosine_decay(0.01, total=4)(k) for k in range(5)],
                               rtol=1e-15)


# Bad input.

@pytest.mark.parametrize("make", [
    lambda: SGD(lr=0), lambda: SGD(lr=-0.1), lambda: SGD(lr=float("nan")),
    lambda: SGD(lr=float("inf")), lambda: SGD(weight_decay=-1e-3),
    lambda: Momentum(momentum=1.0), lambda: Momentum(momentum=-0.1),
    lambda: Nesterov(momentum=0.0), lambda: Adam(beta1=1.0), lambda: Adam(beta2=-0.5),
    lambda: Adam(eps=0.0), lambda: Nadam(beta1=1.5), lambda: Nadam(momentum_decay=-1.0),
    lambda: RMSprop(alpha=1.0), lambda: Adagrad(initial_accumulator=-1.0),
    lambda: SGD(clip_value=0.0), lambda: SGD(clip_norm=-1.0),
    lambda: clip_by_value(np.ones(2), 0.0), lambda: clip_by_global_norm(np.ones(2), 0.0),
    lambda: constant(0.0), lambda: step_decay(0.1, every=0),
    lambda: step_decay(0.1, every=2, factor=1.5), lambda: exponential_decay(0.1, gamma=0.0),
    lambda: cosine_decay(0.1, total=0), lambda: cosine_decay(0.1, total=10, lr_min=0.2),
])
def test_bad_hyperparameters_raise(make):
    with pytest.raises(OptimizerConfigError) as caught:
        make()
    assert isinstance(caught.value, DiffLabError)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_non_finite_gradient_names_the_step(name, bad):
    optimizer = OPTIMIZERS[name]()
    theta, state = optimizer.step(THETA0, GRADS[0], optimizer.init(THETA0))
    g = GRADS[1].copy()
    g[2] = bad
    with pytest.raises(NonFiniteGradientError, match="step 2") as caught:
        optimizer.step(theta, g, state)
    assert caught.value.step == 2 and "[2]" in str(caught.value)


def test_shape_and_schedule_errors():
    optimizer = Adam()
    with pytest.raises(ShapeError, match=r"\(3,\).*\(5,\)"):
        optimizer.step(THETA0, np.ones(3), optimizer.init(THETA0))
    with pytest.raises(ShapeError, match="ravel"):
        optimizer.init(np.ones((2, 2)))
    with pytest.raises(OptimizerConfigError, match="step 3"):
        run(SGD(lr=lambda k: 0.1 - 0.06 * k))


def test_divergence_is_an_error_not_nan():
    with pytest.raises(NonFiniteValueError, match="step"):
        train("mlp", SGD(lr=1e3), steps=200)


@pytest.mark.parametrize("kwargs, match", [
    (dict(), "exactly one of steps and epochs"),
    (dict(steps=3, epochs=2), "exactly one"),
    (dict(steps=0), "steps must be an integer"),
    (dict(epochs=1.5), "epochs must be an integer"),
    (dict(steps=3, batch_size=0), "batch_size"),
])
def test_bad_training_arguments(kwargs, match):
    with pytest.raises(TrainingConfigError, match=match):
        train("mlp", Adam(), **kwargs)


def test_bad_training_objects():
    with pytest.raises(TrainingConfigError, match="optimizer"):
        train("mlp", "lbfgs", steps=1)
    with pytest.raises(TrainingConfigError, match="BatchMean"):
        train("rosenbrock", Adam(), steps=1, batch_size=2)
    with pytest.raises(TrainingConfigError, match="theta0"):
        train(lambda theta: dnp.sum(theta ** 2), Adam(), steps=1)
    with pytest.raises(DiffLabError, match="unknown differentiator"):
        train("mlp", Adam(), steps=1, differentiator="magic")


# Training on the zoo.

LEARNING_RATES = {"sgd": 0.1, "momentum": 0.03, "nesterov": 0.03, "adagrad": 0.1,
                  "rmsprop": 0.01, "adam": 0.01, "nadam": 0.01}


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_every_optimizer_reduces_the_mlp_loss(name):
    problem = models.get("mlp")
    history = train(problem, OPTIMIZERS[name](lr=LEARNING_RATES[name]), steps=200)
    assert history.final_loss < 0.25 * history.epoch_loss[0]
    assert history.final_loss == pytest.approx(problem.objective(history.theta), rel=1e-15)
    assert len(history.loss) == len(history.grad_norm) == len(history.time) == 200
    assert np.all(np.diff(history.time) >= 0)
    np.testing.assert_array_equal(problem.theta0, models.get("mlp").theta0)


def test_full_batch_training_is_the_hand_written_loop():
    problem, optimizer = models.get("mlp"), Nadam(lr=0.01, clip_norm=0.5)
    ad = difflab.differentiator("ad")
    theta, state = problem.theta0, optimizer.init(problem.theta0)
    losses, norms = [], []
    for _ in range(5):
        g = ad.gradient(problem.objective, theta)
        losses.append(problem.objective(theta))
        norms.append(np.linalg.norm(g))
        theta, state = optimizer.step(theta, g, state)
    history = train(problem, optimizer, epochs=5)
    np.testing.assert_array_equal(history.theta, theta)
    np.testing.assert_array_equal(history.loss, losses)
    np.testing.assert_array_equal(history.grad_norm, norms)       # before clipping
    np.testing.assert_array_equal(history.epoch_step, [0, 1, 2, 3, 4, 5])


def test_any_differentiator_through_the_interface():
    by_ad = train("mlp", Adam(lr=0.01), steps=10)
    by_differences = train("mlp", Adam(lr=0.01), steps=10, differentiator="fd-central")
    assert by_differences.differentiator == "fd-central"
    np.testing.assert_allclose(by_differences.theta, by_ad.theta, rtol=0, atol=1e-7)


def test_plain_objective_and_optimizer_by_name():
    history = train(lambda theta: dnp.sum((theta - 3.0) ** 2), "adam", steps=50,
                    theta0=np.zeros(2))
    assert history.optimizer == Adam() and history.final_loss < history.epoch_loss[0]


def test_mini_batch_and_stochastic_are_seeded_and_reproducible():
    problem = models.get("mlp")           # 8 examples
    runs = [train(problem, Adam(lr=0.01), epochs=4, batch_size=3, seed=seed)
            for seed in (7, 7, 8)]
    np.testing.assert_array_equal(runs[0].loss, runs[1].loss)
    np.testing.assert_array_equal(runs[0].theta, runs[1].theta)
    assert not np.array_equal(runs[0].loss, runs[2].loss)
    assert runs[0].steps_per_epoch == 3 and runs[0].steps == 12
    np.testing.assert_array_equal(runs[0].epoch_step, [0, 3, 6, 9, 12])
    stochastic = [train(problem, SGD(lr=0.05), epochs=2, batch_size=1, seed=1)
                  for _ in range(2)]
    np.testing.assert_array_equal(stochastic[0].theta, stochastic[1].theta)
    assert stochastic[0].steps == 16
    full = train(problem, Adam(lr=0.01), epochs=4, batch_size=8)
    np.testing.assert_array_equal(full.theta, train(problem, Adam(lr=0.01), epochs=4).theta)


def test_mini_batch_and_stochastic_reduce_the_loss():
    problem = models.get("mlp")
    for batch_size, lr in ((3, 0.01), (1, 0.003)):
        history = train(problem, Adam(lr=lr), epochs=40, batch_size=batch_size, seed=0)
        assert history.final_loss < 0.5 * history.epoch_loss[0], batch_size


def test_each_epoch_visits_every_example_once():
    n, seen = 7, []

    def example_loss(theta, X, Y):
        seen.append(tuple(int(i) for i in X[:, 0]))
        return dnp.square(theta[0] - X[:, 0]) + 0 * Y[:, 0]

    X, Y = np.arange(n, dtype=float)[:, None], np.zeros((n, 1))
    objective = models.BatchMean(example_loss, X, Y)
    history = train(objective, SGD(lr=0.1), epochs=3, batch_size=3, seed=5, theta0=np.zeros(1))
    assert history.steps == 9
    epochs, batches = [], []
    for call in seen:                    # a full-batch call is the loss after an epoch
        if len(call) == n:
            if batches:
                epochs.append(batches)
            batches = []
        elif not batches or batches[-1] != call:
            batches.append(call)
    assert len(epochs) == 3
    for batches in epochs:
        assert [len(b) for b in batches] == [3, 3, 1]
        assert sorted(i for b in batches for i in b) == list(range(n))
    assert epochs[0] != epochs[1]        # a fresh permutation per epoch


# PyTorch itself, where it is installed (it is not a dependency).

def test_agrees_with_torch_optim():
    torch = pytest.importorskip("torch")
    pairs = [
        (SGD(lr=0.1, weight_decay=0.05), dict(cls="SGD", lr=0.1, weight_decay=0.05)),
        (Momentum(lr=0.1, momentum=0.8), dict(cls="SGD", lr=0.1, momentum=0.8)),
        (Nesterov(lr=0.1, momentum=0.8), dict(cls="SGD", lr=0.1, momentum=0.8, nesterov=True)),
        (Adagrad(lr=0.1, eps=EPS), dict(cls="Adagrad", lr=0.1, eps=EPS)),
        (RMSprop(lr=0.01, alpha=0.9, eps=EPS), dict(cls="RMSprop", lr=0.01, alpha=0.9, eps=EPS)),
        (Adam(lr=0.01, eps=EPS), dict(cls="Adam", lr=0.01, eps=EPS)),
        (Nadam(lr=0.002, eps=EPS), dict(cls="NAdam", lr=0.002, eps=EPS)),
    ]
    for ours, options in pairs:
        options = dict(options)
        p = torch.tensor(THETA0, dtype=torch.float64, requires_grad=True)
        theirs = getattr(torch.optim, options.pop("cls"))([p], **options)
        for t, (mine, g) in enumerate(zip(run(ours), GRADS), start=1):
            p.grad = torch.tensor(g, dtype=torch.float64)
            theirs.step()
            np.testing.assert_allclose(mine, p.detach().numpy(), rtol=1e-12, atol=1e-15,
                                       err_msg=f"{ours!r}, step {t}")
