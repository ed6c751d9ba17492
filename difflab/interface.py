"""The seam every differentiator sits behind: the protocol, ``Measurement``/``Cost``, the
registry and the tolerance table (DESIGN.md §3). Nothing here knows a backend.

**Two phases.** ``d.prepare(f, θ, quantity)`` does and times a method's one-time work (the
symbolic method traces, differentiates and compiles; AD and finite differences have none)
and returns a ``Prepared`` the caller holds; calling it at θ (and v for an HVP) returns a
``Measurement``: the value, the per-entry error estimate and flags where the method has them,
and a ``Cost`` that holds only costs. ``gradient``/``jacobian``/``hessian``/``hvp`` are the
one-call conveniences (prepare, then one evaluation) and return the array; ``measure`` does
the same and returns the whole ``Measurement``. A caller that evaluates one function many
times (Newton, training, a timing loop) prepares once: nothing is cached behind its back.

**Quantities.** gradient → (n,), jacobian → (m, n), hessian → (n, n) symmetric, hvp → (n,),
in θ's float type (float32 stays float32). Every value is checked finite; θ and v are checked
here once for every method (flat, finite, real); an empty θ gives the exact empty derivative.

**Registry.** Each backend registers its methods from its own adapter module
(``ad/adapter.py``, ``numeric/adapter.py``, ``symbolic/adapter.py``, ``reference.py``) with
``register``: one canonical name per method, its aliases, the quantities it computes, and the
colour and label plots use. ``differentiator(name)`` resolves a name or alias.

**Tolerances.** Each method's expected relative error is C·ε^p, ε the dtype's machine
epsilon and p the order its error theory gives (AD and symbolic: rounding, p = 1; central
differences: truncation O(h²) against round-off ε/h, p = 2/3; …), in ``POWERS``.
"""

import time
from dataclasses import dataclass, field
from typing import Callable, NamedTuple

import numpy as np

from .errors import DiffLabError, NonFiniteValueError, ShapeError
from .outputs import checked_output

QUANTITIES = ("gradient", "jacobian", "hessian", "hvp")


@dataclass
class Cost:
    """What a measurement cost, and nothing else.

    ``setup_seconds``: one-time work paid by this measurement (``measure`` and the one-call
    conveniences: the whole of ``prepare``; a prepared object's call: 0, unless f had changed
    and was traced again). ``evaluation_seconds``: the evaluation itself. ``evaluations`` /
    ``complex_evaluations``: calls of f with real / complex θ (None: the method does not call
    f by itself). ``size`` with ``size_unit``: the method's size ("tape nodes" of one AD
    evaluation, "scalar operations" of the compiled symbolic derivative), filled where asked.
    """

    setup_seconds: float = 0.0
    evaluation_seconds: float = 0.0
    evaluations: int | None = None
    complex_evaluations: int | None = None
    size: int | None = None
    size_unit: str | None = None


@dataclass
class Measurement:
    """One evaluation of a derivative: ``value`` and its ``cost``; where the method has them
    (finite differences), ``error`` (an estimate of each entry's error), ``kinks`` (entries
    whose stencil met a kink), ``kink_jump`` (the jump in slope where θ itself holds one) and
    ``status`` ("ok", or why the estimate is no bound). ``precise`` holds the reference's
    values at its working precision (mpmath numbers) before rounding to ``value``."""

    value: np.ndarray
    cost: Cost = field(default_factory=Cost)
    error: np.ndarray | None = field(default=None, repr=False)
    kinks: np.ndarray | None = field(default=None, repr=False)
    kink_jump: np.ndarray | None = field(default=None, repr=False)
    status: str = "ok"
    precise: np.ndarray | None = field(default=None, repr=False)


class Preparation(NamedTuple):
    """What a backend's ``_prepare`` returns: ``evaluate(θ, v)`` → Measurement; optionally
    ``size()`` → (size, unit) and ``details()`` → a dict of the method's own facts (the
    symbolic method's seconds per stage and expression sizes), both worked out on demand."""

    evaluate: Callable
    size: Callable | None = None
    details: Callable | None = None


class Prepared:
    """``quantity`` of f prepared by one method for θ's size: call it at θ (and v).

    ``setup_seconds`` is what ``prepare`` took; ``size()`` the method's size and unit and
    ``details()`` its own facts (worked out on first use, outside any timing). Anything the
    method keeps between calls (the symbolic build) lives here and goes with this object.
    """

    def __init__(self, method, quantity, f, theta, preparation=None, setup_seconds=0.0):
        self.method, self.quantity, self.f = method, quantity, f
        self.n, self.dtype = theta.size, theta.dtype
        preparation = Preparation(*(preparation or (None,)))
        self._evaluate, self._size, self._details = preparation
        self._sized = None
        self.setup_seconds = setup_seconds

    def __call__(self, theta, v=None):
        return self._measured(*checked_arguments(self.method.name, self.quantity, self.f,
                                                 theta, v))

    def _measured(self, theta, v):
        """The Measurement at θ and v, both checked already."""
        name, quantity = self.method.name, self.quantity
        if theta.size != self.n:
            raise ShapeError(f"{name} {quantity}: prepared for {self.n} parameters, called "
                             f"with {theta.size}; prepare again for the new size")
        if theta.size == 0:
            return Measurement(empty_derivative(name, quantity, self.f, theta))
        start = time.perf_counter()
        measured = self._evaluate(theta, v)
        cost = measured.cost
        cost.evaluation_seconds = time.perf_counter() - start - cost.setup_seconds
        value = np.asarray(measured.value,
                           dtype=theta.dtype if theta.dtype == np.float32 else float)
        if not np.all(np.isfinite(value)):
            bad = np.argwhere(~np.isfinite(value))
            raise NonFiniteValueError(
                f"{name} {quantity}: {len(bad)} of {value.size} entries are not finite "
                f"(first at index {tuple(int(i) for i in bad[0])}: {value[tuple(bad[0])]}); f "
                "or its derivative is not finite at θ (a pole, a log or sqrt at 0, overflow?)")
        if quantity == "jacobian":
            value = value.reshape(-1, theta.size)    # ad.jacobian keeps F's shape, JAX-style
        measured.value = value
        return measured

    def size(self):
        """(size, unit) of the method's derivative, or (None, None) where it has none."""
        if self._sized is None:
            self._sized = self._size() if self._size is not None and self.n else (None, None)
        return self._sized

    def details(self):
        """The method's own facts about this preparation (a dict; empty where it has none)."""
        return self._details() if self._details is not None and self.n else {}


class Differentiator:
    """A named method. A backend subclasses it and implements ``_prepare(quantity, f, θ,
    estimate, **options)`` → a ``Preparation`` (or the tuple of its fields)."""

    # Backends whose tracer runs outputs.checked_output on f's output itself (AD, symbolic)
    # get f as it is; the others get f wrapped in that check.
    traces_output = False
    # The keyword options ``prepare`` passes on to this method (the symbolic: budget, engine).
    options = ()

    def __init__(self, name, description="", kind="", quantities=QUANTITIES):
        self.name, self.description, self.kind = name, description, kind
        self.quantities = tuple(quantities)

    def __repr__(self):
        return f"<differentiator {self.name}>"

    def prepare(self, f, theta, quantity="gradient", *, estimate=False, **options):
        """Do and time the one-time work for ``quantity`` of f at θ's size; the result is
        called at θ (and v). ``estimate=True`` asks a method that has one (finite
        differences) for its per-entry error estimate and kink flags in each Measurement,
        instead of a KinkError where f has no derivative. ``options`` go to the method
        (``options`` lists what it takes)."""
        theta, _ = checked_arguments(self.name, quantity, f, theta, None, direction=False)
        return self._prepared(f, theta, quantity, estimate, options)

    def _prepared(self, f, theta, quantity, estimate, options):
        """prepare for a θ checked already."""
        if quantity not in self.quantities:
            raise DiffLabError(f"{self.name} computes {', '.join(self.quantities)}, not "
                               f"{quantity}")
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            raise DiffLabError(f"{self.name} takes no option {', '.join(unknown)}; its "
                               f"options: {', '.join(self.options) or 'none'}")
        if theta.size == 0:
            return Prepared(self, quantity, f, theta)
        start = time.perf_counter()
        preparation = self._prepare(quantity, self._guarded(f, quantity), theta, estimate,
                                    **options)
        return Prepared(self, quantity, f, theta, preparation, time.perf_counter() - start)

    def measure(self, quantity, f, theta, v=None, *, estimate=False, sizes=True):
        """prepare, then one evaluation: the Measurement, with the setup in its cost and
        (unless ``sizes=False``) the method's size, found after the timed evaluation."""
        theta, v = checked_arguments(self.name, quantity, f, theta, v)   # once, v included
        prepared = self._prepared(f, theta, quantity, estimate, {})
        measured = prepared._measured(theta, v)
        measured.cost.setup_seconds += prepared.setup_seconds
        if sizes:
            measured.cost.size, measured.cost.size_unit = prepared.size()
        return measured

    def gradient(self, f, theta):
        return self.measure("gradient", f, theta, sizes=False).value

    def jacobian(self, F, theta):
        return self.measure("jacobian", F, theta, sizes=False).value

    def hessian(self, f, theta):
        return self.measure("hessian", f, theta, sizes=False).value

    def hvp(self, f, theta, v):
        return self.measure("hvp", f, theta, v, sizes=False).value

    def tolerance(self, quantity, dtype=np.float64):
        return tolerance(self.name, quantity, dtype)

    def _guarded(self, f, quantity):
        """f with its every output checked (``outputs.checked_output``), unless the backend's
        tracer checks it already."""
        if self.traces_output:
            return f

        def guarded(t):
            return checked_output(f(t), f"{self.name} {quantity}", quantity != "jacobian")
        return guarded

    def _prepare(self, quantity, f, theta, estimate):
        raise NotImplementedError


def checked_arguments(name, quantity, f, theta, v, direction=True):
    """θ (and v, when ``direction``) as float vectors, or a named error for what the caller
    got wrong."""
    if quantity not in QUANTITIES:
        raise DiffLabError(f"{name}: unknown quantity {quantity!r}; choose one of "
                           f"{', '.join(QUANTITIES)}")
    if not callable(f):
        raise DiffLabError(f"{name} {quantity}: f must be a function of θ, got "
                           f"{type(f).__name__}")
    theta = _float_vector(name, quantity, "θ", theta)
    if quantity == "hvp" and direction:
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


def empty_derivative(name, quantity, f, theta):
    """The exact derivative with respect to no parameters: an empty array of the right shape
    (the Jacobian needs F's size, from one evaluation)."""
    if quantity == "jacobian":
        m = np.size(checked_output(f(theta), f"{name} {quantity}", scalar=False))
        return np.zeros((m, 0), dtype=theta.dtype)
    checked_output(f(theta), f"{name} {quantity}", scalar=True)
    return np.zeros((0, 0) if quantity == "hessian" else (0,), dtype=theta.dtype)


# The registry: canonical name → differentiator; alias → canonical name; per-method style.

REGISTRY = {}
ALIASES = {}
STYLES = {}


@dataclass(frozen=True)
class Style:
    """How plots and tables show a method."""

    color: str
    label: str
    linestyle: str = "-"


def register(method, *, aliases=(), color="#7f7f7f", label=None, linestyle="-"):
    """Add ``method`` (a Differentiator) under its name, and its aliases. A backend calls this
    from its adapter module; registering a taken name is an error."""
    for name in (method.name, *aliases):
        if name in REGISTRY or name in ALIASES:
            raise DiffLabError(f"differentiator {name!r} is registered already")
    REGISTRY[method.name] = method
    ALIASES.update({alias: method.name for alias in aliases})
    STYLES[method.name] = Style(color, label or method.name, linestyle)
    return method


def canonical(name):
    """The registered name ``name`` stands for (itself, or the method it is an alias of)."""
    if name in REGISTRY:
        return name
    if name in ALIASES:
        return ALIASES[name]
    raise DiffLabError(f"unknown differentiator {name!r}; choose one of "
                       f"{', '.join(REGISTRY)} (aliases: {', '.join(ALIASES) or 'none'})")


def differentiator(name):
    """The registered differentiator called ``name`` or aliased so (see ``differentiators()``)."""
    if isinstance(name, Differentiator):
        return name
    return REGISTRY[canonical(name)]


KINDS = ("automatic", "numeric", "symbolic", "reference")     # the order tables list them


def differentiators(quantity=None):
    """The canonical names of the registered differentiators (that compute ``quantity``),
    by kind (AD, finite differences, symbolic, the reference), then as registered."""
    listed = [name for name, method in REGISTRY.items()
              if quantity is None or quantity in method.quantities]
    return sorted(listed, key=lambda name: KINDS.index(REGISTRY[name].kind)
                  if REGISTRY[name].kind in KINDS else len(KINDS))


def style(name):
    """The colour, label and line style of a method (by any of its names)."""
    return STYLES[canonical(name)]


# Expected relative error = C·ε^p: p per (method, quantity). Hessians by finite differences
# are second differences of values (p = 1/2 at order 2, 2/3 for the order-4 ladder) or central
# differences of exact gradients (complex step, AD: 2/3); an HVP differences the method's own
# gradient along v, so an inner error ε^q over the outer step ε^(1/3) leaves ε^(q − 1/3).
POWERS = {
    "ad": dict(gradient=1, jacobian=1, hessian=1, hvp=1),
    "ad-forward": dict(gradient=1, jacobian=1),
    "ad-jit": dict(gradient=1, jacobian=1, hessian=1, hvp=1),
    "symbolic": dict(gradient=1, jacobian=1, hessian=1, hvp=1),
    "reference": dict(gradient=1, jacobian=1, hessian=1, hvp=1),
    "fd-forward": dict(gradient=1 / 2, jacobian=1 / 2, hessian=1 / 2, hvp=1 / 6),
    "fd-central": dict(gradient=2 / 3, jacobian=2 / 3, hessian=1 / 2, hvp=1 / 3),
    "fd-central4": dict(gradient=4 / 5, jacobian=4 / 5, hessian=2 / 3, hvp=7 / 15),
    "fd-richardson": dict(gradient=8 / 9, jacobian=8 / 9, hessian=2 / 3, hvp=5 / 9),
    "complex-step": dict(gradient=1, jacobian=1, hessian=2 / 3, hvp=2 / 3),
    "ad-differences": dict(hessian=2 / 3, hvp=2 / 3),
}
# An HVP's step is set by max|θ|/max|v| for the whole direction, not per coordinate, so its
# truncation carries a larger constant than the per-coordinate stencils'.
SAFETY = dict(gradient=100, jacobian=100, hessian=100, hvp=1000)


def tolerance(method, quantity, dtype=np.float64):
    """The expected relative error of ``method`` (any of its names) for ``quantity`` in
    ``dtype``: C·ε^p.

    C is 100 (1000 for HVPs); it assumes derivatives of every order are of the size of f on
    the unit scale, as the step rules do. A function with much larger high derivatives (the
    logistic map's lₙ is a polynomial of degree 2ⁿ) has a proportionally larger truncation.
    """
    name = canonical(method) if isinstance(method, str) else method.name
    family = "symbolic" if name.startswith("symbolic") else name
    if quantity not in QUANTITIES:
        raise DiffLabError(f"no tolerance for quantity {quantity!r}; choose one of "
                           f"{', '.join(QUANTITIES)}")
    if family not in POWERS or quantity not in POWERS[family]:
        raise DiffLabError(f"no tolerance for {method!r} and {quantity}; known: "
                           f"{', '.join(POWERS)}")
    eps = float(np.finfo(np.float32 if np.dtype(dtype) == np.float32 else np.float64).eps)
    return SAFETY[quantity] * eps ** POWERS[family][quantity]
