"""``difflab optimize``: one zoo model, one optimizer, derivatives from one differentiator.

``optimize(model, method, differentiator)`` runs Newton's family (``newton``,
``saddle-free``, ``trust-region``, ``steihaug``, ``newton-cg``, ``gauss-newton``,
``levenberg-marquardt``) or a first-order optimizer (``sgd``, ``adam``, …) and returns a
``Summary``: where it stopped, why, and what it cost. ``format_summaries`` prints them as one
table, so runs with different methods or differentiators read side by side.
"""

import time
from dataclasses import dataclass, field

import numpy as np

from .. import interface, models
from ..errors import DiffLabError
from .first_order import OPTIMIZERS
from .newton import gauss_newton, newton, newton_cg
from .training import train

SECOND_ORDER = {
    "newton": dict(globalization="line-search", modification="cholesky"),
    "saddle-free": dict(globalization="line-search", modification="saddle-free"),
    "trust-region": dict(globalization="trust-region", subproblem="exact"),
    "steihaug": dict(globalization="trust-region", subproblem="steihaug"),
    "newton-cg": {},
    "gauss-newton": dict(damping=None),
    "levenberg-marquardt": dict(damping="levenberg-marquardt"),
}
METHODS = tuple(SECOND_ORDER) + tuple(OPTIMIZERS)
DEFAULT_STEPS = {"second": 100, "first": 500}


@dataclass
class Summary:
    """One run: the start and end values, why it stopped, its cost, and a short trace.

    The calls of the differentiator are counted by what they computed: gradients,
    Jacobians (Gauss-Newton), Hessians and Hessian-vector products (newton-cg, steihaug).
    ``trace`` holds (iteration, f, ‖g‖, seconds) per iteration (per step for first-order
    methods, whose f is the loss on that step's batch). A run that raised has status
    "failed", its ``error`` ("SwellLimitError: …") and no numbers."""

    model: str
    method: str
    differentiator: str
    status: str
    iterations: int
    f_start: float
    f_final: float
    grad_norm: float
    seconds: float
    gradient_calls: int
    hessian_calls: int
    min_eigenvalue: float | None = None
    trace: list = field(default_factory=list, repr=False)
    converged: bool | None = None          # Newton's family only
    jacobian_calls: int = 0
    hvp_calls: int = 0
    error: str | None = None

    @classmethod
    def failed(cls, model, method, differentiator, error, seconds=0.0):
        """The row of a run that raised ``error``: not converged, and why."""
        nan = float("nan")
        return cls(model, method, differentiator, "failed", 0, nan, nan, nan, seconds, 0, 0,
                   converged=False, error=f"{type(error).__name__}: {error}")


def check(model, methods, differentiators):
    """The zoo problem, once every name is known and every method can run on it; else one
    DiffLabError naming every problem, before anything has run."""
    problem = models.get(model) if isinstance(model, str) else model
    registered = interface.differentiators()
    unknown_methods = [m for m in methods if m not in METHODS]
    unknown_names = [d for d in differentiators
                     if not isinstance(d, interface.Differentiator) and d not in registered]
    least_squares = [m for m in methods if m in ("gauss-newton", "levenberg-marquardt")]
    problems = []
    if unknown_methods:
        problems.append(f"unknown method(s) {', '.join(map(repr, unknown_methods))}; choose "
                        f"from {', '.join(METHODS)}")
    if unknown_names:
        problems.append(f"unknown differentiator(s) {', '.join(map(repr, unknown_names))}; "
                        f"choose from {', '.join(registered)}")
    if least_squares and problem.residuals is None:
        problems.append(f"{' and '.join(least_squares)} need(s) a least-squares model (one "
                        f"with residuals); {problem.name} has none. Try rosenbrock, "
                        "linear-regression, or an mse network")
    if problems:
        raise DiffLabError("optimize: " + "\n  ".join(problems))
    return problem


def optimize(model="mlp", method="newton", differentiator="ad", *, steps=None, lr=None,
             batch_size=None, seed=0, callback=None):
    """Minimize zoo ``model``'s objective from its θ₀; a Summary.

    ``steps``: the iteration limit (Newton's family, default 100) or number of steps
    (first-order, default 500); ``lr`` and ``batch_size`` apply to first-order methods.
    ``callback(k, f, grad_norm)`` sees each Newton iteration as it is made.
    """
    problem = check(model, [method], [differentiator])
    if method in SECOND_ORDER:
        return _second_order(problem, method, differentiator, steps, callback)
    return _first_order(problem, method, differentiator, steps, lr, batch_size, seed)


def _second_order(problem, method, differentiator, steps, callback):
    options = dict(SECOND_ORDER[method],
                   maxiter=DEFAULT_STEPS["second"] if steps is None else steps)
    if callback is not None:
        options["callback"] = lambda it: callback(it.k, it.f, it.grad_norm)
    start = time.perf_counter()
    if method in ("gauss-newton", "levenberg-marquardt"):
        result = gauss_newton(problem.residuals, problem.theta0, differentiator, **options)
    elif method == "newton-cg":
        result = newton_cg(problem.objective, problem.theta0, differentiator, **options)
    else:
        result = newton(problem.objective, problem.theta0, differentiator, **options)
    seconds = time.perf_counter() - start
    trace = [(it.k, it.f, it.grad_norm, it.seconds) for it in result.trace]
    calls = result.evaluations
    return Summary(problem.name, method, differentiator, result.status, result.nit,
                   trace[0][1], result.fun, result.grad_norm, seconds,
                   calls.gradient, calls.hessian, result.min_eigenvalue, trace,
                   result.converged, jacobian_calls=calls.jacobian, hvp_calls=calls.hvp)


def _first_order(problem, method, differentiator, steps, lr, batch_size, seed):
    optimizer = OPTIMIZERS[method](**({} if lr is None else {"lr": lr}))
    start = time.perf_counter()
    history = train(problem, optimizer, steps=DEFAULT_STEPS["first"] if steps is None else steps,
                    batch_size=batch_size, differentiator=differentiator, seed=seed)
    seconds = time.perf_counter() - start
    grad = interface.differentiator(differentiator).gradient(problem.objective, history.theta)
    trace = [(k + 1, float(f), float(g), float(t)) for k, (f, g, t)
             in enumerate(zip(history.loss, history.grad_norm, history.time))]
    return Summary(problem.name, method, differentiator, "steps-done", history.steps,
                   float(history.epoch_loss[0]), history.final_loss,
                   float(np.linalg.norm(grad)), seconds, history.steps + 1, 0, None, trace)


def format_summaries(summaries):
    """One row per run: method, differentiator, status, iterations, f, ‖g‖, time, and the
    derivative calls by kind; the errors of failed runs follow the table."""
    header = ("method", "differentiator", "status", "iterations", "f start", "f final",
              "‖g‖ final", "λ_min", "seconds", "gradients", "Jacobians", "Hessians", "HVPs")
    rows = [header] + [_row(s) for s in summaries]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines += [f"{s.method} with {s.differentiator} failed: {s.error}"
              for s in summaries if s.error]
    return "\n".join(lines) + "\n"


def _row(s):
    if s.error:
        return (s.method, s.differentiator, f"failed: {s.error.partition(':')[0]}",
                *["-"] * 10)
    return (s.method, s.differentiator, s.status, str(s.iterations), f"{s.f_start:.6g}",
            f"{s.f_final:.10g}", f"{s.grad_norm:.2e}",
            "-" if s.min_eigenvalue is None else f"{s.min_eigenvalue:.3g}", f"{s.seconds:.2f}",
            str(s.gradient_calls), str(s.jacobian_calls), str(s.hessian_calls),
            str(s.hvp_calls))
