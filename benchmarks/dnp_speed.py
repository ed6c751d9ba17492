"""Composites against the primitive they stand on, under AD, as ratios measured in one run.

    python benchmarks/dnp_speed.py            # about half a minute
    python benchmarks/dnp_speed.py --quick

Issue 15's targets: ``dnp.einsum('bij,bjk->bik')`` and ``dnp.tensordot`` must contract through
matmul, so their AD gradient costs within 1.5× of ``dnp.matmul``'s on the same contraction;
a composite such as ``dnp.var`` within 2× of HIPS autograd's ``np.var`` gradient (when
autograd is installed; the row is skipped otherwise). Timing as in ``ad_speed.py``: process
CPU time, interleaved rounds, median of per-round ratios, BLAS on one thread.
"""

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ad_speed import interleaved, median_ratio  # noqa: E402

import difflab.numpy as dnp  # noqa: E402
from difflab import ad  # noqa: E402

SHAPES = [("small", 8, 16), ("medium", 32, 64), ("large", 16, 256)]   # batch, square size


def contraction_rows(rounds, seconds):
    rows = []
    rng = np.random.default_rng(0)
    for name, batch, size in SHAPES:
        A = rng.normal(size=(batch, size, size))
        B = rng.normal(size=(batch, size, size))
        W = rng.normal(size=(size, size))
        cases = {
            "matmul": (lambda a: dnp.sum(dnp.matmul(a, B) ** 2)),
            "einsum": (lambda a: dnp.sum(dnp.einsum("bij,bjk->bik", a, B) ** 2)),
            "matmul W": (lambda a: dnp.sum(dnp.matmul(a, W) ** 2)),
            "tensordot": (lambda a: dnp.sum(dnp.tensordot(a, W, axes=([2], [0])) ** 2)),
        }
        grads = {key: ad.grad(f) for key, f in cases.items()}
        reference = grads["matmul"](A)
        agreement = max(np.max(np.abs(grads["einsum"](A) - reference)),
                        np.max(np.abs(grads["tensordot"](A) - grads["matmul W"](A))))
        times = interleaved({key: (lambda g=g: g(A)) for key, g in grads.items()},
                            rounds, seconds)
        rows.append((name, f"{batch}×{size}×{size}", median_ratio(times, "einsum", "matmul"),
                     median_ratio(times, "tensordot", "matmul W"), agreement))
    return rows


def var_row(rounds, seconds):
    try:
        import autograd
        import autograd.numpy as anp
    except ImportError:
        return None
    x = np.random.default_rng(1).normal(size=(64, 128))
    ours, theirs = ad.grad(lambda t: dnp.sum(dnp.var(t, axis=0))), \
        autograd.grad(lambda t: anp.sum(anp.var(t, axis=0)))
    agreement = np.max(np.abs(ours(x) - theirs(x)))
    times = interleaved({"difflab": lambda: ours(x), "autograd": lambda: theirs(x)},
                        rounds, seconds)
    return median_ratio(times, "difflab", "autograd"), agreement


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    rounds, seconds = (3, 0.05) if args.quick else (7, 0.2)
    print("BLAS threads pinned to 1; ratios are medians over interleaved rounds.\n")
    print(f"{'shape':8s} {'A, B':>12s}  {'einsum/matmul':>13s}  {'tensordot/matmul':>16s}  "
          f"{'|Δ grad|':>9s}   (target ≤ 1.5)")
    for name, shape, einsum, tensordot, agreement in contraction_rows(rounds, seconds):
        print(f"{name:8s} {shape:>12s}  {einsum:13.2f}  {tensordot:16.2f}  {agreement:9.1e}")
    row = var_row(rounds, seconds)
    if row is None:
        print("\nvar gradient against autograd: skipped (autograd not installed; "
              "pip install -e '.[peers]')")
    else:
        print(f"\nvar gradient (64×128, axis 0), difflab ÷ autograd: {row[0]:.2f} "
              f"(target ≤ 2), |Δ grad| {row[1]:.1e}")


if __name__ == "__main__":
    main()
