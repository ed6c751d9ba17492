"""Symbolic differentiation: setup and evaluation time per mode, sizes, and ratios to AD.

    python benchmarks/symbolic_speed.py            # tiny gradient, 2-4-1 Hessian, all modes
    python benchmarks/symbolic_speed.py --quick    # fewer timing rounds

Setup is the wall time of each stage on a fresh build (trace, share, differentiate, compile);
evaluation is process CPU time per call, in rounds interleaved with the AD gradient (or
Hessian) of the same model, as in ``ad_speed.py``; the ratio is the median over rounds.
Targets (issue 5): the 4-8-8-1/batch-16 gradient ready in ≤ 10 s in the default mode and
evaluating in ≤ 5× AD's time; the 2-4-1/batch-4 Hessian ready in ≤ 1 s. BLAS on one thread.
"""

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ad_speed import interleaved  # noqa: E402

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
    print(f"{'mode':5} {'trace s':>8} {'share s':>8} {'diff s':>8} {'compile s':>9} "
          f"{'ready s':>8} {'eval µs':>9} {'÷ AD':>6} {'ops':>8} {'tree ops':>10} "
          f"{'temps':>6} {'rel. error':>10}")
    for mode in modes:
        d = symbolic.derivative(f, theta, quantity, mode=mode, budget=symbolic.Budget(
            seconds=600))
        times = interleaved({"symbolic": lambda: d(theta), "ad": lambda: exact(theta)},
                            rounds, seconds)
        ratio = statistics.median(a / b for a, b in zip(times["symbolic"], times["ad"]))
        error = reference.relative_error(d(theta), truth if truth is not None else
                                         exact(theta))
        s, sizes = d.seconds, d.sizes
        print(f"{mode:5} {s.get('trace', 0):8.3f} {s.get('share', 0):8.3f} "
              f"{s.get('differentiate', 0):8.3f} {s.get('compile', 0):9.3f} "
              f"{d.setup_seconds:8.3f} {statistics.median(times['symbolic']) * 1e6:9.1f} "
              f"{ratio:6.2f} {sizes.ops:8d} {sizes.tree_ops:10d} {sizes.temporaries:6d} "
              f"{error:10.1e}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds")
    args = parser.parse_args(argv)
    rounds, seconds = (5, 0.1) if args.quick else (11, 0.2)
    print("BLAS threads pinned to 1; eval ÷ AD is the median over "
          f"{rounds} interleaved rounds; error against difflab.reference (gradient) or AD "
          "(Hessian).")
    for case in CASES:
        run(*case, rounds, seconds)


if __name__ == "__main__":
    main()
