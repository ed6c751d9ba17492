"""Numeric Hessians and Hessian-vector products against difflab.reference and closed forms."""

import numpy as np
import pytest

import difflab.numpy as dnp
from difflab import ad, models, reference
from difflab.errors import DiffLabError, NonFiniteValueError, ShapeError
from difflab.numeric.second import hessian, hvp


def rosenbrock_hessian(x):
    """The closed-form Hessian of Σ 100(x_{i+1} − x_i²)² + (1 − x_i)²."""
    n = x.size
    H = np.zeros((n, n))
    for i in range(n - 1):
        H[i, i] += 1200 * x[i] ** 2 - 400 * x[i + 1] + 2
        H[i + 1, i + 1] += 200
        H[i, i + 1] = H[i + 1, i] = -400 * x[i]
    return H


@pytest.fixture(scope="module")
def mlp_truth(zoo_hessian):
    return models.get("mlp"), zoo_hessian("mlp")


def test_hessian_from_exact_gradient(mlp_truth):
    problem, H = mlp_truth
    result = hessian(problem.objective, problem.theta0, "gradient",
                     gradient_fn=ad.grad(problem.objective))
    assert reference.relative_error(result.value, H) <= 1e-10
    # 2n, 2n for the estimate, and ±h/2ᵏ along the few coordinates whose truncation stands
    # ≥ FAR_RATIO above round-off (the descent)
    assert 4 * problem.n_params <= result.gradient_evaluations <= 5 * problem.n_params
    assert np.array_equal(result.value, result.value.T)
    assert 0 < result.asymmetry < 1e-9


def test_complex_step_hessian(mlp_truth):
    problem, H = mlp_truth
    result = hessian(problem.objective, problem.theta0, "complex-step")
    assert reference.relative_error(result.value, H) <= 1e-10
    n = problem.n_params
    # n per complex-step gradient (4n of them, and a few for the descent, as above), and one
    # for check_analytic's direction at θ
    assert (result.complex_evaluations - 1) % n == 0
    assert 4 * n * n + 1 <= result.complex_evaluations <= 5 * n * n + 1
    assert np.array_equal(result.value, result.value.T)


def test_hessian_from_values(mlp_truth):
    problem, H = mlp_truth
    n = problem.n_params
    result = hessian(problem.objective, problem.theta0, "values")       # order 4, step ladder
    assert reference.relative_error(result.value, H) <= 1e-8            # measured 4.7e-12
    # five rungs of 2n², and a few halvings along θ₁₉ = −0.013, smaller than the first rung
    ladder = 1 + 10 * n * n
    assert ladder < result.evaluations <= 1.02 * ladder
    assert result.evaluations - result.estimate_evaluations == 1 + 4 * n * n
    true = np.abs((np.asarray(result.value, dtype=object) - H).astype(float))
    assert np.mean(result.error >= true) >= 0.9
    plain = hessian(problem.objective, problem.theta0, "values", order=2)
    # measured 2.7e-8 at the theory steps: plain second differences stop near ε^(1/2)
    assert reference.relative_error(plain.value, H) <= 5e-8
    assert plain.evaluations - plain.estimate_evaluations == 1 + 2 * n * n
    true = np.abs((np.asarray(plain.value, dtype=object) - H).astype(float))
    assert np.mean(plain.error >= true) >= 0.9


def test_values_ladder_picks_a_smaller_step_where_high_derivatives_are_large():
    # f = exp(a·x) at 0: H = a², the order-4 truncation grows like (a·h)⁴; with a = 40 the
    # theory step is 30× too large, so only the finer rungs are accurate
    a = 40.0
    result = hessian(lambda t: dnp.exp(a * t[0]) + t[1] ** 2, np.zeros(2), "values")
    assert abs(result.value[0, 0] - a * a) / (a * a) <= 1e-8
    assert abs(result.value[0, 0] - a * a) <= result.error[0, 0]
    assert abs(result.value[1, 1] - 2) <= 1e-9


def test_hessian_of_rosenbrock_closed_form():
    problem = models.get("rosenbrock")
    exact = rosenbrock_hessian(problem.theta0)
    for method, tolerance in [("values", 1e-6), ("complex-step", 1e-9)]:
        result = hessian(problem.objective, problem.theta0, method)
        assert np.max(np.abs(result.value - exact)) / np.max(np.abs(exact)) <= tolerance
        assert np.all(np.abs(result.value - exact) <= result.error + 1e-12 * np.abs(exact).max())


def test_hvp_matches_reference(mlp_truth):
    problem, _ = mlp_truth
    v = np.random.default_rng(0).normal(size=problem.n_params)
    ref = reference.hvp(problem.objective, problem.theta0, v)
    result = hvp(problem.objective, problem.theta0, v)
    assert reference.relative_error(result.value, ref) <= 1e-9
    assert result.gradient_evaluations == 5          # ±hv; ±2hv and θ for the estimate
    true = np.abs((np.asarray(result.value, dtype=object) - ref).astype(float))
    # truncation-dominated: |D(2h) − D(h)|/3 tracks the error to about 1%, from either side
    assert np.all(true <= 1.05 * result.error) and np.median(result.error / true) < 3
    assert hvp(problem.objective, problem.theta0, v, estimate=False).gradient_evaluations == 2
    exact = hvp(problem.objective, problem.theta0, v, gradient_fn=ad.grad(problem.objective))
    assert reference.relative_error(exact.value, ref) <= 1e-9


def test_hvp_zero_direction_and_shape_errors():
    f = lambda t: dnp.sum(t ** 4)
    assert np.array_equal(hvp(f, np.ones(3), np.zeros(3)).value, np.zeros(3))
    with pytest.raises(ShapeError, match="v has shape"):
        hvp(f, np.ones(3), np.ones(2))


def test_gradient_method_needs_a_gradient():
    with pytest.raises(DiffLabError, match="gradient_fn"):
        hessian(lambda t: dnp.sum(t ** 2), np.ones(2), "gradient")
    with pytest.raises(DiffLabError, match="unknown method"):
        hessian(lambda t: dnp.sum(t ** 2), np.ones(2), "magic")


def test_non_finite_value_at_a_mixed_point_names_both_entries():
    def f(t):          # finite unless t₀ and t₁ both move: log(1 − 10¹²h²) at (+h, −h)
        return dnp.sum(t ** 2) + dnp.log(1 + 1e12 * (t[0] - 0.5) * (t[1] - 0.25))
    theta = np.array([0.5, 0.25, 1.0])
    with np.errstate(invalid="ignore", divide="ignore"):
        with pytest.raises(NonFiniteValueError, match="entries 0, 1"):
            hessian(f, theta, "values")


@pytest.mark.slow
def test_second_derivatives_of_the_residual_mlp():
    problem = models.get("residual-mlp")
    H = reference.hessian(problem.objective, problem.theta0)        # about 12 s
    exact = hessian(problem.objective, problem.theta0, "gradient",
                    gradient_fn=ad.grad(problem.objective))
    assert reference.relative_error(exact.value, H) <= 1e-10
    complex_step = hessian(problem.objective, problem.theta0, "complex-step")
    assert reference.relative_error(complex_step.value, H) <= 1e-10
    values = hessian(problem.objective, problem.theta0, "values")
    assert reference.relative_error(values.value, H) <= 1e-8          # measured 1.2e-10


def test_hvp_reports_a_kink_of_the_gradient_at_theta():
    """f = Σ wᵢ relu(xᵢ)²/2 + x₀x₁: ∇f has a kink where xᵢ = 0 (relu), so H·v does not exist
    there; the jump in ∇f's slope along v is wᵢvᵢ (one side wᵢ, the other 0)."""
    w = np.array([2.0, 3.0, 5.0])
    f = lambda x: dnp.sum(w * dnp.square(dnp.relu(x))) / 2 + x[0] * x[1]
    theta, v = np.array([0.0, 0.7, -0.4]), np.array([0.5, 1.0, -1.0])
    result = hvp(f, theta, v, gradient_fn=ad.grad(f))
    assert result.kink_jump[0] == pytest.approx(w[0] * abs(v[0]), rel=1e-6)
    assert result.kink_jump[1:].tolist() == [0.0, 0.0]
    smooth = hvp(lambda x: dnp.sum(dnp.tanh(x)), theta, v)
    assert not smooth.kink_jump.any()
