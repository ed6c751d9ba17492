"""The checks the AD tests share: each compares a derivative the engine computes with an
independent truth and raises AssertionError naming the derivative and the error.

The truths are ``difflab.reference`` (mpmath at 50 digits: exact as far as float64 can
tell), central differences of the function's own float64 evaluation, and closed forms in the
tests themselves. A rule is checked through a scalar test function

    L(θ) = Σ w ⊙ f(args(θ)),

with θ the flat vector (``difflab.ravel``) of f's differentiable operands and w fixed random
weights, so every entry of f's output and every rule's contribution shows in ∇L.

Errors are norm-wise, ‖actual − truth‖ / max(‖truth‖, floor), ``reference.relative_error``
with a floor: the floor is the natural size of the quantity (‖w‖ for ∇L, ‖w‖·‖v‖ for a
directional derivative), so a derivative that is zero in exact arithmetic, where the
reference holds rounding noise of 1e-60, is judged by its absolute error at that size
instead of by a relative error of 1.
"""

from dataclasses import dataclass
from typing import Callable

import mpmath
import numpy as np

import difflab.numpy as dnp
from difflab import ad, ravel, reference

# AD against the reference. The engine evaluates the rules in float64 on inputs of order 1
# kept away from kinks and domain edges, through compositions a few primitives deep, so each
# entry carries a few ulps (ε ≈ 2.2e-16) of rounding, and the reference's own error is below
# 1e-30. 1e-12 leaves a factor of several thousand for rounding, and a wrong rule, even one
# wrong by 0.1%, misses it by nine orders of magnitude.
RTOL_REFERENCE = 1e-12

# Central differences with step h = ε^(1/3)·max(1, |θᵢ|) (SciPy's rule): truncation error
# h²|L'''|/6 plus rounding ε|L|/h, each about ε^(2/3) ≈ 4e-11 times the size of L and its
# derivatives. 1e-6 allows for |L| and |L'''| being tens of times |∇L| (L sums up to ~50
# terms) and still catches an error of 0.1%. Central differences cannot see errors below
# ~1e-9, which is why the reference check exists; they are kept as a truth that depends on
# nothing but the float evaluation of L.
RTOL_CENTRAL = 1e-6
CENTRAL_STEP = np.finfo(np.float64).eps ** (1 / 3)

# Two AD computations of one quantity (a batched pass against one direction at a time): the
# same rules on the same numbers, with sums possibly taken in another order.
RTOL_SAME = 1e-13


def _norm(values):
    values = np.asarray(values)
    if values.dtype == object:
        return float(mpmath.sqrt(mpmath.fsum(mpmath.mpf(v) ** 2 for v in values.flat)))
    return float(np.linalg.norm(values.astype(np.float64).ravel()))


def error(actual, truth, floor=0.0):
    """‖actual − truth‖₂ / max(‖truth‖₂, floor): ``reference.relative_error`` with a floor."""
    relative = reference.relative_error(actual, truth)
    scale = _norm(truth)
    if scale == 0:
        return relative / floor if floor else relative
    return relative * scale / max(scale, floor)


def assert_close(actual, truth, rtol, what, floor=0.0):
    """Raise AssertionError unless ``actual`` has truth's shape and error(actual, truth) ≤ rtol."""
    if actual is None:
        raise AssertionError(f"{what}: the engine returned None (a structural zero); "
                             f"the truth is {np.asarray(truth, dtype=np.float64)}")
    if np.shape(actual) != np.shape(truth):
        raise AssertionError(f"{what}: shape {np.shape(actual)}, expected {np.shape(truth)}")
    err = error(actual, truth, floor)
    if not err <= rtol:
        raise AssertionError(
            f"{what}: relative error {err:.3g} > {rtol:.0e}\n"
            f"  engine: {np.asarray(actual, dtype=np.float64).ravel()}\n"
            f"  truth:  {np.asarray(truth, dtype=np.float64).ravel()}")


def central_gradient(L, theta):
    """∂ᵢL ≈ (L(θ + hᵢeᵢ) − L(θ − hᵢeᵢ)) / 2hᵢ, error O(h²), h = ε^(1/3)·max(1, |θᵢ|)."""
    grad = np.empty_like(theta, dtype=np.float64)
    for i in range(theta.size):
        h = CENTRAL_STEP * max(1.0, abs(theta[i]))
        up, down = theta.copy(), theta.copy()
        up[i] += h
        down[i] -= h
        grad[i] = (float(L(up)) - float(L(down))) / (up[i] - down[i])
    return grad


@dataclass
class RuleTest:
    """A primitive call f(*operands) turned into the scalar L(θ) and the vector F(θ)."""

    L: Callable
    F: Callable
    theta: np.ndarray
    w: np.ndarray
    v: np.ndarray

    @property
    def floor(self):
        """The size of ∇L: the weights are O(1) and so are the derivatives on the domains drawn."""
        return _norm(self.w)


def rule_test(f, operands, seed, dtype=np.float64):
    """L(θ) = Σ w ⊙ f(*unravel(θ)) and F(θ) = f(*unravel(θ)).ravel(), w and v drawn from seed."""
    operands = tuple(np.asarray(x, dtype=dtype) for x in operands)
    theta, unravel = ravel(operands)
    rng = np.random.default_rng(seed)
    w = rng.normal(size=np.shape(f(*operands))).astype(dtype)
    v = rng.normal(size=theta.shape).astype(dtype)

    def L(t):
        return dnp.sum(dnp.multiply(f(*unravel(t)), w))

    def F(t):
        return dnp.reshape(f(*unravel(t)), (-1,))

    return RuleTest(L, F, theta, w, v)


def check_gradient(test):
    """(a) reverse mode against the reference gradient."""
    truth = reference.gradient(test.L, test.theta)
    assert_close(ad.grad(test.L)(test.theta), truth, RTOL_REFERENCE,
                 "reverse-mode gradient vs reference", floor=test.floor)
    return truth


def check_central_differences(test):
    """(b) reverse mode against central differences of the float evaluation."""
    assert_close(ad.grad(test.L)(test.theta), central_gradient(test.L, test.theta),
                 RTOL_CENTRAL, "reverse-mode gradient vs central differences", floor=test.floor)


def check_jvp(test, reference_gradient=None):
    """(c) forward mode: the tangent of L along v is ∇L·v (reference) and the engine's own ∇L·v."""
    truth = reference_gradient if reference_gradient is not None else \
        reference.gradient(test.L, test.theta)
    value, tangent = ad.jvp(test.L, (test.theta,), (test.v,))
    assert_close(value, np.asarray(test.L(test.theta)), RTOL_SAME, "jvp value vs L(θ)")
    # a dot product rounds relative to Σ|gᵢvᵢ| ≤ ‖g‖‖v‖, not to |g·v|, which may cancel
    floor = max(_norm(truth), test.floor) * _norm(test.v)
    with mpmath.workdps(50):
        exact = mpmath.fsum(mpmath.mpf(g) * mpmath.mpf(float(v)) for g, v in zip(truth, test.v))
    assert_close(tangent, np.array(exact, dtype=object), RTOL_REFERENCE,
                 "forward-mode tangent vs reference ∇L·v", floor=floor)
    assert_close(tangent, np.asarray(np.dot(ad.grad(test.L)(test.theta), test.v)), RTOL_REFERENCE,
                 "forward-mode tangent vs reverse-mode ∇L·v", floor=floor)


def check_hvp(test):
    """(d) second order: forward-over-reverse and reverse-over-reverse H·v against the reference."""
    truth = reference.hvp(test.L, test.theta, test.v)
    floor = test.floor * _norm(test.v)
    assert_close(ad.hvp(test.L, test.theta, test.v), truth, RTOL_REFERENCE,
                 "forward-over-reverse H·v vs reference", floor=floor)
    v = test.v

    def directional(t):
        return dnp.sum(ad.grad(test.L)(t) * v)

    assert_close(ad.grad(directional)(test.theta), truth, RTOL_REFERENCE,
                 "reverse-over-reverse H·v vs reference", floor=floor)


def check_rule(f, operands, seed):
    """Checks (a)–(d) on L(θ) = Σ w ⊙ f(*operands(θ))."""
    test = rule_test(f, operands, seed)
    truth = check_gradient(test)
    check_central_differences(test)
    check_jvp(test, truth)
    check_hvp(test)


def check_batched(f, operands, seed):
    """(e) batched directions: jacobian(F) against one vjp per row and one jvp per column, and
    (through Jᵀw = ∇L) against the reference; hessian(L) against the reference, symmetric.

    Jᵀw rather than reference.jacobian(F): the reference refuses vector outputs with constant
    entries (f with a constant operand), and every row of J shows in Jᵀw with random w.
    """
    test = rule_test(f, operands, seed)
    theta = test.theta
    J = ad.jacobian(test.F)(theta)
    out, vjp_fn = ad.vjp(test.F, theta)
    m = np.size(out)
    rows = np.array([vjp_fn(np.eye(m)[k])[0] for k in range(m)]).reshape(m, theta.size)
    scale = _norm(rows)
    assert_close(J, rows, RTOL_SAME, "batched jacobian vs one vjp per row", floor=scale)
    columns = np.array([ad.jvp(test.F, (theta,), (e,))[1] for e in np.eye(theta.size)]).T
    assert_close(J, columns.reshape(m, theta.size), RTOL_SAME,
                 "batched jacobian vs one jvp per column", floor=scale)
    assert_close(test.w.reshape(-1) @ J, reference.gradient(test.L, theta), RTOL_REFERENCE,
                 "batched jacobian: Jᵀw vs reference ∇L", floor=test.floor)
    H = ad.hessian(test.L)(theta)
    assert_close(H, reference.hessian(test.L, theta), RTOL_REFERENCE,
                 "batched hessian vs reference", floor=test.floor)
    assert_close(H, H.T, RTOL_SAME, "hessian symmetry", floor=test.floor)
