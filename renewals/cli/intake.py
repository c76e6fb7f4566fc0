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
POLL_SECONDS = 0.5  # how often the job's progress is read while a worker imports


def _counts_table(title: str, counts: dict) -> Table:
    table = Table("", "count", title=title)
    for key, value in counts.items():
        table.add_row(key.replace("_", " "), str(value))
    return table


@app.command("import")
def import_policies(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV of policies (UTF-8 or GB18030).")],
    errors_to: Annotated[Path | None, typer.Option("--errors", help="Where to write the row errors (CSV).")] = None,
    in_process: Annotated[bool, typer.Option(
        "--in-process", help="Import in this process instead of by a worker (a laptop without one); an import "
                             "stopped half-way is finished by importing the same file again.")] = False,
) -> None:
    """Import a book of policies: check every row, load the good ones, start the cases due. A worker
    imports the file, as for an upload in the console, and this shows its progress (stopping this
    command does not stop the import). Exits 1 when any row is rejected (the good rows are imported
    all the same; the errors go to --errors)."""
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
        with progress_bar(console) as bar:
            tasks: dict[str, int] = {}

            def progress(phase: str, done: int, total: int | None) -> None:
                if phase not in tasks:
                    tasks[phase] = bar.add_task(PHASES[phase], total=total)
                bar.update(tasks[phase], completed=done, total=total)

            if in_process:
                return await run_import(engine, client, settings, create_job(engine, file.name, data), data,
                                        progress=progress)
            return await _durable_import(engine, client, settings, file.name, data, progress)

    try:
        result = asyncio.run(load())
    except FileRejected as exc:
        raise fail(f"the file was not imported: {exc}") from None
    except ImportFailed as exc:
        raise fail(f"the import failed (job {exc.job_id}): {exc}") from None
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


class ImportFailed(Exception):
    def __init__(self, job_id: uuid.UUID, failure: str):
        super().__init__(failure)
        self.job_id = job_id


async def _durable_import(engine, client, settings, filename: str, data: bytes, progress):
    """Store the file, start its import and follow the job's progress until it is done."""
    # start-up cost (see renewals.cli.main)
    from renewals.case.contract import INTAKE_ACTOR, ImportInput
    from renewals.intake.durable import start_import, store_upload
    from renewals.intake.service import import_result, job_progress, local_today, read_job

    job_id = await asyncio.to_thread(store_upload, engine, filename, data)
    await start_import(engine, client, settings, ImportInput(job_id=job_id, actor=INTAKE_ACTOR, branch_id=None,
                                                             as_of=local_today(settings)))
    while True:
        job = await asyncio.to_thread(read_job, engine, job_id)
        if job.phase or job.status == "done":
            progress(*job_progress(job))
        if job.status == "failed":
            raise ImportFailed(job_id, job.failure or "")
        if job.status == "done":
            return import_result(job)
        await asyncio.sleep(POLL_SECONDS)


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
