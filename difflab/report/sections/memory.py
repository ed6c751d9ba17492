"""Memory: the peak memory each method takes to prepare a gradient or a Hessian and evaluate
it once, against the parameter count, beside what it keeps: the AD tape's saved arrays and the
symbolic method's generated code.

Peaks are Python's allocations as ``tracemalloc`` sees them (NumPy's buffers included, the
interpreter's own structures not), from the start of ``prepare`` to the end of the first
evaluation, on the same tanh MLPs as the runtime section; one forward pass of f is measured
the same way, so each peak is also stated as a multiple of it. The numbers are deterministic
for a given model (allocation, not time), so one run per cell is enough.
"""

import tracemalloc
from functools import cache, partial

import numpy as np

from ... import models
from ...errors import DiffLabError, SwellLimitError
from ...interface import differentiator
from .. import plots
from ..page import Rendered, Table
from ..runner import Cell
from .runtime import fit_slope

NAME = "memory"
TITLE = "Memory"

QUANTITIES = ("gradient", "hessian")
METHODS = ("ad", "symbolic", "complex-step", "fd-central")
# tanh MLPs whose parameter counts are about ×4 apart (gradients: n = 25 … 6337) or ×2 apart
# (Hessians, n² numbers whose finite differences under tracemalloc take ~1 min at n = 121:
# n = 7 … 121)
LADDERS = {"gradient": ((2, 3, 3, 1), (4, 8, 8, 1), (8, 16, 16, 1), (16, 32, 32, 1),
                        (32, 64, 64, 1)),
           "hessian": ((1, 2, 1), (2, 3, 1), (2, 3, 3, 1), (3, 5, 5, 1), (4, 8, 8, 1))}


def _plan(profile):
    """How many rungs of its ladder each quantity climbs."""
    return dict(rungs=profile.pick({"gradient": 2, "hessian": 2}, {"gradient": 3, "hessian": 3},
                                   {"gradient": 5, "hessian": 5}),
                batch=profile.pick(4, 8, 16))


def cells(profile):
    plan = _plan(profile)
    return [Cell(f"{quantity}/{method}/{'-'.join(map(str, widths))}",
                 partial(measure, quantity, method, widths, plan["batch"], profile.seed))
            for quantity in QUANTITIES for method in METHODS
            for widths in LADDERS[quantity][:plan["rungs"][quantity]]]


def peak_bytes(run):
    """Peak bytes allocated while ``run()`` runs (tracemalloc), and what ``run`` returned."""
    tracemalloc.start()
    try:
        value = run()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, value


def measure(quantity, method, widths, batch, seed):
    problem = models.get("mlp", widths=widths, batch=batch, seed=seed)
    f, theta = problem.objective, problem.theta0
    result = {"quantity": quantity, "method": method, "widths": list(widths),
              "n": int(problem.n_params)}
    result["forward_bytes"], _ = peak_bytes(lambda: f(theta))
    d = differentiator(method)
    _warm(method, quantity, seed)

    def prepare_and_call():
        prepared = d.prepare(f, theta, quantity)
        prepared(theta)
        return prepared
    try:
        peak, prepared = peak_bytes(prepare_and_call)
    except SwellLimitError as stop:
        return {**result, "stopped": f"{stop.stage}: {stop.what}"}
    details = prepared.details()
    return {**result, "peak_bytes": int(peak),
            "kept_bytes": details.get("tape_bytes", details.get("code_bytes")),
            "kept": "tape" if "tape_bytes" in details else
                    "code" if "code_bytes" in details else None}


@cache
def _warm(method, quantity, seed):
    """Prepare and evaluate once on a one-neuron network, untraced: a method's first use in a
    process allocates what it keeps for good (imports, SymPy's tables), which would land on
    whichever cell ran first."""
    problem = models.get("mlp", widths=(1, 1, 1), batch=1, seed=seed)
    differentiator(method).prepare(problem.objective, problem.theta0, quantity)(problem.theta0)


# Rendering.

def render(results, folder):
    out = Rendered()
    done = [r for r in results.values() if "peak_bytes" in r]
    if not done:
        return out
    quantities = [q for q in QUANTITIES if any(r["quantity"] == q for r in done)]
    out.figures.append(_draw(done, quantities, folder))
    out.tables.append(_table(results))
    out.reading += [s for q in quantities for s in _reading(done, q)]
    return out


def _series(done, quantity, method):
    return sorted((r for r in done if r["quantity"] == quantity and r["method"] == method),
                  key=lambda r: r["n"])


def _draw(done, quantities, folder):
    fig, axes = plots.figure(4.6, 3.8, ncols=len(quantities))
    for ax, quantity in zip(np.atleast_1d(axes), quantities):
        for method in METHODS:
            rows = _series(done, quantity, method)
            if rows:
                ax.loglog([r["n"] for r in rows], [r["peak_bytes"] for r in rows], marker="o",
                          color=plots.color(method), ls=plots.linestyle(method),
                          label=plots.label(method))
        forward = {r["n"]: r["forward_bytes"] for r in done if r["quantity"] == quantity}
        ns = sorted(forward)
        ax.loglog(ns, [forward[n] for n in ns], ".:", color=plots.NEUTRAL,
                  label="one forward pass of f")
        ax.set_xticks(ns, [f"{n:,}" for n in ns])
        ax.minorticks_off()
        ax.set_xlabel("parameters n")
        ax.set_ylabel("peak bytes (tracemalloc)")
        ax.set_title(f"{quantity}: prepare + one evaluation", fontsize=9)
    handles, labels = np.atleast_1d(axes)[0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=7, loc="lower center", ncol=len(labels),
               frameon=False)
    fig.tight_layout(rect=(0, 0.08, 1, 1))       # the legend below the panels covers no data
    fig.set_layout_engine("none")
    file = plots.save(fig, folder, "memory")
    largest = max(done, key=lambda r: (r["n"], r["peak_bytes"]))
    return file, (f"Peak memory of preparing each method's {' and '.join(quantities)} and "
                  f"evaluating it once, against n (log-log), beside one forward pass of f "
                  f"(dotted); the largest peak measured is {largest['method']}'s "
                  f"{largest['quantity']} at n = {largest['n']:,}: "
                  f"{bytes_text(largest['peak_bytes'])}.")


def _table(results):
    rows = []
    for r in sorted(results.values(), key=lambda r: (QUANTITIES.index(r["quantity"]),
                                                     r["n"], METHODS.index(r["method"]))):
        if "stopped" in r:
            rows.append([r["quantity"], r["method"], r["n"], "stopped by budget", "", "", ""])
            continue
        rows.append([r["quantity"], r["method"], f"{r['n']:,}", bytes_text(r["peak_bytes"]),
                     f"{r['peak_bytes'] / max(r['forward_bytes'], 1):,.1f}",
                     "" if r["kept"] is None else r["kept"],
                     "" if r["kept_bytes"] is None else bytes_text(r["kept_bytes"])])
    return Table("Peak memory of prepare + one evaluation, as bytes and as multiples of one "
                 "forward pass's peak; what the method keeps between calls (the AD tape's saved "
                 "arrays of one evaluation, the symbolic method's generated source)",
                 ["quantity", "method", "n", "peak", "÷ forward", "kept", "kept bytes"], rows)


def _reading(done, quantity):
    slopes = {}
    for method in METHODS:
        rows = _series(done, quantity, method)
        fit = fit_slope([r["n"] for r in rows], [r["peak_bytes"] for r in rows])
        if fit is not None:
            slopes[method] = fit[0]
    top = max(r["n"] for r in done if r["quantity"] == quantity)
    at_top = sorted((r for r in done if r["quantity"] == quantity and r["n"] == top),
                    key=lambda r: r["peak_bytes"])
    sentences = []
    if len(at_top) > 1:
        sentences.append(
            f"{quantity.capitalize()} at n = {top:,}: least memory {at_top[0]['method']} "
            f"({bytes_text(at_top[0]['peak_bytes'])}), most {at_top[-1]['method']} "
            f"({bytes_text(at_top[-1]['peak_bytes'])}, "
            f"{at_top[-1]['peak_bytes'] / max(at_top[0]['peak_bytes'], 1):.0f}× as much).")
    if slopes:
        sentences.append(f"Peak memory of the {quantity} grows as n^k with k = " + ", ".join(
            f"{k:.2f} ({m})" for m, k in sorted(slopes.items(), key=lambda item: item[1]))
            + " (least squares on log–log, over the sizes measured).")
    return sentences


def bytes_text(n):
    """'4.9 MiB', '24 KiB' or '512 B' (binary units, as tracemalloc counts)."""
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n} B"
