"""The report page: one self-contained HTML file (inline style, PNGs beside it in the same
folder) and a Markdown summary, written atomically so no half-written page is ever left.

Each section contributes a ``Rendered``: figures, tables and a reading (sentences computed
from the data by the section), plus the cells that failed, shown with their errors.
"""

import html
import os
from dataclasses import dataclass, field
from pathlib import Path

HTML = "report.html"
MARKDOWN = "summary.md"


@dataclass
class Table:
    caption: str
    header: list
    rows: list


@dataclass
class Rendered:
    """A section's page content: figures [(file name, caption)], tables, reading sentences."""

    figures: list = field(default_factory=list)
    tables: list = field(default_factory=list)
    reading: list = field(default_factory=list)


@dataclass
class SectionPage:
    name: str
    title: str
    rendered: Rendered
    failed: list = field(default_factory=list)      # [(key, error)]
    error: str | None = None                        # the section could not render at all


STYLE = """
body { font-family: system-ui, sans-serif; max-width: 70rem; margin: 2rem auto; padding: 0 1rem;
       color: #222; line-height: 1.45; }
h1 { margin-bottom: 0.2rem; } h2 { border-bottom: 1px solid #ccc; margin-top: 2.5rem; }
figure { margin: 1rem 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.9rem; color: #555; }
table { border-collapse: collapse; margin: 0.8rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.2rem 0.5rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
caption { text-align: left; font-weight: 600; padding-bottom: 0.3rem; }
.failed { background: #fff0f0; border-left: 4px solid #c00; padding: 0.4rem 0.8rem; }
.meta { font-size: 0.85rem; color: #555; }
nav a { margin-right: 1rem; }
"""


def write_report(folder, title, pages, meta_lines):
    """Write ``report.html`` and ``summary.md`` into ``folder``; return the HTML path."""
    folder = Path(folder)
    _atomic(folder / HTML, _html(title, pages, meta_lines))
    _atomic(folder / MARKDOWN, _markdown(title, pages, meta_lines))
    return folder / HTML


def _atomic(path, text):
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def _html(title, pages, meta_lines):
    e = html.escape
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{e(title)}"
             f"</title><style>{STYLE}</style></head><body><h1>{e(title)}</h1>"]
    parts.append("<p class='meta'>" + "<br>".join(e(line) for line in meta_lines) + "</p>")
    parts.append("<nav>" + "".join(f"<a href='#{e(p.name)}'>{e(p.title)}</a>" for p in pages)
                 + "</nav>")
    for page in pages:
        parts.append(f"<section id='{e(page.name)}'><h2>{e(page.title)}</h2>")
        if page.error:
            parts.append(f"<div class='failed'>This section was not drawn: "
                         f"<code>{e(page.error)}</code></div>")
        for sentence in page.rendered.reading:
            parts.append(f"<p>{e(sentence)}</p>")
        for file, caption in page.rendered.figures:
            parts.append(f"<figure><img src='{e(file)}' alt='{e(caption)}'>"
                         f"<figcaption>{e(caption)}</figcaption></figure>")
        for table in page.rendered.tables:
            parts.append(_html_table(table))
        if page.failed:
            items = "".join(f"<li><code>{e(key)}</code>: {e(error)}</li>"
                            for key, error in page.failed)
            parts.append(f"<div class='failed'><strong>{len(page.failed)} cell(s) failed"
                         f"</strong> (the rest of the section is complete):<ul>{items}</ul>"
                         "</div>")
        parts.append("</section>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _html_table(table):
    e = html.escape
    head = "".join(f"<th>{e(str(h))}</th>" for h in table.header)
    body = "".join("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in row) + "</tr>"
                   for row in table.rows)
    return (f"<table><caption>{e(table.caption)}</caption><thead><tr>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table>")


def _markdown(title, pages, meta_lines):
    lines = [f"# {title}", ""] + [f"{line}  " for line in meta_lines] + [""]
    for page in pages:
        lines += [f"## {page.title}", ""]
        if page.error:
            lines += [f"**This section was not drawn:** `{page.error}`", ""]
        for sentence in page.rendered.reading:
            lines += [sentence, ""]
        lines += [f"![{caption}]({file})" for file, caption in page.rendered.figures] + [""]
        for table in page.rendered.tables:
            lines += [f"**{table.caption}**", "",
                      "| " + " | ".join(str(h) for h in table.header) + " |",
                      "|" + "---|" * len(table.header)]
            lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in table.rows]
            lines.append("")
        if page.failed:
            lines += [f"**{len(page.failed)} cell(s) failed:**", ""]
            lines += [f"- `{key}`: {error}" for key, error in page.failed] + [""]
    return "\n".join(lines)
