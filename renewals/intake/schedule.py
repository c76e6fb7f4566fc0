"""`policy-intake-daily`: the nightly intake that starts the cases entering the horizon."""

from __future__ import annotations

from temporalio.client import Client, Schedule

from renewals.core.settings import Settings
from renewals.core.temporal import nightly_schedule, put_schedule
from renewals.case.contract import INTAKE_SCHEDULE_CRON, INTAKE_SCHEDULE_ID, INTAKE_WORKFLOW, IntakeInput


def intake_schedule(settings: Settings) -> Schedule:
    return nightly_schedule(INTAKE_WORKFLOW, IntakeInput(timezone=settings.timezone), workflow_id="policy-intake",
                            summary="Start the renewal cases entering the horizon today", cron=INTAKE_SCHEDULE_CRON,
                            settings=settings)


async def ensure_intake_schedule(client: Client, settings: Settings) -> str:
    """Create `policy-intake-daily`, or bring an existing one in line with the settings (idempotent)."""
    return await put_schedule(client, INTAKE_SCHEDULE_ID, intake_schedule(settings))
