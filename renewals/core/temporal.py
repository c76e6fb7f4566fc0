"""Connecting to Temporal and registering the search attributes of SPEC §3."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any
from datetime import timedelta

from google.protobuf.duration_pb2 import Duration
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.namespace.v1 import NamespaceConfig
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.api.workflowservice.v1 import UpdateNamespaceRequest
from temporalio.client import (
    Client, Schedule, ScheduleActionStartWorkflow, ScheduleAlreadyRunningError, ScheduleOverlapPolicy, SchedulePolicy,
    ScheduleSpec, ScheduleUpdate, TLSConfig,
)
from temporalio.common import SearchAttributeKey
from temporalio.runtime import Runtime
from temporalio.service import RPCError, RPCStatusCode
from temporalio.contrib.pydantic import pydantic_data_converter

from renewals.core.settings import Settings, how_to_start


class NoTemporal(RuntimeError):
    """TEMPORAL_ADDRESS is not set: the commands that need Temporal say so and stop."""


async def connect(settings: Settings, runtime: Runtime | None = None) -> Client:
    """A client; `runtime` carries the worker's metrics (renewals.core.metrics), else the SDK's default."""
    if not settings.temporal_address:
        raise NoTemporal(how_to_start("TEMPORAL_ADDRESS", settings))
    tls: TLSConfig | bool = False
    if settings.temporal_tls_cert or settings.temporal_tls_ca:
        tls = TLSConfig(
            client_cert=settings.temporal_tls_cert.read_bytes() if settings.temporal_tls_cert else None,
            client_private_key=settings.temporal_tls_key.read_bytes() if settings.temporal_tls_key else None,
            server_root_ca_cert=settings.temporal_tls_ca.read_bytes() if settings.temporal_tls_ca else None,
        )
    elif settings.temporal_api_key:
        tls = True  # Temporal Cloud API keys always travel over TLS
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        api_key=settings.temporal_api_key,
        tls=tls,
        data_converter=pydantic_data_converter,
        runtime=runtime,
    )


def search_attribute_flags(keys: Iterable[SearchAttributeKey]) -> list[str]:
    """`temporal server start-dev --search-attribute K=T` flags for the dev server."""
    flags = []
    for key in keys:
        flags += ["--search-attribute", f"{key.name}={key.indexed_value_type.name.removeprefix('INDEXED_VALUE_TYPE_').title()}"]
    return flags


async def register_search_attributes(client: Client, namespace: str, keys: Iterable[SearchAttributeKey]) -> list[str]:
    """Add the missing ones of `keys` (the case contract's SEARCH_ATTRIBUTES); returns the names added
    (idempotent)."""
    try:
        existing = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=namespace)
        )
        known = set(existing.custom_attributes) | set(existing.system_attributes)
    except RPCError as exc:
        if exc.status != RPCStatusCode.UNIMPLEMENTED:  # the time-skipping test server cannot list
            raise
        known = set()
    missing = {
        key.name: IndexedValueType.ValueType(int(key.indexed_value_type))
        for key in keys
        if key.name not in known
    }
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
        )
    return sorted(missing)


async def set_namespace_retention(client: Client, namespace: str, days: int) -> bool:
    """How long Temporal keeps a closed workflow's history in `namespace` (idempotent); False where
    the server does not let this client change it (Temporal Cloud: set it in Cloud's own tools)."""
    try:
        await client.workflow_service.update_namespace(UpdateNamespaceRequest(
            namespace=namespace,
            config=NamespaceConfig(workflow_execution_retention_ttl=Duration(seconds=days * 86400))))
    except RPCError as exc:
        if exc.status not in (RPCStatusCode.PERMISSION_DENIED, RPCStatusCode.UNIMPLEMENTED):
            raise
        return False
    return True


def nightly_schedule(workflow: str, *args, workflow_id: str, summary: str, cron: str, settings: Settings) -> Schedule:
    """`workflow` started at `cron` in the company time zone: a run still going is not doubled, and
    a night missed while the server was down runs when it is back."""
    return Schedule(
        action=ScheduleActionStartWorkflow(workflow, args=args, id=workflow_id, task_queue=settings.task_queue,
                                           static_summary=summary),
        spec=ScheduleSpec(cron_expressions=[cron], time_zone_name=settings.timezone),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=timedelta(days=1)),
    )


async def put_schedule(client: Client, schedule_id: str, schedule: Schedule) -> str:
    """Create the schedule, or bring an existing one in line with `schedule` (idempotent):
    "created" or "updated"."""
    try:
        await client.create_schedule(schedule_id, schedule)
        return "created"
    except ScheduleAlreadyRunningError:
        await client.get_schedule_handle(schedule_id).update(lambda _: ScheduleUpdate(schedule=schedule))
        return "updated"


# Concurrent workflow starts/signals/updates per batch: enough to keep a Temporal frontend busy.
CONCURRENCY = 32


async def bounded(items, work, concurrency: int = CONCURRENCY) -> list[Any]:
    """`work` on every item, at most `concurrency` at a time; the results in the items' order."""
    gate = asyncio.Semaphore(concurrency)

    async def one(item):
        async with gate:
            return await work(item)

    return await asyncio.gather(*(one(item) for item in items))
