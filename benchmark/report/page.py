"""The report rendered three ways from one list of sections: terminal (rich), Markdown, HTML."""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.table import Table


@dataclass
class Section:
    """A titled table (``columns`` and ``rows`` of strings) and/or a list of notes, or a lead paragraph.

    ``bold``: the (row, column) cells to mark (the best value per task); ``links``: per row, an address
    the HTML page links the row's first cell to (None: no link).
    """

    title: str
    columns: list[str]
    rows: list[list[str]]
    notes: list[str] = field(default_factory=list)
    bold: set[tuple[int, int]] = field(default_factory=set)
    links: list[str | None] = field(default_factory=list)
    paragraph: str = ""  # shown first, as prose (the verdict)

    def link(self, row: int) -> str | None:
        return self.links[row] if row < len(self.links) else None


def _markdown_table(section: Section) -> str:
    lines = ["| " + " | ".join(section.columns) + " |", "|" + "---|" * len(section.columns)]
    for r, row in enumerate(section.rows):
        cells = [cell.replace("|", "\\|") for cell in row]
        cells = [f"**{cell}**" if (r, c) in section.bold and cell != "-" else cell for c, cell in enumerate(cells)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown_page(headline: str, sections: list[Section], images: list[tuple[str, str]]) -> str:
    """Markdown: the headline in bold, every section, then the images (caption, relative path)."""
    parts = [f"**{headline}**"]
    for section in sections:
        if section.paragraph:
            parts.append(f"> **{section.title}.** {section.paragraph}")
            continue
        parts.append(f"#### {section.title}")
        if section.columns:
            parts.append(_markdown_table(section))
        if section.notes:
            parts.append("\n".join(f"- {note}" for note in section.notes))
    parts += [f"![{caption}]({path})" for caption, path in images]
    return "\n\n".join(parts) + "\n"


STYLE = """
body { font-family: system-ui, sans-serif; margin: 1em auto; padding: 0 1em; max-width: 72em; color: #222;
       line-height: 1.4; }
h1 { font-size: 1.4em; } h3 { font-size: 1.05em; margin-top: 1.6em; }
.verdict { font-size: 1.1em; background: #f4f8ff; border-left: 4px solid #3b6fb6; padding: 0.6em 1em; }
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.88em; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: right; white-space: nowrap; }
th:first-child, td:first-child { text-align: left; }
th { background: #f3f3f3; }
td b { color: #0b4f9c; }
a { color: #0b4f9c; }
img { max-width: 100%; height: auto; margin: 0.5em 0 1.5em; }
li { margin: 0.2em 0; }
"""


def _html_table(section: Section) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in section.columns)
    rows = []
    for r, row in enumerate(section.rows):
        cells = []
        for c, cell in enumerate(row):
            text = html.escape(cell)
            if c == 0 and section.link(r):
                text = f"<a href='{html.escape(section.link(r), quote=True)}'>{text}</a>"
            if (r, c) in section.bold and cell != "-":
                text = f"<b>{text}</b>"
            cells.append(f"<td>{text}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<div class='scroll'><table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"


def html_page(title: str, sections: list[Section], images: list[tuple[str, Path]]) -> str:
    """One self-contained HTML file: the tables, the notes and the PNGs inlined (opens offline); readable
    from 800 px wide up (wide tables scroll inside their own box)."""
    body = [f"<h1>{html.escape(title)}</h1>"]
    for section in sections:
        if section.paragraph:
            body.append(f"<p class='verdict'><b>{html.escape(section.title)}.</b> {html.escape(section.paragraph)}</p>")
            continue
        body.append(f"<h3>{html.escape(section.title)}</h3>")
        if section.columns:
            body.append(_html_table(section))
        if section.notes:
            body.append("<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in section.notes) + "</ul>")
    for caption, path in images:
        encoded = base64.b64encode(path.read_bytes()).decode()
        body.append(
            f"<h3>{html.escape(caption)}</h3><img alt='{html.escape(caption)}' src='data:image/png;base64,{encoded}'>"
        )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width, initial-scale=1'><title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style></head><body>{''.join(body)}</body></html>\n"
    )


def print_sections(title: str, sections: list[Section]) -> None:
    """The sections as rich tables (notes as plain lines, the best values in bold) on the terminal."""
    from rich.console import Console
    from rich.markup import escape

    console = Console()
    if not console.is_terminal:
        console = Console(width=240)  # piped output: never cut the tables to 80 columns
    console.print(f"[bold]{escape(title)}[/bold]")
    for section in sections:
        if section.paragraph:
            console.print(f"[bold]{escape(section.title)}:[/bold] {escape(section.paragraph)}")
            continue
        if section.columns:
            console.print(summary_table(section.title, section.columns, section.rows, section.bold))
        else:
            console.print(f"[bold]{escape(section.title)}[/bold]")
        for note in section.notes:
            console.print(f"  - {note}", markup=False)


def summary_table(
    title: str, columns: Sequence[str], rows: Sequence[Sequence[str]], bold: set[tuple[int, int]] | None = None
) -> Table:
    """A rich table of plain strings (escaped, so a label such as ``[a]`` prints as it is)."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=escape(title))
    for index, column in enumerate(columns):
        table.add_column(escape(column), justify="left" if index < 3 else "right")
    for r, row in enumerate(rows):
        table.add_row(
            *(f"[bold]{escape(c)}[/bold]" if (r, i) in (bold or set()) else escape(c) for i, c in enumerate(row))
        )
    return table
