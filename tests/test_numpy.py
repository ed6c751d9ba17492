"""``difflab.numpy`` (dnp): one function, every number system.

What is checked, and against what:

- every primitive and composite computes the same values on float64 arrays, on object arrays
  of mpmath numbers and on object arrays of SymPy Floats (property tests, random shapes);
- the mpmath forms keep their working precision (closed forms evaluated in mpmath here);
- the float forms of sigmoid, softplus, logsumexp, log_softmax and softmax are accurate to a
  few ulps where the textbook formulas overflow or cancel (definitions evaluated in mpmath);
- float32 stays float32;
- complex inputs give complex-step derivatives equal to closed-form derivatives;
- errors name the operation, the types and the shapes; the registration hook sees every
  primitive; the SymPy forms encode the kink conventions.
"""

import warnings
from fractions import Fraction

import hypothesis.extra.numpy as hnp
import hypothesis.strategies as st
import mpmath
import numpy as np
import pytest
import sympy
from hypothesis import assume, given, settings

import difflab.numpy as dnp
from difflab.numpy import composites
from difflab.errors import NumberSystemMixError, ShapeError, UnsupportedOperationError

COMPOSITES = {"mean", "min", "softmax", "log_softmax", "prod", "cumprod", "round", "around",
              "remainder", "gelu", "elu", "selu"}
COVERED = set()


def covers(*names):
    """Record that the decorated test checks ``names`` across the number systems."""
    COVERED.update(names)
    return lambda test: test


# The same values in three number systems.

# Working precision of the mpmath and SymPy evaluations: the float64 inputs convert exactly,
# and 30 digits leave the high-precision results exact to far below float64's rounding, so
# any disagreement beyond float64's own error is a wrong formula, not rounding.
DIGITS = 30

# float64 against the 30-digit systems: float64 functions are accurate to a few ulps (~1e-15);
# 1e-12 leaves room for the error that sums, products and composites accumulate, and is still
# far below any formula error. The absolute floor is for results that cancel to (nearly) zero
# (sin near kπ, sums of mixed signs, x − logsumexp(x) at the max): there float64 keeps an
# absolute error of ~n·ε·max|term|, at most ~1e-13 with the bounded inputs drawn below,
# while a relative tolerance alone would demand more digits than float64 has.
RTOL, ATOL = 1e-12, 1e-12


def _each(fn, a):
    a = np.asarray(a, dtype=np.float64)
    out = np.empty(a.shape, dtype=object)
    for index in np.ndindex(a.shape):
        out[index] = fn(float(a[index]))
    return out


def to_mpmath(a):
    return _each(mpmath.mpf, a)


def to_sympy(a):
    return _each(lambda v: sympy.Float(v, DIGITS), a)


def as_floats(value):
    value = np.asarray(value, dtype=object)
    out = np.empty(value.shape)
    for index in np.ndindex(value.shape):
        out[index] = float(value[index])
    return out


def assert_entries_of(value, system):
    """Every entry is a number of ``system``: a float leaking in would lose the precision."""
    kind = {"mpmath": mpmath.mpf, "sympy": sympy.Basic}[system]
    for entry in np.asarray(value, dtype=object).flat:
        assert isinstance(entry, kind), f"{type(entry).__name__} entry in a {system} result"


def check_systems(fn, *operands, constant=False):
    """``fn`` of float64 operands agrees with ``fn`` of the same values in mpmath and SymPy.

    ``constant`` results (zeros_like, ...) are float constants in every system.
    """
    expected = fn(*operands)
    assert np.result_type(expected) == np.float64
    expected = np.asarray(expected)
    with mpmath.workdps(DIGITS):
        precise = fn(*[to_mpmath(a) for a in operands])
    symbolic = fn(*[to_sympy(a) for a in operands])
    for system, result in (("mpmath", precise), ("sympy", symbolic)):
        assert np.shape(result) == expected.shape, system
        if not constant:
            assert_entries_of(result, system)
        np.testing.assert_allclose(as_floats(result), expected, rtol=RTOL, atol=ATOL,
                                   err_msg=f"{system} disagrees with float64")


# Strategies: small shapes (0–3 dimensions of sizes 1–4), bounded values.

SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4)
NONEMPTY_SHAPES = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4)
PAIRS = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, min_side=1,
                                          max_side=4)
TRIPLES = hnp.mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=3, min_side=1,
                                            max_side=4)


def floats(lo, hi):
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False, allow_subnormal=False)


def with_ties(lo, hi):
    """Floats in [lo, hi] that often repeat exactly (ties at the kinks of max, clip, ...)."""
    middle = 0.0 if lo <= 0 <= hi else (lo + hi) / 2
    return st.one_of(st.sampled_from([lo, middle, hi]), floats(lo, hi))


def arrays(shape, elements, **kwargs):
    return hnp.arrays(np.float64, shape, elements=elements, **kwargs)


def axes(ndim):
    """None, one axis (negative ones too) or a tuple of distinct axes."""
    options = [st.none(), hnp.valid_tuple_axes(ndim)]
    if ndim:
        options.append(st.integers(-ndim, ndim - 1))
    return st.one_of(*options)


NONZERO = st.builds(lambda magnitude, sign: sign * magnitude, floats(0.1, 10),
                    st.sampled_from([-1.0, 1.0]))


# 1. Every primitive and composite agrees across float64, mpmath and SymPy.

UNARY = {  # the domain each function is drawn on
    "exp": (-20, 20), "log": (1e-3, 1e3), "log1p": (-0.9, 1e3), "sqrt": (0, 1e3),
    "square": (-100, 100), "sin": (-10, 10), "cos": (-10, 10), "tanh": (-20, 20),
    "sigmoid": (-50, 50), "softplus": (-30, 30), "relu": (-10, 10), "abs": (-10, 10),
    "negative": (-10, 10), "sign": (-10, 10),
}
covers(*UNARY)


@pytest.mark.parametrize("name", sorted(UNARY))
@settings(max_examples=60)
@given(data=st.data())
def test_unary_agrees_across_systems(name, data):
    lo, hi = UNARY[name]
    x = data.draw(arrays(SHAPES, with_ties(lo, hi)))
    check_systems(getattr(dnp, name), x)


@covers("leaky_relu")
@settings(max_examples=80)
@given(x=arrays(SHAPES, with_ties(-10, 10)), slope=st.none() | floats(0, 1))
def test_leaky_relu_agrees_across_systems(x, slope):
    if slope is None:
        check_systems(dnp.leaky_relu, x)
    else:
        check_systems(lambda v: dnp.leaky_relu(v, negative_slope=slope), x)


BINARY = {  # the domains of the two operands
    "add": (floats(-10, 10), floats(-10, 10)),
    "subtract": (with_ties(-10, 10), with_ties(-10, 10)),
    "multiply": (floats(-10, 10), floats(-10, 10)),
    "divide": (floats(-10, 10), NONZERO),
    "power": (floats(0.1, 10), floats(-3, 3)),
    "maximum": (with_ties(-10, 10), with_ties(-10, 10)),
    "minimum": (with_ties(-10, 10), with_ties(-10, 10)),
}
covers(*BINARY)


@pytest.mark.parametrize("name", sorted(BINARY))
@settings(max_examples=60)
@given(shapes=PAIRS, data=st.data())
def test_binary_agrees_across_systems_with_broadcasting(name, shapes, data):
    first, second = BINARY[name]
    a = data.draw(arrays(shapes.input_shapes[0], first))
    b = data.draw(arrays(shapes.input_shapes[1], second))
    check_systems(getattr(dnp, name), a, b)


@pytest.mark.parametrize("name", ["maximum", "minimum"])
@settings(max_examples=40)
@given(x=arrays(SHAPES, floats(-10, 10)))
def test_maximum_minimum_agree_at_exact_ties(name, x):
    check_systems(lambda a, b: getattr(dnp, name)(a, b), x, x.copy())


@settings(max_examples=60)
@given(base=arrays(SHAPES, floats(-10, 10)), exponent=st.integers(0, 4))
def test_power_with_integer_exponent_takes_negative_bases(base, exponent):
    check_systems(lambda b: dnp.power(b, exponent), base)


@covers("where")
@settings(max_examples=80)
@given(shapes=TRIPLES, data=st.data())
def test_where_agrees_across_systems(shapes, data):
    condition_shape, x_shape, y_shape = shapes.input_shapes
    condition = data.draw(hnp.arrays(np.bool_, condition_shape))
    x = data.draw(arrays(x_shape, floats(-10, 10)))
    y = data.draw(arrays(y_shape, floats(-10, 10)))
    check_systems(lambda a, b: dnp.where(condition, a, b), x, y)


@st.composite
def clip_bounds(draw):
    low = draw(floats(-5, 5))
    high = low + draw(floats(0, 5))
    return draw(st.sampled_from([(low, high), (low, None), (None, high)]))


@covers("clip")
@settings(max_examples=80)
@given(bounds=clip_bounds(), data=st.data())
def test_clip_agrees_across_systems(bounds, data):
    low, high = bounds
    at_bounds = st.sampled_from([b for b in bounds if b is not None])
    x = data.draw(arrays(SHAPES, st.one_of(at_bounds, floats(-10, 10))))
    check_systems(lambda v: dnp.clip(v, low, high), x)


REDUCTIONS = {
    "sum": floats(-10, 10), "mean": floats(-10, 10), "logsumexp": floats(-20, 20),
    "max": with_ties(-10, 10), "min": with_ties(-10, 10),
}
covers(*REDUCTIONS)


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
@settings(max_examples=80)
@given(shape=SHAPES, data=st.data())
def test_reductions_agree_across_systems(name, shape, data):
    x = data.draw(arrays(shape, REDUCTIONS[name]))
    axis = data.draw(axes(len(shape)))
    keepdims = data.draw(st.booleans())
    check_systems(lambda v: getattr(dnp, name)(v, axis=axis, keepdims=keepdims), x)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@settings(max_examples=80)
@given(shape=NONEMPTY_SHAPES, data=st.data())
def test_softmax_agrees_across_systems(name, shape, data):
    x = data.draw(arrays(shape, floats(-20, 20)))
    axis = data.draw(st.none() | st.integers(-len(shape), len(shape) - 1))
    check_systems(lambda v: getattr(dnp, name)(v, axis=axis), x)


covers("softmax", "log_softmax")


@covers("matmul")
@settings(max_examples=100)
@given(shapes=hnp.mutually_broadcastable_shapes(signature=np.matmul.signature, max_dims=1,
                                                min_side=1, max_side=4),
       data=st.data())
def test_matmul_agrees_across_systems_with_batch_broadcasting(shapes, data):
    a = data.draw(arrays(shapes.input_shapes[0], floats(-10, 10)))
    b = data.draw(arrays(shapes.input_shapes[1], floats(-10, 10)))
    check_systems(dnp.matmul, a, b)
    assert np.shape(dnp.matmul(a, b)) == shapes.result_shape


@st.composite
def dot_shapes(draw):
    """Shapes np.dot accepts: a scalar with anything, or (…, k) with (k,) or (…, k, m)."""
    side = st.integers(1, 4)
    k = draw(side)
    a = draw(st.lists(side, max_size=2).map(tuple)) + (k,)
    b = draw(st.sampled_from([(k,), (k, draw(side)), (draw(side), k, draw(side))]))
    if draw(st.integers(0, 4)) == 0:
        return draw(st.sampled_from([((), b), (a, ())]))
    return a, b


@covers("dot")
@settings(max_examples=100)
@given(shapes=dot_shapes(), data=st.data())
def test_dot_agrees_across_systems(shapes, data):
    a = data.draw(arrays(shapes[0], floats(-10, 10)))
    b = data.draw(arrays(shapes[1], floats(-10, 10)))
    check_systems(dnp.dot, a, b)


@covers("reshape")
@settings(max_examples=40)
@given(x=arrays(SHAPES, floats(-10, 10)), data=st.data())
def test_reshape_agrees_across_systems(x, data):
    shape = data.draw(st.sampled_from([(-1,), (x.size,), (1, x.size), x.shape[::-1],
                                       (x.size, 1, 1)]))
    check_systems(lambda v: dnp.reshape(v, shape), x)


@covers("transpose")
@settings(max_examples=40)
@given(x=arrays(SHAPES, floats(-10, 10)), data=st.data())
def test_transpose_agrees_across_systems(x, data):
    order = data.draw(st.none() | st.permutations(range(x.ndim)).map(tuple))
    check_systems(lambda v: dnp.transpose(v, order), x)


@covers("broadcast_to")
@settings(max_examples=40)
@given(x=arrays(SHAPES, floats(-10, 10)), data=st.data())
def test_broadcast_to_agrees_across_systems(x, data):
    grown = tuple(data.draw(st.integers(1, 3)) if n == 1 else n for n in x.shape)
    shape = tuple(data.draw(st.lists(st.integers(1, 3), max_size=1))) + grown
    check_systems(lambda v: dnp.broadcast_to(v, shape), x)


@covers("expand_dims")
@settings(max_examples=40)
@given(x=arrays(SHAPES, floats(-10, 10)), data=st.data())
def test_expand_dims_agrees_across_systems(x, data):
    axis = data.draw(st.integers(-x.ndim - 1, x.ndim))
    check_systems(lambda v: dnp.expand_dims(v, axis), x)


@covers("squeeze")
@settings(max_examples=40)
@given(shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=2), data=st.data())
def test_squeeze_agrees_across_systems(shape, data):
    x = data.draw(arrays(shape, floats(-10, 10)))
    ones = [i for i, n in enumerate(shape) if n == 1]
    axis = data.draw(st.none() | st.sampled_from(ones)) if ones else None
    check_systems(lambda v: dnp.squeeze(v, axis=axis), x)


@covers("getitem")
@settings(max_examples=80)
@given(x=arrays(SHAPES, floats(-10, 10)), data=st.data())
def test_getitem_agrees_across_systems(x, data):
    index = data.draw(hnp.basic_indices(x.shape, allow_newaxis=True))
    check_systems(lambda v: dnp.getitem(v, index), x)


@covers("untake")
@settings(max_examples=80)
@given(x=arrays(SHAPES, floats(-10, 10)), data=st.data())
def test_untake_is_the_adjoint_of_indexing_in_every_system(x, data):
    """⟨x[index], v⟩ = ⟨x, untake(v, index, shape)⟩, and the systems agree on untake."""
    index = data.draw(hnp.basic_indices(x.shape, allow_newaxis=True))
    v = data.draw(arrays(np.shape(x[index]), floats(-10, 10)))
    assume(v.size > 0)  # an empty object array names no number system to make zeros in
    check_systems(lambda values: dnp.untake(values, index, x.shape), v)
    np.testing.assert_allclose(np.sum(x[index] * v), np.sum(x * dnp.untake(v, index, x.shape)),
                               rtol=1e-12, atol=1e-12)


def test_untake_accumulates_repeated_indices():
    out = dnp.untake(np.array([1.0, 2.0, 4.0]), np.array([0, 2, 0]), (3,))
    assert out.tolist() == [5.0, 0.0, 2.0]


@covers("concatenate")
@settings(max_examples=60)
@given(shape=NONEMPTY_SHAPES, data=st.data())
def test_concatenate_agrees_across_systems(shape, data):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    parts = []
    for _ in range(data.draw(st.integers(1, 3))):
        part_shape = list(shape)
        part_shape[axis] = data.draw(st.integers(1, 3))
        parts.append(data.draw(arrays(tuple(part_shape), floats(-10, 10))))
    check_systems(lambda *vs: dnp.concatenate(list(vs), axis=axis), *parts)


@covers("stack")
@settings(max_examples=60)
@given(shape=SHAPES, count=st.integers(1, 3), data=st.data())
def test_stack_agrees_across_systems(shape, count, data):
    axis = data.draw(st.integers(-len(shape) - 1, len(shape)))
    parts = [data.draw(arrays(shape, floats(-10, 10))) for _ in range(count)]
    check_systems(lambda *vs: dnp.stack(list(vs), axis=axis), *parts)


@covers("zeros_like", "ones_like")
@settings(max_examples=40)
@given(x=arrays(SHAPES, floats(-10, 10)))
def test_zeros_and_ones_like_are_constants_of_the_shape(x):
    check_systems(dnp.zeros_like, x, constant=True)
    check_systems(dnp.ones_like, x, constant=True)
    assert np.all(dnp.zeros_like(to_sympy(x)) == 0) and np.all(dnp.ones_like(to_mpmath(x)) == 1)


def test_every_primitive_and_composite_is_covered():
    known = set(dnp.primitives()) | COMPOSITES
    assert known - COVERED == set(), "add the new dnp functions to the agreement tests"
    assert COVERED - known == set(), "covered names that dnp does not have"


def test_primitives_are_the_namespace_functions():
    """A primitive named "linalg.inv" is dnp.linalg.inv; dnp.dot is the composite of any
    rank, which calls the dot primitive for 1-D and 2-D operands."""
    for name, primitive in dnp.primitives().items():
        found = dnp
        for part in name.split("."):
            found = getattr(found, part)
        assert found is (composites.dot if name == "dot" else primitive)
        assert primitive.__doc__


_LINALG_CALLS = {
    "linalg.inv": lambda a: dnp.linalg.inv(a), "linalg.det": lambda a: dnp.linalg.det(a),
    "linalg.slogdet_stacked": lambda a: dnp.linalg.slogdet_stacked(a),
    "linalg.solve": lambda a: dnp.linalg.solve(a, a[..., :1] * 2 + 1),
    "linalg.cholesky": lambda a: dnp.linalg.cholesky(a),
    "linalg.qr_stacked": lambda a: dnp.linalg.qr_stacked(a),
}


@covers(*_LINALG_CALLS)
@settings(max_examples=10, deadline=None)
@given(stack=hnp.array_shapes(min_dims=0, max_dims=1, min_side=1, max_side=2),
       n=st.integers(1, 3), data=st.data())
def test_linalg_agrees_across_systems(stack, n, data):
    """On matrices dominated by their diagonal (invertible, positive definite)."""
    x = data.draw(arrays(stack + (n, n), floats(-0.4, 0.4)))
    a = x + np.eye(n) * (n + 1)
    for name, call in _LINALG_CALLS.items():
        check_systems(call, a)


@covers("linalg.eigh_stacked")
def test_linalg_eigh_agrees_with_mpmath_and_refuses_sympy():
    a = np.array([[3.0, 0.5, 0.2], [0.5, 2.0, 0.1], [0.2, 0.1, 1.0]])
    expected = dnp.linalg.eigh_stacked(a)
    with mpmath.workdps(DIGITS):
        precise = dnp.linalg.eigh_stacked(to_mpmath(a))
    assert_entries_of(precise, "mpmath")
    np.testing.assert_allclose(as_floats(precise), expected, rtol=RTOL, atol=ATOL)
    with pytest.raises(UnsupportedOperationError, match="eigh of SymPy"):
        dnp.linalg.eigh_stacked(to_sympy(a))


@covers("linalg.svd_stacked")
def test_linalg_svd_agrees_with_mpmath_and_refuses_sympy():
    a = np.array([[3.0, 0.5, 0.2], [0.5, 2.0, 0.1], [0.2, 0.1, 1.0], [1.0, -0.4, 0.3]])
    expected = dnp.linalg.svd_stacked(a)
    np.testing.assert_allclose(expected[a.shape[0]], np.linalg.svd(a, compute_uv=False),
                               rtol=1e-14)
    with mpmath.workdps(DIGITS):
        precise = dnp.linalg.svd_stacked(to_mpmath(a))
    assert_entries_of(precise, "mpmath")
    np.testing.assert_allclose(as_floats(precise), expected, rtol=RTOL, atol=ATOL)
    with pytest.raises(UnsupportedOperationError):
        dnp.linalg.svd_stacked(to_sympy(a))


# The mpmath forms keep their precision: 40-digit results against closed forms evaluated here
# at 80 digits. (Agreement with float64 cannot show this: a float leaking in agrees too.)

MP_FORMS = {
    "exp": mpmath.exp, "log": mpmath.log, "log1p": lambda v: mpmath.log(1 + v),
    "sqrt": lambda v: v ** mpmath.mpf(0.5), "square": lambda v: v * v,
    "sin": mpmath.sin, "cos": mpmath.cos,
    "tanh": lambda v: (mpmath.exp(2 * v) - 1) / (mpmath.exp(2 * v) + 1),
    "sigmoid": lambda v: 1 / (1 + mpmath.exp(-v)),
    "softplus": lambda v: mpmath.log(1 + mpmath.exp(v)),
    "relu": lambda v: v if v > 0 else 0 * v, "abs": lambda v: v if v >= 0 else -v,
    "negative": lambda v: -v, "sign": mpmath.sign,
}


@pytest.mark.parametrize("name", sorted(MP_FORMS))
def test_mpmath_forms_keep_working_precision(name):
    lo, hi = UNARY[name]
    points = [mpmath.mpf(v) for v in np.linspace(lo, hi, 7)] + [mpmath.mpf(1) / 3]
    with mpmath.workdps(40):
        points = np.array([p + mpmath.mpf(1) / 10**20 for p in points], dtype=object)
        actual = getattr(dnp, name)(points)
        with mpmath.workdps(80):
            truth = [MP_FORMS[name](p) for p in points]
        for a, t in zip(actual, truth):
            assert isinstance(a, mpmath.mpf)
            assert abs(a - t) <= mpmath.mpf(10) ** -38 * max(abs(t), 1)


def _log_total(row):
    return mpmath.log(mpmath.fsum(mpmath.exp(v) for v in row))


MP_ROW_FORMS = {  # name: (the dnp call on x (2×3) and y (3×2), the closed form on their rows)
    "sum": (lambda x, y: dnp.sum(x, axis=1), lambda x, y: [mpmath.fsum(r) for r in x]),
    "mean": (lambda x, y: dnp.mean(x, axis=-1), lambda x, y: [mpmath.fsum(r) / 3 for r in x]),
    "max": (lambda x, y: dnp.max(x, axis=1), lambda x, y: [max(r) for r in x]),
    "min": (lambda x, y: dnp.min(x, axis=1), lambda x, y: [min(r) for r in x]),
    "logsumexp": (lambda x, y: dnp.logsumexp(x, axis=1), lambda x, y: [_log_total(r) for r in x]),
    "log_softmax": (lambda x, y: dnp.log_softmax(x),
                    lambda x, y: [v - _log_total(r) for r in x for v in r]),
    "softmax": (lambda x, y: dnp.softmax(x),
                lambda x, y: [mpmath.exp(v - _log_total(r)) for r in x for v in r]),
    "matmul": (dnp.matmul, lambda x, y: [mpmath.fsum(a * b for a, b in zip(r, c))
                                         for r in x for c in zip(*y)]),
    "dot": (dnp.dot, lambda x, y: [mpmath.fsum(a * b for a, b in zip(r, c))
                                   for r in x for c in zip(*y)]),
    "power": (lambda x, y: dnp.power(x, y.T),
              lambda x, y: [a ** b for r, c in zip(x, zip(*y)) for a, b in zip(r, c)]),
    "divide": (lambda x, y: dnp.divide(x, y.T),
               lambda x, y: [a / b for r, c in zip(x, zip(*y)) for a, b in zip(r, c)]),
}


@pytest.mark.parametrize("name", sorted(MP_ROW_FORMS))
def test_mpmath_reductions_and_products_keep_working_precision(name):
    call, form = MP_ROW_FORMS[name]
    with mpmath.workdps(40):
        tiny = mpmath.mpf(1) / 10**20  # makes every entry need more than float64's digits
        x = np.array([[mpmath.mpf(i + 1) * (j + 2) / 7 + tiny for j in range(3)]
                      for i in range(2)], dtype=object)
        y = np.array([[mpmath.mpf(j - i) / 3 + tiny for j in range(2)] for i in range(3)],
                     dtype=object)
        actual = np.asarray(call(x, y), dtype=object).ravel()
        with mpmath.workdps(80):
            truth = form(x.tolist(), y.tolist())
        assert len(actual) == len(truth)
        for a, t in zip(actual, truth):
            assert isinstance(a, mpmath.mpf)
            assert abs(a - t) <= mpmath.mpf(10) ** -38 * max(abs(t), 1)


# 2. Accuracy at extreme values, against the textbook definitions evaluated in mpmath.

# The truth is the plain definition (1/(1+e^{-x}), log(1+e^x), log Σe^x, ...) evaluated at 500
# digits, so that what its own cancellations lose (1 + e^{-1000}, x − logsumexp(x)) stays far
# below half an ulp of every float64 result, subnormal ones included.
TRUTH_DIGITS = 500

# A few ulps: 0.5 for rounding the truth to float64, about one for each libm call on the path
# (exp, log1p) and 0.5 for each arithmetic rounding after them.
ULP_BOUND = 4


def ulps(actual, truth):
    """|actual − truth| in units of the float64 spacing at truth (subnormal spacing near 0)."""
    return float(abs(mpmath.mpf(float(actual)) - truth)) / np.spacing(abs(float(truth)))


def assert_within_ulps(actual, truth):
    actual = np.asarray(actual, dtype=np.float64)
    assert actual.shape == np.shape(truth)
    for a, t in zip(actual.flat, np.asarray(truth, dtype=object).flat):
        assert ulps(a, t) <= ULP_BOUND, f"{a!r} vs {mpmath.nstr(t, 20)}: {ulps(a, t):.1f} ulps"


def exactly(func, *args, **kwargs):
    """``func`` with float64 errors (overflow, 0/0, log 0) raised, not warned."""
    with np.errstate(over="raise", invalid="raise", divide="raise"), warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        return func(*args, **kwargs)


def true_rows(x, axis, row_fn):
    """Apply ``row_fn`` (a list of mpf → list of mpf) along ``axis`` of the float array x."""
    x = np.moveaxis(np.asarray(x, dtype=np.float64), axis, -1)
    out = np.empty(x.shape, dtype=object)
    with mpmath.workdps(TRUTH_DIGITS):
        for index in np.ndindex(x.shape[:-1]):
            out[index] = row_fn([mpmath.mpf(float(v)) for v in x[index]])
    return np.moveaxis(out, -1, axis)


def true_logsumexp(row):
    return [mpmath.log(mpmath.fsum(mpmath.exp(v) for v in row))] * len(row)


def true_log_softmax(row):
    total = mpmath.log(mpmath.fsum(mpmath.exp(v) for v in row))
    return [v - total for v in row]


def true_softmax(row):
    total = mpmath.fsum(mpmath.exp(v) for v in row)
    return [mpmath.exp(v) / total for v in row]


EXTREME_SCALARS = [-1000, -745, -720, -700, -40, -10, -1, -1e-8, 0, 1e-8, 1, 10, 40, 700, 1000]
EXTREME_ROWS = [
    [1000, -1000], [1000, 1000], [-1000, -1000], [40, 0], [0, -40], [-40, 40, 0],
    [1000, 0, -40], [0, 0, -40], [0, 0, 0], [-1000, -999, -998], [700, 0, -700],
    [0.5, -39.75, 40.25], [40, 40, -40, 0], [-40, -40, -40], [1e-8, 0, -1e-8], [0],
]


@pytest.mark.parametrize("name, definition", [
    ("sigmoid", lambda v: 1 / (1 + mpmath.exp(-v))),
    ("softplus", lambda v: mpmath.log(1 + mpmath.exp(v))),
])
def test_sigmoid_and_softplus_accurate_at_extremes(name, definition):
    x = np.array(EXTREME_SCALARS, dtype=np.float64)
    actual = exactly(getattr(dnp, name), x)
    with mpmath.workdps(TRUTH_DIGITS):
        truth = [definition(mpmath.mpf(float(v))) for v in x]
    assert_within_ulps(actual, truth)


@pytest.mark.parametrize("row", EXTREME_ROWS, ids=str)
@pytest.mark.parametrize("name, truth_of_row", [
    ("logsumexp", true_logsumexp), ("log_softmax", true_log_softmax),
    ("softmax", true_softmax),
])
def test_logsumexp_and_softmax_accurate_at_extremes(name, truth_of_row, row):
    x = np.array(row, dtype=np.float64)
    if name == "logsumexp":
        actual = exactly(dnp.logsumexp, x)
        truth = true_rows(x, -1, truth_of_row)[0]
    else:
        actual = exactly(getattr(dnp, name), x)
        truth = true_rows(x, -1, truth_of_row)
    assert_within_ulps(actual, truth)


@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("name, truth_of_row", [
    ("logsumexp", true_logsumexp), ("log_softmax", true_log_softmax),
    ("softmax", true_softmax),
])
def test_logsumexp_and_softmax_accurate_along_each_axis(name, truth_of_row, axis):
    x = np.array([[1000, -1000, 0, 40], [-40, 40, 0, 0], [0, -40, -1000, 1000]], float)
    truth = true_rows(x, axis, truth_of_row)
    if name == "logsumexp":
        actual = exactly(dnp.logsumexp, x, axis=axis, keepdims=True)
        truth = np.take(truth, [0], axis=axis)
    else:
        actual = exactly(getattr(dnp, name), x, axis=axis)
    assert_within_ulps(actual, truth)


# 3. float32 stays float32.

def _on_domain(name):
    """The unary function ``name`` on x moved into its domain (|x| + 0.1 where x must be > −1)."""
    f, low = getattr(dnp, name), UNARY[name][0]
    return (lambda x, y: f(x)) if low < -3 else (lambda x, y: f(dnp.abs(x) + 0.1))


FLOAT32_CALLS = {
    **{name: _on_domain(name) for name in UNARY},
    **{name: (lambda f: lambda x, y: f(x, y))(getattr(dnp, name))
       for name in ["add", "subtract", "multiply", "maximum", "minimum"]},
    "divide": lambda x, y: dnp.divide(x, y + 100),
    "power": lambda x, y: dnp.power(dnp.abs(x) + 1, y),
    "leaky_relu": lambda x, y: dnp.leaky_relu(x, negative_slope=0.2),
    "clip": lambda x, y: dnp.clip(x, -0.5, 0.5),
    "where": lambda x, y: dnp.where(x > y, x, y),
    "sum": lambda x, y: dnp.sum(x, axis=0),
    "mean": lambda x, y: dnp.mean(x, axis=1, keepdims=True),
    "max": lambda x, y: dnp.max(x),
    "min": lambda x, y: dnp.min(x, axis=-1),
    "logsumexp": lambda x, y: dnp.logsumexp(x, axis=0),
    "logsumexp-all": lambda x, y: dnp.logsumexp(x),
    "softmax": lambda x, y: dnp.softmax(x),
    "log_softmax": lambda x, y: dnp.log_softmax(x, axis=0),
    "matmul": lambda x, y: dnp.matmul(x, y.T),
}


@pytest.mark.parametrize("name", sorted(FLOAT32_CALLS))
def test_float32_stays_float32(name):
    x, y = np.random.default_rng(7).uniform(-3, 3, size=(2, 3, 4))
    call = FLOAT32_CALLS[name]
    single = exactly(call, x.astype(np.float32), y.astype(np.float32))
    assert np.result_type(single) == np.float32
    # and the values are float64's, to float32's own precision (ε = 1.2e-7, a few ulps)
    np.testing.assert_allclose(single, call(x, y), rtol=1e-6, atol=1e-6)


# 4. Complex step: Im f(x + ih)/h is f′(x), Re f(x + ih) is f(x).

H = 1e-20
# Im f(x+ih)/h differs from f′(x) by O(h²) (nothing at h = 1e-20) plus the rounding of the
# complex evaluation: a few ulps, so 1e-13 is ~450 ulps of slack yet catches any wrong branch.
STEP_RTOL = 1e-13
# Re f(x+ih) is f(x) − f″(x)h²/2 + …: the float64 value up to the complex routines' own
# rounding (1–2 ulps) and an O(h²) = O(1e-40) term, visible only where f(x) = 0 (log 1).
VALUE_RTOL, VALUE_ATOL = 1e-15, 1e-30


def sigmoid_formula(x):
    return 1 / (1 + np.exp(-x))


def sigmoid_derivative(x):
    """σ′ = σ(x)·σ(−x): the form σ·(1 − σ) would cancel for large x."""
    return sigmoid_formula(x) * sigmoid_formula(-x)


AWAY_FROM_ZERO = floats(-10, 10).filter(lambda v: abs(v) > 1e-3)
DERIVATIVES = {  # domain, f′ in closed form
    "exp": (floats(-20, 20), np.exp),
    "log": (floats(1e-3, 1e3), lambda x: 1 / x),
    "sin": (floats(-10, 10), np.cos),
    "tanh": (floats(-20, 20), lambda x: 1 / np.cosh(x) ** 2),
    "sigmoid": (floats(-30, 30), sigmoid_derivative),
    "softplus": (floats(-30, 30), sigmoid_formula),
    "abs": (AWAY_FROM_ZERO, np.sign),
    "relu": (AWAY_FROM_ZERO, lambda x: (x > 0).astype(float)),
}


def assert_complex_step(f, x, derivative, direction=1.0, scale=0.0):
    """f's complex step equals the derivative, relative to it or, where the derivative is
    a difference of larger terms, to ``scale``, their size (no float evaluation of a
    cancelling difference is closer than its terms' rounding)."""
    out = f(x + 1j * H * direction)
    assert np.iscomplexobj(out)
    got, derivative = np.imag(out) / H, np.asarray(derivative)
    error = np.abs(got - derivative)
    allowed = STEP_RTOL * (np.abs(derivative) + scale)       # assert_allclose's rule
    assert np.all(error <= allowed), (
        f"complex step off by up to {np.max(error / allowed):.3g} times the allowed error; "
        f"first at index {np.argwhere(~(error <= allowed))[0]}")
    np.testing.assert_allclose(np.real(out), f(x), rtol=VALUE_RTOL, atol=VALUE_ATOL)


@pytest.mark.parametrize("name", sorted(DERIVATIVES))
@settings(max_examples=120)
@given(data=st.data())
def test_complex_step_gives_the_derivative(name, data):
    elements, derivative = DERIVATIVES[name]
    x = data.draw(arrays(SHAPES, elements))
    assert_complex_step(getattr(dnp, name), x, derivative(x))


@settings(max_examples=120)
@given(x=arrays(SHAPES, AWAY_FROM_ZERO), slope=st.just(0.0) | floats(1e-3, 1))
def test_complex_step_leaky_relu(x, slope):
    assert_complex_step(lambda v: dnp.leaky_relu(v, negative_slope=slope), x,
                        np.where(x > 0, 1.0, slope))


GAPS = st.builds(lambda magnitude, sign: sign * magnitude, floats(1e-3, 5),
                 st.sampled_from([-1.0, 1.0]))


@pytest.mark.parametrize("name", ["maximum", "minimum"])
@settings(max_examples=120)
@given(shapes=PAIRS, data=st.data())
def test_complex_step_maximum_minimum(name, shapes, data):
    a = data.draw(arrays(shapes.input_shapes[0], floats(-10, 10)))
    b = a + data.draw(arrays(shapes.input_shapes[1], GAPS))  # never ties with a
    a = np.broadcast_to(a, b.shape)
    f = getattr(dnp, name)
    # a moves along +1, b along −1: the derivative says which argument was picked
    out = f(a + 1j * H, b - 1j * H)
    picks_a = a > b if name == "maximum" else a < b
    np.testing.assert_allclose(np.imag(out) / H, np.where(picks_a, 1.0, -1.0), rtol=STEP_RTOL)
    np.testing.assert_allclose(np.real(out), f(a, b), rtol=0, atol=0)


def test_complex_step_takes_the_left_branch_at_zero():
    zero = np.zeros(3) + 1j * H * np.array([1.0, -1.0, 2.0])
    np.testing.assert_array_equal(np.imag(dnp.relu(zero)), 0.0)
    np.testing.assert_allclose(np.imag(dnp.leaky_relu(zero, negative_slope=0.25)) / H,
                               [0.25, -0.25, 0.5], rtol=STEP_RTOL)


@pytest.mark.parametrize("name", ["maximum", "minimum"])
def test_complex_step_splits_the_derivative_at_a_tie(name):
    x = np.array([-2.0, 0.0, 3.5])
    out = getattr(dnp, name)(x + 1j * H, x)
    np.testing.assert_allclose(np.imag(out) / H, 0.5, rtol=STEP_RTOL)
    np.testing.assert_array_equal(np.real(out), x)


@settings(max_examples=120)
@given(shape=SHAPES, data=st.data())
def test_complex_step_max_reduction(shape, data):
    x = data.draw(arrays(shape, floats(-10, 10), unique=True))
    direction = data.draw(arrays(shape, GAPS))  # not so small that h·direction underflows
    axis = data.draw(axes(len(shape)))
    top = x == np.max(x, axis=axis, keepdims=True)
    derivative = np.sum(np.where(top, direction, 0), axis=axis)  # the direction at the argmax
    out = dnp.max(x + 1j * H * direction, axis=axis)
    np.testing.assert_allclose(np.imag(out) / H, derivative, rtol=STEP_RTOL)
    np.testing.assert_array_equal(np.real(out), np.max(x, axis=axis))


def test_complex_step_max_splits_the_derivative_among_ties():
    x = np.array([[1.0, 3.0, 3.0, 3.0], [2.0, 2.0, -1.0, 0.0]])
    out = dnp.max(x + 1j * H * np.array([1.0, 1.0, 2.0, 3.0]), axis=1)
    np.testing.assert_allclose(np.imag(out) / H, [(1 + 2 + 3) / 3, (1 + 1) / 2], rtol=STEP_RTOL)


@settings(max_examples=120)
@given(bounds=clip_bounds(), x=arrays(SHAPES, floats(-10, 10)))
def test_complex_step_clip(bounds, x):
    low, high = bounds
    assume(not np.any((x == low) | (x == high)))
    inside = (x > (-np.inf if low is None else low)) & (x < (np.inf if high is None else high))
    assert_complex_step(lambda v: dnp.clip(v, low, high), x, inside.astype(float))


@settings(max_examples=120)
@given(shape=SHAPES, data=st.data())
def test_complex_step_logsumexp_gives_softmax(shape, data):
    x = data.draw(arrays(shape, floats(-30, 30)))
    # positive directions, so the directional derivative Σ softmax·v never cancels
    direction = data.draw(arrays(shape, floats(0.5, 2)))
    axis = data.draw(axes(len(shape)))
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    softmax = e / np.sum(e, axis=axis, keepdims=True)
    derivative = np.sum(softmax * direction, axis=axis)
    f = lambda v: dnp.logsumexp(v, axis=axis)  # noqa: E731
    assert_complex_step(f, x, derivative, direction)


# 5. Errors name the operation, the types and the shapes.

SYM = to_sympy([1.0, 2.0])
MP = to_mpmath([1.0, 2.0])
CPX = np.array([1.0 + 1.0j, 2.0])
MIXED_ARRAY = np.array([sympy.Float(1.0), mpmath.mpf(2)], dtype=object)


@pytest.mark.parametrize("name, call, systems", [
    ("add", lambda: dnp.add(SYM, MP), ["sympy", "mpmath"]),
    ("add", lambda: dnp.add(CPX, SYM), ["complex", "sympy"]),
    ("multiply", lambda: dnp.multiply(MP, CPX), ["mpmath", "complex"]),
    ("maximum", lambda: dnp.maximum(MP, SYM), ["mpmath", "sympy"]),
    ("where", lambda: dnp.where([True, False], SYM, MP), ["sympy", "mpmath"]),
    ("matmul", lambda: dnp.matmul(SYM, CPX), ["sympy", "complex"]),
    ("concatenate", lambda: dnp.concatenate([SYM, MP]), ["sympy", "mpmath"]),
    ("stack", lambda: dnp.stack([CPX, SYM, np.ones(2)]), ["complex", "sympy"]),
    ("exp", lambda: dnp.exp(MIXED_ARRAY), ["sympy", "mpmath"]),
    ("add", lambda: dnp.add(np.ones(2), MIXED_ARRAY), ["sympy", "mpmath"]),
])
def test_mixing_number_systems_is_an_error_naming_the_operation(name, call, systems):
    with pytest.raises(NumberSystemMixError, match=rf"dnp\.{name}\b") as error:
        call()
    for system in systems:
        assert system in str(error.value)


def test_float_constants_mix_with_every_system():
    assert dnp.number_system(SYM, 2.0, np.ones(2)) == "sympy"
    assert dnp.number_system(np.float32(1), MP) == "mpmath"
    assert dnp.number_system(CPX, np.arange(2)) == "complex"
    assert dnp.number_system(np.ones(2), 3) == "float"
    assert isinstance(dnp.add(MP, np.ones(2))[0], mpmath.mpf)


@pytest.mark.parametrize("name, call, type_name", [
    ("exp", lambda: dnp.exp("1.5"), "str"),
    ("add", lambda: dnp.add(np.ones(2), "1.5"), "str"),
    ("exp", lambda: dnp.exp(np.array([Fraction(1, 2), Fraction(1, 3)], dtype=object)),
     "Fraction"),
    ("sum", lambda: dnp.sum(np.array([1.0, Fraction(1, 3)], dtype=object)), "Fraction"),
    ("exp", lambda: dnp.exp(np.array([mpmath.mpf(1), "2"], dtype=object)), "str"),
    ("concatenate", lambda: dnp.concatenate([SYM, ["a"]]), "list"),
    ("log", lambda: dnp.log(np.array(["1.0"])), "<U3"),
])
def test_unsupported_types_are_an_error_naming_operation_and_type(name, call, type_name):
    with pytest.raises(UnsupportedOperationError, match=rf"dnp\.{name}\b") as error:
        call()
    assert type_name in str(error.value)


SYSTEM_MAKERS = {
    "float": lambda a: a, "complex": lambda a: a + 0j, "mpmath": to_mpmath, "sympy": to_sympy,
}


@pytest.mark.parametrize("system", sorted(SYSTEM_MAKERS))
@pytest.mark.parametrize("name, a_shape, b_shape", [
    ("matmul", (2, 3), (4, 5)),
    ("matmul", (3,), (2,)),
    ("matmul", (2, 3, 4), (5, 4, 2)),
    ("matmul", (2, 3), ()),
    ("dot", (2, 3), (4, 5)),
    ("dot", (2, 3), (2,)),
])
def test_product_shape_mismatch_is_a_shape_error_naming_the_shapes(system, name, a_shape,
                                                                   b_shape):
    make = SYSTEM_MAKERS[system]
    a, b = make(np.ones(a_shape)), make(np.ones(b_shape))
    with pytest.raises(ShapeError, match=rf"dnp\.{name}\b") as error:
        getattr(dnp, name)(a, b)
    assert str(a_shape) in str(error.value) and str(b_shape) in str(error.value)


@pytest.mark.parametrize("system", sorted(SYSTEM_MAKERS))
@pytest.mark.parametrize("name", ["sum", "max", "logsumexp", "mean", "min", "softmax",
                                  "log_softmax"])
@pytest.mark.parametrize("axis", [2, -3, (0, 2)])
def test_out_of_range_axis_is_a_shape_error(system, name, axis):
    x = SYSTEM_MAKERS[system](np.arange(6.0).reshape(2, 3))
    if name in ("softmax", "log_softmax") and isinstance(axis, tuple):
        axis = 5
    with pytest.raises(ShapeError, match=r"dnp\.\w+: .*axis"):
        getattr(dnp, name)(x, axis=axis)


@pytest.mark.parametrize("system", sorted(SYSTEM_MAKERS))
@pytest.mark.parametrize("call", [
    lambda x: dnp.expand_dims(x, 3), lambda x: dnp.squeeze(x, axis=2),
    lambda x: dnp.stack([x, x], axis=4), lambda x: dnp.concatenate([x, x], axis=-3),
    lambda x: dnp.transpose(x, (0, 2)),
])
def test_shape_operations_with_out_of_range_axis_raise_shape_error(system, call):
    x = SYSTEM_MAKERS[system](np.ones((2, 1)))
    with pytest.raises(ShapeError, match=r"dnp\.\w+: .*axis"):
        call(x)


# 6. The registration hook sees every primitive with its arguments as given.

class Traced:
    """Stands in for an AD tensor: dnp knows it only by its type."""


def _hook_calls(t):
    """Arguments for each primitive with the registered value ``t`` among its operands."""
    unary = {name: ((t,), {}) for name in UNARY}
    binary = {name: ((1.5, t), {}) for name in BINARY}
    return {
        **unary, **binary,
        "leaky_relu": ((t,), {"negative_slope": 0.3}),
        "where": ((np.array([True, False]), 0.0, t), {}),
        "clip": ((t, -1.0), {"a_max": 1.0}),
        "sum": ((t,), {"axis": 0, "keepdims": True}),
        "mean": ((t,), {"axis": 1}),
        "max": ((t, (0, 1)), {}),
        "logsumexp": ((t,), {"axis": -1}),
        "matmul": ((np.ones((2, 3)), t), {}),
        "dot": ((t, np.ones(3)), {}),
        "reshape": ((t, (3, 2)), {}),
        "transpose": ((t,), {"axes": (1, 0)}),
        "broadcast_to": ((t, (4, 2, 3)), {}),
        "expand_dims": ((t, 0), {}),
        "squeeze": ((t,), {"axis": 0}),
        "getitem": ((t, (slice(None), 0)), {}),
        "untake": ((t, (slice(None), 0), (2, 3, 3)), {}),
        "concatenate": (([np.ones((2, 3)), t],), {"axis": 1}),
        "stack": (([t, np.ones((2, 3))],), {"axis": -1}),
        "zeros_like": ((t,), {}),
        "ones_like": ((t,), {}),
        **{name: ((t,), {}) for name in NEW_UNARY},
        **{name: ((t, 0.7), {}) for name in NEW_BINARY},
        "heaviside": ((t, 0.5), {}),
        "isfinite": ((t,), {}), "isnan": ((t,), {}),
        "argmax": ((t,), {"axis": 0}), "argmin": ((t,), {"keepdims": True, "axis": 1}),
        "argsort": ((t,), {"axis": 0}), "sort": ((t,), {"axis": None}),
        "argpartition": ((t, 1), {"axis": 0}),
        "cumsum": ((t,), {"axis": 1}),
        **{name: ((t,), {}) for name in ("linalg.inv", "linalg.det", "linalg.cholesky",
                                          "linalg.slogdet_stacked")},
        "linalg.solve": ((np.eye(2), t), {}),
        "linalg.eigh_stacked": ((t,), {}),
        "linalg.svd_stacked": ((t,), {}), "linalg.qr_stacked": ((t,), {}),
    }


@pytest.fixture
def traced_system():
    seen = []

    def handler(primitive, args, kwargs):
        seen.append((primitive, args, kwargs))
        return ("handled", primitive.name)

    dnp.register_number_system(Traced, handler)
    try:
        yield seen
    finally:
        dnp._handlers.pop(Traced, None)  # noqa: SLF001 — other tests must see no handler


def test_registered_type_receives_every_primitive(traced_system):
    t = Traced()
    calls = _hook_calls(t)
    assert set(calls) == set(dnp.primitives()), "give the new primitive a call here"
    for name, primitive in dnp.primitives().items():
        args, kwargs = calls[name]
        assert primitive(*args, **kwargs) == ("handled", name)
        got_primitive, got_args, got_kwargs = traced_system[-1]
        assert got_primitive is primitive
        assert len(got_args) == len(args) and all(g is a for g, a in zip(got_args, args))
        assert got_kwargs == kwargs
    assert len(traced_system) == len(calls)


def test_registered_type_is_found_in_any_operand_position(traced_system):
    t = Traced()
    dnp.add(t, 1.0)
    dnp.where(t, 1.0, 2.0)
    dnp.concatenate([np.ones(2), np.ones(2), t])
    assert [seen[0].name for seen in traced_system] == ["add", "where", "concatenate"]


def test_handlers_are_removed_after_the_hook_tests():
    assert Traced not in dnp._handlers  # noqa: SLF001
    with pytest.raises(UnsupportedOperationError, match="Traced"):
        dnp.exp(Traced())


# 7. Kink conventions in the SymPy forms: relu′(0) = 0, ties split the derivative evenly.

X = sympy.Symbol("x", real=True)


def derivative_at(expression, value):
    return sympy.diff(expression, X).subs(X, value)


def test_sympy_relu_has_zero_derivative_at_zero():
    (expression,) = dnp.relu(np.array([X], dtype=object))
    assert derivative_at(expression, 0) == 0
    assert derivative_at(expression, sympy.Rational(1, 3)) == 1
    assert derivative_at(expression, -1) == 0


def test_sympy_leaky_relu_takes_the_left_slope_at_zero():
    (expression,) = dnp.leaky_relu(np.array([X], dtype=object), negative_slope=0.25)
    assert derivative_at(expression, 0) == sympy.Float(0.25)
    assert derivative_at(expression, 2) == 1


@pytest.mark.parametrize("c", [sympy.Integer(2), sympy.Rational(-1, 2), 1.5])
def test_sympy_maximum_and_minimum_split_the_derivative_at_a_tie(c):
    x = np.array([X], dtype=object)
    (high,) = dnp.maximum(x, c)
    (low,) = dnp.minimum(c, x)
    assert derivative_at(high, c) == sympy.Rational(1, 2)
    assert derivative_at(low, c) == sympy.Rational(1, 2)
    assert derivative_at(high, c + 1) == 1 and derivative_at(high, c - 1) == 0
    assert derivative_at(low, c + 1) == 0 and derivative_at(low, c - 1) == 1
    assert high.subs(X, c) == c and low.subs(X, c) == c


def test_sympy_max_reduction_splits_a_two_way_tie():
    expression = dnp.max(np.array([X, sympy.Integer(2)], dtype=object))
    assert derivative_at(expression, 2) == sympy.Rational(1, 2)


def test_sympy_max_reduction_splits_a_three_way_tie_evenly():
    expression = dnp.max(np.array([X, sympy.Integer(2), sympy.Integer(2)], dtype=object))
    assert derivative_at(expression, 2) == sympy.Rational(1, 3)


# 7. The primitives and composites of issue 15 (precision, non-differentiable, cumulative).

NEW_UNARY = {  # domain; the truth in mpmath at 80 digits
    "expm1": ((-20, 20), lambda v: mpmath.exp(v) - 1),
    "erf": ((-6, 6), mpmath.erf), "erfc": ((-6, 6), mpmath.erfc),
    "arctan": ((-10, 10), mpmath.atan), "arcsin": ((-1, 1), mpmath.asin),
    "arccos": ((-1, 1), mpmath.acos), "sinc": ((-6, 6), mpmath.sincpi),
    "floor": ((-10, 10), mpmath.floor), "ceil": ((-10, 10), mpmath.ceil),
    "rint": ((-10, 10), mpmath.nint),
    "trunc": ((-10, 10), lambda v: mpmath.floor(v) if v >= 0 else mpmath.ceil(v)),
}
NEW_BINARY = {
    "logaddexp": (floats(-50, 50), floats(-50, 50)),
    "logaddexp2": (floats(-50, 50), floats(-50, 50)),
    # mpmath has no −0: arctan2(−0, x < 0) is −π in float64 and +π in mpmath, the same
    # point of the branch cut seen from its two sides; the check keeps to +0
    "arctan2": (floats(-10, 10).map(lambda v: v + 0.0), NONZERO),
    "mod": (floats(-10, 10), NONZERO), "fmod": (floats(-10, 10), NONZERO),
    "floor_divide": (floats(-10, 10), NONZERO),
    "fmax": (with_ties(-10, 10), with_ties(-10, 10)),
    "fmin": (with_ties(-10, 10), with_ties(-10, 10)),
}
covers(*NEW_UNARY, *NEW_BINARY)


@pytest.mark.parametrize("name", sorted(NEW_UNARY))
@settings(max_examples=30)
@given(data=st.data())
def test_new_unary_agree_across_systems(name, data):
    (lo, hi), _ = NEW_UNARY[name]
    x = data.draw(arrays(SHAPES, with_ties(lo, hi)))
    check_systems(getattr(dnp, name), x)


@pytest.mark.parametrize("name", sorted(NEW_BINARY))
@settings(max_examples=30)
@given(shapes=PAIRS, data=st.data())
def test_new_binary_agree_across_systems(name, shapes, data):
    first, second = NEW_BINARY[name]
    a = data.draw(arrays(shapes.input_shapes[0], first))
    b = data.draw(arrays(shapes.input_shapes[1], second))
    check_systems(getattr(dnp, name), a, b)
    if name in ("mod", "fmod", "floor_divide"):   # NumPy's own names agree
        np.testing.assert_array_equal(getattr(dnp, name)(a, b), getattr(np, name)(a, b))


@pytest.mark.parametrize("name", sorted(NEW_UNARY))
def test_new_mpmath_forms_keep_working_precision(name):
    (lo, hi), truth_of = NEW_UNARY[name]
    points = [mpmath.mpf(v) for v in np.linspace(lo, hi, 7)[1:-1]] + [mpmath.mpf(1) / 3]
    with mpmath.workdps(40):
        points = np.array([p + mpmath.mpf(1) / 10**20 for p in points], dtype=object)
        actual = getattr(dnp, name)(points)
        with mpmath.workdps(80):
            truth = [truth_of(p) for p in points]
        for a, t in zip(actual, truth):
            assert isinstance(a, mpmath.mpf)
            assert abs(a - t) <= mpmath.mpf(10) ** -38 * max(abs(t), 1)


def test_new_binary_mpmath_forms_keep_working_precision():
    with mpmath.workdps(40):
        a, b = mpmath.mpf(1) / 3, mpmath.mpf(-2) / 7
        got = {name: getattr(dnp, name)(np.array([a], dtype=object), np.array([b], dtype=object))[0]
               for name in ("logaddexp", "logaddexp2", "arctan2")}
        with mpmath.workdps(80):
            truth = {"logaddexp": mpmath.log(mpmath.exp(a) + mpmath.exp(b)),
                     "logaddexp2": mpmath.log(2 ** a + 2 ** b, 2), "arctan2": mpmath.atan2(a, b)}
        for name in got:
            assert abs(got[name] - truth[name]) <= mpmath.mpf(10) ** -38, name


@covers("rint", "round", "around")
def test_rounding_takes_halves_to_even_in_every_system():
    halves = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.5])
    expected = np.rint(halves)
    assert np.array_equal(expected, [-2, -2, -0, 0, 2, 2, 4])
    check_systems(dnp.rint, halves)
    np.testing.assert_array_equal(dnp.round(halves), expected)
    np.testing.assert_array_equal(dnp.around(np.array([1.25, -0.35, 1234.5]), 1),
                                  np.round(np.array([1.25, -0.35, 1234.5]), 1))
    np.testing.assert_array_equal(dnp.round(np.array([1234.5, -1250.0]), -2),
                                  np.round(np.array([1234.5, -1250.0]), -2))


@covers("heaviside")
@settings(max_examples=40)
@given(x=arrays(SHAPES, with_ties(-3, 3)), h0=floats(0, 1))
def test_heaviside_agrees_across_systems(x, h0):
    check_systems(lambda v: dnp.heaviside(v, h0), x)


def _same_in_every_system(fn, x):
    """An integer or boolean result: exactly equal in float64, mpmath and SymPy numbers."""
    expected = fn(x)
    with mpmath.workdps(DIGITS):
        precise = fn(to_mpmath(x))
    for result in (precise, fn(to_sympy(x))):
        np.testing.assert_array_equal(np.asarray(result).astype(expected.dtype), expected)
    return expected


@covers("argmax", "argmin", "argsort", "sort", "argpartition")
@settings(max_examples=40)
@given(shape=NONEMPTY_SHAPES, data=st.data())
def test_order_functions_agree_across_systems(shape, data):
    x = data.draw(arrays(shape, with_ties(-3, 3)))
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    keepdims = data.draw(st.booleans())
    for name in ("argmax", "argmin"):
        expected = _same_in_every_system(
            lambda v: getattr(dnp, name)(v, axis=axis, keepdims=keepdims), x)
        np.testing.assert_array_equal(expected, getattr(np, name)(x, axis=axis,
                                                                  keepdims=keepdims))
    order = _same_in_every_system(lambda v: dnp.argsort(v, axis=axis), x)
    np.testing.assert_array_equal(order, np.argsort(x, axis=axis, kind="stable"))
    kth = data.draw(st.integers(0, shape[axis] - 1))
    order = _same_in_every_system(lambda v: dnp.argpartition(v, kth, axis=axis), x)
    np.testing.assert_array_equal(order, np.argsort(x, axis=axis, kind="stable"))
    kept = np.take_along_axis(x, order, axis)     # NumPy's own kth entries in their places
    np.testing.assert_array_equal(np.take(kept, kth, axis),
                                  np.take(np.partition(x, kth, axis=axis), kth, axis))
    for sort_axis in (axis, None):
        check_systems(lambda v: dnp.sort(v, axis=sort_axis), x)
        np.testing.assert_array_equal(dnp.sort(x, axis=sort_axis), np.sort(x, axis=sort_axis))


@covers("isfinite", "isnan")
def test_isfinite_and_isnan_in_every_system():
    x = np.array([1.0, np.inf, -np.inf, np.nan, 0.0])
    for name in ("isfinite", "isnan"):
        expected = getattr(np, name)(x)
        np.testing.assert_array_equal(getattr(dnp, name)(x), expected)
        np.testing.assert_array_equal(getattr(dnp, name)(to_mpmath(x)), expected)
        np.testing.assert_array_equal(getattr(dnp, name)(x + 0j), expected)
    symbols = np.array(sympy.symbols("a b", real=True), dtype=object)
    np.testing.assert_array_equal(dnp.isfinite(symbols), [True, True])
    np.testing.assert_array_equal(dnp.isnan(symbols), [False, False])


@covers("cumsum", "prod", "cumprod")
@settings(max_examples=40)
@given(shape=SHAPES, data=st.data())
def test_cumulative_and_product_agree_across_systems(shape, data):
    x = data.draw(arrays(shape, st.one_of(st.just(0.0), floats(-2, 2))))
    axis = data.draw(axes(len(shape)))
    keepdims = data.draw(st.booleans())
    check_systems(lambda v: dnp.prod(v, axis=axis, keepdims=keepdims), x)
    np.testing.assert_array_equal(dnp.prod(x, axis=axis, keepdims=keepdims),
                                  np.prod(x, axis=axis, keepdims=keepdims))
    along = data.draw(st.none() | st.integers(-len(shape), len(shape) - 1)) if shape else None
    for name in ("cumsum", "cumprod"):
        check_systems(lambda v: getattr(dnp, name)(v, axis=along), x)
        np.testing.assert_array_equal(getattr(dnp, name)(x, axis=along),
                                      getattr(np, name)(x, axis=along))


def test_prod_of_nothing_is_one():
    for system in (np.zeros((2, 0)), to_mpmath(np.zeros((2, 0)))):
        np.testing.assert_array_equal(as_floats(dnp.prod(system, axis=1)), [1.0, 1.0])


def true_gelu(v):
    return v * mpmath.erfc(-v / mpmath.sqrt(2)) / 2


def true_gelu_of_rounded_argument(v):
    """gelu with erfc's argument −x/√2 rounded to float64, as any float evaluation must: far
    out erfc magnifies that rounding by its condition number 2u² (≈ 900 at x = −30)."""
    return v * mpmath.erfc(mpmath.mpf(float(-v * np.sqrt(0.5)))) / 2


def true_elu(v, alpha=1):
    return v if v > 0 else alpha * mpmath.expm1(v)


def true_selu(v):
    return mpmath.mpf("1.0507009873554804934193349852946") * true_elu(
        v, mpmath.mpf("1.6732632423543772848170429916717"))


ACTIVATIONS = {"gelu": true_gelu_of_rounded_argument, "elu": true_elu, "selu": true_selu}
covers(*ACTIVATIONS)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
@settings(max_examples=40)
@given(x=arrays(SHAPES, with_ties(-30, 30)))
def test_activations_agree_across_systems_and_with_their_definitions(name, x):
    check_systems(getattr(dnp, name), x)
    with mpmath.workdps(40):
        truth = np.vectorize(lambda v: float(ACTIVATIONS[name](mpmath.mpf(v))), otypes=[float])(x)
    assert_within_ulps(exactly(getattr(dnp, name), x), truth)


def test_gelu_keeps_its_relative_accuracy_far_out():
    """x·(1 + erf(x/√2))/2 is exactly 0 at x = −10; the erfc form keeps its digits, all but
    those the rounding of −x/√2 costs (erfc's condition number 2u², so at most ~2u²ε)."""
    x = np.array([-10.0, -20.0, -37.0])
    with mpmath.workdps(40):
        rounded = np.array([float(true_gelu_of_rounded_argument(mpmath.mpf(v))) for v in x])
        truth = np.array([float(true_gelu(mpmath.mpf(v))) for v in x])
    assert np.all(truth != 0)
    assert_within_ulps(dnp.gelu(x), rounded)
    condition = 2 * (x / np.sqrt(2)) ** 2
    assert np.all(np.abs(dnp.gelu(x) / truth - 1) <= 2 * condition * np.finfo(float).eps)


@covers("mod", "remainder")
def test_remainder_is_mod_with_pythons_sign():
    x, y = np.array([7.0, -7.0, 7.0, -7.0]), np.array([3.0, 3.0, -3.0, -3.0])
    np.testing.assert_array_equal(dnp.remainder(x, y), [7 % 3, -7 % 3, 7 % -3, -7 % -3])
    np.testing.assert_array_equal(dnp.fmod(x, y), [1.0, -1.0, 1.0, -1.0])


NEW_FLOAT32_CALLS = {
    **{name: (lambda f: lambda x, y: f(x / 4))(getattr(dnp, name)) for name in NEW_UNARY},
    **{name: (lambda f: lambda x, y: f(x, y + 10))(getattr(dnp, name)) for name in NEW_BINARY},
    **{name: (lambda f: lambda x, y: f(x))(getattr(dnp, name)) for name in ACTIVATIONS},
    "cumsum": lambda x, y: dnp.cumsum(x, axis=1), "sort": lambda x, y: dnp.sort(x),
    "prod": lambda x, y: dnp.prod(x, axis=0), "cumprod": lambda x, y: dnp.cumprod(x, axis=1),
}


@pytest.mark.parametrize("name", sorted(NEW_FLOAT32_CALLS))
def test_new_functions_keep_float32(name):
    x, y = np.random.default_rng(8).uniform(-3, 3, size=(2, 3, 4))
    call = NEW_FLOAT32_CALLS[name]
    single = exactly(call, x.astype(np.float32), y.astype(np.float32))
    assert np.result_type(single) == np.float32
    np.testing.assert_allclose(single, call(x, y), rtol=1e-6, atol=1e-6)


def _logaddexp_first(x):
    return np.exp(x) / (np.exp(x) + np.exp(0.3))


def _sinc_slope(v):
    """sinc′(v) in mpmath: Σₖ (−1)ᵏ2k·π²ᵏv²ᵏ⁻¹/(2k+1)! (no cancellation, tiny v too)."""
    with mpmath.workdps(40):
        v = mpmath.mpf(v)
        return float(mpmath.nsum(lambda k: (-1) ** k * 2 * k * mpmath.pi ** (2 * k)
                                 * v ** (2 * k - 1) / mpmath.factorial(2 * k + 1), [1, mpmath.inf]))


NEW_DERIVATIVES = {  # f, domain, f′ in closed form
    "expm1": (dnp.expm1, floats(-20, 20), np.exp),
    "erf": (dnp.erf, floats(-6, 6), lambda x: 2 / np.sqrt(np.pi) * np.exp(-x * x)),
    # beyond |x| = 20, h·erf′(x) < 1e-194 nears the subnormals and loses digits
    "erf far": (dnp.erf, floats(-20, 20), lambda x: 2 / np.sqrt(np.pi) * np.exp(-x * x)),
    "erfc": (dnp.erfc, floats(-6, 20), lambda x: -2 / np.sqrt(np.pi) * np.exp(-x * x)),
    "arctan": (dnp.arctan, floats(-10, 10), lambda x: 1 / (1 + x * x)),
    "arcsin": (dnp.arcsin, floats(-0.99, 0.99), lambda x: 1 / np.sqrt(1 - x * x)),
    "arccos": (dnp.arccos, floats(-0.99, 0.99), lambda x: -1 / np.sqrt(1 - x * x)),
    "logaddexp": (lambda x: dnp.logaddexp(x, 0.3), floats(-30, 30), _logaddexp_first),
    "logaddexp2": (lambda x: dnp.logaddexp2(0.3, x), floats(-30, 30),
                   lambda x: 2.0 ** x / (2.0 ** x + 2.0 ** 0.3)),
    "arctan2 y": (lambda y: dnp.arctan2(y, -1.5), NONZERO, lambda y: -1.5 / (2.25 + y * y)),
    "arctan2 x": (lambda x: dnp.arctan2(0.7, x), floats(-10, 10),
                  lambda x: -0.7 / (x * x + 0.49)),
    "elu": (dnp.elu, AWAY_FROM_ZERO, lambda x: np.where(x > 0, 1, np.exp(x))),
    "gelu": (dnp.gelu, floats(-10, 10), lambda x: np.array(
        [float(mpmath.diff(true_gelu, mpmath.mpf(v))) for v in np.ravel(x)]).reshape(x.shape)),
    "floor": (lambda x: dnp.floor(x) * x, AWAY_FROM_ZERO, np.floor),
    # the series within |x| ≤ 1/2 (where sin(πz)/(πz) cancels), the closed form beyond
    # (below |x| ≈ 1e-288 the step's imaginary part 2xh of z² is subnormal and loses digits)
    "sinc": (dnp.sinc, floats(-3, 3).filter(lambda v: v == 0 or abs(v) > 1e-250),
             lambda x: np.vectorize(_sinc_slope)(x)),
    "mod": (lambda x: dnp.mod(x, 1.5), floats(-10, 10).filter(
        lambda v: abs(v / 1.5 - round(v / 1.5)) > 1e-3), lambda x: np.ones_like(x)),
}
# The size of the terms whose difference a derivative is, where it cancels: sinc′(x) =
# (cos πx − sinc x)/x nears 0 at sinc's extrema (x ≈ 2.4590: −4.4e-4 from terms of 5e-2).
TERMS = {"sinc": lambda x: (np.abs(np.cos(np.pi * x)) + np.abs(np.sinc(x))) /
         np.maximum(np.abs(x), 0.5)}


@pytest.mark.parametrize("name", sorted(NEW_DERIVATIVES))
@settings(max_examples=40)
@given(data=st.data())
def test_complex_step_gives_the_new_derivatives(name, data):
    f, elements, derivative = NEW_DERIVATIVES[name]
    x = data.draw(arrays(SHAPES, elements))
    assert_complex_step(f, x, derivative(x), scale=TERMS.get(name, lambda x: 0.0)(x))


@settings(max_examples=60)
@given(shape=NONEMPTY_SHAPES, data=st.data())
def test_complex_step_through_sort_cumsum_and_products(shape, data):
    # positive entries and directions: no directional derivative cancels (a cancelled one
    # holds the complex evaluation's rounding, which no relative tolerance can judge)
    x = data.draw(arrays(shape, floats(0.1, 3), unique=True))
    direction = data.draw(arrays(shape, floats(0.5, 2)))
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    order = np.argsort(x, axis=axis)
    assert_complex_step(lambda v: dnp.sort(v, axis=axis), x,
                        np.take_along_axis(direction, order, axis), direction)
    assert_complex_step(lambda v: dnp.cumsum(v, axis=axis), x,
                        np.cumsum(direction, axis=axis), direction)
    # d∏x = ∏x · Σ v/x where no entry is 0
    assert_complex_step(lambda v: dnp.prod(v, axis=axis), x,
                        np.prod(x, axis=axis) * np.sum(direction / x, axis=axis), direction)


def test_complex_erf_far_from_the_real_axis_is_mpmath():
    z = np.array([0.3 + 0.4j, 1 + 2j, -2 - 0.75j])
    with mpmath.workdps(30):
        truth = [complex(mpmath.erf(mpmath.mpc(v.real, v.imag))) for v in z]
    np.testing.assert_allclose(dnp.erf(z), truth, rtol=1e-14)
    np.testing.assert_allclose(dnp.erfc(z), [1 - t for t in truth], rtol=1e-14)


def test_sympy_rounding_functions_have_zero_derivative():
    x, y = sympy.symbols("x y", real=True)
    for expression in (dnp.floor(x), dnp.ceil(x), dnp.rint(x), dnp.trunc(x),
                       dnp.floor_divide(x, y), dnp.heaviside(x, 0.5)):
        assert sympy.diff(expression, x) == 0, expression
    assert sympy.diff(dnp.mod(x, y), x) == 1
    assert sympy.diff(dnp.mod(x, y), y) == -dnp.floor(x / y)
    for v in (2.5, 3.5, -2.5, 2.4999):
        assert float(dnp.rint(x).subs(x, sympy.Float(v))) == np.rint(v)


@pytest.mark.parametrize("name", ["sort", "argsort", "argmax", "argmin", "argpartition"])
def test_order_of_symbols_is_a_named_error(name):
    x = np.array(sympy.symbols("a b c", real=True), dtype=object)
    with pytest.raises(UnsupportedOperationError, match=f"dnp.{name} of SymPy.*'ad'"):
        getattr(dnp, name)(x, 1) if name == "argpartition" else getattr(dnp, name)(x)
