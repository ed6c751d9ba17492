"""Issue 14 for the AD engine: every entry point refuses what it cannot differentiate (a
missing return, a tuple, a non-number, a NaN) instead of returning zeros or NaN; the Jacobian's
shape contract; NumPy's metadata functions on traced values; the kink conventions in first
and second order."""

import re

import numpy as np
import pytest

import difflab.numpy as dnp
from difflab import ad
from difflab.errors import DiffLabError, NonFiniteValueError, OutputError, \
    UnsupportedOperationError

THETA = np.array([0.3, -0.7, 1.1])
V = np.array([1.0, 2.0, -0.5])
# NumPy's own RuntimeWarning comes before the named error; these tests are about the error.
def quiet():
    return np.errstate(divide="ignore", invalid="ignore")

# Every entry point, called on f at THETA (jvp and hvp along V).
ENTRY_POINTS = {
    "grad": lambda f: ad.grad(f)(THETA),
    "value_and_grad": lambda f: ad.value_and_grad(f)(THETA),
    "vjp": lambda f: ad.vjp(f, THETA)[1](np.float64(1.0)),
    "jacobian": lambda f: ad.jacobian(f)(THETA),
    "hessian": lambda f: ad.hessian(f)(THETA),
    "hvp": lambda f: ad.hvp(f, THETA, V),
    "jvp": lambda f: ad.jvp(f, (THETA,), (V,)),
    "trace": lambda f: ad.trace(f, THETA),
}


def missing_return(t):
    dnp.sum(t ** 2)


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_a_missing_return_is_refused_by_every_entry_point(entry):
    """Before: ad.grad(missing_return)(θ) was [0, 0, 0] (nothing recorded depends on θ)."""
    with pytest.raises(OutputError, match="returned None — a missing return?"):
        ENTRY_POINTS[entry](missing_return)


@pytest.mark.parametrize("entry", sorted(set(ENTRY_POINTS) - {"jvp"}))
def test_a_tuple_output_is_refused_naming_has_aux(entry):
    """Before: ad.hessian(lambda t: (Σt², 0.0))(θ) was the zero matrix."""
    with pytest.raises(OutputError, match=r"tuple of 2 items.*has_aux=True"):
        ENTRY_POINTS[entry](lambda t: (dnp.sum(t ** 2), 0.0))


def test_jvp_keeps_pytree_outputs_as_jax_does():
    values, tangents = ad.jvp(lambda t: (dnp.sum(t ** 2), 2 * t), (THETA,), (V,))
    assert values[0] == pytest.approx(np.sum(THETA ** 2))
    assert tangents[0] == pytest.approx(2 * THETA @ V)
    assert np.array_equal(tangents[1], 2 * V)
    with pytest.raises(OutputError, match="a missing return"):
        ad.jvp(lambda t: None, (THETA,), (V,))


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
@pytest.mark.parametrize("bad, words", [
    (lambda t: "loss", "str, not a number"),
    (lambda t: {"loss": dnp.sum(t)}, "dict"),
    (lambda t: dnp.sum(t) > 0, "boolean"),
])
def test_a_non_numeric_output_is_refused(entry, bad, words):
    if entry == "jvp" and words == "dict":
        pytest.skip("jvp takes any pytree output, as jax.jvp does")
    with pytest.raises(OutputError, match=words):
        ENTRY_POINTS[entry](bad)


def test_has_aux_needs_a_pair_and_keeps_any_aux():
    with pytest.raises(OutputError, match=r"needs f to return a pair.*one traced value"):
        ad.grad(lambda t: dnp.sum(t), has_aux=True)(THETA)
    with pytest.raises(OutputError, match="a missing return"):
        ad.value_and_grad(lambda t: (None, 1), has_aux=True)(THETA)
    g, aux = ad.grad(lambda t: (dnp.sum(t ** 2), "note"), has_aux=True)(THETA)
    assert np.array_equal(g, 2 * THETA) and aux == "note"


def test_a_constant_function_has_derivative_zero():
    """A plain number that does not depend on θ is a constant function, not an error."""
    constant = lambda t: 2.5
    assert np.array_equal(ad.grad(constant)(THETA), np.zeros(3))
    assert ad.value_and_grad(constant)(THETA)[0] == 2.5
    assert np.array_equal(ad.hessian(constant)(THETA), np.zeros((3, 3)))
    assert np.array_equal(ad.hvp(constant, THETA, V), np.zeros(3))
    assert np.array_equal(ad.jacobian(lambda t: np.ones(2))(THETA), np.zeros((2, 3)))


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_a_non_finite_value_is_refused(entry):
    """log(−0.7) is NaN: no derivative of it is returned."""
    with pytest.raises(NonFiniteValueError, match=r"non-finite value \(nan"), quiet():
        ENTRY_POINTS[entry](lambda t: dnp.sum(dnp.log(t)))


AT_ZERO = np.array([0.0, -0.7, 1.1])
AT_ZERO_CALLS = {
    "grad": lambda f: ad.grad(f)(AT_ZERO),
    "value_and_grad": lambda f: ad.value_and_grad(f)(AT_ZERO),
    "vjp": lambda f: ad.vjp(f, AT_ZERO)[1](np.float64(1.0)),
    "jacobian": lambda f: ad.jacobian(f)(AT_ZERO),
    "hessian": lambda f: ad.hessian(f)(AT_ZERO),
    "hvp": lambda f: ad.hvp(f, AT_ZERO, V),
    "jvp": lambda f: ad.jvp(f, (AT_ZERO,), (V,)),
}


@pytest.mark.parametrize("entry", sorted(AT_ZERO_CALLS))
def test_a_non_finite_derivative_of_a_finite_value_is_refused(entry):
    """√(t²) at t₀ = 0 is 0, but its rule gives 0·∞ = NaN there (value finite, derivative
    not): named by the entry point called, not returned."""
    with pytest.raises(NonFiniteValueError, match=rf"^{entry.split('_and_')[-1]}: f is finite "
                       r"but its .* is not \(nan"), quiet():
        AT_ZERO_CALLS[entry](lambda t: dnp.sum(dnp.sqrt(t * t)))


def test_the_non_finite_message_names_the_entry():
    at_zero = np.array([1.0, 0.0, 2.0])
    with pytest.raises(NonFiniteValueError, match=r"at index 1, 1 of 3 entries"), quiet():
        ad.grad(lambda t: dnp.sum(dnp.sqrt(t * t)))(at_zero)


# Item 8: ad.jacobian's shape is out.shape + in.shape (jax.jacrev); the interface makes it (m, n).

def test_jacobian_of_a_scalar_output_has_the_input_shape():
    J = ad.jacobian(lambda t: dnp.sum(dnp.sin(t)))(THETA)
    assert J.shape == (3,)
    assert np.allclose(J, np.cos(THETA), rtol=1e-15, atol=0)


def test_jacobian_of_a_vector_output_is_m_by_n():
    A = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 4.0]])
    J = ad.jacobian(lambda t: A @ dnp.exp(t))(THETA)
    assert J.shape == (2, 3)
    assert np.allclose(J, A * np.exp(THETA), rtol=1e-15, atol=0)


def test_jacobian_of_a_matrix_output_is_out_shape_plus_in_shape():
    """F: ℝ³ → ℝ^(2×3), F[i, j] = cᵢ·sin(tⱼ): J[i, j, k] = cᵢ·cos(tⱼ)·δⱼₖ, shape (2, 3, 3)."""
    c = np.array([1.0, -2.0])
    J = ad.jacobian(lambda t: dnp.reshape(c, (2, 1)) * dnp.sin(t))(THETA)
    assert J.shape == (2, 3, 3)
    expected = c[:, None, None] * np.eye(3)[None] * np.cos(THETA)[None, :, None]
    assert np.allclose(J, expected, rtol=1e-15, atol=0)
    assert "out.shape + x.shape" in ad.jacobian.__doc__


def test_jacobian_of_a_scalar_input():
    J = ad.jacobian(lambda t: dnp.stack([t * t, dnp.sin(t)]))(np.float64(0.4))
    assert J.shape == (2,)
    assert np.allclose(J, [0.8, np.cos(0.4)], rtol=1e-15, atol=0)


# Item 11: metadata reads work on traced values; other NumPy calls name a dnp function that exists.

def uses_metadata(t):
    n = np.shape(t)[0] + np.ndim(t) + np.size(t) + np.size(t, 0) + len(t)
    return n * dnp.sum(t ** 3)            # n = 3 + 1 + 3 + 3 + 3 = 13


def test_metadata_numpy_calls_work_under_every_mode():
    assert np.allclose(ad.grad(uses_metadata)(THETA), 39 * THETA ** 2, rtol=1e-15)
    assert np.allclose(ad.hessian(uses_metadata)(THETA), np.diag(78 * THETA), rtol=1e-15)
    assert np.allclose(ad.hvp(uses_metadata, THETA, V), 78 * THETA * V, rtol=1e-15)
    _, tangent = ad.jvp(uses_metadata, (THETA,), (V,))
    assert tangent == pytest.approx(39 * THETA ** 2 @ V, rel=1e-15)


def test_len_of_a_traced_scalar_is_a_named_error():
    with pytest.raises(UnsupportedOperationError, match="0-d traced value"):
        ad.grad(lambda t: len(dnp.sum(t)) * dnp.sum(t))(THETA)


def _resolve(space, dotted):
    for part in dotted.split("."):
        space = getattr(space, part, None)
    return space


@pytest.mark.parametrize("call", [
    lambda t: np.abs(t), lambda t: np.tanh(t), lambda t: np.cumsum(t), lambda t: np.sort(t),
    lambda t: np.floor(t), lambda t: np.linalg.norm(t), lambda t: np.exp(t), lambda t: np.prod(t),
    lambda t: np.maximum(t, 0.0), lambda t: np.einsum("i->", t), lambda t: np.var(t),
])
def test_raw_numpy_messages_suggest_only_dnp_functions_that_exist(call):
    with pytest.raises(UnsupportedOperationError) as caught:
        ad.grad(lambda t: dnp.sum(call(t)))(THETA)
    message = str(caught.value)
    suggested = re.findall(r"dnp\.((?:\w+\.)*\w+)", message)      # dnp.tanh, dnp.linalg.norm
    assert all(callable(_resolve(dnp, name)) for name in suggested), message
    assert suggested or "difflab.numpy has no" in message, message


def test_a_function_dnp_lacks_is_said_plainly():
    assert not hasattr(dnp, "convolve")
    with pytest.raises(UnsupportedOperationError, match="difflab.numpy has no convolve yet"):
        ad.grad(lambda t: dnp.sum(np.convolve(t, t)))(THETA)
    with pytest.raises(UnsupportedOperationError, match=r"numpy\.absolute.*call dnp\.abs"):
        ad.grad(lambda t: dnp.sum(np.abs(t)))(THETA)


# Item 4: the kink conventions hold in second order too. For f = g·k with k piecewise linear
# at the kink, ∇²f = g″k + g′k′ᵀ + k′g′ᵀ (k″ = 0), with k′ the convention's value.

def second_order_all_ways(f, x):
    """The Hessian by forward-over-reverse, reverse-over-reverse and hvp along each eᵢ."""
    n = x.size
    return {"hessian": ad.hessian(f)(x),
            "jacobian of grad": ad.jacobian(ad.grad(f))(x),
            "hvp": np.stack([ad.hvp(f, x, e) for e in np.eye(n)])}


def assert_hessian(f, x, expected):
    for how, H in second_order_all_ways(f, x).items():
        assert np.allclose(H, expected, rtol=1e-15, atol=1e-15), f"{how}: {H}"


KINKED_UNITS = [   # (name, f(t) = Σ t·k(t), k′ at 0 by the convention)
    ("relu", dnp.relu, 0.0),
    ("abs", dnp.abs, 0.0),
    ("leaky_relu", lambda t: dnp.leaky_relu(t, negative_slope=0.2), 0.2),
]


@pytest.mark.parametrize("name, k, slope", KINKED_UNITS, ids=[u[0] for u in KINKED_UNITS])
def test_elementwise_kinks_in_second_order(name, k, slope):
    """d²/dt² [t·k(t)] = 2k′(t) + t·k″(t) = 2k′(0) at 0; 2k′(1) = 2 at 1."""
    x = np.array([0.0, -0.0, 1.0])
    assert_hessian(lambda t: dnp.sum(t * k(t)), x, np.diag([2 * slope, 2 * slope, 2.0]))


def test_clip_in_second_order_is_one_on_the_closed_interval():
    x = np.array([1.0, -1.0, 0.5, 1.5])
    assert_hessian(lambda t: dnp.sum(t * dnp.clip(t, -1.0, 1.0)), x, np.diag([2, 2, 2, 0.0]))


def test_a_three_way_tie_of_max_in_second_order():
    """f = max(t)·Σt² at (1, 1, 1): each tied entry gets 1/3, so ∇f = 1/3·3 + 2t = 3 and
    ∇²f = w(2t)ᵀ + 2t wᵀ + 2·max·I = 4/3 + 2δ."""
    x = np.ones(3)
    f = lambda t: dnp.max(t) * dnp.sum(t * t)
    assert np.allclose(ad.grad(f)(x), np.full(3, 3.0), rtol=1e-15)
    assert_hessian(f, x, np.full((3, 3), 4 / 3) + 2 * np.eye(3))
    g = lambda t: dnp.min(t) * dnp.sum(t * t)
    assert_hessian(g, -x, np.full((3, 3), -4 / 3) - 2 * np.eye(3))


@pytest.mark.parametrize("name", ["maximum", "minimum"])
def test_maximum_and_minimum_ties_in_second_order(name):
    """f = m(x, y)·(x + 2y) at x = y = 1, with ∂m = (½, ½): ∂²f/∂x² = 2·½ = 1,
    ∂²f/∂x∂y = ½·2 + ½·1 = 3/2, ∂²f/∂y² = 2·½·2 = 2."""
    m = getattr(dnp, name)
    assert_hessian(lambda t: m(t[0], t[1]) * (t[0] + 2 * t[1]), np.ones(2),
                   np.array([[1.0, 1.5], [1.5, 2.0]]))


def test_errors_from_the_output_check_are_difflab_errors():
    for error in (OutputError, NonFiniteValueError, UnsupportedOperationError):
        assert issubclass(error, DiffLabError)


def test_numpy_linalg_on_a_traced_value_points_to_dnp_linalg():
    x = np.array([2.0, 1.0, 1.0, 3.0])
    with pytest.raises(UnsupportedOperationError, match=r"call dnp\.linalg\.inv"):
        ad.grad(lambda t: dnp.sum(np.linalg.inv(dnp.reshape(t, (2, 2)))))(x)
