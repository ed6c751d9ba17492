"""Issue 14 for the ground truth: at a kink difflab.reference refuses (never the average of the
one-sided slopes), outside f's real domain it names the point, and it finds no kink where f is
smooth — at stationary points, on exact zeros, at tiny and huge scales."""

import mpmath
import numpy as np
import pytest

import difflab.numpy as dnp
from difflab import ad, reference
from difflab.errors import DiffLabError, KinkError, NonFiniteValueError
from difflab.reference import RealDomainError, ReferenceKinkError

DIGITS = 1e-30


def close(result, exact):
    exact = np.asarray(exact, dtype=object)
    return reference.relative_error(result, exact) < DIGITS


def kink_of(call):
    with pytest.raises(ReferenceKinkError) as caught:
        call()
    return caught.value


# Kinks in first derivatives.

def test_relu_at_zero_is_a_kink_not_one_half():
    """Before: reference.gradient gave relu′(0) = ½ (central differences average 0 and 1)."""
    error = kink_of(lambda: reference.gradient(lambda t: dnp.sum(dnp.relu(t)),
                                               np.array([0.0, 2.0])))
    assert isinstance(error, KinkError) and isinstance(error, DiffLabError)
    assert error.quantity == "gradient"
    assert error.kinks.tolist() == [True, False]
    assert error.left.tolist() == [0.0, 1.0] and error.right.tolist() == [1.0, 1.0]
    assert np.isnan(error.partial[0]) and error.partial[1] == 1.0
    assert "entry 0 of (2,)" in str(error) and "left 0, right 1" in str(error)


def test_clip_at_its_edge_is_a_kink():
    """Before: clip′(1) = ½. The slopes are 1 from inside and 0 from outside."""
    error = kink_of(lambda: reference.gradient(lambda t: dnp.sum(dnp.clip(t, -1.0, 1.0)),
                                               np.array([1.0, 0.5, -1.0])))
    assert error.kinks.tolist() == [True, False, True]
    assert error.left.tolist() == [1.0, 1.0, 0.0] and error.right.tolist() == [0.0, 1.0, 1.0]


def test_a_three_way_tie_of_max_is_a_kink_in_every_tied_entry():
    error = kink_of(lambda: reference.gradient(dnp.max, np.array([2.0, 2.0, 1.0, 2.0])))
    assert error.kinks.tolist() == [True, True, False, True]
    assert error.partial[2] == 0.0


def test_abs_and_maximum_ties_are_kinks():
    kink_of(lambda: reference.gradient(lambda t: dnp.sum(dnp.abs(t)), np.array([0.0, 1.0])))
    kink_of(lambda: reference.gradient(lambda t: dnp.maximum(t[0], t[1]), np.array([1.0, 1.0])))


def test_jacobian_kinks_are_per_entry():
    F = lambda t: dnp.stack([dnp.relu(t[0]) * t[1], dnp.sin(t[0]) + t[1]])
    error = kink_of(lambda: reference.jacobian(F, np.array([0.0, 3.0])))
    assert error.kinks.tolist() == [[True, False], [False, False]]
    assert error.left[0, 0] == 0.0 and error.right[0, 0] == 3.0
    assert error.partial[1].tolist() == [1.0, 1.0] and error.partial[0, 1] == 0.0


def test_a_jump_in_f_is_refused():
    """sign has slope ±1/h on both sides of 0: the quotients agree but grow as h shrinks."""
    error = kink_of(lambda: reference.gradient(lambda t: dnp.sum(dnp.sign(t)),
                                               np.array([0.0, 1.0])))
    assert error.kinks.tolist() == [True, False]


def test_near_a_kink_but_not_on_it_the_derivative_is_the_truth():
    g = reference.gradient(lambda t: dnp.sum(dnp.relu(t)), np.array([1e-30, -1e-30]))
    assert [float(v) for v in g] == [1.0, 0.0]


# Kinks in second derivatives.

def test_a_kink_of_f_removes_its_hessian_row_and_column():
    """relu at 0: the central second difference is 1/(2h) ≈ 1e52; refused."""
    error = kink_of(lambda: reference.hessian(lambda t: dnp.sum(dnp.relu(t)) + t[1] ** 2,
                                              np.array([0.0, 1.0])))
    assert error.kinks.tolist() == [[True, True], [True, False]]
    assert np.isnan(error.left[0, 0]) and error.partial[1, 1] == 2.0
    assert "the slope along θ[0]" in str(error)


def test_a_kink_of_the_gradient_is_a_hessian_kink():
    """f = t·relu(t): f′ is continuous, f″ jumps from 0 to 2 at 0."""
    error = kink_of(lambda: reference.hessian(lambda t: dnp.sum(t * dnp.relu(t)),
                                              np.array([0.0, 1.0])))
    assert error.kinks.tolist() == [[True, False], [False, False]]
    assert (error.left[0, 0], error.right[0, 0]) == (0.0, 2.0)
    assert error.partial[1, 1] == 2.0 and error.partial[0, 1] == 0.0


def test_a_mixed_kink_is_found_from_either_side():
    """relu(x)·y at 0: ∂²f/∂x∂y = relu′(0) does not exist; only the one-sided differences
    along x of ∂f/∂y see it (the central one along y averages it away)."""
    for f in (lambda t: dnp.relu(t[0]) * t[1], lambda t: t[0] * dnp.relu(t[1])):
        error = kink_of(lambda: reference.hessian(f, np.zeros(2)))
        assert error.kinks.tolist() == [[False, True], [True, False]]


def test_hvp_kinks():
    error = kink_of(lambda: reference.hvp(lambda t: dnp.relu(t[0]) * t[1], np.zeros(2),
                                          np.array([0.0, 1.0])))
    assert error.kinks.tolist() == [True, False] and error.quantity == "Hessian-vector product"
    error = kink_of(lambda: reference.hvp(lambda t: t[0] * dnp.relu(t[1]), np.zeros(2),
                                          np.array([0.0, 1.0])))
    assert error.kinks.tolist() == [True, False]
    error = kink_of(lambda: reference.hvp(lambda t: dnp.sum(dnp.relu(t)), np.array([0.0, 1.0]),
                                          np.array([1.0, 1.0])))
    assert error.kinks.all()


# No false kinks where f is smooth.

def test_stationary_points_and_exact_zeros_are_not_kinks():
    assert close(reference.gradient(lambda t: dnp.sum(t * t), np.zeros(3)), [0, 0, 0])
    assert close(reference.gradient(lambda t: 1e30 + dnp.sum(t * t), np.zeros(2)), [0, 0])
    assert close(reference.gradient(lambda t: dnp.sum(t), np.zeros(2)), [1, 1])
    assert close(reference.hessian(lambda t: dnp.sum(t ** 3), np.zeros(2)), np.zeros((2, 2)))
    assert close(reference.hvp(lambda t: dnp.sum(t * t), np.zeros(2), np.array([1.0, -2.0])),
                 [2, -4])
    assert close(reference.hessian(lambda t: dnp.cos(t[0] - t[1]), np.zeros(2)),
                 [[-1, 1], [1, -1]])


def rosenbrock(t):
    return (1 - t[0]) ** 2 + 100 * (t[1] - t[0] ** 2) ** 2


def test_rosenbrock_at_its_minimum():
    assert close(reference.gradient(rosenbrock, np.ones(2)), [0, 0])
    assert close(reference.hessian(rosenbrock, np.ones(2)), [[802, -400], [-400, 200]])


def test_functions_the_numeric_side_mistook_for_kinks():
    """From issue 14 item 13: sin(1e4·x), the Jacobian of [cos(xy), sin(xy)] at (3, 5), a
    two-ion potential at |t| ≈ 3e-6."""
    with mpmath.workdps(60):
        x = mpmath.mpf(0.3)
        assert close(reference.gradient(lambda t: dnp.sin(1e4 * t[0]) + 1e-4 * t[1] ** 2,
                                        np.array([0.3, 2.0])),
                     [1e4 * mpmath.cos(1e4 * x), 2 * mpmath.mpf(1e-4) * 2])
        a, b = mpmath.mpf(3), mpmath.mpf(5)
        exact = [[-b * mpmath.sin(a * b), -a * mpmath.sin(a * b)],
                 [b * mpmath.cos(a * b), a * mpmath.cos(a * b)]]
    J = reference.jacobian(lambda t: dnp.stack([dnp.cos(t[0] * t[1]), dnp.sin(t[0] * t[1])]),
                           np.array([3.0, 5.0]))
    assert close(J, exact)
    k, C = 2.6e-12, 1e-20
    theta = np.array([3e-6, -3e-6])
    H = reference.hessian(lambda t: 0.5 * k * dnp.sum(t * t) + C / dnp.abs(t[0] - t[1]), theta)
    with mpmath.workdps(60):
        d = mpmath.mpf(theta[0]) - mpmath.mpf(theta[1])
        c2 = 2 * mpmath.mpf(C) / d ** 3
        exact = [[k + c2, -c2], [-c2, k + c2]]
    assert close(H, exact)


def test_differentiable_with_an_infinite_second_derivative_is_not_a_kink():
    """|t|^1.5 is differentiable at 0 with derivative 0 (its one-sided slopes shrink like √h)."""
    g = reference.gradient(lambda t: dnp.sum(dnp.abs(t) ** 1.5), np.array([0.0, 1.0]))
    assert close(g, [0, 1.5])


# Cost: the kink checks reuse the differences' evaluations.

def counted(f):
    calls = []

    def counting(t):
        calls.append(1)
        return f(t)
    return counting, calls


@pytest.mark.parametrize("quantity, expected", [
    ("gradient", lambda n: 2 * n + 1),
    ("hessian", lambda n: 1 + 4 * n + 2 * n * (n - 1)),
    ("hvp", lambda n: 6 * n + 3),
])
def test_evaluations_at_a_smooth_point(quantity, expected):
    """Gradient: one more than the central differences (f(θ)); Hessian: 2n more (f(θ±heᵢ));
    hvp: 2n + 3 more. No second look where nothing is suspect, exact zeros included."""
    theta = np.array([0.3, -0.7, 1.1, 0.5])
    f, calls = counted(lambda t: dnp.sum(dnp.tanh(1.3 * t + 0.2) ** 2) * dnp.exp(t[0]))
    args = (np.ones(4),) if quantity == "hvp" else ()
    getattr(reference, quantity)(f, theta, *args)
    assert len(calls) == expected(theta.size)


# Leaving the real domain.

def test_log_of_a_negative_number_names_the_domain():
    """Before: TypeError: cannot create mpf from mpc."""
    with pytest.raises(RealDomainError, match=r"left its real domain at θ: it returned the "
                                              r"complex number"):
        reference.gradient(lambda t: dnp.sum(dnp.log(t)), np.array([0.3, -0.7, 1.1]))
    assert issubclass(RealDomainError, NonFiniteValueError)


def test_the_edge_of_the_domain_is_named_with_the_step():
    with pytest.raises(RealDomainError, match=r"at θ − h·e0: .*edge of f's domain"):
        reference.gradient(lambda t: dnp.sum(dnp.sqrt(t)), np.array([0.0, 1.0]))


@pytest.mark.parametrize("call", [
    lambda: reference.value(lambda t: dnp.sum(dnp.log(t)), np.array([-1.0])),
    lambda: reference.hessian(lambda t: dnp.sum(dnp.sqrt(t)), np.array([-1.0, 1.0])),
    lambda: reference.hvp(lambda t: dnp.sum(dnp.log(t)), np.array([0.0, 1.0]), np.ones(2)),
    lambda: reference.jacobian(lambda t: dnp.log(t), np.array([-2.0, 1.0])),
    lambda: reference.gradient(lambda t: dnp.sum(1 / t), np.array([0.0, 1.0])),
])
def test_every_quantity_refuses_a_value_outside_the_real_domain(call):
    with pytest.raises(RealDomainError, match="left its real domain"):
        call()


@pytest.mark.parametrize("f, theta", [
    (lambda t: dnp.sum(dnp.relu(t) * t[2]), np.array([0.0, -1.0, 2.0])),
    (lambda t: dnp.sum(dnp.abs(t)) + t[1] * t[2], np.array([0.0, 0.5, 1.5])),
    (lambda t: dnp.max(t) * 2.0, np.array([1.0, 1.0, 1.0])),
    (lambda t: dnp.sum(dnp.clip(t, -1.0, 1.0) ** 2), np.array([1.0, -1.0, 0.25])),
    (lambda t: dnp.sum(dnp.leaky_relu(t, negative_slope=0.2)), np.array([0.0, 1.0, -1.0])),
])
def test_ad_conventions_lie_between_the_one_sided_truths(f, theta):
    """Where the reference refuses, AD's convention is one of the one-sided derivatives or
    between them; elsewhere AD matches the reference's partial result."""
    error = kink_of(lambda: reference.gradient(f, theta))
    g = ad.grad(f)(theta)
    low, high = np.fmin(error.left, error.right), np.fmax(error.left, error.right)
    at = error.kinks
    assert np.all((low[at] <= g[at]) & (g[at] <= high[at])), (g, error.left, error.right)
    assert np.allclose(g[~at], error.partial[~at], rtol=1e-14, atol=0)
