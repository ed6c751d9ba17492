"""Your model: the report's sections that apply to one objective of yours, each titled with
its name (``difflab report --model FILE.py:FUNC``).

- an overview: the parameter count, f(θ₀), one forward pass, and the sections skipped and
  why — the zoo's sweeps over depth and width (expression swell) and over activations and
  residual connections (gradient flow) have nothing to sweep in one fixed model;
- precision: every method's gradient (and Hessian, while n is small enough for the 50-digit
  reference) against the reference, with the tolerance table's level for each;
- runtime: each method's setup and its gradient's time per call, in seconds and in forward
  passes, in interleaved repeats, and how many calls the symbolic setup takes to pay off;
- Newton: Newton's method with the Hessian from each source, while n is small enough;
- memory: the peak memory (tracemalloc) of preparing each method's gradient and calling it.

A method that refuses the model (a named DiffLabError: the symbolic method on ``sort``, the
complex step on a non-analytic function, …) is a row that says so, not a failed cell.
"""

import math
import time
from dataclasses import dataclass
from functools import partial
from statistics import median
from typing import Callable

import numpy as np

from ...errors import DiffLabError, SwellLimitError
from ...interface import differentiator, differentiators
from ...optim import newton
from ...pytree import ravel
from .. import plots, timing
from ..timing import seconds_text
from ..page import Rendered, Table
from ..runner import Cell
from .memory import bytes_text, peak_bytes
from .precision import errors_against

REFERENCE_LIMIT = 3000      # parameters: the 50-digit reference gradient stays within a minute
HESSIAN_LIMIT = 40          # parameters: a reference Hessian takes n(n+1)/2 mixed differences
NEWTON_LIMIT = 60           # parameters: every Newton step solves with an n × n Hessian
HESSIAN_SOURCES = ("ad", "symbolic", "fd-central")
SKIPPED_ALWAYS = {
    "expression swell": "it sweeps the depth and width of the zoo's MLPs; one fixed model has "
                        "no depth or width to sweep",
    "gradient flow": "it compares activations, residual connections and clipping on the zoo's "
                     "deep networks; your model is one network, measured as it is"}


@dataclass(frozen=True)
class YourModel:
    """An objective of yours: ``f(params)`` → a scalar, at the pytree ``params``; ``name``
    names it on the page (e.g. "loss in model.py")."""

    name: str
    f: Callable
    params: object

    def flat(self):
        """(objective of a flat θ, θ₀): the function every differentiator takes."""
        theta, unravel = ravel(self.params)
        f = self.f
        return (lambda t: f(unravel(t))), np.asarray(theta, dtype=float)


def sections(model):
    """The section objects of ``model`` (a YourModel), in page order."""
    objective, theta = model.flat()
    n = theta.size
    made = [_Section("overview", f"Your model: {model.name}",
                     lambda profile: [Cell("overview", partial(overview, objective, theta))],
                     render_overview)]
    if n <= REFERENCE_LIMIT:
        made.append(_Section("precision", f"Precision on {model.name}",
                             partial(precision_cells, objective, theta), render_precision))
    made.append(_Section("runtime", f"Runtime on {model.name}",
                         partial(runtime_cells, objective, theta), render_runtime))
    if n <= NEWTON_LIMIT:
        made.append(_Section("newton", f"Newton's method on {model.name}",
                             partial(newton_cells, objective, theta), render_newton))
    made.append(_Section("memory", f"Memory on {model.name}",
                         partial(memory_cells, objective, theta), render_memory))
    return made


@dataclass(frozen=True)
class _Section:
    """A report section as the runner takes it: NAME, TITLE, cells(profile), render(...)."""

    name: str
    TITLE: str
    cells: Callable
    render: Callable

    @property
    def NAME(self):
        return f"yours-{self.name}"


def skipped(n):
    """{section: why} for a model of n parameters."""
    out = dict(SKIPPED_ALWAYS)
    if n > REFERENCE_LIMIT:
        out["precision"] = (f"n = {n} parameters is past {REFERENCE_LIMIT}: the 50-digit "
                            "reference gradient would take many minutes")
    if n > NEWTON_LIMIT:
        out["Newton's method"] = (f"n = {n} parameters is past {NEWTON_LIMIT}: every Newton "
                                  "step forms and solves an n × n Hessian")
    if n > HESSIAN_LIMIT:
        out["Hessian precision"] = (f"n = {n} parameters is past {HESSIAN_LIMIT}: the reference "
                                    "Hessian takes n(n+1)/2 mixed differences at 50 digits")
    return out


def _methods(quantity, profile):
    chosen = [m for m in differentiators(quantity) if m != "reference"]
    if profile.name == "tiny":
        chosen = [m for m in chosen if m in ("ad", "symbolic", "fd-central", "complex-step")]
    return chosen


# Cells.

def overview(f, theta):
    value = float(f(theta))
    seconds = timing.timed(lambda: f(theta), repeats=3, burst=0.01)
    return {"n": int(theta.size), "value": value, "forward": seconds,
            "skipped": skipped(int(theta.size))}


def precision_cells(f, theta, profile):
    quantities = ["gradient"] + (["hessian"] if theta.size <= HESSIAN_LIMIT else [])
    return [Cell(quantity, partial(precision_cell, f, theta, quantity,
                                   tuple(_methods(quantity, profile))))
            for quantity in quantities]


def precision_cell(f, theta, quantity, methods):
    truth = differentiator("reference").measure(quantity, f, theta, sizes=False).precise
    return {"quantity": quantity, "n": int(theta.size),
            **errors_against(f, theta, quantity, truth, methods, refusals=(DiffLabError,))}


def runtime_cells(f, theta, profile):
    repeats = profile.pick(3, 5, 9)
    return [Cell(f"gradient/{method}", partial(runtime_cell, f, theta, method, repeats))
            for method in _methods("gradient", profile)]


def runtime_cell(f, theta, method, repeats):
    """Setup, then the gradient and the forward pass timed in interleaved rounds."""
    d = differentiator(method)
    try:
        start = time.perf_counter()
        prepared = d.prepare(f, theta, "gradient")
        setup = time.perf_counter() - start
        first = prepared(theta)
    except SwellLimitError as stop:
        return {"method": method, "status": "budget", "message": str(stop)}
    except DiffLabError as error:
        return {"method": method, "status": "refused",
                "message": f"{type(error).__name__}: {error}"}
    calls, forwards = [], []
    for _ in range(repeats):                 # a slow moment of the machine hits both
        calls.append(timing.burst_seconds(lambda: prepared(theta), 0.02))
        forwards.append(timing.burst_seconds(lambda: f(theta), 0.02))
    return {"method": method, "status": "ok", "setup": max(setup, prepared.setup_seconds),
            "seconds": calls, "forward": forwards,
            "evaluations": first.cost.evaluations}


def newton_cells(f, theta, profile):
    sources = profile.pick(("ad", "fd-central"), HESSIAN_SOURCES, HESSIAN_SOURCES)
    maxiter = profile.pick(15, 100, 200)
    return [Cell(source, partial(newton_cell, f, theta, source, maxiter)) for source in sources]


def newton_cell(f, theta, source, maxiter):
    """Newton with line search from θ₀, AD's gradient and ``source``'s Hessian, prepared
    once in the run and counted in its time."""
    start = time.perf_counter()
    try:
        result = newton(f, theta, "ad", hessian_differentiator=source, maxiter=maxiter)
    except SwellLimitError as stop:
        return {"hessian": source, "status": "budget", "message": str(stop)}
    except DiffLabError as error:
        return {"hessian": source, "status": "refused",
                "message": f"{type(error).__name__}: {error}"}
    return {"hessian": source, "status": result.status, "converged": result.converged,
            "message": result.message, "maxiter": maxiter, "nit": result.nit,
            "seconds": time.perf_counter() - start,
            "setup": result.evaluations.setup_seconds,
            "grad_norm": [it.grad_norm for it in result.trace],
            "f": [it.f for it in result.trace]}


def memory_cells(f, theta, profile):
    return [Cell(f"gradient/{method}", partial(memory_cell, f, theta, method))
            for method in _methods("gradient", profile)]


def memory_cell(f, theta, method):
    """Peak bytes Python allocated (tracemalloc) while preparing and calling the gradient."""
    try:
        peak, _ = peak_bytes(lambda: differentiator(method).prepare(f, theta, "gradient")(theta))
    except DiffLabError as error:             # a SwellLimitError too
        return {"method": method, "status": "refused",
                "message": f"{type(error).__name__}: {error}"}
    return {"method": method, "status": "ok", "peak_bytes": int(peak)}


# Rendering.

def render_overview(results, folder):
    out = Rendered()
    r = results.get("overview")
    if r is None:
        return out
    out.reading.append(
        f"{r['n']:,} parameters; f(θ₀) = {r['value']:.6g}; one forward pass takes "
        f"{seconds_text(r['forward']['median'])} (median of {r['forward']['repeats']}).")
    out.tables.append(Table("Sections of the report skipped for this model, and why",
                            ["section", "why"], [[k, v] for k, v in r["skipped"].items()]))
    return out


def render_precision(results, folder):
    out = Rendered()
    rows = [(r["quantity"], m) for r in results.values() for m in r["methods"]]
    if not rows:
        return out
    out.tables.append(Table(
        "Relative error ‖a − b‖/‖b‖ against the 50-digit reference, the tolerance table's "
        "level for the method, and correct digits",
        ["quantity", "method", "relative error", "tolerance", "within", "digits"],
        [[q, m["method"], *(_error_cells(m))] for q, m in rows]))
    for quantity in ("gradient", "hessian"):
        result = next((r for r in results.values() if r["quantity"] == quantity), None)
        if result is None:
            continue
        ok = [m for m in result["methods"] if m["status"] == "ok"]
        if not ok:
            continue
        best = min(ok, key=lambda m: m["error"])
        beyond = [m["method"] for m in ok if m["error"] > m["tolerance"]]
        refused = [m["method"] for m in result["methods"] if m["status"] != "ok"]
        sentence = (f"{quantity.capitalize()}: the most precise method is {best['method']} "
                    f"({best['error']:.1e}, {best['digits']:.1f} digits); "
                    + (f"{', '.join(beyond)} exceeded its tolerance" if beyond else
                       "every method is within its tolerance"))
        if refused:
            sentence += f"; {', '.join(refused)} could not take this model (see the table)"
        out.reading.append(sentence + ".")
    digits = [(q, m["method"], m["digits"]) for q, m in rows if m["status"] == "ok"]
    if digits:
        out.figures.append(_draw_digits(digits, folder))
    return out


def _error_cells(row):
    if row["status"] != "ok":
        return [row["status"], "", "", ""]
    return [f"{row['error']:.1e}", f"{row['tolerance']:.0e}",
            "yes" if row["error"] <= row["tolerance"] else "NO", f"{row['digits']:.1f}"]


def _draw_digits(digits, folder):
    fig, ax = plots.figure(6.0, 0.9 + 0.32 * len(digits))
    labels = [f"{method} ({quantity})" for quantity, method, _ in digits]
    values = [d for _, _, d in digits]
    ax.barh(range(len(digits)), values, color=[plots.color(m) for _, m, _ in digits])
    ax.set_yticks(range(len(digits)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("correct digits against the 50-digit reference")
    ax.set_xlim(0, 17)
    file = plots.save(fig, folder, "yours-precision")
    worst = min(digits, key=lambda d: d[2])
    return file, (f"Correct digits of every method on your model (bars, longer is better); "
                  f"the fewest: {worst[1]} on the {worst[0]}, {worst[2]:.1f} digits.")


def render_runtime(results, folder):
    out = Rendered()
    ok = [r for r in results.values() if r["status"] == "ok"]
    body = []
    for r in sorted(results.values(), key=lambda r: r["method"]):
        if r["status"] != "ok":
            body.append([r["method"], r["status"], "", "", "", ""])
            continue
        per_call = median(r["seconds"])
        forwards = median(a / b for a, b in zip(r["seconds"], r["forward"]))
        body.append([r["method"], seconds_text(r["setup"]), seconds_text(per_call),
                     f"{min(r['seconds']) * 1e3:.3g}–{max(r['seconds']) * 1e3:.3g} ms",
                     f"{forwards:.3g}", "" if r["evaluations"] is None
                     else str(r["evaluations"])])
    out.tables.append(Table(
        "Gradient cost: setup once, then per call (median and range of the interleaved "
        "repeats), in seconds and in forward passes of f timed beside it",
        ["method", "setup", "per call", "range", "forward passes", "evaluations of f"], body))
    if ok:
        fastest = min(ok, key=lambda r: median(r["seconds"]))
        ranked = sorted(ok, key=lambda r: median(r["seconds"]))
        sentence = (f"Fastest gradient after setup: {fastest['method']} at "
                    f"{seconds_text(median(fastest['seconds']))} per call")
        if len(ranked) > 1 and max(ranked[0]["seconds"]) < min(ranked[1]["seconds"]):
            sentence += f", ahead of {ranked[1]['method']} in every repeat"
        elif len(ranked) > 1:
            sentence += (f"; {ranked[1]['method']} overlaps it in the repeats, so the data "
                         "cannot rank the two")
        out.reading.append(sentence + ".")
        out.reading += _pays_off(ok)
        out.figures.append(_draw_runtime(ok, folder))
    return out


def _pays_off(ok):
    """After how many calls the symbolic setup has paid for itself against AD."""
    by = {r["method"]: r for r in ok}
    if "symbolic" not in by or "ad" not in by:
        return []
    t_sym, t_ad = median(by["symbolic"]["seconds"]), median(by["ad"]["seconds"])
    setup = by["symbolic"]["setup"] - by["ad"]["setup"]
    if t_sym >= t_ad:
        return [f"The symbolic gradient is not faster per call than AD's here "
                f"({seconds_text(t_sym)} against {seconds_text(t_ad)}), so its setup never pays off."]
    calls = max(1, math.ceil(setup / (t_ad - t_sym)))
    return [f"The symbolic gradient is faster per call than AD's ({seconds_text(t_sym)} against "
            f"{seconds_text(t_ad)}); its setup of {seconds_text(by['symbolic']['setup'])} pays off after "
            f"{calls:,} calls."]


def _draw_runtime(ok, folder):
    ok = sorted(ok, key=lambda r: median(r["seconds"]))
    fig, ax = plots.figure(6.0, 0.9 + 0.36 * len(ok))
    for i, r in enumerate(ok):
        ratios = [a / b for a, b in zip(r["seconds"], r["forward"])]
        ax.barh(i, median(ratios), color=plots.color(r["method"]))
        ax.plot(ratios, [i] * len(ratios), "k|", ms=8)
    ax.set_yticks(range(len(ok)), [r["method"] for r in ok], fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("gradient time per call, in forward passes (bar: median; ticks: repeats)")
    file = plots.save(fig, folder, "yours-runtime")
    fastest = ok[0]
    return file, (f"Gradient time per call in forward passes of your model, for each method "
                  f"(log axis); the fastest, {fastest['method']}, takes "
                  f"{median(a / b for a, b in zip(fastest['seconds'], fastest['forward'])):.3g}"
                  " forward passes.")


def render_newton(results, folder):
    out = Rendered()
    runs = [r for r in results.values() if "grad_norm" in r]
    body = [[r["hessian"], r["status"], r.get("nit", ""),
             "" if "seconds" not in r else seconds_text(r["setup"]),
             "" if "seconds" not in r else seconds_text(r["seconds"]),
             "" if "grad_norm" not in r else f"{r['grad_norm'][-1]:.1e}"]
            for r in sorted(results.values(), key=lambda r: r["hessian"])]
    out.tables.append(Table("Newton's method with the gradient from AD and the Hessian from "
                            "each source: iterations, setup, total time (setup included) and "
                            "the final ‖∇f‖", ["Hessian", "status", "iterations", "setup",
                                               "total", "final ‖∇f‖"], body))
    if runs:
        fig, ax = plots.figure(5.2, 3.6)
        for r in runs:
            ax.semilogy(range(len(r["grad_norm"])), np.maximum(r["grad_norm"], 1e-300), "o-",
                        ms=3, color=plots.color(r["hessian"]), label=plots.label(r["hessian"]))
        ax.set_xlabel("iteration")
        ax.set_ylabel("‖∇f‖")
        ax.legend(fontsize=8, loc="best")
        file = plots.save(fig, folder, "yours-newton")
        best = min(runs, key=lambda r: r["grad_norm"][-1])
        out.figures.append((file, f"‖∇f‖ per Newton iteration with each Hessian source (log "
                                  f"axis); the lowest final value, {best['grad_norm'][-1]:.1e}, "
                                  f"with the Hessian from {best['hessian']}."))
        out.reading.append("Newton from θ₀: " + "; ".join(
            (f"with the Hessian from {r['hessian']} it converged ({r['message']}) in "
             f"{r['nit']} iterations, {seconds_text(r['seconds'])}" if r["converged"] else
             f"with the Hessian from {r['hessian']} it stopped without converging "
             f"({r['message']}; {r['nit']} iterations, {seconds_text(r['seconds'])}, final ‖∇f‖ "
             f"{r['grad_norm'][-1]:.1e})")
            for r in sorted(runs, key=lambda r: r["seconds"])) + ".")
    return out


def render_memory(results, folder):
    out = Rendered()
    ok = sorted((r for r in results.values() if r["status"] == "ok"),
                key=lambda r: r["peak_bytes"])
    out.tables.append(Table(
        "Peak memory Python allocated while preparing each method's gradient and calling it "
        "once (tracemalloc: NumPy's buffers included, the interpreter's own not)",
        ["method", "peak"], [[r["method"], bytes_text(r["peak_bytes"])] if r["status"] == "ok"
                             else [r["method"], r["status"]]
                             for r in sorted(results.values(), key=lambda r: r["method"])]))
    if len(ok) > 1:
        out.reading.append(f"Least memory: {ok[0]['method']} ({bytes_text(ok[0]['peak_bytes'])}); "
                           f"most: {ok[-1]['method']} ({bytes_text(ok[-1]['peak_bytes'])}).")
    return out
