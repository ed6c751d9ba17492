"""Error metrics: how far a derivative is from the truth (DESIGN.md §4).

``relative_error(a, b)`` = ‖a − b‖₂/‖b‖₂ (b the truth), in mpmath when either side holds
mpmath numbers; ``elementwise_error`` per entry with an absolute floor for zero entries;
``correct_digits`` = −log10 of the relative error, capped at the reference's digits.
"""

import mpmath
import numpy as np
from mpmath.ctx_mp_python import _mpc, _mpf

from .errors import ShapeError

DEFAULT_DPS = 50        # the reference's working digits (difflab.reference.DEFAULT_DPS)


def _as_mp(values, dps):
    with mpmath.workdps(dps):
        return [mpmath.mpf(v) if not isinstance(v, (_mpf, _mpc)) else v
                for v in np.asarray(values, dtype=object).reshape(-1)]


def _check_same_shape(a, b, name):
    if np.shape(a) != np.shape(b):
        raise ShapeError(f"{name}: the result has shape {np.shape(a)} but the reference has "
                         f"shape {np.shape(b)}")


def relative_error(a, b, dps=DEFAULT_DPS):
    """‖a − b‖₂ / ‖b‖₂ with ``b`` the reference (‖a − b‖₂ when b = 0), as a float.

    Computed in mpmath when either side holds mpmath numbers, so errors far below float
    resolution (between two high-precision results) are measured, not rounded away.
    """
    _check_same_shape(a, b, "relative_error")
    if _is_objects(a) or _is_objects(b):
        with mpmath.workdps(dps):
            xs, ys = _as_mp(a, dps), _as_mp(b, dps)
            diff = mpmath.sqrt(mpmath.fsum((x - y) ** 2 for x, y in zip(xs, ys)))
            scale = mpmath.sqrt(mpmath.fsum(y ** 2 for y in ys))
            return float(diff / scale) if scale != 0 else float(diff)
    a64, b64 = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    diff, scale = np.linalg.norm((a64 - b64).ravel()), np.linalg.norm(b64.ravel())
    return float(diff / scale) if scale != 0 else float(diff)


def elementwise_error(a, b, floor=1e-8):
    """|aᵢ − bᵢ| / max(|bᵢ|, floor·‖b‖∞), element by element, as float64.

    The floor keeps entries that are zero (or tiny beside the largest) from dividing by
    zero: they are judged by their absolute error at ``floor`` times the largest entry.
    """
    _check_same_shape(a, b, "elementwise_error")
    b_obj = np.asarray(b, dtype=object)
    if _is_objects(a) or _is_objects(b):
        diff = np.array([float(abs(mpmath.mpf(x) - mpmath.mpf(y))) for x, y in
                         zip(np.asarray(a, dtype=object).flat, b_obj.flat)]).reshape(np.shape(b))
    else:
        diff = np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64))
    b64 = np.abs(b_obj.astype(np.float64))
    scale = np.maximum(b64, floor * (b64.max() if b64.size else 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(scale > 0, diff / np.where(scale > 0, scale, 1), diff)


def correct_digits(a, b, dps=DEFAULT_DPS):
    """−log10 of the relative error, capped at the reference's ``dps`` digits."""
    error = relative_error(a, b, dps=dps)
    return float(dps) if error == 0 else float(min(dps, max(0.0, -np.log10(error))))


def _is_objects(values):
    return isinstance(values, np.ndarray) and values.dtype == object or \
        isinstance(values, (_mpf, _mpc))
