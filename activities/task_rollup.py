"""The daily task roll-up as an activity: each day is its own transaction and recomputed whole,
so a retry (or a run cut short) just does the days left."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine
from temporalio import activity

from renewals.reports.task_rollup import roll_up


class TaskRollupActivities:
    def __init__(self, engine: Engine, timezone: str):
        self._engine, self._timezone = engine, timezone

    def activities(self) -> list:
        return [self.roll_up_task_days]

    @activity.defn(name="roll_up_task_days")
    def roll_up_task_days(self) -> list[int]:
        rolled, left = roll_up(self._engine, self._timezone, datetime.now(UTC), activity.heartbeat)
        activity.logger.info("task roll-up: %d days rolled up, %d left to the scan (a task still open)", rolled, left)
        return [rolled, left]
