"""The verdict: which method when, computed from the data of this run.

Per quantity (gradient, Jacobian, Hessian, HVP) and size class (small n ≤ 100, medium n ≤ 2,000,
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
from ..timing import seconds_text
from ..page import Rendered, Table

NAME = "verdict"
TITLE = "Verdict: which method when"
READS = ("precision", "runtime")          # the sections whose results the verdict reads

QUANTITIES = ("gradient", "jacobian", "hessian", "hvp")
PLURALS = {"gradient": "Gradients", "jacobian": "Jacobians", "hessian": "Hessians",
           "hvp": "HVPs"}
FEW_DIGITS = 6        # fewer correct digits than this on the median model: avoid
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
        "Which method when, from this run's data, by size class (small n ≤ 100, medium "
        "n ≤ 2,000, large above): the most precise (median relative error over the models of "
        "that size, and its range over them); the fastest after setup (seconds per call) and "
        "including setup (setup + one call), at every n of the class that two methods "
        "reached: the winner, its median and 95% interval at the last n it wins, methods "
        "whose intervals overlap named as a tie; and the one to avoid, with why (beyond its "
        "tolerance, fewer than 6 correct digits, or ≥ 10× the fastest at the same n beyond "
        "the noise)", ["quantity", "size", "most precise", "fastest after setup",
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
        text = (f"{best}, {', '.join(tied)} tie at the rounding level (≤ {ROUNDING:.0e}; "
                f"{best} {medians[best]:.1e}" + (f", range {min(spread):.1e}–{max(spread):.1e}"
                                                   f" over {models} models" if models > 1
                                                   else "") + ")")
    worst = None
    for method, rows in by_method.items():
        over = max(r["error"] / r["tolerance"] for r in rows)
        if over > 1 and (worst is None or over > worst[1]):
            worst = (method, over, max(r["error"] for r in rows))
    avoid = None if worst is None else {
        "text": f"{worst[0]}: error {worst[2]:.1e}, {worst[1]:.0f}× its tolerance",
        "method": worst[0]}
    if avoid is None:
        # a loose tolerance (a first-order HVP's allows 250%) is no check: also avoid a method
        # that keeps fewer than FEW_DIGITS correct digits on the median model
        digits = {m: median(-np.log10(max(r["error"], 1e-300)) for r in rows)
                  for m, rows in by_method.items()}
        fewest = min(digits, key=digits.get)
        if digits[fewest] < FEW_DIGITS:
            avoid = {"text": f"{fewest}: {digits[fewest]:.1f} correct digits on the median "
                             f"model (error {medians[fewest]:.1e})", "method": fewest}
    return {"text": text, "method": best, "value": medians[best],
            "tied": tied if medians[best] <= ROUNDING else []}, avoid


def _fastest(timed):
    """(fastest after setup, fastest including setup, the one to avoid or None) over every n
    of the class at which at least two methods were timed: the winner at each n (methods
    whose intervals overlap the winner's tie with it), and the method slowest relative to
    the fastest at the same n, if that is ≥ AVOID_FACTOR and beyond the noise."""
    by_n = {}
    for r in timed:
        by_n.setdefault(r["n"], {})[r["method"]] = r
    shared = sorted(n for n, methods in by_n.items() if len(methods) >= 2)
    if not shared:
        alone = max(by_n) if by_n else None
        if alone is None:
            return {"text": "not measured"}, {"text": "not measured"}, None
        (method, r), = by_n[alone].items()
        text = f"{method} alone measured at n = {alone:,}: {_interval(_per_call(r))}"
        return {"text": text}, {"text": text}, None
    after = _winners({n: {m: _per_call(r) for m, r in by_n[n].items()} for n in shared})
    including = _winners({n: {m: _first_answer(r) for m, r in by_n[n].items()}
                          for n in shared})
    return after, including, _slowest(by_n, shared)


def _winners(times_by_n):
    """The fastest at each n, runs of equal outcome said together: 'symbolic at n = 7–25
    (9.8 µs …); ad at n = 56 (…)'."""
    outcomes = []
    for n, times in times_by_n.items():
        best = _ranked(times, n)
        outcomes.append((n, best))
    groups = []
    for n, best in outcomes:
        key = (best["method"], tuple(best["tied"]))
        if groups and groups[-1][0] == key:
            groups[-1][1].append((n, best))
        else:
            groups.append((key, [(n, best)]))
    parts, brief = [], []
    for (method, tied), members in groups:
        ns = [n for n, _ in members]
        where = f"n = {ns[0]:,}" if len(ns) == 1 else f"n = {ns[0]:,}–{ns[-1]:,}"
        last = members[-1][1]
        who = method if not tied else f"{_join([method, *tied])} tie"
        parts.append(f"{who} at {where} ({_interval(last)} at n = {ns[-1]:,})")
        brief.append(f"{who} at {where}")
    winners = {key[0] for key, _ in groups}
    single = len(winners) == 1 and not any(key[1] for key, _ in groups)
    return {"text": "; ".join(parts), "brief": ", then ".join(brief),
            "method": groups[-1][0][0] if single else None,
            "winners": sorted(winners), "tied": sorted({m for key, _ in groups
                                                        for m in key[1]})}


def _slowest(by_n, shared):
    """The method with the largest time ÷ the fastest's at the same n, over the class, when
    that ratio is ≥ AVOID_FACTOR and its interval lies wholly above every other's there."""
    worst = None
    for n in shared:
        per_call = {m: _per_call(r) for m, r in by_n[n].items()}
        fastest = min(t["median"] for t in per_call.values())
        for method, t in per_call.items():
            ratio = t["median"] / fastest
            above = all(timing.separate((o["low"], o["high"]), (t["low"], t["high"])) == -1
                        for m, o in per_call.items() if m != method)
            if ratio >= AVOID_FACTOR and above and (worst is None or ratio > worst[0]):
                worst = (ratio, method, n, t)
    if worst is None:
        return None
    ratio, method, n, t = worst
    return {"text": f"{method}: {_interval(t)} per call at n = {n:,}, {ratio:,.0f}× the "
                    "fastest there", "method": method}


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
    return f"{seconds_text(t['median'])} [{seconds_text(t['low'])}–{seconds_text(t['high'])}{note}]"


def _cell(entry):
    return entry["text"] if entry else "—"


def _said(entry, role):
    """'ad is the fastest after setup', or who is where, when that changes with n."""
    if entry.get("method"):
        return f"{entry['method']} is {role}"
    return f"{role}: {entry['brief']}"


def _join(words):
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _reading(rows):
    """One sentence per quantity and size class: who is most precise, fastest, to avoid."""
    sentences = []
    for r in rows:
        pieces = []
        if r["precise"].get("method"):
            tied = r["precise"].get("tied")
            pieces.append(f"{_join([r['precise']['method'], *tied])} tie as the most precise, "
                          "at the rounding level" if tied else
                          f"{r['precise']['method']} is the most precise")
        if r["after"].get("winners"):
            pieces.append(_said(r["after"], "the fastest after setup"))
        if r["including"].get("winners") and \
                r["including"]["winners"] != r["after"].get("winners"):
            pieces.append(_said(r["including"], "the fastest to a first answer (setup + one "
                                                "call)"))
        if r["avoid"]:
            pieces.append(f"avoid {r['avoid']['method']}")
        if pieces:
            sentences.append(f"{PLURALS[r['quantity']]}, {r['size']} n: " + "; ".join(pieces)
                             + ".")
    return sentences
