"""The archiver's one activity: store closed cases' histories in PostgreSQL (idempotent: a history
already stored stays as it is, so a retried or overlapping run changes nothing)."""

from __future__ import annotations

from sqlalchemy import Engine
from temporalio import activity
from temporalio.client import Client

from renewals.audit.archive import archive_closed_cases


class HistoryArchiving:
    def __init__(self, client: Client, engine: Engine):
        self._client = client
        self._engine = engine

    def activities(self) -> list:
        return [self.archive_closed_histories]

    @activity.defn(name="archive_closed_histories")
    async def archive_closed_histories(self) -> int:
        return await archive_closed_cases(self._client, self._engine,
                                          on_batch=activity.heartbeat)
