"""Every rule of the rule suite under ``ad.jit``: the replayed program is eager AD, bit for bit.

The claim of ``difflab.ad.jit``: the replay calls the very NumPy functions eager AD calls, in
the same order, on the same kinds of arrays, so its numbers are eager AD's exactly. Each case
of ``test_ad_rules.CASES`` (drawn by its own strategies) is staged at its point θ and replayed
at a second point θ′ of the same shapes, and at each the jit-compiled derivative must equal
the eager one with ``np.array_equal``, the same dtype and the same shape, on the objective
L(θ) = Σ w ⊙ f(args(θ)) of ``ad_checks``: the gradient, H·v by forward-over-reverse, the
batched jacobian and hessian, and the float32 gradient. The kinks are replayed exactly at the
kink from a program staged off it, where a derivative folded in at staging would show.

θ′ = θ ⊙ (1 + δ), δ seeded, |δ| ≤ 1e-3: the suite draws every value of order 1 (at most ~4)
at least 0.04 from its domain's edges, kinks and ties, and a relative change keeps signs and
order, so θ′ lies in the same domain and f takes the same branches there (no guard fails).
"""

import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import given, note, settings

import ad_checks
import difflab.numpy as dnp
from difflab import ad
from test_ad_rules import CASES

NUDGE = 1e-3


def _nudged(x, seed):
    """x ⊙ (1 + δ), δ uniform in ±1e-3 from ``seed``: another point of x's domain (module doc)."""
    delta = np.random.default_rng([seed, 1]).uniform(-NUDGE, NUDGE, size=np.shape(x))
    moved = (x * (1 + delta)).astype(x.dtype)
    assert np.any(moved != x), "the second point equals the first: the replay is untested"
    return moved


def _direction(like, seed):
    return np.random.default_rng([seed, 2]).normal(size=np.shape(like)).astype(like.dtype)


def assert_same(got, want, what):
    """jit's result is eager's: same dtype, same shape, every entry bit for bit."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype}, eager {want.dtype}"
    assert got.shape == want.shape, f"{what}: shape {got.shape}, eager {want.shape}"
    assert np.array_equal(got, want), (
        f"{what}: differs from eager AD by up to "
        f"{np.max(np.abs(got.astype(float) - want.astype(float)))}\n"
        f"  jit:   {got.ravel()}\n  eager: {want.ravel()}")


def assert_replays(compiled, eager, points, what):
    """``compiled`` (an ``ad.jit`` function) equals ``eager`` at each point: the first call
    stages, the later ones replay the program staged at the first, with no retrace."""
    for number, args in enumerate(points):
        assert_same(compiled(*args), eager(*args),
                    f"{what}, {'staging' if number == 0 else 'replay'} call {number}")
    assert compiled.traces == 1, f"{what}: staged {compiled.traces} times for one signature"


def _rule_test(data, name, dtype=np.float64):
    case = data.draw(CASES[name], label=name)
    note(repr(case))
    return case, ad_checks.rule_test(case.in_dtype(dtype), case.operands, case.seed,
                                     dtype=dtype)


@pytest.mark.parametrize("name", sorted(CASES))
@settings(max_examples=5, deadline=None)
@given(data=st.data())
def test_gradient_under_jit(name, data):
    """jit(grad(L)) at θ (staging), at θ′ and again at θ (replays) is grad(L) there."""
    case, test = _rule_test(data, name)
    theta = test.theta
    points = [(theta,), (_nudged(theta, case.seed),), (theta,)]
    assert_replays(ad.jit(ad.grad(test.L)), ad.grad(test.L), points, "jit(grad(L))")
    assert_replays(ad.grad(test.L, jit=True), ad.grad(test.L), points[:2], "grad(L, jit=True)")


@pytest.mark.parametrize("name", sorted(CASES))
@settings(max_examples=5, deadline=None)
@given(data=st.data())
def test_hvp_under_jit(name, data):
    """H·v by forward-over-reverse, jit-compiled, held or through hvp(jit=True)."""
    case, test = _rule_test(data, name)
    points = [(test.theta, test.v), (_nudged(test.theta, case.seed),
                                     _direction(test.v, case.seed))]

    def eager(t, v):
        return ad.hvp(test.L, t, v)

    assert_replays(ad.jit(eager), eager, points, "jit(hvp(L))")
    for number, (t, v) in enumerate(points):
        assert_same(ad.hvp(test.L, t, v, jit=True), eager(t, v), f"hvp(jit=True), call {number}")


@pytest.mark.parametrize("name", sorted(CASES))
@settings(max_examples=3, deadline=None)
@given(data=st.data())
def test_batched_under_jit(name, data):
    """jit(jacobian(F)) and jit(hessian(L)): all directions in one batched pass."""
    case, test = _rule_test(data, name)
    points = [(test.theta,), (_nudged(test.theta, case.seed),)]
    assert_replays(ad.jit(ad.jacobian(test.F)), ad.jacobian(test.F), points, "jit(jacobian(F))")
    assert_replays(ad.jit(ad.hessian(test.L)), ad.hessian(test.L), points, "jit(hessian(L))")


@pytest.mark.parametrize("name", sorted(CASES))
@settings(max_examples=3, deadline=None)
@given(data=st.data())
def test_float32_gradient_under_jit(name, data):
    """float32 in, float32 out of the replay, and eager's float32 numbers."""
    case, test = _rule_test(data, name, np.float32)
    assert test.theta.dtype == np.float32
    points = [(test.theta,), (_nudged(test.theta, case.seed),)]
    assert points[1][0].dtype == np.float32
    compiled = ad.jit(ad.grad(test.L))
    assert_replays(compiled, ad.grad(test.L), points, "float32 jit(grad(L))")
    assert compiled(*points[1]).dtype == np.float32


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_zero_dimensional_replay(dtype):
    """A 0-d θ: NumPy's ufuncs return scalars, not arrays, for 0-d operands, so a replay
    that writes a result into a temporary with ``out=`` fails there (it did, at one point,
    with "return arrays must be of ArrayType")."""
    w = np.asarray(0.3, dtype=dtype)

    def L(t):
        return dnp.sum(dnp.tanh(t) * w)

    points = [(np.asarray(x, dtype=dtype),) for x in (0.5, -1.25, 0.5)]
    assert_replays(ad.jit(ad.grad(L)), ad.grad(L), points, f"{dtype.__name__} 0-d jit(grad)")
    assert_replays(ad.jit(ad.hessian(L)), ad.hessian(L), points, f"{dtype.__name__} 0-d hessian")


# Branches: staged on one side of a kink, tie or jump, replayed on the other side (or at the
# kink), where the derivative differs. A side decided at staging would be a constant of the
# program and give the staged side's derivative; the replay must compute it, as eager does.
#
# Each of these caught a real fault while jit was written: rules._primal, which unwraps AD
# levels by duck typing (hasattr "trace" and "value"), also unwrapped a staged array (whose
# __getattr__ offered ndarray.trace), so every mask, tie weight, sort order and quotient was
# computed on the staging call's values and folded into the program, unguarded.


def _maximum_with(y):
    return lambda x: dnp.sum(dnp.maximum(x, y))


def _minimum_with(y):
    return lambda x: dnp.sum(dnp.minimum(x, y))


def _weighted(f, w):
    return lambda x: dnp.sum(f(x) * w)


KINKS = {   # name: (scalar f, a point off the kink, the point at the kink)
    "relu": (lambda x: dnp.sum(dnp.relu(x)),
             [0.3, 0.2, 1.0, -1.0], [0.0, -0.0, 1.0, -1.0]),
    "abs": (lambda x: dnp.sum(dnp.abs(x)), [0.3, -0.2, 2.0, -2.0], [0.0, -0.0, 2.0, -2.0]),
    "leaky_relu": (lambda x: dnp.sum(dnp.leaky_relu(x)), [0.3, 1.0, -1.0], [0.0, 1.0, -1.0]),
    "leaky_relu 0.2": (lambda x: dnp.sum(dnp.leaky_relu(x, negative_slope=0.2)),
                       [0.3, 1.0, -1.0], [0.0, 1.0, -1.0]),
    "maximum tie": (_maximum_with(np.array([1.0, 0.0, -3.0])),
                    [1.2, 2.0, -2.9], [1.0, 2.0, -3.0]),
    "minimum tie": (_minimum_with(np.array([1.0, 0.0, -3.0])),
                    [0.8, 2.0, -3.1], [1.0, 2.0, -3.0]),
    "maximum(x, x)": (lambda x: dnp.sum(dnp.maximum(x, x[::-1])),
                      [1.0, 2.0, 3.0], [1.0, 2.0, 1.0]),
    "max ties": (dnp.max, [1.0, 3.0, 2.9, 2.8, 2.0], [1.0, 3.0, 3.0, 3.0, 2.0]),
    "min ties": (dnp.min, [-1.0, -3.0, -2.9, -2.8, -2.0], [-1.0, -3.0, -3.0, -3.0, -2.0]),
    "max rows": (lambda x: dnp.sum(dnp.max(dnp.reshape(x, (2, 4)), axis=1, keepdims=True)),
                 [5.0, 4.0, 1.0, 4.5, 0.0, 2.0, 1.9, -1.0],
                 [5.0, 5.0, 1.0, 5.0, 0.0, 2.0, 2.0, -1.0]),
    "max all tied": (lambda x: dnp.max(dnp.reshape(x, (2, 2)), axis=(0, 1)),
                     [2.0, 1.0, 1.5, 1.9], [2.0, 2.0, 2.0, 2.0]),
    "clip": (lambda x: dnp.sum(dnp.clip(x, -0.5, 0.5)),
             [-1.0, -0.6, 0.0, 0.6, 1.0], [-1.0, -0.5, 0.0, 0.5, 1.0]),
    "clip above": (lambda x: dnp.sum(dnp.clip(x, None, 0.5)),
                   [-1.0, -0.5, 0.0, 0.6, 1.0], [-1.0, -0.5, 0.0, 0.5, 1.0]),
    "clip below": (lambda x: dnp.sum(dnp.clip(x, -0.5, None)),
                   [-1.0, -0.6, 0.0, 0.5, 1.0], [-1.0, -0.5, 0.0, 0.5, 1.0]),
}

ACROSS = {  # name: (scalar f, a point, a point on the other side of its kinks, ties, jumps)
    "relu": (lambda x: dnp.sum(dnp.relu(x)), [0.3, -0.2], [-0.3, 0.2]),
    "abs": (lambda x: dnp.sum(dnp.abs(x)), [0.3, -0.2], [-0.3, 0.2]),
    "leaky_relu": (lambda x: dnp.sum(dnp.leaky_relu(x)), [0.3, -0.2], [-0.3, 0.2]),
    "clip": (lambda x: dnp.sum(dnp.clip(x, -0.5, 0.5)), [-1.0, 0.0, 1.0], [0.0, 1.0, -1.0]),
    "maximum": (_maximum_with(np.array([0.0, 0.0])), [0.3, -0.2], [-0.3, 0.2]),
    "minimum": (_minimum_with(np.array([0.0, 0.0])), [0.3, -0.2], [-0.3, 0.2]),
    "fmax": (lambda x: dnp.sum(dnp.fmax(x, np.zeros(2))), [0.3, -0.2], [-0.3, 0.2]),
    "fmin": (lambda x: dnp.sum(dnp.fmin(x, np.zeros(2))), [0.3, -0.2], [-0.3, 0.2]),
    "max": (dnp.max, [1.0, 2.0, 3.0], [3.0, 1.0, 2.0]),
    "sort": (_weighted(dnp.sort, np.array([1.0, 2.0, 3.0])), [1.0, 2.0, 3.0], [3.0, 1.0, 2.0]),
    "mod": (lambda y: dnp.sum(dnp.mod(np.array([0.5, 2.5]), y)), [1.0, 1.0], [0.3, 1.1]),
    "fmod": (lambda y: dnp.sum(dnp.fmod(np.array([0.5, 2.5]), y)), [1.0, 1.0], [0.3, 1.1]),
    "sinc near 0": (lambda x: dnp.sum(dnp.sinc(x)), [1.0, 0.5], [1e-3, 0.5]),
    "where(x > 0)": (lambda x: dnp.sum(dnp.where(x > 0, x, 2 * x)), [0.3, -0.2], [-0.3, 0.2]),
    # no kink on the way: the replay recomputes what moves (logsumexp's shift), and a
    # constant mask stays the constant it is
    "logsumexp": (dnp.logsumexp, [1.0, 2.0, 3.0], [3.0, 1.0, 2.0]),
    "where(constant)": (lambda x: dnp.sum(dnp.where(np.array([True, False]), x, 2 * x)),
                        [0.3, -0.2], [-0.3, 0.2]),
}
WITHOUT_BRANCH = {"where(constant)"}
# sort's permutation is an index array, guarded: a new order stages again (once, for the
# gradient's program and the jvp's each)
RETRACING = {"sort"}


def _replayed_elsewhere(f, staged_at, replayed_at, what, branch=True, traces=1):
    """jit(grad(f)) and a jitted jvp (forward mode, one unit tangent at a time), each staged
    at ``staged_at`` and called at ``replayed_at``, equal eager AD there, after ``traces``
    stagings in all. ``branch``: the derivative differs between the two points, so a stale
    program would show."""
    staged_at, replayed_at = np.array(staged_at), np.array(replayed_at)
    reverse = ad.jit(ad.grad(f))
    staged = reverse(staged_at)
    eager = ad.grad(f)(replayed_at)
    if branch:      # a program that kept the staged side would give ``staged`` there
        assert not np.array_equal(staged, eager), f"{what}: the two points test no branch"
    assert_same(reverse(replayed_at), eager, f"{what}: jit(grad), replayed")
    assert reverse.traces == traces, f"{what}: jit(grad) staged {reverse.traces} times"

    def tangent(x, e):
        return ad.jvp(f, (x,), (e,))[1]

    forward = ad.jit(tangent)
    forward(staged_at, np.eye(staged_at.size)[0])
    for e in np.eye(replayed_at.size):
        assert_same(forward(replayed_at, e), tangent(replayed_at, e),
                    f"{what}: jitted jvp along {e}, replayed")
    assert forward.traces == traces, f"{what}: the jitted jvp staged {forward.traces} times"


@pytest.mark.parametrize("name", sorted(KINKS))
def test_kink_conventions_under_jit(name):
    """Staged off the kink, where the derivative differs, replayed at the kink: eager's
    convention (difflab.ad.rules), in reverse and forward mode."""
    f, off, at = KINKS[name]
    _replayed_elsewhere(f, off, at, f"{name} at the kink")


@pytest.mark.parametrize("name", sorted(ACROSS))
def test_replay_across_a_branch(name):
    """Staged on one side, replayed on the other: eager's derivative there, not the staged
    side's (the kinks need not be hit for a folded-in side to give wrong numbers)."""
    f, here, there = ACROSS[name]
    _replayed_elsewhere(f, here, there, f"{name} across a branch",
                        branch=name not in WITHOUT_BRANCH, traces=2 if name in RETRACING else 1)
