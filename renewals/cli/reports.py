"""`renewals report renewals|funnel|tasks`: the reports of the API (SPEC §9) as tables, read
straight from the database with an operator's company-wide scope."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from renewals.cli.common import DAY, console, fail, load_settings
from renewals.cli.output import Format, FormatOption, emit
from renewals.reports.rules import PeriodError, funnel_table, make_period, renewal_table, task_table

app = typer.Typer(help="Reports: renewal rates, the renewal funnel, daily-task compliance.", no_args_is_help=True)

From = Annotated[datetime | None, typer.Option("--from", formats=DAY, help="First day (default: 1st of this month).")]
To = Annotated[datetime | None, typer.Option("--to", formats=DAY, help="Last day, included (default: end of that month).")]
Branch = Annotated[str | None, typer.Option("--branch", help="Branch code.")]
SubBranch = Annotated[str | None, typer.Option("--sub-branch", help="Sub-branch code.")]


def _run(kind: str, start: datetime | None, end: datetime | None, branch: str | None, sub_branch: str | None,
         fmt: Format | None) -> None:
    # start-up cost (see renewals.cli.main)
    from renewals.core.db import session_scope
    from renewals.intake.service import local_today
    from renewals.reports import queries as q

    settings = load_settings()
    now = datetime.now(UTC)
    try:
        period = make_period(start and start.date(), end and end.date(), local_today(settings, now))
    except PeriodError as exc:
        raise fail(str(exc), code=2) from None
    filters = q.Filters(branch, sub_branch)
    with session_scope() as session:
        if kind == "renewals":
            table = renewal_table(q.renewals_report(session, period, q.everything(), filters))
        elif kind == "funnel":
            table = funnel_table(q.funnel(session, period, q.everything(), filters))
        else:
            table = task_table(q.tasks_report(session, period, q.everything(), q.everything(), filters,
                                              settings.timezone, now))
    emit(table, fmt, console)


@app.command()
def renewals(start: From = None, end: To = None, branch: Branch = None, sub_branch: SubBranch = None,
             fmt: FormatOption = None) -> None:
    """Renewal rate, lapse rate and loss reasons by branch, sub-branch and manager, beside the previous period."""
    _run("renewals", start, end, branch, sub_branch, fmt)


@app.command()
def funnel(start: From = None, end: To = None, branch: Branch = None, sub_branch: SubBranch = None,
           fmt: FormatOption = None) -> None:
    """How many cases reached each stage and where renewals were won."""
    _run("funnel", start, end, branch, sub_branch, fmt)


@app.command()
def tasks(start: From = None, end: To = None, branch: Branch = None, sub_branch: SubBranch = None,
          fmt: FormatOption = None) -> None:
    """Daily-task compliance per manager: handled the same day, missed, overdue, escalations, median handling time."""
    _run("tasks", start, end, branch, sub_branch, fmt)


@app.command("roll-up")
def roll_up_command() -> None:
    """Roll the settled days' tasks up now (as `task-rollup-daily` does every night): the task report
    reads them from the roll-up instead of scanning them. Safe to run again at any time."""
    from rich.progress import Progress

    # start-up cost (see renewals.cli.main)
    from renewals.core.db import get_engine
    from renewals.reports.task_rollup import roll_up

    settings = load_settings()
    with Progress() as progress:
        days = progress.add_task("rolling up days", total=None)
        rolled, left = roll_up(get_engine(), settings.timezone, datetime.now(UTC),
                               lambda done, total: progress.update(days, completed=done, total=total))
    console.print(f"{rolled} days rolled up; {left} days with a task still open are left to the report's scan.")
