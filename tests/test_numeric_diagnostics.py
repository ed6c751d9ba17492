"""Numeric differentiation diagnostics: the complex-step safety check, the V curve, kinks."""

import warnings

import numpy as np
import pytest

import difflab.numpy as dnp
from difflab import models, ravel, reference
from difflab.errors import ComplexStepWarning
from difflab.numeric import gradient, step
from difflab.numeric.diagnostics import v_curve


# The complex-step safety check.

def test_non_analytic_function_warns_once():
    f = lambda t: dnp.sum(t * np.abs(t.real))        # numpy.abs drops the imaginary part
    theta = np.array([0.5, -1.5, 2.0])
    with pytest.warns(ComplexStepWarning, match="non-analytic"):
        first = gradient(f, theta, "complex-step")
    assert first.evaluations > 0                     # the check's central differences
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = gradient(f, theta, "complex-step")   # cached by function identity
    assert again.evaluations == 0 and again.complex_evaluations == 3


def test_check_can_be_skipped():
    f = lambda t: dnp.sum(t * np.abs(t.real))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = gradient(f, np.array([0.5, 2.0]), "complex-step", check=False)
    assert result.evaluations == 0 and result.complex_evaluations == 2


def test_analytic_function_does_not_warn():
    f = lambda t: dnp.sum(t * dnp.abs(t))             # dnp.abs is the analytic continuation
    theta = np.array([0.5, -1.5, 2.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = gradient(f, theta, "complex-step")
    assert np.allclose(result.value, 2 * np.abs(theta), rtol=1e-15)


# The V curve.

@pytest.mark.parametrize("scheme, order, slope", [("forward", 1, 1), ("central", 2, 2)])
def test_v_curve_of_exp_at_1(scheme, order, slope):
    v = v_curve(lambda t: dnp.sum(dnp.exp(t)), np.array([1.0]), scheme=scheme, order=order,
                exact=np.e)
    assert v.theoretical_step / 10 <= v.best_step <= v.theoretical_step * 10
    assert abs(v.truncation_slope - slope) < 0.25
    assert abs(v.roundoff_slope + 1) < 0.25


@pytest.mark.parametrize("scheme, order, slope", [("forward", 1, 1), ("central", 2, 2)])
def test_v_curve_on_the_zoo_mlp(scheme, order, slope):
    problem = models.get("mlp")
    v = v_curve(problem.objective, problem.theta0, index=5, scheme=scheme, order=order)
    assert v.theoretical_step / 10 <= v.best_step <= v.theoretical_step * 10
    assert abs(v.truncation_slope - slope) < 0.25
    assert abs(v.roundoff_slope + 1) < 0.25
    assert v.steps.size == v.errors.size > 40


# Kinks.

def relu_mlp_near_a_kink(h=None):
    """The relu MLP with one hidden bias moved so a pre-activation sits h/3 above zero.

    h defaults to the central-difference step of that bias.
    """
    problem = models.get("mlp", activation="relu")
    params = [(np.array(W), np.array(b)) for W, b in problem.params]
    W, b = params[0]
    z = problem.X @ W + b
    example, unit = np.unravel_index(np.argmin(np.abs(z) + 10 * (z < 0)), z.shape)
    bias_index = _index_of(params, 0, unit)
    h = step(problem.theta0, 1, 2)[bias_index] if h is None else h
    b[unit] -= z[example, unit] - h / 3
    theta, _ = ravel(params)
    return problem, theta, bias_index


def _index_of(params, layer, unit):
    marked = [(np.zeros_like(W), np.zeros_like(b)) for W, b in params]
    marked[layer][1][unit] = 1.0
    flat, _ = ravel(marked)
    return int(np.flatnonzero(flat)[0])


def test_relu_kink_inside_the_stencil_is_flagged():
    problem, theta, bias_index = relu_mlp_near_a_kink()
    result = gradient(problem.objective, theta, "central")
    assert result.entry_status[bias_index].startswith("kink")
    assert result.status.startswith("kink")
    assert str(bias_index) in result.status


def test_richardson_flags_the_kink_too():
    problem = models.get("mlp", activation="relu")
    h = step(problem.theta0, 1, 8, c=1.0)       # richardson's first step, 4 levels
    problem, theta, bias_index = relu_mlp_near_a_kink(float(np.min(h)))
    result = gradient(problem.objective, theta, "richardson")
    assert result.entry_status[bias_index] == "kink"     # Richardson does not look at θ


def test_smooth_models_have_no_kinks():
    for problem in (models.get("mlp"), models.get("residual-mlp"), models.get("mlp-classifier")):
        for scheme, order in [("forward", 1), ("central", 2), ("central", 4), ("richardson", 2)]:
            result = gradient(problem.objective, problem.theta0, scheme, order)
            assert result.status == "ok" and np.all(result.entry_status == "ok")


def test_relu_away_from_kinks_is_ok():
    problem = models.get("mlp", activation="relu")
    result = gradient(problem.objective, problem.theta0, "central")
    assert result.status == "ok"


def test_v_curve_reference_along_one_coordinate_is_the_reference_gradient_entry():
    """v_curve differentiates along its coordinate alone (2 mpmath evaluations, not 2n);
    every entry must equal the whole reference gradient's, in every layer of the mlp."""
    from difflab.numeric.diagnostics import _reference_partial
    problem = models.get("mlp")
    full = reference.gradient(problem.objective, problem.theta0)
    for i in range(problem.n_params):
        assert _reference_partial(problem.objective, problem.theta0, i) == float(full[i])


def test_a_kink_exactly_at_theta_is_flagged_by_central_estimates():
    """relu and abs at 0: both central differences average the sides (D(h) = D(2h)), so only
    the one-sided slopes (their jump does not shrink with h) can tell."""
    weights = np.array([1.0, 2.0, -3.0, 0.5])
    theta = np.array([0.0, 0.7, 0.0, -0.4])
    f = lambda t: dnp.sum(dnp.relu(t[:2]) * weights[:2]) + dnp.sum(dnp.abs(t[2:]) * weights[2:])
    for order in (2, 4):
        result = gradient(f, theta, "central", order)
        assert result.entry_status.tolist() == ["kink at θ", "ok", "kink at θ", "ok"], order
    smooth = gradient(lambda t: dnp.sum(dnp.square(t) * weights), theta, "central")
    assert smooth.entry_status.tolist() == ["ok"] * 4
