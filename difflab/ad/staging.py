"""Staging: run a function once on real arrays and record every NumPy call that touches them.

A ``Staged`` value is an array with a name in a ``Program``. Whatever dnp primitive, NumPy
function, ufunc, array method or operator meets one is computed at once on the real values
(so staging is an ordinary evaluation, with its errors and results) and appended to the
program as one instruction. Work that meets no staged value is done once and kept as a
constant: everything that does not depend on the inputs folds away, including the AD
engine's bookkeeping, shape logic and structural zeros. What remains is the straight line
of NumPy calls the inputs flow through, which ``difflab.ad.jit`` prints as Python source.

Where Python looks at a staged value — ``bool()``, ``int()``, an index array, ``np.asarray``
of an integer or boolean array — the value seen is recorded as a *guard*: replaying the
program is only valid while the guard holds, and the replay checks it right where staging
saw it (TorchDynamo's guards, for a straight-line NumPy program). A float value turned into
a Python number or a plain array cannot be guarded usefully (any new input would fail an
equality on it), so staging refuses it with ``UnguardableError``, at ``jit`` time.
"""

import math
import operator

import numpy as np

from .. import numpy as dnp
from ..errors import DiffLabError

# Float arrays up to this size have their finiteness noted when staged (jit's row updates
# rely on a finite operand; checking a large array at every step would slow staging down).
_CHECKED_SIZE = 1 << 16

# NumPy functions that only read shapes and types: their answers are fixed by the signature.
_METADATA = {np.shape, np.ndim, np.size, np.result_type, np.iscomplexobj, np.isrealobj,
             np.isscalar, np.min_scalar_type, np.can_cast}
# NumPy functions whose result's shape depends on the values: their inputs are guarded.
_VALUE_SHAPED = {np.nonzero, np.argwhere, np.flatnonzero, np.unique, np.extract, np.compress}


# Array attributes a staged value does not offer: the AD engine reads ``trace`` to tell its
# own values apart (``rules._primal`` unwraps whatever has ``trace`` and ``value``), so a
# staged array answering to it would be unwrapped to its real, unrecorded value.
_NOT_FORWARDED = {"trace"}


class UnguardableError(DiffLabError, TypeError):
    """Staging met a use of a value that a replay could not check (raised at ``jit`` time)."""


class Guard:
    """What staging saw of one value: its truth (``bool``), its integer (``int``) or the whole
    integer or boolean array (``array``)."""

    __slots__ = ("ref", "kind", "expected", "why")

    def __init__(self, ref, kind, expected, why):
        self.ref, self.kind, self.expected, self.why = ref, kind, expected, why


class Instruction:
    """``out = fn(*args, **kwargs)``, with ``Ref`` in args for the staged operands."""

    __slots__ = ("fn", "args", "kwargs", "out", "method")

    def __init__(self, fn, args, kwargs, out, method=None):
        self.fn, self.args, self.kwargs, self.out, self.method = fn, args, kwargs, out, method


class Ref:
    """A staged value's place in the program, inside an instruction's arguments."""

    __slots__ = ("number",)

    def __init__(self, number):
        self.number = number

    def __repr__(self):
        return f"v{self.number}"


class Program:
    """The staged instructions in order, interleaved with guards, and the inputs' numbers."""

    def __init__(self):
        self.steps = []          # Instruction or Guard, in the order staging met them
        self.inputs = []
        self.count = 0
        self.facts = {}          # number → (shape, dtype) of each staged array
        self.finite = {}         # number → whether a small float array is finite throughout

    def input(self, value):
        staged = self._new(value)
        self.inputs.append(staged.ref.number)
        return staged

    def _new(self, value):
        self.count += 1
        if _is_array(value):
            self.facts[self.count] = (np.shape(value), np.result_type(value))
            if value.dtype.kind in "fc" and value.size <= _CHECKED_SIZE:
                self.finite[self.count] = all_finite(value)
        return Staged(value, self, Ref(self.count))

    def record(self, fn, args, kwargs, method=None):
        """Compute fn on the real values and append it; the result staged."""
        value = fn(*real(args), **real(kwargs))
        return self.append(fn, args, kwargs, value, method)

    def append(self, fn, args, kwargs, value, method=None):
        """Append ``fn(args, kwargs)`` whose real result is ``value``; the result staged."""
        if isinstance(value, (tuple, list)) and any(_is_array(v) for v in value):
            whole = self._new(value)
            self.steps.append(Instruction(fn, _refs(args), _refs(kwargs), whole.ref.number,
                                          method))
            return type(value)(self.record(operator.getitem, (whole, i), {})
                               for i in range(len(value)))
        if not (_is_array(value) or type(value) in (bool, int, float)):
            raise UnguardableError(
                f"jit: {_name(fn)} on a staged value returned a {type(value).__name__}, which "
                "a replayed program cannot carry; compute with arrays (dnp or NumPy functions)")
        staged = self._new(value)
        self.steps.append(Instruction(fn, _refs(args), _refs(kwargs), staged.ref.number, method))
        return staged

    def guard(self, staged, kind, expected, why):
        self.steps.append(Guard(staged.ref.number, kind, expected, why))
        return expected


def _is_array(value):
    return isinstance(value, (np.ndarray, np.generic))


def _name(fn):
    return getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)


def _mapped(x, leaf):
    """x with every staged value s in it replaced by leaf(s), through tuples, lists, dicts
    and slices (the shapes arguments come in)."""
    kind = type(x)
    if kind is Staged:
        return leaf(x)
    if kind is tuple or kind is list:
        return kind(_mapped(v, leaf) for v in x)
    if kind is dict:
        return {k: _mapped(v, leaf) for k, v in x.items()}
    if kind is slice:
        return slice(*(_mapped(v, leaf) for v in (x.start, x.stop, x.step)))
    return x


def _first_staged(x):
    """The first staged value in x (through the same containers as ``_mapped``), or None."""
    kind = type(x)
    if kind is Staged:
        return x
    items = x.values() if kind is dict else x if kind is tuple or kind is list else \
        (x.start, x.stop, x.step) if kind is slice else ()
    for v in items:
        found = _first_staged(v)
        if found is not None:
            return found
    return None


def real(x):
    """x with every staged value replaced by its real value."""
    return _mapped(x, _VALUE)


def _refs(x):
    return _mapped(x, _REF)


def _guarded(x, why):
    """x with every staged value replaced by its real value, each guarded (indices, shapes)."""
    return _mapped(x, lambda staged: staged.concrete(why))


_VALUE, _REF = operator.attrgetter("value"), operator.attrgetter("ref")


def call(fn, *args, **kwargs):
    """fn(*args, **kwargs), recorded as one instruction when a staged value is among the
    arguments: for engine code that works on plain arrays in place (fn must be pure)."""
    staged = _first_staged((args, kwargs))
    if staged is None:
        return fn(*args, **kwargs)
    return staged.program.record(fn, args, kwargs)


def all_finite(value):
    """Whether every entry of a float or complex array is finite, with no NumPy call for a
    float scalar; of a staged value, one instruction (and one guard where Python reads it)."""
    if type(value) is Staged:
        return value.program.record(all_finite, (value,), {})
    if value.ndim == 0 and value.dtype.kind == "f":
        return math.isfinite(value)
    return bool(np.isfinite(value).all())


def _binary(ufunc, op):
    """An operator as Python would compute it on the real values, recorded: the ufunc when
    an operand is an array (what ndarray's operators call), the operator itself when both
    are scalars (NumPy's scalar math, whose ``**`` can differ from np.power in the last
    bit) and for ``**`` always (ndarray's ``**`` takes shortcuts, such as np.square for 2).
    An AD value on the other side takes the operation (it records it at its level, on top
    of the staging)."""
    def call(a, b, staged):
        if op is operator.pow or not (isinstance(real(a), np.ndarray) or
                                      isinstance(real(b), np.ndarray)):
            return staged.program.record(op, (a, b), {})
        return ufunc(a, b)

    def forward(self, other):
        return NotImplemented if type(other) in _AD else call(self, other, self)

    def reflected(self, other):
        return NotImplemented if type(other) in _AD else call(other, self, self)
    return forward, reflected


class Staged:
    """An array being staged: its real ``value`` and its ``ref`` in ``program``."""

    __slots__ = ("value", "program", "ref")
    __array_priority__ = 2000

    def __init__(self, value, program, ref):
        self.value, self.program, self.ref = value, program, ref

    def __repr__(self):
        return f"Staged({self.ref}, shape={np.shape(self.value)}, dtype={self.dtype})"

    # Facts fixed by the signature: read from the real value.
    @property
    def shape(self):
        return np.shape(self.value)

    @property
    def dtype(self):
        return np.result_type(self.value)

    @property
    def ndim(self):
        return np.ndim(self.value)

    @property
    def size(self):
        return np.size(self.value)

    def __len__(self):
        return len(self.value)

    def __iter__(self):
        return (self[i] for i in range(len(self.value)))

    __hash__ = object.__hash__

    def __getattr__(self, name):
        """Array methods and array-valued attributes (``x.T``, ``x.reshape``, ``x.astype``)
        are recorded; other attributes (``x.itemsize``) are fixed facts. NumPy's protocols
        (``__array_interface__``, …) are not passed on: they would hand NumPy the real value
        unrecorded, so a conversion goes through ``__array__`` and its guard."""
        if name.startswith("__") or name in _NOT_FORWARDED:
            raise AttributeError(name)
        attribute = getattr(self.value, name)
        if callable(attribute):
            method = getattr(type(self.value), name)
            return lambda *args, **kwargs: self._method(method, name, args, kwargs)
        if _is_array(attribute):
            return self.program.record(operator.attrgetter(name), (self,), {})
        return attribute

    def _method(self, method, name, args, kwargs):
        if "out" in kwargs and kwargs["out"] is not None:
            raise _in_place(name)
        return self.program.record(method, (self, *args), kwargs, method=name)

    def view(self, *args, **kwargs):
        """A view as another array class (a NumPy scalar is made a 0-d array first, which
        is what its view would need to keep the class)."""
        base = self if type(self.value) is not np.bool_ and isinstance(self.value, np.ndarray) \
            else self.program.record(np.asarray, (self,), {})
        return base._method(np.ndarray.view, "view", args, kwargs)

    # Arithmetic and comparisons: ufuncs on arrays (recorded by __array_ufunc__), see _binary.
    __add__, __radd__ = _binary(np.add, operator.add)
    __sub__, __rsub__ = _binary(np.subtract, operator.sub)
    __mul__, __rmul__ = _binary(np.multiply, operator.mul)
    __truediv__, __rtruediv__ = _binary(np.true_divide, operator.truediv)
    __floordiv__, __rfloordiv__ = _binary(np.floor_divide, operator.floordiv)
    __mod__, __rmod__ = _binary(np.remainder, operator.mod)
    __pow__, __rpow__ = _binary(np.power, operator.pow)
    __matmul__, __rmatmul__ = _binary(np.matmul, operator.matmul)

    __and__, __rand__ = _binary(np.bitwise_and, operator.and_)
    __or__, __ror__ = _binary(np.bitwise_or, operator.or_)
    __xor__, __rxor__ = _binary(np.bitwise_xor, operator.xor)
    def __neg__(self): return np.negative(self)                           # noqa: E704
    def __pos__(self): return np.positive(self)                           # noqa: E704
    def __abs__(self): return np.absolute(self)                           # noqa: E704
    def __invert__(self): return np.invert(self)                          # noqa: E704
    __lt__, __gt__ = _binary(np.less, operator.lt)
    __le__, __ge__ = _binary(np.less_equal, operator.le)
    __eq__ = _binary(np.equal, operator.eq)[0]
    __ne__ = _binary(np.not_equal, operator.ne)[0]

    def __getitem__(self, index):
        if _first_staged(index) is not None:        # an index taken from data: guarded
            index = _guarded(index, "an index array")
        return self.program.record(operator.getitem, (self, index), {})

    def __setitem__(self, index, value):
        raise _in_place("item assignment")

    # Python looking at the value: a guard, or a refusal.
    def __bool__(self):
        from .tracing import ConditionArray
        if isinstance(self.value, ConditionArray):
            bool(self.value)               # the tracer's own refusal (TracerBoolError)
        return self.program.guard(self, "bool", bool(self.value), "a Python branch")

    def __int__(self):
        return self.program.guard(self, "int", int(self.value), "a Python integer")

    __index__ = __int__

    def __float__(self):
        if self.dtype.kind in "biu":
            return float(self.__int__())
        raise _unguardable("float()", self)

    def __complex__(self):
        raise _unguardable("complex()", self)

    def __array__(self, dtype=None, copy=None):
        return self.concrete("a conversion to a NumPy array (np.asarray)")

    def concrete(self, why):
        """The real value, guarded (integer and boolean values), or UnguardableError."""
        value = self.value
        kind = np.result_type(value).kind
        if kind == "b" and np.ndim(value) == 0:
            return np.bool_(self.program.guard(self, "bool", bool(value), why))
        if kind in "biu":
            expected = np.array(value, copy=True)
            self.program.guard(self, "array", expected, why)
            return expected if np.ndim(value) else value
        raise _unguardable(why, self)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if any(type(x) in _AD for x in inputs):
            return NotImplemented
        if kwargs.get("out") is not None:
            raise _in_place(f"{ufunc.__name__}(out=...)")
        fn = ufunc if method == "__call__" else getattr(ufunc, method)
        return self.program.record(fn, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        if func in _METADATA:
            return func(*real(args), **real(kwargs))
        if func in _VALUE_SHAPED:
            return func(*_guarded(args, f"np.{func.__name__}"), **_guarded(kwargs, ""))
        if kwargs.get("out") is not None:
            raise _in_place(f"np.{func.__name__}(out=...)")
        return self.program.record(func, args, kwargs)


def _in_place(what):
    return UnguardableError(
        f"jit: {what} writes into a staged array; a replayed program keeps no state between "
        "calls, so build a new array instead (dnp.where, dnp.concatenate, arithmetic)")


def _unguardable(why, staged):
    return UnguardableError(
        f"jit: {why} of a float value ({staged!r}) turns it into a plain number; a replay "
        "could only check that it equals the one seen now, which a new input almost never "
        "does. Keep it an array and compute with dnp or NumPy functions, or pass it as a "
        "static argument (ad.jit(f, static_argnums=...)).")


def stage_primitive(primitive, args, kwargs):
    """dnp's handler for staged operands: the float implementation, recorded. Non-operand
    arguments that are staged (an index array, a shape) are real values, guarded."""
    count = len(args) if primitive.sequence else primitive.operands
    rest = args[1:] if primitive.sequence else args[count:]
    if _first_staged((rest, kwargs)) is not None:
        head = args[:1] if primitive.sequence else args[:count]
        args = (*head, *_guarded(rest, f"dnp.{primitive.name}'s parameters"))
        kwargs = _guarded(kwargs, f"dnp.{primitive.name}'s parameters")
    operands = args[0] if primitive.sequence else args[:count]
    if any(type(x) in _AD for x in operands):
        return tracing.apply(primitive, args, kwargs)          # a differentiation above the staging
    program = _first_staged(args).program
    values = real(args)
    value = primitive(*values, **real(kwargs))          # dnp's own dispatch and errors
    expand = _EXPANDED.get(primitive.name)
    staged = expand(value, *args, **kwargs) if expand is not None else None
    if staged is not None:
        return staged
    return program.append(primitive.impls[dnp.FLOAT], args, kwargs, value)


# Float implementations that are one or a few NumPy calls for these operands, staged as
# those calls (the same calls, so the same numbers) without the Python around them. Each
# takes the primitive's value, computed already, and its arguments, whose parameters are
# real here (``stage_primitive`` guards staged ones); None: not these operands.

def _one_call(fn, method=None, any_operand=False):
    """The one call a float implementation makes (on a non-empty ndarray, unless
    ``any_operand``)."""
    def expand(value, x, *rest, **kwargs):
        if not (any_operand or _non_empty(x)):
            return None
        return x.program.append(fn, (x, *rest), kwargs, value, method)
    return expand


def _mean(value, x, axis=None, keepdims=False):
    """dnp.mean: Σx, then ÷ the count."""
    if not _non_empty(x):
        return None
    total = x.program.record(np.add.reduce, (x,), {"axis": axis, "keepdims": keepdims})
    count = x.value.size // (total.value.size if type(total.value) is np.ndarray else 1)
    if count == 1:
        return total                    # x / 1 is x, bit for bit
    return x.program.append(np.true_divide, (total, count), {}, value)


def _sum(value, x, axis=None, keepdims=False):
    """dnp.sum: one reduction (einsum over the middle axis, where dnp.middle_axis says)."""
    if not _non_empty(x):
        return None
    if not dnp.middle_axis(x.value, axis):
        return x.program.append(np.add.reduce, (x, axis), {"keepdims": keepdims}, value)
    if not keepdims:
        return x.program.append(np.einsum, ("ijk->ik", x), {}, value)
    total = x.program.record(np.einsum, ("ijk->ik", x), {})
    return x.program.append(operator.getitem, (total, (slice(None), None, slice(None))), {},
                            value)


def _matmul(value, a, b):
    """dnp.matmul: the call of dnp.matmul_plan, after its copy of b (a constant's copy made
    here, once)."""
    real_a, real_b = real(a), real(b)
    if type(real_a) is not np.ndarray or type(real_b) is not np.ndarray:
        return None
    program = _first_staged((a, b)).program
    fn, leading, copy = dnp.matmul_plan(real_a, real_b)
    if copy:
        b = program.record(np.ascontiguousarray, (b,), {}) if type(b) is Staged else \
            np.ascontiguousarray(b)
    return program.append(fn, (*leading, a, b), {}, value)


def _non_empty(x):
    return type(x) is Staged and type(x.value) is np.ndarray and x.value.size


_EXPANDED = {"mean": _mean, "sum": _sum, "matmul": _matmul,
             "getitem": _one_call(operator.getitem, any_operand=True),
             "reshape": _one_call(np.ndarray.reshape, "reshape"),
             "transpose": _one_call(np.ndarray.transpose, "transpose"),
             "max": _one_call(np.maximum.reduce)}


from . import tracing  # noqa: E402  (tracing does not import staging)

_AD = (tracing.Tensor, tracing.Dual)
dnp.register_number_system(Staged, stage_primitive)
