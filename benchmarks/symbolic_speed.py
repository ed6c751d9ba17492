"""Symbolic differentiation: setup and evaluation time per mode, sizes, and ratios to AD.

    python benchmarks/symbolic_speed.py            # tiny gradient, 2-4-1 Hessian, all modes
    python benchmarks/symbolic_speed.py --quick    # fewer timing rounds
    python benchmarks/symbolic_speed.py --setup    # only the setup-time targets (issue 17)

Setup is the wall time of each stage on a fresh build (trace, share, differentiate, compile),
from a cold SymPy cache so that no row profits from the one before; evaluation is process CPU
time per call, in rounds interleaved with the AD gradient (or Hessian) of the same model, as
in ``ad_speed.py``; the ratio is the median over rounds. Targets (issue 5): the
4-8-8-1/batch-16 gradient ready in ≤ 10 s in the default mode and evaluating in ≤ 5× AD's
time; the 2-4-1/batch-4 Hessian ready in ≤ 1 s. BLAS on one thread.

The ``cse`` and ``tree`` modes run once per engine: SymPy, and SymEngine where it is installed
(``pip install "difflab[symengine]"``). After each case: SymEngine's speed-up over SymPy in
the stages it runs (differentiate + share) and in the whole setup.
"""

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import argparse  # noqa: E402
import math  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import sympy  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ad_speed import interleaved  # noqa: E402

import numpy as np  # noqa: E402

from difflab import ad, models, reference, symbolic  # noqa: E402

CASES = [
    # label, widths, batch, quantity, modes
    ("4-8-8-1 / batch 16 gradient", (4, 8, 8, 1), 16, "gradient", ("dag", "cse", "tree")),
    ("4-8-8-1 / batch 64 gradient", (4, 8, 8, 1), 64, "gradient", ("dag",)),
    ("2-4-1 / batch 4 Hessian", (2, 4, 1), 4, "hessian", ("dag", "cse", "tree")),
    ("4-8-8-1 / batch 16 Hessian", (4, 8, 8, 1), 16, "hessian", ("dag",)),
]


def run(label, widths, batch, quantity, modes, rounds, seconds):
    problem = models.get("mlp", widths=widths, batch=batch, activation="tanh", loss="mse")
    f, theta = problem.objective, problem.theta0
    exact = ad.grad(f) if quantity == "gradient" else ad.hessian(f)
    truth = reference.gradient(f, theta) if quantity == "gradient" else None
    print(f"\n{label} (n = {problem.n_params})")
    print(f"{'mode':5} {'engine':9} {'trace s':>8} {'share s':>8} {'diff s':>8} "
          f"{'compile s':>9} {'ready s':>8} {'eval µs':>9} {'÷ AD':>6} {'ops':>8} "
          f"{'tree ops':>10} {'temps':>6} {'rel. error':>10}")
    built = {}
    for mode in modes:
        for engine in engines(mode):
            sympy.core.cache.clear_cache()
            d = symbolic.derivative(f, theta, quantity, mode=mode, engine=engine,
                                    budget=symbolic.Budget(seconds=600))
            built[mode, engine] = d
            times = interleaved({"symbolic": lambda: d(theta), "ad": lambda: exact(theta)},
                                rounds, seconds)
            ratio = statistics.median(a / b for a, b in zip(times["symbolic"], times["ad"]))
            error = reference.relative_error(d(theta), truth if truth is not None else
                                             exact(theta))
            s, sizes = d.seconds, d.sizes
            print(f"{mode:5} {engine:9} {s.get('trace', 0):8.3f} {s.get('share', 0):8.3f} "
                  f"{s.get('differentiate', 0):8.3f} {s.get('compile', 0):9.3f} "
                  f"{d.setup_seconds:8.3f} {statistics.median(times['symbolic']) * 1e6:9.1f} "
                  f"{ratio:6.2f} {sizes.ops:8d} {sizes.tree_ops:10d} {sizes.temporaries:6d} "
                  f"{error:10.1e}")
    for mode in modes:
        if (mode, "symengine") in built:
            fast, slow = built[mode, "symengine"], built[mode, "sympy"]
            print(f"{mode}: symengine is {engine_seconds(slow) / engine_seconds(fast):.1f}× "
                  f"faster in differentiate + share, {slow.setup_seconds / fast.setup_seconds:.1f}"
                  "× in the whole setup")


def engines(mode):
    """The engines a mode is run with: the dag mode takes its partials from SymPy always."""
    if mode == "dag" or "symengine" not in symbolic.available_engines():
        return ("sympy",)
    return ("sympy", "symengine")


def engine_seconds(d):
    """Seconds of the stages the engine runs: SymPy's or SymEngine's diff and cse."""
    return d.seconds.get("differentiate", 0) + d.seconds.get("share", 0)


def setup_row(label, f, theta, quantity, target, truth=None):
    """Build the default (dag) mode from a cold SymPy cache and evaluate once: stage seconds,
    the function's DAG nodes, and the error against ``truth`` when given."""
    sympy.core.cache.clear_cache()
    d = symbolic.derivative(f, theta, quantity, budget=symbolic.Budget(seconds=600))
    value = d(theta)
    error = reference.relative_error(value, truth) if truth is not None else float("nan")
    s = d.seconds
    return {"label": label, "nodes": d.compiled.function_nodes, "setup": d.setup_seconds,
            "target": target, "error": error,
            **{stage: s.get(stage, 0.0) for stage in STAGE_COLUMNS}}


def plain_function(objective):
    """The same loss as a plain function of θ, not declared a ``BatchMean``: the symbolic
    method traces every example of the batch (as it must for batch norm)."""
    return lambda theta: objective(theta)


STAGE_COLUMNS = ("trace", "share", "differentiate", "compile", "first evaluation")


def setup_targets():
    """Issue 17's acceptance: setup in the default mode, per stage, against its target."""
    rows = []
    for declared in (True, False):
        for steps, target in ((5, 2.0), (10, 5.0), (20, None)):
            problem = models.get("gru", steps=steps)
            f = problem.objective if declared else plain_function(problem.objective)
            rows.append(setup_row(f"GRU 2-3, batch 4, T = {steps}" + ("" if declared else
                                  ", plain") + " gradient", f, problem.theta0, "gradient",
                                  target, ad.grad(problem.objective)(problem.theta0)))
    depths = range(2, 11)
    for depth in depths:
        problem = models.get("mlp", widths=(2,) + (8,) * depth + (1,))
        rows.append(setup_row(f"tanh MLP width 8, depth {depth} gradient", problem.objective,
                              problem.theta0, "gradient", 1.0 if depth == 8 else None,
                              ad.grad(problem.objective)(problem.theta0)))
    plain = models.get("mlp", widths=(2, 32, 32, 1), batch=32)
    rows.append(setup_row("2-32-32-1 MLP, batch 32, plain gradient",
                          plain_function(plain.objective), plain.theta0, "gradient", 5.0,
                          reference.gradient(plain.objective, plain.theta0)))
    tiny = models.get("mlp", widths=(4, 8, 8, 1), batch=16)
    rows.append(setup_row("4-8-8-1 / batch 16 gradient", tiny.objective, tiny.theta0,
                          "gradient", 10.0, reference.gradient(tiny.objective, tiny.theta0)))
    small = models.get("mlp", widths=(2, 4, 1), batch=4)
    rows.append(setup_row("2-4-1 / batch 4 Hessian", small.objective, small.theta0, "hessian",
                          1.0, reference.hessian(small.objective, small.theta0)))
    print("\nSetup of the default (dag) mode, from a cold SymPy cache; seconds per stage. "
          "Setup is trace + share + differentiate + compile; the first evaluation is "
          "reported beside it. 'plain': the loss as a plain function, every example traced; "
          "the others are BatchMean objectives (one example traced). f nodes: the traced "
          "function's DAG. Error: relative, against difflab.reference (AD for the GRU and "
          "the depth sweep).")
    print(f"{'case':46} {'f nodes':>8} " + " ".join(f"{c[:9]:>9}" for c in STAGE_COLUMNS)
          + f" {'setup s':>8} {'target':>7} {'met':>4} {'rel. error':>10}")
    for r in rows:
        target = "" if r["target"] is None else f"≤ {r['target']:g}"
        met = "" if r["target"] is None else ("yes" if r["setup"] <= r["target"] else "NO")
        print(f"{r['label']:46} {r['nodes']:8d} "
              + " ".join(f"{r[c]:9.3f}" for c in STAGE_COLUMNS)
              + f" {r['setup']:8.3f} {target:>7} {met:>4} {r['error']:10.1e}")
    sweep = [r for r in rows if r["label"].startswith("tanh MLP")]
    slope = np.polyfit(np.log([r["nodes"] for r in sweep]), np.log([r["setup"] for r in sweep]),
                       1)[0]
    print(f"\nWidth-8 depth sweep 2…10: setup against the function's DAG nodes fits a "
          f"log-log slope of {slope:.2f} (target ≤ 1.2: linear up to noise)"
          + ("" if slope <= 1.2 else " — NOT met"))
    worst = max(r["error"] for r in rows if not math.isnan(r["error"]))
    print(f"Worst relative error of any row: {worst:.1e} (target for the plain MLP ≤ 1e-13)")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds")
    parser.add_argument("--setup", action="store_true",
                        help="only the setup-time targets (issue 17)")
    args = parser.parse_args(argv)
    if args.setup:
        setup_targets()
        return
    rounds, seconds = (5, 0.1) if args.quick else (11, 0.2)
    print("BLAS threads pinned to 1; eval ÷ AD is the median over "
          f"{rounds} interleaved rounds; error against difflab.reference (gradient) or AD "
          "(Hessian).")
    if "symengine" not in symbolic.available_engines():
        print("symengine not installed — skipped (pip install \"difflab[symengine]\")")
    for case in CASES:
        run(*case, rounds, seconds)
    setup_targets()


if __name__ == "__main__":
    main()
