"""Property tests of ``difflab.numpy``'s derivatives on random shapes (Hypothesis).

For each family — reductions over axes with keepdims, cumulative and ordering functions,
shape and indexing functions, broadcasting binary and unary element-wise functions, and
contractions — Hypothesis draws shapes, axes, parameters and values. Every operand is packed
into one flat θ, the outputs into one flat vector f(θ), and two properties are checked:

1. the reverse-mode gradient of L(θ) = Σ w ⊙ f(θ) (fixed random w) equals the complex step
   Im L(θ + i·h·eₖ)/h, h = 1e-30, an independent truth: it runs dnp's complex versions (the
   analytic continuations, branches chosen by the real part) and no derivative rule;
2. forward mode agrees with reverse mode: u · (J v) from ``ad.jvp`` equals (uᵀJ) · v from
   ``ad.vjp`` for random directions v and cotangents u.

Values stay away from kinks and ties (distinct values where an order or a maximum is taken,
away from 0 where |x| has a kink), where neither truth is defined. dnp.cosh's derivative near
0 is checked against sinh in floats (it once cancelled there).
"""

import hypothesis.extra.numpy as hnp
import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import assume, given, settings

import difflab.numpy as dnp
from difflab import ad

# Both checks are exact up to rounding: the complex step has no subtraction (its truncation
# error, h²·f‴/6, is below 1e-50 here) and the two modes compute the same products in other
# orders. A few hundred ulps of the norm is the budget; a wrong rule is off by O(1).
RTOL = 1e-12
STEP = 1e-30

SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=3)
NONEMPTY = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=3)
MATRICES = hnp.array_shapes(min_dims=2, max_dims=3, min_side=1, max_side=3)


def floats(lo, hi):
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False, allow_subnormal=False)


def arrays(shape, lo=-2.0, hi=2.0):
    """Entries 0 or ≥ 1e-8 in magnitude: the complex step's Im L = h·∂L underflows for
    ∂L below 1e-278 (h = 1e-30), which products of entries like 1e-300 reach."""
    entries = floats(lo, hi).filter(lambda v: v == 0 or abs(v) >= 1e-8)
    return hnp.arrays(np.float64, shape, elements=entries)


@st.composite
def distinct(draw, shapes, magnitudes=False):
    """Arrays of the given shapes whose entries (or, with ``magnitudes``, whose |entries|)
    differ pairwise by at least 0.05 across all of them, and are ≥ 0.1 in magnitude with
    ``magnitudes``: no ties for a maximum, a sort or a partition to split."""
    sizes = [int(np.prod(shape, dtype=int)) for shape in shapes]
    total = sum(sizes)
    grid = st.integers(1, 40) if magnitudes else st.integers(-40, 40)
    ticks = draw(hnp.arrays(np.int64, total, elements=grid, unique=True))
    flat = ticks / 10 + draw(hnp.arrays(np.float64, total, elements=floats(0, 0.05)))
    if magnitudes:
        flat = flat * draw(hnp.arrays(np.float64, total, elements=st.sampled_from([-1.0, 1.0])))
    starts = np.cumsum([0] + sizes)
    return [flat[a:b].reshape(shape) for a, b, shape in zip(starts, starts[1:], shapes)]


def axes_of(ndim):
    options = [st.none()]
    if ndim:
        options += [st.integers(-ndim, ndim - 1), hnp.valid_tuple_axes(ndim, min_size=1)]
    return st.one_of(*options)


def an_axis(ndim):
    return st.integers(-ndim, ndim - 1)


# The two checks, on any case: a function of some arrays, and those arrays.

def flattened(fn, shapes):
    """θ ↦ all of fn's outputs raveled into one vector, fn's operands unravelled from θ."""
    sizes = [int(np.prod(shape, dtype=int)) for shape in shapes]
    starts = np.cumsum([0] + sizes)

    def f(theta):
        operands = [dnp.reshape(theta[a:b], shape)
                    for a, b, shape in zip(starts, starts[1:], shapes)]
        out = fn(*operands)
        pieces = out if isinstance(out, (list, tuple)) else [out]
        return dnp.concatenate([dnp.reshape(piece, (-1,)) for piece in pieces])
    return f


def complex_step_gradient(loss, theta):
    """∂L/∂θₖ = Im L(θ + i·h·eₖ)/h + O(h²) (Squire & Trapp 1998): no cancellation, so h
    can be 1e-30 and the result is exact to rounding."""
    gradient = np.empty_like(theta)
    for k in range(theta.size):
        z = theta.astype(complex)
        z[k] += 1j * STEP
        gradient[k] = np.imag(loss(z)) / STEP
    return gradient


def norm(x):
    """The 2-norm scaled by max |xᵢ| first, as LAPACK's dnrm2: Hypothesis draws entries such
    as 1e-217, whose squares underflow to 0 in np.linalg.norm."""
    x = np.asarray(x, dtype=float)
    largest = np.max(np.abs(x), initial=0.0)
    return largest * np.sqrt(np.sum((x / largest) ** 2)) if largest else 0.0


def relative_error(got, truth):
    """‖got − truth‖/‖truth‖, with the smallest normal float as the floor (a zero gradient
    must then be zero)."""
    return norm(got - truth) / max(norm(truth), np.finfo(float).tiny)


def check(fn, operands, seed):
    """The module's two properties for fn at operands; seed draws w, u and v."""
    shapes = [np.shape(x) for x in operands]
    f = flattened(fn, shapes)
    theta = np.concatenate([np.reshape(x, -1) for x in operands]).astype(float)
    rng = np.random.default_rng(seed)
    out_size = np.size(f(theta))
    weights = rng.normal(size=out_size)

    def loss(t):
        return dnp.sum(weights * f(t))

    truth = complex_step_gradient(loss, theta)
    error = relative_error(ad.grad(loss)(theta), truth)
    assert error <= RTOL, f"ad.grad against the complex step: relative error {error:.2e}"

    v, u = rng.normal(size=theta.size), rng.normal(size=out_size)
    _, forward = ad.jvp(f, (theta,), (v,))
    _, pullback = ad.vjp(f, theta)
    (reverse,) = pullback(u)
    # Both sides are sums of products; Cauchy–Schwarz bounds their terms' size.
    scale = max(norm(u) * norm(forward), norm(reverse) * norm(v), np.finfo(float).tiny)
    gap = abs(u @ forward - reverse @ v)
    assert gap <= RTOL * scale, f"u·jvp = {u @ forward!r} but vjp(u)·v = {reverse @ v!r}"


SEEDS = st.integers(0, 2**32 - 1)


# 1. Reductions over axes (None, one, several) with keepdims.

@st.composite
def reduction(draw, fn, untied=False):
    """fn(x, axis, keepdims) over no, one or several axes; ``untied``: distinct entries."""
    shape = draw(SHAPES)
    x = draw(distinct([shape]))[0] if untied else draw(arrays(shape))
    axis = draw(axes_of(len(shape)))
    keepdims = draw(st.booleans())
    return (lambda a: fn(a, axis=axis, keepdims=keepdims)), [x]


@st.composite
def spread(draw, name):
    """var or std with ddof 0 or 1, over axes that leave ≥ 1 degree of freedom (≥ 2 entries
    for std, whose √ has a kink at var = 0; distinct entries keep var away from it)."""
    shape = draw(NONEMPTY)
    axis = draw(axes_of(len(shape)))
    axes = range(len(shape)) if axis is None else np.atleast_1d(axis)
    count = int(np.prod([shape[a] for a in axes], dtype=int))
    assume(count >= 2 or name == "var")
    ddof = draw(st.integers(0, min(1, count - 1)))
    x = draw(distinct([shape]))[0]
    keepdims = draw(st.booleans())
    fn = getattr(dnp, name)
    return (lambda a: fn(a, axis=axis, ddof=ddof, keepdims=keepdims)), [x]


@st.composite
def weighted_average(draw):
    """average(x, axis, weights) differentiated in x and in the weights (positive, so their
    sum is away from 0); weights of x's shape, or 1-D along the axis."""
    shape = draw(NONEMPTY)
    axis = draw(st.none() | an_axis(len(shape)))
    full = axis is None or draw(st.booleans())
    x = draw(arrays(shape))
    weights = draw(arrays(shape if full else (shape[axis],), 0.1, 2.0))
    keepdims = draw(st.booleans())
    return (lambda a, w: dnp.average(a, axis, w, keepdims=keepdims)), [x, weights]


@st.composite
def vector_norm(draw):
    """Vector norms along one axis of entries with distinct |x| ≥ 0.1: no tie for inf to
    split and no kink of |x| at 0 for ord 1."""
    shape = draw(NONEMPTY)
    x = draw(distinct([shape], magnitudes=True))[0]
    ord_ = draw(st.sampled_from([None, 1, np.inf, 3]))
    axis = draw(an_axis(len(shape)))
    keepdims = draw(st.booleans())
    return (lambda a: dnp.norm(a, ord_, axis, keepdims)), [x]


REDUCTIONS = {
    "sum": reduction(dnp.sum), "mean": reduction(dnp.mean), "prod": reduction(dnp.prod),
    "logsumexp": reduction(dnp.logsumexp),
    "max": reduction(dnp.max, untied=True), "min": reduction(dnp.min, untied=True),
    "amax": reduction(dnp.amax, untied=True), "amin": reduction(dnp.amin, untied=True),
    "var": spread("var"), "std": spread("std"), "average": weighted_average(),
    "norm": vector_norm(),
}


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
@settings(max_examples=20)
@given(data=st.data(), seed=SEEDS)
def test_reductions(name, data, seed):
    check(*data.draw(REDUCTIONS[name]), seed)


# 2. Cumulative and ordering functions along an axis.

@st.composite
def along(draw, fn, flattens=False, untied=False):
    """fn(x, axis) along one axis (or the flattened x, for functions that allow it)."""
    shape = draw(NONEMPTY)
    x = draw(distinct([shape]))[0] if untied else draw(arrays(shape))
    axis = draw(st.none() | an_axis(len(shape)) if flattens else an_axis(len(shape)))
    return (lambda a: fn(a, axis=axis)), [x]


@st.composite
def partitioned(draw):
    shape = draw(NONEMPTY)
    x = draw(distinct([shape]))[0]
    axis = draw(an_axis(len(shape)))
    n = shape[axis]
    kth = draw(st.integers(-n, n - 1) | st.lists(st.integers(0, n - 1), min_size=1,
                                                  max_size=2, unique=True))
    return (lambda a: dnp.partition(a, kth, axis)), [x]


ORDERS = {
    "cumsum": along(dnp.cumsum, flattens=True), "cumprod": along(dnp.cumprod, flattens=True),
    "sort": along(dnp.sort, flattens=True, untied=True), "partition": partitioned(),
    "softmax": along(dnp.softmax), "log_softmax": along(dnp.log_softmax),
}


@pytest.mark.parametrize("name", sorted(ORDERS))
@settings(max_examples=20)
@given(data=st.data(), seed=SEEDS)
def test_cumulative_and_ordering(name, data, seed):
    check(*data.draw(ORDERS[name]), seed)


# 3. Shapes and indexing: linear maps, so every entry of the gradient is a sum of weights.

@st.composite
def swapped(draw):
    x = draw(arrays(NONEMPTY))
    a, b = draw(an_axis(x.ndim)), draw(an_axis(x.ndim))
    return (lambda y: dnp.swapaxes(y, a, b)), [x]


@st.composite
def moved(draw):
    x = draw(arrays(NONEMPTY))
    count = draw(st.integers(1, x.ndim))
    source = draw(st.permutations(range(x.ndim)))[:count]
    destination = draw(st.permutations(range(-x.ndim, 0)))[:count]
    return (lambda y: dnp.moveaxis(y, source, destination)), [x]


@st.composite
def flipped(draw):
    x = draw(arrays(SHAPES))
    axes = draw(axes_of(x.ndim))
    return (lambda y: dnp.flip(y, axes)), [x]


@st.composite
def rolled(draw):
    x = draw(arrays(NONEMPTY))
    if draw(st.booleans()):
        shift, axis = draw(st.integers(-5, 5)), draw(st.none() | an_axis(x.ndim))
    else:
        axis = tuple(draw(st.permutations(range(x.ndim)))[:draw(st.integers(1, x.ndim))])
        shift = tuple(draw(st.lists(st.integers(-5, 5), min_size=len(axis),
                                    max_size=len(axis))))
    return (lambda y: dnp.roll(y, shift, axis)), [x]


@st.composite
def tiled(draw):
    x = draw(arrays(SHAPES))
    reps = tuple(draw(st.lists(st.integers(1, 3), min_size=1, max_size=3)))
    return (lambda y: dnp.tile(y, reps)), [x]


@st.composite
def repeated(draw):
    x = draw(arrays(SHAPES))
    axis = draw(st.none() | an_axis(x.ndim)) if x.ndim else None
    n = x.size if axis is None else x.shape[axis]
    repeats = draw(st.integers(1, 3) | st.lists(st.integers(0, 3), min_size=n, max_size=n))
    return (lambda y: dnp.repeat(y, repeats, axis)), [x]


@st.composite
def diagonals(draw, name):
    x = draw(arrays(MATRICES))
    k = draw(st.integers(-2, 2))
    if name in ("tril", "triu"):
        return (lambda y: getattr(dnp, name)(y, k)), [x]
    first = draw(an_axis(x.ndim))
    second = draw(st.sampled_from([a for a in range(-x.ndim, x.ndim) if (a - first) % x.ndim]))
    return (lambda y: getattr(dnp, name)(y, k, first, second)), [x]


@st.composite
def taken(draw):
    """take with drawn indices (repeats included, so the gradient accumulates)."""
    x = draw(arrays(NONEMPTY))
    axis = draw(st.none() | an_axis(x.ndim))
    n = x.size if axis is None else x.shape[axis]
    index = draw(hnp.arrays(np.int64, hnp.array_shapes(min_dims=0, max_dims=2, max_side=3),
                            elements=st.integers(-n, n - 1)))
    return (lambda y: dnp.take(y, index, axis)), [x]


@st.composite
def taken_along(draw):
    x = draw(arrays(NONEMPTY))
    axis = draw(an_axis(x.ndim))
    shape = list(x.shape)
    shape[axis] = draw(st.integers(1, 4))
    index = draw(hnp.arrays(np.int64, tuple(shape), elements=st.integers(0, x.shape[axis] - 1)))
    return (lambda y: dnp.take_along_axis(y, index, axis)), [x]


@st.composite
def padded(draw):
    x = draw(arrays(NONEMPTY))
    pairs = st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2)), min_size=x.ndim,
                     max_size=x.ndim)
    widths = draw(st.integers(0, 2) | pairs)
    value = draw(floats(-3, 3))
    return (lambda y: dnp.pad(y, widths, constant_values=value)), [x]


@st.composite
def splits(draw):
    """array_split into a drawn count of sections; split, hsplit, vsplit and dsplit at drawn
    cuts (beyond the end too: NumPy then returns empty pieces)."""
    x = draw(arrays(NONEMPTY))
    least_ndim = {"array_split": 1, "split": 1, "hsplit": 1, "vsplit": 2, "dsplit": 3}
    name = draw(st.sampled_from([name for name, least in least_ndim.items()
                                 if x.ndim >= least]))
    cuts = sorted(draw(st.lists(st.integers(-4, 4), max_size=3)))
    if name in ("hsplit", "vsplit", "dsplit"):
        return (lambda y: getattr(dnp, name)(y, cuts)), [x]
    axis = draw(an_axis(x.ndim))
    sections = draw(st.integers(1, x.shape[axis] + 2)) if name == "array_split" else cuts
    return (lambda y: getattr(dnp, name)(y, sections, axis)), [x]


@st.composite
def stacks(draw):
    """stack, concatenate and the v/h/d-stacks of two differentiable arrays."""
    shape = draw(NONEMPTY)
    name = draw(st.sampled_from(["stack", "concatenate", "vstack", "hstack", "dstack"]))
    x, y = draw(arrays(shape)), draw(arrays(shape))
    if name in ("stack", "concatenate"):
        axis = draw(st.integers(-len(shape) - (name == "stack"), len(shape) - 1))
        return (lambda a, b: getattr(dnp, name)([a, b], axis=axis)), [x, y]
    return (lambda a, b: getattr(dnp, name)([a, b])), [x, y]


@st.composite
def expanded(draw):
    x = draw(arrays(SHAPES))
    if draw(st.booleans()):
        axis = draw(st.integers(-x.ndim - 1, x.ndim))
    else:
        count = draw(st.integers(1, 2))
        axis = tuple(draw(st.permutations(range(x.ndim + count)))[:count])
    return (lambda y: dnp.expand_dims(y, axis)), [x]


@st.composite
def squeezed(draw):
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=2))
    x = draw(arrays(shape))
    ones = [a for a, n in enumerate(shape) if n == 1]
    axis = draw(st.none() | st.sets(st.sampled_from(ones)).map(tuple)) if ones else None
    return (lambda y: dnp.squeeze(y, axis)), [x]


@st.composite
def transposed(draw):
    x = draw(arrays(SHAPES))
    axes = tuple(draw(st.permutations(range(x.ndim))))
    return (lambda y: dnp.transpose(y, axes)), [x]


SHAPING = {
    "swapaxes": swapped(), "moveaxis": moved(), "flip": flipped(), "roll": rolled(),
    "tile": tiled(), "repeat": repeated(), "diagonal": diagonals("diagonal"),
    "trace": diagonals("trace"), "tril": diagonals("tril"), "triu": diagonals("triu"),
    "take": taken(), "take_along_axis": taken_along(), "pad": padded(), "splits": splits(),
    "stacks": stacks(), "expand_dims": expanded(), "squeeze": squeezed(),
    "transpose": transposed(),
}


@pytest.mark.parametrize("name", sorted(SHAPING))
@settings(max_examples=15)
@given(data=st.data(), seed=SEEDS)
def test_shapes_and_indexing(name, data, seed):
    check(*data.draw(SHAPING[name]), seed)


# 4. Binary element-wise functions on mutually broadcastable shapes.

PAIRS = hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3)

# name: the domain of each operand, (lo, hi) or "nonzero" (|x| ≥ 0.1); or "distinct" for
# both: no entry of one equals an entry of the other, so maximum and its kin meet no tie.
BINARY = {
    "add": ((-2, 2), (-2, 2)), "multiply": ((-2, 2), (-2, 2)), "divide": ((-2, 2), "nonzero"),
    "power": ((0.2, 3), (-2, 2)), "hypot": ("nonzero", "nonzero"),
    "arctan2": ("nonzero", (-2, 2)), "logaddexp": ((-3, 3), (-3, 3)),
    "logaddexp2": ((-3, 3), (-3, 3)), "maximum": "distinct", "minimum": "distinct",
    "fmax": "distinct", "fmin": "distinct",
}


def operand(draw, shape, domain):
    if domain == "nonzero":  # |x| ≥ 0.1: away from divide's pole, arctan2's and hypot's origin
        return draw(distinct([shape], magnitudes=True))[0]
    return draw(arrays(shape, *domain))


@pytest.mark.parametrize("name", sorted(BINARY))
@settings(max_examples=20)
@given(shapes=PAIRS, data=st.data(), seed=SEEDS)
def test_binary_broadcasting(name, shapes, data, seed):
    first, second = shapes.input_shapes
    if BINARY[name] == "distinct":
        operands = data.draw(distinct([first, second]))
    else:
        operands = [operand(data.draw, shape, domain)
                    for shape, domain in zip((first, second), BINARY[name])]
    check(getattr(dnp, name), operands, seed)


# 5. Unary element-wise functions over random shapes, each on a domain where it is smooth.

UNARY = {
    "tanh": (-3, 3), "sin": (-4, 4), "exp": (-3, 3), "log": (0.1, 4), "sqrt": (0.1, 4),
    "expm1": (-3, 3), "erf": (-3, 3), "arctan": (-4, 4), "sinh": (-3, 3), "cosh": (-3, 3),
    "tan": (-1.2, 1.2), "arcsinh": (-4, 4), "sinc": (-3, 3), "gelu": (-4, 4),
    "silu": (-4, 4), "softsign": (-4, 4), "sigmoid": (-6, 6), "softplus": (-6, 6),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@settings(max_examples=12)
@given(shape=SHAPES, data=st.data(), seed=SEEDS)
def test_unary_elementwise(name, shape, data, seed):
    check(getattr(dnp, name), [operand(data.draw, shape, UNARY[name])], seed)


def test_cosh_derivative_keeps_its_digits_near_zero():
    """(eˣ + e⁻ˣ)/2 gave a derivative (eˣ − e⁻ˣ)/2 with relative error ε/|x|: 6e-9 at 1e-8."""
    x = np.array([1e-8, -3e-6, 1e-4, 0.0, 700.0])
    np.testing.assert_allclose(ad.grad(lambda t: dnp.sum(dnp.cosh(t)))(x), np.sinh(x),
                               rtol=RTOL)
    np.testing.assert_allclose(ad.hessian(lambda t: dnp.sum(dnp.cosh(t)))(x),
                               np.diag(np.cosh(x)), rtol=RTOL)
    np.testing.assert_allclose(dnp.cosh(np.array([0.0, 1e-5, 3.0, 710.4])),
                               np.cosh([0.0, 1e-5, 3.0, 710.4]), rtol=4e-16)


# 6. Contractions: einsum, tensordot, dot of any rank, matmul, outer, inner, kron.

EINSUM_SPECS = ["ij,jk->ik", "bij,bjk->bik", "i,j->ij", "ii->", "ij,ij->", "ij,jk,k->i",
                "iij,j->ij", "ij->ji", "bij,jk->bk", "...ij,...jk"]


@st.composite
def einsums(draw):
    spec = draw(st.sampled_from(EINSUM_SPECS))
    sizes = {label: draw(st.integers(1, 3)) for label in "bijk"}
    batch = tuple(draw(st.lists(st.integers(1, 2), max_size=2)))
    terms = spec.split("->")[0].split(",")
    shapes = [(batch if term.startswith("...") else ()) +
              tuple(sizes[label] for label in term.replace("...", "")) for term in terms]
    return (lambda *xs: dnp.einsum(spec, *xs)), [draw(arrays(shape)) for shape in shapes]


@st.composite
def tensordots(draw):
    """tensordot over a drawn count of trailing axes, or over drawn pairs of axes."""
    a = draw(arrays(hnp.array_shapes(min_dims=0, max_dims=3, max_side=3)))
    count = draw(st.integers(0, a.ndim))
    if draw(st.booleans()):
        tail = a.shape[a.ndim - count:]
        b = draw(arrays(tail + tuple(draw(st.lists(st.integers(1, 3), max_size=2)))))
        return (lambda x, y: dnp.tensordot(x, y, count)), [a, b]
    pairs = draw(st.permutations(range(a.ndim)))[:count]
    order = draw(st.permutations(range(count)))
    b = draw(arrays(tuple(a.shape[pairs[i]] for i in order)))
    axes = ([pairs[i] for i in order], list(range(count)))
    return (lambda x, y: dnp.tensordot(x, y, axes)), [a, b]


@st.composite
def dots(draw):
    """np.dot of any ranks: the last axis of a against the second-to-last of b (its only
    axis when 1-D), or a product with a scalar."""
    a = draw(arrays(hnp.array_shapes(min_dims=0, max_dims=3, max_side=3)))
    if not a.ndim:
        b = draw(arrays(SHAPES))
    else:
        k = a.shape[-1]
        b = draw(arrays(draw(st.sampled_from([(k,), (k, 2), (2, k, 3), (1, 2, k, 2)]))))
    return dnp.dot, [a, b]


@st.composite
def matmuls(draw):
    shapes = draw(hnp.mutually_broadcastable_shapes(signature=np.matmul.signature,
                                                    max_dims=3, max_side=3))
    return dnp.matmul, [draw(arrays(shape)) for shape in shapes.input_shapes]


@st.composite
def products(draw, name):
    shapes = draw(PAIRS).input_shapes
    if name == "inner":
        last = draw(st.integers(1, 3))
        shapes = [shape + (last,) for shape in shapes]
    return getattr(dnp, name), [draw(arrays(shape)) for shape in shapes]


CONTRACTIONS = {
    "einsum": einsums(), "tensordot": tensordots(), "dot": dots(), "matmul": matmuls(),
    "outer": products("outer"), "inner": products("inner"), "kron": products("kron"),
}


@pytest.mark.parametrize("name", sorted(CONTRACTIONS))
@settings(max_examples=25)
@given(data=st.data(), seed=SEEDS)
def test_contractions(name, data, seed):
    check(*data.draw(CONTRACTIONS[name]), seed)
