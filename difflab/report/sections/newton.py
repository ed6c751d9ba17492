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

import numpy as np

from ... import models
from ...errors import SwellLimitError
from ...optim import OPTIMIZERS, estimated_order, newton, train
from ...optim.convergence import OptimizationError
from .. import plots
from ..page import Rendered, Table
from ..runner import Cell

NAME = "newton"
TITLE = "Newton's method and first-order optimizers"

FIRST_ORDER_COLORS = {"adam": "#8c564b", "momentum": "#bcbd22", "sgd": "#17becf"}
TARGET = 1e-8          # ‖g‖ the readings count iterations and seconds to


# Learning rates that keep each first-order method stable on each problem: Rosenbrock's
# curvature reaches ~2500 along the valley wall, so plain and heavy-ball steps must be small.
RATES = {"rosenbrock": dict(adam=0.05, momentum=1e-4, sgd=2e-4),
         "mlp": dict(adam=0.05, momentum=0.02, sgd=0.05)}


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
    repeats = profile.pick(1, 2, 3)
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
    the trace is the run of median total time, and the totals' median, min and max are
    recorded."""
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
            "order": _local_order(trace), "min_eigenvalue": result.min_eigenvalue,
            "f_evaluations": result.evaluations.f_in_derivatives,
            "setup_seconds": result.evaluations.setup_seconds, "n": int(problem.theta0.size)}


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


def first_order_run(model, method, lr, steps):
    """Full-batch training: the per-step gradient is the whole objective's, as Newton's."""
    problem = model()
    history = train(problem, OPTIMIZERS[method](lr=lr), steps=steps)
    return {"kind": "first-order", "method": method, "lr": lr, "nit": history.steps,
            "grad_norm": history.grad_norm.tolist(), "f": history.loss.tolist(),
            "seconds": history.time.tolist(), "n": int(problem.theta0.size)}


def _label(result):
    if result["kind"] == "newton":
        return f"Newton, Hessian from {result['hessian']}"
    return f"{result['method']} (lr {result['lr']:g})"


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
                             label=_label(result))
            by_time.loglog(np.maximum(result["seconds"], 1e-6), norms, style, color=color)
        for axis, xlabel in ((by_step, "iteration"), (by_time, "seconds (cumulative)")):
            axis.axhline(TARGET, color="#999", lw=0.8, ls="--")
            axis.set_xlabel(xlabel)
            axis.set_ylabel("‖∇f‖")
        by_step.set_xscale("symlog", linthresh=10)
        by_step.set_xlim(left=0)
        by_step.legend(fontsize=7)
        fig.suptitle(f"{problem}: gradient norm per iteration and against time")
        rendered.figures.append((plots.save(fig, folder, f"newton-{problem}"),
                                 f"{problem}: ‖∇f‖ per iteration (left) and against time "
                                 f"(right); dashed line at {TARGET:g}"))
        rendered.tables.append(_table(problem, runs))
        rendered.reading += _reading(problem, runs)
    return rendered


def _table(problem, runs):
    rows = []
    for key, result in runs.items():
        if "stopped" in result:
            rows.append([_label(result), "stopped by budget", "", "", "", "", "", "", ""])
            continue
        k = _first_below(result["grad_norm"], TARGET)
        order = result.get("order")
        setup = result.get("setup_seconds")
        per_iteration = "-"
        if setup is not None and result["nit"]:
            per_iteration = f"{(result['seconds'][-1] - setup) / result['nit']:.3g}"
        rows.append([_label(result), result.get("status", "steps done"), result["nit"],
                     f"{result['grad_norm'][-1]:.1e}",
                     "-" if k is None else k,
                     "-" if setup is None else f"{setup:.3g}", per_iteration,
                     "-" if k is None else f"{result['seconds'][k]:.3g}",
                     "-" if order is None else f"{order:.2f}"])
    return Table(f"{problem}: iterations and seconds to ‖∇f‖ ≤ {TARGET:g} (setup included: "
                 "the symbolic trace and compile of each run)",
                 ["method", "status", "iterations", "final ‖∇f‖", f"iterations to {TARGET:g}",
                  "setup s", "s per iteration", f"seconds to {TARGET:g}", "observed order"],
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
    costly = {h: r["f_evaluations"] for h, r in newtons.items() if r["f_evaluations"]}
    if costly:
        sentences.append("The finite-difference Hessians cost " + ", ".join(
            f"{count:,} evaluations of f ({h})" for h, count in costly.items())
            + "; AD and symbolic Hessians cost none.")
    if firsts and reached.get("ad") is not None:
        newton_seconds = newtons["ad"]["seconds"][reached["ad"]]
        for r in firsts:
            k = _first_below(r["grad_norm"], TARGET)
            best = min(r["grad_norm"])
            if k is None:
                sentences.append(
                    f"{_label(r)} had not reached {TARGET:g} after {r['nit']} steps "
                    f"({r['seconds'][-1]:.2g} s; best ‖∇f‖ {best:.1e}), where Newton with AD "
                    f"needed {newton_seconds:.2g} s.")
            else:
                sentences.append(
                    f"{_label(r)} reached {TARGET:g} after {k} steps ({r['seconds'][k]:.2g} s), "
                    f"{r['seconds'][k] / max(newton_seconds, 1e-9):.1f}× Newton with AD's time.")
    return sentences
