"""The daily task roll-up: the task compliance figures of each settled day, per
assignee, in task_day, so the report over a year reads about 365 × staff rows instead of
scanning and sorting millions of tasks.

A day (in the company time zone) is rolled up once every task opened on it is settled (done,
expired or cancelled): settled tasks never change again (the projection updates only open
tasks, but for the final-week SMS recorded on the task a contact handled that same day, before
the day ends), so its figures are final. Rolling a day up recomputes its rows from the task table and
marks it in task_day_rolled, in one transaction: running it again writes the same rows. The
report reads marked days from task_day and scans the others, so it is right whether or not the
roll-up has run. A task inserted later into a rolled-up day (a case planned late) unmarks the day
(`unroll`) until the next roll-up, which recomputes its rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, DateTime, Engine, bindparam, delete, exists, func, literal, select
from sqlalchemy.dialects.postgresql import ARRAY, insert
from temporalio.client import Client

from models import RolledTaskDay, Task, TaskDay, TaskState
from renewals.core.db import allow_long_statements
from renewals.reports.queries import opened_between, task_figures
from renewals.core.settings import Settings
from renewals.core.temporal import nightly_schedule, put_schedule
from renewals.case.contract import TASK_ROLLUP_WORKFLOW

ROLLUP_SCHEDULE_ID = "task-rollup-daily"
ROLLUP_CRON = "30 1 * * *"  # after the 01:00 intake, in the company time zone

# Rolling a day up holds this advisory lock exclusively; the projection takes it shared after
# inserting tasks on past days, before unmarking their days. Whichever commits second sees the
# other's rows: a task inserted during a roll-up is counted, or unmarks its day afterwards.
ROLLUP_LOCK = 0x7461736B  # "task"


def roll_up_day(conn: Connection, timezone: str, day: date, now: datetime) -> bool:
    """Recompute `day`'s roll-up if all its tasks are settled (True), else leave the day to the
    report's scan (False). Call inside a transaction."""
    conn.execute(select(func.pg_advisory_xact_lock(ROLLUP_LOCK)))
    opened = opened_between(day, day, timezone)
    conn.execute(delete(TaskDay).where(TaskDay.timezone == timezone, TaskDay.day == day))
    conn.execute(delete(RolledTaskDay).where(RolledTaskDay.timezone == timezone, RolledTaskDay.day == day))
    if conn.execute(select(exists().where(opened, Task.state == TaskState.open))).scalar():
        return False
    figures = [f for f in task_figures(now) if f.name != "pending"]  # nothing is pending on a settled day
    conn.execute(insert(TaskDay).from_select(
        ["timezone", "day", "assignee_id", *(f.name for f in figures)],
        select(literal(timezone), literal(day), Task.assignee_id, *figures)
        .where(opened, Task.state != TaskState.cancelled).group_by(Task.assignee_id)))
    conn.execute(insert(RolledTaskDay).values(timezone=timezone, day=day, rolled_at=now))
    return True


def days_to_roll_up(conn: Connection, timezone: str, today: date) -> list[date]:
    """The days before `today` since the first task opened that are not rolled up yet."""
    first = conn.execute(select(func.min(Task.opens_at))).scalar()
    if first is None:
        return []
    rolled = set(conn.execute(select(RolledTaskDay.day).where(RolledTaskDay.timezone == timezone)).scalars())
    day, days = first.astimezone(ZoneInfo(timezone)).date(), []
    while day < today:
        if day not in rolled:
            days.append(day)
        day += timedelta(days=1)
    return days


def roll_up(engine: Engine, timezone: str, now: datetime,
            progress: Callable[[int, int], None] = lambda done, total: None) -> tuple[int, int]:
    """Roll up every settled day before today (in `timezone`) not rolled up yet, one transaction a
    day. Returns (days rolled up, days left to the scan because a task is still open)."""
    with engine.connect() as conn:
        allow_long_statements(conn)  # a day of every case's tasks, read and written set-based
        days = days_to_roll_up(conn, timezone, now.astimezone(ZoneInfo(timezone)).date())
    rolled = 0
    for i, day in enumerate(days):
        with engine.begin() as conn:
            allow_long_statements(conn)
            rolled += roll_up_day(conn, timezone, day, now)
        progress(i + 1, len(days))
    return rolled, len(days) - rolled


def unroll(conn: Connection, opened: Iterable[datetime]) -> None:
    """New tasks opened at `opened`: the rolled-up days they fall on (in any roll-up's time zone)
    go back to the scan until they are rolled up again. Only the mark goes: the report reads a
    day's rows only while it is marked, so one that read the mark just before still finds them."""
    opened = sorted(set(opened))
    if not opened:
        return
    conn.execute(_SHARE_ROLLUP_LOCK)
    conn.execute(_UNROLL, {"opened": opened})


# Built once: every projection write that opens tasks runs them.
_SHARE_ROLLUP_LOCK = select(func.pg_advisory_xact_lock_shared(ROLLUP_LOCK))
_OPENED = func.unnest(bindparam("opened", type_=ARRAY(DateTime(timezone=True)))).table_valued("at").render_derived()
_UNROLL = delete(RolledTaskDay).where(RolledTaskDay.day.in_(
    select(func.date(func.timezone(RolledTaskDay.timezone, _OPENED.c.at)))))


async def ensure_rollup_schedule(client: Client, settings: Settings) -> None:
    """Create (or bring up to date) `task-rollup-daily`: the roll-up at 01:30 every night."""
    schedule = nightly_schedule(TASK_ROLLUP_WORKFLOW, workflow_id="task-rollup", cron=ROLLUP_CRON, settings=settings,
                                summary="Roll the settled days' tasks up for the compliance report")
    await put_schedule(client, ROLLUP_SCHEDULE_ID, schedule)
