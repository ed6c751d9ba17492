"""Trust-region subproblems and the radius update (Nocedal & Wright, ch. 4 and §7.1).

Each step approximately minimizes the quadratic model m(p) = gᵀp + ½pᵀBp over ‖p‖ ≤ Δ:
``exact_step`` nearly exactly, indefinite B and the hard case included (Moré–Sorensen);
``steihaug_step`` by truncated conjugate gradients, which needs only products Bv.
``updated_radius`` is N&W Alg. 4.1's rule from the ratio ρ of actual to predicted reduction.
"""

import math

import numpy as np

from .convergence import EPS


def updated_radius(rho, radius, step_norm, max_radius):
    """Δ_{k+1} from ρ = (f(x) − f(x + p)) / (m(0) − m(p)) (N&W Alg. 4.1).

    A poor model (ρ < ¼) shrinks Δ to ‖p‖/4; a good one (ρ > ¾) whose step reached the
    boundary doubles it, up to ``max_radius``.
    """
    if rho < 0.25:
        return 0.25 * step_norm
    if rho > 0.75 and step_norm >= (1 - 1e-8) * radius:
        return min(2 * radius, max_radius)
    return radius


def exact_step(eigenvalues, eigenvectors, g, radius, tol=1e-10, maxiter=100):
    """(p, λ): the minimizer of m(p) over ‖p‖ ≤ Δ, with B = Q diag(λ_i) Qᵀ (ascending λ_i).

    The solution is p(λ) = −(B + λI)⁻¹g with B + λI ⪰ 0, λ ≥ 0 and λ(Δ − ‖p‖) = 0 (N&W
    Thm. 4.1). Off the interior, λ solves the secular equation φ(λ) = 1/Δ − 1/‖p(λ)‖ = 0 by
    Newton's method (N&W Alg. 4.3, Moré & Sorensen 1983), evaluated in B's eigenbasis,
    ‖p(λ)‖² = Σ (q_iᵀg)²/(λ_i + λ)², instead of by Cholesky factors of B + λI: the same
    iteration, exact to ``tol``·Δ, and the eigenbasis also gives λ₁ and the hard case. In
    the hard case g has no component along λ₁'s eigenvectors and ‖p(−λ₁)‖ < Δ; then
    p = p(−λ₁) + τ q₁ with τ making ‖p‖ = Δ (N&W eq. 4.45). That case is what takes the step
    off a saddle point, where g = 0.
    """
    lam1 = eigenvalues[0]
    a = eigenvectors.T @ g
    if lam1 > 0:
        p = -eigenvectors @ (a / eigenvalues)
        if np.linalg.norm(p) <= radius:
            return p, 0.0
    lower = max(0.0, -lam1)
    scale = max(np.max(np.abs(eigenvalues)), np.finfo(float).tiny)
    bottom = eigenvalues - lam1 <= math.sqrt(EPS) * scale
    # N&W's nearly hard case: a component of g along q₁ below √ε‖g‖ only moves λ by rounding.
    if lam1 <= 0 and np.linalg.norm(a[bottom]) <= math.sqrt(EPS) * np.linalg.norm(g):
        rest = ~bottom
        p = -eigenvectors[:, rest] @ (a[rest] / (eigenvalues[rest] - lam1))
        gap = radius ** 2 - p @ p
        if gap >= 0:
            return p + math.sqrt(gap) * eigenvectors[:, 0], -lam1

    def norm_and_slope(lam):
        """‖p(λ)‖ and d‖p‖/dλ = −Σ a_i²/(λ_i + λ)³ / ‖p‖, over the components g has."""
        shifted = eigenvalues + lam
        has = a != 0
        w = a[has] / shifted[has]
        norm = math.sqrt(w @ w)
        return norm, -(w @ (w / shifted[has])) / norm

    # φ is convex and decreasing on (−λ₁, ∞), so Newton from any λ climbs monotonically to
    # the root after at most one overshoot; the bracket [left, right] catches that overshoot.
    left, right = lower, lower + np.linalg.norm(g) / radius
    lam = right
    for _ in range(maxiter):
        norm, slope = norm_and_slope(lam)
        if abs(norm - radius) <= tol * radius:
            break
        if norm > radius:
            left = lam
        else:
            right = lam
        phi, dphi = 1 / radius - 1 / norm, slope / norm ** 2
        lam = lam - phi / dphi
        if not left < lam < right:
            lam = 0.5 * (left + right)
        if right - left <= EPS * max(1.0, right):
            break
    p = -eigenvectors @ (a / (eigenvalues + lam))
    return p, lam


def steihaug_step(B, g, radius, tol, maxiter):
    """(p, iterations, exit): CG on Bp = −g, stopped at the boundary or at ‖r‖ < tol (N&W Alg. 7.2).

    ``B`` is a function v ↦ Bv. CG starts at p = 0 and walks to the boundary when it meets a
    direction of nonpositive curvature or an iterate outside the region; there the step is
    z + τd with ‖z + τd‖ = Δ, the root of lower model value. ``exit`` is "converged",
    "boundary", "negative-curvature" or "iterations".
    """
    z = np.zeros_like(g)
    r = g.copy()
    d = -r
    if np.linalg.norm(r) < tol:
        return z, 0, "converged"
    for j in range(maxiter):
        Bd = B(d)
        curvature = d @ Bd
        if curvature <= 0:
            return _to_boundary(z, d, g, r, Bd, radius), j + 1, "negative-curvature"
        alpha = (r @ r) / curvature
        z_next = z + alpha * d
        if np.linalg.norm(z_next) >= radius:
            return _to_boundary(z, d, g, r, Bd, radius), j + 1, "boundary"
        r_next = r + alpha * Bd
        if np.linalg.norm(r_next) < tol:
            return z_next, j + 1, "converged"
        d = -r_next + (r_next @ r_next) / (r @ r) * d
        z, r = z_next, r_next
    return z, maxiter, "iterations"


def _to_boundary(z, d, g, r, Bd, radius):
    """z + τd on ‖·‖ = Δ with the lower model value; CG's residual r = Bz + g gives Bz free."""
    dd, zd, zz = d @ d, z @ d, z @ z
    root = math.sqrt(max(zd ** 2 + dd * (radius ** 2 - zz), 0.0))
    Bz = r - g

    def model(tau):
        p, Bp = z + tau * d, Bz + tau * Bd
        return g @ p + 0.5 * (p @ Bp)
    tau = min(((-zd + root) / dd, (-zd - root) / dd), key=model)
    return z + tau * d
