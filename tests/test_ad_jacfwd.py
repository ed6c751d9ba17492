"""``ad.jacfwd`` (forward mode, all unit tangents in one batched pass) beside ``ad.jacrev``
(``ad.jacobian``, reverse mode): values, shapes, pytrees, argnums, kinks, dtypes and errors.

Truths: ``difflab.reference`` (mpmath at 50 digits, independent of the engine), closed forms
at kinks (the README's conventions), and ``jacrev`` for what both must share (shapes, dtypes,
named errors), never ``jacfwd`` alone.
"""

import re

import numpy as np
import pytest

import ad_checks
import difflab.numpy as dnp
from difflab import DiffLabError, ad, ravel, reference, tree_leaves
from difflab.errors import NonFiniteValueError, OutputError
from difflab.pytree import tree_flatten

# jacfwd and jacrev apply the same rules to the same numbers, forward and backward: each entry
# is a sum of a few dozen products taken in another order, so they differ by a few ulps.
RTOL_MODES = 1e-14
# float32 against the float64 reference: a few float32 ulps (ε ≈ 1.2e-7) per entry.
RTOL_FLOAT32 = 1e-5


def _tanh_network(n, m, seed, hidden=8):
    """x ↦ tanh(tanh(x W₁) W₂) W₃, n inputs and m outputs, seeded weights, and a point x."""
    rng = np.random.default_rng(seed)
    W1, W2, W3 = (rng.normal(size=shape) / np.sqrt(shape[0])
                  for shape in ((n, hidden), (hidden, hidden), (hidden, m)))

    def F(x):
        return dnp.tanh(dnp.tanh(x @ W1) @ W2) @ W3
    return F, rng.normal(size=n)


def _assert_matches_reference_and_jacrev(J, J_rev, truth, what):
    ad_checks.assert_close(J, truth, ad_checks.RTOL_REFERENCE, f"{what}: jacfwd", floor=1.0)
    ad_checks.assert_close(J, J_rev, RTOL_MODES, f"{what}: jacfwd against jacrev", floor=1.0)


@pytest.mark.parametrize("n, m", [(30, 3), (3, 30)], ids=["wide", "tall"])
def test_wide_and_tall_jacobians_match_reference_and_jacrev(n, m):
    F, x = _tanh_network(n, m, seed=n)
    J = ad.jacfwd(F)(x)
    assert J.shape == (m, n)
    _assert_matches_reference_and_jacrev(J, ad.jacrev(F)(x), reference.jacobian(F, x),
                                         f"{n} → {m}")


def test_jacrev_is_jacobian():
    assert ad.jacrev is ad.jacobian


PARAMS = {"W": np.array([[0.5, -0.3], [0.2, 0.8], [-0.6, 0.1]]),
          "layers": [np.array([0.1, -0.2, 0.3]), (np.array([1.0, -1.5, 0.5]), np.array(0.7))]}


def _of_params(p):
    """Uses every leaf; a (2, 3) output."""
    b, (c, s) = p["layers"]
    h = dnp.tanh(p["W"] @ np.array([0.4, -0.9]) + b)
    return dnp.stack([h * s, dnp.sin(c * h)])


def test_pytree_input_gives_a_pytree_of_blocks_matching_the_reference():
    J = ad.jacfwd(_of_params)(PARAMS)
    J_rev = ad.jacrev(_of_params)(PARAMS)
    assert tree_flatten(J)[1] == tree_flatten(PARAMS)[1]
    for block, leaf in zip(tree_leaves(J), tree_leaves(PARAMS)):
        assert block.shape == (2, 3) + leaf.shape
    theta, unravel = ravel(PARAMS)
    truth = reference.jacobian(lambda t: dnp.reshape(_of_params(unravel(t)), (-1,)), theta)
    flat = np.concatenate([block.reshape(6, -1) for block in tree_leaves(J)], axis=1)
    flat_rev = np.concatenate([block.reshape(6, -1) for block in tree_leaves(J_rev)], axis=1)
    _assert_matches_reference_and_jacrev(flat, flat_rev, truth, "pytree")


X = np.array([0.3, -1.2, 2.0])
Y = np.array([1.5, 0.4, -0.7])
Z = np.array(0.8)


def _xyz(x, y, z):
    return dnp.sin(x) * y ** 2 + z * x


def _reference_block(which, args):
    """The reference Jacobian of _xyz with respect to args[which], the others held."""
    def F(t):
        moved = list(args)
        moved[which] = dnp.reshape(t, np.shape(args[which]))
        return _xyz(*moved)
    return reference.jacobian(F, np.reshape(args[which], -1)).reshape(
        (3,) + np.shape(args[which]))


@pytest.mark.parametrize("argnums", [0, 1, -1, (0, 2), (2, 1, 0), [1]])
def test_argnums_int_and_tuple(argnums):
    args = (X, Y, Z)
    J = ad.jacfwd(_xyz, argnums=argnums)(*args)
    J_rev = ad.jacrev(_xyz, argnums=argnums)(*args)
    if isinstance(argnums, int):
        J, J_rev, nums = (J,), (J_rev,), (argnums % 3,)
    else:
        assert isinstance(J, tuple) and len(J) == len(argnums)
        nums = tuple(argnums)
    for block, block_rev, i in zip(J, J_rev, nums):
        assert block.shape == (3,) + np.shape(args[i])
        _assert_matches_reference_and_jacrev(block, block_rev, _reference_block(i, args),
                                             f"argnums={argnums}, argument {i}")


def test_keyword_arguments_are_passed_and_not_differentiated():
    J = ad.jacfwd(lambda x, scale=1.0: dnp.sin(x) * scale)(X, scale=3.0)
    np.testing.assert_allclose(J, np.diag(3.0 * np.cos(X)), rtol=1e-15)


@pytest.mark.parametrize("x_shape, out_shape", [((), ()), ((), (3,)), ((3,), ()),
                                                ((2, 3), (4,)), ((2, 3), (2, 2))])
def test_shape_is_output_shape_then_input_shape(x_shape, out_shape):
    rng = np.random.default_rng(4)
    x = rng.normal(size=x_shape)
    M = rng.normal(size=(int(np.prod(out_shape)), int(np.prod(x_shape))))

    def F(x):
        return dnp.reshape(M @ dnp.tanh(dnp.reshape(x, (-1,))), out_shape)

    J = ad.jacfwd(F)(x)
    J_rev = ad.jacrev(F)(x)
    assert J.shape == J_rev.shape == out_shape + x_shape
    truth = reference.jacobian(lambda t: dnp.reshape(F(dnp.reshape(t, x_shape)), (-1,)),
                               x.reshape(-1))
    _assert_matches_reference_and_jacrev(J.reshape(truth.shape), J_rev.reshape(truth.shape),
                                         truth, f"{x_shape} → {out_shape}")


def test_python_float_input_and_constant_output():
    J = ad.jacfwd(lambda x: dnp.stack([x, x * x, dnp.exp(x)]))(2.0)
    np.testing.assert_allclose(J, [1.0, 4.0, np.exp(2.0)], rtol=1e-15)
    assert J.shape == (3,)
    np.testing.assert_array_equal(ad.jacfwd(lambda x: np.ones(2))(X), np.zeros((2, 3)))
    np.testing.assert_array_equal(ad.jacfwd(lambda x: 3.0)(X), np.zeros(3))


def test_kinks_follow_the_conventions_of_jacrev():
    """relu′(0) = 0, abs′(0) = 0, a tie of maximum splits the derivative evenly (README)."""
    x = np.array([0.0, 1.5, -0.5, 0.25])
    c = np.array([0.7, 0.2, -0.5, 0.25])            # ties with x at entries 2 and 3

    def F(x):
        return dnp.concatenate([dnp.relu(x), dnp.abs(x), dnp.maximum(x, c)])

    truth = np.concatenate([np.diag([0.0, 1.0, 0.0, 1.0]), np.diag([0.0, 1.0, -1.0, 1.0]),
                            np.diag([0.0, 1.0, 0.5, 0.5])])
    J = ad.jacfwd(F)(x)
    np.testing.assert_array_equal(J, truth)
    np.testing.assert_array_equal(J, ad.jacrev(F)(x))


def test_float32_input_keeps_float32():
    F, x64 = _tanh_network(6, 4, seed=2)
    x = x64.astype(np.float32)
    J, J_rev = ad.jacfwd(F)(x), ad.jacrev(F)(x)
    # the network's weights are float64 constants, so the output is float64, as under jacrev
    assert J.dtype == J_rev.dtype
    W = np.random.default_rng(3).normal(size=(6, 4)).astype(np.float32)

    def F32(x):
        return dnp.tanh(x @ W)

    J, J_rev = ad.jacfwd(F32)(x), ad.jacrev(F32)(x)
    assert J.dtype == J_rev.dtype == np.float32
    truth = reference.jacobian(lambda t: dnp.tanh(t @ W.astype(np.float64)),
                               x.astype(np.float64))
    ad_checks.assert_close(J, truth, RTOL_FLOAT32, "float32 jacfwd", floor=1.0)
    # a constant function's zeros take the input's dtype
    for constant in (lambda x: np.ones(2), lambda x: 3.0):
        assert ad.jacfwd(constant)(x).dtype == ad.jacrev(constant)(x).dtype == np.float32


def test_nested_with_jacrev_gives_the_reference_hessian():
    def f(x):
        return dnp.sum(dnp.sin(x) * dnp.sum(x * x))

    truth = reference.hessian(f, X)
    for name, H in {"jacfwd(jacrev)": ad.jacfwd(ad.jacrev(f))(X),
                    "jacrev(jacfwd)": ad.jacrev(ad.jacfwd(f))(X),
                    "jacfwd(jacfwd)": ad.jacfwd(ad.jacfwd(f))(X)}.items():
        ad_checks.assert_close(H, truth, ad_checks.RTOL_REFERENCE, name, floor=1.0)


def _branch(x):
    return x * 2 if x[0] > 0 else -x


BAD_CALLS = {
    "integer input": (lambda x: x * x, (np.array([1, 2]),), {}),
    "boolean input": (lambda x: x * x, (np.array([True, False]),), {}),
    "complex input": (lambda x: x * x, (np.array([1j, 2.0]),), {}),
    "integer leaf of a pytree": (lambda p: p["a"] * p["b"], ({"a": X, "b": 2},), {}),
    "tuple output": (lambda x: (x, x), (X,), {}),
    "no return": (lambda x: None, (X,), {}),
    "boolean output": (lambda x: x > 0, (X,), {}),
    "non-finite output": (dnp.log, (-np.ones(2),), {}),
    "non-finite derivative": (dnp.sqrt, (np.zeros(2),), {}),
    "argnums out of range": (lambda x: x, (X,), {"argnums": 1}),
    "argnums not ints": (lambda x: x, (X,), {"argnums": "0"}),
    "branch on a value": (_branch, (X,), {}),
}

EXPECTED = {"integer input": DiffLabError, "boolean input": DiffLabError,
            "complex input": DiffLabError, "integer leaf of a pytree": DiffLabError,
            "tuple output": OutputError, "no return": OutputError,
            "boolean output": OutputError, "non-finite output": NonFiniteValueError,
            "non-finite derivative": NonFiniteValueError,
            "argnums out of range": DiffLabError, "argnums not ints": DiffLabError,
            "branch on a value": DiffLabError}


@pytest.mark.filterwarnings("ignore::RuntimeWarning")       # log(-1), 1/sqrt(0) in NumPy
@pytest.mark.parametrize("case", BAD_CALLS, ids=BAD_CALLS.keys())
def test_bad_inputs_raise_what_jacrev_raises(case):
    f, args, options = BAD_CALLS[case]
    with pytest.raises(EXPECTED[case]) as forward:
        ad.jacfwd(f, **options)(*args)
    with pytest.raises(EXPECTED[case]) as reverse:
        ad.jacrev(f, **options)(*args)
    assert type(forward.value) is type(reverse.value)
    # the same message, but for the entry point it names
    assert str(forward.value) == re.sub(r"\bjacobian\b", "jacfwd", str(reverse.value))
