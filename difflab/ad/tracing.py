"""The tape: tensors that record every dnp primitive applied to them, and the passes over it.

Reverse mode (``Tensor``): each primitive applied to a tensor appends a node to its trace's
tape, so the tape is already in topological order and the backward pass is one reversed loop
(no recursion, any graph size). Forward mode (``Dual``): each primitive carries a tangent
along, computed at once from the JVP rules. A tangent or cotangent known to be zero is not
stored: forward mode returns a plain value, reverse mode leaves the slot empty.

Traces nest. Each differentiation opens a trace one level above the innermost open one; a
primitive is recorded at the highest level among its operands, on their *values*, which may
themselves be tensors of lower levels — so the rules (written with dnp) are recorded by the
outer levels, and derivatives of derivatives come out right without perturbation confusion.

Directions can be batched: a cotangent (tangent) has shape ``batch + value.shape``, with the
batch axes leading. The rules are written for that form; ``unbroadcast`` and
``expand_tangent`` bring contributions to it, once, here.

Fast accumulation (on by default): the backward pass adds a plain cotangent of a basic index
x[index] straight into x's cotangent, and writes a dense layer's weight gradient aᵀg straight
into its slice of θ's (``Cotangents``), instead of building the dense arrays the rule table
would. The numbers are the same bit for bit. ``with fast_accumulation(False):`` turns it off
for a block; the environment variable ``DIFFLAB_AD_FAST=0`` (read at import) turns it off
for the whole process, e.g. ``DIFFLAB_AD_FAST=0 python -m pytest tests/test_ad_rules.py``.
"""

import contextlib
import math
import os
import types

import numpy as np

from .. import numpy as dnp
from ..errors import DiffLabError, UnsupportedOperationError
from ..numpy.methods import ArrayMethods, cast_error
from .rules import JVP_RULES, NONDIFFERENTIABLE, VJP_RULES, _primal

_open_levels = []


class TracerBoolError(DiffLabError, TypeError):
    """Python control flow (``if``, ``bool``, ``float``) on a value being differentiated."""


class MutationError(DiffLabError, TypeError):
    """An attempt to change a traced array in place."""


class Trace:
    """One level of differentiation: reverse mode keeps a tape, forward mode a batch size."""

    __slots__ = ("level", "tape", "active", "batch_ndim", "forward")

    def __init__(self, forward=False, batch_ndim=0):
        self.level = (_open_levels[-1] + 1) if _open_levels else 1
        self.tape = []
        self.active = True
        self.forward = forward
        self.batch_ndim = batch_ndim

    def __enter__(self):
        _open_levels.append(self.level)
        return self

    def __exit__(self, *exc):
        _open_levels.pop()
        self.active = False
        return False

    def __call__(self, *args, **kwargs):
        raise UnsupportedOperationError(
            "x.trace() on an AD tensor: its attribute trace is the differentiation it belongs "
            "to, not NumPy's sum of the diagonal; call dnp.trace(x)")


class Node:
    """One recorded primitive: its arguments (values), keyword arguments, result and parents.

    ``parents`` pairs each differentiable argument position with the tape index of the
    tensor that stood there (for sequence primitives the position is the list index).
    """

    __slots__ = ("primitive", "args", "kwargs", "value", "parents")

    def __init__(self, primitive, args, kwargs, value, parents):
        self.primitive = primitive
        self.args = args
        self.kwargs = kwargs
        self.value = value
        self.parents = parents


class _Traced(ArrayMethods):
    """What Tensor and Dual share: shape facts, methods and operators through dnp, refusals."""

    __slots__ = ()
    __array_priority__ = 1000

    def __repr__(self):
        return (f"{type(self).__name__}(level={self.trace.level}, shape={self.shape}, "
                f"value={self.value!r})")

    @property
    def shape(self):
        try:
            return self.value.shape
        except AttributeError:
            return np.shape(self.value)

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def size(self):
        return int(np.prod(self.shape))

    @property
    def dtype(self):
        return getattr(self.value, "dtype", np.dtype(type(self.value)))

    @property
    def T(self):
        return dnp.transpose(self)

    def transpose(self, *axes):
        """NumPy's forms: x.transpose(), x.transpose(1, 0), x.transpose((1, 0))."""
        if len(axes) == 1 and (axes[0] is None or isinstance(axes[0], (tuple, list))):
            axes = axes[0]
        return dnp.transpose(self, tuple(axes) if axes else None)

    def swapaxes(self, first, second):
        axes = list(range(self.ndim))
        axes[first], axes[second] = axes[second], axes[first]
        return dnp.transpose(self, tuple(axes))

    def reshape(self, *shape):
        return dnp.reshape(self, shape[0] if len(shape) == 1 else shape)

    def squeeze(self, axis=None):
        return dnp.squeeze(self, axis)

    def ravel(self):
        return dnp.reshape(self, (-1,))

    flatten = ravel

    def astype(self, dtype, copy=True):
        """The same float type, or a wider one, keeps the trace (the cast is exact, its
        derivative 1); anything else would cut the value off from differentiation."""
        wanted, have = np.dtype(dtype), np.dtype(self.dtype)
        if wanted == have:
            return self
        if wanted.kind == "f" and np.can_cast(have, wanted, "safe"):
            return self * np.ones((), wanted)
        raise cast_error(wanted, f"a traced {have} value",
                         "only casts to the same or a wider float type keep the derivative")

    # Operators go straight to the recorder: the operand is known to be traced.
    def __add__(self, other): return apply(dnp.add, (self, other), {})
    def __radd__(self, other): return apply(dnp.add, (other, self), {})
    def __sub__(self, other): return apply(dnp.subtract, (self, other), {})
    def __rsub__(self, other): return apply(dnp.subtract, (other, self), {})
    def __mul__(self, other): return apply(dnp.multiply, (self, other), {})
    def __rmul__(self, other): return apply(dnp.multiply, (other, self), {})
    def __truediv__(self, other): return apply(dnp.divide, (self, other), {})
    def __rtruediv__(self, other): return apply(dnp.divide, (other, self), {})
    def __pow__(self, other): return apply(dnp.power, (self, other), {})
    def __rpow__(self, other): return apply(dnp.power, (other, self), {})
    def __matmul__(self, other): return apply(dnp.matmul, (self, other), {})
    def __rmatmul__(self, other): return apply(dnp.matmul, (other, self), {})
    def __neg__(self): return apply(dnp.negative, (self,), {})
    def __pos__(self): return self
    def __abs__(self): return apply(dnp.abs, (self,), {})
    def __getitem__(self, index): return apply(dnp.getitem, (self, index), {})

    # Comparisons look at values: they give conditions for dnp.where, which refuse bool().
    def __gt__(self, other): return _condition(np.greater, self, other)
    def __ge__(self, other): return _condition(np.greater_equal, self, other)
    def __lt__(self, other): return _condition(np.less, self, other)
    def __le__(self, other): return _condition(np.less_equal, self, other)
    def __eq__(self, other): return _condition(np.equal, self, other)
    def __ne__(self, other): return _condition(np.not_equal, self, other)
    __hash__ = object.__hash__

    def __bool__(self):
        raise TracerBoolError(
            "bool() of a traced value: Python control flow (if, while, and/or) on a value "
            "being differentiated is not traceable. Use dnp.where(condition, a, b) to choose "
            "between branches element by element.")

    def __float__(self):
        raise TracerBoolError(
            "float() of a traced value would cut it off from differentiation; keep it an "
            "array and use dnp functions")

    __int__ = __index__ = __complex__ = __float__

    def __setitem__(self, index, value):
        raise MutationError(
            "in-place assignment to a traced array is not differentiable; build a new array "
            "instead (dnp.where, dnp.concatenate, or arithmetic)")

    def __array__(self, dtype=None, copy=None):
        raise UnsupportedOperationError(
            "a traced value was converted to a NumPy array (np.asarray, np.array, or a NumPy "
            "function without a dnp counterpart), which would drop its derivative; keep it a "
            "traced value and use difflab.numpy (dnp) functions")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        operator = _UFUNC_OPERATORS.get(ufunc)
        if operator is None or method != "__call__" or kwargs:
            raise _refusal(ufunc.__name__, "numpy")
        return operator(*inputs)

    def __array_function__(self, func, types, args, kwargs):
        metadata = _METADATA.get(func)
        if metadata is not None:
            return metadata(*args, **kwargs)
        raise _refusal(func.__name__, getattr(func, "__module__", None) or "numpy")


# NumPy functions that only read shapes are fine on traced values: nothing is differentiated.
_METADATA = {
    np.shape: lambda x: x.shape,
    np.ndim: lambda x: x.ndim,
    np.size: lambda x, axis=None: x.size if axis is None else x.shape[axis],
}

# NumPy's other names for functions that dnp has under one name.
_NUMPY_ALIASES = {"absolute": "abs", "true_divide": "divide", "amax": "max", "amin": "min"}


def _refusal(name, module):
    """The error for numpy.<name> called on a traced value, suggesting the dnp function only
    where difflab.numpy has one (dnp mirrors the top-level numpy namespace only)."""
    dnp_name = _NUMPY_ALIASES.get(name, name)
    space, prefix = None, ""
    if module == "numpy":
        space, prefix = dnp, "dnp"
    elif module.startswith("numpy."):           # numpy.linalg.inv is dnp.linalg.inv
        submodule = module.split(".", 1)[1]
        space, prefix = getattr(dnp, submodule, None), f"dnp.{submodule}"
    if space is not None and isinstance(getattr(space, dnp_name, None),
                                        (dnp.Primitive, types.FunctionType)):
        advice = (f"call {prefix}.{dnp_name} (difflab.numpy) instead so it can be "
                  "differentiated")
    else:
        advice = (f"difflab.numpy has no {name} yet: write it with dnp functions (a composite "
                  "of dnp functions is differentiable with no new rule), or declare a "
                  "primitive with its derivative rules")
    return UnsupportedOperationError(
        f"{module}.{name} was called directly on a traced value, which would drop its "
        f"derivative; {advice}")


class ConditionArray(np.ndarray):
    """A boolean array from comparing traced values: fine in dnp.where, refuses bool()."""

    def __bool__(self):
        raise TracerBoolError(
            "a comparison of traced values was used as a Python bool (if/while/and/or); "
            "branching on a value being differentiated is not traceable. Use "
            "dnp.where(condition, a, b) instead.")


def _condition(compare, a, b):
    result = compare(_primal(a), _primal(b))
    if not isinstance(result, np.ndarray):     # a NumPy bool, or a staged one (under jit)
        result = np.asarray(result) if isinstance(result, (bool, np.generic)) else result
    return result.view(ConditionArray)


_UFUNC_OPERATORS = {
    np.add: dnp.add, np.subtract: dnp.subtract, np.multiply: dnp.multiply,
    np.true_divide: dnp.divide, np.power: dnp.power, np.matmul: dnp.matmul,
    np.negative: dnp.negative,
    np.greater: lambda a, b: _condition(np.greater, a, b),
    np.greater_equal: lambda a, b: _condition(np.greater_equal, a, b),
    np.less: lambda a, b: _condition(np.less, a, b),
    np.less_equal: lambda a, b: _condition(np.less_equal, a, b),
    np.equal: lambda a, b: _condition(np.equal, a, b),
    np.not_equal: lambda a, b: _condition(np.not_equal, a, b),
}


class Tensor(_Traced):
    """A value on a reverse-mode tape: ``value`` and its node's ``index`` in ``trace.tape``."""

    __slots__ = ("value", "trace", "index")

    def __init__(self, value, trace, index):
        self.value = value
        self.trace = trace
        self.index = index


class Dual(_Traced):
    """A value with a tangent (forward mode): ``tangent`` has shape ``batch + value.shape``."""

    __slots__ = ("value", "tangent", "trace")

    def __init__(self, value, tangent, trace):
        self.value = value
        self.tangent = tangent
        self.trace = trace


def new_input(value, trace):
    """Put ``value`` on ``trace``'s tape as an input (a node with no parents)."""
    trace.tape.append(None)
    return Tensor(value, trace, len(trace.tape) - 1)


# Recording: the handler dnp calls for every primitive that meets a tensor.

def _top_trace(operands):
    """The highest open trace among the operands, and whether any operand's trace is closed."""
    top, stale = None, False
    for x in operands:
        if type(x) in _TRACED:
            trace = x.trace
            if not trace.active:
                stale = True
            elif top is None or trace.level > top.level:
                top = trace
    return top, stale


def _unbox(x, trace):
    """The value under ``trace``'s tensor; tensors of closed traces count as their values."""
    if type(x) in _TRACED:
        if x.trace is trace:
            return x.value
        if not x.trace.active:
            return _unbox(x.value, trace)
    return x


def apply(primitive, args, kwargs):
    """Evaluate ``primitive`` on the values and record it at the highest open level."""
    if primitive.sequence:
        return _apply_sequence(primitive, args, kwargs)
    count = primitive.operands
    x = args[0]
    if count == 1 and type(x) is Tensor and x.trace.active and type(x.value) is np.ndarray \
            and x.value.dtype.kind == "f" and primitive.name not in NONDIFFERENTIABLE:
        return _apply_unary(primitive, x, args, kwargs)
    operands = args[:count]
    trace = None
    for x in operands:
        if type(x) in _TRACED:
            x_trace = x.trace
            if not x_trace.active:
                return _apply_stale(primitive, args, kwargs)
            if trace is None or x_trace.level > trace.level:
                trace = x_trace
    forward = trace.forward
    values, links, plain = [], [], True     # links: (position, tangent or tape index)
    for i, x in enumerate(operands):
        if type(x) in _TRACED and x.trace is trace:
            links.append((i, x.tangent if forward else x.index))
            x = x.value
        kind = type(x)
        if kind is np.ndarray:
            if x.dtype.kind not in "fiub":
                plain = False
        elif not (kind is float or kind is int or kind is np.float64):
            plain = False
        values.append(x)
    unboxed = (*values, *args[count:])
    if plain:   # plain arrays need no second dispatch: the float implementation at once
        try:
            value = primitive.impls[_FLOAT](*unboxed, **kwargs)
        except np.exceptions.AxisError:
            value = primitive(*unboxed, **kwargs)       # for dnp's own error message
    else:
        value = primitive(*unboxed, **kwargs)
    if primitive.name in NONDIFFERENTIABLE:
        return value
    if forward:
        return _push_tangent(primitive, unboxed, kwargs, value, trace, links)
    tape = trace.tape
    tape.append(Node(primitive, unboxed, kwargs, value, links))
    return Tensor(value, trace, len(tape) - 1)


def _apply_unary(primitive, x, args, kwargs):
    """The common case in short: one float tensor of an open trace, recorded on its tape."""
    unboxed = (x.value, *args[1:])
    try:
        value = primitive.impls[_FLOAT](*unboxed, **kwargs)
    except np.exceptions.AxisError:
        value = primitive(*unboxed, **kwargs)           # for dnp's own error message
    trace = x.trace
    tape = trace.tape
    tape.append(Node(primitive, unboxed, kwargs, value, [(0, x.index)]))
    return Tensor(value, trace, len(tape) - 1)


def _apply_stale(primitive, args, kwargs):
    """Some operand belongs to a closed trace: use its value and dispatch again."""
    count = primitive.operands
    trace, _ = _top_trace(args[:count])
    return primitive(*[_unbox(x, trace) for x in args[:count]], *args[count:], **kwargs)


def _apply_sequence(primitive, args, kwargs):
    """concatenate/stack: the operands are the elements of the first argument."""
    operands = args[0]
    trace, _ = _top_trace(operands)
    values = [_unbox(x, trace) for x in operands]
    unboxed = (values,) + tuple(args[1:])
    value = primitive(*unboxed, **kwargs)
    if trace is None:
        return value
    if trace.forward:
        tangents = [(i, x.tangent) for i, x in enumerate(operands)
                    if type(x) is Dual and x.trace is trace]
        return _push_tangent(primitive, unboxed, kwargs, value, trace, tangents)
    parents = [(i, x.index) for i, x in enumerate(operands)
               if type(x) is Tensor and x.trace is trace]
    tape = trace.tape
    tape.append(Node(primitive, unboxed, kwargs, value, parents))
    return Tensor(value, trace, len(tape) - 1)


def _push_tangent(primitive, args, kwargs, value, trace, tangents):
    """The output tangent Σᵢ JVPᵢ(tᵢ); a plain value when every tangent is a known zero."""
    rules = JVP_RULES[primitive.name]
    if primitive.sequence:
        return _push_sequence_tangent(rules[0], args, kwargs, value, trace, tangents)
    total = None
    for position, tangent in tangents:
        if tangent is None:
            continue
        rule = rules[position] if position < len(rules) else rules[-1]
        if rule is None:
            continue
        if primitive.name in ELEMENTWISE_NAMES:
            tangent = expand_tangent(tangent, trace.batch_ndim, dnp.shape_of(value))
        contribution = rule(tangent, value, *args, **kwargs)
        if contribution is None:
            continue
        total = contribution if total is None else total + contribution
    if total is None:
        return value
    wanted = _batch_shape(total, trace.batch_ndim) + dnp.shape_of(value)
    if dnp.shape_of(total) != wanted:
        total = dnp.broadcast_to(total, wanted)
    return Dual(value, total, trace)


def _push_sequence_tangent(rule, args, kwargs, value, trace, tangents):
    """Concatenate/stack: one call with every element's tangent (zeros for known zeros)."""
    known = dict(tangents)
    present = [t for t in known.values() if t is not None]
    if not present:
        return value
    batch = _batch_shape(present[0], trace.batch_ndim)
    dtype = np.result_type(*[_primal(t) for t in present])
    full = [known[i] if known.get(i) is not None else
            np.zeros(batch + dnp.shape_of(x), dtype=dtype) for i, x in enumerate(args[0])]
    return Dual(value, rule(full, value, *args, **kwargs), trace)


def _batch_shape(x, batch_ndim):
    return dnp.shape_of(x)[:batch_ndim]


def expand_tangent(tangent, batch_ndim, out_shape):
    """Insert unit axes after the batch axes so the tangent broadcasts like its value."""
    shape = dnp.shape_of(tangent)
    missing = len(out_shape) - (len(shape) - batch_ndim)
    if missing <= 0:
        return tangent
    return dnp.reshape(tangent, shape[:batch_ndim] + (1,) * missing + shape[batch_ndim:])


def unbroadcast(contribution, batch_shape, shape):
    """Sum a cotangent contribution down to ``batch_shape + shape`` (undo broadcasting)."""
    have = dnp.shape_of(contribution)
    want = tuple(batch_shape) + tuple(shape)
    if have == want:
        return contribution
    nb = len(batch_shape)
    extra = len(have) - len(want)
    if extra > 0:
        contribution = contribution.sum(axis=tuple(range(nb, nb + extra)))
        have = dnp.shape_of(contribution)
    if len(have) < len(want):   # axes missing after the batch axes (a reduced cotangent)
        contribution = contribution.reshape(have[:nb] + (1,) * (len(want) - len(have))
                                            + have[nb:])
        have = dnp.shape_of(contribution)
    if len(have) == len(want):
        ones = tuple(i for i, (h, w) in enumerate(zip(have, want)) if w == 1 and h != 1)
        if ones:
            contribution = contribution.sum(axis=ones, keepdims=True)
        if dnp.shape_of(contribution) == want:
            return contribution
    return _broadcast(contribution, want)


def _broadcast(x, shape):
    """x broadcast to shape: a filled copy for small plain arrays (np.broadcast_to costs more
    than copying them), a view otherwise, dnp.broadcast_to for traced values."""
    if isinstance(x, (np.ndarray, np.generic)):
        if math.prod(shape) <= 4096:
            out = np.empty(shape, dtype=x.dtype)
            out[...] = x
            return out
        return np.broadcast_to(x, shape)
    return dnp.broadcast_to(x, shape)


def backward(trace, output, seed, batch_ndim=0, needed=None):
    """Cotangents of every tape entry reachable from ``output`` seeded with ``seed``.

    Returns the list of cotangents by tape index (None where none arrived). With
    ``needed`` (a flag per tape entry), no cotangent is sent to an entry whose flag is
    False: the pass skips what leads only to inputs nobody asked for. Contributions are
    summed by a ``Cotangents`` accumulator; with fast accumulation on it takes the
    shortcuts described there, which give the same numbers as the rule table.
    """
    tape = trace.tape
    sums = Cotangents(tape, _fast[-1])
    sums.values[output.index] = seed
    batch_shape = dnp.shape_of(seed)[:batch_ndim]
    for index in range(output.index, -1, -1):
        g = sums.values[index]
        node = tape[index]
        if g is None or node is None:
            continue
        if index != output.index:
            sums.values[index] = None
        if needed is not None and not needed[index]:
            continue
        primitive = node.primitive
        if (primitive is _GETITEM or primitive is _MATMUL) and sums.fast and \
                type(g) is np.ndarray and sums.shortcut(node, g, batch_shape, needed):
            continue
        rules = VJP_RULES[primitive.name]
        sequence = primitive.sequence
        for position, parent in node.parents:
            rule = rules[position] if position < len(rules) else rules[-1]
            if rule is None or (needed is not None and not needed[parent]):
                continue
            if sequence:
                contribution = rule(g, node.value, *node.args, position=position, **node.kwargs)
                parent_value = node.args[0][position]
            else:
                contribution = rule(g, node.value, *node.args, **node.kwargs)
                parent_value = node.args[position]
            if not (type(contribution) is np.ndarray and type(parent_value) is np.ndarray
                    and not batch_shape and contribution.shape == parent_value.shape):
                contribution = unbroadcast(contribution, batch_shape,
                                           dnp.shape_of(parent_value))
            sums.add(parent, contribution)
    return sums.values


# Fast accumulation: the switch, and the one mechanism it turns on.

def _fast_from_environment():
    setting = os.environ.get("DIFFLAB_AD_FAST", "1").strip().lower()
    if setting not in ("0", "1", "off", "on", "false", "true"):
        raise DiffLabError(f"DIFFLAB_AD_FAST={setting!r}: use 1 (fast accumulation, the "
                           "default) or 0 (every cotangent through the rule table)")
    return setting in ("1", "on", "true")


_fast = [_fast_from_environment()]


@contextlib.contextmanager
def fast_accumulation(enabled=True):
    """Within the block, backward passes take (or, with False, skip) the accumulator's
    shortcuts; the setting before the block comes back after it."""
    _fast.append(bool(enabled))
    try:
        yield
    finally:
        _fast.pop()


def fast_accumulation_enabled():
    """Whether backward passes started now take the accumulator's shortcuts."""
    return _fast[-1]


_EVERYWHERE = None      # a buffer's written region: any part of it may be nonzero


class Cotangents:
    """The cotangents of one backward pass, by tape index, summed where the pass owns them.

    ``add`` takes a whole contribution, as a rule returns it. With ``fast``, two kinds of
    contribution that are zero outside one region of an entry go through one method,
    ``add_at``, which adds them into that region of a zero-filled buffer the pass owns:

    - indexing's adjoint, x[index] ← g for a basic index (the rule's ``untake`` would build
      a dense array of x's shape per slice, so a flat θ taken apart in L slices would cost L
      full-size arrays and additions);
    - a weight's gradient aᵀg for ``a @ reshape(x[start:stop])`` with a constant 2-D ``a``,
      the pattern of a dense layer over ``unravel``'s slices: written by np.matmul's ``out``
      straight into x's buffer when that region is still untouched (for a large first layer
      the rule's temporary is the largest array of the pass), else the rule's own value added.

    Buffers start as zeros, so nothing is read that was not written, and writing into an
    untouched region is adding to zero: the sums are bit-for-bit the rule table's, summed in
    the same order (``tests/test_ad_accumulator.py`` checks both settings against each other).
    """

    __slots__ = ("tape", "fast", "values", "owned", "written", "_uses")

    def __init__(self, tape, fast):
        self.tape = tape
        self.fast = fast
        self.values = [None] * len(tape)
        self.owned = [False] * len(tape)
        self.written = {}        # entry → flat spans written so far, or _EVERYWHERE
        self._uses = None

    def add(self, entry, contribution):
        """Add a whole contribution to an entry's cotangent."""
        previous = self.values[entry]
        if previous is None:
            self.values[entry] = contribution
            return
        self.written[entry] = _EVERYWHERE
        if self.owned[entry] and type(contribution) is np.ndarray and \
                np.can_cast(contribution.dtype, previous.dtype, "safe"):
            np.add(previous, contribution, out=previous)
            return
        total = previous + contribution
        self.values[entry] = total
        self.owned[entry] = type(total) is np.ndarray

    def add_at(self, entry, x, key, span, piece):
        """Add ``piece`` (a ``_Values`` or ``_Product``) into ``x[key]`` of an entry's
        cotangent, ``key`` a basic index with the batch axes in front and ``span`` its
        (start, stop) when it is a run of a flat x; False (nothing done) when the entry's
        cotangent is a traced value."""
        buffer = self._buffer(entry, x, piece)
        if buffer is None:
            return False
        region = buffer[key]
        if type(region) is not np.ndarray:       # one entry: NumPy gives a scalar, not a view
            buffer[key] += piece.value()
            self.written[entry] = _EVERYWHERE
            return True
        region = piece.region(region)
        written = self.written.get(entry)
        if span is None or written is _EVERYWHERE:
            self.written[entry] = _EVERYWHERE
            np.add(region, piece.value(), out=region)
            return True
        start, stop = span
        for lo, hi in written:
            if lo < stop and start < hi:
                np.add(region, piece.value(), out=region)
                break
        else:
            if buffer.dtype == piece.dtype:
                piece.write(region)              # zeros + piece is piece
            else:
                np.add(region, piece.value(), out=region)
        written.append(span)
        return True

    def _buffer(self, entry, x, piece):
        """The entry's cotangent as a plain array this pass owns and may add ``piece`` into."""
        previous = self.values[entry]
        if previous is None:
            buffer = np.zeros(piece.batch_shape + dnp.shape_of(x), dtype=piece.dtype)
            self.written[entry] = []
        elif type(previous) is not np.ndarray:
            return None
        elif self.owned[entry] and np.can_cast(piece.dtype, previous.dtype, "safe"):
            return previous
        else:
            buffer = previous.astype(np.result_type(previous, piece.dtype))
            self.written[entry] = _EVERYWHERE
        self.values[entry], self.owned[entry] = buffer, True
        return buffer

    def shortcut(self, node, g, batch_shape, needed):
        """Send a plain cotangent g of a getitem or matmul node through ``add_at``; False
        when the node is not of a form it serves (the rule table then handles it)."""
        primitive = node.primitive
        if primitive is _GETITEM:
            (_, parent), = node.parents
            x, index = node.args[0], node.args[1]
            if not dnp.is_basic_index(index) or (needed is not None and not needed[parent]):
                return False
            if batch_shape:
                key = (slice(None),) * len(batch_shape) + (index if isinstance(index, tuple)
                                                           else (index,))
                return self.add_at(parent, x, key, None, _Values(g, batch_shape))
            return self.add_at(parent, x, index, _flat_span(index, x), _Values(g, ()))
        if primitive is _MATMUL and not batch_shape:
            weight = self._weight(node, g, needed)
            if weight is not None:
                source, x, span = weight
                return self.add_at(source, x, slice(*span), span,
                                   _Product(node, g, self.tape[node.parents[0][1]].value))
        return False

    def _weight(self, node, g, needed):
        """(source entry, x, (start, stop)) when node is a @ reshape(x[start:stop]), a a
        constant 2-D array, and the reshape and the slice are used by this node alone."""
        if len(node.parents) != 1 or node.parents[0][0] != 1:
            return None
        a = node.args[0]
        if type(a) is not np.ndarray or a.ndim != 2 or g.ndim != 2:
            return None
        (_, reshaped), = node.parents
        reshape_node = self.tape[reshaped]
        if reshape_node is None or reshape_node.primitive is not _RESHAPE \
                or len(reshape_node.parents) != 1:
            return None
        (_, sliced), = reshape_node.parents
        slice_node = self.tape[sliced]
        if slice_node is None or slice_node.primitive is not _GETITEM:
            return None
        (_, source), = slice_node.parents
        x = slice_node.args[0]
        span = _flat_span(slice_node.args[1], x)
        if span is None or (needed is not None and not needed[source]):
            return None
        uses = self._use_counts()
        if uses[reshaped] != 1 or uses[sliced] != 1:
            return None
        return source, x, span

    def _use_counts(self):
        """How many later tape entries use each entry (counted once per pass, when needed)."""
        if self._uses is None:
            uses = [0] * len(self.tape)
            for node in self.tape:
                if node is not None:
                    for _, parent in node.parents:
                        uses[parent] += 1
            self._uses = uses
        return self._uses


class _Values:
    """Indexing's adjoint: the cotangent g itself goes into x[index]."""

    __slots__ = ("g", "shape", "dtype", "batch_shape")

    def __init__(self, g, batch_shape):
        self.g, self.shape, self.dtype = g, g.shape, g.dtype
        self.batch_shape = tuple(batch_shape)

    def region(self, view):
        return view

    def write(self, out):
        np.copyto(out, self.g)

    def value(self):
        return self.g


class _Product:
    """A weight's gradient: the matmul rule's value for its second operand, aᵀg."""

    __slots__ = ("node", "g", "shape", "dtype", "batch_shape")

    def __init__(self, node, g, weight):
        self.node, self.g = node, g
        self.shape = dnp.shape_of(weight)
        self.dtype = np.result_type(node.args[0], g)
        self.batch_shape = ()

    def region(self, view):
        return view.reshape(self.shape)          # the weight is reshape(x[start:stop])

    def write(self, out):
        np.matmul(self.node.args[0].T, self.g, out=out)

    def value(self):
        return VJP_RULES["matmul"][1](self.g, self.node.value, *self.node.args)


def _flat_span(index, x):
    """(start, stop) when index takes a contiguous run of a 1-D array, else None."""
    if isinstance(index, tuple) and len(index) == 1:
        index = index[0]
    if type(index) is not slice or index.step not in (None, 1) or len(dnp.shape_of(x)) != 1:
        return None
    start, stop, _ = index.indices(dnp.shape_of(x)[0])
    return (start, stop) if stop > start else None


from .rules import ELEMENTWISE_NAMES  # noqa: E402  (the table imports nothing from here)

_TRACED = (Tensor, Dual)
_FLOAT = dnp.FLOAT
_GETITEM = dnp.getitem
_MATMUL = dnp.matmul
_RESHAPE = dnp.reshape

dnp.register_number_system(Tensor, apply)
dnp.register_number_system(Dual, apply)
