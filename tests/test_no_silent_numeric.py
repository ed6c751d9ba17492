"""No silent wrong answer from the numeric differentiators (issue 14 items 6, 7, 11, 12, 13).

The finite-difference error estimate must bound the true error on ≥ 90% of entries over a
table of hostile smooth functions (tiny θ, mixed scales, fast oscillation, stationary points),
or the entry must say why it is not to be trusted; the truths are closed forms or
difflab.reference. The complex step must refuse what it cannot differentiate.
"""

import math
import warnings

import numpy as np
import pytest

import difflab
import difflab.numpy as dnp
from difflab import reference
from difflab.errors import (DiffLabError, NonAnalyticError, NonFiniteValueError, ShapeError,
                            UnreliableEstimateWarning)
from difflab.numeric import gradient, hessian, jacobian, v_curve

K_ION = 2.6e-12
THETA_ION = np.array([3e-6, -2.7e-6])
C_ION = K_ION * 5.7e-6 ** 3 / 2     # Coulomb curvature 2C/|d|³ ≈ k: the terms are comparable


def ion(t):
    """Two ions in a trap: 0.5·k·Σt² + C/|t₀ − t₁| at |t| ≈ 3e-6 (written analytic-safe)."""
    return 0.5 * K_ION * dnp.sum(t ** 2) + C_ION / dnp.abs(t[0] - t[1])


def fast(t):
    return dnp.sin(1e4 * t[0]) + 1e-4 * t[1] ** 2


def rosenbrock(t):
    return 100 * (t[1] - t[0] ** 2) ** 2 + (1 - t[0]) ** 2


def mixed_scale(t):
    return dnp.sin(1e5 * t[0]) * dnp.log(t[1])


def trig_pair(t):
    return dnp.stack([dnp.cos(t[0] * t[1]), dnp.sin(t[0] * t[1])])


# (label, quantity, f, θ, stationary): every truth from difflab.reference, rounded to floats
CASES = [
    ("sin(t/1e-4) at 3e-5", "gradient", lambda t: dnp.sum(dnp.sin(t / 1e-4)),
     np.array([3e-5]), False),
    ("sin(1e4 t₀) + 1e-4 t₁²", "gradient", fast, np.array([0.3, 2.0]), False),
    ("sin(1e4 t₀) + 1e-4 t₁²", "hessian", fast, np.array([0.3, 2.0]), False),
    ("two ions at 3e-6", "gradient", ion, THETA_ION, False),
    ("two ions at 3e-6", "hessian", ion, THETA_ION, False),
    ("sin(1e5 t₀)·log t₁ at (2e-6, 3e4)", "gradient", mixed_scale, np.array([2e-6, 3e4]), False),
    ("sin(1e5 t₀)·log t₁ at (2e-6, 3e4)", "hessian", mixed_scale, np.array([2e-6, 3e4]), False),
    ("Rosenbrock at its minimum", "gradient", rosenbrock, np.array([1.0, 1.0]), True),
    ("Rosenbrock at its minimum", "hessian", rosenbrock, np.array([1.0, 1.0]), True),
    ("cos(x − y) at 0", "gradient", lambda t: dnp.cos(t[0] - t[1]), np.zeros(2), True),
    ("cos(x − y) at 0", "hessian", lambda t: dnp.cos(t[0] - t[1]), np.zeros(2), True),
    ("[cos xy, sin xy] at (3, 5)", "jacobian", trig_pair, np.array([3.0, 5.0]), True),
]
FD = ["fd-forward", "fd-central", "fd-central4", "fd-richardson"]


@pytest.fixture(scope="module")
def truths():
    return {(label, quantity): np.asarray(getattr(reference, quantity)(f, theta), dtype=float)
            for label, quantity, f, theta, _ in CASES}


def measured(name, quantity, f, theta):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnreliableEstimateWarning)
        return difflab.differentiator(name).measure(quantity, f, theta, estimate=True,
                                                    sizes=False)


@pytest.mark.parametrize("name", FD)
def test_estimates_bound_the_error_or_say_why_not(name, truths):
    """Pooled over the table: estimate ≥ true error, or the entry is flagged (a kink, or an
    estimate the descent could not confirm) and the result's status says so."""
    honest, entries, details = 0, 0, []
    for label, quantity, f, theta, _ in CASES:
        cost = measured(name, quantity, f, theta)       # the Measurement: value, flags
        value = cost.value
        truth = truths[label, quantity]
        true = np.abs(value - truth)
        flagged = cost.kinks | (cost.status != "ok")
        # the reference's own noise where the truth is 0 (1e-110) is no error to bound
        good = (cost.error >= true) | flagged | (true <= 1e-30)
        honest += int(good.sum())
        entries += good.size
        details.append((label, quantity, float(np.max(true / np.maximum(cost.error, 1e-300))),
                        cost.status))
    assert honest / entries >= 0.9, (name, honest, entries, details)


@pytest.mark.parametrize("name", FD)
def test_no_kink_flags_on_smooth_functions_at_stationary_points(name):
    for label, quantity, f, theta, stationary in CASES:
        if stationary:
            cost = measured(name, quantity, f, theta)
            assert not cost.kinks.any() and cost.status == "ok", (name, label, quantity)


@pytest.mark.parametrize("name", FD)
def test_issue_reproducers_are_right(name, truths):
    """The entries the issue quotes: sin(1e4 t₀)'s ∂₀ (truth −9757) and ∂₀₀ (−2.19e7), the
    two-ion Hessian (fd steps 10⁴× too large before), within their own estimates."""
    for label, quantity in [("sin(1e4 t₀) + 1e-4 t₁²", "gradient"),
                            ("sin(1e4 t₀) + 1e-4 t₁²", "hessian"),
                            ("two ions at 3e-6", "hessian")]:
        f, theta = next((c[2], c[3]) for c in CASES if c[:2] == (label, quantity))
        cost = measured(name, quantity, f, theta)
        value = cost.value
        truth = truths[label, quantity]
        assert cost.status == "ok"
        assert np.all(np.abs(value - truth) <= cost.error), (label, quantity, value, truth)
        # the order-2 Hessians stop at the first step where their differences converge
        # (sin(1e4 t₀)'s ∂₀₀: 1.3% off, inside its estimate); the others are near round-off
        if not (quantity == "hessian" and name in ("fd-forward", "fd-central")):
            assert np.max(np.abs(value - truth)) <= 1e-3 * np.max(np.abs(truth))


def test_richardson_at_a_tiny_scale():
    """sin(t/1e-4) at 3e-5: Richardson's first step (0.018) is 180× the function's scale;
    before the descent it returned −531 ± 13 (truth 9553)."""
    result = gradient(lambda t: dnp.sum(dnp.sin(t / 1e-4)), np.array([3e-5]), "richardson")
    truth = 1e4 * math.cos(0.3)
    assert result.status == "ok" and abs(result.value[0] - truth) <= result.error[0] <= 1e-4 * truth


def test_kink_at_theta_is_flagged_by_every_central_scheme():
    for scheme, order in [("central", 2), ("central", 4), ("richardson", 2)]:
        result = gradient(lambda t: dnp.sum(dnp.relu(t)), np.array([0.0, 1.0]), scheme, order)
        assert result.entry_status.tolist() == ["kink at θ", "ok"], scheme
        assert result.kink_jump[0] == pytest.approx(1.0, rel=1e-6)


def test_hessian_flags_a_kink_of_the_gradient_at_theta():
    """relu(t₀)²·3/2: ∂₀f = 3·relu(t₀) has a kink at 0, so ∂₀₀f does not exist (3 or 0)."""
    f = lambda t: 1.5 * dnp.square(dnp.relu(t[0])) + 2 * dnp.sin(t[1])
    for order in (2, 4):
        result = hessian(f, np.array([0.0, 0.4]), "values", order=order)
        assert result.entry_status[0, 0] == "kink at θ", order
        assert result.kink_jump[0, 0] == pytest.approx(3.0, rel=1e-4)
        assert result.entry_status[1, 1] == "ok"


def test_a_step_the_user_fixed_too_large_is_unreliable_not_ok():
    f = lambda t: dnp.sum(dnp.sin(t))
    with pytest.warns(UnreliableEstimateWarning, match="unreliable"):
        result = gradient(f, np.array([0.3]), "central", step=1e10)
    assert result.entry_status[0] == "unreliable" and result.status.startswith("unreliable")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cost = difflab.differentiator("fd-central").measure(
            "gradient", f, np.array([0.3]), estimate=True)      # the default step adapts
    assert cost.status == "ok"


def test_richardson_levels_that_round_away_are_refused():
    with pytest.raises(DiffLabError, match="levels=100"):
        gradient(lambda t: dnp.sum(dnp.sin(t)), np.array([0.3]), "richardson", levels=100)


# The complex step, guarded by default.

@pytest.mark.parametrize("quantity", ["gradient", "jacobian", "hessian", "hvp"])
def test_complex_step_refuses_non_analytic_functions(quantity):
    """np.abs is not analytic: the complex step gave [0.5, 2] for truth [1, 4]."""
    cs = difflab.differentiator("complex-step")
    theta, v = np.array([0.5, 2.0]), np.array([1.0, -1.0])
    f = (lambda t: t * np.abs(t)) if quantity == "jacobian" else \
        (lambda t: dnp.sum(t * t * np.abs(t)) if quantity in ("hessian", "hvp")
         else dnp.sum(t * np.abs(t)))
    with pytest.raises(NonAnalyticError, match="not analytic"):
        cs.measure(quantity, f, theta, v if quantity == "hvp" else None)


def test_complex_step_refuses_a_leak_to_math():
    """math.exp of a complex entry keeps the real part (NumPy's ComplexWarning): [0.6, 2]."""
    with pytest.raises(NonAnalyticError, match="complex number into a real one"):
        difflab.differentiator("complex-step").gradient(
            lambda t: dnp.sum(t ** 2) + math.exp(t[0]), np.array([0.3, 1.0]))


def test_complex_step_refuses_a_branch_cut():
    """log at −1: the complex step returned 2π/h = 6e20 from log's continuation."""
    with pytest.raises(NonFiniteValueError, match="not finite at real points"):
        difflab.differentiator("complex-step").gradient(lambda t: dnp.sum(dnp.log(t)),
                                                        np.array([-1.0, -1.0]))


def test_complex_step_analytic_functions_pass_the_check(truths):
    """The check's central difference adapts too: the ion and sin(1e4 t) pass."""
    for label, quantity, f, theta, _ in CASES:
        if quantity == "hessian" and label.startswith("two ions"):
            value = difflab.differentiator("complex-step").hessian(f, theta)
            truth = truths[label, quantity]
            assert np.max(np.abs(value - truth)) <= 1e-2 * np.max(np.abs(truth))
        elif quantity == "gradient":
            value = difflab.differentiator("complex-step").gradient(f, theta)
            assert np.allclose(value, truths[label, quantity], rtol=1e-9, atol=1e-12)


# Empty and 0-d θ, the V curve.

@pytest.mark.parametrize("scheme", ["forward", "central", "richardson", "complex-step"])
def test_empty_theta_gives_an_empty_derivative(scheme):
    result = gradient(lambda t: dnp.sum(t ** 2) + 1.0, np.zeros(0), scheme)
    assert result.value.shape == (0,) and result.status == "ok" and result.evaluations == 1
    assert jacobian(lambda t: dnp.stack([dnp.sum(t), dnp.sum(t) + 1]), np.zeros(0),
                    scheme).value.shape == (2, 0)
    assert hessian(lambda t: dnp.sum(t ** 2), np.zeros(0)).value.shape == (0, 0)


def test_zero_dimensional_theta_is_named():
    with pytest.raises(ShapeError, match="atleast_1d"):
        gradient(lambda t: t ** 2, np.array(1.5))


def test_v_curve_keeps_its_errors_when_an_arm_cannot_be_fitted():
    """x² at 0: every central difference is exact (no truncation arm); the measured errors
    come back with a status instead of an exception."""
    curve = v_curve(lambda t: dnp.sum(t ** 2) + t[0], np.array([0.0]), exact=1.0)
    assert curve.errors.size == curve.steps.size > 40
    assert curve.status != "ok" and curve.truncation_slope is None


# The descent to the least estimated error, and the complex step's branch check.

@pytest.mark.parametrize("scheme, order, allowed", [("forward", 1, 1e-6), ("central", 2, 1e-9),
                                                   ("central", 4, 1e-11),
                                                   ("richardson", 2, 1e-11)])
def test_descent_reaches_the_bottom_of_the_v_at_tiny_theta(scheme, order, allowed):
    """1/t at 3e-7…2e-6 (closed form −1/t²): stopping at the first converged window left
    errors of 2e-2 (forward) to 7e-7 (richardson); the bottom of the V is at h ≈ ε^(1/(p+1))·|t|."""
    theta = np.array([3e-7, 5e-7, 2e-6])
    result = gradient(lambda t: dnp.sum(1 / t), theta, scheme, order)
    truth = -1 / theta ** 2
    assert result.status == "ok"
    assert np.all(np.abs(result.value - truth) <= result.error)
    assert np.max(np.abs(result.value / truth - 1)) <= allowed


def test_values_hessian_descends_to_the_least_error():
    """sin(1e4 t₀)'s ∂₀₀ by plain second differences: 1.3% off at the first converged
    window, within √ε-ish relative error at the bottom of the V."""
    theta = np.array([0.375, 2.0])
    result = hessian(fast, theta, "values", order=2)
    truth = -1e8 * np.sin(1e4 * theta[0])
    assert abs(result.value[0, 0] - truth) <= result.error[0, 0]
    assert abs(result.value[0, 0] / truth - 1) <= 1e-6


def test_complex_step_refuses_a_branch_on_the_complex_argument():
    """f jumps at t₀ = 0 (sum(t) for t₀ ≠ 0, sum(t²) at 0): θ + ih·e₀ takes the other branch,
    whose real part (3) is not f(θ) (5); the complex step gave [1, 2, 4] silently."""
    def f(t):
        return dnp.sum(t) if t[0] != 0 else dnp.sum(t ** 2)
    with pytest.raises(NonAnalyticError, match="another branch"):
        gradient(f, np.array([0.0, 1.0, 2.0]), "complex-step")
    with pytest.raises(NonAnalyticError, match="another branch"):
        gradient(f, np.array([0.0, 1.0, 2.0]), "complex-step", check=False)


def test_complex_step_real_parts_at_a_minimum_are_not_a_branch():
    """At Rosenbrock's minimum f = 0 and Re f(θ + ih·e₀) = −h²·∂₀²f/2 ≈ −4e-38: beyond any
    ulp of 0, yet smooth (it grows fourfold at 2h), so the gradient is the exact 0."""
    result = gradient(rosenbrock, np.array([1.0, 1.0]), "complex-step", check=False)
    assert np.all(result.value == 0) and result.complex_evaluations == 2 + 2


@pytest.mark.parametrize("scheme", ["forward", "backward"])
@pytest.mark.parametrize("f, theta, kinked", [
    (lambda t: dnp.sum(dnp.relu(t)), [0.0, 1.0, -1.0], [0]),
    (lambda t: dnp.max(t), [1.0, 1.0, 1.0], [0, 1, 2]),
    (lambda t: dnp.sum(dnp.clip(t, -1.0, 1.0)), [1.0, -1.0, 0.5], [0, 1]),
], ids=["relu at 0", "max tie", "clip edges"])
def test_one_sided_schemes_flag_a_kink_at_theta(scheme, f, theta, kinked):
    """A forward difference sees one side only (relu′(0) came out 1, the convention is 0):
    the random-direction probe fires and the backward look flags exactly the kinked entries."""
    result = gradient(f, np.array(theta), scheme, 1)
    assert np.flatnonzero(result.entry_status == "kink at θ").tolist() == kinked


def test_one_sided_probe_is_quiet_on_smooth_functions(truths):
    for label, quantity, f, theta, _ in CASES:
        if quantity == "gradient":
            result = gradient(f, theta, "forward", 1)
            assert not np.any(result.entry_status == "kink at θ"), label
