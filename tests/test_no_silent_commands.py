"""Issue 14, the commands: no output or work is lost without a word, no raw error escapes,
and every exit status means one thing (README, "Exit statuses").

Each test is a reproducer from the issue: before the fix it overwrote, shared, discarded or
raised raw; now it refuses with a named error and exit status 2, or keeps what it measured.
"""

import io
import os
import sys
import types
from pathlib import Path

import pytest

from difflab import interface
from difflab.cli import main
from difflab.errors import DiffLabError, SwellLimitError
from difflab.report import Cell, Rendered, ReportError, read_results, report, runner


def _run(*argv):
    out = io.StringIO()
    return main(list(argv), out=out), out.getvalue()


def _section(name="alpha", keys=("a", "b"), calls=None):
    calls = [] if calls is None else calls

    def make(key):
        def run():
            calls.append(key)
            return {"value": len(key)}
        return run
    return types.SimpleNamespace(NAME=name, TITLE=name.title(),
                                 cells=lambda profile: [Cell(k, make(k)) for k in keys],
                                 render=lambda results, folder: Rendered())


# Item 10: output that is lost.

def test_report_refuses_a_folder_that_holds_a_page_without_results(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "report.html").write_text("my own page")
    (folder / "precision.png").write_bytes(b"my own plot")
    calls = []
    with pytest.raises(ReportError, match=r"already holds a report .*report\.html.*--out"):
        report([_section(calls=calls)], "tiny", out=folder)
    assert calls == []                                  # refused before measuring
    assert (folder / "report.html").read_text() == "my own page"
    assert (folder / "precision.png").read_bytes() == b"my own plot"
    with pytest.raises(ReportError, match="no results to resume"):
        report([_section(calls=calls)], "tiny", out=folder, resume=True)
    assert calls == [] and sorted(p.name for p in folder.iterdir()) == [
        "precision.png", "report.html"]


def test_the_report_command_exits_2_on_a_folder_in_use(tmp_path, capsys):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "report.html").write_text("my own page")
    code, text = _run("report", "--profile", "tiny", "--sections", "newton", "--out",
                      str(folder))
    assert code == 2 and text == ""
    assert "choose another folder with --out" in capsys.readouterr().err
    assert (folder / "report.html").read_text() == "my own page"


def test_two_reports_started_in_the_same_second_get_two_folders(tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "report_name", lambda: "20250101-120000")
    first = report([_section()], "tiny", root=tmp_path)
    second = report([_section()], "tiny", root=tmp_path)
    assert first.folder != second.folder
    assert [first.folder.name, second.folder.name] == ["20250101-120000", "20250101-120000-2"]
    for outcome in (first, second):                     # each kept its own results
        cells = [line for line in read_results(outcome.folder) if line["type"] == "cell"]
        assert [line["key"] for line in cells] == ["a", "b"]
    assert (tmp_path / "latest").resolve() == second.folder.resolve()


def test_a_folder_taken_between_naming_and_making_is_not_shared(tmp_path, monkeypatch):
    """The claim is mkdir's own atomic refusal, not an exists() check before it."""
    monkeypatch.setattr(runner, "report_name", lambda: "20250101-120000")
    (tmp_path / "20250101-120000").mkdir()
    (tmp_path / "20250101-120000-2").write_text("a file in the way")
    assert runner.new_folder(tmp_path) == tmp_path / "20250101-120000-3"


def test_an_out_that_is_a_file_is_a_named_error_before_measuring(tmp_path, capsys):
    file = tmp_path / "taken"
    file.write_text("not a folder")
    calls = []
    for out in (file, file / "below"):
        with pytest.raises(ReportError, match="--out"):
            report([_section(calls=calls)], "tiny", out=out)
    assert calls == [] and file.read_text() == "not a folder"
    code, _ = _run("report", "--profile", "tiny", "--sections", "newton", "--out", str(file))
    assert code == 2 and "is a file, not a folder" in capsys.readouterr().err


def _unwritable_folder(tmp_path):
    """A folder this process cannot create or write in: chmod 500 (ignored by root), else a
    place in Linux's /sys, where even root may not make folders."""
    if os.geteuid() != 0:
        parent = tmp_path / "locked"
        parent.mkdir()
        parent.chmod(0o500)
        return parent / "report"
    if sys.platform.startswith("linux") and Path("/sys").is_dir():
        return Path("/sys/difflab-report-test")
    pytest.skip("no folder here is unwritable to this user")


def test_an_unwritable_out_is_exit_2_before_measuring(tmp_path, capsys, monkeypatch):
    from difflab.report import section
    newton = section("newton")
    ran = []
    monkeypatch.setattr(newton, "cells", lambda profile: [Cell("x", lambda: ran.append(1))])
    folder = _unwritable_folder(tmp_path)
    code, text = _run("report", "--profile", "tiny", "--sections", "newton", "--out",
                      str(folder))
    err = capsys.readouterr().err
    assert code == 2 and text == "" and ran == []
    assert "cannot write the report in" in err and "Traceback" not in err


# Item 11: a byte that is not UTF-8 in results.jsonl.

def test_a_non_utf8_line_is_named_like_any_malformed_record(tmp_path, capsys):
    outcome = report([_section()], "tiny", root=tmp_path)
    results = outcome.folder / "results.jsonl"
    rows = results.read_bytes().split(b"\n")
    rows[1] = rows[1].replace(b'"alpha"', b'"alph\xe9"')           # Latin-1 é
    results.write_bytes(b"\n".join(rows))
    with pytest.raises(ReportError, match=r"results\.jsonl:2 is not UTF-8 text \(byte 0xe9"):
        read_results(outcome.folder)
    with pytest.raises(ReportError, match=r"results\.jsonl:2"):
        report([_section()], "tiny", out=outcome.folder, resume=True)
    code, _ = _run("report", "--profile", "tiny", "--resume", "--out", str(outcome.folder))
    assert code == 2 and "results.jsonl:2 is not UTF-8" in capsys.readouterr().err


def test_a_last_line_cut_inside_a_character_is_dropped_and_its_cell_reruns(tmp_path):
    calls = []
    outcome = report([_section(calls=calls)], "tiny", root=tmp_path)
    results = outcome.folder / "results.jsonl"
    data = results.read_bytes()
    last = data[:-1].rfind(b"\n") + 1
    results.write_bytes(data[:last] + data[last:last + 20] + "é".encode()[:1])
    assert [line.get("key") for line in read_results(outcome.folder)] == [None, "a"]
    calls.clear()
    report([_section(calls=calls)], "tiny", out=outcome.folder, resume=True)
    assert calls == ["b"]
