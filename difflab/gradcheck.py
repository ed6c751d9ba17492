"""Gradient checking: a gradient you trust against derivatives computed another way, leaf by leaf.

``gradcheck(f, params, grad=None)`` checks a *candidate* against *truths*:

- the candidate is difflab's AD of ``f`` (written with ``difflab.numpy``), or your own
  ``grad(params)`` (hand-written backprop, any NumPy code), which must return a pytree
  shaped like ``params``;
- the truths are differentiators of the shared interface (finite differences, the complex
  step, the mpmath reference), each run on ``f`` alone.

The verdict comes from the most precise truth that ran (the *judge*: the smallest entry of
the tolerance table). An entry passes when

    |candidate − truth| ≤ atol + rtol·max(|truth|, ‖truth of its leaf‖∞) + 10·(judge's estimate),

with rtol = the candidate's tolerance + the judge's (``interface.tolerance``), atol = the
candidate's tolerance × ‖truth‖∞ (rounding noise around exact zeros), and the judge's own
per-entry error estimate (numeric methods), counted ten times because it is an estimate. An
``rtol`` or ``atol`` you pass replaces the default and drops the estimate term. Entries whose
finite-difference stencil straddles a kink (relu at 0, …) are reported as kinks, not failures.

``mode="fast"`` replaces full derivatives by random projections wᵀJu (per leaf, with u
supported on that leaf, a fixed seed): each truth is then the derivative of the one-variable
function s ↦ wᵀf(θ + s·u), a few evaluations of f instead of O(n). ``order=2`` also checks
AD's Hessian-vector products against central differences of AD gradients (and the reference).
"""

import warnings
from dataclasses import dataclass, field

import numpy as np

from . import numeric
from . import numpy as dnp
from .errors import ComplexStepWarning, DiffLabError, DiffLabWarning, NonFiniteValueError
from .interface import differentiator, tolerance
from .progress import Progress
from .pytree import ravel, tree_flatten, tree_leaves, tree_paths

DEFAULT_TRUTHS_AD = ("fd-central", "complex-step", "reference")
DEFAULT_TRUTHS_HAND = ("fd-central", "fd-richardson", "complex-step")
# The reference evaluates f in 50-digit mpmath, thousands of times slower than float64: by
# default it runs only up to this many parameters, in full mode (2n evaluations) and in
# fast mode (two per projection, but each costs as much as the model is large).
REFERENCE_LIMIT = {"full": 200, "fast": 2000}
ESTIMATE_SAFETY = 10
DIRECTIONS = 3
SHOWN = 5
HAND = "your grad"

_ComplexWarning = getattr(getattr(np, "exceptions", np), "ComplexWarning")


class PrecisionWarning(DiffLabWarning):
    """Checking in float32: the tolerances are loose enough to hide real errors."""


@dataclass
class LeafCheck:
    """One parameter (leaf) of one quantity: its worst entry and its verdict.

    ``status`` is "pass", "FAIL" (entries out of tolerance) or "shape" (your grad returned
    the wrong shape for this leaf); ``kinks`` counts entries left unjudged because a
    finite-difference stencil straddles a kink there (relu at 0). ``worst`` names the
    worst entry: an index into the leaf, with the output row for a Jacobian, or a direction
    in fast mode and for HVPs.
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
    theta, unravel = ravel(params)
    _check_arguments(theta, mode, order, grad)
    paths, shapes = tree_paths(params), [np.shape(leaf) for leaf in tree_leaves(params)]
    dtype = np.float32 if theta.dtype == np.float32 else np.float64
    notes = []
    if dtype == np.float32:
        warnings.warn(PrecisionWarning(
            "gradcheck in float32: rounding alone reaches 1e-4 relative for finite "
            "differences, which hides real errors; pass params as float64 to check the "
            "derivation, then float32 only for precision"), stacklevel=2)

    def F(t):
        return f(unravel(t))

    out = _output(F, theta)
    scalar = out.size == 1
    if grad is not None and not scalar:
        raise DiffLabError(f"gradcheck: grad= checks the gradient of a scalar f, but f returns "
                           f"shape {out.shape}; check a vector-valued f without grad= (AD's "
                           "Jacobian) or reduce it to a scalar")
    if order == 2 and not scalar:
        raise DiffLabError(f"gradcheck: order=2 checks Hessian-vector products of a scalar f, "
                           f"but f returns shape {out.shape}")
    candidate_name = HAND if grad is not None else "ad"
    names = _truth_names(methods, grad, theta.size, mode, notes)
    offsets = np.concatenate([[0], np.cumsum([int(np.prod(s)) for s in shapes])]).astype(int)
    leaves = list(zip(paths, shapes, offsets[:-1], offsets[1:]))
    rng = np.random.default_rng(seed)

    steps = len(names) * (len(leaves) * DIRECTIONS if mode == "fast" else 1)
    steps += DIRECTIONS if order == 2 else 0
    with Progress(steps, "gradcheck") as bar:
        if grad is not None:
            candidate, broken = _hand_gradient(grad, params, theta, paths, shapes)
        elif mode == "fast" and not scalar:
            candidate, broken = None, {}                 # wᵀJ per projection, in _fast
        else:
            candidate, broken = _ad_derivative(F, theta, scalar), {}
        run = _full if mode == "full" else _fast
        rows, judge, agreement = run(F, theta, candidate, scalar, names, leaves, rng, rtol,
                                     atol, dtype, broken, notes, bar)
        judges = {"gradient" if scalar else "jacobian": judge}
        if order == 2:
            hvp_rows, hvp_judge, hvp_agreement = _second_order(
                F, theta, names, leaves, rng, rtol, atol, dtype, notes, bar)
            rows += hvp_rows
            judges["hvp"] = hvp_judge
            agreement.update({f"{k} (hvp)": v for k, v in hvp_agreement.items()})
    return GradcheckResult(rows, candidate_name, judges, agreement, notes,
                           np.dtype(dtype).name, mode, order)


def _check_arguments(theta, mode, order, grad):
    if mode not in ("full", "fast"):
        raise DiffLabError(f"gradcheck: mode must be 'full' or 'fast', got {mode!r}")
    if order not in (1, 2):
        raise DiffLabError(f"gradcheck: order must be 1 or 2, got {order!r}")
    if order == 2 and grad is not None:
        raise DiffLabError("gradcheck: order=2 checks AD's second derivatives of a dnp "
                           "function; a hand-written grad is checked at order 1")
    if theta.size == 0:
        raise DiffLabError("gradcheck: params has no entries to check")
    if theta.dtype.kind != "f":
        raise DiffLabError(f"gradcheck: params must be real floats, got dtype {theta.dtype}")
    if not np.all(np.isfinite(theta)):
        bad = np.flatnonzero(~np.isfinite(theta))[:10].tolist()
        raise NonFiniteValueError(f"gradcheck: params has non-finite entries at flat "
                                  f"positions {bad}; check at a finite point")
    if grad is not None and not callable(grad):
        raise DiffLabError(f"gradcheck: grad must be a function of params, got "
                           f"{type(grad).__name__}")


def _output(F, theta):
    with np.errstate(all="ignore"):          # a NaN or inf here gets its own clear error
        out = np.asarray(F(theta))
    if out.dtype.kind not in "iuf":
        raise DiffLabError(f"gradcheck: f must return real numbers, got dtype {out.dtype}")
    if not np.all(np.isfinite(out)):
        raise NonFiniteValueError("gradcheck: f is not finite at params; check at a point "
                                  "where it is")
    return out


def _truth_names(methods, grad, n, mode, notes):
    if methods is not None:
        names = [methods] if isinstance(methods, str) else list(methods)
        for name in names:
            differentiator(name)
        if not names:
            raise DiffLabError("gradcheck: methods is empty; name at least one truth")
        return names
    if grad is not None:
        return list(DEFAULT_TRUTHS_HAND)
    names = list(DEFAULT_TRUTHS_AD)
    if n > REFERENCE_LIMIT[mode]:
        names.remove("reference")
        notes.append(f"reference skipped: {n} parameters > {REFERENCE_LIMIT[mode]} in {mode} "
                     "mode (name it in methods to run it anyway)")
    return names


def _hand_gradient(grad, params, theta, paths, shapes):
    """Your grad(params) as a flat vector; leaves of the wrong shape are NaN and named."""
    returned = grad(params)
    leaves, treedef = tree_flatten(returned)
    if len(leaves) != len(paths):
        raise DiffLabError(f"gradcheck: grad returned {len(leaves)} leaves but params has "
                           f"{len(paths)} ({', '.join(paths)}); return a pytree shaped like "
                           "params")
    flat, broken = [], {}
    for path, shape, leaf in zip(paths, shapes, leaves):
        leaf = np.asarray(leaf)
        if leaf.dtype.kind not in "iuf":
            raise DiffLabError(f"gradcheck: grad returned dtype {leaf.dtype} for {path}; "
                               "return real arrays")
        if leaf.shape != shape:
            hint = " (transposed: a missing .T?)" if leaf.shape == shape[::-1] else ""
            broken[path] = f"your grad has shape {leaf.shape}, params has {shape}{hint}"
            leaf = np.full(shape, np.nan)
        flat.append(leaf.astype(np.float64).reshape(-1))
    return np.concatenate(flat)[None, :], broken


def _ad_derivative(F, theta, scalar):
    ad = differentiator("ad")
    try:
        value = ad.gradient(F, theta) if scalar else ad.jacobian(F, theta)
    except (DiffLabError, TypeError) as error:
        raise DiffLabError(f"gradcheck: AD could not differentiate f ({error}); write f with "
                           "difflab.numpy (dnp), or pass your own grad=") from error
    return np.asarray(value, dtype=np.float64).reshape(-1, theta.size)


def _measure(name, quantity, f, theta, v, notes):
    """(value, error estimate, kinks) of one truth, or None with a note if it cannot run."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", ComplexStepWarning)
        warnings.simplefilter("error", _ComplexWarning)
        try:
            value, cost = differentiator(name).measure(quantity, f, theta, v, estimate=True)
        except (DiffLabError, ComplexStepWarning, _ComplexWarning, TypeError,
                AttributeError) as error:
            notes.append(f"{name} skipped: {type(error).__name__}: {error}")
            return None
    return value, cost.error, cost.kinks


def _full(F, theta, candidate, scalar, names, leaves, rng, rtol, atol, dtype, broken, notes,
          bar):
    quantity = "gradient" if scalar else "jacobian"
    truths = {}
    for name in names:
        got = _measure(name, quantity, F, theta, None, notes)
        bar.advance()
        if got is not None:
            value, error, kinks = got
            shape = candidate.shape
            truths[name] = (np.asarray(value, dtype=np.float64).reshape(shape),
                            _or_zeros(error, shape), _or_false(kinks, shape))
    return _verdict(quantity, candidate, truths, leaves, rtol, atol, dtype, broken, False)


def _fast(F, theta, candidate, scalar, names, leaves, rng, rtol, atol, dtype, broken, notes,
          bar):
    """Projections wᵀJu, u on one leaf at a time: rows are directions, columns leaves."""
    quantity = "gradient" if scalar else "jacobian"
    out_shape = np.shape(F(theta))
    weights = [np.ones(out_shape) if scalar else rng.normal(size=out_shape)
               for _ in range(DIRECTIONS)]
    if candidate is None:                                  # AD of a vector f: wᵀJ per w
        candidate = np.stack([_ad_derivative(_weighted(F, w), theta, True)[0]
                              for w in weights])
    else:
        candidate = np.repeat(candidate, DIRECTIONS, axis=0)
    projected = np.zeros((DIRECTIONS, len(leaves)))
    scales = np.zeros_like(projected)
    truths = {name: [np.zeros_like(projected) for _ in range(3)] for name in names}
    for j, (path, shape, start, stop) in enumerate(leaves):
        for k, w in enumerate(weights):
            u = np.zeros(theta.size)
            u[start:stop] = rng.normal(size=stop - start)
            u /= np.max(np.abs(u))
            terms = candidate[k, start:stop] * u[start:stop]
            projected[k, j] = np.sum(terms)
            scales[k, j] = np.linalg.norm(terms)

            def along(s, u=u, w=w):
                return _weighted(F, w)(theta + s[0] * u)
            for name in names:
                if name not in truths:
                    continue
                got = _measure(name, "gradient", along, np.zeros(1, dtype=theta.dtype), None,
                               notes)
                bar.advance()
                if got is None:
                    del truths[name]
                    continue
                for part, value in zip(truths[name], got):
                    part[k, j] = 0 if value is None else np.asarray(value).reshape(-1)[0]
    fast_leaves = [(path, shape, j, j + 1) for j, (path, shape, _, _) in enumerate(leaves)]
    truths = {name: (t[0], t[1], t[2].astype(bool)) for name, t in truths.items()}
    return _verdict(quantity, projected, truths, fast_leaves, rtol, atol, dtype, broken, True,
                    scales=scales)


def _weighted(F, w):
    if w is None or np.ndim(w) == 0:
        return F

    def scalarized(t):
        return dnp.sum(dnp.multiply(F(t), w))
    return scalarized


def _second_order(F, theta, names, leaves, rng, rtol, atol, dtype, notes, bar):
    """AD's H·v along random v against central differences of AD gradients (and the reference)."""
    ad = differentiator("ad")
    directions = [rng.normal(size=theta.size) for _ in range(DIRECTIONS)]
    directions = [v / np.max(np.abs(v)) for v in directions]
    candidate = np.stack([ad.hvp(F, theta, v) for v in directions])
    differences = [numeric.hvp(F, theta, v, gradient_fn=lambda t: ad.gradient(F, t))
                   for v in directions]
    truths = {"ad-differences": (np.stack([d.value for d in differences]),
                                 np.stack([d.error for d in differences]),
                                 np.zeros(candidate.shape, dtype=bool))}
    if "reference" in names:
        rows = []
        for v in directions:
            got = _measure("reference", "hvp", F, theta, v, notes)
            if got is None:
                break
            rows.append(np.asarray(got[0], dtype=np.float64))
        if len(rows) == DIRECTIONS:
            truths["reference"] = (np.stack(rows), np.zeros(candidate.shape),
                                   np.zeros(candidate.shape, dtype=bool))
    bar.advance(DIRECTIONS)
    return _verdict("hvp", candidate, truths, leaves, rtol, atol, dtype, {}, False)


def _tolerance(name, quantity, dtype):
    # The differences of AD gradients along v have the complex-step HVP's error theory: a
    # central difference of a gradient exact to rounding, O(h²) + ε/h at h ≈ ε^(1/3).
    return tolerance("complex-step" if name == "ad-differences" else name, quantity, dtype)


def _or_zeros(error, shape):
    return np.zeros(shape) if error is None else np.asarray(error, dtype=np.float64).reshape(shape)


def _or_false(kinks, shape):
    return np.zeros(shape, dtype=bool) if kinks is None else np.asarray(kinks).reshape(shape)


def _verdict(quantity, candidate, truths, leaves, rtol, atol, dtype, broken, projected,
             scales=None):
    """Rows per leaf against the judge, and each truth's largest relative disagreement."""
    if not truths:
        raise DiffLabError(f"gradcheck: no truth could compute the {quantity} of f (see the "
                           "notes above each skip); name methods that can run on it")
    judge = min(truths, key=lambda name: (_tolerance(name, quantity, dtype), name != "reference"))
    own = tolerance("ad", quantity, dtype)
    kinks = np.any([k for _, _, k in truths.values()], axis=0)
    agreement, rows = {}, []
    for name, (truth, estimate, _) in truths.items():
        allowed, scale = _allowed(truth, estimate, leaves, own, name, quantity, dtype, rtol,
                                  atol, scales)
        difference = np.abs(candidate - truth)
        finite = np.isfinite(difference) & ~kinks
        agreement[name] = float(np.max(difference[finite] / scale[finite], initial=0.0))
        if name == judge:
            rows = [_row(path, shape, quantity, candidate[:, a:b], truth[:, a:b],
                         allowed[:, a:b], scale[:, a:b], kinks[:, a:b], broken.get(path),
                         projected)
                    for path, shape, a, b in leaves]
    return rows, judge, agreement


def _allowed(truth, estimate, leaves, own, name, quantity, dtype, rtol, atol, scales):
    scale = np.abs(truth)
    for _, _, a, b in leaves:
        leaf_size = scales[:, a:b] if scales is not None else np.max(np.abs(truth[:, a:b]))
        scale[:, a:b] = np.maximum(scale[:, a:b], leaf_size)
    scale = np.where(scale > 0, scale, 1.0)
    if rtol is None and atol is None:
        allowed = (own * np.max(np.abs(truth)) + (own + _tolerance(name, quantity, dtype)) * scale
                   + ESTIMATE_SAFETY * estimate)
    else:
        allowed = ((0.0 if atol is None else atol)
                   + (own + _tolerance(name, quantity, dtype) if rtol is None else rtol) * scale)
    return allowed, scale


def _row(path, shape, quantity, candidate, truth, allowed, scale, kinks, broken, projected):
    entries = candidate.size
    if broken:
        return LeafCheck(path, shape, quantity, "shape", float("nan"), float("nan"),
                         entries=entries, failures=entries, message=broken)
    difference = np.abs(candidate - truth)
    bad = ~(difference <= allowed)                   # NaN in your gradient is a failure
    counted = bad & ~kinks
    excess = np.where(np.isnan(difference), np.inf, difference / np.maximum(allowed, 1e-300))
    excess = np.where(kinks, -1.0, excess)
    worst = np.unravel_index(int(np.argmax(excess)), excess.shape)
    status = "FAIL" if counted.any() else "pass"
    relative = np.where(kinks, 0.0, difference / scale)
    return LeafCheck(path, shape, quantity, status,
                     max_abs=float(np.max(np.where(kinks, 0.0, difference), initial=0.0)),
                     max_rel=float(np.max(relative, initial=0.0)),
                     worst=_index_name(worst, shape, candidate.shape[0], quantity, projected),
                     candidate=float(candidate[worst]), truth=float(truth[worst]),
                     kinks=int(kinks.sum()), failures=int(counted.sum()), entries=entries)


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
    return (row.path, str(row.shape), row.quantity, f"{row.max_abs:.1e}", f"{row.max_rel:.1e}",
            row.worst, f"{row.candidate:.6g}", f"{row.truth:.6g}", status)
