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

from .errors import DiffLabError, FloatLeakError, KinkError, NonFiniteValueError, ShapeError
from .numpy.methods import traced_objects
from .progress import Progress

from .metrics import DEFAULT_DPS  # noqa: E402  (one constant for both)
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
    if isinstance(dps, bool) or not isinstance(dps, (int, np.integer)) or dps < 1:
        raise DiffLabError(f"reference: dps is the number of decimal digits, a positive "
                           f"integer; got {dps!r}")
    return int(mpmath.ceil(dps * mpmath.log(10, 2))) + _GUARD_BITS


@contextmanager
def _working(dps, order, finer=0):
    """Set the private context for a derivative of ``order``; yield the step h.

    ``finer`` = k makes the step 2^k times smaller and adds k(order + 1) bits: a smooth f's
    truncation error (∝ h) and round-off (∝ 2^-w/h^order) in a difference quotient then both
    shrink by 2^-k, while the jump of a kink stays the same size.
    """
    target = _target_bits(dps)
    saved = _CTX.prec
    _CTX.prec = (order + 1) * (target + 20 + finer)
    try:
        yield _CTX.ldexp(1, -(target + 10 + finer))
    finally:
        _CTX.prec = saved


def _as_point(theta, name, what="theta"):
    if isinstance(theta, np.ndarray) and theta.dtype == object:
        values = theta
    else:
        values = np.asarray(theta, dtype=np.float64)
        if not np.all(np.isfinite(values)):
            bad = np.flatnonzero(~np.isfinite(values.reshape(-1)))
            raise DiffLabError(f"reference.{name}: {what} has non-finite entries at "
                               f"indices {bad[:10].tolist()}")
    if values.ndim != 1:
        raise ShapeError(f"reference.{name}: {what} must be a flat vector, got shape "
                         f"{values.shape}; flatten a pytree with difflab.ravel")
    return [_CTX.mpf(v) for v in values]


class RealDomainError(NonFiniteValueError):
    """f left the real numbers at θ or within the reference's step of it: a complex result
    (log or sqrt of a negative number), an infinity or NaN, or a division by zero."""


class ReferenceKinkError(KinkError):
    """f is not differentiable at θ: one-sided difference quotients disagree, so no two-sided
    derivative exists and the reference will not present their average as the truth.

    Attributes, each in the result's shape: ``kinks`` (bool, the entries that do not exist),
    ``left`` and ``right`` (float, the one-sided values of those entries; NaN where f itself
    has a kink and the entry of a second derivative is infinite), ``partial`` (float, the
    result with NaN at the kinks). ``quantity`` names what was asked for.
    """

    def __init__(self, message, quantity=None, kinks=None, left=None, right=None, partial=None):
        super().__init__(message)
        self.quantity, self.kinks, self.left, self.right, self.partial = \
            quantity, kinks, left, right, partial


def _call(f, point, name, vector, where="θ"):
    """Evaluate f at a list of mpmath numbers; return an mpf (or object array if vector).

    f gets an ObjectArray: its methods (x.sum(), x.max()) and operators are dnp's."""
    arg = np.empty(len(point), dtype=object)
    for i, v in enumerate(point):
        arg[i] = v
    arg = traced_objects(arg)
    try:
        with _armed_guard():
            out = f(arg)
    except ZeroDivisionError as error:
        raise _left_domain(name, where, f"a division by zero ({error})") from error
    except TypeError as error:
        if "mpf" not in str(error) and "mpc" not in str(error):
            raise
        raise FloatLeakError(
            f"reference.{name}: the function called a NumPy function directly on mpmath "
            f"numbers ({error}). Write the model with difflab.numpy (dnp) functions.") from error
    return _check_output(out, name, vector, where)


def _left_domain(name, where, what):
    near = "" if where == "θ" else (
        " — θ is on (or within the step h of) the edge of f's domain, where no two-sided "
        "derivative exists")
    return RealDomainError(
        f"reference.{name}: f left its real domain at {where}: {what}{near}. The function is "
        "not real-valued and finite there (log or sqrt of a negative number or of 0, a pole); "
        "evaluate it at a point inside its domain.")


def _check_output(out, name, vector, where="θ"):
    values = np.asarray(out, dtype=object) if isinstance(out, (np.ndarray, list, tuple)) \
        else np.asarray(out, dtype=object).reshape(())
    for v in values.flat:
        if isinstance(v, _mpc):
            raise _left_domain(name, where, "it returned the complex number "
                                            f"{mpmath.nstr(v, 8)}")
        if not isinstance(v, _mpf):
            raise FloatLeakError(
                f"reference.{name}: the function returned a {type(v).__name__}, not an mpmath "
                "number, for mpmath input: it leaks to floats or returns a constant. Write "
                "the model with difflab.numpy (dnp) functions.")
        if not _CTX.isfinite(v):
            raise _left_domain(name, where, f"it returned {mpmath.nstr(v, 8)} (not finite)")
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


class _Points:
    """f at θ + h·Σ cₖ·dₖ, each point evaluated once: the differences and the kink checks
    share their evaluations. A direction is a coordinate j (eⱼ) or "v" (the hvp direction)."""

    def __init__(self, f, point, name, vector, h, v=None):
        self.f, self.point, self.name, self.vector, self.h = f, point, name, vector, h
        self.v = v
        self.values = {}

    def __call__(self, *moves):
        """f at θ + h·Σ multiple·direction, for moves (direction, multiple)."""
        key = tuple(sorted(moves, key=repr))
        if key not in self.values:
            steps = []
            for direction, multiple in key:
                along = [(direction, 1)] if direction != "v" else self.v
                steps.extend((i, multiple * d * self.h) for i, d in along)
            self.values[key] = _call(self.f, _shifted(self.point, steps), self.name,
                                     self.vector, _described(key))
        return self.values[key]


def _described(moves):
    """θ + 2h·e₁ − h·v, for a message."""
    text = "θ"
    for direction, multiple in moves:
        size = "h" if abs(multiple) == 1 else f"{abs(multiple)}h"
        along = "v" if direction == "v" else f"e{direction}"
        text += f" {'+' if multiple > 0 else '−'} {size}·{along}"
    return text


class _Check:
    """Two one-sided difference quotients that agree where f is differentiable.

    ``quotients(at, h)`` gives (right, left, size) as arrays; entry k of them decides the
    result's entries ``entries[k]``. ``size`` (or None) is |f| near θ over h: a slope of
    that order means f itself jumps. ``same_order`` says the quotients estimate those
    entries themselves (else they are slopes of f, and a disagreement makes the entries of
    a second derivative infinite).
    """

    __slots__ = ("entries", "quotients", "same_order", "label")

    def __init__(self, entries, quotients, same_order, label):
        self.entries, self.quotients, self.same_order, self.label = \
            entries, quotients, same_order, label


def _suspect(right, left, size, noise, dps):
    """Entries whose quotients differ by more than 2^(-p/2) of their size (p the target
    bits), far beyond a smooth f's O(h) = 2^-(p+10) difference unless the entry is (nearly)
    0, and by more than the round-off ``noise``; or whose slope moves f by more than
    2^(-p/2) of |f| over one step h."""
    tolerance = _CTX.ldexp(1, -(_target_bits(dps) // 2))
    suspect = np.array([abs(r - l) > max(tolerance * max(abs(r), abs(l)), noise)
                        for r, l in zip(right, left)], dtype=bool)
    if size is not None:
        suspect |= np.array([max(abs(r), abs(l)) > tolerance * s
                             for r, l, s in zip(right, left, size)], dtype=bool)
    return suspect


def _kinks(checks, at, h, dps, order, result, label, name):
    """Refuse with ``ReferenceKinkError`` where f is not differentiable: a check's suspect
    quotients, evaluated again at a step 2^16 times smaller, still disagree (a smooth f's
    disagreement shrinks with the step, a kink's does not) or grow (f jumps, or its slope is
    infinite). Only the suspect checks are evaluated again.

    The round-off of an order-k quotient is about 2^-w·|f|/h^k at w working bits; it is
    allowed 2^20 times that (cancellation inside f), which spares the second look at the
    many entries that are exactly zero where f is smooth. Larger noise is caught by it.
    """
    largest = max((abs(v) for v in np.atleast_1d(at())), default=_CTX.mpf(0))
    noise = _CTX.ldexp(largest, 20 - _CTX.prec) / h ** order
    suspects = []
    for check in checks:
        right, left, size = check.quotients(at, h)
        mask = _suspect(right, left, size, noise, dps)
        if mask.any():
            suspects.append((check, right, left, mask))
    if not suspects:
        return
    found = []
    with _working(dps, order, finer=16) as fine_h:
        fine = _Points(at.f, at.point, at.name, at.vector, fine_h, at.v)
        for check, right, left, mask in suspects:
            fine_right, fine_left, _ = check.quotients(fine, fine_h)
            for k in np.flatnonzero(mask):
                apart = abs(fine_right[k] - fine_left[k]) > abs(right[k] - left[k]) / 2
                grows = max(abs(fine_right[k]), abs(fine_left[k])) > \
                    2 * max(abs(right[k]), abs(left[k]))
                if apart or grows:
                    found.append((check, k, right[k], left[k]))
    if found:
        raise _kink_error(found, result, label, name)


def _kink_error(found, result, label, name):
    shape = np.shape(result)
    kinks = np.zeros(shape, dtype=bool)
    partial = np.array([float(v) for v in result.flat], dtype=np.float64).reshape(shape)
    left, right = partial.copy(), partial.copy()
    lines = []
    for check, k, r, l in found:
        for index in check.entries[k]:
            if not kinks[index]:
                kinks[index] = True
                left[index], right[index] = (float(l), float(r)) if check.same_order \
                    else (np.nan, np.nan)
        lines.append(f"{check.label(k)}: left {float(l):.6g}, right {float(r):.6g}")
    partial[kinks] = np.nan
    shown = "; ".join(lines[:6]) + (f"; and {len(lines) - 6} more" if len(lines) > 6 else "")
    entries = [tuple(int(i) for i in index) for index in np.argwhere(kinks)]
    return ReferenceKinkError(
        f"reference.{name}: f is not differentiable at θ, so its {label} does not exist at "
        f"{'entry' if len(entries) == 1 else 'entries'} {_entries(entries)} of {shape}: the "
        f"one-sided difference quotients disagree, or grow as the step shrinks (f jumps) "
        f"({shown}). The reference will not present "
        "their average as the truth. Judge a method there by its convention (relu′(0) = 0, "
        "abs′(0) = 0, ties split evenly, clip′ = 1 on the closed interval) or move θ off the "
        "kink; the error's .kinks, .left, .right and .partial give the details.",
        quantity=label, kinks=kinks, left=left, right=right, partial=partial)


def _entries(entries):
    if all(len(e) == 1 for e in entries):
        entries = [e[0] for e in entries]
    text = ", ".join(str(e) for e in entries[:10])
    return text + (f", … ({len(entries)} in all)" if len(entries) > 10 else "")


def _slope_check(direction, entries, label, same_order=False):
    """f's one-sided slopes along a direction: (f(θ+hd) − f(θ))/h and (f(θ) − f(θ−hd))/h."""
    def quotients(at, h):
        up, center, down = at((direction, 1)), at(), at((direction, -1))
        size = [max(abs(a), abs(b), abs(c)) / h for a, b, c in
                zip(np.atleast_1d(up), np.atleast_1d(center), np.atleast_1d(down))]
        return np.atleast_1d((up - center) / h), np.atleast_1d((center - down) / h), size
    return _Check(entries, quotients, same_order, label)


def value(f, theta, dps=DEFAULT_DPS):
    """f(theta) evaluated in mpmath at ``dps`` digits."""
    point = _as_point(theta, "value")
    with _working(dps, 0):
        out = _call(f, point, "value", vector=False)
    return _rounded(np.array(out, dtype=object), dps)[()]


def gradient(f, theta, dps=DEFAULT_DPS):
    """∇f(θ) as an object array of mpmath numbers: ∂ᵢf ≈ (f(θ+heᵢ) − f(θ−heᵢ))/2h.

    At a kink (the one-sided quotients (f(θ±heᵢ) − f(θ))/±h disagree) it raises
    ``ReferenceKinkError`` instead of returning their average.
    """
    return jacobian(f, theta, dps=dps, _scalar=True)


def jacobian(F, theta, dps=DEFAULT_DPS, *, _scalar=False):
    """The (m, n) Jacobian of F: column j is (F(θ+heⱼ) − F(θ−heⱼ))/2h.

    Each column's one-sided quotients, (F(θ+heⱼ) − F(θ))/h and (F(θ) − F(θ−heⱼ))/h, must
    agree (one more evaluation, F(θ)); where they do not, F has a kink at θ and
    ``ReferenceKinkError`` is raised.
    """
    name = "gradient" if _scalar else "jacobian"
    point = _as_point(theta, name)
    n = len(point)
    with _working(dps, 1) as h, Progress(n, f"reference {name}") as bar:
        at = _Points(F, point, name, not _scalar, h)
        at()                    # f(θ) first: a domain error there is named as at θ itself
        columns = []
        for j in range(n):
            columns.append((at((j, 1)) - at((j, -1))) / (2 * h))
            bar.advance()
        result = np.array(columns, dtype=object) if _scalar else \
            np.stack(columns, axis=1) if columns else np.zeros((0, 0), dtype=object)
        m = 1 if _scalar else result.shape[0]
        checks = [_slope_check(j, [[(j,)] if _scalar else [(i, j)] for i in range(m)],
                               lambda k, j=j: f"∂f/∂θ[{j}]" if _scalar else f"∂F[{k}]/∂θ[{j}]",
                               same_order=True)
                  for j in range(n)]
        _kinks(checks, at, h, dps, 1, result, name, name)
    return _rounded(result, dps)


def hessian(f, theta, dps=DEFAULT_DPS):
    """The (n, n) Hessian by second differences with step h at triple working precision.

    Diagonal: (f(θ+2heᵢ) − 2f(θ) + f(θ−2heᵢ))/4h². Off the diagonal:
    (f(θ+heᵢ+heⱼ) − f(θ+heᵢ−heⱼ) − f(θ−heᵢ+heⱼ) + f(θ−heᵢ−heⱼ))/4h², the mean of the two
    one-sided differences along eⱼ of the central gradient along eᵢ. Kinks are refused
    (``ReferenceKinkError``): f's one-sided slopes along each eᵢ must agree (else its row
    and column do not exist), and so must the one-sided second differences of every entry
    (2n more evaluations, f(θ±heᵢ); the rest are shared with the differences).
    """
    point = _as_point(theta, "hessian")
    n = len(point)
    H = np.empty((n, n), dtype=object)
    with _working(dps, 2) as h, Progress(n * (n + 1) // 2, "reference hessian") as bar:
        at = _Points(f, point, "hessian", False, h)
        center = at()
        checks = []
        for i in range(n):
            H[i, i] = (at((i, 2)) - 2 * center + at((i, -2))) / (4 * h * h)
            line = [(i, k) for k in range(n)] + [(k, i) for k in range(n) if k != i]
            checks.append(_slope_check(i, [line], lambda k, i=i: f"the slope along θ[{i}]"))
            checks.append(_Check([[(i, i)]], _diagonal_sides(i), True,
                                 lambda k, i=i: f"∂²f/∂θ[{i}]²"))
            bar.advance()
            for j in range(i + 1, n):
                H[i, j] = H[j, i] = _mixed(at, i, j, h)
                for a, b in ((i, j), (j, i)):
                    checks.append(_Check([[(i, j), (j, i)]], _mixed_sides(a, b), True,
                                         lambda k, a=a, b=b: f"∂/∂θ[{b}] of ∂f/∂θ[{a}]"))
                bar.advance()
        _kinks(checks, at, h, dps, 2, H, "Hessian", "hessian")
    return _rounded(H, dps)


def _central(at, direction, h, *moves):
    """The central difference along a direction, at θ moved by ``moves``."""
    return (at((direction, 1), *moves) - at((direction, -1), *moves)) / (2 * h)


def _mixed(at, a, b, h):
    """∂²f along directions a and b: the four-point formula (the mean of _mixed_sides)."""
    return (_central(at, a, h, (b, 1)) - _central(at, a, h, (b, -1))) / (2 * h)


def _mixed_sides(a, b):
    """The one-sided differences along b of the central difference along a."""
    def quotients(at, h):
        middle = _central(at, a, h)
        return (np.atleast_1d((_central(at, a, h, (b, 1)) - middle) / h),
                np.atleast_1d((middle - _central(at, a, h, (b, -1))) / h), None)
    return quotients


def _diagonal_sides(i):
    """One-sided second differences along eᵢ: (f(θ+2h) − 2f(θ+h) + f(θ))/h² and its mirror."""
    def quotients(at, h):
        center = at()
        return (np.atleast_1d((at((i, 2)) - 2 * at((i, 1)) + center) / (h * h)),
                np.atleast_1d((center - 2 * at((i, -1)) + at((i, -2))) / (h * h)), None)
    return quotients


def hvp(f, theta, v, dps=DEFAULT_DPS):
    """The Hessian-vector product H(θ)·v, entry i as the mixed second difference along eᵢ and v.

    Kinks are refused (``ReferenceKinkError``): f's one-sided slopes along v and along each
    eᵢ, and the one-sided differences of each entry along eᵢ and along v, must agree
    (2n + 3 evaluations beyond the 4n of the differences).
    """
    point = _as_point(theta, "hvp")
    direction = _as_point(v, "hvp", "v")
    if len(direction) != len(point):
        raise ShapeError(f"reference.hvp: v has {len(direction)} entries but theta has "
                         f"{len(point)}")
    n = len(point)
    out = np.empty(n, dtype=object)
    along_v = [(j, d) for j, d in enumerate(direction) if d != 0]
    with _working(dps, 2) as h, Progress(n, "reference hvp") as bar:
        at = _Points(f, point, "hvp", False, h, along_v)
        at()                    # f(θ) first: a domain error there is named as at θ itself
        checks = []
        if along_v:
            checks.append(_slope_check("v", [[(i,) for i in range(n)]],
                                       lambda k: "the slope along v"))
        for i in range(n):
            out[i] = _mixed(at, i, "v", h) if along_v else _CTX.mpf(0)
            if along_v:
                checks.append(_slope_check(i, [[(i,)]], lambda k, i=i: f"the slope along θ[{i}]"))
                checks.append(_Check([[(i,)]], _mixed_sides(i, "v"), True,
                                     lambda k, i=i: f"∂/∂v of ∂f/∂θ[{i}]"))
                checks.append(_Check([[(i,)]], _mixed_sides("v", i), True,
                                     lambda k, i=i: f"∂/∂θ[{i}] of ∂f/∂v"))
            bar.advance()
        _kinks(checks, at, h, dps, 2, out, "Hessian-vector product", "hvp")
    return _rounded(out, dps)


# Error metrics: the one place that says how far a result is from the truth.

# The error metrics live in difflab.metrics; here for the callers that know them as
# reference.relative_error and friends.
from .metrics import correct_digits, elementwise_error, relative_error  # noqa: E402,F401


# The reference behind the interface (``difflab.interface``): method "reference", its values
# rounded to θ's float type, the 50-digit ones kept in the Measurement's ``precise``.

from . import interface  # noqa: E402  (the interface needs nothing from this module)


class Reference(interface.Differentiator):
    def _prepare(self, quantity, f, theta, estimate):
        def evaluate(theta, v):
            theta = np.asarray(theta, dtype=float)
            if quantity == "hvp":
                precise = hvp(f, theta, np.asarray(v, dtype=float))
            else:
                precise = {"gradient": gradient, "jacobian": jacobian,
                           "hessian": hessian}[quantity](f, theta)
            precise = np.asarray(precise, dtype=object)
            return interface.Measurement(precise.astype(float), precise=precise)
        return evaluate, None


interface.register(Reference("reference", f"mpmath central differences at {DEFAULT_DPS} digits",
                             "reference"), color="#7f7f7f", label="reference (mpmath)")
