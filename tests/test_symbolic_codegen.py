"""Compiling SymPy programs to Python: every node type on both targets against SymPy's own exact
evaluation, exact mpmath constants, vectorized groups, trees too deep or too wide for Python's
compiler, and the budgets."""

import re
from fractions import Fraction

import mpmath
import numpy as np
import pytest
import sympy as sp
from sympy import S

from difflab.errors import SwellLimitError, UnsupportedOperationError
from difflab.symbolic import codegen
from difflab.symbolic.codegen import compile_program
from difflab.symbolic.program import Program

X, Y, Z = sp.symbols("x y z", real=True)
T = sp.symbols("t0:2", real=True)
# Exactly representable in binary, so both targets and SymPy see the same inputs; the last
# two are the kinks and ties (H(0), sign(0), Max(x, x), Eq).
POINTS = [(-1.25, 0.5), (0.375, -2.0), (2.5, 1.75), (0.0, 0.0), (0.5, 0.5)]


def _unevaluated(cls, *args):
    return sp.Basic.__new__(cls, *args)


EXPRESSIONS = [
    X + 2 * Y - 3,
    X * Y / 7,
    X**3 - Y**4,
    1 / (X + 3),
    Y * (X**2 + 1) ** -2,
    sp.sqrt(X**2 + 1) + 1 / sp.sqrt(Y**2 + 1),
    (X**2 + 1) ** sp.Rational(1, 3) + (Y**2 + 1) ** sp.Rational(-3, 2),
    (X**2 + 1) ** sp.Float(0.7),
    (Y**2 + 1) ** X,
    sp.exp(X) - sp.log(Y**2 + 1),
    sp.sin(X) * sp.cos(Y) + sp.tan(X),
    sp.tanh(X) + sp.sinh(Y) / sp.cosh(X),
    sp.Abs(X) * sp.sign(Y) - sp.sign(X),
    sp.pi * X + sp.E,
    sp.Max(X, Y, 0) + 2 * sp.Min(X, Y),
    sp.Heaviside(X) + 2 * sp.Heaviside(X, 0) + 4 * sp.Heaviside(X, 1) + 8 * sp.Heaviside(X - Y),
    sp.Piecewise((X, X > Y), (Y**2, X < -1), (7, True)),
    sp.Piecewise((X, X >= sp.Rational(1, 2))),
    sp.Piecewise((1, sp.Eq(X, Y)), (2, sp.Ne(X, 0)), (3, X <= Y), (4, True)),
    sp.Piecewise((X, sp.And(X > 0, Y > 0)), (Y, sp.Or(X < -1, Y < -1)),
                 (5, sp.Not(sp.And(X > 0, Y > 0))), (6, True)),
    sp.Piecewise((X, _unevaluated(sp.Or, X > 1, S.false)),
                 (Y, _unevaluated(sp.Not, _unevaluated(sp.And, X > 0, S.true))), (0, True)),
]


def _compile_xy(exprs, target="numpy"):
    return compile_program(Program(inputs=(("x", (X,)), ("y", (Y,))), outputs=list(exprs)),
                           target)


def _truth(expr, x, y):
    """SymPy's own value at exact rational inputs and Floats' exact binary values, to 60
    digits (a 15-digit Float would make SymPy evaluate at 15 digits)."""
    exact = {X: sp.Rational(x), Y: sp.Rational(y)}
    exact.update((f, sp.Rational(f)) for f in expr.atoms(sp.Float))
    return expr.xreplace(exact).evalf(60)


@pytest.mark.parametrize("expr", EXPRESSIONS, ids=str)
def test_numpy_target_matches_sympy(expr):
    fn = _compile_xy([expr])
    xs, ys = (np.array(v) for v in zip(*POINTS))
    out = np.zeros((1, len(POINTS)))
    assert fn(out, [xs], [ys]) is None
    expected = [float(_truth(expr, x, y)) for x, y in POINTS]
    np.testing.assert_allclose(out[0], expected, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("expr", EXPRESSIONS, ids=str)
def test_mpmath_target_matches_sympy_to_50_digits(expr):
    fn = _compile_xy([expr], "mpmath")
    with mpmath.workdps(50):
        for x, y in POINTS:
            value, = fn([mpmath.mpf(x)], [mpmath.mpf(y)])
            expected = _truth(expr, x, y)
            assert isinstance(value, mpmath.mpf)
            if expected is S.NaN:
                assert mpmath.isnan(value)
            else:
                expected = mpmath.mpf(sp.Float(expected, 60)._mpf_)
                assert abs(value - expected) <= mpmath.mpf("1e-48") * max(1, abs(expected))


def test_dirac_delta_is_zero_pointwise():
    exprs = [sp.DiracDelta(X), X + Y * sp.DiracDelta(X, 1), sp.diff(sp.sign(X), X)]
    fn = _compile_xy(exprs)
    out = np.full((3, 3), 9.0)
    fn(out, [np.array([-1.0, 0.0, 2.0])], [np.array([1.0, 2.0, 3.0])])
    np.testing.assert_array_equal(out, [[0, 0, 0], [-1, 0, 2], [0, 0, 0]])
    assert "Dirac" not in fn.source
    assert _compile_xy(exprs, "mpmath")([mpmath.mpf(0)], [mpmath.mpf(1)]) == [0, 0, 0]


def test_groups_unpack_and_scalar_outputs_broadcast():
    v = sp.Symbol("v", real=True)
    xs = sp.symbols("x0:3", real=True)
    program = Program(inputs=(("theta", T), ("x", xs)), assignments=[(v, T[0] * T[1])],
                      outputs=[sp.tanh(T[0] * xs[0] + T[1]) + xs[1] * xs[2], T[0]**2 + 1, S.Zero,
                               v * xs[0], v])
    fn = compile_program(program)
    theta = [0.75, -1.5]
    x = list(np.random.default_rng(0).normal(size=(3, 16)))
    out = np.full((5, 16), 7.0)
    fn(out, theta, x)
    reference = sp.lambdify((T, xs), [e.subs(v, T[0] * T[1]) for e in program.outputs], "numpy")
    for k, expected in enumerate(reference(theta, x)):
        if k == 2:   # an exact zero is skipped: the caller zero-fills
            np.testing.assert_array_equal(out[k], 7.0)
        else:
            np.testing.assert_allclose(out[k], np.broadcast_to(expected, (16,)), rtol=1e-14)


def test_integer_arrays_still_give_float_powers_and_rationals():
    fn = _compile_xy([X**-2, sp.Rational(1, 2) * X, X**3 / Y])
    out = np.zeros((3, 3))
    fn(out, [np.array([-2, -1, 3])], [np.array([4, 4, 4])])
    np.testing.assert_allclose(out, [[0.25, 1, 1 / 9], [-1, -0.5, 1.5], [-2, -0.25, 6.75]])


def test_mpmath_constants_are_exact_binary_values_at_caller_precision():
    exprs = [sp.Float(0.1) * X, sp.Rational(1, 3) * X, sp.pi * X, sp.Integer(3),
             sp.Piecewise((1, X > 0), (0, True)), 2 / sp.Max(Y, 1), sp.sqrt(2 * X),
             sp.Float("0.1", 30) * X, (10**30 + 1) * X]
    fn = _compile_xy(exprs, "mpmath")
    with mpmath.workdps(50):
        tenth, third, pi, three, step, ratio, root, tenth_30, big = fn([mpmath.mpf(1)],
                                                                       [mpmath.mpf(0)])
        assert tenth == mpmath.mpf(Fraction(0.1).numerator) / Fraction(0.1).denominator
        assert abs(tenth - mpmath.mpf("0.1")) > mpmath.mpf("5e-18")
        assert abs(third - mpmath.mpf(1) / 3) < mpmath.mpf("1e-50")
        assert pi == +mpmath.pi
        assert all(isinstance(v, mpmath.mpf) for v in (three, step, ratio))   # no int or float
        assert (three, step, ratio) == (3, 1, 2)
        assert abs(root - mpmath.sqrt(2)) < mpmath.mpf("1e-49")
        assert 0 < abs(tenth_30 - mpmath.mpf("0.1")) < mpmath.mpf("1e-30")   # 100 bits kept
        assert big - 10**30 == 1
    with mpmath.workdps(15):
        assert abs(fn([mpmath.mpf(1)], [mpmath.mpf(0)])[6] - root) > mpmath.mpf("1e-20")


def test_flat_sum_of_10000_terms():
    xs = sp.symbols("x0:10000", real=True)
    coefficients = [k % 7 + 1 for k in range(10000)]
    total = sp.Add(*[c * x for c, x in zip(coefficients, xs)], evaluate=False)
    fn = compile_program(Program(inputs=(("x", xs),), outputs=[total]))
    values = np.random.default_rng(1).normal(size=10000)
    out = np.zeros(1)
    fn(out, list(values))
    assert out[0] == pytest.approx(np.dot(coefficients, values), rel=1e-12)
    assert max(len(line) for line in fn.source.splitlines()) < 20 * codegen.MAX_WIDTH


def _tanh_chain(depth):
    e = X
    for _ in range(depth):
        e = sp.tanh(e, evaluate=False)   # SymPy's own evaluation would recurse too deep
    return e


def test_5000_deep_trees_compile_and_evaluate():
    horner = X
    for _ in range(5000):
        horner = X * (1 + horner)
    fn = _compile_xy([_tanh_chain(5000), horner])
    x = np.array([0.3, -0.5, 0.9])   # |x| < 1: the degree-5000 polynomial stays finite
    out = np.zeros((2, 3))
    fn(out, [x], [x])
    tanh, poly = x.copy(), x.copy()
    for _ in range(5000):
        tanh, poly = np.tanh(tanh), x * (1 + poly)
    np.testing.assert_allclose(out, [tanh, poly], rtol=1e-12)
    # Each temporary is read once and its name reused, so intermediates do not pile up.
    assert len(set(re.findall(r"_t\d+", fn.source))) <= 4

    deep = _compile_xy([_tanh_chain(5000)], "mpmath")
    with mpmath.workdps(30):
        expected = mpmath.mpf("0.3")
        for _ in range(5000):
            expected = mpmath.tanh(expected)
        assert abs(deep([mpmath.mpf("0.3")], [0])[0] - expected) < mpmath.mpf("1e-28")


def test_python_compiler_failure_becomes_swell_limit(monkeypatch):
    monkeypatch.setattr(codegen, "MAX_DEPTH", 10**9)
    monkeypatch.setattr(codegen, "MAX_WIDTH", 10**9)
    with pytest.raises(SwellLimitError) as caught:
        _compile_xy([_tanh_chain(5000)])
    assert caught.value.stage == "compile"


def test_line_budget():
    symbols = sp.symbols("v0:50", real=True)
    assignments = [(s, sp.sin(X + k)) for k, s in enumerate(symbols)]
    program = Program(inputs=(("x", (X,)),), assignments=assignments, outputs=[sum(symbols)])
    with pytest.raises(SwellLimitError, match="dag") as caught:
        compile_program(program, max_lines=20)
    assert (caught.value.stage, caught.value.what, caught.value.limit) == (
        "compile", "generated lines", 20)
    assert caught.value.reached > 20
    assert len(compile_program(program, max_lines=60).source.splitlines()) <= 61


def test_time_budget():
    with pytest.raises(SwellLimitError) as caught:
        compile_program(Program(inputs=(("x", (X,)),), outputs=[_tanh_chain(3000)]),
                        max_seconds=0)
    assert (caught.value.stage, caught.value.what) == ("compile", "seconds")


@pytest.mark.parametrize("target", ["numpy", "mpmath"])
@pytest.mark.parametrize("expr, name", [
    (sp.gamma(X), "gamma"), (sp.besselj(0, X), "besselj"), (sp.Function("f")(X), "f"),
    (sp.I * X, "ImaginaryUnit"), (sp.Xor(X > 0, Y > 0), "Xor")])
def test_unsupported_operations_name_the_function(expr, name, target):
    if name == "Xor":
        expr = sp.Piecewise((X, expr), (Y, True))
    with pytest.raises(UnsupportedOperationError, match=rf"SymPy {name} has no {target}"):
        _compile_xy([expr], target)


def test_symbol_outside_the_program_is_reported():
    with pytest.raises(ValueError, match="symbol z is neither an input nor assigned"):
        _compile_xy([X + Z])


def test_source_is_kept_and_repeated_subtrees_are_printed_each_time():
    fn = _compile_xy([sp.sin(X + Y) + Y * sp.sin(X + Y)])
    assert fn.__code__.co_filename == codegen.FILENAME == "<difflab-symbolic>"
    assert fn.source.count("sin(x_0 + y_0)") == 2
    compile(fn.source, "<check>", "exec")
