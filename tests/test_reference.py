"""difflab.reference against closed forms, to 30 digits and more, and its leak guards."""

import math

import mpmath
import numpy as np
import pytest

import difflab.numpy as dnp
from difflab import reference
from difflab.errors import DiffLabError, FloatLeakError, ShapeError

DIGITS = 30          # the promise: at least 30 digits right at dps=50
BOUND = 10.0 ** -DIGITS


def mp_vector(values):
    return np.array([mpmath.mpf(v) for v in values], dtype=object)


def assert_digits(result, exact):
    assert result.shape == exact.shape
    assert reference.relative_error(result, exact) < BOUND


def test_gradient_and_hessian_of_sum_sin_exp():
    f = lambda x: dnp.sum(dnp.sin(x) * dnp.exp(x))
    theta = np.array([0.3, -1.2, 2.5, 0.0])
    with mpmath.workdps(60):
        xs = [mpmath.mpf(v) for v in theta]
        grad = np.array([mpmath.exp(x) * (mpmath.sin(x) + mpmath.cos(x)) for x in xs])
        hess = np.diag([2 * mpmath.exp(x) * mpmath.cos(x) for x in xs]).astype(object)
        hess[hess == 0] = mpmath.mpf(0)
    assert_digits(reference.gradient(f, theta), grad)
    H = reference.hessian(f, theta)
    assert_digits(H, hess)
    off_diagonal = H[~np.eye(len(theta), dtype=bool)]
    assert all(abs(v) < BOUND for v in off_diagonal)


def test_quadratic_form_gradient_hessian_and_hvp():
    rng = np.random.default_rng(3)
    A = rng.normal(size=(4, 4))
    theta = rng.normal(size=4)
    v = rng.normal(size=4)
    f = lambda x: x @ (A @ x)
    with mpmath.workdps(60):
        Am = mpmath.matrix(A.tolist())
        sym = Am + Am.T
        xm = mpmath.matrix(theta.tolist())
        vm = mpmath.matrix(v.tolist())
        grad = np.array((sym * xm).tolist(), dtype=object).reshape(-1)
        hess = np.array(sym.tolist(), dtype=object)
        hv = np.array((sym * vm).tolist(), dtype=object).reshape(-1)
    assert_digits(reference.gradient(f, theta), grad)
    assert_digits(reference.hessian(f, theta), hess)
    assert_digits(reference.hvp(f, theta, v), hv)


def one_hidden_layer(x_data, y_data):
    """L(W, b, w, c) = ½ Σₖ (w·tanh(W xₖ + b) + c − yₖ)², parameters flat [W, b, w, c]."""
    d, m = x_data.shape[1], 3

    def loss(theta):
        W = dnp.reshape(theta[:d * m], (d, m))
        b, w, c = theta[d * m:d * m + m], theta[d * m + m:d * m + 2 * m], theta[-1]
        residual = dnp.tanh(x_data @ W + b) @ w + c - y_data
        return dnp.sum(residual * residual) / 2
    return loss, d, m


def hand_derived_gradient(theta, x_data, y_data, d, m, dps=70):
    """Backprop by hand, in mpmath: ∂L/∂c = Σr, ∂L/∂w = Σ r·h, ∂L/∂b = Σ r·w·(1−h²), ..."""
    with mpmath.workdps(dps):
        t = [mpmath.mpf(v) for v in theta]
        W = [[t[i * m + j] for j in range(m)] for i in range(d)]
        b, w, c = t[d * m:d * m + m], t[d * m + m:d * m + 2 * m], t[-1]
        gW = [[mpmath.mpf(0)] * m for _ in range(d)]
        gb, gw, gc = [mpmath.mpf(0)] * m, [mpmath.mpf(0)] * m, mpmath.mpf(0)
        for xk, yk in zip(x_data, y_data):
            xk = [mpmath.mpf(v) for v in xk]
            h = [mpmath.tanh(sum(xk[i] * W[i][j] for i in range(d)) + b[j]) for j in range(m)]
            r = sum(w[j] * h[j] for j in range(m)) + c - mpmath.mpf(yk)
            gc += r
            for j in range(m):
                gw[j] += r * h[j]
                delta = r * w[j] * (1 - h[j] ** 2)
                gb[j] += delta
                for i in range(d):
                    gW[i][j] += delta * xk[i]
        flat = [gW[i][j] for i in range(d) for j in range(m)] + gb + gw + [gc]
    return np.array(flat, dtype=object)


def test_one_hidden_layer_tanh_network_gradient_derived_by_hand():
    rng = np.random.default_rng(7)
    x_data, y_data = rng.normal(size=(5, 2)), rng.normal(size=5)
    loss, d, m = one_hidden_layer(x_data, y_data)
    theta = rng.normal(size=d * m + 2 * m + 1)
    assert_digits(reference.gradient(loss, theta),
                  hand_derived_gradient(theta, x_data, y_data, d, m))


def test_network_hessian_is_the_jacobian_of_the_hand_derived_gradient():
    """Differences of the hand-written gradient at 70 digits: an independent Hessian."""
    rng = np.random.default_rng(8)
    x_data, y_data = rng.normal(size=(3, 2)), rng.normal(size=3)
    loss, d, m = one_hidden_layer(x_data, y_data)
    theta = rng.normal(size=d * m + 2 * m + 1)
    H = reference.hessian(loss, theta)
    with mpmath.workdps(140):
        h = mpmath.mpf(2) ** -200
        columns = []
        for j in range(len(theta)):
            up = theta.astype(object).copy()
            down = theta.astype(object).copy()
            up[j] = mpmath.mpf(theta[j]) + h
            down[j] = mpmath.mpf(theta[j]) - h
            columns.append((hand_derived_gradient(up, x_data, y_data, d, m, dps=140)
                            - hand_derived_gradient(down, x_data, y_data, d, m, dps=140))
                           / (2 * h))
        exact = np.stack(columns, axis=1)
    assert_digits(H, exact)
    assert all(H[i, j] == H[j, i] for i in range(len(theta)) for j in range(len(theta)))


def test_jacobian_of_a_vector_map():
    F = lambda x: dnp.concatenate([dnp.sin(x[:1]) * x[1:2], dnp.exp(x[1:] * x[0])])
    theta = np.array([0.7, -0.4, 1.3])
    with mpmath.workdps(60):
        a, b, c = (mpmath.mpf(v) for v in theta)
        exact = np.array([
            [mpmath.cos(a) * b, mpmath.sin(a), 0],
            [b * mpmath.exp(a * b), a * mpmath.exp(a * b), 0],
            [c * mpmath.exp(a * c), 0, a * mpmath.exp(a * c)],
        ], dtype=object)
        exact[2, 1] = exact[0, 2] = exact[1, 2] = mpmath.mpf(0)
    J = reference.jacobian(F, theta)
    assert J.shape == (3, 3)
    assert_digits(J, exact)


def test_value_is_the_mpmath_evaluation():
    theta = np.array([0.1, 0.2])
    v = reference.value(lambda x: dnp.sum(dnp.tanh(x)), theta)
    with mpmath.workdps(60):
        exact = mpmath.tanh(mpmath.mpf(0.1)) + mpmath.tanh(mpmath.mpf(0.2))
        assert abs(v - exact) < mpmath.mpf(10) ** -48


def test_a_model_calling_math_exp_of_float_raises_instead_of_returning_zero():
    leaky = lambda x: dnp.sum(x * math.exp(float(x[0])))
    with pytest.raises(FloatLeakError, match="float"):
        reference.gradient(leaky, np.array([0.5, 1.0]))
    with pytest.raises(FloatLeakError):
        reference.hessian(leaky, np.array([0.5, 1.0]))


def test_a_model_calling_raw_numpy_raises():
    with pytest.raises(FloatLeakError, match="NumPy"):
        reference.gradient(lambda x: np.sum(np.tanh(x)), np.array([0.5, 1.0]))
    with pytest.raises(FloatLeakError):
        reference.gradient(lambda x: dnp.sum(np.asarray(x, dtype=float) * x),
                           np.array([0.5, 1.0]))


def test_a_model_returning_a_float_raises():
    with pytest.raises(FloatLeakError, match="returned a float"):
        reference.gradient(lambda x: 3.0, np.array([0.5]))


def test_the_guard_is_only_armed_inside_the_function():
    g = reference.gradient(lambda x: dnp.sum(x * x), np.array([1.5]))
    assert float(g[0]) == 3.0


def test_bad_input_is_refused_clearly():
    with pytest.raises(ShapeError, match="flat vector"):
        reference.gradient(lambda x: dnp.sum(x), np.ones((2, 2)))
    with pytest.raises(DiffLabError, match="non-finite"):
        reference.gradient(lambda x: dnp.sum(x), np.array([1.0, np.nan]))
    with pytest.raises(ShapeError, match="scalar"):
        reference.gradient(lambda x: x * 2, np.array([1.0, 2.0]))
    with pytest.raises(DiffLabError, match="not finite"):
        reference.gradient(lambda x: dnp.sum(dnp.log(x)), np.array([0.0, 1.0]))


def test_relative_error_and_correct_digits_metrics():
    b = np.array([3.0, 4.0])
    assert reference.relative_error(np.array([3.0, 4.5]), b) == pytest.approx(0.1)
    assert reference.relative_error(np.zeros(2), np.zeros(2)) == 0.0
    assert reference.correct_digits(np.array([3.0, 4.0005]), b) == pytest.approx(4.0)
    with mpmath.workdps(50):
        precise = np.array([mpmath.mpf(1) / 3, mpmath.mpf(2)], dtype=object)
    float_error = reference.relative_error(np.array([1 / 3, 2.0]), precise)
    assert 1e-18 < float_error < 1e-16
    with pytest.raises(ShapeError):
        reference.relative_error(np.ones(2), np.ones(3))


def test_elementwise_error_has_an_absolute_floor_for_zero_entries():
    errors = reference.elementwise_error(np.array([2.0, 1e-9, 5.0]), np.array([1.0, 0.0, 4.0]))
    assert errors[0] == pytest.approx(1.0)
    assert errors[1] == pytest.approx(1e-9 / (1e-8 * 4.0))
    assert errors[2] == pytest.approx(0.25)
    assert np.all(np.isfinite(errors))
