"""PrivacyPurge: started by the `privacy-purge-daily` schedule; clears personal data past its
retention (renewals/privacy). Its result, the rows cleared per data class, is the run's summary."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.privacy import PrivacyActivities
    from renewals.case.contract import PRIVACY_PURGE_WORKFLOW


@workflow.defn(name=PRIVACY_PURGE_WORKFLOW)
class PrivacyPurge:
    @workflow.run
    async def run(self) -> dict[str, int]:
        # Ages are measured on the business clock: the workflow's time, which the schedule's start
        # and the time-skipping tests set alike.
        return await workflow.execute_activity_method(
            PrivacyActivities.purge_personal_data, workflow.now(), start_to_close_timeout=timedelta(hours=2),
            heartbeat_timeout=timedelta(minutes=2),
            retry_policy=RetryPolicy(initial_interval=timedelta(seconds=5), maximum_interval=timedelta(minutes=5)),
            summary="clear personal data past its retention",
        )
