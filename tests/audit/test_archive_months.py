"""How long histories are kept: the archive by month (the archiver's run drops the months past the
retention whole, keeps the recent ones and makes the coming month's partition ahead), and Temporal's
copy for the namespace's retention, which `renewals temporal setup` sets."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

from sqlmodel import Session
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.testing import ActivityEnvironment

from activities.archive import HistoryArchiving
from renewals.audit.archive import archive_months, find_archived, store_histories
from renewals.core.temporal import set_namespace_retention


def months_ago(count: int) -> date:
    this_month = datetime.now(UTC).date().replace(day=1)
    back = this_month.year * 12 + this_month.month - 1 - count
    return date(back // 12, back % 12 + 1, 1)


def closed_in(month: date) -> dict:
    workflow_id = f"renewal-{month:%Y-%m}"
    return {"workflow_id": workflow_id, "run_id": "run", "case_id": uuid.uuid4(), "policy_no": f"P{month:%Y%m}",
            "status": "COMPLETED", "closed_at": datetime(month.year, month.month, 28, 23, 30, tzinfo=UTC),
            "event_count": 40, "history_bytes": 9000, "history_gz": b"\x1f\x8b", "archived_at": datetime.now(UTC)}


async def run_archiver(engine, retention_months: int) -> None:
    # No closed case waits for archiving here, so the run never asks Temporal.
    await ActivityEnvironment().run(HistoryArchiving(None, engine, retention_months).archive_closed_histories)


async def test_the_archiver_drops_months_past_the_retention_and_keeps_the_recent_ones(engine):
    # With a 12-month retention the month that closed 13 months ago goes (every history in it is
    # more than 12 months old); 12 months ago stays (its last days are not).
    old, older, recent, this = months_ago(14), months_ago(13), months_ago(12), months_ago(0)
    assert store_histories(engine, [closed_in(month) for month in (old, older, recent, this)]) == 4
    assert archive_months(engine) == [old, older, recent, this]

    await run_archiver(engine, retention_months=0)
    assert archive_months(engine) == [old, older, recent, this, months_ago(-1)], "0 keeps every month"

    await run_archiver(engine, retention_months=12)
    assert archive_months(engine) == [recent, this, months_ago(-1)]
    with Session(engine) as session:
        assert [find_archived(session, f"renewal-{month:%Y-%m}") is not None for month in (old, older, recent, this)
                ] == [False, False, True, True]


async def test_temporal_setup_sets_how_long_the_namespace_keeps_closed_histories(dev_env):
    client = dev_env.client
    assert await set_namespace_retention(client, client.namespace, 45)
    described = await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=client.namespace))
    assert described.config.workflow_execution_retention_ttl.ToTimedelta() == timedelta(days=45)
