"""Cost per renewal (SPEC §11): Temporal actions and history bytes of whole renewal paths.

    uv run python -m bench.cost [--json]

Runs real workflows and activities in the time-skipping test server against an embedded
PostgreSQL and a local fake Twilio, then prints one row per path against the targets (--json:
one JSON object per path and line: path, actions, history_bytes, events, staff_actions).
A staff action's cost is its path's cost above the longest path without staff actions, per action.
"""

from __future__ import annotations

import asyncio
import json
import sys

from rich.console import Console
from rich.table import Table
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from bench.harness import renewal_system
from renewals.dev.servers import wheel_binary
from renewals.audit.history import HistoryCost, history_cost
from renewals.core.temporal import register_search_attributes
from tests.scenario import Scenario
from renewals.case import contract as c

MAX_ACTIONS, MAX_BYTES = 28, 12 * 1024
MAX_STAFF_ACTIONS, MAX_STAFF_BYTES = 2, 1200  # per staff action


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


async def unattended_spread(sc: Scenario):
    case = await sc.start(spread_wake_ups=True)
    await sc.sleep_until(case.at(8, 9))
    return case


PATHS = {
    "unattended, escalated, lapsed (longest without staff)": unattended,
    "the same, wake-ups spread as the system starts cases": unattended_spread,
    "failed, deputy continue, lapsed": failed_then_deputy_continue,
    "12 calls, continue, renewed at T-5": daily_calls_then_renewed,
}


async def measure() -> list[tuple[str, str, HistoryCost]]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=wheel_binary("temporal-test-server"), data_converter=pydantic_data_converter)
    await register_search_attributes(env.client, env.client.namespace, c.SEARCH_ATTRIBUTES)
    costs = []
    try:
        async with renewal_system(env, "bench") as (sc, _):
            for name, path in PATHS.items():
                case = await path(sc)
                result = await case.handle.result()
                costs.append((name, result.outcome, history_cost(await case.handle.fetch_history())))
    finally:
        await env.shutdown()
    return costs


def per_staff_action(cost: HistoryCost, unattended: HistoryCost) -> tuple[float, float]:
    staff = cost.by_kind.get("update", 0)
    return ((cost.actions - unattended.actions) / staff, (cost.history_bytes - unattended.history_bytes) / staff)


def json_lines(costs: list[tuple[str, str, HistoryCost]]) -> list[str]:
    """`--json`: one object per path."""
    return [json.dumps({"path": name, "actions": cost.actions, "history_bytes": cost.history_bytes,
                        "events": cost.events, "staff_actions": cost.by_kind.get("update", 0)})
            for name, _, cost in costs]


async def main() -> None:
    if "--json" in sys.argv[1:]:
        print("\n".join(json_lines(await measure())))
        return
    console = Console()
    with console.status("running renewal paths in skipped time…"):
        costs = await measure()
    table = Table("path", "outcome", "actions", "history bytes", "events", "per staff action", "breakdown",
                  title="Cost per renewal")
    unattended = costs[0][2]
    for name, outcome, cost in costs:
        each = ""
        ok = cost.actions <= MAX_ACTIONS and cost.history_bytes <= MAX_BYTES
        if cost.by_kind.get("update"):
            actions, size = per_staff_action(cost, unattended)
            each, ok = f"{actions:.2f} actions, {size:,.0f} B", actions <= MAX_STAFF_ACTIONS and size <= MAX_STAFF_BYTES
        table.add_row(name, outcome, f"{cost.actions}", f"{cost.history_bytes:,}", f"{cost.events}", each,
                      " ".join(f"{k}={v}" for k, v in sorted(cost.by_kind.items())), style=None if ok else "yellow")
    console.print(table)
    console.print(f"targets: the longest path without staff actions ≤ {MAX_ACTIONS} actions and ≤ {MAX_BYTES:,} "
                  f"bytes; a staff action ≤ {MAX_STAFF_ACTIONS} actions and ≤ {MAX_STAFF_BYTES:,} bytes")


if __name__ == "__main__":
    asyncio.run(main())
