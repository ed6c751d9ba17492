"""Symbolic derivatives: trace, share, differentiate, compile — three modes, one cache.

- ``tree``: SymPy's ``diff`` on the expression tree, compiled as it stands: the textbook way,
  whose derivatives swell.
- ``cse``: the same derivatives with SymPy's common-subexpression elimination before compiling.
- ``dag``: reverse mode carried out symbolically on the function's DAG with one symbol per
  intermediate (``program.Reverse``): the derivative is O(size of f), like AD's, and it is
  exact. The default, and the fastest to set up.

``engine`` chooses who runs ``diff`` and CSE in the ``tree`` and ``cse`` modes: "sympy" (the
default) or "symengine", the optional C++ core (``engines``); ``dag`` ignores it.

A ``Derivative`` is built once per (function, θ's shape, quantity, mode, budget, engine) and
cached, so repeated calls only evaluate. Quantities: "value", "gradient", "jacobian", "hessian"
(upper triangle, mirrored on evaluation), "hvp" (the gradient of vᵀ∇f, v symbolic).
"""

import time
import weakref
from dataclasses import dataclass, field

import mpmath
import numpy as np
import sympy

from ..errors import DiffLabError, NonFiniteValueError, ShapeError
from . import budget as budgets
from . import engines
from .codegen import compile_program
from .engines import DEFAULT_ENGINE
from .program import Program, Reverse, linearize, prune
from .swell import measure
from .trace import symbols, trace

MODES = ("dag", "cse", "tree")
DEFAULT_MODE = "dag"
QUANTITIES = ("value", "gradient", "jacobian", "hessian", "hvp")


@dataclass
class Derivative:
    """A compiled derivative of one function: call it with θ (and v for "hvp").

    ``program`` is what was compiled; ``seconds`` the setup time per stage; ``engine`` the
    engine that differentiated (always "sympy" in ``dag`` mode); ``sizes`` (a
    ``swell.Sizes``) is measured on first access.
    """

    quantity: str
    mode: str
    n: int
    program: Program
    traced: object
    function: object
    seconds: dict = field(default_factory=dict)
    engine: str = DEFAULT_ENGINE
    _sizes: object = None
    _mpmath: object = None

    @property
    def setup_seconds(self):
        return sum(self.seconds.values())

    @property
    def sizes(self):
        if self._sizes is None:
            self._sizes = measure(self.program)
        return self._sizes

    def _groups(self, theta, v):
        theta = np.asarray(theta, dtype=float)
        if theta.shape != (self.n,):
            raise ShapeError(f"symbolic {self.quantity}: theta has shape {theta.shape}, the "
                             f"derivative was built for shape ({self.n},)")
        groups = [theta.tolist(), *[list(rows) for rows in self.traced.data]]
        if self.quantity == "hvp":
            v = np.asarray(v, dtype=float)
            if v.shape != theta.shape:
                raise ShapeError(f"symbolic hvp: v has shape {v.shape} but theta has shape "
                                 f"{theta.shape}")
            groups.append(v.tolist())
        return groups

    def __call__(self, theta, v=None):
        groups = self._groups(theta, v)
        batch = self.traced.batch if self.traced.data else None
        out = np.zeros((len(self.program.outputs),) + ((batch,) if batch else ()))
        with np.errstate(all="ignore"):
            self.function(out, *groups)
        values = out.mean(axis=1) if batch else out
        if not np.all(np.isfinite(values)):
            bad = np.flatnonzero(~np.isfinite(values))
            raise NonFiniteValueError(f"symbolic {self.quantity}: entries {bad[:10].tolist()} "
                                      "are not finite at this θ")
        return self._shaped(values)

    def mpmath(self, theta, v=None, dps=50):
        """The same derivative evaluated in mpmath at ``dps`` digits (an object array)."""
        if self._mpmath is None:
            self._mpmath = compile_program(self.program, target="mpmath")
        groups = self._groups(theta, v)
        with mpmath.workdps(dps):
            lifted = [[mpmath.mpf(value) for value in groups[0]]]
            rows = [[[mpmath.mpf(float(value)) for value in row] for row in data.T]
                    for data in self.traced.data]
            tail = [[mpmath.mpf(value) for value in groups[-1]]] \
                if self.quantity == "hvp" else []
            if rows:
                total = None
                for example in zip(*rows):
                    values = self._mpmath(*lifted, *example, *tail)
                    total = values if total is None else [a + b for a, b in zip(total, values)]
                values = [t / len(rows[0]) for t in total]
            else:
                values = self._mpmath(*lifted, *tail)
            return self._shaped(np.array(values, dtype=object))

    def _shaped(self, values):
        n = self.n
        if self.quantity == "value":
            return values[0] if values.size == 1 else values
        if self.quantity == "jacobian":
            return values.reshape(-1, n)
        if self.quantity == "hessian":
            H = np.empty((n, n), dtype=values.dtype)
            rows, cols = np.triu_indices(n)
            H[rows, cols] = values
            H[cols, rows] = values
            return H
        return values


_cache = weakref.WeakKeyDictionary()
_cache_by_id = {}     # functions that take no weak reference


def derivative(f, theta, quantity="gradient", mode=DEFAULT_MODE, budget=budgets.DEFAULT,
               engine=DEFAULT_ENGINE):
    """The compiled ``quantity`` of f at θ's shape in ``mode``, built once and cached.

    ``engine`` ("sympy" or "symengine", see ``engines``) runs ``diff`` and CSE in the
    ``tree`` and ``cse`` modes; asking for SymEngine without it installed raises
    DiffLabError, in any mode.

    The cache is keyed by the function object: a function whose constants change between
    calls (a closure over mutable data) must be passed anew.
    """
    if mode not in MODES:
        raise DiffLabError(f"symbolic: unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    if quantity not in QUANTITIES:
        raise DiffLabError(f"symbolic: unknown quantity {quantity!r}; choose one of "
                           f"{', '.join(QUANTITIES)}")
    theta = np.asarray(theta)
    if theta.ndim != 1:
        raise ShapeError(f"symbolic {quantity}: theta must be a flat vector, got shape "
                         f"{theta.shape}; flatten a pytree with difflab.ravel")
    runner = engines.get(engine)
    if mode == "dag":
        runner = engines.get(DEFAULT_ENGINE)    # its partials are SymPy's, whichever engine
    key = (theta.shape, quantity, mode, budget, runner.name)
    try:
        store = _cache.setdefault(f, {})
    except TypeError:
        store = _cache_by_id.setdefault(id(f), {})
    if key not in store:
        store[key] = _build(f, theta.size, quantity, mode, budget, runner)
    return store[key]


def _build(f, n, quantity, mode, budget, engine):
    seconds = {}
    scalar = quantity != "jacobian"
    with budgets.timed("trace", budget, mode, seconds):
        traced = trace(f, np.zeros(n), f"symbolic {quantity}", scalar)
    theta = traced.inputs[0][1]
    v = tuple(symbols("v", (n,))) if quantity == "hvp" else ()
    inputs = traced.inputs + ((("v", v),) if v else ())
    if mode == "dag":
        with budgets.timed("share", budget, mode, seconds):
            function = linearize(traced.outputs, inputs)
        budgets.check_size("trace", "distinct nodes", len(function.assignments), budget.nodes,
                           mode)
        with budgets.timed("differentiate", budget, mode, seconds):
            program = _dag(function, quantity, theta, v)
        budgets.check_size("differentiate", "assignments", len(program.assignments),
                           budget.derivative_nodes, mode)
    else:
        with budgets.timed("differentiate", budget, mode, seconds):
            outputs = _tree(traced.outputs, quantity, theta, v, budget, mode, engine)
            if mode == "tree":
                program = Program(inputs, [], engine.sympy(outputs))
        if mode == "cse":
            with budgets.timed("share", budget, mode, seconds):
                replacements, reduced = engine.cse(outputs)
            program = Program(inputs, replacements, reduced)
    with budgets.timed("compile", budget, mode, seconds):
        function = compile_program(program, target="numpy", max_lines=budget.lines,
                                   max_seconds=budget.seconds)
    return Derivative(quantity, mode, n, program, traced, function, seconds, engine.name)


def _dag(function, quantity, theta, v):
    """The derivative program by symbolic reverse sweeps over the function's program."""
    if quantity == "value":
        return function
    first = Reverse(function, "a", theta)
    if quantity == "jacobian":
        outputs = [d for output in function.outputs for d in first.sweep(output, theta)]
        return prune(Program(function.inputs, first.assignments, outputs))
    gradient = first.sweep(function.outputs[0], theta)
    if quantity == "gradient":
        return prune(Program(function.inputs, first.assignments, gradient))
    second = Reverse(Program(function.inputs, first.assignments, gradient), "b", theta)
    if quantity == "hvp":
        outputs = second.sweep(sympy.Add(*[vi * gi for vi, gi in zip(v, gradient)]), theta)
    else:
        outputs = [d for i, gi in enumerate(gradient) for d in second.sweep(gi, theta[i:])]
    return prune(Program(function.inputs, second.assignments, outputs))


def _tree(outputs, quantity, theta, v, budget, mode, engine):
    """The derivative's expressions by the engine's ``diff``, sizes checked as they grow; in
    the engine's own form (``engine.sympy`` converts them)."""
    outputs, theta, v = (engine.expressions(group) for group in (outputs, theta, v))
    if quantity == "value":
        return outputs
    if quantity == "jacobian":
        return [_diff(F, t, budget, mode, engine) for F in outputs for t in theta]
    gradient = [_diff(outputs[0], t, budget, mode, engine) for t in theta]
    if quantity == "gradient":
        return gradient
    if quantity == "hvp":
        directional = engine.add([vi * gi for vi, gi in zip(v, gradient)])
        return [_diff(directional, t, budget, mode, engine) for t in theta]
    return [_diff(gi, theta[j], budget, mode, engine) for i, gi in enumerate(gradient)
            for j in range(i, len(theta))]


def _diff(expression, symbol, budget, mode, engine):
    d = engine.diff(expression, symbol)
    if budget.derivative_nodes is not None:
        size = engine.tree_nodes(d)
        budgets.check_size("differentiate", "tree nodes of one entry", size,
                           budget.derivative_nodes, mode)
    return d


def gradient(f, theta, mode=DEFAULT_MODE, budget=budgets.DEFAULT, engine=DEFAULT_ENGINE):
    """∇f(θ) from the compiled symbolic gradient (built on first call, then cached)."""
    return derivative(f, theta, "gradient", mode, budget, engine)(theta)


def jacobian(F, theta, mode=DEFAULT_MODE, budget=budgets.DEFAULT, engine=DEFAULT_ENGINE):
    """The (m, n) Jacobian of F at θ, symbolically."""
    return derivative(F, theta, "jacobian", mode, budget, engine)(theta)


def hessian(f, theta, mode=DEFAULT_MODE, budget=budgets.DEFAULT, engine=DEFAULT_ENGINE):
    """The (n, n) Hessian of f at θ, symbolically (upper triangle compiled, then mirrored)."""
    return derivative(f, theta, "hessian", mode, budget, engine)(theta)


def hvp(f, theta, v, mode=DEFAULT_MODE, budget=budgets.DEFAULT, engine=DEFAULT_ENGINE):
    """H(θ)·v, compiled once as the gradient of vᵀ∇f(θ) with v symbolic."""
    return derivative(f, theta, "hvp", mode, budget, engine)(theta, v)
