"""Newton's variants on the 28 Moré–Garbow–Hillstrom problems: who solves, who claims to.

    python benchmarks/mgh.py [maxiter]        (default 1000; about 35 s)

One row per problem and method (status, f, ‖g‖, iterations, and whether f is at a published
minimum — "ok" — or at another strict local minimizer — "local"; "FALSE" marks a converged
status at neither), then per method: solved, claimed (a converged status) and false
successes. The problems, their minima and the verdicts live in tests/mgh.py.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import mgh  # noqa: E402  (the problems live with the tests that use them)


def line(o):
    verdict = "FALSE" if o.false_success else "ok" if o.solved else "local" if o.local else ""
    print(f"{o.problem[:30]:30s} {o.method:22s} {o.status:20s} f = {o.fun:<12.6g} "
          f"‖g‖ = {o.grad_norm:<8.2g} {o.nit:5d} it  {verdict}", flush=True)


def main(maxiter=1000):
    _, counts = mgh.sweep(maxiter=maxiter, log=line)
    print(f"\n{'method':22s} solved claimed false (of {len(mgh.PROBLEMS)})")
    for method, (solved, claimed, false) in counts.items():
        print(f"{method:22s} {solved:6d} {claimed:7d} {false:5d}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
