"""Starting renewal cases (imports, the intake schedule, the demo and tests all go through here)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.common import (
    RawValue, SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy, WorkflowIDReusePolicy,
)

from renewals.case.calendar import REAL_DAY_SECONDS, plan_renewal
from renewals.case.contract import Stage
from renewals.core.settings import Settings
from renewals.case import contract as c


def renewal_input(settings: Settings, *, policy_no: str, expiry_date: date, owner_id: uuid.UUID,
                  deputy_id: uuid.UUID, branch: str, sub_branch: str, admin_ids: list[uuid.UUID],
                  timezone: str | None = None, day_seconds: int | None = None,
                  now: datetime | None = None, do_not_contact: bool = False,
                  spread_wake_ups: bool = True) -> c.RenewalInput:
    """The one place a case's input is built: the settings that shape every new case
    (ESCALATE_WITHOUT_STATUS, the training sandbox's DAY_SECONDS) reach each one from here, and
    the branch's admins (renewals.org.branch_admins), the only ones the case takes close and reassign from.
    On a compressed day, today (in the policy's zone) is day T-n and the clock is anchored so."""
    timezone = timezone or settings.timezone
    day_seconds = day_seconds or settings.day_seconds
    anchor = None
    if day_seconds != REAL_DAY_SECONDS:
        now = now or datetime.now(UTC)
        days_to_expiry = (expiry_date - now.astimezone(ZoneInfo(timezone)).date()).days
        anchor = now + timedelta(seconds=days_to_expiry * day_seconds)
    return c.RenewalInput(
        policy_no=policy_no, expiry_date=expiry_date, owner_id=owner_id, deputy_id=deputy_id, branch=branch,
        sub_branch=sub_branch, timezone=timezone, escalate_without_status=settings.escalate_without_status,
        day_seconds=day_seconds, clock_anchor=anchor, admin_ids=list(admin_ids), do_not_contact=do_not_contact,
        spread_wake_ups=spread_wake_ups,
    )


def initial_search_attributes(inp: c.RenewalInput) -> TypedSearchAttributes:
    plan = plan_renewal(inp.expiry_date, inp.timezone, day_seconds=inp.day_seconds, anchor=inp.clock_anchor)
    return TypedSearchAttributes([
        SearchAttributePair(c.POLICY_NO, inp.policy_no),
        SearchAttributePair(c.SERVICE_MANAGER, str(inp.owner_id)),
        SearchAttributePair(c.DEPUTY, str(inp.deputy_id)),
        SearchAttributePair(c.BRANCH, inp.branch),
        SearchAttributePair(c.SUB_BRANCH, inp.sub_branch),
        SearchAttributePair(c.RENEWAL_STAGE, Stage.WAITING.value),
        SearchAttributePair(c.EXPIRY_DATE, plan.expiry_day_starts_at),
        SearchAttributePair(c.ESCALATED, False),
    ])


class StartOutcome(StrEnum):
    started = "started"
    already_running = "already_running"
    already_done = "already_done"  # RENEWED/LOST/LAPSED/CLOSED: never reopened by a second run


@dataclass
class CaseStart:
    handle: WorkflowHandle
    outcome: StartOutcome

    @property
    def said(self) -> str:
        return self.outcome.value.replace("_", " ")


async def start_case(client: Client, inp: c.RenewalInput, task_queue: str,
                     started_by: c.SystemComponent = c.SystemComponent.intake) -> CaseStart:
    """Start the case's workflow. Starting the same policy and expiry again is a no-op: a running
    case is left as it is, and a finished one is never run again (REJECT_DUPLICATE), so repeating
    an import after RENEWED, LOST or CLOSED does not reopen anything. `started_by` is kept in the
    memo: the audit timeline names who started the case."""
    workflow_id = c.renewal_workflow_id(inp.policy_no, inp.expiry_date)
    try:
        handle = await client.start_workflow(
            c.WORKFLOW_TYPE,
            inp,
            id=workflow_id,
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=initial_search_attributes(inp),
            static_summary=f"Renewal of policy {inp.policy_no}, expiring {inp.expiry_date:%Y-%m-%d}",
            memo={"started_by": started_by.value},
            result_type=c.CaseState,
        )
        return CaseStart(handle, StartOutcome.started)
    except WorkflowAlreadyStartedError:
        handle = client.get_workflow_handle(workflow_id, result_type=c.CaseState)
        running = (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
        return CaseStart(handle, StartOutcome.already_running if running else StartOutcome.already_done)


async def start_renewal(client: Client, inp: c.RenewalInput, task_queue: str,
                        started_by: c.SystemComponent = c.SystemComponent.intake) -> WorkflowHandle:
    """start_case for callers that only need the handle (the demo, tests)."""
    return (await start_case(client, inp, task_queue, started_by)).handle


class CaseRejected(Exception):
    """A staff action the case refused; `reason` is readable as is (the API answers 409 with it)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


async def update_case(handle: WorkflowHandle, update: str, payload: object, result_type: type = c.ActionDone,
                      update_id: str | None = None):
    """Run a workflow update; a validator's rejection, or an update to a case that has already
    finished, becomes CaseRejected with the reason a person can read. Temporal runs an update id
    once per workflow: the same `update_id` again answers the first result without acting again."""
    try:
        # Without the fields left at their defaults: every byte of it stays in the case's history.
        request = RawValue(pydantic_data_converter.payload_converter.to_payload(c.without_defaults(payload)))
        return await handle.execute_update(update, request, id=update_id, result_type=result_type)
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        raise CaseRejected(cause.message if isinstance(cause, ApplicationError) else str(cause)) from None
    except RPCError as exc:
        # A finished workflow takes no updates: the server answers NOT_FOUND (or FAILED_PRECONDITION).
        if exc.status not in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
            raise
        try:
            description = await handle.describe()
        except RPCError as missing:
            if missing.status != RPCStatusCode.NOT_FOUND:
                raise
            raise CaseRejected("the case's workflow no longer exists in Temporal") from None
        if description.status == WorkflowExecutionStatus.RUNNING:
            raise
        # The outcome is a search attribute, kept current by the workflow itself.
        outcome = description.typed_search_attributes.get(c.RENEWAL_OUTCOME) or description.status.name
        raise CaseRejected(c.closed_reason(outcome)) from None
