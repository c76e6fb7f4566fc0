"""Intake throughput: cases started per second by the intake path against a raw
`start_workflow` loop, on the same Temporal dev server and at the same concurrency.

    uv run python -m bench.intake_starts [N]       (default 2,000)

The intake path is what an import and the daily run do: read the due policies from PostgreSQL,
build each case's input, start it (duplicate policies, search attributes, summary). The raw loop
sends the very same start requests from prebuilt inputs and does nothing else, so the ratio is what
our code costs. The two alternate in halves, so neither gets the emptier server. No worker polls:
only starting is measured. Target: intake ≥ 0.8× raw.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlmodel import Session
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from bench.intake_copy import _organisation
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy

from renewals.case.start import initial_search_attributes, renewal_input
from renewals.core.db import make_engine, migrate
from renewals.dev.servers import EmbeddedPostgres, wheel_binary
from renewals.core.temporal import CONCURRENCY, bounded
from renewals.intake.service import load, local_today, organisation, start_due_cases
from renewals.intake.policy_file import check_file
from renewals.dev.sample_book import rows, to_csv
from renewals.core.settings import Settings
from renewals.case import contract as c

TARGET = 0.8


async def main(count: int) -> None:
    pg = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="rbench")) / "d", ephemeral=True)
    env = await WorkflowEnvironment.start_local(dev_server_existing_path=wheel_binary("temporal"),
                                                data_converter=pydantic_data_converter,
                                                search_attributes=c.SEARCH_ATTRIBUTES, dev_server_log_level="error")
    try:
        migrate(pg.url())
        engine = make_engine(pg.url(), pool_size=5)
        settings = Settings(_env_file=None, database_url=pg.url(), task_queue="bench-intake")
        _organisation(engine)
        today = local_today(settings)
        records = rows(count, start=today + timedelta(days=1))
        for i, record in enumerate(records):  # every policy in the horizon
            expiry = today + timedelta(days=1 + i % 59)
            record.update(expires_on=f"{expiry}", starts_on=f"{expiry - timedelta(days=365)}",
                          first_registered_on=f"{expiry - timedelta(days=1000)}", manager="demo-sales-1")
        with Session(engine) as session:
            org = organisation(session)
            from models import Staff, SubBranch
            from sqlmodel import select

            sub = session.exec(select(SubBranch)).one()
            sub.deputy_id = session.exec(select(Staff)).first().id  # any staff id serves as a deputy here
            session.add(sub)
            session.commit()
        good, errors, _ = check_file(to_csv(records), org)
        assert not errors, errors[:3]
        load(engine, good, settings)

        raw_inputs = [renewal_input(settings, policy_no=f"RAW{r.policy_no}", expiry_date=r.expires_on,
                                    owner_id=r.owner_id, deputy_id=r.owner_id, branch="3100", sub_branch="310101",
                                    admin_ids=[])
                      for r in good]

        async def raw(inp: c.RenewalInput) -> None:
            await env.client.start_workflow(
                c.WORKFLOW_TYPE, inp, id=c.renewal_workflow_id(inp.policy_no, inp.expiry_date),
                task_queue=settings.task_queue, id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                search_attributes=initial_search_attributes(inp),
                static_summary=f"Renewal of policy {inp.policy_no}, expiring {inp.expiry_date:%Y-%m-%d}")

        raw_s = intake_s = 0.0
        half, after = count // 2, ""
        for part in (raw_inputs[:half], raw_inputs[half:]):
            started = time.perf_counter()
            await bounded(part, raw)
            raw_s += time.perf_counter() - started
            started = time.perf_counter()
            summary = await start_due_cases(engine, env.client, settings, today, after=after, limit=len(part))
            intake_s += time.perf_counter() - started
            assert summary.started == len(part), summary
            after = summary.last_policy_no
        engine.dispose()
    finally:
        await env.shutdown()
        pg.stop()
    table = Table("path", "seconds", "cases/s", title=f"starting {count:,} cases, {CONCURRENCY} at a time")
    table.add_row("raw start_workflow loop", f"{raw_s:.2f}", f"{count / raw_s:,.0f}")
    table.add_row("intake (DB read, input, start)", f"{intake_s:.2f}", f"{count / intake_s:,.0f}")
    table.add_row("intake / raw", "", f"{raw_s / intake_s:.2f}× (target ≥ {TARGET}×)")
    Console().print(table)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000))
