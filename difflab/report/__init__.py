"""``difflab report``: the comparison report — a verdict (which method when), precision,
expression swell, runtime, memory, Newton, gradient flow — as one HTML page with plots, tables and readings computed from the data.

    from difflab.report import report
    outcome = report()                         # quick profile, every section
    print(outcome.folder / "report.html")

Sections live in ``difflab/report/sections/``; each lists its cells for a profile and
renders its results (see ``runner`` for the cell and resume machinery, ``page`` for the page).
"""

import importlib
from pathlib import Path

from ..progress import Progress
from .page import Rendered, SectionPage, write_report
from .sections import yours
from .runner import (PROFILES, Cell, Outcome, Profile, ReportError, latest_results,
                     new_folder, point_latest, read_results, run_cells, validate_line)

SECTION_NAMES = ("verdict", "precision", "swell", "runtime", "memory", "newton", "flow")
DEFAULT_ROOT = Path("reports")

__all__ = ["Cell", "Outcome", "Profile", "Rendered", "ReportError", "SECTION_NAMES",
           "latest_results", "read_results", "report", "section", "validate_line"]


def section(name):
    """The section module ``difflab.report.sections.<name>``."""
    if name not in SECTION_NAMES:
        raise ReportError(f"unknown section {name!r}; choose from {', '.join(SECTION_NAMES)}")
    return importlib.import_module(f".sections.{name}", __name__)


def report(sections=None, profile="quick", out=None, seed=0, resume=False, root=DEFAULT_ROOT,
           stream=None, model=None):
    """Run the sweeps, then write the report; an Outcome (``.folder`` holds report.html).

    ``sections``: names (or section objects with NAME, TITLE, cells, render); default all.
    ``model``: a ``YourModel`` (``difflab.report.sections.yours``): the report on that
    objective instead of the zoo's sweeps (``sections`` must then be None).
    ``out``: the report's folder (default a new ``root/<timestamp>``; with ``resume``, the
    folder ``root/latest`` points at). Without ``resume`` it must be empty or new: a report
    never overwrites another. ``resume`` keeps the cells already measured there.
    """
    if profile not in PROFILES:
        raise ReportError(f"unknown profile {profile!r}; choose from {', '.join(PROFILES)}")
    if model is not None:
        if sections:
            raise ReportError("a report on your model runs its own sections; leave out "
                              "--sections with --model")
        sections = yours.sections(model)
    modules = []            # each section once, every name checked before a folder is made
    for name in sections or SECTION_NAMES:
        module = section(name) if isinstance(name, str) else name
        if all(module.NAME != m.NAME for m in modules):
            modules.append(module)
    root = Path(root)
    if out is not None:
        folder = Path(out)
    elif resume:
        folder = root / "latest"
        if not folder.exists():
            raise ReportError(f"nothing to resume: {folder} does not exist; run without "
                              "--resume, or name the report's folder with --out")
        folder = folder.resolve()
    else:
        folder = new_folder(root)
    outcome = run_cells(modules, Profile(profile, seed), folder, resume, stream)
    render(folder, modules, outcome,
           title="difflab report" if model is None else f"difflab report: {model.name}")
    if folder.resolve().parent == root.resolve():
        point_latest(root, folder)
    return outcome


def render(folder, modules, outcome=None, title="difflab report"):
    """Draw every section from ``folder/results.jsonl`` and write the page."""
    lines = read_results(folder)
    cells = latest_results(lines)
    pages, interrupted = [], False
    with Progress(len(modules), "drawing") as bar:
        for module in modules:
            mine = {key: line for (name, key), line in cells.items() if name == module.NAME}
            page = SectionPage(module.NAME, module.TITLE, Rendered(),
                               [(key, line["error"]) for key, line in mine.items()
                                if line["status"] == "failed"])
            pages.append(page)
            reads = getattr(module, "READS", ())    # a section drawn from others' results
            others = {name: {key: line["result"] for (section_name, key), line in cells.items()
                             if section_name == name and line["status"] == "ok"}
                      for name in reads}
            if interrupted:
                page.error = INTERRUPTED
            elif not mine and not reads:
                page.error = "nothing measured yet (an interrupted run: difflab report --resume)"
            else:
                interrupted = _draw(module, page, mine, folder, others if reads else None)
                if page.error and not interrupted and outcome is not None:
                    # a section that could not be drawn is a failure, as a failed cell is:
                    # the page shows it, and the exit status must not say all is well
                    outcome.failed.append((module.NAME, "drawing", page.error))
            bar.advance()
    if interrupted and outcome is not None:
        outcome.interrupted = True
    write_report(folder, title, pages, _meta_lines(lines, outcome))


INTERRUPTED = "not drawn: the report was interrupted while drawing"


def _draw(module, page, mine, folder, others=None):
    """Fill ``page`` from the section's ok results (and, for a section that reads others',
    theirs); True if Ctrl-C stopped the drawing."""
    ok = {key: line["result"] for key, line in mine.items() if line["status"] == "ok"}
    try:
        page.rendered = module.render(ok, Path(folder)) if others is None else \
            module.render(ok, Path(folder), others)
    except KeyboardInterrupt:               # Ctrl-C while drawing: still write the page
        page.error = INTERRUPTED
        return True
    except Exception as error:           # noqa: BLE001  (one section must not sink the page)
        page.error = f"{type(error).__name__}: {error}"
    return False


def _meta_lines(lines, outcome):
    metas = [line for line in lines if line.get("type") == "meta"]
    if not metas:
        return []
    meta = metas[-1]
    machine = meta["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in machine["versions"].items())
    out = [f"profile {meta['profile']}, seed {meta['seed']}, started {metas[0]['started']}"
           + (f" (resumed {len(metas) - 1}×)" if len(metas) > 1 else ""),
           f"Python {machine['python']} on {machine['platform']}, {machine['cpus']} CPUs",
           versions]
    if outcome is not None:
        state = "interrupted (resume with --resume)" if outcome.interrupted else "complete"
        out.append(f"this run: {outcome.measured} cells measured, {outcome.skipped} kept from "
                   f"before, {len(outcome.failed)} failed, {outcome.seconds:.0f} s, {state}")
    return out
