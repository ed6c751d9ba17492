"""The report's memory section: its cells, what it draws, and its numbers against facts known
without difflab (an array of k float64 takes 8k bytes; the AD tape is what ad.trace says)."""

import json

import numpy as np
import pytest

from difflab import ad, models
from difflab.report import Profile
from difflab.report.sections import memory


@pytest.fixture(scope="module")
def results():
    return {cell.key: cell.run() for cell in memory.cells(Profile("tiny"))}


def test_peak_bytes_sees_an_array_of_known_size():
    k = 250_000
    peak, value = memory.peak_bytes(lambda: np.ones(k))
    assert value.nbytes == 8 * k
    assert 8 * k <= peak < 8 * k + 64 * 1024          # the array, and little else


def test_tiny_cells_are_json_and_measure_every_method_and_quantity(results):
    json.dumps(results)
    assert {(r["quantity"], r["method"]) for r in results.values()} == {
        (q, m) for q in memory.QUANTITIES for m in memory.METHODS}
    for r in results.values():
        assert r["peak_bytes"] > 0 and r["forward_bytes"] > 0, r


def test_ad_keeps_its_tape_and_the_symbolic_method_its_code(results):
    for r in results.values():
        if r["method"] == "ad":
            problem = models.get("mlp", widths=tuple(r["widths"]), batch=4)
            assert r["kept"] == "tape"
            assert r["kept_bytes"] == ad.trace(problem.objective, problem.theta0).saved_bytes
        elif r["method"] == "symbolic":
            assert r["kept"] == "code" and r["kept_bytes"] > 100
        else:
            assert r["kept"] is None


def test_the_page_is_drawn_from_the_data(results, tmp_path):
    rendered = memory.render(results, tmp_path)
    assert [file for file, _ in rendered.figures] == ["memory.png"]
    assert (tmp_path / "memory.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    (table,) = rendered.tables
    assert len(table.rows) == len(results)
    top = max(r["n"] for r in results.values() if r["quantity"] == "gradient")
    at_top = sorted((r for r in results.values()
                     if r["quantity"] == "gradient" and r["n"] == top),
                    key=lambda r: r["peak_bytes"])
    sentence = next(s for s in rendered.reading if s.startswith("Gradient at n"))
    assert f"least memory {at_top[0]['method']}" in sentence
    assert f"most {at_top[-1]['method']}" in sentence
    assert memory.render({}, tmp_path).figures == []
