"""The contract of every registered differentiator on hostile input (issue 14): each case
gives the right value (a closed form) or raises a ``DiffLabError`` whose message names the
cause. No case may return a wrong finite value silently, nor let a raw NumPy, SymPy or
mpmath error escape. Adding a differentiator to the registry means passing this table.
"""

import math
from dataclasses import dataclass, field

import numpy as np
import pytest

import difflab
import difflab.numpy as dnp
from difflab import interface
from difflab.errors import DiffLabError
from difflab.optim import newton

THETA = np.array([0.3, -0.7, 1.1])
METHODS = interface.differentiators()
# A value counts as right within this many times the method's own table tolerance: the table
# is a typical error, and the hostile cases sit at the edge of each method's theory.
SLACK = 10


@dataclass
class Case:
    """f at θ; ``truth`` the closed form (None: no value exists, the call must raise);
    ``causes``: words one of which a refusal's message must contain."""

    name: str
    f: object
    theta: object = field(default_factory=lambda: THETA.copy())
    truth: object = None
    causes: tuple = ()
    quantity: str = "gradient"
    v: object = None
    # The table assumes f evaluated to rounding on the unit scale; where f's own evaluation is
    # ill-conditioned (condition number κ), its values carry κ·ε of noise that any difference
    # of values divides by its step, so the numeric methods are allowed κ times more
    roughness: float = 1.0

    def __str__(self):
        return self.name


def _no_return(t):
    dnp.sum(t ** 2)


def _mutates(t):
    t[0] = 0.0
    return dnp.sum(t ** 2)


def _python_if(t):
    if t[0] > 0:
        return dnp.sum(t ** 2)
    return dnp.sum(t)


def _python_relu(t):
    """relu written as a Python branch, at its kink: no derivative exists at t₀ = 0."""
    return dnp.sum(t ** 2) + (t[0] if t[0] > 0 else 0.0 * t[0])


def _structural_branch(t):
    return dnp.sum(t) if t[0] != 0 else dnp.sum(t ** 2)


def _while_loop(t):
    s = t[0]
    while s < 1:
        s = s * 2
    return s + dnp.sum(t)


def _square_grad(theta):
    return 2 * np.asarray(theta, dtype=float)


LEAK = ("float", "leak", "number system", "numpy", "dnp", "analytic", "complex", "branch",
        "convert", "traced")
BRANCH = ("branch", "control flow", "bool", "traced", "path", "dnp.where", "complex",
          "compar", "analytic")
OUTPUT = ("return", "output")
NONFINITE = ("nan", "inf", "finite", "domain")
KINK = ("kink", "not differentiable", "one-sided")

# κ of sin(1e4·t₀) + 1e-4·t₁² at (0.375, 2): |1e4·t₀·cos(1e4·t₀)| / |f| ≈ 2.1e3
KAPPA_MIXED = abs(3750 * np.cos(3750)) / abs(np.sin(3750) + 4e-4)

CASES = [
    # what f returns
    Case("missing return", _no_return, causes=("none", "return")),
    Case("tuple output", lambda t: (dnp.sum(t ** 2), 0.0), causes=("tuple",)),
    Case("list output", lambda t: [dnp.sum(t ** 2)], causes=("list",)),
    Case("dict output", lambda t: {"loss": dnp.sum(t ** 2)}, causes=("dict",)),
    Case("string output", lambda t: "loss", causes=OUTPUT + ("str",)),
    Case("vector output for a gradient", lambda t: t ** 2, causes=("scalar",)),
    Case("vector output for a hessian", lambda t: t ** 2, quantity="hessian",
         causes=("scalar",)),
    Case("NaN output", lambda t: dnp.sum(t ** 2) * np.nan, causes=NONFINITE),
    Case("inf output", lambda t: dnp.sum(t ** 2) * np.inf, causes=NONFINITE),
    Case("log outside its domain", lambda t: dnp.sum(dnp.log(t)), causes=NONFINITE + (
        "log", "real", "analytic")),
    Case("sqrt at 0 (infinite slope)", lambda t: dnp.sum(dnp.sqrt(t)),
         theta=np.array([0.0, 1.0, 4.0]), causes=NONFINITE + ("sqrt", "kink", "one-sided")),
    Case("1/t at its pole", lambda t: dnp.sum(1 / t), theta=np.array([0.0, 1.0, 2.0]),
         causes=NONFINITE + ("divi", "zero")),
    Case("constant function", lambda t: 3.0, truth=np.zeros(3),
         causes=("constant", "imaginary part")),
    Case("ignores one coordinate", lambda t: t[0] ** 2 + dnp.sin(t[1]),
         truth=lambda t: np.array([2 * t[0], np.cos(t[1]), 0.0])),
    # what θ is
    Case("NaN in θ", lambda t: dnp.sum(t ** 2), theta=np.array([0.3, np.nan, 1.0]),
         causes=NONFINITE),
    Case("inf in θ", lambda t: dnp.sum(t ** 2), theta=np.array([np.inf, 0.3, 1.0]),
         causes=NONFINITE),
    Case("empty θ", lambda t: dnp.sum(t ** 2) + 1.0, theta=np.zeros(0), truth=np.zeros(0)),
    Case("empty θ, hessian", lambda t: dnp.sum(t ** 2) + 1.0, theta=np.zeros(0),
         quantity="hessian", truth=np.zeros((0, 0))),
    Case("0-d θ", lambda t: t ** 2, theta=np.array(0.5), causes=("flat", "shape")),
    Case("2-d θ", lambda t: dnp.sum(t ** 2), theta=np.ones((2, 2)), causes=("flat", "shape")),
    Case("integer θ", lambda t: dnp.sum(t ** 3), theta=np.array([1, 2, 3]),
         truth=lambda t: 3 * np.asarray(t, dtype=float) ** 2),
    Case("float32 θ", lambda t: dnp.sum(dnp.sin(t) * t),
         theta=np.array([0.3, -0.7, 1.1], dtype=np.float32),
         truth=lambda t: np.cos(t) * t + np.sin(t)),
    Case("float32 θ, hessian", lambda t: dnp.sum(dnp.sin(t) * t[0]),
         theta=np.array([0.3, -0.7, 1.1], dtype=np.float32), quantity="hessian",
         truth=lambda t: np.array([[2 * np.cos(t[0]) - t[0] * np.sin(t[0]), np.cos(t[1]),
                                    np.cos(t[2])],
                                   [np.cos(t[1]), -t[0] * np.sin(t[1]), 0],
                                   [np.cos(t[2]), 0, -t[0] * np.sin(t[2])]])),
    Case("float32 θ, quadratic hessian", lambda t: dnp.sum(t ** 2) + t[0] * t[1],
         theta=np.array([0.3, -0.7, 1.1], dtype=np.float32), quantity="hessian",
         truth=np.array([[2.0, 1, 0], [1, 2, 0], [0, 0, 2]])),
    Case("θ as a list", lambda t: dnp.sum(t ** 2), theta=[0.5, 1.5], truth=_square_grad),
    Case("θ of strings", lambda t: dnp.sum(t ** 2), theta=np.array(["a", "b"]),
         causes=("float", "dtype")),
    Case("hvp: v of the wrong shape", lambda t: dnp.sum(t ** 2), quantity="hvp",
         v=np.ones(2), causes=("shape",)),
    Case("hvp: NaN in v", lambda t: dnp.sum(t ** 2), quantity="hvp",
         v=np.array([1.0, np.nan, 0.0]), causes=NONFINITE),
    Case("hvp: no v", lambda t: dnp.sum(t ** 2), quantity="hvp", causes=("direction",)),
    # leaks out of the number system
    Case("float() of a parameter", lambda t: dnp.sum(t ** 2) + float(t[0]),
         truth=lambda t: 2 * t + np.array([1.0, 0, 0]), causes=LEAK),
    Case("math.exp of a parameter", lambda t: dnp.sum(t ** 2) + math.exp(t[0]),
         truth=lambda t: 2 * t + np.array([math.exp(t[0]), 0, 0]), causes=LEAK),
    Case("raw np.tanh", lambda t: dnp.sum(np.tanh(t)),
         truth=lambda t: 1 / np.cosh(t) ** 2, causes=LEAK),
    Case("raw np.abs (not analytic)", lambda t: dnp.sum(t * np.abs(t)),
         truth=lambda t: 2 * np.abs(t), causes=LEAK),
    Case("raw np.exp in a hessian", lambda t: dnp.sum(np.exp(t)), quantity="hessian",
         truth=lambda t: np.diag(np.exp(t)), causes=LEAK),
    Case("mutates its input", _mutates, truth=lambda t: np.array([0.0, 2 * t[1], 2 * t[2]]),
         causes=("mutat", "in-place", "assign", "item")),
    # Python control flow on values
    Case("if on a parameter", _python_if, truth=lambda t: 2 * t, causes=BRANCH),
    Case("!= on a parameter at 0", _structural_branch, theta=np.array([0.0, 1.0, 2.0]),
         truth=lambda t: 2 * t, causes=BRANCH + KINK),
    Case("if on a parameter at its kink", _python_relu, theta=np.array([0.0, 1.0, 2.0]),
         causes=BRANCH + KINK),
    Case("while on a parameter", _while_loop, truth=np.array([5.0, 1.0, 1.0]), causes=BRANCH),
    # kinks and ties: the README's conventions, or a refusal that names the kink
    Case("relu at 0", lambda t: dnp.sum(dnp.relu(t)), theta=np.array([0.0, 1.0, -1.0]),
         truth=np.array([0.0, 1.0, 0.0]), causes=KINK),
    Case("abs at 0", lambda t: dnp.sum(dnp.abs(t)), theta=np.array([0.0, 2.0, -1.0]),
         truth=np.array([0.0, 1.0, -1.0]), causes=KINK + ("analytic",)),
    Case("leaky_relu at 0", lambda t: dnp.sum(dnp.leaky_relu(t, 0.1)),
         theta=np.array([0.0, 1.0, -1.0]), truth=np.array([0.1, 1.0, 0.1]), causes=KINK),
    Case("max, three-way tie", lambda t: dnp.max(t), theta=np.array([1.0, 1.0, 1.0]),
         truth=np.full(3, 1 / 3), causes=KINK + ("tie",)),
    Case("maximum, tie", lambda t: dnp.sum(dnp.maximum(t, 0.5)),
         theta=np.array([0.5, 1.0, 0.0]), truth=np.array([0.5, 1.0, 0.0]), causes=KINK),
    Case("clip at its edges", lambda t: dnp.sum(dnp.clip(t, -1.0, 1.0)),
         theta=np.array([1.0, -1.0, 0.5]), truth=np.ones(3), causes=KINK),
    # scales
    Case("tiny θ", lambda t: dnp.sum(1 / t), theta=np.array([3e-7, 5e-7, 2e-6]),
         truth=lambda t: -1 / t ** 2),
    Case("huge θ", lambda t: dnp.sum(t ** 2), theta=np.array([3e7, -7e7, 1.1e8]),
         truth=_square_grad),
    Case("high frequency", lambda t: dnp.sum(dnp.sin(t / 1e-4)), theta=np.array([3e-5]),
         truth=lambda t: np.cos(t / 1e-4) / 1e-4),
    Case("mixed scales", lambda t: dnp.sin(1e4 * t[0]) + 1e-4 * t[1] ** 2,
         theta=np.array([0.375, 2.0]), roughness=KAPPA_MIXED,
         truth=lambda t: np.array([1e4 * np.cos(1e4 * t[0]), 2e-4 * t[1]])),
    Case("huge values", lambda t: 1e200 * dnp.sum(t ** 2), truth=lambda t: 2e200 * t),
    Case("tiny values", lambda t: 1e-200 * dnp.sum(t ** 2), truth=lambda t: 2e-200 * t),
    Case("overflow beside θ", lambda t: dnp.sum(dnp.exp(t)), theta=np.array([709.7]),
         truth=np.exp, causes=NONFINITE + ("overflow",)),
    # the other quantities
    Case("jacobian of a matrix-valued F", lambda t: dnp.reshape(
        dnp.concatenate([t * 2, t ** 2]), (2, 3)), quantity="jacobian",
        truth=lambda t: np.vstack([2 * np.eye(3), np.diag(2 * t)])),
    Case("jacobian of a scalar F", lambda t: dnp.sum(t ** 2), quantity="jacobian",
         truth=lambda t: (2 * t)[None, :]),
    Case("hessian, mixed scales", lambda t: dnp.sin(1e4 * t[0]) + 1e-4 * t[1] ** 2,
         theta=np.array([0.375, 2.0]), quantity="hessian", roughness=KAPPA_MIXED,
         truth=lambda t: np.diag([-1e8 * np.sin(1e4 * t[0]), 2e-4])),
    Case("hvp of a quadratic", lambda t: dnp.sum(t ** 2) + t[0] * t[1], quantity="hvp",
         v=np.array([1.0, 0.0, -1.0]), truth=np.array([2.0, 1.0, -2.0])),
]


def _truth(case, theta):
    truth = case.truth
    return truth(np.asarray(theta, dtype=float)) if callable(truth) else truth


def _relative_error(value, truth):
    """‖value − truth‖ / ‖truth‖, computed without overflow for values near 1e300."""
    unit = np.max(np.abs(truth))
    if unit == 0:
        return np.max(np.abs(value))
    return np.linalg.norm((np.asarray(value, dtype=float) - truth) / unit) / np.linalg.norm(
        truth / unit)


# NumPy's own RuntimeWarnings (log of a negative number, overflow) may precede the named
# error; what is judged is the outcome.
@pytest.mark.filterwarnings("ignore::difflab.errors.DiffLabWarning")
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
# every method on every case whose quantity it computes (ad-differences: second order only)
@pytest.mark.parametrize("case, method", [
    pytest.param(case, method, id=f"{case}-{method}") for case in CASES for method in METHODS
    if case.quantity in difflab.differentiator(method).quantities])
def test_right_value_or_named_error(case, method):
    d = difflab.differentiator(method)
    theta = np.array(case.theta, copy=True)
    try:
        value = d.measure(case.quantity, case.f, theta, case.v, sizes=False).value
    except DiffLabError as error:
        assert np.array_equal(theta, case.theta, equal_nan=theta.dtype.kind == "f"), \
            "θ was modified"
        message = str(error).lower()
        assert any(cause in message for cause in case.causes), (
            f"{method} refused {case} without naming the cause: {type(error).__name__}: "
            f"{error}")
        return
    assert np.array_equal(theta, case.theta), f"{method} modified the caller's θ: {theta}"
    assert case.truth is not None, f"{method} returned {value!r} where no value exists"
    truth = _truth(case, case.theta)
    assert np.shape(value) == np.shape(truth), (np.shape(value), np.shape(truth))
    assert np.all(np.isfinite(value)), f"{method} returned a non-finite value {value}"
    if truth.size:
        dtype = np.asarray(case.theta).dtype
        allowed = SLACK * d.tolerance(case.quantity, dtype if dtype == np.float32 else float)
        allowed *= case.roughness if d.kind == "numeric" else 1
        error = _relative_error(value, truth)
        assert error <= allowed, (f"{method} on {case}: relative error {error:.2e} > "
                                  f"{allowed:.1e}: {value} vs {truth}")


BAD_ARGUMENTS = {
    "v_curve: index not an integer": lambda: difflab.numeric.v_curve(_square, THETA, "central"),
    "v_curve: index outside θ": lambda: difflab.numeric.v_curve(_square, THETA, 9),
    "numeric: odd central order": lambda: difflab.numeric.gradient(_square, THETA, "central", 3),
    "numeric: negative step": lambda: difflab.numeric.gradient(_square, THETA, step=-1.0),
    "numeric: unknown Hessian route": lambda: difflab.numeric.hessian(_square, THETA, "bogus"),
    "ad: argnums not an int": lambda: difflab.ad.grad(_square, argnums="a")(THETA),
    "ad: argnums out of range": lambda: difflab.ad.grad(_square, argnums=5)(THETA),
    "reference: dps negative": lambda: difflab.reference.gradient(_square, THETA, dps=-1),
    "reference: dps not a number": lambda: difflab.reference.gradient(_square, THETA, dps="x"),
    "gradcheck: params of text": lambda: difflab.gradcheck(_square, "abc"),
    "gradcheck: unknown truth": lambda: difflab.gradcheck(_square, THETA, methods=["bogus"]),
    "gradcheck: rtol negative": lambda: difflab.gradcheck(_square, THETA, rtol=-1),
    "symbolic: unknown mode": lambda: difflab.symbolic.derivative(_square, THETA, mode="x"),
    "interface: unknown quantity": lambda: interface.tolerance("ad", "laplacian"),
    "newton: x0 of text": lambda: newton(_square, "abc", "ad"),
    "newton: unknown differentiator": lambda: newton(_square, THETA, "bogus"),
}


def _square(t):
    return dnp.sum(t ** 2)


@pytest.mark.parametrize("call", BAD_ARGUMENTS.values(), ids=BAD_ARGUMENTS.keys())
def test_a_bad_argument_is_a_named_error(call):
    """A mistake in the arguments of a public function is a DiffLabError, never a raw
    TypeError, IndexError or KeyError from inside."""
    with pytest.raises(DiffLabError):
        call()


def test_the_table_is_large_enough():
    assert len(CASES) >= 40
    assert len(METHODS) >= 11
