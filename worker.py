"""The Temporal worker: the PolicyRenewal workflow and the activities that do its I/O."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.worker import Worker

from activities.archive import HistoryArchiving
from activities.intake import IntakeActivities
from activities.notifications import Notifications
from activities.projection import CaseProjection
from activities.task_rollup import TaskRollupActivities
from renewals.core.notify import Notifier, build_notifier
from renewals.core.settings import Settings
from workflows.archiver import HistoryArchiver
from workflows.intake import PolicyIntake
from workflows.renewal import PolicyRenewal
from workflows.task_rollup import TaskRollup

log = logging.getLogger(__name__)


def build_worker(
    client: Client, settings: Settings, engine: Engine, notifier: Notifier | None = None, *, task_queue: str | None = None
) -> Worker:
    queue = task_queue or settings.task_queue
    projection = CaseProjection(engine)
    notifications = Notifications(engine, notifier or build_notifier(settings), settings)
    return Worker(
        client,
        task_queue=queue,
        workflows=[PolicyRenewal, HistoryArchiver, PolicyIntake, TaskRollup],
        activities=[*projection.activities(), *notifications.activities(),
                    *HistoryArchiving(client, engine, settings.audit_archive_retention_months).activities(),
                    *IntakeActivities(engine, client, settings.model_copy(update={"task_queue": queue})).activities(),
                    *TaskRollupActivities(engine, settings.timezone).activities()],
        # Activities are blocking (SQLAlchemy, twilio): a bounded thread pool, nothing per case.
        activity_executor=ThreadPoolExecutor(settings.activity_workers),
        max_concurrent_activities=settings.activity_workers,
        max_cached_workflows=settings.workflow_cache_size,
        graceful_shutdown_timeout=timedelta(seconds=5),
    )


async def run_worker(client: Client, settings: Settings, engine: Engine, stop: asyncio.Event) -> None:
    """Poll until `stop` is set, then finish in-flight work (bounded) and return."""
    worker = build_worker(client, settings, engine)
    async with worker:
        log.info("worker polling task queue %r", settings.task_queue)
        await stop.wait()
    worker.config()["activity_executor"].shutdown(wait=False)
    log.info("worker stopped")
