"""The step-size rules, stated once: every finite-difference step in difflab comes from here.

For a stencil of the m-th derivative with accuracy order p, the truncation error is
O(hᵖ·|f⁽ᵖ⁺ᵐ⁾|) and the round-off error is O(ε·|f|/hᵐ); they balance at

    h = c · ε^(1/(p+m)) · max(|xᵢ|, 1)

(forward differences: h ≈ √ε; central: h ≈ ε^(1/3); second differences: h ≈ ε^(1/4)),
with ε the machine epsilon of the dtype of θ (float32 or float64). The step is then made
exactly representable, h ← (x + h) − x, so the points x ± h are what the stencil assumes.
The constant c comes from the stencil itself: with truncation C·hᵖ·|f⁽ᵖ⁺ᵐ⁾|, where
C = |Σₖ wₖ oₖ^(p+m)|/(p+m)!, and round-off ε·Σₖ|wₖ|·|f|/hᵐ, the sum is least at
h = (m·Σ|wₖ|·ε / (p·C))^(1/(p+m)) on the unit scale (|f⁽ᵖ⁺ᵐ⁾| ≈ |f|), so
c = (m·Σ|wₖ| / (p·C))^(1/(p+m)): √(4ε) = 2√ε forward, (3ε)^(1/3) central,
(48ε)^(1/4) for the second difference.
The rule assumes derivatives of every order are of f's size on the unit scale; where a
function varies faster (sin(10⁴x), a potential at |x| ≈ 10⁻⁶), the schemes halve h per
coordinate (``halved``, at most MAX_HALVINGS times) until their differences converge as the
stencil's order says.
The complex step has no round-off penalty and takes h = 10⁻²⁰·max(|xᵢ|, 1) (scaled up for
float32 so that h² stays representable next to x).
"""

import numpy as np

from fractions import Fraction
from math import factorial

from ..errors import DiffLabError
from .stencils import stencil

COMPLEX_STEP = {np.dtype(np.float64): 1e-20, np.dtype(np.float32): 1e-10}


def epsilon(theta):
    """Machine epsilon of θ's dtype (float64 unless θ is float32)."""
    return float(np.finfo(real_dtype(theta)).eps)


def real_dtype(theta):
    return np.float32 if np.asarray(theta).dtype == np.float32 else np.float64


def optimal_constant(derivative, order, scheme="central"):
    """c for a stencil, with C = |Σₖ wₖ oₖ^(p+m)|/(p+m)! its truncation constant."""
    s = stencil(derivative, order, scheme)
    degree = order + derivative
    C = abs(sum(w * Fraction(o) ** degree for o, w in zip(s.offsets, s.exact))) / factorial(degree)
    return balance(derivative, order, sum(abs(w) for w in s.exact), C)


def balance(derivative, order, weight_sum, truncation_constant):
    """c = (m·Σ|wₖ| / (p·C))^(1/(p+m)): where C·hᵖ and ε·Σ|wₖ|/hᵐ have their least sum."""
    return float(derivative * weight_sum / (order * truncation_constant)) ** (
        1.0 / (order + derivative))


# The four-point mixed difference [f(++) − f(+−) − f(−+) + f(−−)]/4h² has Σ|wₖ| = 1 and
# truncation (h²/6)(∂ᵢ³∂ⱼf + ∂ᵢ∂ⱼ³f) ≈ (h²/3)|f⁽⁴⁾|, so c = 3^(1/4).
MIXED_CONSTANT = balance(2, 2, 1, Fraction(1, 3))


def mixed_step(theta, override=None):
    """Steps for the four-point mixed second difference: h = 3^(1/4)·ε^(1/4)·max(|xᵢ|, 1)."""
    return step(theta, 2, 2, override=override, c=MIXED_CONSTANT)


def step(theta, derivative=1, order=2, scheme="central", override=None, c=None):
    """Per-coordinate steps h = c·ε^(1/(p+m))·max(|xᵢ|, 1), made representable.

    ``c`` defaults to ``optimal_constant(derivative, order, scheme)``.

    ``override`` (a scalar or one step per coordinate) replaces the rule; it is still made
    representable.
    """
    theta = np.asarray(theta)
    if override is None:
        c = optimal_constant(derivative, order, scheme) if c is None else c
        h = c * epsilon(theta) ** (1.0 / (order + derivative)) * np.maximum(np.abs(theta), 1)
    else:
        h = _checked_override(override, theta)
    return representable(theta, h)


def complex_step(theta, override=None):
    """h = 10⁻²⁰·max(|xᵢ|, 1) for the complex step Im f(x + ih)/h (no subtraction to round)."""
    theta = np.asarray(theta)
    if override is not None:
        return _checked_override(override, theta)
    return COMPLEX_STEP[np.dtype(real_dtype(theta))] * np.maximum(np.abs(theta), 1).astype(
        real_dtype(theta))


# Halvings of a step that the adaptive schemes may take per coordinate (2⁻⁴⁰ ≈ 1e-12): a
# function whose differences have not converged like O(hᵖ) by then is reported, not trusted.
MAX_HALVINGS = 40
# A step beyond this fraction of max(|xᵢ|, 1) is not small for any function on the unit scale,
# so an error estimate made there is not trusted without evidence from smaller steps.
MAX_RELATIVE_STEP = 0.1


def halved(x, h):
    """The representable half of a step h next to the number x, or None once rounding next
    to x moves it by more than 10⁻⁶ of itself (below about 10⁶ ulps of x) in float64, or
    2¹³ε of itself in float32, whose steps sit only ~10³ ulps above x (the descent's ratio
    tests allow √2, far more than either)."""
    half = (x + h / 2) - x
    eps = float(np.finfo(real_dtype(x)).eps)
    return half if abs(half - h / 2) <= max(1e-6, 2 ** 13 * eps) * h / 2 else None


def too_large(theta, h):
    """Steps beyond what the rule's unit scale vouches for: more than
    MAX_RELATIVE_STEP·max(|xᵢ|, 1), or more than |xᵢ| itself where 0 < |xᵢ| < 1 (a parameter
    that small may be the scale on which f varies: a potential at |x| ≈ 10⁻⁶)."""
    h, x = np.asarray(h), np.abs(theta)
    return (h > MAX_RELATIVE_STEP * np.maximum(x, 1)) | ((x > 0) & (h > x))


def representable(theta, h):
    """(x + h) − x: the step actually taken in floating point."""
    theta = np.asarray(theta)
    h = np.asarray(h, dtype=theta.dtype)
    exact = (theta + h) - theta
    if np.any(exact == 0):
        raise DiffLabError(f"a step of {float(np.min(np.abs(h))):.3g} is lost in rounding next "
                           "to θ (x + h == x); use a larger step")
    return exact


def _checked_override(override, theta):
    h = np.broadcast_to(np.asarray(override, dtype=theta.dtype), theta.shape).copy() \
        if np.ndim(override) == 0 else np.asarray(override, dtype=theta.dtype)
    if h.shape != theta.shape:
        raise DiffLabError(f"step must be a scalar or one step per coordinate (shape "
                           f"{theta.shape}); got shape {h.shape}")
    if not np.all(np.isfinite(h)) or np.any(h <= 0):
        raise DiffLabError(f"steps must be finite and positive; got {h[:10].tolist()}")
    return h
