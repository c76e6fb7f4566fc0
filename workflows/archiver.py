"""HistoryArchiver: started by a Temporal schedule every ARCHIVE_EVERY; stores the histories of
closed cases not archived yet before the namespace's retention deletes them."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.archive import HistoryArchiving
    from renewals.case.contract import ARCHIVER_WORKFLOW


@workflow.defn(name=ARCHIVER_WORKFLOW)
class HistoryArchiver:
    @workflow.run
    async def run(self) -> int:
        """How many histories this run stored (the schedule skips a run while one is going)."""
        return await workflow.execute_activity_method(
            HistoryArchiving.archive_closed_histories, start_to_close_timeout=timedelta(hours=1),
            heartbeat_timeout=timedelta(minutes=2),
            retry_policy=RetryPolicy(initial_interval=timedelta(seconds=5), maximum_interval=timedelta(minutes=5)),
            summary="store closed cases' histories in PostgreSQL",
        )
