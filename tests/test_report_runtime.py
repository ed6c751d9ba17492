"""The runtime section: the tiny profile's cells run and render (whole or in part), and its
analysis — the fitted slope and the break-even count — matches closed forms. No assertion
reads a real timing."""

import json
import math

import pytest

from difflab.errors import SwellLimitError
from difflab.report import Profile
from difflab.report.sections import runtime


@pytest.fixture(scope="module")
def tiny():
    return {cell.key: cell.run() for cell in runtime.cells(Profile("tiny", seed=0))}


def _figures_exist(rendered, folder):
    for file, _ in rendered.figures:
        assert (folder / file).stat().st_size > 0, file


def test_tiny_cells_cover_every_quantity_and_method(tiny):
    assert {(r["quantity"], r["method"]) for r in tiny.values()} == {
        (q, m) for q in runtime.QUANTITIES for m in runtime.METHODS}
    sizes = {r["n"] for r in tiny.values() if r["quantity"] == "gradient"}
    assert len(sizes) >= 2, "a slope needs two sizes"


def test_tiny_results_are_plain_json_with_the_interface_counts(tiny):
    assert json.loads(json.dumps(tiny)) == tiny
    for r in tiny.values():
        assert "stopped" not in r, r
        for clock in (r["seconds"], r["forward"]):
            assert 0 < clock["min"] <= clock["median"] <= clock["max"]
        if r["method"] == "fd-central" and r["quantity"] == "gradient":
            # a ± pair per parameter at h and at 2h (the error estimate every numeric
            # derivative carries), more where the steps adapt
            assert r["evaluations"] >= 4 * r["n"]
        if r["method"] == "ad":
            assert r["tape_nodes"] > 0
        if r["method"] == "symbolic":
            assert r["expression_size"] > 0


def test_render_draws_every_figure(tiny, tmp_path):
    rendered = runtime.render(tiny, tmp_path)
    assert [file for file, _ in rendered.figures] == [
        "runtime-time.png", "runtime-forward.png", "runtime-symbolic.png"]
    _figures_exist(rendered, tmp_path)
    assert len(rendered.tables) == 4
    assert all(isinstance(s, str) and s for s in rendered.reading)
    assert any("forward passes" in s for s in rendered.reading)


@pytest.mark.parametrize("keep", [
    lambda r: r["quantity"] == "hessian" and r["method"] != "symbolic",
    lambda r: r["quantity"] == "gradient" and r["method"] in ("symbolic", "fd-central"),
    lambda r: r["n"] == 7 and r["quantity"] == "jacobian" and r["method"] == "ad",
], ids=["one quantity, no symbolic", "symbolic without AD", "one cell"])
def test_render_draws_whatever_subset_succeeded(tiny, tmp_path, keep):
    subset = {key: r for key, r in tiny.items() if keep(r)}
    assert subset
    rendered = runtime.render(subset, tmp_path)
    assert rendered.figures and rendered.reading
    _figures_exist(rendered, tmp_path)


def test_render_with_nothing_measured(tmp_path):
    rendered = runtime.render({}, tmp_path)
    assert rendered.figures == [] and rendered.reading


class _Swelling:
    """A differentiator whose symbolic build goes past its budget."""

    def prepare(self, f, theta, quantity):
        raise SwellLimitError("differentiate", "assignments", 3e6, 2e6)


def test_a_budget_stop_is_a_result_not_a_failure(tiny, tmp_path, monkeypatch):
    monkeypatch.setattr(runtime, "differentiator", lambda name: _Swelling())
    stopped = runtime.measure("gradient", "symbolic", (2, 3, 1), 2, 0,
                              runtime.Clock(2, 0.001, 0.01))
    assert stopped["stopped"] == {"stage": "differentiate", "what": "assignments",
                                  "reached": 3e6, "limit": 2e6}
    json.dumps(stopped)
    results = {key: r for key, r in tiny.items() if r["quantity"] == "gradient"}
    results["gradient/symbolic/2-3-1"] = stopped
    rendered = runtime.render(results, tmp_path)
    _figures_exist(rendered, tmp_path)
    assert any("Stopped by the symbolic budget" in s and "n = 13" in s
               for s in rendered.reading)
    times = next(t for t in rendered.tables if t.caption.startswith("Time per call"))
    assert any("stopped by budget" in row for row in times.rows)


# Analysis against closed forms.

@pytest.mark.parametrize("k", [0.0, 0.5, 1.0, 2.0, 3.0])
def test_fit_slope_recovers_a_power_law(k):
    ns = [7, 13, 25, 56, 121]
    fitted_k, fitted_c = runtime.fit_slope(ns, [3e-4 * n ** k for n in ns])
    assert fitted_k == pytest.approx(k, abs=1e-12)
    assert fitted_c == pytest.approx(3e-4, rel=1e-12)


def test_fit_slope_needs_two_sizes():
    assert runtime.fit_slope([13], [1e-3]) is None
    assert runtime.fit_slope([13, 13], [1e-3, 2e-3]) is None


@pytest.mark.parametrize("setup, t_symbolic, t_ad", [
    (0.5, 1e-4, 7e-4), (2.3, 3.1e-3, 4.0e-3), (0.07, 2e-5, 9e-4), (11.0, 0.85, 1.0)])
def test_break_even_is_the_closed_form(setup, t_symbolic, t_ad):
    count = runtime.break_even(setup, t_symbolic, t_ad)
    assert count == math.ceil(setup / (t_ad - t_symbolic))
    assert setup + count * t_symbolic <= count * t_ad * (1 + 1e-12)
    assert setup + (count - 1) * t_symbolic > (count - 1) * t_ad


def test_break_even_never_when_symbolic_evaluation_is_not_faster():
    assert runtime.break_even(0.1, 2e-3, 1e-3) is None
    assert runtime.break_even(0.1, 1e-3, 1e-3) is None


def _cell(quantity, method, n, t, forward, setup=0.0, evaluations=None):
    def clock(s):
        return {"median": s, "min": s * 0.9, "max": s * 1.2, "repeats": 3}
    return {"quantity": quantity, "method": method, "widths": [1, n, 1], "batch": 4, "n": n,
            "m": 1, "forward": clock(forward), "seconds": clock(t), "setup_seconds": setup,
            "first_call_seconds": setup + t, "first_call_wall_seconds": setup + t,
            "evaluations": evaluations, "complex_evaluations": None, "tape_nodes": None,
            "expression_size": None}


def test_the_reading_is_computed_from_the_data(tmp_path):
    """Synthetic timings with known exponents: the reading states those exponents, the
    cheap-gradient ratio, and the break-even counts of the closed form."""
    ns = (8, 16, 32, 64)
    forward = 1e-4
    results = {}
    for n in ns:
        results[f"ad/{n}"] = _cell("gradient", "ad", n, 4 * forward, forward)
        results[f"fd/{n}"] = _cell("gradient", "fd-central", n, 2 * n * forward, forward,
                                   evaluations=2 * n)
        results[f"sym/{n}"] = _cell("gradient", "symbolic", n, 1e-5 * n, forward,
                                    setup=1e-2 * n ** 1.5)
    rendered = runtime.render(results, tmp_path)
    _figures_exist(rendered, tmp_path)
    reading = " ".join(rendered.reading)
    assert ("k = 0.00 for ad (n = 8–64), 1.00 for fd-central (n = 8–64) and 1.00 for "
            "symbolic (n = 8–64)") in reading
    assert "the forward pass of f itself grows with k = 0.00" in reading
    assert "AD's gradient costs 4 forward passes over n = 8–64" in reading
    assert "about constant" in reading
    assert "fd-central costs 128 at n = 64 (128 calls of f)" in reading
    assert "growing as n^1.50" in reading
    expected = [runtime.break_even(1e-2 * n ** 1.5, 1e-5 * n, 4e-4) for n in ns]
    assert expected[-1] is None                         # 6.4e-4 s is slower than AD's 4e-4
    assert "never pays off at that size" in reading
    assert ", ".join(f"{count:,} at n = {n}" for count, n in zip(expected, ns)
                     if count is not None) in reading
