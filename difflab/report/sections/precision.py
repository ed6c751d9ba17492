"""Precision: how many digits each method gets right, and why finite differences lose some.

Three measurements, all against the "reference" method at 50 digits:

- V curves: the error of the forward, central and 4th-order central differences and of the
  complex step along one coordinate, against the step h (log–log), with the step rule's
  theoretical best step marked (each method's ``v_curve``);
- the relative error ‖a − b‖/‖b‖ of every method's gradient and Hessian of each zoo model;
- the same methods in float32 beside float64, with the tolerance table's C·ε^p as the level
  each is expected to reach.

Every model is differentiated at its parameters and data rounded to float32 (held as float64
for the float64 runs), so both precisions differentiate the same function at the same point
and one reference serves both. Only the networks have a float32 run: a test function's
objective casts θ back to its float64 parameters.
"""

import dataclasses
import math
from functools import lru_cache, partial
from statistics import median

import numpy as np

from ... import interface, models
from ...errors import DiffLabError, KinkError, SwellLimitError
from ...interface import differentiator, differentiators
from ...metrics import correct_digits, relative_error
from ...models import zoo
from ...objectives import BatchMean
from ...pytree import tree_leaves, tree_map
from .. import plots
from ..page import Rendered, Table
from ..runner import Cell

NAME = "precision"
TITLE = "Precision"

QUANTITIES = ("gradient", "hessian", "hvp")
PLURALS = {"gradient": "Gradients", "hessian": "Hessians", "hvp": "HVPs"}
DTYPES = {"float64": np.float64, "float32": np.float32}
TINY_MODEL = "logistic-regression"
TINY_METHODS = ("ad", "fd-central", "complex-step", "symbolic")
SMALL = 8                     # parameters: the quick profile's Hessians stay within seconds
V_METHODS = ("fd-forward", "fd-central", "fd-central4", "complex-step")   # with V curves
# The network families reviewers check, each a gradient in every profile. The SymPy tree and
# cse modes are left out: on batch norm (the whole batch traced) and attention their gradients
# take minutes, where the dag mode takes a tenth of a second.
FAMILIES = ("batchnorm-mlp", "dropout-mlp", "l1-mlp", "cnn", "attention", "gru")
FAMILY_METHODS = ("ad", "symbolic", "complex-step", "fd-central", "fd-richardson")
# batch norm's symbolic cost is compared with the same 2-3-3-1 tanh network as a BatchMean
SAME_NETWORK = ("dropout-mlp",)
PLOT_FLOOR = 1e-18            # an error of exactly 0 is drawn here on log axes
EPS = float(np.finfo(np.float64).eps)


def cells(profile):
    """V curves on one to three models, then one cell per (model, quantity, dtype)."""
    seed = profile.seed
    out = [Cell(f"v-curve/{model}/{method}", partial(v_curve_cell, model, method, seed))
           for model in profile.pick([TINY_MODEL], [TINY_MODEL, "mlp"],
                                     [TINY_MODEL, "mlp", "rnn"])
           for method in V_METHODS]
    for model, quantity in sweep(profile):
        methods = profile.pick(TINY_METHODS, measured_methods(quantity),
                               measured_methods(quantity))
        for dtype in DTYPES:
            if edition(model, dtype, seed) is not None:
                out.append(Cell(f"{model}/{quantity}/{dtype}",
                                partial(error_cell, model, quantity, dtype, methods, seed)))
    out += [Cell(f"family/{name}", partial(family_cell, name, FAMILY_METHODS, seed))
            for name in FAMILIES]
    return out


def measured_methods(quantity):
    """Every registered method that computes ``quantity``, but the reference it is measured
    against."""
    return tuple(name for name in differentiators(quantity) if name != "reference")


def sweep(profile):
    """(model, quantity) pairs: tiny, one small network; quick, the models of at most SMALL
    parameters and the mlp's gradient and HVP (its Hessian's reference alone takes over
    10 s); full, every zoo model."""
    # l1-mlp starts on the kink of |θ|, where the reference has no two-sided truth: its
    # family cell asks which methods notice instead
    zoo_models = [info for info in models.list_models() if info.name != "l1-mlp"]
    small = [info.name for info in zoo_models if info.n_params <= SMALL]
    chosen = profile.pick([TINY_MODEL], small, [info.name for info in zoo_models])
    pairs = [(model, quantity) for model in chosen for quantity in QUANTITIES]
    return pairs + profile.pick([], [("mlp", "gradient"), ("mlp", "hvp")], [])


@lru_cache(maxsize=None)
def edition(name, dtype="float64", seed=0):
    """Zoo model ``name`` with its parameters and data rounded to float32, held in ``dtype``;
    None if the model cannot run in float32."""
    problem = models.get(name, seed=seed)

    def cast(a):
        return np.asarray(a, dtype=np.float32).astype(DTYPES[dtype])
    if problem.predict is None:
        # a test function's unravel casts θ back to its float64 leaves
        return dataclasses.replace(problem, theta0=cast(problem.theta0)) \
            if dtype == "float64" else None
    return zoo.supervised_problem(problem.name, problem.description,
                                  tree_map(cast, problem.params), problem.predict,
                                  problem.loss, cast(problem.X), cast(problem.Y), problem.l2,
                                  problem.config)


@lru_cache(maxsize=None)
def exact(name, quantity, seed=0):
    """The 50-digit reference ``quantity`` of the model's float64 edition (shared by the
    float32 run, which differentiates the same function at the same point)."""
    problem = edition(name, "float64", seed)
    return differentiator("reference").measure(
        quantity, problem.objective, problem.theta0,
        direction(problem.theta0.size, seed) if quantity == "hvp" else None,
        sizes=False).precise


def direction(n, seed=0):
    """The HVP's v: a seeded unit vector, the same for every method and both precisions."""
    v = np.random.default_rng([seed, n]).normal(size=n)
    return v / np.linalg.norm(v)


# Cells.

def error_cell(name, quantity, dtype, methods, seed=0):
    """Relative error and correct digits of each method against the reference; a symbolic
    build stopped by its budget is a result ("budget"), not a failure."""
    problem = edition(name, dtype, seed)
    truth = exact(name, quantity, seed)
    v = direction(problem.theta0.size, seed) if quantity == "hvp" else None
    return {"kind": "errors", "model": name, "n_params": int(problem.n_params),
            "quantity": quantity, "dtype": dtype,
            **errors_against(problem.objective, problem.theta0, quantity, truth, methods,
                             dtype, v=None if v is None else v.astype(problem.theta0.dtype))}


def errors_against(f, theta, quantity, truth, methods, dtype="float64", refusals=(), v=None):
    """{"floor", "methods"}: each method's relative error, correct digits and tolerance
    against ``truth`` (for "hvp", along ``v``); a symbolic build stopped by its budget is a
    row ("budget"), and so is an error of a type in ``refusals`` ("refused", with its
    message)."""
    rows = []
    for method in methods:
        try:
            d = differentiator(method)
            value = d.hvp(f, theta, v) if quantity == "hvp" else getattr(d, quantity)(f, theta)
        except SwellLimitError as stop:
            rows.append({"method": method, "status": "budget", "message": str(stop)})
            continue
        except refusals as error:
            rows.append({"method": method, "status": "refused",
                         "message": f"{type(error).__name__}: {error}"})
            continue
        value = np.asarray(value, dtype=np.float64)
        rows.append({"method": method, "status": "ok",
                     "error": relative_error(value, truth),
                     # beyond −log₁₀(ε/2) the "digits" count rounding luck, not precision
                     "digits": min(correct_digits(value, truth),
                                   -math.log10(np.finfo(DTYPES[dtype]).eps / 2)),
                     "tolerance": interface.tolerance(method, quantity, DTYPES[dtype])})
    # the error of the exact result rounded to dtype: no method in dtype can do better
    rounded = np.asarray(truth, dtype=np.float64).astype(DTYPES[dtype]).astype(np.float64)
    return {"floor": relative_error(rounded, truth), "methods": rows}


def family_cell(name, methods, seed=0):
    """Each method's gradient of a zoo family at its start, against the reference; where θ₀
    sits on a kink (l1-mlp), which methods notice: a KinkError naming the entries, or a value
    by convention — judged against the one-sided derivatives the reference found there."""
    problem = models.get(name, seed=seed)
    f, theta = problem.objective, problem.theta0
    result = {"kind": "family", "model": name, "n_params": int(problem.n_params),
              "batch_mean": isinstance(f, BatchMean), "description": problem.description}
    try:
        truth, kink = differentiator("reference").measure(
            "gradient", f, theta, sizes=False).precise, None
    except KinkError as error:
        truth, kink = None, error
        result["kinks"] = int(np.sum(error.kinks))
    rows = []
    for method in methods:
        try:
            measured = differentiator(method).measure("gradient", f, theta)
        except KinkError as error:
            rows.append({"method": method, "status": "kink", "message": str(error)})
            continue
        except SwellLimitError as stop:
            rows.append({"method": method, "status": "budget", "message": str(stop)})
            continue
        value, cost = np.asarray(measured.value, dtype=np.float64), measured.cost
        row = {"method": method, "status": "ok", "setup_seconds": cost.setup_seconds,
               "size": cost.size, "size_unit": cost.size_unit}
        if kink is None:
            row["error"] = relative_error(value, truth)
            row["tolerance"] = interface.tolerance(method, "gradient")
        else:
            at = np.asarray(kink.kinks, dtype=bool)
            low = np.minimum(kink.left, kink.right)[at]
            high = np.maximum(kink.left, kink.right)[at]
            row["error"] = relative_error(value[~at], np.asarray(kink.partial)[~at])
            row["tolerance"] = interface.tolerance(method, "gradient")
            row["between_one_sided"] = bool(np.all((low <= value[at]) & (value[at] <= high)))
        rows.append(row)
    return {**result, "methods": rows}


def v_curve_cell(name, method, seed=0):
    """Relative error of ∂f/∂θᵢ against h for one scheme, θᵢ the steepest parameter of the
    first leaf (a first-layer weight: a later one can leave f quadratic in θᵢ, as an output
    bias under MSE does, and then central differences have no truncation arm to measure)."""
    problem = edition(name, "float64", seed)
    gradient = exact(name, "gradient", seed)
    first = np.asarray(tree_leaves(problem.params)[0]).size
    index = int(np.argmax(np.abs(np.asarray(gradient[:first], dtype=np.float64))))
    truth = float(gradient[index])
    if truth == 0:
        raise DiffLabError(f"v-curve on {name}: the gradient is zero at θ, so relative errors "
                           "are undefined; use another seed")
    curve = differentiator(method).v_curve(problem.objective, problem.theta0, index,
                                           exact=truth)
    result = {"kind": "v-curve", "model": name, "method": method,
              "order": differentiator(method).scheme.order, "index": index,
              "x": float(problem.theta0[index]), "exact": truth,
              "steps": curve.steps.tolist(), "errors": (curve.errors / abs(truth)).tolist(),
              "theoretical_step": curve.theoretical_step, "best_step": curve.best_step,
              "truncation_slope": curve.truncation_slope,
              "roundoff_slope": curve.roundoff_slope}
    if method == "complex-step":
        result |= floor_of(result)
    return result


def floor_of(curve):
    """The complex step's error has no round-off arm, so the bottom of its curve is a floor:
    ``flat_until``, the largest h below which every error ≤ 4ε, stands for its best step."""
    errors = np.asarray(curve["errors"])
    flat = np.cumprod(errors <= 4 * EPS).astype(bool)
    until = float(np.asarray(curve["steps"])[flat][-1]) if flat.any() else None
    return {"best_step": until, "flat_until": until}


# Rendering.

def render(results, folder):
    curves = [r for r in results.values() if r.get("kind") == "v-curve"]
    errors = [r for r in results.values() if r.get("kind") == "errors"]
    out = Rendered()
    if curves:
        draw_v_curves(curves, folder, out)
    if any(r["dtype"] == "float64" for r in errors):
        draw_digits([r for r in errors if r["dtype"] == "float64"], folder, out)
    if pairs(errors):
        draw_float32(errors, folder, out)
    families = [r for r in results.values() if r.get("kind") == "family"]
    if families:
        draw_families(families, out)
    return out


def draw_families(results, out):
    """The network families: a table of each method's error (or how it met a kink) and the
    symbolic gradient's setup and size, and what they say."""
    order = [name for name in FAMILIES if any(r["model"] == name for r in results)]
    results = sorted(results, key=lambda r: order.index(r["model"]))
    methods = [m for m in FAMILY_METHODS if any(row["method"] == m for r in results
                                                for row in r["methods"])]
    body = []
    for r in results:
        rows = {row["method"]: row for row in r["methods"]}
        symbolic = rows.get("symbolic", {})
        body.append([r["model"], r["n_params"], "yes" if r["batch_mean"] else "no",
                     *[_family_text(rows.get(m)) for m in methods],
                     "—" if symbolic.get("status") != "ok" else
                     f"{symbolic['setup_seconds']:.3f} s, {symbolic['size']:,} ops"])
    out.tables.append(Table(
        "Network families, gradient at the start, float64: relative error against the "
        "reference (* above the tolerance table's entry); on a kink, the entries a method "
        "refused (KinkError) or whether its convention's value lies between the one-sided "
        "derivatives; the symbolic (dag) gradient's setup and size",
        ["model", "n", "BatchMean", *methods, "symbolic setup, size"], body))
    out.reading += families_reading(results)


def _family_text(row):
    if row is None:
        return ""
    if row["status"] == "kink":
        return "KinkError"
    if row["status"] != "ok":
        return row["status"]
    text = short(row["error"]) + ("*" if row["error"] > row["tolerance"] else "")
    if "between_one_sided" in row:
        text += "; at the kinks " + ("between the one-sided values" if row["between_one_sided"]
                                     else "OUTSIDE the one-sided values")
    return text


def families_reading(results):
    sentences = []
    for r in results:
        if "kinks" not in r:
            continue
        noticed = [row["method"] for row in r["methods"] if row["status"] == "kink"]
        convention = [row["method"] for row in r["methods"]
                      if row["status"] == "ok" and row.get("between_one_sided")]
        outside = [row["method"] for row in r["methods"]
                   if row["status"] == "ok" and row.get("between_one_sided") is False]
        sentence = (f"On {r['model']}, θ₀ sits on the kink of |θ| at {r['kinks']} entries: "
                    + (f"{listing(noticed)} noticed and refused them (KinkError)" if noticed
                       else "no method noticed")
                    + (f"; {listing(convention)} returned the convention's value, which lies "
                       "between the one-sided derivatives there" if convention else ""))
        if outside:
            sentence += f"; {listing(outside)} returned a value outside them"
        sentences.append(sentence + ".")
    symbolic = {r["model"]: next((row for row in r["methods"] if row["method"] == "symbolic"
                                  and row["status"] == "ok"), None) for r in results}
    twin = symbolic.get(SAME_NETWORK[0])
    for r in results:
        row = symbolic[r["model"]]
        if r["batch_mean"] or row is None or twin is None:
            continue
        # against the same network (2-3-3-1 tanh) declared a BatchMean: one example traced
        sentences.append(
            f"{r['model']} is not a per-example mean (its statistics couple the batch), so the "
            f"symbolic method traces every example: {row['size']:,} operations and "
            f"{row['setup_seconds']:.3f} s of setup (one run), against {twin['size']:,} and "
            f"{twin['setup_seconds']:.3f} s for {SAME_NETWORK[0]} (the same 2-3-3-1 tanh "
            f"widths, a BatchMean): {row['size'] / max(twin['size'], 1):.0f}× the "
            "operations.")
    return sentences


def by_model(results):
    """Results in the zoo's order of models, gradients before Hessians."""
    order = list(models.MODELS)
    return sorted(results, key=lambda r: (order.index(r["model"]) if r["model"] in order
                                          else len(order), r["model"],
                                          QUANTITIES.index(r.get("quantity", "gradient"))))


def method_order(names):
    known = list(differentiators())
    return sorted(set(names), key=lambda m: (known.index(m) if m in known else len(known), m))


def short(x):
    return f"{x:.0e}" if x else "0"


# V curves.

def draw_v_curves(curves, folder, out):
    groups = {}
    for curve in by_model(curves):
        groups.setdefault(curve["model"], []).append(curve)
    fig, axes = plots.figure(4.6, 3.8, ncols=len(groups))
    for ax, (model, group) in zip(np.atleast_1d(axes), groups.items()):
        for curve in sorted(group, key=lambda c: V_METHODS.index(c["method"])):
            color = plots.color(curve["method"])
            errors = np.maximum(curve["errors"], PLOT_FLOOR)
            ax.loglog(curve["steps"], errors, color=color, lw=1.4,
                      ls=plots.linestyle(curve["method"]), label=plots.label(curve["method"]))
            ax.axvline(curve["theoretical_step"], color=color, ls=":", lw=1)
            if curve["best_step"] is not None:
                at = np.interp(np.log(curve["best_step"]), np.log(curve["steps"]), np.log(errors))
                ax.plot(curve["best_step"], np.exp(at), "o", color=color, ms=5)
        ax.set_title(f"{model}: ∂f/∂θ{subscript(group[0]['index'])}", fontsize=10)
        ax.set_xlabel("step h")
        ax.set_ylabel("relative error")
        ax.grid(True, which="major", alpha=0.3)
    np.atleast_1d(axes)[0].legend(fontsize=8)
    file = plots.save(fig, folder, "precision-v-curves")
    panels = []
    for model in dict.fromkeys(c["model"] for c in curves):
        mine = {c["method"]: c for c in curves if c["model"] == model}
        panels.append(f"{model}: " + ", ".join(
            f"{m} {_smallest_nonzero(mine[m]['errors'])}" for m in V_METHODS if m in mine))
    out.figures.append((file, "Error against step (log–log) along the steepest first-layer "
                        "weight: "
                        "dotted lines mark the step rule's theoretical best step, dots the "
                        "measured bottom of the V (where the fitted arms meet; for the complex "
                        f"step, the end of its flat floor). Errors of exactly 0 are drawn at "
                        f"{PLOT_FLOOR:.0e}, below every real error. Least nonzero error per "
                        "panel: " + "; ".join(panels) + "."))
    stencils = [c for c in curves if c["method"] != "complex-step"]
    rows = [[f"{c['model']} θ{subscript(c['index'])}", c["method"], c["order"],
             f"{c['theoretical_step']:.1e}",
             "—" if c["best_step"] is None else
             f"≤ {c['best_step']:.1e}" if c["method"] == "complex-step" else
             f"{c['best_step']:.1e}",
             "—" if c["best_step"] is None or c["method"] == "complex-step"
             else f"{c['best_step'] / c['theoretical_step']:.2f}",
             short(min(c["errors"])),
             "—" if c["truncation_slope"] is None else f"{c['truncation_slope']:.2f}",
             "—" if c["roundoff_slope"] is None else f"{c['roundoff_slope']:.2f}"]
            for c in by_model(curves)]
    out.tables.append(Table("V curves: theoretical and measured best steps, least relative "
                            "error and the slopes of the two arms",
                            ["coordinate", "scheme", "order", "theory h", "best h",
                             "best/theory", "least error", "truncation slope",
                             "round-off slope"], rows))
    for model in dict.fromkeys(c["model"] for c in by_model(stencils)):
        mine = sorted((c for c in stencils if c["model"] == model),
                      key=lambda c: V_METHODS.index(c["method"]))
        s = "s" if len(mine) > 1 else ""
        out.reading.append(
            f"On {model} (∂f/∂θ{subscript(mine[0]['index'])}) the measured best step{s} "
            f"{'are' if s else 'is'} "
            + listing(f"{c['best_step'] / c['theoretical_step']:.2g}×" for c in mine)
            + f" the theoretical one{s} for " + listing(c["method"] for c in mine)
            + f", reaching least error{s} of "
            + listing(short(min(c["errors"])) for c in mine)
            + f"; the truncation arm{s} rise{'' if s else 's'} with slope{s} "
            + listing(f"{c['truncation_slope']:.2f}" for c in mine)
            + f" (order{s} " + listing(str(c["order"]) for c in mine) + f") and the round-off "
            f"arm{s} fall{'' if s else 's'} with slope{s} "
            + listing(f"{c['roundoff_slope']:.2f}" for c in mine) + ".")
    complex_steps = [c for c in curves if c["method"] == "complex-step" and c["flat_until"]]
    if complex_steps:
        worst = min(complex_steps, key=lambda c: c["flat_until"] / c["theoretical_step"])
        out.reading.append(
            f"The complex step has no round-off arm: its error stays within 4ε "
            f"({4 * EPS:.0e}) for every step from {min(worst['steps']):.0e} up to "
            f"{worst['flat_until']:.0e} on {worst['model']}"
            + (" (the narrowest of its curves)" if len(complex_steps) > 1 else "")
            + f", {math.log10(worst['flat_until'] / worst['theoretical_step']):.0f} decades "
            f"above its step {worst['theoretical_step']:.0e}"
            + (f", and grows as h^{worst['truncation_slope']:.1f} beyond."
               if worst["truncation_slope"] is not None else "."))


def times(ratio):
    """A multiple to two significant digits: 1.0×, 3.6×, 170×, 4,700×."""
    return f"{ratio:.1f}×" if ratio < 10 else f"{float(f'{ratio:.2g}'):,.0f}×"


def subscript(i):
    return str(i).translate(str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉"))


def listing(items):
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


# Errors against the reference, float64.

def ok_rows(result):
    return {m["method"]: m for m in result["methods"] if m["status"] == "ok"}


def _smallest_nonzero(errors):
    nonzero = [e for e in errors if e > 0]
    return f"{min(nonzero):.0e}" if nonzero else "0"


def draw_digits(results, folder, out):
    results = by_model(results)
    methods = method_order(m["method"] for r in results for m in r["methods"])
    digits = np.full((len(methods), len(results)), np.nan)
    stopped = np.zeros_like(digits, dtype=bool)
    for j, result in enumerate(results):
        for row in result["methods"]:
            i = methods.index(row["method"])
            if row["status"] == "ok":
                digits[i, j] = row["digits"]
            stopped[i, j] = row["status"] == "budget"
    fig, ax = plots.figure(2.2 + 0.62 * len(results), 1.4 + 0.36 * len(methods))
    cmap = plots.plt.get_cmap("viridis").with_extremes(bad="#dddddd")
    image = ax.imshow(np.ma.masked_invalid(digits), cmap=cmap, vmin=0, vmax=16, aspect="auto")
    for (i, j), value in np.ndenumerate(digits):
        text = "budget" if stopped[i, j] else "" if np.isnan(value) else f"{value:.1f}"
        ax.text(j, i, text, ha="center", va="center", fontsize=7,
                color="black" if np.isnan(value) or value > 9 else "white")
    ax.set_xticks(range(len(results)),
                  [f"{r['model']}\n{r['quantity']}" for r in results], fontsize=7, rotation=60,
                  ha="right", rotation_mode="anchor")
    ax.set_yticks(range(len(methods)), methods, fontsize=8)
    fig.colorbar(image, ax=ax, label="correct digits")
    file = plots.save(fig, folder, "precision-digits")
    fewest = np.unravel_index(np.nanargmin(digits), digits.shape) \
        if np.isfinite(digits).any() else None
    out.figures.append((file, "Correct digits (−log₁₀ of the relative error against the "
                        "50-digit reference) of every method on each model's "
                        f"{', '.join(sorted({r['quantity'] for r in results}))}, float64; "
                        "grey: not measured, or stopped by the symbolic budget."
                        + ("" if fewest is None else
                           f" The fewest: {methods[fewest[0]]} on "
                           f"{results[fewest[1]]['model']}'s {results[fewest[1]]['quantity']}, "
                           f"{digits[fewest]:.1f} digits.")))
    out.tables.append(Table(
        "Relative error ‖a − b‖/‖b‖ against the reference, float64 (* above the tolerance "
        "table's entry; budget: the symbolic build was stopped by its budget)",
        ["model", "n", "quantity"] + methods,
        [[r["model"], r["n_params"], r["quantity"]] + [cell_text(r, m) for m in methods]
         for r in results]))
    out.reading += digits_reading(results, methods)


def cell_text(result, method):
    row = next((m for m in result["methods"] if m["method"] == method), None)
    if row is None:
        return ""
    if row["status"] == "budget":
        return "budget"
    return short(row["error"]) + ("*" if row["error"] > row["tolerance"] else "")


def digits_reading(results, methods):
    sentences = []
    for quantity in QUANTITIES:
        mine = [r for r in results if r["quantity"] == quantity]
        if not mine:
            continue
        medians = {m: median(ok_rows(r)[m]["digits"] for r in mine if m in ok_rows(r))
                   for m in methods if any(m in ok_rows(r) for r in mine)}
        ranked = sorted(medians, key=medians.get, reverse=True)
        finite = [m for m in ranked if m.startswith("fd-")]
        sentence = (f"{PLURALS[quantity]} in float64 ({len(mine)} model"
                    f"{'s' if len(mine) > 1 else ''}), median correct digits: "
                    + ", ".join(f"{m} {medians[m]:.1f}" for m in ranked))
        if finite and finite[0] != ranked[0]:
            sentence += (f"; the best finite difference, {finite[0]}, is "
                         f"{medians[ranked[0]] - medians[finite[0]]:.1f} digits behind the "
                         f"best method ({ranked[0]})")
        sentences.append(sentence + ".")
    changes = {m: -lost_digits(results, m) for m in methods
               if lost_digits(results, m) is not None}
    if changes:
        ranked = sorted(changes, key=changes.get)
        numeric = [m for m in ranked if differentiator(m).kind == "numeric"]
        sentences.append("From gradient to Hessian on the same models the median change in "
                         "correct digits is " + listing(f"{changes[m]:+.1f} for {m}"
                                                        for m in ranked) + "."
                         + ("" if not numeric else
                            " A numeric method's Hessian is not its gradient's scheme applied "
                            "twice: " + "; ".join(f"{m}'s is {_hessian_method(m)}"
                                                  for m in numeric) + "."))
    sentences += twins(results)
    sentences += budget_reading(results)
    sentences += tolerance_reading(results, "float64")
    return sentences


def lost_digits(results, method):
    drops = []
    for r in results:
        if r["quantity"] != "hessian":
            continue
        g = next((s for s in results if s["model"] == r["model"] and s["quantity"] == "gradient"),
                 None)
        if g and method in ok_rows(g) and method in ok_rows(r):
            drops.append(ok_rows(g)[method]["digits"] - ok_rows(r)[method]["digits"])
    return median(drops) if drops else None


def twins(results):
    """Methods whose Hessian errors are equal on every model: the same computation."""
    hessians = [r for r in results if r["quantity"] == "hessian"]
    if not hessians:
        return []
    names = method_order(m for r in hessians for m in ok_rows(r))
    seen, groups = set(), []
    for a in names:
        if a in seen:
            continue
        group = [a] + [b for b in names if b != a and b not in seen and all(
            a in ok_rows(r) and b in ok_rows(r)
            and ok_rows(r)[a]["error"] == ok_rows(r)[b]["error"] for r in hessians)]
        if len(group) > 1 and all(m.startswith("fd-") or m == "complex-step" for m in group):
            groups.append(group)
            seen.update(group)
    if not groups:
        return []
    return [f"The Hessians of {listing(groups[0])} are identical on "
            f"{'all ' if len(hessians) > 1 else ''}{len(hessians)} model"
            f"{'s' if len(hessians) > 1 else ''}"
            + "".join(f", as are those of {listing(g)}" for g in groups[1:])
            + ": each computes its Hessian by the same method, "
            + "; ".join(f"{listing(g)} from {_hessian_method(g[0])}" for g in groups) + "."]


def _hessian_method(method):
    """How a numeric method forms Hessians, in words (its registered description says)."""
    return differentiator(method).description.partition("Hessian: ")[2] or "its own method"


def budget_reading(results):
    stops = [(r["model"], r["quantity"], m["method"]) for r in results for m in r["methods"]
             if m["status"] == "budget"]
    if not stops:
        return []
    return ["Stopped by the symbolic budget: " + listing(
        f"{method} on the {quantity} of {model}" for model, quantity, method in stops) + "."]


def tolerance_reading(results, dtype):
    rows = [(r, m) for r in results for m in r["methods"] if m["status"] == "ok"]
    if not rows:
        return []
    over = sorted(((m["error"] / m["tolerance"], r, m) for r, m in rows
                   if m["error"] > m["tolerance"]), key=lambda t: -t[0])
    if not over:
        return [f"All {len(rows)} {dtype} results lie within their tolerance-table entries "
                f"(C·ε^p)."]
    culprits = {r["model"] for _, r, _ in over}
    where = f", all on {culprits.pop()}" if len(culprits) == 1 else ""
    named = [f"{m['method']} on the {r['quantity']} ({short(m['error'])} against "
             f"{short(m['tolerance'])})" if where else
             f"{m['method']} on the {r['quantity']} of {r['model']} ({short(m['error'])} "
             f"against {short(m['tolerance'])})" for _, r, m in over[:4]]
    more = f", and {len(over) - 4} more" if len(over) > 4 else ""
    return [f"{len(rows) - len(over)} of {len(rows)} {dtype} results lie within their "
            f"tolerance-table entries (C·ε^p); the {len(over)} beyond{where}, furthest first: "
            f"{', '.join(named)}{more}."]


# float32 beside float64.

def pairs(results):
    """[(float64 result, float32 result)] for each (model, quantity) measured in both."""
    index = {(r["model"], r["quantity"], r["dtype"]): r for r in results}
    return [(index[(model, quantity, "float64")], r) for (model, quantity, dtype), r
            in index.items() if dtype == "float32" and (model, quantity, "float64") in index]


def draw_float32(results, folder, out):
    twinned = pairs(results)
    quantities = [q for q in QUANTITIES if any(r32["quantity"] == q for _, r32 in twinned)]
    methods = method_order(m for _, r32 in twinned for m in ok_rows(r32))
    fig, axes = plots.figure(0.9 + 0.55 * len(methods), 3.8, ncols=len(quantities))
    rows = []
    for ax, quantity in zip(np.atleast_1d(axes), quantities):
        mine = [(a, b) for a, b in twinned if a["quantity"] == quantity]
        # the methods of this quantity only: ad-differences has Hessians and no gradient
        methods = method_order(m for _, b in mine for m in ok_rows(b))
        x = np.arange(len(methods))
        for offset, dtype, side in ((-0.2, "float64", 0), (0.2, "float32", 1)):
            worst = [worst_error([p[side] for p in mine], m) for m in methods]
            tolerance = [interface.tolerance(m, quantity, DTYPES[dtype]) for m in methods]
            heights = [np.nan if w is None else max(w, PLOT_FLOOR) for w in worst]
            ax.bar(x + offset, heights, 0.38, label=f"{dtype}: worst of the titled models",
                   color="#1f77b4" if dtype == "float64" else "#ff7f0e", alpha=0.85)
            ax.plot(x + offset, tolerance, "_", color="black", ms=12, mew=2,
                    label="tolerance table" if dtype == "float64" else None)
        floor = median(b["floor"] for _, b in mine)
        ax.axhline(floor, color="#ff7f0e", ls="--", lw=1, label="float32 rounding floor")
        ax.set_yscale("log")
        top = max([t for m in methods for t in (interface.tolerance(m, quantity, np.float32),)]
                  + [w for w in (worst_error([b for _, b in mine], m) for m in methods) if w])
        ax.set_ylim(top=top * 10 ** 3.5)        # headroom for the legend above the bars
        ax.set_xticks(x, methods, rotation=45, ha="right", fontsize=8)
        ax.set_title(f"{quantity}: {', '.join(a['model'] for a, _ in mine)}", fontsize=9)
        ax.set_ylabel("relative error")
        ax.grid(True, axis="y", which="major", alpha=0.3)
        for m in methods:
            e64, e32 = (worst_error([p[side] for p in mine], m) for side in (0, 1))
            rows.append([quantity, m, "—" if e64 is None else short(e64),
                         "—" if e32 is None else short(e32),
                         short(interface.tolerance(m, quantity, np.float32)),
                         "—" if e32 is None else
                         "yes" if e32 <= interface.tolerance(m, quantity, np.float32) else "NO"])
    np.atleast_1d(axes)[0].legend(fontsize=7, loc="upper left", ncol=2)
    file = plots.save(fig, folder, "precision-float32")
    out.figures.append((file, "float32 beside float64: the worst relative error over the "
                        "models of each method (bars, log scale), the tolerance table's "
                        "C·ε^p for each dtype (black ticks) and the error of the exact result "
                        "rounded to float32 (dashed, median "
                        f"{median(b['floor'] for _, b in twinned):.1e}), the floor no float32 "
                        "result can beat."))
    out.tables.append(Table("float32 beside float64: worst relative error over the models, "
                            "and the float32 tolerance",
                            ["quantity", "method", "float64", "float32", "float32 tolerance",
                             "within"], rows))
    out.reading += float32_reading(twinned, method_order(m for _, r32 in twinned
                                                         for m in ok_rows(r32)))
    out.reading += tolerance_reading([b for _, b in twinned], "float32")


def worst_error(results, method):
    errors = [ok_rows(r)[method]["error"] for r in results if method in ok_rows(r)]
    return max(errors) if errors else None


def float32_reading(twinned, methods):
    """Each method's float32 error as a multiple of the floor: the exact result rounded to
    float32, the least error any float32 result can have."""
    floor = median(b["floor"] for _, b in twinned)
    ratio = {m: median(ok_rows(b)[m]["error"] / b["floor"] for _, b in twinned
                       if m in ok_rows(b)) for m in methods}
    ranked = sorted(methods, key=ratio.get)
    rounded = [m for m in methods if all(ok_rows(b)[m]["error"] == b["floor"]
                                         for _, b in twinned if m in ok_rows(b))]
    names = sorted({a["model"] for a, _ in twinned})
    sentences = [
        f"In float32 ({len(twinned)} gradient, Hessian and HVP result"
        f"{'s' if len(twinned) > 1 else ''}"
        f" on {listing(names)}) the exact result rounded to float32 is off by {floor:.1e} "
        "(median), the floor for any float32 method; the median errors are "
        + listing(times(ratio[m]) for m in ranked) + " that floor for "
        + listing(ranked) + "."]
    if rounded:
        sentences.append(
            f"{listing(rounded)} {'equals' if len(rounded) == 1 else 'equal'} the floor "
            "exactly on every model: the float32 result is the exact derivative rounded, so "
            f"{'it is' if len(rounded) == 1 else 'they are'} evaluated in higher precision "
            "than float32.")
    return sentences
