"""Runtime: gradient, Jacobian and Hessian time against the parameter count n for each method,
the symbolic setup against its evaluation, and every cost as a multiple of one forward pass.

Every number comes through the shared interface, ``differentiator(name)``. Each cell builds a
fresh MLP, so the symbolic method's cache is cold and its first call pays the setup (trace,
differentiate, compile); the setup is that first call's time less one evaluation. Then
``measure`` (cached by now) gives the counts and sizes of its ``Cost``, and ``timing.timed``
times the method's plain call (``gradient`` …: ``measure`` would trace AD's tape for its size
inside the clock). The forward pass — the objective for gradients and Hessians, the network's
outputs for Jacobians — is timed in the same cell, so each cost ÷ forward is a ratio from one
moment on the machine. Every time is process CPU time, as in ``timing``: on a shared machine
wall time also counts the moments another tenant runs (the first call's wall time is kept in
the results beside it).

Two pieces of analysis, both checked against closed forms in the tests:

- the slope k of t ≈ c·nᵏ, least squares of log t on log n;
- the break-even count: setup + N·t_sym ≤ N·t_AD from N = ⌈setup / (t_AD − t_sym)⌉ on, and
  never when the symbolic evaluation is not faster than AD's.

A symbolic build stopped by its budget (SwellLimitError) is a result — "stopped by budget" at
that n — not a failed cell.
"""

import math
import time
from dataclasses import dataclass
from functools import cache, partial

import numpy as np
from matplotlib.ticker import NullFormatter

from ... import models
from ...errors import SwellLimitError
from ...interface import differentiator
from .. import plots, timing
from ..page import Rendered, Table
from ..runner import Cell

NAME = "runtime"
TITLE = "Runtime"

QUANTITIES = ("gradient", "jacobian", "hessian")
METHODS = ("ad", "symbolic", "complex-step", "fd-central")
FAMILY = {"ad": "ad", "symbolic": "symbolic", "complex-step": "numeric", "fd-central": "numeric"}
LABELS = {"gradient": "Gradient", "jacobian": "Jacobian", "hessian": "Hessian"}
NOUNS = {"gradient": "gradient", "jacobian": "Jacobian", "hessian": "Hessian"}
FORWARD = {"gradient": "forward pass of f", "jacobian": "forward pass of the outputs",
           "hessian": "forward pass of f"}

# tanh MLPs whose parameter counts roughly double from one rung to the next:
# n = 7, 13, 25, 56, 121, 253, 433, 841, 1633.
LADDER = ((1, 2, 1), (2, 3, 1), (2, 3, 3, 1), (3, 5, 5, 1), (4, 8, 8, 1), (6, 12, 12, 1),
          (8, 16, 16, 1), (8, 24, 24, 1), (16, 32, 32, 1))


@dataclass(frozen=True)
class Clock:
    """How a cell times a call: ``repeats`` bursts of at least ``burst`` s after a warm-up,
    fewer (never under two) when a call is so slow that they would pass ``seconds``."""

    repeats: int
    burst: float
    seconds: float

    def repeats_for(self, call_seconds):
        affordable = int(self.seconds / max(call_seconds, self.burst)) - 1   # − the warm-up
        return max(2, min(self.repeats, affordable))


def _plan(profile):
    """Batch, clock, and how many rungs of the ladder each (quantity, family) climbs."""
    rungs = profile.pick(
        {"gradient": dict(ad=2, numeric=2, symbolic=2),
         "jacobian": dict(ad=2, numeric=2, symbolic=1),
         "hessian": dict(ad=2, numeric=1, symbolic=1)},
        {"gradient": dict(ad=8, numeric=7, symbolic=6),
         "jacobian": dict(ad=7, numeric=6, symbolic=4),
         "hessian": dict(ad=6, numeric=3, symbolic=4)},
        {"gradient": dict(ad=9, numeric=8, symbolic=8),
         "jacobian": dict(ad=8, numeric=7, symbolic=7),
         "hessian": dict(ad=7, numeric=4, symbolic=7)})
    return dict(rungs=rungs, batch=profile.pick(2, 8, 16),
                clock=profile.pick(Clock(3, 0.002, 0.02), Clock(5, 0.01, 0.4),
                                   Clock(7, 0.05, 3.0)))


def cells(profile):
    plan = _plan(profile)
    out = []
    for quantity in QUANTITIES:
        for method in METHODS:
            for widths in LADDER[:plan["rungs"][quantity][FAMILY[method]]]:
                key = f"{quantity}/{method}/{'-'.join(map(str, widths))}"
                out.append(Cell(key, partial(measure, quantity, method, widths, plan["batch"],
                                             profile.seed, plan["clock"])))
    return out


def measure(quantity, method, widths, batch, seed, clock):
    """One method's ``quantity`` of a fresh tanh MLP: setup, timed evaluation, forward pass."""
    problem = models.get("mlp", widths=widths, batch=batch, seed=seed)
    f = problem.outputs if quantity == "jacobian" else problem.objective
    theta = problem.theta0
    result = {"quantity": quantity, "method": method, "widths": list(widths), "batch": batch,
              "n": int(problem.n_params), "m": int(problem.Y.size) if quantity == "jacobian"
              else 1}
    d = differentiator(method)
    if method == "symbolic":
        _warm_symbolic(seed)
    cpu, wall = time.process_time(), time.perf_counter()
    try:
        prepared = d.prepare(f, theta, quantity)   # the setup, then one evaluation
        first = prepared(theta)
    except SwellLimitError as stop:
        return {**result, "stopped": {"stage": stop.stage, "what": stop.what,
                                      "reached": float(stop.reached),
                                      "limit": float(stop.limit)}}
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    size, unit = prepared.size()
    again = time.process_time()
    prepared(theta)                            # one warm call: the cost the repeats must fit
    again = time.process_time() - again
    seconds = timing.timed(lambda: prepared(theta), clock.repeats_for(again), clock.burst)
    cost = first.cost
    return {**result,
            "forward": timing.timed(lambda: f(theta), clock.repeats, clock.burst),
            "seconds": seconds,
            "setup_seconds": prepared.setup_seconds,
            "first_call_seconds": cpu, "first_call_wall_seconds": wall,
            **{name: None if value is None else int(value) for name, value in (
                ("evaluations", cost.evaluations),
                ("complex_evaluations", cost.complex_evaluations),
                ("tape_nodes", size if unit == "tape nodes" else None),
                ("expression_size", size if unit == "scalar operations" else None))}}


@cache
def _warm_symbolic(seed):
    """Build one throwaway symbolic gradient per process: the first build pays SymPy's and the
    code generator's one-time start (several times the setup of a small network), which would
    otherwise land on whichever cell happens to run first."""
    problem = models.get("mlp", widths=(1, 1, 1), batch=1, seed=seed)
    differentiator("symbolic").gradient(problem.objective, problem.theta0)


# Analysis.

def fit_slope(ns, ts):
    """(k, c) of t ≈ c·nᵏ by least squares on (log n, log t); None with fewer than two n."""
    x, y = np.log(np.asarray(ns, float)), np.log(np.asarray(ts, float))
    dx = x - x.mean()
    if len(x) < 2 or not np.any(dx):
        return None
    k = float(dx @ (y - y.mean()) / (dx @ dx))
    return k, float(np.exp(y.mean() - k * x.mean()))


def break_even(setup, t_symbolic, t_ad):
    """Evaluations N after which setup + N·t_symbolic has caught up with N·t_ad:
    ⌈setup / (t_ad − t_symbolic)⌉; None (never) when the symbolic evaluation is not faster."""
    if t_symbolic >= t_ad:
        return None
    return max(1, math.ceil(setup / (t_ad - t_symbolic)))


def _timed(results):
    """{(quantity, method): [cell results with timings, by n]}."""
    series = {}
    for r in sorted(results.values(), key=lambda r: r["n"]):
        if "seconds" in r:
            series.setdefault((r["quantity"], r["method"]), []).append(r)
    return series


def _stops(results):
    return sorted((r for r in results.values() if "stopped" in r),
                  key=lambda r: (QUANTITIES.index(r["quantity"]), r["method"], r["n"]))


def _per_forward(r):
    return r["seconds"]["median"] / r["forward"]["median"]


def _slope_of(rows, value):
    fit = fit_slope([r["n"] for r in rows], [value(r) for r in rows])
    return None if fit is None else fit[0]


def _break_evens(series, quantity):
    """[(n, setup s, symbolic s, AD s, break-even or None)] where both methods were timed."""
    ad = {r["n"]: r for r in series.get((quantity, "ad"), [])}
    out = []
    for r in series.get((quantity, "symbolic"), []):
        if r["n"] in ad:
            t_sym, t_ad = r["seconds"]["median"], ad[r["n"]]["seconds"]["median"]
            out.append((r["n"], r["setup_seconds"], t_sym, t_ad,
                        break_even(r["setup_seconds"], t_sym, t_ad)))
    return out


# Rendering.

def render(results, folder):
    series, stops = _timed(results), _stops(results)
    quantities = [q for q in QUANTITIES if any(key[0] == q for key in series)]
    rendered = Rendered()
    if not quantities:
        rendered.reading = [_stop_sentence(stops) if stops else
                            "No runtime cell finished, so there is nothing to plot."]
        return rendered
    rendered.figures += [_draw_times(series, stops, quantities, folder),
                         _draw_forward(series, quantities, folder)]
    if any(key[1] == "symbolic" for key in series):
        rendered.figures.append(_draw_symbolic(series, quantities, folder))
    rendered.tables += [_slope_table(series, quantities), _time_table(series, stops, quantities),
                        _forward_table(series, quantities)]
    if any(_break_evens(series, q) for q in quantities):
        rendered.tables.append(_break_even_table(series, quantities))
    rendered.reading += [_slope_sentence(series, q) for q in quantities]
    rendered.reading += [s for s in (_forward_sentence(series, q) for q in quantities) if s]
    if ("gradient", "ad") in series:
        rendered.reading.append(_cheap_gradient_sentence(series))
    rendered.reading += [s for s in (_break_even_sentence(series, q) for q in quantities) if s]
    if stops:
        rendered.reading.append(_stop_sentence(stops))
    return rendered


def _methods(series, quantity):
    return [m for m in METHODS if (quantity, m) in series]


def _panels(count):
    fig, axes = plots.figure(width=4.2, height=3.6, ncols=count)
    return fig, np.atleast_1d(axes)


def _log_log(ax, **labels):
    """Log axes labelled at the decades only: a narrow range otherwise labels its minor ticks."""
    ax.set(xscale="log", yscale="log", **labels)
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.yaxis.set_minor_formatter(NullFormatter())


def _draw_times(series, stops, quantities, folder):
    fig, axes = _panels(len(quantities))
    for ax, quantity in zip(axes, quantities):
        for method in _methods(series, quantity):
            rows = series[quantity, method]
            ns = np.array([r["n"] for r in rows], float)
            t = np.array([r["seconds"]["median"] for r in rows])
            low = t - np.array([r["seconds"]["min"] for r in rows])
            high = np.array([r["seconds"]["max"] for r in rows]) - t
            fit = fit_slope(ns, t)
            label = plots.label(method) + ("" if fit is None else f": k = {_k(fit[0])}")
            stopped = [r["n"] for r in stops if (r["quantity"], r["method"]) == (quantity, method)]
            if stopped:
                label += f" (budget stop at n = {min(stopped)})"
            ax.errorbar(ns, t, yerr=[low, high], marker="o", ms=4, capsize=2,
                        color=plots.color(method), label=label)
            if fit is not None:
                ax.plot(ns, fit[1] * ns ** fit[0], ":", color=plots.color(method), lw=1)
        _log_log(ax, xlabel="parameters n", ylabel="seconds per call", title=LABELS[quantity])
        ax.legend(fontsize=7)
    return (plots.save(fig, folder, "runtime-time"),
            "Time per call against the parameter count (log–log; median, bars from the "
            "fastest to the slowest repeat); dotted: the fitted t ≈ c·nᵏ, k in the legend.")


def _draw_forward(series, quantities, folder):
    fig, axes = _panels(len(quantities))
    for ax, quantity in zip(axes, quantities):
        for method in _methods(series, quantity):
            rows = series[quantity, method]
            ns = [r["n"] for r in rows]
            ax.plot(ns, [_per_forward(r) for r in rows], "o-", ms=4, color=plots.color(method),
                    label=plots.label(method))
        counted = [r for r in series.get((quantity, "fd-central"), []) if r["evaluations"]]
        if counted:
            ax.plot([r["n"] for r in counted], [r["evaluations"] for r in counted], "--",
                    color=plots.NEUTRAL, lw=1, label=f"{plots.label('fd-central')}: calls of f")
        _log_log(ax, xlabel="parameters n", ylabel="time ÷ one forward pass",
                 title=LABELS[quantity])
        ax.legend(fontsize=7)
    return (plots.save(fig, folder, "runtime-forward"),
            "Cost as a multiple of one forward pass (the objective; for Jacobians the "
            "network's outputs), both timed in the same cell; dashed: how many times central "
            "differences call the function.")


def _draw_symbolic(series, quantities, folder):
    fig, (left, right) = _panels(2)
    drawn = False
    for quantity in quantities:
        rows = series.get((quantity, "symbolic"), [])
        if not rows:
            continue
        ns = [r["n"] for r in rows]
        line, = left.plot(ns, [r["setup_seconds"] for r in rows], "o-", ms=4,
                          label=f"{quantity} setup")
        left.plot(ns, [r["seconds"]["median"] for r in rows], "s--", ms=3,
                  color=line.get_color(), label=f"{quantity} evaluation")
        paying = [(n, b) for n, _, _, _, b in _break_evens(series, quantity) if b is not None]
        if paying:
            right.plot(*zip(*paying), "o-", ms=4, color=line.get_color(), label=quantity)
            drawn = True
    _log_log(left, xlabel="parameters n", ylabel="seconds",
             title="Symbolic: setup once, then each evaluation")
    left.legend(fontsize=7)
    right.set(xlabel="parameters n", ylabel="evaluations", title="Break-even against AD")
    if drawn:
        _log_log(right)
        right.legend(fontsize=7)
    else:
        right.text(0.5, 0.5, "symbolic evaluation never\nfaster than AD's here",
                   ha="center", va="center", transform=right.transAxes)
    return (plots.save(fig, folder, "runtime-symbolic"),
            "Left: the symbolic method's one-time setup (trace, differentiate, compile) and its "
            "evaluation per call. Right: evaluations after which setup + N·evaluation beats "
            "N AD evaluations (sizes where it never does are left out).")


# Tables.

def _grid(series, quantities, cell, stops=()):
    """Rows (quantity, n) × METHODS columns, each entry ``cell(result)``."""
    by = {(r["quantity"], r["method"], r["n"]): r for rows in series.values() for r in rows}
    stopped = {(r["quantity"], r["method"], r["n"]) for r in stops}
    methods = [m for m in METHODS if any((q, m) in series for q in quantities)]
    rows = []
    for quantity in quantities:
        ns = sorted({n for (q, _, n) in by if q == quantity}
                    | {n for (q, _, n) in stopped if q == quantity})
        for n in ns:
            rows.append([LABELS[quantity], n] + [
                cell(by[quantity, m, n]) if (quantity, m, n) in by
                else "stopped by budget" if (quantity, m, n) in stopped else "—"
                for m in methods])
    return methods, rows


def _slope_table(series, quantities):
    methods = [m for m in METHODS if any((q, m) in series for q in quantities)]
    rows = []
    for quantity in quantities:
        row = [LABELS[quantity]]
        for m in methods:
            found = series.get((quantity, m), [])
            k = _slope_of(found, lambda r: r["seconds"]["median"]) if found else None
            row.append("—" if k is None else f"{_k(k)} (n {found[0]['n']}–{found[-1]['n']})")
        rows.append(row)
    return Table("Fitted slope k of time ≈ c·nᵏ per method (the sizes it was fitted over)",
                 ["quantity"] + methods, rows)


def _time_table(series, stops, quantities):
    def cell(r):
        s = r["seconds"]
        return f"{_ms(s['median'])} ({_ms(s['min'])}–{_ms(s['max'])})"
    methods, rows = _grid(series, quantities, cell, stops)
    return Table("Time per call in ms: median (fastest–slowest of the repeats)",
                 ["quantity", "n"] + methods, rows)


def _forward_table(series, quantities):
    ad = {(r["quantity"], r["n"]): r for rows in series.values() for r in rows
          if r["method"] == "ad"}

    def cell(r):
        text = f"{_num(_per_forward(r))}×"
        base = ad.get((r["quantity"], r["n"]))
        if base is not None and r["method"] != "ad":
            text += f" ({_num(r['seconds']['median'] / base['seconds']['median'])}× AD)"
        return text
    methods, rows = _grid(series, quantities, cell)
    return Table("Cost as a multiple of one forward pass (and of AD's time at the same n)",
                 ["quantity", "n"] + methods, rows)


def _break_even_table(series, quantities):
    rows = []
    for quantity in quantities:
        for n, setup, t_sym, t_ad, count in _break_evens(series, quantity):
            rows.append([LABELS[quantity], n, f"{setup:.3g}", _ms(t_sym), _ms(t_ad),
                         f"{t_sym / t_ad:.2f}", "never" if count is None else f"{count:,}"])
    return Table("Symbolic setup against evaluation, and the evaluations until it beats AD",
                 ["quantity", "n", "setup s", "symbolic ms", "AD ms", "symbolic ÷ AD",
                  "break-even evaluations"], rows)


# Reading: sentences computed from the results.

def _slope_sentence(series, quantity):
    parts, every = [], []
    for method in _methods(series, quantity):
        rows = series[quantity, method]
        every += rows
        k = _slope_of(rows, lambda r: r["seconds"]["median"])
        if k is not None:
            sizes = sorted(r["n"] for r in rows)
            parts.append((k, f"{_k(k)} for {method} (n = {sizes[0]}–{sizes[-1]})"))
    ns = sorted({r["n"] for r in every})
    if not parts:
        return (f"{LABELS[quantity]}: every method was timed at one size only (n = "
                f"{_join(map(str, ns))}), too few to fit a slope.")
    parts.sort()
    # the forward pass once per size, whichever method's cell measured it
    once = list({r["n"]: r for r in every}.values())
    forward = _slope_of(once, lambda r: r["forward"]["median"])
    return (f"{LABELS[quantity]} time grows as nᵏ with k = {_join(p for _, p in parts)}; "
            f"the {FORWARD[quantity]} itself grows with k = {_k(forward)} over "
            f"n = {ns[0]}–{ns[-1]}.")


def _forward_sentence(series, quantity):
    parts = []
    for method in _methods(series, quantity):
        rows = series[quantity, method]
        first, last = _per_forward(rows[0]), _per_forward(rows[-1])
        k = _slope_of(rows, _per_forward)
        span = (f"{_num(first)}" if len(rows) == 1 else f"{_num(first)} → {_num(last)}")
        parts.append(f"{method} {span}" + ("" if k is None else f" (slope {_k(k)})"))
    if not parts:
        return None
    ns = sorted({r["n"] for m in _methods(series, quantity) for r in series[quantity, m]})
    where = f"n = {ns[0]}" if len(ns) == 1 else f"from n = {ns[0]} to {ns[-1]}"
    return (f"{LABELS[quantity]} cost in forward passes ({FORWARD[quantity]}), {where}: "
            f"{'; '.join(parts)}.")


def _cheap_gradient_sentence(series):
    ad = series["gradient", "ad"]
    ratios = [_per_forward(r) for r in ad]
    k = _slope_of(ad, _per_forward)
    low, high = _num(min(ratios)), _num(max(ratios))
    text = (f"AD's gradient costs {low if low == high else f'{low}–{high}'} forward passes over "
            f"n = {ad[0]['n']}–{ad[-1]['n']}")
    if k is None:
        text += " (one size only, no trend to fit)"
    else:
        verdict = ("about constant, as the cheap-gradient principle says" if abs(k) < 0.2
                   else "growing with n, against the cheap-gradient principle")
        text += f", ÷-forward slope {_k(k)}: {verdict}"
    numeric = [m for m in ("fd-central", "complex-step") if ("gradient", m) in series]
    for method in numeric:
        rows = series["gradient", method]
        last = rows[-1]
        calls = last["evaluations"] or last["complex_evaluations"]
        text += (f"; {method} costs {_num(_per_forward(last))} at n = {last['n']}"
                 + (f" ({calls:,} calls of f)" if calls else ""))
        k_numeric = _slope_of(rows, _per_forward)
        if k_numeric is not None:
            text += f", slope {_k(k_numeric)}"
    return text + "."


def _break_even_sentence(series, quantity):
    found = _break_evens(series, quantity)
    if not found:
        return None
    setups = series[quantity, "symbolic"]
    k = _slope_of(setups, lambda r: r["setup_seconds"])
    n, setup, t_sym, t_ad, count = found[-1]
    text = (f"Symbolic {NOUNS[quantity]}: setup {setup:.3g} s at n = {n}"
            + ("" if k is None else f" (growing as n^{_k(k)})")
            + f", then {_ms(t_sym)} ms per evaluation against AD's {_ms(t_ad)} ms "
            f"({t_sym / t_ad:.2f}×), so ")
    text += ("it never pays off at that size" if count is None
             else f"it beats AD after {count:,} evaluations")
    if len(found) > 1:
        text += ("; break-even by size: " + ", ".join(
            f"{'never' if c is None else f'{c:,}'} at n = {size}"
            for size, _, _, _, c in found))
    return text + "."


def _stop_sentence(stops):
    return ("Stopped by the symbolic budget (a result, not a failure): " + "; ".join(
        f"{r['method']} {NOUNS[r['quantity']]} at n = {r['n']} ({_reached(r['stopped'])})"
        for r in stops) + ".")


def _reached(stop):
    if stop["what"] == "seconds":
        return f"{stop['stage']} took {stop['reached']:.3g} s of its {stop['limit']:g} s"
    return f"{stop['stage']}: {stop['what']} reached {stop['reached']:,.0f} of {stop['limit']:,.0f}"


def _k(slope):
    return f"{round(slope, 2) + 0.0:.2f}"         # + 0.0: no "-0.00"


def _ms(seconds):
    return _num(seconds * 1e3)


def _num(x):
    """Three significant digits, thousands separated."""
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"


def _join(words):
    words = list(words)
    return " and ".join(words) if len(words) <= 2 else ", ".join(words[:-1]) + " and " + words[-1]
