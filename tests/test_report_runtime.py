"""The runtime section: the tiny profile's cells run and render (whole or in part), and its
analysis — the fitted slope and the break-even count — matches closed forms. No assertion
reads a real timing."""

import json
import re
import math
import statistics

import numpy as np
import pytest

from difflab import differentiator, reference
from difflab.ad import adapter as ad_adapter
from difflab.errors import SwellLimitError
from difflab.interface import tolerance
from difflab.report import Profile, timing
from difflab.report.sections import runtime


@pytest.fixture(scope="module")
def tiny():
    return {cell.key: cell.run() for cell in runtime.cells(Profile("tiny", seed=0))}


def _sweep(results):
    """The sweep's results, without the forward-against-reverse study."""
    return {key: r for key, r in results.items() if "study" not in r}


def _figures_exist(rendered, folder):
    for file, _ in rendered.figures:
        assert (folder / file).stat().st_size > 0, file


def test_tiny_cells_cover_every_quantity_and_method(tiny):
    assert {(r["quantity"], r["method"]) for r in _sweep(tiny).values()} == {
        (q, m) for q in runtime.QUANTITIES for m in runtime.methods_for(q)}
    assert set(runtime.methods_for("hvp")) == {"ad", "symbolic", "ad-differences",
                                               "complex-step", "fd-central"}
    sizes = {r["n"] for r in _sweep(tiny).values() if r["quantity"] == "gradient"}
    assert len(sizes) >= 2, "a slope needs two sizes"


def test_tiny_results_are_plain_json_with_the_raw_samples(tiny):
    assert json.loads(json.dumps(tiny)) == tiny
    for r in _sweep(tiny).values():
        assert "stopped" not in r, r
        clocks = [r["seconds"], r["forward"]] + [r[name] for name in ("setup", "ad_seconds")
                                                 if name in r]
        for clock in clocks:
            samples = clock["samples"]
            assert len(samples) == clock["repeats"] == 3       # tiny's three rounds
            assert clock["median"] == statistics.median(samples)
            assert (clock["low"], clock["high"]) == (min(samples), max(samples))
            assert clock["confidence"] == 0.75
            assert all(s >= 0 for s in samples) and r["forward"]["median"] > 0
        if r["method"] == "symbolic":              # a rebuild and AD in every round
            assert "setup" in r and "ad_seconds" in r
        if r["method"] == "fd-central" and r["quantity"] == "gradient":
            # a ± pair per parameter at h and at 2h (the error estimate every numeric
            # derivative carries), more where the steps adapt
            assert r["evaluations"] >= 4 * r["n"]
        if r["method"] == "ad":
            assert r["tape_nodes"] > 0
        if r["method"] == "symbolic":
            assert r["expression_size"] > 0


def test_quick_and_full_reach_the_asymptotic_sizes():
    for profile, least in (("quick", 10 ** 4), ("full", 10 ** 5)):
        plan = runtime._plan(Profile(profile))
        assert plan["clock"].repeats >= 6          # enough rounds for a 95% interval
        top = runtime.LADDER[plan["rungs"]["gradient"]["ad"] - 1]
        assert runtime.models.get("mlp", widths=top, batch=1).n_params >= least


def test_render_draws_every_figure(tiny, tmp_path):
    rendered = runtime.render(tiny, tmp_path)
    assert [file for file, _ in rendered.figures] == [
        "runtime-forward.png", "runtime-time.png", "runtime-symbolic.png", "runtime-modes.png"]
    _figures_exist(rendered, tmp_path)
    assert [t.caption.split(":")[0].split(" [")[0] for t in rendered.tables] == [
        "Cost in forward passes", "Time per call in ms",
        "Fitted slope k of time ≈ c·nᵏ",
        "The forward pass as fixed overhead plus work, t ≈ a + b·n",
        "Symbolic setup against evaluation (AD timed in the same rounds), and the evaluations "
        "until it beats AD",
        "Jacobian by reverse mode (ad) against forward mode (ad-forward), timed in the same "
        "rounds"]
    assert all("†" in t.caption for t in rendered.tables[:2])      # three rounds: 75%
    assert all(isinstance(s, str) and s for s in rendered.reading)
    assert any("forward passes" in s for s in rendered.reading)


@pytest.mark.parametrize("keep", [
    lambda r: r["quantity"] == "hessian" and r["method"] != "symbolic",
    lambda r: r["quantity"] == "gradient" and r.get("method") in ("symbolic", "fd-central"),
    lambda r: r["n"] == 7 and r["quantity"] == "jacobian" and r.get("method") == "ad",
    lambda r: r["quantity"] == "hvp",
    lambda r: r.get("study") == "modes",
    lambda r: r.get("shape") == "tall",
], ids=["one quantity, no symbolic", "symbolic without AD", "one cell", "HVPs only",
        "forward against reverse mode only", "tall only"])
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
                              runtime.Clock(3, 0.001, 0.01))
    assert stopped["stopped"] == {"stage": "differentiate", "what": "assignments",
                                  "reached": 3e6, "limit": 2e6}
    json.dumps(stopped)
    results = {key: r for key, r in _sweep(tiny).items() if r["quantity"] == "gradient"}
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



# The interval machinery against closed forms and known cases.

@pytest.mark.parametrize("count, j, coverage", [
    (3, 1, 0.75), (5, 1, 0.9375), (6, 1, 1 - 2 / 64), (9, 2, 1 - 2 * 10 / 512),
    (20, 6, 1 - 2 * sum(math.comb(20, i) for i in range(6)) / 2 ** 20)])
def test_median_ranks_are_the_binomial_order_statistics(count, j, coverage):
    assert timing.median_ranks(count) == (j, pytest.approx(coverage, abs=1e-15))
    if j < (count + 1) // 2:                   # the next rank in falls below 95%
        assert timing.median_coverage(count, j + 1) < 0.95


def test_median_interval_of_known_samples():
    samples = [14, 3, 9, 1, 20, 7, 12, 5, 18, 2, 16, 11, 6, 19, 4, 13, 8, 17, 10, 15]
    low, high, coverage = timing.median_interval(samples)
    assert (low, high) == (6, 15)              # Conover's table: ranks 6 and 15 for n = 20
    assert coverage == pytest.approx(0.9586, abs=1e-4)
    assert timing.median_interval([3.0, 1.0, 2.0]) == (1.0, 3.0, 0.75)   # 3 samples: the range


def test_median_interval_covers_the_median_as_often_as_it_says():
    rng = np.random.default_rng(1)
    draws = rng.exponential(size=(4000, 9))    # skewed: the interval needs no symmetry
    covered = [low <= math.log(2) <= high
               for low, high, _ in map(timing.median_interval, draws)]
    assert np.mean(covered) == pytest.approx(timing.median_ranks(9)[1], abs=0.015)


def test_interleaved_rounds_alternate_their_order():
    order = []
    timers = {name: (lambda name=name: order.append(name) or 1.0) for name in "abc"}
    samples = timing.interleaved(timers, 3)
    assert samples == {name: [1.0, 1.0, 1.0] for name in "abc"}
    assert "".join(order) == "abc" "cba" "abc"


def test_percentile_interval_keeps_infinite_ends():
    values = [1.0] * 50 + [math.inf] * 50
    assert timing.percentile_interval(values) == (1.0, math.inf)
    assert timing.separate((1, 2), (3, 4)) == -1
    assert timing.separate((3, 4), (1, 2)) == 1
    assert timing.separate((1, 3), (2, 4)) == 0


def _noisy(values, rounds, spread, seed):
    """Each value times log-normal noise, ``rounds`` samples each."""
    rng = np.random.default_rng(seed)
    return [list(v * np.exp(spread * rng.standard_normal(rounds))) for v in values]


def test_slope_interval_of_a_noisy_power_law_contains_its_exponent():
    ns = [10, 20, 40, 80, 160, 320]
    for k in (0.0, 1.0, 1.5):
        samples = _noisy([2e-4 * n ** k for n in ns], 6, 0.1, seed=int(10 * k))
        fitted, low, high = runtime.slope_interval(ns, samples)
        assert low <= k <= high and low <= fitted <= high
        assert high - low < 0.2
        assert runtime.slope_interval(ns, samples) == (fitted, low, high)   # seeded
    exact = runtime.slope_interval(ns, [[3e-4 * n] * 3 for n in ns])
    assert exact == pytest.approx((1.0, 1.0, 1.0), abs=1e-12)
    assert runtime.slope_interval([13, 13], [[1e-3], [2e-3]]) is None


def test_overhead_fit_and_crossover_on_exact_and_noisy_data():
    a, b = 2e-5, 1e-9                          # n* = a/b = 20,000
    ns = [100, 1000, 10_000, 40_000, 160_000]
    assert runtime.overhead_fit(ns, [a + b * n for n in ns]) == pytest.approx((a, b))
    assert runtime.crossover(a, b) == pytest.approx(2e4)
    assert runtime.crossover(-1e-6, b) == 0 and runtime.crossover(a, 0.0) == math.inf
    exact = runtime.crossover_interval(ns, [[a + b * n] * 3 for n in ns])
    assert exact == pytest.approx((2e4, 2e4, 2e4))
    point, low, high = runtime.crossover_interval(
        ns, _noisy([a + b * n for n in ns], 6, 0.05, seed=3))
    assert low <= 2e4 <= high and low <= point <= high


def test_break_even_interval_separates_or_cannot_tell():
    setup, t_sym, t_ad = _noisy([0.5, 1e-4, 6e-4], 6, 0.05, seed=4)
    point, low, high = runtime.break_even_interval(setup, t_sym, t_ad)
    assert low <= point <= high
    assert low <= 0.5 / 5e-4 <= high
    same = _noisy([1e-4, 1e-4], 6, 0.2, seed=5)
    point, low, high = runtime.break_even_interval([0.5] * 6, *same)
    assert low is not None and high is None    # faster in some draws, never in others
    assert runtime.break_even_interval([0.5] * 3, [2e-4] * 3, [1e-4] * 3) == (None, None, None)


# Readings built from synthetic results.

def _cell(quantity, method, n, t, forward, setup=None, ad=None, evaluations=None):
    """A result as ``measure`` returns it; ``t``, ``forward`` (and the symbolic ``setup``,
    ``ad``) are per-round seconds, or one number repeated over six rounds."""
    def clock(s):
        return timing.summary(s if isinstance(s, list) else [s] * 6)
    r = {"quantity": quantity, "method": method, "widths": [1, n, 1], "batch": 4, "n": n,
         "m": 1, "forward": clock(forward), "seconds": clock(t),
         "first_call_seconds": 1e-3, "first_call_wall_seconds": 1e-3,
         "evaluations": evaluations, "complex_evaluations": None, "tape_nodes": None,
         "expression_size": None}
    if setup is not None:
        r["setup"], r["ad_seconds"] = clock(setup), clock(ad)
    return r


def test_the_reading_is_computed_from_the_data(tmp_path):
    """Exact timings with known exponents: the reading states those exponents (intervals of
    zero width), the cheap-gradient ratio, and the break-even counts of the closed form."""
    ns = (8, 16, 32, 64)
    forward = 1e-4
    results = {}
    for n in ns:
        results[f"ad/{n}"] = _cell("gradient", "ad", n, 4 * forward, forward)
        results[f"fd/{n}"] = _cell("gradient", "fd-central", n, 2 * n * forward, forward,
                                   evaluations=2 * n)
        results[f"sym/{n}"] = _cell("gradient", "symbolic", n, 1e-5 * n, forward,
                                    setup=1e-2 * n ** 1.5, ad=4e-4)
    rendered = runtime.render(results, tmp_path)
    _figures_exist(rendered, tmp_path)
    reading = " ".join(rendered.reading)
    for part in ("0.00 [0.00, 0.00] for ad (n = 8–64)", "1.00 [1.00, 1.00] for fd-central",
                 "1.00 [1.00, 1.00] for symbolic"):
        assert part in reading
    assert "fd-central 16 [16–16] → 128 [128–128] (n = 8–64), slope 1.00 [1.00, 1.00]: the " \
           "data cannot tell its growth from n's" in reading
    assert "the forward pass of f itself with k = 0.00 [0.00, 0.00]" in reading
    assert "no work growing with n" in reading and "overhead dominates at every" in reading
    assert "AD's gradient costs 4 [4–4] forward passes at n = 8" in reading
    assert "the data cannot tell it from a constant multiple" in reading
    assert "fd-central costs 128 [128–128] at n = 64 (128 calls of f, its stencil run twice " \
           "for the error estimate and kink check it always makes): AD is faster" in reading
    assert "growing as n^1.50 [1.50, 1.50]" in reading
    expected = [runtime.break_even(1e-2 * n ** 1.5, 1e-5 * n, 4e-4) for n in ns]
    assert expected[-1] is None                         # 6.4e-4 s is slower than AD's 4e-4
    assert "never pays off at that size" in reading
    assert ", ".join(f"{count:,} [{count:,}–{count:,}] at n = {n}"
                     for count, n in zip(expected, ns) if count is not None) in reading
    assert "†" not in " ".join(t.caption for t in rendered.tables)


def test_differences_are_stated_only_when_the_intervals_separate(tmp_path):
    ns = (8, 16, 32, 64)
    forward = _noisy([1e-4] * len(ns), 6, 0.05, seed=6)
    results = {}
    for i, n in enumerate(ns):
        f = forward[i]
        results[f"ad/{n}"] = _cell("gradient", "ad", n, [4 * x for x in f], f)
        # complex-step as fast as AD, but noisier: the two cannot be told apart
        cs = _noisy([4e-4], 6, 0.3, seed=10 + i)[0]
        results[f"cs/{n}"] = _cell("gradient", "complex-step", n, cs, f)
        # central differences as n^1.5 forward passes: faster than n, and slower than AD
        fd = _noisy([n ** 1.5 * 1e-4], 6, 0.05, seed=20 + i)[0]
        results[f"fd/{n}"] = _cell("gradient", "fd-central", n, fd, f, evaluations=2 * n)
    sym_fast = _noisy([1e-5, 4e-4], 6, 0.05, seed=7)
    results["sym/8"] = _cell("gradient", "symbolic", 8, sym_fast[0], forward[0],
                             setup=[0.02] * 6, ad=sym_fast[1])
    # the same times in another order: equal medians, faster in some rounds, slower in others
    even = [x * 1e-4 for x in (3, 4, 5, 6, 7, 8)], [x * 1e-4 for x in (8, 3, 7, 4, 6, 5)]
    results["sym/16"] = _cell("gradient", "symbolic", 16, even[0], forward[1],
                              setup=[0.02] * 6, ad=even[1])
    reading = " ".join(runtime.render(results, tmp_path).reading)
    assert "at n = 64 (128 calls of f, its stencil run twice for the error estimate and kink " \
           "check it always makes): AD is faster" in reading
    assert "the data cannot tell which of AD and complex-step is faster" in reading
    assert re.search(r"fd-central [^;]*, slope 1\.\d\d \[[\d.]+, [\d.]+\]: grows faster than n",
                     reading)
    assert "the data cannot tell whether it ever pays off at that size" in reading
    count = re.search(r"break-even by size: ([\d,]+) \[([\d,]+)–([\d,]+)\] at n = 8", reading)
    assert count and int(count[2]) <= 0.02 / (4e-4 - 1e-5) * 1.2 <= int(count[3]) * 1.2


def test_asymptotic_slopes_above_the_crossover(tmp_path):
    """A forward pass of 20 µs overhead plus 1 ns per parameter crosses over at n* = 20,000;
    slopes above it are compared with 1 only when their intervals exclude it."""
    ns = (100, 1_000, 10_000, 40_000, 160_000, 640_000)
    results = {}
    for n in ns:
        f = 2e-5 + 1e-9 * n
        results[f"ad/{n}"] = _cell("gradient", "ad", n, 4 * f, f)
        results[f"fd/{n}"] = _cell("gradient", "fd-central", n, 1e-12 * n ** 2, f)
    noisy = _noisy([1e-9 * n for n in ns], 6, 0.8, seed=9)
    for n, t in zip(ns, noisy):
        results[f"cs/{n}"] = _cell("gradient", "complex-step", n, t, 2e-5 + 1e-9 * n)
    rendered = runtime.render(results, tmp_path)
    reading = " ".join(rendered.reading)
    assert "the two are equal at n* ≈ 20,000 [20,000–20,000]" in reading
    assert "from n = 40,000 on the work does" in reading
    assert "Above n* (n = 40,000–640,000)" in reading
    assert re.search(r"ad with 0\.\d\d \[[\d.]+, [\d.]+\] \(below 1\)", reading)
    assert "fd-central with 2.00 [2.00, 2.00] (above 1)" in reading
    assert re.search(r"complex-step with [-\d.]+ \[[-\d.]+, [-\d.]+\] \(the data cannot tell "
                     r"it from 1\)", reading)
    slopes = next(t for t in rendered.tables if t.caption.startswith("Fitted slope"))
    assert [row[1] for row in slopes.rows] == ["all sizes", "n ≥ n*"]


# Forward against reverse mode, and HVPs.

@pytest.mark.parametrize("widths, batch", [((2, 3, 3, 1), 2), ((2, 3, 1), 40)],
                         ids=["wide", "tall"])
def test_forward_mode_jacobian_equals_reverse_mode_and_the_reference(widths, batch):
    problem = runtime.models.get("mlp", widths=widths, batch=batch, seed=0)
    F, theta = problem.outputs, problem.theta0
    forward = differentiator("ad-forward").jacobian(F, theta)
    assert forward.shape == (batch, problem.n_params)
    np.testing.assert_allclose(forward, differentiator("ad").jacobian(F, theta),
                               rtol=1e-13, atol=1e-15)
    truth = reference.jacobian(F, theta)
    assert reference.relative_error(forward, truth) <= tolerance("ad-forward", "jacobian")


def test_forward_mode_in_blocks_is_the_same_jacobian(monkeypatch):
    """A budget that forces one parameter per pass gives the one-pass Jacobian."""
    problem = runtime.models.get("mlp", widths=(2, 3, 3, 1), batch=4, seed=1)
    whole = differentiator("ad-forward").jacobian(problem.outputs, problem.theta0)
    monkeypatch.setattr(ad_adapter, "FORWARD_BLOCK_BUDGET", 1)
    prepared = differentiator("ad-forward").prepare(problem.outputs, problem.theta0, "jacobian")
    assert prepared.details()["directions_per_pass"] == 1
    np.testing.assert_allclose(prepared(problem.theta0).value, whole, rtol=1e-14, atol=1e-16)
    gradient = differentiator("ad-forward").gradient(problem.objective, problem.theta0)
    np.testing.assert_allclose(gradient, differentiator("ad").gradient(
        problem.objective, problem.theta0), rtol=1e-13, atol=1e-16)


def test_tiny_wide_and_tall_cells_exist_and_agree(tiny):
    modes = [r for r in tiny.values() if r.get("study") == "modes"]
    assert {r["shape"] for r in modes} == {"wide", "tall"}
    for r in modes:
        assert (r["m"] < r["n"]) if r["shape"] == "wide" else (r["m"] > r["n"])
        assert r["difference"] < 1e-12                     # the two modes' Jacobians
        for clock in (r["modes"]["ad"], r["modes"]["ad-forward"], r["forward"]):
            assert clock["repeats"] == 3 and len(clock["samples"]) == 3
        assert "seconds" not in r        # the sweep's readers (the verdict) skip the study
    assert len({r["m"] for r in modes if r["shape"] == "tall"}) >= 2
    assert len({r["n"] for r in modes if r["shape"] == "wide"}) >= 2


def test_wide_and_tall_render_and_say_where_forward_mode_wins(tmp_path):
    """Tall: forward mode 5× faster in every round; wide: reverse 3× faster; one cell where
    the two alternate: no winner is stated there."""
    def modes_cell(shape, n, m, reverse, forward):
        return {"study": "modes", "shape": shape, "quantity": "jacobian", "widths": [1],
                "batch": m, "n": n, "m": m, "difference": 1e-16,
                "modes": {"ad": timing.summary(reverse), "ad-forward": timing.summary(forward)},
                "forward": timing.summary([1e-4] * len(reverse))}
    rounds = 6
    results = {
        "tall/64": modes_cell("tall", 13, 64, [5e-3] * rounds, [1e-3] * rounds),
        "tall/8": modes_cell("tall", 13, 8, [1e-3, 2e-3] * 3, [2e-3, 1e-3] * 3),
        "wide/121": modes_cell("wide", 121, 2, [1e-3] * rounds, [3e-3] * rounds),
        "wide/841": modes_cell("wide", 841, 2, [1e-3] * rounds, [3e-3] * rounds)}
    rendered = runtime.render(results, tmp_path)
    assert [file for file, _ in rendered.figures] == ["runtime-modes.png"]
    _figures_exist(rendered, tmp_path)
    caption = rendered.figures[0][1]
    assert "tall (m ≫ n), n = 13, m = 8 and 64" in caption
    assert "wide (m ≪ n), m = 2, n = 121 and 841" in caption
    table, = rendered.tables
    faster = {(row[0], row[1], row[2]): row[6] for row in table.rows}
    assert faster == {("tall (m ≫ n)", "13", "8"): "cannot tell",
                      ("tall (m ≫ n)", "13", "64"): "forward mode",
                      ("wide (m ≪ n)", "121", "2"): "reverse mode",
                      ("wide (m ≪ n)", "841", "2"): "reverse mode"}
    reading = " ".join(rendered.reading)
    assert "forward mode is faster at m = 64 (forward ÷ reverse 0.2 [0.2–0.2])" in reading
    assert "the data cannot tell the two apart at m = 8" in reading
    assert "reverse mode is faster at n = 121 (forward ÷ reverse 3 [3–3]) and 841" in reading


def test_never_break_evens_are_in_the_table_and_the_figure(tmp_path):
    """Sizes where the symbolic evaluation is not faster than AD's show as "never" — drawn in
    the figure's never band, named in its caption and written in the table."""
    results = {}
    for n, t_sym in ((8, 1e-5), (16, 2e-5), (32, 9e-4), (64, 2e-3)):
        results[f"sym/{n}"] = _cell("gradient", "symbolic", n, t_sym, 1e-4, setup=0.02,
                                    ad=4e-4)
        results[f"ad/{n}"] = _cell("gradient", "ad", n, 4e-4, 1e-4)
    rendered = runtime.render(results, tmp_path)
    _figures_exist(rendered, tmp_path)
    table = next(t for t in rendered.tables if t.caption.startswith("Symbolic setup"))
    counts = {row[1]: row[-1] for row in table.rows}
    assert counts["32"] == counts["64"] == "never"
    soonest = runtime.break_even(0.02, 1e-5, 4e-4)
    assert counts["8"] == f"{soonest:,} [{soonest:,}–{soonest:,}]"
    caption = dict((file, text) for file, text in rendered.figures)["runtime-symbolic.png"]
    assert "band labelled never" in caption and "gradient n = 32, 64" in caption


def test_hvp_rows_render(tiny, tmp_path):
    hvps = {key: r for key, r in _sweep(tiny).items() if r["quantity"] == "hvp"}
    assert {r["method"] for r in hvps.values()} == set(runtime.methods_for("hvp"))
    rendered = runtime.render(hvps, tmp_path)
    _figures_exist(rendered, tmp_path)
    for caption in ("Cost in forward passes", "Time per call"):
        table = next(t for t in rendered.tables if t.caption.startswith(caption))
        assert table.header[2:] == list(runtime.methods_for("hvp"))
        assert {row[0] for row in table.rows} == {"HVP"}
        assert all(cell != "—" for row in table.rows if row[1] == "7" for cell in row)
    assert any(s.startswith("HVP cost in forward passes") for s in rendered.reading)


def test_a_break_even_resting_on_overlapping_intervals_is_not_stated_as_one():
    """Review of the quick report: a finite break-even (185 at n = 56) was printed where the
    symbolic and AD per-call intervals overlapped ([175–376] µs against [220–423] µs)."""
    symbolic = {"median": 182e-6, "low": 175e-6, "high": 376e-6}
    ad = {"median": 252e-6, "low": 220e-6, "high": 423e-6}
    assert "cannot tell" in runtime._unclear(symbolic, ad, (185, 112, 378))
    faster = {"median": 100e-6, "low": 95e-6, "high": 110e-6}
    assert runtime._unclear(faster, ad, (185, 112, 378)) == ""
    assert runtime._unclear(symbolic, ad, (None, None, None)) == ""     # "never" stands


def test_the_break_even_figure_circles_a_count_the_intervals_do_not_carry(tmp_path):
    """A finite break-even whose symbolic and AD per-call intervals overlap is drawn circled
    and named so in the caption; one resting on separate intervals is not."""
    forward = 1e-4
    overlapping = [x * 1e-5 for x in (10, 12, 14, 16, 18, 40)]       # median 15 µs
    ad = [x * 1e-5 for x in (13, 15, 17, 19, 21, 23)]                 # median 18 µs
    results = {"ad/8": _cell("gradient", "ad", 8, 4 * forward, forward),
               "ad/16": _cell("gradient", "ad", 16, 4 * forward, forward),
               "sym/8": _cell("gradient", "symbolic", 8, 1e-5, forward, setup=0.01, ad=4e-4),
               "sym/16": _cell("gradient", "symbolic", 16, overlapping, forward, setup=0.01,
                               ad=ad)}
    rendered = runtime.render(results, tmp_path)
    caption = next(c for f, c in rendered.figures if f == "runtime-symbolic.png")
    assert "circled, the counts whose per-call intervals overlap" in caption
    assert caption.endswith("gradient n = 16.")
