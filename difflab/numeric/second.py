"""Second derivatives by finite differences: Hessians and Hessian-vector products.

Three methods for H = ∇²f(θ) (``hessian``'s ``method``):

- "values": second differences of f. By default (``order=4``, at least fourth order) their
  Richardson extrapolations to O(h⁴) and O(h⁶) on a ladder of steps h₀/2ᵏ, k = 0…4, from
  h₀ ≈ ε^(1/8), the candidate with the least estimated error chosen per entry (``_best_rung``);
  ``order=2`` gives the plain second differences at h ≈ ε^(1/4), error O(h²). Diagonal (f(θ+hᵢeᵢ) − 2f(θ) + f(θ−hᵢeᵢ))/hᵢ², off the diagonal the four-point formula
  (f(θ+hᵢeᵢ+hⱼeⱼ) − f(θ+hᵢeᵢ−hⱼeⱼ) − f(θ−hᵢeᵢ+hⱼeⱼ) + f(θ−hᵢeᵢ−hⱼeⱼ))/(4hᵢhⱼ).
- "gradient": central differences of a gradient callable (the Jacobian of ∇f), h ≈ ε^(1/3).
- "complex-step": the "gradient" method with the complex-step gradient, accurate to the
  central difference's own error because the inner gradient is exact to rounding.

The Jacobian of a gradient is not exactly symmetric; its asymmetry max|H − Hᵀ|/max|H| is
reported, then H is symmetrized, (H + Hᵀ)/2.
"""

import numpy as np

from ..errors import DiffLabError, ShapeError
from ..progress import Progress
from . import steps as step_rules
from .differences import (KINK, KINK_AT_THETA, KINK_AT_THETA_FACTOR, KINK_FACTOR, NO_KINK,
                          SCHEMES, TRUNCATION_SAFETY, UNRELIABLE, Counted, NumericResult, Samples,
                          _set_status, _suspect, as_theta, check_analytic, descend, gradient,
                          improvable, jacobian, not_shrinking, slope_jump, truncation, unsettled)

METHODS = ("values", "gradient", "complex-step")


def hessian(f, theta, method="values", gradient_fn=None, order=None, step=None):
    """The (n, n) Hessian of f at θ as a NumericResult (see the module docstring for methods).

    ``order`` is the accuracy order: of the second differences for "values" (4 by default, by
    Richardson extrapolation, or 2), of the central difference of the gradient otherwise
    (2 by default).
    """
    theta = as_theta(theta, "hessian")
    if method == "values":
        return _from_values(f, theta, step, 4 if order is None else order)
    order = 2 if order is None else order
    if method not in METHODS:
        raise DiffLabError(f"hessian: unknown method {method!r}; choose one of "
                           f"{', '.join(METHODS)}")
    if method == "gradient" and gradient_fn is None:
        raise DiffLabError("hessian: method='gradient' needs gradient_fn, a callable θ ↦ ∇f(θ); "
                           "use method='complex-step' to difference complex-step gradients")
    counted = _CountedGradient(f, gradient_fn)
    counted.guard(theta, "hessian")
    result = jacobian(counted, theta, "central", order, step, kink_at_theta=False)
    return _symmetrized(result, counted)


class _CountedGradient:
    """θ ↦ ∇f(θ) from a user callable or numeric's own gradient (by default the complex step),
    counting the gradients (``calls``) and, through one ``Counted`` f, every evaluation of f
    numeric makes. A user's ``gradient_fn`` is opaque: what it spends on f is not counted."""

    def __init__(self, f, gradient_fn, scheme="complex-step", order=2):
        if gradient_fn is None and scheme not in SCHEMES:
            raise DiffLabError(f"unknown gradient scheme {scheme!r}; choose one of "
                               f"{', '.join(SCHEMES)}")
        self.f, self.gradient_fn = Counted(f), gradient_fn
        self.scheme, self.order = scheme, order
        # real evaluations of f that the gradients' own bare schemes took (the complex step's
        # F(θ), for its branch test, is a guard, as in ``gradient``)
        self.calls = self.bare_evaluations = 0

    @property
    def evaluations(self):
        return self.f.evaluations

    @property
    def complex_evaluations(self):
        return self.f.complex_evaluations

    def guard(self, theta, name):
        """Complex-step gradients: ``check_analytic`` once at θ (the inner gradients skip it)."""
        if self.gradient_fn is None and self.scheme == "complex-step":
            check_analytic(self.f, theta, name, True)

    def __call__(self, theta):
        self.calls += 1
        if self.gradient_fn is not None:
            return np.asarray(self.gradient_fn(theta), dtype=theta.dtype).reshape(-1)
        inner = gradient(self.f, theta, self.scheme, self.order, estimate=False, check=False)
        self.bare_evaluations += inner.evaluations - inner.estimate_evaluations
        return inner.value


def _symmetrized(result, counted):
    """(H + Hᵀ)/2, recording max|H − Hᵀ|/max|H| first; |H − Hᵀ|/2 joins the error estimate."""
    H = result.value
    scale = np.max(np.abs(H), initial=0.0)
    result.asymmetry = float(np.max(np.abs(H - H.T), initial=0.0) / scale) if scale else 0.0
    result.value = (H + H.T) / 2
    result.error = (result.error + result.error.T) / 2 + np.abs(H - H.T) / 2
    result.entry_status = np.where((result.entry_status == "kink") |
                                   (result.entry_status.T == "kink"), "kink", "ok").astype(object)
    result.gradient_evaluations = counted.calls
    result.calls = counted.f.calls
    result.evaluations = counted.evaluations
    # real evaluations of f beyond the gradients' bare schemes: all of them for complex-step
    # gradients (check_analytic, each gradient's branch test), none with a gradient_fn
    result.estimate_evaluations = counted.evaluations - counted.bare_evaluations
    result.complex_evaluations = counted.complex_evaluations
    result.scheme = "gradient" if counted.gradient_fn is not None else "complex-step"
    return result


def _from_values(f, theta, step, order):
    """Second differences of values on a ladder of steps: 1 + 2n² evaluations per rung.

    Order 2: H(h) at h = (48ε)^(1/4) on the diagonal and 3^(1/4)·ε^(1/4) for the mixed
    differences, truncation |H(2h) − H(h)|/3. Order 4: see ``_best_rung``. Round-off
    ε·Σ|wₖfₖ|/(hᵢhⱼ).
    """
    if order not in (2, 4):
        raise DiffLabError(f"hessian: method='values' has orders 2 and 4; got order={order!r}")
    samples = Samples(f, theta, "hessian", scalar=True)
    if order == 2:
        diagonal = step_rules.step(theta, 2, 2, override=step)
        mixed = step_rules.mixed_step(theta, override=step)
        rungs = [(2 * diagonal, 2 * mixed), (diagonal, mixed)]
        bare = 1 + 2 * theta.size ** 2
    else:
        # the ladder starts at order 6's theory step: its extrapolations need the longer steps
        diagonal = step_rules.step(theta, 2, 6, override=step)
        rungs = [(h, h) for h in _halvings(theta, diagonal, RUNGS)]
        bare = 1 + 4 * theta.size ** 2     # what one extrapolated pair of rungs costs
    rows = [_second_differences(samples, theta, d, m) for d, m in rungs]
    H, error, kinks, finest = _adapted(samples, theta, rows, rungs, order, step is not None)
    # the kink test's points f(θ ± 2ᵏheᵢ), k = 0…2, on the ladder where it has four rungs
    base = finest * np.where((finest < rungs[-1][0]) | (order == 4), 2, 1)
    jumps = _curvature_jumps(samples, theta, base, np.diag(H))
    kinks[np.diag_indices_from(kinks)] = np.where(
        (jumps > 0) & (np.diag(kinks) != UNRELIABLE), KINK_AT_THETA, np.diag(kinks))
    result = NumericResult(H, error, diagonal, samples.evaluations, calls=samples.calls,
                           estimate_evaluations=samples.evaluations - bare, scheme="values",
                           asymmetry=0.0, kink_jump=np.diag(jumps))
    _set_status(result, kinks, H.shape, "hessian")
    return result


def _adapted(samples, theta, rows, rungs, order, fixed):
    """Per entry, the values ladder's estimate where its second differences converge like
    O(h²), the steps halved along the entry's coordinates (``descend``) where they do not.

    Order 2: H(h) and |H(2h) − H(h)|/3 + R, suspect where that difference is beyond a function
    of unit scale (``_suspect``); order 4: ``_best_rung`` over the last RUNGS rows, suspect
    where they do not converge (``unsettled``). A ``fixed`` (user) step does not adapt: its
    suspect entries are UNRELIABLE. Returns H, error, kinks and the finest diagonal steps.
    """
    n = theta.size
    if order == 2:
        (H2, R2), (H, R) = rows
        error = truncation(H2, H, 2) + R
        suspect = _suspect(H, H2, R, R2, rungs[1][0], theta, 2)
        better = improvable(error - R, R, 2, 2, first=True)
        window = 4
    else:
        H, error, truncated, roundoff = _best_rung(rows)
        suspect = unsettled(rows, 2)
        better = improvable(truncated, roundoff, 4, 2, first=True)
        window = RUNGS
    suspect |= step_rules.too_large(theta, rungs[0][0])[:, None]
    suspect = suspect | suspect.T
    # where the estimate says a smaller step is better, the rule's steps go down too
    better = np.zeros_like(suspect) if fixed else better | better.T
    kinks = np.full((n, n), NO_KINK)
    finest = rungs[-1][0].copy()
    center = samples.at(0, 0, 0.0)[0]
    eps = step_rules.epsilon(theta)
    for i, j in zip(*np.nonzero(np.triu(suspect | better))):
        if fixed:
            kinks[i, j] = kinks[j, i] = UNRELIABLE
            continue
        mixed = i != j
        line = [(np.array([Hk[i, j]]), np.array([Rk[i, j]])) for Hk, Rk in rows]
        steps = [(m[i], m[j]) if mixed else (d[i], d[i]) for d, m in rungs]

        def rung(pair, i=i, j=j):
            return tuple(np.array([v]) for v in _entry(samples, theta, i, j, *pair, center, eps))

        def parts(k, line=line):
            if order == 2:
                return truncation(line[k - 1][0], line[k][0], 2), line[k][1]
            if k + 1 < window:
                return np.full(1, np.inf), line[k][1]
            return _best_rung(line[k - window + 1:k + 1])[2:]
        at = descend(rung, lambda pair, i=i, j=j: _halved_pair(theta, i, j, pair), line, steps,
                     2, window, np.array([-1 if suspect[i, j] else len(line) - 1]), parts,
                     2 if order == 2 else 4, 2)
        end = at[0] if at[0] >= 0 else len(line) - 1
        part = line[end - window + 1:end + 1] if end >= window - 1 else line[:end + 1]
        if order == 2:
            (coarse, _), (fine, Rf) = part[-2:]
            value, estimate = fine[0], truncation(coarse[0], fine[0], 2) + Rf[0]
        else:
            value, estimate = (float(a[0]) for a in _best_rung(part)[:2])
        H[i, j] = H[j, i] = value
        error[i, j] = error[j, i] = estimate
        if at[0] < 0:
            kinks[i, j] = kinks[j, i] = KINK if not_shrinking(line[:end + 1])[0] else UNRELIABLE
        if not mixed:
            finest[i] = steps[end][0]
    return H, error, kinks, finest


def _halvings(theta, h, count):
    """h, h/2, …, h/2^(count−1) made representable by halving (``steps.halved``), so the
    ladder's points coincide where their steps do."""
    ladder = [step_rules.representable(theta, h)]
    for _ in range(count - 1):
        ladder.append(np.array([step_rules.halved(x, hj) or step_rules.representable(
            np.array([x]), np.array([hj / 2]))[0] for x, hj in zip(theta, ladder[-1])],
            dtype=theta.dtype))
    return ladder


def _halved_pair(theta, i, j, pair):
    """Both steps of an entry halved, or None once either is lost in rounding."""
    halves = step_rules.halved(theta[i], pair[0]), step_rules.halved(theta[j], pair[1])
    return None if None in halves else halves


def _curvature_jumps(samples, theta, base, diagonal):
    """|J| per coordinate where ∂ᵢf has a kink at θ (the one-sided second derivatives differ
    by a J that stays as h shrinks), else 0, from the diagonal points of the ladder.

    G(h) = (f(θ + heᵢ) − f(θ − heᵢ))/2h = ∂ᵢf + J·h/4 + h²·∂ᵢ³f/6 + …, so
    K(h) = 4(G(2h) − G(h))/h = J + 2h·∂ᵢ³f + … and J(h) = 2K(h) − K(2h) = J + O(h²): a
    candidate above its round-off (and a unit-scale allowance, as in ``slope_jump``) is a kink
    only if J(h/2) is at least half of J(h). Uses f(θ ± 2ᵏhᵢeᵢ), k = −1…2, with h = ``base``
    (on the ladder where it has four rungs; else ±4h is added, and ±h/2 for a candidate).
    """
    eps = step_rules.epsilon(theta)
    jumps = np.zeros(theta.size)
    for i, h in enumerate(base):
        def G(k, i=i, h=h):
            up, down = samples.at(i, 2.0 ** k, h)[0], samples.at(i, -2.0 ** k, h)[0]
            width = 2.0 ** k * h
            return (up - down) / (2 * width), eps * (abs(up) + abs(down)) / (2 * width)

        def J(k):
            (g0, r0), (g1, r1), (g2, r2) = G(k), G(k + 1), G(k + 2)
            width = 2.0 ** k * h
            K0, K1 = 4 * (g1 - g0) / width, 4 * (g2 - g1) / (2 * width)
            noise = 8 * (r1 + r0) / width + 4 * (r2 + r1) / (2 * width)
            return abs(2 * K0 - K1), noise
        coarse, noise = J(0)
        expected = (h / max(abs(theta[i]), 1)) ** 2 * abs(diagonal[i])
        if coarse <= KINK_AT_THETA_FACTOR * noise + KINK_FACTOR * expected:
            continue
        fine, fine_noise = J(-1)
        if fine > KINK_AT_THETA_FACTOR * fine_noise and fine >= coarse / 2:
            jumps[i] = fine
    return jumps


RUNGS = 5    # second differences at h₀ … h₀/16: seven extrapolated candidates


def _best_rung(levels):
    """Per entry, the least-error Richardson value on the ladder of second differences.

    Two tableau columns: Vₖ = (4H(hₖ₊₁) − H(hₖ))/3, truncation O(hₖ⁴), and
    Wₖ = (16Vₖ₊₁ − Vₖ)/15, truncation O(hₖ⁶). A column's truncation is estimated from its
    neighbours, |Vₖ₋₁ − Vₖ|/15 and |Wₖ₋₁ − Wₖ|/63 (16/15·|V₀ − V₁| and 64/63·|W₀ − W₁| for
    the coarsest), its round-off carried through the same weights; each entry takes the
    candidate whose sum of both is least. The ladder starts at order 6's theory step
    h₀ ≈ ε^(1/8): round-off ε|f|/h², not truncation, limits these Hessians, and the order-6
    column can afford the longer steps (on the zoo MLPs 2–10× lower error than order 4 from
    ε^(1/6)); the fifth rung, h₀/16, serves functions whose high derivatives are far larger
    than the theory assumes (exp(40x): 3e-10). 1 + 10n² evaluations; the best candidate
    differs per entry.
    """
    V = [(4 * fine - coarse) / 3 for (coarse, _), (fine, _) in zip(levels, levels[1:])]
    RV = [(4 * fine + coarse) / 3 for (_, coarse), (_, fine) in zip(levels, levels[1:])]
    W = [(16 * fine - coarse) / 15 for coarse, fine in zip(V, V[1:])]
    RW = [(16 * fine + coarse) / 15 for coarse, fine in zip(RV, RV[1:])]
    candidates = V + W
    truncated = np.array(_column_truncation(V, 15) + _column_truncation(W, 63))
    roundoff = np.array(RV + RW)
    best = np.argmin(truncated + roundoff, axis=0)[None]
    return tuple(np.take_along_axis(a, best, 0)[0]
                 for a in (np.array(candidates), truncated + roundoff, truncated, roundoff))


def _column_truncation(values, denominator):
    """Truncation from neighbouring values (the coarsest from its finer neighbour, scaled
    by (d + 1)/d), for one column of the Richardson tableau."""
    estimates = [(denominator + 1) * np.abs(values[0] - values[1]) / denominator] + \
        [np.abs(previous - value) / denominator for previous, value in zip(values, values[1:])]
    return [TRUNCATION_SAFETY * t for t in estimates]


def _second_differences(samples, theta, diagonal, mixed):
    """(f(θ+hᵢeᵢ) − 2f(θ) + f(θ−hᵢeᵢ))/hᵢ² and the four-point mixed differences, with round-off."""
    n = theta.size
    eps = step_rules.epsilon(theta)
    center = samples.at(0, 0, 0.0)[0]
    H, R = np.empty((n, n)), np.empty((n, n))
    with Progress(n, "numeric hessian") as bar:
        for i in range(n):
            _row(samples, theta, i, diagonal, mixed, center, eps, H, R)
            bar.advance()
    return H, R


def _row(samples, theta, i, diagonal, mixed, center, eps, H, R):
    """Row i of the second differences (diagonal and j > i), written into H and R."""
    H[i, i], R[i, i] = _entry(samples, theta, i, i, diagonal[i], diagonal[i], center, eps)
    for j in range(i + 1, theta.size):
        H[i, j], R[i, j] = _entry(samples, theta, i, j, mixed[i], mixed[j], center, eps)
        H[j, i], R[j, i] = H[i, j], R[i, j]


def _entry(samples, theta, i, j, hi, hj, center, eps):
    """One second difference and its round-off: (f(θ+hᵢeᵢ) − 2f(θ) + f(θ−hᵢeᵢ))/hᵢ² for
    i = j, the four-point mixed difference with steps hᵢ, hⱼ otherwise."""
    # each value is rounded by ε|f| and by the rounding of the moved θᵢ + h wherever f forms
    # a multiple of it, ε|θᵢ·∂ᵢf| (see ``differences._row``), ∂ᵢf from the same points
    if i == j:
        up, down = samples.at(i, 1, hi)[0], samples.at(i, -1, hi)[0]
        argument = abs(theta[i] * (up - down) / (2 * hi))
        return ((up - 2 * center + down) / hi ** 2,
                eps * (abs(up) + 2 * abs(center) + abs(down) + 4 * argument) / hi ** 2)
    corners = [samples.corner(i, j, a * hi, b * hj)[0] for a, b in
               ((1, 1), (1, -1), (-1, 1), (-1, -1))]
    scale = 4 * hi * hj
    argument = (abs(theta[i] * (corners[0] + corners[1] - corners[2] - corners[3]) / (4 * hi))
                + abs(theta[j] * (corners[0] - corners[1] + corners[2] - corners[3]) / (4 * hj)))
    return ((corners[0] - corners[1] - corners[2] + corners[3]) / scale,
            eps * (sum(abs(c) for c in corners) + 4 * argument) / scale)


def hvp(f, theta, v, gradient_fn=None, step=None, *, estimate=True, scheme="complex-step",
        order=2):
    """H(θ)·v ≈ (∇f(θ + hv) − ∇f(θ − hv))/2h, error O(h²), h = (3ε)^(1/3)·max(‖θ‖∞, 1)/‖v‖∞.

    The gradient is ``gradient_fn`` or, by default, numeric's own gradient of f by ``scheme``
    and ``order`` without its estimate (the complex step by default, checked once at θ,
    ``check_analytic``). ``evaluations`` and ``complex_evaluations`` count the calls of f that
    numeric makes, all of them without ``gradient_fn``, none with it: a caller's gradient is
    opaque, and only its calls are counted (``gradient_evaluations``). The estimate costs three more gradients: the same
    difference at 2h gives the truncation, |D(2h) − D(h)|/3, and with ∇f(θ) it gives
    ``kink_jump``, the jump in ∇f's slope along v where the gradient has a kink at θ
    (``differences.slope_jump``, which confirms a candidate with four more gradients, at ±h/2
    and ±h/4; 0 elsewhere), where H·v does not exist.
    """
    theta = as_theta(theta, "hvp")
    v = np.asarray(v, dtype=theta.dtype)
    if v.shape != theta.shape:
        raise ShapeError(f"hvp: v has shape {v.shape} but theta has shape {theta.shape}")
    counted = _CountedGradient(f, gradient_fn, scheme, order)
    norm = np.max(np.abs(v), initial=0.0)
    ok = np.full(theta.shape, "ok", dtype=object)
    if norm == 0:
        return NumericResult(np.zeros_like(theta), np.zeros_like(theta), np.zeros(1), 0,
                             entry_status=ok, scheme="hvp")
    h = step if step is not None else \
        step_rules.step(np.array([np.max(np.abs(theta))]), 1, 2)[0] / norm
    counted.guard(theta, "hvp")
    eps = step_rules.epsilon(theta)
    sides = {}

    def side(k):
        """∇f(θ ± 2ᵏhv), each computed once."""
        if k not in sides:
            sides[k] = (counted(theta + 2.0 ** k * h * v), counted(theta - 2.0 ** k * h * v))
        return sides[k]
    up, down = side(0)
    bare = counted.bare_evaluations
    value = (up - down) / (2 * h)
    error = eps * (np.abs(up) + np.abs(down)) / (2 * h)
    result = NumericResult(value, error, np.array([h]), 0, scheme="hvp", entry_status=ok)
    if estimate:
        up2, down2 = side(1)
        result.error = error + np.abs((up2 - down2) / (4 * h) - value) / 3
        result.kink_jump = slope_jump(counted(theta), side, h, eps,
                                      (h * norm / max(np.max(np.abs(theta)), 1)) ** 3
                                      * np.abs(value))
    result.evaluations = counted.evaluations
    result.estimate_evaluations = counted.evaluations - bare
    result.calls = counted.f.calls
    result.complex_evaluations = counted.complex_evaluations
    result.gradient_evaluations = counted.calls
    return result
