"""The report's Newton section: its cells, its page, and Rosenbrock's known minimum."""

import json

import numpy as np
import pytest

from difflab.report import Profile
from difflab.report.sections import newton as section


@pytest.fixture(scope="module")
def results():
    return {cell.key: cell.run() for cell in section.cells(Profile("tiny"))}


def test_tiny_cells_reach_rosenbrocks_minimum(results):
    assert set(results) == {"rosenbrock/newton-ad", "rosenbrock/newton-fd-central",
                            "rosenbrock/adam"}
    json.dumps(results)
    for hessian in ("ad", "fd-central"):
        run = results[f"rosenbrock/newton-{hessian}"]
        # f(x) = (1 − x₁)² + 100(x₂ − x₁²)² has its minimum 0 at (1, 1), Hessian eigenvalues > 0
        assert run["f"][-1] < 1e-20 and run["grad_norm"][-1] <= 1e-10
        assert run["min_eigenvalue"] > 0 and run["order"] > 1.5
    assert results["rosenbrock/newton-ad"]["f_evaluations"] == 0
    assert results["rosenbrock/newton-fd-central"]["f_evaluations"] > 0
    adam = results["rosenbrock/adam"]
    assert len(adam["grad_norm"]) == adam["nit"] == 60


def test_a_first_order_method_keeps_the_best_rate_of_a_grid_that_brackets_it(results):
    """The grid holds the problem's rates (widened past an edge while that improved), and the
    rate kept is the one whose run ended lowest; it is not at an edge unless widening stopped
    improving there."""
    adam = results["rosenbrock/adam"]
    grid = {g["lr"]: g["f"] for g in adam["grid"]}
    assert set(section.RATES["rosenbrock"]["adam"]) <= set(grid)
    finite = {lr: f for lr, f in grid.items() if f is not None}
    assert adam["lr"] == min(finite, key=finite.get)
    assert adam["f"][-1] == finite[adam["lr"]]
    rates, given = sorted(grid), section.RATES["rosenbrock"]["adam"]
    if adam["lr"] in (rates[0], rates[-1]) and len(rates) > len(given):
        widened = rates[-1] if adam["lr"] == rates[0] else rates[0]
        assert finite.get(widened, float("inf")) >= finite[adam["lr"]]


def test_the_page_is_drawn_from_the_data(results, tmp_path):
    rendered = section.render(results, tmp_path)
    assert [file for file, _ in rendered.figures] == ["newton-rosenbrock.png"]
    assert (tmp_path / "newton-rosenbrock.png").is_file()
    run = results["rosenbrock/newton-ad"]
    k = int(np.flatnonzero(np.array(run["grad_norm"]) <= section.TARGET)[0])
    assert f"with the ad Hessian in {k} iterations" in rendered.reading[0]
    (table,) = rendered.tables
    assert len(table.rows) == 3
    # every Newton iteration's cost is stated in forward passes, the AD Hessian's included
    costs = next(s for s in rendered.reading if s.startswith("Each Newton iteration"))
    assert "forward passes of f with the ad Hessian" in costs
    assert "with the fd-central Hessian (" in costs and "evaluations of f per iteration" in costs
    # first-order runs are judged on both targets, against the best f of any run
    f_best = min(min(r["f"]) for r in results.values())
    assert f"f* = {f_best:.6g}" in table.caption
    adam = next(s for s in rendered.reading if s.startswith("adam"))
    assert "‖∇f‖ ≤ 1e-08" in adam and "f close to f*" in adam


def test_a_subset_of_cells_still_draws(results, tmp_path):
    rendered = section.render({"rosenbrock/adam": results["rosenbrock/adam"]}, tmp_path)
    assert len(rendered.figures) == 1 and len(rendered.tables[0].rows) == 1
    assert section.render({}, tmp_path).figures == []


def test_every_newton_run_is_repeated_and_shown_with_its_interval(results, tmp_path):
    run = results["rosenbrock/newton-ad"]
    totals = run["totals"]
    assert totals["repeats"] == run["repeats"] == len(totals["samples"]) >= 3
    assert totals["low"] <= totals["median"] <= totals["high"]
    assert min(totals["samples"]) == run["total_min"] and max(totals["samples"]) == run["total_max"]
    (table,) = section.render(results, tmp_path).tables
    row = next(r for r in table.rows if r[0] == "Newton, Hessian from ad")
    assert row[3].startswith(f"{totals['median']:.3g} [")
