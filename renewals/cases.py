"""Starting renewal cases (imports, the demo and tests all go through here)."""

from __future__ import annotations

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy

from renewals.calendar import Stage, plan_renewal
from workflows import contract as c


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


async def start_renewal(client: Client, inp: c.RenewalInput, task_queue: str,
                        started_by: c.SystemComponent = c.SystemComponent.intake) -> WorkflowHandle:
    """Start the case's workflow; starting the same policy and expiry again is a no-op.
    `started_by` is kept in the memo: the audit timeline names who started the case."""
    return await client.start_workflow(
        c.WORKFLOW_TYPE,
        inp,
        id=c.renewal_workflow_id(inp.policy_no, inp.expiry_date),
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        search_attributes=initial_search_attributes(inp),
        static_summary=f"Renewal of policy {inp.policy_no}, expiring {inp.expiry_date:%Y-%m-%d}",
        memo={"started_by": started_by.value},
        result_type=c.CaseState,
    )


class CaseRejected(Exception):
    """A staff action the case refused; `reason` is readable as is (the API answers 409 with it)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


async def update_case(handle: WorkflowHandle, update: str, payload: object, result_type: type = c.CaseState):
    """Run a workflow update; a validator's rejection, or an update to a case that has already
    finished, becomes CaseRejected with the reason a person can read."""
    try:
        return await handle.execute_update(update, payload, result_type=result_type)
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        raise CaseRejected(cause.message if isinstance(cause, ApplicationError) else str(cause)) from None
    except RPCError as exc:
        # A finished workflow takes no updates: the server answers NOT_FOUND (or FAILED_PRECONDITION).
        if exc.status not in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
            raise
        description = await handle.describe()
        if description.status == WorkflowExecutionStatus.RUNNING:
            raise
        # The outcome is a search attribute, kept current by the workflow itself.
        outcome = description.typed_search_attributes.get(c.RENEWAL_OUTCOME) or description.status.name
        raise CaseRejected(c.closed_reason(outcome)) from None
