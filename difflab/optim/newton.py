"""Newton's method with derivatives from any differentiator (Nocedal & Wright ch. 3, 4, 7, 10).

``newton`` globalizes the Newton step with a backtracking line search on a modified Hessian
(added multiple of the identity, or absolute eigenvalues) or with a trust region (nearly
exact or Steihaug–CG subproblem). ``newton_cg`` never forms the Hessian: conjugate gradients
on Hessian-vector products, truncated by a forcing sequence. ``gauss_newton`` minimizes
f = Σ r_k² with the Jacobian of the residuals, undamped or Levenberg–Marquardt.

Every derivative comes through the shared interface (``difflab.differentiator(name)``), so
the same run can take its Hessian from AD, SymPy or finite differences; every call is
counted and timed. All stop by the same ``Tolerances`` and return an
``OptimizationResult`` whose trace ``estimated_order`` reads. A tolerance met where the
Hessian has a clearly negative eigenvalue is a saddle, not a minimum: the methods that see
that eigenvalue step off along its eigenvector (``escape_saddles``), or report "saddle".
"""

import itertools
import math
import time
from dataclasses import replace

import numpy as np

from .. import numpy as dnp
from ..errors import DiffLabError, NonFiniteValueError, ShapeError
from ..interface import differentiator as lookup
from .convergence import (CONVERGED, EPS, Evaluations, Iterate, OptimizationError,
                          OptimizationResult, Tolerances, clearly_negative, f_noise)
from .trust_region import exact_step, steihaug_step, updated_radius

GLOBALIZATIONS = ("line-search", "trust-region")
MODIFICATIONS = ("cholesky", "saddle-free")
SUBPROBLEMS = ("exact", "steihaug")
DAMPINGS = (None, "levenberg-marquardt")

ARMIJO = 1e-4            # c₁ of the sufficient-decrease condition (N&W §3.1)
ACCEPT = 0.1             # η: a trust-region step is taken when ρ > η (N&W Alg. 4.1, η ∈ [0, ¼))
# Round-off allowance in the decrease tests, in units of |f|: a step that changes f by less
# than f's rounding is judged by the gradient at the next iterate, not by f. It is a floor:
# f = Σ rᵢ² whose terms cancel rounds far worse (Trig, Osborne 1: 5–75×), which ``Run.noise``
# measures when a decision depends on it.
F_NOISE = 16 * EPS
# A step whose predicted decrease is below √ε|f| is within reach of f's noise (f with fewer
# than half its digits right is beyond any test here): only then is the noise measured.
NEAR_NOISE = math.sqrt(EPS)
# Noise allowance in deviations σ: f(x + p) − f(x) of two noisy values spreads √2σ, and
# 4σ ≈ 3 of those deviations.
NOISE_DEVIATIONS = 4
# The noise is measured on points that move no coordinate by more than this fraction of
# ‖x‖∞, so that f's own curvature along the line is far below its rounding.
NOISE_SPAN = 1e-6


def newton(f, x0, differentiator="ad", *, globalization="line-search",
           modification="cholesky", subproblem="exact", hessian_differentiator=None,
           radius=1.0, max_radius=1e8, escape_saddles=True, gtol=1e-10, rtol=1e-14,
           xtol=EPS, ftol=0.0, maxiter=100, callback=None):
    """Minimize f(x) by Newton's method with the gradient and Hessian from a differentiator.

    ``differentiator`` (a name or instance) gives ∇f and, unless ``hessian_differentiator``
    is set, ∇²f. ``globalization="line-search"``: backtracking Armijo from the full step
    (N&W Alg. 3.1) along p = −B⁻¹g, where B is ∇²f + τI with the first τ that makes it
    positive definite (``modification="cholesky"``, N&W Alg. 3.3) or Q|Λ|Qᵀ
    (``"saddle-free"``). ``"trust-region"``: N&W Alg. 4.1 with the model's minimizer over
    ‖p‖ ≤ Δ found nearly exactly (``subproblem="exact"``, Moré–Sorensen) or by Steihaug's
    truncated CG (``"steihaug"``, N&W Alg. 7.2); Δ₀ = ``radius``. The tolerances are those
    of ``Tolerances``; ``callback(iterate)`` sees every trace record as it is made.
    """
    if globalization not in GLOBALIZATIONS:
        raise OptimizationError(f"newton: unknown globalization {globalization!r}; choose "
                                f"{' or '.join(GLOBALIZATIONS)}")
    options = MODIFICATIONS if globalization == "line-search" else SUBPROBLEMS
    choice = modification if globalization == "line-search" else subproblem
    if choice not in options:
        kind = "modification" if globalization == "line-search" else "subproblem"
        raise OptimizationError(f"newton: unknown {kind} {choice!r} for {globalization}; "
                                f"choose {' or '.join(options)}")
    _check_radius(radius, max_radius)
    objective = Objective(f, differentiator, hessian_differentiator)
    run = Run(f"newton ({globalization}, {choice})", objective,
              Tolerances(gtol, rtol, xtol, ftol, maxiter), callback,
              _relative_error(objective.second, "hessian"), escape_saddles)
    x = starting_point(x0, "newton")
    fx = run.first_value(f, x)
    if globalization == "line-search":
        return _line_search(run, x, fx, modification)
    return _trust_region(run, x, fx, subproblem, radius, max_radius)


def newton_cg(f, x0, differentiator="ad", *, hessian_differentiator=None,
              escape_saddles=True, cg_maxiter=None, gtol=1e-10, rtol=1e-14, xtol=EPS,
              ftol=0.0, maxiter=100, callback=None):
    """Hessian-free Newton: line-search Newton–CG (N&W Alg. 7.1) on Hessian-vector products.

    CG solves ∇²f p = −g until ‖r‖ ≤ η_k‖g‖ with the forcing sequence η_k = min(½, √‖g‖),
    which gives superlinear convergence (N&W Thm. 7.2), and stops at the first direction of
    nonpositive curvature (the steepest descent direction if that is the first one). The
    Hessian's smallest eigenvalue is found at the end (and where a tolerance is met) by
    Lanczos on the same products. ``cg_maxiter`` defaults to 2n.
    """
    objective = Objective(f, differentiator, hessian_differentiator)
    run = Run("newton-cg", objective, Tolerances(gtol, rtol, xtol, ftol, maxiter), callback,
              _relative_error(objective.second, "hvp"), escape_saddles)
    x = starting_point(x0, "newton_cg")
    fx = run.first_value(f, x)
    inner_limit = 2 * x.size if cg_maxiter is None else cg_maxiter
    g = objective.gradient(x)
    run.start_gradient(g)
    moved = f_before = None
    for k in itertools.count():
        def product(v, x=x):
            return objective.hvp(x, v)

        # A CG step is truncated by the forcing term; only when the last full one was already
        # too small to move x is the untruncated Newton step solved for, to be sure.
        small = moved is not None and np.all(np.abs(moved) <= run.tolerances.xtol * np.abs(x))
        full = cg_newton_step(product, g) if small else None
        status, escape, lowest = run.status(
            k, x, g, full, f_before, fx, lambda: smallest_eigenpair(product, x.size))
        if status:
            lowest = lowest or smallest_eigenpair(product, x.size)
            return run.finish(k, x, fx, g, status, min_eigenvalue=lowest[0],
                              hessian_norm=lowest[1])
        if escape:
            p = _escape_direction(lowest[2], g, max(1.0, np.linalg.norm(x)))
            inner, largest, direction = None, None, "negative-curvature"
        else:
            tol = min(0.5, math.sqrt(np.linalg.norm(g))) * np.linalg.norm(g)
            p, inner, exit, largest = truncated_cg(product, g, tol, inner_limit)
            direction = "steepest-descent" if exit == "first-negative-curvature" else "newton-cg"
        alpha, f_new = backtracking(objective, x, fx, p, g @ p,
                                    noise=lambda: run.noise(x, fx, p))
        if alpha is None:
            lowest = lowest or smallest_eigenpair(product, x.size)
            status = "saddle" if escape else \
                run.failed_search(x, fx, g, newton_step=cg_newton_step(product, g))
            return run.finish(k, x, fx, g, status, min_eigenvalue=lowest[0],
                              hessian_norm=lowest[1])
        run.record(k, x, fx, g, hessian_norm=largest, step_length=alpha,
                   step_norm=alpha * np.linalg.norm(p), accepted=True, inner_iterations=inner,
                   direction=direction)
        converged_cg = direction == "newton-cg" and exit == "converged"
        moved = alpha * p if alpha == 1 and converged_cg else None
        f_before = fx
        x, fx = x + alpha * p, f_new
        g = objective.gradient(x)


def gauss_newton(residuals, x0, differentiator="ad", *, damping=None, gtol=1e-10,
                 rtol=1e-14, xtol=EPS, ftol=0.0, maxiter=100, callback=None):
    """Minimize f = Σ_k r_k(x)² by Gauss–Newton (N&W §10.3) or Levenberg–Marquardt.

    J is the Jacobian of ``residuals`` from the differentiator, g = 2Jᵀr, and the model
    Hessian 2JᵀJ. ``damping=None``: p minimizes ‖Jp + r‖ (least squares by SVD, not the
    normal equations), then backtracking Armijo. ``"levenberg-marquardt"``: p minimizes
    ‖Jp + r‖² + μ‖p‖² (N&W eq. 10.40, as the least-squares problem [J; √μI]p ≈ −[r; 0]),
    with μ₀ = 10⁻³·max diag(JᵀJ) and Nielsen's update of μ from the gain ratio ρ (Madsen,
    Nielsen & Tingleff 2004, Alg. 3.16). The model never sees negative curvature, so at a
    met tolerance the true Hessian of f decides between converged and "saddle".
    """
    if damping not in DAMPINGS:
        raise OptimizationError(f"gauss_newton: unknown damping {damping!r}; choose None "
                                "(Gauss–Newton) or 'levenberg-marquardt'")

    def sum_of_squares(theta):
        return dnp.sum(dnp.square(residuals(theta)))

    objective = Objective(sum_of_squares, differentiator, None)
    method = "gauss-newton" if damping is None else "levenberg-marquardt"
    run = Run(method, objective, Tolerances(gtol, rtol, xtol, ftol, maxiter), callback,
              _relative_error(objective.second, "hessian"), escape_saddles=False)
    run.residuals = residuals
    x = starting_point(x0, method)
    r = first_residuals(residuals, x, method)
    objective.evaluations.f += 1
    J = objective.jacobian(residuals, x)
    run.start_gradient(2 * J.T @ r)
    loop = _gauss_newton if damping is None else _levenberg_marquardt
    return loop(run, residuals, x, r, J)


# The least-squares loops. In both g = 2Jᵀr, f = rᵀr, and the model Hessian is 2JᵀJ.

def _gauss_newton(run, residuals, x, r, J):
    """Gauss–Newton steps p = argmin ‖Jp + r‖ with backtracking Armijo (N&W §10.3)."""
    objective = run.objective
    f_before = None
    for k in itertools.count():
        fx, g = float(r @ r), 2 * J.T @ r
        p, full = gauss_newton_step(J, r)
        status, _, lowest = run.status(k, x, g, full, f_before, fx, _true_curvature(run, x))
        if status is None:
            alpha, _ = backtracking(objective, x, fx, p, g @ p, residuals,
                                    noise=lambda: run.noise(x, fx, p))
            if alpha is None:
                lowest = lowest or _true_curvature(run, x)()
                status = run.failed_search(x, fx, g, 2 * J.T @ J, full)
        if status:
            lowest = lowest or _true_curvature(run, x)()
            return run.finish(k, x, fx, g, status, min_eigenvalue=lowest[0],
                              hessian_norm=lowest[1])
        run.record(k, x, fx, g, hessian_norm=2 * np.linalg.norm(J, 2) ** 2, step_length=alpha,
                   step_norm=alpha * np.linalg.norm(p), accepted=True, direction="gauss-newton")
        f_before = fx
        x = x + alpha * p
        r, J = _residuals(objective, residuals, x), objective.jacobian(residuals, x)


def _levenberg_marquardt(run, residuals, x, r, J):
    """Levenberg–Marquardt with Nielsen's damping update (Madsen, Nielsen & Tingleff, Alg. 3.16).

    μ₀ = 10⁻³·max diag(JᵀJ); a step with gain ratio ρ > 0 is taken and μ ← μ·max(⅓,
    1 − (2ρ − 1)³), ν ← 2; otherwise μ ← μν, ν ← 2ν. A rejected step keeps x.
    """
    objective = run.objective
    mu, nu = 1e-3 * float(np.max(np.sum(J * J, axis=0))), 2.0
    f_before = None
    for k in itertools.count():
        fx, g = float(r @ r), 2 * J.T @ r
        # The damped step is short because μ is large, not because x* is near: the step
        # test looks at the undamped Gauss–Newton step.
        status, _, lowest = run.status(k, x, g, gauss_newton_step(J, r)[1], f_before, fx,
                                       _true_curvature(run, x))
        if status:
            lowest = lowest or _true_curvature(run, x)()
            return run.finish(k, x, fx, g, status, min_eigenvalue=lowest[0],
                              hessian_norm=lowest[1])
        damped = np.vstack([J, math.sqrt(mu) * np.eye(x.size)])
        p = np.linalg.lstsq(damped, -np.concatenate([r, np.zeros(x.size)]), rcond=None)[0]
        predicted = fx - float(np.sum(np.square(r + J @ p)))
        f_trial = objective.trial_value(x + p, residuals)
        rho = _reduction_ratio(fx, f_trial, predicted)
        run.record(k, x, fx, g, hessian_norm=2 * np.linalg.norm(J, 2) ** 2,
                   step_norm=np.linalg.norm(p), accepted=rho > 0, damping=mu,
                   direction="levenberg-marquardt")
        if rho > 0:
            mu, nu = mu * max(1 / 3, 1 - (2 * rho - 1) ** 3), 2.0
            f_before, x = fx, x + p
            r, J = _residuals(objective, residuals, x), objective.jacobian(residuals, x)
        else:
            mu, nu, f_before = mu * nu, 2 * nu, None


def _residuals(objective, residuals, x):
    objective.evaluations.f += 1
    return np.asarray(residuals(x), dtype=float)


def _true_curvature(run, x):
    """(λ₁, ‖H‖, q₁) of the true Hessian of Σ r², when asked: the model 2JᵀJ cannot be
    indefinite, so only the Hessian itself tells a minimum from a saddle."""
    return lambda: _eigen_summary(np.linalg.eigh(run.objective.hessian(x)))


# The two globalizations of newton.

def _line_search(run, x, fx, modification):
    """Modified Newton with backtracking (N&W Alg. 3.2 with Alg. 3.1 and 3.3 or §3.4)."""
    objective = run.objective
    g = objective.gradient(x)
    run.start_gradient(g)
    f_before = None
    for k in itertools.count():
        H = objective.hessian(x)
        eigen = np.linalg.eigh(H)
        summary = _eigen_summary(eigen)
        state = dict(min_eigenvalue=summary[0], hessian_norm=summary[1])
        full = full_newton_step(eigen, g)
        status, escape, _ = run.status(k, x, g, full, f_before, fx, lambda: summary)
        if status:
            return run.finish(k, x, fx, g, status, **state)
        if escape:
            p, tau = _escape_direction(summary[2], g, max(1.0, np.linalg.norm(x))), None
            direction = "negative-curvature"
        elif modification == "cholesky":
            p, tau = cholesky_modified_step(H, g)
            direction = "newton" if tau == 0 else "modified-newton"
        else:
            p, tau = saddle_free_step(*eigen, g)
            direction = "newton" if tau == 0 else "saddle-free"
        alpha, f_new = backtracking(objective, x, fx, p, g @ p,
                                    noise=lambda: run.noise(x, fx, p))
        if alpha is None:
            status = "saddle" if escape else run.failed_search(x, fx, g, H, full)
            return run.finish(k, x, fx, g, status, **state)
        run.record(k, x, fx, g, **state, step_length=alpha, step_norm=alpha * np.linalg.norm(p),
                   accepted=True, damping=tau, direction=direction)
        f_before = fx
        x, fx = x + alpha * p, f_new
        g = objective.gradient(x)


def _trust_region(run, x, fx, subproblem, radius, max_radius):
    """Trust-region Newton (N&W Alg. 4.1); a rejected step keeps x and shrinks Δ."""
    objective = run.objective
    g = objective.gradient(x)
    run.start_gradient(g)
    H = objective.hessian(x)
    eigen = np.linalg.eigh(H)
    f_before = None
    for k in itertools.count():
        summary = _eigen_summary(eigen)
        state = dict(min_eigenvalue=summary[0], hessian_norm=summary[1])
        full = full_newton_step(eigen, g)
        status, escape, _ = run.status(k, x, g, full, f_before, fx, lambda: summary)
        if status:
            return run.finish(k, x, fx, g, status, **state)
        multiplier = inner = None
        if escape:
            # On a saddle g ≈ 0 and CG would return p = 0; the exact solver's hard-case step
            # is Δ along the eigenvector, taken here for either subproblem.
            p, direction = _escape_direction(summary[2], g, radius), "negative-curvature"
        elif subproblem == "exact":
            p, multiplier = exact_step(*eigen, g, radius)
            direction = "trust-region"
        else:
            tol = min(0.5, math.sqrt(np.linalg.norm(g))) * np.linalg.norm(g)
            p, inner, _ = steihaug_step(lambda v: H @ v, g, radius, tol, 2 * x.size)
            direction = "steihaug"
        step = float(np.linalg.norm(p))
        predicted = -(g @ p + 0.5 * p @ H @ p)
        noise = run.noise(x, fx, p) if predicted <= NEAR_NOISE * abs(fx) else None
        f_trial = objective.trial_value(x + p)
        rho = _reduction_ratio(fx, f_trial, predicted, noise)
        run.record(k, x, fx, g, **state, step_norm=step, accepted=rho > ACCEPT,
                   damping=multiplier, radius=radius, inner_iterations=inner,
                   direction=direction)
        radius = updated_radius(rho, radius, step, max_radius)
        if rho > ACCEPT:
            f_before, x, fx = fx, x + p, f_trial
            g = objective.gradient(x)
            H = objective.hessian(x)
            eigen = np.linalg.eigh(H)
        else:
            f_before = None
            if radius <= EPS * np.linalg.norm(x) or np.array_equal(x + p, x) \
                    or radius < np.finfo(float).tiny:
                # No step inside Δ can move x: the region has collapsed.
                status = "round-off" if run.at_round_off(x, fx, g, H, full) else "stalled"
                return run.finish(k + 1, x, fx, g, status, **state)


# Steps.

def full_newton_step(eigen, g):
    """p = −H⁻¹g from H = Q diag(λ) Qᵀ (``np.linalg.eigh``), or None unless every λ_i > 0.

    The step the stopping tests trust: not modified, damped, truncated or capped.
    """
    values, vectors = eigen
    if not values[0] > 0:
        return None
    return -vectors @ ((vectors.T @ g) / values)


def cg_newton_step(product, g):
    """The Newton step by CG run to a residual of √ε‖g‖ (at most 2n products), or None if
    CG meets nonpositive curvature or does not get there: then there is no step to trust."""
    p, _, exit, _ = truncated_cg(product, g, math.sqrt(EPS) * np.linalg.norm(g), 2 * g.size)
    return p if exit == "converged" else None


def gauss_newton_step(J, r):
    """(p, full): p = argmin ‖Jp + r‖ (least squares by SVD); ``full`` is p when J has full
    column rank, so that p is the Gauss–Newton model's unique minimizer, else None."""
    p, _, rank, _ = np.linalg.lstsq(J, -r, rcond=None)
    return p, (p if rank == J.shape[1] else None)


def cholesky_modified_step(hessian, g):
    """(p, τ): p = −(H + τI)⁻¹g with the first τ ∈ {0, τ₀, 2τ₀, …} that Cholesky accepts.

    N&W Alg. 3.3 (Cholesky with added multiple of the identity): τ₀ = 0 if min_i h_ii > 0,
    else β − min_i h_ii; then τ ← max(2τ, β). N&W's β = 10⁻³ assumes a well-scaled H; here
    β = 10⁻³‖H‖_F, so the shift scales with the Hessian.
    """
    n = hessian.shape[0]
    beta = 1e-3 * (np.linalg.norm(hessian) or 1.0)
    lowest = float(np.min(np.diag(hessian)))
    tau = 0.0 if lowest > 0 else beta - lowest
    while True:
        try:
            factor = np.linalg.cholesky(hessian + tau * np.eye(n))
            break
        except np.linalg.LinAlgError:
            tau = max(2 * tau, beta)
    return -np.linalg.solve(factor.T, np.linalg.solve(factor, g)), tau


def saddle_free_step(eigenvalues, eigenvectors, g):
    """(p, τ): p = −|H|⁻¹g with |H| = Q|Λ|Qᵀ, |λ_i| floored at √ε·max|λ| (N&W §3.4).

    Flipping the sign of negative curvature turns the step away from saddle points instead
    of toward them (Dauphin et al. 2014, "saddle-free Newton"); the floor bounds |H|'s
    condition number by 1/√ε. τ = max_i(|λ_i|′ − λ_i) is how far an eigenvalue moved.
    """
    floor = math.sqrt(EPS) * max(np.max(np.abs(eigenvalues)), np.finfo(float).tiny)
    modified = np.maximum(np.abs(eigenvalues), floor)
    p = -eigenvectors @ ((eigenvectors.T @ g) / modified)
    return p, float(np.max(modified - eigenvalues))


def truncated_cg(product, g, tol, maxiter):
    """(p, iterations, exit, largest curvature): CG on Bp = −g, B given by ``product``.

    N&W Alg. 7.1's inner loop: stop when ‖r‖ ≤ tol, or at the first direction d with
    dᵀBd ≤ 0, returning the iterate so far (−g if that is the first direction, exit
    "first-negative-curvature"). The largest |dᵀBd|/‖d‖² met estimates ‖B‖ from below.
    """
    z = np.zeros_like(g)
    r = g.copy()
    d = -r
    largest = 0.0
    for j in range(maxiter):
        Bd = product(d)
        curvature = d @ Bd
        largest = max(largest, abs(curvature) / (d @ d))
        if curvature <= 0:
            if j == 0:
                return -g, 1, "first-negative-curvature", largest
            return z, j + 1, "negative-curvature", largest
        alpha = (r @ r) / curvature
        z = z + alpha * d
        r_next = r + alpha * Bd
        if np.linalg.norm(r_next) <= tol:
            return z, j + 1, "converged", largest
        d = -r_next + (r_next @ r_next) / (r @ r) * d
        r = r_next
    return z, maxiter, "iterations", largest


def backtracking(objective, x, fx, p, slope, residuals=None, noise=None, shrink=0.5,
                 halvings=60):
    """(α, f(x + αp)) for the first α = 1, ½, ¼, … with f(x + αp) ≤ f(x) + c₁α gᵀp.

    Armijo backtracking from the full step (N&W Alg. 3.1, c₁ = 10⁻⁴). The full step alone
    is also accepted within f's rounding: near a minimizer it can lower f by less than that,
    and the gradient at the next iterate, not f, must then judge it (cf. Hager & Zhang's
    approximate Wolfe condition). The rounding is 16ε|f(x)| unless the step predicts a
    decrease below √ε|f| and fails that test; then ``noise()`` measures it. A shortened step
    gets no allowance, and the test compares the change f(x + αp) − f(x), which the rounding
    of f(x) cannot absorb, so a gradient that disagrees with f ends in failure instead of in
    a step too small to notice. (None, f(x)) if no α down to 2⁻⁶⁰ passes, or once x + αp
    rounds to x.
    """
    alpha, allowance = 1.0, F_NOISE * abs(fx)
    for _ in range(halvings):
        trial = x + alpha * p
        if np.array_equal(trial, x):
            break
        f_trial = objective.trial_value(trial, residuals)
        if f_trial - fx <= ARMIJO * alpha * slope + allowance:
            return alpha, f_trial
        if alpha == 1 and noise is not None and -slope <= NEAR_NOISE * abs(fx) \
                and f_trial - fx <= ARMIJO * slope + noise():
            return alpha, f_trial
        alpha, allowance = alpha * shrink, 0.0
    return None, fx


def smallest_eigenpair(product, n, steps=50, seed=0):
    """(λ₁, ‖H‖₂ estimate, q₁) from Lanczos on ``product`` with full reorthogonalization.

    min(n, ``steps``) steps from a seeded random start (Golub & Van Loan §10.1); the Ritz
    values of the tridiagonal T bound the spectrum from inside and are exact up to rounding
    when the steps reach n.
    """
    rng = np.random.default_rng(seed)
    q = rng.standard_normal(n)
    basis = [q / np.linalg.norm(q)]
    alphas, betas = [], []
    for j in range(min(n, steps)):
        w = product(basis[j])
        alphas.append(basis[j] @ w)
        Q = np.array(basis)
        for _ in range(2):      # twice is enough to keep the basis orthogonal to working precision
            w = w - Q.T @ (Q @ w)
        beta = np.linalg.norm(w)
        if j == min(n, steps) - 1 or beta <= EPS * max(np.abs(alphas).max(), 1e-300):
            break
        betas.append(beta)
        basis.append(w / beta)
    T = np.diag(alphas) + np.diag(betas, 1) + np.diag(betas, -1)
    values, vectors = np.linalg.eigh(T)
    q1 = np.array(basis).T @ vectors[:, 0]
    return float(values[0]), float(np.max(np.abs(values))), q1 / np.linalg.norm(q1)


def _escape_direction(q1, g, length):
    """q₁ scaled to ``length``, signed so that gᵀq₁ ≤ 0: a descent direction off a saddle.

    A negative-curvature direction has no natural length: a line search backtracks from the
    scale of x, max(1, ‖x‖) (Moré & Sorensen 1979 use such directions the same way); a
    trust region takes Δ.
    """
    return (-length if g @ q1 > 0 else length) * q1


def _eigen_summary(eigen):
    """(λ₁, ‖H‖₂, q₁) from ``np.linalg.eigh``'s ascending eigenvalues and eigenvectors."""
    values, vectors = eigen
    return float(values[0]), float(np.max(np.abs(values))), vectors[:, 0]


def _reduction_ratio(f_before, f_after, predicted, noise=None):
    """ρ = actual / predicted reduction, both raised by f's rounding (16ε|f| by default).

    When both reductions are at rounding level ρ → 1 instead of a ratio of noises (Conn,
    Gould & Toint 2000, §17.4.2).
    """
    noise = (F_NOISE * abs(f_before) if noise is None else noise) + np.finfo(float).tiny
    if predicted + noise <= 0:      # the model predicts an increase: the step is not usable
        return -math.inf
    return (f_before - f_after + noise) / (predicted + noise)


# Bookkeeping: the objective behind the interface, and one run's trace.

class Objective:
    """f and its derivatives from the shared interface, every call counted and timed."""

    def __init__(self, f, first, second=None):
        self.f = f
        self.first = lookup(first)
        self.second = self.first if second is None else lookup(second)
        self._prepared = {}      # (quantity, fn) → the method's prepared derivative
        self.evaluations = Evaluations()

    def trial_value(self, x, residuals=None):
        """f(x) (or Σ r(x)²) at a trial point, +∞ where not finite.

        A trial point past where f is finite is a step too long, and the search backs off,
        so overflow there is expected, not worth a warning.
        """
        self.evaluations.f += 1
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            if residuals is None:
                value = float(self.f(x))
            else:
                r = np.asarray(residuals(x), dtype=float)
                value = float(r @ r)
        return value if math.isfinite(value) else math.inf

    def gradient(self, x):
        return self._derivative(self.first, "gradient", self.f, x)

    def hessian(self, x):
        return self._derivative(self.second, "hessian", self.f, x)

    def hvp(self, x, v):
        return self._derivative(self.second, "hvp", self.f, x, v)

    def jacobian(self, F, x):
        return self._derivative(self.first, "jacobian", F, x)

    def _derivative(self, method, quantity, fn, x, v=None):
        """One derivative from the method prepared once per run (its setup counted once,
        in ``setup_seconds``; the symbolic method traces and compiles only then)."""
        try:
            prepared = self._prepared.get((quantity, fn))
            if prepared is None:
                prepared = self._prepared[quantity, fn] = method.prepare(fn, x, quantity)
                self.evaluations.setup_seconds += prepared.setup_seconds
            measured = prepared(x, v)
        except NonFiniteValueError as error:
            # the differentiator's own refusal, told where in the run it happened
            raise NonFiniteValueError(
                f"the {quantity} from differentiator {method.name!r} at x = "
                f"{np.array2string(x, threshold=8)}: {error}") from error
        value, cost = measured.value, measured.cost
        spent = self.evaluations
        setattr(spent, quantity, getattr(spent, quantity) + 1)
        spent.f_in_derivatives += (cost.evaluations or 0) + (cost.complex_evaluations or 0)
        spent.setup_seconds += cost.setup_seconds       # a retrace, when f had changed
        spent.derivative_seconds += cost.evaluation_seconds
        if not np.all(np.isfinite(value)):
            raise NonFiniteValueError(
                f"the {quantity} from differentiator {method.name!r} has non-finite entries at "
                f"x = {np.array2string(x, threshold=8)}; f may overflow there — start closer "
                "to the minimizer, or rescale f")
        return value


class Run:
    """One run's bookkeeping: the stopping rule, the trace and the clock."""

    def __init__(self, method, objective, tolerances, callback, curvature_error,
                 escape_saddles):
        self.method, self.objective, self.tolerances = method, objective, tolerances
        self.callback, self.curvature_error = callback, curvature_error
        self.escape_saddles = escape_saddles
        self.trace, self.grad_norm0 = [], None
        self.clock = time.perf_counter()
        self.residuals = None          # gauss_newton's r(x): f is then Σ r², evaluated so
        self._noise = None             # (x, allowance) of the last measurement
        self._quiet = False            # was the last iterate's decrement within f's noise?

    def first_value(self, f, x):
        """f(x₀), which must be a finite scalar."""
        value = f(x)
        self.objective.evaluations.f += 1
        if np.ndim(value) != 0:
            raise ShapeError(f"{self.method}: f must return a scalar, got shape "
                             f"{np.shape(value)}; for a vector of residuals use gauss_newton")
        value = float(value)
        if not math.isfinite(value):
            raise NonFiniteValueError(f"{self.method}: f(x0) = {value}; start from a point "
                                      "where f is finite")
        return value

    def start_gradient(self, g):
        self.grad_norm0 = float(np.linalg.norm(g))

    def status(self, k, x, g, newton_step, f_before, fx, curvature):
        """(status or None, escape?, curvature if it was computed) at iterate k.

        ``newton_step`` is the full Newton step from x, or None (see ``Tolerances``).
        ``curvature()`` gives (λ₁, ‖H‖, q₁) and is called only when a tolerance is met: a
        clearly negative λ₁ there makes the point a saddle, to escape (``escape_saddles``,
        while iterations remain) or to report.
        """
        status = self.tolerances.met(g, fx, x, newton_step, f_before, fx)
        if status is None and self.settled(x, fx, g, newton_step):
            status = "round-off"
        if status is None:
            return ("iteration-limit" if k >= self.tolerances.maxiter else None), False, None
        lowest = curvature()
        if status in CONVERGED and clearly_negative(lowest[0], lowest[1], self.curvature_error) \
                and self.descends(x, fx, lowest[0], lowest[2]):
            if self.escape_saddles and k < self.tolerances.maxiter:
                return None, True, lowest
            return "saddle", False, lowest
        return status, False, lowest

    def settled(self, x, fx, g, newton_step):
        """Has the Newton decrement been within f's noise at this point and the one before?

        A step there changes f by noise: accepted within the noise allowance, such steps
        would wander at the bottom until maxiter. One is allowed (it may still bring ‖g‖
        under gtol); the second such point ends the run. The noise is measured only where
        the decrement is below √ε|f|.
        """
        quiet = newton_step is not None \
            and -0.5 * float(g @ newton_step) <= NEAR_NOISE * abs(fx) \
            and self.at_round_off(x, fx, g, newton_step=newton_step)
        settled, self._quiet = quiet and self._quiet, quiet
        return settled

    def failed_search(self, x, fx, g, hessian=None, newton_step=None):
        """Why no step decreased f: "round-off" with evidence (``at_round_off``) that no
        step can, "line-search-failure" (f and its gradient disagree) otherwise."""
        at_floor = self.at_round_off(x, fx, g, hessian, newton_step)
        return "round-off" if at_floor else "line-search-failure"

    def at_round_off(self, x, fx, g, hessian=None, newton_step=None):
        """Is ‖g‖ at its round-off level? Evidence that holds however x is scaled:

        every |g_i| ≤ 100ε·(|H||x|)_i, the change of ∇f when each x_j is rounded by ε|x_j|
        (per coordinate: ‖H‖ and ‖x‖ would mix variables of scales 10⁻² and 10³, as on
        Meyer's problem, and excuse a gradient of 258); or the Newton decrement ½gᵀH⁻¹g —
        the decrease the model promises, invariant under any linear change of variables —
        within f's noise measured at x (``noise``), so f cannot see it.
        """
        if hessian is not None and np.all(np.abs(g) <= 100 * EPS * (np.abs(hessian) @ np.abs(x))):
            return True
        if newton_step is None:
            return False
        return -0.5 * float(g @ newton_step) <= self.noise(x, fx, newton_step)

    def noise(self, x, fx, direction):
        """f's rounding at x, as an allowance for a change of f: max(16ε|f|, 4σ).

        σ is measured from f at 17 equally spaced points along ``direction`` through x,
        spanning at most ``NOISE_SPAN``·‖x‖∞ in every coordinate (``convergence.f_noise``,
        after Moré & Wild): 17 evaluations, made only when a decision depends on them, and
        once per point. 14 third differences, of which a jump of f can move 3, so the
        median is still the noise's.
        """
        if self._noise is not None and np.array_equal(self._noise[0], x):
            return self._noise[1]
        floor = F_NOISE * abs(fx)
        direction = np.asarray(direction, dtype=float)
        longest = float(np.max(np.abs(direction))) if direction.size else 0.0
        if not longest > 0:
            return floor
        scale = float(np.max(np.abs(x))) or 1.0
        span = min(1.0, NOISE_SPAN * scale / longest)
        values = [self.objective.trial_value(x + t * span * direction, self.residuals)
                  for t in np.linspace(-1.0, 1.0, 17)]
        allowance = floor
        if all(math.isfinite(v) for v in values):
            allowance = max(floor, NOISE_DEVIATIONS * f_noise(values))
        self._noise = (x.copy(), allowance)
        return allowance

    def descends(self, x, fx, eigenvalue, q):
        """Does f fall along ±q as the curvature λ < 0 says? The probe step t makes the
        predicted fall ½|λ|t² 10⁴ times f's rounding, ε·max(|f|, 1e-100); f must fall by
        half of it on one side. At a degenerate minimum, whose λ < 0 is an artefact of being
        near (not at) x*, f rises or stays on both sides."""
        if q is None:
            return True
        fall = 1e4 * EPS * max(abs(fx), 1e-100)
        t = math.sqrt(2 * fall / abs(eigenvalue))
        for side in (t, -t):
            value = self.objective.trial_value(x + side * np.asarray(q))
            if value is not None and value < fx - fall / 2:
                return True
        return False

    def record(self, k, x, fx, g, **fields):
        iterate = Iterate(k, float(fx), float(np.linalg.norm(g)), x.copy(),
                          time.perf_counter() - self.clock, replace(self.objective.evaluations),
                          **fields)
        self.trace.append(iterate)
        if self.callback is not None:
            self.callback(iterate)
        return iterate

    def finish(self, k, x, fx, g, status, min_eigenvalue=None, hessian_norm=None):
        self.record(k, x, fx, g, min_eigenvalue=min_eigenvalue, hessian_norm=hessian_norm)
        return OptimizationResult(x.copy(), float(fx), np.asarray(g).copy(), status, k,
                                  min_eigenvalue, replace(self.objective.evaluations),
                                  self.trace, self.method, self.objective.first.name,
                                  self.objective.second.name)


# Checks of the inputs.

def starting_point(x0, method):
    """x₀ as a fresh float64 vector, or a clear error."""
    if np.iscomplexobj(x0):
        raise OptimizationError(f"{method}: x0 is complex; the optimizers work on real "
                                "vectors — pass the real parameters")
    try:
        x = np.array(x0, dtype=float)
    except (TypeError, ValueError) as error:
        raise OptimizationError(f"{method}: x0 must be a vector of real numbers, got "
                                f"{type(x0).__name__} ({error})") from None
    if x.ndim != 1 or x.size == 0:
        raise ShapeError(f"{method}: x0 must be a flat vector θ of shape (n,) with n ≥ 1, got "
                         f"shape {x.shape}; flatten parameters with difflab.ravel")
    bad = np.flatnonzero(~np.isfinite(x))
    if bad.size:
        raise NonFiniteValueError(f"{method}: x0 has non-finite entries at indices "
                                  f"{bad.tolist()[:10]}; start from finite values")
    return x


def first_residuals(residuals, x, method):
    """r(x₀), which must be a finite 1-D vector."""
    r = residuals(x)
    if np.ndim(r) != 1:
        raise ShapeError(f"{method}: residuals must return a 1-D vector r with f = Σ r², got "
                         f"shape {np.shape(r)}; flatten it with dnp.reshape(r, (-1,))")
    r = np.asarray(r, dtype=float)
    if not np.all(np.isfinite(r)):
        raise NonFiniteValueError(f"{method}: residuals(x0) has non-finite entries; start "
                                  "from a point where every residual is finite")
    return r


def _check_radius(radius, max_radius):
    for name, value in (("radius", radius), ("max_radius", max_radius)):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) \
                or not math.isfinite(value) or value <= 0:
            raise OptimizationError(f"newton: {name} must be a finite number > 0, got {value!r}")
    if radius > max_radius:
        raise OptimizationError(f"newton: radius {radius} is larger than max_radius "
                                f"{max_radius}; raise max_radius or start smaller")


def _relative_error(method, quantity):
    """The differentiator's expected relative error for ``quantity`` (interface.tolerance),
    below which a negative eigenvalue is indistinguishable from zero; √ε if it has none."""
    try:
        return method.tolerance(quantity)
    except DiffLabError:
        return math.sqrt(EPS)
