"""Straight-line programs over SymPy expressions: the common form of every symbolic mode.

A ``Program`` is what gets compiled: ``assignments`` bind fresh symbols to small expressions
in earlier symbols and the inputs, in order, and ``outputs`` are expressions in those symbols.
The ``tree`` mode has no assignments (each output is a whole expression tree), ``cse`` has
SymPy's common-subexpression temporaries, and ``dag`` one assignment per distinct node.
"""

from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache

import sympy


@dataclass
class Program:
    """``inputs``: named groups of input symbols, e.g. (("theta", θ₀…θₙ₋₁), ("x", x₀…)).

    ``assignments``: [(symbol, expression)], each expression using only input symbols and
    symbols assigned before it. ``outputs``: expressions in the same symbols.
    """

    inputs: tuple
    assignments: list = field(default_factory=list)
    outputs: list = field(default_factory=list)

    def input_symbols(self):
        return [s for _, group in self.inputs for s in group]


def is_leaf(node):
    """Symbols, numbers and boolean constants: printed in place, never assigned."""
    return not node.args or node.is_Symbol or node.is_Number or node.is_NumberSymbol


def is_value(node):
    """An expression that gets its own assignment; conditions and Piecewise pairs stay inline."""
    return isinstance(node, sympy.Expr) and not is_leaf(node)


def linearize(roots, inputs, prefix="t", bindings=()):
    """The DAG of ``roots`` as a Program: one assignment per distinct non-leaf subexpression.

    ``bindings`` ((symbol, expression) in order, each in the inputs and earlier symbols) are
    what the tracer named (``trace.Traced.bindings``): each symbol stands for its expression,
    linearized first, so the roots may be written in them.

    Post-order walk with an explicit stack (expression DAGs can be far deeper than Python's
    recursion limit); a node met again is not walked again, so the cost is linear in the DAG.
    Equal bodies share one assignment, and products of three or more factors become chains
    of binary products in the order the factors were assigned: SymPy flattens a·(b·c) into
    one n-ary product, so without the chains a nest like the logistic map's
    lₙ = 4lₙ₋₁(1 − lₙ₋₁) would re-multiply every earlier factor at every level (O(n²)).
    """
    program = Program(inputs)
    names, bodies = {}, {}
    for symbol, body in bindings:
        _walk(body, names, bodies, program, prefix)
        names[symbol] = names[body]
    for root in roots:
        _walk(root, names, bodies, program, prefix)
    program.outputs = [names[root] for root in roots]
    return program


def _walk(root, names, bodies, program, prefix):
    """Name every node under ``root`` (post-order, iterative): leaves as themselves, values by
    an assignment."""
    stack = [(root, False)]
    while stack:
        node, ready = stack.pop()
        if node in names:
            continue
        if is_leaf(node):
            names[node] = node
        elif not ready:
            stack.append((node, True))
            stack.extend((arg, False) for arg in node.args if arg not in names)
        elif not is_value(node):
            names[node] = _rebuilt(node, names)
        elif node.is_Mul:
            names[node] = _product_chain([names[arg] for arg in node.args], program,
                                         bodies, prefix)
        else:
            names[node] = _assigned(_rebuilt(node, names), program, bodies, prefix)


def _rebuilt(node, names):
    """node with its arguments replaced by their names (itself when none changed)."""
    args = [names[arg] for arg in node.args]
    return node if all(a is b for a, b in zip(args, node.args)) else node.func(*args)


def _assigned(body, program, bodies, prefix):
    """The symbol bound to ``body``: an earlier one if an equal body was assigned before."""
    if is_leaf(body):
        return body
    if body not in bodies:
        bodies[body] = sympy.Symbol(f"{prefix}{len(program.assignments)}", real=True)
        program.assignments.append((bodies[body], body))
    return bodies[body]


def _product_chain(factors, program, bodies, prefix):
    """c·f₁·f₂·…·fₖ as ((f₁·f₂)·f₃)… then ·c, factors in assignment order, each link shared."""
    coefficient = sympy.Mul(*[f for f in factors if f.is_Number])
    others = [f for f in factors if not f.is_Number]
    if len(others) < 2 or (len(others) == 2 and coefficient == 1):
        return _assigned(sympy.Mul(*factors), program, bodies, prefix)
    order = {symbol: k for k, (symbol, _) in enumerate(program.assignments)}
    others.sort(key=lambda f: (order.get(f, -1), sympy.default_sort_key(f)))
    chain = others[0]
    for factor in others[1:]:
        chain = _assigned(sympy.Mul(chain, factor), program, bodies, prefix)
    return chain if coefficient == 1 else _assigned(coefficient * chain, program, bodies, prefix)


def prune(program):
    """Drop the assignments no output needs (dead code after differentiation)."""
    needed = set()
    for output in program.outputs:
        needed |= output.free_symbols
    kept = []
    for symbol, expression in reversed(program.assignments):
        if symbol in needed:
            kept.append((symbol, expression))
            needed |= expression.free_symbols
    return Program(program.inputs, kept[::-1], program.outputs)


class Reverse:
    """Reverse-mode differentiation of a Program, carried out on its symbols.

    Each assignment t = φ(a₁, …, aₖ) contributes t̄·∂φ/∂aᵢ to the adjoint āᵢ; an adjoint is
    assigned as the sum of its contributions once every consumer has been swept (reverse
    order), so each sweep adds O(program) small assignments — the cheap-gradient principle,
    symbolically (Griewank & Walther, Evaluating Derivatives, ch. 3). The local partials
    ∂φ/∂aᵢ are found once per assignment and shared by all sweeps (Hessians sweep n times).
    """

    def __init__(self, program, prefix, wrt):
        self.program = program
        self.prefix = prefix
        self.count = 0
        self.assignments = list(program.assignments)
        self.active = _depending_on(program.assignments, set(wrt))
        self._partials = {}

    def fresh(self, expression):
        """expression as a symbol: itself if it is a leaf, else a new assignment."""
        if is_leaf(expression):
            return expression
        symbol = sympy.Symbol(f"{self.prefix}{self.count}", real=True)
        self.count += 1
        self.assignments.append((symbol, expression))
        if not self.active.isdisjoint(expression.free_symbols):
            self.active.add(symbol)
        return symbol

    def partials(self, symbol, expression):
        """[(aᵢ, ∂φ/∂aᵢ)] for the active symbols aᵢ of t = φ(…), in terms of t where it helps."""
        if symbol not in self._partials:
            arguments = sorted(expression.free_symbols & self.active, key=sympy.default_sort_key)
            self._partials[symbol] = _partials(symbol, expression, arguments)
        return self._partials[symbol]

    def sweep(self, seed, wrt):
        """∂seed/∂wᵢ for every symbol wᵢ of ``wrt`` (a subset of the constructor's), as leaves
        or fresh symbols. ``seed`` is an expression in the program's symbols.

        Only the program and the seed's own assignment are swept, not the adjoints that
        earlier sweeps appended (a Hessian sweeps once per row).
        """
        mark = len(self.assignments)
        seed = self.fresh(seed)
        forward = self.program.assignments + self.assignments[mark:]
        contributions = {seed: [sympy.S.One]} if seed in self.active else {}
        for symbol, expression in reversed(forward):
            parts = contributions.pop(symbol, None)
            if parts is None:
                continue
            adjoint = self.fresh(sympy.Add(*parts))
            for arg, d in self.partials(symbol, expression):
                contributions.setdefault(arg, []).append(adjoint if d == 1 else adjoint * d)
        return [self.fresh(sympy.Add(*contributions[w])) if w in contributions else sympy.S.Zero
                for w in wrt]


def _depending_on(assignments, active):
    """The symbols whose value depends on ``active`` (inputs), found in one forward pass."""
    active = set(active)
    for symbol, expression in assignments:
        if not active.isdisjoint(expression.free_symbols):
            active.add(symbol)
    return active


def _partials(symbol, expression, arguments):
    """[(a, ∂φ/∂a)] for t = φ(…): sums and products by rule, the rest by SymPy's diff of φ.

    The derivative is rewritten in terms of t where φ reappears in it (d tanh = 1 − t²,
    d exp = t), so it reuses the forward value instead of recomputing it. Sums and products
    count their arguments once, so a sum of 10 000 terms costs O(10 000), not O(10 000²).
    """
    counts = Counter(expression.args) if expression.is_Add or expression.is_Mul else {}
    # the rules for sums and products hold only where arg is a term or factor and appears
    # nowhere inside the others (a partial such as b/(a² + b²) has b in both places)
    inside = Counter(s for other in counts for s in other.free_symbols) if counts else {}
    found = []
    for arg in arguments:
        alone = arg in counts and inside[arg] == 1
        if expression.is_Add and alone:
            d = sympy.Integer(counts[arg])
        elif expression.is_Mul and alone and counts[arg] == 1 and len(expression.args) <= 8:
            d = sympy.Mul(*[factor for factor in expression.args if factor != arg])
        elif expression.is_Pow and expression.base == arg and expression.exp.is_Number:
            d = expression.exp * arg ** (expression.exp - 1)
        elif isinstance(expression, sympy.Function) and expression.args == (arg,):
            u, value, derivative = _derivative_template(expression.func)
            d = derivative.xreplace({value: symbol, u: arg})
        else:
            d = sympy.diff(expression, arg).xreplace({expression: symbol})
        found.append((arg, d))
    return found


@lru_cache(maxsize=None)
def _derivative_template(function):
    """(u, f(u), f′(u)) for a one-argument SymPy function, differentiated once per function."""
    u = sympy.Dummy("u", real=True)
    return u, function(u), sympy.diff(function(u), u)
