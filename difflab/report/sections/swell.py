"""Expression swell: the size of a symbolic gradient against network depth and width, beside
the AD tape, and the logistic map's table up to the n where the budget stops it.

A size is what the method's prepared gradient reports (``Prepared.size()``). For the symbolic
modes it is the scalar operations of the derivative as it is compiled: in ``tree`` mode the
gradient written out as trees (SymPy's ``diff``), in ``cse`` the same after
common-subexpression elimination, in ``dag`` the symbolic reverse sweep over the function's
DAG. The AD tape counts array primitives, not scalar operations, so its size does not depend on
the width at all. A budget (tree nodes per gradient entry, seconds per stage) stops a swelling
derivative; that stop is a result — its stage and the size reached — not a failure.
"""

from functools import partial

import numpy as np

from ... import models
from ...errors import SwellLimitError
from ...interface import differentiator
from .. import plots
from ..page import Rendered, Table
from ..runner import Cell

NAME = "swell"
TITLE = "Expression swell"

LOGISTIC = "logistic-map"
MEASURED = ("tape", "dag", "tree", "cse")
MODES = ("tree", "cse", "dag", "tape")          # largest first, as the legends list them
LABELS = {"tree": "symbolic tree (SymPy diff)", "cse": "symbolic after CSE",
          "dag": "symbolic DAG (reverse sweep)", "tape": "AD tape (array nodes)"}
NOUNS = {"tree": "the tree-mode gradient", "cse": "the gradient after CSE",
         "dag": "the DAG program", "tape": "the AD tape"}
METHODS = {"tree": "symbolic-tree", "cse": "symbolic-cse", "dag": "symbolic-dag", "tape": "ad"}
SERIES = {"derivative_ops": "lₙ′ by the product rule (tree)",
          "simplified_ops": "lₙ′ expanded to a polynomial",
          "dag_ops": "lₙ′ as a DAG program", "function_ops": "lₙ itself (tree)"}


def _plan(profile):
    """Sweeps and budgets per profile; the node budgets stop the tree forms of the deep nets by
    size (the same n on every machine), the seconds only guard against a slow machine."""
    return dict(
        depth_width=profile.pick(2, 3, 3),
        depths=profile.pick((1, 2, 3), (1, 2, 3, 4, 5, 6), (1, 2, 3, 4, 5, 6, 7, 8)),
        width_depth=profile.pick(1, 2, 2),
        widths=profile.pick((2, 3, 4), (2, 3, 4, 6), (2, 3, 4, 6, 8, 12)),
        budget=profile.pick(_limits(seconds=10, derivative_nodes=300),
                            _limits(seconds=10, derivative_nodes=2_000),
                            _limits(seconds=60, derivative_nodes=10_000)),
        logistic_n=profile.pick(8, 40, 40),
        logistic_budget=profile.pick(_limits(seconds=0.2), _limits(seconds=1),
                                     _limits(seconds=10)))


def _limits(seconds, derivative_nodes=2_000_000, nodes=200_000, lines=2_000_000):
    """A symbolic budget as the symbolic method takes it (a dict of its Budget's fields), every
    limit stated, so the results record the whole budget a size was measured under."""
    return dict(seconds=seconds, nodes=nodes, derivative_nodes=derivative_nodes, lines=lines)


def _widths(width, depth):
    """An MLP 2 → width × depth hidden layers → 1."""
    return (2,) + (width,) * depth + (1,)


def cells(profile):
    plan = _plan(profile)
    sweeps = {}              # a network on both sweeps is measured once
    for depth in plan["depths"]:
        sweeps.setdefault(_widths(plan["depth_width"], depth), []).append("depth")
    for width in plan["widths"]:
        sweeps.setdefault(_widths(width, plan["width_depth"]), []).append("width")
    out = []
    for widths, on in sweeps.items():
        name = "-".join(map(str, widths))
        for mode in MEASURED:
            out.append(Cell(f"{name}/{mode}",
                            partial(network_size, widths, tuple(on), mode, plan["budget"])))
    out.append(Cell(LOGISTIC, partial(logistic_growth, plan["logistic_n"],
                                      plan["logistic_budget"])))
    return out


def network_size(widths, sweeps, mode, budget):
    """The AD tape's nodes, or the sizes of the symbolic gradient in ``mode`` (or its stop)."""
    problem = models.get("mlp", widths=widths)
    result = {"widths": list(widths), "depth": len(widths) - 2, "width": widths[1],
              "sweeps": list(sweeps), "params": problem.n_params, "mode": mode}
    method = differentiator(METHODS[mode])
    if mode == "tape":
        size, _ = method.prepare(problem.objective, problem.theta0, "gradient").size()
        return {**result, "size": size}
    result["budget"] = dict(budget)
    try:
        prepared = method.prepare(problem.objective, problem.theta0, "gradient", budget=budget)
    except SwellLimitError as stop:
        return {**result, "stopped": _stop(stop)}
    prepared(problem.theta0)           # the first evaluation is timed as a stage of its own
    details = prepared.details()
    return {**result, "size": prepared.size()[0], "sizes": details["sizes"],
            "seconds": details["seconds"]}


def logistic_growth(N, budget):
    """The logistic-map table (Baydin et al. 2018, Table 1) for n ≤ N, until the budget stops
    it."""
    rows, stop = differentiator("symbolic").logistic_map_table(N, budget)
    return {"N": N, "budget": dict(budget),
            "rows": [{"n": r.n, **{name: int(getattr(r, name)) for name in SERIES}}
                     for r in rows],
            "stopped": None if stop is None else {**_stop(stop), "n": len(rows) + 1}}


def _stop(error):
    return {"stage": error.stage, "what": error.what, "reached": float(error.reached),
            "limit": float(error.limit)}


def render(results, folder):
    nets = [r for key, r in results.items() if key != LOGISTIC]
    rendered = Rendered()
    for axis, draw, read in (("depth", _draw_depth, _read_depth),
                             ("width", _draw_width, _read_width)):
        rows = [r for r in nets if axis in r["sweeps"]]
        if rows:
            rendered.figures.append(draw(rows, folder))
            rendered.reading += read(rows)
    if nets:
        rendered.tables.append(_network_table(nets))
        timed = _stage_table(nets)
        if timed.rows:
            rendered.tables.append(timed)
            rendered.reading += _read_stages(nets)
    if LOGISTIC in results:
        logistic = results[LOGISTIC]
        if logistic["rows"]:
            rendered.figures.append(_draw_logistic(logistic, folder))
            rendered.tables.append(_logistic_table(logistic))
        rendered.reading += _read_logistic(logistic)
    return rendered


# Data.

def _series(rows, axis, mode):
    """[(x, size)] measured and [x] stopped by the budget, for one mode along one axis."""
    mine = sorted((r for r in rows if r["mode"] == mode), key=lambda r: r[axis])
    return ([(r[axis], r["size"]) for r in mine if "size" in r and r["size"] > 0],
            [r[axis] for r in mine if "stopped" in r])


def _params(rows, axis):
    return sorted({(r[axis], r["params"]) for r in rows})


def _slope(points):
    """Least-squares slope of log size against log x (size ∝ x^slope), to two decimals."""
    x, y = np.log([p[0] for p in points]), np.log([p[1] for p in points])
    return round(float(np.polyfit(x, y, 1)[0]), 2) + 0.0      # + 0.0: no "-0.00"


def _r2(x, y):
    """Coefficient of determination of the least-squares line through (x, y)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    residual = y - np.polyval(np.polyfit(x, y, 1), x)
    spread = float(np.sum((y - y.mean()) ** 2))
    return 1.0 if spread == 0 else 1 - float(np.sum(residual ** 2)) / spread


def _growth(points, noun, unit):
    """How a size grows along x: geometrically ("×f per unit", f = (y_b/y_a)^(1/(b−a))) when
    log y fits a line better than y does (or with only two points), else linearly ("+k")."""
    (a, ya), (b, yb) = points[0], points[-1]
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    if len(points) >= 3 and _r2(xs, ys) > _r2(xs, np.log(ys)):
        return f"linearly, {(yb - ya) / (b - a):+,.0f} {noun} per {unit}"
    return f"geometrically, ×{(yb / ya) ** (1 / (b - a)):.1f} per {unit}"


def _count(n):
    return f"{n:,.0f}"


def _times(ratio):
    return f"{ratio:,.0f}×" if ratio >= 10 else f"{ratio:.1f}×"


def _reached(stop):
    """The size or time at which the budget stopped a stage, in its unit."""
    return f"{stop['reached']:.2f} s" if stop["what"] == "seconds" else _count(stop["reached"])


def _join(words):
    words = list(words)
    return " and ".join(words) if len(words) <= 2 else ", ".join(words[:-1]) + " and " + words[-1]


def _range(values):
    values = sorted(values)
    return f"{values[0]}–{values[-1]}" if len(values) > 1 else f"{values[0]}"


def _budget(rows):
    budgets = [r["budget"] for r in rows if "budget" in r]
    if not budgets:
        return ""
    b = budgets[0]
    parts = [f"≤ {_count(b['derivative_nodes'])} tree nodes per gradient entry"
             if b.get("derivative_nodes") else "",
             f"≤ {b['seconds']:g} s per stage" if b.get("seconds") else ""]
    return " (" + ", ".join(p for p in parts if p) + ")"


# Readings: sentences computed from the results.

def _read_depth(rows):
    width = rows[0]["width"]
    depths = sorted({r["depth"] for r in rows})
    said = []
    for mode in MODES:
        points, _ = _series(rows, "depth", mode)
        if len(points) >= 2:
            noun = "nodes" if mode == "tape" else "operations"
            said.append(f"{NOUNS[mode]} grows {_growth(points, noun, 'layer')} "
                        f"({_count(points[0][1])} → {_count(points[-1][1])} at depths "
                        f"{points[0][0]}–{points[-1][0]})")
    sentences = []
    if said:
        sentences.append(f"Against depth (width {width}, depths {_range(depths)}): "
                         + "; ".join(said) + ".")
    sentences += _read_ratio(rows)
    sentences += _read_stops(rows, "depth")
    return sentences


def _read_ratio(rows):
    """The swelling forms against the DAG program at the deepest depth all three measured."""
    sizes = {}
    for r in rows:
        if "size" in r:
            sizes.setdefault(r["depth"], {})[r["mode"]] = r["size"]
    common = [d for d, s in sizes.items() if "dag" in s and ("tree" in s or "cse" in s)]
    if not common:
        return []
    depth = max(common)
    s = sizes[depth]
    parts = [f"{NOUNS[m]} {_times(s[m] / s['dag'])} ({_count(s[m])})"
             for m in ("tree", "cse") if m in s]
    return [f"At depth {depth}, the DAG program has {_count(s['dag'])} operations, "
            + " and ".join(parts) + " as many."]


def _read_stops(rows, axis):
    """Which modes the budget stopped, from which x on and why; modes alike said together."""
    stopped, finished = {}, {}
    for mode in ("tree", "cse", "dag"):
        points, stops = _series(rows, axis, mode)
        if stops:
            first = min(stops)
            why = next(r["stopped"] for r in rows
                       if r["mode"] == mode and r[axis] == first and "stopped" in r)
            reason = f"{why['stage']}: {why['what']} reached {_reached(why)}"
            stopped.setdefault((first, reason), []).append(mode)
        elif points:
            finished.setdefault(points[-1][0], []).append(mode)
    done = "; ".join(f"the {_join(modes)} mode{'s' if len(modes) > 1 else ''} measured every "
                     f"{axis} up to {last}" for last, modes in finished.items())
    if not stopped and not finished:
        return []
    if not stopped:
        return [f"No symbolic gradient reached the budget{_budget(rows)} along {axis}"
                + (f"; {done}." if done else ".")]
    said = [f"the {_join(modes)} mode{'s' if len(modes) > 1 else ''} from {axis} {first} on "
            f"({reason})" for (first, reason), modes in stopped.items()]
    return [f"The budget{_budget(rows)} stopped " + " and ".join(said)
            + (f"; {done}." if done else ".")]


def _read_width(rows):
    depth = rows[0]["depth"]
    widths = sorted({r["width"] for r in rows})
    slopes = {}
    for mode in MODES:
        points, _ = _series(rows, "width", mode)
        if len(points) >= 2:
            slopes[mode] = _slope(points)
    if not slopes:
        return _read_stops(rows, "width")
    params = _slope(_params(rows, "width")) if len(widths) >= 2 else None
    sentence = (f"Against width ({depth} hidden layer{'s' if depth != 1 else ''}, widths "
                f"{_range(widths)}), the fitted log-log slopes (size ∝ width^slope) are "
                + ", ".join(f"{'AD tape' if mode == 'tape' else mode} {s:.2f}"
                            for mode, s in slopes.items()))
    if params is not None:
        faster = [mode for mode, s in slopes.items() if s > params + 0.25]
        sentence += (f"; the parameter count's slope is {params:.2f}, so "
                     + (f"only the {_join(faster)} form{'s' if len(faster) > 1 else ''} "
                        f"grow{'s' if len(faster) == 1 else ''} markedly faster than the "
                        "parameters"
                        if faster else "no form grows markedly faster than the parameters"))
    return [sentence + "."] + _read_stops(rows, "width")


def _read_logistic(logistic):
    rows, stop = logistic["rows"], logistic["stopped"]
    sentences = []
    late = [r for r in rows if r["n"] >= 3][-4:]
    if len(late) >= 2 and late[0]["derivative_ops"] > 0:
        steps = late[-1]["n"] - late[0]["n"]

        def per_step(name):
            return (late[-1][name] / late[0][name]) ** (1 / steps)
        sentences.append(
            f"Logistic map lₙ₊₁ = 4lₙ(1 − lₙ): over n = {late[0]['n']}–{late[-1]['n']} the "
            f"derivative as the product rule writes it grows ×{per_step('derivative_ops'):.2f} "
            f"per step (to {_count(late[-1]['derivative_ops'])} operations), expanded to a "
            f"polynomial ×{per_step('simplified_ops'):.2f} (to "
            f"{_count(late[-1]['simplified_ops'])}), while the DAG program "
            + _linear_law([(r["n"], r["dag_ops"]) for r in rows if r["n"] >= 2]) + ".")
    if stop is not None:
        sentences.append(f"The budget (≤ {logistic['budget']['seconds']:g} s of "
                         f"differentiation) stopped the table at n = {stop['n']} "
                         f"({stop['stage']}: {stop['what']} reached {_reached(stop)}).")
    else:
        sentences.append(f"The budget did not stop the table up to n = {logistic['N']}.")
    return sentences


def _linear_law(points):
    """The per-step increment of a least-squares line, and its law a·n + b when exact."""
    if len(points) < 2:
        return "has too few rows to fit"
    n, y = np.array([p[0] for p in points], float), np.array([p[1] for p in points], float)
    slope, intercept = np.polyfit(n, y, 1)
    exact = np.allclose(slope * n + intercept, y, rtol=0, atol=1e-6)
    law = f"{slope:.0f}n {'−' if intercept < 0 else '+'} {abs(intercept):.0f}"
    return (f"grows by {slope:.0f} operations per step (exactly {law})" if exact else
            f"grows by about {slope:.1f} operations per step (not exactly linearly)")


# Figures.

SYMBOLIC_MODES = ("tree", "cse", "dag")


def _size_figure(rows, axis, log_x):
    """Two panels, one unit each: the symbolic modes in scalar operations (left), the AD tape
    in array nodes (right). Above the left panel, a band of its own holds a ▼ per mode at
    each x where the budget stopped that mode: a stop has no size, so it is not drawn among
    the sizes."""
    fig = plots.plt.figure(figsize=(10, 4.4), layout="constrained")
    grid = fig.add_gridspec(2, 2, height_ratios=(1, 5), width_ratios=(3, 2))
    band = fig.add_subplot(grid[0, 0])
    symbolic = fig.add_subplot(grid[1, 0], sharex=band)
    tape = fig.add_subplot(grid[:, 1])
    xs = sorted({r[axis] for r in rows})
    any_stop = False
    for row, mode in enumerate(SYMBOLIC_MODES):
        points, stops = _series(rows, axis, mode)
        color = plots.color(METHODS[mode])
        if points:
            slope = f" (slope {_slope(points):.2f})" if log_x and len(points) >= 2 else ""
            symbolic.plot(*zip(*points), "o-", color=color, label=LABELS[mode] + slope)
        if stops:
            band.plot(stops, [row] * len(stops), "v", color=color, markeredgecolor="black",
                      markersize=8)
            any_stop = True
    band.set_ylim(-0.7, len(SYMBOLIC_MODES) - 0.3)
    band.set_yticks(range(len(SYMBOLIC_MODES)), SYMBOLIC_MODES, fontsize=7)
    band.set_facecolor("#f3f3f3")
    band.set_title("stopped by budget" + ("" if any_stop else ": none"), fontsize=8,
                   loc="left")
    band.tick_params(axis="x", labelbottom=False)
    points, _ = _series(rows, axis, "tape")
    if points:
        slope = f" (slope {_slope(points):.2f})" if log_x and len(points) >= 2 else ""
        tape.plot(*zip(*points), "o-", color=plots.color("ad"), label=LABELS["tape"] + slope)
    symbolic.set_yscale("log")
    if log_x:
        band.set_xscale("log")               # shared with the panel below: set it first
    tape.set_ylim(0, max((p[1] for p in points), default=1) * 1.15)  # it grows by a few nodes
    for ax, unit in ((symbolic, "scalar operations"), (tape, "array nodes")):
        if log_x:
            ax.set_xscale("log")
        ax.set_xticks(xs, [str(x) for x in xs])
        ax.minorticks_off()
        ax.set_xlabel("hidden layers (depth)" if axis == "depth" else "hidden width")
        ax.set_ylabel(unit)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc="best")
    band.minorticks_off()
    tape.set_title("AD tape", fontsize=9)
    return fig, symbolic


def _draw_depth(rows, folder):
    fig, _ = _size_figure(rows, "depth", log_x=False)
    fig.suptitle(f"Gradient size against depth, width {rows[0]['width']}")
    file = plots.save(fig, folder, f"{NAME}-depth")
    return file, ("Size of the gradient against depth (log scale): the symbolic modes in "
                  "scalar operations (left), the AD tape in array nodes (right, linear "
                  "scale); the band above the left panel marks the depths where the budget "
                  "stopped a mode."
                  + _stop_caption(rows, "depth"))


def _draw_width(rows, folder):
    fig, _ = _size_figure(rows, "width", log_x=True)
    depth = rows[0]["depth"]
    fig.suptitle(f"Gradient size against width, {depth} hidden layer{'s' if depth != 1 else ''}")
    file = plots.save(fig, folder, f"{NAME}-width")
    return file, ("Size of the gradient against width (log-log) with the fitted slopes, size "
                  "∝ width^slope: the symbolic modes in scalar operations (left), the AD tape "
                  "in array nodes (right, linear scale); the band above the left panel marks "
                  "the widths where the budget stopped a mode." + _stop_caption(rows, "width"))


def _stop_caption(rows, axis):
    """The sizes at the largest x, and which modes the budget stopped and from where, for
    the caption."""
    top = max(r[axis] for r in rows)
    sizes = [f"{mode} {_count(r['size'])}" for mode in (*SYMBOLIC_MODES, "tape")
             for r in rows if r["mode"] == mode and r[axis] == top and "size" in r]
    head = f" At {axis} {top}: " + ", ".join(sizes) + "." if sizes else ""
    return head + _stops_said(rows, axis)


def _stops_said(rows, axis):
    """' Stopped: tree from depth 4, ….' or that none was."""
    said = []
    for mode in SYMBOLIC_MODES:
        _, stops = _series(rows, axis, mode)
        if stops:
            said.append(f"{mode} from {axis} {min(stops)}")
    return (" Stopped: " + ", ".join(said) + ".") if said else " The budget stopped no mode."


def _draw_logistic(logistic, folder):
    fig, ax = plots.figure()
    rows, stop = logistic["rows"], logistic["stopped"]
    styles = {"derivative_ops": ("o-", plots.color("symbolic-tree")),
              "simplified_ops": ("s-", plots.color("symbolic-cse")),
              "dag_ops": ("^-", plots.color("symbolic-dag")),
              "function_ops": (".:", plots.NEUTRAL)}
    for name, label in SERIES.items():
        points = [(r["n"], r[name]) for r in rows if r[name] > 0]
        if points:
            style, color = styles[name]
            ax.plot(*zip(*points), style, color=color, label=label)
    if stop is not None:
        ax.axvline(stop["n"], color="#c00", linestyle="--",
                   label=f"stopped by budget (n = {stop['n']})")
    ax.set_yscale("log")
    ax.set_xlabel("n")
    ax.set_ylabel("operations")
    ax.set_title("Logistic map lₙ₊₁ = 4lₙ(1 − lₙ): size of d lₙ/dx")
    ax.legend(fontsize=8)
    file = plots.save(fig, folder, f"{NAME}-logistic")
    where = (f"the dashed line is n = {stop['n']}, where the budget stopped the table"
             if stop else f"the budget did not stop it up to n = {logistic['N']}")
    return file, f"Growth of the logistic map's derivative (log scale), tree against DAG; {where}."


# Tables.

def _network_table(nets):
    by_net = {}
    for r in nets:
        by_net.setdefault(tuple(r["widths"]), {})[r["mode"]] = r
    header = ["network", "params", "AD tape nodes", "dag ops", "dag nodes", "cse ops",
              "tree ops"]
    body = []
    for widths in sorted(by_net, key=lambda w: (len(w), w[1])):
        cells = by_net[widths]
        params = next(iter(cells.values()))["params"]
        body.append(["-".join(map(str, widths)), params, _entry(cells.get("tape")),
                     _entry(cells.get("dag")), _entry(cells.get("dag"), "dag_nodes"),
                     _entry(cells.get("cse")), _entry(cells.get("tree"))])
    return Table("Gradient size by network (MLP input-hidden…-output; ops as compiled)",
                 header, body)


STAGES = ("trace", "share", "differentiate", "compile", "first evaluation")


def _symbolic_by_net(nets):
    """{(widths, mode): result} of the symbolic modes, one per network (a network in both
    sweeps is measured twice)."""
    found = {}
    for r in nets:
        if r["mode"] != "tape":
            found[tuple(r["widths"]), r["mode"]] = r
    return found


def _stage_table(nets):
    """Where each symbolic gradient's setup time goes, stage by stage."""
    body = []
    found = _symbolic_by_net(nets)
    for widths, mode in sorted(found, key=lambda k: (len(k[0]), k[0][1], MODES.index(k[1]))):
        r = found[widths, mode]
        name = "-".join(map(str, widths))
        if "stopped" in r:
            stop = r["stopped"]
            body.append([name, mode, *["—"] * len(STAGES),
                         f"stopped in {stop['stage']}"])
            continue
        seconds = r.get("seconds", {})
        setup = sum(seconds.get(stage, 0.0) for stage in STAGES[:-1])
        body.append([name, mode, *[_seconds(seconds.get(stage)) for stage in STAGES],
                     _seconds(setup)])
    return Table("Setup seconds of each symbolic gradient by stage (one run; the first "
                 "evaluation is not part of setup)", ["network", "mode", *STAGES, "setup"],
                 body)


def _read_stages(nets):
    """Which stage takes most of each mode's setup on the largest network it finished."""
    found = _symbolic_by_net(nets)
    said = []
    for mode in ("dag", "cse", "tree"):
        done = [(k, r) for k, r in found.items() if k[1] == mode and "seconds" in r]
        if not done:
            continue
        (widths, _), r = max(done, key=lambda item: item[1]["params"])
        seconds = {stage: r["seconds"].get(stage, 0.0) for stage in STAGES[:-1]}
        setup = sum(seconds.values())
        if setup <= 0:
            continue
        stage = max(seconds, key=seconds.get)
        said.append(f"the {mode} mode {_seconds(setup)} s on "
                    f"{'-'.join(map(str, widths))}, {seconds[stage] / setup:.0%} of it in "
                    f"{stage}")
    if not said:
        return []
    return ["Setup on the largest network each mode finished: " + "; ".join(said) + "."]


def _seconds(value):
    if value is None:
        return "—"
    return f"{value:.3f}" if value < 10 else f"{value:.1f}"


def _entry(result, size=None):
    if result is None:
        return "—"
    if "stopped" in result:
        return "stopped"
    return _count(result["sizes"][size] if size else result["size"])


def _logistic_table(logistic):
    body = [[r["n"]] + [_count(r[name]) for name in
                        ("function_ops", "derivative_ops", "simplified_ops", "dag_ops")]
            for r in logistic["rows"]]
    stop = logistic["stopped"]
    caption = "Logistic map: operations of lₙ and of d lₙ/dx" + (
        f" (stopped by budget at n = {stop['n']})" if stop else "")
    return Table(caption, ["n", "lₙ", "lₙ′ tree", "lₙ′ expanded", "lₙ′ dag"], body)

