"""The report's expression-swell section: its tiny cells, what it draws from any subset of
them, and its numbers against facts known without difflab (the logistic map's DAG grows by
7 operations a step, its product-rule derivative more than doubles; the tape counts arrays)."""

import json

import pytest

from difflab.report import Profile
from difflab.report.sections import swell


@pytest.fixture(scope="module")
def results():
    """{key: result} of every tiny cell, each run directly."""
    return {cell.key: cell.run() for cell in swell.cells(Profile("tiny", seed=0))}


@pytest.fixture(scope="module")
def page(results, tmp_path_factory):
    """(folder, Rendered) of every tiny result."""
    folder = tmp_path_factory.mktemp("swell")
    return folder, swell.render(results, folder)


def networks(results, mode):
    return [r for r in results.values() if r.get("mode") == mode]


def test_tiny_cells_give_json_results_and_every_figure(results, page):
    keys = [cell.key for cell in swell.cells(Profile("tiny"))]
    assert len(keys) == len(set(keys)) and set(keys) == set(results)
    for key, result in results.items():
        assert json.loads(json.dumps(result)) == result, key
    folder, rendered = page
    files = [file for file, _ in rendered.figures]
    assert files == ["swell-depth.png", "swell-width.png", "swell-logistic.png"]
    for file in files:
        assert (folder / file).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    symbolic = {(tuple(r["widths"]), r["mode"]) for r in results.values()
                if r.get("mode") in ("dag", "cse", "tree")}
    assert [len(table.rows) for table in rendered.tables] == [
        len({tuple(r["widths"]) for r in networks(results, "tape")}), len(symbolic),
        len(results[swell.LOGISTIC]["rows"])]
    assert rendered.reading and all(s.endswith(".") for s in rendered.reading)


def test_a_swelling_tree_is_stopped_by_the_budget_and_recorded_as_a_result(results):
    deepest = max(r["depth"] for r in networks(results, "tree"))
    for mode in ("tree", "cse"):
        stopped = [r for r in networks(results, mode) if "stopped" in r]
        assert [r["depth"] for r in stopped] == [deepest]
        stop = stopped[0]["stopped"]
        assert stop["stage"] == "differentiate" and stop["reached"] > stop["limit"]
        # the limit that stopped it is the section's own budget, which the results record whole
        budget = stopped[0]["budget"]
        assert set(budget) == {"seconds", "nodes", "derivative_nodes", "lines"}
        assert stop["limit"] == budget["derivative_nodes"], stop
    assert all("size" in r for r in networks(results, "dag"))


def test_the_stage_table_adds_up_to_each_setup_and_names_its_largest_stage(results, page):
    """Each finished symbolic gradient's stages (trace, share, differentiate, compile) add up
    to its setup, and the first evaluation was timed; the reading names, per mode, the stage
    the data say took most."""
    _, rendered = page
    table = rendered.tables[1]
    stages = table.header[2:-2]
    assert stages == ["trace", "share", "differentiate", "compile"]
    for row in table.rows:
        if row[-1].startswith("stopped"):
            continue
        parts = [float(cell) for cell in row[2:6] if cell != "—"]
        assert abs(sum(parts) - float(row[-1])) <= 0.002 * len(parts) + 1e-9, row
        assert row[6] != "—", row                       # the first evaluation was timed
    sentence = next(s for s in rendered.reading if s.startswith("Setup on the largest"))
    dag = [r for r in networks(results, "dag") if "seconds" in r]
    largest = max(dag, key=lambda r: r["params"])
    stage = max(("trace", "share", "differentiate", "compile"),
                key=lambda k: largest["seconds"].get(k, 0.0))
    assert f"in {stage}" in sentence.split(";")[0], sentence


def test_render_draws_whatever_subset_succeeded(results, tmp_path):
    keys = sorted(results)
    subsets = {
        "nothing": [],
        "logistic only": [swell.LOGISTIC],
        "every other cell": keys[::2],
        "tree mode only": [k for k in keys if k.endswith("/tree")],
    }
    for name, subset in subsets.items():
        folder = tmp_path / name.replace(" ", "-")
        folder.mkdir()
        rendered = swell.render({k: results[k] for k in subset}, folder)
        for file, _ in rendered.figures:
            assert (folder / file).exists(), (name, file)
        if not subset:
            assert not rendered.figures and not rendered.tables and not rendered.reading


def test_logistic_map_dag_grows_by_seven_a_step_and_the_product_rule_more_than_doubles(results):
    rows = results[swell.LOGISTIC]["rows"]
    assert len(rows) >= 4                      # the budget leaves far more time than n = 4 needs
    assert [r["n"] for r in rows] == list(range(1, len(rows) + 1))
    offset = 7 * 2 - rows[1]["dag_ops"]
    for r in rows[1:]:
        # reverse mode: each step lₙ₊₁ = 4lₙ(1 − lₙ) adds the same 7 operations to the sweep
        assert r["dag_ops"] == 7 * r["n"] - offset, r
        # lₙ′ expanded has degree 2ⁿ⁻¹ − 1 and no zero coefficient: 2ⁿ⁻¹ − 1 additions at least
        assert r["simplified_ops"] >= 2 ** (r["n"] - 1) - 1, r
    # the product rule writes lₙ₊₁′ = 4lₙ′(1 − lₙ) − 4lₙlₙ′: lₙ′ twice, so more than doubling
    tree = [r["derivative_ops"] for r in rows[2:]]
    assert all(b > 2 * a for a, b in zip(tree, tree[1:])), tree


def test_the_tape_counts_arrays_so_it_grows_with_depth_not_width(results):
    by_depth = {}
    for r in networks(results, "tape"):
        by_depth.setdefault(r["depth"], set()).add(r["size"])
    assert all(len(sizes) == 1 for sizes in by_depth.values()), by_depth
    sizes = [min(by_depth[d]) for d in sorted(by_depth)]
    assert len(sizes) >= 3 and all(b > a for a, b in zip(sizes, sizes[1:])), sizes


def test_reading_states_growth_and_where_the_budget_stopped(results, page, tmp_path):
    text = " ".join(page[1].reading)
    assert "the DAG program grows linearly" in text
    assert "the tree-mode gradient grows geometrically" in text
    assert "stopped the tree and cse modes from depth 3 on" in text
    offset = 7 * 2 - results[swell.LOGISTIC]["rows"][1]["dag_ops"]
    assert f"exactly 7n − {offset}" in text
    logistic = results[swell.LOGISTIC]
    finished = swell.render({swell.LOGISTIC: {**logistic, "stopped": None}}, tmp_path)
    assert f"did not stop the table up to n = {logistic['N']}" in " ".join(finished.reading)
    n = len(logistic["rows"]) + 1
    stopped = {**logistic, "stopped": {"stage": "differentiate", "what": "seconds",
                                       "reached": 0.25, "limit": 0.2, "n": n}}
    rendered = swell.render({swell.LOGISTIC: stopped}, tmp_path)
    assert f"stopped the table at n = {n}" in " ".join(rendered.reading)
    assert f"stopped by budget at n = {n}" in rendered.tables[0].caption


def test_no_panel_mixes_units_and_stops_sit_in_a_band_of_their_own(results):
    """Issue 18, item 9: scalar operations and array nodes on separate panels; a budget stop
    is a ▼ in the band above the symbolic panel, at the x the results record, never among the
    sizes."""
    from difflab.report import plots
    rows = [r for key, r in results.items() if key != swell.LOGISTIC and "depth" in r["sweeps"]]
    fig, symbolic = swell._size_figure(rows, "depth", log_x=False)
    try:
        band, _, tape = fig.axes
        assert symbolic.get_ylabel() == "scalar operations"
        assert tape.get_ylabel() == "array nodes"
        stopped = {(r["mode"], r["depth"]) for r in rows if "stopped" in r}
        marks = {(swell.SYMBOLIC_MODES[int(y)], int(x)) for line in band.lines
                 for x, y in zip(*line.get_data())}
        assert marks == stopped and stopped
        sizes = {(r["mode"], r["depth"], r["size"]) for r in rows
                 if "size" in r and r["mode"] != "tape"}
        drawn = {(x, y) for line in symbolic.lines for x, y in zip(*line.get_data())}
        assert drawn == {(d, s) for _, d, s in sizes}
    finally:
        plots.plt.close(fig)
