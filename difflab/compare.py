"""``difflab compare``: every differentiator on one model and quantity, against the reference.

One row per method: relative error ‖a − b‖/‖b‖ against ``difflab.reference``, correct
digits, setup and evaluation seconds, function evaluations (real + complex) and size (AD
tape nodes or symbolic expression operations), and whether the error is within the method's
entry of the tolerance table. A method that raises (a symbolic budget, a refusal) is a
row with its reason, and the others still run: one method's failure never hides the table.
"""

from dataclasses import dataclass

import numpy as np

from . import interface, metrics, models
from . import numpy as dnp

DEFAULT_MODEL = "mlp"


@dataclass
class Row:
    method: str
    error: float
    digits: float
    setup_seconds: float
    evaluation_seconds: float
    evaluations: str
    size: str
    within: bool
    failure: str | None = None          # "SwellLimitError: …" when the method raised

    @property
    def ok(self):
        """Measured, and within the method's entry of the tolerance table."""
        return self.failure is None and self.within


def compare(model=DEFAULT_MODEL, what="gradient", methods=None, seed=0):
    """Rows for ``methods`` (default: every registered one but the reference) on ``model``.

    Every name is looked up before anything is measured; a method that raises while
    measuring becomes a row with ``failure`` set and the next method runs."""
    problem, rows = measure_rows(model, what, methods, seed)
    return problem, list(rows)


def measure_rows(model=DEFAULT_MODEL, what="gradient", methods=None, seed=0):
    """(problem, an iterator of rows, each measured as it is taken): for a caller that
    keeps the rows already measured when it is interrupted. The names and the reference
    are checked and computed here, before the first row."""
    problem = models.get(model)
    f = problem.outputs if what == "jacobian" else problem.objective
    theta = problem.theta0
    v = np.random.default_rng(seed).normal(size=theta.size) if what == "hvp" else None
    names = methods or [n for n in interface.differentiators(what) if n != "reference"]
    differentiators = [interface.differentiator(name) for name in names]
    exact = interface.differentiator("reference").measure(what, f, theta, v).precise
    return problem, (_row(method, what, f, theta, v, exact) for method in differentiators)


def _warm(method, what):
    """One untimed call on a two-parameter function first, so no row pays the one-time start
    of a library (SymPy's, the code generator's: several times a small model's setup) and
    the columns do not depend on which method comes first."""
    def f(t):
        y = dnp.tanh(t * 0.5) ** 2
        return y if what == "jacobian" else dnp.sum(y)
    try:
        method.measure(what, f, np.array([0.3, -0.2]), np.array([1.0, 0.5]), sizes=False)
    except Exception:                    # noqa: BLE001  (the measured call reports it)
        pass


def _row(method, what, f, theta, v, exact):
    _warm(method, what)
    try:
        measured = method.measure(what, f, theta, v)
    except Exception as error:           # noqa: BLE001  (one method must not sink the table)
        nan = float("nan")
        return Row(method.name, nan, nan, nan, nan, "—", "—", False,
                   f"{type(error).__name__}: {error}")
    value, cost = measured.value, measured.cost
    error = float(metrics.relative_error(value, exact))
    return Row(method.name, error, float(metrics.correct_digits(value, exact)),
               cost.setup_seconds, cost.evaluation_seconds, _evaluations(cost), _size(cost),
               error <= method.tolerance(what))


def _evaluations(cost):
    parts = []
    if cost.evaluations:
        parts.append(str(cost.evaluations))
    if cost.complex_evaluations:
        parts.append(f"{cost.complex_evaluations} complex")
    return " + ".join(parts) or "—"


def _size(cost):
    return "—" if cost.size is None else f"{cost.size} {cost.size_unit}"


def format_table(problem, what, rows):
    """The rows as a table; the reasons of the methods that failed follow it."""
    header = ("method", "rel. error", "digits", "setup s", "eval s", "evaluations", "size",
              "within table")
    lines = [_cells(r) for r in rows]
    widths = [max(len(str(x)) for x in column) for column in zip(header, *lines)]
    title = (f"{what} of {problem.name} ({problem.n_params} parameters), against "
             "difflab.reference at 50 digits")
    out = [title] + ["  ".join(str(x).ljust(w) for x, w in zip(line, widths)).rstrip()
                     for line in [header, ["-" * w for w in widths], *lines]]
    out += [f"{r.method} failed: {r.failure}" for r in rows if r.failure]
    return "\n".join(out) + "\n"


def _cells(r):
    if r.failure:
        return [r.method, "-", "-", "-", "-", "-", "-", f"failed: {r.failure.partition(':')[0]}"]
    return [r.method, f"{r.error:.1e}", f"{r.digits:.1f}", f"{r.setup_seconds:.3f}",
            f"{r.evaluation_seconds:.4f}", r.evaluations, r.size, "yes" if r.within else "NO"]
