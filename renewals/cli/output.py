"""How the `renewals` commands print: tables that read well on a terminal and stay whole in a
file or a pipe (where no terminal width applies, so nothing is squeezed or cut)."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table as RichTable

from renewals.reports.rules import Table, to_csv

# Wide enough for any table at its natural width: rich pads nothing to it.
UNLIMITED = 1_000_000


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


FormatOption = Annotated[Format | None, typer.Option(
    "--format", help="table, csv (UTF-8 with BOM, as Excel opens it) or json; default: a table on a terminal, "
                     "CSV in a file or a pipe.")]


def console(stderr: bool = False) -> Console:
    """A console that wraps at the terminal's width, and not at all when writing to a file or a pipe."""
    made = Console(stderr=stderr)
    return made if made.is_terminal else Console(stderr=stderr, width=UNLIMITED)


def emit(table: Table, fmt: Format | None, out: Console) -> None:
    """The table in the format asked for (by default: a table on a terminal, CSV otherwise)."""
    fmt = fmt or (Format.table if out.is_terminal else Format.csv)
    if fmt is Format.csv:
        out.file.write(to_csv(table).decode("utf-8"))
    elif fmt is Format.json:
        out.file.write(json.dumps({"title": table.title, "rows": [dict(zip(table.columns, row)) for row in table.rows]},
                                  ensure_ascii=False, indent=2) + "\n")
    else:
        shown = RichTable(title=table.title)
        for column in table.columns:
            shown.add_column(column, overflow="fold")  # a long word folds onto the next line, never "…"
        for row in table.rows:
            shown.add_row(*row)
        out.print(shown)
    out.file.flush()


def progress_bar(out: Console) -> Progress:
    """Bars of long work (an import's phases, a book moving) that line up one under the other."""
    return Progress(TextColumn("{task.description:<30}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=out)
