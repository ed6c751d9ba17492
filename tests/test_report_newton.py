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


def test_the_page_is_drawn_from_the_data(results, tmp_path):
    rendered = section.render(results, tmp_path)
    assert [file for file, _ in rendered.figures] == ["newton-rosenbrock.png"]
    assert (tmp_path / "newton-rosenbrock.png").is_file()
    run = results["rosenbrock/newton-ad"]
    k = int(np.flatnonzero(np.array(run["grad_norm"]) <= section.TARGET)[0])
    assert f"with the ad Hessian in {k} iterations" in rendered.reading[0]
    (table,) = rendered.tables
    assert len(table.rows) == 3


def test_a_subset_of_cells_still_draws(results, tmp_path):
    rendered = section.render({"rosenbrock/adam": results["rosenbrock/adam"]}, tmp_path)
    assert len(rendered.figures) == 1 and len(rendered.tables[0].rows) == 1
    assert section.render({}, tmp_path).figures == []
