"""Ground truth: derivatives in mpmath at high precision, and how to measure error against them.

The reference differentiates the function's own mpmath evaluation (through ``dnp``) by
central differences with a tiny step at raised working precision, the approach of
``mpmath.diff``: independent of the AD engine and of SymPy's ``diff``.

With ``p`` the target precision in bits (``dps`` digits plus guard bits) the step is
``h = 2^-(p+10)``, so the truncation error, O(h²), lies far below ``2^-p``; the working
precision is raised to ``(k+1)(p+20)`` bits for a k-th derivative, so the round-off error,
``2^-w·|f|/h^k``, lies below ``2^-(p+30)·|f|``. With the default 50 digits, 30 or more
digits are right unless the function itself is ill-conditioned beyond 10^20.

The function runs on mpmath numbers of a private context that refuses ``float()``,
``int()`` and ``complex()``: a model that leaks to floats (``math.exp(float(x))``, a raw
NumPy call, ``np.asarray(x, dtype=float)``) raises ``FloatLeakError`` instead of returning
a wrong derivative (typically an exact zero).
"""

from contextlib import contextmanager

import mpmath
import numpy as np
from mpmath.ctx_mp_python import _mpc, _mpf

from .errors import DiffLabError, FloatLeakError, ShapeError
from .progress import Progress

DEFAULT_DPS = 50
_GUARD_BITS = 10

_CTX = mpmath.MPContext()
_armed = 0


def _leak(conversion):
    def refuse(self, _original=getattr(_mpf, f"__{conversion}__")):
        if _armed:
            raise FloatLeakError(
                f"{conversion}() was called on an mpmath number while difflab.reference "
                "evaluated the function: it leaks to floats (e.g. math.exp(float(x)) or "
                f"np.asarray(x, dtype={conversion})), so its high-precision derivative would "
                "be wrong. Write the model with difflab.numpy (dnp) functions.")
        return _original(self)
    return refuse


for _conversion in ("float", "int", "complex"):
    setattr(_CTX.mpf, f"__{_conversion}__", _leak(_conversion))
_CTX.mpc.__complex__ = _leak("complex")


@contextmanager
def _armed_guard():
    global _armed
    _armed += 1
    try:
        yield
    finally:
        _armed -= 1


def _target_bits(dps):
    return int(mpmath.ceil(dps * mpmath.log(10, 2))) + _GUARD_BITS


@contextmanager
def _working(dps, order):
    """Set the private context for a derivative of ``order``; yield the step h."""
    target = _target_bits(dps)
    saved = _CTX.prec
    _CTX.prec = (order + 1) * (target + 20)
    try:
        yield _CTX.ldexp(1, -(target + 10))
    finally:
        _CTX.prec = saved


def _as_point(theta, name):
    if isinstance(theta, np.ndarray) and theta.dtype == object:
        values = theta
    else:
        values = np.asarray(theta, dtype=np.float64)
        if not np.all(np.isfinite(values)):
            bad = np.flatnonzero(~np.isfinite(values.reshape(-1)))
            raise DiffLabError(f"reference.{name}: theta has non-finite entries at "
                               f"indices {bad[:10].tolist()}")
    if values.ndim != 1:
        raise ShapeError(f"reference.{name}: theta must be a flat vector, got shape "
                         f"{values.shape}; flatten a pytree with difflab.ravel")
    return [_CTX.mpf(v) for v in values]


def _call(f, point, name, vector):
    """Evaluate f at a list of mpmath numbers; return an mpf (or object array if vector)."""
    arg = np.empty(len(point), dtype=object)
    for i, v in enumerate(point):
        arg[i] = v
    try:
        with _armed_guard():
            out = f(arg)
    except TypeError as error:
        if "mpf" not in str(error) and "mpc" not in str(error):
            raise
        raise FloatLeakError(
            f"reference.{name}: the function called a NumPy function directly on mpmath "
            f"numbers ({error}). Write the model with difflab.numpy (dnp) functions.") from error
    return _check_output(out, name, vector)


def _check_output(out, name, vector):
    values = np.asarray(out, dtype=object) if isinstance(out, (np.ndarray, list, tuple)) \
        else np.asarray(out, dtype=object).reshape(())
    for v in values.flat:
        if not isinstance(v, (_mpf, _mpc)):
            raise FloatLeakError(
                f"reference.{name}: the function returned a {type(v).__name__}, not an mpmath "
                "number, for mpmath input: it leaks to floats or returns a constant. Write "
                "the model with difflab.numpy (dnp) functions.")
        if not _CTX.isfinite(v):
            raise DiffLabError(f"reference.{name}: the function returned {v} (not finite)")
    if vector:
        return values.reshape(-1)
    if values.size != 1:
        raise ShapeError(f"reference.{name}: the function must return a scalar, got shape "
                         f"{values.shape}; use reference.jacobian for vector-valued functions")
    return values.reshape(-1)[0]


def _shifted(point, steps):
    """point + Σ coefficient·h at the given indices; steps is a list of (index, amount)."""
    moved = list(point)
    for index, amount in steps:
        moved[index] = moved[index] + amount
    return moved


def _rounded(values, dps):
    """Hand back plain mpmath numbers rounded to ``dps`` digits (guards left behind)."""
    with mpmath.workdps(dps):
        out = np.empty(np.shape(values), dtype=object)
        for index in np.ndindex(out.shape):
            out[index] = mpmath.mpf(values[index])
    return out


def value(f, theta, dps=DEFAULT_DPS):
    """f(theta) evaluated in mpmath at ``dps`` digits."""
    point = _as_point(theta, "value")
    with _working(dps, 0):
        out = _call(f, point, "value", vector=False)
    return _rounded(np.array(out, dtype=object), dps)[()]


def gradient(f, theta, dps=DEFAULT_DPS):
    """∇f(θ) as an object array of mpmath numbers: ∂ᵢf ≈ (f(θ+heᵢ) − f(θ−heᵢ))/2h."""
    return jacobian(f, theta, dps=dps, _scalar=True)


def jacobian(F, theta, dps=DEFAULT_DPS, *, _scalar=False):
    """The (m, n) Jacobian of F: column j is (F(θ+heⱼ) − F(θ−heⱼ))/2h."""
    name = "gradient" if _scalar else "jacobian"
    point = _as_point(theta, name)
    n = len(point)
    columns = []
    with _working(dps, 1) as h, Progress(n, f"reference {name}") as bar:
        for j in range(n):
            up = _call(F, _shifted(point, [(j, h)]), name, vector=not _scalar)
            down = _call(F, _shifted(point, [(j, -h)]), name, vector=not _scalar)
            columns.append((up - down) / (2 * h))
            bar.advance()
        result = np.array(columns, dtype=object) if _scalar else \
            np.stack(columns, axis=1) if columns else np.zeros((0, 0), dtype=object)
    return _rounded(result, dps)


def hessian(f, theta, dps=DEFAULT_DPS):
    """The (n, n) Hessian by second differences with step h at triple working precision.

    Diagonal: (f(θ+2heᵢ) − 2f(θ) + f(θ−2heᵢ))/4h². Off the diagonal:
    (f(θ+heᵢ+heⱼ) − f(θ+heᵢ−heⱼ) − f(θ−heᵢ+heⱼ) + f(θ−heᵢ−heⱼ))/4h².
    """
    point = _as_point(theta, "hessian")
    n = len(point)
    H = np.empty((n, n), dtype=object)
    with _working(dps, 2) as h, Progress(n * (n + 1) // 2, "reference hessian") as bar:
        center = _call(f, point, "hessian", vector=False)
        for i in range(n):
            up = _call(f, _shifted(point, [(i, 2 * h)]), "hessian", vector=False)
            down = _call(f, _shifted(point, [(i, -2 * h)]), "hessian", vector=False)
            H[i, i] = (up - 2 * center + down) / (4 * h * h)
            bar.advance()
            for j in range(i + 1, n):
                H[i, j] = H[j, i] = _mixed(f, point, [(i, h)], [(j, h)], h, "hessian")
                bar.advance()
    return _rounded(H, dps)


def _mixed(f, point, first, second, h, name):
    """∂²f along two directions (lists of (index, step)) by the four-point formula."""
    def at(sign_a, sign_b):
        steps = [(i, sign_a * s) for i, s in first] + [(i, sign_b * s) for i, s in second]
        return _call(f, _shifted(point, steps), name, vector=False)
    return (at(1, 1) - at(1, -1) - at(-1, 1) + at(-1, -1)) / (4 * h * h)


def hvp(f, theta, v, dps=DEFAULT_DPS):
    """The Hessian-vector product H(θ)·v, entry i as the mixed second difference along eᵢ and v."""
    point = _as_point(theta, "hvp")
    direction = _as_point(v, "hvp")
    if len(direction) != len(point):
        raise ShapeError(f"reference.hvp: v has {len(direction)} entries but theta has "
                         f"{len(point)}")
    n = len(point)
    out = np.empty(n, dtype=object)
    with _working(dps, 2) as h, Progress(n, "reference hvp") as bar:
        along_v = [(j, h * d) for j, d in enumerate(direction) if d != 0]
        for i in range(n):
            out[i] = _mixed(f, point, [(i, h)], along_v, h, "hvp") if along_v else _CTX.mpf(0)
            bar.advance()
    return _rounded(out, dps)


# Error metrics: the one place that says how far a result is from the truth.

def _as_mp(values, dps):
    with mpmath.workdps(dps):
        return [mpmath.mpf(v) if not isinstance(v, (_mpf, _mpc)) else v
                for v in np.asarray(values, dtype=object).reshape(-1)]


def _check_same_shape(a, b, name):
    if np.shape(a) != np.shape(b):
        raise ShapeError(f"{name}: the result has shape {np.shape(a)} but the reference has "
                         f"shape {np.shape(b)}")


def relative_error(a, b, dps=DEFAULT_DPS):
    """‖a − b‖₂ / ‖b‖₂ with ``b`` the reference (‖a − b‖₂ when b = 0), as a float.

    Computed in mpmath when either side holds mpmath numbers, so errors far below float
    resolution (between two high-precision results) are measured, not rounded away.
    """
    _check_same_shape(a, b, "relative_error")
    if _is_objects(a) or _is_objects(b):
        with mpmath.workdps(dps):
            xs, ys = _as_mp(a, dps), _as_mp(b, dps)
            diff = mpmath.sqrt(mpmath.fsum((x - y) ** 2 for x, y in zip(xs, ys)))
            scale = mpmath.sqrt(mpmath.fsum(y ** 2 for y in ys))
            return float(diff / scale) if scale != 0 else float(diff)
    a64, b64 = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    diff, scale = np.linalg.norm((a64 - b64).ravel()), np.linalg.norm(b64.ravel())
    return float(diff / scale) if scale != 0 else float(diff)


def elementwise_error(a, b, floor=1e-8):
    """|aᵢ − bᵢ| / max(|bᵢ|, floor·‖b‖∞), element by element, as float64.

    The floor keeps entries that are zero (or tiny beside the largest) from dividing by
    zero: they are judged by their absolute error at ``floor`` times the largest entry.
    """
    _check_same_shape(a, b, "elementwise_error")
    b_obj = np.asarray(b, dtype=object)
    if _is_objects(a) or _is_objects(b):
        diff = np.array([float(abs(mpmath.mpf(x) - mpmath.mpf(y))) for x, y in
                         zip(np.asarray(a, dtype=object).flat, b_obj.flat)]).reshape(np.shape(b))
    else:
        diff = np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64))
    b64 = np.abs(b_obj.astype(np.float64))
    scale = np.maximum(b64, floor * (b64.max() if b64.size else 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(scale > 0, diff / np.where(scale > 0, scale, 1), diff)


def correct_digits(a, b, dps=DEFAULT_DPS):
    """−log10 of the relative error, capped at the reference's ``dps`` digits."""
    error = relative_error(a, b, dps=dps)
    return float(dps) if error == 0 else float(min(dps, max(0.0, -np.log10(error))))


def _is_objects(values):
    return isinstance(values, np.ndarray) and values.dtype == object or \
        isinstance(values, (_mpf, _mpc))
