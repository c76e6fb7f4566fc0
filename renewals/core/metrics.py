"""Prometheus metrics: the API's (requests by route template and status, and a few business gauges
read from the projection) on its /metrics, and the worker's (the Temporal SDK's own series) on
WORKER_METRICS_PORT. Nothing personal in either: counts by stage, route templates, status codes.
/metrics is for the monitoring network only: the reverse proxy does not pass it (README)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from prometheus_fastapi_instrumentator import Instrumentator, metrics
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from renewals.case.calendar import Stage
from renewals.core.settings import Settings

log = logging.getLogger(__name__)
# Scrapes come every 15-60 s from each Prometheus: the projection is read at most this often.
BUSINESS_GAUGES_TTL = 15.0
# Staff actions answer within STAFF_ACTION_DEADLINE (1.5 s by default); reports and imports take longer.
LATENCY_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.5, 5.0, 10.0, 30.0)

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


def instrument_api(app: FastAPI, engine: Engine) -> None:
    """GET /metrics: request counts and latency by route template and status, and the business gauges."""
    registry = CollectorRegistry()  # this app's own: tests build many apps in one process
    registry.register(BusinessGauges(engine))
    instrumentator = Instrumentator(should_group_status_codes=False, excluded_handlers=["/metrics"],
                                    registry=registry)
    # http_requests_total and http_request_duration_seconds, both by handler (the route template), method
    # and status; requests no route matched count under handler "none".
    instrumentator.add(metrics.requests(registry=registry), metrics.latency(buckets=LATENCY_BUCKETS, registry=registry))
    instrumentator.instrument(app).expose(app, include_in_schema=False)


def worker_runtime(settings: Settings) -> Runtime:
    """The Temporal SDK runtime that serves its metrics (poll, task, schedule-to-start and failure
    series) on API_HOST:WORKER_METRICS_PORT, in seconds."""
    address = f"{settings.api_host}:{settings.worker_metrics_port}"
    return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=address,
                                                                      durations_as_seconds=True)))
