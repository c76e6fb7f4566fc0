"""The workflow sandbox re-runs every module it does not pass through, once per workflow run: a
contract module re-run per case cost ~180 KB of worker memory per cached workflow.
The modules the renewal workflow shares with activities must be the worker's own objects."""

from __future__ import annotations

import uuid

import pytest
from temporalio import workflow
from temporalio.worker import Worker


@workflow.defn(sandboxed=True)
class SharedModuleIds:
    """Reports the ids of the module objects the renewal workflow module sees in the sandbox."""

    @workflow.run
    async def run(self) -> list[int]:
        from workflows import renewal  # re-run in the sandbox, as every workflow file is

        return [id(renewal.c), id(renewal.planned_tasks), id(renewal.plan_renewal), id(renewal.CaseProjection),
                id(renewal.Case)]


@pytest.mark.filterwarnings("ignore:Module workflows was imported after initial workflow load")
async def test_the_renewal_workflow_shares_the_workers_contract_modules(time_env):
    # Imported here, not at the top: this file is re-run in the sandbox, and importing them there
    # first would hide how the workflow module imports them.
    import activities.projection
    import renewals.case.calendar
    import renewals.case.contract
    import renewals.case.tasks
    import workflows.case_state

    queue = f"sandbox-{uuid.uuid4()}"
    async with Worker(time_env.client, task_queue=queue, workflows=[SharedModuleIds]):
        seen = await time_env.client.execute_workflow(SharedModuleIds.run, id=f"sandbox-{uuid.uuid4()}",
                                                      task_queue=queue)
    assert seen == [id(renewals.case.contract), id(renewals.case.tasks.planned_tasks),
                    id(renewals.case.calendar.plan_renewal), id(activities.projection.CaseProjection),
                    id(workflows.case_state.Case)], "a shared module is re-run in every workflow's sandbox"
