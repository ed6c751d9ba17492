"""``difflab.numpy`` (imported as ``dnp``): the one namespace models are written in.

Every function here dispatches on the *number system* of its arguments (DESIGN.md §1):

=========  ================================================  ==============================
system     arguments                                         used by
=========  ================================================  ==============================
float      float/int ndarrays and Python or NumPy scalars    plain evaluation, finite diffs
complex    complex ndarrays                                  complex-step derivatives
sympy      object arrays of SymPy expressions                the symbolic differentiator
mpmath     object arrays of mpmath numbers                   high-precision ground truth
(others)   types given to ``register_number_system``         the AD engine
=========  ================================================  ==============================

Float constants mix with every system; complex, SymPy and mpmath values do not mix with
each other. The primitives compute the same mathematical function in every system. The float
versions of ``sigmoid``, ``softplus`` and ``logsumexp`` do not overflow. The complex versions
of ``abs``, ``relu``, ``leaky_relu``, ``maximum``, ``max`` and ``clip`` are the analytic
continuations that complex-step differentiation needs: they choose their branch from the
real part, so ``abs(z) = z·sign(Re z)``.

Kinks: at a tie, ``maximum``/``minimum``/``max`` take the mean of the tied arguments (same
value; derivative split evenly), and ``relu`` and ``leaky_relu`` take their left branch at
0, so relu′(0) = 0; ``abs``′(0) = 0, ``leaky_relu``′(0) = its slope and ``clip``′ = 1 on the
closed interval. The SymPy forms encode the same conventions with ``Piecewise`` (and ``max``
with indicators of the tied entries, as SymPy's ``Max`` gives ½ to each at any tie).

Which functions are primitives, and why (DESIGN.md §1; everything else is a composite):

=======================================  ==================================================
primitives                               why
=======================================  ==================================================
add … power, exp, log, sqrt, sin, cos,   the core every composite is written in
tanh, sum, max, matmul, reshape, …
log1p, expm1, sigmoid, softplus,         precision: the composite loses digits in float64
logsumexp, logaddexp, logaddexp2, erfc   (expm1(1e-10) as exp − 1 keeps 6)
erf, arctan, arcsin, arccos, arctan2     no composite exists
sinc                                     precision: sin(πx)/(πx) and its derivatives cancel
                                         near 0; a series there (SymPy's own derivatives
                                         of sinc do cancel near 0, and are nan at 0)
floor, ceil, rint, trunc, sign,          not differentiable: derivative 0 everywhere, at the
heaviside, floor_divide, isfinite,       jumps too (floor′(2) = 0, as autograd and JAX), or
isnan, argmax, argmin, argsort,          integer and boolean results; AD does not record them
argpartition
mod, fmod                                piecewise x − q·y: ∂/∂x = 1, ∂/∂y = −q (at jumps too)
fmax, fmin                               maximum/minimum that ignore a NaN operand
cumsum                                   a composite would take O(n²) additions
sort                                     a permutation of x: the derivative goes back through it
=======================================  ==================================================

Composites here: ``prod`` (a tree of pairwise products, so its derivative, the product of the
other entries, is right at zeros), ``cumprod`` (Hillis–Steele scan, likewise), ``round`` /
``around`` (rint), ``remainder`` (mod), and ``gelu`` (x·erfc(−x/√2)/2), ``elu`` and ``selu``
(expm1; at 0 they take the left branch, as relu: elu′(0) = α). ``primitive`` declares a user's
own function a primitive (README, "Custom primitives"); ``difflab.ad.rules`` holds the rules.
"""

import builtins
import math
import threading

import mpmath
import numpy as np
import sympy
from mpmath.ctx_mp_python import _mpc, _mpf

from ..errors import NumberSystemMixError, ShapeError, UnsupportedOperationError

FLOAT, COMPLEX, SYMPY, MPMATH = "float", "complex", "sympy", "mpmath"
SYSTEMS = (FLOAT, COMPLEX, SYMPY, MPMATH)

pi = np.pi
e = np.e
newaxis = None

_handlers = {}
_primitives = {}
# While the symbolic tracer runs f (``recording``), every non-float primitive result this
# thread computes passes through ``_recording.fn``: it names each SymPy entry with a fresh
# symbol, so no SymPy constructor ever sees a large argument (difflab.symbolic.trace). Per
# thread: a trace in another thread must neither see nor restore this one's recorder.
_recording = threading.local()


class recording:
    """``with recording(fn):`` passes every non-float primitive result of this thread
    through fn."""

    def __init__(self, fn):
        self.fn = fn

    def __enter__(self):
        self.previous = getattr(_recording, "fn", None)
        _recording.fn = self.fn
        return self

    def __exit__(self, *exc):
        _recording.fn = self.previous


def register_number_system(cls, handler):
    """Send every primitive called with a ``cls`` argument to ``handler(primitive, args, kwargs)``.

    This is how the AD engine takes part: dnp knows nothing of its tensors but their type.
    """
    _handlers[cls] = handler


def primitives():
    """The primitives by name: the operations a number system must provide."""
    return dict(_primitives)


def _classify(value):
    """The number system one operand belongs to; None for plain float constants."""
    if isinstance(value, np.ndarray):
        kind = value.dtype.kind
        if kind in "biuf":
            return None
        if kind == "c":
            return COMPLEX
        if kind == "O":  # every entry counts; their types are few, so classify those
            return _one_kind({_classify_type(cls) for cls in set(map(type, value.flat))})
        return False
    if isinstance(value, (list, tuple)):
        return _one_kind({_classify(v) for v in value})
    return _classify_type(type(value))


def _one_kind(kinds):
    """The system shared by the parts of one operand: False if any part is not a number,
    the set of systems if they mix, None if all are plain floats."""
    if False in kinds:
        return False
    kinds = kinds - {None}
    if len(kinds) > 1:
        return kinds
    return kinds.pop() if kinds else None


def _classify_type(cls):
    if issubclass(cls, (bool, int, float, np.floating, np.integer, np.bool_)):
        return None
    if issubclass(cls, (complex, np.complexfloating)):
        return COMPLEX
    if issubclass(cls, sympy.Basic):
        return SYMPY
    if issubclass(cls, (_mpf, _mpc)):
        return MPMATH
    return False


def _describe(value):
    shape = getattr(value, "shape", None)
    if isinstance(value, np.ndarray):
        described = f"ndarray (dtype {value.dtype}, shape {shape})"
        if value.dtype.kind == "O":
            held = sorted({cls.__name__ for cls in set(map(type, value.flat))})
            described += f" holding {', '.join(held)}"
        return described
    return type(value).__name__


def number_system(*values):
    """The number system in which an operation on ``values`` is computed (FLOAT, COMPLEX, ...)."""
    return _resolve("number_system", values)


def _resolve(name, operands):
    found = {}
    for index, operand in enumerate(operands):
        kind = _classify(operand)
        if kind is False:
            raise UnsupportedOperationError(
                f"dnp.{name}: argument {index} is {_describe(operand)}, which is not a number "
                "dnp understands; pass float or complex arrays, object arrays of SymPy "
                "expressions or mpmath numbers, or a registered type such as an AD tensor")
        if isinstance(kind, set):
            raise NumberSystemMixError(
                f"dnp.{name}: argument {index} mixes the number systems {sorted(kind)}")
        if kind is not None:
            found.setdefault(kind, index)
    if len(found) > 1:
        parts = ", ".join(f"{kind} (argument {i}: {_describe(operands[i])})"
                          for kind, i in found.items())
        raise NumberSystemMixError(
            f"dnp.{name}: cannot mix number systems {parts}; convert every argument to one "
            "system (float constants mix with any)")
    return next(iter(found), FLOAT)


class Primitive:
    """A dnp function with one implementation per number system.

    ``operands`` is how many leading positional arguments hold numbers (the rest are
    parameters such as shapes or indices); a ``sequence`` primitive takes a list of them.
    """

    def __init__(self, name, impls, *, operands=1, sequence=False, doc="", builtin=True):
        self.name = name
        self.impls = impls
        self.operands = operands
        self.sequence = sequence
        self.builtin = builtin
        self.elementwise = False
        self.__doc__ = doc
        self.__name__ = name
        if builtin:
            _primitives[name] = self

    def __repr__(self):
        return f"<dnp primitive {self.name}>"

    def __call__(self, *args, **kwargs):
        operands = args[0] if self.sequence else args[:self.operands]
        plain = True
        for operand in operands:
            kind = type(operand)
            if kind is np.ndarray:
                if operand.dtype.kind in "fiub":
                    continue
            elif kind is float or kind is int:
                continue
            plain = False
            handler = _handlers.get(kind)
            if handler is not None:
                return handler(self, args, kwargs)
        impl = self.impls[FLOAT] if plain else self.impls.get(_resolve(self.name, operands))
        if impl is None:
            system = _resolve(self.name, operands)
            advice = (f"; give it one when declaring it: dnp.primitive(..., {system}=...)"
                      if not self.builtin else "")
            raise UnsupportedOperationError(
                f"dnp.{self.name} is not defined for the {system} number system "
                f"(arguments of shapes {[np.shape(o) for o in operands]}){advice}")
        try:
            result = impl(*args, **kwargs)
        except np.exceptions.AxisError as error:
            raise ShapeError(f"dnp.{self.name}: {error}; axes run from -ndim to ndim - 1") \
                from None
        if plain:
            return result
        recorder = getattr(_recording, "fn", None)
        return result if recorder is None else recorder(result)


def _same_everywhere(fn):
    return {system: fn for system in SYSTEMS}


def _objectwise(scalar_fn, nin=1):
    """Apply a scalar function element by element to object arrays (or bare scalars)."""
    ufunc = np.frompyfunc(scalar_fn, nin, 1)
    return lambda *args: ufunc(*args)


def _mp(x):
    """The mpmath context of a number, so results keep its precision (and its guards)."""
    return getattr(x, "context", mpmath.mp)


def _mp_function(name):
    return _objectwise(lambda x: getattr(_mp(x), name)(x))


def _sympy_piecewise_max(a, b):
    return sympy.Piecewise((a, a > b), (b, a < b), ((a + b) / 2, True))


def _sympy_piecewise_min(a, b):
    return sympy.Piecewise((a, a < b), (b, a > b), ((a + b) / 2, True))


def _sympy_max_row(row):
    """max xᵢ = Σ xᵢ·[xᵢ ≥ m] / Σ [xᵢ ≥ m] with m = Max(row): the indicators are constant
    between ties, so SymPy's derivative is [xᵢ ≥ m]/k at a k-way tie, the even split.
    (SymPy's own Max differentiates to Heaviside(xᵢ − max of the others), ½ each at any tie:
    3/2 in all for three tied entries.)"""
    _no_empty_max(len(row))
    if len(row) == 1:
        return row[0]
    top = sympy.Max(*row)
    ties = [sympy.Piecewise((1, sympy.Ge(x, top)), (0, True)) for x in row]
    return sympy.Add(*[x * tie for x, tie in zip(row, ties)]) / sympy.Add(*ties)


def _no_empty_max(size):
    if size == 0:
        raise ShapeError("dnp.max: a maximum over no entries has no value; reduce over a "
                         "non-empty axis")


def _mp_max_row(row):
    _no_empty_max(len(row))
    return builtins.max(row)


def _float_max(x, axis=None, keepdims=False):
    try:
        return np.max(x, axis=axis, keepdims=keepdims)
    except np.exceptions.AxisError:
        raise
    except ValueError:          # NumPy's "zero-size array to reduction operation maximum"
        _no_empty_max(0)
        raise


# Float and complex implementations that need care (stability, analytic continuation).

def _stable_sigmoid(x):
    """σ(x) = 1/(1+e^{-x}), evaluated as e^{x}/(1+e^{x}) where Re x < 0 so e^{·} ≤ 1."""
    x = np.asarray(x)
    positive = np.real(x) >= 0
    e = np.exp(np.where(positive, -x, x))
    return np.where(positive, 1, e) / (1 + e)


def _log1p(z):
    """log(1+z). NumPy's complex log1p is log(1+z) as written, whose real part loses its
    accuracy when |z| is small (as in complex steps); there (Re z > −1/2, |Im z| < 1) use
    log|1+z| = log1p(a) + ½·log1p(t²) with z = a + ib, t = b/(1+a)."""
    if not np.iscomplexobj(z):
        return np.log1p(z)
    a, b = np.real(z), np.imag(z)
    near = (a > -0.5) & (np.abs(b) < 1)
    a_near, b_near = np.where(near, a, 0), np.where(near, b, 0)
    t = b_near / (1 + a_near)
    modulus = np.where(near, np.log1p(a_near) + np.log1p(t * t) / 2, np.log(np.abs(1 + z)))
    return modulus + 1j * np.arctan2(b, 1 + a)


def _stable_softplus(x):
    """log(1+e^{x}) = max(x, 0) + log1p(e^{-|x|}), with the branch chosen on Re x."""
    x = np.asarray(x)
    positive = np.real(x) > 0
    return np.where(positive, x, 0) + _log1p(np.exp(np.where(positive, -x, x)))


def _stable_logsumexp(x, axis=None, keepdims=False):
    """log Σ e^{x} = m + log1p(Σ e^{x−m} − 1), with m the largest real part (a constant shift).

    The terms at the maximum (e^0 = 1) are subtracted before the sum, so the log1p argument
    keeps its relative accuracy when the others are tiny: logsumexp([0, −40]) ≈ 4.2e−18, not 0.
    """
    x = np.asarray(x)
    shift = np.max(np.real(x), axis=axis, keepdims=True) if x.size else np.zeros(())
    shift = np.where(np.isfinite(shift), shift, 0)
    top = np.real(x) == shift
    others = np.sum(np.exp(x - shift) - top, axis=axis, keepdims=True)
    tops = np.sum(top, axis=axis, keepdims=True, dtype=shift.dtype)
    out = _log1p(others + (tops - 1)) + shift
    return out if keepdims else np.squeeze(out, axis=axis)


def _float_leaky_relu(x, negative_slope=0.01):
    return np.where(np.real(x) > 0, x, negative_slope * np.asarray(x))


def _float_relu(x):
    return np.where(np.real(x) > 0, x, 0)


def _complex_abs(z):
    return z * np.sign(np.real(z))


def _complex_maximum(a, b):
    ra, rb = np.real(a), np.real(b)
    return np.where(ra > rb, a, np.where(ra < rb, b, (np.asarray(a) + b) / 2))


def _complex_minimum(a, b):
    ra, rb = np.real(a), np.real(b)
    return np.where(ra < rb, a, np.where(ra > rb, b, (np.asarray(a) + b) / 2))


def _complex_max(x, axis=None, keepdims=False):
    """The entry of largest real part; ties give their mean."""
    x = np.asarray(x)
    top = np.real(x) == np.max(np.real(x), axis=axis, keepdims=True)
    total = np.sum(np.where(top, x, 0), axis=axis, keepdims=keepdims)
    return total / np.sum(top, axis=axis, keepdims=keepdims)


def _complex_clip(z, a_min=None, a_max=None):
    z = np.asarray(z)
    if a_min is not None:
        z = np.where(np.real(z) < a_min, a_min, z)
    if a_max is not None:
        z = np.where(np.real(z) > a_max, a_max, z)
    return z


# Object-array (SymPy, mpmath) reductions and products.

def reduction_axes(axis, ndim, name="reduce"):
    """The axes a reduction over ``axis`` covers, as sorted non-negative integers."""
    if axis is None:
        return tuple(range(ndim))
    axes = axis if isinstance(axis, tuple) else (axis,)
    normalized = []
    for a in axes:
        if not -ndim <= a < ndim:
            raise ShapeError(f"dnp.{name}: axis {a} is out of range for an array of {ndim} "
                             "dimensions")
        normalized.append(a % ndim)
    return tuple(sorted(set(normalized)))


def _reduce_objects(x, axis, keepdims, reduce_row, name):
    """Reduce an object array over ``axis`` by calling ``reduce_row(list)`` once per row."""
    x = np.asarray(x, dtype=object)
    axes = reduction_axes(axis, x.ndim, name)
    kept = [i for i in range(x.ndim) if i not in axes]
    kept_shape = tuple(x.shape[i] for i in kept)
    rows = np.transpose(x, kept + list(axes)).reshape(kept_shape + (-1,))
    rows = rows.reshape(-1, rows.shape[-1])
    out = np.empty(len(rows), dtype=object)
    for i, row in enumerate(rows):
        out[i] = reduce_row(list(row))
    out = out.reshape(kept_shape)
    if keepdims:
        out = out.reshape(tuple(1 if i in axes else n for i, n in enumerate(x.shape)))
    return out[()] if out.ndim == 0 else out


def _sympy_sum_row(row):
    return sympy.Add(*row)


def _row_context(row):
    """The mpmath context of the first mpmath number in a row (float constants have none)."""
    for v in row:
        if isinstance(v, (_mpf, _mpc)):
            return v.context
    return mpmath.mp


def _mp_sum_row(row):
    return _row_context(row).fsum(row) if row else 0


def _float_reduction(ufunc, fallback):
    """ufunc.reduce on float arrays (np.sum and np.max add a Python layer per call)."""
    def reduce(x, axis=None, keepdims=False):
        if type(x) is np.ndarray and x.size:
            return ufunc.reduce(x, axis=axis, keepdims=keepdims)
        return fallback(x, axis=axis, keepdims=keepdims)
    return reduce


_FAST_DTYPES = "fdFD"       # float32, float64, complex64, complex128


def middle_axis(x, axis):
    """Whether dnp's float sum of x over ``axis`` is ``np.einsum("ijk->ik", x)``.

    NumPy's reduce over the middle axis of a C-contiguous (b, n, k) array runs an inner
    loop of k entries per (i, j): with a small k that loop's overhead is the whole cost (the
    batched tangents of a Hessian, (121, 16, 8), take 33 µs). einsum adds the n rows in the
    same order, so gives the same numbers, in 9 µs (1.5 to 4 times faster from k = 2 to
    128). For k = 1 NumPy's pairwise summation takes over and the numbers differ, so that
    case is left to NumPy; so are all but float32/64 and complex64/128 arrays (einsum keeps
    a bool or an int32 dtype where a sum promotes it)."""
    return x.ndim == 3 and axis in (1, -2, (1,), (-2,)) and x.shape[2] >= 2 and \
        x.dtype.char in _FAST_DTYPES and x.flags.c_contiguous


def _float_sum(x, axis=None, keepdims=False):
    if type(x) is np.ndarray and x.size:
        if middle_axis(x, axis):
            total = np.einsum("ijk->ik", x)
            return total[:, None, :] if keepdims else total
        return np.add.reduce(x, axis=axis, keepdims=keepdims)
    return np.sum(x, axis=axis, keepdims=keepdims)


def _object_reduction(reduce_row, name):
    def reduce(x, axis=None, keepdims=False):
        return _reduce_objects(x, axis, keepdims, reduce_row, name)
    return reduce


def _check_matmul_shapes(a, b, name):
    sa, sb = np.shape(a), np.shape(b)
    if len(sa) == 0 or len(sb) == 0:
        raise ShapeError(f"dnp.{name}: operands must have at least one dimension, got shapes "
                         f"{sa} and {sb}; use dnp.multiply for scalars")
    k_a = sa[-1]
    k_b = sb[0] if len(sb) == 1 else sb[-2]
    if k_a != k_b:
        raise ShapeError(f"dnp.{name}: shapes {sa} and {sb} do not line up (inner dimensions "
                         f"{k_a} and {k_b} differ)")


def _sympy_matmul(a, b):
    """A @ B with each entry one flat ``Add`` (repeated ``+`` on SymPy sums costs O(k²))."""
    a = np.asarray(a, dtype=object)
    b = np.asarray(b, dtype=object)
    a2 = a[None, :] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    if getattr(_recording, "fn", None) is None:
        products = a2[..., :, :, None] * b2[..., None, :, :]
        out = _reduce_objects(products, -2, False, _sympy_sum_row, "matmul")
    else:
        # the symbolic tracer reads the sum as it stands (symbolic.graph): SymPy's evaluation
        # of k products of a symbol and a float would cost ~100 µs each and change nothing
        products = _unevaluated_product(a2[..., :, :, None], b2[..., None, :, :])
        out = _reduce_objects(products, -2, False, _unevaluated_sum, "matmul")
    out = np.asarray(out, dtype=object)
    if b.ndim == 1:
        out = out[..., 0]
    if a.ndim == 1:
        out = out[..., 0, :] if b.ndim > 1 else out[..., 0]
    return out[()] if out.ndim == 0 else out


_unevaluated_product = np.frompyfunc(
    lambda a, b: sympy.Mul(sympy.sympify(a), sympy.sympify(b), evaluate=False), 2, 1)


def _unevaluated_sum(row):
    return sympy.Add(*row, evaluate=False) if len(row) > 1 else row[0]


def _sympy_dot(a, b):
    if np.ndim(a) == 0 or np.ndim(b) == 0:
        return np.multiply(a, b)
    if np.ndim(a) <= 2 and np.ndim(b) <= 2:
        return _sympy_matmul(a, b)
    return np.dot(a, b)


def _object_where(condition, x, y):
    return np.where(np.asarray(condition, dtype=bool), x, y)


def _sympy_where(condition, x, y):
    return _objectwise(lambda c, a, b: sympy.Piecewise((a, c), (b, True)), 3)(condition, x, y)


def _sympy_clip(x, a_min=None, a_max=None):
    def clip_one(v):
        pieces = []
        if a_min is not None:
            pieces.append((a_min, v < a_min))
        if a_max is not None:
            pieces.append((a_max, v > a_max))
        return sympy.Piecewise(*pieces, (v, True))
    return _objectwise(clip_one)(x)


def _mp_clip(x, a_min=None, a_max=None):
    def clip_one(v):
        if a_min is not None and v < a_min:
            return v * 0 + a_min
        if a_max is not None and v > a_max:
            return v * 0 + a_max
        return v
    return _objectwise(clip_one)(x)


def _mp_tie_mean(a, b, pick):
    if a == b:
        return (a + b) / 2
    return a if pick(a, b) else b


def is_basic_index(index):
    """Whether x[index] is a view (slices, integers, None, Ellipsis), not a gather."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(p is None or p is Ellipsis or isinstance(p, (slice, int, np.integer))
               for p in parts)


def _untake(values, index, shape):
    """Zeros of ``shape`` with ``values`` added at ``index`` (repeated indices accumulate)."""
    values = np.asarray(values)
    out = np.zeros(shape, dtype=values.dtype if values.dtype.kind in "fc" else object)
    if out.dtype == object:  # a zero of the values' own system (an mpmath zero keeps its context)
        out[...] = values.flat[0] * 0 if values.size else 0
    if is_basic_index(index):
        out[index] += values
    else:
        np.add.at(out, index, values)
    return out


def _zeros_like(x):
    return np.zeros_like(x) if isinstance(x, np.ndarray) and x.dtype.kind in "iufc" \
        else np.zeros(np.shape(x))


def _ones_like(x):
    return np.ones_like(x) if isinstance(x, np.ndarray) and x.dtype.kind in "iufc" \
        else np.ones(np.shape(x))


# The primitives. Each row: float, complex, SymPy, mpmath implementation.

def _unary(name, numeric, symbolic, precise, complex_=None, doc=""):
    return Primitive(name, {FLOAT: numeric, COMPLEX: complex_ or numeric,
                            SYMPY: _objectwise(symbolic), MPMATH: precise}, doc=doc)


exp = _unary("exp", np.exp, sympy.exp, _mp_function("exp"), doc="e^x")
log = _unary("log", np.log, sympy.log, _mp_function("ln"), doc="natural logarithm")
log1p = _unary("log1p", np.log1p, lambda x: sympy.log(1 + x), _mp_function("log1p"),
               doc="log(1 + x), accurate for small x")
sqrt = _unary("sqrt", np.sqrt, sympy.sqrt, _mp_function("sqrt"), doc="√x")
square = _unary("square", np.square, lambda x: x**2, _objectwise(lambda x: x * x), doc="x²")
sin = _unary("sin", np.sin, sympy.sin, _mp_function("sin"), doc="sine")
cos = _unary("cos", np.cos, sympy.cos, _mp_function("cos"), doc="cosine")
tanh = _unary("tanh", np.tanh, sympy.tanh, _mp_function("tanh"), doc="hyperbolic tangent")
sigmoid = _unary(
    "sigmoid", _stable_sigmoid, lambda x: 1 / (1 + sympy.exp(-x)),
    _objectwise(lambda x: 1 / (1 + _mp(x).exp(-x))),
    doc="logistic function σ(x) = 1/(1+e^{-x}); the float version never overflows")
softplus = _unary(
    "softplus", _stable_softplus, lambda x: sympy.log(1 + sympy.exp(x)),
    _objectwise(lambda x: _mp(x).log1p(_mp(x).exp(x))),
    doc="log(1+e^x); the float version never overflows")
relu = _unary(
    "relu", _float_relu, lambda x: sympy.Piecewise((x, x > 0), (0, True)),
    _objectwise(lambda x: x if x > 0 else x * 0),
    doc="max(x, 0); relu′(0) = 0; the complex version chooses its branch from Re x")
abs = _unary(
    "abs", np.abs, sympy.Abs, _objectwise(lambda x: x.__abs__()), complex_=_complex_abs,
    doc="|x|; the complex version is the analytic continuation z·sign(Re z)")
sign = _unary("sign", lambda x: np.sign(np.real(x)), sympy.sign,
              _objectwise(lambda x: _mp(x).sign(x)),
              doc="−1, 0 or 1 by the sign of (the real part of) x; its derivative is 0")
negative = _unary("negative", np.negative, lambda x: -x, _objectwise(lambda x: -x), doc="-x")

leaky_relu = Primitive("leaky_relu", {
    FLOAT: _float_leaky_relu,
    COMPLEX: _float_leaky_relu,
    SYMPY: lambda x, negative_slope=0.01: _objectwise(
        lambda v: sympy.Piecewise((v, v > 0), (negative_slope * v, True)))(x),
    MPMATH: lambda x, negative_slope=0.01: _objectwise(
        lambda v: v if v > 0 else negative_slope * v)(x),
}, doc="x for x > 0, negative_slope·x otherwise (default slope 0.01)")

add = Primitive("add", _same_everywhere(np.add), operands=2, doc="x + y")
subtract = Primitive("subtract", _same_everywhere(np.subtract), operands=2, doc="x − y")
multiply = Primitive("multiply", _same_everywhere(np.multiply), operands=2, doc="x · y")
divide = Primitive("divide", _same_everywhere(np.true_divide), operands=2, doc="x / y")
power = Primitive("power", _same_everywhere(np.power), operands=2, doc="x ** y")
maximum = Primitive("maximum", {
    FLOAT: np.maximum, COMPLEX: _complex_maximum,
    SYMPY: _objectwise(_sympy_piecewise_max, 2),
    MPMATH: _objectwise(lambda a, b: _mp_tie_mean(a, b, lambda p, q: p > q), 2),
}, operands=2, doc="element-wise maximum; ties give the mean (derivative split evenly)")
minimum = Primitive("minimum", {
    FLOAT: np.minimum, COMPLEX: _complex_minimum,
    SYMPY: _objectwise(_sympy_piecewise_min, 2),
    MPMATH: _objectwise(lambda a, b: _mp_tie_mean(a, b, lambda p, q: p < q), 2),
}, operands=2, doc="element-wise minimum; ties give the mean (derivative split evenly)")

where = Primitive("where", {
    FLOAT: np.where, COMPLEX: np.where, SYMPY: _sympy_where, MPMATH: _object_where,
}, operands=3, doc="x where condition holds, y elsewhere; under SymPy a Piecewise")
clip = Primitive("clip", {
    FLOAT: np.clip, COMPLEX: _complex_clip, SYMPY: _sympy_clip, MPMATH: _mp_clip,
}, doc="clip(x, a_min, a_max): x limited to [a_min, a_max] (either bound may be None)")

sum = Primitive("sum", {
    FLOAT: _float_sum, COMPLEX: np.sum,
    SYMPY: _object_reduction(_sympy_sum_row, "sum"),
    MPMATH: _object_reduction(_mp_sum_row, "sum"),
}, doc="sum(x, axis=None, keepdims=False)")
max = Primitive("max", {
    FLOAT: _float_reduction(np.maximum, _float_max), COMPLEX: _complex_max,
    SYMPY: _object_reduction(_sympy_max_row, "max"),
    MPMATH: _object_reduction(_mp_max_row, "max"),
}, doc="max(x, axis=None, keepdims=False); ties give the mean of the tied entries")
logsumexp = Primitive("logsumexp", {
    FLOAT: _stable_logsumexp, COMPLEX: _stable_logsumexp,
    SYMPY: _object_reduction(
        lambda row: sympy.log(sympy.Add(*[sympy.exp(v) for v in row])), "logsumexp"),
    MPMATH: _object_reduction(
        lambda row: _row_context(row).ln(_row_context(row).fsum(
            _row_context(row).exp(v) for v in row)),
        "logsumexp"),
}, doc="log Σ exp(x) over axis (default all); the float version never overflows")


def _check_product_shapes(a, b, name):
    _check_matmul_shapes(a, b, name)
    if name == "matmul":
        sa, sb = np.shape(a), np.shape(b)
        try:
            np.broadcast_shapes(sa[:-2], sb[:-2])
        except ValueError:
            raise ShapeError(f"dnp.{name}: the batch dimensions of shapes {sa} and {sb} do "
                             "not broadcast") from None


def _matmul_checked(impl, name):
    """Object arrays are checked first (broadcasting could hide a mismatch of 1 against k)."""
    def matmul_(a, b):
        _check_product_shapes(a, b, name)
        return impl(a, b)
    return matmul_


def _numeric_product(impl, name):
    """NumPy refuses every mismatch itself; explain it only then (no cost on the happy path)."""
    def product(a, b):
        try:
            return impl(a, b)
        except ValueError:
            _check_product_shapes(a, b, name)
            raise
    return product


def _dot_checked(impl):
    def dot_(a, b):
        if np.ndim(a) and np.ndim(b):  # a scalar operand scales the other
            _check_matmul_shapes(a, b, "dot")
        return impl(a, b)
    return dot_


def matmul_plan(a, b):
    """How dnp's float matmul computes a @ b for arrays a and b: (function, leading
    arguments, whether b is copied first), called as ``function(*leading, a, b)``.

    - A contraction over one index (a (…, m, 1) times b (…, 1, n)) is one product per entry,
      exact however it is computed, so it takes the fastest call: np.multiply for matrices
      ((64, 1) @ (1, 32): 2.3 µs against 3.8 µs), einsum for stacks ((121, 64, 1) @ (1, 32):
      167 µs against NumPy's batched matmul's 408 µs). Float and complex operands only.
    - In any other batched product (an operand of more than two dimensions) a right operand
      that is not C-contiguous is copied first: NumPy's batched matmul takes twice the time
      with a transposed right operand ((121, 16, 8) tangents times a transposed (8, 8)
      weight: 22 µs, 10 µs after the copy). A transposed left operand costs it nothing.
    - Two matrices of one dtype: np.dot, the same BLAS call as np.matmul without the ufunc
      machinery around it (0.3 to 0.45 µs less per product of the networks people check).
    Under jit a constant's copy is made once, at staging."""
    fast = a.dtype.char in _FAST_DTYPES and b.dtype.char in _FAST_DTYPES
    if a.ndim == 2 and b.ndim == 2:                     # two matrices: the common case first
        if fast and a.shape[1] == 1 and b.shape[0] == 1:
            return _MULTIPLY
        return _DOT if fast and a.dtype == b.dtype else _MATMUL
    batched = a.ndim > 2 or b.ndim > 2
    if a.ndim >= 2 and b.ndim >= 2 and a.shape[-1] == 1 and b.shape[-2] == 1 and fast:
        return _OUTER
    return _MATMUL_COPIED if batched and not b.flags.c_contiguous else _MATMUL


_MULTIPLY, _DOT, _MATMUL = (np.multiply, (), False), (np.dot, (), False), (np.matmul, (), False)
_OUTER, _MATMUL_COPIED = (np.einsum, ("...jl,...lk->...jk",), False), (np.matmul, (), True)


def float_matmul(a, b):
    """dnp's float matmul (``matmul_plan``), for callers that hold NumPy arrays."""
    if type(a) is not np.ndarray or type(b) is not np.ndarray:
        return np.matmul(a, b)
    fn, leading, copy = matmul_plan(a, b)
    if leading:
        return fn(*leading, a, b)
    return fn(a, np.ascontiguousarray(b) if copy else b)


matmul = Primitive("matmul", {
    FLOAT: _numeric_product(float_matmul, "matmul"), COMPLEX: _numeric_product(np.matmul, "matmul"),
    SYMPY: _matmul_checked(_sympy_matmul, "matmul"),
    MPMATH: _matmul_checked(np.matmul, "matmul"),
}, operands=2, doc="matrix product a @ b (NumPy's broadcasting rules)")
dot = Primitive("dot", {
    FLOAT: _numeric_product(np.dot, "dot"), COMPLEX: _numeric_product(np.dot, "dot"),
    SYMPY: _dot_checked(_sympy_dot), MPMATH: _dot_checked(np.dot),
}, operands=2, doc="np.dot semantics")

reshape = Primitive("reshape", dict(_same_everywhere(np.reshape), **{
    FLOAT: lambda x, shape: x.reshape(shape) if type(x) is np.ndarray else np.reshape(x, shape)
}), doc="reshape(x, shape)")
transpose = Primitive("transpose", dict(_same_everywhere(np.transpose), **{
    FLOAT: lambda x, axes=None: x.transpose(axes) if type(x) is np.ndarray
    else np.transpose(x, axes)
}), doc="transpose(x, axes=None)")
broadcast_to = Primitive("broadcast_to", _same_everywhere(np.broadcast_to),
                         doc="broadcast_to(x, shape)")
expand_dims = Primitive("expand_dims", _same_everywhere(np.expand_dims),
                        doc="expand_dims(x, axis)")
squeeze = Primitive("squeeze", _same_everywhere(np.squeeze), doc="squeeze(x, axis=None)")
getitem = Primitive("getitem", _same_everywhere(lambda x, index: x[index]),
                    doc="x[index]: indexing and slicing")
untake = Primitive("untake", _same_everywhere(_untake),
                  doc="untake(values, index, shape): zeros of shape with values added at "
                      "index — the adjoint of indexing, used by derivatives of x[index]")
concatenate = Primitive("concatenate", _same_everywhere(np.concatenate), sequence=True,
                        doc="concatenate(arrays, axis=0)")
stack = Primitive("stack", _same_everywhere(np.stack), sequence=True,
                  doc="stack(arrays, axis=0)")
zeros_like = Primitive("zeros_like", _same_everywhere(_zeros_like),
                       doc="zeros of x's shape (a constant)")
ones_like = Primitive("ones_like", _same_everywhere(_ones_like),
                      doc="ones of x's shape (a constant)")


# Precision: as composites these would lose digits in float64 (expm1(1e-10) as exp(x) − 1
# keeps 6 of them, gelu(−10) as x(1 + erf(x/√2))/2 none), or have no composite at all (erf,
# the inverse trigonometric functions).

def _mp_binary(fn):
    """fn(ctx, a, b) entry by entry, in the mpmath context of whichever operand has one."""
    def entry(a, b):
        return fn(_mp(a) if hasattr(a, "context") else _mp(b), a, b)
    return _objectwise(entry, 2)


def _entrywise_to_float(scalar_fn):
    """A math-module function over float arrays, keeping float32 float32."""
    entries = np.frompyfunc(scalar_fn, 1, 1)

    def apply(x):
        x = np.asarray(x)
        dtype = x.dtype if x.dtype.kind == "f" else np.dtype(np.float64)
        return np.asarray(entries(x), dtype=dtype)[()]
    return apply


_float_erf = _entrywise_to_float(math.erf)      # NumPy has no erf; math's is correctly rounded
_float_erfc = _entrywise_to_float(math.erfc)    # to within an ulp, and scipy is no dependency
_TWO_OVER_ROOT_PI = 2 / math.sqrt(math.pi)
_SERIES_REACH = 0.5


def _erf_series(x, y):
    """Σₙ i(−i)ⁿ cₙ with cₙ = Hₙ(x)·yⁿ⁺¹/(n+1)!, as (real, imaginary) parts: the Taylor series
    erf(x + iy) − erf(x) = (2/√π)e^{−x²} Σₙ i(−i)ⁿ cₙ about the real axis (erf⁽ⁿ⁺¹⁾(x) =
    (2/√π)(−1)ⁿHₙ(x)e^{−x²}). Hermite's recurrence Hₙ₊₁ = 2xHₙ − 2nHₙ₋₁ gives c₀ = y,
    c₁ = xy², cₙ₊₁ = (2xy·cₙ − 2ny²·cₙ₋₁/(n+1))/(n+2). The parts are summed apart, so a
    complex step's tiny imaginary part keeps its relative accuracy."""
    previous, current = y, x * y * y
    real, imaginary = np.zeros_like(x), y.copy()         # n = 0 contributes i·c₀
    n = 1
    while np.any(np.abs(current) > 1e-17 * np.abs(y)) and n < 400:
        sign = -1.0 if n % 4 in (2, 3) else 1.0        # i(−i)ⁿ = i, 1, −i, −1, …
        if n % 2:
            real = real + sign * current
        else:
            imaginary = imaginary + sign * current
        previous, current = current, (2 * x * y * current
                                      - 2 * n * y * y * previous / (n + 1)) / (n + 2)
        n += 1
    scale = _TWO_OVER_ROOT_PI * np.exp(-x * x)
    return scale * real, scale * imaginary


def _complex_error_function(z, real_fn, sign, mp_name):
    """erf (sign +1) or erfc = 1 − erf (sign −1) of complex z: the series about the real axis
    within |Im z| ≤ 1/2 (complex steps), mpmath at 30 digits farther out."""
    z = np.asarray(z, dtype=complex)
    x, y = np.real(z), np.imag(z)
    near = np.abs(y) <= _SERIES_REACH
    real, imaginary = _erf_series(np.where(near, x, 0.0), np.where(near, y, 0.0))
    out = (real_fn(x) + sign * real) + 1j * (sign * imaginary)
    if not near.all():
        with mpmath.workdps(30):
            far = [complex(getattr(mpmath, mp_name)(mpmath.mpc(v.real, v.imag)))
                   for v in z[~near]]
        out[~near] = far
    return out[()]


def _complex_logaddexp(a, b):
    """log(eᵃ + eᵇ) = m + log1p(e^{d}): m the operand of larger real part, d the other minus
    m (NumPy has no complex logaddexp); analytic, as the float form is smooth everywhere."""
    a, b = np.asarray(a), np.asarray(b)
    first = np.real(a) >= np.real(b)
    top = np.where(first, a, b)
    return _log1p(np.exp(np.where(first, b, a) - top)) + top


_LN2 = math.log(2)


def _complex_logaddexp2(a, b):
    return _complex_logaddexp(np.asarray(a) * _LN2, np.asarray(b) * _LN2) / _LN2


def _complex_arctan2(y, x):
    """The angle of (x, y) continued analytically: arctan(y/x) plus the quadrant's multiple
    of π, or ±π/2 − arctan(x/y) where |Re y| > |Re x|, the branches chosen on the real parts."""
    y, x = np.asarray(y, dtype=complex), np.asarray(x, dtype=complex)
    ry, rx = np.real(y), np.real(x)
    steep = np.abs(ry) > np.abs(rx)
    up = np.where(ry >= 0, 1.0, -1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        flat = np.arctan(y / np.where(steep, 1, x)) + np.where(rx < 0, np.pi * up, 0)
        upright = up * (np.pi / 2) - np.arctan(x / np.where(steep, y, 1))
    return np.where(steep, upright, flat)[()]


expm1 = _unary("expm1", np.expm1, lambda x: sympy.exp(x) - 1, _mp_function("expm1"),
               doc="e^x − 1, accurate for small x")
erf = _unary("erf", _float_erf, sympy.erf, _mp_function("erf"),
             complex_=lambda z: _complex_error_function(z, _float_erf, 1, "erf"),
             doc="the error function (2/√π)∫₀ˣ e^{−t²} dt")
erfc = _unary("erfc", _float_erfc, sympy.erfc, _mp_function("erfc"),
              complex_=lambda z: _complex_error_function(z, _float_erfc, -1, "erfc"),
              doc="1 − erf(x), accurate where erf(x) is near 1 (large x)")
arctan = _unary("arctan", np.arctan, sympy.atan, _mp_function("atan"), doc="inverse tangent")
arcsin = _unary("arcsin", np.arcsin, sympy.asin, _mp_function("asin"),
                doc="inverse sine, on [−1, 1]")
arccos = _unary("arccos", np.arccos, sympy.acos, _mp_function("acos"),
                doc="inverse cosine, on [−1, 1]")


# sinc(x) = sin(πx)/(πx) = Σₖ (−1)ᵏ(πx)²ᵏ/(2k+1)!. Within |x| ≤ 1/2 the series (13 terms
# reach 1e-21) keeps the relative accuracy that sin(πz)/(πz) loses to cancellation in its
# complex-step part and derivatives there; the AD rule (difflab.ad.rules) sums its derivative.
SINC_REACH = 0.5
SINC_SERIES = tuple((-1) ** k * math.pi ** (2 * k) / math.factorial(2 * k + 1)
                    for k in range(13))


def _complex_sinc(z):
    z = np.asarray(z, dtype=complex)
    near = (np.abs(np.real(z)) <= SINC_REACH) & (np.abs(np.imag(z)) <= SINC_REACH)
    u = np.square(np.where(near, z, 0))
    series = np.zeros_like(u)
    for c in reversed(SINC_SERIES):
        series = series * u + c
    return np.where(near, series, np.sinc(np.where(near, 1, z)))[()]


sinc = _unary("sinc", np.sinc, lambda x: sympy.sinc(sympy.pi * x), _mp_function("sincpi"),
              complex_=_complex_sinc,
              doc="the normalized sinc sin(πx)/(πx), 1 at 0 (NumPy's np.sinc)")
logaddexp = Primitive("logaddexp", {
    FLOAT: np.logaddexp, COMPLEX: _complex_logaddexp,
    SYMPY: _objectwise(lambda a, b: sympy.log(sympy.exp(a) + sympy.exp(b)), 2),
    MPMATH: _mp_binary(lambda ctx, a, b: ctx.ln(ctx.exp(a) + ctx.exp(b))),
}, operands=2, doc="log(e^x + e^y); the float version never overflows")
logaddexp2 = Primitive("logaddexp2", {
    FLOAT: np.logaddexp2, COMPLEX: _complex_logaddexp2,
    SYMPY: _objectwise(lambda a, b: sympy.log(2**a + 2**b) / sympy.log(2), 2),
    MPMATH: _mp_binary(lambda ctx, a, b: ctx.ln(ctx.power(2, a) + ctx.power(2, b)) / ctx.ln(2)),
}, operands=2, doc="log₂(2^x + 2^y); the float version never overflows")
arctan2 = Primitive("arctan2", {
    FLOAT: np.arctan2, COMPLEX: _complex_arctan2,
    SYMPY: _objectwise(sympy.atan2, 2),
    MPMATH: _mp_binary(lambda ctx, y, x: ctx.atan2(y, x)),
}, operands=2, doc="arctan2(y, x): the angle of the point (x, y), in (−π, π]")


# Not differentiable: piecewise constant (derivative 0 everywhere, at the jumps too, as
# autograd and JAX do) or integer- and boolean-valued. The AD engine records none of them.

def _zero_derivative(sympy_function):
    """The SymPy function with derivative 0 (SymPy leaves Derivative(floor(x), x) unevaluated,
    which nothing can compile); it prints, evaluates and simplifies as the original."""
    return type(sympy_function.__name__, (sympy_function,),
                {"fdiff": lambda self, argindex=1: sympy.S.Zero})


_sympy_floor = _zero_derivative(sympy.floor)
_sympy_ceiling = _zero_derivative(sympy.ceiling)


def _sympy_trunc(v):
    return sympy.Piecewise((_sympy_floor(v), v >= 0), (_sympy_ceiling(v), True))


def _sympy_rint(v):
    """Round half to even, as NumPy: floor(v + ½), less one at a tie whose floor is odd."""
    r = _sympy_floor(v + sympy.S.Half)
    odd_tie = sympy.And(sympy.Eq(v + sympy.S.Half, r), sympy.Ne(_sympy_floor(r / 2), r / 2))
    return sympy.Piecewise((r - 1, odd_tie), (r, True))


def _mp_trunc(x):
    ctx = _mp(x)
    return ctx.floor(x) if x >= 0 else ctx.ceil(x)


def _of_real_part(fn):
    """fn of the real part, as complex: a locally constant function is analytic, and its
    complex-step derivative is 0."""
    def constant(*args):
        value = np.asarray(fn(*[np.real(a) for a in args]))
        return value.astype(np.result_type(value, 1j))[()]
    return constant


def _rounding(name, numeric, symbolic, precise, doc):
    return _unary(name, numeric, symbolic, _objectwise(precise),
                  complex_=_of_real_part(numeric), doc=doc + "; derivative 0 everywhere")


floor = _rounding("floor", np.floor, _sympy_floor, lambda x: _mp(x).floor(x),
                  doc="the largest integer ≤ x")
ceil = _rounding("ceil", np.ceil, _sympy_ceiling, lambda x: _mp(x).ceil(x),
                 doc="the smallest integer ≥ x")
rint = _rounding("rint", np.rint, _sympy_rint, lambda x: _mp(x).nint(x),
                 doc="the nearest integer, halves to even")
trunc = _rounding("trunc", np.trunc, _sympy_trunc, _mp_trunc,
                  doc="the integer part of x, towards 0")


def _sympy_heaviside(x, h0):
    return sympy.Piecewise((1, x > 0), (0, x < 0), (h0, True))


def _mp_heaviside(x, h0):
    if x > 0:
        return x * 0 + 1
    return x * 0 if x < 0 else x * 0 + h0


heaviside = Primitive("heaviside", {
    FLOAT: np.heaviside, COMPLEX: _of_real_part(np.heaviside),
    SYMPY: _objectwise(_sympy_heaviside, 2), MPMATH: _objectwise(_mp_heaviside, 2),
}, operands=2, doc="heaviside(x, h0): 0 for x < 0, h0 at 0, 1 for x > 0; derivative 0")


def _floor_quotient(ctx_floor):
    return lambda x, y: ctx_floor(x / y)


floor_divide = Primitive("floor_divide", {
    FLOAT: np.floor_divide,
    COMPLEX: _of_real_part(lambda x, y: np.floor(x / y)),
    SYMPY: _objectwise(lambda x, y: _sympy_floor(x / y), 2),
    MPMATH: _mp_binary(lambda ctx, x, y: ctx.floor(x / y)),
}, operands=2, doc="floor(x / y), as x // y; derivative 0")


def _sympy_truth(name, question):
    def ask(e):
        answer = question(sympy.sympify(e))
        if answer is None:
            raise UnsupportedOperationError(
                f"dnp.{name}: SymPy cannot tell for the expression {e}; the answer depends on "
                "a value a symbol does not have. Test values outside the traced function")
        return bool(answer)
    return lambda x: np.asarray(_objectwise(ask)(x), dtype=bool)[()]


def _mp_truth(question):
    return lambda x: np.asarray(_objectwise(lambda v: question(_mp(v), v))(x), dtype=bool)[()]


isfinite = Primitive("isfinite", {
    FLOAT: np.isfinite, COMPLEX: np.isfinite,
    SYMPY: _sympy_truth("isfinite", lambda e: e.is_finite),
    MPMATH: _mp_truth(lambda ctx, v: ctx.isfinite(v)),
}, doc="whether x is neither infinite nor NaN (a boolean array)")
isnan = Primitive("isnan", {
    FLOAT: np.isnan, COMPLEX: np.isnan,
    SYMPY: _sympy_truth("isnan", lambda e: e is sympy.nan or (False if e.is_number or
                                                               e.is_real else None)),
    MPMATH: _mp_truth(lambda ctx, v: ctx.isnan(v)),
}, doc="whether x is NaN (a boolean array)")


def _no_symbols(name, numeric):
    """Order-dependent functions (argmax, sort) need values: SymPy numbers have them,
    symbols do not."""
    def ordered(x, *args, **kwargs):
        x = np.asarray(x, dtype=object)
        if any(not sympy.sympify(e).is_number for e in x.flat):
            raise UnsupportedOperationError(
                f"dnp.{name} of SymPy expressions of shape {x.shape}: the order of entries "
                "depends on values that symbols do not have, so a traced model cannot use it. "
                "Differentiate it with 'ad' or a numeric method; dnp.max, dnp.maximum and "
                "dnp.where do trace")
        return numeric(x, *args, **kwargs)
    return ordered


def _real_keys(numeric):
    return lambda x, *args, **kwargs: numeric(np.real(x), *args, **kwargs)


argmax = Primitive("argmax", {
    FLOAT: np.argmax, COMPLEX: _real_keys(np.argmax),
    SYMPY: _no_symbols("argmax", np.argmax), MPMATH: np.argmax,
}, doc="argmax(x, axis=None, keepdims=False): the index of the largest entry (of the "
       "largest real part); an integer array")
argmin = Primitive("argmin", {
    FLOAT: np.argmin, COMPLEX: _real_keys(np.argmin),
    SYMPY: _no_symbols("argmin", np.argmin), MPMATH: np.argmin,
}, doc="argmin(x, axis=None, keepdims=False): the index of the smallest entry; an integer "
       "array")


def _stable_argsort(x, axis=-1):
    return np.argsort(x, axis=axis, kind="stable")


def _sorted_by_real_part(z, axis=-1):
    z = np.asarray(z)
    if axis is None:
        z, axis = z.ravel(), -1
    return np.take_along_axis(z, _stable_argsort(np.real(z), axis), axis)


argsort = Primitive("argsort", {
    FLOAT: _stable_argsort, COMPLEX: _real_keys(_stable_argsort),
    SYMPY: _no_symbols("argsort", _stable_argsort), MPMATH: _stable_argsort,
}, doc="argsort(x, axis=-1): the stable order that sorts x along axis; an integer array")
def _partition_order(x, kth, axis=-1, kind="introselect"):
    """An order that partitions x about its kth entries: the stable sorted one, the same in
    every number system (NumPy's introselect leaves ties' order to the dtype's algorithm, so
    float and mpmath would disagree; the order within each side is unspecified anyway)."""
    x = np.asarray(x)
    if axis is None:
        x, axis = x.ravel(), -1
    n = x.shape[axis] if x.ndim else 0
    for k in np.atleast_1d(kth):
        if not -n <= int(k) < n:
            raise ShapeError(f"dnp.argpartition: kth = {int(k)} is out of bounds for an axis "
                             f"of length {n}")
    return _stable_argsort(x, axis)


argpartition = Primitive("argpartition", {
    FLOAT: _partition_order, COMPLEX: _real_keys(_partition_order),
    SYMPY: _no_symbols("argpartition", _partition_order), MPMATH: _partition_order,
}, doc="argpartition(x, kth, axis=-1): an order that puts x's kth entries in their sorted "
       "places, smaller ones before, larger after (the stable sorted order, the same in every "
       "number system); an integer array")
sort = Primitive("sort", {
    FLOAT: np.sort, COMPLEX: _sorted_by_real_part,
    SYMPY: _no_symbols("sort", np.sort), MPMATH: _sorted_by_real_part,
}, doc="sort(x, axis=-1): x sorted along axis (flattened when None); its derivative follows "
       "the permutation back")


# Piecewise differentiable: x mod y jumps where x/y is an integer; between jumps it is
# x − q·y with q constant, so ∂/∂x = 1 and ∂/∂y = −q (at the jumps too, by the convention).

def _complex_remainder(round_quotient):
    def remainder_(x, y):
        x, y = np.asarray(x), np.asarray(y)
        with np.errstate(divide="ignore", invalid="ignore"):
            return (x - y * round_quotient(np.real(x / y)))[()]
    return remainder_


mod = Primitive("mod", {
    FLOAT: np.mod, COMPLEX: _complex_remainder(np.floor),
    SYMPY: _objectwise(lambda x, y: x - y * _sympy_floor(x / y), 2),
    MPMATH: _mp_binary(lambda ctx, x, y: x - y * ctx.floor(x / y)),
}, operands=2, doc="x mod y = x − y·floor(x/y), with the sign of y (Python's %); "
                   "derivatives 1 and −floor(x/y)")
fmod = Primitive("fmod", {
    FLOAT: np.fmod, COMPLEX: _complex_remainder(np.trunc),
    SYMPY: _objectwise(lambda x, y: x - y * _sympy_trunc(x / y), 2),
    MPMATH: _mp_binary(lambda ctx, x, y: x - y * _mp_trunc(x / y)),
}, operands=2, doc="x − y·trunc(x/y), with the sign of x (C's fmod); derivatives 1 and "
                   "−trunc(x/y)")


def _complex_nan_ignoring(extremum):
    def pick(a, b):
        a, b = np.asarray(a), np.asarray(b)
        return np.where(np.isnan(b), a, np.where(np.isnan(a), b, extremum(a, b)))[()]
    return pick


def _mp_nan_ignoring(pick):
    def entry(a, b):
        if _mp(a).isnan(a) if hasattr(a, "context") else a != a:
            return b
        if _mp(b).isnan(b) if hasattr(b, "context") else b != b:
            return a
        return _mp_tie_mean(a, b, pick)
    return _objectwise(entry, 2)


fmax = Primitive("fmax", {
    FLOAT: np.fmax, COMPLEX: _complex_nan_ignoring(_complex_maximum),
    SYMPY: _objectwise(_sympy_piecewise_max, 2),
    MPMATH: _mp_nan_ignoring(lambda p, q: p > q),
}, operands=2, doc="maximum that ignores a NaN operand; ties split the derivative evenly")
fmin = Primitive("fmin", {
    FLOAT: np.fmin, COMPLEX: _complex_nan_ignoring(_complex_minimum),
    SYMPY: _objectwise(_sympy_piecewise_min, 2),
    MPMATH: _mp_nan_ignoring(lambda p, q: p < q),
}, operands=2, doc="minimum that ignores a NaN operand; ties split the derivative evenly")


# Cumulative sums: a composite would add O(n²) (n running sums) where the primitive adds O(n).

cumsum = Primitive("cumsum", _same_everywhere(np.cumsum),
                   doc="cumsum(x, axis=None): running sums along axis (flattened when None)")


# Composites: written with the primitives, so every number system gets them for free.

def reduction_size(x, axis):
    """How many entries of x a reduction over ``axis`` combines (the divisor of a mean)."""
    shape = shape_of(x)
    count = 1
    for a in reduction_axes(axis, len(shape), "mean"):
        count *= shape[a]
    return count


def shape_of(x):
    """The shape of any dnp value (arrays, AD tensors, bare scalars)."""
    try:
        return x.shape
    except AttributeError:
        return np.shape(x)


def _mean_by(total):
    def mean_(x, axis=None, keepdims=False):
        return total(x, axis=axis, keepdims=keepdims) / reduction_size(x, axis)
    return mean_


def _float_mean(x, axis=None, keepdims=False):
    """Σx / count, the count read off the sizes (no axis bookkeeping on the hot path)."""
    if type(x) is np.ndarray and x.size:
        total = np.add.reduce(x, axis=axis, keepdims=keepdims)
        return total / (x.size // (total.size if type(total) is np.ndarray else 1))
    return _mean_by(sum.impls[FLOAT])(x, axis=axis, keepdims=keepdims)


mean = Primitive("mean", dict({system: _mean_by(sum.impls[system]) for system in SYSTEMS},
                              **{FLOAT: _float_mean}),
                 doc="mean(x, axis=None, keepdims=False): arithmetic mean over axis")


def min(x, axis=None, keepdims=False):
    """min(x) = −max(−x); ties give the mean of the tied entries."""
    return -max(-x, axis=axis, keepdims=keepdims)


def _rounds(x):
    """Whether x is a (non-empty) int, float or complex array: values that round as they go."""
    return isinstance(x, np.ndarray) and x.dtype.kind in "iufc" and x.size > 0


def _shift_to_zero(x, axis):
    """x minus its largest real part along axis, for arrays that round; x otherwise.

    The shift is a constant, so log_softmax and softmax are unchanged by it, and their float
    versions keep the small log-probabilities: x − logsumexp(x) gives 0 for the first entry
    of [40, 0] (not −4.2e−18) and only 13 digits of −log 2 for [1000, 1000]. SymPy and mpmath
    do not need it, and AD tensors have no value to take as a constant.
    """
    if not _rounds(x):
        return x
    shift = np.real(max(x, axis=axis, keepdims=True))
    return x - np.where(np.isfinite(shift), shift, 0)


def log_softmax(x, axis=-1):
    """x − logsumexp(x) along axis: log-probabilities, stable for large x."""
    x = _shift_to_zero(x, axis)
    return x - logsumexp(x, axis=axis, keepdims=True)


def softmax(x, axis=-1):
    """Probabilities e^{x}/Σe^{x} along axis, stable for large x.

    Arrays that round, shifted to a maximum of 0, take e^{x}/Σe^{x} itself (a few ulps);
    exp(log_softmax(x)) would multiply the rounding error of log p by |log p|. Other
    systems use exp(log_softmax(x)), which is stable for AD tensors too.
    """
    if _rounds(x):
        e = exp(_shift_to_zero(x, axis))
        return e / sum(e, axis=axis, keepdims=True)
    return exp(log_softmax(x, axis=axis))


def _reduced_rows(x, axis, name):
    """x with the reduced axes moved last and merged into one: (kept shape + (n,), kept shape)."""
    shape = shape_of(x)
    axes = reduction_axes(axis, len(shape), name)
    kept = tuple(i for i in range(len(shape)) if i not in axes)
    kept_shape = tuple(shape[i] for i in kept)
    return reshape(transpose(x, kept + axes), kept_shape + (-1,)), kept_shape


def prod(x, axis=None, keepdims=False):
    """∏ x over axis (default all), by pairwise products (a tree log₂ n deep): n − 1
    multiplications, as a loop takes, and the derivative — the product of the other entries —
    is right by construction, at zeros too (∏x/xᵢ would divide by them). Plain arrays take
    np.prod."""
    if _rounds(x):
        return np.prod(x, axis=axis, keepdims=keepdims)
    rows, kept_shape = _reduced_rows(x, axis, "prod")
    n = shape_of(rows)[-1]
    if n == 0:
        rows, n = ones_like(getitem(sum(rows, axis=-1, keepdims=True), ...)), 1
    while n > 1:
        half = n // 2
        paired = getitem(rows, (Ellipsis, slice(0, half))) * \
            getitem(rows, (Ellipsis, slice(half, 2 * half)))
        rows = concatenate([paired, getitem(rows, (Ellipsis, slice(2 * half, n)))], axis=-1) \
            if n % 2 else paired
        n = half + n % 2
    if keepdims:
        shape = shape_of(x)
        axes = reduction_axes(axis, len(shape), "prod")
        return reshape(rows, tuple(1 if i in axes else m for i, m in enumerate(shape)))
    return reshape(rows, kept_shape)


def cumprod(x, axis=None):
    """Running products along axis (flattened when None), by Hillis and Steele's scan: for
    s = 1, 2, 4, … < n, y ← y · (y shifted s places, ones shifted in). O(n log n)
    multiplications in log₂ n array steps, and derivatives of every order right by
    construction, at zeros too. Plain arrays take np.cumprod."""
    if _rounds(x):
        return np.cumprod(x, axis=axis)
    if axis is None:
        y, axis = reshape(x, (-1,)), -1
    else:
        y = x
    ndim = len(shape_of(y))
    axis = reduction_axes(axis, ndim, "cumprod")[0]
    order = tuple(i for i in range(ndim) if i != axis) + (axis,)
    y = transpose(y, order)
    n, shift = shape_of(y)[-1], 1
    while shift < n:
        ones = ones_like(getitem(y, (Ellipsis, slice(0, shift))))
        y = y * concatenate([ones, getitem(y, (Ellipsis, slice(0, n - shift)))], axis=-1)
        shift *= 2
    return transpose(y, tuple(int(i) for i in np.argsort(order)))


def round(x, decimals=0):
    """x rounded to ``decimals`` places, halves to even, as np.round: rint(x·10ᵈ)/10ᵈ.
    Its derivative is 0 everywhere (including at the jumps)."""
    if decimals == 0:
        return rint(x)
    scale = 10.0 ** decimals
    return rint(x * scale) / scale


around = round
remainder = mod


# The activation functions of the relu family written with erf, erfc and expm1. At a kink
# they take the left branch, as relu does: elu′(0) = α, selu′(0) = λα.

def _positive(x):
    """x > 0, judged on the real part of complex arrays (the branch the complex step
    continues); for traced values, a condition dnp.where accepts."""
    if isinstance(x, complex) or (isinstance(x, np.ndarray) and x.dtype.kind == "c"):
        return np.real(x) > 0
    if isinstance(x, np.ndarray) and x.dtype.kind == "O":   # NumPy would call bool() on each
        return _objectwise(lambda v: v > 0)(x)
    return x > 0


_SQRT_HALF = math.sqrt(0.5)


def gelu(x):
    """x·Φ(x) = x·erfc(−x/√2)/2, the exact GELU (Hendrycks & Gimpel 2016, not the tanh
    approximation); erfc keeps its relative accuracy for large negative x, where
    x·(1 + erf(x/√2))/2 cancels to 0."""
    return x * erfc(-x * _SQRT_HALF) / 2


def elu(x, alpha=1.0):
    """x for x > 0, α·(eˣ − 1) otherwise (Clevert et al. 2016); elu′(0) = α (left branch)."""
    positive = _positive(x)
    # x·0, not 0.0: an object array of plain zeros would leave the mpmath system
    return where(positive, x, alpha * expm1(where(positive, x * 0, x)))


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def selu(x):
    """λ·elu(x, α) with the self-normalizing constants of Klambauer et al. (2017)."""
    return _SELU_SCALE * elu(x, _SELU_ALPHA)


# Custom primitives: users declare their own (README, "Custom primitives").

_custom_names = set()


def _at_working_precision(fn):
    """fn computed with mpmath.mp at the precision of its mpmath arguments, its result put in
    their context: a user's mpmath.log(x) then works at the reference's raised precision."""
    def precise(*args, **kwargs):
        numbers = [a for a in args if hasattr(a, "context")] or \
            [v for a in args if isinstance(a, np.ndarray) and a.dtype == object
             for v in a.flat if hasattr(v, "context")]
        ctx = numbers[0].context if numbers else mpmath.mp
        with mpmath.workprec(ctx.prec):
            result = fn(*args, **kwargs)
        if isinstance(result, np.ndarray) and result.dtype == object:
            return _objectwise(lambda v: ctx.convert(v) if hasattr(v, "context") else v)(result)
        return ctx.convert(result) if hasattr(result, "context") else result
    return precise


def primitive(function=None, /, *, name=None, operands=1, elementwise=False, **systems):
    """Declare ``function`` (its float implementation, on NumPy arrays) a dnp primitive.

    Like autograd's ``primitive`` and ``jax.custom_vjp``: dnp and every differentiator treat
    the result as one operation, and the AD engine uses the rules given to it with
    ``difflab.ad.defvjp``/``defjvp`` (or ``defpartials`` for an element-wise one) instead of
    looking inside. The other number systems take keyword implementations, each optional:

    - ``complex=``: on complex arrays (complex-step derivatives), analytic where f is;
    - ``sympy=``: on SymPy expressions (the symbolic differentiator);
    - ``mpmath=``: on mpmath numbers (``difflab.reference``), run with ``mpmath.mp`` at the
      arguments' working precision.

    With ``elementwise=True`` the SymPy and mpmath implementations take one entry (a scalar)
    and are applied entry by entry; otherwise they take object arrays. A system with no
    implementation raises a named error when the function meets its numbers. ``operands`` is
    how many leading arguments are differentiable arrays; the rest are parameters.
    """
    if function is None:
        return lambda fn: primitive(fn, name=name, operands=operands, elementwise=elementwise,
                                    **systems)
    unknown = sorted(set(systems) - {COMPLEX, SYMPY, MPMATH})
    if unknown:
        raise UnsupportedOperationError(
            f"dnp.primitive: no number system {', '.join(f'{u}=' for u in unknown)}; the "
            "implementations besides the float one are complex=, sympy= and mpmath=")
    if not callable(function):
        raise UnsupportedOperationError(
            f"dnp.primitive: the float implementation must be a function, got "
            f"{type(function).__name__}")
    impls = {FLOAT: function}
    if COMPLEX in systems:
        impls[COMPLEX] = systems[COMPLEX]
    for system in (SYMPY, MPMATH):
        impl = systems.get(system)
        if impl is None:
            continue
        if elementwise:
            impl = _objectwise(impl, operands)
        impls[system] = _at_working_precision(impl) if system == MPMATH else impl
    declared = _unique_name(name or function.__name__)
    made = Primitive(declared, impls, operands=operands, builtin=False,
                     doc=function.__doc__ or f"custom primitive {declared}")
    made.elementwise = elementwise
    made.__wrapped__ = function
    made.__module__ = getattr(function, "__module__", None)
    made.__qualname__ = getattr(function, "__qualname__", declared)
    return made


def _unique_name(name):
    """The rule tables are keyed by name: a second declaration of a name (a re-run cell, a
    built-in's name) gets a new one, so it never inherits another primitive's rules."""
    unique, count = name, 1
    while unique in _primitives or unique in _custom_names:
        count += 1
        unique = f"{name}#{count}"
    _custom_names.add(unique)
    return unique


# Everything else in dnp is written in the primitives above (imported last: the composites
# call them).
from .composites import *  # noqa: E402,F401,F403
from . import linalg  # noqa: E402,F401  (numpy.linalg's functions, primitives and composites)
