"""The report's verdict (issue 18, item 6): which method when, computed from the precision
and runtime sections' results — on synthetic results whose answer is known, and on a tiny run
(the machinery, not the numbers; a second seed with -m slow)."""

import re

import pytest

from difflab.report import report
from difflab.report.sections import verdict


def errors(quantity, n, **rows):
    """A precision result: method → (error, tolerance)."""
    return {"kind": "errors", "dtype": "float64", "quantity": quantity, "n_params": n,
            "model": f"m{n}", "methods": [
                {"method": m, "status": "ok", "error": e, "tolerance": t, "digits": 0.0}
                for m, (e, t) in rows.items()]}


def timed(quantity, method, n, low, median, high, setup=None):
    summary = {"median": median, "low": low, "high": high, "confidence": 0.97,
               "samples": [low, median, high], "repeats": 3}
    result = {"quantity": quantity, "method": method, "n": n, "seconds": summary}
    if setup is not None:
        result["setup"] = {**summary, "median": setup, "low": setup, "high": setup}
    return result


def keyed(results):
    return {str(k): r for k, r in enumerate(results)}


def test_size_classes():
    assert [verdict.size_class(n) for n in (1, 100, 101, 2000, 2001)] == \
        ["small", "small", "medium", "medium", "large"]


def test_the_most_precise_and_the_one_beyond_its_tolerance():
    precision = keyed([errors("gradient", 20, ad=(3e-14, 1e-13), fd=(2e-5, 1e-6)),
                       errors("gradient", 50, ad=(1e-14, 1e-13), fd=(4e-6, 1e-6))])
    row = verdict.verdict("gradient", "small", list(precision.values()), [])
    assert row["precise"]["method"] == "ad"
    assert row["precise"]["text"] == "ad: 2.0e-14 [1.0e-14–3.0e-14] over 2 models"
    assert row["avoid"]["method"] == "fd"
    assert "20× its tolerance" in row["avoid"]["text"]          # 2e-5 / 1e-6


def test_errors_at_the_rounding_level_are_a_tie():
    rows = [errors("hessian", 10, ad=(1e-16, 1e-13), symbolic=(2e-16, 1e-13),
                   fd=(1e-8, 1e-6))]
    row = verdict.verdict("hessian", "small", rows, [])
    assert row["precise"]["tied"] == ["symbolic"] and row["avoid"] is None


def test_separated_intervals_name_a_winner_and_overlapping_ones_a_tie():
    runtime = [timed("gradient", "ad", 500, 1.0e-4, 1.1e-4, 1.2e-4),
               timed("gradient", "symbolic", 500, 0.5e-4, 0.6e-4, 0.7e-4, setup=0.05),
               timed("gradient", "fd", 500, 1e-2, 1.1e-2, 1.2e-2),
               timed("gradient", "ad", 100, 1e-5, 2e-5, 3e-5)]   # another class, ignored
    row = verdict.verdict("gradient", "medium", [], runtime)
    assert row["after"]["method"] == "symbolic" and not row["after"]["tied"]
    assert "at n = 500" in row["after"]["text"]
    # including setup, symbolic's 0.05 s puts it behind AD
    assert row["including"]["method"] == "ad"
    assert row["avoid"]["method"] == "fd" and "183× the fastest" in row["avoid"]["text"]
    overlapping = [timed("gradient", "ad", 500, 1.0e-4, 1.1e-4, 1.3e-4),
                   timed("gradient", "symbolic", 500, 0.9e-4, 1.0e-4, 1.2e-4)]
    row = verdict.verdict("gradient", "medium", [], overlapping)
    assert row["after"]["method"] is None            # a tie names no single winner
    assert row["after"]["tied"] == ["ad"] and "symbolic and ad tie" in row["after"]["text"]
    assert row["avoid"] is None


def test_the_winner_is_found_at_every_n_of_the_class_not_only_the_largest():
    """Symbolic wins at small n and AD at the largest n of the same class: both are said,
    and a method 50× slower at a smaller n is the one to avoid, though it was not measured
    at the largest n."""
    runtime = [timed("hessian", "ad", 7, 5.0e-4, 5.3e-4, 5.6e-4),
               timed("hessian", "symbolic", 7, 1.2e-4, 1.3e-4, 1.4e-4, setup=0.01),
               timed("hessian", "fd", 7, 2.5e-2, 2.6e-2, 2.7e-2),
               timed("hessian", "ad", 56, 0.9e-3, 0.93e-3, 1.0e-3),
               timed("hessian", "symbolic", 56, 1.8e-3, 1.9e-3, 2.1e-3, setup=0.07)]
    row = verdict.verdict("hessian", "small", [], runtime)
    assert row["after"]["winners"] == ["ad", "symbolic"] and row["after"]["method"] is None
    assert row["after"]["text"].startswith("symbolic at n = 7")
    assert "; ad at n = 56" in row["after"]["text"]
    assert row["avoid"]["method"] == "fd" and "at n = 7, 200× the fastest" in row["avoid"]["text"]


def test_a_method_with_few_correct_digits_is_one_to_avoid_whatever_its_tolerance():
    rows = [errors("hvp", 20, ad=(1e-16, 1e-13), fd=(3e-4, 2.5))]      # within 2.5, 3.5 digits
    assert verdict.verdict("hvp", "small", rows, [])["avoid"]["method"] == "fd"


def test_a_class_nobody_measured_has_no_row_and_one_method_alone_is_not_ranked():
    assert verdict.verdict("hvp", "large", [], []) is None
    row = verdict.verdict("gradient", "large", [],
                          [timed("gradient", "ad", 50_000, 1e-3, 2e-3, 3e-3)])
    assert row["after"]["text"].startswith("ad alone measured at n = 50,000")
    assert "method" not in row["after"]


# a second seed runs the same machinery on other numbers: with -m slow
@pytest.mark.parametrize("seed", [0, pytest.param(1, marks=pytest.mark.slow)])
def test_a_tiny_run_gives_a_verdict_table_with_intervals(seed, tmp_path):
    # the runtime section alone: the timing columns are what carry intervals
    outcome = report(sections=["verdict", "runtime"], profile="tiny",
                     out=tmp_path / f"seed{seed}", seed=seed)
    assert not outcome.failed
    summary = (tmp_path / f"seed{seed}" / "summary.md").read_text()
    table = summary.split("## Verdict: which method when")[1].split("## Runtime")[0]
    rows = [line.split(" | ") for line in table.splitlines()
            if line.startswith("| gradient") or line.startswith("| hessian")]
    assert {(r[0].strip("| "), r[1]) for r in rows} == {("gradient", "small"),
                                                       ("hessian", "small")}
    for row in rows:
        for cell in (row[3], row[4]):                # fastest after and including setup
            median, low, high = [_seconds(x) for x in re.search(
                r"\((\S+ \S+) \[(\S+ \S+)–(\S+ \S+?)[,\]]", cell).groups()]
            assert low <= median <= high, cell


def _seconds(text):
    value, unit = text.split()
    return float(value) * {"s": 1, "ms": 1e-3, "µs": 1e-6}[unit]


def test_a_method_only_a_few_times_slower_is_a_trade_off_not_one_to_avoid():
    runtime = [timed("hessian", "ad", 50, 0.9e-3, 1.0e-3, 1.1e-3),
               timed("hessian", "symbolic", 50, 1.9e-3, 2.0e-3, 2.1e-3, setup=0.01)]
    assert verdict.verdict("hessian", "small", [], runtime)["avoid"] is None
