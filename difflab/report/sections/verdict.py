"""The verdict: which method when, computed from the data of this run.

Per quantity (gradient, Hessian, HVP) and size class (small n ≤ 100, medium n ≤ 2,000,
large), from the other sections' results (it measures nothing itself):

- **most precise**: the lowest median relative error over the precision section's models of
  that size (float64), with the range over those models; errors are deterministic, so the
  range is the spread over models, not noise;
- **fastest after setup**: the lowest median time per call at the largest n of the class
  that at least two methods reached in the runtime section, with its 95% interval; when the
  runner-up's interval overlaps, the two are named together: the data cannot rank them;
- **fastest including setup**: the same for the first answer, setup plus one call (the
  symbolic method's setup is its rebuild; the others have none);
- **avoid**: a method whose error exceeds the tolerance table's level for it, else the slowest
  after setup when it is at least ``AVOID_FACTOR`` times the fastest and its interval lies
  wholly above every other's.

A cell the run did not measure says so ("not measured") instead of guessing.
"""

from statistics import median

import numpy as np

from .. import timing
from ..page import Rendered, Table

NAME = "verdict"
TITLE = "Verdict: which method when"
READS = ("precision", "runtime")          # the sections whose results the verdict reads

QUANTITIES = ("gradient", "hessian", "hvp")
PLURALS = {"gradient": "Gradients", "hessian": "Hessians", "hvp": "HVPs"}
AVOID_FACTOR = 10     # slower than the fastest by this much (and beyond the noise): avoid
ROUNDING = 10 * float(np.finfo(np.float64).eps)    # errors this small differ by rounding luck
CLASSES = (("small", 100), ("medium", 2000), ("large", float("inf")))


def cells(profile):
    return []                            # the verdict is computed from the other sections


def size_class(n):
    return next(name for name, top in CLASSES if n <= top)


def render(results, folder, others=None):
    others = others or {}
    precision = [r for r in others.get("precision", {}).values()
                 if r.get("kind") == "errors" and r.get("dtype") == "float64"]
    runtime = [r for r in others.get("runtime", {}).values() if "seconds" in r]
    out = Rendered()
    if not precision and not runtime:
        out.reading.append("The verdict reads the precision and runtime sections' results; "
                           "this run has neither, so there is nothing to judge.")
        return out
    rows, said = [], []
    for quantity in QUANTITIES:
        for name, _ in CLASSES:
            row = verdict(quantity, name, precision, runtime)
            if row is None:
                continue
            rows.append([quantity, name, *[_cell(row[k]) for k in
                                           ("precise", "after", "including", "avoid")]])
            said.append(row)
    out.tables.append(Table(
        "Which method when, from this run's data: the most precise (median relative error "
        "over the models of that size, and its range over them), the fastest after setup and "
        "including setup (median seconds per call at the largest n the class reached, and its "
        "95% interval; methods whose intervals overlap are named together), and the one to "
        "avoid with why", ["quantity", "size", "most precise", "fastest after setup",
                           "fastest including setup", "avoid"], rows))
    out.reading += _reading(said)
    return out


def verdict(quantity, name, precision, runtime):
    """{"precise", "after", "including", "avoid"} for one quantity and size class; None when
    the run measured neither its precision nor its time."""
    errors = [r for r in precision if r["quantity"] == quantity
              and size_class(r["n_params"]) == name]
    timed = [r for r in runtime if r["quantity"] == quantity and size_class(r["n"]) == name]
    if not errors and not timed:
        return None
    precise, beyond = _most_precise(errors)
    after, including, slowest = _fastest(timed)
    return {"quantity": quantity, "size": name, "precise": precise, "after": after,
            "including": including, "avoid": beyond or slowest}


def _most_precise(errors):
    """(the most precise entry, an entry for the method most beyond its tolerance or None)."""
    by_method = {}
    for result in errors:
        for row in result["methods"]:
            if row["status"] == "ok":
                by_method.setdefault(row["method"], []).append(row)
    if not by_method:
        return {"text": "not measured"}, None
    medians = {m: median(r["error"] for r in rows) for m, rows in by_method.items()}
    best = min(medians, key=medians.get)
    spread = [r["error"] for r in by_method[best]]
    models = len(spread)
    text = (f"{best}: {medians[best]:.1e}" + (f" [{min(spread):.1e}–{max(spread):.1e}] over "
                                              f"{models} models" if models > 1 else ""))
    # at the rounding level a smaller error is luck, not precision: name every method there
    tied = sorted(m for m in medians if m != best and medians[m] <= ROUNDING)
    if medians[best] <= ROUNDING and tied:
        text += f" (tied at the rounding level, ≤ {ROUNDING:.0e}, with {', '.join(tied)})"
    worst = None
    for method, rows in by_method.items():
        over = max(r["error"] / r["tolerance"] for r in rows)
        if over > 1 and (worst is None or over > worst[1]):
            worst = (method, over, max(r["error"] for r in rows))
    avoid = None if worst is None else {
        "text": f"{worst[0]}: error {worst[2]:.1e}, {worst[1]:.0f}× its tolerance",
        "method": worst[0]}
    return {"text": text, "method": best, "value": medians[best],
            "tied": tied if medians[best] <= ROUNDING else []}, avoid


def _fastest(timed):
    """(fastest after setup, fastest including setup, slowest-by-far or None) at the largest
    n of the class that two methods reached."""
    by_n = {}
    for r in timed:
        by_n.setdefault(r["n"], {})[r["method"]] = r
    shared = [n for n, methods in by_n.items() if len(methods) >= 2]
    if not shared:
        alone = max(by_n) if by_n else None
        if alone is None:
            return {"text": "not measured"}, {"text": "not measured"}, None
        (method, r), = by_n[alone].items()
        text = f"{method} alone measured at n = {alone:,}: {_interval(_per_call(r))}"
        return {"text": text}, {"text": text}, None
    n = max(shared)
    methods = by_n[n]
    after = _ranked({m: _per_call(r) for m, r in methods.items()}, n)
    including = _ranked({m: _first_answer(r) for m, r in methods.items()}, n)
    slowest = None
    per_call = {m: _per_call(r) for m, r in methods.items()}
    worst = max(per_call, key=lambda m: per_call[m]["median"])
    fastest = min(per_call[m]["median"] for m in per_call)
    # to avoid, a method must be slower than every other beyond the noise, and by a factor
    # that matters (2× slower is a trade-off, not a method to avoid)
    if per_call[worst]["median"] >= AVOID_FACTOR * fastest and all(
            timing.separate((per_call[m]["low"], per_call[m]["high"]),
                            (per_call[worst]["low"], per_call[worst]["high"])) == -1
            for m in per_call if m != worst):
        slowest = {"text": f"{worst}: {_interval(per_call[worst])} per call at n = {n:,}, "
                           f"{per_call[worst]['median'] / fastest:,.0f}× the fastest",
                   "method": worst}
    return after, including, slowest


def _per_call(r):
    s = r["seconds"]
    return {"median": s["median"], "low": s["low"], "high": s["high"],
            "confidence": s.get("confidence", 1.0)}


def _first_answer(r):
    """Setup plus one call; its interval the sum of the two intervals' ends (conservative)."""
    s, setup = r["seconds"], r.get("setup")
    if setup is None:
        return _per_call(r)
    return {"median": setup["median"] + s["median"], "low": setup["low"] + s["low"],
            "high": setup["high"] + s["high"],
            "confidence": min(s.get("confidence", 1.0), setup.get("confidence", 1.0))}


def _ranked(times, n):
    """The fastest method, with every method whose interval overlaps it named beside it."""
    best = min(times, key=lambda m: times[m]["median"])
    tied = [m for m in times if m != best and timing.separate(
        (times[best]["low"], times[best]["high"]), (times[m]["low"], times[m]["high"])) == 0]
    text = f"{best}: {_interval(times[best])} at n = {n:,}"
    if tied:
        text += f" (tied with {', '.join(sorted(tied))}: the intervals overlap)"
    return {"text": text, "method": best, "tied": tied, **times[best]}


def _interval(t):
    """median [low–high], with the interval's coverage when too few rounds reach 95%."""
    coverage = t.get("confidence", 1.0)
    note = f", {coverage:.0%}" if coverage < 0.95 else ""
    return f"{_time(t['median'])} [{_time(t['low'])}–{_time(t['high'])}{note}]"


def _time(seconds):
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds * 1e6:.3g} µs"


def _cell(entry):
    return entry["text"] if entry else "—"


def _reading(rows):
    """One sentence per quantity: the winners over its size classes."""
    sentences = []
    for quantity in QUANTITIES:
        mine = [r for r in rows if r["quantity"] == quantity]
        if not mine:
            continue
        parts = []
        for r in mine:
            pieces = []
            if r["precise"].get("method"):
                tied = r["precise"].get("tied")
                pieces.append(f"{r['precise']['method']} is the most precise" + (
                    f" (with {', '.join(tied)}, all at the rounding level)" if tied else ""))
            if r["after"].get("method"):
                tied = r["after"].get("tied")
                pieces.append(f"{r['after']['method']} the fastest after setup"
                              + (f" (with {', '.join(tied)} within the noise)" if tied else ""))
            if r["including"].get("method") and r["including"]["method"] != \
                    r["after"].get("method"):
                pieces.append(f"{r['including']['method']} the fastest to a first answer")
            if pieces:
                parts.append(f"{r['size']}: " + ", ".join(pieces))
        if parts:
            sentences.append(f"{PLURALS[quantity]} — " + "; ".join(parts) + ".")
    return sentences
