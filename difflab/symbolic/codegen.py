"""Compile a straight-line SymPy ``Program`` to a Python function, for NumPy or for mpmath.

The program is printed as Python source, one assignment per line, and compiled with
``compile``. Python's own compiler cannot take the expressions tree-mode differentiation
produces (thousands of levels deep, sums of tens of thousands of terms): it fails with
RecursionError or "too many nested parentheses". So printing walks each tree with an explicit
stack, hoists a subexpression into a temporary once its text nests ``MAX_DEPTH`` deep or grows
past ``MAX_WIDTH`` characters, and joins at most ``CHUNK`` operands of a sum, product or
maximum per line. Repeated subexpressions are printed every time they occur: sharing them is
the Program's job (``cse`` and ``dag`` modes), and the generated code must show what a mode
costs.
"""

import re
import time
from typing import NamedTuple

import mpmath
import numpy
import sympy
from sympy import S

from .. import numpy as dnp
from ..errors import SwellLimitError, UnsupportedOperationError

MAX_DEPTH = 40        # nesting of one line's expression before a subexpression gets a temporary
MAX_WIDTH = 1000      # characters of one subexpression before it gets a temporary
CHUNK = 64            # operands joined on one line; longer sums accumulate in a temporary
FILENAME = "<difflab-symbolic>"
ADD, MUL, POW, ATOM = range(4)      # how tightly the printed text binds, as Python parses it
_TEMPORARY = re.compile(r"\b_t\d+\b")

_FUNCTIONS = {sympy.exp: "exp", sympy.log: "log", sympy.sin: "sin", sympy.cos: "cos",
              sympy.tan: "tan", sympy.tanh: "tanh", sympy.sinh: "sinh", sympy.cosh: "cosh",
              sympy.Abs: "abs", sympy.sign: "sign", sympy.atan: "arctan", sympy.asin: "arcsin",
              sympy.acos: "arccos", sympy.atan2: "arctan2", sympy.floor: "floor",
              sympy.ceiling: "ceil", sympy.erf: "erf", sympy.erfc: "erfc",
              sympy.sinc: "sinc"}
_MPMATH_CONSTANTS = {S.Pi: "pi", S.Exp1: "e", S.EulerGamma: "euler", S.GoldenRatio: "phi",
                     S.Catalan: "catalan"}
_SPECIAL = {S.true: ("True", ATOM), S.false: ("False", ATOM), S.Infinity: ("inf", ATOM),
            S.NegativeInfinity: ("-inf", MUL), S.NaN: ("nan", ATOM)}
_ONE, _ZERO = mpmath.mpf(1), mpmath.mpf(0)


def _heaviside(x, h0):
    """H(x) = 1 for x > 0, 0 for x < 0, H0 at 0 (SymPy's default H0 = ½)."""
    return _ONE if x > 0 else _ZERO if x < 0 else h0


_NAMESPACES = {
    "numpy": {**{name: getattr(numpy, name) for name in (
        "exp", "log", "sin", "cos", "tan", "tanh", "sinh", "cosh", "sqrt", "sign", "heaviside",
        "arctan", "arcsin", "arccos", "arctan2", "floor", "ceil",
        "maximum", "minimum", "where", "logical_not", "inf", "nan")},
        # NumPy has no erf: dnp's float implementation (math.erf entry by entry)
        "erf": dnp.erf.impls["float"], "erfc": dnp.erfc.impls["float"],
        # SymPy's sinc is sin(t)/t, NumPy's sin(πx)/(πx)
        "sinc": lambda t: dnp.sinc.impls["float"](numpy.divide(t, numpy.pi))},
    "mpmath": {**{name: getattr(mpmath, name) for name in (
        "exp", "log", "sin", "cos", "tan", "tanh", "sinh", "cosh", "sqrt", "sign", "inf", "nan",
        "floor", "ceil", "erf", "erfc", "sinc", "mpf", *_MPMATH_CONSTANTS.values())},
        "arctan": mpmath.atan, "arcsin": mpmath.asin, "arccos": mpmath.acos,
        "arctan2": mpmath.atan2, "heaviside": _heaviside},
}


class _Text(NamedTuple):
    """Printed Python text, how tightly it binds, and how deeply it nests."""
    text: str
    precedence: int = ATOM
    depth: int = 0


def compile_program(program, target="numpy", max_lines=2_000_000, max_seconds=None):
    """Compile ``program`` to ``fn(out, *groups)`` (target "numpy") or ``fn(*groups)``
    ("mpmath"), one sequence of values per input group, in ``program.inputs`` order.

    NumPy: values are floats or equal-shape arrays; ``fn`` writes output k as ``out[k] = …``
    (a scalar fills its row) and skips exact zeros, so ``out`` must come zero-filled. mpmath:
    values are ``mpf``; ``fn`` returns the outputs, with constants exact (a Float by its binary
    value) and functions evaluated at the caller's ``mpmath.mp`` precision. ``fn.source`` keeps
    the source.

    Raises SwellLimitError (stage "compile") past ``max_lines`` generated lines or
    ``max_seconds`` (None lifts either), and UnsupportedOperationError for a SymPy function
    with no translation.
    """
    if target not in _NAMESPACES:
        raise ValueError(f"compile_program: unknown target {target!r}; use 'numpy' or 'mpmath'")
    printer = _Printer(target, max_lines, max_seconds)
    groups = printer.unpack(program.inputs)
    for i, (symbol, expr) in enumerate(program.assignments):
        printer.assign(f"_v{i}", printer.expression(expr))
        printer.names[symbol] = _Text(f"_v{i}")
    if target == "numpy":
        header = f"def compiled_program(out, {', '.join(groups)}):"
        for k, expr in enumerate(program.outputs):
            if expr is not S.Zero:
                printer.assign(f"out[{k}]", printer.expression(expr))
    else:
        header = f"def compiled_program({', '.join(groups)}):"
        printer.emit(f"_r = [None] * {len(program.outputs)}")
        for k, expr in enumerate(program.outputs):
            printer.assign(f"_r[{k}]", printer.expression(expr))
        printer.emit("return _r")
    source = "\n".join([header, *(printer.lines or ["    pass"])]) + "\n"
    try:
        code = compile(source, FILENAME, "exec")
    except (RecursionError, MemoryError, SyntaxError) as exc:
        n = len(printer.lines)
        raise SwellLimitError("compile", "generated lines", n, n, (
            f"Python's compiler could not take them ({type(exc).__name__}: {exc}); "
            "use mode='dag' or 'cse' for a smaller program")) from exc
    printer.check_time()
    exec(code, printer.namespace)
    fn = printer.namespace["compiled_program"]
    fn.source = source
    return fn


class _Printer:
    """Prints SymPy trees as Python lines of one function body, within the line/time budget."""

    def __init__(self, target, max_lines, max_seconds):
        self.mpmath = target == "mpmath"
        self.namespace = dict(_NAMESPACES[target])
        self.max_lines, self.max_seconds = max_lines, max_seconds
        self.start = time.perf_counter()
        self.lines = []
        self.names = {}        # input and assigned symbols → their local names
        self.leaves = {}       # numbers and constants → printed text
        self.free = []         # temporaries whose one use has been emitted
        self.n_temporaries = self.n_constants = self.n_nodes = 0
        self.rules = {sympy.Add: lambda node: (node.args, lambda items: self.fold(items, _sum)),
                      sympy.Mul: lambda node: self.product(node.args), sympy.Pow: self.pow,
                      sympy.Max: self.extremum, sympy.Min: self.extremum,
                      sympy.Heaviside: self.heaviside, sympy.DiracDelta: self.dirac_delta,
                      sympy.Piecewise: self.piecewise, sympy.ITE: self.if_then_else,
                      sympy.core.relational.Relational:
                      self.relation, sympy.And: self.logic, sympy.Or: self.logic,
                      sympy.Not: self.logic, **{f: self.function for f in _FUNCTIONS}}

    def emit(self, line):
        self.lines.append("    " + line)
        if self.max_lines is not None and len(self.lines) > self.max_lines:
            raise SwellLimitError("compile", "generated lines", len(self.lines), self.max_lines,
                                  "Use mode='dag' (one line per distinct node) or raise max_lines.")

    def check_time(self):
        elapsed = time.perf_counter() - self.start
        if self.max_seconds is not None and elapsed > self.max_seconds:
            raise SwellLimitError("compile", "seconds", elapsed, self.max_seconds,
                                  "Use mode='dag' or 'cse', or raise max_seconds.")

    def assign(self, target, item):
        # A temporary is read exactly once, so its name is free again for the next one: keeping
        # names distinct would keep every intermediate array alive until the function returns.
        self.free.extend(set(_TEMPORARY.findall(item.text)))
        self.emit(f"{target} = {item.text}")

    def hoist(self, item):
        """Compute ``item`` into a temporary and stand for it by name."""
        self.free.extend(set(_TEMPORARY.findall(item.text)))
        if self.free:
            name = self.free.pop()
        else:
            name, self.n_temporaries = f"_t{self.n_temporaries}", self.n_temporaries + 1
        self.emit(f"{name} = {item.text}")
        return _Text(name)

    def unpack(self, inputs):
        """One parameter per input group, unpacked into locals ``CHUNK`` names per line."""
        parameters, stems = [], set()
        for g, (name, symbols) in enumerate(inputs):
            stem = name if str(name).isidentifier() and not str(name).startswith("_") else "g"
            stem = stem if stem not in stems else f"{stem}{g}"
            stems.add(stem)
            parameters.append(f"_g{g}")
            local = [f"{stem}_{i}" for i in range(len(symbols))]
            for s in range(0, len(local), CHUNK):
                chunk = local[s:s + CHUNK]
                self.emit(f"{', '.join(chunk)}, = _g{g}[{s}:{s + len(chunk)}]")
            self.names.update((symbol, _Text(n)) for symbol, n in zip(symbols, local))
        return parameters

    def expression(self, expr):
        """Post-order walk with an explicit stack: trees are deeper than Python's recursion."""
        stack, done = [(expr, None)], []
        while stack:
            node, compose = stack.pop()
            if compose is None:
                if node.is_Atom:
                    done.append(self.leaf(node))
                    continue
                operands, compose = self.rule(node)
                stack.append((len(operands), compose))
                stack.extend((operand, None) for operand in reversed(operands))
                continue
            split = len(done) - node
            item = compose(done[split:])
            del done[split:]
            if stack and (item.depth > MAX_DEPTH or len(item.text) > MAX_WIDTH):
                item = self.hoist(item)
            done.append(item)
            self.n_nodes += 1
            if self.n_nodes % 1024 == 0:
                self.check_time()
        return done[0]

    def rule(self, node):
        """(operands to print first, function composing their texts into this node's text)."""
        for cls in type(node).__mro__:
            if cls in self.rules:
                return self.rules[cls](node)
        self.unsupported(node)

    def unsupported(self, node):
        name = getattr(node, "func", type(node)).__name__
        hint = (" Declare symbols with real=True so SymPy does not produce re, im or Derivative."
                if name in ("re", "im", "Derivative", "arg", "conjugate") else "")
        raise UnsupportedOperationError(
            f"compile_program: SymPy {name} has no {'mpmath' if self.mpmath else 'numpy'} "
            f"translation (supported: Add, Mul, Pow, {', '.join(f.__name__ for f in _FUNCTIONS)},"
            " Max, Min, Heaviside, DiracDelta, Piecewise, ITE, relations, And, Or, Not). Rewrite the"
            f" model in supported functions, or add {name} to difflab.symbolic.codegen.{hint}")

    def leaf(self, node):
        if node in self.names:
            return self.names[node]
        if node not in self.leaves:
            self.leaves[node] = self.constant(node)
        return self.leaves[node]

    def constant(self, x):
        """Floats on NumPy; exact mpf values bound in the namespace on mpmath, because a Python
        int there would make ``2/max(x, 1)`` a float division."""
        if x.is_Symbol:
            raise ValueError(f"compile_program: symbol {x} is neither an input nor assigned "
                             "before its use; list it in program.inputs or assign it earlier")
        if x in _SPECIAL:
            return _Text(*_SPECIAL[x])
        if isinstance(x, sympy.NumberSymbol) and (not self.mpmath or x in _MPMATH_CONSTANTS):
            # An mpmath constant is evaluated by calling it, at the precision of the call.
            return _Text(f"{_MPMATH_CONSTANTS[x]}()" if self.mpmath else repr(float(x)))
        if not (x.is_Integer or x.is_Rational or x.is_Float):
            self.unsupported(x)
        if not self.mpmath:
            value = x.p / x.q if x.is_Rational else float(x)
            return _Text(repr(value), MUL if value < 0 else ATOM)
        if x.is_Rational and not x.is_Integer:
            return _Text(f"{self.exact(sympy.Integer(x.p))}/{x.q}", MUL)
        return _Text(self.exact(x))

    def exact(self, x):
        """Bind the exact binary value of an Integer or Float as a namespace constant."""
        name, self.n_constants = f"_c{self.n_constants}", self.n_constants + 1
        sign, mantissa, exponent, bits = x._mpf_ if x.is_Float else (0, int(x), 0, 0)
        with mpmath.workprec(max(53, bits, abs(mantissa).bit_length())):
            self.namespace[name] = mpmath.mpf(((-1) ** sign * mantissa, exponent))
        return name

    def product(self, factors):
        """c·∏num / ∏den, with den the factors b^(-e) of negative numeric exponent as b^e."""
        coefficient = factors[0] if factors[0].is_Number else S.One
        factors = factors[1:] if factors[0].is_Number else factors
        num = [f for f in factors if not (f.is_Pow and f.exp.is_Number and f.exp.is_negative)]
        den = [f for f in factors if f.is_Pow and f.exp.is_Number and f.exp.is_negative]

        def compose(items):
            numerator = items[:len(num)]
            if abs(coefficient) != 1 or not numerator:
                numerator = [self.leaf(abs(coefficient)), *numerator]
            text = self.fold(numerator, _product)
            if den:
                powers = [self.power(item, -f.exp) for item, f in zip(items[len(num):], den)]
                below = self.fold(powers, _product)
                text = _Text(f"{text.text}/{_wrap(below, POW)}", MUL,
                             max(text.depth, below.depth) + 1)
            if coefficient.is_negative:
                text = _Text(f"-{text.text}", MUL, text.depth + 1)
            return text
        return [*num, *(f.base for f in den)], compose

    def pow(self, node):
        base, exponent = node.args
        if exponent.is_Number:
            if exponent.is_negative:
                return self.product([node])
            return [base], lambda items: self.power(items[0], exponent)
        return [base, exponent], lambda items: _Text(
            f"{_wrap(items[0], ATOM)}**{_wrap(items[1], ATOM)}", POW, _depth(items))

    def power(self, base, exponent):
        """b^e for a numeric e ≥ 0: sqrt for ½, an int exponent for integers (exact in both
        targets, and NumPy keeps float bases float)."""
        if exponent == 1:
            return base
        if exponent == S.Half:
            return _Text(f"sqrt({base.text})", ATOM, base.depth + 1)
        e = str(int(exponent)) if exponent.is_Integer else _wrap(self.leaf(exponent), ATOM)
        return _Text(f"{_wrap(base, ATOM)}**{e}", POW, base.depth + 1)

    def function(self, node):
        # by the class's ancestry: dnp's floor and ceiling are SymPy's with a zero derivative
        name = next(_FUNCTIONS[cls] for cls in node.func.__mro__ if cls in _FUNCTIONS)
        return node.args, lambda items: _call(name, items)

    def extremum(self, node):
        if self.mpmath:
            name = "max" if node.func is sympy.Max else "min"
            return node.args, lambda items: self.fold(items, lambda chunk: _call(name, chunk))
        name = "maximum" if node.func is sympy.Max else "minimum"
        return node.args, lambda items: self.fold(items, lambda chunk: _nest(name, chunk))

    def heaviside(self, node):
        """H(x) with SymPy's H(0) = ½ unless a second argument gives H0."""
        h0 = node.args[1] if len(node.args) > 1 else S.Half
        return [node.args[0], h0], lambda items: _call("heaviside", items)

    def dirac_delta(self, node):
        """0: δ(x) and its derivatives are point masses at x = 0, zero everywhere else and with
        no finite value there, so 0 is the pointwise derivative almost everywhere, the value AD
        and finite differences see too."""
        return [], lambda items: self.leaf(S.Zero)

    def piecewise(self, node):
        """Nested where(c₁, e₁, where(c₂, e₂, …)) on NumPy, (e₁ if c₁ else …) on mpmath; NaN
        where no condition holds. where evaluates every branch (warnings from a branch outside
        its condition still fire), and so does mpmath for a branch deep enough to be hoisted."""
        pieces = [piece.args for piece in node.args]
        default = pieces.pop()[0] if pieces[-1][1] is S.true else None
        operands = [x for piece in pieces for x in piece] + ([default] if default is not None
                                                            else [])

        def compose(items):
            otherwise = items[-1] if default is not None else self.leaf(S.NaN)
            for k in reversed(range(len(pieces))):
                value, condition = items[2 * k], items[2 * k + 1]
                otherwise = (_Text(f"({value.text} if {condition.text} else {otherwise.text})",
                                   ATOM, max(value.depth, condition.depth, otherwise.depth) + 1)
                             if self.mpmath else _call("where", [condition, value, otherwise]))
                if k and (otherwise.depth > MAX_DEPTH or len(otherwise.text) > MAX_WIDTH):
                    otherwise = self.hoist(otherwise)
            return otherwise
        return operands, compose

    def if_then_else(self, node):
        """ITE(a, b, c), the boolean SymPy makes of a condition on a Piecewise (a second relu
        layer's relu(u)·w + b > 0): where(a, b, c) on NumPy, (b if a else c) on mpmath."""
        def compose(items):
            condition, then, otherwise = items
            if self.mpmath:
                return _Text(f"({then.text} if {condition.text} else {otherwise.text})", ATOM,
                             _depth(items))
            return _call("where", [condition, then, otherwise])
        return node.args, compose

    def relation(self, node):
        return node.args, lambda items: _Text(
            f"({items[0].text} {node.rel_op} {items[1].text})", ATOM, _depth(items))

    def logic(self, node):
        if node.func is sympy.Not:
            return node.args, (lambda items: _Text(f"(not {items[0].text})", ATOM, _depth(items))
                               ) if self.mpmath else (lambda items: _call("logical_not", items))
        word = {sympy.And: ("and", "&"), sympy.Or: ("or", "|")}[node.func][not self.mpmath]
        return node.args, lambda items: self.fold(items, lambda chunk: _Text(
            f"({f' {word} '.join(_wrap(item, ATOM) for item in chunk)})", ATOM, _depth(chunk)))

    def fold(self, items, join):
        """join(items), accumulating in a temporary ``CHUNK`` operands per line."""
        while len(items) > CHUNK:
            items = [self.hoist(join(items[:CHUNK])), *items[CHUNK:]]
        return join(items)


def _depth(items):
    return max(item.depth for item in items) + len(items)


def _wrap(item, precedence):
    return item.text if item.precedence >= precedence else f"({item.text})"


def _call(name, items):
    return _Text(f"{name}({', '.join(item.text for item in items)})", ATOM, _depth(items))


def _nest(name, items):
    """name(name(a, b), c)…: a left fold of a binary function."""
    text = items[0].text
    for item in items[1:]:
        text = f"{name}({text}, {item.text})"
    return _Text(text, ATOM, _depth(items))


def _sum(items):
    """a + b - c…: a term printed with a leading minus is subtracted, as it reads."""
    text = [_wrap(items[0], ADD)]
    for item in items[1:]:
        if item.precedence >= MUL and item.text.startswith("-"):
            text.append(f" - {item.text[1:]}")
        else:
            text.append(f" + {_wrap(item, MUL)}")
    return _Text("".join(text), ADD if len(items) > 1 else items[0].precedence, _depth(items))


def _product(items):
    """a*b*c…: later factors bind tighter than *, so a/b never swallows them."""
    text = "*".join([_wrap(items[0], MUL), *(_wrap(item, POW) for item in items[1:])])
    alone = items[0].precedence if items[0].precedence >= MUL else ATOM
    return _Text(text, MUL if len(items) > 1 else alone, _depth(items))
