"""Stopping tests, the per-iteration trace, the result, and the observed order of convergence.

Every second-order optimizer in ``difflab.optim`` stops by the same ``Tolerances``, each test
with its own status (``STATUSES``), records one ``Iterate`` per iteration and returns an
``OptimizationResult``. ``estimated_order`` reads a trace, or any error sequence, and fits
e_{k+1} ≈ C·e_k^p over the last iterations before round-off: p ≈ 2 for Newton's method at a
nondegenerate minimizer, p = 1 with a rate C < 1 at a singular one.
"""

import math
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from ..errors import DiffLabError

EPS = float(np.finfo(np.float64).eps)


class OptimizationError(DiffLabError, ValueError):
    """An optimizer was given arguments it cannot run with."""


STATUSES = {
    "gradient-norm": "‖g‖ ≤ gtol",
    "relative-gradient-norm": "‖g‖·max(1, ‖x‖) ≤ rtol·|f|: f changes by less than rtol "
                              "relatively for a relative change of x",
    "step-size": "the full Newton step from x (positive definite Hessian; not shortened, "
                 "damped, truncated or capped) moves no coordinate by more than xtol of "
                 "itself, |p_i| ≤ xtol·|x_i|",
    "round-off": "no step decreased f by more than its rounding, and the evidence says none "
                 "can: the Newton decrement ½gᵀH⁻¹g is within f's measured noise, or every "
                 "|g_i| is within 100ε·(|H||x|)_i, what rounding x alone does to ∇f",
    "f-change": "|f_k − f_{k+1}| ≤ ftol·max(|f_k|, |f_{k+1}|)",
    "iteration-limit": "maxiter iterations without meeting a tolerance",
    "saddle": "a tolerance was met where the Hessian has a clearly negative eigenvalue, so "
              "the point is not a minimum",
    "line-search-failure": "no step along the search direction decreased f by more than its "
                           "measured noise, and ‖g‖ is above its round-off level: the gradient "
                           "and f disagree, or the direction is too poorly resolved to descend",
    "stalled": "the trust region shrank until no step can move x (Δ ≤ ε‖x‖) and ‖g‖ is above "
               "its round-off level: the model and f disagree where steps were tried",
}
CONVERGED = ("gradient-norm", "relative-gradient-norm", "step-size", "f-change", "round-off")


@dataclass(frozen=True)
class Tolerances:
    """When to stop; the first test met names the status.

    gtol: absolute gradient norm. rtol: the scaled gradient ‖g‖·max(1, ‖x‖)/|f| (Dennis &
    Schnabel §7.2), the relative change of f per relative change of x, which does not change
    when f is scaled; it never fires where f → 0 (zero-residual problems), where gtol does.
    xtol: the full Newton step p = −H⁻¹g from x, coordinate by coordinate, |p_i| ≤ xtol·|x_i|;
    the default, ε, stops only when x no longer moves. Each coordinate is judged against its
    own size because one norm over variables of scales 10⁻² and 10³ (Meyer's problem) hides
    the small ones. Only the full Newton step counts (the optimizers pass None without a
    positive definite Hessian): a step the line search shortened, the trust region capped,
    the Hessian's modification or Levenberg–Marquardt damped, or CG truncated is small
    because the model is distrusted or unsolved, not because x* is near. ftol: relative
    change of f, off by default — near a minimizer f resolves x only to about √(ε|f|/λ_min)
    (the flat bottom), far coarser than the gradient does, so an f test would stop early.
    """

    gtol: float = 1e-10
    rtol: float = 1e-14
    xtol: float = EPS
    ftol: float = 0.0
    maxiter: int = 100

    def __post_init__(self):
        for name in ("gtol", "rtol", "xtol", "ftol"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) \
                    or not math.isfinite(value) or value < 0:
                raise OptimizationError(f"{name} must be a finite number ≥ 0, got {value!r}")
        if isinstance(self.maxiter, bool) or not isinstance(self.maxiter, (int, np.integer)) \
                or self.maxiter < 0:
            raise OptimizationError(f"maxiter must be an integer ≥ 0, got {self.maxiter!r}")

    def met(self, g, f, x, newton_step=None, f_before=None, f_after=None):
        """The status of the first tolerance met, or None.

        ``f`` and ``g`` are f and ∇f at ``x``; ``newton_step`` is the full Newton step from
        x (None where there is none to trust); the f pair is the change of f over the step
        that led here (None at the start).
        """
        grad_norm, x_norm = float(np.linalg.norm(g)), float(np.linalg.norm(x))
        if grad_norm <= self.gtol:
            return "gradient-norm"
        if grad_norm * max(1.0, x_norm) <= self.rtol * abs(f):
            return "relative-gradient-norm"
        if newton_step is not None and np.all(np.abs(newton_step) <= self.xtol * np.abs(x)):
            return "step-size"
        if self.ftol > 0 and f_before is not None \
                and abs(f_before - f_after) <= self.ftol * max(abs(f_before), abs(f_after)):
            return "f-change"
        return None


def f_noise(values):
    """σ, the deviation of the noise in f, from f at equally spaced points on a line.

    After Moré & Wild (2011), "Estimating computational noise", SIAM J. Sci. Comput. 33:
    the k-th differences Δᵏf of smooth f at spacing h are O(hᵏ), those of independent noise
    of deviation σ have variance σ²·(2k)!/(k!)² — 20σ² for k = 3, which removes the
    quadratic along a Newton step (the cubic term is O(h³)). σ comes from the median of
    |Δ³f| (≈ 0.6745·√20·σ for normal noise) rather than its mean square, so that an isolated
    jump of f between two points — a discontinuity, not rounding — moves three of the
    differences and not the estimate. Rounding flat to the last bit gives σ = 0: the
    caller's floor, the rounding of f itself, stands.
    """
    differences = np.diff(np.asarray(values, dtype=float), n=3)
    if differences.size == 0:
        return 0.0
    return float(np.median(np.abs(differences))) / (0.6745 * math.sqrt(20))


@dataclass
class Evaluations:
    """What a run cost, cumulative: calls through the interface and what they spent.

    ``f`` counts the optimizer's own evaluations of f (or of the residuals); ``gradient``,
    ``hessian``, ``hvp`` and ``jacobian`` count calls of the differentiator;
    ``f_in_derivatives`` the evaluations of f those calls made (finite differences; complex
    ones included), ``setup_seconds`` their setup (symbolic differentiation and compilation)
    and ``derivative_seconds`` their evaluation time.
    """

    f: int = 0
    gradient: int = 0
    hessian: int = 0
    hvp: int = 0
    jacobian: int = 0
    f_in_derivatives: int = 0
    setup_seconds: float = 0.0
    derivative_seconds: float = 0.0


@dataclass
class Iterate:
    """Iteration k: the state at x_k and the step taken from it (step fields None at the end).

    ``min_eigenvalue`` is λ_min of the Hessian at x_k where the method forms it (Newton), and
    at the last iterate for every method; ``hessian_norm`` is ‖H‖₂, or the Gauss–Newton
    matrix's, or the largest curvature CG met (Newton-CG), used by ``estimated_order`` for
    the round-off floor of ‖g‖ (the stopping test judges each g_i by itself). ``step_length`` is the line search's α; ``step_norm`` the proposed step's length
    ‖p‖ (times α for a line search; a rejected trust-region step moves nothing but is
    recorded; ``accepted`` says whether it was taken). ``damping`` is what was added to the
    Hessian: τ of the modification, the trust-region multiplier λ or Levenberg–Marquardt's
    μ. ``radius`` is Δ_k. ``inner_iterations`` counts CG iterations. ``direction`` names the
    step: "newton", "modified-newton", "saddle-free", "trust-region", "steihaug",
    "newton-cg", "steepest-descent", "negative-curvature" (off a saddle), "gauss-newton" or
    "levenberg-marquardt". ``seconds`` run from the start; ``evaluations`` are cumulative
    up to x_k.
    """

    k: int
    f: float
    grad_norm: float
    x: np.ndarray
    seconds: float
    evaluations: Evaluations
    min_eigenvalue: float | None = None
    hessian_norm: float | None = None
    step_length: float | None = None
    step_norm: float | None = None
    accepted: bool | None = None
    damping: float | None = None
    radius: float | None = None
    inner_iterations: int | None = None
    direction: str | None = None


@dataclass
class OptimizationResult:
    """The end of a run: x, f(x), ∇f(x), why it stopped, and the per-iteration trace.

    ``converged`` is True when a tolerance was met at a point whose Hessian has no clearly
    negative eigenvalue; ``min_eigenvalue`` is the Hessian's smallest at x. ``differentiator``
    gave the gradient (Jacobian), ``hessian_differentiator`` the Hessian or its products.
    """

    x: np.ndarray
    fun: float
    grad: np.ndarray
    status: str
    nit: int
    min_eigenvalue: float | None
    evaluations: Evaluations
    trace: list = field(repr=False)
    method: str = ""
    differentiator: str = ""
    hessian_differentiator: str = ""

    @property
    def converged(self):
        return self.status in CONVERGED

    @property
    def grad_norm(self):
        return float(np.linalg.norm(self.grad))

    @property
    def message(self):
        return STATUSES[self.status]

    def __repr__(self):
        eig = "n/a" if self.min_eigenvalue is None else f"{self.min_eigenvalue:.3g}"
        source = self.differentiator if self.hessian_differentiator == self.differentiator \
            else f"{self.differentiator}, Hessian from {self.hessian_differentiator}"
        return (f"OptimizationResult({self.method}, {source}: {self.status} after "
                f"{self.nit} iterations, f = {self.fun:.6g}, ‖g‖ = {self.grad_norm:.3g}, "
                f"λ_min = {eig})")


def clearly_negative(eigenvalue, hessian_norm, relative_error):
    """λ < −(expected relative error of the Hessian)·‖H‖: negative beyond the Hessian's error.

    Necessary, not sufficient, for a saddle: near a degenerate minimum (λ_min = 0, e.g. a
    network that fits its data exactly) the Hessian has eigenvalues of order
    ‖∇³f‖·‖x − x*‖ of either sign; ``Run`` then probes f along the eigenvector.
    """
    return eigenvalue is not None and eigenvalue < -relative_error * hessian_norm


class Order(NamedTuple):
    """The observed convergence e_{k+1} ≈ C·e_k^p over the last steps before round-off.

    ``order`` p and ``constant`` C are the least-squares line through the points
    (log e_k, log e_{k+1}) of the last ``window`` steps; ``rate`` is the median ratio
    e_{k+1}/e_k over the same steps (the linear rate; → 0 when superlinear). ``orders`` are
    the per-step estimates log(e_{k+1}/e_k) / log(e_k/e_{k−1}), ``errors`` the sequence used.
    """

    order: float
    rate: float
    constant: float
    orders: np.ndarray
    errors: np.ndarray


def estimated_order(trace, minimizer=None, floor=None, window=3):
    """Observed order p of e_{k+1} ≈ C·e_k^p from the last ``window`` steps before round-off.

    ``trace`` is an optimizer's trace or a sequence of positive errors. From a trace the
    errors are e_k = ‖x_k − x*‖ if ``minimizer`` x* is given, else ‖∇f(x_k)‖. The sequence
    stops at the first value at or below the round-off floor, where the ratios measure
    rounding rather than the method: ``floor`` if given; for ‖g‖ from a trace 10ε·‖H_k‖·
    max(1, ‖x_k‖), the gradient's change when x_k is rounded; for ‖x_k − x*‖
    10³ε·max(1, ‖x*‖). p is fitted, not taken from one step: the per-step estimate
    log(e_{k+1}/e_k) / log(e_k/e_{k−1}) assumes C is the same on both steps, which on a
    curved valley like Rosenbrock's it is not, while the fit averages over the steps.
    At least three values (two steps) must remain.
    """
    errors, floors = _errors(trace, minimizer, floor)
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 2:
        raise OptimizationError(f"estimated_order: window must be an integer ≥ 2, got {window!r}")
    below = np.flatnonzero(~(errors > floors))
    clean = errors[: below[0] if below.size else errors.size]
    if clean.size < 3:
        raise OptimizationError(
            f"estimated_order needs at least three errors above the round-off floor, got "
            f"{clean.size} of {errors.size}; run more iterations, start farther away, or "
            "pass a lower floor")
    logs = np.log(clean)
    steps = min(window, clean.size - 1)
    order, log_constant = np.polyfit(logs[-steps - 1:-1], logs[-steps:], 1)
    ratios = clean[1:] / clean[:-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        orders = np.log(ratios[1:]) / np.log(ratios[:-1])
    return Order(float(order), float(np.median(ratios[-steps:])), float(np.exp(log_constant)),
                 orders, clean)


def _errors(trace, minimizer, floor):
    """The error sequence and its per-entry round-off floor."""
    records = list(trace)
    if records and all(isinstance(r, Iterate) for r in records):
        # a rejected trust-region step repeats x_k: one record per point
        records = [r for r in records if r.accepted is not False]
        if minimizer is not None:
            target = np.asarray(minimizer, dtype=float)
            if target.shape != records[0].x.shape:
                raise OptimizationError(
                    f"estimated_order: minimizer has shape {target.shape}, the iterates "
                    f"{records[0].x.shape}; pass x* of the same shape")
            errors = np.array([np.linalg.norm(r.x - target) for r in records])
            default = np.full(errors.size, 1e3 * EPS * max(1.0, np.linalg.norm(target)))
        else:
            errors = np.array([r.grad_norm for r in records])
            default = np.array([10 * EPS * (r.hessian_norm or 0.0)
                                * max(1.0, np.linalg.norm(r.x)) for r in records])
    else:
        if minimizer is not None:
            raise OptimizationError("estimated_order: a minimizer is only used with a trace "
                                    "of iterates; pass the errors themselves instead")
        errors = np.asarray(records, dtype=float)
        if errors.ndim != 1:
            raise OptimizationError(f"estimated_order: errors must be a 1-D sequence, got "
                                    f"shape {errors.shape}")
        default = np.zeros(errors.size)
    if floor is not None:
        default = np.full(errors.size, float(floor))
    return errors, default
