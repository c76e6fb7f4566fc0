"""TaskRollup: started by the `task-rollup-daily` schedule after the night's intake; rolls the
settled days' tasks up for the compliance report (renewals/reports/task_rollup.py)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.task_rollup import TaskRollupActivities
    from renewals.case.contract import TASK_ROLLUP_WORKFLOW


@workflow.defn(name=TASK_ROLLUP_WORKFLOW)
class TaskRollup:
    @workflow.run
    async def run(self) -> list[int]:
        """[days rolled up, days left to the report's scan because a task is still open]."""
        return await workflow.execute_activity_method(
            TaskRollupActivities.roll_up_task_days, start_to_close_timeout=timedelta(hours=2),
            heartbeat_timeout=timedelta(minutes=2),
            retry_policy=RetryPolicy(initial_interval=timedelta(seconds=5), maximum_interval=timedelta(minutes=5)),
            summary="roll the settled days' tasks up for the compliance report",
        )
