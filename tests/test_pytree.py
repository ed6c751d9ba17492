"""ravel/unravel and the pytree functions: exact round trips over nested structures."""

import collections

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import difflab
from difflab.errors import DiffLabError

floats = st.floats(allow_nan=False, allow_infinity=False, width=64)
arrays = st.one_of(
    hnp.arrays(np.float64, hnp.array_shapes(min_dims=0, max_dims=3, max_side=3), elements=floats),
    hnp.arrays(np.float32, hnp.array_shapes(min_dims=0, max_dims=2, max_side=3),
               elements=st.floats(allow_nan=False, allow_infinity=False, width=32)),
    hnp.arrays(np.int64, hnp.array_shapes(min_dims=0, max_dims=2, max_side=3),
               elements=st.integers(-2**40, 2**40)),
)
leaves = st.one_of(arrays, floats, st.integers(-2**40, 2**40))
trees = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.lists(children, max_size=3).map(tuple),
        st.dictionaries(st.text("abcxyz", min_size=1, max_size=3), children, max_size=3),
    ),
    max_leaves=8,
)


def assert_same_tree(a, b):
    if isinstance(a, dict):
        assert isinstance(b, dict) and sorted(a) == sorted(b)
        for key in a:
            assert_same_tree(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b)
        for x, y in zip(a, b):
            assert_same_tree(x, y)
    elif isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray)
        assert a.dtype == b.dtype and a.shape == b.shape
        assert np.array_equal(a, b)
    else:
        assert type(a) is type(b) and a == b


@given(trees)
def test_ravel_unravel_round_trip_is_exact(tree):
    theta, unravel = difflab.ravel(tree)
    assert theta.ndim == 1
    assert theta.size == sum(np.size(leaf) for leaf in difflab.tree_leaves(tree))
    assert_same_tree(tree, unravel(theta))


@given(trees)
def test_tree_flatten_unflatten_round_trip(tree):
    leaves, treedef = difflab.tree_flatten(tree)
    assert_same_tree(tree, difflab.tree_unflatten(treedef, leaves))


def test_ravel_orders_leaves_and_keeps_the_common_dtype():
    tree = {"b": [np.array([3.0, 4.0]), 5.0], "a": np.array([[1.0], [2.0]])}
    theta, unravel = difflab.ravel(tree)
    assert theta.tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert theta.dtype == np.float64
    rebuilt = unravel(theta * 10)
    assert rebuilt["a"].tolist() == [[10.0], [20.0]]
    assert rebuilt["b"][1] == 50.0 and isinstance(rebuilt["b"][1], float)
    theta32, _ = difflab.ravel([np.ones(2, np.float32)])
    assert theta32.dtype == np.float32


def test_unravel_works_on_object_vectors_for_other_number_systems():
    import sympy
    tree = [(np.zeros((2, 2)), np.zeros(2)), 0.0]
    theta, unravel = difflab.ravel(tree)
    symbols = np.array(sympy.symbols("t0:7"), dtype=object)
    (W, b), c = unravel(symbols)
    assert W.shape == (2, 2) and W[1, 0] == symbols[2]
    assert b.tolist() == list(symbols[4:6]) and c == symbols[6]


def test_namedtuples_and_none_survive():
    Layer = collections.namedtuple("Layer", "W b")
    tree = [Layer(np.ones((2, 1)), np.zeros(1)), None]
    theta, unravel = difflab.ravel(tree)
    rebuilt = unravel(theta)
    assert isinstance(rebuilt[0], Layer) and rebuilt[1] is None
    assert theta.size == 3


def test_tree_map_applies_leafwise_and_checks_structure():
    doubled = difflab.tree_map(lambda x, y: x + y, [1.0, {"a": 2.0}], [3.0, {"a": 4.0}])
    assert doubled == [4.0, {"a": 6.0}]
    with pytest.raises(DiffLabError, match="different structures"):
        difflab.tree_map(lambda x, y: x, [1.0], [1.0, 2.0])


def test_unravel_refuses_a_vector_of_the_wrong_length():
    _, unravel = difflab.ravel([np.ones(3)])
    with pytest.raises(DiffLabError, match=r"shape \(3,\)"):
        unravel(np.ones(4))


def test_ravel_refuses_non_numeric_leaves():
    with pytest.raises(DiffLabError, match="str"):
        difflab.ravel(["abc"])
    with pytest.raises(DiffLabError, match="numeric"):
        difflab.ravel([np.array(["x"])])


def test_unravel_keeps_the_imaginary_part_of_a_complex_step():
    tree = [np.ones((2, 2)), 3.0]
    theta, unravel = difflab.ravel(tree)
    stepped = theta + 1e-20j
    W, c = unravel(stepped)
    assert W.dtype == np.complex128 and np.all(W.imag == 1e-20)
    assert c == 3.0 + 1e-20j
