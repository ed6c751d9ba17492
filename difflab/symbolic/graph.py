"""The dag mode's own straight-line program: nodes of plain Python tuples, SymPy only at the
leaves and inside small templates.

SymPy builds every expression through its automatic evaluation (a product of a symbol and a
float costs ~100 µs, a ``tanh`` ~75 µs): a program of 50 000 operations built, differentiated
and shared in SymPy objects takes tens of seconds before differentiation has done any real
work. Here a node is a row of four parallel lists (kind, operands, datum, depends on θ), and
equal nodes are one node (hash-consing on (kind, operands, datum)), so building, sharing and
sweeping cost microseconds per node and the time is linear in the program's size.

Node kinds: an input symbol, a constant (a SymPy number, exact for mpmath), an n-ary sum, a
binary product, a power with a numeric exponent, and an *application* of a ``Template``: a
small SymPy expression in placeholder symbols (``tanh(u0)``, ``Piecewise((0, u0 <= 0),
(u0, True))``, ``Max(u0, u1)``) whose partial derivatives SymPy finds once per template and
whose text is printed once per template. Every node's id is its position, so operands always
come before the node: the list is a topological order.

``Graph.convert`` reads SymPy expressions (the tracer's named bindings) into nodes;
``Graph.sweep`` is reverse mode on the nodes (Griewank & Walther, Evaluating Derivatives,
ch. 3): each node's adjoint is the sum of its consumers' contributions, each contribution
one product, so a sweep adds O(program) nodes. ``GraphProgram`` compiles the nodes an output
needs to NumPy or mpmath code, one line per node, and measures them (``swell.Sizes``).
"""

import heapq
from dataclasses import dataclass

import sympy
from sympy import S

from ..errors import DiffLabError, SwellLimitError
from .codegen import ADD as ADD_PRECEDENCE
from .codegen import (ATOM, FILENAME, MAX_DEPTH, MAX_WIDTH, MUL, POW, _Printer, _sum, _Text,
                      _wrap)
from .swell import Sizes, tree_size

INPUT, CONST, ADD, PRODUCT, POWER, APPLY = range(6)
CHUNK = 64                   # terms of a sum printed on one line


class Template:
    """A small SymPy expression in placeholders u0…uk (``PLACEHOLDERS``): an operation the
    graph has no kind for. Its partials are SymPy's ``diff``, written in terms of the
    template's own value (``SELF``) where it reappears (d tanh(u) = 1 − s²)."""

    def __init__(self, expression, arity):
        self.expression, self.arity = expression, arity
        self._partials = {}
        self.ops, nodes = tree_size(expression, {})
        # how often the tree reads each operand (relu's Piecewise reads u0 twice)
        found = [node for node in sympy.preorder_traversal(expression) if node.is_Symbol]
        self.uses = [found.count(PLACEHOLDERS[k]) for k in range(arity)]
        self.nodes = max(nodes - sum(self.uses), 1)

    def partial(self, k):
        if k not in self._partials:
            d = sympy.diff(self.expression, PLACEHOLDERS[k])
            self._partials[k] = d.xreplace({self.expression: SELF})
        return self._partials[k]


PLACEHOLDERS = sympy.symbols("_u0:64", real=True)
SELF = sympy.Symbol("_self", real=True)


class Graph:
    """Hash-consed nodes; ``active`` marks the nodes that depend on the inputs ``wrt`` (θ),
    the only ones reverse sweeps visit."""

    def __init__(self, inputs, wrt):
        self.kinds, self.operands, self.data, self.active = [], [], [], []
        self._ids = {}
        self._templates = {}
        self._partials = {}
        self.symbols = {}                  # input symbol -> node id
        wrt = set(wrt)
        for _, group in inputs:
            for symbol in group:
                self.symbols[symbol] = self._node(INPUT, (), symbol, symbol in wrt)
        self.zero, self.one = self.const(S.Zero), self.const(S.One)

    def __len__(self):
        return len(self.kinds)

    def _node(self, kind, operands, datum, active=None):
        key = (kind, operands, datum)
        found = self._ids.get(key)
        if found is not None:
            return found
        i = len(self.kinds)
        self.kinds.append(kind)
        self.operands.append(operands)
        self.data.append(datum)
        if active is None:
            active = any(self.active[a] for a in operands)
        self.active.append(active)
        self._ids[key] = i
        return i

    def const(self, number):
        # keyed by type as well: SymPy's Float(2.0) and Integer(2) are different constants
        # for mpmath's exact evaluation, and their equality is SymPy's business
        return self._node(CONST, (), (type(number).__name__, number), False)

    def number(self, i):
        """The SymPy number of a constant node that is a number (π and the like are not:
        their sums and products are not numbers, so nothing folds them), else None."""
        if self.kinds[i] != CONST:
            return None
        value = self.data[i][1]
        return value if value.is_Number else None

    def add(self, terms):
        """Σ terms: constants summed into one (exactly), zeros dropped, operands in id order."""
        numbers = [self.number(t) for t in terms]
        constant = sympy.Add(*[_exact(n) for n in numbers if n is not None])
        rest = sorted(t for t, n in zip(terms, numbers) if n is None)
        if not constant.is_zero:            # 0.0 too: SymPy's Float(0.0) != 0
            rest.append(self.const(constant))
        if not rest:
            return self.zero
        if len(rest) == 1:
            return rest[0]
        return self._node(ADD, tuple(rest), None)

    def mul(self, a, b):
        """a·b: numbers multiplied, 1 and 0 folded; the constant factor is the second."""
        na, nb = self.number(a), self.number(b)
        if na is not None and nb is not None:
            return self.const(_exact(na) * _exact(nb))
        if na is not None:
            a, b, na, nb = b, a, nb, na
        if nb is not None:
            if nb == 1 or (nb.is_Float and float(nb) == 1.0):
                return a
            if nb.is_zero:                  # as SymPy's own x·0.0 = 0
                return self.zero
            return self._node(PRODUCT, (a, b), None)
        return self._node(PRODUCT, (min(a, b), max(a, b)), None)

    def product(self, factors):
        """((f₁·f₂)·f₃)…·c in id order, each link a node: SymPy's flat product a·(b·c)
        re-multiplied at every level would make a nest like the logistic map's
        lₙ = 4lₙ₋₁(1 − lₙ₋₁) quadratic."""
        numbers = [self.number(f) for f in factors]
        constant = sympy.Mul(*[_exact(n) for n in numbers if n is not None])
        rest = sorted(f for f, n in zip(factors, numbers) if n is None)
        if not rest:
            return self.const(constant)
        chain = rest[0]
        for factor in rest[1:]:
            chain = self.mul(chain, factor)
        return self.mul(chain, self.const(constant))

    def power(self, base, exponent):
        """base^e for a SymPy number e."""
        n = self.number(base)
        if n is not None and (_exact(n) ** exponent).is_Rational:
            return self.const(_exact(n) ** exponent)
        if exponent == 1:
            return base
        if exponent == 0:
            return self.one
        return self._node(POWER, (base,), exponent)

    def apply(self, expression, operands):
        """The template ``expression`` (in ``PLACEHOLDERS``) at the nodes ``operands``; with
        none, a constant SymPy leaves unevaluated (log(2))."""
        template = self._templates.get(expression)
        if template is None:
            template = self._templates[expression] = Template(expression, len(operands))
        return self._node(APPLY, tuple(operands), template)

    # From SymPy.

    def convert(self, root, names):
        """The node of the SymPy expression ``root``; ``names`` maps the SymPy expressions
        already converted (every input symbol and named binding, at least) to nodes, and
        learns the ones converted here. Post-order with an explicit stack: an unnamed
        expression can be deeper than Python's recursion."""
        stack = [(root, False)]
        while stack:
            node, ready = stack.pop()
            if node in names:
                continue
            if node.is_Number or node.is_NumberSymbol or node in _SPECIAL:
                names[node] = self.const(node)
                continue
            if node.is_Symbol:
                found = self.symbols.get(node)
                if found is None:
                    raise DiffLabError(f"symbolic: the program uses {node}, which is neither "
                                       "an input nor a symbol named before its use")
                names[node] = found
                continue
            arguments = _arguments(node)
            if not ready:
                stack.append((node, True))
                stack.extend((arg, False) for arg in arguments if arg not in names)
                continue
            ids = [names[arg] for arg in arguments]
            if node.is_Add:
                names[node] = self.add(ids)
            elif node.is_Mul:
                names[node] = self.product(ids)
            elif node.is_Pow and node.exp.is_Number:
                names[node] = self.power(ids[0], node.exp)
            else:
                names[node] = self._applied(node, arguments, ids)
        return names[root]

    def _applied(self, node, arguments, ids):
        """``node`` as a template application over its ``arguments`` (their nodes ``ids``)."""
        unique = sorted(set(ids))
        position = {i: k for k, i in enumerate(unique)}
        if len(unique) > len(PLACEHOLDERS):
            raise DiffLabError(f"symbolic: {type(node).__name__} with {len(unique)} operands; "
                               f"the dag mode takes at most {len(PLACEHOLDERS)}")
        placeholders = {arg: PLACEHOLDERS[position[i]] for arg, i in zip(arguments, ids)}
        if _is_call(node):
            expression = node.func(*[placeholders.get(arg, arg) for arg in node.args])
        else:
            expression = node.xreplace(placeholders)
        return self.apply(expression, unique)

    def expression(self, i, memo=None):
        """Node ``i`` as a SymPy expression (evaluated as SymPy builds it): for tests and
        display, not for large programs."""
        memo = {} if memo is None else memo
        for j in self._below([i]):
            if j in memo:
                continue
            kind, operands, datum = self.kinds[j], self.operands[j], self.data[j]
            args = [memo[a] for a in operands]
            if kind == INPUT:
                memo[j] = datum
            elif kind == CONST:
                memo[j] = datum[1]
            elif kind == ADD:
                memo[j] = sympy.Add(*args)
            elif kind == PRODUCT:
                memo[j] = sympy.Mul(*args)
            elif kind == POWER:
                memo[j] = args[0] ** datum
            else:
                memo[j] = datum.expression.xreplace(dict(zip(PLACEHOLDERS, args)))
        return memo[i]

    # Reverse mode.

    def partials(self, i):
        """[(operand, ∂node/∂operand)] over the node's active operands, found once."""
        found = self._partials.get(i)
        if found is not None:
            return found
        kind, operands, datum = self.kinds[i], self.operands[i], self.data[i]
        found = []
        if kind == ADD:
            for a in sorted(set(operands)):
                if self.active[a]:
                    found.append((a, self.const(sympy.Integer(operands.count(a)))))
        elif kind == PRODUCT:
            a, b = operands
            if a == b:
                found.append((a, self.mul(a, self.const(sympy.Integer(2)))))
            else:
                found.extend((x, y) for x, y in ((a, b), (b, a)) if self.active[x])
        elif kind == POWER:
            found.append((operands[0], self._power_partial(i, operands[0], datum)))
        elif kind == APPLY:
            names = {SELF: i, **dict(zip(PLACEHOLDERS, operands))}
            for k, a in enumerate(operands):
                if self.active[a]:
                    found.append((a, self.convert(datum.partial(k), dict(names))))
        self._partials[i] = found
        return found

    def _power_partial(self, i, base, e):
        """d b^e / db, through the node's own value t where that saves work: −t² for e = −1,
        1/(2t) for e = ½."""
        if e == -1:
            return self.mul(self.power(i, sympy.Integer(2)), self.const(S.NegativeOne))
        if e == S.Half:
            return self.mul(self.power(i, S.NegativeOne), self.const(S.Half))
        return self.mul(self.power(base, _exact(e) - 1), self.const(e))

    def sweep(self, seed, wrt):
        """∂seed/∂w for each node w of ``wrt`` (input nodes): one reverse sweep over the
        active nodes below the seed, latest first (a heap of the pending ones)."""
        if not self.active[seed]:
            return [self.zero] * len(wrt)
        pending, heap, found = {seed: [self.one]}, [-seed], {}
        while heap:
            i = -heapq.heappop(heap)
            adjoint = self.add(pending.pop(i))
            if self.kinds[i] == INPUT:
                found[i] = adjoint
                continue
            for operand, d in self.partials(i):
                part = adjoint if d == self.one else self.mul(adjoint, d)
                if operand in pending:
                    pending[operand].append(part)
                else:
                    pending[operand] = [part]
                    heapq.heappush(heap, -operand)
        return [found.get(w, self.zero) for w in wrt]

    def _below(self, roots):
        """The nodes ``roots`` need, in id (topological) order."""
        needed, stack = set(roots), list(roots)
        while stack:
            for a in self.operands[stack.pop()]:
                if a not in needed:
                    needed.add(a)
                    stack.append(a)
        return sorted(needed)


_SPECIAL = {S.true, S.false, S.NaN, S.Infinity, S.NegativeInfinity}


def _exact(number):
    """A Float as the exact rational its binary value is, so that folding constants rounds
    nothing: the NumPy code rounds the folded constant once, mpmath keeps it exact."""
    return sympy.Rational(number) if number.is_Float and number.is_finite else number


def _is_call(node):
    """A function application whose arguments are all expressions: tanh(x), Max(a, b)."""
    return isinstance(node, sympy.Function) and all(isinstance(a, sympy.Expr)
                                                    for a in node.args)


def _arguments(node):
    """The subexpressions a node is converted over: its arguments for sums, products, powers
    and calls (numbers included, as constants or template constants), its free symbols for
    anything else (a Piecewise's conditions and branches stay inside its template)."""
    if node.is_Add or node.is_Mul:
        return node.args
    if node.is_Pow and node.exp.is_Number:
        return (node.base,)
    if _is_call(node):
        return tuple(a for a in node.args if not a.is_Number)
    return tuple(sorted(node.free_symbols, key=sympy.default_sort_key))


@dataclass
class GraphProgram:
    """Nodes of a ``Graph`` as a program: the named input groups and the output nodes."""

    graph: Graph
    inputs: tuple
    outputs: list

    def with_outputs(self, outputs):
        return GraphProgram(self.graph, self.inputs, list(outputs))

    def nodes(self):
        """The operation nodes the outputs need, in order (inputs and constants are not)."""
        g = self.graph
        return [i for i in g._below(self.outputs) if g.kinds[i] not in (INPUT, CONST)]

    def sizes(self):
        """``swell.Sizes``: each node is one temporary; a sum of k terms is k − 1 operations,
        a product or power one, a template its own operations."""
        g = self.graph
        own, tree = {}, {}
        for i in g._below(self.outputs):
            kind, operands = g.kinds[i], g.operands[i]
            if kind in (INPUT, CONST):
                tree[i] = (0, 1)
                continue
            if kind == APPLY:
                template = g.data[i]
                ops, nodes, reads = template.ops, template.nodes, template.uses
            else:
                # a power's tree holds its exponent as a leaf too
                ops = {ADD: len(operands) - 1, PRODUCT: 1, POWER: 1}[kind]
                nodes, reads = (2 if kind == POWER else 1), [1] * len(operands)
            own[i] = ops
            tree[i] = (ops + sum(k * tree[a][0] for k, a in zip(reads, operands)),
                       nodes + sum(k * tree[a][1] for k, a in zip(reads, operands)))
        return Sizes(sum(tree[o][0] for o in self.outputs), sum(tree[o][1] for o in self.outputs),
                     len(own), sum(own.values()), len(own))

    def compile(self, target="numpy", max_lines=2_000_000, max_seconds=None):
        """``fn(out, *groups)`` (NumPy: writes output k to ``out[k]``, skipping exact zeros,
        so ``out`` comes zero-filled) or ``fn(*groups)`` returning the outputs (mpmath), as
        ``codegen.compile_program``; one line per node, whose value lives in a register
        that is reused once the node's last consumer has run."""
        return _Emitter(self, target, max_lines, max_seconds).function()


class _Emitter:
    def __init__(self, program, target, max_lines, max_seconds):
        self.program, self.graph = program, program.graph
        self.printer = _Printer(target, max_lines, max_seconds)
        self.mpmath = target == "mpmath"
        self.text = {}          # node -> _Text where it is read
        self.formats = {}       # template -> its text with {0}, {1}, … for the operands

    def function(self):
        printer, g = self.printer, self.graph
        parameters = printer.unpack(self.program.inputs)
        for symbol, i in g.symbols.items():
            if symbol in printer.names:
                self.text[i] = printer.names[symbol]
        nodes = self.program.nodes()
        uses = {}
        for i in nodes:
            for a in g.operands[i]:
                uses[a] = uses.get(a, 0) + 1
        outputs = {}
        for k, i in enumerate(self.program.outputs):
            outputs.setdefault(i, []).append(k)
        target = "_r" if self.mpmath else "out"
        if self.mpmath:
            printer.emit(f"_r = [None] * {len(self.program.outputs)}")
        for k, i in enumerate(self.program.outputs):         # outputs no node computes
            if g.kinds[i] in (INPUT, CONST) and not (i == g.zero and not self.mpmath):
                printer.emit(f"{target}[{k}] = {self.read(i).text}")
        # A node read once is printed inside its reader's line while the text stays small (as
        # codegen prints trees); the others get a register, free again after its last read.
        reads = {}              # node -> the registered nodes its text reads
        free, registers, register = [], 0, {}
        for position, i in enumerate(nodes):
            text = self.line(i)
            read = [r for a in g.operands[i] for r in reads.get(a, ())]
            if uses.get(i) == 1 and i not in outputs and text.depth <= MAX_DEPTH \
                    and len(text.text) <= MAX_WIDTH:
                self.text[i], reads[i] = text, read
                continue
            for r in read:
                uses[r] -= 1
                if uses[r] == 0:
                    free.append(register.pop(r))
            if free:
                name = free.pop()
            else:
                name, registers = f"_r{registers}", registers + 1
            printer.emit(f"{name} = {text.text}")
            self.text[i], reads[i], register[i] = _Text(name), [i], name
            for k in outputs.get(i, ()):
                printer.emit(f"{target}[{k}] = {name}")
            if i not in uses:                  # an output no later node reads
                free.append(register.pop(i))
            if position % 1024 == 0:
                printer.check_time()
        if self.mpmath:
            printer.emit("return _r")
        header = f"def compiled_program({'' if self.mpmath else 'out, '}{', '.join(parameters)}):"
        source = "\n".join([header, *(printer.lines or ["    pass"])]) + "\n"
        try:
            code = compile(source, FILENAME, "exec")
        except (RecursionError, MemoryError, SyntaxError) as exc:
            n = len(printer.lines)
            raise SwellLimitError("compile", "generated lines", n, n, (
                f"Python's compiler could not take them ({type(exc).__name__}: {exc})")) from exc
        printer.check_time()
        exec(code, printer.namespace)
        fn = printer.namespace["compiled_program"]
        fn.source = source
        return fn

    def read(self, i):
        """The text node ``i`` is read as: its register, input name or constant."""
        if i not in self.text:
            self.text[i] = self.printer.leaf(self.graph.data[i][1])
        return self.text[i]

    def line(self, i):
        """Node i's expression as a ``_Text`` over its operands' texts."""
        g = self.graph
        kind, operands, datum = g.kinds[i], g.operands[i], g.data[i]
        items = [self.read(a) for a in operands]
        depth = max((item.depth for item in items), default=0) + 1
        if kind == ADD:
            if len(items) > CHUNK:     # printed over lines through _s: never inside another
                return _Text(self.sum(items), ADD_PRECEDENCE, MAX_DEPTH + 1)
            return _Text(self.sum(items), ADD_PRECEDENCE, depth)
        if kind == PRODUCT:
            a, b = items
            if g.number(operands[1]) == -1:
                return _Text(f"-{_wrap(a, POW)}", MUL, depth)
            return _Text(f"{_wrap(a, MUL)}*{_wrap(b, POW)}", MUL, depth)
        if kind == POWER:
            return self.power(items[0], datum, depth)
        return self.call(datum, items, depth)

    def sum(self, items):
        text = _sum(items[:CHUNK]).text
        for start in range(CHUNK, len(items), CHUNK):       # a long sum: a few terms a line
            self.printer.emit(f"_s = {text}")
            text = _sum([_Text("_s"), *items[start:start + CHUNK]]).text
        return text

    def power(self, base, e, depth):
        if e == S.Half:
            return _Text(f"sqrt({base.text})", ATOM, depth)
        one = self.read(self.graph.one).text
        if e == -1:
            return _Text(f"{one}/{_wrap(base, POW)}", MUL, depth)
        if e.is_Integer and e < 0:
            return _Text(f"{one}/{_wrap(base, ATOM)}**{-int(e)}", MUL, depth)
        exponent = str(int(e)) if e.is_Integer else _wrap(self.printer.leaf(e), ATOM)
        return _Text(f"{_wrap(base, ATOM)}**{exponent}", POW, depth)

    def call(self, template, items, depth):
        """The template's text with the operands' texts, and its precedence: printed once
        per template. An operand is parenthesized unless it is an atom (a register, an input,
        a call), since the template was printed with its placeholders as atoms: ``2.0**u0``
        with u0 = a + b must read ``2.0**(a + b)``."""
        if template not in self.formats:
            printer = self.printer
            before = len(printer.lines)
            for k in range(template.arity):
                printer.names[PLACEHOLDERS[k]] = _Text(f"\x00{k}\x00")
            text = printer.expression(template.expression)
            if len(printer.lines) != before or text.depth > MAX_DEPTH \
                    or len(text.text) > MAX_WIDTH:
                raise DiffLabError(f"symbolic: the operation {template.expression} is too large "
                                   "to print on one line; report it as a difflab bug")
            escaped = text.text.replace("{", "{{").replace("}", "}}")
            self.formats[template] = ("".join(
                f"{{{part}}}" if k % 2 else part for k, part in enumerate(escaped.split("\x00"))),
                text.precedence)
        form, precedence = self.formats[template]
        return _Text(form.format(*[_wrap(item, ATOM) for item in items]), precedence, depth)
