"""A case's timeline, export and replay outlive Temporal's retention, on the dev server.

Temporal deletes a closed workflow's history when its namespace's retention runs out: at close
time + retention + a random jitter (`history.retentionTimerJitterDuration`, 30 min by default).
Retention may not be shorter than `system.namespaceMinRetentionLocal` (1 day by default; the
server's hard floor for a local namespace is 1 s). This module's own dev server lowers both, and
registers a namespace with a 10-second retention; the scheduled archiver runs every 2 seconds.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import pytest_asyncio
from google.protobuf.duration_pb2 import Duration
from sqlmodel import Session
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from models import HistoryArchive
from renewals.audit.archive import (
    ARCHIVER_SCHEDULE_ID, case_timeline, ensure_archiver_schedule, find_archived, load_history,
)
from renewals.audit.replay import replay_all
from renewals.dev.servers import wheel_binary
from renewals.core.temporal import register_search_attributes
from tests.scenario import Scenario
from worker import build_worker
from renewals.case import contract as c

pytestmark = pytest.mark.asyncio(loop_scope="session")

NAMESPACE = "audit-short-retention"
RETENTION = timedelta(seconds=10)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def short_retention() -> AsyncIterator[tuple[WorkflowEnvironment, Client]]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=wheel_binary("temporal"), data_converter=pydantic_data_converter,
        dev_server_log_level="error",
        dev_server_extra_args=["--dynamic-config-value", 'system.namespaceMinRetentionLocal="1s"',
                               "--dynamic-config-value", 'history.retentionTimerJitterDuration="1s"'],
    )
    try:
        await env.client.workflow_service.register_namespace(RegisterNamespaceRequest(
            namespace=NAMESPACE, workflow_execution_retention_period=Duration(seconds=int(RETENTION.total_seconds()))))
        client = await Client.connect(env.client.service_client.config.target_host, namespace=NAMESPACE,
                                      data_converter=pydantic_data_converter)
        for _ in range(50):  # a new namespace takes a moment to reach every service
            try:
                await register_search_attributes(client, NAMESPACE, c.SEARCH_ATTRIBUTES)
                break
            except RPCError:
                await asyncio.sleep(0.2)
        yield env, client
    finally:
        await env.shutdown()


async def until(check, timeout: float = 60.0, what: str = ""):
    deadline = asyncio.get_running_loop().time() + timeout
    while not (result := await check()):
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.5)
    return result


async def test_timeline_export_and_replay_survive_deletion_by_retention(short_retention, settings, engine, twilio):
    env, client = short_retention
    queue = "renewals-retention"
    archiving = settings.model_copy(update={"task_queue": queue, "archive_every": timedelta(seconds=2)})
    async with build_worker(client, archiving, engine, task_queue=queue):
        await ensure_archiver_schedule(client, archiving)
        sc = Scenario(WorkflowEnvironment.from_client(client), engine, twilio, queue)
        case = await sc.start(days_to_expiry=62)
        await case.update("record_contact", c.RecordContact(actor=case.actor(), channel=c.Channel.call,
                                                            result=c.ContactResult.reached))
        await case.update("set_follow_up", c.SetFollowUp(actor=case.actor(), status=c.FollowUpStatus.success,
                                                         new_policy_no="PDAA2027NEW"))
        assert (await case.handle.result()).outcome == "RENEWED"
        before = await case_timeline(client, engine, case.handle.id, identities_masked=True)
        assert before.history_from == "temporal"
        # What the Temporal CLI prints for the history, while the server still has it.
        shown = subprocess.run(
            [wheel_binary("temporal"), "workflow", "show", "--workflow-id", case.handle.id, "--output", "json",
             "--address", client.service_client.config.target_host, "--namespace", NAMESPACE],
            capture_output=True, text=True, timeout=30, check=True).stdout

        def archived() -> HistoryArchive | None:
            with Session(engine) as session:
                return find_archived(session, case.handle.id)

        await until(lambda: asyncio.to_thread(archived), what="the scheduled archiver")

        async def deleted() -> bool:
            try:
                await case.handle.describe()
                return False
            except RPCError as exc:
                return exc.status == RPCStatusCode.NOT_FOUND

        await until(deleted, what="retention to delete the workflow")
        await client.get_schedule_handle(ARCHIVER_SCHEDULE_ID).delete()

    after = await case_timeline(client, engine, case.handle.id, identities_masked=True)
    assert after.history_from == "archive" and after.outcome == "RENEWED"
    assert [(e.kind, e.summary) for e in after.events] == [(e.kind, e.summary) for e in before.events] + [
        ("history_archived", "history stored in the audit archive")]

    exported = (await load_history(client, engine, case.handle.id))
    assert exported.source == "archive"
    # The export is the JSON `temporal workflow show --output json` prints, read back by the SDK.
    ours = json.loads(exported.history.to_json())
    theirs = json.loads(shown)
    assert [(e["eventId"], e["eventType"]) for e in ours["events"]] == [
        (e["eventId"], e["eventType"]) for e in theirs["events"]]
    reread = WorkflowHistory.from_json(case.handle.id, exported.history.to_json())

    async def one():
        yield case.inp.policy_no, reread

    [outcome] = await replay_all(one())
    assert outcome.ok, outcome.divergence
