"""The intake run's activity: start the cases of one batch of due policies (see renewals.intake)."""

from __future__ import annotations

from sqlalchemy import Engine
from temporalio import activity
from temporalio.client import Client

from renewals.intake import start_due_cases
from renewals.settings import Settings
from workflows.intake import IntakeBatch, IntakeBatchResult


class IntakeActivities:
    def __init__(self, engine: Engine, client: Client, settings: Settings):
        self._engine, self._client, self._settings = engine, client, settings

    def activities(self) -> list:
        return [self.start_due_cases]

    @activity.defn(name="start_due_cases")
    async def start_due_cases(self, batch: IntakeBatch) -> IntakeBatchResult:
        # A retried batch starts only what is still missing (starting a case is idempotent).
        return await start_due_cases(self._engine, self._client, self._settings, batch.as_of,
                                     after=batch.after_policy_no, on_start=activity.heartbeat)
