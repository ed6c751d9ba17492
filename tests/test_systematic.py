"""A systematic gradient check of ``difflab.numpy``, in the manner of HIPS autograd's
tests/test_systematic.py: every function × a few shapes (broadcasting pairs, 0-d to 3-d) ×
its axis arguments, the AD gradient of Σ f(x)·w (w fixed random weights) checked against
central differences through the differentiator interface, within fd-central's own table
tolerance. Points are drawn away from kinks and poles, so every case has a derivative.

The test prints the table of failures with their reasons and the pass rate; it fails on any
failure not listed in KNOWN (with its reason) and below 95% (issue 15's acceptance). A NumPy
function that dnp does not have yet counts as a failure ("missing").
"""

import numpy as np
import pytest

import difflab
import difflab.numpy as dnp
from difflab import reference
from difflab.numpy import composites

AD = difflab.differentiator("ad")
FD = difflab.differentiator("fd-central")

# Failures that are understood, with the reason.
KNOWN = {}

ANY, POSITIVE, UNIT, ABOVE_ONE = (-2.0, 2.0), (0.3, 2.0), (-0.9, 0.9), (1.2, 3.0)
# between sinc′'s zeros at 0 and ±1.43, where central differences lose their relative digits
SINC_SLOPE = (0.2, 1.3)
UNARY_SHAPES = [(), (3,), (2, 3)]
PAIR_SHAPES = [((2, 3), (2, 3)), ((2, 3), (3,)), ((2, 1), (1, 3)), ((), (2, 3))]
REDUCE_SHAPES = [(4,), (2, 3), (2, 3, 2)]

UNARY = {
    "exp": ANY, "log": POSITIVE, "log1p": POSITIVE, "sqrt": POSITIVE, "square": ANY,
    "sin": ANY, "cos": ANY, "tan": UNIT, "tanh": ANY, "sinh": ANY, "cosh": ANY,
    "arcsin": UNIT, "arccos": UNIT, "arctan": ANY, "arcsinh": ANY, "arccosh": ABOVE_ONE,
    "arctanh": UNIT, "exp2": ANY, "expm1": ANY, "log2": POSITIVE, "log10": POSITIVE,
    "reciprocal": POSITIVE, "abs": ANY, "absolute": ANY, "fabs": ANY, "negative": ANY,
    "sigmoid": ANY, "softplus": ANY, "relu": ANY, "leaky_relu": ANY, "silu": ANY,
    "softsign": ANY, "gelu": ANY, "elu": ANY, "selu": ANY, "erf": ANY, "sinc": SINC_SLOPE,
    "deg2rad": ANY, "rad2deg": ANY, "radians": ANY, "degrees": ANY,
}
BINARY = {
    "add": (ANY, ANY), "subtract": (ANY, ANY), "multiply": (ANY, ANY),
    "divide": (ANY, POSITIVE), "true_divide": (ANY, POSITIVE), "power": (POSITIVE, ANY),
    "maximum": (ANY, ANY), "minimum": (ANY, ANY), "fmax": (ANY, ANY), "fmin": (ANY, ANY),
    "hypot": (ANY, POSITIVE), "arctan2": (ANY, POSITIVE), "logaddexp": (ANY, ANY),
    "logaddexp2": (ANY, ANY),
}
REDUCTIONS = ["sum", "mean", "max", "min", "amax", "amin", "prod", "var", "std", "logsumexp"]


def case(label, name, fn, shapes, domains):
    return label, name, fn, shapes, domains


def call(name, *args, **kwargs):
    """dnp.<name> looked up at call time, so a function dnp lacks fails its cases only."""
    return lambda *xs: getattr(dnp, name)(*xs, *args, **kwargs)


def generated_cases():
    cases = []
    for name, domain in UNARY.items():
        for shape in UNARY_SHAPES:
            cases.append(case(f"{name} {shape}", name, call(name), [shape], [domain]))
    for name, domains in BINARY.items():
        for shapes in PAIR_SHAPES:
            cases.append(case(f"{name} {shapes}", name, call(name), list(shapes), list(domains)))
    for name in REDUCTIONS:
        for shape in REDUCE_SHAPES:
            axes = [None, 0, -1] + ([(0, 2)] if len(shape) == 3 else [])
            for axis in axes:
                for keepdims in (False, True):
                    cases.append(case(f"{name} {shape} axis={axis} keepdims={keepdims}", name,
                                      call(name, axis=axis, keepdims=keepdims), [shape],
                                      [POSITIVE if name == "prod" else ANY]))
    for shape in REDUCE_SHAPES:
        for axis in (None, 0, -1):
            cases.append(case(f"var ddof=1 {shape} axis={axis}", "var",
                              call("var", axis=axis, ddof=1), [shape], [ANY]))
            cases.append(case(f"average {shape} axis={axis}", "average",
                              lambda x, w, axis=axis: dnp.average(x, axis, w),
                              [shape, shape], [ANY, POSITIVE]))
        for axis in range(len(shape)):
            for name in ("cumsum", "cumprod", "sort", "softmax", "log_softmax"):
                cases.append(case(f"{name} {shape} axis={axis}", name, call(name, axis=axis),
                                  [shape], [POSITIVE if name == "cumprod" else ANY]))
            cases.append(case(f"partition {shape} axis={axis}", "partition",
                              call("partition", 1, axis=axis), [shape], [ANY]))
            for ord_ in (None, 1, np.inf, 3):
                cases.append(case(f"norm {shape} ord={ord_} axis={axis}", "norm",
                                  call("norm", ord_, axis), [shape], [POSITIVE]))
    for ord_ in (None, "fro", 1, -1, np.inf, -np.inf):
        cases.append(case(f"norm (3, 3) ord={ord_}", "norm", call("norm", ord_), [(3, 3)],
                          [POSITIVE]))
    cases += shape_cases() + product_cases() + linalg_cases()
    return cases


def shape_cases():
    s3 = [(2, 3, 2)]
    rows = [
        ("transpose", (), s3), ("transpose", ((2, 0, 1),), s3), ("reshape", ((3, 4),), s3),
        ("swapaxes", (0, 2), s3), ("moveaxis", (0, -1), s3), ("rollaxis", (2,), s3),
        ("squeeze", (), [(1, 3, 1)]), ("expand_dims", (1,), [(2, 3)]),
        ("broadcast_to", ((2, 2, 3),), [(2, 3)]), ("atleast_1d", (), [()]),
        ("atleast_2d", (), [(3,)]), ("atleast_3d", (), [(2, 3)]), ("tile", ((2, 1, 2),), [(2, 3)]),
        ("repeat", (2,), [(2, 3)]), ("repeat", ([1, 0, 2], 1), [(2, 3)]),
        ("pad", (((1, 0), (0, 2)),), [(2, 3)]), ("flip", (), s3), ("flip", (1,), s3),
        ("roll", (2,), s3), ("roll", ((1, -1), (0, 2)), s3), ("diag", (), [(3,)]),
        ("diag", (1,), [(3, 3)]), ("diagonal", (), [(3, 3)]), ("diagonal", (1, 0, 2), s3),
        ("trace", (), [(3, 3)]), ("tril", (), [(3, 3)]), ("triu", (-1,), s3),
        ("take", ([0, 2, 2],), [(2, 3)]), ("take", ([[1], [0]], 1), [(2, 3)]),
        ("take_along_axis", (np.array([[0, 2], [1, 1]]), 1), [(2, 3)]),
        ("getitem", ((slice(None), [2, 0]),), [(2, 3)]), ("clip", (-1.0, 1.0), [(2, 3)]),
    ]
    cases = [case(f"{name} {args} {shapes}", name, call(name, *args), shapes,
                  [ANY] * len(shapes)) for name, args, shapes in rows]
    for name in ("split", "array_split"):
        cases.append(case(f"{name} (2, 4) axis=1", name, call(name, 2, 1), [(2, 4)], [ANY]))
    for name, shape in (("hsplit", (2, 4)), ("vsplit", (4, 2)), ("dsplit", (1, 2, 4))):
        cases.append(case(f"{name} {shape}", name, call(name, 2), [shape], [ANY]))
    for name in ("concatenate", "stack", "vstack", "hstack", "dstack", "column_stack",
                 "row_stack"):
        for shape in ((3,), (2, 3)):
            cases.append(case(f"{name} {shape}", name,
                              lambda a, b, name=name: getattr(dnp, name)([a, b]),
                              [shape, shape], [ANY, ANY]))
    cases.append(case("where", "where",
                      lambda a, b: dnp.where(np.array([True, False, True]), a, b),
                      [(2, 3), (3,)], [ANY, ANY]))
    return cases


def product_cases():
    rows = [
        ("matmul", [(2, 3), (3, 2)]), ("matmul", [(3,), (2, 3, 2)]), ("dot", [(2, 3), (3,)]),
        ("dot", [(2, 3), (3, 2)]), ("dot", [(2, 2, 3), (2, 3, 2)]), ("outer", [(3,), (2,)]),
        ("inner", [(2, 3), (3,)]), ("kron", [(2, 2), (2, 3)]), ("cross", [(2, 3), (3,)]),
        ("tensordot", [(2, 3, 2), (3, 2, 2)]),
    ]
    cases = [case(f"{name} {shapes}", name, call(name), shapes, [ANY] * len(shapes))
             for name, shapes in rows]
    einsums = [
        ("ij,jk->ik", [(2, 3), (3, 2)]), ("ij,jk", [(2, 3), (3, 2)]), ("ii", [(3, 3)]),
        ("ii->i", [(3, 3)]), ("ij->", [(2, 3)]), ("ij->ji", [(2, 3)]), ("i,i", [(3,), (3,)]),
        ("i,j->ij", [(3,), (2,)]), ("bij,bjk->bik", [(2, 2, 3), (2, 3, 2)]),
        ("ijk,jl,lk->il", [(2, 3, 2), (3, 2), (2, 2)]), ("...ij,...jk->...ik", [(2, 2, 3), (3, 2)]),
        ("iij,j->i", [(2, 2, 3), (3,)]), ("bhqd,bhkd->bhqk", [(1, 2, 2, 3), (1, 2, 3, 3)]),
    ]
    cases += [case(f"einsum {spec}", "einsum",
                   lambda *xs, spec=spec: dnp.einsum(spec, *xs), shapes, [ANY] * len(shapes))
              for spec, shapes in einsums]
    cases.append(case("dot [(3,), (2, 3, 2)]", "dot", call("dot"), [(3,), (2, 3, 2)],
                      [ANY, ANY]))
    cases.append(case("tensordot axes=1", "tensordot",
                      lambda a, b: dnp.tensordot(a, b, 1), [(2, 3), (3, 2)], [ANY, ANY]))
    cases.append(case("tensordot axes=([0, 2], [2, 0])", "tensordot",
                      lambda a, b: dnp.tensordot(a, b, ([0, 2], [2, 0])), [(2, 3, 2), (2, 4, 2)],
                      [ANY, ANY]))
    return cases


def linalg_cases():
    """dnp.linalg on x + 3I with x's entries in (−0.9, 0.9): diagonally dominant, so
    invertible and (for the triangle cholesky and eigh read) positive definite."""
    def shifted(fn):
        return lambda x, *rest: fn(x + 3 * np.eye(dnp.shape_of(x)[-1]), *rest)
    rows = [
        ("inv", shifted(lambda a: dnp.linalg.inv(a)), [(3, 3)]),
        ("inv stacked", shifted(lambda a: dnp.linalg.inv(a)), [(2, 3, 3)]),
        ("det", shifted(lambda a: dnp.linalg.det(a)), [(3, 3)]),
        ("det stacked", shifted(lambda a: dnp.linalg.det(a)), [(2, 2, 2)]),
        ("slogdet", shifted(lambda a: dnp.linalg.slogdet(a)[1]), [(3, 3)]),
        ("solve vector", shifted(lambda a, b: dnp.linalg.solve(a, b)), [(3, 3), (3,)]),
        ("solve matrix", shifted(lambda a, b: dnp.linalg.solve(a, b)), [(3, 3), (3, 2)]),
        ("solve broadcast", shifted(lambda a, b: dnp.linalg.solve(a, b)), [(2, 3, 3), (3, 1)]),
        ("cholesky", shifted(lambda a: dnp.linalg.cholesky(a)), [(3, 3)]),
        ("cholesky stacked", shifted(lambda a: dnp.linalg.cholesky(a)), [(2, 2, 2)]),
        ("eigh", shifted(lambda a: dnp.linalg.eigh(a)), [(3, 3)]),
        ("eigh UPLO=U", shifted(lambda a: dnp.linalg.eigh(a, UPLO="U")), [(3, 3)]),
        ("norm (3, 3) ord=fro", lambda a: dnp.linalg.norm(a, "fro"), [(3, 3)]),
        ("svd", shifted(lambda a: dnp.linalg.svd(a, full_matrices=False)), [(3, 3)]),
        ("svd tall", lambda a: dnp.linalg.svd(a + np.eye(3, 2), full_matrices=False),
         [(3, 2)]),
        ("svd values stacked", shifted(lambda a: dnp.linalg.svd(a, compute_uv=False)),
         [(2, 2, 2)]),
        ("qr", shifted(lambda a: dnp.linalg.qr(a)), [(3, 3)]),
        ("qr tall", lambda a: dnp.linalg.qr(a + np.eye(3, 2)), [(3, 2)]),
        ("qr wide", lambda a: dnp.linalg.qr(a + np.eye(2, 3)), [(2, 3)]),
        ("norm (3, 3) ord=2", shifted(lambda a: dnp.linalg.norm(a, 2)), [(3, 3)]),
        ("norm (3, 3) ord=-2", shifted(lambda a: dnp.linalg.norm(a, -2)), [(3, 3)]),
        ("norm (3, 3) ord=nuc", shifted(lambda a: dnp.linalg.norm(a, "nuc")), [(3, 3)]),
    ]
    return [case(f"linalg.{label} {shapes}", "linalg", fn, shapes, [UNIT] * len(shapes))
            for label, fn, shapes in rows]


CASES = generated_cases()


def scalarized(fn, shapes):
    sizes = [int(np.prod(shape, dtype=int)) for shape in shapes]
    starts = np.cumsum([0] + sizes)

    def f(theta):
        out = fn(*[dnp.reshape(theta[start:start + size], shape)
                   for start, size, shape in zip(starts, sizes, shapes)])
        total = 0.0
        for k, piece in enumerate(out if isinstance(out, (list, tuple)) else [out]):
            weights = np.random.default_rng(10 + k).normal(size=dnp.shape_of(piece))
            total = total + dnp.sum(piece * weights)
        return total
    return f


def check(label, name, fn, shapes, domains, seed):
    """None if AD's gradient agrees with central differences, else the reason."""
    if not hasattr(dnp, name):
        return f"missing: dnp has no {name}"
    rng = np.random.default_rng(seed)
    theta = np.concatenate([rng.uniform(lo, hi, size=shape).reshape(-1)
                            for shape, (lo, hi) in zip(shapes, domains)])
    f = scalarized(fn, shapes)
    try:
        automatic = AD.gradient(f, theta)
        numeric = FD.gradient(f, theta)
    except Exception as error:  # noqa: BLE001 — every failure is reported with its reason
        return f"{type(error).__name__}: {str(error).splitlines()[0][:150]}"
    error = reference.relative_error(automatic, numeric)
    if not error <= FD.tolerance("gradient"):
        return f"AD and central differences differ: relative error {error:.1e}"
    return None


def test_systematic_gradients_pass_with_every_failure_explained(capsys):
    failures = {}
    for seed, (label, name, fn, shapes, domains) in enumerate(CASES):
        reason = check(label, name, fn, shapes, domains, seed)
        if reason is not None:
            failures[label] = reason
    passed = len(CASES) - len(failures)
    with capsys.disabled():
        print(f"\nsystematic gradients: {passed} of {len(CASES)} cases pass "
              f"({100 * passed / len(CASES):.1f}%)")
        for label, reason in failures.items():
            print(f"  FAIL {label}: {reason}")
    unexplained = {label: reason for label, reason in failures.items() if label not in KNOWN}
    assert not unexplained, "\n".join(f"{k}: {v}" for k, v in unexplained.items())
    assert passed >= 0.95 * len(CASES)
