"""No silent wrong answer from the symbolic differentiator (issue 14, items 3, 4, 5, 9, 11, 12).

Each test holds a reproducer of the issue to a closed form or to a named DiffLabError.
"""

import gc
import math
import signal
import threading
import time
import weakref

import numpy as np
import pytest

import difflab
import difflab.numpy as dnp
from difflab import models, reference, symbolic
from difflab.errors import (BranchError, DiffLabError, NonFiniteValueError, OutputError,
                            ShapeError, SwellLimitError, UnsupportedOperationError)

THETA = np.array([0.3, -0.7, 1.1])
MODES = symbolic.MODES


# Item 3: builds are tied to the function object, never to a reused id().

class Scaled:
    __slots__ = ("k",)           # no __weakref__: the case that was cached by id()

    def __init__(self, k):
        self.k = k

    def __call__(self, t):
        return self.k * dnp.sum(t ** 2)


def test_a_new_callable_never_gets_a_dead_ones_derivative():
    D = difflab.differentiator("symbolic")
    for k in (1.0, 2.0, 3.0, 2.0, 5.0):      # new objects, some at a dead one's address
        assert np.array_equal(D.gradient(Scaled(k), np.ones(2)), [2 * k, 2 * k])


def test_a_changed_callable_or_closure_is_traced_again():
    scaled = Scaled(1.0)
    assert np.array_equal(symbolic.gradient(scaled, np.ones(2)), [2, 2])
    scaled.k = 3.0
    assert np.array_equal(symbolic.gradient(scaled, np.ones(2)), [6, 6])
    data = np.array([1.0, 2.0])
    f = lambda t: dnp.sum(data * t ** 2)
    for mode in MODES:
        data[:] = [1.0, 2.0]
        assert np.array_equal(symbolic.gradient(f, np.ones(2), mode=mode), [2, 4])
        data[:] = [5.0, 7.0]
        assert np.array_equal(symbolic.gradient(f, np.ones(2), mode=mode), [10, 14])


class AllEqual:
    """Equal to every other instance and one hash for all: a cache keyed by the object's own
    equality would hand one instance's derivative to another."""

    def __init__(self, k):
        self.k = k

    def __eq__(self, other):
        return True

    def __hash__(self):
        return 0

    def __call__(self, t):
        return self.k * dnp.sum(t ** 3)


def test_cache_ignores_a_custom_equality():
    first, second = AllEqual(1.0), AllEqual(4.0)
    assert np.array_equal(symbolic.gradient(first, np.ones(2)), [3, 3])
    assert np.array_equal(symbolic.gradient(second, np.ones(2)), [12, 12])


def test_builds_die_with_their_function_and_a_kept_derivative_keeps_its_guard():
    f = lambda t: dnp.sum(dnp.sin(t))
    symbolic.gradient(f, THETA)
    alive = weakref.ref(f)
    del f
    gc.collect()
    assert alive() is None               # no cycle from the cache back to f
    d = symbolic.derivative(lambda t: dnp.sum(t) if t[0] != 0 else dnp.sum(t ** 2), THETA)
    gc.collect()                         # the lambda lives on in d, and so does the check
    assert np.array_equal(d(np.array([1.0, 2.0, 3.0])), [1, 1, 1])
    with pytest.raises(BranchError):
        d(np.array([0.0, 1.0, 2.0]))


# Item 5 and 11: Python control flow on traced values.

@pytest.mark.parametrize("mode", MODES)
def test_a_branch_taken_structurally_is_refused(mode):
    f = lambda t: dnp.sum(t) if t[0] != 0 else dnp.sum(t ** 2)
    truthy = lambda t: dnp.sum(t) if t[0] else dnp.sum(t ** 2)
    at = np.array([0.0, 1.0, 2.0])
    for g in (f, truthy):
        with pytest.raises(BranchError, match="dnp.where"):
            symbolic.gradient(g, at, mode=mode)
    # where the traced branch is the one θ takes, the answer stands (truth: [1, 1, 1])
    assert np.array_equal(symbolic.gradient(f, np.array([1.0, 1.0, 2.0]), mode=mode), [1, 1, 1])
    with pytest.raises(BranchError):
        symbolic.hessian(f, at, mode=mode)


def test_the_interface_refuses_the_branch_too():
    f = lambda t: dnp.sum(t) if t[0] != 0 else dnp.sum(t ** 2)
    with pytest.raises(BranchError):
        difflab.differentiator("symbolic").gradient(f, np.array([0.0, 1.0, 2.0]))


@pytest.mark.parametrize("f, error, words", [
    (lambda t: dnp.sum(t) if t[0] > 0 else dnp.sum(t ** 2), BranchError, "dnp.where"),
    (lambda t: dnp.sum(t) * float(t[0]), BranchError, "float"),
    (lambda t: dnp.sum(t) + math.exp(t[0]), BranchError, "dnp.exp"),
    (lambda t: dnp.sum(t) * max(t[0], 0.0), BranchError, "dnp.maximum"),
    (lambda t: dnp.sum(np.maximum(t, 0.0)), BranchError, "dnp.maximum"),
    (lambda t: dnp.sum(np.tanh(t)), UnsupportedOperationError, "dnp.tanh"),
    (lambda t: dnp.sum(t) + int(t[1]), BranchError, "int"),
    (lambda t: dnp.sum(t, bogus=1), UnsupportedOperationError, "bogus"),
])
def test_sympy_type_errors_become_named_errors(f, error, words):
    with pytest.raises(error, match=words) as caught:
        difflab.differentiator("symbolic").gradient(f, THETA)
    assert "symbolic gradient" in str(caught.value)


def test_missing_return_and_tuple_are_output_errors():
    def no_return(t):
        dnp.sum(t ** 2)
    with pytest.raises(OutputError, match="return"):
        symbolic.gradient(no_return, THETA)
    with pytest.raises(OutputError, match="tuple"):
        symbolic.hessian(lambda t: (dnp.sum(t ** 2), 0.0), THETA)
    with pytest.raises(UnsupportedOperationError, match="function of θ"):
        symbolic.gradient(3.0, THETA)


def test_the_guard_does_not_mistake_cancellation_for_a_branch():
    # f(θ) in floats keeps 6 digits of 1e-10·θ₀ + (Σθ + 1e10) − 1e10; the program (SymPy folds
    # the constants) and mpmath keep them all: a difference of rounding, not of path
    f = lambda t: (dnp.sum(t) + 1e10) - 1e10
    for mode in MODES:
        assert np.array_equal(symbolic.gradient(f, THETA, mode=mode), [1, 1, 1])
    near_zero = float(np.sum(THETA ** 2))
    g = lambda t: dnp.sum(t ** 2) - near_zero
    assert np.allclose(symbolic.gradient(g, THETA), 2 * THETA, rtol=1e-15, atol=0)


def test_a_value_not_finite_is_named_not_blamed_on_a_branch():
    with pytest.raises(NonFiniteValueError, match="value"):
        symbolic.gradient(lambda t: dnp.sum(dnp.log(t)), THETA)


@pytest.mark.parametrize("mode", MODES)
def test_empty_and_zero_dimensional_theta(mode):
    empty = np.zeros(0)
    f = lambda t: dnp.sum(t ** 2) + 1.0
    assert symbolic.gradient(f, empty, mode=mode).shape == (0,)
    assert symbolic.hessian(f, empty, mode=mode).shape == (0, 0)
    assert symbolic.hvp(f, empty, empty, mode=mode).shape == (0,)
    F = lambda t: dnp.stack([dnp.sum(t), dnp.sum(t ** 2) + 1.0])
    assert symbolic.jacobian(F, empty, mode=mode).shape == (2, 0)
    with pytest.raises(ShapeError, match="atleast_1d"):
        symbolic.gradient(f, np.array(2.0), mode=mode)


# Item 4: every kink convention, in every mode, first and second order.

def _relu_point():
    return np.array([0.0, 1.5, -2.0])


KINKS = [
    # (name, f, θ, gradient, Hessian), closed forms under the README's conventions
    ("relu", lambda t: dnp.sum(dnp.relu(t) ** 2 + dnp.relu(t)), _relu_point(),
     [0, 4, 0], np.diag([0, 2, 0])),
    ("abs", lambda t: dnp.sum(dnp.abs(t) + t * dnp.abs(t)), np.array([0.0, 2.0, -2.0]),
     [0, 5, 3], np.diag([0, 2, -2])),
    ("leaky_relu", lambda t: dnp.sum(dnp.leaky_relu(t, 0.1)), np.array([0.0, 1.0, -1.0]),
     [0.1, 1, 0.1], np.zeros((3, 3))),
    ("maximum", lambda t: dnp.maximum(t[0], t[1]) ** 2 + t[2], np.array([1.0, 1.0, 5.0]),
     [1, 1, 1], [[0.5, 0.5, 0], [0.5, 0.5, 0], [0, 0, 0]]),
    ("minimum", lambda t: dnp.minimum(t[0], t[1]) * t[2], np.array([2.0, 2.0, 3.0]),
     [1.5, 1.5, 2], [[0, 0, 0.5], [0, 0, 0.5], [0.5, 0.5, 0]]),
    ("max, 3-way tie", lambda t: dnp.max(t) ** 2, np.array([1.0, 1.0, 1.0]),
     np.full(3, 2 / 3), np.full((3, 3), 2 / 9)),
    ("max, 2 of 3 tied", lambda t: dnp.max(t), np.array([2.0, 2.0, 1.0]),
     [0.5, 0.5, 0], np.zeros((3, 3))),
    ("min, 3-way tie", lambda t: dnp.min(t) * 3, np.array([-1.0, -1.0, -1.0]),
     [1, 1, 1], np.zeros((3, 3))),
    ("clip", lambda t: dnp.sum(dnp.clip(t, -1.0, 1.0) ** 2), np.array([-1.0, 1.0, 2.0]),
     [-2, 2, 0], np.diag([2, 2, 0])),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name, f, theta, gradient, hessian", KINKS, ids=[k[0] for k in KINKS])
def test_kink_conventions(name, f, theta, gradient, hessian, mode):
    assert np.allclose(symbolic.gradient(f, theta, mode=mode), gradient, rtol=1e-15, atol=1e-15)
    assert np.allclose(symbolic.hessian(f, theta, mode=mode), hessian, rtol=1e-15, atol=1e-15)
    v = np.array([1.0, -2.0, 0.5])
    assert np.allclose(symbolic.hvp(f, theta, v, mode=mode), np.asarray(hessian) @ v,
                       rtol=1e-15, atol=1e-15)


@pytest.mark.parametrize("name, f, theta, gradient, hessian", KINKS, ids=[k[0] for k in KINKS])
def test_kink_conventions_in_the_mpmath_target(name, f, theta, gradient, hessian):
    d = symbolic.derivative(f, theta, "hessian")
    assert np.allclose(np.array(d.mpmath(theta), dtype=float), hessian, rtol=1e-15, atol=0)
    g = symbolic.derivative(f, theta).mpmath(theta)
    assert np.allclose(np.array(g, dtype=float), gradient, rtol=1e-15, atol=0)


def test_dnp_mpmath_forms_take_the_conventional_values_at_kinks():
    import mpmath
    point = np.array([mpmath.mpf(2), mpmath.mpf(2), mpmath.mpf(1)], dtype=object)
    assert dnp.max(point) == 2 and dnp.min(point) == 1
    assert dnp.maximum(point[0], point[1]) == 2
    zero = np.array([mpmath.mpf(0)], dtype=object)
    assert dnp.relu(zero)[0] == 0 and dnp.abs(zero)[0] == 0 and dnp.leaky_relu(zero)[0] == 0
    assert dnp.clip(np.array([mpmath.mpf(-1)], dtype=object), -1.0, 1.0)[0] == -1
    with pytest.raises(ShapeError, match="no entries"):
        dnp.max(np.array([], dtype=object))


# Items 9 and 12: the time budget composes with the user's timers and works in threads;
# None lifts limits.

@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="needs POSIX interval timers")
def test_a_pending_user_alarm_still_fires_after_a_symbolic_call():
    fired = []
    handler = lambda signum, frame: fired.append(signum)
    previous = signal.signal(signal.SIGALRM, handler)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.3)
        symbolic.hessian(lambda t: dnp.sum(dnp.tanh(t) ** 3), THETA)
        assert signal.getsignal(signal.SIGALRM) is handler
        deadline = time.monotonic() + 10
        while not fired and time.monotonic() < deadline:
            time.sleep(0.01)
        assert fired == [signal.SIGALRM]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _in_a_thread(fn):
    outcome = {}

    def run():
        try:
            outcome["value"] = fn()
        except BaseException as error:       # handed to the test thread to assert on
            outcome["error"] = error
    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive(), "the budget did not stop the build in its thread"
    return outcome


def test_the_time_budget_stops_a_build_in_a_worker_thread():
    logistic = models.get("logistic-map", n=30)
    outcome = _in_a_thread(lambda: symbolic.derivative(
        logistic.objective, logistic.theta0, "hessian", mode="cse",
        budget=symbolic.Budget(seconds=0.3, derivative_nodes=None)))
    error = outcome.get("error")
    assert isinstance(error, SwellLimitError), outcome
    assert error.what == "seconds" and error.limit == 0.3 and error.stage in symbolic.budget.STAGES


def test_a_budget_that_is_not_used_up_never_interrupts_later():
    outcome = _in_a_thread(lambda: (symbolic.gradient(
        lambda t: dnp.sum(t ** 5), THETA, budget=symbolic.Budget(seconds=0.05)),
        time.sleep(0.3), "after")[-1])
    assert outcome == {"value": "after"}
    symbolic.gradient(lambda t: dnp.sum(t ** 6), THETA, budget=symbolic.Budget(seconds=0.05))
    time.sleep(0.3)                      # an interruption left pending would land here


def test_none_lifts_limits():
    f = lambda t: dnp.sum(t ** 3)
    assert np.allclose(symbolic.gradient(f, THETA, budget=None), 3 * THETA ** 2,
                       rtol=1e-15, atol=0)
    for mode in MODES:
        assert np.allclose(symbolic.gradient(f, THETA, mode=mode,
                                             budget=symbolic.Budget(lines=None)),
                           3 * THETA ** 2, rtol=1e-15, atol=0)
    unlimited = symbolic.Budget(seconds=None, nodes=None, derivative_nodes=None, lines=None)
    assert np.allclose(symbolic.hessian(f, THETA, mode="tree", budget=unlimited),
                       np.diag(6 * THETA), rtol=1e-15, atol=0)


@pytest.mark.parametrize("bad", [dict(seconds=-1), dict(lines=0), dict(nodes="many"),
                                 dict(seconds=float("nan"))])
def test_a_budget_that_is_not_a_limit_is_refused(bad):
    with pytest.raises(DiffLabError, match="positive number, or None"):
        symbolic.Budget(**bad)


def test_a_budget_of_the_wrong_type_is_refused():
    with pytest.raises(DiffLabError, match="Budget or None"):
        symbolic.gradient(lambda t: dnp.sum(t), THETA, budget=30)


def test_the_guard_follows_the_precision_f_computes_in():
    w = np.array([0.1, 0.2, 0.3], dtype=np.float32)          # float32 data: f rounds at 6e-8
    f = lambda t: dnp.sum(w * dnp.exp(t))
    exact = w.astype(float) * np.exp(THETA)
    assert np.allclose(symbolic.gradient(f, THETA), exact, rtol=1e-15, atol=0)
    # θ in float32: the program is evaluated in float32 too (issue 17), and the guard
    # compares it with f in float32 at float32's √ε, not float64's
    single = symbolic.gradient(f, THETA.astype(np.float32))
    assert single.dtype == np.float32
    assert np.allclose(single, w.astype(float) * np.exp(THETA.astype(np.float32).astype(float)),
                       rtol=4 * np.finfo(np.float32).eps, atol=0)


def test_the_guard_checks_every_output_of_a_jacobian_and_an_hvp():
    F = lambda t: dnp.stack([dnp.sum(t), t[1] * 2 if t[0] != 0 else t[1] * 3])
    assert np.array_equal(symbolic.jacobian(F, np.array([1.0, 2.0])), [[1, 1], [0, 2]])
    with pytest.raises(BranchError):
        symbolic.jacobian(F, np.array([0.0, 2.0]))
    f = lambda t: dnp.sum(t ** 2) if t[0] != 0 else dnp.sum(t ** 3)
    with pytest.raises(BranchError):
        symbolic.hvp(f, np.array([0.0, 2.0]), np.ones(2))


@pytest.mark.parametrize("mode", ["dag", "cse", "tree"])
def test_a_partial_holding_its_variable_twice_is_differentiated_whole(mode):
    """The dag mode's product rule took ∂/∂b of b·(a² + b²)⁻¹ as (a² + b²)⁻¹, forgetting the b
    inside the second factor: the Hessian of arctan2 came out wrong off the diagonal."""
    f = lambda t: dnp.arctan2(t[0], t[1]) + t[1] / (t[0] ** 2 + t[1] ** 2)
    theta = np.array([0.35, -0.8])
    a, b = theta
    r2 = a * a + b * b
    # ∂²/∂a∂b of atan2(a, b) = (a² − b²)/r⁴, of b/r² = −2a(r² − 4b²)/r⁶
    truth = reference.hessian(f, theta)
    H = symbolic.derivative(f, theta, "hessian", mode=mode)(theta)
    assert reference.relative_error(H, truth) < 1e-14
    assert abs(float(truth[0][1]) - ((a * a - b * b) / r2 ** 2
                                     - 2 * a * (r2 - 4 * b * b) / r2 ** 3)) < 1e-14
