"""gradcheck: it passes right gradients, fails wrong ones naming the parameter, and reports
kinks as kinks. The truths it uses are checked elsewhere (numeric, reference); here the
wrong gradients are made by hand (the examples' classic bugs) or by perturbing one AD rule
by 0.1% (the mutation test), so every failure asserted is known to be a real error.
"""

import importlib.util
import io
import warnings
from pathlib import Path

import numpy as np
import pytest

import difflab.numpy as dnp
from difflab import gradcheck, tree_paths
from difflab.ad import rules
from difflab.cli import main
from difflab.errors import DiffLabError, NonFiniteValueError
from difflab.gradcheck import PrecisionWarning
from difflab.testing import assert_gradients_close

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _example(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


net = _example("two_layer_backprop")
dnp_net = _example("dnp_mlp")


def failed(result):
    return {row.path for row in result.failures}


# The examples, through the API.

@pytest.mark.parametrize("mode", ["full", "fast"])
def test_the_correct_backprop_passes(mode):
    result = gradcheck(net.loss, net.params(), net.grad, mode=mode)
    assert result.passed, result
    assert [row.path for row in result.rows] == ["W1", "W2", "b1", "b2"]
    assert max(row.max_rel for row in result.rows) < 1e-12    # judged by the complex step


@pytest.mark.parametrize("mode", ["full", "fast"])
@pytest.mark.parametrize("bug", sorted(net.BUGS))
def test_each_buggy_backprop_fails_naming_its_parameters(bug, mode):
    result = gradcheck(net.loss, net.params(), getattr(net, bug), mode=mode)
    assert not result.passed
    assert failed(result) == set(net.BUGS[bug]), result
    text = str(result)
    assert "FAILED: " + ", ".join(sorted(net.BUGS[bug])) in text
    assert len(text.splitlines()) < 20                     # a table, never the whole matrix


def test_the_missing_transpose_is_named_as_one():
    result = gradcheck(net.loss, net.params(), net.grad_missing_transpose)
    (row,) = result.failures
    assert row.status == "shape" and "missing .T" in row.message


def test_off_by_batch_size_is_off_by_exactly_the_batch_size():
    result = gradcheck(net.loss, net.params(), net.grad_off_by_batch_size)
    (row,) = result.failures
    assert row.truth / row.candidate == pytest.approx(net.BATCH, rel=1e-12)


def test_each_truth_sees_the_bug_on_its_own():
    for methods in (["fd-central"], ["fd-richardson"], ["complex-step"]):
        result = gradcheck(net.loss, net.params(), net.grad_forgotten_bias, methods=methods)
        assert failed(result) == {"b1"}, methods
        assert gradcheck(net.loss, net.params(), net.grad, methods=methods).passed, methods


def test_an_error_of_one_part_in_a_million_in_one_entry_is_caught():
    """Central differences alone resolve ~1e-10 here; 1e-6 in one weight is far outside."""
    def slightly_wrong(p):
        g = net.grad(p)
        g["W2"] = g["W2"].copy()
        g["W2"][3, 1] *= 1 + 1e-6
        return g
    result = gradcheck(net.loss, net.params(), slightly_wrong, methods=["fd-central"])
    assert failed(result) == {"W2"}
    assert result.failures[0].worst == "[3, 1]"


def test_nan_in_your_gradient_fails_its_leaf():
    def with_nan(p):
        g = net.grad(p)
        g["b2"] = np.array([np.nan, 0.0])
        return g
    result = gradcheck(net.loss, net.params(), with_nan)
    assert failed(result) == {"b2"}


def test_the_dnp_model_under_ad_passes_against_every_truth():
    result = gradcheck(dnp_net.loss, dnp_net.params(), order=2)
    assert result.passed, result
    assert result.judge == {"gradient": "reference", "hvp": "reference"}
    assert set(result.agreement) == {"fd-central", "complex-step", "reference",
                                     "ad-differences (hvp)", "reference (hvp)"}
    assert {row.quantity for row in result.rows} == {"gradient", "hvp"}


def test_a_relu_exactly_at_its_kink_is_reported_as_a_kink():
    result = gradcheck(dnp_net.loss_relu, dnp_net.params())
    assert result.passed, result
    kinked = {row.path: row.kinks for row in result.rows if row.kinks}
    assert kinked == {"b1": 1}
    assert "at a kink, not judged" in str(result)


def test_a_kink_does_not_hide_a_wrong_entry_elsewhere():
    def relu_grad(p):
        g = {"x": np.where(p["x"] > 0, 2.0, 0.0), "y": 2 * p["y"]}   # y's should be 3·y²
        return g
    params = {"x": np.array([0.0, 1.5]), "y": np.array([0.5, -1.0])}
    result = gradcheck(lambda p: dnp.sum(2 * dnp.relu(p["x"])) + dnp.sum(p["y"] ** 3), params,
                       relu_grad)
    assert failed(result) == {"y"}
    assert {row.path: row.kinks for row in result.rows} == {"x": 1, "y": 0}


def test_a_vector_valued_function_checks_its_jacobian():
    F = lambda p: dnp.tanh(p["a"]) * dnp.sum(p["b"])
    params = {"a": np.array([0.3, -0.7, 1.1]), "b": np.array([0.5, 2.0])}
    for mode in ("full", "fast"):
        result = gradcheck(F, params, mode=mode)
        assert result.passed and {row.quantity for row in result.rows} == {"jacobian"}


def test_float32_warns_and_still_checks():
    with pytest.warns(PrecisionWarning, match="float64"):
        result = gradcheck(lambda p: dnp.sum(dnp.tanh(p)), np.array([0.1, 0.2], np.float32))
    assert result.passed and result.dtype == "float32"


def test_plain_numpy_without_grad_says_what_to_do():
    with pytest.raises(DiffLabError, match="write f with difflab.numpy.*grad="):
        gradcheck(net.loss, net.params())


def test_skipped_truths_are_noted():
    result = gradcheck(lambda p: np.sum(np.abs(p) ** 3), np.array([0.5, -1.0]),
                       lambda p: 3 * p * np.abs(p))
    assert result.passed and result.judge == {"gradient": "fd-richardson"}
    assert any(note.startswith("complex-step skipped") for note in result.notes)


@pytest.mark.parametrize("call, error", [
    (lambda: gradcheck(net.loss, net.params(), net.grad, mode="quick"), "mode"),
    (lambda: gradcheck(net.loss, net.params(), net.grad, order=3), "order"),
    (lambda: gradcheck(net.loss, net.params(), net.grad, order=2), "order=2"),
    (lambda: gradcheck(net.loss, net.params(), lambda p: [p["W1"]]), "leaves \\[0\\] but.*W1, W2"),
    (lambda: gradcheck(net.loss, net.params(), net.grad, methods=["fd-sideways"]), "unknown"),
    (lambda: gradcheck(lambda p: dnp.tanh(p), np.ones(2), lambda p: p), "scalar"),
    (lambda: gradcheck(lambda p: dnp.sum(p), np.array([1.0, np.nan])), "non-finite"),
    (lambda: gradcheck(lambda p: dnp.log(dnp.sum(p)), np.array([-1.0])), "not finite"),
])
def test_bad_input_raises_a_clear_error(call, error):
    with pytest.raises(DiffLabError, match=error):
        call()


def test_non_finite_errors_are_floating_point_errors():
    with pytest.raises(NonFiniteValueError):
        gradcheck(lambda p: dnp.sum(p), np.array([np.inf]))


def test_assert_gradients_close_raises_with_the_table():
    assert assert_gradients_close(net.loss, net.params(), grad=net.grad).passed
    with pytest.raises(AssertionError, match="FAILED: b1") as raised:
        assert_gradients_close(net.loss, net.params(), grad=net.grad_forgotten_bias)
    assert "worst mismatches" in str(raised.value)


def test_leaf_names_follow_ravel_order():
    assert tree_paths({"b": [np.ones(2), {"z": 1.0}], "a": None}) == ["b[0]", "b[1].z"]
    assert tree_paths(np.ones(3)) == ["params"]


# Found in review: each of these once passed a wrong gradient or failed a right one.

def _relu_net():
    rng = np.random.default_rng(3)
    X, Y = rng.normal(size=(16, 4)), rng.normal(size=(16, 1))
    params = {"W1": rng.normal(size=(4, 8)), "W2": rng.normal(size=(8, 1))}

    def loss(p):
        return 0.5 * np.mean((np.maximum(X @ p["W1"], 0) @ p["W2"] - Y) ** 2)

    def grad(p):
        Z = X @ p["W1"]
        dP = (np.maximum(Z, 0) @ p["W2"] - Y) / len(X)
        return {"W1": X.T @ ((dP @ p["W2"].T) * (Z > 0)), "W2": np.maximum(Z, 0).T @ dP}
    return loss, params, grad


@pytest.mark.parametrize("mode", ["full", "fast"])
def test_relu_units_switching_near_theta_do_not_hide_a_wrong_gradient(mode):
    """Richardson's wide stencils meet relu switches near θ; the exact judge must still judge."""
    loss, params, grad = _relu_net()
    assert gradcheck(loss, params, grad, mode=mode).passed

    def wrong(p):
        g = grad(p)
        return {**g, "W1": g["W1"] * 1.2}
    assert failed(gradcheck(loss, params, wrong, mode=mode)) == {"W1"}


def test_integer_leaves_are_checked_in_float():
    result = gradcheck(lambda x: np.sum(x ** 2.0), np.array([1, 2, 3]), lambda x: 3.0 * x)
    assert failed(result) == {"params"} and "int64" in result.notes[0]
    assert gradcheck(lambda x: np.sum(x ** 2.0), np.array([1, 2, 3]), lambda x: 2.0 * x).passed


def test_large_parameters_with_unit_scale_oscillation_are_judged():
    theta = 1e3 * np.array([0.1, 0.7, 1.3])
    assert gradcheck(lambda x: np.sum(np.sin(x)), theta, np.cos).passed
    wrong = gradcheck(lambda x: np.sum(np.sin(x)), theta, lambda x: 1.1 * np.cos(x))
    assert failed(wrong) == {"params"} and wrong.rows[0].kinks == 0


def test_a_gradient_at_a_minimum_is_judged_against_rounding_not_relative_error():
    """At the least-squares optimum ∇f is rounding noise (~1e-16); a relative test fails it."""
    rng = np.random.default_rng(0)
    A, b = rng.normal(size=(20, 5)), rng.normal(size=20)
    w = np.linalg.lstsq(A, b, rcond=None)[0]
    f = lambda w: 0.5 * dnp.sum(dnp.square(dnp.matmul(A, w) - b))
    assert gradcheck(f, w, lambda w: A.T @ (A @ w - b)).passed
    assert gradcheck(f, w).passed
    assert not gradcheck(f, w, lambda w: A.T @ (A @ w - b) + 1e-6).passed


def test_a_float32_gradient_for_float64_params_is_judged_at_float32():
    result = gradcheck(net.loss, net.params(), lambda p: {k: v.astype(np.float32)
                                                          for k, v in net.grad(p).items()})
    assert result.passed and any("float32" in note for note in result.notes)


def test_the_relu_example_is_inconclusive_where_every_projection_crosses_the_kink():
    """Every projection of b1 crosses b1[0]'s kink (fast mode), and b2's gradient has a kink
    along every direction v (order 2: no Hessian there): neither can be vouched for."""
    fast = gradcheck(dnp_net.loss_relu, dnp_net.params(), mode="fast")
    assert fast.status == "inconclusive" and not fast.passed and not fast.failures
    assert [row.path for row in fast.rows if row.status == "inconclusive"] == ["b1"]
    assert "full mode" in str(fast)
    second = gradcheck(dnp_net.loss_relu, dnp_net.params(), order=2)
    assert second.status == "inconclusive" and not second.failures
    assert {row.quantity for row in second.rows if row.status == "pass"} == {"gradient", "hvp"}
    assert [(row.path, row.quantity) for row in second.rows
            if row.status == "inconclusive"] == [("b2", "hvp")]


def test_a_grad_of_another_structure_is_refused():
    with pytest.raises(DiffLabError, match="leaves a, c but params has a, b"):
        gradcheck(lambda p: dnp.sum(p["a"]) + dnp.sum(p["b"]),
                  {"a": np.ones(2), "b": np.ones(2)},
                  lambda p: {"a": np.ones(2), "c": np.ones(2)})


def test_when_no_truth_can_run_the_error_says_why():
    """√x at 1e-12: both stencils step below 0."""
    with pytest.raises(DiffLabError, match="no truth.*fd-central skipped"):
        gradcheck(lambda x: np.sum(np.sqrt(x)), np.array([1e-12, 1.0]),
                  lambda x: 0.5 / np.sqrt(x), methods=["fd-central", "fd-richardson"])


# The examples, through the command line.

def _cli(*argv):
    out = io.StringIO()
    return main(["gradcheck", *argv], out=out), out.getvalue()


def test_cli_passes_the_correct_backprop_and_fails_each_bug():
    target = f"{EXAMPLES / 'two_layer_backprop.py'}:loss"
    code, text = _cli(target, "--grad", "grad")
    assert code == 0 and "passed" in text
    for bug, names in net.BUGS.items():
        code, text = _cli(target, "--grad", bug)
        assert code == 1 and f"FAILED: {', '.join(sorted(names))}" in text, bug


def test_cli_checks_a_dnp_model_under_ad():
    code, text = _cli(f"{EXAMPLES / 'dnp_mlp.py'}:loss", "--mode", "fast", "--order", "2")
    assert code == 0 and "hvp" in text and "fast mode" in text


def test_cli_reports_an_error_in_the_users_code_as_could_not_check(tmp_path, capsys):
    broken = tmp_path / "broken.py"
    broken.write_text("import numpy as np\nparams = np.ones(2)\n"
                      "def loss(p):\n    return p['missing']\n")
    code, _ = _cli(f"{broken}:loss", "--grad", "loss")
    assert code == 2 and "nothing was checked" in capsys.readouterr().err
    (tmp_path / "notpython").write_text("")
    code, _ = _cli(f"{tmp_path / 'notpython'}:loss")
    assert code == 2 and "not a Python file" in capsys.readouterr().err


def test_cli_says_what_is_missing(capsys):
    code, _ = _cli(f"{EXAMPLES / 'dnp_mlp.py'}:nothing")
    assert code == 2 and "no 'nothing'" in capsys.readouterr().err
    code, _ = _cli("no/such/file.py:loss")
    assert code == 2 and "no file" in capsys.readouterr().err
    code, _ = _cli("missing_colon.py")
    assert code == 2 and "FILE.py:FUNC" in capsys.readouterr().err


# Mutation test: every rule of the AD rule table, made wrong by 0.1%, is caught.
#
# Each primitive is checked through L(θ) = Σ w ⊙ sin(f(args(θ))): the sine makes the Hessian
# of L depend on f's tangent, so a wrong forward-mode (JVP) rule shows in H·v even for the
# linear primitives (order=2); a wrong VJP rule shows in ∇L (order=1).

WRONG_BY = 1.001


def _cases():
    rng = np.random.default_rng(7)
    x = rng.uniform(-2, 2, size=(2, 3))
    x = np.where(np.abs(x) < 0.2, 0.5, x)               # away from kinks
    y = rng.uniform(-2, 2, size=(2, 3))
    y = np.where(np.abs(x - y) < 0.2, y + 0.5, y)         # no ties for maximum/minimum
    positive = rng.uniform(0.5, 2, size=(2, 3))
    unary = {name: (getattr(dnp, name), (x,)) for name in
             ("abs", "cos", "exp", "negative", "relu", "sigmoid", "sin", "softplus", "square",
              "tanh")}
    unary.update({name: (getattr(dnp, name), (positive,)) for name in ("log", "log1p", "sqrt")})
    unary.update({name: (getattr(dnp, name), (x,)) for name in
                  ("arctan", "erf", "erfc", "expm1", "sinc")})
    inside = x / 2.5                                     # in (−0.8, 0.8): arcsin, arccos
    unary.update({name: (getattr(dnp, name), (inside,)) for name in ("arcsin", "arccos")})
    index = (slice(None), [2, 0])
    square = x[:, :2] / 2 + np.diag([3.0, 1.0])
    return {
        **unary,
        "leaky_relu": (lambda a: dnp.leaky_relu(a, 0.1), (x,)),
        **{name: (getattr(dnp, name), (x, y)) for name in
           ("add", "subtract", "multiply", "maximum", "minimum")},
        **{name: (getattr(dnp, name), (x, y)) for name in
           ("logaddexp", "logaddexp2", "arctan2", "fmax", "fmin")},
        # x/0.6 lies 0.16 or more from every integer (away from the jumps), and mostly
        # beyond ±1, so ∂/∂y = −floor(x/y) (mod) or −trunc(x/y) (fmod) is not zero
        **{name: (getattr(dnp, name), (x, np.full((2, 3), 0.6))) for name in ("mod", "fmod")},
        "cumsum": (lambda a: dnp.cumsum(a, axis=1), (x,)),
        "sort": (lambda a: dnp.sort(a, axis=1), (x,)),
        "divide": (dnp.divide, (x, positive)),
        "power": (dnp.power, (positive, y)),
        "where": (lambda a, b: dnp.where(x > 0, a, b), (x, y)),
        "clip": (lambda a: dnp.clip(a, -1.0, 1.0), (x,)),
        "sum": (lambda a: dnp.sum(a, axis=1), (x,)),
        "mean": (lambda a: dnp.mean(a, axis=0), (x,)),
        "max": (lambda a: dnp.max(a, axis=1), (x,)),
        "logsumexp": (lambda a: dnp.logsumexp(a, axis=1), (x,)),
        "matmul": (dnp.matmul, (x, y.T)),
        "dot": (dnp.dot, (x[0], y[1])),
        "reshape": (lambda a: dnp.reshape(a, (3, 2)), (x,)),
        "transpose": (dnp.transpose, (x,)),
        "broadcast_to": (lambda a: dnp.broadcast_to(a, (2, 3)), (x[0],)),
        "expand_dims": (lambda a: dnp.expand_dims(a, 0), (x,)),
        "squeeze": (lambda a: dnp.squeeze(a, 0), (x[:1],)),
        "getitem": (lambda a: dnp.getitem(a, index), (x,)),
        "untake": (lambda a: dnp.untake(a, index, (2, 4)), (x[:, :2],)),
        "concatenate": (lambda a, b: dnp.concatenate([a, b], axis=1), (x, y)),
        "stack": (lambda a, b: dnp.stack([a, b]), (x, y)),
        # dnp.linalg on a well-conditioned 2×2 matrix, diagonally dominant: invertible,
        # positive definite on the triangle cholesky and eigh read, eigenvalues 2.9 apart
        "linalg.inv": (dnp.linalg.inv, (square,)),
        "linalg.det": (dnp.linalg.det, (square,)),
        "linalg.slogdet_stacked": (dnp.linalg.slogdet_stacked, (square,)),
        "linalg.solve": (dnp.linalg.solve, (square, y[:, :2])),
        "linalg.cholesky": (dnp.linalg.cholesky, (square,)),
        "linalg.eigh_stacked": (dnp.linalg.eigh_stacked, (square,)),
        # singular values 3.4 and 0.71 (distinct, non-zero); yᵀ (3×2) has full column rank
        "linalg.svd_stacked": (dnp.linalg.svd_stacked, (square,)),
        "linalg.qr_stacked": (dnp.linalg.qr_stacked, (y.T,)),
    }


CASES = _cases()


def _objective(name):
    primitive, operands = CASES[name]
    weights = np.random.default_rng(11).normal(size=np.shape(primitive(*operands)))

    def L(args):
        return dnp.sum(dnp.multiply(dnp.sin(primitive(*args)), weights))
    return L, list(operands)


def _builtin(table):
    """The rules of difflab's own primitives (users' custom ones, which other tests declare
    into the same tables, are not this test's)."""
    return {name: rule for name, rule in table.items() if name in dnp.primitives()}


def _rules(table):
    table = _builtin(table)
    return [(name, position) for name in sorted(table)
            for position, rule in enumerate(table[name]) if rule is not None]


def test_every_rule_has_a_mutation_case():
    assert set(CASES) == set(_builtin(rules.VJP_RULES)) == set(_builtin(rules.JVP_RULES))


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradcheck_passes_every_true_rule(name):
    """The baseline the mutations perturb, at order 1 and 2."""
    L, params = _objective(name)
    result = gradcheck(L, params, order=2)
    assert result.passed, result


def _mutated(table, name, position, monkeypatch):
    wrong = list(table[name])
    rule = wrong[position]
    wrong[position] = lambda *args, **kwargs: rule(*args, **kwargs) * WRONG_BY
    monkeypatch.setitem(table, name, tuple(wrong))


def _leaf(name, position):
    """The parameter a rule's argument position feeds (where's position 0 is the condition)."""
    return f"[{position - 1}]" if name == "where" else f"[{position}]"


@pytest.mark.parametrize("name, position", _rules(rules.VJP_RULES))
def test_a_vjp_rule_wrong_by_a_tenth_of_a_percent_is_caught(name, position, monkeypatch):
    _mutated(rules.VJP_RULES, name, position, monkeypatch)
    L, params = _objective(name)
    result = gradcheck(L, params)
    assert not result.passed, result
    if name in ("concatenate", "stack"):                # one rule serves every operand
        assert failed(result) == {"[0]", "[1]"}, result
    else:
        assert _leaf(name, position) in failed(result), result


@pytest.mark.parametrize("name, position", _rules(rules.JVP_RULES))
def test_a_jvp_rule_wrong_by_a_tenth_of_a_percent_is_caught(name, position, monkeypatch):
    _mutated(rules.JVP_RULES, name, position, monkeypatch)
    L, params = _objective(name)
    result = gradcheck(L, params, order=2)
    assert not result.passed, result
    assert {row.quantity for row in result.failures} == {"hvp"}, result


# Issue 14: no silent wrong answer from gradcheck.

def test_a_wrong_gradient_at_tiny_scale_fails_where_the_stencil_crosses_the_pole():
    """Central steps (≈6e-6) cross 0 next to θ ≈ 3e-7: finite differences are garbage there,
    which once made the entries "kinks"; the complex step is exact and judges them."""
    theta = np.array([3e-7, 5e-7, 2e-6])
    f = lambda p: dnp.sum(1 / p)
    wrong = gradcheck(f, theta, lambda p: -1.2 / p ** 2)
    assert wrong.status == "failed" and wrong.rows[0].failures == 3
    assert wrong.rows[0].kinks == 0 and wrong.rows[0].ratio > 1e6
    assert gradcheck(f, theta, lambda p: -1 / p ** 2).passed


def _l1_problem():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(8, 2)), rng.normal(size=8)
    f = lambda w: dnp.sum((dnp.matmul(X, w) - y) ** 2) + 0.1 * dnp.sum(dnp.abs(w))
    return f, lambda w, sign=1: 2 * X.T @ (X @ w - y) + sign * 0.1 * np.sign(w)


def test_a_kink_near_theta_is_not_a_kink_at_theta():
    """|w| has its kink 3e-7 from θ, inside the central stencil but not at θ: judged."""
    f, grad = _l1_problem()
    w = np.array([4e-7, -3e-7])
    flipped = gradcheck(f, w, lambda w: grad(w, sign=-1))
    assert flipped.status == "failed" and flipped.rows[0].failures == 2
    right = gradcheck(f, w, grad)
    assert right.passed and right.rows[0].kinks == 0, right


def test_a_kink_at_theta_admits_either_side_and_nothing_beyond():
    f = lambda x: dnp.sum(dnp.relu(x)) + dnp.sum(x ** 3)
    theta = np.array([0.0, 0.5])
    for side in (0.0, 0.5, 1.0):
        result = gradcheck(f, theta, lambda x, side=side: np.array([side, 1 + 0.75]))
        assert result.passed and result.rows[0].kinks == 1, (side, result)
    outside = gradcheck(f, theta, lambda x: np.array([1.5, 1.75]))
    assert outside.status == "failed" and outside.rows[0].truth == pytest.approx(1.0)


def test_a_small_leaf_is_judged_at_its_own_scale_not_at_the_size_of_f():
    """Attention at scale 1e-6: ∇Wq ~ 1e-14·|f|; negating it must fail, naming Wq."""
    from test_gradcheck_mutation import MODELS, att_f, att_grad
    p = MODELS["attention"].params(np.random.default_rng(0), 1e-6)
    assert gradcheck(att_f, p, att_grad).passed
    result = gradcheck(att_f, p, lambda q: {**att_grad(q), "Wq": -att_grad(q)["Wq"]})
    assert failed(result) == {"Wq"}


def test_no_false_alarm_near_a_least_squares_minimum():
    """1e-4 from the optimum ∇f cancels: rounding is relative to the terms, not to ∇f."""
    rng = np.random.default_rng(0)
    A, b = rng.normal(size=(20, 5)), rng.normal(size=20)
    optimum = np.linalg.lstsq(A, b, rcond=None)[0]
    f = lambda w: 0.5 * dnp.sum(dnp.square(dnp.matmul(A, w) - b))
    grad = lambda w: A.T @ (A @ w - b)
    for seed in range(48):
        d = np.random.default_rng(seed).normal(size=5)
        w = optimum + 1e-4 * d / np.linalg.norm(d)
        assert gradcheck(f, w, grad).passed, seed
        assert not gradcheck(f, w, lambda w: grad(w) * (1 + 1e-6)).passed, seed


def test_every_entry_at_a_kink_is_inconclusive_not_a_pass():
    result = gradcheck(lambda p: dnp.max(p), np.ones(6))
    assert result.status == "inconclusive" and result.inconclusive
    assert not result.passed and not bool(result) and not result.failures
    assert result.rows[0].kinks == 6
    assert "INCONCLUSIVE" in str(result) and "passed" not in str(result).splitlines()[0]
    with pytest.raises(AssertionError, match="INCONCLUSIVE"):
        assert_gradients_close(lambda p: dnp.max(p), np.ones(6))


def test_rows_and_footer_show_the_verdicts_own_metric():
    """A passing check shows no number above 1 in its ratio column or for its judge; a
    zero true entry no longer shows a relative difference of order 1."""
    f = lambda p: dnp.sum(p[:2] ** 2) + 0.0 * p[2]
    result = gradcheck(f, np.array([0.3, -0.7, 5.0]), lambda p: np.array([0.6, -1.4, 1e-17]))
    assert result.passed, result
    assert all(row.ratio <= 1 for row in result.rows)
    judge = result.judge["gradient"]
    assert result.agreement[judge] <= 1
    text = str(result)
    assert "diff/allowed" in text and "max rel" not in text
    entries = result.entries["gradient"]
    assert np.all(np.abs(entries.candidate - entries.truth)[entries.judged]
                  <= entries.allowed[entries.judged])


def test_nan_in_your_gradient_shows_as_nan_and_fails():
    result = gradcheck(lambda p: dnp.sum(p ** 2), np.array([0.3, 0.4]),
                       lambda p: np.array([np.nan, 0.8]))
    (row,) = result.failures
    assert np.isnan(row.ratio) and np.isnan(row.candidate) and row.failures == 1
    assert "nan" in str(result).splitlines()[2]


@pytest.mark.parametrize("option", [dict(rtol=-1), dict(rtol=float("nan")), dict(atol=-1e-9),
                                    dict(atol=float("inf")), dict(rtol="1e-6"), dict(atol=True),
                                    dict(seed=1.5)])
def test_invalid_options_raise_a_named_error(option):
    from difflab.gradcheck import GradcheckOptionError
    with pytest.raises(GradcheckOptionError, match=next(iter(option))):
        gradcheck(lambda p: dnp.sum(p ** 2), np.ones(2), **option)


def test_explicit_tolerances_still_apply():
    f, grad = lambda p: dnp.sum(p ** 2), lambda p: 2 * p * (1 + 1e-7)
    assert not gradcheck(f, np.ones(2), grad).passed
    assert gradcheck(f, np.ones(2), grad, rtol=1e-6).passed
    assert gradcheck(f, np.ones(2), grad, rtol=0, atol=1e-6).passed
