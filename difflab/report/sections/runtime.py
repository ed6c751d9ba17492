"""Runtime: gradient, Jacobian and Hessian cost against the parameter count n for each method,
in forward passes first (method time ÷ forward time), then in seconds; the symbolic setup
against its evaluation; and where Python overhead stops dominating.

Every number comes through the shared interface, ``differentiator(name)``. Each cell builds a
fresh MLP, so the symbolic method's cache is cold and its first call pays the setup (trace,
differentiate, compile). Then ``measure`` (cached by now) gives the counts and sizes of its
``Cost``, and the method's plain call is timed (``gradient`` …: ``measure`` would trace AD's
tape for its size inside the clock) in ``k`` rounds interleaved with the forward pass — the
objective for gradients and Hessians, the network's outputs for Jacobians — so each round's
cost ÷ forward is a ratio from one moment on the machine (``timing.interleaved``). A symbolic
cell also rebuilds its derivative and times AD's evaluation in every round: its setup gets
``k`` samples, and its break-even against AD comes from one cell. Every time is process CPU
time, as in ``timing``; the raw samples are kept in the results.

The analysis, checked against closed forms in the tests:

- the slope k of t ≈ c·nᵏ, least squares of log t on log n, with a percentile-bootstrap
  interval (each size's samples resampled, seeded);
- the crossover n* of t ≈ a + b·n (fixed per-call overhead a, work b·n) for the forward pass:
  below n* the overhead dominates and the local slope is under ½; the slopes fitted over the
  sizes above n* are the asymptotic ones;
- the break-even count: setup + N·t_sym ≤ N·t_AD from N = ⌈setup / (t_AD − t_sym)⌉ on, and
  never when the symbolic evaluation is not faster than AD's, with a bootstrap interval.

A reading that rests on a difference (A faster than B, a slope above 1, a break-even) states
it only when the intervals separate, and otherwise says the data cannot tell.

A symbolic build stopped by its budget (SwellLimitError) is a result — "stopped by budget" at
that n — not a failed cell.
"""

import gc
import math
import statistics
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
from ..timing import DRAWS, LEVEL

NAME = "runtime"
TITLE = "Runtime"

QUANTITIES = ("gradient", "jacobian", "hessian")
METHODS = ("ad", "symbolic", "complex-step", "fd-central")
FAMILY = {"ad": "ad", "symbolic": "symbolic", "complex-step": "numeric", "fd-central": "numeric"}
LABELS = {"gradient": "Gradient", "jacobian": "Jacobian", "hessian": "Hessian"}
NOUNS = {"gradient": "gradient", "jacobian": "Jacobian", "hessian": "Hessian"}
FORWARD = {"gradient": "forward pass of f", "jacobian": "forward pass of the outputs",
           "hessian": "forward pass of f"}
SEED = 0                # the bootstrap's: a rerun of the rendering gives the same intervals

# tanh MLPs whose parameter counts roughly double from one rung to the next up to 1,633, then
# grow about fourfold to sizes where the forward pass outweighs Python's per-call overhead:
# n = 7, 13, 25, 56, 121, 253, 433, 841, 1633, 3601, 6337, 14113, 24961, 55873, 115457.
LADDER = ((1, 2, 1), (2, 3, 1), (2, 3, 3, 1), (3, 5, 5, 1), (4, 8, 8, 1), (6, 12, 12, 1),
          (8, 16, 16, 1), (8, 24, 24, 1), (16, 32, 32, 1), (24, 48, 48, 1), (32, 64, 64, 1),
          (48, 96, 96, 1), (64, 128, 128, 1), (96, 192, 192, 1), (192, 256, 256, 1))


@dataclass(frozen=True)
class Clock:
    """How a cell times its calls: ``repeats`` interleaved rounds, a burst of at least
    ``burst`` s per call, fewer rounds (never under three) when a round is so slow that they
    would pass ``seconds``."""

    repeats: int
    burst: float
    seconds: float

    def rounds_for(self, round_seconds):
        return max(3, min(self.repeats, int(self.seconds / max(round_seconds, 1e-9))))


def _plan(profile):
    """Batch, clock, and how many rungs of the ladder each (quantity, family) climbs.

    Quick repeats six times, the fewest whose order-statistics interval of the median reaches
    95%; tiny's three reach 75% (stated in the tables). Numeric gradients cost ~4n forward
    passes and numeric Hessians ~n², so they stop lower; symbolic stays where it builds."""
    rungs = profile.pick(
        {"gradient": dict(ad=2, numeric=2, symbolic=2),
         "jacobian": dict(ad=2, numeric=2, symbolic=1),
         "hessian": dict(ad=2, numeric=1, symbolic=1)},
        {"gradient": dict(ad=14, numeric=8, symbolic=6),
         "jacobian": dict(ad=14, numeric=7, symbolic=4),
         "hessian": dict(ad=7, numeric=3, symbolic=4)},
        {"gradient": dict(ad=15, numeric=11, symbolic=8),
         "jacobian": dict(ad=15, numeric=9, symbolic=7),
         "hessian": dict(ad=9, numeric=4, symbolic=7)})
    return dict(rungs=rungs, batch=profile.pick(2, 8, 16),
                clock=profile.pick(Clock(3, 0.001, 0.02), Clock(6, 0.005, 1.5),
                                   Clock(9, 0.02, 6.0)))


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
    """One method's ``quantity`` of a fresh tanh MLP: the first (cold) call, then the method
    and the forward pass timed in interleaved rounds — for symbolic also a rebuild (its setup)
    and AD's evaluation, the break-even's other side."""
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
    timers, call = _timers(quantity, method, prepared, f, theta, clock, cpu)
    rounds = clock.rounds_for(sum(max(seconds, clock.burst) for seconds in call.values())
                              + (cpu if method == "symbolic" else 0.0))
    samples = timing.interleaved(timers, rounds)
    timings = {name: timing.summary(values) for name, values in samples.items()}
    if "rebuild" in timings:                   # the setup: a rebuild less one evaluation
        evaluation = timings["seconds"]["median"]
        timings["setup"] = timing.summary(
            [max(0.0, s - evaluation) for s in timings.pop("rebuild")["samples"]])
    cost = first.cost
    return {**result, **timings,
            "first_call_seconds": cpu, "first_call_wall_seconds": wall,
            **{name: None if value is None else int(value) for name, value in (
                ("evaluations", cost.evaluations),
                ("complex_evaluations", cost.complex_evaluations),
                ("tape_nodes", size if unit == "tape nodes" else None),
                ("expression_size", size if unit == "scalar operations" else None))}}


def _timers(quantity, method, prepared, f, theta, clock, first):
    """The cell's timers for ``timing.interleaved`` and one warm call's seconds of each.

    The method's first call (``first`` CPU seconds) warmed it up, and bounds its cost where
    the setup is small — every method but symbolic: a slow numeric call is not made twice."""
    calls = {"seconds": lambda: prepared(theta), "forward": lambda: f(theta)}
    if method == "symbolic":
        ad = differentiator("ad").prepare(f, theta, quantity)
        calls["ad_seconds"] = lambda: ad(theta)
    warm = {} if method == "symbolic" else {"seconds": first}
    for name, fn in calls.items():             # a warm call each: the cost a round must fit
        if name in warm:
            continue
        start = time.process_time()
        fn()
        warm[name] = time.process_time() - start
    timers = {name: partial(timing.burst_seconds, fn, clock.burst)
              for name, fn in calls.items()}
    if method == "symbolic":
        symbolic = differentiator(method)

        def rebuild():
            start = time.process_time()
            symbolic.prepare(f, theta, quantity)(theta)
            seconds = time.process_time() - start
            gc.collect()        # the build's garbage, or its collection lands on the next call
            return seconds
        timers["rebuild"] = rebuild
    return timers, warm


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
    x = np.log(np.asarray(ns, float))
    if len(x) < 2 or not np.any(x - x.mean()):
        return None
    y = np.log(np.asarray(ts, float))
    k = float(_slopes(x, y))
    return k, float(np.exp(y.mean() - k * x.mean()))


def _slopes(x, y):
    """Least-squares slopes of the rows of ``y`` (…, sizes) on ``x``."""
    dx = x - x.mean()
    return (y - y.mean(axis=-1, keepdims=True)) @ dx / (dx @ dx)


def slope_interval(ns, samples, level=LEVEL, seed=SEED):
    """(k, low, high): the slope fitted to the medians of each size's ``samples`` and its
    percentile-bootstrap interval, every size's samples resampled; None with fewer than two
    distinct n."""
    fit = fit_slope(ns, [statistics.median(s) for s in samples])
    if fit is None:
        return None
    rng = np.random.default_rng(seed)
    medians = np.column_stack([timing.resampled_medians(s, DRAWS, rng) for s in samples])
    low, high = timing.percentile_interval(
        _slopes(np.log(np.asarray(ns, float)), np.log(medians)), level)
    return fit[0], low, high


def overhead_fit(ns, ts):
    """(a, b) of t ≈ a + b·n: a fixed per-call overhead and work linear in n, least squares
    on the relative residual (a + b·n)/t − 1 so that small and large n weigh alike."""
    ns, ts = np.asarray(ns, float), np.asarray(ts, float)
    (a, b), *_ = np.linalg.lstsq(np.column_stack([1 / ts, ns / ts]), np.ones_like(ts),
                                 rcond=None)
    return float(a), float(b)


def crossover(a, b):
    """n* = a/b, where the overhead a equals the work b·n (there the local slope of log t on
    log n is ½): 0 when no overhead shows (a ≤ 0), inf when no growth does (b ≤ 0)."""
    return math.inf if b <= 0 else max(a, 0.0) / b


def crossover_interval(ns, samples, level=LEVEL, seed=SEED):
    """(n*, low, high) of ``overhead_fit`` on the medians, with a percentile-bootstrap
    interval (each size's samples resampled); None with fewer than two distinct n."""
    if len(set(ns)) < 2:
        return None
    point = crossover(*overhead_fit(ns, [statistics.median(s) for s in samples]))
    rng = np.random.default_rng(seed)
    medians = np.column_stack([timing.resampled_medians(s, DRAWS, rng) for s in samples])
    low, high = timing.percentile_interval([crossover(*overhead_fit(ns, row))
                                            for row in medians], level)
    return point, low, high


def break_even(setup, t_symbolic, t_ad):
    """Evaluations N after which setup + N·t_symbolic has caught up with N·t_ad:
    ⌈setup / (t_ad − t_symbolic)⌉; None (never) when the symbolic evaluation is not faster."""
    if t_symbolic >= t_ad:
        return None
    return max(1, math.ceil(setup / (t_ad - t_symbolic)))


def break_even_interval(setup, t_symbolic, t_ad, level=LEVEL, seed=SEED):
    """(N, low, high) of ``break_even`` from per-round samples, None standing for never: the
    point from the medians, the interval a percentile bootstrap whose rounds are resampled
    together (setup, symbolic and AD of one round stay paired) when they are equally many."""
    rng = np.random.default_rng(seed)
    columns = [setup, t_symbolic, t_ad]
    if len({len(c) for c in columns}) == 1:
        m = timing.resampled_medians(np.column_stack(columns), DRAWS, rng)
    else:
        m = np.column_stack([timing.resampled_medians(c, DRAWS, rng) for c in columns])
    gain = m[:, 2] - m[:, 1]
    counts = np.full(len(m), math.inf)
    faster = gain > 0
    counts[faster] = np.maximum(1, np.ceil(m[faster, 0] / gain[faster]))
    low, high = timing.percentile_interval(counts, level)
    point = break_even(*(statistics.median(c) for c in columns))
    return point, _count(low), _count(high)


def _count(value):
    return None if math.isinf(value) else int(value)


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


def _ratios(r, name="seconds"):
    """Per-round ``name`` ÷ forward: the calls of one round share the machine's moment."""
    return [t / f for t, f in zip(r[name]["samples"], r["forward"]["samples"])]


def _per_forward(r):
    return timing.summary(_ratios(r))


def _fit(rows, samples, above=0.0):
    """(k, low, high, first n, last n) of the slope over ``rows`` with n ≥ ``above``;
    None with fewer than two sizes there."""
    rows = [r for r in rows if r["n"] >= above]
    found = slope_interval([r["n"] for r in rows], [samples(r) for r in rows])
    return None if found is None else (*found, rows[0]["n"], rows[-1]["n"])


def _regime(series, quantity):
    """The forward pass's overhead fit for ``quantity``, its samples pooled over the cells
    that timed it at each n: {"ns", "a", "b", "n_star", "low", "high", "above"} or None."""
    pooled = {}
    for (q, _), rows in series.items():
        if q == quantity:
            for r in rows:
                pooled.setdefault(r["n"], []).extend(r["forward"]["samples"])
    ns = sorted(pooled)
    found = crossover_interval(ns, [pooled[n] for n in ns])
    if found is None:
        return None
    a, b = overhead_fit(ns, [statistics.median(pooled[n]) for n in ns])
    n_star, low, high = found
    return {"ns": ns, "a": a, "b": b, "n_star": n_star, "low": low, "high": high,
            "above": [n for n in ns if n >= n_star], "pooled": pooled}


def _forward_rows(regime):
    """The pooled forward pass as rows that ``_fit`` takes."""
    return [{"n": n, "forward": {"samples": regime["pooled"][n]}} for n in regime["ns"]]


def _break_evens(series, quantity):
    """[(n, setup, symbolic, AD, (N, low, high))] from the symbolic cells, whose rounds also
    timed AD's evaluation; summaries for the times."""
    out = []
    for r in series.get((quantity, "symbolic"), []):
        if "setup" in r and "ad_seconds" in r:
            out.append((r["n"], r["setup"], r["seconds"], r["ad_seconds"], break_even_interval(
                r["setup"]["samples"], r["seconds"]["samples"], r["ad_seconds"]["samples"])))
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
    regimes = {q: _regime(series, q) for q in quantities}
    rendered.figures += [_draw_forward(series, regimes, quantities, folder),
                         _draw_times(series, stops, quantities, folder)]
    if any(key[1] == "symbolic" for key in series):
        rendered.figures.append(_draw_symbolic(series, quantities, folder))
    rendered.tables += [_forward_table(series, quantities),
                        _time_table(series, stops, quantities),
                        _slope_table(series, regimes, quantities)]
    if any(regimes.values()):
        rendered.tables.append(_overhead_table(regimes, quantities))
    if any(_break_evens(series, q) for q in quantities):
        rendered.tables.append(_break_even_table(series, quantities))
    rendered.reading += [s for s in (_overhead_sentence(series, regimes[q], q)
                                     for q in quantities) if s]
    rendered.reading += [s for s in (_forward_sentence(series, q) for q in quantities) if s]
    if ("gradient", "ad") in series:
        rendered.reading.append(_cheap_gradient_sentence(series, regimes["gradient"]))
    rendered.reading += [_slope_sentence(series, regimes[q], q) for q in quantities]
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


def _errorbar(ax, ns, summaries, **style):
    """Medians with their intervals as bars."""
    middle = np.array([s["median"] for s in summaries])
    bars = [middle - [s["low"] for s in summaries], [s["high"] for s in summaries] - middle]
    return ax.errorbar(ns, middle, yerr=bars, marker="o", ms=4, capsize=2, **style)


def _draw_forward(series, regimes, quantities, folder):
    fig, axes = _panels(len(quantities))
    for ax, quantity in zip(axes, quantities):
        regime = regimes[quantity]
        if regime and 0 < regime["n_star"] < math.inf:
            ax.axvspan(min(regime["ns"]), min(regime["n_star"], max(regime["ns"])),
                       color=plots.NEUTRAL, alpha=0.12, lw=0,
                       label=f"overhead dominates (n < n* ≈ {_num(regime['n_star'])})")
        for method in _methods(series, quantity):
            rows = series[quantity, method]
            _errorbar(ax, [r["n"] for r in rows], [_per_forward(r) for r in rows],
                      color=plots.color(method), label=plots.label(method))
        counted = [r for r in series.get((quantity, "fd-central"), []) if r["evaluations"]]
        if counted:
            ax.plot([r["n"] for r in counted], [r["evaluations"] for r in counted], "--",
                    color=plots.NEUTRAL, lw=1, label=f"{plots.label('fd-central')}: calls of f")
        _log_log(ax, xlabel="parameters n", ylabel="time ÷ one forward pass",
                 title=LABELS[quantity])
        ax.legend(fontsize=7)
    return (plots.save(fig, folder, "runtime-forward"),
            "Cost as a multiple of one forward pass (the objective; for Jacobians the "
            "network's outputs), from the per-round ratios of calls timed in interleaved "
            f"rounds: median and its {_confidence(series)} order-statistics interval; shaded: "
            "sizes below the crossover n* of the forward pass's fixed overhead and its work; "
            "dashed: how many times central differences call the function.")


def _draw_times(series, stops, quantities, folder):
    fig, axes = _panels(len(quantities))
    for ax, quantity in zip(axes, quantities):
        for method in _methods(series, quantity):
            rows = series[quantity, method]
            ns = np.array([r["n"] for r in rows], float)
            fit = _fit(rows, lambda r: r["seconds"]["samples"])
            label = plots.label(method) + ("" if fit is None else f": k = {_k(fit[0])}")
            stopped = [r["n"] for r in stops if (r["quantity"], r["method"]) == (quantity, method)]
            if stopped:
                label += f" (budget stop at n = {min(stopped)})"
            _errorbar(ax, ns, [r["seconds"] for r in rows], color=plots.color(method),
                      label=label)
            if fit is not None:
                c = fit_slope(ns, [r["seconds"]["median"] for r in rows])[1]
                ax.plot(ns, c * ns ** fit[0], ":", color=plots.color(method), lw=1)
        _log_log(ax, xlabel="parameters n", ylabel="seconds per call", title=LABELS[quantity])
        ax.legend(fontsize=7)
    return (plots.save(fig, folder, "runtime-time"),
            "Time per call against the parameter count (log–log; median and its "
            f"{_confidence(series)} order-statistics interval); dotted: the fitted t ≈ c·nᵏ, "
            "k in the legend.")


def _draw_symbolic(series, quantities, folder):
    fig, (left, right) = _panels(2)
    drawn = False
    for quantity in quantities:
        rows = [r for r in series.get((quantity, "symbolic"), []) if "setup" in r]
        if not rows:
            continue
        ns = [r["n"] for r in rows]
        line = _errorbar(left, ns, [r["setup"] for r in rows], label=f"{quantity} setup")
        color = line.lines[0].get_color()
        _errorbar(left, ns, [r["seconds"] for r in rows], ls="--", color=color,
                  label=f"{quantity} evaluation")
        paying = [(n, count) for n, _, _, _, count in _break_evens(series, quantity)
                  if count[0] is not None]
        if paying:
            ns, counts = zip(*paying)
            middle = np.array([c[0] for c in counts], float)
            low = np.array([c[1] for c in counts], float)
            high = np.array([np.nan if c[2] is None else c[2] for c in counts], float)
            right.errorbar(ns, middle, yerr=[middle - low, np.nan_to_num(high - middle)],
                           marker="o", ms=4, capsize=2, color=color, label=quantity)
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
            "Left: the symbolic method's one-time setup (trace, differentiate, compile; a "
            "rebuild per round) and its evaluation per call. Right: evaluations after which "
            "setup + N·evaluation beats N AD evaluations timed in the same rounds, with "
            "bootstrap intervals (sizes where it never does are left out; an open upper end "
            "means it may never).")


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
            rows.append([LABELS[quantity], f"{n:,}"] + [
                cell(by[quantity, m, n]) if (quantity, m, n) in by
                else "stopped by budget" if (quantity, m, n) in stopped else "—"
                for m in methods])
    return methods, rows


def _forward_table(series, quantities):
    methods, rows = _grid(series, quantities, lambda r: _median_text(_per_forward(r), _num))
    return Table("Cost in forward passes: median of the per-round ratios method ÷ forward "
                 f"[{LEVEL:.0%} order-statistics interval]" + _few_rounds(series),
                 ["quantity", "n"] + methods, rows)


def _time_table(series, stops, quantities):
    methods, rows = _grid(series, quantities, lambda r: _median_text(r["seconds"], _ms), stops)
    return Table(f"Time per call in ms: median [{LEVEL:.0%} order-statistics interval] of the "
                 "interleaved rounds" + _few_rounds(series), ["quantity", "n"] + methods, rows)


def _slope_table(series, regimes, quantities):
    methods = [m for m in METHODS if any((q, m) in series for q in quantities)]
    rows = []
    for quantity in quantities:
        regime = regimes[quantity]
        spans = [("all sizes", 0.0)]
        if regime and len(regime["above"]) >= 2:
            spans.append(("n ≥ n*", regime["n_star"]))
        for span, above in spans:
            row = [LABELS[quantity], span]
            forward = None if regime is None else _fit(
                _forward_rows(regime), lambda r: r["forward"]["samples"], above)
            row.append(_fit_text(forward))
            for m in methods:
                found = series.get((quantity, m), [])
                row.append(_fit_text(_fit(found, lambda r: r["seconds"]["samples"], above)))
            rows.append(row)
    return Table(f"Fitted slope k of time ≈ c·nᵏ [{LEVEL:.0%} bootstrap interval] (the sizes "
                 "it was fitted over), over all sizes and over those above the crossover n*",
                 ["quantity", "sizes", "forward pass"] + methods, rows)


def _overhead_table(regimes, quantities):
    rows = []
    for quantity in quantities:
        regime = regimes[quantity]
        if regime:
            rows.append([LABELS[quantity], _num(regime["a"] * 1e6), f"{regime['b'] * 1e9:.3g}",
                         _crossover_text(regime),
                         _join(f"{n:,}" for n in regime["above"]) or "none"])
    return Table("The forward pass as fixed overhead plus work, t ≈ a + b·n: where they are "
                 f"equal, n* = a/b [{LEVEL:.0%} bootstrap interval]",
                 ["quantity", "overhead a µs", "b ns per parameter", "n*", "sizes above n*"],
                 rows)


def _break_even_table(series, quantities):
    rows = []
    for quantity in quantities:
        for n, setup, t_sym, t_ad, count in _break_evens(series, quantity):
            rows.append([LABELS[quantity], f"{n:,}", _median_text(setup, lambda s: f"{s:.3g}"),
                         _median_text(t_sym, _ms), _median_text(t_ad, _ms),
                         _count_text(count)])
    return Table("Symbolic setup against evaluation (AD timed in the same rounds), and the "
                 "evaluations until it beats AD: medians [order-statistics intervals; "
                 f"break-even: {LEVEL:.0%} bootstrap interval]" + _few_rounds(series),
                 ["quantity", "n", "setup s", "symbolic ms", "AD ms", "break-even evaluations"],
                 rows)


# Reading: sentences computed from the results.

def _overhead_sentence(series, regime, quantity):
    """Where the forward pass's fixed overhead dominates and where its work does."""
    if regime is None:
        return None
    ns = regime["ns"]
    work = (f"plus {regime['b'] * 1e9:.3g} ns per parameter" if regime["b"] > 0
            else "and no work growing with n")
    text = (f"{LABELS[quantity]}: the {FORWARD[quantity]} costs about "
            f"{_num(regime['a'] * 1e6)} µs of fixed overhead {work} (t ≈ a + b·n fitted over "
            f"n = {ns[0]:,}–{ns[-1]:,})")
    n_star, high = regime["n_star"], regime["high"]
    if n_star == 0:
        return text + "; no fixed overhead shows: the work dominates at every size measured."
    if math.isinf(n_star):
        return (text + ": Python overhead dominates at every size measured, and the slopes "
                "measure the interpreter, not asymptotics.")
    text += f"; the two are equal at n* ≈ {_crossover_text(regime)}"
    if math.isinf(high):
        return (text + ": the data cannot tell where, or whether, the work overtakes the "
                "overhead within the sizes measured.")
    if not regime["above"]:
        return (text + ": every size measured is below it, so Python overhead dominates "
                "throughout and the slopes measure the interpreter, not asymptotics.")
    return (text + f": below it Python overhead dominates every method's time; from n = "
            f"{regime['above'][0]:,} on the work does, and the slopes fitted there are the "
            "asymptotic ones.")


def _forward_sentence(series, quantity):
    parts = []
    for method in _methods(series, quantity):
        rows = series[quantity, method]
        first, last = _per_forward(rows[0]), _per_forward(rows[-1])
        span = _median_text(first, _num) + ("" if len(rows) == 1 else
                                             f" → {_median_text(last, _num)}")
        fit = _fit(rows, _ratios)
        if fit is not None:
            span += f" (slope {_interval_text(fit)}: {_trend(fit, FAMILY[method])})"
        parts.append(f"{method} {span}")
    ns = sorted({r["n"] for m in _methods(series, quantity) for r in series[quantity, m]})
    where = f"n = {ns[0]:,}" if len(ns) == 1 else f"from n = {ns[0]:,} to {ns[-1]:,}"
    return (f"{LABELS[quantity]} cost in forward passes ({FORWARD[quantity]}), {where}: "
            f"{'; '.join(parts)}.")


def _trend(fit, family):
    """What a ÷-forward slope's interval says: constant, falling, growing — and, for the
    numeric methods, whose calls of f grow as n, whether faster or slower than n."""
    _, low, high = fit[:3]
    if family == "numeric":
        side = timing.separate((low, high), (1.0, 1.0))
        return {-1: "slower than n", 1: "faster than n",
                0: "the data cannot tell it from n, the count of calls of f"}[side]
    side = timing.separate((low, high), (0.0, 0.0))
    return {-1: "falling", 1: "growing", 0: "the data cannot tell it from constant"}[side]


def _cheap_gradient_sentence(series, regime):
    ad = series["gradient", "ad"]
    first, last = _per_forward(ad[0]), _per_forward(ad[-1])
    text = (f"AD's gradient costs {_median_text(first, _num)} forward passes at n = "
            f"{ad[0]['n']:,}" + ("" if len(ad) == 1 else
                                 f" and {_median_text(last, _num)} at n = {ad[-1]['n']:,}"))
    above = regime["n_star"] if regime and len(
        [r for r in ad if r["n"] >= regime["n_star"]]) >= 2 else 0.0
    fit = _fit(ad, _ratios, above)
    if fit is None:
        text += " (one size only, no trend to fit)"
    else:
        where = "above the crossover n*" if above else "over all sizes"
        side = timing.separate(fit[1:3], (0.0, 0.0))
        verdict = {0: "the data cannot tell it from a constant multiple, as the "
                      "cheap-gradient principle predicts",
                   -1: "still falling as the forward pass outgrows the tape's overhead",
                   1: "growing with n, against the cheap-gradient principle"}[side]
        text += (f"; its ÷-forward slope {where} (n = {fit[3]:,}–{fit[4]:,}) is "
                 f"{_interval_text(fit)}: {verdict}")
    by_n = {r["n"]: r for r in ad}
    for method in ("fd-central", "complex-step"):
        shared = [r for r in series.get(("gradient", method), []) if r["n"] in by_n]
        if not shared:
            continue
        r = shared[-1]
        mine, theirs = _per_forward(r), _per_forward(by_n[r["n"]])
        calls = r["complex_evaluations"] if method == "complex-step" else r["evaluations"]
        side = timing.separate((theirs["low"], theirs["high"]), (mine["low"], mine["high"]))
        kind = "complex " if method == "complex-step" else ""
        text += (f"; {method} costs {_median_text(mine, _num)} at n = {r['n']:,}"
                 + (f" ({calls:,} {kind}calls of f)" if calls else "") + ": "
                 + {-1: "AD is faster", 1: f"{method} is faster",
                    0: f"the data cannot tell which of AD and {method} is faster"}[side])
    return text + "."


def _slope_sentence(series, regime, quantity):
    parts, every = [], []
    for method in _methods(series, quantity):
        rows = series[quantity, method]
        every += rows
        fit = _fit(rows, lambda r: r["seconds"]["samples"])
        if fit is not None:
            parts.append((fit[0], f"{_interval_text(fit)} for {method} (n = "
                                  f"{fit[3]:,}–{fit[4]:,})"))
    ns = sorted({r["n"] for r in every})
    if not parts:
        return (f"{LABELS[quantity]}: every method was timed at one size only (n = "
                f"{_join(f'{n:,}' for n in ns)}), too few to fit a slope.")
    parts.sort()
    text = f"{LABELS[quantity]} time grows as nᵏ with k = {_join(p for _, p in parts)}"
    if regime is not None:
        forward = _fit(_forward_rows(regime), lambda r: r["forward"]["samples"])
        text += (f"; the {FORWARD[quantity]} itself with k = {_interval_text(forward)} over "
                 f"n = {ns[0]:,}–{ns[-1]:,}")
        if len(regime["above"]) >= 2:
            above = regime["n_star"]
            tail = _fit(_forward_rows(regime), lambda r: r["forward"]["samples"], above)
            text += (f". Above n* (n = {tail[3]:,}–{tail[4]:,}) the forward pass grows with "
                     f"k = {_interval_text(tail)}")
            for method in _methods(series, quantity):
                fit = _fit(series[quantity, method], lambda r: r["seconds"]["samples"], above)
                if fit is not None:
                    side = timing.separate(fit[1:3], (1.0, 1.0))
                    text += (f", {method} with {_interval_text(fit)} ("
                             + {-1: "below 1", 1: "above 1",
                                0: "the data cannot tell it from 1"}[side] + ")")
    return text + "."


def _break_even_sentence(series, quantity):
    found = _break_evens(series, quantity)
    if not found:
        return None
    setups = [r for r in series[quantity, "symbolic"] if "setup" in r]
    fit = _fit(setups, lambda r: r["setup"]["samples"])
    n, setup, t_sym, t_ad, count = found[-1]
    text = (f"Symbolic {NOUNS[quantity]}: setup {_median_text(setup, lambda s: f'{s:.3g}')} s "
            f"at n = {n:,}" + ("" if fit is None else
                               f" (growing as n^{_interval_text(fit)})")
            + f", then {_median_text(t_sym, _ms)} ms per evaluation against AD's "
            f"{_median_text(t_ad, _ms)} ms in the same rounds, so ")
    point, low, high = count
    if low is None:
        text += "it never pays off at that size"
    elif high is None:
        text += ("the data cannot tell whether it ever pays off at that size (after "
                 f"{low:,} evaluations at the soonest)")
    else:
        text += f"it beats AD after {_count_text(count)} evaluations"
    if len(found) > 1:
        text += "; break-even by size: " + ", ".join(
            f"{_count_text(c)} at n = {size:,}" for size, _, _, _, c in found)
    return text + "."


def _stop_sentence(stops):
    return ("Stopped by the symbolic budget (a result, not a failure): " + "; ".join(
        f"{r['method']} {NOUNS[r['quantity']]} at n = {r['n']} ({_reached(r['stopped'])})"
        for r in stops) + ".")


def _reached(stop):
    if stop["what"] == "seconds":
        return f"{stop['stage']} took {stop['reached']:.3g} s of its {stop['limit']:g} s"
    return f"{stop['stage']}: {stop['what']} reached {stop['reached']:,.0f} of {stop['limit']:,.0f}"


# Formatting.

def _confidence(series):
    """The coverage of the order-statistics intervals shown: "95%", and the least reached
    with too few rounds (three give 75%)."""
    reached = min((r["seconds"]["confidence"] for rows in series.values() for r in rows),
                  default=LEVEL)
    return (f"{LEVEL:.0%} (down to {reached:.0%} with fewer rounds)" if reached < LEVEL
            else f"{LEVEL:.0%}")


def _few_rounds(series):
    """The caption's note on intervals marked † (too few rounds for the level), or ""."""
    few = sorted({(r["seconds"]["repeats"], r["seconds"]["confidence"])
                  for rows in series.values() for r in rows
                  if r["seconds"]["confidence"] < LEVEL})
    if not few:
        return ""
    return (f"; † too few rounds for {LEVEL:.0%}: the whole range of "
            + _join(f"{k} rounds (covering {c:.0%})" for k, c in few))


def _median_text(s, fmt):
    mark = "†" if s["confidence"] < LEVEL else ""
    return f"{fmt(s['median'])} [{fmt(s['low'])}–{fmt(s['high'])}]{mark}"


def _interval_text(fit):
    k, low, high = fit[:3]
    return f"{_k(k)} [{_k(low)}, {_k(high)}]"


def _fit_text(fit):
    return "—" if fit is None else f"{_interval_text(fit)} (n {fit[3]:,}–{fit[4]:,})"


def _crossover_text(regime):
    n_star, low, high = regime["n_star"], regime["low"], regime["high"]
    def show(x):
        return "∞" if math.isinf(x) else f"{x:,.0f}"
    return f"{show(n_star)} [{show(low)}–{show(high)}]"


def _count_text(count):
    point, low, high = count
    def show(c):
        return "never" if c is None else f"{c:,}"
    if point is None and low is None:
        return "never"
    return f"{show(point)} [{show(low)}–{show(high)}]"


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
