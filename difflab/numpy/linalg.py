"""``dnp.linalg``: the matrix functions of ``numpy.linalg`` in every number system.

Primitives (each with float, complex, SymPy and mpmath implementations; rules in
``difflab.ad.rules``): ``inv``, ``solve``, ``det``, ``cholesky``, and four with several
results, which the engine records as one array each and splits with indexing:
``slogdet_stacked`` (sign and log|det| on a last axis of 2), ``eigh_stacked``
(eigenvalues on row 0 above the eigenvectors), ``svd_stacked`` (U above the singular values
above V) and ``qr_stacked`` (Q above R, for m ≥ n). ``slogdet``, ``eigh``, ``svd`` and ``qr``
are those splits (``qr`` of a wide matrix a composite); ``norm`` is the composite of
``dnp.norm``, its matrix ord 2, −2 and 'nuc' through ``svd``.

As NumPy (LAPACK), ``cholesky`` and ``eigh`` read only one triangle of the matrix (the lower
one; ``eigh(a, UPLO='U')`` the upper), so they are functions of those entries alone and their
derivatives with respect to the other triangle are 0; every number system reads the same
triangle. Matrices may be stacked on leading axes.

The complex versions are the analytic continuations the complex step needs: ``cholesky`` is
the symmetric factorization A = LLᵀ (no conjugate), ``slogdet``'s log|det| is log(±det).
``qr`` is Gram–Schmidt with the bilinear product xᵀy (R's diagonal √(vᵀv)). ``eigh`` and
``svd`` are not analytic (their vectors carry an arbitrary sign, NumPy's complex eigh is the
Hermitian one, σ of a 1×1 matrix a is |a|), so the complex system refuses them with
``NonAnalyticError``. SymPy
has no eigenvalue ordering for symbols, so it refuses ``eigh`` and ``svd`` too (its ``qr`` is
Gram–Schmidt's closed form).
"""

import mpmath
import numpy as np
import sympy

from ..errors import DiffLabError, KinkError, NonAnalyticError, ShapeError, \
    UnsupportedOperationError
from . import COMPLEX, FLOAT, MPMATH, SYMPY, Primitive, concatenate, getitem, matmul
from .composites import norm as _composite_norm
from .composites import swapaxes

__all__ = ["inv", "solve", "det", "slogdet", "cholesky", "eigh", "svd", "qr", "norm",
           "LinAlgError", "RepeatedEigenvalueError", "RepeatedSingularValueError",
           "ZeroSingularValueError", "slogdet_stacked", "eigh_stacked", "svd_stacked",
           "qr_stacked"]


class LinAlgError(DiffLabError, np.linalg.LinAlgError):
    """A matrix function met a matrix outside its domain (singular, not positive definite).
    Also a ``numpy.linalg.LinAlgError``, so code written for NumPy still catches it."""


class RepeatedEigenvalueError(KinkError):
    """The derivative of eigenvectors (or of single eigenvalues) at a repeated eigenvalue:
    the eigenvectors of a repeated eigenvalue are any basis of its eigenspace, so no
    derivative exists."""


def _square(name, a):
    shape = np.shape(a)
    if len(shape) < 2 or shape[-1] != shape[-2]:
        raise ShapeError(f"dnp.linalg.{name}: needs square matrices (stacked on leading axes "
                         f"if several), got shape {shape}; pass an array of shape (..., n, n)")
    return shape


def _numeric(name, fn, advice):
    """fn on float/complex arrays, NumPy's LinAlgError as difflab's, naming the shapes."""
    def run(*args, **kwargs):
        _square(name, args[0])
        try:
            return fn(*args, **kwargs)
        except np.linalg.LinAlgError as error:
            shapes = " and ".join(str(np.shape(a)) for a in args[:2] if hasattr(a, "shape"))
            raise LinAlgError(f"dnp.linalg.{name} of shape {shapes}: {error}; {advice}") \
                from None
    return run


def _each_matrix(name, fn, core_shape):
    """fn(2-D object array) -> object array of ``core_shape(n)``, over every stacked matrix."""
    def run(a):
        shape = _square(name, a)
        a = np.asarray(a, dtype=object)
        stack, n = shape[:-2], shape[-1]
        out = np.empty(stack + core_shape(n), dtype=object)
        for index in np.ndindex(*stack):
            out[index] = fn(a[index])
        return out[()] if out.ndim == 0 else out
    return run


def _context(a):
    """The mpmath context of the first mpmath entry (the reference's own, at its precision)."""
    for v in np.asarray(a, dtype=object).flat:
        if hasattr(v, "context"):
            return v.context
    return mpmath.mp


def _to_mp(a, ctx):
    return ctx.matrix([[ctx.convert(v) for v in row] for row in a.tolist()])


def _from_mp(m):
    return np.array([[m[i, j] for j in range(m.cols)] for i in range(m.rows)], dtype=object)


def _mp_error(name, fn, advice):
    def run(a, *args):
        try:
            return fn(a, *args)
        except ZeroDivisionError as error:
            raise LinAlgError(f"dnp.linalg.{name} in mpmath of a matrix of shape "
                              f"{np.shape(a)}: {error or 'singular matrix'}; {advice}") from None
        except ValueError as error:
            raise LinAlgError(f"dnp.linalg.{name} in mpmath of a matrix of shape "
                              f"{np.shape(a)}: {error}; {advice}") from None
    return run


def _symmetric_from(a, upper=False):
    """The symmetric matrix that the stored triangle of the 2-D array ``a`` stands for."""
    a = np.asarray(a, dtype=object)
    if upper:
        a = a.T
    lower = np.tril(a)
    strict = np.tril(a, -1)
    return lower + strict.T


_SINGULAR = "the matrix is singular (or numerically so); check it, or regularize it"
_NOT_PD = "cholesky needs a symmetric positive-definite matrix (its lower triangle is read)"


# inv

def _sympy_inv(a):
    return np.array(sympy.Matrix(a.tolist()).inv().tolist(), dtype=object)


def _mp_inv(a):
    ctx = _context(a)
    return _from_mp(ctx.inverse(_to_mp(a, ctx)))


inv = Primitive("linalg.inv", {
    FLOAT: _numeric("inv", np.linalg.inv, _SINGULAR),
    COMPLEX: _numeric("inv", np.linalg.inv, _SINGULAR),
    SYMPY: _each_matrix("inv", _sympy_inv, lambda n: (n, n)),
    MPMATH: _each_matrix("inv", _mp_error("inv", _mp_inv, _SINGULAR), lambda n: (n, n)),
}, doc="inv(a): the inverse of each square matrix a (..., n, n)")


# det and slogdet

def _sympy_det(a):
    return sympy.Matrix(a.tolist()).det()


def _mp_det(a):
    ctx = _context(a)
    return ctx.det(_to_mp(a, ctx))


det = Primitive("linalg.det", {
    FLOAT: _numeric("det", np.linalg.det, ""), COMPLEX: _numeric("det", np.linalg.det, ""),
    SYMPY: _each_matrix("det", _sympy_det, lambda n: ()),
    MPMATH: _each_matrix("det", _mp_det, lambda n: ()),
}, doc="det(a): the determinant of each square matrix a (..., n, n)")


def _float_slogdet(a):
    sign, logabsdet = np.linalg.slogdet(a)
    return np.stack([sign, logabsdet], axis=-1)


def _complex_slogdet(a):
    """(s, log(s·det)) with s = ±1 the sign of Re det: the analytic continuation of the real
    slogdet. log(s·det) = log|det| + i·arg(s·det), from NumPy's phase and log-modulus."""
    phase, logabsdet = np.linalg.slogdet(a)
    sign = np.where(np.real(phase) < 0, -1.0, np.where(np.real(phase) > 0, 1.0, 0.0))
    angle = np.angle(phase * np.where(sign == 0, 1.0, sign))
    return np.stack([sign + 0j, logabsdet + 1j * angle], axis=-1)


def _sympy_slogdet(a):
    d = _sympy_det(a)
    return np.array([sympy.Piecewise((1, d > 0), (-1, d < 0), (0, True)),
                     sympy.Piecewise((sympy.log(d), d > 0), (sympy.log(-d), d < 0),
                                     (-sympy.oo, True))], dtype=object)


def _mp_slogdet(a):
    ctx = _context(a)
    d = ctx.det(_to_mp(a, ctx))
    if d == 0:
        return np.array([d * 0, ctx.ninf], dtype=object)
    return np.array([ctx.sign(d), ctx.ln(abs(d))], dtype=object)


slogdet_stacked = Primitive("linalg.slogdet_stacked", {
    FLOAT: _numeric("slogdet", _float_slogdet, ""),
    COMPLEX: _numeric("slogdet", _complex_slogdet, ""),
    SYMPY: _each_matrix("slogdet", _sympy_slogdet, lambda n: (2,)),
    MPMATH: _each_matrix("slogdet", _mp_slogdet, lambda n: (2,)),
}, doc="slogdet_stacked(a): slogdet's sign and log|det| stacked on a last axis of 2 (one "
       "array, so the engine records one node); the sign's derivative is 0")


def slogdet(a):
    """(sign, log|det a|), as numpy.linalg.slogdet: log|det| without overflow; its
    derivative is A⁻ᵀ, the sign's is 0."""
    stacked = slogdet_stacked(a)
    return getitem(stacked, (Ellipsis, 0)), getitem(stacked, (Ellipsis, 1))


# solve

def _solve_shapes(a, b):
    sa, sb = np.shape(a), np.shape(b)
    _square("solve", a)
    vector = len(sb) == 1
    if len(sb) == 0 or sb[0 if vector else -2] != sa[-1]:
        raise ShapeError(f"dnp.linalg.solve: a of shape {sa} and b of shape {sb} do not line "
                         f"up; b must be (n,) or (..., n, k) with n = {sa[-1]}")
    if not vector:
        try:
            np.broadcast_shapes(sa[:-2], sb[:-2])
        except ValueError:
            raise ShapeError(f"dnp.linalg.solve: the stacked axes of a {sa} and b {sb} do not "
                             "broadcast") from None
    return vector


def _numeric_solve(a, b):
    _solve_shapes(a, b)
    try:
        return np.linalg.solve(a, b)
    except np.linalg.LinAlgError as error:
        raise LinAlgError(f"dnp.linalg.solve of shapes {np.shape(a)} and {np.shape(b)}: "
                          f"{error}; {_SINGULAR}") from None


def _object_solve(solve_2d):
    def run(a, b):
        vector = _solve_shapes(a, b)
        a, b = np.asarray(a, dtype=object), np.asarray(b, dtype=object)
        if vector:
            return run(a, b[:, None])[..., 0]
        stack = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        a = np.broadcast_to(a, stack + a.shape[-2:])
        b = np.broadcast_to(b, stack + b.shape[-2:])
        out = np.empty(stack + b.shape[-2:], dtype=object)
        for index in np.ndindex(*stack):
            out[index] = solve_2d(a[index], b[index])
        return out
    return run


def _sympy_solve_2d(a, b):
    return np.array(sympy.Matrix(a.tolist()).LUsolve(sympy.Matrix(b.tolist())).tolist(),
                    dtype=object)


def _mp_solve_2d(a, b):
    ctx = _context(np.concatenate([a.ravel(), b.ravel()]))
    m = _to_mp(a, ctx)
    columns = [ctx.lu_solve(m, _to_mp(b[:, [k]], ctx)) for k in range(b.shape[1])]
    return np.array([[column[i] for column in columns] for i in range(b.shape[0])],
                    dtype=object)


solve = Primitive("linalg.solve", {
    FLOAT: _numeric_solve, COMPLEX: _numeric_solve,
    SYMPY: _object_solve(_sympy_solve_2d),
    MPMATH: _object_solve(_mp_error("solve", _mp_solve_2d, _SINGULAR)),
}, operands=2, doc="solve(a, b): x with a x = b, for b (n,) or (..., n, k) (NumPy 2's rule); "
                   "stacked axes broadcast")


# cholesky

def _complex_cholesky(a):
    """The symmetric factorization A = LLᵀ of complex A (no conjugates, so analytic), from
    A's lower triangle, by the Cholesky–Banachiewicz columns: Lⱼⱼ = √(Aⱼⱼ − Σₖ Lⱼₖ²),
    Lᵢⱼ = (Aᵢⱼ − Σₖ LᵢₖLⱼₖ)/Lⱼⱼ."""
    a = np.asarray(a, dtype=complex)
    n = a.shape[-1]
    low = np.zeros_like(a)
    for j in range(n):
        pivot = a[..., j, j] - np.sum(low[..., j, :j] ** 2, axis=-1)
        if np.any(np.real(pivot) <= 0):
            raise np.linalg.LinAlgError("Matrix is not positive definite")
        low[..., j, j] = np.sqrt(pivot)
        below = a[..., j + 1:, j] - np.sum(low[..., j + 1:, :j] * low[..., j:j + 1, :j], -1)
        low[..., j + 1:, j] = below / low[..., j:j + 1, j]
    return low


def _float_cholesky(a):
    return np.linalg.cholesky(a)


def _sympy_cholesky(a):
    return np.array(sympy.Matrix(_symmetric_from(a).tolist()).cholesky(hermitian=False)
                    .tolist(), dtype=object)


def _mp_cholesky(a):
    ctx = _context(a)
    return _from_mp(ctx.cholesky(_to_mp(_symmetric_from(a), ctx)))


cholesky = Primitive("linalg.cholesky", {
    FLOAT: _numeric("cholesky", _float_cholesky, _NOT_PD),
    COMPLEX: _numeric("cholesky", _complex_cholesky, _NOT_PD),
    SYMPY: _each_matrix("cholesky", _sympy_cholesky, lambda n: (n, n)),
    MPMATH: _each_matrix("cholesky", _mp_error("cholesky", _mp_cholesky, _NOT_PD),
                         lambda n: (n, n)),
}, doc="cholesky(a): lower-triangular L with L Lᵀ = a, reading a's lower triangle")


# eigh

def _signed(v):
    """Eigenvectors with their entry of largest magnitude positive (the first such on a
    tie): NumPy leaves each sign to LAPACK, mpmath chooses its own, and one convention makes
    eigh the same function in every number system. The sign is locally constant, so the
    derivative rules hold as they are."""
    top = np.argmax(np.abs(v), axis=-2)[..., None, :]
    return v * np.where(np.take_along_axis(v, top, axis=-2) < 0, -1, 1)


def _float_eigh(a, UPLO="L"):
    w, v = np.linalg.eigh(a, UPLO=UPLO)
    return np.concatenate([w[..., None, :], _signed(v)], axis=-2)


def _refuse_complex_eigh(a, UPLO="L"):
    raise NonAnalyticError(
        f"dnp.linalg.eigh of a complex array of shape {np.shape(a)}: the eigenvalues and "
        "eigenvectors of a symmetric matrix are not analytic functions of its entries (the "
        "eigenvectors' signs are arbitrary, NumPy's complex eigh is the Hermitian one), so "
        "the complex step would give a wrong derivative. Differentiate with 'ad', "
        "'fd-central' or the reference")


def _refuse_sympy_eigh(a, UPLO="L"):
    raise UnsupportedOperationError(
        f"dnp.linalg.eigh of SymPy expressions of shape {np.shape(a)}: symbolic eigenvalues "
        "have no ascending order (which one is smallest depends on values symbols do not "
        "have), and no closed form beyond n = 4. Differentiate with 'ad', 'fd-central' or the "
        "reference")


def _mp_eigh(a, UPLO="L"):
    def one(m):
        ctx = _context(m)
        values, vectors = ctx.eigsy(_to_mp(_symmetric_from(m, UPLO == "U"), ctx))
        values, vectors = _from_mp(values)[:, 0], _from_mp(vectors)
        order = sorted(range(len(values)), key=lambda i: values[i])
        return np.concatenate([values[order][None, :], _signed(vectors[:, order])], axis=0)
    return _each_matrix("eigh", one, lambda n: (n + 1, n))(a)


def _checked_uplo(fn):
    def run(a, UPLO="L"):
        if UPLO not in ("L", "U"):
            raise UnsupportedOperationError(f"dnp.linalg.eigh: UPLO={UPLO!r}; use 'L' (read the "
                                            "lower triangle) or 'U' (the upper)")
        _square("eigh", a)
        return fn(a, UPLO)
    return run


eigh_stacked = Primitive("linalg.eigh_stacked", {
    FLOAT: _checked_uplo(_float_eigh), COMPLEX: _checked_uplo(_refuse_complex_eigh),
    SYMPY: _checked_uplo(_refuse_sympy_eigh), MPMATH: _checked_uplo(_mp_eigh),
}, doc="eigh_stacked(a, UPLO='L'): eigh's ascending eigenvalues (row 0) above its "
       "eigenvectors (rows 1…n, one per column): shape (..., n + 1, n), one array for the "
       "engine")


def eigh(a, UPLO="L"):
    """(eigenvalues, eigenvectors) of the symmetric matrices whose ``UPLO`` triangle a holds,
    as numpy.linalg.eigh: eigenvalues ascending, eigenvectors in the columns, each signed so
    its entry of largest magnitude is positive (NumPy leaves the sign to LAPACK). Their
    derivative exists where the eigenvalues are distinct (RepeatedEigenvalueError
    elsewhere). Where two entries of an eigenvector tie in magnitude the sign may differ
    between number systems; functions that do not depend on it (vvᵀ, (v·c)², V f(w) Vᵀ)
    are safe everywhere."""
    stacked = eigh_stacked(a, UPLO)
    return getitem(stacked, (Ellipsis, 0, slice(None))), \
        getitem(stacked, (Ellipsis, slice(1, None), slice(None)))


# numpy.linalg.norm is dnp.norm itself: vector norms over one axis, matrix norms over two
norm = _composite_norm


# svd

class RepeatedSingularValueError(KinkError):
    """The derivative of singular vectors (or of single singular values) at a repeated
    singular value: their singular vectors are any basis of a subspace, so no derivative
    exists."""


class ZeroSingularValueError(KinkError):
    """The derivative of the SVD at a zero singular value: s = |σ| has a kink there (the 1×1
    SVD of a is |a|), and the singular vectors of a rank-deficient matrix jump."""


def _matrix(name, a):
    shape = np.shape(a)
    if len(shape) < 2:
        raise ShapeError(f"dnp.linalg.{name}: needs matrices (stacked on leading axes if "
                         f"several), got shape {shape}; pass an array of shape (..., m, n)")
    return shape


def _signed_pair(u, v):
    """(U, V) with each column of U signed so its entry of largest magnitude is positive,
    and V's matching column flipped with it (uᵢvᵢᵀ is unchanged): eigh's convention."""
    top = np.argmax(np.abs(u), axis=-2)[..., None, :]
    flip = np.where(np.take_along_axis(u, top, axis=-2) < 0, -1, 1)
    return u * flip, v * flip


def _svd_layout(u, s, v):
    """U (m, k) above the singular values (one row) above V (n, k): (..., m + 1 + n, k)."""
    u, v = _signed_pair(u, v)
    return np.concatenate([u, s[..., None, :], v], axis=-2)


def _float_svd(a):
    _matrix("svd", a)
    u, s, vh = np.linalg.svd(a, full_matrices=False)
    return _svd_layout(u, s, np.swapaxes(vh, -1, -2))


def _refuse_complex_svd(a):
    raise NonAnalyticError(
        f"dnp.linalg.svd of a complex array of shape {np.shape(a)}: singular values are not "
        "analytic functions of the entries (σ of a 1×1 matrix a is |a|, and the singular "
        "vectors' signs are arbitrary), so the complex step would give a wrong derivative. "
        "Differentiate with 'ad', 'fd-central' or the reference")


def _refuse_sympy_svd(a):
    _matrix("svd", a)
    raise UnsupportedOperationError(
        f"dnp.linalg.svd of SymPy expressions of shape {np.shape(a)}: symbolic singular "
        "values have no descending order (which is largest depends on values symbols do not "
        "have) and are roots of a characteristic polynomial with no closed form beyond "
        "n = 4. Differentiate with 'ad', 'fd-central' or the reference")


def _each_rectangle(name, fn, core_shape):
    """fn(2-D object array) -> object array of ``core_shape(m, n)``, over every matrix."""
    def run(a):
        shape = _matrix(name, a)
        a = np.asarray(a, dtype=object)
        out = np.empty(shape[:-2] + core_shape(*shape[-2:]), dtype=object)
        for index in np.ndindex(*shape[:-2]):
            out[index] = fn(a[index])
        return out
    return run


def _mp_svd_2d(a):
    ctx = _context(a)
    u, s, vh = ctx.svd_r(_to_mp(a, ctx), full_matrices=False, compute_uv=True)
    u, s, v = _from_mp(u), _from_mp(s)[:, 0], _from_mp(vh).T
    order = sorted(range(len(s)), key=lambda i: -s[i])
    return _svd_layout(u[:, order], s[order], v[:, order])


svd_stacked = Primitive("linalg.svd_stacked", {
    FLOAT: _float_svd, COMPLEX: _refuse_complex_svd,
    SYMPY: _refuse_sympy_svd,
    MPMATH: _each_rectangle("svd", _mp_error("svd", _mp_svd_2d, ""),
                            lambda m, n: (m + 1 + n, min(m, n))),
}, doc="svd_stacked(a): the reduced SVD of a (..., m, n), k = min(m, n): U (rows 0…m−1) "
       "above the descending singular values (row m) above V (rows m+1…m+n), shape "
       "(..., m + 1 + n, k), one array for the engine")


def svd(a, full_matrices=True, compute_uv=True, hermitian=False):
    """numpy.linalg.svd: (U, s, Vh) with a = U diag(s) Vh, s descending, each column of U
    signed so its entry of largest magnitude is positive (Vh's row with it); s alone with
    compute_uv=False. Reduced only: full_matrices=True is accepted where it is the same
    (square a, or compute_uv=False). The derivative exists at distinct non-zero singular
    values (RepeatedSingularValueError, ZeroSingularValueError elsewhere), except that
    functions of s alone that treat tied values alike (Σs, max s) differentiate at ties."""
    shape = _matrix("svd", a)
    m, n = shape[-2:]
    if hermitian:
        raise UnsupportedOperationError("dnp.linalg.svd: hermitian=True is not supported; "
                                        "for a symmetric matrix use dnp.linalg.eigh")
    if full_matrices and compute_uv and m != n:
        raise UnsupportedOperationError(
            f"dnp.linalg.svd of shape {shape} with full_matrices=True: the extra columns of "
            "the full U (or V) are any basis of a complement, with no derivative; pass "
            "full_matrices=False for the reduced SVD")
    stacked = svd_stacked(a)
    s = getitem(stacked, (Ellipsis, m, slice(None)))
    if not compute_uv:
        return s
    u = getitem(stacked, (Ellipsis, slice(0, m), slice(None)))
    v = getitem(stacked, (Ellipsis, slice(m + 1, None), slice(None)))
    return u, s, swapaxes(v, -1, -2)


# qr

def _positive_diagonal(q, r):
    """Q, R with R's diagonal ≥ 0 (the unique QR of a full-rank matrix, so a function of
    it): NumPy (Householder) and mpmath leave the signs to the algorithm."""
    d = np.diagonal(r, axis1=-2, axis2=-1)
    flip = np.where(d < 0, -1, 1)
    return q * flip[..., None, :], r * flip[..., :, None]


def _tall(a):
    shape = _matrix("qr", a)
    if shape[-2] < shape[-1]:
        raise ShapeError(f"dnp.linalg.qr_stacked: needs m ≥ n, got shape {shape}; "
                         "dnp.linalg.qr handles wide matrices")
    return shape


def _float_qr(a):
    _tall(a)
    return np.concatenate(_positive_diagonal(*np.linalg.qr(a)), axis=-2)


def _gram_schmidt(a, sqrt):
    """Modified Gram–Schmidt on the columns of a (..., m, n), m ≥ n, with the bilinear (not
    Hermitian) product xᵀy: rⱼⱼ = √(vᵀv) > 0 for real a, so complex a gives the analytic
    continuation of the real QR, and SymPy entries its closed form."""
    n = a.shape[-1]
    q = np.zeros_like(a)
    r = np.zeros(a.shape[:-2] + (n, n), dtype=a.dtype)
    for j in range(n):
        v = a[..., :, j]
        for i in range(j):
            r[..., i, j] = np.sum(q[..., :, i] * v, axis=-1)
            v = v - r[..., i:i + 1, j] * q[..., :, i]
        r[..., j, j] = sqrt(np.sum(v * v, axis=-1))
        q[..., :, j] = v / r[..., j:j + 1, j]
    return np.concatenate([q, r], axis=-2)


def _complex_qr(a):
    _tall(a)
    return _gram_schmidt(np.asarray(a, dtype=complex), np.sqrt)


def _sympy_qr(a):
    _tall(a)
    qr = _gram_schmidt(np.array(a, dtype=object), np.vectorize(sympy.sqrt, otypes=[object]))
    # R's lower triangle starts as Python's 0: every entry a SymPy number, as in every system
    return np.vectorize(sympy.sympify, otypes=[object])(qr)


def _mp_qr(a):
    _tall(a)
    return _each_rectangle("qr", _mp_qr_2d, lambda m, n: (m + n, n))(a)


def _mp_qr_2d(a):
    ctx = _context(a)
    q, r = ctx.qr(_to_mp(a, ctx), mode="skinny")
    return np.concatenate(_positive_diagonal(_from_mp(q), _from_mp(r)), axis=0)


qr_stacked = Primitive("linalg.qr_stacked", {
    FLOAT: _float_qr, COMPLEX: _complex_qr, SYMPY: _sympy_qr,
    MPMATH: _mp_qr,
}, doc="qr_stacked(a): the reduced QR of a (..., m, n) with m ≥ n and R's diagonal ≥ 0: Q "
       "(rows 0…m−1) above R (rows m…m+n−1), shape (..., m + n, n), one array for the engine")


def qr(a, mode="reduced"):
    """numpy.linalg.qr (modes 'reduced' and 'r'): a = QR, Q with orthonormal columns, R upper
    triangular with a diagonal ≥ 0 (NumPy leaves its signs to LAPACK). Differentiable where
    the first min(m, n) columns of a are independent. A wide a (m < n) is the QR of its
    first m columns, the rest of R being Qᵀ times the rest of a."""
    if mode not in ("reduced", "r"):
        raise UnsupportedOperationError(f"dnp.linalg.qr: mode={mode!r}; use 'reduced' (Q and "
                                        "R) or 'r' (R alone)")
    shape = _matrix("qr", a)
    m, n = shape[-2:]
    if m < n:
        q, r = qr(getitem(a, (Ellipsis, slice(None), slice(0, m))))
        rest = matmul(swapaxes(q, -1, -2), getitem(a, (Ellipsis, slice(None), slice(m, None))))
        r = concatenate([r, rest], axis=-1)
    else:
        stacked = qr_stacked(a)
        q = getitem(stacked, (Ellipsis, slice(0, m), slice(None)))
        r = getitem(stacked, (Ellipsis, slice(m, None), slice(None)))
    return r if mode == "r" else (q, r)
