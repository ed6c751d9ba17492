"""Newton: ‖∇f‖ against iteration and against time, with the Hessian from AD, symbolic
differentiation or finite differences, beside first-order optimizers on the same problem.

Newton's method converges quadratically near a minimizer with an exact Hessian (N&W Thm
3.5); a Hessian with relative error δ leaves a linear term, e_{k+1} ≲ δ·κ·e_k + C·e_k², so
finite-difference Hessians (δ ≈ 1e-5…1e-8) still converge fast but not quadratically to the
end, and each costs O(n²) function evaluations. The gradient is AD's in every Newton run, so
only the Hessian's source differs. First-order methods take many cheap steps and converge
linearly at best.
"""

import time
from functools import partial
from statistics import median

import numpy as np

from ... import models
from ...errors import NonFiniteValueError, SwellLimitError
from ...optim import OPTIMIZERS, estimated_order, newton, train
from ...optim.convergence import OptimizationError
from .. import plots, timing
from ..page import Rendered, Table
from ..runner import Cell

NAME = "newton"
TITLE = "Newton's method and first-order optimizers"

FIRST_ORDER_COLORS = {"adam": "#8c564b", "momentum": "#bcbd22", "sgd": "#17becf"}
TARGET = 1e-8          # ‖g‖ the readings count iterations and seconds to
LOSS_TARGET = 1e-6     # f within this much of the best f any run found, relatively
GRID_WIDENINGS = 2     # rates tried past an edge of a first-order method's grid


# Each first-order method runs a small grid of learning rates per problem and keeps the one
# whose run ends lowest; the grids span the stable range: Rosenbrock's curvature reaches ~2500
# along the valley wall, so plain and heavy-ball steps must be small there.
RATES = {"rosenbrock": dict(adam=(0.01, 0.05, 0.2), momentum=(3e-5, 1e-4, 3e-4),
                            sgd=(1e-4, 2e-4, 4e-4)),
         "mlp": dict(adam=(0.01, 0.05, 0.2), momentum=(0.005, 0.02, 0.08),
                     sgd=(0.02, 0.05, 0.2))}


def _problems(profile):
    """(key, zoo name, overrides, rates): Rosenbrock and a small tanh MLP with a ridge term
    (so its minimizer is isolated and the Hessian there positive definite)."""
    problems = [("rosenbrock", "rosenbrock", dict(n=2), RATES["rosenbrock"])]
    if profile.name != "tiny":
        problems.append(("mlp", "mlp", dict(widths=(1, 4, 1), batch=8, l2=1e-2), RATES["mlp"]))
    if profile.name == "full":
        problems.append(("mlp-wide", "mlp", dict(widths=(2, 6, 6, 1), batch=16, l2=1e-2),
                         RATES["mlp"]))
    return problems


def cells(profile):
    hessians = profile.pick(("ad", "fd-central"), ("ad", "symbolic", "fd-central"),
                            ("ad", "symbolic", "fd-central", "fd-forward", "complex-step"))
    first_order = profile.pick(("adam",), ("adam", "momentum"), ("adam", "momentum", "sgd"))
    steps = profile.pick(60, 600, 3000)
    repeats = profile.pick(3, 5, 7)
    out = []
    for key, name, overrides, rates in _problems(profile):
        model = partial(models.get, name, seed=profile.seed, **overrides)
        out += [Cell(f"{key}/newton-{h}", partial(newton_run, model, h, repeats))
                for h in hessians]
        out += [Cell(f"{key}/{method}",
                     partial(first_order_run, model, method, rates[method], steps))
                for method in first_order]
    return out


def newton_run(model, hessian, repeats=1):
    """Newton with line search, AD gradients and the Hessian from ``hessian``: one warm-up
    run (the libraries' own first-use costs), then ``repeats`` timed runs, each preparing its
    derivatives afresh (the symbolic setup is in every run's time and in ``setup_seconds``);
    the trace is the run of median total time, and the totals are recorded raw with their
    median's order-statistics interval (``timing.summary``)."""
    problem = model()
    runs = []
    for attempt in range(repeats + 1):
        start = time.perf_counter()
        try:
            result = newton(problem.objective, problem.theta0, "ad",
                            hessian_differentiator=hessian)
        except SwellLimitError as error:
            return {"stopped": str(error), "kind": "newton", "hessian": hessian}
        if attempt:
            runs.append((time.perf_counter() - start, result))
    runs.sort(key=lambda run: run[0])
    seconds, result = runs[(len(runs) - 1) // 2]
    trace = result.trace
    return {"kind": "newton", "hessian": hessian, "status": result.status, "nit": result.nit,
            "grad_norm": [it.grad_norm for it in trace], "f": [it.f for it in trace],
            "seconds": [it.seconds for it in trace], "total_seconds": seconds,
            "total_min": runs[0][0], "total_max": runs[-1][0], "repeats": repeats,
            "totals": timing.summary([seconds for seconds, _ in runs]),
            "order": _local_order(trace), "min_eigenvalue": result.min_eigenvalue,
            "f_evaluations": result.evaluations.f_in_derivatives,
            "setup_seconds": result.evaluations.setup_seconds, "n": int(problem.theta0.size),
            "forward_seconds": forward_seconds(problem)}


def forward_seconds(problem):
    """CPU seconds of one evaluation of f at θ₀ (median of three bursts): the unit in which
    every Newton iteration's cost is stated, whatever computes its Hessian."""
    f, theta = problem.objective, problem.theta0
    return median(timing.burst_seconds(lambda: f(theta), 0.01) for _ in range(3))


def _local_order(trace):
    """The observed order over the final run of full Newton steps (α = 1): a damped step
    before them belongs to the global phase, where the local theory does not apply."""
    last_damped = max((i for i, it in enumerate(trace[:-1])
                       if it.step_length != 1 or it.direction != "newton"), default=-1)
    try:
        fit = estimated_order(trace[last_damped + 1:])
    except OptimizationError:
        return None
    # three steps above round-off at least: a line through two points is not a measurement
    return fit.order if fit.errors.size >= 4 else None


def first_order_run(model, method, rates, steps):
    """Full-batch training (the per-step gradient is the whole objective's, as Newton's) at
    each learning rate of the grid ``rates``; the trace kept is the run that ends lowest, and
    every rate's final f and ‖∇f‖ are recorded beside it."""
    problem = model()
    runs = {}

    def run(lr):
        try:
            runs[lr] = train(problem, OPTIMIZERS[method](lr=lr), steps=steps)
        except NonFiniteValueError:              # the rate diverged: train says so
            runs[lr] = None
    for lr in rates:
        run(lr)

    def final(lr):
        value = np.inf if runs[lr] is None else float(runs[lr].loss[-1])
        return value if np.isfinite(value) else np.inf
    # a best rate at an edge of the grid may not be the best rate: widen the grid that way,
    # ×4 at a time, up to GRID_WIDENINGS times, while that keeps improving
    for _ in range(GRID_WIDENINGS):
        ordered = sorted(runs)
        chosen = min(ordered, key=final)
        if chosen == ordered[-1]:
            lr = chosen * 4
        elif chosen == ordered[0]:
            lr = chosen / 4
        else:
            break
        run(lr)
        if final(lr) >= final(chosen):
            break
    rates = sorted(runs)
    finals = {lr: final(lr) for lr in rates}
    chosen = min(rates, key=final)
    if runs[chosen] is None:
        raise NonFiniteValueError(f"{method}: every learning rate of {rates} diverged on "
                                  f"{problem.name}")
    history = runs[chosen]
    return {"kind": "first-order", "method": method, "lr": chosen, "nit": history.steps,
            "forward_seconds": forward_seconds(problem),
            "grid": [{"lr": lr, "f": _finite(finals[lr]),
                      "grad_norm": None if runs[lr] is None else _finite(runs[lr].grad_norm[-1])}
                     for lr in rates],
            "grad_norm": history.grad_norm.tolist(), "f": history.loss.tolist(),
            "seconds": history.time.tolist(), "n": int(problem.theta0.size)}


def _finite(value):
    """A float for the results, None where a diverged run left inf or NaN (not JSON)."""
    value = float(value)
    return value if np.isfinite(value) else None


def _label(result, legend=False):
    """The run's name; for a table, a first-order method's grid of rates too."""
    if result["kind"] == "newton":
        return f"Newton, Hessian from {result['hessian']}"
    grid = result.get("grid")
    if grid and not legend:
        rates = ", ".join(f"{g['lr']:g}" for g in grid)
        return f"{result['method']} (lr {result['lr']:g}, best of {rates})"
    return f"{result['method']} (lr {result['lr']:g})"


def best_known(runs):
    """The lowest f any finished run of the problem reached."""
    finals = [min(r["f"]) for r in runs.values() if "stopped" not in r and r["f"]]
    return min(finals) if finals else None


def loss_within(f_best):
    """How close f must come to the best known f: LOSS_TARGET relative, absolute below 1."""
    return LOSS_TARGET * max(abs(f_best), 1.0)


def _first_close(result, f_best):
    if f_best is None:
        return None
    return _first_below(np.asarray(result["f"]) - f_best, loss_within(f_best))


def _per_iteration_forwards(result):
    """Seconds per iteration (setup excluded) in forward passes of f, or None."""
    forward, nit = result.get("forward_seconds"), result["nit"]
    if not forward or not nit:
        return None
    return (result["seconds"][-1] - (result.get("setup_seconds") or 0.0)) / nit / forward


def _first_below(values, target):
    hits = np.flatnonzero(np.asarray(values) <= target)
    return int(hits[0]) if hits.size else None


def render(results, folder):
    rendered = Rendered()
    by_problem = {}
    for key, result in sorted(results.items()):
        by_problem.setdefault(key.split("/")[0], {})[key] = result
    for problem, runs in by_problem.items():
        fig, (by_step, by_time) = plots.figure(5.2, 3.8, ncols=2)
        for key, result in runs.items():
            if "stopped" in result:
                continue
            style = "-" if result["kind"] == "newton" else ":"
            color = plots.color(result["hessian"]) if result["kind"] == "newton" \
                else FIRST_ORDER_COLORS.get(result["method"])
            norms = np.maximum(result["grad_norm"], 1e-300)
            by_step.semilogy(np.arange(len(norms)), norms, style, color=color,
                             label=_label(result, legend=True))
            by_time.loglog(np.maximum(result["seconds"], 1e-6), norms, style, color=color)
        for axis, xlabel in ((by_step, "iteration"), (by_time, "seconds (cumulative)")):
            axis.axhline(TARGET, color="#999", lw=0.8, ls="--")
            axis.set_xlabel(xlabel)
            axis.set_ylabel("‖∇f‖")
        by_step.set_xscale("symlog", linthresh=10)
        by_step.set_xlim(left=0)
        by_step.legend(fontsize=7)
        fig.suptitle(f"{problem}: gradient norm per iteration and against time")
        reached = {_label(r, legend=True): (_first_below(r["grad_norm"], TARGET), r)
                   for r in runs.values() if "stopped" not in r}
        hits = {name: (k, r["seconds"][k]) for name, (k, r) in reached.items()
                if k is not None}
        said = "which no run reached."
        if hits:
            fewest = min(k for k, _ in hits.values())
            soonest = min(hits, key=lambda name: hits[name][1])
            first = sorted(name for name, (k, _) in hits.items() if k == fewest)
            said = (f"reached in the fewest iterations ({fewest}) by {', '.join(first)}, "
                    f"soonest in time by {soonest} ({hits[soonest][1]:.2g} s).")
        rendered.figures.append((plots.save(fig, folder, f"newton-{problem}"),
                                 f"{problem}: ‖∇f‖ per iteration (left) and against time "
                                 f"(right); dashed line at {TARGET:g}, " + said))
        rendered.tables.append(_table(problem, runs))
        rendered.reading += _reading(problem, runs)
    return rendered


def _table(problem, runs):
    f_best = best_known(runs)
    rows = []
    for key, result in runs.items():
        if "stopped" in result:
            rows.append([_label(result), "stopped by budget"] + [""] * 10)
            continue
        k = _first_below(result["grad_norm"], TARGET)
        close = _first_close(result, f_best)
        order = result.get("order")
        setup = result.get("setup_seconds")
        per_iteration = "-"
        if result["nit"]:
            per_iteration = f"{(result['seconds'][-1] - (setup or 0.0)) / result['nit']:.3g}"
        forwards = _per_iteration_forwards(result)
        totals = result.get("totals")
        rows.append([_label(result), result.get("status", "steps done"), result["nit"],
                     "-" if totals is None else
                     f"{totals['median']:.3g} [{totals['low']:.3g}–{totals['high']:.3g}]"
                     + ("" if totals["confidence"] >= 0.95 else
                        f" ({totals['confidence']:.0%})"),
                     f"{result['grad_norm'][-1]:.1e}",
                     f"{result['f'][-1] - f_best:.1e}" if f_best is not None else "-",
                     "-" if k is None else f"{result['seconds'][k]:.3g}",
                     "-" if close is None else f"{result['seconds'][close]:.3g}",
                     "-" if setup is None else f"{setup:.3g}", per_iteration,
                     "-" if forwards is None else f"{forwards:,.0f}",
                     "-" if order is None else f"{order:.2f}"])
    return Table(f"{problem}: seconds to each target, setup included (the symbolic trace and "
                 f"compile of each run); f* = {f_best:.6g} is the lowest f any run reached, "
                 f"and f is close when f − f* ≤ {LOSS_TARGET:g}·max(|f*|, 1); first-order "
                 "methods at the best rate of their grid",
                 ["method", "status", "iterations", "run s: median [interval] of the repeats",
                  "final ‖∇f‖", "final f − f*",
                  f"s to ‖∇f‖ ≤ {TARGET:g}", "s to f close to f*", "setup s",
                  "s per iteration", "forward passes per iteration", "observed order"],
                 rows)


def _reading(problem, runs):
    newtons = {r["hessian"]: r for r in runs.values() if r["kind"] == "newton"
               and "stopped" not in r}
    firsts = [r for r in runs.values() if r["kind"] == "first-order"]
    sentences = []
    reached = {h: _first_below(r["grad_norm"], TARGET) for h, r in newtons.items()}
    parts = []
    for hessian, r in newtons.items():
        k = reached[hessian]
        order = r.get("order")
        parts.append(f"with the {hessian} Hessian in "
                     + (f"{k} iterations ({r['seconds'][k]:.2g} s)" if k is not None
                        else f"no iteration of {r['nit']} (final ‖∇f‖ {r['grad_norm'][-1]:.1e})")
                     + (", too few full steps above round-off to measure the order"
                        if order is None else f", observed order {order:.2f}"))
    if parts:
        sentences.append(f"On {problem} (n = {next(iter(newtons.values()))['n']}), Newton "
                         f"reached ‖∇f‖ ≤ {TARGET:g} " + "; ".join(parts) + ".")
    costs = {h: _per_iteration_forwards(r) for h, r in newtons.items()}
    costs = {h: c for h, c in costs.items() if c is not None}
    if costs:
        sentences.append("Each Newton iteration, setup aside, costs " + ", ".join(
            f"{c:,.0f} forward passes of f with the {h} Hessian"
            + (f" ({newtons[h]['f_evaluations'] // max(newtons[h]['nit'], 1):,} evaluations "
               "of f per iteration in its differences)" if newtons[h]["f_evaluations"] else "")
            for h, c in sorted(costs.items(), key=lambda item: item[1])) + ".")
    f_best = best_known(runs)
    if firsts and "ad" in newtons:
        newton = newtons["ad"]
        for r in firsts:
            sentences.append(_first_order_sentence(r, newton, f_best))
    return sentences


def _first_order_sentence(r, newton, f_best):
    """Where a first-order run stands on both targets against Newton with AD."""
    said = []
    for what, mine, theirs in (
            (f"‖∇f‖ ≤ {TARGET:g}", _first_below(r["grad_norm"], TARGET),
             _first_below(newton["grad_norm"], TARGET)),
            ("f close to f*", _first_close(r, f_best), _first_close(newton, f_best))):
        if mine is None:
            said.append(f"did not reach {what} in {r['nit']} steps")
        elif theirs is None:
            said.append(f"reached {what} after {mine} steps ({r['seconds'][mine]:.2g} s), "
                        "which Newton with AD did not")
        else:
            said.append(f"reached {what} after {mine} steps ({r['seconds'][mine]:.2g} s, "
                        f"{r['seconds'][mine] / max(newton['seconds'][theirs], 1e-9):.1f}× "
                        "Newton with AD's time)")
    return f"{_label(r)} " + "; it ".join(said) + "."
