"""The intake run's activities: start the cases of one batch of due policies (renewals.intake.service), and move
open cases behind a deputy change to their sub-branch's deputy (renewals.ownership.service)."""

from __future__ import annotations

from sqlalchemy import Engine
from temporalio import activity
from temporalio.client import Client

from renewals.intake.service import start_due_cases
from renewals.ownership.service import align_deputies
from renewals.core.settings import Settings
from renewals.case.contract import IntakeBatch, IntakeBatchResult


class IntakeActivities:
    def __init__(self, engine: Engine, client: Client, settings: Settings):
        self._engine, self._client, self._settings = engine, client, settings

    def activities(self) -> list:
        return [self.start_due_cases, self.align_deputies]

    @activity.defn(name="start_due_cases")
    async def start_due_cases(self, batch: IntakeBatch) -> IntakeBatchResult:
        # A retried batch starts only what is still missing (starting a case is idempotent).
        return await start_due_cases(self._engine, self._client, self._settings, batch.as_of,
                                     after=batch.after_policy_no, on_start=activity.heartbeat)

    @activity.defn(name="align_deputies")
    async def align_deputies(self) -> int:
        return await align_deputies(self._engine, self._client, progress=lambda done, _total: activity.heartbeat(done))
