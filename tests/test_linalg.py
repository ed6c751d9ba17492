"""dnp.linalg against independent truths: values against numpy.linalg (float, stacked,
complex) and closed forms in mpmath; gradients and Hessians under ad, symbolic, fd-central
and complex-step against difflab.reference (50-digit mpmath), within each method's table
tolerance; forward mode against reverse mode; and the refusals: the complex step of eigh
and svd, eigenvector and singular-vector derivatives at repeated (or zero) values, singular,
rank-deficient and non-square matrices.
"""

import itertools

import mpmath
import numpy as np
import pytest

import ad_checks
import difflab
import difflab.numpy as dnp
from difflab import ad, reference
from difflab.errors import DiffLabError, KinkError, NonAnalyticError, ShapeError, \
    UnsupportedOperationError

RNG = np.random.default_rng(2016)
N = 3
GENERAL = RNG.normal(size=(N, N)) + 2 * np.eye(N)
_M = RNG.normal(size=(N, N))
SPD = _M @ _M.T + N * np.eye(N)
WEIGHTS = RNG.normal(size=(N, N))
C = RNG.normal(size=N)
TALL = RNG.normal(size=(N + 1, N))


def _stacked(seed, shape, spd=False):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=shape)
    if spd:
        return x @ np.swapaxes(x, -1, -2) + shape[-1] * np.eye(shape[-1])
    return x + 2 * np.eye(shape[-1])


# 1. Values against numpy.linalg.

@pytest.mark.parametrize("stack", [(), (2,), (2, 1)])
def test_values_match_numpy_linalg(stack):
    a = _stacked(1, stack + (N, N))
    s = _stacked(2, stack + (N, N), spd=True)
    b = np.random.default_rng(3).normal(size=stack + (N, 2))
    np.testing.assert_allclose(dnp.linalg.inv(a), np.linalg.inv(a), rtol=1e-13)
    np.testing.assert_allclose(dnp.linalg.det(a), np.linalg.det(a), rtol=1e-13)
    sign, logdet = dnp.linalg.slogdet(a)
    np.testing.assert_array_equal(sign, np.linalg.slogdet(a)[0])
    np.testing.assert_allclose(logdet, np.linalg.slogdet(a)[1], rtol=1e-13)
    np.testing.assert_allclose(dnp.linalg.solve(a, b), np.linalg.solve(a, b), rtol=1e-12)
    np.testing.assert_allclose(dnp.linalg.cholesky(s), np.linalg.cholesky(s), rtol=1e-13)
    w, v = dnp.linalg.eigh(s)
    w_np, v_np = np.linalg.eigh(s)
    np.testing.assert_allclose(w, w_np, rtol=1e-13)
    # each column is NumPy's up to its sign, with its largest entry positive
    np.testing.assert_allclose(np.abs(np.sum(v * v_np, axis=-2)), 1, rtol=1e-13)
    top = np.take_along_axis(v, np.argmax(np.abs(v), axis=-2)[..., None, :], axis=-2)
    assert np.all(top > 0)


def test_solve_takes_a_vector_and_broadcasts_stacks():
    a = _stacked(4, (2, N, N))
    np.testing.assert_allclose(dnp.linalg.solve(a[0], C), np.linalg.solve(a[0], C), rtol=1e-13)
    b = np.random.default_rng(5).normal(size=(N, 1))
    np.testing.assert_allclose(dnp.linalg.solve(a, b), np.linalg.solve(a, b), rtol=1e-13)


def test_cholesky_and_eigh_read_one_triangle_as_numpy():
    upper_changed = SPD + np.triu(np.ones((N, N)), 1) * 0.3
    np.testing.assert_array_equal(dnp.linalg.cholesky(upper_changed), dnp.linalg.cholesky(SPD))
    np.testing.assert_array_equal(dnp.linalg.eigh(upper_changed)[0], dnp.linalg.eigh(SPD)[0])
    lower_changed = SPD + np.tril(np.ones((N, N)), -1) * 0.3
    np.testing.assert_allclose(dnp.linalg.eigh(lower_changed, UPLO="U")[0],
                               np.linalg.eigh(SPD, UPLO="U")[0], rtol=1e-13)


def test_mpmath_values_keep_their_precision():
    """40 digits: A·inv(A) = I, L·Lᵀ = A, det against the permutation expansion, A v = w v."""
    with mpmath.workdps(40):
        a = np.array([[mpmath.mpf(x) for x in row] for row in GENERAL], dtype=object)
        s = np.array([[mpmath.mpf(x) for x in row] for row in SPD], dtype=object)
        tiny = mpmath.mpf(10) ** -38
        assert np.all([abs(e) < tiny for e in (a @ dnp.linalg.inv(a) - np.eye(N)).flat])
        low = dnp.linalg.cholesky(s)
        assert np.all([abs(e) < tiny * 10 for e in (low @ low.T - s).flat])
        expansion = sum(np.prod([a[i, p[i]] for i in range(N)]) * _parity(p)
                        for p in _permutations(N))
        assert abs(dnp.linalg.det(a) - expansion) < tiny
        w, v = dnp.linalg.eigh(s)
        assert np.all([abs(e) < tiny * 100 for e in (s @ v - v * w).flat])
        assert isinstance(dnp.linalg.slogdet(a)[1][()], mpmath.mpf)


def _permutations(n):
    return itertools.permutations(range(n))


def _parity(p):
    inversions = sum(p[i] > p[j] for i in range(len(p)) for j in range(i + 1, len(p)))
    return -1 if inversions % 2 else 1


def test_complex_versions_are_analytic_continuations():
    """At A + ih·E the imaginary part is h times the directional derivative (closed forms)."""
    h = 1e-20
    e = WEIGHTS
    inv = np.linalg.inv(GENERAL)
    np.testing.assert_allclose(dnp.linalg.inv(GENERAL + 1j * h * e).imag / h,
                               -inv @ e @ inv, rtol=1e-12)
    det = np.linalg.det(GENERAL)
    np.testing.assert_allclose(dnp.linalg.det(GENERAL + 1j * h * e).imag / h,
                               det * np.trace(inv @ e), rtol=1e-12)
    sign, logdet = dnp.linalg.slogdet(GENERAL + 1j * h * e)
    assert sign.imag == 0
    np.testing.assert_allclose(logdet.imag / h, np.trace(inv @ e), rtol=1e-12)
    sym = (e + e.T) / 2
    low = np.linalg.cholesky(SPD)
    low_inv = np.linalg.inv(low)
    phi = np.tril(low_inv @ sym @ low_inv.T) - np.diag(np.diag(low_inv @ sym @ low_inv.T)) / 2
    np.testing.assert_allclose(dnp.linalg.cholesky(SPD + 1j * h * sym).imag / h, low @ phi,
                               rtol=1e-12, atol=1e-14)


# 2. Derivatives against the reference, under every method (symbolic on 2×2).

def _functions(n):
    w = WEIGHTS[:n, :n]
    c = C[:n]
    general, spd = GENERAL[:n, :n], SPD[:n, :n]

    def eigvecs(t):
        _, v = dnp.linalg.eigh(dnp.reshape(t, (n, n)))
        return dnp.sum(dnp.square(dnp.transpose(v) @ c) * c)     # sign-independent

    def svdvecs(t):
        u, s, vh = dnp.linalg.svd(dnp.reshape(t, (n + 1, n)), full_matrices=False)
        return dnp.sum(dnp.square(dnp.transpose(u) @ TALL[:n + 1, 0]) * c) \
            + dnp.sum(dnp.square(vh @ c) * s)                     # sign-independent

    def qr_sum(t):
        q, r = dnp.linalg.qr(dnp.reshape(t, (n + 1, n)))
        return dnp.sum(q * TALL[:n + 1, ::-1][:, :n]) + dnp.sum(r * w)
    return {
        "inv": (lambda t: dnp.sum(dnp.linalg.inv(dnp.reshape(t, (n, n))) * w), general),
        "det": (lambda t: dnp.linalg.det(dnp.reshape(t, (n, n))), general),
        "slogdet": (lambda t: dnp.linalg.slogdet(dnp.reshape(t, (n, n)))[1], general),
        "solve a": (lambda t: dnp.sum(dnp.linalg.solve(dnp.reshape(t, (n, n)), c) * c),
                    general),
        "solve b": (lambda t: dnp.sum(dnp.square(dnp.linalg.solve(general,
                                                                  dnp.reshape(t, (n, n))))),
                    w),
        "cholesky": (lambda t: dnp.sum(dnp.linalg.cholesky(dnp.reshape(t, (n, n))) * w), spd),
        "eigh values": (lambda t: dnp.sum(dnp.linalg.eigh(dnp.reshape(t, (n, n)))[0] * c),
                        spd),
        "eigh vectors": (eigvecs, spd),
        "svd values": (lambda t: dnp.sum(dnp.linalg.svd(dnp.reshape(t, (n, n)),
                                                        compute_uv=False) * c), general),
        "svd vectors": (svdvecs, TALL[:n + 1, :n]),
        "qr": (qr_sum, TALL[:n + 1, :n]),
        "norm 2": (lambda t: dnp.linalg.norm(dnp.reshape(t, (n, n)), 2), general),
        "norm -2": (lambda t: dnp.linalg.norm(dnp.reshape(t, (n, n)), -2), general),
        "norm nuc": (lambda t: dnp.linalg.norm(dnp.reshape(t, (n, n)), "nuc"), general),
    }


ANALYTIC = {"inv", "det", "slogdet", "solve a", "solve b", "cholesky", "qr"}
NOT_SYMBOLIC = {"eigh values", "eigh vectors", "svd values", "svd vectors", "norm 2",
                "norm -2", "norm nuc"}


def _cases():
    for name in _functions(N):
        for method in ("ad", "fd-central", "complex-step", "symbolic"):
            if method == "complex-step" and name not in ANALYTIC:
                continue
            if method == "symbolic" and name in NOT_SYMBOLIC:
                continue
            yield name, method


_TRUTH = {}


def _truth(name, n):
    if (name, n) not in _TRUTH:
        f, point = _functions(n)[name]
        theta = point.ravel()
        _TRUTH[name, n] = (np.array(reference.gradient(f, theta), dtype=float),
                           np.array(reference.hessian(f, theta), dtype=float))
    return _TRUTH[name, n]


@pytest.mark.parametrize("name, method", list(_cases()))
def test_gradient_and_hessian_agree_with_the_reference(name, method):
    n = 2 if method == "symbolic" else N
    f, point = _functions(n)[name]
    theta = point.ravel()
    d = difflab.differentiator(method)
    gradient_truth, hessian_truth = _truth(name, n)
    error = reference.relative_error(d.gradient(f, theta), gradient_truth)
    assert error <= d.tolerance("gradient"), (name, method, error)
    hessian = d.hessian(f, theta)
    if np.any(hessian_truth):
        error = reference.relative_error(hessian, hessian_truth)
        assert error <= d.tolerance("hessian"), (name, method, error)
    else:                                  # linear in θ: solve's right-hand side
        assert np.max(np.abs(hessian)) <= d.tolerance("hessian") * np.max(np.abs(point))


@pytest.mark.parametrize("name", sorted(_functions(N)))
def test_forward_mode_agrees_with_reverse_mode(name):
    f, point = _functions(N)[name]
    theta = point.ravel()
    direction = np.random.default_rng(6).normal(size=theta.size)
    _, tangent = ad.jvp(f, (theta,), (direction,))
    np.testing.assert_allclose(tangent, ad.grad(f)(theta) @ direction, rtol=1e-12)


@pytest.mark.parametrize("which", ["inv", "det", "slogdet", "solve", "cholesky", "eigh"])
def test_stacked_matrices_under_ad_against_the_reference(which):
    """Two stacked 2×2 matrices, with the batched jacobian and hessian of the engine."""
    spd = which in ("cholesky", "eigh")
    point = _stacked(7, (2, 2, 2), spd=spd)
    b = np.array([[1.0, -0.5], [0.25, 2.0]])
    calls = {
        "inv": dnp.linalg.inv, "det": dnp.linalg.det,
        "slogdet": lambda a: dnp.linalg.slogdet(a)[1],
        "solve": lambda a: dnp.linalg.solve(a, b),
        "cholesky": dnp.linalg.cholesky,
        "eigh": lambda a: dnp.linalg.eigh(a)[0] + dnp.square(dnp.linalg.eigh(a)[1]),
    }

    def f(t):
        out = calls[which](dnp.reshape(t, (2, 2, 2)))
        return dnp.sum(dnp.sin(out))

    theta = point.ravel()
    gradient = ad.grad(f)(theta)
    assert reference.relative_error(gradient, reference.gradient(f, theta)) <= 1e-13
    hessian = ad.hessian(f)(theta)
    assert reference.relative_error(hessian, reference.hessian(f, theta)) <= 1e-12


def test_triangle_never_read_has_zero_derivative():
    upper = np.triu(np.ones((N, N)), 1).astype(bool)
    for name in ("cholesky", "eigh values", "eigh vectors"):
        f, point = _functions(N)[name]
        gradient = ad.grad(f)(point.ravel()).reshape(N, N)
        assert np.all(gradient[upper] == 0), name


# 3. Refusals, each a named DiffLabError.

def test_complex_step_refuses_eigh_by_name():
    f, point = _functions(N)["eigh values"]
    with pytest.raises(NonAnalyticError, match=r"dnp\.linalg\.eigh.*not analytic"):
        difflab.differentiator("complex-step").gradient(f, point.ravel())
    with pytest.raises(NonAnalyticError, match=r"\(3, 3\)"):
        dnp.linalg.eigh(SPD + 0j)


def test_repeated_eigenvalues_refuse_eigenvector_derivatives():
    """diag(1, 1, 2): the eigenvectors of 1 are any basis of a plane."""
    repeated = np.diag([1.0, 1.0, 2.0]).ravel()
    _, eigvecs = _functions(N)["eigh values"][0], _functions(N)["eigh vectors"][0]
    with pytest.raises(dnp.linalg.RepeatedEigenvalueError, match=r"eigenvalues 0 and 1") as info:
        ad.grad(eigvecs)(repeated)
    assert isinstance(info.value, KinkError) and "(3, 3)" in str(info.value)
    with pytest.raises(dnp.linalg.RepeatedEigenvalueError):
        ad.jvp(eigvecs, (repeated,), (np.ones(9),))
    smallest = lambda t: dnp.linalg.eigh(dnp.reshape(t, (N, N)))[0][0]   # noqa: E731
    with pytest.raises(dnp.linalg.RepeatedEigenvalueError):
        ad.grad(smallest)(repeated)


def test_functions_of_the_whole_eigenspace_differentiate_at_repeated_eigenvalues():
    """Σ eigenvalues = trace: its gradient is the identity, from the lower triangle."""
    total = lambda t: dnp.sum(dnp.linalg.eigh(dnp.reshape(t, (N, N)))[0])   # noqa: E731
    gradient = ad.grad(total)(np.diag([1.0, 1.0, 2.0]).ravel())
    np.testing.assert_allclose(gradient.reshape(N, N), np.eye(N), atol=1e-15)


@pytest.mark.parametrize("call", [dnp.linalg.inv, lambda a: dnp.linalg.solve(a, C)])
def test_singular_matrices_are_named_errors(call):
    singular = np.ones((N, N))
    with pytest.raises(dnp.linalg.LinAlgError, match=r"dnp\.linalg\.\w+ .*\(3, 3\).*singular"):
        call(singular)
    with pytest.raises(np.linalg.LinAlgError):       # NumPy's own handlers still catch it
        call(singular)
    with mpmath.workdps(30):
        with pytest.raises(DiffLabError, match="singular"):
            call(np.array([[mpmath.mpf(1)] * N] * N, dtype=object))


def test_not_positive_definite_is_a_named_error():
    for a in (-SPD, -SPD + 0j):
        with pytest.raises(dnp.linalg.LinAlgError, match=r"cholesky.*positive-definite"):
            dnp.linalg.cholesky(a)


@pytest.mark.parametrize("call", [dnp.linalg.inv, dnp.linalg.det, dnp.linalg.cholesky,
                                  dnp.linalg.eigh, dnp.linalg.slogdet])
def test_non_square_input_is_a_shape_error(call):
    with pytest.raises(ShapeError, match=r"dnp\.linalg\.\w+.*\(2, 3\).*\(\.\.\., n, n\)"):
        call(np.ones((2, 3)))
    with pytest.raises(ShapeError, match=r"\(3,\)"):
        call(np.ones(3))


def test_solve_names_shapes_that_do_not_line_up():
    with pytest.raises(ShapeError, match=r"solve.*\(3, 3\).*\(2,\)"):
        dnp.linalg.solve(GENERAL, np.ones(2))
    with pytest.raises(ShapeError, match=r"stacked axes"):
        dnp.linalg.solve(np.stack([GENERAL] * 2), np.ones((3, N, 1)))


def test_norm_is_the_composite_and_linalg_is_the_module():
    assert dnp.linalg.norm(GENERAL) == pytest.approx(np.linalg.norm(GENERAL), rel=1e-15)
    assert dnp.linalg.norm(GENERAL, 1) == pytest.approx(np.linalg.norm(GENERAL, 1), rel=1e-15)
    assert dnp.linalg.__name__ == "difflab.numpy.linalg"


# 4. The rule checks of test_ad_rules (reference, central differences, forward mode, H·v
# both ways, batched jacobian and hessian) on each linalg primitive, stacked and not.

RULE_CALLS = {
    "linalg.inv": (dnp.linalg.inv, False),
    "linalg.det": (dnp.linalg.det, False),
    "linalg.slogdet_stacked": (dnp.linalg.slogdet_stacked, False),
    "linalg.solve": (lambda a: dnp.linalg.solve(a, np.array([[1.0, 0.5], [-2.0, 0.25]])), False),
    "linalg.cholesky": (dnp.linalg.cholesky, True),
    "linalg.eigh_stacked": (lambda a: dnp.linalg.eigh_stacked(a) ** 2, True),
    "linalg.svd_stacked": (lambda a: dnp.linalg.svd_stacked(a) ** 2, False),
    "linalg.qr_stacked": (dnp.linalg.qr_stacked, False),
}


@pytest.mark.parametrize("stack", [(), (2,)])
@pytest.mark.parametrize("name", sorted(RULE_CALLS))
def test_rule_checks_of_every_linalg_primitive(name, stack):
    call, spd = RULE_CALLS[name]
    a = _stacked(11, stack + (2, 2), spd=spd)
    ad_checks.check_rule(call, (a,), 11)
    ad_checks.check_batched(call, (a,), 11)


def test_solve_rule_checks_in_b():
    a = _stacked(12, (2, 2))
    b = np.random.default_rng(12).normal(size=(2, 3))
    ad_checks.check_rule(dnp.linalg.solve, (a, b), 12)
    ad_checks.check_rule(lambda v: dnp.linalg.solve(a, v), (b[:, 0],), 12)


def test_svd_and_qr_rule_checks_on_tall_and_wide_matrices():
    for shape in ((3, 2), (2, 3)):
        a = np.random.default_rng(13).normal(size=shape)
        ad_checks.check_rule(RULE_CALLS["linalg.svd_stacked"][0], (a,), 13)
    ad_checks.check_rule(dnp.linalg.qr_stacked, (TALL,), 13)
    ad_checks.check_rule(lambda a: dnp.linalg.qr(a)[1], (TALL.T,), 13)   # wide: a composite


# 5. svd, qr and the singular-value norms.

def _fixed_signs(u, vh):
    """NumPy's U, Vh with eigh's convention: each U column's largest entry positive."""
    top = np.take_along_axis(u, np.argmax(np.abs(u), axis=-2)[..., None, :], axis=-2)
    flip = np.where(top < 0, -1, 1)
    return u * flip, vh * np.swapaxes(flip, -1, -2)


@pytest.mark.parametrize("shape", [(3, 3), (4, 2), (2, 4), (2, 3, 2)])
def test_svd_qr_and_norms_match_numpy_linalg(shape):
    a = np.random.default_rng(14).normal(size=shape)
    u, s, vh = dnp.linalg.svd(a, full_matrices=False)
    u_np, s_np, vh_np = np.linalg.svd(a, full_matrices=False)
    u_np, vh_np = _fixed_signs(u_np, vh_np)
    np.testing.assert_allclose(s, s_np, rtol=1e-13)
    np.testing.assert_allclose(u, u_np, atol=1e-13)
    np.testing.assert_allclose(vh, vh_np, atol=1e-13)
    np.testing.assert_allclose(dnp.linalg.svd(a, compute_uv=False), s_np, rtol=1e-13)
    q, r = dnp.linalg.qr(a)
    q_np, r_np = np.linalg.qr(a)
    d = np.sign(np.diagonal(r_np, axis1=-2, axis2=-1))
    np.testing.assert_allclose(q, q_np * d[..., None, :], atol=1e-13)
    np.testing.assert_allclose(r, r_np * d[..., :, None], atol=1e-13)
    np.testing.assert_allclose(dnp.linalg.qr(a, mode="r"), r, rtol=0, atol=0)
    for ord_ in (2, -2, "nuc"):
        np.testing.assert_allclose(dnp.linalg.norm(a, ord_, axis=(-2, -1)),
                                   np.linalg.norm(a, ord_, axis=(-2, -1)), rtol=1e-13)
        np.testing.assert_allclose(dnp.linalg.norm(a, ord_, axis=(-1, -2), keepdims=True),
                                   np.linalg.norm(a, ord_, axis=(-1, -2), keepdims=True),
                                   rtol=1e-13)


def test_svd_and_qr_in_mpmath_keep_their_precision():
    """40 digits: U diag(s) Vᵀ = A and QR = A with orthonormal columns; same signs as float."""
    with mpmath.workdps(40):
        a = np.array([[mpmath.mpf(x) for x in row] for row in TALL], dtype=object)
        tiny = mpmath.mpf(10) ** -37
        u, s, vh = dnp.linalg.svd(a, full_matrices=False)
        assert np.all([abs(e) < tiny for e in ((u * s) @ vh - a).flat])
        assert np.all([abs(e) < tiny for e in (u.T @ u - np.eye(N)).flat])
        assert list(s) == sorted(s, reverse=True)
        np.testing.assert_allclose(np.array(u, dtype=float),
                                   dnp.linalg.svd(TALL, full_matrices=False)[0], atol=1e-13)
        q, r = dnp.linalg.qr(a)
        assert np.all([abs(e) < tiny for e in (q @ r - a).flat])
        assert np.all([abs(e) < tiny for e in (q.T @ q - np.eye(N)).flat])
        np.testing.assert_allclose(np.array(r, dtype=float), dnp.linalg.qr(TALL)[1],
                                   atol=1e-13)


def test_complex_qr_is_the_analytic_continuation():
    """At A + ih·E the imaginary part is h times dQ, dR of the closed form (Q, R from
    NumPy): C = QᵀE R⁻¹, Ω = tril₋₁C − (tril₋₁C)ᵀ, dR = (C − Ω)R, dQ = (E − Q dR)R⁻¹."""
    h, e = 1e-20, np.random.default_rng(15).normal(size=TALL.shape)
    q, r = np.linalg.qr(TALL)
    d = np.sign(np.diag(r))
    q, r = q * d, r * d[:, None]
    c = q.T @ e @ np.linalg.inv(r)
    omega = np.tril(c, -1) - np.tril(c, -1).T
    dr = (c - omega) @ r
    dq = (e - q @ dr) @ np.linalg.inv(r)
    q_c, r_c = dnp.linalg.qr(TALL + 1j * h * e)
    np.testing.assert_allclose(q_c.imag / h, dq, atol=1e-13)
    np.testing.assert_allclose(r_c.imag / h, dr, atol=1e-13)


def test_nuclear_and_spectral_norm_hessians_in_closed_form():
    """∇‖A‖_* = UVᵀ and ∇‖A‖₂ = u₁v₁ᵀ (NumPy's SVD), the Hessians against the reference."""
    u, s, vh = np.linalg.svd(GENERAL)
    for ord_, truth in (("nuc", u @ vh), (2, np.outer(u[:, 0], vh[0]))):
        f = lambda t: dnp.linalg.norm(dnp.reshape(t, (N, N)), ord_)   # noqa: E731
        np.testing.assert_allclose(ad.grad(f)(GENERAL.ravel()), truth.ravel(), atol=1e-14)
        hessian = ad.hessian(f)(GENERAL.ravel())
        assert reference.relative_error(hessian, reference.hessian(f, GENERAL.ravel())) <= 1e-12


def test_complex_step_and_sympy_refuse_svd_by_name():
    f, point = _functions(N)["norm nuc"]
    with pytest.raises(NonAnalyticError, match=r"dnp\.linalg\.svd.*not\s+analytic"):
        difflab.differentiator("complex-step").gradient(f, point.ravel())
    with pytest.raises(NonAnalyticError, match=r"\(4, 3\)"):
        dnp.linalg.svd(TALL + 0j, full_matrices=False)
    import sympy
    symbols = np.array(sympy.symbols("a:4"), dtype=object).reshape(2, 2)
    with pytest.raises(UnsupportedOperationError, match=r"svd of SymPy.*\(2, 2\).*order"):
        dnp.linalg.svd(symbols)
    q, r = dnp.linalg.qr(symbols)                 # QR has a closed form: Gram–Schmidt
    assert sympy.simplify(q[0, 0] - symbols[0, 0] / sympy.sqrt(symbols[0, 0] ** 2 +
                                                               symbols[1, 0] ** 2)) == 0


def test_repeated_singular_values_refuse_singular_vector_derivatives():
    """diag(2, 2, 1): the singular vectors of 2 are any basis of a plane; Σs and max s
    (ties split evenly) still differentiate, to I and ½ diag(1, 1, 0)."""
    repeated = np.diag([2.0, 2.0, 1.0]).ravel()
    f, _ = _functions(N)["svd values"]
    with pytest.raises(dnp.linalg.RepeatedSingularValueError,
                       match=r"\(3, 3\): singular values 0 and 1") as info:
        ad.grad(f)(repeated)
    assert isinstance(info.value, KinkError)
    with pytest.raises(dnp.linalg.RepeatedSingularValueError):
        ad.jvp(f, (repeated,), (np.ones(9),))
    nuc = _functions(N)["norm nuc"][0]
    np.testing.assert_allclose(ad.grad(nuc)(repeated), np.eye(N).ravel(), atol=1e-15)
    two = _functions(N)["norm 2"][0]
    np.testing.assert_allclose(ad.grad(two)(repeated), np.diag([0.5, 0.5, 0]).ravel(),
                               atol=1e-15)


def test_zero_singular_values_and_dependent_columns_refuse_derivatives():
    rank_one = np.outer([1.0, 2.0, 3.0], [1.0, -1.0, 0.5])
    nuc = _functions(N)["norm nuc"][0]
    with pytest.raises(dnp.linalg.ZeroSingularValueError, match=r"singular value 1.*is 0"):
        ad.grad(nuc)(rank_one.ravel())
    with pytest.raises(KinkError):
        ad.jvp(nuc, (rank_one.ravel(),), (np.ones(9),))
    qr_r = lambda t: dnp.sum(dnp.linalg.qr(dnp.reshape(t, (N, N)))[1])   # noqa: E731
    with pytest.raises(dnp.linalg.LinAlgError, match=r"qr.*\(3, 3\).*full column rank"):
        ad.grad(qr_r)(rank_one.ravel())


def test_svd_and_qr_argument_refusals():
    with pytest.raises(UnsupportedOperationError, match=r"svd.*\(4, 3\).*full_matrices=False"):
        dnp.linalg.svd(TALL)
    np.testing.assert_allclose(dnp.linalg.svd(GENERAL)[1], np.linalg.svd(GENERAL)[1],
                               rtol=1e-13)                       # square: full = reduced
    with pytest.raises(UnsupportedOperationError, match=r"mode='complete'.*'reduced'"):
        dnp.linalg.qr(TALL, mode="complete")
    for call in (dnp.linalg.svd, dnp.linalg.qr):
        with pytest.raises(ShapeError, match=r"\(3,\).*\(\.\.\., m, n\)"):
            call(C)
