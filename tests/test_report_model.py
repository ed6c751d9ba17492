"""``difflab report --model FILE.py:FUNC``: the report on a user's own objective (issue 18,
item 7), run on a model file written for this test (tests/user_models/tiny_regression.py)."""

from pathlib import Path

import numpy as np
import pytest

from difflab import reference
from difflab.cli import main
from difflab.pytree import ravel
from difflab.report import report
from difflab.report.sections import yours

MODELS = Path(__file__).resolve().parent / "user_models"
TARGET = f"{MODELS / 'tiny_regression.py'}:loss"


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    folder = tmp_path_factory.mktemp("yours") / "report"
    status = main(["report", "--model", TARGET, "--profile", "tiny", "--out", str(folder)])
    return status, folder, (folder / "summary.md").read_text()


def test_the_report_names_the_model_in_every_section(page):
    status, folder, summary = page
    assert status == 0
    assert summary.startswith("# difflab report: loss in tiny_regression.py")
    titles = [line[3:] for line in summary.splitlines() if line.startswith("## ")]
    assert titles == ["Your model: loss in tiny_regression.py",
                      "Precision on loss in tiny_regression.py",
                      "Runtime on loss in tiny_regression.py",
                      "Newton's method on loss in tiny_regression.py",
                      "Memory on loss in tiny_regression.py"]
    for figure in ("yours-precision.png", "yours-runtime.png", "yours-newton.png"):
        assert (folder / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| expression swell | it sweeps the depth and width" in summary
    assert "| gradient flow |" in summary


def test_the_precision_rows_are_errors_against_an_independent_reference(page):
    """The parameter count and one method's error, recomputed here from the model file."""
    _, folder, summary = page
    import importlib.util
    spec = importlib.util.spec_from_file_location("tiny_regression_again",
                                                  MODELS / "tiny_regression.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    theta, unravel = ravel(module.params())
    assert theta.size == 2 * 3 + 3 + 3
    assert f"{theta.size} parameters" in summary
    truth = np.array(reference.gradient(lambda t: module.loss(unravel(t)), theta), dtype=float)
    h = 1e-6
    e = np.zeros_like(theta)
    e[0] = h
    central = (module.loss(unravel(theta + e)) - module.loss(unravel(theta - e))) / (2 * h)
    assert truth[0] == pytest.approx(central, rel=1e-7)
    rows = [line for line in summary.splitlines() if line.startswith("| gradient |")]
    assert {row.split("|")[2].strip() for row in rows} >= {"ad", "fd-central", "symbolic"}
    assert all(row.split("|")[5].strip() == "yes" for row in rows), rows


def test_a_method_that_refuses_the_model_is_a_row_not_a_failed_cell(tmp_path):
    status = main(["report", "--model", f"{MODELS / 'tiny_regression.py'}:ranked", "--profile",
                   "tiny", "--out", str(tmp_path / "ranked")])
    summary = (tmp_path / "ranked" / "summary.md").read_text()
    assert status == 0, summary
    assert "| gradient | symbolic | refused |" in summary
    assert "symbolic could not take this model" in summary


def test_sections_that_do_not_apply_are_skipped_with_the_reason():
    assert set(yours.skipped(10)) == {"expression swell", "gradient flow"}
    large = yours.skipped(yours.NEWTON_LIMIT + 1)
    assert "Newton's method" in large and "Hessian precision" in large
    assert str(yours.NEWTON_LIMIT + 1) in large["Newton's method"]
    model = yours.YourModel("big", lambda p: dnp_sum(p), np.ones(yours.NEWTON_LIMIT + 1))
    names = [s.NAME for s in yours.sections(model)]
    assert "yours-newton" not in names and "yours-precision" in names


def dnp_sum(p):
    import difflab.numpy as dnp
    return dnp.sum(p ** 2)


def test_model_and_sections_together_are_refused(tmp_path, capsys):
    status = main(["report", "--model", TARGET, "--sections", "runtime", "--out",
                   str(tmp_path / "both")])
    assert status == 2
    assert "--sections" in capsys.readouterr().err


def test_a_missing_function_is_a_clear_error(tmp_path, capsys):
    status = main(["report", "--model", f"{MODELS / 'tiny_regression.py'}:nothing", "--out",
                   str(tmp_path / "missing")])
    assert status == 2
    assert "has no 'nothing'" in capsys.readouterr().err


def test_report_takes_the_model_object_directly(tmp_path):
    model = yours.YourModel("quadratic", dnp_sum, np.array([1.0, -2.0]))
    outcome = report(profile="tiny", out=tmp_path / "direct", model=model)
    assert not outcome.failed
    html = (tmp_path / "direct" / "report.html").read_text()
    assert "Precision on quadratic" in html
