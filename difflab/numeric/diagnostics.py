"""The V curve: error of a finite difference against its step.

For a stencil of the m-th derivative with accuracy order p the error behaves as
C·hᵖ (truncation, right arm, slope p on log–log axes) plus ε·|f|/hᵐ (round-off, left arm,
slope −m); the bottom of the V is the best step, which the step rule in ``steps`` predicts
as c·ε^(1/(p+m))·max(|x|, 1).
"""

from dataclasses import dataclass

import numpy as np

from .. import reference
from ..errors import DiffLabError
from . import steps as step_rules
from .differences import Samples, as_theta
from .stencils import stencil


@dataclass
class VCurve:
    """Errors |D(h) − f′| over the steps, the fitted arms, and the best steps.

    ``best_step`` is where the two fitted arms meet (robust to the round-off noise that
    scatters the bottom of the V); ``smallest_error_step`` is the raw argmin. ``status`` is
    "ok", or why an arm could not be fitted; the fitted fields are then None and the measured
    errors are still there.
    """

    steps: np.ndarray
    errors: np.ndarray
    exact: float
    best_step: float | None
    smallest_error_step: float
    theoretical_step: float
    truncation_slope: float | None
    roundoff_slope: float | None
    status: str = "ok"


def v_curve(f, theta, index=0, scheme="central", order=2, steps=None, exact=None):
    """Error of ∂f/∂θ_index by the (scheme, order) stencil at each step.

    ``exact`` is the true derivative; by default ``difflab.reference.gradient``. Steps lost
    to rounding next to θ_index are dropped (the returned ``steps`` are those used).
    """
    theta = as_theta(theta, "v_curve")
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)) \
            or not 0 <= index < theta.size:
        raise DiffLabError(f"v_curve: index must be an integer in [0, {theta.size}) (the "
                           f"coordinate of θ to differentiate along), got {index!r}")
    steps = np.logspace(-16, 0, 49) if steps is None else np.asarray(steps, dtype=float)
    if exact is None:
        exact = _reference_partial(f, theta, index)
    st = stencil(1, order, scheme)
    x = theta[index]
    taken = (x + steps) - x
    taken = taken[taken > 0]
    values = np.array([_difference(f, theta, index, st, h) for h in taken])
    errors = np.abs(values - exact)
    split = _bottom(errors)
    right = _arm(taken[split:], errors[split:], exact)
    left = _arm(taken[:split + 1], errors[:split + 1], exact)
    theory = float(step_rules.step(theta, 1, order, scheme)[index])
    missing = [name for name, arm in (("truncation", right), ("round-off", left)) if arm is None]
    status = "ok" if not missing else (
        f"too few steps with a correct digit on the {' and '.join(missing)} arm of the V to fit "
        "it (a stencil exact for f, or steps too coarse); widen or refine the steps")
    return VCurve(taken, errors, exact, None if missing else _meeting(left, right),
                  float(taken[np.argmin(errors)]), theory, right and right[0],
                  left and left[0], status)


def _reference_partial(f, theta, index):
    """∂f/∂θ_index from difflab.reference, differentiating along that coordinate alone
    (two mpmath evaluations, not the 2n of a whole reference gradient)."""
    def along(s):
        # the fixed coordinates as numbers of s's own mpmath context: mixed with floats or
        # with another context, sums would round at the other operand's precision
        point = np.array([s[0].context.mpf(v) for v in theta], dtype=object)
        point[index] = s[0]
        return f(point)
    return float(reference.gradient(along, theta[index:index + 1])[0])


def _difference(f, theta, index, st, h):
    """Σₖ wₖ f(θ + oₖ·h·e_index)/h, each point evaluated fresh."""
    samples = Samples(f, theta, "v_curve", scalar=True)
    return sum(w * samples.at(index, o, h)[0] for o, w in st.nonzero()) / h


def _bottom(errors, width=5):
    """Index of the least error after a running mean of log error over ``width`` steps."""
    logs = np.log10(np.maximum(errors, np.finfo(float).tiny))
    smooth = np.convolve(np.pad(logs, width // 2, mode="edge"), np.ones(width) / width, "valid")
    return int(np.argmin(smooth))


def _arm(h, errors, exact):
    """(slope, intercept) of log error against log h, over points with some correct digits,
    or None with fewer than two."""
    keep = (errors > 0) & (errors < 0.1 * max(abs(exact), np.finfo(float).tiny))
    if keep.sum() < 2:
        return None
    slope, intercept = np.polyfit(np.log10(h[keep]), np.log10(errors[keep]), 1)
    return float(slope), float(intercept)


def _meeting(left, right):
    """The step where the round-off arm meets the truncation arm: log h* = Δintercept/Δslope."""
    return float(10 ** ((left[1] - right[1]) / (right[0] - left[0])))
