"""Newton's method, its trust-region, Hessian-free and least-squares variants (issue 7).

Every check is against a truth the optimizer does not compute: closed-form minimizers
(Rosenbrock's (1, …, 1), Powell's 0, (0, ±√2) for the saddle function), Rosenbrock's
Hessian at (1, 1) by hand, the closed-form linear rate 2/3 of Newton on Powell's singular
function, the mpmath reference derivatives at the MLP's minimizer, the optimality
conditions of the trust-region subproblem (N&W Thm. 4.1) and a brute-force search of its
boundary, and sequences whose order is known by construction.
"""

import math
import re

import numpy as np
import pytest

import difflab
import difflab.numpy as dnp
from difflab.errors import DiffLabError, NonFiniteValueError, ShapeError
from difflab.interface import Differentiator
from difflab.models import get
from difflab.models.functions import rosenbrock
from difflab.optim import (OptimizationError, estimated_order, gauss_newton, newton,
                           newton_cg)
from difflab.optim.newton import (cholesky_modified_step, saddle_free_step,
                                  smallest_eigenpair)
from difflab.optim.trust_region import exact_step, steihaug_step

START = np.array([-1.2, 1.0])
ROSENBROCK_HESSIAN_AT_MINIMUM = np.array([[802.0, -400.0], [-400.0, 200.0]])  # by hand
# λ_min of that matrix: (1002 − √(1002² − 4·(802·200 − 400²)))/2.
ROSENBROCK_LAMBDA_MIN = (1002 - math.sqrt(1002 ** 2 - 4 * 400)) / 2


def powell(x):
    """Powell's singular function; minimum 0 at x = 0, where its Hessian has rank 2."""
    return (dnp.square(x[0] + 10 * x[1]) + 5 * dnp.square(x[2] - x[3])
            + (x[1] - 2 * x[2]) ** 4 + 10 * (x[0] - x[3]) ** 4)


def saddle(z):
    """x² − y² + y⁴/4: a saddle at 0 with λ = (2, −2); minima (0, ±√2) with f = −1."""
    return dnp.square(z[0]) - dnp.square(z[1]) + z[1] ** 4 / 4


@pytest.fixture(scope="module")
def mlp():
    """A 1-3-1 tanh MLP (10 parameters) with ridge 10⁻², so its minimizer is isolated."""
    return get("mlp", widths=(1, 3, 1), batch=8, l2=1e-2)


# Acceptance: Rosenbrock and Powell.

def test_rosenbrock_line_search_converges_quadratically():
    result = newton(rosenbrock, START, "ad")
    assert result.status == "gradient-norm" and result.converged
    assert result.grad_norm <= 1e-10
    assert result.nit <= 28
    np.testing.assert_allclose(result.x, [1.0, 1.0], rtol=0, atol=1e-10)
    assert result.min_eigenvalue == pytest.approx(ROSENBROCK_LAMBDA_MIN, rel=1e-10)
    assert estimated_order(result.trace).order >= 1.8
    assert estimated_order(result.trace, minimizer=[1.0, 1.0]).order >= 1.8


def test_powell_singular_converges_linearly_with_rate_two_thirds():
    result = newton(powell, [3.0, -1.0, 0.0, 1.0], "ad")
    assert result.converged
    assert np.linalg.norm(result.x) <= 1e-3
    by_error = estimated_order(result.trace, minimizer=np.zeros(4))
    assert by_error.order == pytest.approx(1.0, abs=0.05)
    assert by_error.rate == pytest.approx(2 / 3, abs=0.01)
    # g is cubic in the error along the Hessian's null space, so ‖g‖ shrinks by (2/3)³.
    by_gradient = estimated_order(result.trace)
    assert by_gradient.order == pytest.approx(1.0, abs=0.05)
    assert by_gradient.rate == pytest.approx(8 / 27, abs=0.01)


def test_the_estimator_tells_quadratic_from_linear():
    quadratic = estimated_order(newton(rosenbrock, START).trace).order
    linear = estimated_order(newton(powell, [3.0, -1.0, 0.0, 1.0]).trace).order
    assert quadratic - linear > 0.7


@pytest.mark.parametrize("order, constant", [(1.0, 0.5), (2.0, 1.0), ((1 + 5 ** 0.5) / 2, 1.0),
                                             (3.0, 4.0)])
def test_estimated_order_of_sequences_built_with_that_order(order, constant):
    errors = [0.1]
    while constant * errors[-1] ** order > 1e-15:
        errors.append(constant * errors[-1] ** order)
    found = estimated_order(errors + [1e-17, 2e-17], floor=1e-16)
    assert found.order == pytest.approx(order, rel=1e-9)
    assert found.constant == pytest.approx(constant, rel=1e-6)
    assert found.errors.size == len(errors)


def test_estimated_order_needs_three_values_above_round_off():
    with pytest.raises(OptimizationError, match="at least three"):
        estimated_order([1e-3, 1e-6, 1e-17], floor=1e-15)


# Acceptance: the Hessian from ad, symbolic or fd-central.

@pytest.mark.parametrize("problem", ["rosenbrock", "mlp"])
def test_same_minimizer_whichever_differentiator_gives_the_hessian(problem, mlp):
    f, x0 = (rosenbrock, START) if problem == "rosenbrock" else (mlp.objective, mlp.theta0)
    runs = {name: newton(f, x0, "ad", hessian_differentiator=name)
            for name in ("ad", "symbolic", "fd-central")}
    for name, run in runs.items():
        assert run.converged, (name, run)
        assert run.hessian_differentiator == name
        np.testing.assert_allclose(run.x, runs["ad"].x, rtol=0, atol=1e-8)
    # The traces show the Hessian's precision: the symbolic one follows AD's to rounding;
    # the finite-difference one departs at its tolerance and drifts along the path.
    norms = {name: np.array([it.grad_norm for it in run.trace]) for name, run in runs.items()}
    steps = min(map(len, norms.values())) - 1
    departure = {name: np.abs(norms[name][:steps] / norms["ad"][:steps] - 1)
                 for name in ("symbolic", "fd-central")}
    assert departure["symbolic"].max() <= 1e-6
    assert departure["fd-central"][1] <= difflab.differentiator("fd-central").tolerance("hessian")
    assert departure["fd-central"].max() > 1e-6
    assert runs["fd-central"].evaluations.f_in_derivatives > 0
    assert runs["ad"].evaluations.f_in_derivatives == 0


def test_mlp_minimizer_against_the_reference_and_every_differentiator(mlp):
    runs = {name: newton(mlp.objective, mlp.theta0, name)
            for name in ("ad", "symbolic", "fd-central")}
    for name, run in runs.items():
        assert run.converged, (name, run)
        np.testing.assert_allclose(run.x, runs["ad"].x, rtol=0, atol=1e-8)
    reference = difflab.differentiator("reference")
    assert np.linalg.norm(reference.gradient(mlp.objective, runs["ad"].x)) <= 1e-10
    lowest = np.linalg.eigvalsh(reference.hessian(mlp.objective, runs["ad"].x))[0]
    assert lowest > 1e-3
    assert runs["ad"].min_eigenvalue == pytest.approx(lowest, rel=1e-8)


def test_a_finite_difference_gradient_moves_the_minimizer_by_its_own_error():
    """Newton stops where the fd gradient vanishes: x* − H⁻¹·g_fd(x*) to first order."""
    result = newton(rosenbrock, START, "fd-central")
    assert result.converged
    star = np.ones(2)
    g_fd = difflab.differentiator("fd-central").gradient(rosenbrock, star)
    predicted = -np.linalg.solve(ROSENBROCK_HESSIAN_AT_MINIMUM, g_fd)
    # since fd steps adapt to their least error, g_fd(x*) is ~1e-14 and so is the shift:
    # the relation is checked to the rounding of x near 1
    np.testing.assert_allclose(result.x - star, predicted, rtol=1e-4, atol=1e-13)


# Acceptance: a start next to a saddle.

SADDLE_METHODS = {
    "line-search cholesky": lambda start, **kw: newton(saddle, start, **kw),
    "line-search saddle-free": lambda start, **kw: newton(saddle, start,
                                                          modification="saddle-free", **kw),
    "trust-region exact": lambda start, **kw: newton(saddle, start,
                                                     globalization="trust-region", **kw),
    "trust-region steihaug": lambda start, **kw: newton(
        saddle, start, globalization="trust-region", subproblem="steihaug", **kw),
    "newton-cg": lambda start, **kw: newton_cg(saddle, start, **kw),
}


@pytest.mark.parametrize("escape", [True, False])
@pytest.mark.parametrize("start", [[0.5, 0.0], [0.5, 1e-12], [0.5, 1e-6], [0.0, 0.0]])
@pytest.mark.parametrize("method", list(SADDLE_METHODS))
def test_next_to_a_saddle_ends_at_a_minimum_or_reports_saddle(method, start, escape):
    result = SADDLE_METHODS[method](start, escape_saddles=escape)
    if result.converged:
        np.testing.assert_allclose(np.abs(result.x), [0.0, math.sqrt(2)], atol=1e-8)
        assert result.fun == pytest.approx(-1.0, rel=1e-12)
        assert result.min_eigenvalue == pytest.approx(2.0, rel=1e-8)
    else:
        assert result.status == "saddle"
        assert np.linalg.norm(result.x) < 1e-5
        assert result.min_eigenvalue == pytest.approx(-2.0, rel=1e-6)


@pytest.mark.parametrize("method", list(SADDLE_METHODS))
def test_on_the_saddle_itself_escape_reaches_the_minimum(method):
    result = SADDLE_METHODS[method]([0.0, 0.0])
    assert result.converged and abs(result.x[1]) == pytest.approx(math.sqrt(2), rel=1e-10)
    assert any(it.direction == "negative-curvature" for it in result.trace)
    stuck = SADDLE_METHODS[method]([0.0, 0.0], escape_saddles=False)
    assert stuck.status == "saddle" and not stuck.converged


# Acceptance: the other methods converge on Rosenbrock.

@pytest.mark.parametrize("n", [2, 4])
@pytest.mark.parametrize("run", [
    lambda f, x0: newton(f, x0, globalization="trust-region", subproblem="exact"),
    lambda f, x0: newton(f, x0, globalization="trust-region", subproblem="steihaug"),
    lambda f, x0: newton(f, x0, modification="saddle-free"),
    lambda f, x0: newton_cg(f, x0),
], ids=["trust-region-exact", "trust-region-steihaug", "saddle-free", "newton-cg"])
def test_second_order_methods_converge_on_rosenbrock(run, n):
    problem = get("rosenbrock", n=n, jitter=0.0 if n == 2 else 0.1)
    result = run(problem.objective, problem.theta0)
    assert result.converged, result
    np.testing.assert_allclose(result.x, np.ones(n), rtol=0, atol=1e-8)
    assert result.min_eigenvalue > 0


def test_trust_region_exact_converges_quadratically():
    result = newton(rosenbrock, START, globalization="trust-region")
    assert result.grad_norm <= 1e-10 and estimated_order(result.trace).order >= 1.8
    assert all(it.radius > 0 for it in result.trace[:-1])
    assert not all(it.accepted for it in result.trace[:-1])   # the valley rejects some steps


@pytest.mark.parametrize("damping", [None, "levenberg-marquardt"])
def test_gauss_newton_and_levenberg_marquardt_converge_on_rosenbrock(damping):
    problem = get("rosenbrock", n=2, jitter=0.0)
    np.testing.assert_array_equal(problem.theta0, START)
    result = gauss_newton(problem.residuals, problem.theta0, damping=damping)
    assert result.converged, result
    np.testing.assert_allclose(result.x, [1.0, 1.0], rtol=0, atol=1e-8)
    assert result.min_eigenvalue == pytest.approx(ROSENBROCK_LAMBDA_MIN, rel=1e-6)
    assert result.evaluations.jacobian >= result.nit * (damping is None)
    assert result.evaluations.gradient == 0      # g = 2Jᵀr from the Jacobian alone


def test_levenberg_marquardt_on_four_dimensional_rosenbrock():
    problem = get("rosenbrock", n=4)
    result = gauss_newton(problem.residuals, problem.theta0, damping="levenberg-marquardt")
    assert result.converged
    np.testing.assert_allclose(result.x, np.ones(4), rtol=0, atol=1e-8)
    assert {it.damping > 0 for it in result.trace[:-1]} == {True}


# The steps, each against its defining conditions.

def model(g, H, p):
    return g @ p + 0.5 * p @ H @ p


@pytest.mark.parametrize("H, g, radius", [
    (np.diag([1.0, 3.0]), np.array([0.1, -0.2]), 1.0),            # interior
    (np.diag([1.0, 3.0]), np.array([3.0, -2.0]), 0.5),            # boundary, convex
    (np.array([[1.0, 2.0], [2.0, -1.0]]), np.array([0.3, 0.2]), 0.7),   # indefinite
    (np.diag([-1.0, 2.0]), np.array([0.0, 1.0]), 2.0),            # hard case
    (np.diag([-2.0, 2.0]), np.zeros(2), 0.3),                     # saddle, g = 0
])
def test_exact_step_meets_the_optimality_conditions(H, g, radius):
    p, lam = exact_step(*np.linalg.eigh(H), g, radius)
    # N&W Thm. 4.1: (H + λI)p = −g, H + λI ⪰ 0, λ ≥ 0, λ(Δ − ‖p‖) = 0, ‖p‖ ≤ Δ.
    np.testing.assert_allclose((H + lam * np.eye(2)) @ p, -g, atol=1e-9)
    assert np.linalg.eigvalsh(H + lam * np.eye(2))[0] >= -1e-12 and lam >= 0
    assert np.linalg.norm(p) <= radius * (1 + 1e-9)
    assert lam * (radius - np.linalg.norm(p)) == pytest.approx(0, abs=1e-8)
    angles = np.linspace(0, 2 * np.pi, 20001)
    circle = radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    brute = np.min(circle @ g + 0.5 * np.einsum("ij,jk,ik->i", circle, H, circle))
    assert model(g, H, p) <= min(brute, 0.0) + 1e-8


def test_exact_step_hard_case_in_closed_form():
    p, lam = exact_step(*np.linalg.eigh(np.diag([-1.0, 2.0])), np.array([0.0, 1.0]), 2.0)
    assert lam == pytest.approx(1.0)
    np.testing.assert_allclose(np.abs(p), [math.sqrt(4 - 1 / 9), 1 / 3])


def test_steihaug_step():
    H = np.array([[4.0, 1.0], [1.0, 3.0]])
    g = np.array([1.0, 2.0])
    p, _, exit = steihaug_step(lambda v: H @ v, g, 10.0, 1e-12, 10)
    assert exit == "converged"
    np.testing.assert_allclose(p, -np.linalg.solve(H, g), rtol=1e-10)
    p, _, exit = steihaug_step(lambda v: H @ v, g, 0.1, 1e-12, 10)
    assert exit == "boundary" and np.linalg.norm(p) == pytest.approx(0.1)
    indefinite = np.diag([1.0, -1.0])
    p, _, exit = steihaug_step(lambda v: indefinite @ v, np.array([0.0, 1.0]), 0.5, 1e-12, 10)
    assert exit == "negative-curvature" and np.linalg.norm(p) == pytest.approx(0.5)
    assert model(np.array([0.0, 1.0]), indefinite, p) < 0


def test_cholesky_modification_and_saddle_free_step():
    H = np.array([[2.0, 0.5], [0.5, 1.0]])
    g = np.array([1.0, -1.0])
    p, tau = cholesky_modified_step(H, g)
    assert tau == 0 and np.allclose(p, -np.linalg.solve(H, g))
    indefinite = np.array([[1.0, 2.0], [2.0, -3.0]])
    p, tau = cholesky_modified_step(indefinite, g)
    lowest = np.linalg.eigvalsh(indefinite)[0]
    assert tau > -lowest
    np.testing.assert_allclose((indefinite + tau * np.eye(2)) @ p, -g, atol=1e-12)
    assert g @ p < 0
    values, vectors = np.linalg.eigh(indefinite)
    p, tau = saddle_free_step(values, vectors, g)
    absolute = vectors @ np.diag(np.abs(values)) @ vectors.T
    np.testing.assert_allclose(absolute @ p, -g, atol=1e-12)
    assert tau == pytest.approx(2 * abs(lowest))


def test_lanczos_smallest_eigenpair():
    rng = np.random.default_rng(3)
    A = rng.standard_normal((6, 6))
    A = A + A.T
    lowest, norm, q = smallest_eigenpair(lambda v: A @ v, 6)
    values = np.linalg.eigvalsh(A)
    assert lowest == pytest.approx(values[0], rel=1e-10)
    assert norm == pytest.approx(np.max(np.abs(values)), rel=1e-10)
    np.testing.assert_allclose(A @ q, lowest * q, atol=1e-9)


# Stopping: each test its own status, and the trace.

def test_each_tolerance_has_its_own_status():
    shifted = (lambda x: rosenbrock(x) + 1)       # minimum f = 1, so relative f changes vanish
    cases = {
        "relative-gradient-norm": newton(shifted, START, gtol=0, rtol=1e-3),
        "step-size": newton(rosenbrock, START, xtol=1e-2),
        "f-change": newton(shifted, START, ftol=1e-6),
        "iteration-limit": newton(rosenbrock, START, maxiter=3),
    }
    for status, result in cases.items():
        assert result.status == status, (status, result)
    relative = cases["relative-gradient-norm"]
    assert relative.grad_norm * max(1, np.linalg.norm(relative.x)) <= 1e-3 * relative.fun
    assert cases["iteration-limit"].nit == 3 and not cases["iteration-limit"].converged
    # step-size: the full Newton step from the last point, not the last step taken, moves
    # every coordinate by at most 1 % of itself; from the point before it did not.
    stepped = cases["step-size"]
    for it, small in ((stepped.trace[-1], True), (stepped.trace[-2], False)):
        H = difflab.differentiator("ad").hessian(rosenbrock, it.x)
        newton_step = np.linalg.solve(H, -difflab.differentiator("ad").gradient(rosenbrock, it.x))
        assert np.all(np.abs(newton_step) <= 1e-2 * np.abs(it.x)) == small


class Upside(Differentiator):
    """AD with the gradient's sign flipped: a gradient that disagrees with f."""

    def _prepare(self, quantity, f, theta, estimate):
        ad = difflab.differentiator("ad")

        def evaluate(theta, v):
            return difflab.interface.Measurement(
                ad.hessian(f, theta) if quantity == "hessian" else -ad.gradient(f, theta))
        return evaluate, None


def test_a_gradient_that_disagrees_with_f_ends_in_line_search_failure():
    result = newton(rosenbrock, START, Upside("upside-down"))
    assert result.status == "line-search-failure" and not result.converged
    assert result.nit == 0


def test_trace_records_every_iteration():
    seen = []
    result = newton(rosenbrock, START, globalization="trust-region", callback=seen.append)
    assert seen == result.trace and len(result.trace) == result.nit + 1
    assert [it.k for it in result.trace] == list(range(result.nit + 1))
    seconds = [it.seconds for it in result.trace]
    assert seconds == sorted(seconds)
    hessians = [it.evaluations.hessian for it in result.trace]
    assert hessians == sorted(hessians) and hessians[-1] == result.evaluations.hessian
    assert result.evaluations.hessian == 1 + sum(it.accepted for it in result.trace[:-1])
    for it in result.trace[:-1]:
        assert it.radius > 0 and it.min_eigenvalue is not None and it.step_norm > 0
    line = newton(rosenbrock, START)
    for it in line.trace[:-1]:
        assert 0 < it.step_length <= 1 and it.damping >= 0
    assert line.trace[-1].step_length is None


# Errors.

@pytest.mark.parametrize("call, error, words", [
    (lambda: newton(rosenbrock, np.ones((2, 2))), ShapeError, "difflab.ravel"),
    (lambda: newton(rosenbrock, [np.nan, 1.0]), NonFiniteValueError, "indices [0]"),
    (lambda: newton(rosenbrock, [1 + 1j, 1.0]), OptimizationError, "complex"),
    (lambda: newton(rosenbrock, ["a", 1.0]), OptimizationError, "real numbers"),
    (lambda: newton(lambda x: dnp.log(x[0] - 5), START), NonFiniteValueError, "f(x0)"),
    (lambda: newton(lambda x: x * 2, START), ShapeError, "gauss_newton"),
    (lambda: newton(rosenbrock, START, globalization="dogleg"), OptimizationError, "trust-region"),
    (lambda: newton(rosenbrock, START, modification="eigen"), OptimizationError, "saddle-free"),
    (lambda: newton(rosenbrock, START, globalization="trust-region", subproblem="cauchy"),
     OptimizationError, "steihaug"),
    (lambda: newton(rosenbrock, START, radius=-1.0), OptimizationError, "radius"),
    (lambda: newton(rosenbrock, START, gtol=-1), OptimizationError, "gtol"),
    (lambda: newton(rosenbrock, START, maxiter=2.5), OptimizationError, "maxiter"),
    (lambda: newton(rosenbrock, START, "bogus"), DiffLabError, "fd-central"),
    (lambda: gauss_newton(rosenbrock, START), ShapeError, "1-D"),
    (lambda: gauss_newton(lambda x: dnp.log(x - 5), START), NonFiniteValueError, "residuals"),
    (lambda: gauss_newton(lambda x: x, START, damping="dogleg"), OptimizationError,
     "levenberg-marquardt"),
])
def test_bad_input_raises_a_clear_error(call, error, words):
    with np.errstate(invalid="ignore"):     # log of a negative number is the point here
        with pytest.raises(error, match=re.escape(words)) as caught:
            call()
    assert isinstance(caught.value, DiffLabError)


def test_a_nonfinite_derivative_names_the_differentiator():
    def f(x):
        return dnp.sum(dnp.sqrt(x))          # ∇f = 1/(2√x) is infinite at 0
    with np.errstate(divide="ignore"):
        with pytest.raises(NonFiniteValueError, match="'ad'"):
            newton(f, [0.0, 1.0])


# Found in review: each of these once ended "converged" away from a minimizer, or "saddle"
# at one.

def _ill_conditioned_saddle(z):
    """1e8·z₀² − z₁² + z₁⁴/4: a saddle at 0 (λ = 2e8 and −2), minima at (0, ±√2), f = −1."""
    return 1e8 * dnp.square(z[0]) - dnp.square(z[1]) + z[1] ** 4 / 4


@pytest.mark.parametrize("run", [
    lambda f, x: newton(f, x), lambda f, x: newton(f, x, modification="saddle-free"),
    lambda f, x: newton(f, x, globalization="trust-region", subproblem="steihaug"),
    lambda f, x: newton_cg(f, x)])
def test_an_ill_conditioned_saddle_is_escaped(run):
    result = run(_ill_conditioned_saddle, np.array([0.5, 0.0]))
    assert result.converged and result.fun == pytest.approx(-1.0, abs=1e-12)
    assert abs(result.x[1]) == pytest.approx(np.sqrt(2), abs=1e-8)
    stuck = newton(_ill_conditioned_saddle, np.array([0.5, 0.0]), escape_saddles=False)
    assert stuck.status == "saddle" and not stuck.converged


def test_the_relative_gradient_test_is_scale_free():
    """cosh(x) from 40 (f ≈ 1e17): ‖g‖ falling 1e14-fold from the start is not a minimum."""
    result = newton(lambda x: dnp.exp(x[0]) + dnp.exp(-x[0]), np.array([40.0]))
    assert result.converged and abs(result.x[0]) < 1e-8


def test_a_collapsed_trust_region_or_a_jump_in_f_is_not_convergence():
    capped = newton(rosenbrock, START, globalization="trust-region", radius=1e-20)
    assert not (capped.converged and capped.grad_norm > 1e-6)
    jump = newton(lambda x: rosenbrock(x) + 0.5 * (dnp.sign(x[0]) + 1), START)
    assert not jump.converged or jump.grad_norm <= 1e-8


def test_a_degenerate_minimum_is_not_a_saddle():
    """x⁴ + y⁴: λ_min = 0 at the minimizer; noisy Hessians give tiny negative eigenvalues."""
    result = newton_cg(lambda x: x[0] ** 4 + x[1] ** 4 + 1e3, np.array([1.0, -2.0]),
                       hessian_differentiator="fd-richardson")
    assert result.status != "saddle" and np.linalg.norm(result.x) < 1e-2
