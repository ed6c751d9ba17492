"""The backward pass's accumulator (``difflab.ad.tracing.Cotangents``) with its shortcuts on
and off: the same numbers bit for bit, no read of memory nothing wrote, and the whole AD
suite passing with the shortcuts off.

Truth: the rule table itself (fast accumulation off), which the rule tests check against
references; here every shortcut must reproduce it exactly (``np.array_equal``).
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import difflab.numpy as dnp
from difflab import DiffLabError, ad, models, ravel
from difflab.ad import rules, tracing

RNG = np.random.default_rng(16)
X = RNG.normal(size=(6, 3))
C = np.arange(16.0) / 7


def _mlp():
    return models.get("mlp", widths=(3, 5, 4, 1), batch=7, activation="tanh", loss="mse")


def _layer(t):
    return dnp.reshape(t[0:12], (3, 4)), t[12:16]


def _pytree_loss(params):
    W, b = params["W"], params["b"]
    return dnp.sum(dnp.tanh(X @ W + b) ** 2) + dnp.sum(b * W[0])


PARAMS = {"W": RNG.normal(size=(3, 4)), "b": RNG.normal(size=4)}
THETA, UNRAVEL = ravel(PARAMS)

# Scalar functions of a flat θ of 16 entries, each taking the shortcuts in another way.
FUNCTIONS = {
    "dense-layer": lambda t: dnp.sum(dnp.tanh(X @ _layer(t)[0] + _layer(t)[1]) ** 2),
    "matmul-of-slices": lambda t: dnp.sum((X @ dnp.reshape(t[0:12], (3, 4)))
                                          @ dnp.reshape(t[12:16], (4, 1))),
    "weights-used-twice": lambda t: dnp.sum(dnp.tanh(X @ _layer(t)[0]))
    + dnp.sum((X @ _layer(t)[0]) ** 2) / 7,
    "slice-overlaps-a-weight": lambda t: dnp.sum(dnp.sin(X @ dnp.reshape(t[0:12], (3, 4))))
    + dnp.sum(t[8:16] ** 3),
    "intermediate-sliced": lambda t: dnp.sum(dnp.sin((2 * t)[1:4]))
    + dnp.sum(((2 * t)[3:9] * C[:6]) ** 2),
    "repeated-slices": lambda t: dnp.sum(t[1:3] ** 2) + dnp.sum(t[1:3] * 5.0)
    + dnp.sum(dnp.exp(t[1:3])),
    "overlapping-slices": lambda t: dnp.sum(t[0:10] ** 2) + dnp.sum(t[4:16] * C[:12])
    + dnp.sum(dnp.cos(t[2:6])),
    "gaps": lambda t: dnp.sum(t[0:2] ** 2) + dnp.sum(dnp.sin(t[9:11])),
    "whole-vector-too": lambda t: dnp.sum(t[3:5] ** 3) + dnp.sum(t * C),
    "other-indices": lambda t: t[3] ** 2 + dnp.sum(t[::-2] ** 3) + dnp.sum(t[None, 2:5] ** 2)
    + dnp.sum(t[[1, 1, 7]] ** 2) + t[-1] * t[0],
    "unravelled-pytree": lambda t: _pytree_loss(UNRAVEL(t)),
}
THETA16 = np.linspace(-0.9, 1.1, 16)


def _both(compute):
    """compute() with fast accumulation on, and off."""
    with ad.fast_accumulation(True):
        fast = compute()
    with ad.fast_accumulation(False):
        plain = compute()
    return fast, plain


def _assert_identical(fast, plain):
    fast_leaves, plain_leaves = ad_leaves(fast), ad_leaves(plain)
    assert len(fast_leaves) == len(plain_leaves)
    for a, b in zip(fast_leaves, plain_leaves):
        assert a.dtype == b.dtype and a.shape == b.shape
        assert np.array_equal(a, b), np.max(np.abs(a - b))


def ad_leaves(x):
    if isinstance(x, dict):
        return [np.asarray(x[k]) for k in sorted(x)]
    if isinstance(x, (tuple, list)):
        return [leaf for item in x for leaf in ad_leaves(item)]
    return [np.asarray(x)]


QUANTITIES = {
    "gradient": lambda f, t: ad.grad(f)(t),
    "hessian": lambda f, t: ad.hessian(f)(t),
    "hvp": lambda f, t: ad.hvp(f, t, np.cos(np.arange(t.size))),
    "jacobian": lambda f, t: ad.jacobian(lambda s: dnp.stack([f(s), f(s * s)]))(t),
}


@pytest.mark.parametrize("quantity", QUANTITIES)
@pytest.mark.parametrize("name", FUNCTIONS)
def test_fast_accumulation_gives_the_rule_tables_numbers_bit_for_bit(name, quantity):
    _assert_identical(*_both(lambda: QUANTITIES[quantity](FUNCTIONS[name], THETA16)))


@pytest.mark.parametrize("quantity", QUANTITIES)
def test_an_mlp_over_unravel_is_the_same_both_ways(quantity):
    problem = _mlp()
    _assert_identical(*_both(lambda: QUANTITIES[quantity](problem.objective, problem.theta0)))


def test_a_pytree_gradient_and_hessian_are_the_same_both_ways():
    _assert_identical(*_both(lambda: ad.grad(_pytree_loss)(PARAMS)))
    _assert_identical(*_both(lambda: ad.hessian(_pytree_loss)(PARAMS)))


def test_float32_parameters_are_the_same_both_ways():
    theta = THETA16.astype(np.float32)
    for name in ("dense-layer", "repeated-slices", "intermediate-sliced"):  # X is float64
        _assert_identical(*_both(lambda: ad.grad(FUNCTIONS[name])(theta)))


def test_vjp_of_a_vector_function_is_the_same_both_ways():
    def F(t):
        return dnp.concatenate([dnp.tanh(X @ _layer(t)[0]).ravel(), t[2:7] ** 2])

    u = np.sin(np.arange(6 * 4 + 5.0))
    _assert_identical(*_both(lambda: ad.vjp(F, THETA16)[1](u)))


def test_the_switch_changes_the_path_taken(monkeypatch):
    """With the shortcuts on, a first-order gradient of an MLP never calls getitem's or
    matmul's rule for the weights; off, it does: the comparisons above compare two paths."""
    calls = []
    for name, position in (("getitem", 0), ("matmul", 1)):
        rule = rules.VJP_RULES[name][position]
        counted = (lambda rule, name: lambda *a, **k: calls.append(name) or rule(*a, **k))(
            rule, name)
        table = list(rules.VJP_RULES[name])
        table[position] = counted
        monkeypatch.setitem(rules.VJP_RULES, name, tuple(table))
    f = FUNCTIONS["dense-layer"]
    with ad.fast_accumulation(True):
        ad.grad(f)(THETA16)
    assert calls == []
    with ad.fast_accumulation(False):
        ad.grad(f)(THETA16)
    assert sorted(set(calls)) == ["getitem", "matmul"]


def test_the_context_manager_restores_the_setting_before_it():
    before = ad.fast_accumulation_enabled()
    with ad.fast_accumulation(False):
        assert not ad.fast_accumulation_enabled()
        with ad.fast_accumulation(True):
            assert ad.fast_accumulation_enabled()
        assert not ad.fast_accumulation_enabled()
    assert ad.fast_accumulation_enabled() == before


def test_an_unknown_environment_setting_is_refused(monkeypatch):
    monkeypatch.setenv("DIFFLAB_AD_FAST", "maybe")
    with pytest.raises(DiffLabError, match="DIFFLAB_AD_FAST"):
        tracing._fast_from_environment()


# No read of memory nothing wrote: every np.empty the engine asks for comes back full of NaN.

def test_results_are_unchanged_when_uninitialized_buffers_hold_nan(monkeypatch):
    problem = _mlp()
    cases = [(problem.objective, problem.theta0)] + [(f, THETA16) for f in FUNCTIONS.values()]

    def compute():
        return [(ad.grad(f)(t), ad.hessian(f)(t), ad.jacobian(lambda s: dnp.stack([f(s)]))(t))
                for f, t in cases]

    clean = compute()
    real_empty, real_empty_like = np.empty, np.empty_like
    poisoned = []

    def _nan(array):
        poisoned.append(array.shape)
        if array.dtype.kind in "fc":
            array.fill(np.nan)
        return array

    monkeypatch.setattr(np, "empty", lambda *a, **k: _nan(real_empty(*a, **k)))
    monkeypatch.setattr(np, "empty_like", lambda *a, **k: _nan(real_empty_like(*a, **k)))
    for setting in (True, False):
        with ad.fast_accumulation(setting):
            dirty = compute()
        for clean_case, dirty_case in zip(clean, dirty):
            for a, b in zip(clean_case, dirty_case):
                assert np.isfinite(b).all()
                assert np.array_equal(a, b)
    assert poisoned, "the poison never reached the engine: the test checks nothing"


# The Hessian's plan of direction blocks: made from one trace, then reused and checked.

def test_the_hessian_traces_f_once_more_only_on_its_first_call():
    calls = []

    def f(t):
        calls.append(1)
        return FUNCTIONS["dense-layer"](t)

    hessian = ad.hessian(f)
    first = hessian(THETA16)
    after_first = len(calls)
    second = hessian(THETA16)
    blocks = len(calls) - after_first
    assert after_first == blocks + 1
    assert np.array_equal(first, second)


def test_a_plan_that_no_longer_fits_f_still_gives_the_hessian_and_is_made_again():
    state = {"cut": 12}

    def f(t):
        k = state["cut"]
        return dnp.sum(dnp.sin(t[:k]) * t[:k]) + dnp.sum(dnp.exp(t[k:]) * dnp.sum(t[k:] ** 2))

    hessian = ad.hessian(f)
    hessian(THETA16)
    state["cut"] = 5
    with ad.fast_accumulation(False):
        expected = ad.hessian(f)(THETA16)
    assert np.array_equal(hessian(THETA16), expected)       # an old plan: right, maybe slower
    assert np.array_equal(hessian(THETA16), expected)       # a new plan


# The whole AD suite with the shortcuts off.

AD_TEST_FILES = ["tests/test_ad_rules.py", "tests/test_ad_api.py", "tests/test_no_silent_ad.py",
                 "tests/test_pytree.py", "tests/test_ad_accumulator.py"]


@pytest.mark.slow
def test_the_ad_suite_passes_with_fast_accumulation_off():
    root = Path(__file__).resolve().parent.parent
    env = dict(os.environ, DIFFLAB_AD_FAST="0")
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             *AD_TEST_FILES], cwd=root, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
