"""Numeric differentiation diagnostics: the complex-step safety check, the V curve, kinks."""

import warnings

import numpy as np
import pytest

import difflab.numpy as dnp
from difflab import models, ravel, reference
from difflab.errors import NonAnalyticError
from difflab.numeric import gradient, step
from difflab.numeric.diagnostics import v_curve


# The complex-step safety check.

def test_non_analytic_function_is_refused_every_time():
    """numpy.abs drops the imaginary part: the complex step is wrong (|t| for 2|t|), central
    differences along the check's random direction are right, so it is an error on every
    call (no cache by function identity), with the check's evaluations counted."""
    f = lambda t: dnp.sum(t * np.abs(t.real))
    theta = np.array([0.5, -1.5, 2.0])
    for _ in range(2):
        with pytest.raises(NonAnalyticError, match="not analytic"):
            gradient(f, theta, "complex-step")
    fine = gradient(lambda t: dnp.sum(t * dnp.abs(t)), theta, "complex-step")
    assert fine.complex_evaluations == 3 + 1 and fine.evaluations == fine.estimate_evaluations > 0


def test_check_can_be_skipped():
    f = lambda t: dnp.sum(t * np.abs(t.real))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = gradient(f, np.array([0.5, 2.0]), "complex-step", check=False)
    # the one real evaluation left is f(θ), against which the real parts are checked
    assert result.evaluations == 1 and result.complex_evaluations == 2


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


def test_relu_kink_inside_the_stencil_is_stepped_over():
    """A kink h/3 from θ is inside the first stencil; the step halves until the differences
    converge (the kink left the stencil), and the entry is right, not exempted as a kink."""
    problem, theta, bias_index = relu_mlp_near_a_kink()
    truth = float(reference.gradient(problem.objective, theta)[bias_index])
    for scheme in ("central", "richardson"):
        result = gradient(problem.objective, theta, scheme)
        assert result.entry_status[bias_index] == "ok" and result.status == "ok"
        true = abs(result.value[bias_index] - truth)
        assert true <= result.error[bias_index] and true <= 1e-8 * abs(truth)


def test_kink_closer_than_any_step_is_flagged():
    """relu(t − (1 + 1e-12)) at t = 1: no representable step gets the stencil off the kink,
    and the jump in the differences does not shrink as h does. (A forward difference sees
    only the side it steps to: at 10⁻¹² below a kink it is that side's slope.)"""
    f = lambda t: dnp.sum(dnp.relu(t - (1 + 1e-12)) * 3 + t ** 2)
    for scheme, order in [("central", 2), ("central", 4), ("richardson", 2)]:
        result = gradient(f, np.array([1.0]), scheme, order)
        assert result.entry_status[0].startswith("kink"), (scheme, result)
        assert result.status.startswith("kink")


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


def test_each_finite_difference_method_offers_its_own_v_curve():
    """Through the interface (what the report uses): each method's curve has its own
    truncation order; the complex step has no round-off arm; Richardson has no single step."""
    import difflab
    from difflab.errors import DiffLabError
    f = lambda t: dnp.sum(dnp.sin(t) * t)                        # noqa: E731
    theta = np.array([0.7, -0.4])
    exact = np.cos(0.7) * 0.7 + np.sin(0.7)
    # the fitted slope tells the orders 1, 2 and 4 apart (within ±0.5; the order-4 arm is
    # short before round-off meets it, so its fit reads about 3.6)
    for name, order in (("fd-forward", 1), ("fd-central", 2), ("fd-central4", 4)):
        curve = difflab.differentiator(name).v_curve(f, theta, 0, exact=exact)
        assert curve.status == "ok" and abs(curve.truncation_slope - order) < 0.5, (name, curve)
        assert curve.roundoff_slope is not None and curve.roundoff_slope < -0.5
        assert np.min(curve.errors) < 1e-5
    complex_curve = difflab.differentiator("complex-step").v_curve(f, theta, 0, exact=exact)
    assert complex_curve.best_step is None and complex_curve.roundoff_slope is None
    assert abs(complex_curve.truncation_slope - 2) < 0.5
    assert np.min(complex_curve.errors) <= 4 * np.finfo(float).eps * abs(exact)
    with pytest.raises(DiffLabError, match="no single step"):
        difflab.differentiator("fd-richardson").v_curve(f, theta, 0, exact=exact)
