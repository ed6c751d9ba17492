"""The dag mode (``symbolic/graph.py``) against independent truths: difflab.reference (mpmath at
50 digits), closed forms, and an interpreter of the graph's nodes written here.

The cases aim at the parts of the program a wrong answer can hide in: registers reused after
their last read, single-use nodes printed inside their reader's line, long sums accumulated
through ``_s``, outputs that no node computes (inputs, constants, duplicates), templates
(Piecewise, Max, atan2, erf) and their partials, float32 evaluation, mpmath evaluation and
``BatchMean`` objectives.
"""

import warnings

import mpmath
import numpy as np
import pytest
import sympy

import difflab.numpy as dnp
from difflab import reference
from difflab.errors import BranchError, NonFiniteValueError
from difflab.objectives import BatchMean
from difflab.symbolic import derivative
from difflab.symbolic.graph import (ADD, APPLY, CONST, INPUT, PLACEHOLDERS, POWER, PRODUCT, Graph,
                                    GraphProgram)

THETA = np.array([0.7, -0.4, 1.3])
V = np.array([1.0, 2.0, -0.5])
RTOL = 1e-13                       # float64, relative to the largest entry of the truth
MP_RTOL = mpmath.mpf(10) ** -40    # mpmath at 50 digits
F32_ULPS = 8                       # float32, in units of ε₃₂ relative to the largest entry
EPS32 = float(np.finfo(np.float32).eps)
C = np.linspace(-2.0, 2.0, 150)    # more terms than one printed line of a sum (64)


def truth(f, theta, quantity, v=None):
    """The 50-digit reference of ``quantity`` as an object array of mpf."""
    if quantity == "value":
        return np.array(reference.value(f, theta), dtype=object)
    if quantity == "hvp":
        return np.array(reference.hvp(f, theta, v), dtype=object)
    return np.array(getattr(reference, quantity)(f, theta), dtype=object)


def dag(f, quantity, theta=THETA, v=None, **kind):
    """The dag-mode derivative evaluated at θ: in floats, or in mpmath with ``mpmath=True``."""
    d = derivative(f, theta, quantity, mode="dag")
    args = (theta,) if v is None else (theta, v)
    return d.mpmath(*args) if kind.get("mpmath") else d(*args)


def relative_error(got, expected):
    """max |got − expected| / max |expected| in mpmath (0/0 counts as 0)."""
    got, expected = np.ravel(np.asarray(got, dtype=object)), np.ravel(expected)
    with mpmath.workdps(60):
        error = max([abs(mpmath.mpf(g) - e) for g, e in zip(got, expected)], default=0)
        scale = max([abs(e) for e in expected], default=0)
        return error / scale if scale else error


def assert_float64(f, quantity, theta=THETA, v=None):
    expected = truth(f, theta, quantity, v)
    got = dag(f, quantity, theta, v)
    assert np.shape(got) == expected.shape
    assert relative_error(got, expected) <= RTOL, (got, expected)


def assert_mpmath(f, quantity, theta=THETA, v=None):
    expected = truth(f, theta, quantity, v)
    got = dag(f, quantity, theta, v, mpmath=True)
    assert relative_error(got, expected) <= MP_RTOL, (got, expected)


# Register reuse, inlining and long sums.

def long_sums(t):
    return dnp.sum(dnp.tanh(C * t[0] - t[1])) - 2.0 * dnp.sum(dnp.tanh(C * t[1] + 0.5)) + t[2]


def reused_long_sum(t):
    s = dnp.sum(dnp.exp(C * t[0]))
    return s * t[1] + s ** 2 - s * t[2]


def fan_out(t):
    shared = dnp.tanh(t[0] * t[1])
    return dnp.sum(shared * np.arange(1.0, 101.0) * dnp.exp(t[2] * np.linspace(0.0, 1.0, 100)))


def deep_chain(t):
    a = t[0]
    for _ in range(300):
        a = dnp.sin(a) * 0.9 + t[1] * 0.25
    return a * t[2]


PROGRAMS = [long_sums, reused_long_sum, fan_out, deep_chain]


@pytest.mark.parametrize("quantity", ["gradient", "hessian"])
@pytest.mark.parametrize("f", PROGRAMS, ids=lambda f: f.__name__)
def test_programs_with_shared_nodes_and_long_sums_match_the_reference(f, quantity):
    assert_float64(f, quantity)


@pytest.mark.parametrize("f", PROGRAMS, ids=lambda f: f.__name__)
def test_hvp_of_programs_with_shared_nodes_matches_the_reference(f):
    assert_float64(f, "hvp", v=V)


@pytest.mark.parametrize("f", [long_sums, fan_out, deep_chain], ids=lambda f: f.__name__)
def test_mpmath_evaluation_of_the_same_program_matches_the_reference(f):
    assert_mpmath(f, "hessian")


def test_long_sums_are_printed_over_several_lines():
    source = derivative(long_sums, THETA, "hessian", mode="dag").function.source
    assert "_s = " in source


def test_outputs_that_are_inputs_constants_or_duplicates():
    """f = θ₀θ₁ + θ₂²/2 + 2θ₀: ∇f = (θ₁ + 2, θ₀, θ₂), entries that are inputs; the Hessian's
    entries are constants, H₀₁ = H₁₀ the same node, most of them zero."""
    def f(t):
        return t[0] * t[1] + 0.5 * t[2] * t[2] + 2.0 * t[0]
    a, b, c = THETA
    for kind in ({}, {"mpmath": True}):
        gradient = np.asarray(dag(f, "gradient", **kind), dtype=float)
        hessian = np.asarray(dag(f, "hessian", **kind), dtype=float)
        np.testing.assert_array_equal(gradient, [b + 2.0, a, c])
        np.testing.assert_array_equal(hessian, [[0, 1, 0], [1, 0, 0], [0, 0, 1]])


def test_gradient_of_a_linear_function_is_its_constants():
    def f(t):
        return 3.0 * t[0] - t[1] + 0.5 * t[2] + 1.0
    np.testing.assert_array_equal(dag(f, "gradient"), [3.0, -1.0, 0.5])
    np.testing.assert_array_equal(dag(f, "hessian"), np.zeros((3, 3)))
    np.testing.assert_array_equal(dag(f, "hvp", v=V), np.zeros(3))
    assert dag(f, "value") == pytest.approx(3.0 * 0.7 + 0.4 + 0.65 + 1.0, rel=1e-15)


def test_jacobian_with_outputs_independent_of_theta():
    def F(t):
        return dnp.stack([t[1], t[0] * 0.0 + 2.5, t[0] * t[1], dnp.exp(t[2]), dnp.exp(t[2]),
                          t[0] * 0.0])
    a, b, c = THETA
    expected = np.array([[0, 1, 0], [0, 0, 0], [b, a, 0], [0, 0, np.exp(c)], [0, 0, np.exp(c)],
                         [0, 0, 0]])
    np.testing.assert_allclose(dag(F, "jacobian"), expected, rtol=1e-15, atol=0)


def test_the_same_operand_twice():
    """maximum(t, t), t·t, t/t and atan2(t, t) read one node twice."""
    def f(t):
        p = t[0] * t[1]
        return (dnp.maximum(p, t[1] * t[0]) + p * p + p / p
                + dnp.arctan2(dnp.exp(t[2]), dnp.exp(t[2])))
    a, b, _ = THETA
    p = a * b
    expected = np.array([b + 2 * p * b, a + 2 * p * a, 0.0])
    np.testing.assert_allclose(dag(f, "gradient"), expected, rtol=1e-15, atol=1e-16)
    np.testing.assert_allclose(dag(f, "hessian"),
                               [[2 * b * b, 1 + 4 * p, 0], [1 + 4 * p, 2 * a * a, 0], [0, 0, 0]],
                               rtol=1e-15, atol=1e-16)


# Constants and powers.

CONSTANTS = {
    "erf": lambda t: dnp.sum(dnp.erf(t) * t),                      # 2/√π in the derivative
    "sqrt2-pi": lambda t: dnp.sqrt(2.0) * t[0] * t[1] + dnp.pi * t[2] ** 2,
    "negative powers": lambda t: t[0] ** -1 + t[1] ** -3 + dnp.sqrt(t[2]) + t[2] ** 2.5,
    "integer base power": lambda t: dnp.power(2, t[0]) * t[1] + t[2],     # log(2) exactly
}


@pytest.mark.parametrize("quantity", ["gradient", "hessian"])
@pytest.mark.parametrize("name", CONSTANTS)
def test_constants_and_powers_match_the_reference(name, quantity):
    assert_float64(CONSTANTS[name], quantity)


@pytest.mark.parametrize("name", CONSTANTS)
def test_constants_and_powers_in_mpmath_match_the_reference(name):
    assert_mpmath(CONSTANTS[name], "hessian")


def test_sympy_diff_of_the_traced_formula_agrees():
    """log₂ θ₀² and erf: the dag's Hessian against SymPy's own diff of the same formula."""
    x, y = sympy.symbols("x y", real=True)
    ln2 = float(np.log(2.0))
    f = sympy.log(x * x) / ln2 + sympy.erf(x * y)
    point = {x: sympy.Float(0.7), y: sympy.Float(-0.4)}
    expected = [[float(sympy.diff(f, a, b).subs(point).evalf(30)) for b in (x, y)]
                for a in (x, y)]
    got = dag(lambda t: dnp.log2(t[0] * t[0]) + dnp.erf(t[0] * t[1]), "hessian", THETA[:2])
    np.testing.assert_allclose(got, expected, rtol=1e-14)


# Templates: Piecewise, Max, atan2 and their partials.

TEMPLATES = {
    "relu": lambda t: dnp.sum(dnp.relu(t) * t * t),
    "abs": lambda t: dnp.sum(dnp.abs(t) * t * t),
    "maximum": lambda t: dnp.maximum(dnp.sum(t), t[0] * t[2]) ** 2,
    "clip": lambda t: dnp.sum(dnp.clip(t * t, 0.2, 1.0) * t),
    "where": lambda t: dnp.sum(dnp.where(t[0] * t[2] > t[1], t ** 3, -t)),
    "arctan2": lambda t: dnp.arctan2(dnp.sum(t), t[2] * t[0]),
    "leaky": lambda t: dnp.sum(dnp.leaky_relu(t * t[2]) * t),
}


@pytest.mark.parametrize("quantity", ["gradient", "hessian"])
@pytest.mark.parametrize("name", TEMPLATES)
def test_templates_match_the_reference(name, quantity):
    assert_float64(TEMPLATES[name], quantity)


@pytest.mark.parametrize("name", TEMPLATES)
def test_hvp_through_templates_matches_the_reference(name):
    assert_float64(TEMPLATES[name], "hvp", v=V)


@pytest.mark.parametrize("name", TEMPLATES)
def test_templates_in_mpmath_match_the_reference(name):
    assert_mpmath(TEMPLATES[name], "hessian")


# float32.

FLOAT32 = {"long sums": long_sums, "fan out": fan_out, **CONSTANTS, **TEMPLATES}


@pytest.mark.parametrize("quantity", ["gradient", "hessian", "hvp"])
@pytest.mark.parametrize("name", FLOAT32)
def test_float32_theta_gives_float32_within_a_few_ulps(name, quantity):
    """Against the reference at θ rounded to float32: the rounding of θ is not the program's."""
    f, theta = FLOAT32[name], THETA.astype(np.float32)
    v = V.astype(np.float32) if quantity == "hvp" else None
    got = derivative(f, THETA, quantity, mode="dag")(*((theta,) if v is None else (theta, v)))
    assert got.dtype == np.float32
    expected = truth(f, theta.astype(float), quantity, None if v is None else v.astype(float))
    assert relative_error(got, expected) <= F32_ULPS * EPS32


# BatchMean.

RNG = np.random.default_rng(7)
X, Y = RNG.normal(size=(6, 3)), RNG.normal(size=6)


def example_loss(theta, X, Y):
    z = X @ theta
    return (dnp.tanh(z) - Y) ** 2 + 0.1 * dnp.relu(z) + dnp.log(1.0 + dnp.exp(-Y * z))


def ridge(theta):
    return 0.01 * dnp.sum(theta * theta)


def plain_batch_mean(theta):
    return dnp.mean(example_loss(theta, X, Y)) + ridge(theta)


@pytest.mark.parametrize("quantity", ["value", "gradient", "hessian", "hvp"])
def test_batch_mean_equals_the_same_loss_as_a_plain_function(quantity):
    objective = BatchMean(example_loss, X, Y, penalty=ridge)
    theta = np.array([0.3, -0.2, 0.5])
    v = V if quantity == "hvp" else None
    expected = truth(plain_batch_mean, theta, quantity, v)
    got = dag(objective, quantity, theta, v)
    assert relative_error(got, expected) <= RTOL
    assert relative_error(dag(objective, quantity, theta, v, mpmath=True), expected) <= MP_RTOL


def test_batch_mean_whose_loss_ignores_the_data():
    """Outputs that are θ itself, filled over the batch."""
    objective = BatchMean(lambda t, X, Y: t[0] * t[1] + 0.0 * X[:, 0], X, Y)
    # the batch mean of six equal floats rounds
    np.testing.assert_allclose(dag(objective, "gradient"), [THETA[1], THETA[0], 0.0], rtol=1e-15)


# The emitter against an interpreter of the nodes.

u0, u1 = PLACEHOLDERS[:2]
_SYMBOLS = sympy.symbols("x0:3", real=True)
_INTERPRETED = {sympy.tanh(u0): lambda a: mpmath.tanh(a[0]),
                sympy.Piecewise((u0, u0 > 0), (0, True)): lambda a: max(a[0], mpmath.mpf(0)),
                sympy.Max(u0, u1): lambda a: max(a)}


def _random_graph(seed):
    """A graph of sums (some longer than a printed line), products, powers and templates over
    nodes picked with a bias to the latest ones, so nodes are read once, many times, or never."""
    rng = np.random.default_rng(seed)
    g = Graph((("x", _SYMBOLS),), _SYMBOLS)
    pool = [g.symbols[x] for x in _SYMBOLS] + [g.const(sympy.Float(0.5)), g.const(sympy.pi)]

    def pick():
        return pool[int(rng.integers(len(pool)))] if rng.random() < 0.5 else \
            pool[-1 - int(rng.integers(min(4, len(pool))))]

    for _ in range(int(rng.integers(10, 120))):
        r = rng.random()
        if r < 0.3:
            terms = int(rng.integers(2, 150 if rng.random() < 0.15 else 6))
            node = g.add([g.mul(pick(), g.const(sympy.Float(rng.normal()))) for _ in range(terms)])
        elif r < 0.5:
            node = g.mul(pick(), pick())
        elif r < 0.6:
            base = g.add([g.apply(sympy.tanh(u0), [pick()]), g.const(sympy.Integer(2))])
            node = g.power(base, sympy.Rational(int(rng.choice([-3, -1, 1, 2, 3])),
                                                int(rng.choice([1, 2]))))
        else:
            template = list(_INTERPRETED)[int(rng.integers(len(_INTERPRETED)))]
            operands = sorted({pick() for _ in range(len(template.free_symbols))})
            if len(operands) != len(template.free_symbols):
                continue
            node = g.apply(template, operands)
        pool.append(node)
    outputs = [pool[int(i)] for i in rng.integers(0, len(pool), size=int(rng.integers(1, 8)))]
    return g, outputs


def _interpret(g, point):
    """Every node's value in mpmath, from the node kinds alone (no printed code)."""
    values = []
    for kind, operands, datum in zip(g.kinds, g.operands, g.data):
        a = [values[o] for o in operands]
        if kind == INPUT:
            values.append(point[_SYMBOLS.index(datum)])
        elif kind == CONST:
            values.append(mpmath.mpf(sympy.N(datum[1], 40)))
        elif kind == ADD:
            values.append(mpmath.fsum(a))
        elif kind == PRODUCT:
            values.append(a[0] * a[1])
        elif kind == POWER:
            values.append(a[0] ** mpmath.mpf(sympy.N(datum, 40)))
        else:
            assert kind == APPLY
            values.append(_INTERPRETED[datum.expression](a))
    return values


@pytest.mark.parametrize("seed", range(25))
def test_compiled_programs_agree_with_an_interpreter_of_the_nodes(seed):
    g, outputs = _random_graph(seed)
    program = GraphProgram(g, (("x", _SYMBOLS),), outputs)
    point = [0.3, -0.7, 1.1]
    out = np.zeros(len(outputs))
    program.compile("numpy")(out, point)
    with mpmath.workdps(40):
        exact = _interpret(g, [mpmath.mpf(p) for p in point])
        printed = program.compile("mpmath")([mpmath.mpf(p) for p in point])
        for k, i in enumerate(outputs):
            scale = max(1, abs(exact[i]))
            assert abs(printed[k] - exact[i]) <= mpmath.mpf(10) ** -30 * scale, (k, i)
            assert abs(out[k] - exact[i]) <= 1e-12 * scale, (k, i)


# Bugs this review found, fixed since (each failed before its fix).

def test_exp2_of_a_sum_times_a_parameter_at_zero():
    """Was wrong before the review's fix: graph.py:500/509: a template is printed with its
    placeholders as atoms and the operands' texts substituted verbatim, so a single-use
    operand printed inline with lower precedence loses its parentheses: 2.0**b with b =
    θ₁·w₁ + θ₂·w₂ prints as 2.0**theta_1*w1 + ...; silent at θ₀ = 0, where f's value does
    not see it"""
    w = np.array([0.5, 2.0])

    def f(t):
        return t[0] * dnp.exp2(dnp.sum(t[1:] * w))
    theta = np.array([0.0, 0.3, 0.9])
    np.testing.assert_allclose(dag(f, "gradient", theta), [2.0 ** 1.95, 0.0, 0.0], rtol=1e-15)


def test_value_of_exp2_of_a_sum():
    """Was wrong before the review's fix: graph.py:500/509 (as above): the program's value
    is wrong, the guard retraces and raises BranchError for a function with no branch"""
    np.testing.assert_allclose(dag(lambda t: dnp.exp2(dnp.sum(t)), "value"), 2.0 ** 1.6,
                               rtol=1e-15)


def test_batch_mean_of_a_power_of_exp2_of_the_data():
    """Was wrong before the review's fix: graph.py:474: every template's text is marked
    ATOM, but a power template such as 2.0**x prints with POW precedence; as the base of a
    power it is not parenthesized: (2^x)^3 prints as 2.0**x_0**3 = 2^(x³). Silent in a
    BatchMean at θ₀ = 0"""
    def loss(theta, X, Y):
        return theta[0] * dnp.exp2(X[:, 0]) ** 3 + theta[1] ** 2
    objective = BatchMean(loss, X[:, :2], Y)
    theta = np.array([0.0, 0.5])
    expected = [np.mean(np.exp2(X[:, 0]) ** 3), 1.0]
    np.testing.assert_allclose(dag(objective, "gradient", theta), expected, rtol=1e-14)


# Was wrong before the review's fix: mul/product folded Float·Float at 53 bits, and e − 1 of a
# Float exponent too, so constants were rounded before mpmath saw them and .mpmath agreed with
# the reference to ~1e-17, not 1e-40. Constants now fold exactly (as rationals).
@pytest.mark.parametrize("f", [lambda t: dnp.sin(t[0] * 0.1) * 0.3,
                               lambda t: dnp.abs(t[2]) ** (1 / 3)],
                         ids=["float coefficients", "float exponent"])
def test_mpmath_keeps_float_constants_exact(f):
    assert_mpmath(f, "hessian")


def test_tree_ops_of_a_value_agree_across_modes():
    """Was wrong before the review's fix: graph.py:49 and :367: sizes() counts an operand's
    tree once per template however often the template reads it (relu reads u0 twice), so
    tree_ops of f's own value differs from the tree and cse modes' (8 against 13)"""
    def f(t):
        return dnp.relu(dnp.sum(t * t))
    sizes = {mode: derivative(f, THETA, "value", mode=mode).sizes.tree_ops
             for mode in ("dag", "tree")}
    assert sizes["dag"] == sizes["tree"]


def test_fractional_power_of_a_negative_number_is_not_finite():
    """Was wrong before the review's fix: derivatives.py:104-111: θ enters the compiled code
    as Python floats, and (-0.5)**1.5 is a complex number there (NumPy gives nan), so
    evaluation fails with a bare TypeError 'float() argument must be ... not complex'
    instead of NonFiniteValueError (all modes)"""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(NonFiniteValueError):
            dag(lambda t: t[0] ** 1.5 + t[1], "gradient", np.array([-0.5, 1.0]))
