"""Every numeric result reports exactly the evaluations it made (issue 16, item 5).

f is wrapped in a spy that counts its calls, real and complex apart (a complex array is a
complex point; a batched function's (k, n) stack is k points in one call), independently of
difflab's own counter. For every scheme × order × quantity, with and without the estimate,
the result's ``evaluations``, ``complex_evaluations`` and ``calls`` must equal the spy's.
"""

import itertools
import warnings

import numpy as np
import pytest

import difflab.numpy as dnp
from difflab import numeric
from difflab.errors import KinkError, UnreliableEstimateWarning

# the orders each scheme accepts (one-sided: any; central: even; the others take none)
ORDERS = {"forward": (1, 2, 3, 4), "backward": (1, 2, 3), "central": (2, 4, 6),
          "richardson": (2,), "complex-step": (2,)}
LEVELS = {"richardson": (2, 3, 4)}


class Spy:
    """f, counting real and complex points and calls made to it."""

    def __init__(self, f, batched=False):
        self.f, self.real, self.complex, self.calls = f, 0, 0, 0
        if batched:
            self.batched = True

    def __call__(self, t):
        points = len(t) if getattr(self, "batched", False) and np.ndim(t) == 2 else 1
        if np.iscomplexobj(t):
            self.complex += points
        else:
            self.real += points
        self.calls += 1
        return self.f(t)


def assert_counted(result, spy):
    assert (result.evaluations, result.complex_evaluations, result.calls) == \
        (spy.real, spy.complex, spy.calls)
    assert 0 <= result.estimate_evaluations <= result.evaluations


def smooth(t):
    return dnp.sum(dnp.sin(t) * dnp.exp(t / 3)) + t[0] * t[-1] ** 2


def smooth_rows(T):
    return dnp.sum(dnp.sin(T) * dnp.exp(T / 3), axis=-1) + T[..., 0] * T[..., -1] ** 2


def vector(t):
    return dnp.stack([dnp.sin(t[0]) * t[1], dnp.exp(t[-1]) + t[0] ** 2, dnp.cos(t[1])])


def kinked(t):
    """A kink at θ along e₀ and one 3·10⁻⁶ from θ along e₁ (inside the stencils)."""
    return dnp.abs(t[0]) + dnp.abs(t[1] - 3e-6) + dnp.sum(t ** 2)


THETA = np.array([0.3, -0.7, 1.2])
KINKED_AT = np.array([0.0, 0.0, 0.5])


def first_derivative_cases():
    for scheme, orders in ORDERS.items():
        for order, levels in itertools.product(orders, LEVELS.get(scheme, (4,))):
            yield scheme, order, levels


FIRST = list(first_derivative_cases())


def quiet(call):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnreliableEstimateWarning)
        return call()


@pytest.mark.parametrize("scheme,order,levels", FIRST)
@pytest.mark.parametrize("estimate", [True, False])
def test_gradient_and_jacobian_counts(scheme, order, levels, estimate):
    for check in (True, False):
        spy = Spy(smooth)
        result = quiet(lambda: numeric.gradient(spy, THETA, scheme, order, estimate=estimate,
                                                levels=levels, check=check))
        assert_counted(result, spy)
    for kink_at_theta in (True, False):
        spy = Spy(vector)
        result = quiet(lambda: numeric.jacobian(spy, THETA, scheme, order, estimate=estimate,
                                                levels=levels, kink_at_theta=kink_at_theta))
        assert_counted(result, spy)
    if scheme == "complex-step":
        assert result.complex_evaluations >= THETA.size and result.evaluations >= 1
    else:
        assert result.complex_evaluations == 0 and result.evaluations >= THETA.size


@pytest.mark.parametrize("scheme,order,levels", FIRST)
@pytest.mark.parametrize("estimate", [True, False])
def test_counts_through_kink_detection(scheme, order, levels, estimate):
    spy = Spy(kinked)
    if scheme == "complex-step":
        with pytest.raises(KinkError):
            numeric.gradient(spy, KINKED_AT, scheme)
        return
    result = quiet(lambda: numeric.gradient(spy, KINKED_AT, scheme, order, estimate=estimate,
                                            levels=levels))
    assert_counted(result, spy)
    if estimate:
        # the kink paths ran: the test for a kink at θ flags e₀, and the descent along e₁
        # (the kink 3·10⁻⁶ away) costs more than the same scheme on a smooth twin
        assert result.entry_status[0] == "kink at θ"
        twin = Spy(lambda t: dnp.sum(t ** 2))
        quiet(lambda: numeric.gradient(twin, KINKED_AT, scheme, order, levels=levels))
        assert spy.real > twin.real


@pytest.mark.parametrize("scheme,order,levels",
                         [c for c in FIRST if c[0] != "complex-step"])
def test_batched_counts_points_and_calls(scheme, order, levels):
    spy = Spy(smooth_rows, batched=True)
    result = quiet(lambda: numeric.gradient(spy, THETA, scheme, order, levels=levels))
    assert_counted(result, spy)
    assert result.calls < result.evaluations


HESSIANS = [("values", 2), ("values", 4), ("values", None), ("complex-step", 2),
            ("complex-step", 4)]


@pytest.mark.parametrize("method,order", HESSIANS)
@pytest.mark.parametrize("f,theta", [(smooth, THETA), (kinked, KINKED_AT),
                                     (smooth, THETA[:2])])
def test_hessian_counts(method, order, f, theta):
    spy = Spy(f)
    if method == "complex-step" and f is kinked:
        with pytest.raises(KinkError):
            numeric.hessian(spy, theta, method, order=order)
        return
    result = quiet(lambda: numeric.hessian(spy, theta, method, order=order))
    assert_counted(result, spy)
    if method == "values":
        assert result.complex_evaluations == 0
    else:
        assert result.gradient_evaluations >= 2 * theta.size


def test_values_hessian_counts_its_two_coordinate_points():
    """The issue's case: n = 3, order 2, f smooth on the unit scale, so nothing adapts. Two
    rungs (h, 2h) of 2n diagonal points and 4·n(n−1)/2 corners, and f(θ): 1 + 2·(6 + 12) =
    37; the curvature-jump test adds f(θ ± 4hᵢeᵢ), 2n = 6: 43, the corners 24 of them."""
    spy = Spy(lambda t: dnp.sum(dnp.exp(t / 4)) + t[0] * t[1] * t[2])
    result = numeric.hessian(spy, np.array([0.5, 0.8, -0.3]), "values", order=2)
    assert spy.real == spy.calls == 43
    assert_counted(result, spy)


@pytest.mark.parametrize("method,order", [("gradient", 2), ("gradient", 4)])
def test_gradient_route_counts_gradients_not_f(method, order):
    """With a caller's gradient_fn, numeric never calls f: no evaluations, and every call of
    gradient_fn counted."""
    spy = Spy(smooth)
    gradients = Spy(lambda t: np.cos(t) * np.exp(t / 3) + np.sin(t) * np.exp(t / 3) / 3
                    + np.array([t[-1] ** 2, 0, 2 * t[0] * t[-1]]))
    result = numeric.hessian(spy, THETA, method, gradient_fn=gradients, order=order)
    assert spy.calls == 0 and result.evaluations == result.complex_evaluations == 0
    assert result.calls == 0 and result.gradient_evaluations == gradients.calls > 0


HVP_GRADIENTS = [(None, 2)] + [(s, o) for s, orders in ORDERS.items() if s != "richardson"
                               for o in orders[:2]] + [("richardson", 2)]


@pytest.mark.parametrize("scheme,order", HVP_GRADIENTS)
@pytest.mark.parametrize("estimate", [True, False])
@pytest.mark.parametrize("f,theta", [(smooth, THETA), (kinked, KINKED_AT)])
def test_hvp_counts(scheme, order, estimate, f, theta):
    spy = Spy(f)
    options = {} if scheme is None else {"scheme": scheme, "order": order}
    v = np.array([1.0, 0.5, -0.2])
    if f is kinked and scheme in (None, "complex-step"):
        with pytest.raises(KinkError):
            numeric.hvp(spy, theta, v, estimate=estimate, **options)
        return
    result = quiet(lambda: numeric.hvp(spy, theta, v, estimate=estimate, **options))
    assert_counted(result, spy)
    # ±hv; then ±2hv and θ for the estimate, and ±hv/2, ±hv/4 to confirm a kink candidate
    assert result.gradient_evaluations in ((5, 9) if estimate else (2,))


def test_hvp_with_gradient_fn_counts_only_its_calls():
    spy = Spy(smooth)
    gradients = Spy(lambda t: numeric.gradient(smooth, t, "central", estimate=False).value)
    result = numeric.hvp(spy, THETA, np.ones(3), gradient_fn=gradients)
    assert spy.calls == 0 and result.evaluations == result.complex_evaluations == 0
    assert result.gradient_evaluations == gradients.calls and gradients.calls in (5, 9)


def test_hvp_along_zero_costs_nothing():
    spy = Spy(smooth)
    result = numeric.hvp(spy, THETA, np.zeros(3))
    assert spy.calls == 0
    assert_counted(result, spy)


@pytest.mark.parametrize("f,theta", [(smooth, THETA), (smooth, THETA.astype(np.float32))])
def test_check_analytic_reports_its_calls(f, theta):
    spy = Spy(f)
    real, complex_, calls = numeric.check_analytic(spy, theta, "check", True)
    assert (real, complex_, calls) == (spy.real, spy.complex, spy.calls)
    assert complex_ == 1 and real >= 5


def test_no_parameters_cost_one_evaluation():
    """A gradient with no parameters still evaluates f once, to learn its output."""
    spy = Spy(lambda t: dnp.sum(t) + 1.0)
    result = numeric.gradient(spy, np.zeros(0), "central")
    assert spy.calls == 1
    assert_counted(result, spy)
