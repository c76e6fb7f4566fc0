"""The SQL behind the reports: grouped counts read from the projection tables (renewal_case, task)
through the indexes of migration 0005; `renewals/reports.py` turns them into figures.

Every query takes `scope`, a condition on RenewalCase (or, for tasks, on Task) from the one
authorization layer (api/access.py); the CLI passes `true()`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement, Date, Integer, Select, and_, case, cast, extract, func, literal_column, or_, select, true,
)
from sqlmodel import Session

from models import Branch, RenewalCase, Staff, SubBranch, Task, TaskKind, TaskState
from renewals.calendar import Outcome
from renewals.reports import (
    DAILY_STAGES, EARLIEST_DAY, ESCALATION_DAY, LATEST_DAY, OPEN_HOUR, CaseCount, FunnelCount, FunnelReport, Period, RenewalReport,
    TaskCount, TaskReport, funnel_report, renewal_report, task_report,
)


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
    """Cases due in the period by the local day they started on, the stage they reached and how they ended."""
    local_start = func.timezone(RenewalCase.timezone, RenewalCase.started_at)
    start_day = func.least(func.greatest(cast(local_start, Date) - RenewalCase.expiry_date,
                                         EARLIEST_DAY), LATEST_DAY).label("start_day")
    before_opening = (extract("hour", local_start) < OPEN_HOUR).label("before_opening")
    last_stage = func.coalesce(RenewalCase.outcome_stage, RenewalCase.stage).label("last_stage")
    columns = (start_day, before_opening, last_stage, RenewalCase.escalated, RenewalCase.outcome)
    return (
        select(*columns, func.count())
        .where(RenewalCase.expiry_date.between(period.start, period.end), scope, *_case_filters(filters))
        .group_by(*columns)
    )


def _opened_in(period: Period, timezone: str) -> ColumnElement[bool]:
    zone = ZoneInfo(timezone)
    opened_from = datetime.combine(period.start, time(0), tzinfo=zone)
    opened_until = datetime.combine(period.end + timedelta(days=1), time(0), tzinfo=zone)
    return and_(Task.opens_at >= opened_from, Task.opens_at < opened_until, Task.state != TaskState.cancelled)


def _assignee_filters(filters: Filters) -> list[ColumnElement[bool]]:
    """The filters on the task's assignee: a case's tasks go to staff of its sub-branch."""
    where = _filters(filters, Staff.sub_branch_id, Staff.id)
    return [Task.assignee_id.in_(select(Staff.id).where(*where))] if where else []


def task_counts_statement(period: Period, scope: ColumnElement[bool], filters: Filters, timezone: str,
                          now: datetime) -> Select:
    """Tasks opened in the period (days in `timezone`), per assignee and in total. `scope` is a
    condition on Task alone: no join to the cases, so the assignee index drives the scan."""
    daily = and_(Task.kind == TaskKind.call, Task.stage.in_(DAILY_STAGES))
    done = Task.state == TaskState.done
    past_due_unhandled = or_(Task.state == TaskState.expired, and_(Task.state == TaskState.open, Task.due_at <= now))

    def n(condition: ColumnElement[bool]):
        return func.count().filter(condition)

    handling = extract("epoch", Task.handled_at - Task.opens_at)
    grouped = (
        select(Task.assignee_id, func.count().label("opened"),
               n(and_(daily, or_(done, Task.due_at <= now))).label("daily_due"),
               n(and_(daily, done, Task.handled_at <= Task.due_at)).label("daily_same_day"),
               n(and_(daily, past_due_unhandled)).label("missed"),
               n(and_(~daily, past_due_unhandled)).label("overdue_open"),
               n(and_(Task.state == TaskState.open, Task.due_at > now)).label("pending"),
               n(done).label("handled"),
               func.percentile_cont(0.5).within_group(handling).filter(done).label("median"))
        .where(_opened_in(period, timezone), scope, *_assignee_filters(filters))
        .group_by(func.grouping_sets(Task.assignee_id, literal_column("()")))
        .subquery()
    )
    return (
        select(grouped.c.assignee_id, Staff.name, Staff.role, SubBranch.code, grouped.c.opened, grouped.c.daily_due,
               grouped.c.daily_same_day, grouped.c.missed, grouped.c.overdue_open, grouped.c.pending,
               grouped.c.handled, grouped.c.median)
        .join(Staff, Staff.id == grouped.c.assignee_id, isouter=True)
        .join(SubBranch, SubBranch.id == Staff.sub_branch_id, isouter=True)
    )


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
    rows = session.exec(renewal_counts_statement(period, scope, filters)).all()
    return renewal_report([CaseCount(*row) for row in rows], period)


def funnel(session: Session, period: Period, scope: ColumnElement[bool], filters: Filters) -> FunnelReport:
    rows = session.exec(funnel_counts_statement(period, scope, filters)).all()
    return funnel_report([FunnelCount(*row) for row in rows], period)


def tasks_report(session: Session, period: Period, tasks: ColumnElement[bool], cases: ColumnElement[bool],
                 filters: Filters, timezone: str, now: datetime) -> TaskReport:
    """`tasks` and `cases`: the reader's scope as conditions on Task and on RenewalCase."""
    rows = session.exec(task_counts_statement(period, tasks, filters, timezone, now)).all()
    counts = [TaskCount(*row[:11], None if row[11] is None else float(row[11])) for row in rows]
    escalations = dict(session.exec(escalations_statement(period, cases, filters)).all())
    return task_report(counts, escalations, period)
