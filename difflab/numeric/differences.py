"""Finite-difference gradients and Jacobians: stencils of any order, Richardson, complex step.

Every call returns a ``NumericResult``: the derivative, an error estimate per entry, the
steps, and the exact number of function evaluations. Truncation is estimated by running the
same stencil at step 2h, T(h) ≈ |D(2h) − D(h)|/(2ᵖ − 1), and round-off by ε·Σₖ|wₖfₖ|/hᵐ.
The estimate costs extra evaluations (reused where points coincide; central schemes add
F(θ) once, to look for a kink at θ itself), counted in ``estimate_evaluations``;
``estimate=False`` gives the bare scheme (n+1 forward, 2n central).
"""

import warnings
import weakref
from dataclasses import dataclass

import numpy as np

from ..errors import ComplexStepWarning, DiffLabError, NonFiniteValueError, ShapeError
from . import steps as step_rules
from .stencils import stencil

SCHEMES = ("forward", "backward", "central", "richardson", "complex-step")
KINK_FACTOR = 1e3            # how far D(h) and D(2h) may disagree beyond the model
KINK_AT_THETA_FACTOR = 100   # how far the one-sided slopes' jump must stand above round-off
NO_KINK, KINK, KINK_AT_THETA = 0, 1, 2
COMPLEX_CHECK_FACTOR = 10.0  # complex step vs central: allowed multiple of the error estimate


@dataclass
class NumericResult:
    """A numeric derivative, its error estimate per entry, and what it cost.

    ``value`` and ``error`` (None with ``estimate=False``) have the derivative's shape;
    ``steps`` are the steps taken; ``evaluations`` counts real evaluations of the function,
    of which ``estimate_evaluations`` went to the error estimate or the complex-step check;
    ``complex_evaluations`` counts complex ones, ``gradient_evaluations`` calls to a gradient
    (second derivatives), ``calls`` calls to the function (fewer when it is batched).
    ``status`` is "ok" or a reason; ``entry_status`` marks each entry "ok", "kink" (a
    stencil straddles a kink) or "kink at θ" (the one-sided derivatives at θ differ);
    ``kink_jump`` (central schemes with an estimate) is |J|, the estimated jump in slope at
    the "kink at θ" entries, 0 at the others.
    ``asymmetry`` is max|H − Hᵀ|/max|H| before a Hessian was symmetrized.
    """

    value: np.ndarray
    error: np.ndarray | None
    steps: np.ndarray
    evaluations: int
    complex_evaluations: int = 0
    gradient_evaluations: int = 0
    estimate_evaluations: int = 0
    calls: int = 0
    status: str = "ok"
    entry_status: np.ndarray | None = None
    scheme: str = ""
    asymmetry: float | None = None
    kink_jump: np.ndarray | None = None


# Checking inputs and outputs.

def as_theta(theta, name):
    """θ as a flat, finite float32/float64 vector, or a clear error."""
    array = np.asarray(theta)
    if array.dtype not in (np.float32, np.float64):
        raise DiffLabError(f"{name}: theta must be a float32 or float64 vector, got dtype "
                           f"{array.dtype}; pass np.asarray(theta, dtype=float)")
    if array.ndim != 1:
        raise ShapeError(f"{name}: theta must be a flat vector, got shape {array.shape}; "
                         "flatten a pytree with difflab.ravel")
    bad = np.flatnonzero(~np.isfinite(array))
    if bad.size:
        raise DiffLabError(f"{name}: theta has non-finite entries at indices "
                           f"{bad[:10].tolist()}")
    return array


class Samples:
    """F at the points θ + o·h·eⱼ, each evaluated once, counted, and checked finite.

    A function that declares ``F.batched = True`` takes a (k, n) stack of parameter vectors
    and returns k values (or a (k, m) stack); its points are then evaluated in one call per
    ``fill``. ``evaluations`` counts points either way, ``calls`` the calls to F.
    """

    def __init__(self, F, theta, name, scalar):
        self.F, self.theta, self.name, self.scalar = F, theta, name, scalar
        self.batched = bool(getattr(F, "batched", False))
        self.cache = {}
        self.evaluations = self.calls = 0

    @staticmethod
    def key(j, offset, h):
        return ("center",) if offset == 0 else (j, float(offset * h))

    def point(self, j, offset, h):
        point = self.theta.copy()
        if offset:
            point[j] = self.theta[j] + offset * h
        return point

    def at(self, j, offset, h):
        key = self.key(j, offset, h)
        if key not in self.cache:
            self.cache[key] = self.checked(self.F(self.point(j, offset, h)), where(j, offset, h))
            self.evaluations += 1
            self.calls += 1
        return self.cache[key]

    def fill(self, requests):
        """Evaluate the missing points among ``requests`` [(j, offset, h)], batched if F allows."""
        if not self.batched:
            return
        missing = {self.key(*r): r for r in requests if self.key(*r) not in self.cache}
        if not missing:
            return
        stack = np.stack([self.point(*r) for r in missing.values()])
        outputs = np.asarray(self.F(stack))
        if outputs.shape[:1] != (len(missing),):
            raise ShapeError(f"{self.name}: a batched function got {len(missing)} parameter "
                             f"vectors but returned shape {outputs.shape}; return one value "
                             "(or one output vector) per row")
        for (key, r), out in zip(missing.items(), outputs):
            self.cache[key] = self.checked(out, where(*r))
        self.evaluations += len(missing)
        self.calls += 1

    def checked(self, out, where):
        """F's output as a flat vector: a scalar if required, finite, or a clear error."""
        out = np.asarray(out)
        if self.scalar and out.size != 1:
            raise ShapeError(f"{self.name}: the function must return a scalar, got shape "
                             f"{out.shape}; use jacobian for vector-valued functions")
        out = out.reshape(-1)
        if not np.all(np.isfinite(out)):
            raise NonFiniteValueError(f"{self.name}: the function returned "
                                      f"{out[~np.isfinite(out)][0]} at {where}; move θ or "
                                      "choose a smaller step")
        return out


def where(j, offset, h):
    """A stencil point in words, for error messages."""
    return "θ" if offset == 0 else f"θ + {offset:g}·h·e_{j} (entry {j}, step h={h:.3g})"


def _apply(samples, st, h, also=()):
    """D(h) = Σₖ wₖ F(θ + oₖhⱼeⱼ)/hⱼᵐ per coordinate, and its round-off ε·Σₖ|wₖFₖ|/hⱼᵐ.

    ``also``: more points to evaluate in the same batched call."""
    eps = step_rules.epsilon(samples.theta)
    samples.fill([(j, o, hj) for j, hj in enumerate(h) for o, _ in st.nonzero()] + list(also))
    values, roundoff = [], []
    for j, hj in enumerate(h):
        terms = np.array([w * samples.at(j, o, hj) for o, w in st.nonzero()])
        scale = float(hj) ** st.derivative
        values.append(terms.sum(axis=0) / scale)
        roundoff.append(eps * np.sum(np.abs(terms), axis=0) / scale)
    return np.array(values), np.array(roundoff)


# The schemes; each returns (D, error, kinks, samples, h, estimate_evaluations), with D,
# error and kinks of shape (n, m): one row per coordinate, one column per output. kinks
# holds NO_KINK, KINK (a stencil straddles one) or KINK_AT_THETA (the one-sided slopes at θ
# differ: the derivative itself does not exist there); a central scheme's estimate adds
# ``jumps`` (the jump in slope at θ where it flags one, else 0), the others None.

def _plain(F, theta, scheme, order, step, estimate, name, scalar, at_theta=True):
    """Σₖ wₖ F(θ + oₖhⱼeⱼ)/hⱼ, error O(hᵖ) at h ≈ ε^(1/(p+1)); truncation from the stencil at 2h.

    ``at_theta``: a central scheme's estimate also looks for a kink at θ (one more point)."""
    st = stencil(1, order, scheme)
    h = step_rules.step(theta, 1, order, scheme, override=step)
    samples = Samples(F, theta, name, scalar)
    D, R = _apply(samples, st, h)
    spent = samples.evaluations
    if not estimate:
        return D, None, None, samples, h, 0, None
    at_theta = at_theta and scheme == "central"
    D2, R2 = _apply(samples, st, 2 * h, also=[(0, 0, 0.0)] if at_theta else ())
    truncation = np.abs(D2 - D) / (2 ** order - 1)
    kinks = np.where(_kinks(D, D2, R, R2, h, theta, order), KINK, NO_KINK)
    jumps = _jumps_at_theta(samples, h, D) if at_theta else None
    if at_theta:
        kinks = np.where(jumps > 0, KINK_AT_THETA, kinks)
    return D, truncation + R, kinks, samples, h, samples.evaluations - spent, jumps


def _kinks(D, D2, R, R2, h, theta, order):
    """Entries where |D(2h) − D(h)| exceeds KINK_FACTOR × what a smooth function allows.

    Model: derivatives of successive orders are comparable on the unit scale s = max(|x|, 1),
    so |D(2h) − D(h)| ≲ 2ᵖ·(R(h) + R(2h) + (h/s)ᵖ·|D|). A kink inside the stencil breaks it:
    the difference is then of the size of the jump in slope, independent of h. A kink much
    closer to θ than both steps (or exactly at θ) gives the same one-sided average at both
    and is not flagged.
    """
    s = np.maximum(np.abs(theta), 1)[:, None]
    model = 2 ** order * (R + R2 + (h[:, None] / s) ** order * np.abs(D))
    return np.abs(D2 - D) > KINK_FACTOR * model


def slope_jump(center, up, down, up2, down2, h, eps, truncation):
    """|J| where the one-sided slopes at θ differ by a jump J that does not shrink with h,
    else 0; elementwise over F's outputs, from F at θ, θ ± h·e and θ ± 2h·e.

    S(h) = (F(θ + he) − 2F(θ) + F(θ − he))/h is the forward slope minus the backward one:
    J + h·F″ + O(h³), with J the jump in slope at θ (0 where F is smooth), so the
    extrapolation 2S(h) − S(2h) = J − h³F⁗/2 + … removes the curvature term. Flagged where
    it stands KINK_AT_THETA_FACTOR times above its round-off 2R(h) + R(2h), with
    R(h) = ε(|F₊| + 2|F₀| + |F₋|)/h, and KINK_FACTOR times above ``truncation``, the size of
    the h³ term (which matters at the wider steps of order 4); a kink within h of θ is
    flagged too. Central differences, which average the two sides at every step, miss it.
    """
    S1, S2 = (up - 2 * center + down) / h, (up2 - 2 * center + down2) / (2 * h)
    R1 = eps * (np.abs(up) + 2 * np.abs(center) + np.abs(down)) / h
    R2 = eps * (np.abs(up2) + 2 * np.abs(center) + np.abs(down2)) / (2 * h)
    jump = np.abs(2 * S1 - S2)
    return np.where(jump > KINK_AT_THETA_FACTOR * (2 * R1 + R2) + KINK_FACTOR * truncation,
                    jump, 0.0)


def _jumps_at_theta(samples, h, D):
    """``slope_jump`` along each coordinate, with the h³ term modelled as ``_kinks`` does,
    (h/s)³·|D| on the unit scale s = max(|θⱼ|, 1). Costs one evaluation, F(θ), in the central
    scheme's estimate; Richardson keeps its 2·levels·n evaluations and does not look."""
    eps = step_rules.epsilon(samples.theta)
    center = samples.at(0, 0, 0.0)
    rows = []
    for j, hj in enumerate(h):
        truncation = (hj / max(abs(samples.theta[j]), 1)) ** 3 * np.abs(D[j])
        rows.append(slope_jump(center, samples.at(j, 1, hj), samples.at(j, -1, hj),
                               samples.at(j, 1, 2 * hj), samples.at(j, -1, 2 * hj), hj, eps,
                               truncation))
    return np.array(rows)


def _halving_kinks(rows):
    """Entries where central differences at h, h/2, h/4, … stop converging like O(h²).

    For a smooth function Δₖ = D(h/2ᵏ) − D(h/2ᵏ⁺¹) shrinks by 4 per halving; where Δₖ stands
    above round-off (> 100·(Rₖ + Rₖ₊₁)) yet shrinks by less than 2, or drops by more than 8
    below max(Δₖ₊₁, 100·R), a kink sits inside the larger stencil.
    """
    kinks = np.zeros(rows[0][0].shape, dtype=bool)
    for (D0, R0), (D1, R1), (D2, R2) in zip(rows, rows[1:], rows[2:]):
        first, second = np.abs(D0 - D1), np.abs(D1 - D2)
        significant = first > 100 * (R0 + R1)
        floor = np.maximum(second, 100 * (R1 + R2))
        kinks |= significant & ((first < 2 * second) | (first > 8 * floor))
    return kinks


def _richardson(F, theta, levels, step, name, scalar):
    """Central differences at h, h/2, …, h/2^(K−1) extrapolated by Neville's tableau.

    T[k][l] = T[k][l−1] + (T[k][l−1] − T[k−1][l−1])/(4ˡ − 1), error O(h^(2K)) with
    h ≈ ε^(1/(2K+1)); the estimate is |T[K−1][K−1] − T[K−1][K−2]| plus the round-off carried
    through the tableau; kinks are sought with ``_halving_kinks``.
    """
    if isinstance(levels, bool) or not isinstance(levels, (int, np.integer)) or levels < 2:
        raise DiffLabError(f"{name}: richardson needs levels ≥ 2 (an integer), got {levels!r}")
    st = stencil(1, 2, "central")
    h = step_rules.step(theta, 1, 2 * levels, override=step, c=1.0)
    samples = Samples(F, theta, name, scalar)
    rows = [_apply(samples, st, h / 2 ** k) for k in range(levels)]
    kinks = np.where(_halving_kinks(rows), KINK, NO_KINK)
    T = [[D] for D, _ in rows]
    R = [[r] for _, r in rows]
    for k in range(1, levels):
        for l in range(1, k + 1):
            factor = 4 ** l - 1
            T[k].append(T[k][l - 1] + (T[k][l - 1] - T[k - 1][l - 1]) / factor)
            R[k].append(R[k][l - 1] + (R[k][l - 1] + R[k - 1][l - 1]) / factor)
    best, previous = T[-1][-1], T[-1][-2]
    return best, np.abs(best - previous) + R[-1][-1], kinks, samples, h, 0, None


def _complex_step(F, theta, step, name, scalar):
    """∂ⱼF ≈ Im F(θ + i·h·eⱼ)/h: no subtraction, so no round-off penalty; error O(h²).

    Estimate: ε·(4|∂ⱼF| + ‖∇F‖∞/10), the rounding of the imaginary part's own arithmetic: a
    few roundings of the entry along the chain, plus a share of the largest entry for the
    cancellation in the sums that form small entries. The true error is rounding noise that
    spans two decades around ε|∂ⱼF| on the zoo MLPs (5th–95th percentile 0.07–7), wider than
    any 30× window: this estimate covers it on 94% of entries and is within 30× on 81%.
    """
    h = step_rules.complex_step(theta, override=step)
    cdtype = np.complex64 if theta.dtype == np.float32 else np.complex128
    columns = []
    for j in range(theta.size):
        point = theta.astype(cdtype)
        point[j] += 1j * h[j]
        out = np.asarray(F(point))
        columns.append(_imaginary(out, name, scalar, j, h[j]) / h[j])
    D = np.array(columns)
    eps = step_rules.epsilon(theta)
    error = eps * (4 * np.abs(D) + np.max(np.abs(D), axis=0, initial=0.0) / 10)
    return D, error, None, None, h, 0, None


def _imaginary(out, name, scalar, j, h):
    if scalar and out.size != 1:
        raise ShapeError(f"{name}: the function must return a scalar, got shape {out.shape}")
    if not np.iscomplexobj(out):
        raise DiffLabError(f"{name}: the function returned a real {out.dtype} value for complex "
                           "input, dropping the imaginary part the complex step needs; write it "
                           "with difflab.numpy (dnp) functions")
    out = out.reshape(-1)
    if not np.all(np.isfinite(out)):
        raise NonFiniteValueError(f"{name}: the function returned a non-finite value at "
                                  f"θ + i·h·e_{j} (entry {j}, step h={h:.3g})")
    return out.imag


# Public functions.

def gradient(f, theta, scheme="central", order=2, step=None, *, estimate=True, levels=4,
             check=True):
    """∇f(θ) by finite differences; a NumericResult with value of shape (n,).

    Schemes: "forward"/"backward" (error O(hᵖ), h ≈ ε^(1/(p+1)); order 1 costs n+1),
    "central" (even orders, error O(hᵖ); order 2 costs 2n, order 4 costs 4n), "richardson"
    (``levels`` central differences at h/2ᵏ extrapolated, 2·levels·n), "complex-step"
    (Im f(θ + ihe_j)/h, machine precision, n complex evaluations; f written with dnp).

    ``step`` overrides the step rule (a scalar or one step per coordinate). ``estimate=False``
    skips the error estimate (and its evaluations). ``check``: on the first complex step of a
    function, cross-check it against central differences (2n–4n real evaluations, counted)
    and warn (ComplexStepWarning) if they disagree.
    """
    result = _differentiate(f, theta, scheme, order, step, estimate, levels, "gradient", True,
                            check)
    return _reshaped(result, lambda a: a[:, 0])


def jacobian(F, theta, scheme="central", order=2, step=None, *, estimate=True, levels=4,
             check=True, kink_at_theta=True):
    """The (m, n) Jacobian of F: column j is the finite difference along eⱼ (see ``gradient``).

    ``kink_at_theta=False`` skips the central estimate's evaluation of F(θ) (used to look for
    a kink at θ itself), e.g. when F is a gradient and the Jacobian a Hessian."""
    result = _differentiate(F, theta, scheme, order, step, estimate, levels, "jacobian", False,
                            check, kink_at_theta)
    return _reshaped(result, lambda a: a.T)


def _differentiate(F, theta, scheme, order, step, estimate, levels, name, scalar, check,
                   kink_at_theta=True):
    theta = as_theta(theta, name)
    if scheme in ("forward", "backward", "central"):
        parts = _plain(F, theta, scheme, order, step, estimate, name, scalar, kink_at_theta)
    elif scheme == "richardson":
        parts = _richardson(F, theta, levels, step, name, scalar)
    elif scheme == "complex-step":
        parts = _complex_step(F, theta, step, name, scalar)
    else:
        raise DiffLabError(f"{name}: unknown scheme {scheme!r}; choose one of {', '.join(SCHEMES)}")
    D, error, kinks, samples, h, extra, jumps = parts
    result = NumericResult(D, error, h, samples.evaluations if samples else 0,
                           estimate_evaluations=extra, scheme=scheme,
                           calls=samples.calls if samples else theta.size)
    if samples is None:
        result.complex_evaluations = theta.size
        if check:
            _check_analytic(F, theta, D, result, name, scalar)
    _set_status(result, kinks, D.shape)
    result.kink_jump = jumps
    return result


def _set_status(result, kinks, shape):
    status = np.full(shape, "ok", dtype=object)
    if kinks is not None and kinks.any():
        status[kinks == KINK] = "kink"
        status[kinks == KINK_AT_THETA] = "kink at θ"
        entries = sorted(set(np.argwhere(kinks)[:, 0].tolist()))
        result.status = f"kink: a stencil straddles a kink along coordinates {entries[:20]}"
    result.entry_status = status


def _reshaped(result, reshape):
    result.value = reshape(result.value)
    result.error = None if result.error is None else reshape(result.error)
    result.entry_status = reshape(result.entry_status)
    result.kink_jump = None if result.kink_jump is None else reshape(result.kink_jump)
    return result


# The complex-step safety check: once per function, against central differences.

_analytic_checked = weakref.WeakKeyDictionary()
_analytic_checked_ids = set()      # for callables that take no weak reference


def _seen(F):
    try:
        if F in _analytic_checked:
            return True
        _analytic_checked[F] = True
    except TypeError:
        if id(F) in _analytic_checked_ids:
            return True
        _analytic_checked_ids.add(id(F))
    return False


def _check_analytic(F, theta, D, result, name, scalar):
    """On first use of F, compare the complex step with central differences; warn if they differ.

    A function that is not analytic in the way the complex step needs (numpy.abs, comparisons
    on the real part, .real) gives a wrong complex-step derivative but a right real one.
    """
    if _seen(F):
        return
    D_c, error, kinks, samples, _, _, _ = _plain(F, theta, "central", 2, None, True, name,
                                                 scalar)
    result.evaluations += samples.evaluations
    result.estimate_evaluations += samples.evaluations
    result.calls += samples.calls
    scale = np.max(np.abs(D_c), initial=0.0) * np.sqrt(step_rules.epsilon(theta))
    # at a kink the complex step takes one side (as AD does) and central differences the
    # average: a disagreement there says nothing about analyticity
    bad = (np.abs(D - D_c) > COMPLEX_CHECK_FACTOR * error + scale) & (kinks == NO_KINK)
    if bad.any():
        entries = sorted(set(np.argwhere(bad)[:, 0].tolist()))
        warnings.warn(ComplexStepWarning(
            f"{name}: the complex step disagrees with central differences along coordinates "
            f"{entries[:20]} (e.g. {D[bad][0]:.6g} vs {D_c[bad][0]:.6g}); the function likely uses "
            "a non-analytic operation (numpy.abs, .real, a comparison) on its input. Write it "
            "with difflab.numpy (dnp) or use a real scheme."), stacklevel=4)
