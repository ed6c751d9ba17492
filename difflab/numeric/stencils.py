"""Finite-difference stencils: offsets and weights for any derivative order and accuracy.

A stencil for the m-th derivative with accuracy order p is a set of integer offsets oₖ and
weights wₖ such that f⁽ᵐ⁾(x) = Σₖ wₖ f(x + oₖh) / hᵐ + O(hᵖ). The weights come from
Fornberg's recursion (B. Fornberg, "Generation of finite difference formulas on arbitrarily
spaced grids", Math. Comp. 51, 1988), run here in exact rational arithmetic
(``fractions.Fraction``) and rounded to floats only at the end, so every weight is the
nearest float to its exact value.
"""

from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

import numpy as np

from ..errors import DiffLabError

SCHEMES = ("forward", "backward", "central")


@dataclass(frozen=True)
class Stencil:
    """Offsets (in units of h) and weights of f⁽ᵐ⁾(x) ≈ Σ wₖ f(x + oₖh)/hᵐ, error O(hᵖ)."""

    derivative: int
    order: int
    scheme: str
    offsets: tuple
    exact: tuple            # the weights as Fractions

    @property
    def weights(self):
        return np.array([float(w) for w in self.exact])

    def nonzero(self):
        """(offset, float weight) pairs with a nonzero weight: the points that must be evaluated."""
        return [(o, float(w)) for o, w in zip(self.offsets, self.exact) if w != 0]


def fornberg(derivative, offsets):
    """Exact weights of the ``derivative``-th derivative at 0 on the grid ``offsets``.

    Fornberg's recursion δᵏₙ,ᵥ over the points α₀…α_N, in Fractions.
    """
    alpha = [Fraction(a) for a in offsets]
    N, M = len(alpha) - 1, derivative
    delta = [[[Fraction(0)] * (N + 1) for _ in range(N + 1)] for _ in range(M + 1)]
    delta[0][0][0] = Fraction(1)
    c1 = Fraction(1)
    for n in range(1, N + 1):
        c2 = Fraction(1)
        for nu in range(n):
            c3 = alpha[n] - alpha[nu]
            c2 *= c3
            for k in range(min(n, M) + 1):
                lower = delta[k - 1][n - 1][nu] if k else 0
                delta[k][n][nu] = (alpha[n] * delta[k][n - 1][nu] - k * lower) / c3
        for k in range(min(n, M) + 1):
            lower = delta[k - 1][n - 1][n - 1] if k else 0
            delta[k][n][n] = c1 / c2 * (k * lower - alpha[n - 1] * delta[k][n - 1][n - 1])
        c1 = c2
    return tuple(delta[M][N])


def offsets(derivative, order, scheme):
    """The grid: forward 0…m+p−1, backward its mirror, central −r…r with r = ⌊(m−1)/2⌋ + p/2."""
    if scheme == "forward":
        return tuple(range(derivative + order))
    if scheme == "backward":
        return tuple(-o for o in range(derivative + order))
    if order % 2:
        raise DiffLabError(f"central differences have even accuracy orders (2, 4, 6, …); "
                           f"got order={order}. Use order={order + 1} or a one-sided scheme")
    r = (derivative - 1) // 2 + order // 2
    return tuple(range(-r, r + 1))


@lru_cache(maxsize=None)
def stencil(derivative=1, order=2, scheme="central"):
    """The stencil of f⁽ᵐ⁾ with accuracy O(hᵖ), cached by (m, p, scheme)."""
    _check(derivative, order, scheme)
    grid = offsets(derivative, order, scheme)
    return Stencil(derivative, order, scheme, grid, fornberg(derivative, grid))


def _check(derivative, order, scheme):
    if scheme not in SCHEMES:
        raise DiffLabError(f"unknown stencil scheme {scheme!r}; choose one of {', '.join(SCHEMES)}")
    for name, value in (("derivative", derivative), ("order", order)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise DiffLabError(f"stencil: {name} must be an integer ≥ 1, got {value!r}")
