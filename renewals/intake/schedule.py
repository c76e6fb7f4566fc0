"""`policy-intake-daily`: the nightly intake that starts the cases entering the horizon."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import (
    Client, Schedule, ScheduleActionStartWorkflow, ScheduleOverlapPolicy, SchedulePolicy, ScheduleSpec,
)

from renewals.core.settings import Settings
from renewals.core.temporal import put_schedule
from renewals.case.contract import INTAKE_SCHEDULE_CRON, INTAKE_SCHEDULE_ID, INTAKE_WORKFLOW, IntakeInput


def intake_schedule(settings: Settings) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            INTAKE_WORKFLOW, IntakeInput(timezone=settings.timezone), id="policy-intake",
            task_queue=settings.task_queue, static_summary="Start the renewal cases entering the horizon today",
        ),
        spec=ScheduleSpec(cron_expressions=[INTAKE_SCHEDULE_CRON], time_zone_name=settings.timezone),
        # A run still going (a huge book) is not doubled; a missed night runs when the server is back.
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=timedelta(days=1)),
    )


async def ensure_intake_schedule(client: Client, settings: Settings) -> str:
    """Create `policy-intake-daily`, or bring an existing one in line with the settings (idempotent)."""
    return await put_schedule(client, INTAKE_SCHEDULE_ID, intake_schedule(settings))
