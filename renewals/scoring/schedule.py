"""`lapse-scoring-daily`: the nightly training and scoring run (workflows/scoring.py)."""

from __future__ import annotations

from temporalio.client import Client

from renewals.case.contract import LAPSE_SCORING_WORKFLOW
from renewals.core.settings import Settings
from renewals.core.temporal import nightly_schedule, put_schedule

SCORING_SCHEDULE_ID = "lapse-scoring-daily"
SCORING_CRON = "0 3 * * *"  # after the intake (01:00) and the roll-up (01:30): today's cases, yesterday's calls


async def ensure_scoring_schedule(client: Client, settings: Settings) -> None:
    """Create (or bring up to date) `lapse-scoring-daily`: train and score at 03:00 every night; a
    missed night runs when the server is back, the panel showing yesterday's scores meanwhile."""
    await put_schedule(client, SCORING_SCHEDULE_ID, nightly_schedule(
        LAPSE_SCORING_WORKFLOW, workflow_id="lapse-scoring", cron=SCORING_CRON, settings=settings,
        summary="Train the lapse-risk model and score the open cases"))
