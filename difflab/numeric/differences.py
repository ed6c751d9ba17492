"""Finite-difference gradients and Jacobians: stencils of any order, Richardson, complex step.

Every call returns a ``NumericResult``: the derivative, an error estimate per entry, the
steps, and the exact number of function evaluations. Truncation is estimated by running the
same stencil at step 2h, T(h) ≈ |D(2h) − D(h)|/(2ᵖ − 1), and round-off by ε·Σₖ|wₖfₖ|/hᵐ.
The estimate costs extra evaluations (reused where points coincide; central schemes add
F(θ) once, to look for a kink at θ itself), counted in ``estimate_evaluations``;
``estimate=False`` gives the bare scheme (n+1 forward, 2n central).

That estimate holds only where h is small for *this* function. Where |D(2h) − D(h)| is more
than a function of unit scale allows, the step adapts: it is halved along that coordinate
until successive differences shrink by 2ᵖ per halving, as the stencil's theory says
(``descend``). A stencil that straddles a kink converges once h is below the distance to
it; one that never converges, with differences that do not shrink, is a kink; anything else
is reported as an unreliable estimate, never as "ok". The complex step is guarded: a complex
number turned real (ComplexWarning) or a non-finite value is an error, and one directional
derivative is checked against central differences (``check_analytic``).
"""

import warnings
from dataclasses import dataclass

import numpy as np

from ..errors import (DiffLabError, KinkError, NonAnalyticError, NonFiniteValueError,
                      ShapeError, UnreliableEstimateWarning)
from . import steps as step_rules
from .stencils import stencil

SCHEMES = ("forward", "backward", "central", "richardson", "complex-step")
KINK_FACTOR = 1e3            # how far D(h) and D(2h) may disagree beyond the model
KINK_AT_THETA_FACTOR = 100   # how far the one-sided slopes' jump must stand above round-off
SIGNIFICANT = 100            # a difference of differences above this × round-off is signal
DESCENT_SLACK = 2 ** 0.5     # how far from 2ᵖ a converged ratio of differences may be
# A halving must promise to lower the estimated error by this factor to be taken: a smaller
# gain is within the estimate's own noise and not worth two more evaluations per coordinate
DESCENT_GAIN = 1.25
FAR_RATIO = 100.0            # truncation this far above round-off: the rule's step is too large
NO_KINK, KINK, KINK_AT_THETA, UNRELIABLE = 0, 1, 2, 3
ENTRY_STATUS = {NO_KINK: "ok", KINK: "kink", KINK_AT_THETA: "kink at θ",
                UNRELIABLE: "unreliable"}
CHECK_FACTOR = 10.0          # complex step vs central: allowed multiple of the error estimate
CHECK_SEED = 14              # the complex-step check's random direction
# |D(2h) − D(h)|/(2ᵖ − 1) estimates the leading error term; the next ones, of either sign,
# move the true error by a few percent around it on functions of the issue-14 table, so the
# estimate is doubled to bound the error, not merely approximate it
TRUNCATION_SAFETY = 2.0


@dataclass
class NumericResult:
    """A numeric derivative, its error estimate per entry, and what it cost.

    ``value`` and ``error`` (None with ``estimate=False``) have the derivative's shape;
    ``steps`` are the steps taken; ``evaluations`` counts real evaluations of the function,
    of which ``estimate_evaluations`` went to the error estimate or the complex-step check;
    ``complex_evaluations`` counts complex ones, ``gradient_evaluations`` calls to a gradient
    (second derivatives), ``calls`` calls to the function (fewer when it is batched). Every
    call numeric makes is counted, in every pass (``Counted``); calls a user's
    ``gradient_fn`` makes are invisible to it and counted only as gradients.
    ``status`` is "ok" or a reason; ``entry_status`` marks each entry "ok", "kink" (a
    stencil straddles a kink at every step down to round-off), "kink at θ" (the one-sided
    derivatives at θ differ) or "unreliable" (the differences did not converge as the step
    was halved, so the estimate is not an upper bound one can trust);
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
                         "flatten a pytree with difflab.ravel (a scalar: np.atleast_1d)")
    bad = np.flatnonzero(~np.isfinite(array))
    if bad.size:
        raise DiffLabError(f"{name}: theta has non-finite entries at indices "
                           f"{bad[:10].tolist()}")
    return array


class Counted:
    """F, counting what it is asked for: the one place difflab.numeric calls a function.

    ``evaluations`` counts real points, ``complex_evaluations`` complex ones (a complex array
    is a complex point), ``calls`` the calls; a function that declares ``F.batched = True``
    and gets a (k, n) stack is asked for k points in one call. Wrapping a Counted counts
    twice, once in each: an inner pass's own cost and the whole derivative's, both exact.
    """

    def __init__(self, F):
        self.F = F
        self.batched = bool(getattr(F, "batched", False))
        self.evaluations = self.complex_evaluations = self.calls = 0

    def __call__(self, point):
        points = len(point) if self.batched and np.ndim(point) == 2 else 1
        if np.iscomplexobj(point):
            self.complex_evaluations += points
        else:
            self.evaluations += points
        self.calls += 1
        return self.F(point)


def counted(F):
    """F as a Counted, itself if it already is one (so that passes share one count)."""
    return F if isinstance(F, Counted) else Counted(F)


class Samples:
    """F at the points θ + o·h·eⱼ (and θ + hᵢeᵢ + hⱼeⱼ, ``corner``), each evaluated once,
    counted (``Counted``, shared with every other pass over the same F) and checked finite.

    A function that declares ``F.batched = True`` takes a (k, n) stack of parameter vectors
    and returns k values (or a (k, m) stack); its points are then evaluated in one call per
    ``fill``. ``evaluations`` counts points either way, ``calls`` the calls to F.
    """

    def __init__(self, F, theta, name, scalar):
        self.F, self.theta, self.name, self.scalar = counted(F), theta, name, scalar
        self.batched = self.F.batched
        self.cache = {}

    @property
    def evaluations(self):
        return self.F.evaluations

    @property
    def calls(self):
        return self.F.calls

    @staticmethod
    def key(j, offset, h):
        return ("center",) if offset == 0 else (j, float(offset * h))

    def point(self, j, offset, h):
        point = self.theta.copy()
        if offset:
            point[j] = self.theta[j] + offset * h
        return point

    def at(self, j, offset, h):
        return self.value(self.key(j, offset, h), lambda: self.point(j, offset, h),
                          lambda: where(j, offset, h))

    def corner(self, i, j, hi, hj):
        """F(θ + hᵢeᵢ + hⱼeⱼ), i ≠ j: the mixed second differences' two-coordinate points."""
        def point():
            point = self.theta.copy()
            point[i] += hi
            point[j] += hj
            return point
        return self.value(("pair", i, j, float(hi), float(hj)), point,
                          lambda: f"θ + {hi:.3g}·e_{i} + {hj:.3g}·e_{j} (entries {i}, {j})")

    def value(self, key, point, at):
        """The cached F at ``key``, evaluated at ``point()`` the first time."""
        if key not in self.cache:
            self.cache[key] = self.checked(self.F(point()), at())
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
    """D(h) = Σₖ wₖ F(θ + oₖhⱼeⱼ)/hⱼᵐ per coordinate, and its round-off (``_row``).

    ``also``: more points to evaluate in the same batched call."""
    samples.fill([(j, o, hj) for j, hj in enumerate(h) for o, _ in st.nonzero()] + list(also))
    for point in also:
        samples.at(*point)
    values, roundoff = zip(*[_row(samples, st, j, hj) for j, hj in enumerate(h)])
    return np.array(values), np.array(roundoff)


def _apply_one(samples, st, j, h):
    """D(h) and its round-off along coordinate j alone (the adaptive schemes' extra rungs)."""
    samples.fill([(j, o, h) for o, _ in st.nonzero()])
    return _row(samples, st, j, h)


def _row(samples, st, j, h):
    """D(h) along coordinate j and its round-off ε·Σₖ|wₖ|(|Fₖ| + |θⱼ·D|)/hᵐ.

    Each value F(θ + oₖheⱼ) is rounded by about ε|Fₖ|, and by the rounding of θⱼ + oₖh
    wherever f forms a multiple of it, ε|θⱼ·∂ⱼF| (first derivatives, D ≈ ∂ⱼF): sin(10⁴x) at
    x = 0.3 is noisy at ε·3000, not ε. Without that term the descent would take steps where
    this noise, unseen, dominates the error it reports."""
    points = [(o, w, samples.at(j, o, h)) for o, w in st.nonzero()]
    terms = np.array([w * F for _, w, F in points])
    scale = float(h) ** st.derivative
    eps = step_rules.epsilon(samples.theta)
    D = terms.sum(axis=0) / scale
    argument = 0.0
    if st.derivative == 1:
        # the slope at a point is |D| near θ, but at a stationary point (D ≈ 0) the points'
        # own slopes, from F(θ) where it is already known, are what the rounding multiplies
        center = samples.cache.get(("center",))
        # ε·|θⱼ| first: F near the largest floats would overflow as |θⱼ|·F
        argument = eps * abs(float(samples.theta[j])) * sum(
            abs(w) * np.maximum(np.abs(D), 0.0 if center is None or not o else
                                np.abs(F - center) / abs(o * h)) for o, w, F in points)
    return D, eps * np.sum(np.abs(terms), axis=0) / scale + argument / scale


# The halving ladder: differences at h, h/2, h/4, … must converge like O(hᵖ) before their
# estimate is trusted. Rows are (D, R) pairs, coarse to fine.

def truncation(coarse, fine, order):
    """TRUNCATION_SAFETY·|D(2h) − D(h)|/(2ᵖ − 1): the error of D(h) when D(h) = D + C·hᵖ + …"""
    return TRUNCATION_SAFETY * np.abs(coarse - fine) / (2 ** order - 1)


def unsettled(rows, order, slack=2.0):
    """Entries where differences at successive halvings of h do not converge like O(hᵖ).

    For a smooth function at steps small for it, Δₖ = D(hₖ) − D(hₖ₊₁) keeps its sign and
    shrinks by 2ᵖ per halving. Where Δₖ stands above round-off (> SIGNIFICANT·(Rₖ + Rₖ₊₁))
    yet shrinks by less than 2ᵖ/slack, flips sign, or drops by more than 2ᵖ·slack below
    max(Δₖ₊₁, SIGNIFICANT·R), the steps are not in that regime: too large for the function,
    or a kink inside the larger stencils. The descent asks for a tighter slack (DESCENT_SLACK)
    than the first look: steps already found too large give differences that can fall by
    2–8 per halving by chance (sin(x)/x at x ≫ 1).
    """
    bad = np.zeros(np.shape(rows[0][0]), dtype=bool)
    for (D0, R0), (D1, R1), (D2, R2) in zip(rows, rows[1:], rows[2:]):
        first, second = D0 - D1, D1 - D2
        noise1, noise2 = SIGNIFICANT * (R0 + R1), SIGNIFICANT * (R1 + R2)
        same_sign = (first * second > 0) | (np.abs(second) <= noise2)
        converging = (same_sign & (np.abs(first) >= 2 ** order / slack * np.abs(second))
                      & (np.abs(first) <= 2 ** order * slack * np.maximum(np.abs(second),
                                                                        noise2)))
        bad |= (np.abs(first) > noise1) & ~converging
    return bad


def descend(rung, halve, rows, steps, order, window, settled_at, parts=None,
            answer_order=None, derivative=1, sharpen=True):
    """Halve the step until every entry's last ``window`` rows converge (``unsettled``), then
    on while its estimated total error E = T + R keeps falling; returns, per entry, the index
    of the row with least E from where it converged on (−1: it never converged).

    The first converged window only says the steps are small enough for the theory; the best
    step is smaller still wherever truncation dominates (a function varying on a scale ≪ 1:
    sin(10⁴x), 1/x at x ≈ 10⁻⁷, exp next to 709). Halving trades T → T/2ᵖ for R → 2ᵐR, so
    an entry goes on only while that prediction beats E by DESCENT_GAIN, and stops at the
    first rung where E rises (the minimum of the V, seen from its right arm).

    ``rung(h)`` gives the (D, R) row at step h, ``halve(h)`` the next step (None once it is
    lost in rounding, ``steps.halved``); ``rows`` and ``steps`` (coarse to fine) grow in
    place; ``settled_at`` (per entry, −1 for not yet) gives the rows already converged.
    ``parts(k)`` is (T, R) of the answer ending at row k, by default the difference's own,
    ``truncation(Dₖ₋₁, Dₖ)`` and Rₖ; ``answer_order`` its order (default ``order``), and
    ``derivative`` m. ``sharpen=False`` stops each entry where it first converged.
    Stops after MAX_HALVINGS halvings.
    """
    if parts is None:
        def parts(k):
            return truncation(rows[k - 1][0], rows[k][0], order), rows[k][1]
    p = order if answer_order is None else answer_order
    best = np.array(settled_at, copy=True)
    lowest = np.full(best.shape, np.inf)
    going = np.ones(best.shape, dtype=bool)

    def look(k):
        """Take row k: settle what converged there, keep what lowered E, stop the rest."""
        if k + 1 >= window:
            fresh = (best < 0) & ~unsettled(rows[k - window + 1:k + 1], order, DESCENT_SLACK)
            best[fresh] = k
        T, R = parts(k)
        E = T + R
        settled = going & (best >= 0) & (best <= k)
        better = settled & (E < lowest)
        going[settled & ~better] = False
        best[better], lowest[better] = k, E[better]
        going[better] = sharpen & improvable(T, R, p, derivative)[better]
    for k in sorted({int(b) for b in best if b >= 0} | {len(rows) - 1}):
        look(k)
    for _ in range(step_rules.MAX_HALVINGS):
        if not np.any(going):
            break
        h = halve(steps[-1])
        if h is None:
            break
        rows.append(rung(h))
        steps.append(h)
        look(len(rows) - 1)
    return best


def improvable(T, R, order, derivative=1, first=False):
    """Entries whose estimated error T + R a halved step should lower by DESCENT_GAIN: the
    truncation falls to T/2ᵖ, the round-off rises to 2ᵐR. ``first``: an entry that has not
    descended yet (its step is the rule's, right for a function of unit scale) also needs
    T > FAR_RATIO·R, a step far up the V's truncation arm, so that functions merely a few
    times livelier than the rule assumes keep their cheap estimate."""
    gains = (T / 2 ** order + 2 ** derivative * R) * DESCENT_GAIN < T + R
    return gains & (T > FAR_RATIO * R) if first else gains


def not_shrinking(rows):
    """Entries whose last difference of differences is above round-off and at least half
    the one before: a jump that stays as h shrinks (a kink), not truncation."""
    (D0, R0), (D1, R1), (D2, R2) = rows[-3:]
    first, second = np.abs(D0 - D1), np.abs(D1 - D2)
    return (second > SIGNIFICANT * (R1 + R2)) & (second >= first / 2)


# The schemes; each returns (D, error, kinks, samples, h, estimate_evaluations, jumps), with D,
# error and kinks of shape (n, m): one row per coordinate, one column per output. kinks holds
# NO_KINK, KINK (a stencil straddles one at every step tried), KINK_AT_THETA (the one-sided
# slopes at θ differ: the derivative itself does not exist there) or UNRELIABLE; ``jumps``
# (central schemes with an estimate) is the jump in slope at θ where it flags one, else 0.

def _plain(F, theta, scheme, order, step, estimate, name, scalar, at_theta=True, sharpen=True):
    """Σₖ wₖ F(θ + oₖhⱼeⱼ)/hⱼ, error O(hᵖ) at h ≈ ε^(1/(p+1)); truncation from the stencil at 2h.

    Where |D(2h) − D(h)| is beyond what a function of unit scale allows (``_suspect``), the
    step along that coordinate is halved until the differences converge (``descend``), and
    the finest converged D is returned with |Δ|/(2ᵖ − 1) + R as its estimate. With a step
    given by the user nothing adapts and such entries are "unreliable".
    ``at_theta``: a central scheme's estimate also looks for a kink at θ (one more point,
    evaluated first: the round-off model uses it). ``sharpen=False``: stop the descent where
    the differences first converge, not at the least estimated error (a cheap check).
    """
    st = stencil(1, order, scheme)
    h = step_rules.step(theta, 1, order, scheme, override=step)
    samples = Samples(F, theta, name, scalar)
    at_theta = estimate and at_theta and scheme == "central"
    D, R = _apply(samples, st, h, also=[(0, 0, 0.0)] if at_theta else ())
    spent = samples.evaluations - at_theta
    if not estimate:
        return D, None, None, samples, h, 0, None
    D2, R2 = _apply(samples, st, 2 * h)
    error = truncation(D2, D, order) + R
    kinks = np.full(D.shape, NO_KINK)
    suspect = _suspect(D, D2, R, R2, h, theta, order)
    finest = h.copy()
    # a user's step is kept as given; the rule's step goes down wherever the estimate says a
    # smaller one is better (``descend``)
    better = np.zeros_like(suspect) if step is not None or not sharpen else \
        improvable(error - R, R, order, st.derivative, first=True)
    for j in np.flatnonzero((suspect | better).any(axis=1)):
        if step is not None:
            kinks[j][suspect[j]] = UNRELIABLE
            continue
        rows, steps = [(D2[j], R2[j]), (D[j], R[j])], [2 * h[j], h[j]]
        at = descend(lambda hj, j=j: _apply_one(samples, st, j, hj),
                     lambda hj, x=theta[j]: step_rules.halved(x, hj), rows, steps, order, 4,
                     np.where(suspect[j], -1, 1), sharpen=sharpen)
        D[j], error[j], kinks[j] = _settled(rows, at, order, D[j], error[j])
        finest[j] = _finest_used(steps, at)
    jumps = None
    base = np.where(finest < h, 2 * finest, h)
    if at_theta:
        jumps = _jumps_at_theta(samples, base, D)
    elif scheme in ("forward", "backward") and _one_side_disagrees(samples, D, error, name,
                                                                    scalar):
        jumps = _jumps_at_theta(samples, base, D)
    if jumps is not None:
        kinks = np.where((jumps > 0) & (kinks != UNRELIABLE), KINK_AT_THETA, kinks)
    return D, error, kinks, samples, h, samples.evaluations - spent, jumps


def _one_side_disagrees(samples, D, error, name, scalar):
    """Whether a one-sided gradient may hide a kink at θ, seen along one seeded random
    direction u (uⱼ = zⱼ·max(|θⱼ|, 1), seed CHECK_SEED): the central difference of
    g(s) = F(θ + s·u) at 0 averages both sides, D·u has only one. A kink at θ makes them
    differ by a jump that stays as h shrinks (relu′ at 0: u₀/2), or g's own kink test sees
    it; on a smooth F they agree within their estimates. About five evaluations, counted
    with the others (the line calls ``samples.F``); only where this fires does the
    per-coordinate test (``_jumps_at_theta``) run."""
    theta = samples.theta
    z = np.random.default_rng(CHECK_SEED).standard_normal(theta.size)
    u = (z * np.maximum(np.abs(theta), 1)).astype(theta.dtype)
    line = _differentiate(lambda s: samples.F(theta + s[0] * u), np.zeros(1, theta.dtype),
                          "central", 2, None, True, 4, name, scalar, False, sharpen=False)
    along = u @ D
    allowed = CHECK_FACTOR * (line.error[0] + np.abs(u) @ error)
    return bool(np.any(line.entry_status[0] != "ok") or
                np.any(np.abs(line.value[0] - along) > allowed))


def _finest_used(steps, at):
    """The finest step an answer came from (the finest tried where one never converged):
    the kink-at-θ test's points around it are already evaluated."""
    return steps[int(np.max(at))] if np.all(at >= 0) else steps[-1]


def _settled(rows, at, order, D, error):
    """Per entry: the converged row's D and |Δ|/(2ᵖ − 1) + R, or the finest row's, marked KINK
    where the jump does not shrink with h and UNRELIABLE elsewhere. Entries already settled
    at row 1 (not suspect) keep D and ``error``."""
    D, error, kinks = D.copy(), error.copy(), np.full(D.shape, NO_KINK)
    for e in np.flatnonzero(at != 1):
        k = at[e] if at[e] >= 0 else len(rows) - 1
        (coarse, _), (fine, R) = rows[k - 1], rows[k]
        D[e], error[e] = fine[e], truncation(coarse[e], fine[e], order) + R[e]
        if at[e] < 0:
            kinks[e] = KINK if not_shrinking(rows)[e] else UNRELIABLE
    return D, error, kinks


def _suspect(D, D2, R, R2, h, theta, order):
    """Entries where |D(2h) − D(h)| exceeds KINK_FACTOR × what a function of unit scale allows,
    or the step exceeds MAX_RELATIVE_STEP of that scale.

    Model: derivatives of successive orders are comparable on the unit scale s = max(|x|, 1),
    so |D(2h) − D(h)| ≲ 2ᵖ·(R(h) + R(2h) + (h/s)ᵖ·|D|). A kink inside the stencil breaks it,
    and so does a function that varies faster than the unit scale; the descent tells them
    apart. At a stationary point (D ≈ 0) the model is too strict and the descent merely
    confirms the estimate.
    """
    s = np.maximum(np.abs(theta), 1)[:, None]
    model = 2 ** order * (R + R2 + (h[:, None] / s) ** order * np.abs(D))
    return (np.abs(D2 - D) > KINK_FACTOR * model) | step_rules.too_large(theta, h)[:, None]


def slope_jump(center, side, h, eps, expected=0.0, argument=0.0):
    """|J| where the one-sided slopes at θ differ by a jump J that does not shrink with h,
    else 0; elementwise over F's outputs.

    ``side(k)`` gives (F(θ + 2ᵏh·e), F(θ − 2ᵏh·e)) for k = 1, 0, −1, −2, evaluated on demand.
    S(h) = (F(θ + he) − 2F(θ) + F(θ − he))/h is the forward slope minus the backward one:
    J + h·F″ + O(h³), so J(h) = 2S(h) − S(2h) = J − h³F⁗/2 + … removes the curvature term.
    A candidate stands KINK_AT_THETA_FACTOR times above its round-off 2R(h) + R(2h), with
    R(h) = ε(|F₊| + 2|F₀| + |F₋|)/h, and KINK_FACTOR times above ``expected``, the h³ term a
    function of unit scale would give (a cheap filter: where it is too small, at stationary
    points, the next test decides); it is a kink only if J(h/2) does too and is at least
    half of J(h): a jump stays as h shrinks, the h³ term of a smooth function (at a
    stationary point it is all there is) drops by 8; and J(h/4) must agree with J(h/2) in the
    same way (``_steady``). A jump in F itself at θ (its second differences do not shrink
    with h) is reported too: no derivative exists there either. Central differences, which average the
    two sides at every step, miss it. ``argument`` is |θⱼ·∂F|, the rounding of the moved
    coordinate that each value carries (``_row``), added to each |F| in R.
    """
    def S(k):
        up, down = side(k)
        width = h * 2.0 ** k
        return ((up - 2 * center + down) / width,
                eps * (np.abs(up) + 2 * np.abs(center) + np.abs(down) + 4 * argument) / width)
    (S0, R0), (S1, R1) = S(0), S(1)
    jump = np.abs(2 * S0 - S1)
    candidate = jump > KINK_AT_THETA_FACTOR * (2 * R0 + R1) + KINK_FACTOR * expected
    if not candidate.any():
        return np.zeros(np.shape(jump))
    Sf, Rf = S(-1)
    finer = np.abs(2 * Sf - S0)
    Sff, _ = S(-2)
    finest = np.abs(2 * Sff - Sf)
    kink = candidate & (finer > KINK_AT_THETA_FACTOR * (2 * Rf + R0)) \
        & _steady(jump, finer) & _steady(finer, finest)
    # a jump in f itself: the second differences h·S stay as h shrinks (a kink's fall like h)
    second = [np.abs(S0) * h, np.abs(Sf) * h / 2, np.abs(Sff) * h / 4]
    step = candidate & (second[1] > KINK_AT_THETA_FACTOR * Rf * h / 2) \
        & _steady(second[0], second[1]) & _steady(second[1], second[2])
    return np.where(kink | step, finer, 0.0)


def _steady(coarse, fine):
    """A jump measured at h and at h/2 that stayed within a factor 1.5: a kink's jump is the
    same at every step, while rounding the model R missed (intermediates much larger than f
    itself, as near a minimum of a sum of squares) grows like 1/h."""
    return (fine <= 1.5 * coarse) & (fine >= coarse / 1.5)


def _jumps_at_theta(samples, base, D):
    """``slope_jump`` along each coordinate at step ``base`` (twice the finest step a
    descended coordinate reached, whose points are already evaluated), with the h³ term of a
    function of unit scale s = max(|θⱼ|, 1) expected at (h/s)³·|D|. Costs F(θ), once, in the
    central scheme's estimate, and F(θ ± h/2) where a candidate needs confirming."""
    eps = step_rules.epsilon(samples.theta)
    center = samples.at(0, 0, 0.0)
    scale = np.maximum(np.abs(samples.theta), 1)
    return np.array([slope_jump(center, lambda k, j=j, hj=hj: (
        samples.at(j, 2.0 ** k, hj), samples.at(j, -2.0 ** k, hj)), hj, eps,
        (hj / scale[j]) ** 3 * np.abs(D[j]), abs(float(samples.theta[j])) * np.abs(D[j]))
        for j, hj in enumerate(base)])


def _richardson(F, theta, levels, step, name, scalar, at_theta=True):
    """Central differences at h, h/2, …, h/2^(K−1) extrapolated by Neville's tableau.

    T[k][l] = T[k][l−1] + (T[k][l−1] − T[k−1][l−1])/(4ˡ − 1), error O(h^(2K)) with
    h ≈ ε^(1/(2K+1)); the estimate is |T[K−1][K−1] − T[K−1][K−2]| plus the round-off carried
    through the tableau. The central differences must converge like O(h²) over the ladder
    (``unsettled``, over at least three rungs); where they do not, the ladder moves down a
    halving at a time (``descend``) and the tableau is taken over the last K rungs. ``at_theta``
    adds F(θ) to look for a kink at θ, which every central difference averages away.
    """
    if isinstance(levels, bool) or not isinstance(levels, (int, np.integer)) or levels < 2:
        raise DiffLabError(f"{name}: richardson needs levels ≥ 2 (an integer), got {levels!r}")
    st = stencil(1, 2, "central")
    h = step_rules.step(theta, 1, 2 * levels, override=step, c=1.0)
    window = max(levels, 3)
    ladder = _ladder(theta, h, window, name, levels)
    descent_window = max(levels, 4)
    samples = Samples(F, theta, name, scalar)
    # F(θ), for the kink test, first: the round-off model uses it
    rows = [_apply(samples, st, hk, also=[(0, 0, 0.0)] if at_theta and k == 0 else ())
            for k, hk in enumerate(ladder)]
    best, truncated, roundoff = _tableau(rows[-levels:])
    error = truncated + roundoff
    kinks = np.full(best.shape, NO_KINK)
    suspect = unsettled(rows, 2) | step_rules.too_large(theta, h)[:, None]
    # the tableau's estimate is the error of its O(h^(2K−2)) column
    answer_order = 2 * levels - 2
    better = np.zeros_like(suspect) if step is not None else \
        improvable(truncated, roundoff, answer_order, first=True)
    finest = ladder[-1].copy()
    for j in np.flatnonzero((suspect | better).any(axis=1)):
        if step is not None:
            kinks[j][suspect[j]] = UNRELIABLE
            continue
        line = [(D[j], R[j]) for D, R in rows]
        steps = [hk[j] for hk in ladder]

        def parts(k, line=line):
            if k + 1 < levels:
                return np.full(line[0][0].shape, np.inf), line[k][1]
            return _tableau(line[k - levels + 1:k + 1])[1:]
        at = descend(lambda hj, j=j: _apply_one(samples, st, j, hj),
                     lambda hj, x=theta[j]: step_rules.halved(x, hj), line, steps, 2,
                     descent_window, np.where(suspect[j], -1, window - 1), parts, answer_order)
        for e in np.flatnonzero(at != window - 1):
            end = at[e] if at[e] >= 0 else len(line) - 1
            value, T, R = _tableau([(D[e], R[e]) for D, R in line[end - levels + 1:end + 1]])
            best[j, e], error[j, e] = value, T + R
            if at[e] < 0:
                kinks[j, e] = KINK if not_shrinking(line[:end + 1])[e] else UNRELIABLE
        finest[j] = _finest_used(steps, at)
    jumps = None
    if at_theta:
        samples.at(0, 0, 0.0)
        jumps = _jumps_at_theta(samples, 2 * finest, best)
        kinks = np.where((jumps > 0) & (kinks != UNRELIABLE), KINK_AT_THETA, kinks)
    extra = samples.evaluations - 2 * levels * theta.size
    return best, error, kinks, samples, h, extra, jumps


def _ladder(theta, h, count, name, levels):
    """h, h/2, …, h/2^(count−1), each representable next to θ, or a clear error."""
    ladder = [h]
    for _ in range(count - 1):
        halves = [step_rules.halved(x, hj) for x, hj in zip(theta, ladder[-1])]
        if any(half is None for half in halves):
            raise DiffLabError(f"{name}: richardson with levels={levels} needs steps down to "
                               f"{float(np.min(h)) / 2 ** (count - 1):.3g}, which are lost in "
                               "rounding next to θ; use fewer levels (4 is the default)")
        ladder.append(np.array(halves, dtype=theta.dtype))
    return ladder


def _tableau(rows):
    """Neville's tableau over central differences at h, h/2, …: the last diagonal value,
    |T[K−1][K−1] − T[K−1][K−2]| and the round-off carried through."""
    T = [[D] for D, _ in rows]
    R = [[r] for _, r in rows]
    for k in range(1, len(rows)):
        for l in range(1, k + 1):
            factor = 4 ** l - 1
            T[k].append(T[k][l - 1] + (T[k][l - 1] - T[k - 1][l - 1]) / factor)
            R[k].append(R[k][l - 1] + (R[k][l - 1] + R[k - 1][l - 1]) / factor)
    best, previous = T[-1][-1], T[-1][-2]
    return best, np.abs(best - previous), R[-1][-1]


# The complex step, guarded.

def _complex_step(F, theta, step, name, scalar):
    """∂ⱼF ≈ Im F(θ + i·h·eⱼ)/h: no subtraction, so no round-off penalty; error O(h²).

    Estimate: ε·(4|∂ⱼF| + ‖∇F‖∞/10), the rounding of the imaginary part's own arithmetic: a
    few roundings of the entry along the chain, plus a share of the largest entry for the
    cancellation in the sums that form small entries. The true error is rounding noise that
    spans two decades around ε|∂ⱼF| on the zoo MLPs (5th–95th percentile 0.07–7), wider than
    any 30× window: this estimate covers it on 94% of entries and is within 30× on 81%.
    """
    h = step_rules.complex_step(theta, override=step)
    samples = Samples(F, theta, name, scalar)
    cdtype = np.complex64 if theta.dtype == np.float32 else np.complex128
    columns, reals = [], []
    for j in range(theta.size):
        point = theta.astype(cdtype)
        point[j] += 1j * h[j]
        at = f"θ + i·h·e_{j} (entry {j}, step h={h[j]:.3g})"
        out = complex_value(samples.F, point, name, at)
        columns.append(_imaginary(out, name, scalar, at) / h[j])
        reals.append(out.real.reshape(-1))
    D = np.array(columns)
    eps = step_rules.epsilon(theta)
    error = eps * (4 * np.abs(D) + np.max(np.abs(D), axis=0, initial=0.0) / 10)

    def real_part(j, width):
        point = theta.astype(cdtype)
        point[j] += 1j * width
        at = f"θ + i·{width:.3g}·e_{j}"
        return complex_value(samples.F, point, name, at).real.reshape(-1)
    _same_branch(samples, np.array(reals), h, real_part, name)
    # every real evaluation (F(θ), for the branch test) serves the estimate
    return D, error, None, samples, h, samples.evaluations, None


# Re F(θ + ih·eⱼ) = F(θ) − h²·∂ⱼ²F/2 + …, and h² ≈ 10⁻⁴⁰: beyond rounding (this many ulps of
# the values; complex elementary functions round a few ulps apart from the real ones) the
# real parts differ only where F took another branch at the complex point
BRANCH_ULPS = 2.0 ** 20


def _same_branch(samples, reals, h, real_part, name):
    """Refuse the complex step where Re F(θ + ih·eⱼ) is not F(θ): F branched on the complex
    argument (``t != 0``, ``if t == …``), so its imaginary part is the derivative of another
    branch, and F itself may jump at θ. One real evaluation, F(θ); an entry beyond rounding
    is confirmed at 2h (``real_part(j, 2h)``, one complex evaluation): a smooth F's real part
    moves by −h²·∂ⱼ²F/2, four times more at 2h, a branch's by the same jump at both."""
    try:
        with np.errstate(all="ignore"):
            center = samples.at(0, 0, 0.0)
    except NonFiniteValueError as error:
        raise NonFiniteValueError(
            f"{name}: f is not finite at real points (at θ itself: {error}); the complex step "
            "there would return the imaginary part of an analytic continuation (log or sqrt "
            "of a negative number, a pole), not a derivative. Move θ into f's domain") from error
    eps = step_rules.epsilon(samples.theta)
    moved = np.abs(reals - center)
    jumped = moved > BRANCH_ULPS * eps * np.maximum(np.abs(center), np.abs(reals))
    suspects = np.flatnonzero(jumped.any(axis=1))
    for j in suspects:
        wider = np.abs(real_part(j, 2 * h[j]) - center)
        jumped[j] &= wider < 2 * moved[j]
    if jumped.any():
        j, k = (int(i) for i in np.argwhere(jumped)[0])
        raise NonAnalyticError(
            f"{name}: f takes another branch at θ + i·h·e_{j} than at θ: the real part there "
            f"is {reals[j, k]:.6g}, f(θ) is {center[k]:.6g} (entries "
            f"{sorted(set(np.argwhere(jumped)[:, 0].tolist()))[:20]}). f compares or branches "
            "on θ (==, !=, if), so the complex step differentiates a different function, and "
            "f may jump at θ, where no derivative exists. Write the branch with dnp.where, or "
            "use a real scheme, which looks for a kink or jump at θ")
    return suspects.size


def complex_value(F, point, name, at):
    """F at a complex point; a complex number made real inside F (NumPy's ComplexWarning:
    math.exp, float(), a real array) is refused, since it drops the imaginary part."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", np.exceptions.ComplexWarning)
        try:
            return np.asarray(F(point))
        except np.exceptions.ComplexWarning as warning:
            raise NonAnalyticError(
                f"{name}: at {at} the function turned a complex number into a real one "
                f"({warning}), dropping the imaginary part the complex step needs (math "
                "functions, float(), a real array on θ). Write it with difflab.numpy (dnp) "
                "or use a real scheme such as 'central'") from warning


def _imaginary(out, name, scalar, at):
    if scalar and out.size != 1:
        raise ShapeError(f"{name}: the function must return a scalar, got shape {out.shape}")
    if not np.iscomplexobj(out):
        raise NonAnalyticError(f"{name}: the function returned a real {out.dtype} value for "
                               "complex input, dropping the imaginary part the complex step "
                               "needs; write it with difflab.numpy (dnp) functions")
    out = out.reshape(-1)
    if not np.all(np.isfinite(out)):
        raise NonFiniteValueError(f"{name}: the function returned a non-finite value at {at}; "
                                  "move θ or use a real scheme")
    return out.imag


def check_analytic(F, theta, name, scalar):
    """Refuse the complex step unless, along one seeded random direction u, it agrees with
    central differences; returns (real evaluations, complex evaluations, calls).

    g(s) = F(θ + s·u), uⱼ = zⱼ·max(|θⱼ|, 1) with z ~ N(0, 1) (seed CHECK_SEED): g′(0) by the
    complex step, Im F(θ + i·h·u)/h (one complex evaluation), against the adaptive central
    difference of g at 0 and its estimate (5 real evaluations where the step needs no
    adapting). A function that is not analytic (numpy.abs, .real, a comparison on the input)
    makes the complex step wrong by O(1) and leaves central differences right; at a branch
    cut (log, sqrt of a negative number) the real values are not finite. Where the central
    difference meets a kink or cannot confirm its estimate nothing can be judged.
    Every call of F is counted (``Counted``; a Counted F counts them too).
    """
    F = Counted(F)
    z = np.random.default_rng(CHECK_SEED).standard_normal(theta.size)
    u = (z * np.maximum(np.abs(theta), 1)).astype(theta.dtype)
    h = float(step_rules.complex_step(np.ones(1, dtype=theta.dtype))[0])
    cdtype = np.complex64 if theta.dtype == np.float32 else np.complex128
    at = f"θ + i·{h:.3g}·u (a random direction u)"
    point = theta.astype(cdtype) + 1j * h * u.astype(cdtype)
    directional = _imaginary(complex_value(F, point, name, at), name, scalar, at) / h
    try:
        with np.errstate(all="ignore"):
            real = _differentiate(lambda s: F(theta + s[0] * u), np.zeros(1, theta.dtype),
                                  "central", 2, None, True, 4, name, scalar, False,
                                  sharpen=False)
    except NonFiniteValueError as error:
        raise NonFiniteValueError(
            f"{name}: f is not finite at real points on a line through θ ({error}); the "
            "complex step there would return the imaginary part of an analytic continuation "
            "(log or sqrt of a negative number, a pole), not a derivative. Move θ into f's "
            "domain") from error
    central, estimate = real.value[0], real.error[0]
    if np.any(np.isin(real.entry_status[0], ("kink", "kink at θ"))):
        # dnp's complex relu, abs and max follow difflab's conventions at a kink, but a
        # Python comparison on θ orders complex numbers by their imaginary part where the
        # real parts tie, and takes a side silently: at a kink the step cannot be trusted
        raise KinkError(
            f"{name}: f has a kink at θ (along a random direction the real one-sided slopes "
            f"differ at every step: {central[0]:.6g} is only their average), where the complex "
            "step would take whichever side a comparison on θ picks. Use ad or symbolic, whose "
            "kink conventions are documented, or move θ off the kink")
    judged = real.entry_status[0] == "ok"
    eps = step_rules.epsilon(theta)
    bad = judged & (np.abs(directional - central) >
                    CHECK_FACTOR * estimate + 64 * eps * np.abs(directional))
    if bad.any():
        e = int(np.flatnonzero(bad)[0])
        raise NonAnalyticError(
            f"{name}: the complex step gives {directional[e]:.6g} for the derivative along a "
            f"random direction, central differences {central[e]:.6g} ± {estimate[e]:.2g}: f is "
            "not analytic where the complex step needs it (numpy.abs, .real, np.maximum, a "
            "comparison on θ, or NumPy's own x.var()/x.std(), which take |x − x̄|²). Write it "
            "with difflab.numpy (dnp), whose abs, relu, max and var are analytic-safe, or use "
            "a real scheme ('central', 'richardson')")
    return F.evaluations, F.complex_evaluations, F.calls


# Public functions.

def gradient(f, theta, scheme="central", order=2, step=None, *, estimate=True, levels=4,
             check=True):
    """∇f(θ) by finite differences; a NumericResult with value of shape (n,).

    Schemes: "forward"/"backward" (error O(hᵖ), h ≈ ε^(1/(p+1)); order 1 costs n+1),
    "central" (even orders, error O(hᵖ); order 2 costs 2n, order 4 costs 4n), "richardson"
    (``levels`` central differences at h/2ᵏ extrapolated, 2·levels·n), "complex-step"
    (Im f(θ + ihe_j)/h, machine precision, n complex evaluations; f written with dnp).

    ``step`` overrides the step rule (a scalar or one step per coordinate) and stops it from
    adapting. ``estimate=False`` skips the error estimate (and its evaluations). ``check``:
    cross-check the complex step along one random direction (``check_analytic``: one complex
    and about five real evaluations, counted) and raise NonAnalyticError if it disagrees;
    non-finite values and complex numbers made real are refused whatever ``check`` says.
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
                   kink_at_theta=True, sharpen=True):
    theta = as_theta(theta, name)
    F = Counted(F)     # every pass below calls F through it: the counts are the calls
    if scheme not in SCHEMES:
        raise DiffLabError(f"{name}: unknown scheme {scheme!r}; choose one of {', '.join(SCHEMES)}")
    if theta.size == 0:
        return _empty(F, theta, name, scalar, scheme)
    if scheme in ("forward", "backward", "central"):
        parts = _plain(F, theta, scheme, order, step, estimate, name, scalar, kink_at_theta,
                       sharpen)
    elif scheme == "richardson":
        parts = _richardson(F, theta, levels, step, name, scalar, estimate and kink_at_theta)
    else:
        parts = _complex_step(F, theta, step, name, scalar)
    D, error, kinks, samples, h, extra, jumps = parts
    if scheme == "complex-step" and check:
        extra += check_analytic(F, theta, name, scalar)[0]
    result = NumericResult(D, error, h, F.evaluations, F.complex_evaluations,
                           estimate_evaluations=extra, scheme=scheme, calls=F.calls)
    _set_status(result, kinks, D.shape, name)
    result.kink_jump = jumps
    return result


def _empty(F, theta, name, scalar, scheme):
    """The derivative with respect to no parameters: F(θ) once, to learn (and check) its
    output, and an empty (0, m) result."""
    samples = Samples(F, theta, name, scalar)
    m = samples.at(0, 0, 0.0).size
    result = NumericResult(np.zeros((0, m), dtype=theta.dtype), np.zeros((0, m)),
                           np.zeros(0, dtype=theta.dtype), samples.evaluations,
                           samples.F.complex_evaluations, calls=samples.calls, scheme=scheme, kink_jump=np.zeros((0, m)))
    _set_status(result, None, (0, m), name)
    return result


def _set_status(result, kinks, shape, name=""):
    status = np.full(shape, "ok", dtype=object)
    if kinks is None or not kinks.any():
        result.entry_status = status
        return
    for code, label in ENTRY_STATUS.items():
        status[kinks == code] = label
    parts = []
    kinked = sorted(set(np.argwhere((kinks == KINK) | (kinks == KINK_AT_THETA))[:, 0].tolist()))
    if kinked:
        parts.append(f"kink: a stencil straddles a kink along coordinates {kinked[:20]}")
    unreliable = sorted(set(np.argwhere(kinks == UNRELIABLE)[:, 0].tolist()))
    if unreliable:
        parts.append(f"unreliable estimate along coordinates {unreliable[:20]}: the differences "
                     "did not converge like O(hᵖ) as the step shrank (a step too large for f, "
                     "or f too rough); leave step=None to let it adapt, or use another method")
        warnings.warn(UnreliableEstimateWarning(f"{name}: {parts[-1]}"), stacklevel=4)
    result.status = "; ".join(parts)
    result.entry_status = status


def _reshaped(result, reshape):
    result.value = reshape(result.value)
    result.error = None if result.error is None else reshape(result.error)
    result.entry_status = reshape(result.entry_status)
    result.kink_jump = None if result.kink_jump is None else reshape(result.kink_jump)
    return result
