"""Issue 15 item 2: NumPy's array methods and operators on traced values.

Each model is written twice, once with methods and operators (``x.sum(axis=0)``, ``x.T``,
``x @ W``) and once with dnp functions. Under AD (reverse, forward-over-reverse Hessian, jvp),
the symbolic differentiator and the mpmath reference both give the same derivative, and that
derivative is the closed form. Kink conventions hold through the methods: ``x.max()`` at a tie
splits its derivative evenly, as ``dnp.max`` does.
"""

from dataclasses import dataclass

import numpy as np
import pytest

import difflab
import difflab.numpy as dnp
from difflab import ad, reference
from difflab.errors import DiffLabError, UnsupportedOperationError
from difflab.reference import ReferenceKinkError

THETA = np.array([0.3, -0.7, 1.1, 0.5, -1.3, 0.9])    # no ties, no zeros, no equal |entries|
C23 = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]])
W32 = np.array([[1.0, -0.5], [0.25, 2.0], [-1.5, 0.75]])
A22 = np.array([[2.0, -1.0], [0.5, 1.5]])
W3 = np.array([0.4, -1.2, 0.7])
W6 = np.arange(1.0, 7.0) / 4
# Float64 results of a few operations on θ: within a few ulps of the closed forms
TOLERANCE = 1e-13


def matrix(t):
    return t.reshape(2, 3)


@dataclass
class Case:
    """``method``: the model written with methods and operators; ``function``: the same model
    with dnp functions; ``gradient``: its closed-form gradient at a float θ."""

    name: str
    method: object
    function: object
    gradient: object

    def __str__(self):
        return self.name


def _onehot_rows(X, pick):
    out = np.zeros_like(X)
    out[np.arange(X.shape[0]), pick(X, axis=1)] = 1
    return out


def _iterated(t):
    return sum(k * (row ** 2).sum() for k, row in enumerate(matrix(t), 1))


def _iterated_dnp(t):
    X = dnp.reshape(t, (2, 3))
    return dnp.add(dnp.sum(dnp.getitem(X, 0) ** 2), 2 * dnp.sum(dnp.getitem(X, 1) ** 2))


CASES = [
    Case("T", lambda t: (matrix(t).T * C23.T).sum(),
         lambda t: dnp.sum(dnp.transpose(dnp.reshape(t, (2, 3))) * C23.T),
         lambda t: C23.reshape(-1)),
    Case("sum(axis)", lambda t: (matrix(t).sum(axis=0) ** 2).sum(),
         lambda t: dnp.sum(dnp.sum(dnp.reshape(t, (2, 3)), axis=0) ** 2),
         lambda t: np.tile(2 * matrix(t).sum(axis=0), 2)),
    Case("sum(axis, keepdims)", lambda t: (matrix(t).sum(axis=1, keepdims=True) * matrix(t)).sum(),
         lambda t: dnp.sum(dnp.sum(dnp.reshape(t, (2, 3)), axis=1, keepdims=True)
                           * dnp.reshape(t, (2, 3))),
         lambda t: np.repeat(2 * matrix(t).sum(axis=1), 3)),
    Case("mean(axis)", lambda t: (matrix(t).mean(axis=1) ** 2).sum(),
         lambda t: dnp.sum(dnp.mean(dnp.reshape(t, (2, 3)), axis=1) ** 2),
         lambda t: np.repeat(2 * matrix(t).mean(axis=1) / 3, 3)),
    Case("mean()", lambda t: t.mean() ** 2, lambda t: dnp.mean(t) ** 2,
         lambda t: np.full(6, 2 * t.mean() / 6)),
    Case("max(axis)", lambda t: matrix(t).max(axis=1).sum(),
         lambda t: dnp.sum(dnp.max(dnp.reshape(t, (2, 3)), axis=1)),
         lambda t: _onehot_rows(matrix(t), np.argmax).reshape(-1)),
    Case("max(axis, keepdims)", lambda t: ((matrix(t) - matrix(t).max(axis=1, keepdims=True))
                                           * C23).sum(),
         lambda t: dnp.sum((dnp.reshape(t, (2, 3)) - dnp.max(dnp.reshape(t, (2, 3)), axis=1,
                                                               keepdims=True)) * C23),
         lambda t: (C23 - C23.sum(axis=1, keepdims=True)
                    * _onehot_rows(matrix(t), np.argmax)).reshape(-1)),
    Case("max()", lambda t: (t ** 2).max(), lambda t: dnp.max(t ** 2),
         lambda t: np.where(np.arange(6) == np.argmax(t ** 2), 2 * t, 0)),
    Case("min(axis)", lambda t: matrix(t).min(axis=1).sum(),
         lambda t: dnp.sum(dnp.min(dnp.reshape(t, (2, 3)), axis=1)),
         lambda t: _onehot_rows(matrix(t), np.argmin).reshape(-1)),
    Case("min()", lambda t: 2 * t.min(), lambda t: 2 * dnp.min(t),
         lambda t: np.where(np.arange(6) == np.argmin(t), 2.0, 0)),
    Case("reshape(*shape)", lambda t: (t.reshape(3, 2) * W32).sum(),
         lambda t: dnp.sum(dnp.reshape(t, (3, 2)) * W32), lambda t: W32.reshape(-1)),
    Case("reshape(shape)", lambda t: (t.reshape((3, 2)) @ A22[0]).sum(),
         lambda t: dnp.sum(dnp.matmul(dnp.reshape(t, (3, 2)), A22[0])),
         lambda t: np.tile(A22[0], 3)),
    Case("dot", lambda t: matrix(t).dot(W3).dot(matrix(t).dot(W3)),
         lambda t: dnp.dot(dnp.dot(dnp.reshape(t, (2, 3)), W3),
                           dnp.dot(dnp.reshape(t, (2, 3)), W3)),
         lambda t: (2 * np.outer(matrix(t) @ W3, W3)).reshape(-1)),
    Case("transpose(*axes)", lambda t: (t.reshape(1, 2, 3).transpose(2, 0, 1)
                                        * C23.T[:, None, :]).sum(),
         lambda t: dnp.sum(dnp.transpose(dnp.reshape(t, (1, 2, 3)), (2, 0, 1))
                           * C23.T[:, None, :]),
         lambda t: C23.reshape(-1)),
    Case("transpose(axes)", lambda t: (matrix(t).transpose((1, 0)) @ A22).max(),
         lambda t: dnp.max(dnp.matmul(dnp.transpose(dnp.reshape(t, (2, 3))), A22)),
         lambda t: _max_of_product_gradient(t)),
    Case("squeeze()", lambda t: (t.reshape(1, 6, 1).squeeze() * W6).sum(),
         lambda t: dnp.sum(dnp.squeeze(dnp.reshape(t, (1, 6, 1))) * W6), lambda t: W6),
    Case("squeeze(axis)", lambda t: (t.reshape(1, 6).squeeze(0) ** 2 * W6).sum(),
         lambda t: dnp.sum(dnp.squeeze(dnp.reshape(t, (1, 6)), 0) ** 2 * W6),
         lambda t: 2 * t * W6),
    Case("ravel", lambda t: matrix(t).ravel() @ W6,
         lambda t: dnp.matmul(dnp.reshape(dnp.reshape(t, (2, 3)), (-1,)), W6), lambda t: W6),
    Case("flatten", lambda t: (matrix(t).flatten() ** 3).sum(),
         lambda t: dnp.sum(dnp.reshape(dnp.reshape(t, (2, 3)), (-1,)) ** 3),
         lambda t: 3 * t ** 2),
    Case("astype(float)", lambda t: (matrix(t).astype(float) ** 2).sum(dtype=float),
         lambda t: dnp.sum(t ** 2), lambda t: 2 * t),
    Case("shape, ndim, size, len", lambda t: (matrix(t) ** 2).sum() * matrix(t).shape[1]
         / (matrix(t).size * matrix(t).ndim * len(matrix(t))),
         lambda t: dnp.sum(t ** 2) / 8, lambda t: t / 4),
    Case("np.shape, np.ndim, np.size", lambda t: (matrix(t) ** 2).sum()
         * np.shape(matrix(t))[1] / (np.size(matrix(t)) * np.ndim(matrix(t))),
         lambda t: dnp.sum(t ** 2) / 4, lambda t: t / 2),
    Case("iteration", _iterated, _iterated_dnp, lambda t: 2 * t * np.repeat([1.0, 2.0], 3)),
    Case("@", lambda t: ((matrix(t) @ W32) ** 2).sum(),
         lambda t: dnp.sum(dnp.matmul(dnp.reshape(t, (2, 3)), W32) ** 2),
         lambda t: (2 * (matrix(t) @ W32) @ W32.T).reshape(-1)),
    Case("@ with a constant on the left", lambda t: ((A22 @ matrix(t)) ** 2).sum(),
         lambda t: dnp.sum(dnp.matmul(A22, dnp.reshape(t, (2, 3))) ** 2),
         lambda t: (2 * A22.T @ (A22 @ matrix(t))).reshape(-1)),
    Case("**", lambda t: (t ** 3).sum() + (2.0 ** t).sum(),
         lambda t: dnp.sum(dnp.power(t, 3)) + dnp.sum(dnp.power(2.0, t)),
         lambda t: 3 * t ** 2 + np.log(2) * 2 ** t),
    Case("unary - and +", lambda t: (-matrix(t) * C23).sum() + (+t).sum(),
         lambda t: dnp.sum(dnp.negative(dnp.reshape(t, (2, 3))) * C23) + dnp.sum(t),
         lambda t: 1 - C23.reshape(-1)),
    Case("abs()", lambda t: abs(t * W6).sum(), lambda t: dnp.sum(dnp.abs(t * W6)),
         lambda t: np.sign(t) * W6),
    Case("methods of a reduced value", lambda t: ((t ** 2).sum().reshape(1)
                                                  * t.max().astype(float)).sum(),
         lambda t: dnp.sum(t ** 2) * dnp.max(t),
         lambda t: 2 * t * t.max() + (t ** 2).sum() * (np.arange(6) == np.argmax(t))),
    Case("var(axis, ddof)", lambda t: matrix(t).var(axis=1, ddof=1).sum(),
         lambda t: dnp.sum(dnp.var(dnp.reshape(t, (2, 3)), axis=1, ddof=1)),
         lambda t: (matrix(t) - matrix(t).mean(axis=1, keepdims=True)).reshape(-1)),
    Case("std()", lambda t: t.std(), lambda t: dnp.std(t),
         lambda t: (t - t.mean()) / (6 * t.std())),
    Case("prod(axis)", lambda t: matrix(t).prod(axis=0).sum(),
         lambda t: dnp.sum(dnp.prod(dnp.reshape(t, (2, 3)), axis=0)),
         lambda t: matrix(t)[::-1].reshape(-1)),
    Case("cumsum(axis)", lambda t: (matrix(t).cumsum(axis=1) * C23).sum(),
         lambda t: dnp.sum(dnp.cumsum(dnp.reshape(t, (2, 3)), axis=1) * C23),
         lambda t: C23[:, ::-1].cumsum(axis=1)[:, ::-1].reshape(-1)),
    Case("cumprod()", lambda t: t.cumprod() @ W6, lambda t: dnp.matmul(dnp.cumprod(t), W6),
         lambda t: (W6 * np.cumprod(t))[::-1].cumsum()[::-1] / t),
    Case("clip", lambda t: (t.clip(-1.0, 1.0) * W6).sum(),
         lambda t: dnp.sum(dnp.clip(t, -1.0, 1.0) * W6), lambda t: W6 * (np.abs(t) < 1)),
    Case("diagonal(offset)", lambda t: (matrix(t).diagonal(1) ** 2).sum(),
         lambda t: dnp.sum(dnp.diagonal(dnp.reshape(t, (2, 3)), 1) ** 2),
         lambda t: 2 * t * np.isin(np.arange(6), [1, 5])),
]


def _max_of_product_gradient(t):
    P = matrix(t).T @ A22
    i, j = np.unravel_index(np.argmax(P), P.shape)
    grad = np.zeros((2, 3))
    grad[:, i] = A22[:, j]
    return grad.reshape(-1)


def relative_error(value, truth):
    value, truth = np.asarray(value, dtype=float), np.asarray(truth, dtype=float)
    return np.linalg.norm(value - truth) / max(np.linalg.norm(truth), 1e-300)


def gradients(f, theta):
    """f's gradient under AD, the symbolic differentiator and the reference, by name."""
    return {"ad": ad.grad(f)(theta),
            "symbolic": difflab.differentiator("symbolic").gradient(f, theta),
            "reference": np.asarray(reference.gradient(f, theta), dtype=float)}


@pytest.mark.parametrize("case", CASES, ids=str)
def test_a_method_gives_the_gradient_of_its_dnp_function_in_every_number_system(case):
    truth = case.gradient(THETA)
    by_method, by_function = gradients(case.method, THETA), gradients(case.function, THETA)
    for name, value in by_method.items():
        assert relative_error(value, truth) <= TOLERANCE, (name, value, truth)
        assert relative_error(value, by_function[name]) <= TOLERANCE, (name, value)


HESSIAN_CASES = {case.name: case for case in CASES
                 if case.name in ("sum(axis)", "dot", "@", "**", "iteration", "mean(axis)")}
HESSIANS = {
    "sum(axis)": lambda t: 2 * np.kron(np.ones((2, 2)), np.eye(3)),
    "dot": lambda t: 2 * np.kron(np.eye(2), np.outer(W3, W3)),
    "@": lambda t: 2 * np.kron(np.eye(2), W32 @ W32.T),
    "**": lambda t: np.diag(6 * t + np.log(2) ** 2 * 2 ** t),
    "iteration": lambda t: np.diag(np.repeat([2.0, 4.0], 3)),
    "mean(axis)": lambda t: 2 / 9 * np.kron(np.eye(2), np.ones((3, 3))),
}


@pytest.mark.parametrize("name", HESSIANS)
def test_hessians_through_methods(name):
    case, truth = HESSIAN_CASES[name], HESSIANS[name](THETA)
    for f in (case.method, case.function):
        for value in (ad.hessian(f)(THETA),
                      difflab.differentiator("symbolic").hessian(f, THETA),
                      np.asarray(reference.hessian(f, THETA), dtype=float)):
            assert relative_error(value, truth) <= TOLERANCE, (name, value, truth)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_forward_mode_through_methods(case):
    """jvp (Dual values, forward mode) agrees with the closed-form gradient along a direction."""
    v = np.array([1.0, -2.0, 0.5, 0.25, 3.0, -1.0])
    value, tangent = ad.jvp(case.method, (THETA,), (v,))
    assert abs(float(value) - float(case.function(THETA))) <= TOLERANCE * abs(float(value))
    exact = case.gradient(THETA) @ v
    assert abs(tangent - exact) <= TOLERANCE * np.abs(case.gradient(THETA)) @ np.abs(v)


# Kink conventions through methods: the same as the dnp functions'.

TIED = np.array([1.0, 1.0, 1.0, -2.0])


@pytest.mark.parametrize("f, truth", [
    (lambda t: t.max(), [1 / 3, 1 / 3, 1 / 3, 0]),
    (lambda t: t.reshape(2, 2).max(axis=0).sum(), [0.5, 1, 0.5, 0]),   # ties: 1 = 1, 1 > −2
    (lambda t: (-t).min(), [-1 / 3, -1 / 3, -1 / 3, 0]),
    (lambda t: abs(t - 1).sum(), [0, 0, 0, -1]),
], ids=["max() three-way tie", "max(axis) tie", "min() tie", "abs at 0"])
def test_kink_conventions_hold_through_methods(f, truth):
    for method in ("ad", "symbolic", "symbolic-dag", "symbolic-tree"):
        value = difflab.differentiator(method).gradient(f, TIED)
        assert np.allclose(value, truth, rtol=0, atol=1e-15), (method, value)
    with pytest.raises(ReferenceKinkError):     # no derivative exists: the reference refuses
        reference.gradient(f, TIED)


def test_the_reference_evaluates_a_method_at_a_tie():
    """x.max() on mpmath numbers is dnp.max: its value at a tie is the tied value."""
    assert reference.value(lambda t: t.max() + t.min(), TIED) == -1


def test_object_arrays_keep_their_methods_through_indexing_arithmetic_and_dnp():
    """Under SymPy a plain object array's x.max() compares symbols (a BranchError); f's
    argument stays an array whose methods are dnp's through everything a model does."""
    def f(t):
        h = dnp.tanh(A22 @ t.reshape(2, 2)[:, ::-1] * 2.0 + 1.0)
        return (h.T[1:] - h.mean()).max() + (h ** 2).sum(axis=1).min()

    for method in ("symbolic", "symbolic-dag"):
        value = difflab.differentiator(method).gradient(f, TIED)
        assert relative_error(value, ad.grad(f)(TIED)) <= TOLERANCE
    at = np.array([0.3, -0.7, 1.1, 0.5])
    assert relative_error(np.asarray(reference.gradient(f, at), dtype=float),
                          ad.grad(f)(at)) <= TOLERANCE


def test_in_place_operators_on_a_copy():
    def f(t):
        h = t * 1.0
        h += t
        h *= h
        return h.sum()

    for value in gradients(f, THETA).values():
        assert relative_error(value, 8 * THETA) <= TOLERANCE


# What cannot keep the trace is refused, by name.

REFUSED = {
    "astype(int)": (lambda t: t.astype(int).sum() + (t ** 2).sum(), "integer"),
    "astype(bool)": (lambda t: (t ** 2).sum() * t.astype(bool).sum(), "integer"),
    "astype(complex)": (lambda t: t.astype(complex).sum(), "complex"),
    "sum(out=...)": (lambda t: t.sum(out=np.zeros(())), "out="),
    "len of a 0-d value": (lambda t: t.sum() * len(t.sum().reshape(())), "len()"),
    "iteration over a 0-d value": (lambda t: sum(t.sum().reshape(())), "iteration"),
}


@pytest.mark.parametrize("method", ["ad", "symbolic", "reference"])
@pytest.mark.parametrize("case", REFUSED, ids=str)
def test_what_would_drop_the_trace_is_a_named_error(case, method):
    f, words = REFUSED[case]
    with pytest.raises(DiffLabError, match=words.replace("(", r"\(").replace(")", r"\)")):
        difflab.differentiator(method).gradient(f, THETA)


def test_astype_widens_a_float32_trace_and_refuses_to_narrow():
    theta32 = THETA.astype(np.float32)
    g = ad.grad(lambda t: (t.astype(np.float64) ** 2).sum())(theta32)
    assert relative_error(g, 2 * theta32.astype(np.float64)) <= TOLERANCE
    with pytest.raises(UnsupportedOperationError, match="narrowing"):
        ad.grad(lambda t: t.astype(np.float32).sum())(THETA)


def test_a_method_dnp_lacks_is_a_named_error(monkeypatch):
    monkeypatch.delattr(dnp, "var")
    for x in (ad.grad, difflab.differentiator("symbolic").gradient):
        with pytest.raises(UnsupportedOperationError, match="no var yet"):
            x(lambda t: t.var(), THETA) if x is not ad.grad else x(lambda t: t.var())(THETA)


def test_argmax_picks_an_entry_under_ad_and_the_reference():
    f = lambda t: t[t.argmax()] * 3 + t[matrix(t).argmin(axis=1)].sum()
    truth = np.array([0, 2.0, 3.0, 0, 0, 0])     # argmax 2; argmin 1 in each row
    assert relative_error(ad.grad(f)(THETA), truth) == 0
    assert relative_error(np.asarray(reference.gradient(f, THETA), dtype=float),
                          truth) <= TOLERANCE


def test_trace_method_on_object_arrays_and_named_refusal_under_ad():
    """An AD tensor's ``trace`` is its differentiation level (the engine's attribute), so
    x.trace() there is a named error that points to dnp.trace."""
    f = lambda t: (2 * matrix(t)).trace() ** 2
    truth = 8 * (THETA[0] + THETA[4]) * np.isin(np.arange(6), [0, 4])
    assert relative_error(difflab.differentiator("symbolic").gradient(f, THETA),
                          truth) <= TOLERANCE
    assert relative_error(np.asarray(reference.gradient(f, THETA), dtype=float),
                          truth) <= TOLERANCE
    with pytest.raises(UnsupportedOperationError, match="dnp.trace"):
        ad.grad(f)(THETA)
