"""Accuracy, cost and estimate honesty of every finite-difference scheme on smooth zoo MLPs.

    python benchmarks/numeric_accuracy.py

For each model and scheme: relative error of the gradient against difflab.reference, real and
complex evaluations (bare scheme, then with the error estimate), and how the error estimate
compares with the true error per entry: the share of entries with estimate ≥ true error, with
estimate ≤ 30× true error, and with both, and the median ratio. Then the same for the Hessian
routes and the Hessian-vector product on the mlp.
"""

import numpy as np

from difflab import ad, models, reference
from difflab.numeric import gradient, hessian, hvp

SCHEMES = [("forward", 1), ("backward", 1), ("forward", 2), ("central", 2), ("central", 4),
           ("central", 6), ("richardson", 2), ("complex-step", 2)]
PROBLEMS = [("mlp", {}), ("mlp", {"seed": 1}), ("residual-mlp", {}), ("mlp-classifier", {})]


def row(problem, ref, scheme, order):
    bare = gradient(problem.objective, problem.theta0, scheme, order, estimate=False,
                    check=False)
    full = gradient(problem.objective, problem.theta0, scheme, order)
    true = np.abs((np.asarray(full.value, dtype=object) - ref).astype(float))
    ratio = full.error / np.maximum(true, 1e-300)
    above, within = ratio >= 1, ratio <= 30
    return (reference.relative_error(bare.value, ref), bare.evaluations, bare.complex_evaluations,
            full.evaluations, np.mean(above), np.mean(within), np.mean(above & within),
            np.median(ratio))


def main():
    header = (f"{'model':<22} {'scheme':<14} {'rel. error':>10} {'evals':>6} {'complex':>7} "
              f"{'w/ est.':>7} {'est≥err':>7} {'≤30×':>6} {'both':>6} {'median':>7}")
    pooled = {}
    for name, kw in PROBLEMS:
        problem = models.get(name, **kw)
        ref = reference.gradient(problem.objective, problem.theta0)
        label = name + "".join(f" {k}={v}" for k, v in kw.items()) + f" (n={problem.n_params})"
        print(header)
        for scheme, order in SCHEMES:
            r = row(problem, ref, scheme, order)
            pooled.setdefault((scheme, order), []).append((r[6], problem.n_params))
            print(f"{label:<22} {scheme + ' ' + str(order):<14} {r[0]:10.2e} {r[1]:6d} {r[2]:7d} "
                  f"{r[3]:7d} {r[4]:7.2f} {r[5]:6.2f} {r[6]:6.2f} {r[7]:7.1f}")
        print()
    print("estimate within [1, 30]× the true error, pooled over all entries:")
    for (scheme, order), parts in pooled.items():
        share = sum(s * n for s, n in parts) / sum(n for _, n in parts)
        print(f"  {scheme + ' ' + str(order):<14} {share:.3f}")


def second_derivatives():
    problem = models.get("mlp")
    f, theta = problem.objective, problem.theta0
    H = reference.hessian(f, theta)
    routes = [("values, order 2", lambda: hessian(f, theta, "values", order=2)),
              ("values (default)", lambda: hessian(f, theta, "values")),
              ("gradient (AD)", lambda: hessian(f, theta, "gradient", gradient_fn=ad.grad(f))),
              ("complex-step", lambda: hessian(f, theta, "complex-step"))]
    print(f"\nmlp Hessian (n={problem.n_params}):")
    print(f"{'route':<18} {'rel. error':>10} {'evals':>6} {'complex':>7} {'grads':>6} "
          f"{'asymmetry':>9} {'est≥err':>7} {'≤30×':>6}")
    for label, run in routes:
        result = run()
        true = np.abs((np.asarray(result.value, dtype=object) - H).astype(float))
        ratio = result.error / np.maximum(true, 1e-300)
        print(f"{label:<18} {reference.relative_error(result.value, H):10.2e} "
              f"{result.evaluations:6d} {result.complex_evaluations:7d} "
              f"{result.gradient_evaluations:6d} {result.asymmetry:9.1e} "
              f"{np.mean(ratio >= 1):7.2f} {np.mean(ratio <= 30):6.2f}")
    v = np.random.default_rng(0).normal(size=problem.n_params)
    result = hvp(f, theta, v)
    print(f"hvp (complex-step gradients): relative error "
          f"{reference.relative_error(result.value, reference.hvp(f, theta, v)):.2e}, "
          f"{result.gradient_evaluations} gradients")


if __name__ == "__main__":
    main()
    second_derivatives()
