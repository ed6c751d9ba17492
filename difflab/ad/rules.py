"""The derivative of every dnp primitive, once: one line per primitive.

Element-wise primitives give their partial derivatives ∂ans/∂argᵢ; both modes follow from
them (reverse: g·∂, forward: t·∂). The other primitives (reductions, products, shape
changes) are linear in the argument being differentiated, or nearly so, and give a
vector-Jacobian product (reverse) and a Jacobian-vector product (forward) directly.

Every rule is written with dnp, so the backward pass is itself differentiable.
Cotangents ``g`` and tangents ``t`` carry leading batch axes (one per batched direction);
``nb = ndim(g) − ndim(ans)`` counts them. Broadcasting is undone by the engine, not here.

Conventions at kinks (DESIGN.md; the other differentiators are held to them):
relu′(0) = 0, leaky_relu′(0) = negative_slope, abs′(0) = 0; at a tie, maximum, minimum and
max split the derivative evenly among the tied arguments; clip′ = 1 on the closed interval
[a_min, a_max] and 0 outside.
"""

import math

import numpy as np

from .. import numpy as dnp
from ..errors import UnsupportedOperationError

# Small pieces the rules share.


def _primal(x):
    """The plain value inside any number of AD levels (for masks, whose derivative is 0)."""
    while hasattr(x, "trace") and hasattr(x, "value"):
        x = x.value
    return x


def _mask(condition):
    """A plain boolean array (a ufunc, so that jit replays the mask instead of guarding it)."""
    return np.not_equal(condition, False, subok=False)


def _nb(g, ans):
    return len(dnp.shape_of(g)) - len(dnp.shape_of(ans))


def _shifted(axis, ndim, nb):
    """A reduction axis of the value, as an axis of a tangent with nb batch axes."""
    return tuple(a + nb for a in dnp.reduction_axes(axis, ndim))


def _restore(g, ans, x, axis, keepdims):
    """Reshape a reduced cotangent so it broadcasts against batch + x.shape."""
    shape = dnp.shape_of(x)
    nb = _nb(g, ans)
    return g.reshape(dnp.shape_of(g)[:nb] + _kept_shape(shape, axis))


def _batch_index(index, nb):
    index = index if isinstance(index, tuple) else (index,)
    return (slice(None),) * nb + index


def _index_with_batch_last(index, nb):
    """The index for an array whose nb batch axes were moved to the end."""
    index = index if isinstance(index, tuple) else (index,)
    tail = (slice(None),) * nb
    return index + tail if any(part is Ellipsis for part in index) else index + (Ellipsis,) + tail


def _batch_to_end(x, nb):
    n = len(dnp.shape_of(x))
    return dnp.transpose(x, tuple(range(nb, n)) + tuple(range(nb)))


def _batch_to_front(x, nb):
    n = len(dnp.shape_of(x))
    return dnp.transpose(x, tuple(range(n - nb, n)) + tuple(range(n - nb)))


def _take(t, index, nb):
    """t[index] applied to each of t's nb leading batch slices.

    Basic indices just gain leading slices; advanced ones (integer arrays) would move
    NumPy's result axes around a leading batch, so the batch rides at the end instead."""
    if nb == 0:
        return dnp.getitem(t, index)
    if dnp.is_basic_index(index):
        return dnp.getitem(t, _batch_index(index, nb))
    return _batch_to_front(dnp.getitem(_batch_to_end(t, nb), _index_with_batch_last(index, nb)),
                           nb)


def _put(values, index, shape, nb):
    """untake for each of the values' nb leading batch slices (the adjoint of _take)."""
    batch = dnp.shape_of(values)[:nb]
    if nb == 0:
        return dnp.untake(values, index, tuple(shape))
    if dnp.is_basic_index(index):
        return dnp.untake(values, _batch_index(index, nb), batch + tuple(shape))
    moved = dnp.untake(_batch_to_end(values, nb), _index_with_batch_last(index, nb),
                       tuple(shape) + batch)
    return _batch_to_front(moved, nb)


def _tie_weights(x, y):
    """∂max(x, y)/∂x: 1 where x > y, 1/2 at a tie, 0 where x < y."""
    x, y = _primal(x), _primal(y)
    return (np.greater(x, y) + 0.5 * np.equal(x, y)).astype(np.result_type(x, y, 0.5))


def _clip_inside(x, a_min, a_max):
    x = _primal(x)
    inside = np.ones(np.shape(x), dtype=bool)
    if a_min is not None:
        inside = inside & np.greater_equal(x, a_min)     # new arrays: jit replays them
    if a_max is not None:
        inside = inside & np.less_equal(x, a_max)
    return inside


def _max_weights(x, ans, axis):
    """The entries that attain the max, each weighted 1/(number of them)."""
    x, ans = _primal(x), _primal(ans)
    top = np.equal(x, np.reshape(ans, _kept_shape(np.shape(x), axis)))
    return _like(top / np.sum(top, axis=dnp.reduction_axes(axis, np.ndim(x)), keepdims=True), x)


def _like(weights, x):
    """Constant weights in the float type of x, so float32 derivatives stay float32."""
    dtype = np.result_type(_primal(x))
    return weights.astype(dtype) if dtype.kind == "f" else weights


def _kept_shape(shape, axis):
    axes = dnp.reduction_axes(axis, len(shape))
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def _softmax_weights(x, ans, axis):
    """∂logsumexp/∂x = exp(x − logsumexp(x)), the softmax along the reduced axes."""
    return dnp.exp(x - dnp.reshape(ans, _kept_shape(dnp.shape_of(x), axis)))


def _swap_last(x):
    return x.swapaxes(-1, -2)


def _pad(t, nb, ndim):
    """Insert unit axes after t's batch axes until it has ``ndim`` non-batch axes."""
    shape = dnp.shape_of(t)
    missing = ndim - (len(shape) - nb)
    return t if missing <= 0 else dnp.reshape(t, shape[:nb] + (1,) * missing + shape[nb:])


_TWO_OVER_ROOT_PI = 2 / math.sqrt(math.pi)      # Python floats: float32 stays float32
_LN2 = math.log(2)


def _quotient(ans, x, y):
    """The integer q of x = q·y + ans (x mod y, fmod): exact in x − ans, so rounding to the
    nearest integer recovers it where x/y itself would round across an integer."""
    x, y, ans = _primal(x), _primal(y), _primal(ans)
    with np.errstate(divide="ignore", invalid="ignore"):
        return _like(np.rint((x - ans) / y), x)


def _nan_ignoring_weights(x, y, wins):
    """∂fmax(x, y)/∂x (wins = greater) or ∂fmin (less): maximum's weights, and 1 where y
    alone is NaN, which fmax ignores."""
    x, y = _primal(x), _primal(y)
    chosen = wins(x, y) + 0.5 * np.equal(x, y) + (np.isnan(y) & ~np.isnan(x))
    return chosen.astype(np.result_type(x, y, 0.5))


# Element-wise primitives: ∂ans/∂argᵢ as a function of (ans, *args). ONE marks identity.

ONE, MINUS_ONE = "one", "minus one"

PARTIALS = {
    "add":        (ONE, ONE),
    "subtract":   (ONE, MINUS_ONE),
    "negative":   (MINUS_ONE,),
    "multiply":   (lambda ans, x, y: y, lambda ans, x, y: x),
    "divide":     (lambda ans, x, y: 1 / y, lambda ans, x, y: -ans / y),
    "power":      (lambda ans, x, y: y * x ** (y - 1),
                   lambda ans, x, y: ans * dnp.log(dnp.where(_primal(x) > 0, x, 1))),
    "exp":        (lambda ans, x: ans,),
    "log":        (lambda ans, x: 1 / x,),
    "log1p":      (lambda ans, x: 1 / (1 + x),),
    "sqrt":       (lambda ans, x: 0.5 / ans,),
    "square":     (lambda ans, x: 2 * x,),
    "sin":        (lambda ans, x: dnp.cos(x),),
    "cos":        (lambda ans, x: -dnp.sin(x),),
    "tanh":       (lambda ans, x: 1 - dnp.square(ans),),
    "sigmoid":    (lambda ans, x: ans * (1 - ans),),
    "softplus":   (lambda ans, x: dnp.sigmoid(x),),
    "relu":       (lambda ans, x: _mask(_primal(x) > 0),),
    "leaky_relu": (lambda ans, x, negative_slope=0.01: _like(
                   np.where(_primal(x) > 0, 1.0, negative_slope), x),),
    "abs":        (lambda ans, x: np.sign(_primal(x)),),
    "maximum":    (lambda ans, x, y: _tie_weights(x, y), lambda ans, x, y: _tie_weights(y, x)),
    "minimum":    (lambda ans, x, y: _tie_weights(y, x), lambda ans, x, y: _tie_weights(x, y)),
    "where":      (None, lambda ans, c, x, y: _mask(c), lambda ans, c, x, y: ~_mask(c)),
    "clip":       (lambda ans, x, a_min=None, a_max=None: _clip_inside(x, a_min, a_max),),
    "expm1":      (lambda ans, x: ans + 1,),
    "erf":        (lambda ans, x: _TWO_OVER_ROOT_PI * dnp.exp(-dnp.square(x)),),
    "erfc":       (lambda ans, x: -_TWO_OVER_ROOT_PI * dnp.exp(-dnp.square(x)),),
    "arctan":     (lambda ans, x: 1 / (1 + dnp.square(x)),),
    "arcsin":     (lambda ans, x: 1 / dnp.sqrt(1 - dnp.square(x)),),
    "arccos":     (lambda ans, x: -1 / dnp.sqrt(1 - dnp.square(x)),),
    "sinc":       (lambda ans, x: _sinc_slope(x),),
    "logaddexp":  (lambda ans, x, y: dnp.exp(x - ans), lambda ans, x, y: dnp.exp(y - ans)),
    "logaddexp2": (lambda ans, x, y: dnp.exp((x - ans) * _LN2),
                   lambda ans, x, y: dnp.exp((y - ans) * _LN2)),
    "arctan2":    (lambda ans, y, x: x / (dnp.square(x) + dnp.square(y)),
                   lambda ans, y, x: -y / (dnp.square(x) + dnp.square(y))),
    "mod":        (ONE, lambda ans, x, y: -_quotient(ans, x, y)),
    "fmod":       (ONE, lambda ans, x, y: -_quotient(ans, x, y)),
    "fmax":       (lambda ans, x, y: _nan_ignoring_weights(x, y, np.greater),
                   lambda ans, x, y: _nan_ignoring_weights(y, x, np.greater)),
    "fmin":       (lambda ans, x, y: _nan_ignoring_weights(x, y, np.less),
                   lambda ans, x, y: _nan_ignoring_weights(y, x, np.less)),
}

# Custom primitives (``defpartials``) join these sets, so they are not frozen.
ELEMENTWISE_NAMES = set(PARTIALS)
# Derivative 0 everywhere, at their jumps too; their values are constants to the engine.
NONDIFFERENTIABLE = frozenset({
    "zeros_like", "ones_like", "sign", "floor", "ceil", "rint", "trunc", "heaviside",
    "floor_divide", "isfinite", "isnan", "argmax", "argmin", "argsort", "argpartition"})


def _sinc_slope(x):
    """sinc′(x): (cos πx − sinc x)/x, which cancels near 0, so Σₖ 2k·cₖx²ᵏ⁻¹ there (the
    series of dnp.sinc); both in dnp, so the Hessian differentiates this again."""
    near = _mask(np.abs(_primal(x)) <= dnp.SINC_REACH)
    inner = dnp.where(near, x, 0.0)
    u, series = dnp.square(inner), 0.0
    for k in range(len(dnp.SINC_SERIES) - 1, 0, -1):
        series = series * u + 2 * k * dnp.SINC_SERIES[k]
    outer = dnp.where(near, 1.0, x)
    far = (dnp.cos(np.pi * outer) - dnp.sinc(outer)) / outer
    return dnp.where(near, inner * series, far)


def _times(partial):
    """The rule g ↦ g·∂ (the same line serves reverse and forward mode)."""
    if partial is None:
        return None
    if partial is ONE:
        return lambda g, ans, *args, **kw: g
    if partial is MINUS_ONE:
        return lambda g, ans, *args, **kw: -g
    return lambda g, ans, *args, **kw: g * partial(ans, *args, **kw)


# Reductions, products and shape changes: (VJP rules by argument, JVP rules by argument).

def _sum_vjp(g, ans, x, axis=None, keepdims=False):
    return g if axis is None and not keepdims else _restore(g, ans, x, axis, keepdims)


def _sum_jvp(t, ans, x, axis=None, keepdims=False):
    nb = _nb(t, x)
    return dnp.sum(t, axis=_shifted(axis, len(dnp.shape_of(x)), nb), keepdims=keepdims)


def _mean_vjp(g, ans, x, axis=None, keepdims=False):
    if axis is None:              # g has no reduced axes left: the engine broadcasts it
        return g / dnp.reduction_size(x, axis)
    return _restore(g, ans, x, axis, keepdims) / dnp.reduction_size(x, axis)


def _mean_jvp(t, ans, x, axis=None, keepdims=False):
    return _sum_jvp(t, ans, x, axis, keepdims) / dnp.reduction_size(x, axis)


def _max_vjp(g, ans, x, axis=None, keepdims=False):
    return _restore(g, ans, x, axis, keepdims) * _max_weights(x, ans, axis)


def _max_jvp(t, ans, x, axis=None, keepdims=False):
    return _sum_jvp(t * _max_weights(x, ans, axis), ans, x, axis, keepdims)


def _logsumexp_vjp(g, ans, x, axis=None, keepdims=False):
    return _restore(g, ans, x, axis, keepdims) * _softmax_weights(x, ans, axis)


def _logsumexp_jvp(t, ans, x, axis=None, keepdims=False):
    return _sum_jvp(t * _softmax_weights(x, ans, axis), ans, x, axis, keepdims)


def _product(a, b):
    """a @ b as dnp.matmul computes it (``dnp.matmul_plan``: one product per entry when one
    index is contracted, a copied right operand in batches), without its dispatch when
    both are NumPy arrays, as they are in a first-order pass."""
    if type(a) is np.ndarray and type(b) is np.ndarray:
        return dnp.float_matmul(a, b)
    return dnp.matmul(a, b)


def _matmul_vjp_a(g, ans, a, b):
    if len(dnp.shape_of(b)) == 1:                      # (…, i, k) @ (k,) → (…, i)
        return dnp.expand_dims(g, -1) * b
    if len(dnp.shape_of(a)) == 1:                      # (k,) @ (…, k, j) → (…, j)
        return dnp.squeeze(_product(dnp.expand_dims(g, -2), _swap_last(b)), -2)
    return _product(g, _swap_last(b))


def _matmul_vjp_b(g, ans, a, b):
    if len(dnp.shape_of(a)) == 1:                      # a (k,): ∂b = a ⊗ g
        if len(dnp.shape_of(b)) == 1:
            return dnp.expand_dims(g, -1) * a
        return dnp.expand_dims(a, -1) * dnp.expand_dims(g, -2)
    if len(dnp.shape_of(b)) == 1:                      # ∂b = aᵀ g
        return dnp.squeeze(_product(_swap_last(a), dnp.expand_dims(g, -1)), -1)
    return _product(_swap_last(a), g)


def _matmul_jvp_a(t, ans, a, b):
    nb = _nb(t, a)
    a_nd, b_nd = len(dnp.shape_of(a)), len(dnp.shape_of(b))
    if a_nd == 1 and b_nd >= 2:                        # treat a as a row (1, k)
        row = _pad(dnp.expand_dims(t, -2), nb, b_nd)
        return dnp.squeeze(_product(row, b), -2)
    return _product(_pad(t, nb, b_nd) if a_nd >= 2 else t, b)


def _matmul_jvp_b(t, ans, a, b):
    nb = _nb(t, b)
    a_nd, b_nd = len(dnp.shape_of(a)), len(dnp.shape_of(b))
    if b_nd == 1:
        if a_nd == 1:
            return _product(t, a)
        column = _pad(dnp.expand_dims(t, -1), nb, a_nd)    # treat b as a column (k, 1)
        return dnp.squeeze(_product(a, column), -1)
    return _product(a, _pad(t, nb, a_nd))


def _dot_check(a, b):
    if len(dnp.shape_of(a)) > 2 or len(dnp.shape_of(b)) > 2:
        raise UnsupportedOperationError(
            f"dnp.dot of shapes {dnp.shape_of(a)} and {dnp.shape_of(b)}: its derivative is "
            "defined for arrays of at most 2 dimensions; use dnp.tensordot(a, b, axes=([-1], "
            "[-2])) (the same sum) or dnp.matmul for stacks of matrices")


def _dot_rule(matmul_rule, elementwise_rule, operand=None):
    """dot is matmul for 1-D and 2-D operands and multiply when one is a scalar. In forward
    mode (``operand`` = the position whose tangent comes in) a scalar's tangent gets unit
    axes after its batch axes, as element-wise tangents do."""
    def rule(g, ans, a, b):
        _dot_check(a, b)
        if len(dnp.shape_of(a)) == 0 or len(dnp.shape_of(b)) == 0:
            if operand is not None:
                x = (a, b)[operand]
                g = _pad(g, _nb(g, x), len(dnp.shape_of(ans)))
            return elementwise_rule(g, ans, a, b)
        return matmul_rule(g, ans, a, b)
    return rule


def _reshape_vjp(g, ans, x, *args, **kwargs):
    nb = _nb(g, ans)
    return dnp.reshape(g, dnp.shape_of(g)[:nb] + dnp.shape_of(x))


def _reshape_jvp(t, ans, x, *args, **kwargs):
    nb = _nb(t, x)
    return dnp.reshape(t, dnp.shape_of(t)[:nb] + dnp.shape_of(ans))


def _permutation(axes, ndim):
    return tuple(range(ndim))[::-1] if axes is None else tuple(a % ndim for a in axes)


def _transpose_vjp(g, ans, x, axes=None):
    nb, ndim = _nb(g, ans), len(dnp.shape_of(x))
    inverse = np.argsort(_permutation(axes, ndim))
    return dnp.transpose(g, tuple(range(nb)) + tuple(int(i) + nb for i in inverse))


def _transpose_jvp(t, ans, x, axes=None):
    nb, ndim = _nb(t, x), len(dnp.shape_of(x))
    return dnp.transpose(t, tuple(range(nb)) + tuple(a + nb for a in _permutation(axes, ndim)))


def _broadcast_to_jvp(t, ans, x, shape):
    nb = _nb(t, x)
    shape = tuple(shape) if isinstance(shape, (tuple, list)) else (shape,)
    return dnp.broadcast_to(_pad(t, nb, len(shape)), dnp.shape_of(t)[:nb] + shape)


def _getitem_vjp(g, ans, x, index):
    return _put(g, index, dnp.shape_of(x), _nb(g, ans))


def _getitem_jvp(t, ans, x, index):
    piece = _take(t, index, _nb(t, x))
    # Slicing one direction block out of the parameter vector leaves the other leaves'
    # tangents exactly zero: say so (None), so later primitives skip them.
    if isinstance(piece, np.ndarray) and not piece.any():
        return None
    return piece


def _untake_vjp(g, ans, values, index, shape):
    return _take(g, index, _nb(g, ans))


def _untake_jvp(t, ans, values, index, shape):
    return _put(t, index, shape, _nb(t, values))


def _concatenate_vjp(g, ans, arrays, axis=0, *, position):
    nb = _nb(g, ans)
    ndim = len(dnp.shape_of(ans))
    axis = axis % ndim
    sizes = [dnp.shape_of(a)[axis] for a in arrays]
    start = int(np.sum(sizes[:position]))
    index = (slice(None),) * (nb + axis) + (slice(start, start + sizes[position]),)
    return dnp.getitem(g, index)


def _stack_vjp(g, ans, arrays, axis=0, *, position):
    nb = _nb(g, ans)
    axis = axis % len(dnp.shape_of(ans))
    return dnp.getitem(g, (slice(None),) * (nb + axis) + (position,))


def _concatenate_jvp(tangents, ans, arrays, axis=0):
    nb = _nb(next(t for t in tangents if t is not None), arrays[0]) if arrays else 0
    return dnp.concatenate(tangents, axis=(axis % len(dnp.shape_of(ans))) + nb)


def _stack_jvp(tangents, ans, arrays, axis=0):
    nb = _nb(next(t for t in tangents if t is not None), arrays[0]) if arrays else 0
    return dnp.stack(tangents, axis=(axis % len(dnp.shape_of(ans))) + nb)


def _flip(t, axis):
    """t reversed along axis."""
    return dnp.getitem(t, (slice(None),) * axis + (slice(None, None, -1),))


def _cumsum_vjp(g, ans, x, axis=None):
    """Each xᵢ feeds every running sum from i on: the cotangent is the reversed running sum
    of g."""
    nb = _nb(g, ans)
    along = nb + (0 if axis is None else axis % len(dnp.shape_of(x)))
    back = _flip(dnp.cumsum(_flip(g, along), axis=along), along)
    return back if axis is not None else dnp.reshape(back, dnp.shape_of(g)[:nb] +
                                                     dnp.shape_of(x))


def _cumsum_jvp(t, ans, x, axis=None):
    nb = _nb(t, x)
    if axis is None:
        return dnp.cumsum(dnp.reshape(t, dnp.shape_of(t)[:nb] + (-1,)), axis=nb)
    return dnp.cumsum(t, axis=nb + axis % len(dnp.shape_of(x)))


def _along(order, axis):
    """The index that takes ``order`` along ``axis`` and every position elsewhere:
    x[_along(argsort(x, axis), axis)] is sort(x, axis)."""
    index = list(np.ix_(*[np.arange(n) for n in order.shape]))
    index[axis] = order
    return tuple(index)


def _sort_order(x, axis):
    """(order, axis) of sort's permutation over x (flattened when axis is None), stable
    as dnp.argsort, so ties keep their places."""
    x = _primal(x)
    if axis is None:
        return np.argsort(np.ravel(x), kind="stable"), 0
    return np.argsort(x, axis=axis, kind="stable"), axis % np.ndim(x)


def _sort_vjp(g, ans, x, axis=-1):
    """sort(x)ₖ = x_{order(k)}: each entry's cotangent comes back from where it went."""
    order, along = _sort_order(x, axis)
    nb = _nb(g, ans)
    back = _take(g, _along(np.argsort(order, axis=along, kind="stable"), along), nb)
    return back if axis is not None else dnp.reshape(back, dnp.shape_of(g)[:nb] +
                                                     dnp.shape_of(x))


def _sort_jvp(t, ans, x, axis=-1):
    order, along = _sort_order(x, axis)
    nb = _nb(t, x)
    if axis is None:
        t = dnp.reshape(t, dnp.shape_of(t)[:nb] + (-1,))
    return _take(t, _along(order, along), nb)


# dnp.linalg: matrix calculus (Giles 2008, "Collected matrix derivative results"), batch
# axes of g and t leading, matrices stacked in front of the last two axes.

def _t(x):
    return dnp.swapaxes(x, -1, -2)


def _eye(x):
    """The identity of x's matrix size, in x's float type (float32 stays float32)."""
    return _like(np.eye(dnp.shape_of(x)[-1]), x)


def _scalar_to_matrix(s):
    return dnp.expand_dims(dnp.expand_dims(s, -1), -1)


def _inv_vjp(g, ans, a):
    """d(A⁻¹) = −A⁻¹ dA A⁻¹, so Ā = −A⁻ᵀ Ḡ A⁻ᵀ."""
    return -(_t(ans) @ g @ _t(ans))


def _inv_jvp(t, ans, a):
    return -(ans @ t @ ans)


def _det_vjp(g, ans, a):
    """d det = det · tr(A⁻¹ dA), so Ā = ḡ · det · A⁻ᵀ."""
    return _scalar_to_matrix(g * ans) * _t(dnp.linalg.inv(a))


def _det_jvp(t, ans, a):
    return ans * dnp.sum(_t(dnp.linalg.inv(a)) * t, axis=(-2, -1))


def _slogdet_vjp(g, ans, a):
    """d log|det| = tr(A⁻¹ dA); the sign (entry 0) is locally constant."""
    return _scalar_to_matrix(dnp.getitem(g, (Ellipsis, 1))) * _t(dnp.linalg.inv(a))


def _slogdet_jvp(t, ans, a):
    dlog = dnp.sum(_t(dnp.linalg.inv(a)) * t, axis=(-2, -1))
    return dnp.stack([dlog * 0, dlog], axis=-1)


def _as_columns(x, b):
    """b (n,) is one right-hand side: treat a vector-valued x (with any batch axes) as a
    column, so every solve below is the (…, n, k) form."""
    return dnp.expand_dims(x, -1) if len(dnp.shape_of(b)) == 1 else x


def _from_columns(x, b):
    return dnp.squeeze(x, -1) if len(dnp.shape_of(b)) == 1 else x


def _solve_vjp_a(g, ans, a, b):
    """x = A⁻¹b: dx = −A⁻¹ dA x, so Ā = −A⁻ᵀ ḡ xᵀ (one solve with Aᵀ, no inverse)."""
    b_bar = dnp.linalg.solve(_t(a), _as_columns(g, b))
    return -(b_bar @ _t(_as_columns(ans, b)))


def _solve_vjp_b(g, ans, a, b):
    return _from_columns(dnp.linalg.solve(_t(a), _as_columns(g, b)), b)


def _solve_jvp_a(t, ans, a, b):
    return _from_columns(-dnp.linalg.solve(a, t @ _as_columns(ans, b)), b)


def _solve_jvp_b(t, ans, a, b):
    return _from_columns(dnp.linalg.solve(a, _as_columns(t, b)), b)


def _lower_masks(x, upper=False):
    """(stored, strict): 1 on the triangle a LAPACK routine reads (diagonal included), and on
    its strict part, in x's float type."""
    n = dnp.shape_of(x)[-1]
    stored = np.tril(np.ones((n, n)))
    if upper:
        stored = stored.T
    return _like(stored, x), _like(stored - np.eye(n), x)


def _symmetric_tangent(t, upper=False):
    """The symmetric dA that a change t of the stored triangle stands for."""
    stored, strict = _lower_masks(_primal(t), upper)
    return t * stored + _t(t * strict)


def _onto_stored(s, upper=False):
    """The cotangent of the stored triangle from a symmetric cotangent S of the whole
    matrix: each stored off-diagonal entry stands for two, so 2S there, S on the diagonal,
    0 on the triangle never read."""
    stored, strict = _lower_masks(_primal(s), upper)
    return s * (stored + strict)


def _symmetrized(x):
    return (x + _t(x)) / 2


def _cholesky_vjp(g, ans, a):
    """Murray (2016), "Differentiation of the Cholesky decomposition", eq. 10:
    S = sym(L⁻ᵀ Φ(Lᵀ L̄) L⁻¹), Φ the lower triangle with its diagonal halved."""
    phi_mask = _lower_masks(_primal(ans))[0] - _eye(_primal(ans)) / 2
    p = (_t(ans) @ g) * phi_mask
    left = dnp.linalg.solve(_t(ans), p)                       # L⁻ᵀ P
    s = _t(dnp.linalg.solve(_t(ans), _t(left)))               # L⁻ᵀ P L⁻¹
    return _onto_stored(_symmetrized(s))


def _cholesky_jvp(t, ans, a):
    """dL = L Φ(L⁻¹ dA L⁻ᵀ) for the symmetric dA of the lower triangle's change."""
    phi_mask = _lower_masks(_primal(ans))[0] - _eye(_primal(ans)) / 2
    da = _symmetric_tangent(t)
    x = _t(dnp.linalg.solve(ans, _t(dnp.linalg.solve(ans, da))))   # L⁻¹ dA L⁻ᵀ
    return ans @ (x * phi_mask)


def _eigh_parts(ans):
    return (dnp.getitem(ans, (Ellipsis, 0, slice(None))),
            dnp.getitem(ans, (Ellipsis, slice(1, None), slice(None))))


def _repeated(w):
    """Adjacent (ascending) eigenvalues equal to rounding: 64 ulps of the largest magnitude,
    below which the dtype cannot tell them apart. A boolean (…, n − 1) array."""
    w = np.asarray(_primal(w))
    scale = np.max(np.abs(w), axis=-1, keepdims=True)
    return np.diff(w, axis=-1) <= 64 * np.finfo(w.dtype).eps * scale


def _check_distinct(w, values_seed, vectors_seed, a, mode):
    """Refuse a derivative that depends on the basis chosen in a repeated eigenspace: any
    eigenvector seed, or eigenvalue seeds that differ across a repeated pair."""
    repeated = _repeated(w)
    if not repeated.any():
        return
    values_seed = np.asarray(_primal(values_seed))
    split = np.diff(values_seed, axis=-1) != 0
    if np.any(np.asarray(_primal(vectors_seed)) != 0) or np.any(split & repeated):
        pairs = sorted({int(i) for i in np.argwhere(repeated)[:, -1]})
        raise dnp.linalg.RepeatedEigenvalueError(
            f"dnp.linalg.eigh ({mode}) of a matrix of shape {dnp.shape_of(a)}: eigenvalues "
            f"{pairs[0]} and {pairs[0] + 1} (ascending) are repeated, where single eigenvalues "
            "and the eigenvectors have no derivative (any basis of the eigenspace is an "
            "answer). Differentiate a function of the whole eigenspace instead (the trace, "
            "V f(w) Vᵀ with f equal on the repeated ones), or perturb the matrix")


def _gaps(w):
    """F with Fᵢⱼ = 1/(wⱼ − wᵢ) off the diagonal, 0 on it (and at repeated pairs, where the
    seed was checked to need none)."""
    n = dnp.shape_of(w)[-1]
    diff = dnp.expand_dims(w, -2) - dnp.expand_dims(w, -1)
    off = ~np.eye(n, dtype=bool) & (np.abs(np.asarray(_primal(diff))) > 0)
    return dnp.where(off, 1 / dnp.where(off, diff, 1.0), 0.0)


def _eigh_vjp(g, ans, a, UPLO="L"):
    """dw = diag(Vᵀ dA V), dV = V (F ∘ Vᵀ dA V) (Giles 2008, §3.1): the symmetric cotangent
    is S = V (diag w̄ + F ∘ Vᵀ V̄) Vᵀ, symmetrized, then onto the triangle read."""
    w, v = _eigh_parts(ans)
    w_bar, v_bar = _eigh_parts(g)
    _check_distinct(w, w_bar, v_bar, a, "reverse mode")
    inner = dnp.expand_dims(w_bar, -1) * _eye(_primal(w)) + _gaps(w) * (_t(v) @ v_bar)
    return _onto_stored(_symmetrized(v @ inner @ _t(v)), UPLO == "U")


def _eigh_jvp(t, ans, a, UPLO="L"):
    w, v = _eigh_parts(ans)
    m = _t(v) @ _symmetric_tangent(t, UPLO == "U") @ v
    dw = dnp.sum(m * _eye(_primal(w)), axis=-1)
    _check_distinct(w, dw, m * (1 - _eye(_primal(w))), a, "forward mode")
    dv = v @ (_gaps(w) * m)
    return dnp.concatenate([dnp.expand_dims(dw, -2), dv], axis=-2)


def _svd_parts(x, m):
    """U, s, V of svd_stacked's layout (U above s above V)."""
    return (dnp.getitem(x, (Ellipsis, slice(0, m), slice(None))),
            dnp.getitem(x, (Ellipsis, m, slice(None))),
            dnp.getitem(x, (Ellipsis, slice(m + 1, None), slice(None))))


def _check_svd(s, values_seed, vectors_seed, a, mode):
    """Refuse a derivative that depends on the basis of a repeated singular value's
    subspace (as _check_distinct), or that meets the kink of σ = |·| at a zero one."""
    s_plain = np.asarray(_primal(s))
    zero = s_plain <= 64 * np.finfo(s_plain.dtype).eps * np.max(s_plain, -1, keepdims=True)
    values_seed = np.asarray(_primal(values_seed))
    vectors = any(np.any(np.asarray(_primal(x)) != 0) for x in vectors_seed)
    if np.any(zero) and (vectors or np.any(zero & (values_seed != 0))):
        index = int(np.argwhere(zero)[0, -1])
        raise dnp.linalg.ZeroSingularValueError(
            f"dnp.linalg.svd ({mode}) of a matrix of shape {dnp.shape_of(a)}: singular value "
            f"{index} (descending) is 0, where σ = |·| has a kink and the singular vectors "
            "jump. Differentiate at a matrix of full rank (perturb or regularize it)")
    repeated = _repeated(-s_plain)
    if np.any(repeated) and (vectors or np.any((np.diff(values_seed, axis=-1) != 0) & repeated)):
        pairs = sorted({int(i) for i in np.argwhere(repeated)[:, -1]})
        raise dnp.linalg.RepeatedSingularValueError(
            f"dnp.linalg.svd ({mode}) of a matrix of shape {dnp.shape_of(a)}: singular values "
            f"{pairs[0]} and {pairs[0] + 1} (descending) are repeated, where single singular "
            "values and the singular vectors have no derivative (any basis of their subspace "
            "is an answer). Differentiate a function that treats them alike (Σs, the nuclear "
            "norm), or perturb the matrix")


def _svd_vjp(g, ans, a):
    """Townsend (2016), "Differentiating the singular value decomposition", with
    Fᵢⱼ = 1/(sⱼ² − sᵢ²): Ā = U[(F∘(UᵀŪ − ŪᵀU))S + diag s̄ + S(F∘(VᵀV̄ − V̄ᵀV))]Vᵀ
    + (I − UUᵀ)ŪS⁻¹Vᵀ + US⁻¹V̄ᵀ(I − VVᵀ) (the last two vanish for square a)."""
    m, n = dnp.shape_of(a)[-2:]
    u, s, v = _svd_parts(ans, m)
    u_bar, s_bar, v_bar = _svd_parts(g, m)
    _check_svd(s, s_bar, [_primal(u_bar), _primal(v_bar)], a, "reverse mode")
    f = _gaps(s * s)
    ut_ub, vt_vb = _t(u) @ u_bar, _t(v) @ v_bar
    sv = dnp.expand_dims(s, -2)                             # multiplies columns: X S
    inner = (f * (ut_ub - _t(ut_ub))) * sv + dnp.expand_dims(s_bar, -1) * _eye(_primal(s)) \
        + _t(sv) * (f * (vt_vb - _t(vt_vb)))
    a_bar = u @ inner @ _t(v)
    if m > n:
        a_bar = a_bar + (u_bar - u @ ut_ub) / sv @ _t(v)
    if n > m:
        a_bar = a_bar + u @ _t((v_bar - v @ vt_vb) / sv)
    return a_bar


def _svd_jvp(t, ans, a):
    """dP = Uᵀ dA V: ds = diag dP, dU = U(F∘(dP S + S dPᵀ)) + (I − UUᵀ)dA V S⁻¹,
    dV = V(F∘(S dP + dPᵀS)) + (I − VVᵀ)dAᵀU S⁻¹ (Townsend 2016)."""
    m, n = dnp.shape_of(a)[-2:]
    u, s, v = _svd_parts(ans, m)
    p = _t(u) @ t @ v
    eye = _eye(_primal(s))
    ds = dnp.sum(p * eye, axis=-1)
    _check_svd(s, ds, [_primal(p * (1 - eye))], a, "forward mode")
    f = _gaps(s * s)
    sv = dnp.expand_dims(s, -2)
    du = u @ (f * (p * sv + _t(sv) * _t(p)))
    dv = v @ (f * (_t(sv) * p + _t(p) * sv))
    if m > n:
        du = du + (t @ v - u @ p) / sv
    if n > m:
        dv = dv + (_t(t) @ u - v @ _t(p)) / sv
    return dnp.concatenate([du, dnp.expand_dims(ds, -2), dv], axis=-2)


def _qr_parts(x, m):
    return (dnp.getitem(x, (Ellipsis, slice(0, m), slice(None))),
            dnp.getitem(x, (Ellipsis, slice(m, None), slice(None))))


def _check_full_rank(r, a):
    d = np.abs(np.diagonal(np.asarray(_primal(r)), axis1=-2, axis2=-1))
    if np.any(d <= 64 * np.finfo(d.dtype).eps * np.max(d, -1, keepdims=True)):
        raise dnp.linalg.LinAlgError(
            f"dnp.linalg.qr of a matrix of shape {dnp.shape_of(a)}: its columns are "
            "dependent (R has a zero on its diagonal), where Q has no derivative; "
            "differentiate at a matrix of full column rank")


def _right_inverse(x, r):
    """X R⁻¹, by a solve with Rᵀ."""
    return _t(dnp.linalg.solve(_t(r), _t(x)))


def _qr_vjp(g, ans, a):
    """Liao et al. (2019), "Differentiable programming tensor networks", eq. 26 (m ≥ n):
    M = RR̄ᵀ − Q̄ᵀQ, Ā = (Q̄ + Q copyltu(M)) R⁻ᵀ, copyltu(M) = tril M + (tril₋₁ M)ᵀ."""
    q, r = _qr_parts(ans, dnp.shape_of(a)[-2])
    q_bar, r_bar = _qr_parts(g, dnp.shape_of(a)[-2])
    _check_full_rank(r, a)
    mm = r @ _t(r_bar) - _t(q_bar) @ q
    lower, strict = _lower_masks(_primal(mm))
    copyltu = mm * lower + _t(mm * strict)
    return _t(dnp.linalg.solve(r, _t(q_bar + q @ copyltu)))


def _qr_jvp(t, ans, a):
    """C = Qᵀ dA R⁻¹ = Ω + dR R⁻¹ with Ω = QᵀdQ antisymmetric and dR R⁻¹ upper triangular:
    Ω = tril₋₁C − (tril₋₁C)ᵀ, dR = (C − Ω)R, dQ = (dA − Q dR)R⁻¹."""
    q, r = _qr_parts(ans, dnp.shape_of(a)[-2])
    _check_full_rank(r, a)
    c = _t(q) @ _right_inverse(t, r)
    strict = _lower_masks(_primal(c))[1]
    omega = c * strict - _t(c * strict)
    dr = (c - omega) @ r
    dq = _right_inverse(t - q @ dr, r)
    return dnp.concatenate([dq, dr], axis=-2)


STRUCTURAL = {
    #               VJP rules by argument                        JVP rules by argument
    "sum":          ((_sum_vjp,),                                (_sum_jvp,)),
    "mean":         ((_mean_vjp,),                               (_mean_jvp,)),
    "max":          ((_max_vjp,),                                (_max_jvp,)),
    "logsumexp":    ((_logsumexp_vjp,),                          (_logsumexp_jvp,)),
    "matmul":       ((_matmul_vjp_a, _matmul_vjp_b),             (_matmul_jvp_a, _matmul_jvp_b)),
    "dot":          ((_dot_rule(_matmul_vjp_a, _times(PARTIALS["multiply"][0])),
                      _dot_rule(_matmul_vjp_b, _times(PARTIALS["multiply"][1]))),
                     (_dot_rule(_matmul_jvp_a, _times(PARTIALS["multiply"][0]), 0),
                      _dot_rule(_matmul_jvp_b, _times(PARTIALS["multiply"][1]), 1))),
    "reshape":      ((_reshape_vjp,),                            (_reshape_jvp,)),
    "expand_dims":  ((_reshape_vjp,),                            (_reshape_jvp,)),
    "squeeze":      ((_reshape_vjp,),                            (_reshape_jvp,)),
    "transpose":    ((_transpose_vjp,),                          (_transpose_jvp,)),
    "broadcast_to": ((lambda g, ans, x, shape: g,),              (_broadcast_to_jvp,)),
    "getitem":      ((_getitem_vjp,),                            (_getitem_jvp,)),
    "untake":       ((_untake_vjp,),                             (_untake_jvp,)),
    "concatenate":  ((_concatenate_vjp,),                        (_concatenate_jvp,)),
    "stack":        ((_stack_vjp,),                              (_stack_jvp,)),
    "cumsum":       ((_cumsum_vjp,),                             (_cumsum_jvp,)),
    "sort":         ((_sort_vjp,),                               (_sort_jvp,)),
    "linalg.inv":   ((_inv_vjp,),                                (_inv_jvp,)),
    "linalg.det":   ((_det_vjp,),                                (_det_jvp,)),
    "linalg.slogdet_stacked": ((_slogdet_vjp,),                  (_slogdet_jvp,)),
    "linalg.solve": ((_solve_vjp_a, _solve_vjp_b),               (_solve_jvp_a, _solve_jvp_b)),
    "linalg.cholesky": ((_cholesky_vjp,),                        (_cholesky_jvp,)),
    "linalg.eigh_stacked": ((_eigh_vjp,),                        (_eigh_jvp,)),
    "linalg.svd_stacked": ((_svd_vjp,),                          (_svd_jvp,)),
    "linalg.qr_stacked": ((_qr_vjp,),                            (_qr_jvp,)),
}

class _RuleTable(dict):
    """Rules by primitive name; a primitive without one is a named error, not a KeyError."""

    def __init__(self, mode, rules):
        super().__init__(rules)
        self.mode = mode

    def __missing__(self, name):
        define = "defvjp" if self.mode == "VJP" else "defjvp"
        needs = "reverse mode (grad, vjp, jacobian, hessian)" if self.mode == "VJP" else \
            "forward mode (jvp, hessian, hvp)"
        raise UnsupportedOperationError(
            f"dnp.{name} has no {self.mode} rule, which {needs} needs: give it one with "
            f"difflab.ad.{define}({name.split('#')[0]}, ...) (or defpartials for an "
            "element-wise primitive)")


VJP_RULES = _RuleTable("VJP", {name: tuple(_times(p) for p in partials)
                               for name, partials in PARTIALS.items()})
VJP_RULES.update({name: vjps for name, (vjps, _) in STRUCTURAL.items()})
JVP_RULES = _RuleTable("JVP", VJP_RULES)
JVP_RULES.update({name: jvps for name, (_, jvps) in STRUCTURAL.items()})


# Rules for custom primitives (dnp.primitive), given by their users.

def _custom(primitive, rules, what):
    if not isinstance(primitive, dnp.Primitive) or primitive.builtin:
        raise UnsupportedOperationError(
            f"difflab.ad.{what}: {primitive!r} is not a custom primitive; declare the function "
            "with dnp.primitive first (the built-in rules are fixed)")
    if len(rules) != primitive.operands:
        raise UnsupportedOperationError(
            f"difflab.ad.{what}: dnp.{primitive.name} has {primitive.operands} differentiable "
            f"operand(s), so it takes {primitive.operands} rule(s), one per operand (None for "
            f"an operand it is not differentiable in); got {len(rules)}")
    return tuple(rules)


def defvjp(primitive, *vjps):
    """Reverse-mode rules of a custom primitive, one per operand:
    ``vjp(g, ans, *args, **kwargs)`` is the cotangent of that operand given the output's
    cotangent ``g`` (None: not differentiable in it). ``g`` may carry leading batch axes
    (``ndim(g) − ndim(ans)`` of them; jacobians and hessians send a batch of directions).
    Write the rules with dnp, so they are differentiable again (Hessians, grad of grad).
    Broadcasting is undone by the engine."""
    VJP_RULES[primitive.name] = _custom(primitive, vjps, "defvjp")


def defjvp(primitive, *jvps):
    """Forward-mode rules of a custom primitive, one per operand:
    ``jvp(t, ans, *args, **kwargs)`` is the output's tangent given that operand's tangent
    ``t`` (with the same leading batch axes as ``g`` in defvjp); the engine sums them."""
    JVP_RULES[primitive.name] = _custom(primitive, jvps, "defjvp")


def defpartials(primitive, *partials):
    """Both modes at once for an element-wise custom primitive (declared with
    ``elementwise=True``): ``partial(ans, *args, **kwargs)`` is ∂ans/∂argᵢ entry by entry,
    as a line of the ``PARTIALS`` table."""
    partials = _custom(primitive, partials, "defpartials")
    if not primitive.elementwise:
        raise UnsupportedOperationError(
            f"difflab.ad.defpartials: dnp.{primitive.name} was not declared element-wise; "
            "declare it with dnp.primitive(..., elementwise=True), or give its rules with "
            "defvjp and defjvp")
    VJP_RULES[primitive.name] = JVP_RULES[primitive.name] = tuple(_times(p) for p in partials)
    ELEMENTWISE_NAMES.add(primitive.name)
