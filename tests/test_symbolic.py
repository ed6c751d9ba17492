"""The symbolic differentiator: against closed forms, difflab.reference and SymPy's own diff."""

import math
import sys

import numpy as np
import pytest
import sympy

import difflab.numpy as dnp
from difflab import ad, models, reference, symbolic
from difflab.errors import DiffLabError, NonFiniteValueError, ShapeError, SwellLimitError
from difflab.models import BatchMean
from difflab.symbolic.graph import Graph, GraphProgram
from difflab.symbolic.program import Program
from difflab.symbolic.swell import measure

x = sympy.Symbol("x", real=True)


def test_logistic_map_table_matches_the_closed_forms():
    rows, stopped = symbolic.logistic_map_table(4)
    assert stopped is None and [r.n for r in rows] == [1, 2, 3, 4]
    expected = {2: 4 - 8 * x,
                3: 16 * (1 - 10 * x + 24 * x**2 - 16 * x**3),
                4: 64 * (1 - 42 * x + 504 * x**2 - 2640 * x**3 + 7040 * x**4 - 9984 * x**5
                         + 7168 * x**6 - 2048 * x**7)}
    for row in rows[1:]:
        assert sympy.expand(row.derivative - expected[row.n]) == 0
        assert sympy.expand(row.simplified - expected[row.n]) == 0
    assert rows[3].derivative.subs(x, sympy.Rational(1, 5)) == sympy.Rational(708288, 78125)
    assert rows[3].simplified.subs(x, sympy.Rational(1, 5)) == sympy.Rational(708288, 78125)


def test_logistic_map_tree_swells_exponentially_and_the_dag_linearly():
    rows, _ = symbolic.logistic_map_table(9)
    tree = [r.derivative_ops for r in rows[3:]]
    dag = [r.dag_ops for r in rows[3:]]
    assert all(b >= 2 * a for a, b in zip(tree, tree[1:])), tree      # at least doubling
    steps = np.diff(dag)
    assert np.all(steps == steps[0]) and steps[0] <= 10, dag          # a constant increment
    assert rows[-1].derivative_ops > 100 * rows[-1].dag_ops


def test_dag_derivative_program_equals_sympy_diff():
    y = sympy.Symbol("y", real=True)
    f = sympy.tanh(x * y + sympy.exp(x)) * x + sympy.log(1 + (x * y) ** 2) / (1 + y ** 2)
    graph = Graph((("theta", (x, y)),), (x, y))
    gradient = graph.sweep(graph.convert(f, {}), [graph.symbols[x], graph.symbols[y]])
    for g, v in zip(gradient, (x, y)):
        difference = graph.expression(g) - sympy.diff(f, v)
        point = {x: sympy.Rational(3, 7), y: sympy.Rational(-5, 3)}
        assert abs(difference.subs(point).evalf(50)) < 1e-45


def test_measure_counts_trees_without_writing_them_out():
    l = x
    for _ in range(6):
        l = 4 * l * (1 - l)
    tree = measure(Program((), [], [l]))
    assert tree.tree_ops == sympy.count_ops(l.xreplace({}), visual=False) + _subtractions(l)
    graph = Graph((("x", (x,)),), (x,))
    shared = GraphProgram(graph, (("x", (x,)),), [graph.convert(l, {})]).sizes()
    assert shared.tree_ops == tree.tree_ops        # binary product chains add nodes, not ops
    assert shared.ops < tree.ops and shared.temporaries > 0 == tree.temporaries


def _subtractions(expression):
    """count_ops writes a − b as one SUB where measure counts an Add and a negation (Mul by −1)."""
    return sum(1 for node in sympy.preorder_traversal(expression)
               if node.is_Mul and node.args[0] == -1)


SMOOTH = [("mlp", {}), ("residual-mlp", {}), ("mlp-classifier", {}), ("rnn", {}),
          ("logistic-regression", {}), ("linear-regression", {"l2": 0.1}), ("rosenbrock", {}),
          ("logistic-map", {})]


@pytest.mark.parametrize("name, overrides", SMOOTH)
def test_gradient_and_hessian_agree_with_the_reference(name, overrides):
    problem = models.get(name, **overrides)
    f, theta = problem.objective, problem.theta0
    g = symbolic.gradient(f, theta)
    assert reference.relative_error(g, reference.gradient(f, theta)) <= 1e-13
    H = symbolic.hessian(f, theta)
    assert np.array_equal(H, H.T)
    assert reference.relative_error(H, ad.hessian(f)(theta)) <= 1e-13


def test_hessian_against_reference_and_modes_agree(zoo_hessian):
    problem = models.get("mlp")
    f, theta = problem.objective, problem.theta0
    H = zoo_hessian("mlp")
    for mode in symbolic.MODES:
        assert reference.relative_error(symbolic.hessian(f, theta, mode=mode), H) <= 1e-13
    v = np.random.default_rng(0).normal(size=theta.size)
    assert reference.relative_error(symbolic.hvp(f, theta, v), reference.hvp(f, theta, v)) <= 1e-13


def test_jacobian_of_network_outputs():
    problem = models.get("mlp")
    J = symbolic.jacobian(problem.outputs, problem.theta0)
    assert J.shape == (problem.X.shape[0], problem.n_params)
    assert reference.relative_error(J, reference.jacobian(problem.outputs, problem.theta0)) <= 1e-13


def test_modes_give_the_same_gradient_and_the_mpmath_target_is_exact():
    problem = models.get("mlp")
    f, theta = problem.objective, problem.theta0
    ref = reference.gradient(f, theta)
    for mode in symbolic.MODES:
        assert reference.relative_error(symbolic.gradient(f, theta, mode=mode), ref) <= 1e-13
    precise = symbolic.derivative(f, theta).mpmath(theta, dps=50)
    assert reference.relative_error(precise, ref) <= 1e-40


def test_expression_size_does_not_grow_with_the_batch():
    sizes = []
    for batch in (4, 64):
        problem = models.get("mlp", batch=batch)
        d = symbolic.derivative(problem.objective, problem.theta0)
        sizes.append(d.sizes)
        assert reference.relative_error(d(problem.theta0), ad.grad(problem.objective)(
            problem.theta0)) <= 1e-13
    assert sizes[0] == sizes[1]


def test_plain_closure_is_traced_whole_and_its_size_grows_with_data():
    sizes = []
    for batch in (4, 8):
        problem = models.get("mlp", batch=batch)
        closure = lambda t, p=problem: p.objective(t)        # hides the BatchMean structure
        d = symbolic.derivative(closure, problem.theta0)
        assert np.allclose(d(problem.theta0), symbolic.gradient(problem.objective,
                                                                  problem.theta0), atol=1e-15)
        sizes.append(d.sizes.ops)
    assert sizes[1] > 1.5 * sizes[0]


def test_a_derivative_is_built_once_and_held_by_its_caller():
    """The Derivative evaluates at new θ without building again; a second derivative() call
    builds afresh: nothing is cached behind the caller's back (issue 16)."""
    problem = models.get("mlp")
    first = symbolic.derivative(problem.objective, problem.theta0)
    built = first.compiled
    for theta in (problem.theta0 + 1, problem.theta0 - 0.5):
        assert np.allclose(first(theta), ad.grad(problem.objective)(theta), rtol=1e-12)
        assert first.compiled is built
    assert symbolic.derivative(problem.objective, problem.theta0).compiled is not built


def test_flat_sum_of_ten_thousand_terms_compiles():
    n = 10_000
    theta = np.linspace(-1, 1, n)
    f = lambda t: dnp.sum(dnp.square(t))
    assert abs(symbolic.derivative(f, theta, "value")(theta) - math.fsum(theta * theta)) <= 1e-13 * n
    assert np.array_equal(symbolic.gradient(f, theta), 2 * theta)


@pytest.mark.slow
def test_flat_sum_with_coefficients():
    # dag mode only: SymPy's diff of an n-term sum per entry is O(n²), past 10 minutes here
    n = 10_000                       # SymPy's products with real symbols: about 15 s of setup
    c = np.linspace(0.5, 1.5, n)
    f = lambda t: dnp.sum(c * t * t)
    theta = np.linspace(-1, 1, n)
    assert np.allclose(symbolic.gradient(f, theta), 2 * c * theta, rtol=1e-15, atol=0)


def test_budget_stops_a_swelling_model():
    problem = models.get("mlp", widths=(10, 20, 20, 1))
    with pytest.raises(SwellLimitError, match="symbolic trace") as caught:
        symbolic.derivative(problem.objective, problem.theta0,
                            budget=symbolic.Budget(nodes=300))
    assert caught.value.stage == "trace" and caught.value.reached > 300
    tree_budget = symbolic.Budget(derivative_nodes=20_000)
    logistic = models.get("logistic-map", n=10)
    with pytest.raises(SwellLimitError, match="differentiate"):
        symbolic.derivative(logistic.objective, logistic.theta0, mode="tree",
                            budget=tree_budget)
    d = symbolic.derivative(logistic.objective, logistic.theta0, budget=tree_budget)
    # l₁₀′ amplifies rounding by about 2¹⁰, so the exactness of the derivative is checked in
    # its mpmath compilation
    assert reference.relative_error(d.mpmath(logistic.theta0), reference.gradient(
        logistic.objective, logistic.theta0)) <= 1e-40


def test_time_budget_interrupts_a_stage():
    logistic = models.get("logistic-map", n=30)
    with pytest.raises(SwellLimitError, match="seconds"):
        symbolic.derivative(logistic.objective, logistic.theta0, "hessian", mode="cse",
                            budget=symbolic.Budget(seconds=0.5, derivative_nodes=None))


def test_bad_input_is_refused():
    problem = models.get("mlp")
    compiled = symbolic.derivative(problem.objective, problem.theta0)
    with pytest.raises(ShapeError, match="theta has shape"):
        compiled(problem.theta0[:-1])
    with pytest.raises(ShapeError, match="scalar"):
        symbolic.gradient(problem.outputs, problem.theta0)
    with pytest.raises(DiffLabError, match="unknown mode"):
        symbolic.gradient(problem.objective, problem.theta0, mode="fast")
    with pytest.raises(NonFiniteValueError, match="not finite"):
        symbolic.gradient(lambda t: dnp.sum(dnp.sqrt(t)), np.array([1.0, 0.0]))


def test_batch_mean_evaluates_like_the_closure():
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(5, 3)), rng.normal(size=(5, 1))
    loss = lambda t, X, Y: dnp.sum(dnp.square(dnp.matmul(X, dnp.reshape(t, (3, 1))) - Y), axis=-1)
    f = BatchMean(loss, X, Y, penalty=lambda t: dnp.sum(t * t) * 0.05)
    theta = rng.normal(size=3)
    exact = 2 * X.T @ (X @ theta - Y[:, 0]) / 5 + 0.1 * theta
    assert np.allclose(symbolic.gradient(f, theta), exact, rtol=1e-14, atol=1e-15)
    assert np.allclose(symbolic.hessian(f, theta), 2 * X.T @ X / 5 + 0.1 * np.eye(3),
                       rtol=1e-14, atol=1e-15)


def test_relu_network_with_two_hidden_layers_in_every_mode():
    # SymPy turns the second layer's condition relu(u)·w + b > 0 into an ITE
    problem = models.get("mlp", activation="relu", widths=(2, 3, 3, 1))
    f, theta = problem.objective, problem.theta0
    ref = reference.gradient(f, theta)
    for mode in symbolic.MODES:
        assert reference.relative_error(symbolic.gradient(f, theta, mode=mode), ref) <= 1e-13
    # the Hessian in dag mode only: SymPy's diff of the Piecewise tree takes ~10 s here
    assert reference.relative_error(symbolic.hessian(f, theta), ad.hessian(f)(theta)) <= 1e-13
    precise = symbolic.derivative(f, theta).mpmath(theta)
    assert reference.relative_error(precise, ref) <= 1e-40


_COUNT_CALLS = """
import sys
from sympy.core.cache import clear_cache
from difflab import models, symbolic
from difflab.symbolic.trace import trace

def counted(run):
    count = [0]
    def hook(frame, event, arg):
        if event == "call" and frame.f_globals.get("__name__", "").startswith("sympy"):
            count[0] += 1
    sys.setprofile(hook)
    try:
        run()
    finally:
        sys.setprofile(None)
    return count[0]

def calls(depth):
    problem = models.get("mlp", widths=(2,) + (8,) * depth + (1,), batch=4)
    clear_cache()
    traced = counted(lambda: trace(problem.objective, problem.theta0, "test", True, named=True))
    clear_cache()
    built = counted(lambda: symbolic.derivative(problem.objective, problem.theta0, "gradient"))
    return traced, built

calls(2)                                                   # SymPy's first-use work
print(*[n for d in (2, 4, 8) for n in calls(d)])
"""


def test_tracing_and_building_are_linear_in_depth():
    """Issue 17: SymPy's automatic evaluation on large arguments (tanh's assumption queries
    expand their argument) made the trace grow about 10× per layer at depth 5 to 7 (0.3 s to
    5.4 s). With every primitive result named, SymPy only meets symbols: the work per layer is
    constant, so 4 more layers cost twice what 2 more do. The whole gradient build (share,
    differentiate, compile on the dag mode's own nodes) calls SymPy only per template and
    constant, so it is linear too. Counted in calls into SymPy (not seconds), in a fresh
    process so that no earlier test's SymPy state takes part."""
    import subprocess
    out = subprocess.run([sys.executable, "-c", _COUNT_CALLS], capture_output=True,
                         text=True, timeout=300, check=True).stdout
    counts = list(map(int, out.split()))
    for two, four, eight in (counts[0::2], counts[1::2]):
        assert eight - four <= 2.2 * (four - two), counts


def test_dag_program_grows_by_the_same_nodes_per_layer():
    """The dag gradient of a width-8 MLP: every layer adds the same operations (exactly),
    since each hidden layer is the same computation and nothing is shared across layers."""
    ops = []
    for depth in (2, 3, 4, 5):
        problem = models.get("mlp", widths=(2,) + (8,) * depth + (1,), batch=4)
        ops.append(symbolic.derivative(problem.objective, problem.theta0).sizes.ops)
    steps = np.diff(ops)
    assert np.all(steps == steps[0]) and steps[0] > 0, ops


def test_a_recording_belongs_to_its_thread():
    """The tracer's naming of primitive results is per thread: a trace in a worker thread
    (the budget tests run one) must not name another thread's results, nor leave its recorder
    behind (a global one leaked between interleaved traces and slowed every later call)."""
    import threading
    seen = []
    a = np.array([sympy.Symbol("a")], dtype=object)
    with dnp.recording(lambda result: seen.append(result) or result):
        worker = threading.Thread(target=lambda: dnp.exp(a))
        worker.start()
        worker.join()
        assert seen == []
        dnp.exp(a)
        assert len(seen) == 1
    dnp.exp(a)
    assert len(seen) == 1
