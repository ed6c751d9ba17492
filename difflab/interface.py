"""One interface for every differentiator, one registry, one tolerance table.

Every method is a ``Differentiator`` (DESIGN.md §3): ``gradient(f, θ)`` → (n,),
``jacobian(F, θ)`` → (m, n), ``hessian(f, θ)`` → (n, n) symmetric, ``hvp(f, θ, v)`` → (n,).
``measure(quantity, f, θ, v)`` returns the value and a ``Cost`` record. Consumers (compare,
gradcheck, optim, report) look methods up by name with ``differentiator(name)`` and never
reach into a backend.

The tolerance table states each method's expected relative error as C·ε^p, with ε the
dtype's machine epsilon and p the order its error theory gives (AD and symbolic: rounding,
p = 1; central differences: truncation O(h²) against round-off ε/h, p = 2/3; …).
"""

import time
from dataclasses import dataclass, field

import numpy as np

from . import ad, numeric, reference, symbolic
from .errors import DiffLabError, KinkError, NonFiniteValueError, ShapeError
from .outputs import checked_output

QUANTITIES = ("gradient", "jacobian", "hessian", "hvp")


@dataclass
class Cost:
    """What one call cost: seconds split into setup and evaluation, and the method's size.

    ``evaluations``/``complex_evaluations``: calls of f (numeric); ``tape_nodes``: AD tape
    length of one evaluation; ``expression_size``: operations of the compiled symbolic
    derivative. With ``measure(..., estimate=True)`` a numeric method also fills ``error``
    (its error estimate per entry), ``kinks`` (entries whose stencil meets a kink) and
    ``kink_jump`` (central schemes: the jump in slope where θ itself holds a kink, else 0).
    """

    setup_seconds: float = 0.0
    evaluation_seconds: float = 0.0
    evaluations: int | None = None
    complex_evaluations: int | None = None
    tape_nodes: int | None = None
    expression_size: int | None = None
    error: np.ndarray | None = field(default=None, repr=False)
    kinks: np.ndarray | None = field(default=None, repr=False)
    kink_jump: np.ndarray | None = field(default=None, repr=False)


@dataclass
class Differentiator:
    """A named method. Subclasses implement ``_compute(quantity, f, θ, v, estimate)`` →
    (value, Cost)."""

    name: str
    description: str = ""
    kind: str = field(default="", repr=False)

    def gradient(self, f, theta):
        return self._evaluate("gradient", f, theta)[0]

    def jacobian(self, F, theta):
        return self._evaluate("jacobian", F, theta)[0]

    def hessian(self, f, theta):
        return self._evaluate("hessian", f, theta)[0]

    def hvp(self, f, theta, v):
        return self._evaluate("hvp", f, theta, v)[0]

    def measure(self, quantity, f, theta, v=None, *, estimate=False, sizes=True):
        """(value, Cost) of ``quantity`` ∈ gradient, jacobian, hessian, hvp at θ.

        The sizes that take extra work (AD's tape: one more trace) are found here, after the
        timed evaluation, unless ``sizes=False`` (callers that only count evaluations, in a
        loop); the plain ``gradient`` … calls skip them. ``estimate=True`` asks a numeric
        method for its per-entry error estimate and kinks (extra evaluations, and the
        complex step's one-time check against central differences).
        """
        value, cost = self._evaluate(quantity, f, theta, v, estimate)
        if sizes:
            self._sizes(cost, quantity, f, np.asarray(theta))
        return value, cost

    def _evaluate(self, quantity, f, theta, v=None, estimate=False):
        theta, v = _checked_arguments(self.name, quantity, f, theta, v)
        if theta.size == 0:
            return _empty(self.name, quantity, f, theta), Cost()
        start = time.perf_counter()
        value, cost = self._compute(quantity, self._guarded(f, quantity), theta, v, estimate)
        cost.evaluation_seconds = time.perf_counter() - start - cost.setup_seconds
        value = np.asarray(value, dtype=theta.dtype if theta.dtype == np.float32 else float)
        if not np.all(np.isfinite(value)):
            bad = np.argwhere(~np.isfinite(value))
            raise NonFiniteValueError(
                f"{self.name} {quantity}: {len(bad)} of {value.size} entries are not finite "
                f"(first at index {tuple(int(i) for i in bad[0])}: {value[tuple(bad[0])]}); f "
                "or its derivative is not finite at θ (a pole, a log or sqrt at 0, overflow?)")
        if quantity == "jacobian":
            value = value.reshape(-1, theta.size)    # ad.jacobian keeps F's shape, JAX-style
        return value, cost

    # Backends whose tracer already runs outputs.checked_output's checks on f's output (AD,
    # symbolic: whose cache is also keyed by f itself) get f as it is.
    traces_output = False

    def _guarded(self, f, quantity):
        """f with its every output checked (``outputs.checked_output``), unless the backend's
        tracer checks it already."""
        if self.traces_output:
            return f

        def guarded(t):
            return checked_output(f(t), f"{self.name} {quantity}", quantity != "jacobian")
        return guarded

    def tolerance(self, quantity, dtype=np.float64):
        return tolerance(self.name, quantity, dtype)

    def _sizes(self, cost, quantity, f, theta):
        """Fill the size fields that cost extra work, outside the timed evaluation."""


def _checked_arguments(name, quantity, f, theta, v):
    """θ (and v) as float vectors, or a named error for what the caller got wrong."""
    if quantity not in QUANTITIES:
        raise DiffLabError(f"{name}: unknown quantity {quantity!r}; choose one of "
                           f"{', '.join(QUANTITIES)}")
    if not callable(f):
        raise DiffLabError(f"{name} {quantity}: f must be a function of θ, got "
                           f"{type(f).__name__}")
    theta = _float_vector(name, quantity, "θ", theta)
    if quantity == "hvp":
        if v is None:
            raise DiffLabError(f"{name}: hvp needs a direction v")
        v = _float_vector(name, quantity, "v", v)
        if v.shape != theta.shape:
            raise ShapeError(f"{name} hvp: v has shape {v.shape}, θ has shape {theta.shape}; "
                             "they must match")
    return theta, v


def _float_vector(name, quantity, what, x):
    try:
        x = np.asarray(x)
    except Exception as error:
        raise DiffLabError(f"{name} {quantity}: {what} is not an array ({error})") from None
    if x.ndim != 1:
        raise ShapeError(f"{name} {quantity}: {what} must be a flat vector, got shape {x.shape}; "
                         "use np.atleast_1d for a scalar, difflab.ravel for a pytree")
    if x.dtype.kind in "biu":
        x = x.astype(float)     # an integer θ would round every finite-difference step away
    if x.dtype.kind != "f":
        raise DiffLabError(f"{name} {quantity}: {what} must hold real floats, got dtype "
                           f"{x.dtype}")
    if not np.all(np.isfinite(x)):
        bad = np.flatnonzero(~np.isfinite(x))
        raise NonFiniteValueError(f"{name} {quantity}: {what} holds {x[bad[0]]} at index "
                                  f"{bad[0]} ({bad.size} non-finite entries); a derivative "
                                  "needs a finite point")
    return x


def _empty(name, quantity, f, theta):
    """The exact derivative with respect to no parameters: an empty array of the right shape
    (the Jacobian needs F's size, from one evaluation)."""
    if quantity == "jacobian":
        m = np.size(checked_output(f(theta), f"{name} {quantity}", scalar=False))
        return np.zeros((m, 0), dtype=theta.dtype)
    checked_output(f(theta), f"{name} {quantity}", scalar=True)
    return np.zeros((0, 0) if quantity == "hessian" else (0,), dtype=theta.dtype)


class Automatic(Differentiator):
    traces_output = True

    def _compute(self, quantity, f, theta, v, estimate=False):
        if quantity == "gradient":
            value = ad.grad(f)(theta)
        elif quantity == "jacobian":
            value = ad.jacobian(f)(theta)
        elif quantity == "hessian":
            value = ad.hessian(f)(theta)
        else:
            value = ad.hvp(f, theta, np.asarray(v, dtype=theta.dtype))
        return value, Cost()

    def _sizes(self, cost, quantity, f, theta):
        cost.tape_nodes = ad.trace(f, theta).nodes


NUMERIC = {
    # name: (gradient scheme, order, Hessian route, Hessian order)
    "fd-forward": ("forward", 1, "values", 2),
    "fd-central": ("central", 2, "values", 2),
    "fd-central4": ("central", 4, "values", 4),
    "fd-richardson": ("richardson", 2, "values", 4),
    "complex-step": ("complex-step", 2, "complex-step", 2),
}


class Numeric(Differentiator):
    """Finite differences; a Hessian from second differences of values (complex step: from
    central differences of complex-step gradients); an HVP as the central difference of the
    method's own gradient along v. Five names share three Hessian routes; each description
    says which it uses."""

    HESSIAN_ROUTES = {
        ("values", 2): "plain second differences of f, O(h²) (the same route as fd-forward "
                       "and fd-central)",
        ("values", 4): "second differences of f Richardson-extrapolated on a halving ladder "
                       "(the same route as fd-central4 and fd-richardson)",
        ("complex-step", 2): "central differences of complex-step gradients",
    }

    @property
    def description(self):
        """The registered description, and the Hessian route this name uses."""
        _, _, route, hessian_order = NUMERIC[self.name]
        return f"{self._description}; Hessian: {self.HESSIAN_ROUTES[route, hessian_order]}"

    @description.setter
    def description(self, text):
        self._description = text

    def _compute(self, quantity, f, theta, v, estimate=False):
        """Every numeric derivative is computed with its estimate: the steps adapt only then,
        and only then are kinks seen. A caller that asked for the estimate gets the flags in
        the Cost; any other caller gets a KinkError instead of a value where f has no
        derivative (central differences would present the average of one-sided slopes)."""
        value, cost = self._estimated(quantity, f, theta, v)
        if not estimate and cost.kinks is not None and np.any(cost.kinks):
            raise _kink_error(self.name, quantity, cost.kinks)
        return value, cost

    def _estimated(self, quantity, f, theta, v):
        scheme, order, route, hessian_order = NUMERIC[self.name]
        estimate = True
        if quantity in ("gradient", "jacobian"):
            differentiate = numeric.gradient if quantity == "gradient" else numeric.jacobian
            result = differentiate(f, theta, scheme, order, estimate=estimate)
        elif quantity == "hessian":
            result = numeric.hessian(f, theta, route, order=hessian_order)
        else:
            spent = Cost(evaluations=0, complex_evaluations=0)
            if scheme == "complex-step":
                spent.evaluations, spent.complex_evaluations, _ = numeric.check_analytic(
                    f, theta, "hvp", True)

            def inner(t):
                g = numeric.gradient(f, t, scheme, order, estimate=False, check=False)
                spent.evaluations += g.evaluations
                spent.complex_evaluations += g.complex_evaluations
                return g.value
            result = numeric.hvp(f, theta, v, gradient_fn=inner, estimate=estimate)
            spent.error = result.error
            # the jump in slope along v is measured from the inner gradients' own (noisy)
            # differences: evidence for gradcheck to weigh, not proof enough to refuse
            spent.kink_jump = getattr(result, "kink_jump", None)
            spent.status = result.status
            return result.value, spent
        status = getattr(result, "entry_status", None)
        cost = Cost(evaluations=result.evaluations,
                    complex_evaluations=result.complex_evaluations, error=result.error,
                    kinks=None if status is None else np.isin(status, ("kink", "kink at θ")),
                    kink_jump=getattr(result, "kink_jump", None))
        # "ok", or why the estimate or the derivative is not to be trusted (kinks, entries
        # whose differences never converged: their ``error`` is no upper bound)
        cost.status = result.status
        return result.value, cost


def _kink_error(name, quantity, kinks):
    entries = [tuple(int(i) for i in index) for index in np.argwhere(kinks)]
    shown = ", ".join(str(e[0] if len(e) == 1 else e) for e in entries[:10])
    return KinkError(
        f"{name} {quantity}: f is not differentiable at θ along {len(entries)} "
        f"entr{'y' if len(entries) == 1 else 'ies'} ({shown}{', …' if len(entries) > 10 else ''}): "
        "the one-sided differences disagree at every step, so a finite difference would "
        "only average them. Use a method that keeps difflab's kink conventions (ad, "
        "symbolic), move θ off the kink, or call measure(..., estimate=True) for the values "
        "with their kink flags")


class Symbolic(Differentiator):
    traces_output = True

    def _compute(self, quantity, f, theta, v, estimate=False):
        start = time.perf_counter()
        built = symbolic.derivative(f, theta, quantity, mode=self.mode)
        setup = time.perf_counter() - start
        value = built(theta, v) if quantity == "hvp" else built(theta)
        return value, Cost(setup_seconds=setup)

    def _sizes(self, cost, quantity, f, theta):
        cost.expression_size = symbolic.derivative(f, theta, quantity, mode=self.mode).sizes.ops

    @property
    def mode(self):
        return self.name.split("-", 1)[1] if "-" in self.name else symbolic.DEFAULT_MODE


class Reference(Differentiator):
    """difflab.reference at 50 digits, rounded to float64."""

    def _compute(self, quantity, f, theta, v, estimate=False):
        return np.asarray(exact(quantity, f, theta, v), dtype=object).astype(float), Cost()


def exact(quantity, f, theta, v=None):
    """``quantity`` of f at θ from difflab.reference, as its 50-digit mpmath numbers."""
    theta = np.asarray(theta, dtype=float)
    if quantity == "hvp":
        return reference.hvp(f, theta, np.asarray(v, dtype=float))
    return getattr(reference, quantity)(f, theta)


REGISTRY = {
    "ad": Automatic("ad", "reverse-mode AD (forward-over-reverse Hessians)", "automatic"),
    **{name: Numeric(name, f"finite differences: {scheme} order {order}", "numeric")
       for name, (scheme, order, _, _) in NUMERIC.items()},
    "symbolic": Symbolic("symbolic", "SymPy, default mode (dag)", "symbolic"),
    **{f"symbolic-{mode}": Symbolic(f"symbolic-{mode}", f"SymPy, {mode} mode", "symbolic")
       for mode in symbolic.MODES},
    "reference": Reference("reference", "mpmath central differences at 50 digits", "reference"),
}


def differentiator(name):
    """The registered differentiator called ``name`` (see ``differentiators()``)."""
    if isinstance(name, Differentiator):
        return name
    if name not in REGISTRY:
        raise DiffLabError(f"unknown differentiator {name!r}; choose one of "
                           f"{', '.join(REGISTRY)}")
    return REGISTRY[name]


def differentiators():
    """The names of every registered differentiator."""
    return list(REGISTRY)


# Expected relative error = 100·ε^p: p per (method, quantity). Hessians by finite differences
# are second differences of values (p = 1/2 at order 2, 2/3 for the order-4 ladder) or central
# differences of complex-step gradients (2/3); an HVP differences the method's own gradient
# along v, so an inner error ε^q over the outer step ε^(1/3) leaves ε^(q − 1/3).
POWERS = {
    "ad": dict(gradient=1, jacobian=1, hessian=1, hvp=1),
    "symbolic": dict(gradient=1, jacobian=1, hessian=1, hvp=1),
    "reference": dict(gradient=1, jacobian=1, hessian=1, hvp=1),
    "fd-forward": dict(gradient=1 / 2, jacobian=1 / 2, hessian=1 / 2, hvp=1 / 6),
    "fd-central": dict(gradient=2 / 3, jacobian=2 / 3, hessian=1 / 2, hvp=1 / 3),
    "fd-central4": dict(gradient=4 / 5, jacobian=4 / 5, hessian=2 / 3, hvp=7 / 15),
    "fd-richardson": dict(gradient=8 / 9, jacobian=8 / 9, hessian=2 / 3, hvp=5 / 9),
    "complex-step": dict(gradient=1, jacobian=1, hessian=2 / 3, hvp=2 / 3),
}
# An HVP's step is set by max|θ|/max|v| for the whole direction, not per coordinate, so its
# truncation carries a larger constant than the per-coordinate stencils'.
SAFETY = dict(gradient=100, jacobian=100, hessian=100, hvp=1000)


def tolerance(method, quantity, dtype=np.float64):
    """The expected relative error of ``method`` for ``quantity`` in ``dtype``: C·ε^p.

    C is 100 (1000 for HVPs); it assumes derivatives of every order are of the size of f on
    the unit scale, as the step rules do. A function with much larger high derivatives (the
    logistic map's lₙ is a polynomial of degree 2ⁿ) has a proportionally larger truncation.
    """
    family = "symbolic" if method.startswith("symbolic") else method
    if quantity not in QUANTITIES:
        raise DiffLabError(f"no tolerance for quantity {quantity!r}; choose one of "
                           f"{', '.join(QUANTITIES)}")
    if family not in POWERS:
        raise DiffLabError(f"no tolerance for {method!r}; known: {', '.join(POWERS)}")
    eps = float(np.finfo(np.float32 if np.dtype(dtype) == np.float32 else np.float64).eps)
    return SAFETY[quantity] * eps ** POWERS[family][quantity]
