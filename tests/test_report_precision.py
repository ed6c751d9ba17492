"""The report's precision section: its tiny profile end to end, partial results, budget stops,
and its measurements against truths it does not compute itself."""

import json
import pathlib

import numpy as np
import pytest

import difflab
from difflab.errors import SwellLimitError
from difflab.report import Profile
from difflab.report.sections import precision


@pytest.fixture(scope="module")
def tiny():
    """{key: result} of every cell of the tiny profile, run directly."""
    return {cell.key: cell.run() for cell in precision.cells(Profile("tiny", seed=0))}


def test_tiny_profile_has_v_curves_and_both_precisions():
    keys = {cell.key for cell in precision.cells(Profile("tiny", seed=0))}
    model = precision.TINY_MODEL
    assert {f"v-curve/{model}/{method}" for method in precision.V_METHODS} <= keys
    assert {f"{model}/{q}/{d}" for q in ("gradient", "hessian")
            for d in ("float64", "float32")} <= keys
    assert len(keys) == len(precision.cells(Profile("tiny", seed=0)))      # keys are unique


def test_quick_profile_runs_float32_only_where_the_model_can():
    keys = {cell.key for cell in precision.cells(Profile("quick", seed=0))}
    assert "rosenbrock/hessian/float64" in keys and "logistic-map/gradient/float64" in keys
    assert not any(key.startswith(("rosenbrock/", "logistic-map/")) and key.endswith("float32")
                   for key in keys)
    assert "mlp/gradient/float32" in keys and "mlp/hessian/float64" not in keys


def test_results_are_json(tiny):
    for key, result in tiny.items():
        assert json.loads(json.dumps(result, allow_nan=False)) == result, key


def test_render_draws_every_figure_table_and_reading(tiny, tmp_path):
    rendered = precision.render(tiny, tmp_path)
    assert len(rendered.figures) == 3
    for file, caption in rendered.figures:
        assert (tmp_path / file).stat().st_size > 0 and caption
    assert len(rendered.tables) == 4 and all(table.rows for table in rendered.tables)
    families = rendered.tables[-1]
    assert [row[0] for row in families.rows] == list(precision.FAMILIES)
    assert len(rendered.reading) >= 5
    assert any("float32" in sentence for sentence in rendered.reading)


@pytest.mark.parametrize("start", [0, 1])
def test_render_draws_what_it_has_from_half_the_cells(tiny, tmp_path, start):
    half = dict(list(tiny.items())[start::2])
    rendered = precision.render(half, tmp_path)
    assert rendered.figures and rendered.reading
    for file, _ in rendered.figures:
        assert (tmp_path / file).exists()
    empty = precision.render({}, tmp_path)
    assert not empty.figures and not empty.tables and not empty.reading


def test_the_v_curves_truth_is_the_closed_form_gradient(tiny):
    """Logistic regression's mean binary cross-entropy has ∇_W = Xᵀ(σ(z) − y)/B and
    ∇_b = mean(σ(z) − y)."""
    problem = precision.edition(precision.TINY_MODEL, "float64", 0)
    theta, X, Y = problem.theta0, problem.X, problem.Y
    W, b = theta[:-1].reshape(-1, 1), theta[-1:]
    residual = 1 / (1 + np.exp(-(X @ W + b))) - Y
    closed = np.concatenate([(X.T @ residual).ravel(), residual.sum(axis=0)]) / len(X)
    curve = tiny[f"v-curve/{precision.TINY_MODEL}/fd-central"]
    assert curve["index"] == int(np.argmax(np.abs(closed[:-1])))     # the steepest weight
    assert abs(curve["exact"] - closed[curve["index"]]) <= 1e-13 * abs(closed[curve["index"]])


def test_central_difference_bottoms_out_near_the_theoretical_step(tiny):
    curve = tiny[f"v-curve/{precision.TINY_MODEL}/fd-central"]
    assert curve["theoretical_step"] / 10 <= curve["best_step"] <= curve["theoretical_step"] * 10
    assert abs(curve["truncation_slope"] - 2) < 0.25


def test_each_v_curve_rises_with_its_methods_order(tiny):
    """The truncation arm's slope is the stencil's accuracy order (the method's own scheme and
    order, as the registry holds them): 1, 2 and 4 for forward, central and central4; 2 for
    the complex step."""
    slopes = {}
    for method in precision.V_METHODS:
        curve = tiny[f"v-curve/{precision.TINY_MODEL}/{method}"]
        assert curve["order"] == {"fd-forward": 1, "fd-central": 2, "fd-central4": 4,
                                  "complex-step": 2}[method]
        assert abs(curve["truncation_slope"] - curve["order"]) <= 0.25 * curve["order"], method
        slopes[method] = curve["truncation_slope"]
    assert slopes["fd-forward"] < slopes["fd-central"] < slopes["fd-central4"]
    # only the stencils have a round-off arm: ε/h, slope −1
    assert all(-1.2 < tiny[f"v-curve/{precision.TINY_MODEL}/{m}"]["roundoff_slope"] < -0.8
               for m in ("fd-forward", "fd-central", "fd-central4"))
    assert tiny[f"v-curve/{precision.TINY_MODEL}/complex-step"]["roundoff_slope"] is None


def test_every_profile_asks_each_method_only_for_what_it_computes():
    """ad-differences computes Hessians and HVPs only; aliases are not measured twice."""
    for name in ("tiny", "quick", "full"):
        for cell in precision.cells(Profile(name, seed=0)):
            if cell.key.startswith("v-curve/"):
                continue
            if cell.key.startswith("family/"):
                _, methods, _ = cell.run.args
                assert all("gradient" in difflab.differentiator(m).quantities for m in methods)
                continue
            _, quantity, _, methods, _ = cell.run.args
            assert methods and "reference" not in methods, cell.key
            assert len({difflab.interface.canonical(m) for m in methods}) == len(methods)
            for method in methods:
                assert quantity in difflab.differentiator(method).quantities, (cell.key, method)
            if name != "tiny":
                assert ("ad-differences" in methods) == (quantity in ("hessian", "hvp")), \
                    cell.key


def test_complex_step_is_exact_to_rounding_at_its_step(tiny):
    curve = tiny[f"v-curve/{precision.TINY_MODEL}/complex-step"]
    steps, errors = np.array(curve["steps"]), np.array(curve["errors"])
    at_rule = errors[np.argmin(np.abs(np.log(steps / curve["theoretical_step"])))]
    assert at_rule <= 1e-14
    assert curve["flat_until"] >= 1e6 * curve["theoretical_step"]


def test_float32_cannot_beat_its_rounding_floor(tiny):
    result = tiny[f"{precision.TINY_MODEL}/gradient/float32"]
    eps32 = float(np.finfo(np.float32).eps)
    assert 0 < result["floor"] <= eps32
    for row in result["methods"]:        # rounding to nearest is the closest float32 vector
        assert row["error"] >= result["floor"] * (1 - 1e-9), row["method"]


def test_a_symbolic_budget_stop_is_a_result_not_a_failure(monkeypatch, tmp_path):
    class Stopped:
        def gradient(self, f, theta):
            raise SwellLimitError("differentiate", "derivative nodes", 3e6, 2e6)

    monkeypatch.setattr(precision, "differentiator", lambda name: Stopped()
                        if name == "symbolic-tree" else difflab.differentiator(name))
    result = precision.error_cell(precision.TINY_MODEL, "gradient", "float64",
                                  ("ad", "symbolic-tree"), 0)
    rows = {row["method"]: row for row in result["methods"]}
    assert rows["symbolic-tree"]["status"] == "budget"
    assert "budget" in rows["symbolic-tree"]["message"]
    assert rows["ad"]["status"] == "ok" and rows["ad"]["digits"] > 14
    rendered = precision.render({"only": result}, tmp_path)
    assert any("budget" in sentence and "symbolic-tree" in sentence
               for sentence in rendered.reading)
    assert ["budget"] == [c for row in rendered.tables[0].rows for c in row if c == "budget"]


def test_float32_panels_take_each_quantitys_own_methods(tmp_path):
    """ad-differences computes Hessians and no gradient: the float32 figure asked the tolerance
    table for its gradient row and the section was not drawn (a silent hole in the report)."""
    from difflab.report.sections import precision
    results = [precision.error_cell("logistic-regression", quantity, dtype, methods)
               for quantity, methods in (("gradient", ("ad",)),
                                         ("hessian", ("ad", "ad-differences")))
               for dtype in ("float64", "float32")]
    rendered = precision.render({str(k): r for k, r in enumerate(results)}, tmp_path)
    assert "precision-float32.png" in [file for file, _ in rendered.figures]
    rows = next(t for t in rendered.tables if t.caption.startswith("float32 beside")).rows
    assert ("gradient", "ad-differences") not in {(r[0], r[1]) for r in rows}
    assert ("hessian", "ad-differences") in {(r[0], r[1]) for r in rows}


def test_hvp_cells_measure_along_a_seeded_unit_direction():
    """The HVP's truth is the reference Hessian times the section's v (a second computation
    of the same number), and every method of the tiny profile lands within its tolerance."""
    from difflab import reference
    from difflab.report.sections import precision
    problem = precision.edition(precision.TINY_MODEL, "float64")
    v = precision.direction(problem.theta0.size)
    assert np.isclose(np.linalg.norm(v), 1.0)
    assert np.array_equal(v, precision.direction(problem.theta0.size))      # seeded
    H = np.array(reference.hessian(problem.objective, problem.theta0), dtype=float)
    truth = np.array(precision.exact(precision.TINY_MODEL, "hvp"), dtype=float)
    assert np.allclose(truth, H @ v, rtol=1e-13, atol=0)
    cell = precision.error_cell(precision.TINY_MODEL, "hvp", "float64",
                                precision.TINY_METHODS)
    assert {row["method"] for row in cell["methods"]} == set(precision.TINY_METHODS)
    for row in cell["methods"]:
        assert row["status"] == "ok" and row["error"] <= row["tolerance"], row


def test_the_families_table_says_which_methods_notice_the_l1_kink():
    """l1-mlp starts with its biases at exactly 0, the kink of l1·|θ|: the kinks the cell
    reports are θ₀'s zero entries, counted here from θ₀ itself; the finite differences refuse
    them, and AD's and the symbolic method's abs′(0) = 0 lies between the one-sided values."""
    from difflab import models
    from difflab.report.sections import precision
    theta = models.get("l1-mlp").theta0
    cell = precision.family_cell("l1-mlp", precision.FAMILY_METHODS)
    assert cell["kinks"] == int(np.sum(theta == 0)) > 0
    rows = {row["method"]: row for row in cell["methods"]}
    for method in ("complex-step", "fd-central", "fd-richardson"):
        assert rows[method]["status"] == "kink", rows[method]
    for method in ("ad", "symbolic"):
        assert rows[method]["between_one_sided"] is True
        assert rows[method]["error"] <= rows[method]["tolerance"]
    bn = precision.family_cell("batchnorm-mlp", ("ad", "symbolic"))
    assert bn["batch_mean"] is False
    assert all(row["error"] <= row["tolerance"] for row in bn["methods"])
    twin = precision.family_cell("dropout-mlp", ("ad", "symbolic"))
    rendered = precision.render({"a": cell, "b": bn, "c": twin}, pathlib.Path("."))
    text = " ".join(rendered.reading)
    assert f"at {cell['kinks']} entries" in text and "noticed and refused them" in text
    sizes = [next(r["size"] for r in c["methods"] if r["method"] == "symbolic")
             for c in (bn, twin)]
    assert sizes[0] > sizes[1]              # the whole batch traced, against one example
    assert "batchnorm-mlp is not a per-example mean" in text
    assert f"{sizes[0] / sizes[1]:.0f}× the operations" in text
