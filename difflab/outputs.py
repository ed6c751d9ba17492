"""What a function must return to be differentiated: the one check every method shares.

A derivative of nothing (a missing ``return``), of a tuple or of a string has no meaning, and
left alone some methods would report it as zeros (no dependence on θ recorded). The
interface, the AD tracer and the symbolic tracer all refuse it here, with one message.
"""

import numpy as np

from .errors import OutputError


def refuse_non_array(out, where, advice=""):
    """``out``, or an OutputError when it is None, a container or text rather than a value.

    ``advice`` is appended where a container is refused (e.g. AD's has_aux)."""
    if out is None:
        raise OutputError(f"{where}: f returned None — a missing return? Return the value to "
                          "differentiate")
    if isinstance(out, (tuple, list, dict)):
        raise OutputError(f"{where}: f returned a {type(out).__name__} of {len(out)} items; "
                          f"return one array{advice}")
    if isinstance(out, (str, bytes)):
        raise OutputError(f"{where}: f returned a {type(out).__name__}, not a number or array")
    return out


def checked_output(out, where, scalar):
    """``out`` after ``refuse_non_array``, and of size one where ``scalar`` (a gradient,
    Hessian or HVP differentiates a scalar; a Jacobian any array)."""
    refuse_non_array(out, where)
    shape = getattr(out, "shape", ())     # numbers of every system (float, mpf, SymPy) are 0-d
    if scalar and int(np.prod(shape)) != 1:
        raise OutputError(f"{where}: f must return a scalar, it returned shape "
                          f"{tuple(shape)}; use jacobian for a vector-valued F")
    return out
