"""The nightly lapse-risk run as an activity: training is one read, scoring one transaction a batch
that writes the same rows when retried, so a retry (or a run cut short) just does it again."""

from __future__ import annotations

from sqlalchemy import Engine
from temporalio import activity

from renewals.scoring.service import refresh


class ScoringActivities:
    def __init__(self, engine: Engine):
        self._engine = engine

    def activities(self) -> list:
        return [self.score_open_cases]

    @activity.defn(name="score_open_cases")
    def score_open_cases(self) -> int:
        """How many open cases were scored (nothing about any of them leaves the database)."""
        model, scored = refresh(self._engine, progress=activity.heartbeat)
        activity.logger.info("lapse scoring: model %s (%s, %d outcomes), %d open cases scored", model.version,
                             model.kind, model.outcomes, scored)
        return scored
