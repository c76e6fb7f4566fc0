"""Cost per renewal (SPEC §11): Temporal actions and history bytes of whole renewal paths.

    uv run python -m bench.cost

Runs real workflows and activities in the time-skipping test server against an embedded
PostgreSQL and a local fake Twilio, then prints one row per path against the targets.
"""

from __future__ import annotations

import asyncio

from rich.console import Console
from rich.table import Table
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from bench.harness import renewal_system
from renewals.dev.servers import wheel_binary
from renewals.audit.history import history_cost
from renewals.core.temporal import register_search_attributes
from tests.scenario import Scenario
from renewals.case import contract as c

MAX_ACTIONS, MAX_BYTES = 40, 32 * 1024


async def unattended(sc: Scenario):
    case = await sc.start()
    await sc.sleep_until(case.at(8, 0, 1))
    return case


async def failed_then_deputy_continue(sc: Scenario):
    case = await sc.start()
    await sc.sleep_until(case.at(-18, 10))
    await case.update("set_follow_up", c.SetFollowUp(actor=case.actor(), status=c.FollowUpStatus.failed))
    await sc.sleep_until(case.at(-9, 10))
    await case.update("set_follow_up", c.SetFollowUp(actor=case.actor("deputy"), status=c.FollowUpStatus.continue_,
                                                     note_id=sc.note(case, case.deputy_id, "已协助,请继续跟进")))
    await sc.sleep_until(case.at(8, 0, 1))
    return case


async def daily_calls_then_renewed(sc: Scenario):
    case = await sc.start()
    for day in (-60, -30, *range(-20, -10)):
        await sc.sleep_until(case.at(day, 10))
        await case.update("record_contact", c.RecordContact(actor=case.actor(), channel=c.Channel.call,
                                                            result=c.ContactResult.no_answer))
    await case.update("set_follow_up", c.SetFollowUp(actor=case.actor(), status=c.FollowUpStatus.continue_))
    await sc.sleep_until(case.at(-5, 10))
    await case.update("set_follow_up", c.SetFollowUp(actor=case.actor(), status=c.FollowUpStatus.success,
                                                     new_policy_no="PDAA-BENCH"))
    return case


PATHS = {
    "unattended, escalated, lapsed (longest without staff)": unattended,
    "failed, deputy continue, lapsed": failed_then_deputy_continue,
    "12 calls, continue, renewed at T-5": daily_calls_then_renewed,
}


async def main() -> None:
    console = Console()
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=wheel_binary("temporal-test-server"), data_converter=pydantic_data_converter)
    await register_search_attributes(env.client, env.client.namespace, c.SEARCH_ATTRIBUTES)
    table = Table("path", "outcome", "actions", "history bytes", "events", "breakdown", title="Cost per renewal")
    try:
        with console.status("running renewal paths in skipped time…"):
            async with renewal_system(env, "bench") as (sc, _):
                for name, path in PATHS.items():
                    case = await path(sc)
                    result = await case.handle.result()
                    cost = history_cost(await case.handle.fetch_history())
                    ok = cost.actions <= MAX_ACTIONS and cost.history_bytes <= MAX_BYTES
                    table.add_row(name, result.outcome, f"{cost.actions}", f"{cost.history_bytes:,}",
                                  f"{cost.events}", " ".join(f"{k}={v}" for k, v in sorted(cost.by_kind.items())),
                                  style=None if ok else "yellow")
    finally:
        await env.shutdown()
    console.print(table)
    console.print(f"targets for the longest path without staff actions: ≤ {MAX_ACTIONS} actions, "
                  f"≤ {MAX_BYTES:,} bytes (staff actions add their own cost)")


if __name__ == "__main__":
    asyncio.run(main())
