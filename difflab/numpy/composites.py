"""Composites: the NumPy functions written in dnp's primitives (DESIGN.md §1).

Each works in every number system and under every differentiator with no rule of its own:
its derivative is the chain rule through the primitives, right by construction. A function
is a primitive instead (``difflab.numpy``) only for precision, for being non-differentiable,
or because a composite would be asymptotically slower.

How each is composed (``x``, ``a``, ``b`` arrays; "index" means a constant NumPy index):

=============================================  ==================================================
function                                       composed as
=============================================  ==================================================
tan                                            sin(x) / cos(x)
sinh, cosh                                     (expm1(x) − expm1(−x))/2, 1 + 2·sinh²(x/2)
arcsinh                                        odd: log1p(|x| + x²/(1 + √(1+x²))) for |x| < 1,
                                               log|x| + log(1 + √(1 + x⁻²)) beyond (no overflow)
arccosh                                        log1p(t + √(t(x+1))), t = x − 1, for x < 2;
                                               log x + log(1 + √(1 − x⁻²)) beyond
arctanh                                        (log1p(x) − log1p(−x)) / 2
exp2, log2, log10                              power(2, x), log(x)/ln 2, log(x)/ln 10
hypot, reciprocal                              m·√(1 + (s/m)²) (m, s: larger, smaller |·|), 1/x
absolute, fabs, true_divide                    the primitives abs and divide under NumPy's names
deg2rad, radians, rad2deg, degrees             x·π/180, x·180/π
silu, softsign                                 x·sigmoid(x), x/(1 + |x|)
var, std                                       Σ(x − mean x)² / (N − ddof) (two passes), √var
average                                        Σ w·x / Σ w (weights broadcast along axis)
amax, amin                                     max, min
norm (also dnp.linalg.norm)                    vector: √Σx², Σ|x|, max|x|, (Σ|x|ᵖ)^(1/p);
                                               matrix: 'fro', max/min of row or column Σ|x|
swapaxes, moveaxis, rollaxis                   transpose by a permutation
atleast_1d, atleast_2d, atleast_3d             reshape
tile                                           reshape → broadcast_to → reshape
repeat, take, take_along_axis, partition       getitem with an integer index (partition's
                                               from argpartition)
pad (constant)                                 untake into the padded shape + constant border
flip, roll, split, array_split, hsplit,        getitem with slices (roll: concatenate of two)
vsplit, dsplit
vstack, hstack, dstack, column_stack,          concatenate of atleast_nd
row_stack
diagonal, trace, diag                          getitem with (i, i + k); Σ diagonal; untake
tril, triu                                     where(constant triangular mask, x, 0)
outer, kron                                    reshape and multiply (the product is the output)
inner, tensordot, dot (any rank)               one matmul of transposed, reshaped operands
einsum                                         per operand: diagonals of repeated labels, sums
                                               of labels used nowhere else; then one batched
                                               matmul per pair (never a broadcast product)
cross                                          components by getitem, stack
=============================================  ==================================================

``dnp.dot`` is the composite here: a product with a scalar, the ``dot`` primitive (and its
rules) for 1-D and 2-D operands, tensordot beyond.

Float constants (ln 2, π/180, …) enter the mpmath and SymPy systems as float64 numbers,
correctly rounded, so results there carry their relative error of about 1e-17.
"""

import builtins
import functools
import math
import typing

import numpy as np

from ..errors import ShapeError, UnsupportedOperationError
from . import (abs, argpartition, broadcast_to, clip, concatenate, cos, divide, exp, expm1, getitem, log, log1p,
               matmul, max, maximum, mean, min, minimum, power, reduction_axes, reduction_size,
               reshape, shape_of, sigmoid, sin, sqrt, square, stack, sum, transpose, untake,
               where)
from . import dot as _dot_primitive

__all__ = [
    # element-wise
    "tan", "sinh", "cosh", "arcsinh", "arccosh", "arctanh", "exp2", "log2", "log10", "hypot",
    "reciprocal", "absolute", "fabs", "true_divide", "deg2rad", "radians", "rad2deg",
    "degrees", "silu", "softsign",
    # reductions
    "var", "std", "average", "amax", "amin", "norm",
    # shapes and indexing
    "swapaxes", "moveaxis", "rollaxis", "atleast_1d", "atleast_2d", "atleast_3d", "tile",
    "repeat", "pad", "flip", "roll", "split", "array_split", "hsplit", "vsplit", "dsplit",
    "vstack", "hstack", "dstack", "column_stack", "row_stack", "diag", "diagonal", "trace",
    "tril", "triu", "outer", "inner", "kron", "cross", "take", "take_along_axis",
    "partition",
    # contractions
    "einsum", "tensordot", "dot",
]

LN2, LN10 = math.log(2), math.log(10)


def _ndim(x):
    return len(shape_of(x))


_object_less = np.frompyfunc(lambda v, bound: v < bound, 2, 1)


def _less(x, bound):
    """x < bound element-wise: booleans for numbers, SymPy relations for SymPy expressions
    (whose ``<`` NumPy's own comparison would force to a bool), conditions for AD tensors."""
    if isinstance(x, np.ndarray) and x.dtype == object:
        return _object_less(x, bound)
    try:
        return x < bound
    except TypeError:
        return np.less(x, bound)


def _rounds(x):
    return isinstance(x, np.ndarray) and x.dtype.kind == "f"


def _numpy_only(name, **arguments):
    """Refuse NumPy's output and dtype arguments: dnp returns new arrays in x's own system."""
    for argument, value in arguments.items():
        if value is not None:
            raise UnsupportedOperationError(
                f"dnp.{name}: {argument}= is not supported (dnp returns a new array in its "
                f"argument's number system); drop {argument}= and convert the result instead")


def _axis(axis, ndim, name):
    """One axis as a non-negative integer, or a ShapeError naming the function."""
    return reduction_axes(axis, ndim, name)[0] if ndim else _no_axes(axis, name)


def _no_axes(axis, name):
    raise ShapeError(f"dnp.{name}: axis {axis} is out of range for a 0-d array")


# Element-wise functions.

def tan(x):
    """tan x = sin x / cos x."""
    return sin(x) / cos(x)


def sinh(x):
    """sinh x = (expm1(x) − expm1(−x))/2: the two terms have opposite signs, so no cancellation
    near 0 (where (eˣ − e⁻ˣ)/2 loses every digit)."""
    return (expm1(x) - expm1(-x)) / 2


def cosh(x):
    """cosh x = 1 + 2·sinh²(x/2): its derivative, 2·sinh(x/2)·cosh(x/2) = sinh x, keeps its
    digits near 0, where that of (eˣ + e⁻ˣ)/2 cancels (relative error ε/|x|); it overflows
    where NumPy's cosh does (|x| > 710.47)."""
    half = sinh(x / 2)
    return 1 + 2 * half * half


def _odd(f, x):
    """f(|x|)·sign x for an odd f, with the branch taken by where (derivative f′ at 0)."""
    negative = _less(x, 0)
    y = f(where(negative, -x, x))
    return where(negative, -y, y)


def _asinh_positive(a):
    """asinh a for a ≥ 0: log1p(a + a²/(1 + √(1+a²))) below 1, log a + log(1 + √(1+a⁻²)) from 1
    on, so neither loses the small values nor overflows a². Each branch sees its argument
    clipped to its own side, so the unused one stays finite and adds 0 (not NaN) to the
    derivative."""
    small, big = clip(a, None, 1.0), clip(a, 1.0, None)
    return where(_less(a, 1), log1p(small + square(small) / (1 + sqrt(1 + square(small)))),
                 log(big) + log(1 + sqrt(1 + square(1 / big))))


def arcsinh(x):
    """asinh x = log(x + √(x² + 1)), odd, evaluated without cancellation or overflow."""
    return _odd(_asinh_positive, x)


def arccosh(x):
    """acosh x = log(x + √(x² − 1)) for x ≥ 1: log1p(t + √(t(x + 1))) with t = x − 1 below 2
    (exact near 1), log x + log(1 + √(1 − x⁻²)) from 2 on (no overflow of x²); each branch
    on its clipped side, as in arcsinh."""
    small, big = clip(x, None, 2.0), clip(x, 2.0, None)
    t = small - 1
    return where(_less(x, 2), log1p(t + sqrt(t * (small + 1))),
                 log(big) + log(1 + sqrt(1 - square(1 / big))))


def arctanh(x):
    """atanh x = (log1p(x) − log1p(−x))/2: terms of opposite sign, accurate near 0."""
    return (log1p(x) - log1p(-x)) / 2


def exp2(x):
    """2ˣ."""
    return power(2.0, x)


def log2(x):
    """log₂ x = ln x / ln 2."""
    return log(x) / LN2


def log10(x):
    """log₁₀ x = ln x / ln 10."""
    return log(x) / LN10


def hypot(x1, x2):
    """√(x₁² + x₂²) as m·√(1 + (s/m)²), m and s the larger and smaller of |x₁|, |x₂|: neither
    overflows beyond 1e154 nor underflows below 1e-154. At a tie the even split of maximum
    and minimum gives x/hypot exactly; at (0, 0), a cone's tip, the derivative is 0."""
    a, b = abs(x1), abs(x2)
    large, small = maximum(a, b), minimum(a, b)
    zero = large == 0
    scale = where(zero, 1.0, large)
    return where(zero, 0.0, scale * sqrt(1 + square(small / scale)))


def reciprocal(x):
    """1/x."""
    return divide(1.0, x)


absolute = fabs = abs
true_divide = divide


def deg2rad(x):
    """x·π/180."""
    return x * (np.pi / 180)


def rad2deg(x):
    """x·180/π."""
    return x * (180 / np.pi)


radians, degrees = deg2rad, rad2deg


def silu(x):
    """x·σ(x) (the swish of Ramachandran et al. 2017)."""
    return x * sigmoid(x)


def softsign(x):
    """x/(1 + |x|); its derivative 1/(1 + |x|)² is continuous, also at 0."""
    return x / (1 + abs(x))


# Reductions.

def var(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
    """Σ(x − mean x)²/(N − ddof) over axis, in two passes as NumPy does (no cancellation of
    Σx² − N·mean²)."""
    _numpy_only("var", dtype=dtype, out=out)
    count = reduction_size(a, axis)
    if count - ddof <= 0:
        raise ShapeError(f"dnp.var: {count} entries of shape {shape_of(a)} along axis {axis} "
                         f"leave no degrees of freedom with ddof={ddof}; use ddof < {count}")
    deviation = a - mean(a, axis=axis, keepdims=True)
    return sum(square(deviation), axis=axis, keepdims=keepdims) / (count - ddof)


def std(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
    """√var (not differentiable where the entries are all equal: var = 0)."""
    return sqrt(var(a, axis=axis, dtype=dtype, out=out, ddof=ddof, keepdims=keepdims))


def average(a, axis=None, weights=None, returned=False, *, keepdims=False):
    """Σ w·a / Σ w over axis; 1-D weights lie along a single axis, as in NumPy."""
    if weights is None:
        result = mean(a, axis=axis, keepdims=keepdims)
        total = float(reduction_size(a, axis))
    else:
        weights = _weights_along(a, axis, weights)
        total = sum(broadcast_to(weights, shape_of(a)), axis=axis, keepdims=keepdims)
        if isinstance(total, (float, np.floating)) or _rounds(total):
            if np.any(total == 0):
                raise ShapeError(f"dnp.average: the weights (shape {shape_of(weights)}) sum "
                                 "to zero along the axis, so the average has no value")
        result = sum(a * weights, axis=axis, keepdims=keepdims) / total
    if not returned:
        return result
    return result, broadcast_to(total, shape_of(result))


def _weights_along(a, axis, weights):
    shape, wshape = shape_of(a), shape_of(weights)
    if wshape == shape:
        return weights
    if axis is None:
        raise ShapeError(f"dnp.average: weights of shape {wshape} differ from a's shape "
                         f"{shape}; give the axis they lie along")
    given = _axes_list(axis, len(shape), "average")
    if wshape != tuple(shape[i] for i in given):
        raise ShapeError(f"dnp.average: weights of shape {wshape} do not match a's shape "
                         f"{shape} along axis {axis}")
    if len(given) > 1:
        weights = transpose(weights, tuple(int(i) for i in np.argsort(given)))
    return reshape(weights, tuple(n if i in given else 1 for i, n in enumerate(shape)))


def amax(a, axis=None, out=None, keepdims=False):
    """max under NumPy's other name."""
    _numpy_only("amax", out=out)
    return max(a, axis=axis, keepdims=keepdims)


def amin(a, axis=None, out=None, keepdims=False):
    """min under NumPy's other name."""
    _numpy_only("amin", out=out)
    return min(a, axis=axis, keepdims=keepdims)


def norm(x, ord=None, axis=None, keepdims=False):
    """numpy.linalg.norm: vector norms over one axis, matrix norms over two.

    Vector ord: None/2 (√Σx²), 1, inf, −inf, 0 (count of non-zeros) or any p (Σ|x|ᵖ)^(1/p).
    Matrix ord: None/'fro', 1 and −1 (max/min column sum of |x|), inf and −inf (row sums).
    Matrix ord 2 and −2 (largest/smallest singular value) and 'nuc' (their sum), from
    dnp.linalg.svd.
    """
    ndim = _ndim(x)
    if axis is None:
        if ord is None:
            flat = sqrt(sum(square(x)))
            return reshape(flat, (1,) * ndim) if keepdims else flat
        if ndim not in (1, 2):
            raise ShapeError(f"dnp.norm: ord={ord!r} without an axis needs a 1-D or 2-D "
                             f"array, got shape {shape_of(x)}; give axis")
        axis = tuple(range(ndim))
    axes = axis if isinstance(axis, tuple) else (axis,)
    axes = tuple(_axis(a, ndim, "norm") for a in axes)
    if len(axes) == 1:
        return _vector_norm(x, ord, axes[0], keepdims)
    if len(axes) == 2 and axes[0] != axes[1]:
        return _matrix_norm(x, ord, axes, keepdims)
    raise ShapeError(f"dnp.norm: axis {axis} must name one axis (vector norm) or two "
                     "different axes (matrix norm)")


def _vector_norm(x, ord, axis, keepdims):
    if ord is None or ord == 2:
        return sqrt(sum(square(x), axis=axis, keepdims=keepdims))
    if ord == np.inf:
        return max(abs(x), axis=axis, keepdims=keepdims)
    if ord == -np.inf:
        return min(abs(x), axis=axis, keepdims=keepdims)
    if ord == 0:
        return sum(where(x != 0, 1.0, 0.0), axis=axis, keepdims=keepdims)
    if ord == 1:
        return sum(abs(x), axis=axis, keepdims=keepdims)
    if isinstance(ord, str):
        raise UnsupportedOperationError(f"dnp.norm: ord={ord!r} is a matrix norm; a vector "
                                        "takes a number (1, 2, inf, −inf, 0 or any p)")
    return sum(abs(x) ** ord, axis=axis, keepdims=keepdims) ** (1.0 / ord)


def _singular_value_norm(x, ord, axes, keepdims):
    """ord 2: the largest singular value, −2: the smallest, 'nuc': their sum. A tie at the
    largest (smallest) splits the derivative evenly, as max does: ½(u₁v₁ᵀ + u₂v₂ᵀ), the
    same for any basis of the tied singular vectors."""
    from .linalg import svd          # linalg imports this module
    s = svd(moveaxis(x, axes, (-2, -1)), compute_uv=False)
    if ord == "nuc":
        result = sum(s, axis=-1)
    else:
        result = (max if ord == 2 else min)(s, axis=-1)
    if keepdims:
        kept = tuple(1 if i in axes else n for i, n in enumerate(shape_of(x)))
        return reshape(result, kept)
    return result


def _matrix_norm(x, ord, axes, keepdims):
    rows, columns = axes
    if ord is None or ord == "fro":
        result = sqrt(sum(square(x), axis=axes, keepdims=True))
    elif ord in (1, -1, np.inf, -np.inf):
        summed, extreme = (rows, columns) if ord in (1, -1) else (columns, rows)
        sums = sum(abs(x), axis=summed, keepdims=True)
        result = (max if ord > 0 else min)(sums, axis=extreme, keepdims=True)
    elif ord in (2, -2, "nuc"):
        return _singular_value_norm(x, ord, axes, keepdims)
    else:
        raise UnsupportedOperationError(f"dnp.norm: ord={ord!r} is not a matrix norm; use "
                                        "None/'fro', 1, −1, inf or −inf")
    if keepdims:
        return result
    shape = shape_of(result)
    return reshape(result, tuple(n for i, n in enumerate(shape) if i not in axes))



# Shapes: permutations and reshapes.

def swapaxes(a, axis1, axis2):
    """Exchange two axes (a transpose)."""
    order = list(range(_ndim(a)))
    i, j = _axis(axis1, len(order), "swapaxes"), _axis(axis2, len(order), "swapaxes")
    order[i], order[j] = order[j], order[i]
    return transpose(a, tuple(order))


def moveaxis(a, source, destination):
    """Move axes to new positions, the others keeping their order (a transpose)."""
    ndim = _ndim(a)
    source = _axes_list(source, ndim, "moveaxis")
    destination = _axes_list(destination, ndim, "moveaxis")
    if len(source) != len(destination):
        raise ShapeError(f"dnp.moveaxis: {len(source)} source axes but {len(destination)} "
                         "destinations; give one destination per source axis")
    order = [n for n in range(ndim) if n not in source]
    for dest, src in sorted(zip(destination, source)):
        order.insert(dest, src)
    return transpose(a, tuple(order))


def _axes_list(axes, ndim, name):
    axes = list(axes) if isinstance(axes, (tuple, list)) else [axes]
    normalized = [_axis(a, ndim, name) for a in axes]
    if len(set(normalized)) != len(normalized):
        raise ShapeError(f"dnp.{name}: repeated axis in {axes}")
    return normalized


def rollaxis(a, axis, start=0):
    """Move ``axis`` to lie before position ``start`` (NumPy's older moveaxis)."""
    ndim = _ndim(a)
    axis = _axis(axis, ndim, "rollaxis")
    if not -ndim <= start <= ndim:
        raise ShapeError(f"dnp.rollaxis: start {start} is out of range for {ndim} dimensions")
    start = start + ndim if start < 0 else start
    if axis < start:
        start -= 1
    order = [n for n in range(ndim) if n != axis]
    order.insert(start, axis)
    return transpose(a, tuple(order))


def _atleast(arrays, grow):
    out = []
    for a in arrays:
        shape = tuple(shape_of(a))
        target = grow(shape)
        out.append(a if target == shape and hasattr(a, "shape") else reshape(a, target))
    return out[0] if len(out) == 1 else tuple(out)


def atleast_1d(*arys):
    """Scalars become (1,)."""
    return _atleast(arys, lambda s: s or (1,))


def atleast_2d(*arys):
    """() → (1, 1), (n,) → (1, n)."""
    return _atleast(arys, lambda s: s if len(s) >= 2 else (1,) * (2 - len(s)) + s)


def atleast_3d(*arys):
    """() → (1, 1, 1), (n,) → (1, n, 1), (m, n) → (m, n, 1)."""
    def grow(s):
        return {0: (1, 1, 1), 1: (1,) + s + (1,), 2: s + (1,)}.get(len(s), s)
    return _atleast(arys, grow)


def tile(A, reps):
    """A repeated reps times along each axis: interleave unit axes, broadcast, merge."""
    reps = tuple(reps) if isinstance(reps, (tuple, list)) else (reps,)
    shape = tuple(shape_of(A))
    ndim = builtins.max(len(reps), len(shape))
    shape = (1,) * (ndim - len(shape)) + shape
    reps = (1,) * (ndim - len(reps)) + reps
    interleaved = reshape(A, tuple(n for s in shape for n in (1, s)))
    grown = broadcast_to(interleaved, tuple(n for r, s in zip(reps, shape) for n in (r, s)))
    return reshape(grown, tuple(r * s for r, s in zip(reps, shape)))


def _along(axis, index):
    """The index that applies ``index`` to axis ``axis`` of an array."""
    return (slice(None),) * axis + (index,)


def _flat_axis(a, axis, name):
    """(a, axis) with a flattened when axis is None, as NumPy's take/repeat/roll do."""
    if axis is None:
        return reshape(a, (-1,)), 0
    return a, _axis(axis, _ndim(a), name)


def repeat(a, repeats, axis=None):
    """Each entry repeated ``repeats`` times along axis (a gather)."""
    a, axis = _flat_axis(a, axis, "repeat")
    n = shape_of(a)[axis]
    try:
        index = np.repeat(np.arange(n), repeats)
    except ValueError as error:
        raise ShapeError(f"dnp.repeat: repeats {repeats!r} do not fit an axis of length {n} "
                         f"({error})") from None
    return getitem(a, _along(axis, index))


def take(a, indices, axis=None, out=None, mode="raise"):
    """Entries at ``indices`` along axis (flattened when axis is None)."""
    _numpy_only("take", out=out)
    a, axis = _flat_axis(a, axis, "take")
    n = shape_of(a)[axis]
    index = np.asarray(indices)
    if index.dtype.kind not in "iu":
        raise ShapeError(f"dnp.take: indices must be integers, got dtype {index.dtype}")
    if mode == "wrap":
        index = index % n
    elif mode == "clip":
        index = np.clip(index, 0, n - 1)
    elif np.any((index < -n) | (index >= n)):
        raise ShapeError(f"dnp.take: an index in {index.tolist()} is out of bounds for an "
                         f"axis of length {n}; use mode='wrap' or 'clip' to bring it in")
    return getitem(a, _along(axis, index))


def take_along_axis(arr, indices, axis):
    """arr[..., indices, ...] matched entry by entry along axis (NumPy's fancy-index form)."""
    if axis is None:
        arr, axis = reshape(arr, (-1,)), 0
    shape = shape_of(arr)
    ndim = len(shape)
    axis = _axis(axis, ndim, "take_along_axis")
    indices = np.asarray(indices)
    if indices.ndim != ndim or indices.dtype.kind not in "iu":
        raise ShapeError(f"dnp.take_along_axis: indices of shape {indices.shape} (dtype "
                         f"{indices.dtype}) must be integers with arr's {ndim} dimensions")
    index = tuple(indices if i == axis else
                  np.arange(n).reshape((1,) * i + (n,) + (1,) * (ndim - i - 1))
                  for i, n in enumerate(shape))
    return getitem(arr, index)


def partition(a, kth, axis=-1, kind="introselect", order=None):
    """np.partition: a's entries reordered by dnp.argpartition (the kth entries in their
    sorted places, as NumPy's; the other entries in sorted order, one of the orders NumPy
    allows), so the derivative follows each entry back to its place."""
    if order is not None:
        raise UnsupportedOperationError("dnp.partition: order= is for structured arrays, "
                                        "which dnp does not have")
    if axis is None:
        a, axis = reshape(a, (-1,)), 0
    return take_along_axis(a, argpartition(a, kth, axis=axis, kind=kind), axis)


def pad(array, pad_width, mode="constant", constant_values=0):
    """The array inside a border of constants (mode 'constant' only)."""
    if mode != "constant":
        raise UnsupportedOperationError(f"dnp.pad: mode {mode!r} is not supported; only "
                                        "'constant' is")
    shape = tuple(shape_of(array))
    try:
        widths = np.asarray(pad_width, dtype=int)
        widths = np.broadcast_to(widths.reshape(-1, 2) if widths.size == 0 else widths,
                                 (len(shape), 2))
    except ValueError:
        raise ShapeError(f"dnp.pad: pad_width {pad_width!r} does not fit an array of shape "
                         f"{shape}; give one (before, after) pair per axis") from None
    if np.any(widths < 0):
        raise ShapeError(f"dnp.pad: pad_width {pad_width!r} has negative widths")
    padded = tuple(int(n + before + after) for n, (before, after) in zip(shape, widths))
    inside = tuple(slice(int(before), int(before + n)) for n, (before, _) in zip(shape, widths))
    out = untake(array, inside, padded)
    if not shape:  # nothing to pad (NumPy's own pad refuses a 0-d array)
        return out
    border = np.pad(np.zeros(shape), widths, constant_values=constant_values)
    return out + border if border.any() else out


def flip(m, axis=None):
    """Reverse the order of entries along axis (all axes by default)."""
    ndim = _ndim(m)
    axes = range(ndim) if axis is None else _axes_list(axis, ndim, "flip")
    return getitem(m, tuple(slice(None, None, -1) if i in axes else slice(None)
                            for i in range(ndim)))


def roll(a, shift, axis=None):
    """Entries shifted cyclically along axis: the last ``shift`` move to the front."""
    if axis is None:
        return reshape(roll(reshape(a, (-1,)), shift, 0), shape_of(a))
    shifts, axes = np.broadcast_arrays(np.asarray(shift), np.asarray(axis))
    for s, ax in zip(shifts.reshape(-1), axes.reshape(-1)):
        ax = _axis(int(ax), _ndim(a), "roll")
        n = shape_of(a)[ax]
        s = int(s) % n if n else 0
        if s:
            a = concatenate([getitem(a, _along(ax, slice(n - s, None))),
                             getitem(a, _along(ax, slice(0, n - s)))], axis=ax)
    return a


# Splitting and stacking.

def _split_at(ary, bounds, axis):
    return [getitem(ary, _along(axis, slice(start, stop)))
            for start, stop in zip(bounds[:-1], bounds[1:])]


def array_split(ary, indices_or_sections, axis=0):
    """Pieces along axis: at the given indices, or into sections whose sizes differ by ≤ 1."""
    axis = _axis(axis, _ndim(ary), "array_split")
    n = shape_of(ary)[axis]
    if isinstance(indices_or_sections, (int, np.integer)):
        sections = int(indices_or_sections)
        if sections <= 0:
            raise ShapeError(f"dnp.array_split: {sections} sections; ask for at least one")
        size, extra = divmod(n, sections)
        sizes = [size + 1] * extra + [size] * (sections - extra)
        bounds = [0] + np.cumsum(sizes).tolist()
    else:  # NumPy's slices ary[i:j] between the given indices, Python's slice rules and all
        bounds = [0] + [int(i) for i in indices_or_sections] + [n]
    return _split_at(ary, bounds, axis)


def split(ary, indices_or_sections, axis=0):
    """array_split, but a number of sections must divide the axis evenly."""
    if isinstance(indices_or_sections, (int, np.integer)):
        n = shape_of(ary)[_axis(axis, _ndim(ary), "split")]
        if indices_or_sections <= 0 or n % indices_or_sections:
            raise ShapeError(f"dnp.split: an axis of length {n} does not split into "
                             f"{indices_or_sections} equal sections; use dnp.array_split")
    return array_split(ary, indices_or_sections, axis)


def _split_along(name, min_ndim, axis_of):
    def split_(ary, indices_or_sections):
        ndim = _ndim(ary)
        if ndim < min_ndim:
            raise ShapeError(f"dnp.{name} needs an array of at least {min_ndim} dimensions, "
                             f"got shape {shape_of(ary)}")
        return split(ary, indices_or_sections, axis_of(ndim))
    split_.__name__ = name
    split_.__doc__ = f"split along axis {axis_of(builtins.max(min_ndim, 2))} (see NumPy)"
    return split_


hsplit = _split_along("hsplit", 1, lambda ndim: 1 if ndim > 1 else 0)
vsplit = _split_along("vsplit", 2, lambda ndim: 0)
dsplit = _split_along("dsplit", 3, lambda ndim: 2)


def _each(grow, arrays):
    return [grow(a) for a in arrays]


def vstack(tup):
    """Concatenate along the first axis, 1-D arrays as rows."""
    return concatenate(_each(atleast_2d, tup), axis=0)


row_stack = vstack


def hstack(tup):
    """Concatenate along the second axis (the first for 1-D arrays)."""
    arrays = _each(atleast_1d, tup)
    return concatenate(arrays, axis=0 if arrays and _ndim(arrays[0]) == 1 else 1)


def dstack(tup):
    """Concatenate along the third axis, after atleast_3d."""
    return concatenate(_each(atleast_3d, tup), axis=2)


def column_stack(tup):
    """1-D arrays as columns, 2-D arrays as they are, side by side."""
    def column(a):
        shape = tuple(shape_of(a))
        return reshape(a, (-1, 1) if len(shape) == 1 else (1, 1)) if len(shape) < 2 else a
    return concatenate(_each(column, tup), axis=1)


# Diagonals and triangles.

def _diagonal_index(n1, n2, offset):
    """Row and column indices of the offset diagonal of an (n1, n2) matrix."""
    if offset >= 0:
        rows = np.arange(builtins.max(0, builtins.min(n1, n2 - offset)))
        return rows, rows + offset
    columns = np.arange(builtins.max(0, builtins.min(n1 + offset, n2)))
    return columns - offset, columns


def diagonal(a, offset=0, axis1=0, axis2=1):
    """Entries a[i, i + offset] of the (axis1, axis2) planes, as a new last axis."""
    ndim = _ndim(a)
    if ndim < 2:
        raise ShapeError(f"dnp.diagonal needs at least 2 dimensions, got shape {shape_of(a)}")
    i, j = _axis(axis1, ndim, "diagonal"), _axis(axis2, ndim, "diagonal")
    if i == j:
        raise ShapeError(f"dnp.diagonal: axis1 and axis2 are both axis {i}; give two axes")
    moved = moveaxis(a, (i, j), (-2, -1))
    n1, n2 = shape_of(moved)[-2:]
    rows, columns = _diagonal_index(n1, n2, offset)
    return getitem(moved, (Ellipsis, rows, columns))


def trace(a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    """Σ of the offset diagonal."""
    _numpy_only("trace", dtype=dtype, out=out)
    return sum(diagonal(a, offset, axis1, axis2), axis=-1)


def diag(v, k=0):
    """A 1-D v placed on the k-th diagonal of a square matrix; of a 2-D v, its k-th diagonal."""
    ndim = _ndim(v)
    if ndim == 2:
        return diagonal(v, k)
    if ndim != 1:
        raise ShapeError(f"dnp.diag needs a 1-D or 2-D array, got shape {shape_of(v)}")
    n = shape_of(v)[0] + builtins.abs(k)
    return untake(v, _diagonal_index(n, n, k), (n, n))


def _lower(name, m, k):
    """The mask of entries on and below the k-th diagonal of m's last two axes (a 1-D m
    stands for the square matrix of its rows, as in NumPy)."""
    shape = tuple(shape_of(m))
    if not shape:
        raise ShapeError(f"dnp.{name} needs at least 1 dimension, got a scalar")
    return np.tri(*(shape[-2:] if len(shape) >= 2 else shape * 2), k=k, dtype=bool)


def tril(m, k=0):
    """Zeros above the k-th diagonal (of the last two axes)."""
    return where(_lower("tril", m, k), m, 0)


def triu(m, k=0):
    """Zeros below the k-th diagonal (of the last two axes)."""
    return where(~_lower("triu", m, k - 1), m, 0)


# Products and contractions.

def outer(a, b):
    """a.ravel()[:, None] · b.ravel()[None, :]."""
    return reshape(a, (-1, 1)) * reshape(b, (1, -1))


def inner(a, b):
    """Σ over the last axes of a and b (a product when either is a scalar)."""
    if _ndim(a) == 0 or _ndim(b) == 0:
        return a * b
    return tensordot(a, b, axes=([-1], [-1]))


def kron(a, b):
    """Kronecker product: block (i, j) is a[i, j]·b (axes interleaved, multiplied, merged)."""
    sa, sb = tuple(shape_of(a)), tuple(shape_of(b))
    ndim = builtins.max(len(sa), len(sb))
    sa, sb = (1,) * (ndim - len(sa)) + sa, (1,) * (ndim - len(sb)) + sb
    blocks = (reshape(a, tuple(n for s in sa for n in (s, 1)))
              * reshape(b, tuple(n for s in sb for n in (1, s))))
    return reshape(blocks, tuple(p * q for p, q in zip(sa, sb)))


def cross(a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    """The cross product of 3-vectors (a 2-vector has third component 0; two 2-vectors give
    the scalar a₀b₁ − a₁b₀)."""
    if axis is not None:
        axisa = axisb = axisc = axis
    a = moveaxis(a, axisa, -1)
    b = moveaxis(b, axisb, -1)
    na, nb = shape_of(a)[-1], shape_of(b)[-1]
    if na not in (2, 3) or nb not in (2, 3):
        raise ShapeError(f"dnp.cross: vectors must have 2 or 3 components, got {na} and {nb} "
                         f"(shapes {shape_of(a)} and {shape_of(b)} with the vector axis last)")
    a0, a1 = getitem(a, (Ellipsis, 0)), getitem(a, (Ellipsis, 1))
    b0, b1 = getitem(b, (Ellipsis, 0)), getitem(b, (Ellipsis, 1))
    z = a0 * b1 - a1 * b0
    if na == 2 and nb == 2:
        return z
    a2 = getitem(a, (Ellipsis, 2)) if na == 3 else 0
    b2 = getitem(b, (Ellipsis, 2)) if nb == 3 else 0
    x, y = a1 * b2 - a2 * b1, a2 * b0 - a0 * b2
    shape = np.broadcast_shapes(shape_of(a)[:-1], shape_of(b)[:-1])
    components = [c if tuple(shape_of(c)) == shape else broadcast_to(c, shape) for c in (x, y, z)]
    return moveaxis(stack(components, axis=-1), -1, axisc)


def _grouped(x, order, groups):
    """x transposed to ``order`` and reshaped to one axis per group of consecutive axes."""
    shape = shape_of(x)
    if tuple(order) != tuple(range(len(shape))):
        x = transpose(x, tuple(order))
    sizes = [shape[i] for i in order]
    merged, start = [], 0
    for count in groups:
        merged.append(math.prod(sizes[start:start + count]))
        start += count
    return x if tuple(merged) == tuple(shape_of(x)) else reshape(x, tuple(merged))


def _unmerged(z, shape):
    return z if tuple(shape_of(z)) == tuple(shape) else reshape(z, tuple(shape))


def tensordot(a, b, axes=2):
    """Σ over a's ``axes[0]`` against b's ``axes[1]`` (an int N: a's last N, b's first N), as
    one matmul: (free a, summed) @ (summed, free b)."""
    sa, sb = tuple(shape_of(a)), tuple(shape_of(b))
    axes_a, axes_b = _tensordot_axes(axes, len(sa), len(sb))
    for i, j in zip(axes_a, axes_b):
        if sa[i] != sb[j]:
            raise ShapeError(f"dnp.tensordot: shapes {sa} and {sb} do not line up: axis {i} "
                             f"of a has {sa[i]} entries, axis {j} of b has {sb[j]}")
    free_a = [i for i in range(len(sa)) if i not in axes_a]
    free_b = [j for j in range(len(sb)) if j not in axes_b]
    x = _grouped(a, free_a + axes_a, (len(free_a), len(axes_a)))
    y = _grouped(b, axes_b + free_b, (len(axes_b), len(free_b)))
    return _unmerged(matmul(x, y), [sa[i] for i in free_a] + [sb[j] for j in free_b])


def _tensordot_axes(axes, ndim_a, ndim_b):
    if isinstance(axes, (int, np.integer)):
        if not 0 <= axes <= builtins.min(ndim_a, ndim_b):
            raise ShapeError(f"dnp.tensordot: axes={axes} needs 0 ≤ axes ≤ the dimensions of "
                             f"both operands ({ndim_a} and {ndim_b})")
        return list(range(ndim_a - axes, ndim_a)), list(range(axes))
    try:
        first, second = axes
    except (TypeError, ValueError):
        raise ShapeError(f"dnp.tensordot: axes {axes!r} must be an int or a pair of axis "
                         "sequences") from None
    first = list(first) if isinstance(first, (list, tuple)) else [first]
    second = list(second) if isinstance(second, (list, tuple)) else [second]
    if len(first) != len(second):
        raise ShapeError(f"dnp.tensordot: axes {axes!r} pair {len(first)} axes of a with "
                         f"{len(second)} of b")
    return (_axes_list(first, ndim_a, "tensordot"), _axes_list(second, ndim_b, "tensordot"))


def dot(a, b):
    """np.dot for any rank: a product with a scalar, the primitive for 1-D and 2-D operands,
    and Σ over a's last axis against b's second-to-last (its only, if 1-D) beyond."""
    na, nb = _ndim(a), _ndim(b)
    if na == 0 or nb == 0:
        return a * b
    if na <= 2 and nb <= 2:
        return _dot_primitive(a, b)
    if shape_of(a)[-1] != shape_of(b)[-2 if nb >= 2 else 0]:
        raise ShapeError(f"dnp.dot: shapes {shape_of(a)} and {shape_of(b)} do not line up "
                         "(a's last axis against b's second-to-last)")
    return tensordot(a, b, axes=([na - 1], [nb - 2 if nb >= 2 else 0]))


# einsum: labels are letters, or ("...", k) for the k-th axis from the right of an ellipsis.

def einsum(subscripts, *operands, optimize=False):
    """Einstein summation: NumPy's subscripts (explicit '->' or implicit output, '...',
    labels repeated on one operand for diagonals), contracted pairwise through matmul.

    Each operand first loses the labels no one else needs (its diagonals, then sums); each
    pair then becomes one batched matmul (shared kept labels → batch, shared others → summed).
    The pairs go left to right, or along ``np.einsum_path(optimize=...)`` when optimize is set.
    The plan depends only on the subscripts and shapes, so it is made once per pair of them
    (``_einsum_plan``); each call runs it on its operands.
    """
    shapes = tuple(tuple(int(n) for n in shape_of(x)) for x in operands)
    plan = _einsum_plan(subscripts, shapes, _hashable(optimize))
    terms = [_run(x, steps) for x, steps in zip(operands, plan.operands)]
    for positions, pairs in plan.contractions:
        picked = [terms[p] for p in positions]
        terms = [t for p, t in enumerate(terms) if p not in positions]
        result = picked[0]
        for other, (first, second, product) in zip(picked[1:], pairs):
            result = _run(matmul(_run(result, first), _run(other, second)), product)
        terms.append(result)
    x, = terms
    return _run(x, plan.final)


class _EinsumPlan(typing.NamedTuple):
    """Steps (``_run``) per operand; per contraction, the positions of the terms it takes and,
    for each pair, the steps of both sides before their matmul and of the product after it;
    the steps of the last term."""

    operands: tuple
    contractions: tuple
    final: tuple


@functools.lru_cache(maxsize=256)
def _einsum_plan(subscripts, shapes, optimize):
    """The plan of ``einsum(subscripts, *operands)`` for operands of these shapes: the label
    bookkeeping, done on shapes alone."""
    inputs, output, sizes = _einsum_labels(subscripts, shapes)
    operands, terms = [], []
    for k, (shape, labels) in enumerate(zip(shapes, inputs)):
        others = [label for m, term in enumerate(inputs) if m != k for label in term]
        steps, term = _reduce_alone(shape, labels, set(output) | set(others))
        operands.append(steps)
        terms.append(term)
    contractions = []
    for positions in _einsum_order(subscripts, shapes, optimize):
        picked = [terms[p] for p in positions]
        terms = [t for p, t in enumerate(terms) if p not in positions]
        needed = set(output) | {label for _, labels in terms for label in labels}
        result, pairs = picked[0], []
        for i, other in enumerate(picked[1:]):
            still = needed | {label for _, labels in picked[i + 2:] for label in labels}
            steps, result = _contract(result, other, still, sizes)
            pairs.append(steps)
        contractions.append((tuple(positions), tuple(pairs)))
        terms.append(result)
    term, = terms
    final, (shape, labels) = _reduce_alone(*term, set(output))
    order = tuple(labels.index(label) for label in output)
    if order != tuple(range(len(order))):
        final += (("transpose", (order,)),)
    return _EinsumPlan(tuple(operands), tuple(contractions), final)


def _hashable(optimize):
    """optimize as a cache key: an explicit path (a list) as a tuple of tuples."""
    if isinstance(optimize, list):
        return tuple(tuple(step) if isinstance(step, (list, tuple)) else step
                     for step in optimize)
    return optimize


_STEPS = {
    "diagonal": lambda x, first, second: diagonal(x, 0, first, second),
    "sum": lambda x, axes: sum(x, axis=axes),
    "broadcast_to": broadcast_to,
    "transpose": transpose,
    "reshape": reshape,
}


def _run(x, steps):
    """x through the plan's steps: (name, arguments) pairs naming dnp functions."""
    for name, arguments in steps:
        x = _STEPS[name](x, *arguments)
    return x


def _einsum_order(subscripts, shapes, optimize):
    """Lists of operand positions to contract in turn (positions in the shrinking list)."""
    count = len(shapes)
    if not optimize or count <= 2:
        return [list(range(count))] if count > 1 else []
    if isinstance(optimize, tuple):
        optimize = [list(step) if isinstance(step, tuple) else step for step in optimize]
    stand_ins = [np.broadcast_to(0.0, shape) for shape in shapes]
    path, _ = np.einsum_path(subscripts, *stand_ins, optimize=optimize)
    return [list(step) for step in path[1:]]


def _einsum_labels(subscripts, shapes):
    """Each operand's labels, the output's labels and every label's size."""
    if not isinstance(subscripts, str):
        raise UnsupportedOperationError("dnp.einsum takes its subscripts as a string "
                                        "('ij,jk->ik'); the interleaved form is not supported")
    spec = subscripts.replace(" ", "")
    explicit = "->" in spec
    left, _, right = spec.partition("->")
    terms = left.split(",")
    if len(terms) != len(shapes):
        raise ShapeError(f"dnp.einsum: '{subscripts}' names {len(terms)} operands, "
                         f"{len(shapes)} were given")
    inputs = [_term_labels(term, len(shape), subscripts) for term, shape in zip(terms, shapes)]
    sizes = _label_sizes(inputs, shapes, subscripts)
    widest = builtins.max([_ellipsis_width(labels) for labels in inputs], default=0)
    if explicit:
        if widest and "..." not in right:
            raise ShapeError(f"dnp.einsum: '{subscripts}' broadcasts axes with '...' but its "
                             "output has no '...' to put them in")
        output = _term_labels(right, None, subscripts, widest)
        unknown = [label for label in output if label not in sizes]
        if unknown:
            raise ShapeError(f"dnp.einsum: output label {unknown[0]!r} of '{subscripts}' "
                             "appears in no operand")
        if len(set(output)) != len(output):
            raise ShapeError(f"dnp.einsum: '{subscripts}' repeats a label in its output")
    else:
        letters = [label for term in inputs for label in term if isinstance(label, str)]
        output = [("...", k) for k in range(widest - 1, -1, -1)]
        output += sorted(label for label in set(letters) if letters.count(label) == 1)
    return inputs, output, sizes


def _ellipsis_width(labels):
    return builtins.sum(1 for label in labels if not isinstance(label, str))


def _term_labels(term, ndim, subscripts, width=None):
    """The labels of one term for an operand of ``ndim`` dimensions (for the output, ndim is
    None and ``width`` the number of axes its '...' stands for)."""
    head, dots, tail = term.partition("...")
    for character in head + tail:
        if not character.isalpha():
            raise ShapeError(f"dnp.einsum: '{subscripts}' has {character!r}; labels are "
                             "letters, with '...' for broadcast axes")
    if ndim is not None:
        width = ndim - len(head) - len(tail)
        if width < 0 or (width and not dots):
            raise ShapeError(f"dnp.einsum: '{term}' in '{subscripts}' has {len(head + tail)} "
                             f"labels for an operand of {ndim} dimensions")
    middle = [("...", k) for k in range(width - 1, -1, -1)] if dots else []
    return list(head) + middle + list(tail)


def _label_sizes(inputs, shapes, subscripts):
    """Every label's size; sizes of 1 broadcast against the others, as in NumPy."""
    sizes = {}
    for labels, shape in zip(inputs, shapes):
        for label, n in zip(labels, shape):
            known = sizes.get(label, 1)
            if n != known and 1 not in (n, known):
                name = label if isinstance(label, str) else "..."
                raise ShapeError(f"dnp.einsum: label {name!r} of '{subscripts}' has sizes "
                                 f"{known} and {n} in different operands")
            sizes[label] = builtins.max(n, known)
    return sizes


def _reduce_alone(shape, labels, needed):
    """Steps taking the diagonal of every label repeated on a term, then summing the labels
    not needed; with the term (shape, labels) they leave."""
    shape, labels, steps = list(shape), list(labels), []
    for label in dict.fromkeys(labels):
        while labels.count(label) > 1:
            first = labels.index(label)
            second = labels.index(label, first + 1)
            steps.append(("diagonal", (first, second)))
            length = builtins.min(shape[first], shape[second])
            kept = [i for i in range(len(labels)) if i not in (first, second)]
            shape = [shape[i] for i in kept] + [length]
            labels = [labels[i] for i in kept] + [label]
    summed = tuple(i for i, label in enumerate(labels) if label not in needed)
    if summed:
        steps.append(("sum", (summed,)))
        shape = [n for i, n in enumerate(shape) if i not in summed]
        labels = [label for i, label in enumerate(labels) if i not in summed]
    return tuple(steps), (tuple(shape), labels)


def _contract(first, second, needed, sizes):
    """One pair of terms (shape, labels) as one (batched) matmul: the steps of each side
    before it and of the product after it, and the term it leaves, whose labels are the shared
    needed ones, then the first's own, then the second's own."""
    (xs, xl), (ys, yl) = first, second
    x_steps, xs = _broadcast_shared(xs, xl, yl, sizes)
    y_steps, ys = _broadcast_shared(ys, yl, xl, sizes)
    batch = [label for label in xl if label in yl and label in needed]
    summed = [label for label in xl if label in yl and label not in needed]
    x_own = [label for label in xl if label not in yl]
    y_own = [label for label in yl if label not in xl]
    groups = (len(batch),) if batch else ()
    x_steps += _grouped_steps(xs, [xl.index(v) for v in batch + x_own + summed],
                              groups + (len(x_own), len(summed)))
    y_steps += _grouped_steps(ys, [yl.index(v) for v in batch + summed + y_own],
                              groups + (len(summed), len(y_own)))
    labels = batch + x_own + y_own
    lengths = dict(zip(yl, ys)) | dict(zip(xl, xs))
    merged = [math.prod(lengths[v] for v in group) for group in (batch, x_own, y_own)]
    product = tuple(merged if batch else merged[1:])
    shape = tuple(lengths[v] for v in labels)
    steps = (("reshape", (shape,)),) if shape != product else ()
    return (x_steps, y_steps, steps), (shape, labels)


def _grouped_steps(shape, order, groups):
    """The steps of ``_grouped``: transpose to ``order``, reshape to one axis per group."""
    steps = ()
    if tuple(order) != tuple(range(len(shape))):
        steps += (("transpose", (tuple(order),)),)
    sizes = [shape[i] for i in order]
    merged, start = [], 0
    for count in groups:
        merged.append(math.prod(sizes[start:start + count]))
        start += count
    if tuple(merged) != tuple(sizes):
        steps += (("reshape", (tuple(merged),)),)
    return steps


def _broadcast_shared(shape, labels, other, sizes):
    """Steps growing a term's size-1 axes where the other term's same label is longer."""
    grown = tuple(sizes[v] if v in other else n for v, n in zip(labels, shape))
    return ((("broadcast_to", (grown,)),) if grown != tuple(shape) else ()), grown
