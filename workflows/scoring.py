"""LapseScoring: started by the `lapse-scoring-daily` schedule; trains the lapse-risk model on the
closed cases and scores every open case (renewals/scoring/service.py). Only a count comes back."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.scoring import ScoringActivities
    from renewals.case.contract import LAPSE_SCORING_WORKFLOW


@workflow.defn(name=LAPSE_SCORING_WORKFLOW)
class LapseScoring:
    @workflow.run
    async def run(self) -> int:
        """How many open cases were scored."""
        return await workflow.execute_activity_method(
            ScoringActivities.score_open_cases, start_to_close_timeout=timedelta(hours=3),
            heartbeat_timeout=timedelta(minutes=5),
            retry_policy=RetryPolicy(initial_interval=timedelta(seconds=5), maximum_interval=timedelta(minutes=5)),
            summary="train the lapse-risk model and score the open cases",
        )
