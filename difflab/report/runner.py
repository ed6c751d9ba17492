"""Sweeps → results → plots → report, a cell at a time, keeping everything measured.

A *section* (``difflab/report/sections/``) lists its *cells* for a profile; each cell is one
measurement, a function returning a JSON-able dict. The runner writes one JSON line per cell
to ``results.jsonl`` the moment it finishes (status, seconds, seed, the result or the error),
after a ``meta`` line with library versions and machine facts. A cell that raises is recorded
as failed and the run goes on; Ctrl-C stops the run, and the report is still written from
what was measured. ``resume=True`` reruns only the cells without an "ok" line.

Then each section renders its plots (PNG), a table and a reading computed from the data, and
``html.write_report`` puts them on one page with a Markdown summary beside it.
"""

import json
import os
import platform
import sys
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from ..errors import DiffLabError
from ..progress import Progress

PROFILES = ("tiny", "quick", "full")
RESULTS = "results.jsonl"


class ReportError(DiffLabError):
    """The report cannot run as asked (unknown section or profile, unreadable results)."""


@dataclass(frozen=True)
class Cell:
    """One measurement: ``run()`` returns a JSON-able dict; ``key`` is unique in its section."""

    key: str
    run: Callable[[], dict]


@dataclass
class Profile:
    name: str = "quick"
    seed: int = 0

    def pick(self, tiny, quick, full):
        """The value for this profile's size."""
        return {"tiny": tiny, "quick": quick, "full": full}[self.name]


@dataclass
class Outcome:
    """What the run did: the folder, the cells by status, and whether it was interrupted."""

    folder: Path
    measured: int = 0
    skipped: int = 0
    failed: list = field(default_factory=list)
    interrupted: bool = False
    seconds: float = 0.0


def machine_facts():
    import matplotlib
    import mpmath
    import numpy
    import sympy
    from .. import __version__
    return {"python": platform.python_version(), "platform": platform.platform(),
            "processor": platform.machine(), "cpus": os.cpu_count(),
            "versions": {"difflab": __version__, "numpy": numpy.__version__,
                         "sympy": sympy.__version__, "mpmath": mpmath.__version__,
                         "matplotlib": matplotlib.__version__}}


def read_results(folder):
    """Every JSON line of ``folder/results.jsonl`` (meta and cells), in order.

    A malformed line (not UTF-8, not JSON, not a record) is a ReportError naming its line,
    except the last line when a kill cut it before its newline: that one is skipped, so its
    cell reruns."""
    path = Path(folder) / RESULTS
    if not path.exists():
        return []
    rows = path.read_bytes().split(b"\n")
    cut = rows.pop()                        # b"" unless a kill stopped the last line short
    lines = [line for number, row in enumerate(rows, 1)
             if (line := _record(path, number, row)) is not None]
    if cut.strip():
        try:
            lines.append(_parse(path, len(rows) + 1, cut))
        except _Unreadable:
            pass
    return lines


class _Unreadable(ReportError):
    """A line that is not UTF-8 text or not JSON (as opposed to a JSON line of the wrong
    form)."""


def _record(path, number, row):
    """The validated record on line ``number``, or None for a blank line."""
    if not row.strip():
        return None
    return _parse(path, number, row)


def _parse(path, number, row):
    try:
        text = row.decode("utf-8")
    except UnicodeDecodeError as error:
        raise _Unreadable(f"{path}:{number} is not UTF-8 text (byte 0x{row[error.start]:02x} "
                          f"at column {error.start + 1}); delete the line or start a new "
                          "report") from error
    try:
        line = json.loads(text)
    except json.JSONDecodeError as error:
        raise _Unreadable(f"{path}:{number} is not JSON ({error}); delete the line or start "
                          "a new report") from error
    if not isinstance(line, dict):
        raise ReportError(f"{path}:{number} is not a record: {text[:80]}")
    try:
        validate_line(line)
    except ReportError as error:
        raise ReportError(f"{path}:{number}: {error}") from error
    return line


def _drop_partial_line(path):
    """Cut a last line left without its newline by a kill, so new lines start clean."""
    if not path.exists():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        path.write_bytes(data[:data.rfind(b"\n") + 1])


def validate_line(line):
    """Raise ReportError unless ``line`` is a well-formed meta or cell record."""
    kind = line.get("type")
    if kind == "meta":
        required = {"started": str, "profile": str, "seed": int, "machine": dict}
    elif kind == "cell":
        required = {"section": str, "key": str, "status": str, "seconds": (int, float),
                    "seed": int, "profile": str}
    else:
        raise ReportError(f"unknown record type {kind!r} in {line}")
    for name, types in required.items():
        if not isinstance(line.get(name), types):
            raise ReportError(f"{kind} record lacks {name!r} of type {types}: {line}")
    if kind == "cell":
        if line["status"] not in ("ok", "failed"):
            raise ReportError(f"cell status {line['status']!r} is neither ok nor failed")
        if line["status"] == "ok" and not isinstance(line.get("result"), dict):
            raise ReportError(f"ok cell {line['key']} has no result dict")
        if line["status"] == "failed" and not isinstance(line.get("error"), str):
            raise ReportError(f"failed cell {line['key']} has no error message")


def latest_results(lines):
    """{(section, key): the last cell record} — a rerun replaces an earlier failure."""
    cells = {}
    for line in lines:
        if line.get("type") == "cell":
            cells[(line["section"], line["key"])] = line
    return cells


def run_cells(sections, profile, folder, resume=False, stream=None):
    """Measure every cell of ``sections`` not already measured; an Outcome."""
    folder = claim_folder(folder, resume)
    if resume:
        _drop_partial_line(folder / RESULTS)
    lines = read_results(folder)
    _check_same_run(lines, profile, folder)
    done = {key for key, line in latest_results(lines).items() if line["status"] == "ok"}
    outcome = Outcome(folder)
    start = time.perf_counter()
    todo = [(section, cell) for section in sections for cell in section.cells(profile)]
    _append(folder, {"type": "meta", "started": _now(), "profile": profile.name,
                     "seed": profile.seed, "resume": resume, "machine": machine_facts()})
    with Progress(len(todo), "report", stream=stream) as bar:
        try:
            for section, cell in todo:
                if (section.NAME, cell.key) in done:
                    outcome.skipped += 1
                else:
                    record = _measure(section, cell, profile)
                    _append(folder, record)
                    outcome.measured += 1
                    if record["status"] == "failed":
                        outcome.failed.append((section.NAME, cell.key, record["error"]))
                bar.advance()
        except KeyboardInterrupt:
            outcome.interrupted = True
    outcome.seconds = time.perf_counter() - start
    return outcome


def _check_same_run(lines, profile, folder):
    """A resumed report keeps its profile and seed: cells of two runs must not mix."""
    metas = [line for line in lines if line.get("type") == "meta"]
    if metas and (metas[0]["profile"], metas[0]["seed"]) != (profile.name, profile.seed):
        raise ReportError(f"{folder} was measured with profile {metas[0]['profile']} and seed "
                          f"{metas[0]['seed']}; resume it with the same (--profile "
                          f"{metas[0]['profile']} --seed {metas[0]['seed']}), or start a new "
                          "report")


def _measure(section, cell, profile):
    record = {"type": "cell", "section": section.NAME, "key": cell.key,
              "seed": profile.seed, "profile": profile.name}
    start = time.perf_counter()
    try:
        result = cell.run()
        json.dumps(result)                     # a result that cannot be saved is a failure
        record.update(status="ok", result=result)
    except KeyboardInterrupt:
        raise
    except Exception as error:                 # noqa: BLE001  (one cell must not stop the run)
        record.update(status="failed", error=f"{type(error).__name__}: {error}",
                      traceback=traceback.format_exc(limit=-3))
    record["seconds"] = time.perf_counter() - start
    return record


def _append(folder, record):
    """One line, flushed to disk before the next cell starts."""
    path = Path(folder) / RESULTS
    try:
        with open(path, "a") as handle:
            handle.write(json.dumps(record) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as error:               # a full disk: the lines before this one are kept
        raise ReportError(f"cannot write {path}: {error.strerror or error}; the cells "
                          "measured before are kept: make room, then continue with "
                          f"difflab report --resume --out {folder}") from error


def _now():
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def report_name():
    return datetime.now().strftime("%Y%m%d-%H%M%S")


def new_folder(root):
    """A new, empty ``root/<date-time>`` (``-2``, ``-3``, … when that second is taken).

    ``mkdir`` without ``exist_ok`` is the atomic claim: two reports started in the same
    second, even in two processes, never share a folder."""
    root, name = Path(root), report_name()
    for attempt in range(1, 1000):
        folder = root / (name if attempt == 1 else f"{name}-{attempt}")
        try:
            folder.mkdir(parents=True)
            return folder
        except FileExistsError:
            continue
        except OSError as error:
            raise _unwritable(folder, error) from error
    raise ReportError(f"{root} already holds 999 reports named {name}…; choose a folder "
                      "with --out")


def claim_folder(folder, resume=False):
    """``folder``, created if need be, checked writable and free to hold this report.

    Checked before anything is measured: a new report never writes into a folder that
    holds files (it would overwrite a report.html or PNGs), and ``resume`` only continues
    a folder that holds results."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ReportError(f"{folder} is a file, not a folder; choose a folder for the report "
                          "with --out")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        held = sorted(path.name for path in folder.iterdir())
        probe = folder / f".difflab-probe-{os.getpid()}"
        probe.touch(exist_ok=False)
        probe.unlink()
    except OSError as error:
        raise _unwritable(folder, error) from error
    if held and not (resume and RESULTS in held):
        shown = ", ".join(held[:5]) + (", …" if len(held) > 5 else "")
        what = "a report" if {RESULTS, "report.html"} & set(held) else "other files"
        advice = ("continue it with --resume, or" if RESULTS in held else
                  "it holds no results to resume:")
        raise ReportError(f"{folder} already holds {what} ({shown}) that a new report would "
                          f"overwrite; {advice} choose another folder with --out")
    return folder


def _unwritable(folder, error):
    return ReportError(f"cannot write the report in {folder}: {error.strerror or error}; "
                       "choose a folder you can write with --out")


def point_latest(root, folder):
    """``root/latest`` → ``folder`` (a relative symlink, replaced atomically)."""
    root, folder = Path(root), Path(folder)
    link = root / "latest"
    temporary = root / f".latest-{os.getpid()}"
    try:
        if temporary.is_symlink() or temporary.exists():
            temporary.unlink()
        temporary.symlink_to(os.path.relpath(folder, root))
        os.replace(temporary, link)
    except OSError as error:                   # a filesystem without symlinks
        sys.stderr.write(f"difflab report: could not point {link} at {folder}: {error}\n")
