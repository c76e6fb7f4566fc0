"""Audit benchmarks: a timeline from the archive, and archiving closed cases.

    uv run python -m bench.audit [N_ARCHIVE]

1. Runs a real case with 14 staff actions (bench.cost's 12 calls, continue, success) in the
   time-skipping server, archives it, and times its timeline read from the archive (Temporal not
   asked): decompress, decode, join the contact records, refusals and staff, build — against the
   200 ms target.
2. Archives N_ARCHIVE (default 10,000) closed histories — the closed recorded paths of
   tests/histories/ and the case above, under distinct workflow ids — through the archiver's own write path
   (compress, insert in batches of 100, mark the cases), and times fetching a closed history
   from Temporal, the archiver's other half; prints the rate and bytes per case.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from bench.cost import daily_calls_then_renewed
from bench.harness import percentile, renewal_system
from renewals.audit.archive import (
    archive_closed_cases, archive_row, case_timeline, closing_status, store_histories,
)
from renewals.dev.servers import wheel_binary
from renewals.core.temporal import register_search_attributes
from renewals.case.contract import SEARCH_ATTRIBUTES

TIMELINE_TARGET_MS = 200
HISTORIES = Path(__file__).parent.parent / "tests" / "histories"
console = Console()


def ms(seconds: list[float], q: float) -> float:
    return percentile(seconds, q / 100) * 1000


async def main(n_archive: int) -> None:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=wheel_binary("temporal-test-server"), data_converter=pydantic_data_converter)
    await register_search_attributes(env.client, env.client.namespace, SEARCH_ATTRIBUTES)
    try:
        async with renewal_system(env, "renewals-bench-audit") as (sc, _):
            case = await daily_calls_then_renewed(sc)  # 12 calls, continue, success: 14 staff actions
            await case.handle.result()
            assert await archive_closed_cases(env.client, sc.engine) == 1
            runs = []
            for _ in range(50):
                started = time.perf_counter()
                timeline = await case_timeline(None, sc.engine, case.handle.id, identities_masked=True)
                runs.append(time.perf_counter() - started)
            staff_actions = sum(e.kind == "staff_action" for e in timeline.events)
            assert timeline.history_from == "archive" and staff_actions >= 12

            fetches = []
            for _ in range(200):
                started = time.perf_counter()
                await case.handle.fetch_history()
                fetches.append(time.perf_counter() - started)

            ours = await case.handle.fetch_history()
            recorded = (WorkflowHistory.from_json(p.stem, p.read_text()) for p in sorted(HISTORIES.glob("*.json")))
            samples = [ours, *(h for h in recorded if closing_status(h))]  # closed paths only
            started, rows = time.perf_counter(), []
            for first in range(0, n_archive, 100):
                batch = [archive_row(WorkflowHistory(f"bench-{i}", samples[i % len(samples)].events), "PDAA-BENCH")
                         for i in range(first, min(first + 100, n_archive))]
                store_histories(sc.engine, batch)
                rows += [{"history_bytes": r["history_bytes"], "gz": len(r["history_gz"])} for r in batch]
            store_seconds = time.perf_counter() - started
    finally:
        await env.shutdown()

    table = Table("measure", "value", "target", title="Audit benchmarks")
    table.add_row(f"timeline from the archive, {staff_actions} staff actions "
                  f"({len(timeline.events)} events, {len(ours.events)} history events)",
                  f"p50 {ms(runs, 50):.1f} ms · p95 {ms(runs, 95):.1f} ms · max {max(runs) * 1000:.1f} ms",
                  f"< {TIMELINE_TARGET_MS} ms")
    raw = sum(r["history_bytes"] for r in rows) / n_archive
    gz = sum(r["gz"] for r in rows) / n_archive
    table.add_row(f"archive write path, {n_archive:,} closed cases (compress + insert + mark)",
                  f"{n_archive / store_seconds:,.0f} cases/s ({store_seconds:.1f} s)", "")
    table.add_row("history fetch from Temporal (time-skipping server, one at a time)",
                  f"p50 {ms(fetches, 50):.1f} ms → {1 / statistics.median(fetches):,.0f} cases/s per fetcher", "")
    table.add_row("bytes per archived case", f"{gz:,.0f} compressed (from {raw:,.0f} raw, ×{raw / gz:.1f})", "")
    console.print(table)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000))
