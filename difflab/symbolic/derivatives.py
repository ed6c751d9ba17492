"""Symbolic derivatives: trace, share, differentiate, compile — three modes.

- ``tree``: SymPy's ``diff`` on the expression tree, compiled as it stands: the textbook way,
  whose derivatives swell.
- ``cse``: the same derivatives with SymPy's common-subexpression elimination before compiling.
- ``dag``: reverse mode carried out symbolically on the function's DAG with one symbol per
  intermediate (``program.Reverse``): the derivative is O(size of f), like AD's, and it is
  exact. The default, and the fastest to set up.

``engine`` chooses who runs ``diff`` and CSE in the ``tree`` and ``cse`` modes: "sympy" (the
default) or "symengine", the optional C++ core (``engines``); ``dag`` ignores it.

``derivative`` builds a ``Derivative`` and hands it over: the caller keeps it and calls it
again (the interface's ``prepare`` does); nothing is cached behind the caller's back. The
one-call ``gradient``, ``hessian``, … build afresh each time. Every evaluation checks that the
compiled program still is f at θ (``Derivative``). Quantities: "value", "gradient", "jacobian", "hessian"
(upper triangle, mirrored on evaluation), "hvp" (the gradient of vᵀ∇f, v symbolic).
"""

import math
import time
from dataclasses import dataclass, field

import mpmath
import numpy as np
import sympy

from ..errors import (BranchError, DiffLabError, NonFiniteValueError, ShapeError,
                      UnsupportedOperationError)
from . import budget as budgets
from . import engines
from .codegen import compile_program
from .engines import DEFAULT_ENGINE
from .graph import Graph, GraphProgram
from .program import Program, prune
from .swell import measure
from .trace import symbols, trace

MODES = ("dag", "cse", "tree")
DEFAULT_MODE = "dag"
QUANTITIES = ("value", "gradient", "jacobian", "hessian", "hvp")


@dataclass
class Compiled:
    """What one build made: the compiled program and how it was made.

    The program's outputs are the derivative's entries, then (from ``values_at`` on) f's own
    values, which cost nothing in ``dag`` mode (the reverse sweep computes them anyway) and
    let every evaluation check that the program still is f (``Derivative``'s guard). For the
    quantity "value" the two are the same outputs and ``values_at`` is 0.
    ``seconds`` is the setup time per stage; ``engine`` the engine that differentiated.
    """

    quantity: str
    mode: str
    n: int
    program: Program
    traced: object
    function: object
    values_at: int
    seconds: dict = field(default_factory=dict)
    engine: str = DEFAULT_ENGINE
    function_nodes: int | None = None
    _sizes: object = None
    _mpmath: dict = field(default_factory=dict)

    @property
    def sizes(self):
        """Sizes of the derivative alone: the check's value outputs are not counted."""
        if self._sizes is None:
            self._sizes = _sizes(_with_outputs(self.program, self.entries(self.program.outputs)))
        return self._sizes

    def groups(self, theta, v):
        """The compiled function's arguments: θ, the batch rows, v. In float32 when θ is
        float32 (or narrower), as NumPy scalars and arrays, so every operation rounds to
        float32 (Python float constants do not widen them); else in float64, θ as Python
        floats (faster than NumPy scalars)."""
        theta = np.asarray(theta)
        single = theta.dtype.kind == "f" and theta.dtype.itemsize <= 4
        dtype = np.float32 if single else np.float64
        theta = theta.astype(dtype)
        if theta.shape != (self.n,):
            raise ShapeError(f"symbolic {self.quantity}: theta has shape {theta.shape}, the "
                             f"derivative was built for shape ({self.n},)")
        flat = list if single else np.ndarray.tolist
        groups = [flat(theta), *[list(rows.astype(dtype)) for rows in self.traced.data]]
        if self.quantity == "hvp":
            v = np.asarray(v, dtype=dtype)
            if v.shape != theta.shape:
                raise ShapeError(f"symbolic hvp: v has shape {v.shape} but theta has shape "
                                 f"{theta.shape}")
            groups.append(flat(v))
        return groups

    def evaluate(self, groups):
        """Every output in θ's precision (``groups``), averaged over the batch of a
        ``BatchMean``."""
        batch = self.traced.batch if self.traced.data else None
        out = np.zeros((len(self.program.outputs),) + ((batch,) if batch else ()),
                       dtype=precision(groups))
        try:
            with np.errstate(all="ignore"):
                self.function(out, *groups)
        except (ZeroDivisionError, OverflowError) as error:
            # θ's entries are Python floats in the compiled code, which raise where NumPy
            # would return inf: f or its derivative has no finite value at θ
            raise NonFiniteValueError(
                f"symbolic {self.quantity}: f or its derivative is not finite at θ ({error}: "
                "a pole, a log or sqrt at 0, overflow?)") from None
        except TypeError as error:
            if "complex" not in str(error):
                raise
            # a Python float to a fractional power of a negative base is complex, where NumPy
            # gives nan: f or its derivative has no real value at θ
            raise NonFiniteValueError(
                f"symbolic {self.quantity}: f or its derivative is not real at θ (a fractional "
                "power of a negative number)") from None
        return out.mean(axis=1, dtype=out.dtype) if batch else out

    def evaluate_mpmath(self, groups, dps, values_only=False):
        """Every output (or only f's values) in mpmath at ``dps`` digits, a list of mpf."""
        if values_only not in self._mpmath:
            p = self.program
            program = _with_outputs(p, p.outputs[self.values_at:]) if values_only else p
            self._mpmath[values_only] = _compiled(program, "mpmath")
        function = self._mpmath[values_only]
        with mpmath.workdps(dps):
            lifted = [[mpmath.mpf(value) for value in groups[0]]]
            rows = [[[mpmath.mpf(float(value)) for value in row] for row in data.T]
                    for data in self.traced.data]
            tail = [[mpmath.mpf(value) for value in groups[-1]]] \
                if self.quantity == "hvp" else []
            if not rows:
                return function(*lifted, *tail)
            total = None
            for example in zip(*rows):
                values = function(*lifted, *example, *tail)
                total = values if total is None else [a + b for a, b in zip(total, values)]
            return [t / len(rows[0]) for t in total]

    def entries(self, outputs):
        """The derivative's own entries among all outputs."""
        return outputs if self.quantity == "value" else outputs[:self.values_at]

    def shaped(self, values):
        n = self.n
        values = self.entries(values)
        if self.quantity == "value":
            return values[0] if values.size == 1 else values
        if self.quantity == "jacobian":
            return values.reshape(len(self.traced.outputs), n)
        if self.quantity == "hessian":
            H = np.empty((n, n), dtype=values.dtype)
            rows, cols = np.triu_indices(n)
            H[rows, cols] = values
            H[cols, rows] = values
            return H
        return values


def precision(groups):
    """The float type a program's arguments (``Compiled.groups``) are evaluated in."""
    return np.float32 if groups[0] and isinstance(groups[0][0], np.float32) else np.float64


# f(θ) in floats against the program's value: √ε of f's precision, (float32-or-less, float64)
CHECK_RTOL = (float(np.sqrt(np.finfo(np.float32).eps)), float(np.sqrt(np.finfo(float).eps)))
PRECISE_DPS, PRECISE_RTOL = 40, 1e-15             # the same comparison when that one fails


class Derivative:
    """A compiled derivative of one function: call it with θ (and v for "hvp").

    Every call also checks the guard the build rests on: the traced program's value at θ must
    be f(θ) evaluated in floats (one forward pass of f). SymPy answers Python's ``!=``, ``==``
    and ``bool()`` on a symbol structurally, so ``x if t[0] != 0 else y`` is traced down one
    branch whatever θ is; and a function whose constants changed (a closure over mutable data)
    is no longer what was traced. When the values differ beyond rounding (confirmed in mpmath
    at 40 digits), f is traced again: if the new program is f at θ, f had changed and the new
    build replaces the old; if not, f takes a branch the tracer cannot see: ``BranchError``.

    ``program`` is what was compiled; ``seconds`` the setup time per stage; ``engine`` the
    engine that differentiated (always "sympy" in ``dag`` mode); ``sizes`` (a
    ``swell.Sizes``) is measured on first access.
    """

    def __init__(self, f, slot, rebuild):
        self.f, self._slot, self._rebuild = f, slot, rebuild

    compiled = property(lambda self: self._slot[0])
    quantity = property(lambda self: self.compiled.quantity)
    mode = property(lambda self: self.compiled.mode)
    n = property(lambda self: self.compiled.n)
    program = property(lambda self: self.compiled.program)
    traced = property(lambda self: self.compiled.traced)
    function = property(lambda self: self.compiled.function)
    seconds = property(lambda self: self.compiled.seconds)
    engine = property(lambda self: self.compiled.engine)
    sizes = property(lambda self: self.compiled.sizes)
    setup_seconds = property(lambda self: sum(seconds for stage, seconds in
                                              self.compiled.seconds.items()
                                              if stage in budgets.STAGES))

    def __call__(self, theta, v=None):
        compiled = self.compiled
        groups = compiled.groups(theta, v)
        start = time.perf_counter()
        out = compiled.evaluate(groups)
        # the first run of generated code pays for what Python does once per function
        compiled.seconds.setdefault("first evaluation", time.perf_counter() - start)
        if not self._is_f(compiled, groups, out):
            compiled = self._retraced(groups)
            out = compiled.evaluate(groups)
        if not np.all(np.isfinite(out)):
            bad = np.flatnonzero(~np.isfinite(compiled.entries(out)))
            what = f"entries {bad[:10].tolist()} are" if bad.size else "f's value is"
            raise NonFiniteValueError(f"symbolic {compiled.quantity}: {what} not finite at "
                                      "this θ")
        return compiled.shaped(out)

    def mpmath(self, theta, v=None, dps=50):
        """The same derivative evaluated in mpmath at ``dps`` digits (an object array)."""
        compiled = self.compiled
        values = compiled.evaluate_mpmath(compiled.groups(theta, v), dps)
        with mpmath.workdps(dps):
            return compiled.shaped(np.array(values, dtype=object))

    def _is_f(self, compiled, groups, out):
        """Whether the program's value at θ is f(θ): in floats, else confirmed in mpmath."""
        dtype = precision(groups)
        with np.errstate(all="ignore"):
            expected, rtol = _float_values(self.f, np.array(groups[0], dtype=dtype))
        if dtype == np.float32:
            rtol = CHECK_RTOL[0]
        traced = out[compiled.values_at:]
        if expected.shape != traced.shape:
            return _agrees_precisely(self.f, compiled, groups)
        if traced.size == 1:           # the common case, in Python floats: a third of the cost
            a, b = float(traced[0]), float(expected[0])
            close = abs(a - b) <= rtol * max(abs(a), abs(b))
            # both not finite: NonFiniteValueError says so, a branch is not the cause
            lost = not (math.isfinite(a) or math.isfinite(b))
            return close or lost or _agrees_precisely(self.f, compiled, groups)
        lost = ~np.isfinite(traced) & ~np.isfinite(expected)
        close = np.abs(traced - expected) <= rtol * np.maximum(np.abs(traced), np.abs(expected))
        return bool(np.all(lost | close)) or _agrees_precisely(self.f, compiled, groups)

    def _retraced(self, groups):
        fresh = self._rebuild()
        if not self._is_f(fresh, groups, fresh.evaluate(groups)):
            raise BranchError(
                f"symbolic {fresh.quantity}: f takes a different path at this θ than the "
                "traced program (its value here is not the program's): Python control flow "
                "on a traced value (if/else, ==, !=, bool()) is taken structurally by SymPy, "
                "not by θ. Write the branch with dnp.where(condition, a, b) (or dnp.maximum, "
                "dnp.relu, dnp.clip); a function that is random or changes between calls "
                "cannot be differentiated symbolically.")
        self._slot[0] = fresh
        return fresh


def _float_values(f, theta):
    """f(θ) as a flat float64 array (empty if f's result is not numbers), and the relative
    tolerance of comparing it: √ε of the precision f computed in (f may hold float32 data)."""
    try:
        value = np.asarray(f(theta))
        precision = value.dtype if value.dtype.kind == "f" else np.dtype(float)
        return value.astype(float).reshape(-1), CHECK_RTOL[precision.itemsize >= 8]
    except (TypeError, ValueError):
        return np.full(0, np.nan), 0.0


def _agrees_precisely(f, compiled, groups):
    """Whether f(θ) and the program's value agree at ``PRECISE_DPS`` digits, so that a
    difference in floats was rounding (cancellation in f), not another function."""
    try:
        program = compiled.evaluate_mpmath(groups, PRECISE_DPS, values_only=True)
        with mpmath.workdps(PRECISE_DPS):
            point = np.empty(compiled.n, dtype=object)
            point[:] = [mpmath.mpf(value) for value in groups[0]]
            direct = np.asarray(f(point), dtype=object).reshape(-1)
            if direct.size != len(program):
                return False
            return all(abs(mpmath.mpf(a) - b) <= PRECISE_RTOL * max(abs(a), abs(b))
                       for a, b in zip(direct, program))
    except (DiffLabError, TypeError, ValueError, ZeroDivisionError):
        return False


def derivative(f, theta, quantity="gradient", mode=DEFAULT_MODE, budget=budgets.DEFAULT,
               engine=DEFAULT_ENGINE):
    """The compiled ``quantity`` of f at θ's shape in ``mode``: built now, and held by the
    returned ``Derivative`` (nothing is cached elsewhere: keep it to evaluate again).

    ``engine`` ("sympy" or "symengine", see ``engines``) runs ``diff`` and CSE in the
    ``tree`` and ``cse`` modes; asking for SymEngine without it installed raises
    DiffLabError, in any mode. ``budget=None`` lifts every limit. Every call of the
    ``Derivative`` checks that its program still is f at θ: a function whose constants
    changed since is traced again.
    """
    if mode not in MODES:
        raise DiffLabError(f"symbolic: unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    if quantity not in QUANTITIES:
        raise DiffLabError(f"symbolic: unknown quantity {quantity!r}; choose one of "
                           f"{', '.join(QUANTITIES)}")
    if not callable(f):
        raise UnsupportedOperationError(f"symbolic {quantity}: f must be a function of θ, got "
                          f"{type(f).__name__}")
    budget = budgets.resolve(budget)
    theta = np.asarray(theta)
    if theta.ndim != 1:
        raise ShapeError(f"symbolic {quantity}: theta must be a flat vector, got shape "
                         f"{theta.shape}; use np.atleast_1d for a scalar, difflab.ravel for "
                         "a pytree")
    runner = engines.get(engine)
    if mode == "dag":
        runner = engines.get(DEFAULT_ENGINE)    # its partials are SymPy's, whichever engine

    def rebuild():
        return _build(f, theta.size, quantity, mode, budget, engines.get(runner.name))

    return Derivative(f, [rebuild()], rebuild)


def _build(f, n, quantity, mode, budget, engine):
    seconds, nodes = {}, None
    scalar = quantity != "jacobian"
    with budgets.timed("trace", budget, mode, seconds):
        traced = trace(f, np.zeros(n), f"symbolic {quantity}", scalar, named=mode == "dag")
    theta = traced.inputs[0][1]
    v = tuple(symbols("v", (n,))) if quantity == "hvp" else ()
    inputs = traced.inputs + ((("v", v),) if quantity == "hvp" else ())
    if mode == "dag":
        with budgets.timed("share", budget, mode, seconds):
            graph = Graph(inputs, theta)
            names = dict((symbol, graph.symbols[symbol]) for _, group in inputs
                         for symbol in group)
            for symbol, body in traced.bindings:
                names[symbol] = graph.convert(body, names)
            function = [graph.convert(output, names) for output in traced.outputs]
        nodes = len(graph)
        budgets.check_size("trace", "distinct nodes", nodes, budget.nodes, mode)
        with budgets.timed("differentiate", budget, mode, seconds):
            program = _dag(graph, inputs, function, quantity, theta, v)
        budgets.check_size("differentiate", "nodes", len(graph), budget.derivative_nodes, mode)
    else:
        with budgets.timed("differentiate", budget, mode, seconds):
            outputs = _tree(traced.outputs, quantity, theta, v, budget, mode, engine)
            if quantity != "value":
                outputs = outputs + engine.expressions(traced.outputs)
            if mode == "tree":
                program = Program(inputs, [], engine.sympy(outputs))
        if mode == "cse":
            with budgets.timed("share", budget, mode, seconds):
                replacements, reduced = engine.cse(outputs)
            program = Program(inputs, replacements, reduced)
    with budgets.timed("compile", budget, mode, seconds):
        function = _compiled(program, "numpy", max_lines=budget.lines, max_seconds=budget.seconds)
    values_at = len(program.outputs) - len(traced.outputs)
    return Compiled(quantity, mode, n, program, traced, function, values_at, seconds,
                    engine.name, nodes)


def _dag(graph, inputs, function, quantity, theta, v):
    """The derivative program by reverse sweeps over the function's graph (``graph.sweep``),
    f's values as its last outputs."""
    if quantity == "value":
        return GraphProgram(graph, inputs, function)
    theta = [graph.symbols[t] for t in theta]
    if quantity == "jacobian":
        outputs = [d for output in function for d in graph.sweep(output, theta)]
    else:
        gradient = graph.sweep(function[0], theta)
        if quantity == "gradient":
            outputs = gradient
        elif quantity == "hvp":
            seed = graph.add([graph.mul(graph.symbols[vi], gi) for vi, gi in zip(v, gradient)])
            outputs = graph.sweep(seed, theta)
        else:
            outputs = [d for i, gi in enumerate(gradient) for d in graph.sweep(gi, theta[i:])]
    return GraphProgram(graph, inputs, outputs + function)


def _with_outputs(program, outputs):
    """The program restricted to ``outputs`` (what they do not need is dropped)."""
    if isinstance(program, GraphProgram):
        return program.with_outputs(outputs)
    return prune(Program(program.inputs, program.assignments, list(outputs)))


def _sizes(program):
    return program.sizes() if isinstance(program, GraphProgram) else measure(program)


def _compiled(program, target, **limits):
    if isinstance(program, GraphProgram):
        return program.compile(target, **limits)
    return compile_program(program, target=target, **limits)


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
    """∇f(θ) from a symbolic gradient built for this call (keep ``derivative(f, θ)`` to
    evaluate again without building again)."""
    return derivative(f, theta, "gradient", mode, budget, engine)(theta)


def jacobian(F, theta, mode=DEFAULT_MODE, budget=budgets.DEFAULT, engine=DEFAULT_ENGINE):
    """The (m, n) Jacobian of F at θ, symbolically."""
    return derivative(F, theta, "jacobian", mode, budget, engine)(theta)


def hessian(f, theta, mode=DEFAULT_MODE, budget=budgets.DEFAULT, engine=DEFAULT_ENGINE):
    """The (n, n) Hessian of f at θ, symbolically (upper triangle compiled, then mirrored)."""
    return derivative(f, theta, "hessian", mode, budget, engine)(theta)


def hvp(f, theta, v, mode=DEFAULT_MODE, budget=budgets.DEFAULT, engine=DEFAULT_ENGINE):
    """H(θ)·v, compiled as the gradient of vᵀ∇f(θ) with v symbolic."""
    return derivative(f, theta, "hvp", mode, budget, engine)(theta, v)
