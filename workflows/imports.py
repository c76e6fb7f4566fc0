"""ImportPolicies: one uploaded file's import, as durable work (renewals.intake.durable).

Check and load, then the cases follow the loaded policies, then the job is done. Each step is an
activity that heartbeats with its progress: when the worker running it dies, another takes it over
within the heartbeat timeout and goes on from what the job row says is done. When a step gives up
(a refused file at once; anything else after its retries) the job is failed with the reason.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.intake import IntakeActivities
    from renewals.case.contract import IMPORT_WORKFLOW, ImportInput

# A load of the largest file takes minutes; its heartbeats come every few seconds.
_STEP = {"start_to_close_timeout": timedelta(hours=2), "heartbeat_timeout": timedelta(seconds=20),
         "retry_policy": RetryPolicy(maximum_interval=timedelta(minutes=1), maximum_attempts=10)}


@workflow.defn(name=IMPORT_WORKFLOW)
class ImportPolicies:
    def __init__(self) -> None:
        self.phase = "waiting for a worker"

    @workflow.query
    def progress(self) -> str:
        return self.phase

    def _enter(self, phase: str) -> None:
        self.phase = phase
        workflow.set_current_details(phase)

    @workflow.run
    async def run(self, inp: ImportInput) -> int:
        try:
            self._enter("checking and loading the file")
            imported = await workflow.execute_activity_method(IntakeActivities.load_import, inp, **_STEP)
            self._enter(f"{imported} rows imported; the cases follow their policies")
            await workflow.execute_activity_method(IntakeActivities.follow_import, inp, **_STEP)
        except ActivityError:
            self._enter("failed: the reason is on the import's job")
            await workflow.execute_activity_method(IntakeActivities.import_failed, inp.job_id,
                                                   start_to_close_timeout=timedelta(minutes=1))
            raise
        self._enter(f"done: {imported} rows imported")
        return imported
