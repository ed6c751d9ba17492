"""dnp's float fast paths give NumPy's numbers: the sum over the middle axis (einsum) and
the products over one index (np.multiply, einsum) or with a copied right operand."""

import functools

import numpy as np
import pytest

import difflab.numpy as dnp


def heavy(shape, seed):
    """Entries over many magnitudes, so that a different order of addition would show."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal(shape) * np.exp(8 * rng.standard_normal(shape))


@pytest.mark.parametrize("shape", [(121, 16, 8), (16, 64, 2), (3, 5, 17), (2, 1, 4),
                                   (40, 9, 128)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_middle_axis_sum_adds_the_rows_in_order(shape, keepdims):
    x = heavy(shape, sum(shape))
    assert dnp.middle_axis(x, 1)
    in_order = functools.reduce(np.add, [x[:, j, :] for j in range(shape[1])])
    got = dnp.sum(x, axis=1, keepdims=keepdims)
    assert got.shape == np.sum(x, axis=1, keepdims=keepdims).shape
    assert np.array_equal(got.reshape(in_order.shape), in_order)
    assert np.array_equal(got, np.sum(x, axis=1, keepdims=keepdims))


def test_middle_axis_sum_leaves_other_cases_to_numpy():
    x = heavy((16, 9, 1), 1)                 # k = 1: NumPy's pairwise summation
    assert not dnp.middle_axis(x, 1) and np.array_equal(dnp.sum(x, axis=1), np.sum(x, axis=1))
    y = heavy((8, 16, 4), 2).transpose(1, 0, 2)
    assert not dnp.middle_axis(y, 1) and np.array_equal(dnp.sum(y, axis=1), np.sum(y, axis=1))
    assert not dnp.middle_axis(heavy((8, 16, 4), 3), 0)


@pytest.mark.parametrize("shapes", [((121, 16, 1), (1, 8)), ((16, 1), (121, 1, 8)),
                                    ((64, 1), (1, 32)), ((3, 4, 1), (3, 1, 5)),
                                    ((2, 1, 7, 1), (5, 1, 3))])
def test_a_product_over_one_index_is_the_products(shapes):
    a, b = heavy(shapes[0], 1), heavy(shapes[1], 2)
    got = dnp.matmul(a, b)
    assert got.shape == np.matmul(a, b).shape
    assert np.array_equal(got, a * b)             # one exact product per entry
    assert np.array_equal(got, np.matmul(a, b))


def test_a_batched_product_with_a_transposed_right_operand():
    a, w = heavy((121, 16, 8), 1), heavy((8, 8), 2)
    fn, _, copy = dnp.matmul_plan(a, w.T)
    assert fn is np.matmul and copy
    assert not dnp.matmul_plan(a.transpose(0, 2, 1), w)[2]   # a transposed left one is not
    bound = 1e-14 * np.matmul(np.abs(a), np.abs(w.T))       # rounding of each dot product
    assert np.all(np.abs(dnp.matmul(a, w.T) - np.matmul(a, w.T)) <= bound)


def test_a_mismatched_product_over_one_index_is_refused():
    with pytest.raises(dnp.ShapeError):
        dnp.matmul(np.ones((4, 3, 1)), np.ones((2, 1, 5)))


@pytest.mark.parametrize("dtype", [bool, np.int32, np.int64, np.float16])
def test_the_fast_paths_leave_other_dtypes_to_numpy(dtype):
    """einsum would keep a bool sum bool (True, not 3) and an int32 sum int32."""
    x = np.ones((16, 3, 2), dtype=dtype)
    got, want = dnp.sum(x, axis=1), np.sum(x, axis=1)
    assert got.dtype == want.dtype and np.array_equal(got, want)
    a, b = np.ones((4, 3, 1), dtype=dtype), np.ones((1, 5), dtype=dtype)
    got, want = dnp.matmul(a, b), np.matmul(a, b)
    assert got.dtype == want.dtype and np.array_equal(got, want)
