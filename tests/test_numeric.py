"""The finite-difference differentiator: exact stencils, the step rule, every scheme's accuracy
against difflab.reference, exact evaluation counts, honest error estimates and clear errors."""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import difflab.numpy as dnp
from difflab import models, reference
from difflab.errors import DiffLabError, NonFiniteValueError, ShapeError
from difflab.numeric import gradient, jacobian, step, stencil
from difflab.numeric.stencils import fornberg

SCHEMES_AND_TARGETS = [      # scheme, order, relative error target, evaluations per coordinate
    ("forward", 1, 1e-7, None),
    ("central", 2, 1e-9, 2),
    ("central", 4, 1e-11, 4),
    ("richardson", 2, 1e-12, 8),
    ("complex-step", 2, 1e-14, 0),
]


@pytest.fixture(scope="module", params=[("mlp", {}), ("residual-mlp", {})],
                ids=["mlp", "residual-mlp"])
def smooth(request):
    name, kw = request.param
    problem = models.get(name, **kw)
    return problem, reference.gradient(problem.objective, problem.theta0)


def true_error(value, ref):
    return np.abs((np.asarray(value, dtype=object) - ref).astype(float))


# Stencils.

@pytest.mark.parametrize("m, p, scheme, expected", [
    (1, 2, "central", ["-1/2", "0", "1/2"]),
    (1, 4, "central", ["1/12", "-2/3", "0", "2/3", "-1/12"]),
    (1, 1, "forward", ["-1", "1"]),
    (1, 1, "backward", ["1", "-1"]),
    (2, 2, "central", ["1", "-2", "1"]),
    (2, 4, "central", ["-1/12", "4/3", "-5/2", "4/3", "-1/12"]),
    (1, 2, "forward", ["-3/2", "2", "-1/2"]),
])
def test_known_weights_are_exact(m, p, scheme, expected):
    s = stencil(m, p, scheme)
    assert s.exact == tuple(Fraction(w) for w in expected)
    assert np.array_equal(s.weights, [float(Fraction(w)) for w in expected])


def test_stencils_are_cached():
    assert stencil(1, 4, "central") is stencil(1, 4, "central")


@settings(max_examples=60, deadline=None)
@given(m=st.integers(1, 4), p=st.integers(1, 6),
       scheme=st.sampled_from(["forward", "backward", "central"]), data=st.data())
def test_polynomials_up_to_degree_p_plus_m_minus_1_are_exact(m, p, scheme, data):
    if scheme == "central":
        p += p % 2
    s = stencil(m, p, scheme)
    degree = p + m - 1
    coefficients = [Fraction(data.draw(st.integers(-9, 9))) for _ in range(degree + 1)]
    # exactly, in Fractions: Σ wₖ P(oₖ) = P⁽ᵐ⁾(0) = m!·c_m
    value = sum(w * sum(c * Fraction(o) ** k for k, c in enumerate(coefficients))
                for o, w in zip(s.offsets, s.exact))
    factorial = 1
    for k in range(2, m + 1):
        factorial *= k
    assert value == factorial * coefficients[m]
    # and in floats, up to round-off
    floats = sum(float(w) * sum(float(c) * o ** k for k, c in enumerate(coefficients))
                 for o, w in zip(s.offsets, s.exact))
    assert abs(floats - factorial * float(coefficients[m])) <= 1e-12 * (
        1 + sum(abs(float(w)) for w in s.exact) * sum(abs(float(c)) * 10 ** k for k, c in
                                                         enumerate(coefficients)))


def test_fornberg_on_an_uneven_grid():
    # f'(0) on {-1, 0, 2}: weights −2/3, 1/2, 1/6 (exact for quadratics)
    assert fornberg(1, (-1, 0, 2)) == (Fraction(-2, 3), Fraction(1, 2), Fraction(1, 6))


def test_odd_central_order_is_refused():
    with pytest.raises(DiffLabError, match="even"):
        stencil(1, 3, "central")


# Steps.

def test_step_rule_scales_with_x_and_dtype():
    theta = np.array([0.0, 1.0, -1e3, 3.7])
    h = step(theta, 1, 2)
    eps = np.finfo(np.float64).eps
    assert np.allclose(h, (3 * eps) ** (1 / 3) * np.maximum(np.abs(theta), 1), rtol=1e-6)
    assert np.array_equal((theta + h) - theta, h)
    h32 = step(theta.astype(np.float32), 1, 2)
    assert h32.dtype == np.float32
    assert np.allclose(h32, (3 * np.finfo(np.float32).eps) ** (1 / 3) *
                       np.maximum(np.abs(theta), 1), rtol=1e-5)
    assert np.allclose(step(theta, 2, 2), (48 * eps) ** 0.25 * np.maximum(np.abs(theta), 1),
                       rtol=1e-6)
    assert np.allclose(step(theta, 1, 1, "forward"),
                       2 * np.sqrt(eps) * np.maximum(np.abs(theta), 1), rtol=1e-6)


def test_step_override_scalar_and_per_coordinate():
    theta = np.array([1.0, 2.0])
    assert np.allclose(step(theta, override=1e-3), 1e-3)
    assert np.allclose(step(theta, override=[1e-3, 2e-3]), [1e-3, 2e-3])
    with pytest.raises(DiffLabError, match="per coordinate"):
        step(theta, override=[1e-3, 2e-3, 3e-3])
    result = gradient(lambda t: dnp.sum(t ** 3), theta, step=[1e-3, 2e-3])
    assert np.allclose(result.steps, [1e-3, 2e-3])


# Accuracy and cost on smooth zoo models.

@pytest.mark.parametrize("scheme, order, target, per_coordinate", SCHEMES_AND_TARGETS)
def test_accuracy_and_evaluations_on_smooth_models(smooth, scheme, order, target, per_coordinate):
    problem, ref = smooth
    n = problem.n_params
    bare = gradient(problem.objective, problem.theta0, scheme, order, estimate=False)
    assert reference.relative_error(bare.value, ref) <= target
    if scheme == "forward":
        assert bare.evaluations == n + 1
    elif scheme == "complex-step":      # n, and one along the check's random direction
        assert bare.complex_evaluations == n + 1
    else:
        assert bare.evaluations == per_coordinate * n


def test_evaluation_counts_with_estimates():
    calls = []

    def f(t):
        calls.append(1)
        return dnp.sum(dnp.sin(t) * t)
    theta = np.linspace(0.1, 1, 5)

    def counted(*args):
        calls.clear()
        result = gradient(f, theta, *args)
        assert result.evaluations == len(calls)
        return result
    # central estimates add ±2h per coordinate and f(θ) once (the kink-at-θ test), and ±h/2ᵏ
    # along a coordinate whose truncation stands ≥ FAR_RATIO above round-off (θ₀ = 0.1,
    # where f ≈ 0.01 is far below the rule's unit scale): two per rung
    central = counted("central", 2)
    extra = central.evaluations - (4 * 5 + 1)
    assert extra >= 0 and extra % 2 == 0
    assert central.estimate_evaluations == 2 * 5 + 1 + extra
    central4 = counted("central", 4)       # ±h, ±2h, then ±4h reused ±2h
    assert central4.evaluations >= 6 * 5 + 1
    assert central4.estimate_evaluations == central4.evaluations - 4 * 5
    forward = counted("forward", 1)
    assert forward.evaluations >= 2 * 5 + 1 and forward.estimate_evaluations == \
        forward.evaluations - (5 + 1)


def test_error_estimates_are_honest_on_smooth_mlps():
    """Estimate ≥ true error and ≤ 30× it on ≥ 90% of entries, pooled over smooth MLPs."""
    problems = [models.get("mlp"), models.get("mlp", seed=1), models.get("mlp-classifier"),
                models.get("residual-mlp")]
    refs = [reference.gradient(p.objective, p.theta0) for p in problems]
    for scheme, order in [("forward", 1), ("central", 2), ("central", 4), ("richardson", 2)]:
        inside = []
        for problem, ref in zip(problems, refs):
            result = gradient(problem.objective, problem.theta0, scheme, order)
            ratio = result.error / np.maximum(true_error(result.value, ref), 1e-300)
            inside.extend(((ratio >= 1) & (ratio <= 30)).tolist())
        assert np.mean(inside) >= 0.9, (scheme, order, np.mean(inside))


def test_complex_step_estimate_bounds_the_error(smooth):
    problem, ref = smooth
    result = gradient(problem.objective, problem.theta0, "complex-step")
    assert np.mean(result.error >= true_error(result.value, ref)) >= 0.85


def test_jacobian_of_zoo_outputs():
    problem = models.get("mlp")
    ref = reference.jacobian(problem.outputs, problem.theta0)
    for scheme, order, target in [("central", 2, 1e-9), ("central", 4, 1e-11),
                                  ("complex-step", 2, 1e-14)]:
        result = jacobian(problem.outputs, problem.theta0, scheme, order)
        assert result.value.shape == ref.shape == result.error.shape
        assert reference.relative_error(result.value, ref) <= target


def test_closed_form_gradient_float32():
    theta = np.array([0.3, -1.2, 2.0], dtype=np.float32)
    exact = np.cos(theta.astype(np.float64))
    result = gradient(lambda t: dnp.sum(dnp.sin(t)), theta, "central", 2)
    assert result.value.dtype == np.float32
    assert np.all(np.abs(result.value - exact) <= result.error)
    assert np.max(np.abs(result.value - exact)) < 1e-4      # ≈ ε₃₂^(2/3) = 2.4e-5 scale


def test_backward_and_higher_orders_converge_on_exp():
    theta = np.array([1.0, -0.5])
    exact = np.exp(theta)
    for scheme, order, target in [("backward", 1, 1e-7), ("forward", 3, 1e-11),
                                  ("central", 6, 1e-12)]:
        result = gradient(lambda t: dnp.sum(dnp.exp(t)), theta, scheme, order)
        assert np.max(np.abs(result.value - exact) / exact) <= target


# Clear errors.

def test_non_finite_theta_is_refused():
    with pytest.raises(DiffLabError, match="non-finite entries at indices \\[1\\]"):
        gradient(lambda t: dnp.sum(t), np.array([0.0, np.nan]))


def test_theta_must_be_a_flat_float_vector():
    with pytest.raises(ShapeError, match="flat vector"):
        gradient(lambda t: dnp.sum(t), np.ones((2, 2)))
    with pytest.raises(DiffLabError, match="float32 or float64"):
        gradient(lambda t: dnp.sum(t), np.array([1, 2]))


def test_non_scalar_output_is_refused():
    with pytest.raises(ShapeError, match="scalar"):
        gradient(lambda t: t * 2, np.ones(3))


def test_nan_at_a_stencil_point_names_entry_and_step():
    f = lambda t: dnp.sum(dnp.log(t))          # log of a negative number at θ₁ − h
    theta = np.array([1.0, 1e-7])
    with np.errstate(invalid="ignore"):
        with pytest.raises(NonFiniteValueError, match=r"entry 1, step h="):
            gradient(f, theta, "central")


def test_unknown_scheme():
    with pytest.raises(DiffLabError, match="unknown scheme"):
        gradient(lambda t: dnp.sum(t), np.ones(2), "sideways")


# Batched evaluation.

def test_batched_function_is_called_once_per_stencil_sweep():
    def f(T):
        return dnp.sum(dnp.sin(T) * T, axis=-1)
    f.batched = True
    theta = np.linspace(0.1, 1, 5)
    exact = np.cos(theta) * theta + np.sin(theta)
    plain = gradient(lambda t: dnp.sum(dnp.sin(t) * t), theta, "central", 4)
    batched = gradient(f, theta, "central", 4)
    assert batched.calls == 2 and plain.calls == plain.evaluations == batched.evaluations
    assert np.array_equal(batched.value, plain.value)
    assert np.max(np.abs(batched.value - exact)) < 1e-12


def test_batched_jacobian_and_bad_batch_output():
    def F(T):
        return dnp.sin(T) * T
    F.batched = True
    theta = np.linspace(0.1, 1, 4)
    result = jacobian(F, theta)
    assert result.value.shape == (4, 4) and result.calls == 2
    assert np.allclose(result.value, np.diag(np.cos(theta) * theta + np.sin(theta)), atol=1e-9)

    def wrong(T):
        return dnp.sum(T)
    wrong.batched = True
    with pytest.raises(ShapeError, match="batched"):
        gradient(wrong, theta)


def test_complex_step_in_float32():
    theta = np.array([0.3, -1.2, 2.0], dtype=np.float32)
    result = gradient(lambda t: dnp.sum(dnp.exp(t) * t), theta, "complex-step")
    exact = np.exp(theta.astype(np.float64)) * (1 + theta.astype(np.float64))
    assert result.value.dtype == np.float32
    assert np.max(np.abs(result.value - exact) / np.abs(exact)) < 1e-6


def test_richardson_needs_two_levels():
    with pytest.raises(DiffLabError, match="levels"):
        gradient(lambda t: dnp.sum(t), np.ones(2), "richardson", levels=1)


def test_bare_scheme_has_no_estimate():
    result = gradient(lambda t: dnp.sum(t ** 2), np.array([1.0, 2.0]), estimate=False)
    assert result.error is None and result.estimate_evaluations == 0
    assert result.evaluations == 4 and list(result.entry_status) == ["ok", "ok"]


def test_complex_step_refuses_a_function_that_drops_the_imaginary_part():
    with pytest.raises(DiffLabError, match="imaginary part"):
        gradient(lambda t: np.sum(t.real ** 2), np.array([1.0, 2.0]), "complex-step")
