"""The composites of ``difflab.numpy`` (difflab/numpy/composites.py), checked against truths
that do not share their code:

- values: NumPy's own function of the same name on random shapes, broadcasting, axes,
  keepdims and parameters (Hypothesis);
- number systems: the same function on mpmath and SymPy numbers agrees with float64;
- gradients and Hessians: ``ad``, ``symbolic``, ``fd-central`` and ``complex-step`` through
  the differentiator interface against ``difflab.reference`` (mpmath, 50 digits), within each
  method's own table tolerance; forward mode (jvp) against reverse mode (vjp);
- cost: einsum and tensordot contract through one matmul and never build a value larger than
  their operands or result.
"""

import functools

import hypothesis.extra.numpy as hnp
import hypothesis.strategies as st
import mpmath
import numpy as np
import pytest
import sympy
from hypothesis import given, settings

import difflab
import difflab.numpy as dnp
from difflab import ad, reference
from difflab.errors import DiffLabError, ShapeError, UnsupportedOperationError
from difflab.numpy import composites

# float64 composites against NumPy: each composite is a handful of correctly rounded steps
# on well-conditioned inputs, so its error is a few ulps; 1e-13 is ~450 ulps, far below any
# wrong formula, with an absolute floor for results that are (nearly) zero.
RTOL, ATOL = 1e-13, 1e-300


def floats(lo, hi):
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False, allow_subnormal=False)


def arrays(shape, lo=-5.0, hi=5.0):
    return hnp.arrays(np.float64, shape, elements=floats(lo, hi))


SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4)
NONEMPTY = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4)


def close(got, expected, rtol=RTOL, atol=ATOL):
    if isinstance(expected, (list, tuple)):
        assert isinstance(got, (list, tuple)) and len(got) == len(expected)
        for g, e in zip(got, expected):
            close(g, e, rtol, atol)
        return
    assert np.shape(got) == np.shape(expected)
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol)


def test_all_names_every_composite_in_dnp_and_in_the_docstring_table():
    for name in composites.__all__:
        assert getattr(dnp, name) is getattr(composites, name), name
        assert name in composites.__doc__, f"{name} is missing from the module's table"
    assert dnp.linalg.norm is dnp.norm


# 1. Values against NumPy.

UNARY = {  # domain of each element-wise composite (wide where the formula has branches)
    "tan": (-1.5, 1.5), "sinh": (-700, 700), "cosh": (-700, 700), "arcsinh": (-1e200, 1e200),
    "arccosh": (1, 1e200), "arctanh": (-0.999, 0.999), "exp2": (-1000, 1000),
    "log2": (1e-300, 1e300), "log10": (1e-300, 1e300), "reciprocal": (0.1, 1e10),
    "absolute": (-10, 10), "fabs": (-10, 10), "deg2rad": (-1e3, 1e3), "radians": (-1e3, 1e3),
    "rad2deg": (-10, 10), "degrees": (-10, 10),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@settings(max_examples=30)
@given(data=st.data())
def test_elementwise_values_match_numpy(name, data):
    lo, hi = UNARY[name]
    small = floats(-1e-8, 1e-8) if lo < 0 else floats(lo, lo * (1 + 1e-8) + 1e-300)
    x = data.draw(hnp.arrays(np.float64, SHAPES, elements=st.one_of(floats(lo, hi), small)))
    close(getattr(dnp, name)(x), getattr(np, name)(x))


def test_hyperbolic_inverses_keep_tiny_and_huge_arguments():
    x = np.array([-1e300, -1e5, -1.0, -1e-300, 0.0, 1e-20, 0.5, 1.0, 3.0, 1e160, 1e300])
    close(dnp.arcsinh(x), np.arcsinh(x))
    y = np.array([1.0, 1 + 2.0**-52, 1 + 1e-10, 1.5, 2.0, 1e5, 1e160, 1e300])
    close(dnp.arccosh(y), np.arccosh(y))
    z = np.array([-1e-300, -1e-12, 0.0, 1e-12, 0.5, 0.999999])
    close(dnp.arctanh(z), np.arctanh(z))
    close(dnp.sinh(np.array([1e-300, -1e-10, 1e-5])), np.sinh([1e-300, -1e-10, 1e-5]))
    big, tiny = np.array([3e300, -4e300, 0.0, 1e-310]), np.array([4e-300, 3e-300, 0.0, 1e-310])
    close(dnp.hypot(big, big[::-1]), np.hypot(big, big[::-1]))
    close(dnp.hypot(tiny, tiny[::-1]), np.hypot(tiny, tiny[::-1]))


@pytest.mark.parametrize("name,second", [("hypot", (-1e100, 1e100)), ("true_divide", (0.5, 9))])
@settings(max_examples=30)
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=4),
       data=st.data())
def test_binary_values_broadcast_as_numpy(name, second, shapes, data):
    a = data.draw(arrays(shapes.input_shapes[0], -1e100, 1e100))
    b = data.draw(arrays(shapes.input_shapes[1], *second))
    close(getattr(dnp, name)(a, b), getattr(np, name)(a, b))


@settings(max_examples=30)
@given(x=arrays(SHAPES, -30, 30))
def test_silu_and_softsign_are_their_definitions(x):
    close(dnp.silu(x), x / (1 + np.exp(-x)))
    close(dnp.softsign(x), x / (1 + np.abs(x)))


def axes_of(ndim):
    options = [st.none()]
    if ndim:
        options += [hnp.valid_tuple_axes(ndim, min_size=1), st.integers(-ndim, ndim - 1)]
    return st.one_of(*options)


@settings(max_examples=60)
@given(shape=NONEMPTY, data=st.data())
def test_var_std_amax_amin_match_numpy_over_axes(shape, data):
    x = data.draw(arrays(shape))
    axis = data.draw(axes_of(len(shape)))
    keepdims = data.draw(st.booleans())
    count = x.size // np.max(np.sum(x, axis=axis, keepdims=True).size, initial=1)
    ddof = data.draw(st.integers(0, max(count - 1, 0)))
    for name in ("var", "std"):
        close(getattr(dnp, name)(x, axis=axis, ddof=ddof, keepdims=keepdims),
              getattr(np, name)(x, axis=axis, ddof=ddof, keepdims=keepdims), atol=1e-15)
    for name in ("amax", "amin"):
        close(getattr(dnp, name)(x, axis, keepdims=keepdims),
              getattr(np, name)(x, axis, keepdims=keepdims))


def test_var_refuses_ddof_that_leaves_no_degrees_of_freedom():
    with pytest.raises(ShapeError, match="ddof"):
        dnp.var(np.ones((2, 3)), axis=1, ddof=3)
    with pytest.raises(UnsupportedOperationError, match="out="):
        dnp.var(np.ones(3), out=np.empty(()))


@settings(max_examples=40)
@given(shape=NONEMPTY, data=st.data())
def test_average_with_weights_matches_numpy(shape, data):
    x = data.draw(arrays(shape))
    axis = data.draw(st.none() | st.integers(-len(shape), len(shape) - 1))
    if axis is None or data.draw(st.booleans()):
        weights = data.draw(arrays(shape, 0.1, 2))
    else:
        weights = data.draw(arrays((shape[axis],), 0.1, 2))
    returned = data.draw(st.booleans())
    close(dnp.average(x, axis, weights, returned), np.average(x, axis, weights, returned))
    close(dnp.average(x, axis), np.average(x, axis))


def test_average_refuses_weights_that_sum_to_zero_and_misplaced_weights():
    with pytest.raises(ShapeError, match="sum to zero"):
        dnp.average(np.ones(2), weights=np.array([1.0, -1.0]))
    with pytest.raises(ShapeError, match="axis"):
        dnp.average(np.ones((2, 3)), weights=np.ones(3))


VECTOR_ORDS = [None, 1, 2, np.inf, -np.inf, 0, 3, 0.5]
MATRIX_ORDS = [None, "fro", 1, -1, np.inf, -np.inf]


@settings(max_examples=40)
@given(shape=NONEMPTY, data=st.data())
def test_norm_matches_numpy_linalg_norm(shape, data):
    x = data.draw(arrays(shape))
    keepdims = data.draw(st.booleans())
    ndim = len(shape)
    axis = data.draw(st.integers(-ndim, ndim - 1))
    ord_ = data.draw(st.sampled_from(VECTOR_ORDS))
    close(dnp.linalg.norm(x, ord_, axis, keepdims), np.linalg.norm(x, ord_, axis, keepdims))
    close(dnp.norm(x, keepdims=keepdims), np.linalg.norm(x, keepdims=keepdims))
    if ndim >= 2:
        pair = tuple(data.draw(st.permutations(range(ndim)))[:2])
        ord_ = data.draw(st.sampled_from(MATRIX_ORDS))
        close(dnp.norm(x, ord_, pair, keepdims), np.linalg.norm(x, ord_, pair, keepdims))


def test_matrix_norms_from_singular_values_match_numpy():
    a = np.array([[3.0, 1.0, -2.0], [0.5, -1.0, 4.0]])
    for ord_ in (2, -2, "nuc"):
        np.testing.assert_allclose(dnp.norm(a, ord_), np.linalg.norm(a, ord_), rtol=1e-14)


@settings(max_examples=60)
@given(x=arrays(NONEMPTY), data=st.data())
def test_axis_permutations_match_numpy(x, data):
    ndim = x.ndim
    a, b = data.draw(st.integers(-ndim, ndim - 1)), data.draw(st.integers(-ndim, ndim - 1))
    close(dnp.swapaxes(x, a, b), np.swapaxes(x, a, b))
    start = data.draw(st.integers(-ndim, ndim))
    close(dnp.rollaxis(x, a, start), np.rollaxis(x, a, start))
    count = data.draw(st.integers(1, ndim))
    source = data.draw(st.permutations(range(ndim)))[:count]
    destination = data.draw(st.permutations(range(-ndim, 0)))[:count]
    close(dnp.moveaxis(x, source, destination), np.moveaxis(x, source, destination))


@settings(max_examples=60)
@given(x=arrays(SHAPES), data=st.data())
def test_reshaping_and_reordering_match_numpy(x, data):
    for name in ("atleast_1d", "atleast_2d", "atleast_3d"):
        close(getattr(dnp, name)(x), getattr(np, name)(x))
        close(getattr(dnp, name)(x, x), getattr(np, name)(x, x))
    reps = tuple(data.draw(st.lists(st.integers(1, 3), min_size=1, max_size=4)))
    close(dnp.tile(x, reps), np.tile(x, reps))
    axis = data.draw(st.none() | st.integers(-x.ndim, x.ndim - 1)) if x.ndim else None
    n = x.size if axis is None else x.shape[axis]
    repeats = data.draw(st.integers(0, 3) | st.lists(st.integers(0, 3), min_size=n, max_size=n))
    close(dnp.repeat(x, repeats, axis), np.repeat(x, repeats, axis))
    flip_axes = data.draw(axes_of(x.ndim))
    close(dnp.flip(x, flip_axes), np.flip(x, flip_axes))
    shift = data.draw(st.integers(-7, 7))
    close(dnp.roll(x, shift, axis), np.roll(x, shift, axis))
    pairs = st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2)), min_size=x.ndim,
                     max_size=x.ndim)
    widths = data.draw(st.integers(0, 2) | pairs if x.ndim else st.integers(0, 2))
    value = data.draw(floats(-3, 3))
    if x.ndim:  # NumPy's pad refuses 0-d arrays
        close(dnp.pad(x, widths, constant_values=value), np.pad(x, widths, constant_values=value))


@settings(max_examples=60)
@given(x=arrays(NONEMPTY), data=st.data())
def test_split_and_stack_families_match_numpy(x, data):
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1))
    n = x.shape[axis]
    sections = data.draw(st.integers(1, n + 2))
    close(dnp.array_split(x, sections, axis), np.array_split(x, sections, axis))
    cuts = sorted(data.draw(st.lists(st.integers(-n - 1, n + 1), max_size=3)))
    close(dnp.split(x, cuts, axis), np.split(x, cuts, axis))
    divisor = data.draw(st.sampled_from([d for d in range(1, n + 1) if n % d == 0]))
    close(dnp.split(x, divisor, axis), np.split(x, divisor, axis))
    for name, min_ndim in (("hsplit", 1), ("vsplit", 2), ("dsplit", 3)):
        if x.ndim >= min_ndim:
            close(getattr(dnp, name)(x, [1]), getattr(np, name)(x, [1]))
    y = x * 2
    for name in ("vstack", "hstack", "dstack", "column_stack"):
        if name != "column_stack" or x.ndim <= 2:
            close(getattr(dnp, name)([x, y]), getattr(np, name)([x, y]))
    close(dnp.row_stack([x, y]), np.vstack([x, y]))


def test_split_refuses_uneven_sections():
    with pytest.raises(ShapeError, match="array_split"):
        dnp.split(np.ones(5), 2)


@settings(max_examples=60)
@given(shape=hnp.array_shapes(min_dims=2, max_dims=4, max_side=4), data=st.data())
def test_diagonals_and_triangles_match_numpy(shape, data):
    x = data.draw(arrays(shape))
    ndim = len(shape)
    k = data.draw(st.integers(-4, 4))
    first = data.draw(st.integers(-ndim, ndim - 1))
    second = data.draw(st.sampled_from([a for a in range(-ndim, ndim) if (a - first) % ndim]))
    close(dnp.diagonal(x, k, first, second), np.diagonal(x, k, first, second))
    close(dnp.trace(x, k, first, second), np.trace(x, k, first, second))
    close(dnp.tril(x, k), np.tril(x, k))
    close(dnp.triu(x, k), np.triu(x, k))
    v = x.reshape(-1)[:shape[-1]]
    close(dnp.diag(v, k), np.diag(v, k))
    close(dnp.diag(x[..., 0, :, :] if ndim > 2 else x, k) if ndim == 2 else dnp.diag(x[0, 0], k),
          np.diag(x, k) if ndim == 2 else np.diag(x[0, 0], k))
    close(dnp.tril(v, k), np.tril(v, k))


@pytest.mark.filterwarnings("ignore:Arrays of 2-dimensional vectors:DeprecationWarning")
@settings(max_examples=60)
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, min_side=1,
                                                max_side=3), data=st.data())
def test_products_match_numpy(shapes, data):
    a = data.draw(arrays(shapes.input_shapes[0]))
    b = data.draw(arrays(shapes.input_shapes[1]))
    close(dnp.outer(a, b), np.outer(a, b))
    close(dnp.kron(a, b), np.kron(a, b))
    last = data.draw(st.integers(1, 3))
    c = data.draw(arrays(shapes.input_shapes[0] + (last,)))
    d = data.draw(arrays(shapes.input_shapes[1] + (last,)))
    close(dnp.inner(c, d), np.inner(c, d), atol=1e-13)
    close(dnp.inner(a, 2.0), np.inner(a, 2.0))
    u = data.draw(arrays(shapes.input_shapes[0] + (3,)))
    v = data.draw(arrays(shapes.input_shapes[1] + (data.draw(st.sampled_from([2, 3])),)))
    close(dnp.cross(u, v), np.cross(u, v), atol=1e-13)
    close(dnp.cross(np.moveaxis(u, -1, 0), v, axisa=0, axisc=0),
          np.cross(np.moveaxis(u, -1, 0), v, axisa=0, axisc=0), atol=1e-13)


@settings(max_examples=60)
@given(x=arrays(NONEMPTY), data=st.data())
def test_gathers_match_numpy(x, data):
    axis = data.draw(st.none() | st.integers(-x.ndim, x.ndim - 1))
    n = x.size if axis is None else x.shape[axis]
    index = data.draw(hnp.arrays(np.int64, hnp.array_shapes(min_dims=0, max_dims=2, max_side=3),
                                 elements=st.integers(-n, n - 1)))
    close(dnp.take(x, index, axis), np.take(x, index, axis))
    wild = index * 3 + 1
    for mode in ("wrap", "clip"):
        close(dnp.take(x, wild, axis, mode=mode), np.take(x, wild, axis, mode=mode))
    if axis is not None:
        shape = list(x.shape)
        shape[axis] = data.draw(st.integers(1, 4))
        along = data.draw(hnp.arrays(np.int64, tuple(shape), elements=st.integers(0, n - 1)))
        close(dnp.take_along_axis(x, along, axis), np.take_along_axis(x, along, axis))
    kth = data.draw(st.integers(-n, n - 1))
    parted, numpys = dnp.partition(x, kth, axis), np.partition(x, kth, axis)
    np.testing.assert_array_equal(np.take(parted, kth, axis if axis is not None else 0),
                                  np.take(numpys, kth, axis if axis is not None else 0))
    np.testing.assert_array_equal(np.sort(parted, axis), np.sort(numpys, axis))
    with pytest.raises(ShapeError, match="out of bounds"):
        dnp.partition(x, n, axis)


def test_take_refuses_indices_out_of_bounds():
    with pytest.raises(ShapeError, match="out of bounds"):
        dnp.take(np.ones(3), [3])


@st.composite
def einsum_problems(draw):
    """Random subscripts over labels 'abcd' (repeats on one operand included), 1 to 3
    operands, an implicit or explicit output, and arrays of matching sizes (some 1s)."""
    sizes = {label: draw(st.integers(1, 3)) for label in "abcd"}
    count = draw(st.integers(1, 3))
    terms = [draw(st.lists(st.sampled_from("abcd"), max_size=3)) for _ in range(count)]
    used = sorted({label for term in terms for label in term})
    spec = ",".join("".join(term) for term in terms)
    if draw(st.booleans()):
        spec += "->" + "".join(draw(st.permutations(used))[:draw(st.integers(0, len(used)))])
    operands = [draw(arrays(tuple(sizes[label] for label in term))) for term in terms]
    return spec, operands


@settings(max_examples=150)
@given(problem=einsum_problems(), optimize=st.sampled_from([False, "greedy", "optimal"]))
def test_einsum_matches_numpy(problem, optimize):
    spec, operands = problem
    close(dnp.einsum(spec, *operands, optimize=optimize), np.einsum(spec, *operands),
          atol=1e-12)


ELLIPSIS_SPECS = [("...ij,...jk->...ik", (2, 3, 4), (4, 2)), ("...ij,...jk", (1, 3, 4), (5, 4, 2)),
                  ("...ii->...i", (2, 3, 3), None), ("i...,i...->...", (3, 2), (3, 1)),
                  ("bhqd,bhkd->bhqk", (2, 3, 4, 5), (2, 3, 6, 5)), ("...", (2, 3), None)]


@pytest.mark.parametrize("spec,first,second", ELLIPSIS_SPECS)
def test_einsum_broadcasts_ellipsis_as_numpy(spec, first, second):
    rng = np.random.default_rng(0)
    operands = [rng.normal(size=s) for s in (first, second) if s is not None]
    close(dnp.einsum(spec, *operands), np.einsum(spec, *operands), atol=1e-14)


@pytest.mark.parametrize("spec,shapes,match", [
    ("ij,jk->ik", [(2, 3), (4, 2)], "sizes"), ("ij->k", [(2, 2)], "appears in no operand"),
    ("ij", [(2, 2, 2)], "labels"), ("i,j", [(2,)], "operands"), ("ij->ii", [(2, 2)], "repeats"),
    ("i1", [(2, 2)], "letters"), ("...i->i", [(2, 2)], "no '...'"),
])
def test_einsum_errors_name_the_problem(spec, shapes, match):
    with pytest.raises(ShapeError, match=match):
        dnp.einsum(spec, *[np.ones(s) for s in shapes])


@settings(max_examples=60)
@given(a=arrays(hnp.array_shapes(min_dims=0, max_dims=3, max_side=3)), data=st.data())
def test_tensordot_and_any_rank_dot_match_numpy(a, data):
    count = data.draw(st.integers(0, a.ndim))
    tail = a.shape[a.ndim - count:]
    b = data.draw(arrays(tail + tuple(data.draw(st.lists(st.integers(1, 3), max_size=2)))))
    close(dnp.tensordot(a, b, count), np.tensordot(a, b, count), atol=1e-13)
    pairs = data.draw(st.permutations(range(a.ndim)))[:count]
    c = data.draw(arrays(tuple(a.shape[i] for i in pairs)))
    axes = (list(pairs), list(range(count)))
    close(dnp.tensordot(a, c, axes), np.tensordot(a, c, axes), atol=1e-13)
    if a.ndim:
        k = a.shape[-1]
        d = data.draw(arrays(data.draw(st.sampled_from([(k,), (k, 2), (2, k, 3), (1, 2, k, 2)]))))
        close(dnp.dot(a, d), np.dot(a, d), atol=1e-13)


# 2. The same values in mpmath and SymPy: every composite is written in primitives, so it runs
# in every number system.

def mp_array(x):
    out = np.empty(np.shape(x), dtype=object)
    for index in np.ndindex(out.shape):
        out[index] = mpmath.mpf(float(x[index]))
    return out


def sympy_array(x):
    out = np.empty(np.shape(x), dtype=object)
    for index in np.ndindex(out.shape):
        out[index] = sympy.Float(float(x[index]), 30)
    return out


def as_floats(value):
    if isinstance(value, (list, tuple)):
        return [as_floats(v) for v in value]
    value = np.asarray(value, dtype=object)
    return np.vectorize(float, otypes=[float])(value) if value.size else value.astype(float)


# Each case: (function of the operands, operand shapes, domain of each operand).
W = (-2.0, 2.0)
CASES = {
    "tan": (dnp.tan, [(2, 3)], [(-1.2, 1.2)]),
    "sinh": (dnp.sinh, [(2, 3)], [W]),
    "cosh": (dnp.cosh, [(2, 3)], [W]),
    "arcsinh": (dnp.arcsinh, [(2, 3)], [(-4, 4)]),
    "arccosh": (dnp.arccosh, [(2, 3)], [(1.2, 4)]),
    "arctanh": (dnp.arctanh, [(2, 3)], [(-0.9, 0.9)]),
    "exp2": (dnp.exp2, [(2, 3)], [W]),
    "log2": (dnp.log2, [(2, 3)], [(0.2, 4)]),
    "log10": (dnp.log10, [(2, 3)], [(0.2, 4)]),
    "hypot": (dnp.hypot, [(2, 3), (3,)], [W, (0.5, 2)]),
    "hypot at a tie": (lambda x: dnp.hypot(x, -x), [(3,)], [W]),
    "reciprocal": (dnp.reciprocal, [(2, 3)], [(0.5, 3)]),
    "absolute": (dnp.absolute, [(2, 3)], [(0.5, 3)]),
    "fabs": (dnp.fabs, [(2, 3)], [(-3, -0.5)]),
    "true_divide": (dnp.true_divide, [(2, 3), (1, 3)], [W, (0.5, 3)]),
    "deg2rad": (dnp.deg2rad, [(3,)], [W]), "radians": (dnp.radians, [(3,)], [W]),
    "rad2deg": (dnp.rad2deg, [(3,)], [W]), "degrees": (dnp.degrees, [(3,)], [W]),
    "silu": (dnp.silu, [(2, 3)], [(-4, 4)]),
    "softsign": (dnp.softsign, [(2, 3)], [(-4, 4)]),
    "var": (lambda x: dnp.var(x, axis=1, ddof=1, keepdims=True), [(2, 3)], [W]),
    "var all": (dnp.var, [(2, 3)], [W]),
    "std": (lambda x: dnp.std(x, axis=0), [(3, 2)], [W]),
    "average": (lambda x, w: dnp.average(x, 1, w), [(2, 3), (3,)], [W, (0.5, 2)]),
    "average returned": (lambda x: dnp.average(x, 0, np.array([1.0, 2.0]), True)[0],
                         [(2, 3)], [W]),
    "amax": (lambda x: dnp.amax(x, axis=1), [(2, 3)], [W]),
    "amin": (lambda x: dnp.amin(x, axis=(0, 1), keepdims=True), [(2, 3)], [W]),
    "norm 2": (lambda x: dnp.norm(x, axis=1), [(2, 3)], [W]),
    "norm 1": (lambda x: dnp.norm(x, 1), [(4,)], [(0.2, 2)]),
    "norm inf": (lambda x: dnp.norm(x, np.inf), [(4,)], [W]),
    "norm 3": (lambda x: dnp.norm(x, 3), [(4,)], [(0.2, 2)]),
    "norm fro": (lambda x: dnp.linalg.norm(x, "fro"), [(2, 3)], [W]),
    "norm matrix 1": (lambda x: dnp.norm(x, 1), [(3, 3)], [(0.2, 2)]),
    "norm matrix inf": (lambda x: dnp.norm(x, np.inf, axis=(1, 0)), [(3, 3)], [(-2, -0.2)]),
    "swapaxes": (lambda x: dnp.swapaxes(x, 0, 2), [(2, 3, 2)], [W]),
    "moveaxis": (lambda x: dnp.moveaxis(x, 0, -1), [(2, 3, 2)], [W]),
    "rollaxis": (lambda x: dnp.rollaxis(x, 2, 0), [(2, 3, 2)], [W]),
    "atleast_1d": (dnp.atleast_1d, [()], [W]),
    "atleast_2d": (dnp.atleast_2d, [(3,)], [W]),
    "atleast_3d": (dnp.atleast_3d, [(2, 3)], [W]),
    "tile": (lambda x: dnp.tile(x, (2, 1, 2)), [(2, 3)], [W]),
    "repeat": (lambda x: dnp.repeat(x, [1, 2, 0], axis=1), [(2, 3)], [W]),
    "pad": (lambda x: dnp.pad(x, ((1, 0), (2, 1)), constant_values=0.5), [(2, 3)], [W]),
    "flip": (lambda x: dnp.flip(x, 1), [(2, 3)], [W]),
    "roll": (lambda x: dnp.roll(x, (1, -1), (0, 1)), [(2, 3)], [W]),
    "split": (lambda x: dnp.split(x, [1], axis=1), [(2, 3)], [W]),
    "array_split": (lambda x: dnp.array_split(x, 2, axis=1), [(2, 3)], [W]),
    "hsplit": (lambda x: dnp.hsplit(x, 3), [(2, 3)], [W]),
    "vsplit": (lambda x: dnp.vsplit(x, 2), [(2, 3)], [W]),
    "dsplit": (lambda x: dnp.dsplit(x, [1]), [(1, 2, 3)], [W]),
    "vstack": (lambda a, b: dnp.vstack([a, b]), [(3,), (2, 3)], [W, W]),
    "hstack": (lambda a, b: dnp.hstack([a, b]), [(2,), (3,)], [W, W]),
    "dstack": (lambda a, b: dnp.dstack([a, b]), [(2, 2), (2, 2)], [W, W]),
    "column_stack": (lambda a, b: dnp.column_stack([a, b]), [(2,), (2, 2)], [W, W]),
    "row_stack": (lambda a, b: dnp.row_stack([a, b]), [(2,), (2,)], [W, W]),
    "diag": (lambda v: dnp.diag(v, 1), [(3,)], [W]),
    "diag of matrix": (lambda x: dnp.diag(x, -1), [(3, 3)], [W]),
    "diagonal": (lambda x: dnp.diagonal(x, 1, 2, 0), [(3, 2, 3)], [W]),
    "trace": (dnp.trace, [(3, 3)], [W]),
    "tril": (dnp.tril, [(3, 3)], [W]),
    "triu": (lambda x: dnp.triu(x, 1), [(2, 3, 3)], [W]),
    "outer": (dnp.outer, [(3,), (2,)], [W, W]),
    "inner": (dnp.inner, [(2, 3), (3,)], [W, W]),
    "kron": (dnp.kron, [(2, 2), (2, 3)], [W, W]),
    "cross": (dnp.cross, [(2, 3), (3,)], [W, W]),
    "cross of 2-vectors": (dnp.cross, [(2, 2), (2,)], [W, W]),
    "take": (lambda x: dnp.take(x, np.array([[0, 2], [2, 2]]), axis=1), [(2, 3)], [W]),
    "take_along_axis": (lambda x: dnp.take_along_axis(x, np.array([[0, 2], [1, 1]]), 1),
                        [(2, 3)], [W]),
    "einsum matmul": (lambda a, b: dnp.einsum("ij,jk->ik", a, b), [(2, 3), (3, 2)], [W, W]),
    "einsum trace": (lambda a: dnp.einsum("ii", a), [(3, 3)], [W]),
    "einsum batch": (lambda a, b: dnp.einsum("bij,bjk->bik", a, b), [(2, 2, 3), (2, 3, 2)],
                     [W, W]),
    "einsum three": (lambda a, b, c: dnp.einsum("ij,jk,k->i", a, b, c),
                     [(2, 3), (3, 2), (2,)], [W, W, W]),
    "einsum diagonal": (lambda a, b: dnp.einsum("iij,j->ij", a, b), [(2, 2, 3), (3,)], [W, W]),
    "einsum ellipsis": (lambda a, b: dnp.einsum("...ij,...jk", a, b), [(2, 2, 3), (3, 2)],
                        [W, W]),
    "tensordot": (lambda a, b: dnp.tensordot(a, b, ([0, 2], [1, 0])), [(2, 3, 2), (2, 2)],
                  [W, W]),
    "dot any rank": (dnp.dot, [(2, 3), (2, 3, 2)], [W, W]),
    "partition": (lambda x: dnp.partition(x, [0, 2], axis=0), [(3, 2)], [W]),
}


def operands_of(case, seed):
    _, shapes, domains = CASES[case]
    rng = np.random.default_rng(seed)
    return [rng.uniform(lo, hi, size=shape) for shape, (lo, hi) in zip(shapes, domains)]


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_number_system_gives_the_float_values(case):
    fn = CASES[case][0]
    operands = operands_of(case, 0)
    expected = as_floats(fn(*operands))
    with mpmath.workdps(30):
        precise = as_floats(fn(*[mp_array(x) for x in operands]))
    symbolic = as_floats(fn(*[sympy_array(x) for x in operands]))
    close(precise, expected, rtol=1e-13, atol=1e-15)
    close(symbolic, expected, rtol=1e-13, atol=1e-15)


# 3. Gradients under every differentiator against the 50-digit reference.

def scalarized(case):
    """f(θ) = Σ fn(operands unravelled from θ) · fixed random weights (one per output)."""
    fn, shapes, _ = CASES[case]
    sizes = [int(np.prod(shape, dtype=int)) for shape in shapes]
    starts = np.cumsum([0] + sizes)

    def f(theta):
        operands = [dnp.reshape(theta[start:start + size], shape)
                    for start, size, shape in zip(starts, sizes, shapes)]
        out = fn(*operands)
        pieces = out if isinstance(out, (list, tuple)) else [out]
        total = 0.0
        for k, piece in enumerate(pieces):
            weights = np.random.default_rng(100 + k).normal(size=dnp.shape_of(piece))
            total = total + dnp.sum(piece * weights)
        return total
    return f


METHODS = ["ad", "symbolic", "fd-central", "complex-step"]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_gradient_agrees_with_the_reference(case, method):
    f = scalarized(case)
    theta = np.concatenate([x.reshape(-1) for x in operands_of(case, 1)])
    differentiator = difflab.differentiator(method)
    if method == "symbolic" and case == "partition":   # its order needs values symbols lack
        with pytest.raises(UnsupportedOperationError, match="argpartition of SymPy"):
            differentiator.gradient(f, theta)
        return
    truth = reference.gradient(f, theta)
    got = differentiator.gradient(f, theta)
    error = reference.relative_error(got, truth)
    assert error <= differentiator.tolerance("gradient"), \
        f"{case} under {method}: relative error {error:.2e}"


# Second derivatives where they exist and are not identically zero (linear composites have a
# zero Hessian, against which a relative error means nothing). The larger contractions (14 to
# 18 parameters: the reference's Hessian costs n² evaluations) run in the slow suite.
LARGE = ["einsum three", "einsum diagonal", "tensordot", "dot any rank"]
HESSIAN_CASES = ["tan", "sinh", "cosh", "arcsinh", "arccosh", "arctanh", "exp2", "log2",
                 "log10", "hypot", "reciprocal", "silu", "softsign", "var", "std", "average",
                 "norm 2", "norm 3", "norm fro", "outer", "inner", "kron", "cross",
                 "einsum matmul"] + [pytest.param(case, marks=pytest.mark.slow) for case in LARGE]


@functools.cache
def reference_hessian(case):
    theta = np.concatenate([x.reshape(-1) for x in operands_of(case, 3)])
    return theta, reference.hessian(scalarized(case), theta)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("case", HESSIAN_CASES)
def test_hessian_agrees_with_the_reference(case, method):
    theta, truth = reference_hessian(case)
    differentiator = difflab.differentiator(method)
    error = reference.relative_error(differentiator.hessian(scalarized(case), theta), truth)
    assert error <= differentiator.tolerance("hessian"), \
        f"{case} under {method}: relative error {error:.2e}"


JVP_CASES = ["arcsinh", "arccosh", "var", "norm matrix 1", "pad", "roll", "kron", "cross",
             "take_along_axis", "einsum three", "einsum diagonal", "tensordot", "dot any rank",
             "diag", "tile", "average"]


@pytest.mark.parametrize("case", JVP_CASES)
@settings(max_examples=5)
@given(seed=st.integers(0, 2**32 - 1))
def test_forward_mode_agrees_with_reverse_mode(case, seed):
    """uᵀ(J v) from one jvp equals (uᵀJ) v from one vjp, for random u and v."""
    fn = CASES[case][0]
    operands = operands_of(case, 2)
    rng = np.random.default_rng(seed)
    tangents = [rng.normal(size=x.shape) for x in operands]
    value, forward = ad.jvp(fn, operands, tangents)
    _, pullback = ad.vjp(fn, *operands)
    u = rng.normal(size=np.shape(value))
    reverse = pullback(u)
    left = np.sum(u * forward)
    right = sum(np.sum(r * t) for r, t in zip(reverse, tangents))
    assert left == pytest.approx(right, rel=1e-12, abs=1e-12)


# 4. Contractions cost one matmul, never a broadcast product.

@pytest.mark.parametrize("spec,shapes", [
    ("bij,bjk->bik", [(4, 5, 6), (4, 6, 7)]), ("ij,jk->ik", [(5, 6), (6, 7)]),
    ("bhqd,bhkd->bhqk", [(2, 3, 4, 5), (2, 3, 6, 5)]), ("ij,kj->ik", [(5, 6), (7, 6)]),
    ("i,i->", [(6,), (6,)]), ("ijk,kj->i", [(4, 5, 6), (6, 5)]),
])
def test_einsum_contracts_through_one_matmul(spec, shapes):
    rng = np.random.default_rng(0)
    operands = [rng.normal(size=s) for s in shapes]
    tape = ad.trace(lambda *xs: dnp.einsum(spec, *xs), *operands)
    assert tape.operations["matmul"] == 1
    assert {"multiply", "broadcast_to"}.isdisjoint(tape.operations), tape.operations
    largest = max([x.size for x in operands] + [np.einsum(spec, *operands).size])
    assert tape.largest_value <= largest


def test_bmm_einsum_is_the_matmul_itself():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(3, 4, 5)), rng.normal(size=(3, 5, 2))
    tape = ad.trace(lambda x, y: dnp.einsum("bij,bjk->bik", x, y), a, b)
    assert tape.nodes == 3 and tape.operations == {"matmul": 1}


def test_tensordot_contracts_through_one_matmul():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(3, 4, 5)), rng.normal(size=(5, 4, 2))
    tape = ad.trace(lambda x, y: dnp.tensordot(x, y, ([1, 2], [1, 0])), a, b)
    assert tape.operations["matmul"] == 1
    assert tape.largest_value <= a.size


def test_errors_are_difflab_errors_naming_the_function():
    for call, name in [(lambda: dnp.swapaxes(np.ones(2), 0, 3), "swapaxes"),
                       (lambda: dnp.moveaxis(np.ones((2, 2)), [0, 1], [0]), "moveaxis"),
                       (lambda: dnp.pad(np.ones(2), 1, mode="reflect"), "pad"),
                       (lambda: dnp.diagonal(np.ones(2)), "diagonal"),
                       (lambda: dnp.cross(np.ones(4), np.ones(3)), "cross"),
                       (lambda: dnp.tensordot(np.ones(2), np.ones(3), 1), "tensordot"),
                       (lambda: dnp.vsplit(np.ones(2), 2), "vsplit"),
                       (lambda: dnp.norm(np.ones(2), "fro"), "norm")]:
        with pytest.raises(DiffLabError, match=f"dnp.{name}"):
            call()
