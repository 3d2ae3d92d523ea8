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
    """A titled table (``columns`` and ``rows`` of strings) and/or a list of notes."""

    title: str
    columns: list[str]
    rows: list[list[str]]
    notes: list[str] = field(default_factory=list)


def _markdown_table(columns: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    return "\n".join(lines + ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows])


def markdown_page(headline: str, sections: list[Section], images: list[tuple[str, str]]) -> str:
    """Markdown: the headline in bold, every section, then the images (caption, relative path)."""
    parts = [f"**{headline}**"]
    for section in sections:
        parts.append(f"#### {section.title}")
        if section.columns:
            parts.append(_markdown_table(section.columns, section.rows))
        if section.notes:
            parts.append("\n".join(f"- {note}" for note in section.notes))
    parts += [f"![{caption}]({path})" for caption, path in images]
    return "\n\n".join(parts) + "\n"


STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f3f3f3; }
img { max-width: 100%; margin: 0.5em 0 1.5em; }
"""


def html_page(title: str, sections: list[Section], images: list[tuple[str, Path]]) -> str:
    """One self-contained HTML file: the tables, the notes and the PNGs inlined (opens offline)."""
    body = [f"<h1>{html.escape(title)}</h1>"]
    for section in sections:
        body.append(f"<h3>{html.escape(section.title)}</h3>")
        if section.columns:
            head = "".join(f"<th>{html.escape(c)}</th>" for c in section.columns)
            rows = "".join(
                "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in section.rows
            )
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        if section.notes:
            body.append("<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in section.notes) + "</ul>")
    for caption, path in images:
        encoded = base64.b64encode(path.read_bytes()).decode()
        body.append(
            f"<h3>{html.escape(caption)}</h3><img alt='{html.escape(caption)}' src='data:image/png;base64,{encoded}'>"
        )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style></head><body>{''.join(body)}</body></html>\n"
    )


def print_sections(title: str, sections: list[Section]) -> None:
    """The sections as rich tables (notes as plain lines) on the terminal."""
    from rich.console import Console
    from rich.markup import escape

    console = Console()
    if not console.is_terminal:
        console = Console(width=240)  # piped output: never cut the tables to 80 columns
    console.print(f"[bold]{escape(title)}[/bold]")
    for section in sections:
        if section.columns:
            console.print(summary_table(section.title, section.columns, section.rows))
        else:
            console.print(f"[bold]{escape(section.title)}[/bold]")
        for note in section.notes:
            console.print(f"  - {note}", markup=False)


def summary_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> Table:
    """A rich table of plain strings (escaped, so a label such as ``[a]`` prints as it is)."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=escape(title))
    for index, column in enumerate(columns):
        table.add_column(escape(column), justify="left" if index < 3 else "right")
    for row in rows:
        table.add_row(*map(escape, row))
    return table
