"""AD speed against hand-written NumPy backprop, as ratios measured in one run.

    python benchmarks/ad_speed.py            # tiny, small, medium MLPs (about a minute)
    python benchmarks/ad_speed.py --quick    # fewer repetitions

Methods are timed in process CPU time (time.process_time: on a shared machine wall time
also counts the moments another tenant runs), in interleaved rounds (each round runs every
method once for a short burst), and each ratio is the median over rounds of that round's
ratio, so a slow spell hits both sides of a ratio alike. BLAS runs on one thread.
"""

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mlp_backprop as hand  # noqa: E402

from difflab import ad, models, ravel  # noqa: E402
from difflab.report.timing import burst_seconds  # noqa: E402

NETWORKS = [
    # name,   widths,              batch, gradient budget (× hand), Hessian budget (× hand)
    ("tiny",   (4, 8, 8, 1),        16,   4.0,  100),
    ("small",  (16, 32, 32, 1),     64,   None, 1200),
    ("medium", (784, 128, 64, 10),  64,   1.3,  None),
]


def interleaved(methods, rounds, seconds):
    """Per-round timings of every method: {name: [seconds per call, one per round]}."""
    times = {name: [] for name in methods}
    for _ in range(rounds):
        for name, fn in methods.items():
            fn()                          # warm caches after the other methods ran
            times[name].append(burst_seconds(fn, seconds))
    return times


def median_ratio(times, numerator, denominator):
    return statistics.median(a / b for a, b in zip(times[numerator], times[denominator]))


def measure(widths, batch, with_hessian, rounds, seconds):
    problem = models.get("mlp", widths=widths, batch=batch, activation="tanh", loss="mse")
    theta, X, Y = problem.theta0, problem.X, problem.Y
    gradient = ad.grad(problem.objective)
    _, hand_gradient = hand.value_and_gradient(problem.unravel(theta), X, Y)
    agreement = np.max(np.abs(gradient(theta) - ravel(hand_gradient)[0]))
    methods = {
        "hand": lambda: hand.value_and_gradient(problem.unravel(theta), X, Y),
        "forward": lambda: problem.objective(theta),
        "ad": lambda: gradient(theta),
    }
    if with_hessian:
        hessian = ad.hessian(problem.objective)
        methods["hessian"] = lambda: hessian(theta)
    times = interleaved(methods, rounds, seconds)
    return problem.n_params, agreement, times


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds")
    parser.add_argument("--only", nargs="+", choices=[n[0] for n in NETWORKS],
                        help="measure only these networks")
    args = parser.parse_args(argv)
    rounds, seconds = (5, 0.1) if args.quick else (15, 0.25)
    print("BLAS threads pinned to 1; ratios are medians over "
          f"{rounds} interleaved rounds.\n")
    header = (f"{'network':8} {'n':>7} {'hand µs':>9} {'AD µs':>9} {'AD/hand':>8} "
              f"{'budget':>7} {'grad/fwd':>9} {'budget':>7} {'Hess/hand':>10} {'budget':>7} "
              f"{'|AD−hand|':>10}")
    print(header)
    print("-" * len(header))
    for name, widths, batch, grad_budget, hess_budget in NETWORKS:
        if args.only and name not in args.only:
            continue
        n, agreement, times = measure(widths, batch, hess_budget is not None, rounds, seconds)
        hand_us = statistics.median(times["hand"]) * 1e6
        ad_us = statistics.median(times["ad"]) * 1e6
        ratio = median_ratio(times, "ad", "hand")
        cheap = median_ratio(times, "ad", "forward")
        hess = f"{median_ratio(times, 'hessian', 'hand'):10.0f}" if "hessian" in times \
            else f"{'—':>10}"
        print(f"{name:8} {n:7d} {hand_us:9.0f} {ad_us:9.0f} {ratio:8.2f} "
              f"{grad_budget or '—':>7} {cheap:9.2f} {3 if name == 'medium' else '—':>7} "
              f"{hess} {hess_budget or '—':>7} {agreement:10.1e}")


if __name__ == "__main__":
    main()
