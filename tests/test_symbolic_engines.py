"""The SymEngine engine: zoo derivatives against difflab.reference and AD, the same programs as
SymPy's where the trees agree, conversions at kinks and ties, and its errors."""

import sys

import numpy as np
import pytest
import sympy

import difflab.numpy as dnp
from difflab import ad, models, reference, symbolic
from difflab.errors import DiffLabError, SwellLimitError, UnsupportedOperationError
from difflab.symbolic import engines
from difflab.symbolic.codegen import compile_program
from difflab.symbolic.program import Program

needs_symengine = pytest.mark.skipif("symengine" not in symbolic.available_engines(),
                                     reason='needs pip install "difflab[symengine]"')

# theta0 puts no relu on its kink (the biases are drawn away from 0), so the reference's
# central differences and the branch derivatives agree there. The default mlp's second relu
# layer makes SymPy write ITE conditions, which SymEngine takes as And/Or.
RELU = {"activation": "relu"}
ZOO = [("mlp", {}), ("residual-mlp", {}), ("mlp-classifier", {}), ("rnn", {}), ("mlp", RELU)]
MODES = ("tree", "cse")


def _problem(name, overrides):
    problem = models.get(name, **overrides)
    return problem.objective, problem.theta0


@needs_symengine
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name, overrides", ZOO)
def test_gradient_agrees_with_the_reference(name, overrides, mode):
    f, theta = _problem(name, overrides)
    g = symbolic.gradient(f, theta, mode=mode, engine="symengine")
    assert reference.relative_error(g, reference.gradient(f, theta)) <= 1e-13


# tree Hessians of the larger models and the cse ones of the deepest compile for 3-25 s each
HESSIANS = [("mlp", {}, "tree"), ("mlp", {}, "cse"), ("mlp", RELU, "cse"),
            ("mlp-classifier", {}, "cse"),
            *[pytest.param(*case, marks=pytest.mark.slow) for case in [
                ("mlp", RELU, "tree"), ("mlp-classifier", {}, "tree"), ("residual-mlp", {}, "cse"),
                ("residual-mlp", {}, "tree"), ("rnn", {}, "cse"), ("rnn", {}, "tree")]]]


@needs_symengine
@pytest.mark.parametrize("name, overrides, mode", HESSIANS)
def test_hessian_agrees_with_ad(name, overrides, mode):
    f, theta = _problem(name, overrides)
    H = symbolic.hessian(f, theta, mode=mode, engine="symengine")
    assert np.array_equal(H, H.T)
    assert reference.relative_error(H, ad.hessian(f)(theta)) <= 1e-13


@needs_symengine
def test_hvp_jacobian_and_the_exact_mpmath_target():
    problem = models.get("mlp")
    f, theta = problem.objective, problem.theta0
    v = np.random.default_rng(0).normal(size=theta.size)
    assert reference.relative_error(symbolic.hvp(f, theta, v, mode="cse", engine="symengine"),
                                    reference.hvp(f, theta, v)) <= 1e-13
    J = symbolic.jacobian(problem.outputs, theta, mode="cse", engine="symengine")
    assert reference.relative_error(J, reference.jacobian(problem.outputs, theta)) <= 1e-13
    # Float constants come back from SymEngine with their binary value: 50 digits are right
    d = symbolic.derivative(f, theta, mode="tree", engine="symengine")
    assert reference.relative_error(d.mpmath(theta, dps=50), reference.gradient(f, theta)) <= 1e-40


@needs_symengine
@pytest.mark.parametrize("quantity", ["gradient", "hessian"])
def test_engines_give_the_same_program_sizes_and_values_on_a_small_model(quantity):
    problem = models.get("mlp", widths=(2, 3, 1), activation="relu")
    f, theta = problem.objective, problem.theta0
    for mode in MODES:
        by_sympy = symbolic.derivative(f, theta, quantity, mode)
        by_symengine = symbolic.derivative(f, theta, quantity, mode, engine="symengine")
        assert by_symengine.engine == "symengine" and by_sympy.engine == "sympy"
        assert reference.relative_error(by_symengine(theta), by_sympy(theta)) <= 1e-15
        if mode == "tree":      # the CSE algorithms differ, so only tree programs are equal
            assert by_symengine.sizes == by_sympy.sizes


@needs_symengine
def test_each_build_records_the_engine_that_differentiated():
    f, theta = _problem("logistic-regression", {})
    by_sympy = symbolic.derivative(f, theta, mode="cse")
    by_symengine = symbolic.derivative(f, theta, mode="cse", engine="symengine")
    assert (by_sympy.engine, by_symengine.engine) == ("sympy", "symengine")
    assert np.allclose(by_symengine(theta + 1), by_sympy(theta + 1), rtol=1e-13)
    # the dag mode's partials are SymPy's whichever engine is asked for
    assert symbolic.derivative(f, theta, engine="symengine").engine == "sympy"


@needs_symengine
def test_piecewise_heaviside_and_max_round_trip_at_kinks_and_ties():
    x, y = sympy.symbols("x y", real=True)
    expressions = [sympy.Piecewise((x, x > 0), (0, True)),
                   sympy.Piecewise((x, x > y), (y, x < y), ((x + y) / 2, True)),
                   sympy.Piecewise((x, sympy.ITE(x > 0, y > 0, y < -1)), (y, True)),
                   sympy.Heaviside(x) + 2 * sympy.Heaviside(x - y, 0),
                   sympy.Max(x, y, 0) + sympy.Min(x, 2 * y), sympy.Abs(x) * sympy.sign(y)]
    engine = engines.get("symengine")
    back = engine.sympy(engine.expressions(expressions))
    compiled = compile_program(Program((("x", (x,)), ("y", (y,))), [], back))
    # binary fractions, so SymPy's exact values are the floats the compiled code must give
    for point in [(-1.25, 0.5), (0.375, -2.0), (0.0, 0.0), (0.5, 0.5), (0.0, -1.5)]:
        found = np.zeros(len(expressions))
        compiled(found, [point[0]], [point[1]])
        expected = [float(e.subs({x: point[0], y: point[1]})) for e in expressions]
        assert found.tolist() == expected, point


@needs_symengine
def test_maximum_models_agree_and_abs_sign_are_refused():
    theta = np.array([0.7, -0.4, 1.3])
    pairwise = lambda t: dnp.sum(dnp.maximum(t * t, 0.5 * t) * dnp.tanh(t))
    for mode in MODES:
        g = symbolic.gradient(pairwise, theta, mode=mode, engine="symengine")
        assert reference.relative_error(g, reference.gradient(pairwise, theta)) <= 1e-13
    # dnp.max's SymPy form keeps Max inside its tie indicators' conditions, which are not
    # differentiated: SymEngine takes it, and splits a tie evenly as SymPy does
    tied = lambda t: dnp.max(t * t) + dnp.sum(t)
    at_tie = np.array([1.0, -1.0, 0.5])
    for mode in MODES:
        assert np.array_equal(symbolic.gradient(tied, at_tie, mode=mode, engine="symengine"),
                              [2, 0, 1])
        assert np.array_equal(symbolic.hessian(tied, at_tie, mode=mode, engine="symengine"),
                              np.diag([1, 1, 0]))
    for name, f in [("Abs", lambda t: dnp.sum(dnp.abs(t) * t)),
                    ("sign", lambda t: dnp.sum(dnp.sign(t) * t * t))]:
        with pytest.raises(UnsupportedOperationError,
                           match=f'differentiate {name}.*engine="sympy"'):
            symbolic.gradient(f, theta, mode="tree", engine="symengine")
        assert np.all(np.isfinite(symbolic.gradient(f, theta, mode="tree")))


@needs_symengine
def test_budget_stops_a_swelling_tree_in_symengine_too():
    logistic = models.get("logistic-map", n=10)
    with pytest.raises(SwellLimitError, match="differentiate"):
        symbolic.derivative(logistic.objective, logistic.theta0, mode="tree", engine="symengine",
                            budget=symbolic.Budget(derivative_nodes=20_000))


def test_missing_symengine_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "symengine", None)      # import symengine now fails
    assert symbolic.available_engines() == ("sympy",)
    f, theta = _problem("rosenbrock", {})
    for mode in symbolic.MODES:
        with pytest.raises(DiffLabError, match=r'pip install "difflab\[symengine\]"'):
            symbolic.gradient(f, theta, mode=mode, engine="symengine")
    assert np.all(np.isfinite(symbolic.gradient(f, theta, mode="cse")))


def test_unknown_engine_is_refused():
    f, theta = _problem("rosenbrock", {})
    with pytest.raises(DiffLabError, match="unknown engine 'jax'.*sympy, symengine"):
        symbolic.gradient(f, theta, engine="jax")
