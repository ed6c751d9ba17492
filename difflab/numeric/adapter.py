"""Finite differences and the complex step behind the interface (``difflab.interface``).

Each method is a gradient scheme and order plus the way its Hessian is formed
(``numeric.hessian``'s ``method``): "values" (second differences of f, order 2, or 4 by
Richardson extrapolation), or "complex-step" (central differences of complex-step
gradients). An HVP is the central difference of the method's own gradient along v.
"ad-differences" differences AD's gradients: the second-order truth gradcheck uses.

Finite differences have no one-time work (their steps depend on θ, so they are chosen at
each evaluation). Every evaluation computes the error estimate (only then do the steps adapt
and kinks show); with ``prepare(..., estimate=True)`` the Measurement carries the estimate
and flags, otherwise a kink at θ is a KinkError.
"""

from dataclasses import dataclass

import numpy as np

from .. import interface
from ..errors import DiffLabError, KinkError
from . import differences, second
from . import steps as step_rules
from .diagnostics import VCurve, _reference_partial, v_curve


@dataclass(frozen=True)
class Scheme:
    """A finite-difference method: its gradient scheme and order, and its Hessian's."""

    scheme: str
    order: int
    hessian_method: str
    hessian_order: int
    color: str
    label: str
    linestyle: str


# Distinct hues and line styles: the V-curves of the stencils are drawn on one axes.
NUMERIC_METHODS = {
    "fd-forward": Scheme("forward", 1, "values", 2, "#8c564b", "forward differences", "--"),
    "fd-central": Scheme("central", 2, "values", 2, "#d62728", "central differences", "-"),
    "fd-central4": Scheme("central", 4, "values", 4, "#e377c2", "central, 4th order", "-."),
    "fd-richardson": Scheme("richardson", 2, "values", 4, "#9467bd", "Richardson", ":"),
    "complex-step": Scheme("complex-step", 2, "complex-step", 2, "#ff7f0e", "complex step",
                           "-"),
}
# The complex step has no round-off arm, so its curve reaches far below the stencils' steps.
COMPLEX_STEPS = np.logspace(-22, 0, 45)
HESSIAN_METHODS = {
    ("values", 2): "plain second differences of f, O(h²)",
    ("values", 4): "second differences of f Richardson-extrapolated on a halving ladder",
    ("complex-step", 2): "central differences of complex-step gradients",
}


class Numeric(interface.Differentiator):
    """Finite differences; a Hessian from second differences of values (complex step: from
    central differences of complex-step gradients); an HVP as the central difference of the
    method's own gradient along v."""

    def __init__(self, name, scheme):
        self.scheme = scheme
        super().__init__(
            name, f"finite differences: {scheme.scheme} order {scheme.order}; Hessian: "
            f"{HESSIAN_METHODS[scheme.hessian_method, scheme.hessian_order]}", "numeric")

    def _prepare(self, quantity, f, theta, estimate):
        def evaluate(theta, v):
            measured = self._estimated(quantity, f, theta, v)
            if not estimate and measured.kinks is not None and np.any(measured.kinks):
                raise kink_error(self.name, quantity, measured.kinks)
            return measured
        return evaluate, None

    def _estimated(self, quantity, f, theta, v):
        s = self.scheme
        if quantity in ("gradient", "jacobian"):
            differentiate = differences.gradient if quantity == "gradient" else \
                differences.jacobian
            return _measurement(differentiate(f, theta, s.scheme, s.order, estimate=True))
        if quantity == "hessian":
            return _measurement(second.hessian(f, theta, s.hessian_method,
                                               order=s.hessian_order))
        return _measurement(second.hvp(f, theta, v, estimate=True, scheme=s.scheme,
                                       order=s.order))

    def v_curve(self, f, theta, index=0, *, steps=None, exact=None):
        """The V curve of this method's gradient along θ_index: |D(h) − ∂f/∂θ_index| at each
        step h, its fitted arms and best steps (``numeric.v_curve``, with the method's own
        scheme and order); ``exact`` defaults to the reference's partial derivative.

        The complex step Im f(θ + ih·eᵢ)/h subtracts nothing, so its error has a truncation
        arm O(h²) and, below it, a floor of rounding instead of a round-off arm: its curve has
        no ``best_step`` nor ``roundoff_slope``; it runs over COMPLEX_STEPS by default."""
        s = self.scheme
        if s.scheme == "complex-step":
            return _complex_v_curve(f, theta, index, steps, exact)
        if s.scheme == "richardson":
            raise DiffLabError(f"{self.name} v_curve: Richardson extrapolation combines a "
                               "ladder of steps, so it has no single step to vary; take the V "
                               "curve of fd-central or fd-central4")
        return v_curve(f, theta, index, s.scheme, s.order, steps=steps, exact=exact)


class GradientDifferences(interface.Differentiator):
    """Second derivatives as central differences of another method's gradients (exact to
    rounding, so the complex step's error theory: O(h²) + ε/h at h ≈ ε^(1/3))."""

    def __init__(self, name, inner):
        super().__init__(name, f"central differences of {inner} gradients", "numeric",
                         quantities=("hessian", "hvp"))
        self.inner = inner

    def _prepare(self, quantity, f, theta, estimate):
        inner = interface.differentiator(self.inner)

        def gradient(t):
            return inner.gradient(f, t)

        def evaluate(theta, v):
            # numeric counts its own calls of f: none here (the gradients are the inner
            # method's), so evaluations are 0
            if quantity == "hessian":
                return _measurement(second.hessian(f, theta, "gradient", gradient_fn=gradient))
            return _measurement(second.hvp(f, theta, v, gradient_fn=gradient, estimate=True))
        return evaluate, None


def _complex_v_curve(f, theta, index, steps, exact):
    """``Numeric.v_curve`` for the complex step: the error of Im f(θ + ih·eᵢ)/h at each h, and
    the slope of its truncation arm (relative errors between 100ε and 0.1)."""
    theta = differences.as_theta(theta, "complex-step v_curve")
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)) \
            or not 0 <= index < theta.size:
        raise DiffLabError(f"complex-step v_curve: index must be an integer in [0, "
                           f"{theta.size}) (the coordinate of θ to differentiate along), got "
                           f"{index!r}")
    steps = COMPLEX_STEPS if steps is None else np.asarray(steps, dtype=float)
    if exact is None:
        exact = _reference_partial(f, theta, index)

    def along(s):
        point = theta.astype(s.dtype)
        point[index] = s[0]
        return f(point)
    errors = np.array([abs(differences.gradient(along, theta[index:index + 1], "complex-step",
                                                step=h, estimate=False, check=False).value[0]
                           - exact) for h in steps])
    relative = errors / max(abs(exact), np.finfo(float).tiny)
    eps = np.finfo(theta.dtype).eps
    arm = (relative > 100 * eps) & (relative < 0.1)
    slope = float(np.polyfit(np.log10(steps[arm]), np.log10(relative[arm]), 1)[0]) \
        if arm.sum() >= 2 else None
    return VCurve(steps, errors, exact, None, float(steps[np.argmin(errors)]),
                  float(step_rules.complex_step(theta)[index]), slope, None,
                  "no round-off arm: the complex step subtracts nothing, so below its "
                  "truncation arm the error stays at rounding; no best step to fit")


def _measurement(result):
    status = getattr(result, "entry_status", None)
    # "ok", or why the estimate or the derivative is not to be trusted (kinks, entries
    # whose differences never converged: their ``error`` is no upper bound)
    return interface.Measurement(
        result.value,
        interface.Cost(evaluations=result.evaluations,
                       complex_evaluations=result.complex_evaluations),
        result.error,
        kinks=None if status is None else np.isin(status, ("kink", "kink at θ")),
        kink_jump=getattr(result, "kink_jump", None), status=result.status)


def kink_error(name, quantity, kinks):
    entries = [tuple(int(i) for i in index) for index in np.argwhere(kinks)]
    shown = ", ".join(str(e[0] if len(e) == 1 else e) for e in entries[:10])
    return KinkError(
        f"{name} {quantity}: f is not differentiable at θ along {len(entries)} "
        f"entr{'y' if len(entries) == 1 else 'ies'} ({shown}{', …' if len(entries) > 10 else ''}): "
        "the one-sided differences disagree at every step, so a finite difference would "
        "only average them. Use a method that keeps difflab's kink conventions (ad, "
        "symbolic), move θ off the kink, or call measure(..., estimate=True) for the values "
        "with their kink flags")


for _name, _scheme in NUMERIC_METHODS.items():
    interface.register(Numeric(_name, _scheme), color=_scheme.color, label=_scheme.label,
                       linestyle=_scheme.linestyle)
interface.register(GradientDifferences("ad-differences", "ad"), color="#17becf",
                   label="differences of AD gradients")
