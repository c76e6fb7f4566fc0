"""The daily task roll-up: the task report read from rolled-up days plus the scan of
the others gives the very figures of a scan of every task, whatever has been rolled up; a day is
rolled up only once settled, a task added to a rolled-up day sends it back to the scan, and
rolling up again changes nothing."""

from __future__ import annotations

import random
import uuid
from dataclasses import asdict
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, select, text, update
from sqlmodel import Session

from activities.projection import CaseProjection
from renewals.case.contract import CaseChange, CaseSnapshot
from api.access import task_scope
from models import RenewalCase, Role, RolledTaskDay, Staff, Task, TaskDay, TaskState
from renewals.reports import queries as q
from renewals.reports.rules import Period, unrolled_days
from renewals.dev.seed import create_policy
from renewals.org.service import add_org, add_staff
from renewals.reports.task_rollup import ROLLUP_CRON, ROLLUP_SCHEDULE_ID, ensure_rollup_schedule, roll_up
from tests.scenario import unique_phone
from renewals.case.contract import OpenTask
from renewals.case.contract import TASK_ROLLUP_WORKFLOW
from tests.schedules import assert_set_up_nightly

TIMEZONE = "Asia/Shanghai"
TZ = ZoneInfo(TIMEZONE)
NOW = datetime(2026, 3, 20, 12, tzinfo=TZ)
FEBRUARY_TO_NOW = Period(date(2026, 2, 1), date(2026, 3, 31))
# Days with a task still open (due after NOW): they stay with the scan.
OPEN_DAYS = {date(2026, 2, 9), date(2026, 3, 2)}


def _local(day: date, seconds: float) -> datetime:
    return datetime.combine(day, time(0), tzinfo=TZ) + timedelta(seconds=seconds)


@pytest.fixture(scope="module")
def people(engine) -> dict[str, Staff]:
    """Two sales and a deputy in one sub-branch, a sales in another; 50 days of tasks, Feb 1 to
    Mar 22, with handling times to the microsecond, some days with tasks still open."""
    suffix = uuid.uuid4().hex[:6]
    rng = random.Random(12)
    with Session(engine, expire_on_commit=False) as session:
        for sub in ("1", "2"):
            add_org(session, branch_code=f"B{suffix}", branch_name="上海分公司", sub_branch_code=f"S{sub}{suffix}",
                    sub_branch_name=f"支公司{sub}")
        people = {name: add_staff(session, username=f"{name}-{suffix}", name=name, role=role, phone=unique_phone(),
                                  sub_branch_code=f"S{sub}{suffix}")
                  for name, role, sub in (("甲", Role.sales, "1"), ("乙", Role.sales, "1"), ("副", Role.deputy, "1"),
                                          ("丙", Role.sales, "2"))}
        session.flush()
        cases = {}
        for name, person in people.items():
            policy = create_policy(
                session, policy_no=f"ROL{uuid.uuid4().int % 10**12:012d}", sub_branch_id=person.sub_branch_id,
                owner_id=person.id, expires_on=date(2026, 3, 25), customer_name="钱多多", phone=unique_phone(),
                id_number="310101199001011234", plate="沪A00001").policy
            case = RenewalCase(id=uuid.uuid4(), workflow_id=f"renewal-{policy.policy_no}", policy_id=policy.id,
                               policy_no=policy.policy_no, expiry_date=date(2026, 3, 25), timezone=TIMEZONE,
                               sub_branch_id=person.sub_branch_id, stage="THIRD_CONTACT", owner_id=person.id,
                               deputy_id=people["副"].id, started_at=_local(date(2025, 12, 25), 36000))
            session.add(case)
            cases[name] = case.id
        session.flush()
        for n in range(50):
            day = date(2026, 2, 1) + timedelta(days=n)
            for name, person in people.items():
                for _ in range(rng.randint(1, 6)):
                    kind, stage = rng.choice([("call", "THIRD_CONTACT"), ("call", "FINAL_CONTACT"),
                                              ("call", "SECOND_CONTACT"), ("supervision", "DEPUTY_SUPERVISION")])
                    opens = _local(day, rng.uniform(0, 86399))  # any time of the day: the day's edges too
                    due = _local(day + timedelta(days=1), 0) if stage != "SECOND_CONTACT" else opens + timedelta(days=3)
                    state = rng.choice(["done", "done", "done", "expired", "cancelled"])
                    if due > NOW or day in OPEN_DAYS and name == "乙":
                        state = rng.choice(["open", "done"]) if due > NOW else "open"
                        due = max(due, NOW + timedelta(days=2))
                    handled = opens + timedelta(seconds=rng.uniform(0, 2 * 86400)) if state == "done" else None
                    if handled and handled > NOW:
                        handled = NOW
                    session.add(Task(id=uuid.uuid4(), case_id=cases[name], assignee_id=person.id, kind=kind,
                                     stage=stage, opens_at=opens, due_at=due, state=state, handled_at=handled,
                                     handled_by=person.id if handled else None))
        session.commit()
    return people


READERS = ("auditor", "deputy")
PERIODS = (FEBRUARY_TO_NOW, Period(date(2026, 2, 9), date(2026, 2, 9)), Period(date(2026, 2, 3), date(2026, 3, 4)),
           Period(date(2026, 3, 15), date(2026, 3, 31)))


def _reports(bind, people) -> list[dict]:
    scopes = {"auditor": q.everything(), "deputy": task_scope(people["副"])}
    with Session(bind) as session:
        return [asdict(q.tasks_report(session, period, scopes[reader], q.everything(), filters, TIMEZONE, NOW))
                for reader in READERS for period in PERIODS
                for filters in (q.Filters(), q.Filters(manager_id=people["甲"].id))]


def _scanned(engine, people) -> list[dict]:
    """The reports from a scan of every task: the roll-up as if it had never run."""
    with engine.connect() as conn, conn.begin() as transaction:
        conn.execute(delete(RolledTaskDay))
        reports = _reports(conn, people)
        transaction.rollback()
    return reports


def _exact_medians(engine, period: Period) -> dict[uuid.UUID | None, float]:
    """Today's definition: percentile_cont over every handled task of the period, in minutes."""
    with engine.connect() as conn:
        rows = conn.execute(text(
            "select assignee_id, "
            "percentile_cont(0.5) within group (order by extract(epoch from handled_at - opens_at)) "
            "from task where state = 'done' and (opens_at at time zone :tz)::date between :first and :last "
            "group by grouping sets (assignee_id, ())"), {"tz": TIMEZONE, "first": period.start, "last": period.end})
        return {assignee: round(seconds / 60, 1) for assignee, seconds in rows}


def _open_days(engine) -> set[date]:
    """Days before today with a task still open."""
    with engine.connect() as conn:
        return set(conn.execute(text(
            "select distinct (opens_at at time zone :tz)::date from task where state = 'open' and opens_at < :today"),
            {"tz": TIMEZONE, "today": _local(NOW.date(), 0)}).scalars())


def _rollup(engine) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(TaskDay).order_by(TaskDay.day, TaskDay.assignee_id))]


def test_unrolled_days_are_the_runs_of_days_not_rolled_up():
    period = Period(date(2026, 3, 1), date(2026, 3, 10))
    rolled = [date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 5), date(2026, 3, 10), date(2026, 2, 28)]
    assert unrolled_days(period, rolled) == [(date(2026, 3, 3), date(2026, 3, 4)), (date(2026, 3, 6), date(2026, 3, 9))]
    assert unrolled_days(period, []) == [(period.start, period.end)]
    assert unrolled_days(Period(date(2026, 3, 1), date(2026, 3, 2)), rolled) == []


def test_the_report_from_the_roll_up_equals_a_scan_of_every_task(engine, people):
    scanned = _reports(engine, people)
    medians = {p: _exact_medians(engine, p) for p in PERIODS}
    for report in scanned[:len(PERIODS) * 2:2]:  # the auditor's, no filter: every assignee's median
        by_id = {r["manager_id"]: r["median_minutes_to_handle"] for r in report["managers"]}
        expected = medians[Period(**report["period"])]
        assert by_id == {k: expected.get(k) for k in by_id} and expected.keys() - {None} <= by_id.keys()
        assert report["total"]["median_minutes_to_handle"] == expected[None]
    open_days = _open_days(engine)
    assert OPEN_DAYS <= open_days
    # Feb 1 to Mar 19: the days with an open task stay with the scan, and so do today and after.
    assert roll_up(engine, TIMEZONE, NOW) == (47 - len(open_days), len(open_days))
    with engine.connect() as conn:
        days = set(conn.execute(select(RolledTaskDay.day)).scalars())
    assert not days & open_days and len(days) == 47 - len(open_days) and max(days) < NOW.date()
    assert _reports(engine, people) == scanned
    # The rolled-up days are read from the roll-up: with their tasks gone, the figures stay.
    with engine.connect() as conn, conn.begin() as transaction:
        conn.execute(delete(Task).where(Task.opens_at < _local(date(2026, 2, 9), 0)))
        assert _reports(conn, people) == scanned
        transaction.rollback()


def test_a_day_is_rolled_up_once_its_last_open_task_is_handled(engine, people):
    day = min(OPEN_DAYS)
    open_days = _open_days(engine)
    assert roll_up(engine, TIMEZONE, NOW) == (0, len(open_days))
    with Session(engine) as session:
        session.exec(update(Task).where(Task.state == TaskState.open, Task.opens_at >= _local(day, 0),
                                        Task.opens_at < _local(day + timedelta(days=1), 0))
                     .values(state=TaskState.done, handled_at=NOW))
        session.commit()
    scanned = _scanned(engine, people)
    assert _reports(engine, people) == scanned
    assert roll_up(engine, TIMEZONE, NOW) == (1, len(open_days) - 1)
    assert _reports(engine, people) == scanned


def test_rolling_up_again_changes_nothing(engine, people):
    roll_up(engine, TIMEZONE, NOW)
    rows, open_days = _rollup(engine), _open_days(engine)
    assert rows and roll_up(engine, TIMEZONE, NOW + timedelta(hours=1)) == (0, len(open_days))
    with engine.begin() as conn:  # a retried roll-up of a day already done
        conn.execute(delete(RolledTaskDay).where(RolledTaskDay.day == date(2026, 3, 10)))
    assert roll_up(engine, TIMEZONE, NOW) == (1, len(open_days))
    assert _rollup(engine) == rows


def test_a_task_the_projection_opens_on_a_rolled_up_day_is_counted(engine, people):
    roll_up(engine, TIMEZONE, NOW)
    day = date(2026, 3, 12)
    with Session(engine) as session:
        case = session.scalars(select(RenewalCase).where(RenewalCase.owner_id == people["丙"].id)).one()
    task = OpenTask(id=uuid.uuid4(), kind="complaint", assignee_id=case.owner_id, stage="THIRD_CONTACT",
                    opens_at=_local(day, 3600), due_at=_local(day, 7200))
    snapshot = CaseSnapshot(case_id=case.id, workflow_id=case.workflow_id, policy_no=case.policy_no,
                            expiry_date=case.expiry_date, timezone=TIMEZONE, stage=case.stage, owner_id=case.owner_id,
                            deputy_id=case.deputy_id)
    rolled = _reports(engine, people)
    CaseProjection(engine).project_case(CaseChange(at=NOW, case=snapshot, open_tasks=[task]))
    with engine.connect() as conn:
        assert day not in set(conn.execute(select(RolledTaskDay.day)).scalars())
    after = _reports(engine, people)
    assert after != rolled
    march = next(r for r in after if Period(**r["period"]) == FEBRUARY_TO_NOW)  # the auditor's, no filter
    before = next(r for r in rolled if Period(**r["period"]) == FEBRUARY_TO_NOW)
    assert march["total"]["overdue_open"] == before["total"]["overdue_open"] + 1
    roll_up(engine, TIMEZONE, NOW)
    assert _reports(engine, people) == after


# Last in this module: they roll up to the real today.
async def test_the_nightly_workflow_rolls_up_the_settled_days(engine, people, time_env, task_queue, database_url,
                                                               monkeypatch):
    from typer.testing import CliRunner

    from renewals.cli.main import app as cli
    from renewals.core.db import get_engine
    from renewals.core.settings import get_settings

    with engine.connect() as conn:
        opened_before_today = text("select count(distinct (opens_at at time zone :tz)::date) from task "
                                   "where state = 'open' and opens_at < date_trunc('day', now() at time zone :tz) "
                                   "at time zone :tz")
        left = conn.execute(opened_before_today, {"tz": TIMEZONE}).scalar()
    rolled, still_open = await time_env.client.execute_workflow(
        TASK_ROLLUP_WORKFLOW, id=f"task-rollup-{uuid.uuid4()}", task_queue=task_queue)
    assert rolled > 0 and still_open == left
    assert _reports(engine, people) == _scanned(engine, people)
    monkeypatch.setenv("DATABASE_URL", database_url)
    get_settings.cache_clear()
    get_engine.cache_clear()
    try:
        again = CliRunner().invoke(cli, ["report", "roll-up"])
    finally:
        get_settings.cache_clear()
        get_engine.cache_clear()
    assert again.exit_code == 0 and f"0 days rolled up; {left} days with a task still open" in again.output


async def test_setup_schedules_the_roll_up_every_night_after_the_intake(dev_env, settings):
    await assert_set_up_nightly(dev_env.client, settings, ensure_rollup_schedule, ROLLUP_SCHEDULE_ID, TASK_ROLLUP_WORKFLOW, ROLLUP_CRON, (1, 30))
