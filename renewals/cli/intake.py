"""What `renewals import`, `renewals intake run`, `renewals staff reassign-book` and `renewals org
deputy` do, with rich progress bars and tables (cli.py only composes the commands)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlmodel import Session, select

from models import Staff
from renewals.core.db import make_engine
from renewals.core.settings import Settings
from renewals.core.temporal import connect
from renewals.case import contract as c

PHASES = {"reading": "checking rows", "loading": "loading (COPY + upserts)", "cases": "starting and updating cases"}


def _progress(console: Console) -> Progress:
    return Progress(TextColumn("{task.description:<30}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console)


def _run(console: Console, work, refused: tuple[type[Exception], ...], engine, prefix: str = "error"):
    """Run the async work; a refusal becomes one red line (and None), never a traceback."""
    try:
        return asyncio.run(work())
    except refused as exc:
        console.print(f"[red]{prefix}:[/red] {exc}")
        return None
    finally:
        engine.dispose()


def _counts_table(title: str, counts: dict) -> Table:
    table = Table("", "count", title=title)
    for key, value in counts.items():
        table.add_row(key.replace("_", " "), str(value))
    return table


def run(settings: Settings, file: Path, errors_to: Path, console: Console) -> bool:
    from renewals.intake.service import create_job, run_import
    from renewals.intake.policy_file import FileRejected, errors_csv

    data = file.read_bytes()
    engine = make_engine(settings.database_url)

    async def go():
        client = await connect(settings)
        job_id = create_job(engine, file.name, data)
        with _progress(console) as bar:
            tasks: dict[str, int] = {}

            def progress(phase: str, done: int, total: int | None) -> None:
                if phase not in tasks:
                    tasks[phase] = bar.add_task(PHASES[phase], total=total)
                bar.update(tasks[phase], completed=done, total=total)

            return await run_import(engine, client, settings, job_id, data, progress=progress)

    result = _run(console, go, (FileRejected,), engine, "the file was not imported")
    if result is None:
        return False
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
    return not result.errors


def run_intake(settings: Settings, day: str | None, console: Console) -> None:
    from renewals.case.contract import IntakeInput, IntakeSummary

    async def go() -> IntakeSummary:
        client = await connect(settings)
        return await client.execute_workflow(
            "PolicyIntake", IntakeInput(as_of=date.fromisoformat(day) if day else None, timezone=settings.timezone),
            id=f"policy-intake-manual-{uuid.uuid4().hex[:8]}", task_queue=settings.task_queue, result_type=IntakeSummary)

    with console.status("starting the cases due…"):
        summary = asyncio.run(go())
    console.print(_counts_table(f"intake for {summary.as_of}", {
        k: v for k, v in summary.__dict__.items() if k != "as_of"}))


def set_deputy(settings: Settings, sub_branch: str, username: str, console: Console) -> bool:
    from models import SubBranch
    from renewals.ownership.service import change_deputy
    from renewals.org.service import StaffError

    engine = make_engine(settings.database_url)
    with Session(engine, expire_on_commit=False) as session:
        sub = session.exec(select(SubBranch).where(SubBranch.code == sub_branch)).first()
        deputy = session.exec(select(Staff).where(Staff.username == username)).first()
    missing = [what for what, found in ((f"sub-branch {sub_branch}", sub), (f"staff member {username}", deputy))
               if found is None]
    if missing:
        engine.dispose()
        console.print(f"[red]error:[/red] no {' and no '.join(missing)}")
        return False

    async def go():
        return await change_deputy(engine, await connect(settings), sub, deputy.id, c.INTAKE_ACTOR)

    result = _run(console, go, (StaffError,), engine)
    if result is None:
        return False
    console.print(f"sub-branch {sub_branch}: deputy {username}; {result['cases_moved']} open case(s) moved to them")
    for failure in result["failures"]:
        console.print(f"[yellow]{failure['workflow_id']}[/yellow] not moved: {failure['reason']}")
    return not result["failures"]


def reassign_book(settings: Settings, username: str, to: list[str], reason: str, admin: str | None,
                  dry_run: bool, console: Console) -> bool:
    from renewals.ownership.service import move_book
    from renewals.org.service import StaffError

    wanted = [username, *to, *([admin] if admin else [])]
    engine = make_engine(settings.database_url)
    with Session(engine, expire_on_commit=False) as session:
        named = {s.username: s for s in session.exec(select(Staff).where(Staff.username.in_(wanted))).all()}
    missing = [u for u in wanted if u not in named]
    if missing:
        console.print(f"[red]error:[/red] no staff member {', '.join(missing)}")
        return False
    actor = c.Actor(id=named[admin].id, role=c.ActorRole.admin) if admin else c.INTAKE_ACTOR

    async def go():
        client = await connect(settings)
        with _progress(console) as bar:
            task = bar.add_task("moving the book", total=None)
            return await move_book(engine, client, named[username], [named[u].id for u in to], actor, reason,
                                   dry_run=dry_run, progress=lambda done, total: bar.update(task, completed=done,
                                                                                            total=total))

    report = _run(console, go, (StaffError,), engine)
    if report is None:
        return False
    names = {str(s.id): s.username for s in named.values()}
    table = Table("new owner", "policies", title=("would move (dry run)" if dry_run else "moved")
                  + f": {report.policies} policies, {report.cases} open cases, {report.open_tasks} open tasks")
    for owner, count in report.per_owner.items():
        table.add_row(names.get(owner, owner), str(count))
    console.print(table)
    for failure in report.failures:
        console.print(f"[yellow]{failure['policy_no']}[/yellow] stays with {username}: {failure['reason']}")
    return not report.failures
