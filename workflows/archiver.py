"""HistoryArchiver: started by a Temporal schedule every ARCHIVE_EVERY; stores the histories of
closed cases not archived yet before the namespace's retention deletes them (issue 10)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

ARCHIVER_WORKFLOW = "HistoryArchiver"


@workflow.defn(name=ARCHIVER_WORKFLOW)
class HistoryArchiver:
    @workflow.run
    async def run(self) -> int:
        """How many histories this run stored (the schedule skips a run while one is going)."""
        return await workflow.execute_activity(
            "archive_closed_histories", start_to_close_timeout=timedelta(hours=1),
            heartbeat_timeout=timedelta(minutes=2),
            retry_policy=RetryPolicy(initial_interval=timedelta(seconds=5), maximum_interval=timedelta(minutes=5)),
            summary="store closed cases' histories in PostgreSQL",
        )
