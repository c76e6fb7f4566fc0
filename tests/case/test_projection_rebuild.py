"""`renewals projection rebuild`: the case and task rows of 20 cases, open and closed, are lost;
the rebuild writes them again from the workflows (the open ones') and the archive (the closed ones',
gone from Temporal), equal to what they were, and a second run changes nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import pytest_asyncio
from sqlalchemy import text
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest

from renewals.audit.archive import archive_closed_cases
from renewals.case import contract as c
from renewals.dev.sample_book import to_csv
from renewals.intake.service import create_job, local_today, run_import
from tests.intake.books import dev_worker, own_book, run_cli
from tests.scenario import eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")

CASES, CLOSED = 20, 8


@pytest_asyncio.fixture(scope="module")
async def dev_settings(dev_env, settings, engine) -> AsyncIterator:
    async with dev_worker(dev_env, settings, engine, "rebuild") as own:
        yield own


def projection(engine, prefix: str) -> tuple[list[dict], list[dict]]:
    """The case rows and their task rows, every column."""
    with engine.connect() as conn:
        cases = [dict(r._mapping) for r in conn.execute(text(
            "SELECT * FROM renewal_case WHERE policy_no LIKE :p ORDER BY id"), {"p": f"{prefix}%"})]
        tasks = [dict(r._mapping) for r in conn.execute(text(
            "SELECT t.* FROM task t JOIN renewal_case rc ON rc.id = t.case_id WHERE rc.policy_no LIKE :p "
            "ORDER BY t.id"), {"p": f"{prefix}%"})]
    return cases, tasks


def lose(engine, prefix: str) -> None:
    """The rows are gone (as from a damaged table); what refers to them (contacts, notes) stays."""
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL session_replication_role = replica"))  # no foreign-key checks
        conn.execute(text("DELETE FROM task WHERE case_id IN (SELECT id FROM renewal_case WHERE policy_no LIKE :p)"),
                     {"p": f"{prefix}%"})
        conn.execute(text("DELETE FROM renewal_case WHERE policy_no LIKE :p"), {"p": f"{prefix}%"})


@pytest.mark.timeout(300)
async def test_lost_case_and_task_rows_are_rebuilt_equal_from_the_workflows_and_the_archive(
        engine, dev_env, dev_settings, monkeypatch):
    today = local_today(dev_settings)
    # In FIRST_CONTACT or SECOND_CONTACT, with tasks open.
    records = own_book(engine, CASES, "PXREB", lambda i: today + timedelta(days=25 + i))
    data = to_csv(records)
    imported = await run_import(engine, dev_env.client, dev_settings, create_job(engine, "b.csv", data), data)
    assert imported.counts["cases_started"] == CASES
    prefix = records[0]["policy_no"][:-7]

    def all_started():
        assert len(projection(engine, prefix)[0]) == CASES

    await eventually(all_started, timeout=60)
    cases = projection(engine, prefix)[0]
    staff = c.Actor(cases[0]["owner_id"], c.ActorRole.sales)
    for case in cases[CLOSED:CLOSED + 4]:  # staff work on some open ones: a contact, a complaint task
        await dev_env.client.get_workflow_handle(case["workflow_id"]).execute_update(
            "record_contact", c.RecordContact(actor=staff, channel=c.Channel.call, result=c.ContactResult.complaint),
            result_type=c.ActionDone)
    for case in cases[:CLOSED]:
        handle = dev_env.client.get_workflow_handle(case["workflow_id"])
        await handle.signal("policy_renewed", c.PolicyRenewed(new_policy_no=f"{case['policy_no']}R"))
        await handle.result()

    def settled():
        closed, tasks = projection(engine, prefix)
        assert sum(1 for row in closed if row["outcome"] == "RENEWED") == CLOSED
        assert sum(1 for t in tasks if t["kind"] == "complaint") == 4

    await eventually(settled, timeout=60)
    assert await archive_closed_cases(dev_env.client, engine) >= CLOSED
    for case in cases[:CLOSED]:  # past the namespace's retention: only the archive has them
        await dev_env.client.workflow_service.delete_workflow_execution(DeleteWorkflowExecutionRequest(
            namespace=dev_env.client.namespace, workflow_execution=WorkflowExecution(workflow_id=case["workflow_id"])))
    await asyncio.sleep(1)  # the projection's last writes of the open cases are in
    before = projection(engine, prefix)
    assert len(before[1]) > 4 and sum(1 for row in before[0] if row["history_archived_at"]) == CLOSED

    lose(engine, prefix)
    assert projection(engine, prefix) == ([], [])
    result = await asyncio.to_thread(run_cli, dev_env, dev_settings, monkeypatch, "projection", "rebuild", "--all")
    assert result.exit_code == 0, result.output
    after = projection(engine, prefix)
    assert after == before

    again = await asyncio.to_thread(run_cli, dev_env, dev_settings, monkeypatch, "projection", "rebuild",
                                    *(f"--case={row['workflow_id']}" for row in before[0]))
    assert again.exit_code == 0, again.output
    assert f"{CASES} cases rebuilt" in again.output and projection(engine, prefix) == before
    async for wf in dev_env.client.list_workflows(f'PolicyNo STARTS_WITH "{prefix}" AND ExecutionStatus = "Running"'):
        await dev_env.client.get_workflow_handle(wf.id).terminate("test finished")
