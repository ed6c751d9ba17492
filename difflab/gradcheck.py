"""Gradient checking: a gradient you trust against derivatives computed another way, leaf by leaf.

``gradcheck(f, params, grad=None)`` checks a *candidate* against *truths*:

- the candidate is difflab's AD of ``f`` (written with ``difflab.numpy``), or your own
  ``grad(params)`` (hand-written backprop, any NumPy code), which must return a pytree
  shaped like ``params``;
- the truths are differentiators of the shared interface (finite differences, the complex
  step, the mpmath reference), each run on ``f`` alone.

Each entry is judged against the most precise truth that is reliable *there* (the *judge*;
a finite difference whose stencil meets a kink is not). An entry passes when

    |candidate − truth| ≤ allowed = rtol·max(|truth|, ‖truth of its leaf‖∞)
                                   + 10·(judge's estimate + spread + noise of the leaf)

- rtol = the candidate's tolerance + the judge's (``interface.tolerance``, for the dtypes
  they were computed in);
- the judge's own per-entry error estimate;
- spread: how far the other truths exact to rounding (complex step, reference) lie from the
  judge beyond their own estimates, as they do near a minimum, where ∇f is a sum that cancels;
- noise: the rounding of the derivative's own arithmetic, measured on the leaf by repeating
  the complex step at two other steps (its imaginary parts then round differently). It is
  what a correct candidate's rounding looks like, and it is taken per leaf, never from |f|:
  a leaf whose gradient is 1e-14·|f| is judged at its own scale.

Everything counts ten times, as estimates. An ``rtol`` or ``atol`` you pass replaces the
default: allowed = atol + rtol·max(|truth|, ‖truth of its leaf‖∞). ``result.entries`` holds,
per quantity, every entry's candidate, truth and allowed difference.

Kinks. A truth's flag (a stencil that meets a kink, a jump in slope across it) only says
that this truth is unreliable at that entry: the next most precise truth judges it, and the
complex step and the reference are exact anywhere but at a kink at θ itself. An entry is
*at a kink* only with evidence at θ's own scale: the reference's ``KinkError`` (one-sided
derivatives at 50 digits), or one-sided slopes at steps halved from the stencil's down to
round-off whose difference J stays constant all the way (a kink at distance d makes it
vanish below d, a smooth f makes it shrink like h³). There the derivative is any value
between the one-sided derivatives (relu′(0) = 0, ½ and 1 are all defensible), so an entry
within that range (± J/10) is "at a kink, not judged" and one outside it is judged against
the nearer end. An entry where no truth is reliable is "not judged" too.

Verdict. ``result.status`` is "passed" (every leaf had entries judged and all passed),
"failed" (an entry out of tolerance, a NaN in your gradient, a leaf of the wrong shape) or
"inconclusive" (no failure, but some leaf had no entry that could be judged, e.g. ``dnp.max``
at a tie of every entry): then ``result.passed`` is False, since nothing vouches for that
leaf; ``result.inconclusive`` is True.

``mode="fast"`` replaces full derivatives by random projections wᵀJu (per leaf, u supported
on that leaf, a fixed seed): each truth is then the derivative of s ↦ wᵀf(θ + s·u), a few
evaluations of f instead of O(n). ``order=2`` also checks AD's Hessian-vector products against
central differences of AD gradients and the reference; where those two disagree with each
other the Hessian does not exist (a kink in the gradient) and the entry is exempt.
"""

import numbers
import warnings
from dataclasses import dataclass, field

import numpy as np

from . import numpy as dnp
from .errors import (ComplexStepWarning, DiffLabError, DiffLabWarning, KinkError,
                     NonFiniteValueError)
from .interface import differentiator, tolerance
from .progress import Progress
from .pytree import ravel, tree_flatten, tree_leaves, tree_map, tree_paths

DEFAULT_TRUTHS_AD = ("fd-central", "complex-step", "reference")
DEFAULT_TRUTHS_HAND = ("fd-central", "fd-richardson", "complex-step")
# The reference evaluates f in 50-digit mpmath, about a thousand times slower than float64,
# and its HVP takes many such evaluations per entry: by default it runs only up to these
# parameter counts (name it in methods to run it anyway).
REFERENCE_LIMIT = {"full": 100, "fast": 300, "hvp": 30}
ESTIMATE_SAFETY = 10
DIRECTIONS = 3
SHOWN = 5
HAND = "your grad"
# Central differences of AD gradients along v (a registered method with its own tolerance
# row): a central difference of a gradient exact to rounding, O(h²) + ε/h at h ≈ ε^(1/3).
DIFFERENCES = "ad-differences"
# Truths exact up to the rounding of f's own arithmetic: where two of them disagree, that
# is rounding a correct candidate shares, so it widens the tolerance (finite differences
# disagreeing beyond their estimates say only that their estimate was wrong).
EXACT = ("complex-step", "reference")
# The complex step repeated at steps ×3 and ×0.2 (not powers of two, so every imaginary part
# rounds differently) samples the rounding noise of the derivative's arithmetic.
NOISE_STEPS = (3.0, 0.2)
# The kink probe: steps halved from PROBE_START·ε^(1/3)·max(|θⱼ|, 1) (beyond the central
# stencil) for at most PROBE_RUNGS rungs, or down to PROBE_FLOOR·ε·|θⱼ|; a jump is resolved
# where it stands RESOLVED times above its round-off, and is "constant" when its last
# STABLE_RUNGS resolved values lie within a factor STABLE of each other.
PROBE_START = 4.0
PROBE_RUNGS = 48
PROBE_FLOOR = 64.0
RESOLVED = 100.0
STABLE_RUNGS = 5
STABLE = 1.5
HULL_SLACK = 0.1

_ComplexWarning = getattr(getattr(np, "exceptions", np), "ComplexWarning")


class PrecisionWarning(DiffLabWarning):
    """Checking in float32: the tolerances are loose enough to hide real errors."""


class GradcheckOptionError(DiffLabError, ValueError):
    """An option of ``gradcheck`` that cannot be used (a negative or NaN tolerance, …)."""


@dataclass
class LeafCheck:
    """One parameter (leaf) of one quantity: its worst entry and its verdict.

    ``status`` is "pass", "FAIL" (entries out of tolerance, or NaN), "shape" (your grad
    returned the wrong shape for this leaf) or "inconclusive" (no entry could be judged).
    ``kinks`` counts entries at a kink and ``unjudged`` entries no truth was reliable for,
    both left unjudged (module docstring). For the worst judged entry (largest
    |candidate − truth| ÷ allowed): ``worst`` names it (an index into the leaf, with the
    output row for a Jacobian, or a direction in fast mode and for HVPs; "-" if none was
    judged), ``candidate``, ``truth``, ``difference`` = |candidate − truth|, ``allowed`` and
    ``ratio`` = difference ÷ allowed, the verdict's own metric (≤ 1 passes; NaN for a NaN
    candidate). ``max_abs`` and ``max_rel`` are the largest difference and the largest
    difference relative to max(|truth|, the leaf's largest |truth|) over judged entries.
    """

    path: str
    shape: tuple
    quantity: str
    status: str
    max_abs: float = 0.0
    max_rel: float = 0.0
    worst: str = "-"
    candidate: float = float("nan")
    truth: float = float("nan")
    difference: float = float("nan")
    allowed: float = float("nan")
    ratio: float = float("nan")
    kinks: int = 0
    unjudged: int = 0
    failures: int = 0
    entries: int = 0
    message: str = ""


@dataclass
class Entries:
    """Every entry of one quantity on the candidate's grid (rows: outputs, directions)."""

    candidate: np.ndarray
    truth: np.ndarray
    allowed: np.ndarray
    judged: np.ndarray
    kinks: np.ndarray


@dataclass
class GradcheckResult:
    """What ``gradcheck`` found: one ``LeafCheck`` per leaf and quantity, and the verdict.

    ``status``: "passed", "failed" or "inconclusive" (module docstring); ``passed`` is True
    only for "passed". ``agreement[name]``: the largest |candidate − truth| ÷ allowed against
    each truth over the entries it was reliable at (the judge's is the verdict's; None where
    it was reliable nowhere).
    """

    rows: list
    candidate: str
    judge: dict
    agreement: dict
    notes: list = field(default_factory=list)
    dtype: str = "float64"
    mode: str = "full"
    order: int = 1
    entries: dict = field(default_factory=dict, repr=False)

    @property
    def status(self):
        if any(row.status in ("FAIL", "shape") for row in self.rows):
            return "failed"
        if any(row.status == "inconclusive" for row in self.rows):
            return "inconclusive"
        return "passed"

    @property
    def passed(self):
        return self.status == "passed"

    @property
    def inconclusive(self):
        return self.status == "inconclusive"

    @property
    def failures(self):
        return [row for row in self.rows if row.status in ("FAIL", "shape")]

    def __bool__(self):
        return self.passed

    def __str__(self):
        return format_result(self)


@dataclass
class Truth:
    """One truth on the candidate's grid: its values, its error estimate, where it is
    unreliable (its stencil meets a kink), its measured rounding noise, and where it found
    f not differentiable (the reference's KinkError: ``at_kink`` and the one-sided values)."""

    value: np.ndarray
    estimate: np.ndarray
    unreliable: np.ndarray
    noise: np.ndarray
    at_kink: np.ndarray
    low: np.ndarray
    high: np.ndarray

    def reshaped(self, shape):
        return Truth(*(np.asarray(part).reshape(shape) for part in
                       (self.value, self.estimate, self.unreliable, self.noise, self.at_kink,
                        self.low, self.high)))


@dataclass
class Kinks:
    """Entries where f is not differentiable at θ, and the range its one-sided derivatives
    span there (low ≤ high)."""

    at: np.ndarray
    low: np.ndarray
    high: np.ndarray


def gradcheck(f, params, grad=None, *, methods=None, rtol=None, atol=None, seed=0,
              mode="full", order=1):
    """Check the gradient of ``f`` at ``params`` (a pytree) leaf by leaf; a GradcheckResult.

    ``f(params)`` returns a scalar (a Jacobian is checked when it returns an array and no
    ``grad`` is given). ``methods`` are the truths (names of ``difflab.differentiators()``);
    by default central differences, the complex step and the reference for AD, central
    differences, Richardson and the complex step for your ``grad``. A truth that cannot run
    on ``f`` (the complex step through a non-analytic operation, the reference on plain
    NumPy) is skipped with a note. ``rtol``/``atol`` (finite, ≥ 0) replace the tolerance.

    ``result.passed`` is True only when every leaf was judged and passed; a check where
    some leaf could not be judged at all (every entry at a kink) is
    ``result.status == "inconclusive"``, not a pass.
    """
    check = _Check(f, params, grad, methods, rtol, atol, seed, mode, order)
    return check.run()


class _Check:
    """One gradcheck: the flat problem, the tolerances' inputs and the notes it collects."""

    def __init__(self, f, params, grad, methods, rtol, atol, seed, mode, order):
        _check_options(mode, order, grad, rtol, atol, seed)
        self.notes = []
        params = self._float_leaves(params)
        self.theta, self.unravel = ravel(params)
        _check_point(self.theta)
        self.f, self.params, self.grad = f, params, grad
        self.rtol, self.atol, self.mode, self.order = rtol, atol, mode, order
        self.rng = np.random.default_rng(seed)
        self.dtype = np.float32 if self.theta.dtype == np.float32 else np.float64
        self.candidate_dtype = self.dtype
        self.paths = tree_paths(params)
        self.shapes = [np.shape(leaf) for leaf in tree_leaves(params)]
        sizes = [int(np.prod(s)) for s in self.shapes]
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
        self.leaves = list(zip(self.paths, self.shapes, offsets[:-1], offsets[1:]))
        self.value = _output(self.F, self.theta)
        self.scalar = self.value.size == 1
        if grad is not None and not self.scalar:
            raise DiffLabError(f"gradcheck: grad= checks the gradient of a scalar f, but f "
                               f"returns shape {self.value.shape}; check a vector-valued f "
                               "without grad= (AD's Jacobian) or reduce it to a scalar")
        if order == 2 and not self.scalar:
            raise DiffLabError(f"gradcheck: order=2 checks Hessian-vector products of a scalar "
                               f"f, but f returns shape {self.value.shape}")
        self.names = self._truth_names(methods)
        if self.dtype == np.float32:
            warnings.warn(PrecisionWarning(
                "gradcheck in float32: rounding alone reaches 1e-4 relative for finite "
                "differences, which hides real errors; pass params as float64 to check the "
                "derivation, then float32 only for precision"), stacklevel=3)

    def F(self, t):
        return self.f(self.unravel(t))

    def run(self):
        quantity = "gradient" if self.scalar else "jacobian"
        steps = len(self.names) * (len(self.leaves) * DIRECTIONS if self.mode == "fast" else 1)
        steps += DIRECTIONS if self.order == 2 else 0
        entries = {}
        with Progress(steps, "gradcheck") as bar:
            broken = {}
            if self.grad is not None:
                candidate, broken = self._hand_gradient()
            elif self.mode == "fast" and not self.scalar:
                candidate = None                       # wᵀJ per projection, in _fast
            else:
                candidate = self._ad_derivative(self.F)
            first = self._full if self.mode == "full" else self._fast
            rows, judge, agreement, entries[quantity] = first(candidate, quantity, broken, bar)
            judges = {quantity: judge}
            if self.order == 2:
                more, judges["hvp"], hvp_agreement, entries["hvp"] = self._second_order(bar)
                rows += more
                agreement.update({f"{k} (hvp)": v for k, v in hvp_agreement.items()})
        return GradcheckResult(rows, HAND if self.grad is not None else "ad", judges,
                               agreement, self.notes, np.dtype(self.dtype).name, self.mode,
                               self.order, entries)

    # Inputs.

    def _float_leaves(self, params):
        """Every leaf as an array of one float dtype, so the steps of θ reach f unrounded
        (``unravel`` casts each leaf back to its own dtype)."""
        leaves = [np.asarray(leaf) for leaf in tree_leaves(params)]
        for path, leaf in zip(tree_paths(params), leaves):
            if leaf.dtype.kind not in "biuf":
                raise GradcheckOptionError(
                    f"gradcheck: params leaf {path or 'params'} has dtype {leaf.dtype}; every "
                    "leaf must be a real numeric array (a pytree of float arrays)")
        kinds = {leaf.dtype for leaf in leaves}
        common = np.float32 if kinds == {np.dtype(np.float32)} else np.float64
        converted = [leaf.dtype for leaf in leaves if leaf.dtype != common]
        if converted:
            self.notes.append(f"params leaves of dtype {', '.join(sorted(set(map(str, converted))))} "
                              f"were checked as {np.dtype(common).name} (finite-difference "
                              "steps would be rounded away in integer or narrower leaves)")
        return tree_map(lambda leaf: np.asarray(leaf, dtype=common), params)

    def _truth_names(self, methods):
        if methods is not None:
            names = [methods] if isinstance(methods, str) else list(methods)
            for name in names:
                differentiator(name)
            if not names:
                raise GradcheckOptionError("gradcheck: methods is empty; name at least one truth")
            return names
        if self.grad is not None:
            return list(DEFAULT_TRUTHS_HAND)
        names = list(DEFAULT_TRUTHS_AD)
        if self.theta.size > REFERENCE_LIMIT[self.mode]:
            names.remove("reference")
            self.notes.append(f"reference skipped: {self.theta.size} parameters > "
                              f"{REFERENCE_LIMIT[self.mode]} in {self.mode} mode (name it in "
                              "methods to run it anyway)")
        return names

    # Candidates.

    def _hand_gradient(self):
        """Your grad(params) as a (1, n) row; leaves of the wrong shape are NaN and named."""
        returned = self.grad(self.params)
        leaves, _ = tree_flatten(returned)
        paths = tree_paths(returned)
        if paths != self.paths:
            raise DiffLabError(f"gradcheck: grad returned leaves {', '.join(paths)} but params "
                               f"has {', '.join(self.paths)}; return a pytree shaped like params")
        flat, broken = [], {}
        for path, shape, leaf in zip(self.paths, self.shapes, leaves):
            leaf = np.asarray(leaf)
            if leaf.dtype.kind not in "iuf":
                raise DiffLabError(f"gradcheck: grad returned dtype {leaf.dtype} for {path}; "
                                   "return real arrays")
            if leaf.dtype == np.float32 and self.dtype == np.float64:
                self.candidate_dtype = np.float32
            if leaf.shape != shape:
                hint = " (transposed: a missing .T?)" if leaf.shape == shape[::-1] else ""
                broken[path] = f"your grad has shape {leaf.shape}, params has {shape}{hint}"
                leaf = np.full(shape, np.nan)
            flat.append(leaf.astype(np.float64).reshape(-1))
        if self.candidate_dtype != self.dtype:
            self.notes.append("your grad returned float32 for float64 params: it is judged "
                              "with float32's tolerance")
        return np.concatenate(flat)[None, :], broken

    def _ad_derivative(self, F, scalar=None):
        scalar = self.scalar if scalar is None else scalar
        ad = differentiator("ad")
        try:
            value = ad.gradient(F, self.theta) if scalar else ad.jacobian(F, self.theta)
        except (DiffLabError, TypeError) as error:
            raise DiffLabError(f"gradcheck: AD could not differentiate f ({error}); write f "
                               "with difflab.numpy (dnp), or pass your own grad=") from error
        return np.asarray(value, dtype=np.float64).reshape(-1, self.theta.size)

    # Truths.

    def _measure(self, name, quantity, f, theta, v=None):
        """A Truth from differentiator ``name``, or None with a note if it cannot run on f."""
        try:
            truth = _truth(name, quantity, f, theta, v, estimate=True)
        except KinkError as error:
            return _kinked_truth(name, error, quantity, f, theta, v, self.notes)
        except NonFiniteValueError as error:
            if name != "complex-step":
                self.notes.append(f"{name} skipped: {error}")
                return None
            # the complex step's cross-check by central differences left f's domain
            self.notes.append(f"complex-step used without its analyticity cross-check, which "
                              f"could not run: {error}")
            truth = self._unchecked(name, quantity, f, theta, v)
        except (DiffLabError, ComplexStepWarning, _ComplexWarning, TypeError,
                AttributeError) as error:
            self.notes.append(f"{name} skipped: {type(error).__name__}: {error}")
            return None
        if truth is not None and name == "complex-step" and quantity != "hvp":
            # its error is the rounding of f's arithmetic, measured here leaf by leaf; its
            # formula's share of the largest entry of all of θ would swamp a small leaf
            noise = self._noise(quantity, f, theta, truth.value)
            if noise is not None:
                truth.noise, truth.estimate = noise, np.zeros(truth.value.shape)
        return truth

    def _unchecked(self, name, quantity, f, theta, v):
        try:
            return _truth(name, quantity, f, theta, v, estimate=False)
        except (DiffLabError, _ComplexWarning, TypeError, AttributeError) as error:
            self.notes.append(f"{name} skipped: {type(error).__name__}: {error}")
            return None

    def _noise(self, quantity, f, theta, value):
        """|D(c·h) − D(h)| for the complex step at c ∈ NOISE_STEPS: the rounding of the
        derivative's own arithmetic, entry by entry (module docstring)."""
        samples = []
        for c in NOISE_STEPS:
            try:
                again = _truth("complex-step", quantity, _stretched(f, theta, c), theta, None,
                               estimate=False)
            except (DiffLabError, _ComplexWarning, TypeError, AttributeError):
                return None
            samples.append(np.abs(again.value.reshape(value.shape) - value))
        return np.max(samples, axis=0)

    def _full(self, candidate, quantity, broken, bar):
        truths = {}
        for name in self.names:
            truth = self._measure(name, quantity, self.F, self.theta)
            bar.advance()
            if truth is not None:
                truths[name] = truth.reshaped(candidate.shape)
        kinks = self._kinks(truths, candidate.shape,
                            lambda column: (self.F, self.theta, column, self.value))
        return self._verdict(quantity, candidate, truths, kinks, self.leaves, broken)

    def _fast(self, candidate, quantity, broken, bar):
        """Projections wᵀJu, u on one leaf at a time: rows are directions, columns leaves."""
        weights = [None if self.scalar else self.rng.normal(size=self.value.shape)
                   for _ in range(DIRECTIONS)]
        if candidate is None:                            # AD of a vector f: wᵀJ per w
            candidate = np.concatenate([self._ad_derivative(_weighted(self.F, w), True)
                                        for w in weights])
        else:
            candidate = np.repeat(candidate, DIRECTIONS, axis=0)
        shape = (DIRECTIONS, len(self.leaves))
        projected, scales = np.zeros(shape), np.zeros(shape)
        parts = {name: [np.zeros(shape), np.zeros(shape), np.zeros(shape, bool), np.zeros(shape),
                        np.zeros(shape, bool), np.full(shape, np.nan), np.full(shape, np.nan)]
                 for name in self.names}
        alongs = {}
        for j, (_, _, start, stop) in enumerate(self.leaves):
            for k, w in enumerate(weights):
                u = np.zeros(self.theta.size)
                u[start:stop] = self.rng.normal(size=stop - start)
                u /= np.max(np.abs(u))
                terms = candidate[k, start:stop] * u[start:stop]
                projected[k, j], scales[k, j] = np.sum(terms), np.linalg.norm(terms)

                def along(s, u=u, w=w):
                    return _weighted(self.F, w)(self.theta + s[0] * u)
                alongs[k, j] = along
                for name in list(parts):
                    truth = self._measure(name, "gradient", along,
                                          np.zeros(1, dtype=self.theta.dtype))
                    bar.advance()
                    if truth is None:
                        del parts[name]
                        continue
                    for part, value in zip(parts[name], _fields(truth)):
                        part[k, j] = np.asarray(value).reshape(-1)[0]
        truths = {name: Truth(*values) for name, values in parts.items()}
        zero = np.zeros(1, dtype=self.theta.dtype)

        def probe(column):
            return [(alongs[k, column], zero, 0, np.asarray(alongs[k, column](zero)))
                    for k in range(DIRECTIONS)]
        kinks = self._kinks(truths, shape, probe, per_row=True)
        per_leaf = [(path, shape, j, j + 1) for j, (path, shape, _, _) in enumerate(self.leaves)]
        return self._verdict(quantity, projected, truths, kinks, per_leaf, broken,
                             scales=scales, projected=True)

    def _kinks(self, truths, shape, problem, per_row=False):
        """Where f is not differentiable at θ: the reference's KinkError, or a jump in slope
        that the probe confirms at θ's own scale, along each column some truth flagged.

        ``problem(column)`` gives (G, θ, j, G(θ)): the function whose j-th coordinate that
        column differentiates (one per row with ``per_row``)."""
        kinks = Kinks(np.zeros(shape, bool), np.full(shape, np.nan), np.full(shape, np.nan))
        suspect = np.zeros(shape, bool)
        for truth in truths.values():
            suspect |= truth.unreliable & ~truth.at_kink
            kinks.at |= truth.at_kink
            kinks.low = np.where(truth.at_kink, truth.low, kinks.low)
            kinks.high = np.where(truth.at_kink, truth.high, kinks.high)
        for column in np.flatnonzero(np.any(suspect & ~kinks.at, axis=0)):
            found = problem(column)
            for row, (G, theta, j, center) in enumerate(found if per_row else [found]):
                at, low, high = _probe(G, theta, j, center.reshape(-1), self.dtype)
                rows = slice(row, row + 1) if per_row else slice(None)
                fresh = at & ~kinks.at[rows, column]
                kinks.at[rows, column] |= fresh
                kinks.low[rows, column] = np.where(fresh, low, kinks.low[rows, column])
                kinks.high[rows, column] = np.where(fresh, high, kinks.high[rows, column])
        return kinks

    def _second_order(self, bar):
        """AD's H·v along random v against central differences of AD gradients and the
        reference; an entry where those two disagree has no Hessian (a kink) and is exempt."""
        ad = differentiator("ad")
        directions = [v / np.max(np.abs(v)) for v in
                      (self.rng.normal(size=self.theta.size) for _ in range(DIRECTIONS))]
        candidate = np.stack([ad.hvp(self.F, self.theta, v) for v in directions])
        along = differentiator(DIFFERENCES).prepare(self.F, self.theta, "hvp", estimate=True)
        differences = [along(self.theta, v) for v in directions]
        value = np.stack([d.value for d in differences])
        jump = np.stack([d.kink_jump for d in differences])
        nothing = np.zeros(candidate.shape, dtype=bool)
        zero, unknown = np.zeros(candidate.shape), np.full(candidate.shape, np.nan)
        truths = {DIFFERENCES: Truth(value, np.stack([d.error for d in differences]), nothing,
                                     zero, nothing, unknown, unknown)}
        # a jump J of the gradient along v: H·v is any value within 2J of the differences
        kinks = Kinks(jump > 0, value - 2 * jump, value + 2 * jump)
        wanted = "reference" in self.names and self.theta.size <= REFERENCE_LIMIT["hvp"]
        if "reference" in self.names and not wanted:
            self.notes.append(f"reference HVPs skipped: {self.theta.size} parameters > "
                              f"{REFERENCE_LIMIT['hvp']}")
        if wanted:
            rows = [self._measure("reference", "hvp", self.F, self.theta, v) for v in directions]
            if all(row is not None for row in rows):
                reference = np.stack([row.value for row in rows])
                split = self._disagree(reference, truths[DIFFERENCES])
                # where the reference refused (a kink along v) the differences still judge
                truths["reference"] = Truth(reference, zero, split | ~np.isfinite(reference),
                                            zero, nothing, unknown, unknown)
                # the two truths split: the Hessian does not exist along v there
                kinks.at |= split
                kinks.low = np.where(split, -np.inf, kinks.low)
                kinks.high = np.where(split, np.inf, kinks.high)
        bar.advance(DIRECTIONS)
        return self._verdict("hvp", candidate, truths, kinks, self.leaves, {})

    def _disagree(self, reference, differences):
        """Entries where the reference and the differences of gradients differ beyond both
        tolerances and the estimate: the gradient jumps along v, H·v does not exist."""
        scale = np.max(np.abs(reference), axis=1, keepdims=True)
        allowed = (tolerance(DIFFERENCES, "hvp", self.dtype) * np.maximum(np.abs(reference), scale)
                   + ESTIMATE_SAFETY * differences.estimate)
        return np.abs(reference - differences.value) > allowed

    # Verdict.

    def _verdict(self, quantity, candidate, truths, kinks, leaves, broken, scales=None,
                 projected=False):
        """Rows per leaf, each entry against its judge; each truth's worst difference ÷
        allowed; and every entry (``Entries``)."""
        if not truths:
            raise DiffLabError(f"gradcheck: no truth could compute the {quantity} of f; "
                               + "; ".join(self.notes) + ". Name methods that can run on it")
        ranked = sorted(truths, key=lambda name: (tolerance(name, quantity, self.dtype),
                                                  name != "reference"))
        reliable = {name: ~truths[name].unreliable & np.isfinite(truths[name].value)
                    for name in ranked}
        judge = np.full(candidate.shape, -1)
        for rank, name in reversed(list(enumerate(ranked))):
            judge = np.where(reliable[name], rank, judge)
        noise = self._leafwise(np.max([t.noise for t in truths.values()], axis=0), leaves)
        agreement = {}
        for name in ranked:
            value, allowed = self._judged_by(quantity, truths, [name], np.zeros_like(judge),
                                             noise, leaves, scales, kinks.at)
            difference = np.abs(candidate - value)
            mask = reliable[name] & ~kinks.at & np.isfinite(difference)
            agreement[name] = float(np.max(difference[mask] / allowed[mask])) \
                if mask.any() else None
        truth, allowed = self._judged_by(quantity, truths, ranked, judge, noise, leaves, scales,
                                         kinks.at)
        scale = self._scale(np.where(judge >= 0, truth, 0.0), leaves, scales)
        truth, allowed, exempt = _at_kinks(candidate, truth, allowed, kinks)
        unjudged = (judge < 0) & ~kinks.at
        judged = ~exempt & ~unjudged
        rows = [_row(path, shape, quantity, candidate[:, a:b], truth[:, a:b], allowed[:, a:b],
                     scale[:, a:b], judged[:, a:b], exempt[:, a:b], broken.get(path), projected)
                for path, shape, a, b in leaves]
        self._note_spread(truths, ranked, (judge >= 0) & ~kinks.at, scale)
        entries = Entries(candidate, truth, allowed, judged, exempt)
        return rows, ranked[0], agreement, entries

    def _judged_by(self, quantity, truths, ranked, judge, noise, leaves, scales, kinks):
        """Per entry, the value of the truth ranked ``judge`` there and the allowed
        |candidate − truth| (module docstring). At ``kinks`` the truths may each take a
        side, so their spread is no sign of rounding there."""
        pick = np.maximum(judge, 0)

        def chosen(part):
            return np.choose(pick, [getattr(truths[name], part) for name in ranked])
        value = chosen("value")
        scale = self._scale(np.where(judge >= 0, value, 0.0), leaves, scales)
        judge_tolerance = np.choose(pick, [tolerance(name, quantity, self.dtype)
                                           for name in ranked])
        if self.rtol is not None or self.atol is not None:
            rtol = judge_tolerance + tolerance("ad", quantity, self.candidate_dtype) \
                if self.rtol is None else self.rtol
            return value, (self.atol or 0.0) + rtol * scale
        rtol = tolerance("ad", quantity, self.candidate_dtype) + judge_tolerance
        spread = np.where(kinks, 0.0, self._spread(truths, ranked, pick, value))
        estimate = np.nan_to_num(chosen("estimate"), nan=0.0)
        return value, rtol * scale + ESTIMATE_SAFETY * (estimate + spread + noise)

    def _spread(self, truths, ranked, pick, value):
        """How far the other exact truths lie from the judge beyond their own estimates."""
        spread = np.zeros(value.shape)
        for rank, name in enumerate(ranked):
            truth = truths[name]
            if name not in EXACT:
                continue
            beyond = np.abs(truth.value - value) - ESTIMATE_SAFETY * truth.estimate
            usable = (pick != rank) & ~truth.unreliable & np.isfinite(beyond)
            spread = np.where(usable, np.maximum(spread, beyond), spread)
        return spread

    def _note_spread(self, truths, ranked, judged, scale):
        exact = [name for name in ranked if name in EXACT]
        if len(exact) < 2:
            return
        a, b = (truths[name] for name in exact[:2])
        both = ~a.unreliable & ~b.unreliable & judged
        apart = np.abs(a.value - b.value)[both] / scale[both]
        if apart.size and np.max(apart) > 1e-10:
            self.notes.append(f"{exact[0]} and {exact[1]} disagree by up to {np.max(apart):.1e} "
                              "relative (rounding in f's arithmetic, e.g. a sum that cancels "
                              "near a minimum); the tolerance includes it")

    def _scale(self, value, leaves, scales):
        """max(|truth|, the leaf's largest |truth|) per entry (fast mode: the projection's
        ‖terms‖), 1 where that is 0."""
        scale = np.abs(value)
        for _, _, a, b in leaves:
            leaf = scales[:, a:b] if scales is not None else np.max(scale[:, a:b], initial=0.0)
            scale[:, a:b] = np.maximum(scale[:, a:b], leaf)
        return np.where(scale > 0, scale, 1.0)

    def _leafwise(self, noise, leaves):
        """The largest noise of each leaf, for every entry of that leaf."""
        out = np.zeros(noise.shape)
        for _, _, a, b in leaves:
            out[:, a:b] = np.max(noise[:, a:b], initial=0.0)
        return out


def _at_kinks(candidate, truth, allowed, kinks):
    """At a kink any value between the one-sided derivatives (± J/10) is right: such entries
    are exempt; the others are judged against the nearer end, with that slack allowed."""
    # a kink whose one-sided derivatives are unknown admits any value
    low = np.where(np.isnan(kinks.low), -np.inf, np.fmin(kinks.low, kinks.high))
    high = np.where(np.isnan(kinks.high), np.inf, np.fmax(kinks.low, kinks.high))
    slack = HULL_SLACK * np.where(np.isfinite(high - low), high - low, 0.0)
    inside = kinks.at & (candidate >= low - slack) & (candidate <= high + slack)
    outside = kinks.at & ~inside
    nearest = np.clip(candidate, low, high)
    truth = np.where(outside, np.where(np.isfinite(nearest), nearest, truth), truth)
    allowed = np.where(outside, allowed + slack, allowed)
    return truth, allowed, inside


def _probe(G, theta, j, center, dtype):
    """(at, low, high) per output of G: does the slope of G along coordinate j jump at θ?

    At steps h halved from the stencil's, E(h) = |2S(h) − S(2h)|, with S(h) = (G(θ + he) −
    2G(θ) + G(θ − he))/h the forward slope minus the backward one, is the jump J at a kink at
    θ, exactly (the curvature term cancels), at every h; it vanishes once h passes below the
    distance to a kink near θ, and shrinks like h³ where G is smooth. So: a kink at θ where
    E stays within STABLE over the last STABLE_RUNGS resolved steps and stops being resolved
    only because round-off, ε(|G₊| + 2|G₀| + |G₋|)/h, grew to it (or the steps ran out).
    low/high are the extrapolated one-sided slopes at the widest step of that run.
    """
    eps = float(np.finfo(dtype).eps)
    h = PROBE_START * eps ** (1 / 3) * max(abs(float(theta[j])), 1.0)
    floor = PROBE_FLOOR * eps * abs(float(theta[j]))
    cache = {}

    def at(offset):
        if offset not in cache:
            point = theta.copy()
            point[j] = theta[j] + offset
            with np.errstate(all="ignore"):
                cache[offset] = np.asarray(G(point), dtype=float).reshape(-1)
        return cache[offset]

    jumps, roundoffs, sides = [], [], []
    quiet = np.zeros(center.size, int)
    seen = np.zeros(center.size, bool)
    for _ in range(PROBE_RUNGS):
        h /= 2
        if h <= floor or theta[j] + h == theta[j]:
            break
        up, down, up2, down2 = at(h), at(-h), at(2 * h), at(-2 * h)
        right = 2 * (up - center) / h - (up2 - center) / (2 * h)
        left = 2 * (center - down) / h - (center - down2) / (2 * h)
        roundoff = eps * (np.abs(up) + 2 * np.abs(center) + np.abs(down)) / h
        jump = np.abs(right - left)
        jumps.append(jump)
        roundoffs.append(3 * roundoff)
        sides.append((left, right))
        resolved = np.isfinite(jump) & (jump >= RESOLVED * 3 * roundoff)
        seen |= resolved
        quiet = np.where(resolved, 0, quiet + 1)
        if np.all(seen & (quiet > 0) | (quiet > 2 * STABLE_RUNGS)):
            break
    return _confirmed(np.array(jumps), np.array(roundoffs), sides, center.size)


def _confirmed(jumps, roundoffs, sides, size):
    """The probe's decision per output (see ``_probe``)."""
    at = np.zeros(size, bool)
    low, high = np.full(size, np.nan), np.full(size, np.nan)
    if not len(jumps):
        return at, low, high
    resolved = np.isfinite(jumps) & (jumps >= RESOLVED * roundoffs)
    for i in range(size):
        rungs = np.flatnonzero(resolved[:, i])
        if rungs.size < STABLE_RUNGS:
            continue
        last = rungs[-1]
        run = jumps[last - STABLE_RUNGS + 1:last + 1, i]
        if last < STABLE_RUNGS - 1 or not np.all(resolved[last - STABLE_RUNGS + 1:last + 1, i]):
            continue
        stable = np.max(run) <= STABLE * np.min(run)
        # the next step lost it to round-off (or there was none), not to the jump vanishing
        reached = last + 1 == len(jumps) or roundoffs[last + 1, i] * RESOLVED * STABLE \
            >= jumps[last, i]
        if stable and reached:
            at[i] = True
            # the widest step of the run: its one-sided slopes carry the least round-off
            left, right = sides[last - STABLE_RUNGS + 1]
            low[i], high[i] = min(left[i], right[i]), max(left[i], right[i])
    return at, low, high


def _check_options(mode, order, grad, rtol, atol, seed):
    if mode not in ("full", "fast"):
        raise GradcheckOptionError(f"gradcheck: mode must be 'full' or 'fast', got {mode!r}")
    if order not in (1, 2) or isinstance(order, bool):
        raise GradcheckOptionError(f"gradcheck: order must be 1 or 2, got {order!r}")
    if order == 2 and grad is not None:
        raise GradcheckOptionError("gradcheck: order=2 checks AD's second derivatives of a "
                                   "dnp function; a hand-written grad is checked at order 1")
    if grad is not None and not callable(grad):
        raise GradcheckOptionError(f"gradcheck: grad must be a function of params, got "
                                   f"{type(grad).__name__}")
    for name, value in (("rtol", rtol), ("atol", atol)):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise GradcheckOptionError(f"gradcheck: {name} must be a real number ≥ 0 (or None "
                                       f"for the default), got {type(value).__name__} {value!r}")
        if not np.isfinite(value) or value < 0:
            raise GradcheckOptionError(f"gradcheck: {name}={value!r} is not a tolerance; pass "
                                       "a finite number ≥ 0, or None for the default")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
        raise GradcheckOptionError(f"gradcheck: seed must be an integer, got {seed!r}")


def _check_point(theta):
    if theta.size == 0:
        raise DiffLabError("gradcheck: params has no entries to check")
    if theta.dtype.kind != "f":
        raise DiffLabError(f"gradcheck: params must be real floats, got dtype {theta.dtype}")
    if not np.all(np.isfinite(theta)):
        bad = np.flatnonzero(~np.isfinite(theta))[:10].tolist()
        raise NonFiniteValueError(f"gradcheck: params has non-finite entries at flat "
                                  f"positions {bad}; check at a finite point")


def _output(F, theta):
    with np.errstate(all="ignore"):          # a NaN or inf here gets its own clear error
        out = np.asarray(F(theta))
    if out.dtype.kind not in "iuf":
        raise DiffLabError(f"gradcheck: f must return real numbers, got dtype {out.dtype}")
    if not np.all(np.isfinite(out)):
        raise NonFiniteValueError("gradcheck: f is not finite at params; check at a point "
                                  "where it is")
    return out


def _truth(name, quantity, f, theta, v, estimate):
    # f at the truths' points may leave its domain: the method then raises its own clear
    # NonFiniteValueError, which NumPy's warnings would only pre-empt
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("error", ComplexStepWarning)
        warnings.simplefilter("error", _ComplexWarning)
        measured = differentiator(name).measure(quantity, f, theta, v, estimate=estimate,
                                                sizes=False)
    value = np.asarray(measured.value, dtype=np.float64)
    nothing, zero = np.zeros(value.shape, bool), np.zeros(value.shape)
    unreliable = nothing if measured.kinks is None else np.asarray(measured.kinks, bool)
    if measured.kink_jump is not None:            # its central average straddles a jump
        unreliable = unreliable | (np.asarray(measured.kink_jump) > 0)
    unknown = np.full(value.shape, np.nan)
    return Truth(value, zero if measured.error is None else np.asarray(measured.error, float),
                 unreliable, zero, nothing, unknown, unknown)


def _kinked_truth(name, error, quantity, f, theta, v, notes):
    """The truth a KinkError carries: its values where f is differentiable (``partial``),
    and where it is not, the one-sided derivatives ``left`` and ``right``."""
    kinks = getattr(error, "kinks", None)
    partial = getattr(error, "partial", None)
    if kinks is None or partial is None:
        notes.append(f"{name} skipped: KinkError: {error}")
        return None
    value = np.asarray(partial, dtype=np.float64)
    at = np.asarray(kinks, bool).reshape(value.shape)
    left = np.asarray(getattr(error, "left", np.full(value.shape, np.nan)), float)
    right = np.asarray(getattr(error, "right", np.full(value.shape, np.nan)), float)
    left, right = left.reshape(value.shape), right.reshape(value.shape)
    zero = np.zeros(value.shape)
    return Truth(np.where(at, np.nan, value), zero, at | ~np.isfinite(value), zero, at,
                 np.where(at, np.fmin(left, right), np.nan),
                 np.where(at, np.fmax(left, right), np.nan))


def _fields(truth):
    return (truth.value, truth.estimate, truth.unreliable, truth.noise, truth.at_kink,
            truth.low, truth.high)


def _stretched(f, theta, c):
    """t ↦ f(θ + c·(t − θ))/c: the same derivative at θ, reached by a step c times larger."""
    def stretched(t):
        return f(theta + c * (t - theta)) / c
    return stretched


def _weighted(F, w):
    if w is None:
        return F

    def scalarized(t):
        return dnp.sum(dnp.multiply(F(t), w))
    return scalarized



def _row(path, shape, quantity, candidate, truth, allowed, scale, judged, kinks, broken,
         projected):
    entries = candidate.size
    if broken:
        return LeafCheck(path, shape, quantity, "shape", float("nan"), float("nan"),
                         entries=entries, failures=entries, message=broken)
    difference = np.abs(candidate - truth)
    bad = judged & ~(difference <= allowed)              # NaN in your gradient is a failure
    status = "FAIL" if bad.any() else ("pass" if judged.any() else "inconclusive")
    row = LeafCheck(path, shape, quantity, status, kinks=int(kinks.sum()),
                    unjudged=int((~judged & ~kinks).sum()), failures=int(bad.sum()),
                    entries=entries)
    if not judged.any():
        return row
    ratio = np.where(np.isnan(difference), np.inf, difference / np.maximum(allowed, 1e-300))
    worst = np.unravel_index(int(np.argmax(np.where(judged, ratio, -1.0))), ratio.shape)
    row.max_abs = float(np.max(np.where(judged, difference, 0.0)))
    row.max_rel = float(np.max(np.where(judged, difference / scale, 0.0)))
    row.worst = _index_name(worst, shape, candidate.shape[0], quantity, projected)
    row.candidate, row.truth = float(candidate[worst]), float(truth[worst])
    row.difference, row.allowed = float(difference[worst]), float(allowed[worst])
    row.ratio = float("nan") if np.isnan(difference[worst]) else float(ratio[worst])
    return row


def _index_name(worst, shape, rows, quantity, projected):
    row, column = worst
    if projected:
        return f"direction {row}"
    index = np.unravel_index(column, shape) if shape else ()
    where = "[" + ", ".join(str(int(i)) for i in index) + "]"
    if quantity == "hvp":
        return f"{where} along v{row}"
    return f"output {row}, {where}" if rows > 1 else where


def format_result(result):
    """A short table: one row per leaf, then the worst mismatches and the notes.

    Every number shown is the verdict's own: |yours − truth|, the difference allowed there,
    and their ratio (≤ 1 passes)."""
    status = result.status
    if status == "failed":
        verdict = "FAILED: " + ", ".join(dict.fromkeys(row.path for row in result.failures))
    elif status == "inconclusive":
        verdict = "INCONCLUSIVE: nothing could be judged for " + ", ".join(
            dict.fromkeys(row.path for row in result.rows if row.status == "inconclusive"))
    else:
        verdict = "passed"
    judges = ", ".join(f"{q} against {j}" for q, j in result.judge.items())
    lines = [f"gradcheck ({result.candidate}; {judges}; {result.dtype}, {result.mode} mode) "
             f"{verdict}"]
    yours = "yours" if result.candidate == HAND else "ad"
    header = ("parameter", "shape", "quantity", "worst", yours, "truth", "|diff|", "allowed",
              "diff/allowed", "status")
    table = [header] + [_cells(row) for row in result.rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    lines += ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in table]
    failed = sorted(result.failures, key=lambda row: -np.nan_to_num(row.ratio, nan=np.inf))
    if failed:
        lines.append("worst mismatches:")
        for row in failed[:SHOWN]:
            lines.append(f"  {row.path} {row.quantity}: " + (row.message or
                         f"{row.failures} of {row.entries} entries out of tolerance; at "
                         f"{row.worst} {yours} {row.candidate:.10g}, truth {row.truth:.10g}, "
                         f"|diff| {_number(row.difference)} > allowed {_number(row.allowed)}"))
    if status == "inconclusive":
        lines.append("inconclusive: a leaf with every entry at a kink (or without a reliable "
                     "truth) is not vouched for; check at a point off the kink"
                     + (" or in full mode (a projection meets a kink if any entry of its leaf "
                        "sits on one)" if result.mode == "fast" else ""))
    agreement = ", ".join(f"{name} {'-' if value is None else _number(value)}"
                          for name, value in result.agreement.items())
    lines.append(f"largest |diff|/allowed against each truth (≤ 1 passes; the verdict uses the "
                 f"judge's): {agreement}")
    lines += [f"note: {note}" for note in result.notes]
    return "\n".join(lines) + "\n"


def _number(value):
    return "nan" if np.isnan(value) else f"{value:.1e}"


def _cells(row):
    if row.status == "shape":
        return (row.path, str(row.shape), row.quantity, "-", "-", "-", "-", "-", "-", "SHAPE")
    unjudged = [f"{row.kinks} at a kink"] if row.kinks else []
    unjudged += [f"{row.unjudged} without a reliable truth"] if row.unjudged else []
    status = row.status + (f" ({', '.join(unjudged)}, not judged)" if unjudged else "")
    if row.worst == "-":
        return (row.path, str(row.shape), row.quantity, "-", "-", "-", "-", "-", "-", status)
    return (row.path, str(row.shape), row.quantity, row.worst, f"{row.candidate:.6g}",
            f"{row.truth:.6g}", _number(row.difference), _number(row.allowed),
            _number(row.ratio), status)
