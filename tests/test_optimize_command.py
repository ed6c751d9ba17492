"""``difflab optimize`` and ``difflab.optim.optimize.optimize``: any method, any differentiator,
one table; the minimizers are checked against Rosenbrock's closed form (1, …, 1)."""

import io

import numpy as np
import pytest

from difflab.cli import main
from difflab.errors import DiffLabError
from difflab.optim.optimize import format_summaries, optimize


def _run(*argv):
    out = io.StringIO()
    return main(["optimize", *argv], out=out), out.getvalue()


@pytest.mark.parametrize("method", ["newton", "saddle-free", "trust-region", "steihaug",
                                    "newton-cg", "levenberg-marquardt"])
def test_newtons_family_reaches_rosenbrocks_minimum(method):
    summary = optimize("rosenbrock", method, "ad")
    assert summary.status in ("gradient-norm", "relative-gradient-norm", "step-size")
    assert summary.f_final < 1e-16 and summary.grad_norm <= 1e-8
    assert summary.min_eigenvalue > 0
    assert summary.trace[0][1] == pytest.approx(summary.f_start)
    assert [row[0] for row in summary.trace] == list(range(len(summary.trace)))


def test_the_hessians_source_leaves_the_minimizer_but_shows_in_the_trace():
    runs = {name: optimize("rosenbrock", "newton", name) for name in ("ad", "fd-central")}
    assert all(run.f_final < 1e-14 for run in runs.values())
    ad, fd = (np.array([row[2] for row in runs[n].trace]) for n in ("ad", "fd-central"))
    steps = min(len(ad), len(fd))
    assert np.any(ad[:steps] != fd[:steps])          # the runs are not the same numbers


def test_first_order_methods_reduce_the_loss():
    for method in ("sgd", "adam"):
        summary = optimize("mlp", method, "ad", steps=200, lr=0.05)
        assert summary.f_final < 0.5 * summary.f_start
        assert summary.iterations == 200 and summary.status == "steps-done"


def test_gauss_newton_needs_residuals():
    with pytest.raises(DiffLabError, match="residuals"):
        optimize("mlp-classifier", "gauss-newton")
    with pytest.raises(DiffLabError, match="unknown method"):
        optimize("rosenbrock", "bfgs")
    with pytest.raises(DiffLabError, match="unknown differentiator"):
        optimize("rosenbrock", "newton", "magic")


def test_the_command_prints_progress_then_one_table():
    code, text = _run("rosenbrock", "--method", "newton", "trust-region",
                      "--differentiator", "ad", "fd-central")
    assert code == 0
    assert "newton with ad on rosenbrock:" in text and "‖g‖ = " in text
    table = text[text.index("method "):].splitlines()
    assert len(table) == 5 and table[0].split()[:3] == ["method", "differentiator", "status"]
    assert {tuple(line.split()[:2]) for line in table[1:]} == {
        ("newton", "ad"), ("newton", "fd-central"), ("trust-region", "ad"),
        ("trust-region", "fd-central")}


def test_the_command_reports_bad_requests(capsys):
    code, _ = _run("mlp-classifier", "--method", "gauss-newton", "--quiet")
    assert code == 2 and "residuals" in capsys.readouterr().err


def test_format_summaries_is_one_row_per_run():
    summaries = [optimize("rosenbrock", "newton", "ad"), optimize("rosenbrock", "adam", "ad",
                                                                 steps=5)]
    lines = format_summaries(summaries).splitlines()
    assert len(lines) == 3 and lines[2].startswith("adam")
