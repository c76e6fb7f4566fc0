"""The renewal business as Prometheus gauges, read from the projection: open cases by stage,
needs-attention tasks, SMS failures in the last hour. No personal data."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from renewals.case.contract import Stage

log = logging.getLogger(__name__)
# Scrapes come every 15-60 s from each Prometheus: the projection is read at most this often.
BUSINESS_GAUGES_TTL = 15.0

_OPEN_CASES_BY_STAGE = text("SELECT stage, count(*) FROM renewal_case WHERE outcome IS NULL GROUP BY stage")
_NEEDS_ATTENTION = text("SELECT count(*) FROM task WHERE kind = 'attention' AND state = 'open'")
_SMS_FAILURES_LAST_HOUR = text(
    "SELECT count(*) FROM contact_record WHERE channel = 'sms' AND delivery_status IN ('failed', 'undelivered') "
    "AND created_at >= now() - interval '1 hour'")


class BusinessGauges(Collector):
    """Open cases by stage, open needs-attention tasks and SMS failures in the last hour, one
    cheap query each, read on scrape and kept BUSINESS_GAUGES_TTL seconds. A database that does
    not answer leaves them out of the scrape (the request metrics still answer)."""

    def __init__(self, engine: Engine):
        self._engine = engine
        self._read_at = float("-inf")
        self._families: list[GaugeMetricFamily] = []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        if time.monotonic() - self._read_at > BUSINESS_GAUGES_TTL:
            try:
                self._families = self._read()
            except SQLAlchemyError as exc:
                log.warning("business gauges not read: %s", type(exc).__name__)
                self._families = []
            self._read_at = time.monotonic()
        yield from self._families

    def _read(self) -> list[GaugeMetricFamily]:
        with self._engine.connect() as conn:
            by_stage = dict(conn.execute(_OPEN_CASES_BY_STAGE).all())
            attention = conn.execute(_NEEDS_ATTENTION).scalar_one()
            sms_failures = conn.execute(_SMS_FAILURES_LAST_HOUR).scalar_one()
        open_cases = GaugeMetricFamily("renewals_open_cases", "Open renewal cases by stage", labels=["stage"])
        for stage in Stage:  # every stage, 0 included: a dashboard's series do not come and go
            open_cases.add_metric([stage.value], by_stage.get(stage.value, 0))
        return [
            open_cases,
            GaugeMetricFamily("renewals_needs_attention_tasks", "Open needs-attention tasks (branch admins)",
                              value=attention),
            GaugeMetricFamily("renewals_sms_failures_last_hour", "SMS that failed or were undelivered in the last hour",
                              value=sms_failures),
        ]
