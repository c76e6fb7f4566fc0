"""`renewals report renewals|funnel|tasks`: the reports of the API (SPEC §9) as tables, read
straight from the database with an operator's company-wide scope."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from renewals.reports import PeriodError, Table as ReportTable, funnel_table, make_period, renewal_table, task_table

app = typer.Typer(help="Reports: renewal rates, the renewal funnel, daily-task compliance.", no_args_is_help=True)

DAY = ["%Y-%m-%d"]
From = Annotated[datetime | None, typer.Option("--from", formats=DAY, help="First day (default: 1st of this month).")]
To = Annotated[datetime | None, typer.Option("--to", formats=DAY, help="Last day, included (default: end of that month).")]
Branch = Annotated[str | None, typer.Option("--branch", help="Branch code.")]
SubBranch = Annotated[str | None, typer.Option("--sub-branch", help="Sub-branch code.")]


def _print(table: ReportTable) -> None:
    out = Table(*table.columns, title=table.title)
    for row in table.rows:
        out.add_row(*row)
    Console().print(out)  # made here: its width follows the terminal (COLUMNS) of this run


def _settings():
    from renewals.db import NoDatabase, require_database_url
    from renewals.settings import get_settings

    settings = get_settings()
    try:
        require_database_url(settings.database_url)
    except NoDatabase as exc:
        Console().print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    return settings


def _run(kind: str, start: datetime | None, end: datetime | None, branch: str | None, sub_branch: str | None) -> None:
    from renewals import report_queries as q
    from renewals.db import session_scope
    from renewals.intake import local_today

    settings = _settings()
    now = datetime.now(UTC)
    try:
        period = make_period(start and start.date(), end and end.date(), local_today(settings, now))
    except PeriodError as exc:
        Console().print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    filters = q.Filters(branch, sub_branch)
    with session_scope() as session:
        if kind == "renewals":
            _print(renewal_table(q.renewals_report(session, period, q.everything(), filters)))
        elif kind == "funnel":
            _print(funnel_table(q.funnel(session, period, q.everything(), filters)))
        else:
            _print(task_table(q.tasks_report(session, period, q.everything(), q.everything(), filters,
                                             settings.timezone, now)))


@app.command()
def renewals(start: From = None, end: To = None, branch: Branch = None, sub_branch: SubBranch = None) -> None:
    """Renewal rate, lapse rate and loss reasons by branch, sub-branch and manager, beside the previous period."""
    _run("renewals", start, end, branch, sub_branch)


@app.command()
def funnel(start: From = None, end: To = None, branch: Branch = None, sub_branch: SubBranch = None) -> None:
    """How many cases reached each stage and where renewals were won."""
    _run("funnel", start, end, branch, sub_branch)


@app.command()
def tasks(start: From = None, end: To = None, branch: Branch = None, sub_branch: SubBranch = None) -> None:
    """Daily-task compliance per manager: handled the same day, missed, overdue, escalations, median handling time."""
    _run("tasks", start, end, branch, sub_branch)


@app.command("roll-up")
def roll_up_command() -> None:
    """Roll the settled days' tasks up now (as `task-rollup-daily` does every night): the task report
    reads them from the roll-up instead of scanning them. Safe to run again at any time."""
    from rich.progress import Progress

    from renewals.db import get_engine
    from renewals.task_rollup import roll_up

    settings = _settings()
    with Progress() as progress:
        days = progress.add_task("rolling up days", total=None)
        rolled, left = roll_up(get_engine(), settings.timezone, datetime.now(UTC),
                               lambda done, total: progress.update(days, completed=done, total=total))
    Console().print(f"{rolled} days rolled up; {left} days with a task still open are left to the report's scan.")
