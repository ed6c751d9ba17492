"""``jit``: trace a function once per input signature, replay it as generated NumPy code.

``jit(f)`` stages f (``difflab.ad.staging``) on the first call with a new signature — the
shapes and dtypes of its array arguments, the structure of its pytrees and the values of
its other (static) arguments — and prints the staged program as one straight-line Python
function of NumPy calls, which later calls with that signature run instead of f. Composed
with the engine (``jit(grad(f))``, or ``grad(f, jit=True)``), the program holds the forward
pass and the backward pass (and, for Hessians, forward-over-reverse) with every piece of
Python the engine runs between NumPy calls — tape, dispatch, rule lookup, shape logic,
structural zeros — done once at staging and gone from the replay. Values that do not depend
on the arguments are constants of the program: arrays ``f`` closes over are read when it is
staged (as ``jax.jit`` does), so changing one in place later is not seen.

The replay calls the very functions staging called, in the same order, on the same kinds of
arrays: its numbers are eager AD's bit for bit. Guards recorded while staging (a branch, an
index array, a boolean mask read by Python) are checked where staging met them; a failed
guard means f would have done something else, so the call is staged again (``retraces``)
and the new program joins the cache. ``jit(f).source(*args)`` is the program as it runs.

The cache belongs to the object ``jit`` returns: a program per signature (and per set of
guards), at most ``cache_size`` of them, the least recently used dropped first.
"""

import keyword
import math
import operator
import textwrap
from collections import OrderedDict

import numpy as np

from .. import numpy as dnp
from ..errors import DiffLabError
from ..pytree import tree_flatten, tree_unflatten
from . import staging
from .staging import Guard, Instruction, Program, Ref, Staged

CACHE_SIZE = 16

# ufuncs printed as the operator NumPy runs them with (the same ufunc, so the same numbers)
_OPERATORS = {np.add: "+", np.subtract: "-", np.multiply: "*", np.true_divide: "/",
              np.matmul: "@", operator.add: "+", operator.sub: "-", operator.mul: "*",
              operator.truediv: "/", operator.floordiv: "//", operator.mod: "%",
              operator.pow: "**", operator.matmul: "@", operator.and_: "&", operator.or_: "|",
              operator.xor: "^", operator.lt: "<", operator.le: "<=", operator.eq: "==",
              operator.ne: "!="}


class Stale(Exception):
    """A replay met a guard that does not hold: the call is staged again."""


class JitError(DiffLabError, TypeError):
    """An argument ``jit`` cannot key a program on."""


def jit(fn, static_argnums=(), cache_size=CACHE_SIZE):
    """f ↦ a function computing f by replaying NumPy programs staged from it (see the module).

    ``static_argnums``: positional arguments taken as fixed values (part of the signature,
    not inputs of the program), as in ``jax.jit``; numbers, strings and None are static
    wherever they appear.
    """
    return Jitted(fn, static_argnums, cache_size)


class Compiled:
    """One staged program: its source, the function compiled from it and its guards."""

    def __init__(self, source, function, outputs, calls, guards):
        self.source = source
        self.function = function
        self.outputs = outputs            # the output's treedef
        self.calls = calls                # NumPy calls per replay
        self.guards = guards


class Jitted:
    """A jit-compiled function: call it as f; ``source``, ``traces``, ``retraces``."""

    def __init__(self, fn, static_argnums=(), cache_size=CACHE_SIZE):
        if not callable(fn):
            raise JitError(f"jit: expected a function, got {type(fn).__name__}")
        if not isinstance(cache_size, int) or cache_size < 1:
            raise JitError(f"jit: cache_size must be a positive integer, got {cache_size!r}")
        self.fn = fn
        self.static_argnums = (static_argnums,) if isinstance(static_argnums, int) \
            else tuple(static_argnums)
        self.cache_size = cache_size
        self.cache = OrderedDict()        # signature → [Compiled, ...], most recent last
        self.traces = 0
        self.guard_failures = 0
        self.__name__ = getattr(fn, "__name__", "f")
        self.__doc__ = getattr(fn, "__doc__", None)

    @property
    def retraces(self):
        """Stagings after the first: a new signature, or a guard that failed."""
        return max(0, self.traces - 1)

    def __call__(self, *args, **kwargs):
        key, inputs = self._signature(args, kwargs)
        programs = self.cache.get(key)
        if programs:
            if len(self.cache) > 1:
                self.cache.move_to_end(key)
            for compiled in reversed(programs):
                try:
                    out = compiled.function(*inputs)
                except Stale:
                    self.guard_failures += 1
                    continue
                return out if compiled.outputs is None else tree_unflatten(compiled.outputs, out)
        return self._stage(key, args, kwargs)[1]

    def source(self, *args, **kwargs):
        """The Python source of the program these arguments run (staged now if need be)."""
        return self.compiled(*args, **kwargs).source

    def compiled(self, *args, **kwargs):
        """The ``Compiled`` program for these arguments: the one a call would run."""
        key, inputs = self._signature(args, kwargs)
        for compiled in reversed(self.cache.get(key, [])):
            try:
                compiled.function(*inputs)
            except Stale:
                continue
            return compiled
        return self._stage(key, args, kwargs)[0]

    def _signature(self, args, kwargs):
        """(a hashable key, the array arguments in order) — arrays by shape and dtype,
        everything else by value."""
        if not kwargs and not self.static_argnums:          # the common cases, in short
            if len(args) == 1 and type(args[0]) is np.ndarray:
                return ((args[0].shape, args[0].dtype.char),), args
            if all(type(a) is np.ndarray for a in args):
                return tuple((a.shape, a.dtype.char) for a in args), args
        parts, inputs = [], []
        for number, arg in enumerate(args):
            if number in self.static_argnums:
                parts.append(("static", _hashable(arg, f"argument {number}")))
                continue
            parts.append(_leaf_key(arg, inputs, f"argument {number}"))
        for name in sorted(kwargs):
            parts.append((name, _leaf_key(kwargs[name], inputs, f"keyword {name}")))
        return tuple(parts), inputs

    def _stage(self, key, args, kwargs):
        """Stage fn at these arguments: (the Compiled program, this call's result)."""
        program = Program()
        staged_args = [arg if number in self.static_argnums else _staged_tree(arg, program)
                       for number, arg in enumerate(args)]
        staged_kwargs = {name: _staged_tree(value, program) for name, value in kwargs.items()}
        out = self.fn(*staged_args, **staged_kwargs)
        leaves, treedef = tree_flatten(out)
        single = treedef.kind == "leaf"
        source, namespace, calls = _emit(program, leaves, single, self.__name__, args, kwargs)
        scope = {}
        exec(compile(source, f"<jit of {self.__name__}>", "exec"), namespace, scope)
        compiled = Compiled(source, scope["program"], None if single else treedef, calls,
                            [step for step in program.steps if type(step) is Guard])
        self.traces += 1
        programs = self.cache.setdefault(key, [])
        programs.append(compiled)
        self.cache.move_to_end(key)
        while sum(len(p) for p in self.cache.values()) > self.cache_size:
            oldest = next(iter(self.cache))
            self.cache[oldest].pop(0)
            if not self.cache[oldest]:
                del self.cache[oldest]
        result = [_copied(staging.real(leaf)) for leaf in leaves]
        return compiled, (result[0] if single else tree_unflatten(treedef, result))


def _copied(value):
    """A value f returned that is not staged is a constant of the program: a copy per call,
    so a caller changing one result in place does not change the next."""
    return value.copy() if isinstance(value, np.ndarray) else value


def _leaf_key(arg, inputs, where):
    """The key of one argument's pytree; its arrays appended to ``inputs``."""
    leaves, treedef = tree_flatten(arg)
    parts = [treedef]
    for leaf in leaves:
        if isinstance(leaf, (np.ndarray, np.generic)):
            array = np.asarray(leaf)
            if array.dtype.kind not in "biuf":
                raise JitError(f"jit: {where} has dtype {array.dtype}; jit stages float, "
                               "integer and boolean arrays (pass others as static arguments)")
            parts.append((type(leaf), array.shape, array.dtype.char))
            inputs.append(leaf)
        else:
            parts.append(("static", _hashable(leaf, where)))
    return tuple(parts)


def _hashable(value, where):
    try:
        hash(value)
    except TypeError:
        raise JitError(f"jit: {where} is a {type(value).__name__}, neither an array nor a "
                       "hashable value; pass arrays (or pytrees of them) and hashable static "
                       "values") from None
    return (type(value), value)


def _staged_tree(tree, program):
    leaves, treedef = tree_flatten(tree)
    staged = [program.input(leaf) if isinstance(leaf, (np.ndarray, np.generic)) else leaf
              for leaf in leaves]
    return tree_unflatten(treedef, staged)


# Code generation.

def _emit(program, outputs, single, name, args, kwargs):
    """(source, namespace, NumPy calls) of the function ``program(x1, …)`` replaying the
    live part of ``program`` and returning ``outputs``: the one value when f returned a
    single array (``single``), else the tuple of its pytree's leaves."""
    program, outputs = _shared(program, outputs)
    live = _live(program, outputs)
    printer = _Printer()
    skipped, buffers = _buffer_plan(program, live, outputs)
    uses = _uses(program, live, outputs)
    updates = _row_updates(program, live, uses, skipped | set(buffers))
    skipped |= {update.product.out for update in updates.values() if update.product}
    owned = set()          # values the program computed into fresh arrays of its own
    checked = set()        # values whose finiteness the replay has checked
    lines = []
    calls = 0
    for step in program.steps:
        if type(step) is Guard:
            lines.append(printer.guard(step))
        elif step.out in buffers:
            written = buffers[step.out].lines(printer, step.out)
            lines += written
            calls += len(written)
        elif step.out in updates:
            written = updates[step.out].lines(printer, uses, owned, checked)
            lines += written
            calls += len(written)
        elif step.out in live and step.out not in skipped:
            reused = _reusable(step, program.facts, uses, owned)
            if reused is None:
                lines.append(f"v{step.out} = {printer.call(step)}")
            else:
                printer.alias[step.out] = printer.alias.get(reused, reused)
                lines.append(printer.call(step, out=f"v{printer.alias[step.out]}"))
            if step.out in program.facts and (reused or step.method is None and (
                    isinstance(step.fn, np.ufunc) or step.fn in _FRESH)):
                owned.add(step.out)
            calls += 1
    returned = [printer.literal(_output_ref(leaf)) + (".copy()" if _is_constant_array(leaf)
                                                       else "") for leaf in outputs]
    parameters = ", ".join(f"v{n}" for n in program.inputs)
    signature = ", ".join(_described(a) for a in (*args, *kwargs.values()))
    head = [f"# jit of {name}({signature}): {calls} NumPy calls, "
            f"{sum(type(s) is Guard for s in program.steps) + len(checked)} guards",
            f"def program({parameters}):"]
    body = lines + [f"return {returned[0]}" if single else
                    f"return ({''.join(r + ', ' for r in returned)})"]
    source = "\n".join(head) + "\n" + textwrap.indent("\n".join(body), "    ") + "\n"
    return source, printer.namespace, calls


# Sums of scattered pieces, written into one buffer.
#
# The cotangent of a flat θ that f takes apart in slices is, in the rule table, a sum of
# untake(gᵢ, indexᵢ, θ.shape): a zero array per slice, added one after another. The replay
# writes each gᵢ straight into its region of one buffer instead — by copy where the region
# is still untouched, by += where an earlier piece wrote there, in the order of the sum — and
# lets the call that computes gᵢ (a matmul, a ufunc, a reduction) write into the region with
# ``out=`` when nothing else reads gᵢ. These are eager AD's own shortcuts
# (``tracing.Cotangents``): the same numbers.

def _buffer_plan(program, live, outputs):
    """(numbers of the instructions the buffers replace, {number of a sum: its _Buffer})."""
    untake = dnp.untake.impls[dnp.FLOAT]
    steps = {step.out: step for step in program.steps if type(step) is not Guard}
    uses = _uses(program, live, outputs)
    pieces, inner = {}, set()   # a sum of untakes (or one) → its untakes in the sum's order
    for step in program.steps:
        if type(step) is Guard or step.out not in live:
            continue
        if step.fn is untake and not step.kwargs and len(step.args) == 3 \
                and dnp.is_basic_index(step.args[1]) and step.out in program.facts:
            pieces[step.out] = [step]
        elif step.fn is np.add and len(step.args) == 2 and not step.kwargs and \
                all(type(a) is Ref and a.number in pieces and uses.get(a.number) == 1
                    for a in step.args) and \
                program.facts[step.args[0].number] == program.facts[step.args[1].number]:
            pieces[step.out] = pieces[step.args[0].number] + pieces[step.args[1].number]
            inner.update(a.number for a in step.args)
    tops = [number for number, members in pieces.items()
            if len(members) > 1 and number not in inner]
    # a buffer's sum is written by its own lines, so it cannot also be another buffer's
    # producer (θ sliced, and a slice of it sliced again: the cnn's filters)
    producers = {number: step for number, step in steps.items() if number not in tops}
    buffers, skipped = {}, set()
    for number in tops:
        buffer = _Buffer(pieces[number], program.facts, producers, uses)
        buffers[number] = buffer
        skipped |= buffer.replaced
        skipped |= {n for n in inner if n in _operands_below(number, steps, pieces)}
    return skipped, buffers


# Rows known to be zero.
#
# A Hessian seeds a block of unit directions at once, along a leading batch axis; a tangent
# that does not depend on θ (a slice of the seeds, pushed through the work that does not
# depend on θ) is a constant, zero outside the directions of its own parameter leaf. Where
# X + Y meets such a Y — the constant itself, or its product with a value that has no batch
# axis (multiply, matmul, or einsum over one index) — only Y's nonzero rows change X, so the
# replay adds those rows into X in place and computes the product on them alone. A finite
# value times zero is zero, so the numbers are eager's (X + 0 is X, up to the sign of a zero
# entry); the value multiplying the zeros is checked finite in the replay (a NaN there makes
# eager's rows NaN), and one staged non-finite keeps the whole product.

_OUTER = "...jl,...lk->...jk"
_PRODUCTS = (np.multiply, np.matmul)


class _RowUpdate:
    """out = X + Y where Y is zero outside rows [lo, hi): X's rows += Y's rows."""

    def __init__(self, out, target, rows, product, operand, span):
        self.out, self.target = out, target
        self.rows = rows              # the constant's nonzero rows (when Y is a constant)
        self.product = product        # Y's step, on the constant's rows (when Y is a product)
        self.operand = operand        # the number of the product's other operand
        self.lo, self.hi = span

    def lines(self, printer, uses, owned, checked):
        lines = []
        if self.operand is not None and self.operand not in checked:
            checked.add(self.operand)
            lines.append(f"if not {printer.function(staging.all_finite)}"
                         f"({printer.literal(Ref(self.operand))}): "
                         "raise Stale('a product with rows known to be zero met a NaN or inf')")
        target = self.target.number
        if target in owned and uses.get(target) == 1:      # X is the program's, read only here
            printer.alias[self.out] = printer.alias.get(target, target)
            name = f"v{printer.alias[self.out]}"
        else:
            name = f"v{self.out}"
            lines.append(f"{name} = {printer.literal(self.target)}.copy()")
        owned.add(self.out)
        rows = printer.literal(self.rows) if self.product is None else \
            printer.call(self.product)
        lines.append(f"{name}[{self.lo}:{self.hi}] += {rows}")
        return lines


def _row_updates(program, live, uses, taken):
    """{number of an X + Y: its _RowUpdate} (see the comment above); ``taken``: values the
    buffers compute."""
    steps = {step.out: step for step in program.steps if type(step) is not Guard}
    updates = {}
    for step in steps.values():
        if step.fn is not np.add or step.kwargs or step.method is not None or \
                len(step.args) != 2 or step.out not in live or step.out in taken:
            continue
        facts = program.facts.get(step.out)
        if facts is None or not facts[0]:
            continue
        for target, other in (step.args, step.args[::-1]):
            if type(target) is Ref and program.facts.get(target.number) == facts:
                update = _increment(other, facts, program, steps, uses, taken)
                if update is not None:
                    updates[step.out] = _RowUpdate(step.out, target, *update)
                    break
    return updates


def _increment(y, facts, program, steps, uses, taken):
    """(constant rows, product step, its checked operand, (lo, hi)) of a Y zero outside rows
    [lo, hi) of X + Y's shape, or None."""
    shape = facts[0]
    if type(y) is np.ndarray:
        span = _nonzero_rows(y, shape)
        return None if span is None else (y[span[0]:span[1]], None, None, span)
    if type(y) is not Ref or uses.get(y.number) != 1 or y.number in taken or \
            program.facts.get(y.number) != facts:
        return None
    product = steps.get(y.number)
    if product is None or product.kwargs or product.method is not None:
        return None
    if product.fn in _PRODUCTS and len(product.args) == 2:
        leading, operands = (), product.args
    elif product.fn is np.einsum and len(product.args) == 3 and product.args[0] == _OUTER:
        leading, operands = product.args[:1], product.args[1:]
    else:
        return None
    for place, (constant, operand) in enumerate((operands, operands[::-1])):
        if type(constant) is np.ndarray and type(operand) is Ref and \
                program.finite.get(operand.number) and \
                len(program.facts[operand.number][0]) < len(shape):   # no batch axis
            span = _nonzero_rows(constant, shape)
            if span is None:
                return None
            rows = constant[span[0]:span[1]]
            args = (rows, operand) if place == 0 else (operand, rows)
            step = Instruction(product.fn, (*leading, *args), {}, product.out)
            return None, step, operand.number, span
    return None


def _nonzero_rows(constant, shape):
    """(lo, hi) when a constant laid along all of shape's axes, with shape's batch of rows,
    is zero outside rows [lo, hi) and they are at most three quarters of them."""
    if constant.ndim != len(shape) or constant.shape[0] != shape[0] or constant.size == 0 \
            or constant.dtype.kind not in "fc":
        return None
    nonzero = np.flatnonzero(constant.reshape(shape[0], -1).any(axis=1))
    lo, hi = (int(nonzero[0]), int(nonzero[-1]) + 1) if nonzero.size else (0, 0)
    return (lo, hi) if 4 * (hi - lo) <= 3 * shape[0] else None


def _operands_below(number, steps, pieces):
    """The partial sums and untakes that make up the sum ``number``."""
    below, stack = set(), list(steps[number].args)
    while stack:
        ref = stack.pop()
        below.add(ref.number)
        step = steps[ref.number]
        if step.fn is np.add and ref.number in pieces:
            stack += list(step.args)
    return below


def _reusable(step, facts, uses, owned):
    """An operand an element-wise ufunc may write its result into: an array of the result's
    shape and dtype that the program allocated itself and that nothing reads after this
    call (read once, so no view of it exists either). Writing into it gives the same
    numbers and spares an allocation."""
    if not isinstance(step.fn, np.ufunc) or step.fn is np.matmul or step.kwargs or \
            step.method is not None or step.out not in facts or facts[step.out][0] == ():
        return None               # (a 0-d result is a NumPy scalar, which holds no array)
    for operand in step.args:
        if type(operand) is Ref and operand.number in owned and \
                uses.get(operand.number) == 1 and facts.get(operand.number) == facts[step.out]:
            return operand.number
    return None


def _uses(program, live, outputs):
    """How many times each staged value is read by the live program, guards and outputs."""
    uses = {}
    for step in program.steps:
        if type(step) is Guard:
            uses[step.ref] = uses.get(step.ref, 0) + 1
        elif step.out in live:
            for number in _numbers_in((step.args, step.kwargs)):
                uses[number] = uses.get(number, 0) + 1
    for leaf in outputs:
        if type(leaf) is Staged:
            uses[leaf.ref.number] = uses.get(leaf.ref.number, 0) + 1
    return uses


def _numbers_in(x):
    """The numbers of the staged values an instruction's arguments read, once per read."""
    kind = type(x)
    if kind is Ref:
        yield x.number
    elif kind in (tuple, list, dict):
        for v in (x.values() if kind is dict else x):
            yield from _numbers_in(v)


# Calls that can write their result into a given array: ufuncs (np.matmul among them),
# ufunc reductions, einsum, np.dot (into C-contiguous arrays), and the array method sum
# (np.add.reduce).
_OUT_METHODS = ("sum",)


_FRESH = (np.einsum, np.dot)        # non-ufuncs whose result is a new array of its own


def _takes_out(fn):
    return isinstance(fn, np.ufunc) or fn is np.einsum or fn is np.dot or \
        isinstance(getattr(fn, "__self__", None), np.ufunc) and fn.__name__ == "reduce"


class _Buffer:
    """One sum of untakes as writes into a buffer (see the comment above)."""

    def __init__(self, members, facts, steps, uses):
        self.members = members
        self.shape, self.dtype = facts[members[0].out]
        self.replaced = {m.out for m in members}
        written = np.zeros(self.shape, dtype=bool)
        self.writes = []        # per member: ("add" | "copy", producer or None, view shape)
        for member in members:
            index = member.args[1]
            if written[index].any():
                self.writes.append(("add", None, None))
            else:
                self.writes.append(("copy", *self._producer(member, facts, steps, uses)))
            written[index] = True
        # np.empty only when the pieces tile the buffer: every entry written once, by copy
        self.covers = bool(written.all()) and all(w[0] == "copy" for w in self.writes)

    def _producer(self, member, facts, steps, uses):
        """(the step computing the piece, the shape to view its region as), when it can
        write into the region itself: it takes ``out`` and nothing else reads the piece (a
        reshape in between only when the region's view reshapes without a copy)."""
        values, index = member.args[0], member.args[1]
        region = np.empty(self.shape)[index]
        if type(values) is not Ref or uses.get(values.number) != 1 or \
                not isinstance(region, np.ndarray) or region.ndim == 0:
            return None, None             # (one entry is a scalar, not a view to write into)
        producer, view = steps.get(values.number), None
        if producer is not None and producer.method == "reshape":
            source = producer.args[0]
            if type(source) is not Ref or uses.get(source.number) != 1 or \
                    not region.flags.c_contiguous or source.number not in steps:
                return None, None
            reshape, producer = producer, steps[source.number]
            view = facts[source.number][0]
            if not self._writes_out(producer, facts, region):
                return None, None
            self.replaced.add(reshape.out)
        elif producer is None or not self._writes_out(producer, facts, region):
            return None, None
        self.replaced.add(producer.out)
        return producer, view

    def _writes_out(self, producer, facts, region):
        if "out" in producer.kwargs or facts.get(producer.out, (None, None))[1] != self.dtype:
            return False
        if producer.fn is np.dot:                # np.dot writes only into C-contiguous arrays
            return region.flags.c_contiguous
        if producer.method is not None:
            return producer.method in _OUT_METHODS
        return _takes_out(producer.fn)

    def lines(self, printer, number):
        """The buffer's allocation and writes, in the order of the sum."""
        name = f"v{number}"
        allocate = "empty" if self.covers else "zeros"
        lines = [f"{name} = np.{allocate}({self.shape!r}, {printer.literal(self.dtype)})"]
        for member, (mode, producer, view) in zip(self.members, self.writes):
            values = printer.literal(member.args[0])
            region = f"{name}[{printer.index(member.args[1])}]"
            if mode == "add":
                lines.append(f"{region} += {values}")
            elif producer is None:
                lines.append(f"{region} = {values}")
            else:
                out = region if view is None else f"{region}.reshape({view!r})"
                lines.append(printer.call(producer, out=out))
        return lines


def _output_ref(leaf):
    return leaf.ref if type(leaf) is Staged else leaf


def _is_constant_array(leaf):
    return type(leaf) is not Staged and isinstance(leaf, np.ndarray)


def _described(arg):
    if isinstance(arg, np.ndarray):
        return f"{arg.dtype}{list(arg.shape)}"
    leaves, _ = tree_flatten(arg)
    if len(leaves) != 1 or leaves[0] is not arg:
        return f"{type(arg).__name__} of {len(leaves)}"
    return type(arg).__name__


def _shared(program, outputs):
    """(program, outputs) with each repeated computation done once: an instruction that
    calls the same function on the same operands as an earlier one reads the earlier one's
    result instead, and a guard repeated on the same value is checked once. Staged calls
    are pure (writes into staged arrays are refused), so this changes no number. The AD
    engine repeats work that staging makes visible: forward-over-reverse runs the primal
    pass again inside the tangent pass, and each finiteness check recomputes what it checks."""
    rename, first, seen = {}, {}, set()
    shared = Program()
    shared.inputs, shared.count, shared.facts = program.inputs, program.count, program.facts
    shared.finite = program.finite
    for step in program.steps:
        if type(step) is Guard:
            guard = Guard(rename.get(step.ref, step.ref), step.kind, step.expected, step.why)
            if (guard.ref, guard.kind) not in seen:     # one value, one answer to a guard
                seen.add((guard.ref, guard.kind))
                shared.steps.append(guard)
            continue
        args, kwargs = _renamed(step.args, rename), _renamed(step.kwargs, rename)
        key = (_function_key(step.fn), step.method, _key(args), _key(kwargs))
        if key in first:
            rename[step.out] = first[key]
            continue
        first[key] = step.out
        shared.steps.append(Instruction(step.fn, args, kwargs, step.out, step.method))
    return shared, [Staged(leaf.value, shared, Ref(rename.get(leaf.ref.number,
                                                                 leaf.ref.number)))
                    if type(leaf) is Staged else leaf for leaf in outputs]


def _renamed(x, rename):
    kind = type(x)
    if kind is Ref:
        return Ref(rename[x.number]) if x.number in rename else x
    if kind is tuple or kind is list:
        return kind(_renamed(v, rename) for v in x)
    if kind is dict:
        return {k: _renamed(v, rename) for k, v in x.items()}
    return x


def _function_key(fn):
    """A function by equality where it has one (``np.add.reduce`` is a new bound method at
    each lookup, equal to the others), else by identity."""
    try:
        hash(fn)
    except TypeError:
        return ("id", id(fn))
    return fn


def _key(x):
    """What makes two instructions' arguments the same: staged values by number, Python
    numbers by type and spelling (so -0.0 is not 0.0), containers by their items, any other
    NumPy scalars by type and bits, any other object by identity (two equal constant arrays
    are not merged, which costs a little speed and no correctness)."""
    kind = type(x)
    if kind is Ref:
        return ("v", x.number)
    if kind is tuple or kind is list:
        return (kind, tuple(_key(v) for v in x))
    if kind is dict:
        return (dict, tuple((k, _key(v)) for k, v in x.items()))
    if kind is slice:
        return (slice, _key(x.start), _key(x.stop), _key(x.step))
    if kind in (int, float, complex, bool, str, type(None)):
        return (kind, repr(x))
    if isinstance(x, np.generic):
        return (kind, x.tobytes())
    return ("id", id(x))


def _live(program, outputs):
    """The numbers of the staged values the outputs and the guards need."""
    needed = {leaf.ref.number for leaf in outputs if type(leaf) is Staged}
    needed.update(step.ref for step in program.steps if type(step) is Guard)
    for step in reversed(program.steps):
        if type(step) is not Guard and step.out in needed:
            needed.update(_numbers_in((step.args, step.kwargs)))
    return needed


class _Printer:
    """Prints instructions as Python, binding the objects it cannot spell in ``namespace``."""

    def __init__(self):
        self.namespace = {"np": np, "Stale": Stale, "same": np.array_equal}
        self.names = {}                     # id(object) → its name (the program holds them)
        self.alias = {}                     # value number → the number whose array holds it

    def call(self, step, out=None):
        """The step's call as Python; with ``out`` (a region's text), the call writing its
        result there (a ufunc, a ufunc's reduce, einsum or the method sum)."""
        fn, args, kwargs = step.fn, step.args, step.kwargs
        if out is not None:
            if step.method is not None:
                rest = self.arguments(args[1:], kwargs)
                return f"{self.literal(args[0])}.{step.method}({rest}, out={out})"
            return f"{self.function(fn)}({self.arguments(args, kwargs)}, out={out})"
        if fn is operator.getitem:
            return f"{self.literal(args[0])}[{self.index(args[1])}]"
        if step.method is not None:
            if type(fn) is operator.attrgetter:
                return f"{self.literal(args[0])}.{step.method}"
            return f"{self.literal(args[0])}.{step.method}({self.arguments(args[1:], kwargs)})"
        symbol = _OPERATORS.get(fn)
        if symbol is not None and len(args) == 2 and not kwargs:
            return f"{self.operand(args[0])} {symbol} {self.operand(args[1])}"
        if fn is np.negative and len(args) == 1 and not kwargs:
            return f"-{self.literal(args[0])}"
        return f"{self.function(fn)}({self.arguments(args, kwargs)})"

    def guard(self, guard):
        value = f"v{guard.ref}"
        if guard.kind == "bool":
            test = value if not guard.expected else f"not {value}"
        elif guard.kind == "int":
            test = f"int({value}) != {guard.expected!r}"
        else:
            test = f"not same({value}, {self.constant(guard.expected, 'g')})"
        return f"if {test}: raise Stale({guard.why!r})"

    def arguments(self, args, kwargs):
        parts = [self.literal(a) for a in args]
        parts += [f"{k}={self.literal(v)}" for k, v in kwargs.items()]
        return ", ".join(parts)

    def index(self, key):
        if type(key) is tuple and key:
            return ", ".join(self.index(k) for k in key) + ("," if len(key) == 1 else "")
        if isinstance(key, np.integer):
            return repr(int(key))            # an index: the same entry as a Python int
        if type(key) is slice:
            parts = ["" if v is None else self.index(v) for v in (key.start, key.stop, key.step)]
            return ":".join(parts[:2]) + (f":{parts[2]}" if parts[2] else "")
        if key is Ellipsis:
            return "..."
        return self.literal(key)

    def operand(self, x):
        """x beside an operator: a negative number in parentheses (-2 ** v is -(2 ** v))."""
        text = self.literal(x)
        return f"({text})" if text.startswith("-") else text

    def literal(self, x):
        kind = type(x)
        if kind is Ref:
            return f"v{self.alias.get(x.number, x.number)}"
        if x is None or kind is bool or kind is int or kind is str:
            return repr(x)
        if x is Ellipsis:
            return "..."
        if kind is float:
            return repr(x) if math.isfinite(x) else self.constant(x, "c")
        if kind is tuple:
            inner = ", ".join(self.literal(v) for v in x)
            return f"({inner}{',' if len(x) == 1 else ''})"
        if kind is list:
            return "[" + ", ".join(self.literal(v) for v in x) + "]"
        if kind is slice:
            return f"slice({self.literal(x.start)}, {self.literal(x.stop)}, " \
                   f"{self.literal(x.step)})"
        if kind is dict and all(type(k) is str for k in x):
            return "{" + ", ".join(f"{k!r}: {self.literal(v)}" for k, v in x.items()) + "}"
        if isinstance(x, np.dtype):
            return self.constant(x, str(x))
        if isinstance(x, type):
            return self.constant(x, x.__name__)
        return self.constant(x, "c")

    def function(self, fn):
        name = getattr(fn, "__name__", None)
        if name and getattr(np, name, None) is fn:
            return f"np.{name}"
        owner = getattr(fn, "__self__", None)
        if isinstance(owner, np.ufunc) and getattr(np, owner.__name__, None) is owner:
            return f"np.{owner.__name__}.{name}"                  # np.add.reduce
        return self.constant(fn, _identifier(_described_function(fn)))

    def constant(self, value, stem):
        """The name bound to ``value`` in the namespace (one name per object)."""
        name = self.names.get(id(value))
        if name is not None:
            return name
        name = _identifier(stem)
        while name in self.namespace:
            name = _numbered(name)
        self.namespace[name] = value
        self.names[id(value)] = name
        return name


def _described_function(fn):
    if isinstance(fn, np.ufunc):
        return fn.__name__
    owner = getattr(fn, "__self__", None)
    if isinstance(owner, np.ufunc):
        return f"{owner.__name__}_{fn.__name__}"          # np.add.reduce
    return getattr(fn, "__name__", "f").strip("_<>") or "f"


def _identifier(stem):
    text = "".join(c if c.isalnum() or c == "_" else "_" for c in stem) or "c"
    if text[0].isdigit() or keyword.iskeyword(text) or text in ("np", "Stale", "same"):
        text = "_" + text
    return text


def _numbered(name):
    head, _, tail = name.rpartition("_")
    if head and tail.isdigit():
        return f"{head}_{int(tail) + 1}"
    return f"{name}_2"
