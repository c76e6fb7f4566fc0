"""The retention purge as an activity: a batch per transaction, each idempotent, so a retry (or a
run cut short) just clears what is left."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine
from temporalio import activity

from renewals.core.settings import Settings
from renewals.privacy.rules import Retention
from renewals.privacy.service import purge


class PrivacyActivities:
    def __init__(self, engine: Engine, settings: Settings):
        self._engine = engine
        self._retention = Retention.from_settings(settings)
        self._batch = settings.privacy_purge_batch

    def activities(self) -> list:
        return [self.purge_personal_data]

    @activity.defn(name="purge_personal_data")
    def purge_personal_data(self, as_of: datetime) -> dict[str, int]:
        counts = purge(self._engine, self._retention, as_of, batch=self._batch, on_batch=activity.heartbeat)
        activity.logger.info("privacy purge as of %s: %s", as_of.isoformat(), counts)
        return counts
