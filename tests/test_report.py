"""The report machinery: cells become JSON lines as they finish, a failing cell is isolated,
an interrupted run keeps its results and resumes measuring only what is missing, and the page
references only images that exist.
"""

import json
import re
import types
from pathlib import Path

import pytest

from difflab.report import (Cell, Profile, Rendered, ReportError, read_results, report,
                            validate_line)
from difflab.report.page import Table
from difflab.report.runner import latest_results


def _section(name, keys, calls, fail=(), interrupt=None):
    """A section whose cells record their calls; ``fail`` raise, ``interrupt`` is Ctrl-C."""
    def make(key):
        def run():
            calls.append(key)
            if key in fail:
                raise ValueError(f"cell {key} broke")
            if key == interrupt:
                raise KeyboardInterrupt
            return {"value": len(key)}
        return run

    def render(results, folder):
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots()
        ax.plot([r["value"] for r in results.values()])
        fig.savefig(Path(folder) / f"{name}.png")
        plt.close(fig)
        return Rendered(figures=[(f"{name}.png", f"{len(results)} cells")],
                        tables=[Table("values", ["key", "value"],
                                      [[k, r["value"]] for k, r in sorted(results.items())])],
                        reading=[f"{len(results)} of {len(keys)} cells measured"])

    return types.SimpleNamespace(NAME=name, TITLE=name.title(),
                                 cells=lambda profile: [Cell(k, make(k)) for k in keys],
                                 render=render)


def _images(html):
    return re.findall(r"<img src='([^']+)'", html)


def test_a_failing_cell_is_isolated_and_shown(tmp_path):
    calls = []
    sections = [_section("alpha", ["a", "bb", "ccc"], calls, fail={"bb"}),
                _section("beta", ["d"], calls)]
    outcome = report(sections, "tiny", root=tmp_path)
    assert calls == ["a", "bb", "ccc", "d"]             # the failure did not stop the run
    assert outcome.failed == [("alpha", "bb", "ValueError: cell bb broke")]
    lines = read_results(outcome.folder)
    for line in lines:
        validate_line(line)
        json.dumps(line)
    cells = latest_results(lines)
    assert cells[("alpha", "bb")]["status"] == "failed"
    assert cells[("alpha", "ccc")]["result"] == {"value": 3}
    html = (outcome.folder / "report.html").read_text()
    assert "cell bb broke" in html and "2 of 3 cells measured" in html
    images = _images(html)
    assert images == ["alpha.png", "beta.png"]
    assert all((outcome.folder / image).is_file() for image in images)
    assert "cell bb broke" in (outcome.folder / "summary.md").read_text()
    assert (tmp_path / "latest").resolve() == outcome.folder.resolve()


def test_an_interrupted_run_resumes_measuring_only_what_is_missing(tmp_path):
    calls = []
    keys = ["a", "b", "c", "d"]
    first = report([_section("alpha", keys, calls, fail={"b"}, interrupt="c")], "tiny",
                   root=tmp_path)
    assert first.interrupted and calls == ["a", "b", "c"]
    html = (first.folder / "report.html").read_text()
    assert "1 of 4 cells measured" in html and "interrupted" in html
    calls.clear()
    second = report([_section("alpha", keys, calls)], "tiny", root=tmp_path, resume=True)
    assert second.folder == first.folder.resolve()
    assert calls == ["b", "c", "d"]                     # a was kept; b failed, so it reruns
    assert second.skipped == 1 and second.measured == 3 and not second.failed
    cells = latest_results(read_results(second.folder))
    assert {key: line["status"] for (_, key), line in cells.items()} == dict.fromkeys(keys, "ok")
    assert "4 of 4 cells measured" in (second.folder / "report.html").read_text()


def test_a_section_that_cannot_render_does_not_sink_the_page(tmp_path):
    broken = _section("alpha", ["a"], [])
    broken.render = lambda results, folder: 1 / 0
    outcome = report([broken, _section("beta", ["b"], [])], "tiny", root=tmp_path)
    html = (outcome.folder / "report.html").read_text()
    assert "was not drawn" in html and "ZeroDivisionError" in html
    assert "1 of 1 cells measured" in html
    # and the run says so: a section not drawn is a failure, so the exit status is not 0
    assert [(name, key) for name, key, _ in outcome.failed] == [("alpha", "drawing")]


def test_a_result_that_is_not_json_is_a_failed_cell(tmp_path):
    section = _section("alpha", ["a"], [])
    section.cells = lambda profile: [Cell("a", lambda: {"array": object()})]
    outcome = report([section], "tiny", root=tmp_path)
    assert outcome.failed and "not JSON serializable" in outcome.failed[0][2]


def test_a_line_cut_by_a_kill_is_dropped_and_its_cell_reruns(tmp_path):
    calls = []
    outcome = report([_section("alpha", ["a", "b"], calls)], "tiny", root=tmp_path)
    results = outcome.folder / "results.jsonl"
    text = results.read_text().splitlines()
    results.write_text("\n".join(text[:-1]) + "\n" + text[-1][:20])   # b's line half written
    calls.clear()
    report([_section("alpha", ["a", "b"], calls)], "tiny", root=tmp_path, resume=True)
    assert calls == ["b"]


@pytest.mark.parametrize("bad", [
    {"type": "cell", "section": "a", "key": "k", "status": "maybe", "seconds": 1, "seed": 0,
     "profile": "tiny"},
    {"type": "cell", "section": "a", "key": "k", "status": "ok", "seconds": 1, "seed": 0,
     "profile": "tiny"},
    {"type": "meta", "started": "now"},
    {"type": "other"},
])
def test_malformed_lines_are_rejected(bad):
    with pytest.raises(ReportError):
        validate_line(bad)


def test_bad_arguments_say_what_to_do(tmp_path):
    with pytest.raises(ReportError, match="unknown section"):
        report(["nonsense"], root=tmp_path)
    with pytest.raises(ReportError, match="unknown profile"):
        report(profile="huge", root=tmp_path)
    with pytest.raises(ReportError, match="nothing to resume"):
        report(resume=True, root=tmp_path)


# The real sections, end to end on the tiny profile.

def test_the_tiny_profile_runs_end_to_end_with_one_cell_made_to_fail(tmp_path, monkeypatch):
    from difflab.report import SECTION_NAMES, section
    flow = section("flow")
    original = flow.cells

    def with_a_broken_cell(profile):
        cells = original(profile)
        broken = cells[0]
        return [Cell(broken.key, lambda: 1 / 0)] + cells[1:]
    monkeypatch.setattr(flow, "cells", with_a_broken_cell)
    outcome = report(profile="tiny", root=tmp_path)
    assert not outcome.interrupted
    assert [(s, error) for s, _, error in outcome.failed] == [
        ("flow", "ZeroDivisionError: division by zero")]
    lines = read_results(outcome.folder)
    for line in lines:
        validate_line(line)
    cells = latest_results(lines)
    measured = {s for (s, _), line in cells.items() if line["status"] == "ok"}
    measuring = {name for name in SECTION_NAMES if section(name).cells(Profile("tiny"))}
    assert measuring == set(SECTION_NAMES) - {"verdict"}     # it reads the others' results
    assert measured == measuring                           # every section has results
    html = (outcome.folder / "report.html").read_text()
    images = _images(html)
    assert len(images) >= 2 * len(SECTION_NAMES)
    assert all((outcome.folder / image).is_file() for image in images)
    assert "was not drawn" not in html
    assert html.count("cell(s) failed") == 1 and "division by zero" in html
    for name in SECTION_NAMES:
        assert f"<section id='{name}'>" in html
    # every figure has alt text, its caption, and the caption states something its data say
    figures = re.findall(r"<img src='[^']+' alt='([^']*)'><figcaption>([^<]*)</figcaption>", html)
    assert len(figures) == len(images)
    for alt, caption in figures:
        assert alt == caption and re.search(r"\d", caption), caption


def test_the_command_resumes_an_interrupted_report(tmp_path, monkeypatch, capsys):
    """Ctrl-C in the third cell: exit 130 and a page; --resume measures the rest only."""
    import io
    from difflab.cli import main
    from difflab.report import section
    newton = section("newton")
    original = newton.cells
    ran = []

    def interrupted_at(key):
        def cells(profile):
            out = []
            for cell in original(profile):
                def run(cell=cell):
                    if cell.key == key:
                        raise KeyboardInterrupt
                    ran.append(cell.key)
                    return cell.run()
                out.append(Cell(cell.key, run))
            return out
        return cells
    keys = [cell.key for cell in original(__import__("difflab").report.Profile("tiny"))]
    monkeypatch.setattr(newton, "cells", interrupted_at(keys[2]))
    folder = tmp_path / "run"
    argv = ["report", "--profile", "tiny", "--sections", "newton", "--out", str(folder)]
    assert main(argv, out=io.StringIO()) == 130
    assert "--resume" in capsys.readouterr().err and ran == keys[:2]
    assert (folder / "report.html").is_file()
    monkeypatch.setattr(newton, "cells", interrupted_at(None))
    ran.clear()
    out = io.StringIO()
    assert main(argv + ["--resume"], out=out) == 0
    assert ran == keys[2:] and out.getvalue().strip() == str(folder / "report.html")


def test_a_folder_is_not_overwritten_nor_resumed_with_another_profile(tmp_path):
    folder = tmp_path / "run"
    report([_section("alpha", ["a"], [])], "tiny", out=folder)
    with pytest.raises(ReportError, match="already holds a report.*--resume"):
        report([_section("alpha", ["a"], [])], "tiny", out=folder)
    with pytest.raises(ReportError, match="profile tiny and seed 0"):
        report([_section("alpha", ["a"], [])], "quick", out=folder, resume=True)
    with pytest.raises(ReportError, match="seed 0"):
        report([_section("alpha", ["a"], [])], "tiny", out=folder, resume=True, seed=7)


def test_a_malformed_record_names_its_line(tmp_path):
    outcome = report([_section("alpha", ["a", "b"], [])], "tiny", root=tmp_path)
    results = outcome.folder / "results.jsonl"
    lines = results.read_text().splitlines()
    lines[1] = json.dumps({"type": "cell", "section": "alpha"})
    results.write_text("\n".join(lines) + "\n")
    with pytest.raises(ReportError, match="results.jsonl:2"):
        read_results(outcome.folder)


def test_ctrl_c_while_drawing_still_writes_the_page(tmp_path):
    def interrupted(results, folder):
        raise KeyboardInterrupt
    first = _section("alpha", ["a"], [])
    first.render = interrupted
    outcome = report([first, _section("beta", ["b"], [])], "tiny", root=tmp_path)
    assert outcome.interrupted
    html = (outcome.folder / "report.html").read_text()
    assert html.count("interrupted while drawing") == 2
    assert "--resume" in html


def test_each_section_runs_once_even_if_named_twice(tmp_path):
    calls = []
    alpha = _section("alpha", ["a"], calls)
    report([alpha, alpha], "tiny", root=tmp_path)
    assert calls == ["a"]


def test_plots_take_each_methods_colour_and_label_from_the_registry():
    from difflab import differentiator, interface
    from difflab.errors import DiffLabError
    from difflab.report import plots

    names = list(interface.REGISTRY) + list(interface.ALIASES)
    assert "symbolic-dag" in names and "ad" in names
    for name in names:
        method = differentiator(name).name
        assert plots.color(name) == interface.STYLES[method].color, name
        assert plots.label(name) == interface.STYLES[method].label, name
    colors = [plots.color(name) for name in interface.REGISTRY]
    assert len(set(colors)) == len(colors)               # every method its own colour
    assert plots.NEUTRAL not in colors                   # a series no method drew
    with pytest.raises(DiffLabError, match="unknown differentiator"):
        plots.color("fd-sideways")
