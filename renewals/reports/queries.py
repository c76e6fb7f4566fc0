"""The SQL behind the reports: grouped counts read from the projection tables (renewal_case, task)
through the indexes of migration 0005; `renewals/reports/rules.py` turns them into figures.

Every query takes `scope`, a condition on RenewalCase (or, for tasks, on Task) from the one
authorization layer (api/access.py); the CLI passes `true()`.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Column, ColumnElement, Date, Float, Integer, Select, and_, case, cast, extract, func, literal, or_, select, true,
    union_all,
)
from sqlalchemy.sql.visitors import replacement_traverse
from sqlmodel import Session

from models import Branch, RenewalCase, RolledTaskDay, Staff, SubBranch, Task, TaskDay, TaskState
from renewals.core.db import allow_long_statements
from renewals.reports.rules import (
    DAILY_STAGES, EARLIEST_DAY, ESCALATION_DAY, LATEST_DAY, OPEN_HOUR, CaseCount, FunnelCount, FunnelReport, Period, RenewalReport,
    TaskCount, TaskReport, funnel_report, renewal_report, task_report, unrolled_days,
)
from renewals.case.contract import ContactResult, Outcome, Stage, TaskKind


@dataclass(frozen=True)
class Filters:
    branch: str | None = None  # branch code
    sub_branch: str | None = None  # sub-branch code
    manager_id: uuid.UUID | None = None


def _filters(filters: Filters, sub_branch_id, person) -> list[ColumnElement[bool]]:
    """The filters as conditions on a sub-branch column and a staff column."""
    where = []
    if filters.sub_branch:
        where.append(sub_branch_id.in_(select(SubBranch.id).where(SubBranch.code == filters.sub_branch)))
    if filters.branch:
        where.append(sub_branch_id.in_(
            select(SubBranch.id).join(Branch, Branch.id == SubBranch.branch_id).where(Branch.code == filters.branch)))
    if filters.manager_id:
        where.append(person == filters.manager_id)
    return where


def _case_filters(filters: Filters) -> list[ColumnElement[bool]]:
    return _filters(filters, RenewalCase.sub_branch_id, RenewalCase.owner_id)


def renewal_counts_statement(period: Period, scope: ColumnElement[bool], filters: Filters) -> Select:
    """Cases due in the period and the one before, per manager, outcome and loss reason."""
    previous = period.previous()
    current = (RenewalCase.expiry_date >= period.start).label("current")
    reason = case((RenewalCase.outcome == Outcome.LOST, RenewalCase.outcome_reason)).label("reason")
    grouped = (
        select(current, RenewalCase.sub_branch_id, RenewalCase.owner_id, RenewalCase.outcome, reason,
               func.count().label("cases"))
        .where(RenewalCase.expiry_date.between(previous.start, period.end), scope, *_case_filters(filters))
        .group_by(current, RenewalCase.sub_branch_id, RenewalCase.owner_id, RenewalCase.outcome, reason)
        .subquery()
    )
    return (
        select(grouped.c.current, Branch.code, Branch.name, SubBranch.code, SubBranch.name, grouped.c.owner_id,
               Staff.name, grouped.c.outcome, grouped.c.reason, grouped.c.cases)
        .join(SubBranch, SubBranch.id == grouped.c.sub_branch_id)
        .join(Branch, Branch.id == SubBranch.branch_id)
        .join(Staff, Staff.id == grouped.c.owner_id)
    )


def funnel_counts_statement(period: Period, scope: ColumnElement[bool], filters: Filters) -> Select:
    """Cases due in the period by the local day they started on, the stage they reached, how they
    ended and the windows they skipped."""
    local_start = func.timezone(RenewalCase.timezone, RenewalCase.started_at)
    start_day = func.least(func.greatest(cast(local_start, Date) - RenewalCase.expiry_date,
                                         EARLIEST_DAY), LATEST_DAY).label("start_day")
    before_opening = (extract("hour", local_start) < OPEN_HOUR).label("before_opening")
    last_stage = func.coalesce(RenewalCase.outcome_stage, RenewalCase.stage).label("last_stage")
    columns = (start_day, before_opening, last_stage, RenewalCase.escalated, RenewalCase.outcome)
    return (
        select(*columns, func.count(), RenewalCase.skipped_windows)
        .where(RenewalCase.expiry_date.between(period.start, period.end), scope, *_case_filters(filters))
        .group_by(*columns, RenewalCase.skipped_windows)
    )


def opened_between(first: date, last: date, timezone: str) -> ColumnElement[bool]:
    """Tasks opened from the start of `first` to the end of `last`, days in `timezone`."""
    zone = ZoneInfo(timezone)
    opened_from = datetime.combine(first, time(0), tzinfo=zone)
    opened_until = datetime.combine(last + timedelta(days=1), time(0), tzinfo=zone)
    return and_(Task.opens_at >= opened_from, Task.opens_at < opened_until)


def _assignee_filters(filters: Filters) -> list[ColumnElement[bool]]:
    """The filters on the task's assignee: a case's tasks go to staff of its sub-branch."""
    where = _filters(filters, Staff.sub_branch_id, Staff.id)
    return [Task.assignee_id.in_(select(Staff.id).where(*where))] if where else []


def task_figures(now: datetime) -> list[ColumnElement]:
    """Per group of tasks (cancelled ones left out): the counts of the compliance report at `now`,
    and the handled tasks' seconds to handling as big-endian float8s. Tasks no longer open give
    the same figures at any `now`: the daily roll-up stores them (renewals/reports/task_rollup.py)."""
    daily = and_(Task.kind == TaskKind.call, Task.stage.in_(DAILY_STAGES))
    done = Task.state == TaskState.done
    # Final-week calls handled by a contact, and those the seed's two SMS followed (the stage table's sms_after_contact).
    final_week_contact = and_(Task.kind == TaskKind.call, Task.stage == Stage.FINAL_CONTACT, done,
                              Task.handled_result.in_([r.value for r in ContactResult]))
    past_due_unhandled = or_(Task.state == TaskState.expired, and_(Task.state == TaskState.open, Task.due_at <= now))

    def n(condition: ColumnElement[bool]):
        return func.count().filter(condition)

    handling = func.float8send(cast(extract("epoch", Task.handled_at - Task.opens_at), Float))
    return [func.count().label("opened"),
            n(and_(daily, or_(done, Task.due_at <= now))).label("daily_due"),
            n(and_(daily, done, Task.handled_at <= Task.due_at)).label("daily_same_day"),
            n(and_(daily, past_due_unhandled)).label("missed"),
            n(and_(~daily, past_due_unhandled)).label("overdue_open"),
            n(and_(Task.state == TaskState.open, Task.due_at > now)).label("pending"),
            n(done).label("handled"),
            func.coalesce(func.string_agg(handling, literal(b"")).filter(done), b"").label("handling_seconds"),
            n(final_week_contact).label("final_week_contacts"),
            n(and_(final_week_contact, Task.quote_sms_sent, Task.service_request_sms_sent)).label("final_week_both_sms")]


def _on_task_day(condition: ColumnElement[bool]) -> ColumnElement[bool]:
    """A condition on a task's assignee (a reader's scope, the filters) as the same condition on
    the roll-up's assignee."""
    def replace(element):
        if isinstance(element, Column) and element.table is Task.__table__:
            if element.name != "assignee_id":
                raise ValueError(f"the task roll-up has no column {element.name}")
            return TaskDay.__table__.c.assignee_id
        return None

    return replacement_traverse(condition, {}, replace)


def task_counts_statement(period: Period, scope: ColumnElement[bool], filters: Filters, timezone: str,
                          now: datetime, rolled: Collection[date] = ()) -> Select:
    """Tasks opened in the period (days in `timezone`), per assignee: the `rolled` days read from
    the daily roll-up, the other days scanned. `scope` is a condition on Task's assignee alone: no
    join to the cases, so the assignee index drives the scan."""
    where = [scope, *_assignee_filters(filters)]
    parts = []
    scanned = [opened_between(first, last, timezone) for first, last in unrolled_days(period, rolled)]
    if scanned:
        parts.append(select(Task.assignee_id, *task_figures(now))
                     .where(or_(*scanned), Task.state != TaskState.cancelled, *where).group_by(Task.assignee_id))
    if rolled:
        parts.append(select(TaskDay.assignee_id, TaskDay.opened, TaskDay.daily_due, TaskDay.daily_same_day,
                            TaskDay.missed, TaskDay.overdue_open, literal(0).label("pending"), TaskDay.handled,
                            TaskDay.handling_seconds, TaskDay.final_week_contacts, TaskDay.final_week_both_sms)
                     # Only the days the scan leaves out, even if more were rolled up since.
                     .where(TaskDay.timezone == timezone, TaskDay.day.in_(sorted(rolled)),
                            *map(_on_task_day, where)))
    counted = union_all(*parts).subquery()
    totals = [cast(func.sum(counted.c[name]), Integer).label(name) for name in
              ("opened", "daily_due", "daily_same_day", "missed", "overdue_open", "pending", "handled",
               "final_week_contacts", "final_week_both_sms")]
    grouped = (select(counted.c.assignee_id, *totals,
                      func.string_agg(counted.c.handling_seconds, literal(b"")).label("handling_seconds"))
               .group_by(counted.c.assignee_id).subquery())
    return (
        select(grouped.c.assignee_id, Staff.name, Staff.role, SubBranch.code, grouped.c.opened, grouped.c.daily_due,
               grouped.c.daily_same_day, grouped.c.missed, grouped.c.overdue_open, grouped.c.pending,
               grouped.c.handled, grouped.c.handling_seconds, grouped.c.final_week_contacts,
               grouped.c.final_week_both_sms)
        .join(Staff, Staff.id == grouped.c.assignee_id)
        .join(SubBranch, SubBranch.id == Staff.sub_branch_id, isouter=True)
    )


def rolled_days(session: Session, period: Period, timezone: str) -> list[date]:
    return [day for day, in session.exec(select(RolledTaskDay.day).where(
        RolledTaskDay.timezone == timezone, RolledTaskDay.day.between(period.start, period.end)))]


def escalations_statement(period: Period, scope: ColumnElement[bool], filters: Filters) -> Select:
    """Escalations per case owner: escalated cases whose deputy-supervision window opened in the
    period (on the renewal calendar), read through the expiry index."""
    first_expiry = period.start - timedelta(days=ESCALATION_DAY)
    last_expiry = period.end - timedelta(days=ESCALATION_DAY)
    return (
        select(RenewalCase.owner_id, cast(func.count(), Integer))
        .where(RenewalCase.expiry_date.between(first_expiry, last_expiry), RenewalCase.escalated, scope,
               *_case_filters(filters))
        .group_by(RenewalCase.owner_id)
    )


def everything() -> ColumnElement[bool]:
    """The CLI's scope: an operator with database access reads the whole company."""
    return true()


def renewals_report(session: Session, period: Period, scope: ColumnElement[bool], filters: Filters) -> RenewalReport:
    allow_long_statements(session)  # a report may count a year of a million cases
    rows = session.exec(renewal_counts_statement(period, scope, filters)).all()
    return renewal_report([CaseCount(*row) for row in rows], period)


def funnel(session: Session, period: Period, scope: ColumnElement[bool], filters: Filters) -> FunnelReport:
    allow_long_statements(session)
    rows = session.exec(funnel_counts_statement(period, scope, filters)).all()
    return funnel_report([FunnelCount(*row) for row in rows], period)


def tasks_report(session: Session, period: Period, tasks: ColumnElement[bool], cases: ColumnElement[bool],
                 filters: Filters, timezone: str, now: datetime) -> TaskReport:
    """`tasks` and `cases`: the reader's scope as conditions on Task and on RenewalCase."""
    import numpy  # here, not at the top: the API and the worker import this module at start-up

    allow_long_statements(session)
    rolled = rolled_days(session, period, timezone)
    rows = session.exec(task_counts_statement(period, tasks, filters, timezone, now, rolled)).all()
    handling = [numpy.frombuffer(row[11], dtype=">f8") for row in rows]
    counts = [TaskCount(*row[:11], median(seconds), *row[12:]) for row, seconds in zip(rows, handling, strict=True)]
    total = TaskCount(None, None, None, None, *(sum(c[i] for c in rows) for i in range(4, 11)),
                      median(numpy.concatenate(handling)) if handling else None,
                      *(sum(c[i] for c in rows) for i in range(12, 14)))
    escalations = dict(session.exec(escalations_statement(period, cases, filters)).all())
    return task_report([*counts, total], escalations, period)


def median(values: numpy.ndarray) -> float | None:
    """The median as PostgreSQL's percentile_cont(0.5): the middle value, or halfway between the two."""
    import numpy

    return float(numpy.median(values)) if len(values) else None
