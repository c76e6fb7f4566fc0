"""The archiver's one activity: store closed cases' histories in PostgreSQL (idempotent: a history
already stored stays as it is, so a retried or overlapping run changes nothing), then keep the
archive's months (AUDIT_ARCHIVE_RETENTION_MONTHS)."""

from __future__ import annotations

import asyncio

from sqlalchemy import Engine
from temporalio import activity
from temporalio.client import Client

from renewals.audit.archive import archive_closed_cases, keep_archive_months


class HistoryArchiving:
    def __init__(self, client: Client, engine: Engine, retention_months: int):
        self._client = client
        self._engine = engine
        self._retention_months = retention_months

    def activities(self) -> list:
        return [self.archive_closed_histories]

    @activity.defn(name="archive_closed_histories")
    async def archive_closed_histories(self) -> int:
        stored = await archive_closed_cases(self._client, self._engine,
                                            on_batch=activity.heartbeat)
        await asyncio.to_thread(keep_archive_months, self._engine, self._retention_months)
        return stored
