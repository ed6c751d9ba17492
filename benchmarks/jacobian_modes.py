"""Forward- against reverse-mode Jacobians (``ad.jacfwd`` ÷ ``ad.jacrev``), as ratios measured
in one run.

    python benchmarks/jacobian_modes.py            # about half a minute
    python benchmarks/jacobian_modes.py --quick    # fewer, shorter rounds

The function is a tanh network x ↦ tanh(tanh(x W₁) W₂) W₃ (hidden width 32) from n inputs to m
outputs. ``jacfwd`` pushes n unit tangents through it in one batched pass, ``jacrev`` pulls m
unit cotangents back in one batched pass, so theory says forward mode wins when n < m (tall
Jacobians) and reverse mode when m < n (wide ones). Times are process CPU time, in interleaved
rounds, each ratio the median over rounds of that round's ratio (as ``ad_speed.py``); BLAS
runs on one thread.
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
from ad_speed import interleaved, median_ratio  # noqa: E402

import difflab.numpy as dnp  # noqa: E402
from difflab import ad  # noqa: E402

HIDDEN = 32
CASES = [
    # name,    inputs n, outputs m
    ("wide",   400,      5),
    ("square", 40,       40),
    ("tall",   5,        400),
]


def tanh_network(n, m, seed=0):
    """x ↦ tanh(tanh(x W₁) W₂) W₃ with seeded weights scaled by 1/√fan-in, and a point x."""
    rng = np.random.default_rng(seed)
    W1, W2, W3 = (rng.normal(size=shape) / np.sqrt(shape[0])
                  for shape in ((n, HIDDEN), (HIDDEN, HIDDEN), (HIDDEN, m)))

    def F(x):
        return dnp.tanh(dnp.tanh(x @ W1) @ W2) @ W3
    return F, rng.normal(size=n)


def measure(n, m, rounds, seconds):
    """(per-round times {"jacfwd", "jacrev"}, relative difference of the two Jacobians)."""
    F, x = tanh_network(n, m)
    forward, reverse = ad.jacfwd(F), ad.jacrev(F)
    J_fwd, J_rev = forward(x), reverse(x)
    assert J_fwd.shape == J_rev.shape == (m, n)
    difference = np.linalg.norm(J_fwd - J_rev) / np.linalg.norm(J_rev)
    times = interleaved({"jacfwd": lambda: forward(x), "jacrev": lambda: reverse(x)},
                        rounds, seconds)
    return times, difference


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds")
    args = parser.parse_args(argv)
    rounds, seconds = (5, 0.1) if args.quick else (15, 0.25)
    print("BLAS threads pinned to 1; ratios are medians over "
          f"{rounds} interleaved rounds.\n")
    header = (f"{'case':7} {'n → m':>11} {'jacfwd µs':>10} {'jacrev µs':>10} "
              f"{'fwd/rev':>8} {'faster':>8} {'rel. diff':>10}")
    print(header)
    print("-" * len(header))
    for name, n, m in CASES:
        times, difference = measure(n, m, rounds, seconds)
        ratio = median_ratio(times, "jacfwd", "jacrev")
        print(f"{name:7} {f'{n} → {m}':>11} {statistics.median(times['jacfwd']) * 1e6:10.0f} "
              f"{statistics.median(times['jacrev']) * 1e6:10.0f} {ratio:8.2f} "
              f"{'forward' if ratio < 1 else 'reverse':>8} {difference:10.1e}")
    print("\nfwd/rev < 1: forward mode (jacfwd) is faster; > 1: reverse mode (jacrev) is.")


if __name__ == "__main__":
    main()
