"""The intake's activities: the daily run starts the cases of one batch of due policies
(renewals.intake.service) and moves open cases behind a deputy change to their sub-branch's deputy
(renewals.ownership.service); an uploaded file's import checks and loads it, then its cases follow
(renewals.intake.durable)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

from sqlalchemy import Engine
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from renewals.intake.durable import fail_stored, follow_stored, load_stored, note_failure
from renewals.intake.policy_file import FileRejected
from renewals.intake.service import start_due_cases
from renewals.ownership.service import align_deputies
from renewals.core.settings import Settings
from renewals.case.contract import ImportInput, IntakeBatch, IntakeBatchResult

T = TypeVar("T")
# An import's activities tell Temporal they are alive this often, with how far they got, even while
# one long statement runs: a killed worker's import is taken over within its heartbeat timeout.
BEAT_EVERY = timedelta(seconds=5)


class IntakeActivities:
    def __init__(self, engine: Engine, client: Client, settings: Settings):
        self._engine, self._client, self._settings = engine, client, settings

    def activities(self) -> list:
        return [self.start_due_cases, self.align_deputies, self.load_import, self.follow_import, self.import_failed]

    @activity.defn(name="start_due_cases")
    async def start_due_cases(self, batch: IntakeBatch) -> IntakeBatchResult:
        # A retried batch starts only what is still missing (starting a case is idempotent).
        return await start_due_cases(self._engine, self._client, self._settings, batch.as_of,
                                     after=batch.after_policy_no, on_start=activity.heartbeat)

    @activity.defn(name="align_deputies")
    async def align_deputies(self) -> int:
        return await align_deputies(self._engine, self._client, progress=lambda done, _total: activity.heartbeat(done))

    @activity.defn(name="load_import")
    async def load_import(self, inp: ImportInput) -> int:
        """Check and load the uploaded file (once: a retry after the load committed only reads it)."""
        return await self._attempt(inp.job_id, lambda progress: load_stored(self._engine, self._settings, inp,
                                                                            progress))

    @activity.defn(name="follow_import")
    async def follow_import(self, inp: ImportInput) -> None:
        """The cases follow the loaded policies, from where the last attempt stopped; the job is done."""
        await self._attempt(inp.job_id, lambda progress: follow_stored(self._engine, self._client, self._settings,
                                                                       inp, progress))

    @activity.defn(name="import_failed")
    async def import_failed(self, job_id: uuid.UUID) -> None:
        await asyncio.to_thread(fail_stored, self._engine, job_id)

    async def _attempt(self, job_id: uuid.UUID, work: Callable[[Callable], Awaitable[T]]) -> T:
        """One attempt at an import's step, heartbeating with its progress. Why an attempt failed is
        kept on the job, not in Temporal: an error may quote a row of the file."""
        progress: list = []

        async def beat() -> None:
            while True:
                activity.heartbeat(*progress)
                await asyncio.sleep(BEAT_EVERY.total_seconds())

        def note(phase: str, done: int, total: int | None) -> None:
            progress[:] = [phase, done, total]

        beating = asyncio.create_task(beat())
        try:
            return await work(note)
        except Exception as exc:
            await asyncio.to_thread(note_failure, self._engine, job_id, exc)
            raise ApplicationError(f"the import's step failed ({type(exc).__name__}): see the import's job",
                                   type=type(exc).__name__, non_retryable=isinstance(exc, FileRejected)) from None
        finally:
            beating.cancel()
