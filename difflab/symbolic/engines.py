"""Engines for the ``tree`` and ``cse`` modes: who runs ``diff`` and common-subexpression
elimination. SymPy always; SymEngine when installed.

SymEngine (``pip install "difflab[symengine]"``) is a C++ core with SymPy's expression model.
The traced SymPy expressions go in, the derivatives (or the CSE program) come back as SymPy,
so the ``Program``, its sizes and the code generator are the same whichever engine ran. Its
``diff`` is 100-300× faster than SymPy's on the benchmark MLPs; with the conversion back, the
differentiate and share stages are 6-33× faster (``benchmarks/symbolic_speed.py``). A stage's
time budget interrupts SymEngine only between calls (one entry's diff, the whole cse): its
C++ loops do not run Python's signal handlers.

The ``dag`` mode ignores the engine. Its local partials are one cached SymPy ``diff`` per
function and one per non-elementary node: 12 ms of a 0.10 s differentiate stage for the
4-8-8-1 gradient, 0.35 s of 6.8 s for its Hessian (cProfile), less than converting the
program to SymEngine and back would cost.

SymEngine leaves the derivatives of Max, Min, Abs and sign unevaluated (it has no rule for
them, and no real symbols); such a function is refused with ``UnsupportedOperationError``
(SymPy, with real symbols, differentiates them). ``dnp.max`` is not one: its SymPy form has
Max only in the conditions of its tie indicators, which are not differentiated. Heaviside's
derivative is 0 there, the value the code generator prints for SymPy's DiracDelta, so both
engines compile to the same numbers.
"""
import importlib
from functools import cache

import sympy

from ..errors import DiffLabError, UnsupportedOperationError
from .swell import tree_size

ENGINES = ("sympy", "symengine")
DEFAULT_ENGINE = "sympy"


def available_engines():
    """The engines that can run here: ("sympy",), plus "symengine" when it imports."""
    try:
        importlib.import_module("symengine")
    except ImportError:
        return ("sympy",)
    return ENGINES


def get(name):
    """The engine called ``name``, or a DiffLabError that says how to get it."""
    if name == "sympy":
        return SymPyEngine()
    if name == "symengine":
        try:
            symengine = importlib.import_module("symengine")
        except ImportError as error:
            raise DiffLabError(
                'symbolic: engine="symengine" needs the symengine package, which is not '
                'installed. Install it with: pip install "difflab[symengine]" (or use '
                'engine="sympy", which needs nothing more)') from error
        return SymEngineEngine(symengine)
    raise DiffLabError(f"symbolic: unknown engine {name!r}; choose one of {', '.join(ENGINES)}")


class SymPyEngine:
    """SymPy's own ``diff`` and ``cse``: expressions stay SymPy throughout."""

    name = "sympy"

    def __init__(self):
        self.counted = {}        # node -> its tree size, shared by every entry of one build

    def expressions(self, expressions):
        return list(expressions)

    def diff(self, expression, symbol):
        return sympy.diff(expression, symbol)

    def add(self, terms):
        return sympy.Add(*terms)

    def tree_nodes(self, expression):
        return tree_size(expression, self.counted)[1]

    def sympy(self, expressions):
        return list(expressions)

    def cse(self, expressions):
        """(replacements, reduced) with temporaries c0, c1, … declared real."""
        return sympy.cse(expressions, symbols=sympy.numbered_symbols("c", real=True),
                         order="none")


class SymEngineEngine:
    """SymEngine's ``diff`` and ``cse`` on converted expressions; results back as SymPy.

    Each SymPy symbol becomes a SymEngine symbol that converts back to that same object,
    so the real θ, x, y and v symbols come back as themselves (``_symbols``).
    """

    name = "symengine"

    def __init__(self, module):
        self.module = module
        self.twin = _symbols(module)
        self.unsupported = (module.Derivative, module.Subs)
        self.counted = {}        # node -> its tree nodes, shared by every entry of one build

    def expressions(self, expressions):
        symbols = {}
        converted = []
        for expression in expressions:
            if expression.has(sympy.ITE):
                expression = expression.replace(sympy.ITE, _without_ite)
            try:
                value = self.module.sympify(expression)
            except (self.module.SympifyError, TypeError, NotImplementedError) as error:
                raise UnsupportedOperationError(
                    f'symbolic, engine="symengine": SymEngine cannot take {expression!s:.80} '
                    f'({error}); use engine="sympy"') from error
            for symbol in expression.free_symbols:
                symbols[self.module.Symbol(symbol.name)] = self.twin(symbol)
            converted.append(value)
        return [value.xreplace(symbols) for value in converted]

    def diff(self, expression, symbol):
        d = expression.diff(symbol)
        self.tree_nodes(d)      # one walk of the new nodes, refusing unevaluated derivatives
        return d

    def add(self, terms):
        return self.module.add(*terms)

    def tree_nodes(self, expression):
        """Nodes of ``expression`` written out as a tree, counted on SymEngine's DAG.

        SymEngine writes exp(u) as E**u, one node more than SymPy's count of the same tree.
        """
        stack = [(expression, False)]
        while stack:
            node, ready = stack.pop()
            if node in self.counted:
                continue
            args = node.args
            if ready or not args:
                self.counted[node] = 1 + sum(self.counted[arg] for arg in args)
            elif isinstance(node, self.unsupported):
                raise UnsupportedOperationError(
                    f'symbolic, engine="symengine": SymEngine cannot differentiate '
                    f"{type(args[0]).__name__}: it leaves {node!s:.120} unevaluated. Use "
                    'engine="sympy" (or mode="dag"), which differentiates it')
            else:
                stack.append((node, True))
                stack.extend((arg, False) for arg in args if arg not in self.counted)
        return self.counted[expression]

    def sympy(self, expressions):
        return [expression._sympy_() for expression in expressions]

    def cse(self, expressions):
        """SymEngine's cse, its temporaries renamed c0, c1, … (real), as SymPy's own ``cse``
        names them."""
        replacements, reduced = self.module.cse(expressions)
        renamed = {temporary: self.twin(sympy.Symbol(f"c{k}", real=True))
                   for k, (temporary, _) in enumerate(replacements)}
        program = [(renamed[temporary].original, value.xreplace(renamed)._sympy_())
                   for temporary, value in replacements]
        return program, [value.xreplace(renamed)._sympy_() for value in reduced]


def _without_ite(a, b, c):
    """ITE(a, b, c) = (a ∧ b) ∨ (¬a ∧ c). SymEngine has no ITE, and SymPy makes one of every
    condition on a Piecewise (relu(relu(u)·w + b) > 0), so a second relu layer has them."""
    return sympy.Or(sympy.And(a, b), sympy.And(sympy.Not(a), c))


@cache
def _symbols(module):
    """A function from a SymPy symbol to its SymEngine twin, one twin per symbol ever made.

    The twin subclasses SymEngine's Symbol, which SymEngine stores with a reference to the
    Python object and hands back by ``_sympy_``; that reference cycle is never freed, so
    twins are cached, not made anew per build.
    """

    class Twin(module.Symbol):
        def __init__(self, original):
            super().__init__(original.name)
            self.original = original

        def _sympy_(self):
            return self.original

    @cache
    def twin(symbol):
        return Twin(symbol)

    return twin
