"""`renewals vehicle-models …`: load the vehicle-model catalogue (车型库) from a CSV file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress
from rich.table import Table

from renewals.cli.common import console, fail, load_settings

app = typer.Typer(help="The vehicle-model catalogue (车型库) staff confirm before quoting.", no_args_is_help=True)


@app.command("import")
def import_command(
    file: Annotated[Path, typer.Argument(help="CSV: code,name,brand,seats,purchase_price (sample: "
                                               "renewals/data/vehicle_models.csv).", exists=True, dir_okay=False)],
) -> None:
    """Load vehicle models (upserted by code; with any bad row nothing is written). The shipped
    catalogue's models are added with the schema (`renewals migrate`, `renewals dev`)."""
    # start-up cost (see renewals.cli.main)
    from renewals.core.db import session_scope
    from renewals.quotes.vehicle_models import import_vehicle_models

    load_settings()
    with Progress(console=console, transient=True) as progress, session_scope() as session:
        task = progress.add_task("importing vehicle models", total=None)
        parsed = import_vehicle_models(session, file, progress=lambda n: progress.advance(task, n))
    if parsed.errors:
        table = Table("row", "field", "reason", title=f"{file.name}: nothing imported")
        for error in parsed.errors[:50]:
            table.add_row(str(error.row), error.field, error.reason)
        console.print(table)
        raise fail(f"{len(parsed.errors)} bad row(s)")
    console.print(f"imported {len(parsed.rows)} vehicle models from {file.name}")
