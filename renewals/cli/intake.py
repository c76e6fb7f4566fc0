"""`renewals import` and `renewals intake run`: loading a book of policies and starting the cases due."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from renewals.cli.common import console, fail, load_settings
from renewals.cli.output import progress_bar

app = typer.Typer()
intake_app = typer.Typer(help="Intake: the daily run that starts the cases entering the horizon.", no_args_is_help=True)
PHASES = {"reading": "checking rows", "loading": "loading (COPY + upserts)", "cases": "starting and updating cases"}


def _counts_table(title: str, counts: dict) -> Table:
    table = Table("", "count", title=title)
    for key, value in counts.items():
        table.add_row(key.replace("_", " "), str(value))
    return table


@app.command("import")
def import_policies(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV of policies (UTF-8 or GB18030).")],
    errors_to: Annotated[Path | None, typer.Option("--errors", help="Where to write the row errors (CSV).")] = None,
) -> None:
    """Import a book of policies: check every row, load the good ones, start the cases due. Exits 1
    when any row is rejected (the good rows are imported all the same; the errors go to --errors)."""
    # start-up cost (see renewals.cli.main)
    from renewals.core.db import get_engine
    from renewals.core.temporal import connect
    from renewals.intake.policy_file import FileRejected, errors_csv
    from renewals.intake.service import create_job, run_import

    settings = load_settings()
    errors_to = errors_to or file.with_name(file.stem + ".errors.csv")
    data = file.read_bytes()
    engine = get_engine()

    async def load():
        client = await connect(settings)
        job_id = create_job(engine, file.name, data)
        with progress_bar(console) as bar:
            tasks: dict[str, int] = {}

            def progress(phase: str, done: int, total: int | None) -> None:
                if phase not in tasks:
                    tasks[phase] = bar.add_task(PHASES[phase], total=total)
                bar.update(tasks[phase], completed=done, total=total)

            return await run_import(engine, client, settings, job_id, data, progress=progress)

    try:
        result = asyncio.run(load())
    except FileRejected as exc:
        raise fail(f"the file was not imported: {exc}") from None
    console.print(f"{file.name}: {result.imported_rows} of {result.total_rows} rows imported")
    console.print(_counts_table("what changed", result.counts))
    if result.errors:
        errors_to.write_bytes(errors_csv([e.as_dict() for e in result.errors]))
        console.print(f"[yellow]{len(result.errors)} row errors[/yellow] (rows not imported) written to {errors_to}")
        table = Table("row", "column", "reason", title="first row errors")
        for error in result.errors[:10]:
            table.add_row(str(error.row), error.column, error.reason)
        console.print(table)
    console.print(f"job {result.job_id}")
    if result.errors:
        raise typer.Exit(1)


@intake_app.command("run")
def intake_run(day: Annotated[str | None, typer.Option("--date", help="YYYY-MM-DD; default today.")] = None) -> None:
    """Run the daily intake now (as the schedule does at 01:00) and print its summary."""
    # start-up cost (see renewals.cli.main)
    from renewals.core.temporal import connect
    from renewals.case.contract import IntakeInput, IntakeSummary

    settings = load_settings()

    async def run() -> IntakeSummary:
        client = await connect(settings)
        return await client.execute_workflow(
            "PolicyIntake", IntakeInput(as_of=date.fromisoformat(day) if day else None, timezone=settings.timezone),
            id=f"policy-intake-manual-{uuid.uuid4().hex[:8]}", task_queue=settings.task_queue, result_type=IntakeSummary)

    with console.status("starting the cases due…"):
        summary = asyncio.run(run())
    console.print(_counts_table(f"intake for {summary.as_of}", {
        k: v for k, v in summary.__dict__.items() if k != "as_of"}))
