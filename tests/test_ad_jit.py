"""``difflab.ad.jit``: replays agree with eager AD, guards retrace instead of going stale,
signatures key the cache, and what cannot be guarded is refused when staging.

The rule-by-rule agreement is in test_ad_jit_rules.py; the speed in benchmarks/jit_speed.py.
"""

import numpy as np
import pytest

import difflab
import difflab.numpy as dnp
from difflab import ad, models
from difflab.ad import UnguardableError, jit
from difflab.ad.tracing import TracerBoolError


def same(a, b):
    """The same numbers, shape and dtype (what "bit for bit" means for the replay)."""
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b)


@pytest.fixture(scope="module")
def tiny():
    return models.get("mlp", widths=(4, 8, 8, 1), batch=16, activation="tanh", loss="mse")


def points(theta, count, seed=0):
    rng = np.random.default_rng(seed)
    return [theta + 0.1 * rng.standard_normal(theta.shape) for _ in range(count)]


@pytest.mark.parametrize("quantity", ["grad", "hessian", "jacobian"])
def test_replay_equals_eager_on_an_mlp(tiny, quantity):
    theta = np.asarray(tiny.theta0)
    f = tiny.objective if quantity != "jacobian" else \
        (lambda t: dnp.tanh(dnp.reshape(t[:12], (3, 4))) @ t[12:16])
    eager = getattr(ad, quantity)(f)
    compiled = getattr(ad, quantity)(f, jit=True)
    for point in [theta, *points(theta, 3)]:
        assert same(compiled(point), eager(point))
    assert compiled.traces == 1 and compiled.retraces == 0


def test_hvp_and_value_and_grad_under_jit(tiny):
    theta = np.asarray(tiny.theta0)
    v = np.random.default_rng(1).standard_normal(theta.shape)
    for point in [theta, *points(theta, 2)]:
        assert same(ad.hvp(tiny.objective, point, v, jit=True),
                    ad.hvp(tiny.objective, point, v))
        value, gradient = ad.value_and_grad(tiny.objective, jit=True)(point)
        eager_value, eager_gradient = ad.value_and_grad(tiny.objective)(point)
        assert same(value, eager_value) and same(gradient, eager_gradient)


def test_the_gradient_program_is_the_backprop_a_person_would_write(tiny):
    """One buffer for ∇θ, each layer's weight gradient written into its slice by the
    product that computes it (np.dot, dnp's product of two matrices)."""
    compiled = ad.grad(tiny.objective, jit=True)
    source = compiled.source(np.asarray(tiny.theta0))
    assert source.startswith("# jit of grad_f(float64[121])")
    assert source.count("np.empty((121,)") == 1 and "untake" not in source
    assert sum("np.dot(" in line and "out=v58[" in line for line in source.splitlines()) == 3
    program = compiled.compiled(np.asarray(tiny.theta0))
    assert program.calls < 50 and len(program.guards) == 2     # f and ∇f checked finite


def test_a_changed_batch_size_retraces_once():
    def loss(theta, X, Y):
        return dnp.mean((dnp.tanh(X @ theta[:3]) - Y) ** 2)
    compiled = ad.grad(loss, jit=True)
    rng = np.random.default_rng(0)
    theta = rng.standard_normal(3)
    data = {batch: (rng.standard_normal((batch, 3)), rng.standard_normal(batch))
            for batch in (8, 16)}
    for batch in (8, 8, 16, 16, 8, 16):
        X, Y = data[batch]
        assert same(compiled(theta, X, Y), ad.grad(loss)(theta, X, Y))
    assert compiled.traces == 2 and compiled.retraces == 1


# Guards: one kind each. A replay where a guard fails is staged again, never stale.

def test_branch_guard_retraces_when_python_would_take_the_other_branch():
    def f(theta, x):
        if x.sum() > 0:                         # a branch on data: a guard
            return dnp.sum(dnp.sin(theta) * x)
        return dnp.sum(dnp.cos(theta) * x)
    compiled = ad.grad(f, jit=True)
    theta = np.array([0.3, -0.2])
    positive, negative = np.array([1.0, 2.0]), np.array([-1.0, -2.0])
    assert same(compiled(theta, positive), ad.grad(f)(theta, positive))
    assert same(compiled(theta, negative), ad.grad(f)(theta, negative))    # not sin's program
    assert compiled.traces == 2
    assert same(compiled(theta + 1, positive), ad.grad(f)(theta + 1, positive))
    assert compiled.traces == 2                  # both programs stay cached
    assert "raise Stale('a Python branch')" in compiled.source(theta, positive)


def test_data_dependent_index_guard_retraces_when_the_index_changes():
    def f(theta, index):
        return dnp.sum(theta[index] ** 3)
    compiled = ad.grad(f, jit=True)
    theta = np.array([1.0, 2.0, 3.0, 4.0])
    first, second = np.array([0, 0, 2]), np.array([1, 3, 3])
    assert same(compiled(theta, first), ad.grad(f)(theta, first))
    assert same(compiled(theta * 2, first), ad.grad(f)(theta * 2, first))
    assert compiled.traces == 1
    assert same(compiled(theta, second), ad.grad(f)(theta, second))     # not first's entries
    assert compiled.traces == 2


def test_an_integer_taken_from_data_is_guarded():
    def f(theta, i):
        return theta[int(i)] ** 2
    compiled = ad.grad(f, jit=True)
    theta = np.array([1.0, 2.0, 3.0])
    for i in (0, 0, 2, 1):
        assert same(compiled(theta, np.array(i)), ad.grad(f)(theta, np.array(i)))
    assert compiled.traces == 3


@pytest.mark.parametrize("activation", ["relu", "abs", "where", "maximum"])
def test_kink_side_is_computed_by_the_replay(activation):
    """Staged off the kink, replayed on it and beyond it: each side as eager, no retrace."""
    kinked = {"relu": dnp.relu, "abs": dnp.abs,
              "where": lambda t: dnp.where(t > 0, t, 0.1 * t),
              "maximum": lambda t: dnp.maximum(t, -t[::-1])}[activation]

    def f(theta):
        return dnp.sum(kinked(theta) * np.arange(1.0, 5.0))
    compiled = ad.grad(f, jit=True)
    for theta in ([0.5, 1.0, -2.0, 3.0], [0.0, 0.0, 0.0, 0.0], [-0.5, 0.0, 2.0, -3.0],
                  [1.0, 2.0, -2.0, -1.0]):
        theta = np.asarray(theta)
        assert same(compiled(theta), ad.grad(f)(theta))
    assert compiled.traces == 1


def test_a_derivative_rule_that_reads_float_values_in_python_is_refused_when_staging():
    """eigh's rule looks at its eigenvalues in Python (repeated ones): no guard could
    check that, so jit refuses at staging, not with a wrong number later."""
    def f(theta):
        A = dnp.reshape(theta, (2, 2))
        values, _ = dnp.linalg.eigh((A + A.T) / 2)
        return dnp.sum(values * np.array([1.0, 3.0]))
    with pytest.raises(UnguardableError):
        ad.grad(f, jit=True)(np.array([1.0, 0.2, 0.2, 3.0]))


# What staging refuses, and what stays eager's.

def test_bool_of_a_traced_value_is_refused_as_eagerly():
    def f(theta):
        return dnp.sum(theta) if dnp.sum(theta) > 0 else -dnp.sum(theta)
    with pytest.raises(TracerBoolError):
        ad.grad(f, jit=True)(np.ones(3))


def test_a_float_turned_into_a_python_number_cannot_be_guarded():
    def f(x):
        return x * float(x[0])
    with pytest.raises(UnguardableError, match="float"):
        jit(f)(np.ones(3))


def test_numpy_conversion_of_a_staged_float_is_refused_not_constant_folded():
    def f(x):
        out = np.zeros(3)
        out[:] = x                             # would bake x's value into the program
        return out
    with pytest.raises(UnguardableError, match="np.asarray"):
        jit(f)(np.ones(3))


def test_in_place_writes_into_staged_arrays_are_refused():
    def f(x):
        np.add(x, 1.0, out=x)
        return x
    with pytest.raises(UnguardableError, match="writes into"):
        jit(f)(np.ones(3))


def test_non_finite_output_raises_at_replay_as_eagerly():
    def f(theta):
        return dnp.sum(dnp.log(theta))
    compiled = ad.grad(f, jit=True)
    assert same(compiled(np.array([1.0, 2.0])), ad.grad(f)(np.array([1.0, 2.0])))
    with np.errstate(invalid="ignore"), pytest.raises(difflab.errors.NonFiniteValueError):
        compiled(np.array([-1.0, 2.0]))         # the check is a guard of the replay


def test_constant_outputs_are_fresh_arrays_per_call():
    compiled = ad.grad(lambda theta, c: dnp.sum(c * 2.0), jit=True)
    first = compiled(np.ones(3), np.ones(3))
    first[:] = 7
    assert same(compiled(np.ones(3), np.ones(3)), np.zeros(3))


def test_cache_is_bounded_and_static_arguments_key_it():
    def f(x, power):
        return x ** power
    compiled = jit(f, static_argnums=1, cache_size=2)
    x = np.array([1.0, 2.0])
    for power in (1, 2, 3):
        assert same(compiled(x, power), x ** power)
    assert compiled.traces == 3 and sum(len(p) for p in compiled.cache.values()) == 2
    assert same(compiled(x, 1), x)                 # dropped first, staged again
    assert compiled.traces == 4


def test_float32_stays_float32():
    f = lambda t: dnp.sum(dnp.tanh(t) ** 2)     # noqa: E731
    theta = np.linspace(-1, 1, 5, dtype=np.float32)
    assert same(ad.grad(f, jit=True)(theta), ad.grad(f)(theta))


def test_ad_jit_is_a_registered_method_with_setup_apart(tiny):
    method = difflab.differentiator("ad-jit")
    theta = np.asarray(tiny.theta0)
    measured = method.measure("gradient", tiny.objective, theta)
    assert same(measured.value, ad.grad(tiny.objective)(theta))
    assert measured.cost.size_unit == "NumPy calls" and measured.cost.setup_seconds > 0
    prepared = method.prepare(tiny.objective, theta, "hessian")
    assert same(prepared(theta * 0.5).value, ad.hessian(tiny.objective)(theta * 0.5))


def test_the_engine_does_not_unwrap_a_staged_value():
    """rules._primal unwraps what has ``trace`` and ``value``: a staged array must not
    answer to ``trace`` (ndarray.trace), or masks would be baked in as constants."""
    from difflab.ad.rules import _primal
    from difflab.ad.staging import Program
    staged = Program().input(np.ones(3))
    assert _primal(staged) is staged


def test_overlapping_slices_of_theta_sum_into_a_zeroed_buffer():
    """Rosenbrock reads θ[:-1] and θ[1:]: the second piece overlaps the first only in
    part, so the part it alone covers must start from zero, not from np.empty's garbage."""
    from difflab import models
    problem = models.get("rosenbrock")
    compiled = ad.grad(problem.objective, jit=True)
    theta = np.asarray(problem.theta0, dtype=float)
    for point in [theta, *points(theta, 3)]:
        assert same(compiled(point), ad.grad(problem.objective)(point))


@pytest.mark.parametrize("shape", ["one", "pair", "dict"])
def test_pytree_outputs_come_back_in_their_structure(shape):
    build = {"one": lambda x: (x * 2,), "pair": lambda x: (x * 2, dnp.sum(x)),
             "dict": lambda x: {"a": x * 2}}[shape]
    compiled = jit(build)
    x = np.arange(3.0)
    for point in (x, x + 1):                    # staged, then replayed
        got, want = compiled(point), build(point)
        assert type(got) is type(want) and len(got) == len(want)
        for key in (want if isinstance(want, dict) else range(len(want))):
            assert same(got[key], want[key])


def test_repeated_work_is_done_once_in_the_hessian_program(tiny):
    """Forward-over-reverse runs the primal pass again inside the tangent pass, and every
    finiteness check recomputes what it checks: the replay computes each call once."""
    compiled = ad.hessian(tiny.objective, jit=True)
    theta = np.asarray(tiny.theta0)
    source = compiled.source(theta)
    computed = [line.split(" = ", 1)[1] for line in source.splitlines()[2:]
                if " = " in line and "[" not in line.split(" = ", 1)[0]]
    assert len(computed) == len(set(computed)), "a call of the same operands is repeated"
    assert source.count("np.tanh(") == 2                 # the forward pass, once per layer
    for point in [theta, *points(theta, 2)]:
        assert same(compiled(point), ad.hessian(tiny.objective)(point))


def test_scalar_arithmetic_replays_as_numpy_scalar_math():
    """θ[0] is a NumPy scalar, whose ** is NumPy's scalar math: it differs from np.power in
    the last bit at some points, and the replay must compute what eager computed."""
    def f(theta):
        return dnp.power(theta[0], theta[1]) * 0.7
    compiled = ad.grad(f, jit=True)
    rng = np.random.default_rng(0)
    for _ in range(200):
        theta = rng.uniform(0.5, 3.0, size=2)
        assert same(compiled(theta), ad.grad(f)(theta)), theta


def test_only_calls_that_take_out_write_into_the_gradient_buffer():
    """A piece of ∇θ is written in place by the call computing it only if that call takes
    ``out=``: a ufunc, a ufunc's reduce or einsum; not getitem (also a builtin)."""
    import operator

    from difflab.ad.jit import _takes_out
    assert _takes_out(np.multiply) and _takes_out(np.add.reduce) and _takes_out(np.einsum)
    assert not _takes_out(operator.getitem) and not _takes_out(np.ascontiguousarray)


def test_the_hessian_adds_only_the_rows_a_seed_does_not_zero(tiny):
    """A constant tangent is zero outside its own parameter's directions: the replay adds its
    rows, and its product's rows, in place, and gives eager's Hessian."""
    compiled = ad.hessian(tiny.objective, jit=True)
    theta = np.asarray(tiny.theta0)
    source = compiled.source(theta)
    assert "[104:112] += " in source and "[40:104] += " in source      # b1's and W2's rows
    assert "finite(" in source                # each product's other operand is checked
    for point in [theta, *points(theta, 2)]:
        assert same(compiled(point), ad.hessian(tiny.objective)(point))


def test_a_non_finite_value_times_rows_known_to_be_zero_is_not_skipped():
    """inf · 0 is NaN: where the value multiplying a constant's zero rows is not finite,
    the replay must not skip those rows (it retraces, and gives eager's NaN)."""
    seeds = np.zeros((6, 3, 2))
    seeds[4:] = np.random.default_rng(0).standard_normal((2, 3, 2))

    def f(x, a):
        return x + dnp.matmul(dnp.exp(a), seeds)
    compiled = ad.jit(f)
    x, a = np.ones((6, 5, 2)), np.zeros((5, 3))
    assert same(compiled(x, a), f(x, a))
    assert "[4:6] += " in compiled.source(x, a)
    huge = np.full((5, 3), 1000.0)
    with np.errstate(over="ignore", invalid="ignore"):
        want = f(x, huge)
        got = compiled(x, huge)
    assert np.isnan(want[:4]).any()
    assert np.array_equal(got, want, equal_nan=True) and compiled.traces == 2


def test_a_slice_of_a_slice_of_theta_fills_its_region_of_the_gradient():
    """θ[0:6] reshaped and indexed again (a CNN's filters): the inner slices' sum is a buffer
    of its own, copied into ∇θ's (it was also taken as the writer of the outer region, which
    read values the program never computed)."""
    rng = np.random.default_rng(0)
    c = rng.standard_normal((3, 4, 1))

    def f(theta):
        filters = dnp.reshape(theta[0:6], (3, 1, 2))
        hidden = c[0] @ filters[0] + c[1] @ filters[1] + c[2] @ filters[2]
        return dnp.sum(dnp.tanh(hidden)) + dnp.sum(theta[6:] ** 2)
    compiled = ad.grad(f, jit=True)
    for theta in points(np.zeros(9), 3):
        assert same(compiled(theta), ad.grad(f)(theta))
