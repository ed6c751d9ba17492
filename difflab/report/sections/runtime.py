"""Runtime: gradient, Jacobian, Hessian and HVP cost against the parameter count n for each
method, in forward passes first (method time ÷ forward time), then in seconds; the symbolic
setup against its evaluation; where Python overhead stops dominating; and Jacobians by forward
against reverse mode, of a wide (m ≪ n) and a tall (m ≫ n) function.

Every number comes through the shared interface, ``differentiator(name)``. Each cell builds a
fresh MLP, so the symbolic method's cache is cold and its first call pays the setup (trace,
differentiate, compile). Then ``measure`` (cached by now) gives the counts and sizes of its
``Cost``, and the method's plain call is timed (``gradient`` …: ``measure`` would trace AD's
tape for its size inside the clock) in ``k`` rounds interleaved with the forward pass — the
objective for gradients and Hessians, the network's outputs for Jacobians — so each round's
cost ÷ forward is a ratio from one moment on the machine (``timing.interleaved``). An HVP is
taken along one seeded direction v. A symbolic
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

**Forward against reverse mode.** A Jacobian F: ℝⁿ → ℝᵐ costs about m passes' work in reverse
mode ("ad", m cotangents) and n in forward mode ("ad-forward", n tangents; Griewank & Walther,
*Evaluating Derivatives*, §3). A *wide* network (m = 2 outputs, n growing) and a *tall* one
(n = 13 parameters, m growing with the batch) are timed with both modes and the forward pass
in the same rounds; the per-round ratio forward ÷ reverse says which mode wins, when its
interval excludes 1.
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

QUANTITIES = ("gradient", "jacobian", "hessian", "hvp")
# The methods timed (the tables' column order); ad-differences for HVPs only, where it is the
# common cheap alternative (its Hessian, n AD gradients, would cost more than the rest).
METHODS = ("ad", "symbolic", "ad-differences", "complex-step", "fd-central")
TIMED = {"hvp": METHODS}
# ad-differences takes two AD gradients per HVP: its cost, and its climb up the ladder, are AD's
FAMILY = {"ad": "ad", "symbolic": "symbolic", "ad-differences": "ad", "complex-step": "numeric",
          "fd-central": "numeric"}
LABELS = {"gradient": "Gradient", "jacobian": "Jacobian", "hessian": "Hessian", "hvp": "HVP"}
NOUNS = {"gradient": "gradient", "jacobian": "Jacobian", "hessian": "Hessian", "hvp": "HVP"}
FORWARD = {"gradient": "forward pass of f", "jacobian": "forward pass of the outputs",
           "hessian": "forward pass of f", "hvp": "forward pass of f"}
MODES = ("ad", "ad-forward")            # reverse and forward mode, for the Jacobian study
SHAPES = {"wide": "wide (m ≪ n)", "tall": "tall (m ≫ n)"}
TALL = (2, 3, 1)                        # the tall network: n = 13 parameters, m = its batch
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
         "hessian": dict(ad=2, numeric=1, symbolic=1),
         "hvp": dict(ad=2, numeric=1, symbolic=1)},
        {"gradient": dict(ad=14, numeric=8, symbolic=6),
         "jacobian": dict(ad=14, numeric=7, symbolic=4),
         "hessian": dict(ad=7, numeric=3, symbolic=4),
         "hvp": dict(ad=6, numeric=3, symbolic=2)},
        {"gradient": dict(ad=15, numeric=11, symbolic=8),
         "jacobian": dict(ad=15, numeric=9, symbolic=7),
         "hessian": dict(ad=9, numeric=4, symbolic=7),
         "hvp": dict(ad=12, numeric=7, symbolic=6)})
    # forward against reverse mode: the wide network's widths (m = 2: batch 2, one output),
    # the tall one's batches (m outputs of TALL's 13 parameters)
    modes = profile.pick(dict(wide=LADDER[:2], tall=(32, 64)),
                         dict(wide=(LADDER[4], LADDER[6], LADDER[8]), tall=(64, 256, 1024)),
                         dict(wide=(LADDER[4], LADDER[7], LADDER[9], LADDER[11]),
                              tall=(64, 256, 1024, 2048)))
    return dict(rungs=rungs, modes=modes, batch=profile.pick(2, 8, 16),
                clock=profile.pick(Clock(3, 0.001, 0.02), Clock(6, 0.005, 1.5),
                                   Clock(9, 0.02, 6.0)))


def methods_for(quantity):
    """The methods timed for ``quantity`` (those of METHODS that compute it), in its order."""
    chosen = TIMED.get(quantity, tuple(m for m in METHODS if m != "ad-differences"))
    return tuple(m for m in chosen if quantity in differentiator(m).quantities)


def cells(profile):
    plan = _plan(profile)
    out = []
    for quantity in QUANTITIES:
        for method in methods_for(quantity):
            for widths in LADDER[:plan["rungs"][quantity][FAMILY[method]]]:
                key = f"{quantity}/{method}/{'-'.join(map(str, widths))}"
                out.append(Cell(key, partial(measure, quantity, method, widths, plan["batch"],
                                             profile.seed, plan["clock"])))
    shapes = [("wide", widths, 2) for widths in plan["modes"]["wide"]] + [
        ("tall", TALL, batch) for batch in plan["modes"]["tall"]]
    for shape, widths, batch in shapes:
        key = f"modes/{shape}/{'-'.join(map(str, widths))}/{batch}"
        out.append(Cell(key, partial(measure_modes, shape, widths, batch, profile.seed,
                                     plan["clock"])))
    return out


def measure(quantity, method, widths, batch, seed, clock):
    """One method's ``quantity`` of a fresh tanh MLP: the first (cold) call, then the method
    and the forward pass timed in interleaved rounds — for symbolic also a rebuild (its setup)
    and AD's evaluation, the break-even's other side."""
    problem = models.get("mlp", widths=widths, batch=batch, seed=seed)
    f = problem.outputs if quantity == "jacobian" else problem.objective
    theta = problem.theta0
    v = _direction(theta, seed) if quantity == "hvp" else None
    result = {"quantity": quantity, "method": method, "widths": list(widths), "batch": batch,
              "n": int(problem.n_params), "m": int(problem.Y.size) if quantity == "jacobian"
              else 1}
    d = differentiator(method)
    if method == "symbolic":
        _warm_symbolic(seed)
    cpu, wall = time.process_time(), time.perf_counter()
    try:
        prepared = d.prepare(f, theta, quantity)   # the setup, then one evaluation
        first = prepared(theta, v)
    except SwellLimitError as stop:
        return {**result, "stopped": {"stage": stop.stage, "what": stop.what,
                                      "reached": float(stop.reached),
                                      "limit": float(stop.limit)}}
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    size, unit = prepared.size()
    timers, call = _timers(quantity, method, prepared, f, theta, v, clock, cpu)
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


def _direction(theta, seed):
    """The HVP's direction: seeded, of θ's size and dtype."""
    return np.random.default_rng(seed).standard_normal(theta.size).astype(theta.dtype)


def _timers(quantity, method, prepared, f, theta, v, clock, first):
    """The cell's timers for ``timing.interleaved`` and one warm call's seconds of each.

    The method's first call (``first`` CPU seconds) warmed it up, and bounds its cost where
    the setup is small — every method but symbolic: a slow numeric call is not made twice."""
    calls = {"seconds": lambda: prepared(theta, v), "forward": lambda: f(theta)}
    if method == "symbolic":
        ad = differentiator("ad").prepare(f, theta, quantity)
        calls["ad_seconds"] = lambda: ad(theta, v)
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
            symbolic.prepare(f, theta, quantity)(theta, v)
            seconds = time.process_time() - start
            gc.collect()        # the build's garbage, or its collection lands on the next call
            return seconds
        timers["rebuild"] = rebuild
    return timers, warm


def measure_modes(shape, widths, batch, seed, clock):
    """The Jacobian of a network's outputs by reverse ("ad") and forward mode ("ad-forward"),
    timed with the forward pass in interleaved rounds; how far the two disagree."""
    problem = models.get("mlp", widths=widths, batch=batch, seed=seed)
    F, theta = problem.outputs, problem.theta0
    prepared = {m: differentiator(m).prepare(F, theta, "jacobian") for m in MODES}
    calls = {**{m: partial(p, theta) for m, p in prepared.items()}, "forward": partial(F, theta)}
    warm, values = {}, {}
    for name, fn in calls.items():
        start = time.process_time()
        values[name] = fn()
        warm[name] = time.process_time() - start
    reverse, forward = (values[m].value for m in MODES)
    rounds = clock.rounds_for(sum(max(s, clock.burst) for s in warm.values()))
    samples = timing.interleaved({name: partial(timing.burst_seconds, fn, clock.burst)
                                  for name, fn in calls.items()}, rounds)
    return {"study": "modes", "shape": shape, "quantity": "jacobian", "widths": list(widths),
            "batch": batch, "n": int(problem.n_params), "m": int(reverse.shape[0]),
            "difference": float(np.linalg.norm(forward - reverse)
                                / max(np.linalg.norm(reverse), np.finfo(float).tiny)),
            "modes": {m: timing.summary(samples[m]) for m in MODES},
            "forward": timing.summary(samples["forward"])}


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
    modes = _modes(results)
    quantities = [q for q in QUANTITIES if any(key[0] == q for key in series)]
    rendered = Rendered()
    if not quantities and not modes:
        rendered.reading = [_stop_sentence(stops) if stops else
                            "No runtime cell finished, so there is nothing to plot."]
        return rendered
    if quantities:
        _render_sweep(rendered, series, stops, quantities, folder)
    elif stops:
        rendered.reading.append(_stop_sentence(stops))
    if modes:
        rendered.figures.append(_draw_modes(modes, folder))
        rendered.tables.append(_modes_table(modes))
        rendered.reading.append(_modes_sentence(modes))
    return rendered


def _render_sweep(rendered, series, stops, quantities, folder):
    """The figures, tables and reading of the sweep over n, added to ``rendered``."""
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


def _methods(series, quantity):
    return [m for m in METHODS if (quantity, m) in series]


def _panels(count):
    """A figure of ``count`` panels (three to a row) laid out so that legends placed outside
    the axes (``_legend_below``) stay clear of the data; unused panels are hidden."""
    cols = min(count, 3 if count != 4 else 2)
    rows = math.ceil(count / cols)
    fig, axes = plots.plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows + 0.6),
                                   squeeze=False, layout="constrained")
    axes = axes.ravel()
    for ax in axes[count:]:
        ax.set_visible(False)
    return fig, axes[:count]


def _legend_below(fig, axes):
    """One legend under the figure for the labelled lines of all ``axes`` (each label once):
    outside every axes, so it covers no data."""
    handles = {}
    for ax in axes:
        for handle, text in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(text, handle)
    if handles:
        fig.legend(handles.values(), handles.keys(), loc="outside lower center",
                   ncols=min(len(handles), max(1, int(fig.get_figwidth() / 2.1))),
                   fontsize=7, frameon=False)


def _log_log(ax, **labels):
    """Log axes labelled at the decades only: a narrow range otherwise labels its minor ticks."""
    ax.set(xscale="log", yscale="log", **labels)
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.yaxis.set_minor_formatter(NullFormatter())


def _errorbar(ax, ns, summaries, **style):
    """Medians with their intervals as bars."""
    middle = np.array([s["median"] for s in summaries])
    bars = [middle - [s["low"] for s in summaries], [s["high"] for s in summaries] - middle]
    style = {"marker": "o", **style}
    return ax.errorbar(ns, middle, yerr=bars, ms=4, capsize=2, **style)


def _method_style(method):
    """The registry's colour, line style and label of ``method`` for ``_errorbar``."""
    return dict(color=plots.color(method), ls=plots.linestyle(method), label=plots.label(method))


def _draw_forward(series, regimes, quantities, folder):
    fig, axes = _panels(len(quantities))
    shaded = []
    for ax, quantity in zip(axes, quantities):
        regime = regimes[quantity]
        if regime and 0 < regime["n_star"] < math.inf:
            ax.axvspan(min(regime["ns"]), min(regime["n_star"], max(regime["ns"])),
                       color=plots.NEUTRAL, alpha=0.12, lw=0,
                       label="Python overhead dominates the forward pass (n < n*)")
            shaded.append(f"{NOUNS[quantity]} n* ≈ {_crossover_text(regime)}")
        for method in _methods(series, quantity):
            rows = series[quantity, method]
            _errorbar(ax, [r["n"] for r in rows], [_per_forward(r) for r in rows],
                      **_method_style(method))
        counted = [r for r in series.get((quantity, "fd-central"), []) if r["evaluations"]]
        if counted:
            ax.plot([r["n"] for r in counted], [r["evaluations"] for r in counted], "--",
                    color=plots.NEUTRAL, lw=1,
                    label=f"{plots.label('fd-central')}: its calls of f, one forward pass each")
        _log_log(ax, xlabel="parameters n", ylabel="forward passes (time ÷ one forward pass)",
                 title=LABELS[quantity])
    _legend_below(fig, axes)
    methods = _join(sorted({m for q in quantities for m in _methods(series, q)},
                           key=METHODS.index))
    return (plots.save(fig, folder, "runtime-forward"),
            f"Cost in forward passes of {methods}: {_per_quantity_span(series, quantities)}; "
            "each point the median of per-round ratios method ÷ forward pass (the objective; "
            "for Jacobians the network's outputs) from interleaved rounds, with its "
            f"{_confidence(series)} order-statistics interval"
            + (f"; shaded: below the crossover of the forward pass's fixed overhead and its "
               f"work ({'; '.join(shaded)})" if shaded else "")
            + ("; dashed grey: how many times central differences call f" if any(
                (q, "fd-central") in series for q in quantities) else "") + ".")


def _per_quantity_span(series, quantities):
    """'gradient n = 7–841, …': the sizes each quantity was timed at."""
    spans = []
    for quantity in quantities:
        ns = [r["n"] for m in _methods(series, quantity) for r in series[quantity, m]]
        spans.append(f"{NOUNS[quantity]} n = {min(ns):,}" + (
            "" if min(ns) == max(ns) else f"–{max(ns):,}"))
    return ", ".join(spans)


def _draw_times(series, stops, quantities, folder):
    fig, axes = _panels(len(quantities))
    slopes = []
    for ax, quantity in zip(axes, quantities):
        fitted = []
        for method in _methods(series, quantity):
            rows = series[quantity, method]
            ns = np.array([r["n"] for r in rows], float)
            fit = _fit(rows, lambda r: r["seconds"]["samples"])
            _errorbar(ax, ns, [r["seconds"] for r in rows], **_method_style(method))
            if fit is not None:
                c = fit_slope(ns, [r["seconds"]["median"] for r in rows])[1]
                ax.plot(ns, c * ns ** fit[0], ":", color=plots.color(method), lw=1)
                fitted.append(f"{method} {_k(fit[0])}")
        _log_log(ax, xlabel="parameters n", ylabel="seconds per call", title=LABELS[quantity])
        stopped = [r for r in stops if r["quantity"] == quantity]
        if stopped:
            _budget_band(ax, [r["n"] for r in stopped],
                         [plots.color(r["method"]) for r in stopped])
        if fitted:
            slopes.append(f"{NOUNS[quantity]}: {', '.join(fitted)}")
    _legend_below(fig, axes)
    stopped = "; ".join(f"{r['method']} {NOUNS[r['quantity']]} at n = {r['n']:,}"
                        for r in stops)
    return (plots.save(fig, folder, "runtime-time"),
            "Seconds per call against the parameter count ("
            f"{_per_quantity_span(series, quantities)}; log–log; median and its "
            f"{_confidence(series)} order-statistics interval)"
            + (f"; dotted: the fitted t ≈ c·nᵏ, k = {'; '.join(slopes)}" if slopes else "")
            + (f"; ▼ in the band above the data: stopped by the symbolic budget ({stopped})"
               if stopped else "") + ".")


def _budget_band(ax, ns, colors):
    """Budget stops as ▼ in a labelled band above the data, not at made-up heights."""
    low, high = ax.get_ylim()
    band = high * 3
    ax.axhspan(high * 1.5, high * 6, color=plots.NEUTRAL, alpha=0.12, lw=0)
    ax.scatter(ns, [band] * len(ns), marker="v", c=colors, s=25, zorder=3,
               label="stopped by the symbolic budget")
    ax.text(0.02, band, "budget stop", transform=ax.get_yaxis_transform(), fontsize=7,
            va="center")
    ax.set_ylim(low, high * 6)


QUANTITY_MARKERS = {"gradient": "o", "jacobian": "s", "hessian": "^", "hvp": "D"}
# One method, four quantities: in the symbolic figure each quantity has its own hue (the
# symbolic green for the gradient) as well as its marker, so the lines can be told apart.
QUANTITY_COLORS = {"gradient": "#2ca02c", "jacobian": "#17becf", "hessian": "#9467bd",
                   "hvp": "#8c564b"}


def _draw_symbolic(series, quantities, folder):
    """Setup and evaluation of the symbolic method (each quantity its own hue and marker),
    and the break-even counts — sizes where it never pays off in a "never" band above the
    counts."""
    fig, (left, right) = _panels(2)
    paying, never, unclear = [], [], []
    for quantity in quantities:
        rows = [r for r in series.get((quantity, "symbolic"), []) if "setup" in r]
        if not rows:
            continue
        ns = [r["n"] for r in rows]
        marker, color = QUANTITY_MARKERS[quantity], QUANTITY_COLORS[quantity]
        _errorbar(left, ns, [r["setup"] for r in rows], color=color, marker=marker,
                  label=f"{NOUNS[quantity]}: setup (solid)")
        _errorbar(left, ns, [r["seconds"] for r in rows], ls="--", color=color, marker=marker,
                  mfc="white", label=f"{NOUNS[quantity]}: evaluation (dashed)")
        for n, _, t_sym, t_ad, count in _break_evens(series, quantity):
            if count[0] is None:
                never.append((quantity, n, count))
            else:
                paying.append((quantity, n, count))
                if _unclear(t_sym, t_ad, count):
                    unclear.append((quantity, n, count))
    _log_log(left, xlabel="parameters n", ylabel="seconds",
             title="Symbolic: setup once, then each evaluation")
    _draw_break_evens(right, paying, never)
    for quantity, n, count in unclear:          # a count the per-call intervals do not carry
        right.plot([n], [count[0]], "o", ms=11, mfc="none", mec="black", mew=0.8, zorder=4)
    if unclear:
        right.plot([], [], "o", ms=11, mfc="none", mec="black", mew=0.8,
                   label="circled: cannot tell (per-call intervals overlap)")
    _legend_below(fig, (left, right))
    return (plots.save(fig, folder, "runtime-symbolic"),
            "Left: the symbolic method's one-time setup (trace, differentiate, compile; a "
            "rebuild per round) and its evaluation per call, in seconds. Right: evaluations "
            "after which setup + N·evaluation beats N AD evaluations timed in the same rounds, "
            "with bootstrap intervals (an arrow: an open upper end, it may never)"
            + (f"; ✕ in the band labelled never: the symbolic evaluation was not faster than "
               f"AD's, at {_sizes_by_quantity(never)}" if never else "")
            + (f"; break-even at {_sizes_by_quantity(paying)}" if paying else "")
            + (f"; circled, the counts whose per-call intervals overlap, so the data cannot "
               f"tell whether symbolic pays off: {_sizes_by_quantity(unclear)}"
               if unclear else "") + ".")


def _sizes_by_quantity(found):
    """'gradient n = 121, 253; Hessian n = 56' from (quantity, n, …) entries."""
    by = {}
    for quantity, n, _ in found:
        by.setdefault(quantity, []).append(f"{n:,}")
    return "; ".join(f"{NOUNS[q]} n = {', '.join(ns)}" for q, ns in by.items())


def _draw_break_evens(ax, paying, never):
    """Break-even counts with their intervals; the sizes where it never pays off as ✕ in a
    band labelled "never" above every count."""
    ax.set(xlabel="parameters n", ylabel="evaluations until symbolic beats AD",
           title="Break-even against AD")
    for quantity in QUANTITIES:
        found = [(n, c) for q, n, c in paying if q == quantity]
        if found:
            ns, counts = zip(*found)
            middle = np.array([c[0] for c in counts], float)
            low = np.array([c[1] for c in counts], float)
            high = np.array([np.nan if c[2] is None else c[2] for c in counts], float)
            ax.errorbar(ns, middle, yerr=[middle - low, np.nan_to_num(high - middle)],
                        marker=QUANTITY_MARKERS[quantity], ms=4, capsize=2,
                        color=QUANTITY_COLORS[quantity], label=f"{NOUNS[quantity]}: break-even")
    tops = [c[2] or c[0] for _, _, c in paying] + [c[1] for _, _, c in paying]
    top = max(tops, default=10.0)
    bottom = min((c[1] for _, _, c in paying), default=1.0)
    band = top * 4
    for quantity, n, count in paying:
        if count[2] is None:                     # open upper end: up to the never band
            ax.annotate("", (n, band), (n, count[0]),
                        arrowprops=dict(arrowstyle="->", color=QUANTITY_COLORS[quantity],
                                        lw=0.8))
    ax.set(xscale="log", yscale="log", ylim=(bottom / 2, top * 10))
    ax.axhspan(top * 2, top * 10, color=plots.NEUTRAL, alpha=0.12, lw=0)
    ax.text(0.02, band, "never", transform=ax.get_yaxis_transform(), fontsize=8,
            va="center", fontweight="bold")
    for quantity in QUANTITIES:
        mine = [n for q, n, _ in never if q == quantity]
        if mine:
            ax.scatter(mine, [band] * len(mine), marker="x", color=QUANTITY_COLORS[quantity],
                       zorder=3, label=f"{NOUNS[quantity]}: never pays off (not faster)")
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.yaxis.set_minor_formatter(NullFormatter())
    if paying or never:
        ns = [n for _, n, _ in paying + never]
        ax.set_xlim(min(ns) / 1.5, max(ns) * 1.5)


def _modes(results):
    """{shape: [results of the forward-against-reverse study, by the growing side]}."""
    found = {}
    for r in sorted((r for r in results.values() if r.get("study") == "modes"),
                    key=lambda r: (r["n"], r["m"])):
        found.setdefault(r["shape"], []).append(r)
    return {shape: found[shape] for shape in SHAPES if shape in found}


def _growing(shape):
    """The side that grows along a shape's sizes: n for the wide network, m for the tall."""
    return "n" if shape == "wide" else "m"


def _mode_ratio(r):
    """Per-round forward-mode time ÷ reverse-mode time, summarized."""
    return timing.summary([f / b for f, b in zip(r["modes"]["ad-forward"]["samples"],
                                                 r["modes"]["ad"]["samples"])])


def _winner(r):
    """"forward", "reverse" or None (the data cannot tell) from the ratio's interval."""
    ratio = _mode_ratio(r)
    return {-1: "forward", 1: "reverse", 0: None}[
        timing.separate((ratio["low"], ratio["high"]), (1.0, 1.0))]


def _draw_modes(modes, folder):
    fig, axes = _panels(len(modes))
    for ax, (shape, rows) in zip(axes, modes.items()):
        side = _growing(shape)
        xs = [r[side] for r in rows]
        for method in MODES:
            style = _method_style(method)
            if method == "ad":                 # beside forward mode, say which mode it is
                style["label"] = "AD, reverse mode"
            _errorbar(ax, xs, [timing.summary([t / f for t, f in zip(
                r["modes"][method]["samples"], r["forward"]["samples"])]) for r in rows],
                **style)
        fixed = "m" if side == "n" else "n"
        _log_log(ax, xlabel="parameters n" if side == "n" else "outputs m",
                 ylabel="forward passes (time ÷ one forward pass)",
                 title=f"Jacobian, {SHAPES[shape]}: {fixed} = {rows[0][fixed]:,}")
        ax.set_xticks(xs, [f"{x:,}" for x in xs])     # a narrow range shows no decade
    _legend_below(fig, axes)
    return (plots.save(fig, folder, "runtime-modes"),
            "Jacobians by reverse mode (AD) and forward mode (AD, forward mode) in forward "
            "passes of the network's outputs: " + "; ".join(
                f"{SHAPES[shape]}, {_fixed_text(rows)}, {_growing(shape)} = "
                f"{_join(f'{r[_growing(shape)]:,}' for r in rows)}"
                for shape, rows in modes.items())
            + f"; medians of per-round ratios with their {_confidence_of(modes)} "
            "order-statistics intervals.")


def _fixed_text(rows):
    side = "m" if _growing(rows[0]["shape"]) == "n" else "n"
    return f"{side} = {rows[0][side]:,}"


def _confidence_of(modes):
    reached = min(r["forward"]["confidence"] for rows in modes.values() for r in rows)
    return f"{reached:.0%}" if reached < LEVEL else f"{LEVEL:.0%}"


def _modes_table(modes):
    rows = []
    for shape, found in modes.items():
        for r in found:
            winner = _winner(r)
            rows.append([SHAPES[shape], f"{r['n']:,}", f"{r['m']:,}",
                         _median_text(r["modes"]["ad"], _ms),
                         _median_text(r["modes"]["ad-forward"], _ms),
                         _median_text(_mode_ratio(r), _num),
                         {None: "cannot tell"}.get(winner, f"{winner} mode"),
                         f"{r['difference']:.1e}"])
    return Table("Jacobian by reverse mode (ad) against forward mode (ad-forward), timed in the "
                 "same rounds: ms per call and the per-round ratio forward ÷ reverse, medians "
                 f"[{_confidence_of(modes)} order-statistics intervals]; faster: the mode whose "
                 "ratio interval excludes 1; the two Jacobians' relative difference",
                 ["shape", "n", "m", "reverse ms", "forward ms", "forward ÷ reverse", "faster",
                  "difference"], rows)


def _modes_sentence(modes):
    """Where forward mode wins, by shape, stated only where the ratio's interval excludes 1."""
    parts = []
    for shape, rows in modes.items():
        side = _growing(shape)
        by = {}
        for r in rows:
            by.setdefault(_winner(r), []).append(r)
        said = []
        for winner, text in (("forward", "forward mode is faster"),
                             ("reverse", "reverse mode is faster"),
                             (None, "the data cannot tell the two apart")):
            if winner in by:
                said.append(f"{text} at {side} = "
                            + _join(f"{r[side]:,} (forward ÷ reverse "
                                    f"{_median_text(_mode_ratio(r), _num)})" for r in by[winner]))
        parts.append(f"for the {SHAPES[shape]} network ({_fixed_text(rows)}) "
                     + "; ".join(said))
    return ("Jacobians by forward against reverse mode, timed in the same rounds: "
            + "; ".join(parts) + ". Forward mode carries n tangents and reverse mode m "
            "cotangents, so forward mode should win where m ≫ n.")


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
                         _count_text(count) + _unclear(t_sym, t_ad, count)])
    return Table("Symbolic setup against evaluation (AD timed in the same rounds), and the "
                 "evaluations until it beats AD: medians [order-statistics intervals; "
                 f"break-even: {LEVEL:.0%} bootstrap interval; never: the symbolic evaluation "
                 "is not faster than AD's at that size]" + _few_rounds(series),
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
    largest = regime["above"][-1]
    share = regime["b"] * largest / (regime["a"] + regime["b"] * largest)
    if share < WORK_SHARE:
        # past n*, but the overhead still holds a share of the forward pass: the slopes there
        # lean towards their asymptotic values without having reached them
        return (text + f": below it Python overhead dominates every method's time; from n = "
                f"{regime['above'][0]:,} on the work does, but at the largest n measured, "
                f"{largest:,}, it is still only {share:.0%} of the forward pass, so the slopes "
                "fitted there approach the asymptotic ones without having reached them.")
    return (text + f": below it Python overhead dominates every method's time; from n = "
            f"{regime['above'][0]:,} on the work does (at n = {largest:,}, {share:.0%} of the "
            "forward pass), and the slopes fitted there are the asymptotic ones.")


def _forward_sentence(series, quantity):
    parts = []
    for method in _methods(series, quantity):
        rows = series[quantity, method]
        first, last = _per_forward(rows[0]), _per_forward(rows[-1])
        span = _median_text(first, _num) + ("" if len(rows) == 1 else
                                             f" → {_median_text(last, _num)}")
        span += (f" (n = {rows[0]['n']:,})" if len(rows) == 1 else
                 f" (n = {rows[0]['n']:,}–{rows[-1]['n']:,})")
        fit = _fit(rows, _ratios)
        if fit is not None:
            span += f", slope {_interval_text(fit)}: {_trend(fit, FAMILY[method])}"
        parts.append(f"{method} {span}")
    ns = sorted({r["n"] for m in _methods(series, quantity) for r in series[quantity, m]})
    where = f"n = {ns[0]:,}" if len(ns) == 1 else f"from n = {ns[0]:,} to {ns[-1]:,}"
    return (f"{LABELS[quantity]} cost in forward passes ({FORWARD[quantity]}), {where}: "
            f"{'; '.join(parts)}.")


WORK_SHARE = 0.9       # the work's share of the forward pass where slopes count as asymptotic
FLAT = 0.05            # a ÷-forward slope whose interval lies within ±FLAT: flat


def _trend(fit, family):
    """What a ÷-forward slope's interval says: constant, falling, growing — and, for the
    numeric methods, whose calls of f grow as n, whether faster or slower than n."""
    _, low, high = fit[:3]
    if family == "numeric":
        side = timing.separate((low, high), (1.0, 1.0))
        return {-1: "grows more slowly than n", 1: "grows faster than n",
                0: "the data cannot tell its growth from n's, the count of calls of f"}[side]
    if -FLAT < low and high < FLAT:
        return "flat"             # a change of a few per cent over the whole range of n
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
        # the numeric methods always estimate their error (and so detect kinks): each runs
        # its stencil twice, e.g. 4n + 1 calls for central differences, not the bare 2n
        text += (f"; {method} costs {_median_text(mine, _num)} at n = {r['n']:,}"
                 + (f" ({calls:,} {kind}calls of f, its stencil run twice for the error "
                    "estimate and kink check it always makes)" if calls else "") + ": "
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
    elif _unclear(t_sym, t_ad, count):
        text += ("the data cannot tell whether it pays off: the two per-call intervals "
                 "overlap")
    elif high is None:
        text += ("the data cannot tell whether it ever pays off at that size (after "
                 f"{low:,} evaluations at the soonest)")
    else:
        text += f"it beats AD after {_count_text(count)} evaluations"
    if len(found) > 1:
        text += "; break-even by size: " + ", ".join(
            f"{_count_text(c)}{_unclear(ts, ta, c)} at n = {size:,}"
            for size, _, ts, ta, c in found)
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


def _unclear(t_symbolic, t_ad, count):
    """' (cannot tell)' for a finite break-even whose per-call intervals overlap: the count
    rests on a difference the data do not show, so it is not stated as one."""
    if count[0] is None or timing.separate((t_symbolic["low"], t_symbolic["high"]),
                                           (t_ad["low"], t_ad["high"])) == -1:
        return ""
    return " (cannot tell: the per-call intervals overlap)"


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
