"""Prometheus metrics: the API's (requests by route template and status, and a few business gauges
read from the projection) on its /metrics, and the worker's (the Temporal SDK's own series) on
WORKER_METRICS_PORT. Nothing personal in either: counts by stage, route templates, status codes.
/metrics is for the monitoring network only: the reverse proxy does not pass it (README)."""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from prometheus_client.registry import Collector
from prometheus_fastapi_instrumentator import Instrumentator, metrics
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from renewals.core.settings import Settings

# Staff actions answer within STAFF_ACTION_DEADLINE (1.5 s by default); reports and imports take longer.
LATENCY_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.5, 5.0, 10.0, 30.0)


def instrument_api(app: FastAPI, collectors: Iterable[Collector] = ()) -> None:
    """GET /metrics: request counts and latency by route template and status, and `collectors`' series."""
    registry = CollectorRegistry()  # this app's own: tests build many apps in one process
    for collector in collectors:
        registry.register(collector)
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
