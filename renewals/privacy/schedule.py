"""`privacy-purge-daily`: the retention purge every night, after the intake and the task roll-up."""

from __future__ import annotations

from temporalio.client import Client

from renewals.case.contract import PRIVACY_PURGE_WORKFLOW
from renewals.core.settings import Settings
from renewals.core.temporal import nightly_schedule, put_schedule

PURGE_SCHEDULE_ID = "privacy-purge-daily"
PURGE_CRON = "0 2 * * *"  # in the company time zone, while nobody works on cases


async def ensure_purge_schedule(client: Client, settings: Settings) -> None:
    """Create (or bring up to date) `privacy-purge-daily`."""
    schedule = nightly_schedule(PRIVACY_PURGE_WORKFLOW, workflow_id="privacy-purge", cron=PURGE_CRON,
                                summary="Clear personal data past its retention", settings=settings)
    await put_schedule(client, PURGE_SCHEDULE_ID, schedule)
