"""The errors difflab raises: every one derives from ``DiffLabError``.

Messages say what was wrong (operation, shapes, types) and what to do next.
"""


class DiffLabError(Exception):
    """Base class of every error difflab raises on purpose."""


class UnsupportedOperationError(DiffLabError, TypeError):
    """An operation was asked of a type or number system that does not provide it."""


class NumberSystemMixError(DiffLabError, TypeError):
    """Arguments of one operation come from incompatible number systems."""


class FloatLeakError(DiffLabError):
    """A function meant to run on high-precision numbers fell back to floats."""


class ShapeError(DiffLabError, ValueError):
    """Arguments have shapes that the operation cannot combine."""


class UnknownModelError(DiffLabError, KeyError):
    """A model name that is not in the zoo."""

    def __str__(self):
        return str(self.args[0]) if self.args else ""


class NonFiniteValueError(DiffLabError, FloatingPointError):
    """A function returned NaN or infinity where a derivative needed its value."""


class DiffLabWarning(UserWarning):
    """Base class of the warnings difflab issues."""


class ComplexStepWarning(DiffLabWarning):
    """The complex step disagrees with real differences: the function is likely not analytic."""


class SwellLimitError(DiffLabError):
    """A symbolic stage (trace, differentiate, share, compile) went past its size or time budget.

    ``stage`` names the stage, ``reached`` what was measured (a size or seconds), ``limit`` the
    budget it went past; the message says how to raise the limit or switch mode.
    """

    def __init__(self, stage, what, reached, limit, advice=""):
        self.stage, self.what, self.reached, self.limit = stage, what, reached, limit
        super().__init__(f"symbolic {stage}: {what} reached {reached:,.6g}, past the budget of "
                         f"{limit:,.6g}. {advice}".strip())


class OutputError(DiffLabError, TypeError):
    """A function's output is not what the derivative needs: nothing (a missing ``return``),
    a tuple, a value that does not depend on θ through ``dnp``, or the wrong shape."""


class BranchError(DiffLabError, TypeError):
    """Python control flow (``if``, ``bool()``, ``float()``, comparisons) on a traced value:
    the tracer cannot follow it, so it refuses rather than silently pick a branch."""


class NonAnalyticError(DiffLabError):
    """The complex step met a function that is not analytic (``np.abs``, a leak to real
    floats, a branch cut): its result would be wrong, so it is refused."""


class KinkError(DiffLabError):
    """A derivative asked where f is not differentiable and no stated convention applies
    (one-sided derivatives disagree)."""


class UnreliableEstimateWarning(DiffLabWarning):
    """A finite-difference error estimate could not be confirmed as an upper bound."""
