"""The Temporal worker: the PolicyRenewal workflow and the activities that do its I/O."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import uvicorn
from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from activities.archive import HistoryArchiving
from activities.intake import IntakeActivities
from activities.notifications import Notifications
from activities.privacy import PrivacyActivities
from activities.projection import CaseProjection
from activities.scoring import ScoringActivities
from activities.task_rollup import TaskRollupActivities
from renewals.core.notify import Notifier, build_notifier
from renewals.core.settings import Settings
from workflows.archiver import HistoryArchiver
from workflows.imports import ImportPolicies
from workflows.intake import PolicyIntake
from workflows.privacy import PrivacyPurge
from workflows.renewal import PolicyRenewal
from workflows.scoring import LapseScoring
from workflows.task_rollup import TaskRollup

log = logging.getLogger(__name__)
HEALTH_CHECK_TIMEOUT = timedelta(seconds=3)


def build_worker(
    client: Client, settings: Settings, engine: Engine, notifier: Notifier | None = None, *, task_queue: str | None = None
) -> Worker:
    queue = task_queue or settings.task_queue
    projection = CaseProjection(engine)
    notifications = Notifications(engine, notifier or build_notifier(settings), settings)
    return Worker(
        client,
        task_queue=queue,
        workflows=[PolicyRenewal, HistoryArchiver, PolicyIntake, ImportPolicies, TaskRollup, PrivacyPurge,
                   LapseScoring],
        activities=[*projection.activities(), *notifications.activities(),
                    *HistoryArchiving(client, engine, settings.audit_archive_retention_months).activities(),
                    *IntakeActivities(engine, client, settings.model_copy(update={"task_queue": queue})).activities(),
                    *TaskRollupActivities(engine, settings.timezone).activities(),
                    *PrivacyActivities(engine, settings).activities(),
                    *ScoringActivities(engine).activities()],
        # Activities are blocking (SQLAlchemy, twilio): a bounded thread pool, nothing per case.
        activity_executor=ThreadPoolExecutor(settings.activity_workers),
        max_concurrent_activities=settings.activity_workers,
        max_cached_workflows=settings.workflow_cache_size,
        workflow_runner=SandboxedWorkflowRunner() if settings.workflow_sandbox else UnsandboxedWorkflowRunner(),
        graceful_shutdown_timeout=timedelta(seconds=5),
    )


class WorkerHealth:
    """The worker's health endpoint: GET /healthz, the process answers; GET /readyz, the worker
    is polling its task queue (started, not stopping, not failed) and the Temporal frontend
    answers. A worker whose polling ended, or that cannot reach Temporal, is not ready."""

    def __init__(self, worker: Worker):
        self.worker = worker
        self.stopping = False

    async def readiness(self) -> dict[str, str]:
        checks = {"polling": "ok" if self.worker.is_running and not self.stopping else "stopped"}
        try:
            reachable = await self.worker.client.service_client.check_health(timeout=HEALTH_CHECK_TIMEOUT)
            checks["temporal"] = "ok" if reachable else "not serving"
        except Exception as exc:  # noqa: BLE001 — any failure means not ready; say which
            checks["temporal"] = f"unavailable: {type(exc).__name__}"
        return checks

    def app(self) -> Starlette:
        async def healthz(_: Request) -> JSONResponse:
            return JSONResponse({"status": "ok"})

        async def readyz(_: Request) -> JSONResponse:
            checks = await self.readiness()
            ready = all(value == "ok" for value in checks.values())
            return JSONResponse({"status": "ready" if ready else "not ready", **checks},
                                status_code=200 if ready else 503)

        return Starlette(routes=[Route("/healthz", healthz), Route("/readyz", readyz)])

    def server(self, settings: Settings) -> uvicorn.Server:
        """On API_HOST:WORKER_HEALTH_PORT; probes come every few seconds: no access log."""
        config = uvicorn.Config(self.app(), host=settings.api_host, port=settings.worker_health_port,
                                log_config=None, access_log=False, lifespan="off")
        server = uvicorn.Server(config)
        server.install_signal_handlers = lambda: None
        return server


async def run_worker(client: Client, settings: Settings, engine: Engine, stop: asyncio.Event) -> None:
    """Poll until `stop` is set, then finish in-flight work (bounded) and return; polling that
    fails ends the run with its error (the process stops, and its supervisor starts another)."""
    worker = build_worker(client, settings, engine)
    health = WorkerHealth(worker)
    endpoint = health.server(settings)
    serving = asyncio.create_task(endpoint.serve(), name="worker-health")
    polling = asyncio.create_task(worker.run(), name="polling")
    stopping = asyncio.create_task(stop.wait())
    try:
        log.info("worker polling task queue %r", settings.task_queue)
        await asyncio.wait({polling, stopping}, return_when=asyncio.FIRST_COMPLETED)
        health.stopping = True
        if not polling.done():
            await worker.shutdown()
        await polling
    finally:
        stopping.cancel()
        endpoint.should_exit = True
        await serving
        worker.config()["activity_executor"].shutdown(wait=False)
    log.info("worker stopped")
