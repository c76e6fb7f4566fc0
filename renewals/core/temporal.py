"""Connecting to Temporal and registering the search attributes of SPEC §3."""

from __future__ import annotations

from datetime import timedelta

from google.protobuf.duration_pb2 import Duration
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.namespace.v1 import NamespaceConfig
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.api.workflowservice.v1 import UpdateNamespaceRequest
from temporalio.client import (
    Client, Schedule, ScheduleActionStartWorkflow, ScheduleAlreadyRunningError, ScheduleOverlapPolicy,
    SchedulePolicy, ScheduleSpec, ScheduleUpdate, TLSConfig,
)
from temporalio.service import RPCError, RPCStatusCode
from temporalio.contrib.pydantic import pydantic_data_converter

from renewals.core.settings import Settings
from workflows.contract import SEARCH_ATTRIBUTES
from workflows.intake import SCHEDULE_CRON, SCHEDULE_ID, WORKFLOW_TYPE as INTAKE_WORKFLOW, IntakeInput


class NoTemporal(RuntimeError):
    """TEMPORAL_ADDRESS is not set: the commands that need Temporal say so and stop."""


async def connect(settings: Settings) -> Client:
    if not settings.temporal_address:
        from renewals.dev.stack import how_to_start

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
    )


def search_attribute_flags() -> list[str]:
    """`temporal server start-dev --search-attribute K=T` flags for the dev server."""
    flags = []
    for key in SEARCH_ATTRIBUTES:
        flags += ["--search-attribute", f"{key.name}={key.indexed_value_type.name.removeprefix('INDEXED_VALUE_TYPE_').title()}"]
    return flags


async def register_search_attributes(client: Client, namespace: str) -> list[str]:
    """Add the missing search attributes; returns the names added (idempotent)."""
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
        for key in SEARCH_ATTRIBUTES
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


def intake_schedule(settings: Settings) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            INTAKE_WORKFLOW, IntakeInput(timezone=settings.timezone), id="policy-intake",
            task_queue=settings.task_queue, static_summary="Start the renewal cases entering the horizon today",
        ),
        spec=ScheduleSpec(cron_expressions=[SCHEDULE_CRON], time_zone_name=settings.timezone),
        # A run still going (a huge book) is not doubled; a missed night runs when the server is back.
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


async def ensure_intake_schedule(client: Client, settings: Settings) -> str:
    """Create `policy-intake-daily`, or bring an existing one in line with the settings (idempotent)."""
    return await put_schedule(client, SCHEDULE_ID, intake_schedule(settings))
