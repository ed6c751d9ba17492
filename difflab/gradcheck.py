"""Gradient checking: a gradient you trust against derivatives computed another way, leaf by leaf.

``gradcheck(f, params, grad=None)`` checks a *candidate* against *truths*:

- the candidate is difflab's AD of ``f`` (written with ``difflab.numpy``), or your own
  ``grad(params)`` (hand-written backprop, any NumPy code), which must return a pytree
  shaped like ``params``;
- the truths are differentiators of the shared interface (finite differences, the complex
  step, the mpmath reference), each run on ``f`` alone.

The verdict comes from the most precise truth that ran (the *judge*: the smallest entry of
the tolerance table). An entry passes when

    |candidate − truth| ≤ atol + rtol·max(|truth|, ‖truth of its leaf‖∞) + 10·(judge's estimate)

- rtol = the candidate's tolerance + the judge's (``interface.tolerance``, for the dtypes
  they were computed in);
- atol = the candidate's tolerance × max(‖truth‖∞, |f|/max(1, ‖θ‖∞)): rounding noise around
  exact zeros, e.g. a gradient checked at a minimum, where it is all rounding;
- the judge's own per-entry error estimate (numeric methods) counts ten times, as it is an
  estimate.

An ``rtol`` or ``atol`` you pass replaces its default, and then the estimate term is dropped.

Kinks. An entry is exempt (reported as "at a kink", not judged) when no value there can be
called the truth: where the judge cannot be trusted (a finite difference whose stencil meets
a kink; for H·v, where the reference and the differences of gradients disagree, as they do
when the gradient itself jumps), and where central differences find a jump J in slope at θ
itself (relu at 0) and the candidate lies within 2|J| of the judge, as it does when each
takes one side or the average. A candidate farther off is judged: the complex step and the
reference, whose steps lie far below any scale of f, are exact everywhere but at θ's kink.

``mode="fast"`` replaces full derivatives by random projections wᵀJu (per leaf, u supported
on that leaf, a fixed seed): each truth is then the derivative of s ↦ wᵀf(θ + s·u), a few
evaluations of f instead of O(n). ``order=2`` also checks AD's Hessian-vector products against
central differences of AD gradients and the reference; where those two disagree with each
other the Hessian does not exist (a kink in the gradient) and the entry is exempt.
"""

import warnings
from dataclasses import dataclass, field

import numpy as np

from . import numeric
from . import numpy as dnp
from .errors import ComplexStepWarning, DiffLabError, DiffLabWarning, NonFiniteValueError
from .interface import differentiator, tolerance
from .progress import Progress
from .pytree import ravel, tree_flatten, tree_leaves, tree_map, tree_paths

DEFAULT_TRUTHS_AD = ("fd-central", "complex-step", "reference")
DEFAULT_TRUTHS_HAND = ("fd-central", "fd-richardson", "complex-step")
# The reference evaluates f in 50-digit mpmath, about a thousand times slower than float64,
# and its HVP takes many such evaluations per entry: by default it runs only up to these
# parameter counts (name it in methods to run it anyway).
REFERENCE_LIMIT = {"full": 100, "fast": 300, "hvp": 30}
FINITE_DIFFERENCES = ("fd-forward", "fd-central", "fd-central4", "fd-richardson")
ESTIMATE_SAFETY = 10
DIRECTIONS = 3
SHOWN = 5
HAND = "your grad"
# Central differences of AD gradients along v: a central difference of a gradient exact to
# rounding, the error theory of the complex step's HVP (O(h²) + ε/h at h ≈ ε^(1/3)).
DIFFERENCES = "ad-differences"
DIFFERENCES_TOLERANCE_AS = "complex-step"

_ComplexWarning = getattr(getattr(np, "exceptions", np), "ComplexWarning")


class PrecisionWarning(DiffLabWarning):
    """Checking in float32: the tolerances are loose enough to hide real errors."""


@dataclass
class LeafCheck:
    """One parameter (leaf) of one quantity: its worst entry and its verdict.

    ``status`` is "pass", "FAIL" (entries out of tolerance) or "shape" (your grad returned
    the wrong shape for this leaf); ``kinks`` counts entries left unjudged at a kink (see the
    module docstring). ``max_rel`` is relative to max(|truth|, the leaf's largest |truth|).
    ``worst`` names the worst judged entry: an index into the leaf, with the output row for a
    Jacobian, or a direction in fast mode and for HVPs ("-" if none was judged).
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
    kinks: int = 0
    failures: int = 0
    entries: int = 0
    message: str = ""


@dataclass
class GradcheckResult:
    """What ``gradcheck`` found: one ``LeafCheck`` per leaf and quantity, and the verdict."""

    rows: list
    candidate: str
    judge: dict
    agreement: dict
    notes: list = field(default_factory=list)
    dtype: str = "float64"
    mode: str = "full"
    order: int = 1

    @property
    def passed(self):
        return all(row.status == "pass" for row in self.rows)

    @property
    def failures(self):
        return [row for row in self.rows if row.status != "pass"]

    def __bool__(self):
        return self.passed

    def __str__(self):
        return format_result(self)


@dataclass
class Truth:
    """One truth's values on the candidate's grid, its error estimate and the exempt entries."""

    value: np.ndarray
    estimate: np.ndarray
    kinks: np.ndarray    # its value is unreliable there: its stencil meets a kink
    jump: np.ndarray     # the jump in slope where θ itself holds a kink, else 0


def gradcheck(f, params, grad=None, *, methods=None, rtol=None, atol=None, seed=0,
              mode="full", order=1):
    """Check the gradient of ``f`` at ``params`` (a pytree) leaf by leaf; a GradcheckResult.

    ``f(params)`` returns a scalar (a Jacobian is checked when it returns an array and no
    ``grad`` is given). ``methods`` are the truths (names of ``difflab.differentiators()``);
    by default central differences, the complex step and the reference for AD, central
    differences, Richardson and the complex step for your ``grad``. A truth that cannot run
    on ``f`` (the complex step through a non-analytic operation, the reference on plain
    NumPy) is skipped with a note.
    """
    check = _Check(f, params, grad, methods, rtol, atol, seed, mode, order)
    return check.run()


class _Check:
    """One gradcheck: the flat problem, the tolerances' inputs and the notes it collects."""

    def __init__(self, f, params, grad, methods, rtol, atol, seed, mode, order):
        _check_options(mode, order, grad)
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
        with Progress(steps, "gradcheck") as bar:
            broken = {}
            if self.grad is not None:
                candidate, broken = self._hand_gradient()
            elif self.mode == "fast" and not self.scalar:
                candidate = None                       # wᵀJ per projection, in _fast
            else:
                candidate = self._ad_derivative(self.F)
            first = self._full if self.mode == "full" else self._fast
            rows, judge, agreement = first(candidate, quantity, broken, bar)
            judges = {quantity: judge}
            if self.order == 2:
                more, judges["hvp"], hvp_agreement = self._second_order(bar)
                rows += more
                agreement.update({f"{k} (hvp)": v for k, v in hvp_agreement.items()})
        return GradcheckResult(rows, HAND if self.grad is not None else "ad", judges,
                               agreement, self.notes, np.dtype(self.dtype).name, self.mode,
                               self.order)

    # Inputs.

    def _float_leaves(self, params):
        """Every leaf as an array of one float dtype, so the steps of θ reach f unrounded
        (``unravel`` casts each leaf back to its own dtype)."""
        leaves = [np.asarray(leaf) for leaf in tree_leaves(params)]
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
                raise DiffLabError("gradcheck: methods is empty; name at least one truth")
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
            return _truth(name, quantity, f, theta, v, estimate=True)
        except NonFiniteValueError as error:
            if name != "complex-step":
                self.notes.append(f"{name} skipped: {error}")
                return None
            # the complex step's cross-check by central differences left f's domain
            self.notes.append(f"complex-step used without its analyticity cross-check, which "
                              f"could not run: {error}")
        except (DiffLabError, ComplexStepWarning, _ComplexWarning, TypeError,
                AttributeError) as error:
            self.notes.append(f"{name} skipped: {type(error).__name__}: {error}")
            return None
        try:
            return _truth(name, quantity, f, theta, v, estimate=False)
        except (DiffLabError, _ComplexWarning, TypeError, AttributeError) as error:
            self.notes.append(f"{name} skipped: {type(error).__name__}: {error}")
            return None

    def _full(self, candidate, quantity, broken, bar):
        truths = {}
        for name in self.names:
            truth = self._measure(name, quantity, self.F, self.theta)
            bar.advance()
            if truth is not None:
                truths[name] = _reshaped(truth, candidate.shape)
        return self._verdict(quantity, candidate, truths, self.leaves, broken)

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
        parts = {name: [np.zeros(shape), np.zeros(shape), np.zeros(shape, bool),
                        np.zeros(shape)] for name in self.names}
        for j, (_, _, start, stop) in enumerate(self.leaves):
            for k, w in enumerate(weights):
                u = np.zeros(self.theta.size)
                u[start:stop] = self.rng.normal(size=stop - start)
                u /= np.max(np.abs(u))
                terms = candidate[k, start:stop] * u[start:stop]
                projected[k, j], scales[k, j] = np.sum(terms), np.linalg.norm(terms)

                def along(s, u=u, w=w):
                    return _weighted(self.F, w)(self.theta + s[0] * u)
                for name in list(parts):
                    truth = self._measure(name, "gradient", along,
                                          np.zeros(1, dtype=self.theta.dtype))
                    bar.advance()
                    if truth is None:
                        del parts[name]
                        continue
                    for part, value in zip(parts[name], (truth.value, truth.estimate,
                                                         truth.kinks, truth.jump)):
                        part[k, j] = np.asarray(value).reshape(-1)[0]
        truths = {name: Truth(*values) for name, values in parts.items()}
        per_leaf = [(path, shape, j, j + 1) for j, (path, shape, _, _) in enumerate(self.leaves)]
        return self._verdict(quantity, projected, truths, per_leaf, broken, scales=scales,
                             projected=True)

    def _second_order(self, bar):
        """AD's H·v along random v against central differences of AD gradients and the
        reference; an entry where those two disagree has no Hessian (a kink) and is exempt."""
        ad = differentiator("ad")
        directions = [v / np.max(np.abs(v)) for v in
                      (self.rng.normal(size=self.theta.size) for _ in range(DIRECTIONS))]
        candidate = np.stack([ad.hvp(self.F, self.theta, v) for v in directions])
        differences = [numeric.hvp(self.F, self.theta, v,
                                   gradient_fn=lambda t: ad.gradient(self.F, t))
                       for v in directions]
        none, zero = np.zeros(candidate.shape, dtype=bool), np.zeros(candidate.shape)
        truths = {DIFFERENCES: Truth(*(np.stack([getattr(d, part) for d in differences])
                                       for part in ("value", "error")), none,
                                     np.stack([d.kink_jump for d in differences]))}
        wanted = "reference" in self.names and self.theta.size <= REFERENCE_LIMIT["hvp"]
        if "reference" in self.names and not wanted:
            self.notes.append(f"reference HVPs skipped: {self.theta.size} parameters > "
                              f"{REFERENCE_LIMIT['hvp']}")
        if wanted:
            rows = [self._measure("reference", "hvp", self.F, self.theta, v) for v in directions]
            if all(row is not None for row in rows):
                reference = np.stack([row.value for row in rows])
                split = self._disagree(reference, truths[DIFFERENCES])
                truths["reference"] = Truth(reference, zero, split, zero)
        bar.advance(DIRECTIONS)
        return self._verdict("hvp", candidate, truths, self.leaves, {})

    def _disagree(self, reference, differences):
        """Entries where the reference and the differences of gradients differ beyond both
        tolerances and the estimate: the gradient jumps along v, H·v does not exist."""
        scale = np.max(np.abs(reference), axis=1, keepdims=True)
        allowed = (_tolerance(DIFFERENCES, "hvp", self.dtype) * np.maximum(np.abs(reference), scale)
                   + ESTIMATE_SAFETY * differences.estimate)
        return np.abs(reference - differences.value) > allowed

    # Verdict.

    def _verdict(self, quantity, candidate, truths, leaves, broken, scales=None,
                 projected=False):
        """Rows per leaf against the judge, and each truth's largest relative difference."""
        if not truths:
            raise DiffLabError(f"gradcheck: no truth could compute the {quantity} of f; "
                               + "; ".join(self.notes) + ". Name methods that can run on it")
        judge = min(truths, key=lambda name: (_tolerance(name, quantity, self.dtype),
                                              name != "reference"))
        jump = np.max([t.jump for t in truths.values()], axis=0)
        exempt = truths[judge].kinks | (
            (jump > 0) & (np.abs(candidate - truths[judge].value) <= 2 * jump))
        agreement, rows = {}, []
        for name, truth in truths.items():
            allowed, scale = self._allowed(quantity, name, truth, exempt, leaves, scales)
            difference = np.abs(candidate - truth.value)
            judged = np.isfinite(difference) & ~exempt
            agreement[name] = float(np.max(difference[judged] / scale[judged], initial=0.0))
            if name == judge:
                rows = [_row(path, shape, quantity, candidate[:, a:b], truth.value[:, a:b],
                             allowed[:, a:b], scale[:, a:b], exempt[:, a:b], broken.get(path),
                             projected)
                        for path, shape, a, b in leaves]
        return rows, judge, agreement

    def _allowed(self, quantity, name, truth, exempt, leaves, scales):
        """The allowed |candidate − truth| per entry (module docstring) and the scale that
        relative errors are taken against."""
        value = np.where(exempt, 0.0, truth.value)
        scale = np.abs(value)
        for _, _, a, b in leaves:
            leaf = scales[:, a:b] if scales is not None else np.max(scale[:, a:b], initial=0.0)
            scale[:, a:b] = np.maximum(scale[:, a:b], leaf)
        scale = np.where(scale > 0, scale, 1.0)
        own = tolerance("ad", quantity, self.candidate_dtype)
        rtol = own + _tolerance(name, quantity, self.dtype) if self.rtol is None else self.rtol
        if self.rtol is None and self.atol is None:
            size = max(np.max(np.abs(value), initial=0.0),
                       float(np.max(np.abs(self.value))) / max(1.0, np.max(np.abs(self.theta))))
            return own * size + rtol * scale + ESTIMATE_SAFETY * truth.estimate, scale
        return (0.0 if self.atol is None else self.atol) + rtol * scale, scale


def _check_options(mode, order, grad):
    if mode not in ("full", "fast"):
        raise DiffLabError(f"gradcheck: mode must be 'full' or 'fast', got {mode!r}")
    if order not in (1, 2):
        raise DiffLabError(f"gradcheck: order must be 1 or 2, got {order!r}")
    if order == 2 and grad is not None:
        raise DiffLabError("gradcheck: order=2 checks AD's second derivatives of a dnp "
                           "function; a hand-written grad is checked at order 1")
    if grad is not None and not callable(grad):
        raise DiffLabError(f"gradcheck: grad must be a function of params, got "
                           f"{type(grad).__name__}")


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
        value, cost = differentiator(name).measure(quantity, f, theta, v, estimate=estimate,
                                                   sizes=False)
    value = np.asarray(value, dtype=np.float64)
    zero = np.zeros(value.shape)
    return Truth(value, zero if cost.error is None else cost.error,
                 zero.astype(bool) if cost.kinks is None else cost.kinks,
                 zero if cost.kink_jump is None else cost.kink_jump)


def _reshaped(truth, shape):
    return Truth(*(np.asarray(part).reshape(shape) for part in
                   (truth.value, truth.estimate, truth.kinks, truth.jump)))


def _weighted(F, w):
    if w is None:
        return F

    def scalarized(t):
        return dnp.sum(dnp.multiply(F(t), w))
    return scalarized


def _tolerance(name, quantity, dtype):
    return tolerance(DIFFERENCES_TOLERANCE_AS if name == DIFFERENCES else name, quantity, dtype)


def _row(path, shape, quantity, candidate, truth, allowed, scale, exempt, broken, projected):
    entries = candidate.size
    if broken:
        return LeafCheck(path, shape, quantity, "shape", float("nan"), float("nan"),
                         entries=entries, failures=entries, message=broken)
    difference = np.abs(candidate - truth)
    bad = ~(difference <= allowed) & ~exempt             # NaN in your gradient is a failure
    row = LeafCheck(path, shape, quantity, "FAIL" if bad.any() else "pass",
                    kinks=int(exempt.sum()), failures=int(bad.sum()), entries=entries)
    if exempt.all():
        return row
    excess = np.where(np.isnan(difference), np.inf, difference / np.maximum(allowed, 1e-300))
    worst = np.unravel_index(int(np.argmax(np.where(exempt, -1.0, excess))), excess.shape)
    row.max_abs = float(np.max(np.where(exempt, 0.0, difference)))
    row.max_rel = float(np.max(np.where(exempt, 0.0, difference / scale)))
    row.worst = _index_name(worst, shape, candidate.shape[0], quantity, projected)
    row.candidate, row.truth = float(candidate[worst]), float(truth[worst])
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
    """A short table: one row per leaf, then the worst mismatches and the notes."""
    verdict = "passed" if result.passed else \
        "FAILED: " + ", ".join(dict.fromkeys(row.path for row in result.failures))
    judges = ", ".join(f"{q} against {j}" for q, j in result.judge.items())
    lines = [f"gradcheck ({result.candidate}; {judges}; {result.dtype}, {result.mode} mode) "
             f"{verdict}"]
    yours = "yours" if result.candidate == HAND else "ad"
    header = ("parameter", "shape", "quantity", "max abs", "max rel", "worst", yours, "truth",
              "status")
    table = [header] + [_cells(row) for row in result.rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    lines += ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in table]
    failed = sorted(result.failures, key=lambda row: -np.nan_to_num(row.max_rel, nan=np.inf))
    if failed:
        lines.append("worst mismatches:")
        for row in failed[:SHOWN]:
            lines.append(f"  {row.path} {row.quantity}: " + (row.message or
                         f"{row.failures} of {row.entries} entries out of tolerance; at "
                         f"{row.worst} {yours} {row.candidate:.10g}, truth {row.truth:.10g}"))
    agreement = ", ".join(f"{name} {value:.1e}" for name, value in result.agreement.items())
    lines.append(f"largest relative difference from each truth: {agreement}")
    lines += [f"note: {note}" for note in result.notes]
    return "\n".join(lines) + "\n"


def _cells(row):
    if row.status == "shape":
        return (row.path, str(row.shape), row.quantity, "-", "-", "-", "-", "-", "SHAPE")
    status = row.status + (f" ({row.kinks} at a kink, not judged)" if row.kinks else "")
    if row.worst == "-":
        return (row.path, str(row.shape), row.quantity, "-", "-", "-", "-", "-", status)
    return (row.path, str(row.shape), row.quantity, f"{row.max_abs:.1e}", f"{row.max_rel:.1e}",
            row.worst, f"{row.candidate:.6g}", f"{row.truth:.6g}", status)
