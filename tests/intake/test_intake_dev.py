"""Intake on the Temporal dev server, where workflow runs can be counted (visibility): re-imports
start nothing twice, a moved expiry signals the running case, a finished case is never rerun,
unassigned policies wait for an admin, and the daily intake run starts exactly what is due."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from sqlmodel import Session, select
from temporalio.api.enums.v1 import EventType
from temporalio.client import ScheduleActionStartWorkflow

from models import Assignment, Policy, RenewalCase, Role, Staff
from renewals.intake import service as intake
from renewals.case.start import CaseRejected, StartOutcome, renewal_input, start_case, update_case
from renewals.intake.service import create_job, local_today, read_job, run_import
from renewals.ownership.service import assign_policy
from renewals.dev.sample_book import rows, to_csv
from renewals.org.service import add_org
from tests.api.conftest import add_person, add_sub_branch, make_deputy
from renewals.intake.schedule import ensure_intake_schedule
from tests.scenario import eventually
from tests.intake.books import dev_worker, run_cli
from renewals.case import contract as c
from renewals.case.contract import INTAKE_SCHEDULE_ID, IntakeInput, IntakeSummary


@dataclass
class Org:
    branch: str
    sub_branch: str
    sales: list[Staff]
    deputy: Staff
    admin: Staff


@pytest.fixture(scope="module")
def org(engine) -> Org:
    suffix = uuid.uuid4().hex[:5].upper()
    with Session(engine) as session:
        add_org(session, branch_code=f"B{suffix}", branch_name="苏州分公司")
        session.commit()
    sub_branch = add_sub_branch(engine, f"B{suffix}")
    sales = [add_person(engine, Role.sales, sub_branch_code=sub_branch, name=f"销售{n}") for n in (1, 2)]
    deputy = add_person(engine, Role.deputy, sub_branch_code=sub_branch, name="副经理")
    admin = add_person(engine, Role.admin, branch_code=f"B{suffix}", name="专员")
    with Session(engine, expire_on_commit=False) as session:
        for n, staff in enumerate(sales, start=1):
            staff.handler_code = f"H{suffix}{n}"
            session.add(staff)
        session.commit()
    make_deputy(engine, sub_branch, deputy)
    return Org(f"B{suffix}", sub_branch, sales, deputy, admin)


@pytest_asyncio.fixture(scope="module")
async def dev_settings(dev_env, settings, engine) -> AsyncIterator:
    async with dev_worker(dev_env, settings, engine, "intake-dev") as dev:
        yield dev


def book(org: Org, count: int, first_expiry: date, prefix: str) -> list[dict[str, str]]:
    records = rows(count, start=first_expiry, prefix=prefix, sub_branch=org.sub_branch,
                   managers=tuple(s.username for s in org.sales), handler_codes=tuple(s.handler_code for s in org.sales))
    for i, record in enumerate(records):  # one expiry a day from first_expiry, every row with its manager
        expiry = first_expiry + timedelta(days=i)
        record.update(expires_on=f"{expiry:%Y-%m-%d}", starts_on=f"{expiry - timedelta(days=365):%Y-%m-%d}",
                      manager=org.sales[i % 2].username)
    return records


async def until(predicate, timeout: float = 20) -> None:
    def check():
        assert predicate()

    await eventually(check, timeout)


async def runs(dev_env, query: str) -> int:
    return (await dev_env.client.count_workflows(f'WorkflowType = "PolicyRenewal" AND {query}')).count


async def settled_runs(dev_env, query: str, expected: int) -> int:
    """Visibility is eventually consistent: wait until the count is `expected` (or give up and return it)."""
    for _ in range(50):
        if (n := await runs(dev_env, query)) == expected:
            await asyncio.sleep(0.5)
            return await runs(dev_env, query)
        await asyncio.sleep(0.2)
    return n


async def import_rows(engine, dev_env, settings, records, today=None):
    data = to_csv(records)
    return await run_import(engine, dev_env.client, settings, create_job(engine, "book.csv", data), data,
                            today=today)


def case_of(engine, policy_no: str) -> RenewalCase | None:
    with Session(engine) as session:
        return session.exec(select(RenewalCase).where(RenewalCase.policy_no == policy_no)).first()


async def signals(dev_env, workflow_id: str, name: str) -> int:
    history = await dev_env.client.get_workflow_handle(workflow_id).fetch_history()
    return sum(1 for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
               and e.workflow_execution_signaled_event_attributes.signal_name == name)


async def updates(dev_env, workflow_id: str, name: str) -> int:
    history = await dev_env.client.get_workflow_handle(workflow_id).fetch_history()
    return sum(1 for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
               and e.workflow_execution_update_accepted_event_attributes.accepted_request.input.name == name)


async def terminate(dev_env, query: str) -> None:
    async for wf in dev_env.client.list_workflows(f'{query} AND ExecutionStatus = "Running"'):
        await dev_env.client.get_workflow_handle(wf.id).terminate("test finished")


async def test_reimport_changes_nothing_and_a_moved_expiry_signals_the_running_case(engine, dev_env, dev_settings, org):
    today = local_today(dev_settings)
    records = book(org, 6, today + timedelta(days=20), "PRE")  # all in the 60-day horizon
    first = await import_rows(engine, dev_env, dev_settings, records)
    assert first.errors == [] and first.counts["cases_started"] == 6
    query = 'PolicyNo STARTS_WITH "PRE"'
    assert await settled_runs(dev_env, query, 6) == 6
    await until(lambda: all(case_of(engine, r["policy_no"]) for r in records), timeout=20)

    again = await import_rows(engine, dev_env, dev_settings, records)
    assert again.counts["inserted"] == again.counts["updated"] == 0 and again.counts["unchanged"] == 6
    assert again.counts["cases_started"] == again.counts["expiry_changed"] == again.counts["reassigned"] == 0
    assert await settled_runs(dev_env, query, 7) == 6, "a re-import starts no workflow run"

    moved = records[2]
    old_expiry = date.fromisoformat(moved["expires_on"])
    moved["expires_on"] = f"{old_expiry + timedelta(days=15):%Y-%m-%d}"
    endorsed = await import_rows(engine, dev_env, dev_settings, records)
    assert endorsed.counts["updated"] == 1 and endorsed.counts["expiry_changed"] == 1
    assert endorsed.counts["cases_started"] == 0
    workflow_id = c.renewal_workflow_id(moved["policy_no"], old_expiry)  # the id keeps the first expiry date
    await until(lambda: case_of(engine, moved["policy_no"]).expiry_date == old_expiry + timedelta(days=15),
                     timeout=20)
    await import_rows(engine, dev_env, dev_settings, records)  # once more: nothing left to signal
    assert await signals(dev_env, workflow_id, "expiry_changed") == 1
    assert await settled_runs(dev_env, query, 7) == 6
    await terminate(dev_env, query)


async def test_a_changed_manager_in_the_file_reassigns_the_running_case(engine, dev_env, dev_settings, org):
    today = local_today(dev_settings)
    records = book(org, 2, today + timedelta(days=10), "PMG")
    await import_rows(engine, dev_env, dev_settings, records)
    await until(lambda: all(case_of(engine, r["policy_no"]) for r in records), timeout=20)
    first_owner = case_of(engine, records[0]["policy_no"]).owner_id
    other = next(s for s in org.sales if s.id != first_owner)
    records[0]["manager"] = other.username
    result = await import_rows(engine, dev_env, dev_settings, records)
    assert result.counts["reassigned"] == 1 and result.counts["cases_started"] == 0
    handle = dev_env.client.get_workflow_handle(case_of(engine, records[0]["policy_no"]).workflow_id)
    assert (await handle.query("state", result_type=c.CaseState)).owner_id == other.id
    with Session(engine) as session:
        history = session.exec(select(Assignment).join(Policy, Policy.id == Assignment.policy_id)
                               .where(Policy.policy_no == records[0]["policy_no"]).order_by(Assignment.assigned_at)).all()
    assert [(a.staff_id, a.ended_at is None) for a in history] == [(first_owner, False), (other.id, True)]
    assert history[1].previous_staff_id == first_owner
    await terminate(dev_env, 'PolicyNo STARTS_WITH "PMG"')


async def test_a_finished_case_is_never_started_again(engine, dev_env, dev_settings, org):
    today = local_today(dev_settings)
    records = book(org, 1, today + timedelta(days=30), "PFIN")
    await import_rows(engine, dev_env, dev_settings, records)
    policy_no = records[0]["policy_no"]
    await until(lambda: case_of(engine, policy_no) is not None, timeout=20)
    case = case_of(engine, policy_no)
    handle = dev_env.client.get_workflow_handle(case.workflow_id)
    await handle.signal("policy_renewed", c.PolicyRenewed(new_policy_no=f"{policy_no}R"))
    await handle.result()
    await until(lambda: case_of(engine, policy_no).outcome == "RENEWED", timeout=20)

    again = await import_rows(engine, dev_env, dev_settings, records)
    assert again.counts["cases_started"] == 0
    inp = renewal_input(dev_settings, policy_no=policy_no, expiry_date=case.expiry_date, owner_id=case.owner_id,
                        deputy_id=case.deputy_id, branch=org.branch, sub_branch=org.sub_branch, admin_ids=[])
    started = await start_case(dev_env.client, inp, dev_settings.task_queue)
    assert started.outcome is StartOutcome.already_done and started.said == "already done"
    assert await settled_runs(dev_env, f'PolicyNo = "{policy_no}"', 2) == 1, "no second run"
    assert case_of(engine, policy_no).outcome == "RENEWED"


async def test_rows_without_manager_match_by_handler_code_and_unmatched_wait_for_an_admin(
        engine, dev_env, dev_settings, org):
    today = local_today(dev_settings)
    records = book(org, 3, today + timedelta(days=25), "PHC")
    for record in records:
        record["manager"] = ""
    records[0]["handler_code"] = org.sales[1].handler_code
    records[1]["handler_code"] = "NO-SUCH-CODE"
    records[2]["handler_code"] = ""
    result = await import_rows(engine, dev_env, dev_settings, records)
    assert result.errors == [] and result.counts["unassigned"] == 2 and result.counts["cases_started"] == 1
    await until(lambda: case_of(engine, records[0]["policy_no"]) is not None, timeout=20)
    assert case_of(engine, records[0]["policy_no"]).owner_id == org.sales[1].id
    assert await settled_runs(dev_env, 'PolicyNo STARTS_WITH "PHC"', 1) == 1, "unassigned policies start no case"

    with Session(engine, expire_on_commit=False) as session:
        waiting = session.exec(select(Policy).where(Policy.policy_no == records[1]["policy_no"])).one()
    counts = await assign_policy(engine, dev_env.client, dev_settings, waiting, org.sales[0].id, org.admin,
                                 "direct sale: handled by the sub-branch")
    assert counts["cases_started"] == 1
    await until(lambda: case_of(engine, records[1]["policy_no"]) is not None, timeout=20)
    assert case_of(engine, records[1]["policy_no"]).owner_id == org.sales[0].id
    await terminate(dev_env, 'PolicyNo STARTS_WITH "PHC"')


async def run_intake(dev_env, settings, as_of: date, record: str | None = None) -> IntakeSummary:
    """Run the daily intake for `as_of`; with RENEWALS_RECORD_HISTORIES=1, its history is kept in
    tests/histories/`record`.json for the replay test."""
    handle = await dev_env.client.start_workflow(
        "PolicyIntake", IntakeInput(as_of=as_of, timezone=settings.timezone), id=f"intake-test-{uuid.uuid4()}",
        task_queue=settings.task_queue, result_type=IntakeSummary)
    summary = await handle.result()
    if record and os.environ.get("RENEWALS_RECORD_HISTORIES") == "1":
        (Path(__file__).parents[1] / "histories" / f"{record}.json").write_text((await handle.fetch_history()).to_json())
    return summary


async def test_the_intake_run_starts_exactly_the_cases_entering_the_horizon_once(engine, dev_env, dev_settings, org):
    today = local_today(dev_settings)
    # Expiring 59, 60, 61 and 62 days from today: the first two are in the horizon today.
    records = book(org, 4, today + timedelta(days=59), "PDAY")
    result = await import_rows(engine, dev_env, dev_settings, records)
    assert result.counts["cases_started"] == 2
    query = 'PolicyNo STARTS_WITH "PDAY"'
    await until(lambda: all(case_of(engine, r["policy_no"]) for r in records[:2]), timeout=20)

    tomorrow = await run_intake(dev_env, dev_settings, today + timedelta(days=1), record="intake_starts_a_day")
    assert tomorrow.started == 1
    assert await settled_runs(dev_env, query, 3) == 3, "only the policy entering the horizon tomorrow"
    await until(lambda: case_of(engine, records[2]["policy_no"]) is not None, timeout=20)
    again = await run_intake(dev_env, dev_settings, today + timedelta(days=1))
    assert again.started == 0 and again.batches == 1
    assert await settled_runs(dev_env, query, 4) == 3
    await terminate(dev_env, query)


async def test_the_intake_run_moves_a_case_started_during_a_deputy_change_to_the_new_deputy(
        engine, dev_env, dev_settings, org):
    # A sub-branch of its own, whose deputy changes here.
    sub_branch = add_sub_branch(engine, org.branch)
    sales = add_person(engine, Role.sales, sub_branch_code=sub_branch, name="销售")
    old, new = (add_person(engine, Role.deputy, sub_branch_code=sub_branch, name=name) for name in ("旧副经理", "新副经理"))
    make_deputy(engine, sub_branch, old)
    records = book(Org(org.branch, sub_branch, [sales, sales], old, org.admin), 1,
                   local_today(dev_settings) + timedelta(days=30), "PDEPUTY")
    await import_rows(engine, dev_env, dev_settings, records)
    await until(lambda: case_of(engine, records[0]["policy_no"]) is not None)
    case = case_of(engine, records[0]["policy_no"])
    handle = dev_env.client.get_workflow_handle(case.workflow_id)
    complaint = c.RecordContact(actor=c.Actor(sales.id, c.ActorRole.sales), channel=c.Channel.call,
                                result=c.ContactResult.complaint)
    await handle.execute_update("record_contact", complaint, result_type=c.ActionDone)
    # The deputy changed after the case read its deputy and before it was recorded: the change
    # moved nothing, and the case still has the old deputy and the complaint task.
    make_deputy(engine, sub_branch, new)

    summary = await run_intake(dev_env, dev_settings, local_today(dev_settings), record="intake_aligns_deputies")
    assert summary.deputies_aligned >= 1
    state = await handle.query("state", result_type=c.CaseState)
    assert state.deputy_id == new.id
    assert [t.kind for t in state.open_tasks if t.assignee_id == new.id] == ["complaint"]
    assert not [t for t in state.open_tasks if t.assignee_id == old.id]
    await until(lambda: case_of(engine, records[0]["policy_no"]).deputy_id == new.id)
    await run_intake(dev_env, dev_settings, local_today(dev_settings))
    assert await updates(dev_env, case.workflow_id, "change_deputy") == 1, "moved once, not every night"
    await terminate(dev_env, 'PolicyNo STARTS_WITH "PDEPUTY"')


async def commit_without_cases(engine, dev_env, settings, records, monkeypatch) -> None:
    """Import `records` by a process that dies between committing the policies and starting their cases."""
    async def crash(*args, **kwargs):
        raise ConnectionError("the import process died here")

    monkeypatch.setattr(intake, "follow_policies", crash)
    with pytest.raises(ConnectionError):
        await import_rows(engine, dev_env, settings, records)
    monkeypatch.undo()
    prefix = os.path.commonprefix([r["policy_no"] for r in records])
    with Session(engine) as session:
        committed = session.exec(select(Policy.policy_no).where(Policy.policy_no.startswith(prefix))).all()
    assert len(committed) == len(records) and all(case_of(engine, r["policy_no"]) is None for r in records)


async def test_a_crash_between_commit_and_case_start_loses_no_case(engine, dev_env, dev_settings, org, monkeypatch):
    today = local_today(dev_settings)
    records = book(org, 3, today + timedelta(days=40), "PCRASH")
    await commit_without_cases(engine, dev_env, dev_settings, records, monkeypatch)

    summary = await run_intake(dev_env, dev_settings, today)
    assert summary.started == 3
    await until(lambda: all(case_of(engine, r["policy_no"]) for r in records), timeout=20)
    assert await settled_runs(dev_env, 'PolicyNo STARTS_WITH "PCRASH"', 3) == 3
    await terminate(dev_env, 'PolicyNo STARTS_WITH "PCRASH"')


async def test_the_daily_schedule_starts_the_cases_due_today(engine, dev_env, dev_settings, org, monkeypatch):
    # What the schedule runs at 01:00 is the workflow without a day: it works out today itself.
    records = book(org, 2, local_today(dev_settings) + timedelta(days=50), "PSCHED")
    await commit_without_cases(engine, dev_env, dev_settings, records, monkeypatch)
    await ensure_intake_schedule(dev_env.client, dev_settings)
    schedule = dev_env.client.get_schedule_handle(INTAKE_SCHEDULE_ID)
    try:
        await schedule.trigger()
        for _ in range(100):
            if actions := (await schedule.describe()).info.recent_actions:
                break
            await asyncio.sleep(0.2)
        run = dev_env.client.get_workflow_handle(actions[-1].action.workflow_id, result_type=IntakeSummary)
        summary = await asyncio.wait_for(run.result(), timeout=60)
    finally:
        await schedule.delete()
    assert summary.as_of == local_today(dev_settings) and summary.started >= 2
    await until(lambda: all(case_of(engine, r["policy_no"]) for r in records), timeout=20)
    await terminate(dev_env, 'PolicyNo STARTS_WITH "PSCHED"')


@pytest.mark.timeout(90)
async def test_the_intake_command_without_a_date_runs_for_today(engine, dev_env, dev_settings, monkeypatch):
    # On a thread: the worker answering the command runs on this test's event loop.
    result = await asyncio.to_thread(run_cli, dev_env, dev_settings, monkeypatch, "intake", "run")
    assert result.exit_code == 0, result.output
    assert f"intake for {local_today(dev_settings)}" in result.output


async def test_setup_creates_the_daily_intake_schedule_once(dev_env, dev_settings):
    assert await ensure_intake_schedule(dev_env.client, dev_settings) in ("created", "updated")
    assert await ensure_intake_schedule(dev_env.client, dev_settings) == "updated"
    described = await dev_env.client.get_schedule_handle(INTAKE_SCHEDULE_ID).describe()
    spec = described.schedule.spec
    assert spec.time_zone_name == dev_settings.timezone
    assert [(s.hour[0].start, s.minute[0].start) for s in spec.calendars] == [(1, 0)] or spec.cron_expressions
    assert isinstance(described.schedule.action, ScheduleActionStartWorkflow)
    assert described.schedule.action.workflow == "PolicyIntake"
    await dev_env.client.get_schedule_handle(INTAKE_SCHEDULE_ID).delete()


def a_file_with_a_bad_row(org, dev_settings, tmp_path, prefix: str, days: int):
    records = book(org, 3, local_today(dev_settings) + timedelta(days=days), prefix)
    records[1]["vin"] = "TOO-SHORT"
    file = tmp_path / "book.csv"
    file.write_bytes(to_csv(records))
    return file


def shows_the_summary_and_writes_the_row_errors(result, file) -> None:
    assert result.exit_code == 1, result.output  # some rows were refused
    assert "2 of 3 rows imported" in result.output and "inserted" in result.output
    assert file.with_name("book.errors.csv").read_text(encoding="utf-8-sig").splitlines() == [
        "row,column,reason", "3,vin,\"a VIN has 17 letters and digits, without I, O or Q\""]


def test_the_import_command_in_process_shows_a_summary_and_writes_the_row_errors(dev_env, dev_settings, org,
                                                                                 monkeypatch, tmp_path):
    file = a_file_with_a_bad_row(org, dev_settings, tmp_path, "PCLI", 300)
    shows_the_summary_and_writes_the_row_errors(
        run_cli(dev_env, dev_settings, monkeypatch, "import", "--in-process", str(file)), file)


@pytest.mark.timeout(90)
async def test_the_import_command_follows_a_workers_import_to_the_end(engine, dev_env, dev_settings, org,
                                                                      monkeypatch, tmp_path):
    file = a_file_with_a_bad_row(org, dev_settings, tmp_path, "PWORKER", 20)
    # On a thread: the worker importing the file runs on this test's event loop.
    result = await asyncio.to_thread(run_cli, dev_env, dev_settings, monkeypatch, "import", str(file))
    shows_the_summary_and_writes_the_row_errors(result, file)
    assert "cases started" in result.output and "starting and updating cases" in result.output
    job = read_job(engine, uuid.UUID(result.output.split("job ")[-1].split()[0]))
    assert (job.status, job.counts["cases_started"], job.followed_policies) == ("done", 2, 2)
    handle = dev_env.client.get_workflow_handle(job.workflow_id)
    assert await handle.result() == 2
    if os.environ.get("RENEWALS_RECORD_HISTORIES") == "1":
        (Path(__file__).parents[1] / "histories" / "import_policies.json").write_text(
            (await handle.fetch_history()).to_json())
    await terminate(dev_env, 'PolicyNo STARTS_WITH "PWORKER"')


async def started_input(dev_env, workflow_id: str) -> c.RenewalInput:
    history = await dev_env.client.get_workflow_handle(workflow_id).fetch_history()
    payloads = history.events[0].workflow_execution_started_event_attributes.input.payloads
    return (await dev_env.client.data_converter.decode(payloads, [c.RenewalInput]))[0]


async def test_escalate_without_status_reaches_every_imported_case(engine, dev_env, dev_settings, org):
    records = book(org, 1, local_today(dev_settings) + timedelta(days=45), "PESC")
    on = dev_settings.model_copy(update={"escalate_without_status": True})  # the default is off
    await import_rows(engine, dev_env, on, records)
    await until(lambda: case_of(engine, records[0]["policy_no"]) is not None)
    inp = await started_input(dev_env, case_of(engine, records[0]["policy_no"]).workflow_id)
    assert inp.escalate_without_status is True and inp.day_seconds == 86400
    await terminate(dev_env, 'PolicyNo STARTS_WITH "PESC"')


async def test_the_training_sandbox_runs_imported_cases_on_a_compressed_day(engine, dev_env, dev_settings, org):
    # Expiring in 22 days: SECOND_CONTACT now, THIRD_CONTACT (T-20) two compressed days later.
    records = book(org, 1, local_today(dev_settings) + timedelta(days=22), "PSANDBOX")
    sandbox = dev_settings.model_copy(update={"day_seconds": 2})
    await import_rows(engine, dev_env, sandbox, records)
    await until(lambda: case_of(engine, records[0]["policy_no"]) is not None)
    case = case_of(engine, records[0]["policy_no"])
    assert (await started_input(dev_env, case.workflow_id)).day_seconds == 2
    await until(lambda: case_of(engine, records[0]["policy_no"]).stage == "THIRD_CONTACT", timeout=30)
    await terminate(dev_env, 'PolicyNo STARTS_WITH "PSANDBOX"')


def test_the_training_sandbox_is_refused_in_prod():
    from renewals.core.settings import Settings

    with pytest.raises(ValueError, match="DAY_SECONDS"):
        Settings(_env_file=None, environment="prod", database_url="postgresql://db/x", temporal_address="t:7233",
                 jwt_secret="x" * 40, day_seconds=60)


async def test_an_update_to_a_case_whose_workflow_no_longer_exists_is_refused_with_the_reason(dev_env):
    # A case row left open whose workflow was deleted: the deputy alignment (and any staff action)
    # reports it and goes on, rather than failing on it every night.
    gone = dev_env.client.get_workflow_handle(f"renewal-gone-{uuid.uuid4()}")
    with pytest.raises(CaseRejected, match="no longer exists"):
        await update_case(gone, "change_deputy", c.ChangeDeputy(actor=c.INTAKE_ACTOR, new_deputy_id=uuid.uuid4()))
