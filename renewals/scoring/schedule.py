"""`lapse-scoring-daily`: the nightly training and scoring run (workflows/scoring.py)."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import (
    Client, Schedule, ScheduleActionStartWorkflow, ScheduleOverlapPolicy, SchedulePolicy, ScheduleSpec,
)

from renewals.case.contract import LAPSE_SCORING_WORKFLOW
from renewals.core.settings import Settings
from renewals.core.temporal import put_schedule

SCORING_SCHEDULE_ID = "lapse-scoring-daily"
SCORING_CRON = "0 3 * * *"  # after the intake (01:00) and the roll-up (01:30): today's cases, yesterday's calls


async def ensure_scoring_schedule(client: Client, settings: Settings) -> None:
    """Create (or bring up to date) `lapse-scoring-daily`: train and score at 03:00 every night."""
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(LAPSE_SCORING_WORKFLOW, id="lapse-scoring", task_queue=settings.task_queue,
                                           static_summary="Train the lapse-risk model and score the open cases"),
        spec=ScheduleSpec(cron_expressions=[SCORING_CRON], time_zone_name=settings.timezone),
        # A missed night runs when the server is back; the panel shows yesterday's scores meanwhile.
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=timedelta(days=1)),
    )
    await put_schedule(client, SCORING_SCHEDULE_ID, schedule)
