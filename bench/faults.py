"""Fault matrix: does any fault lose a case, leave one stuck, text anyone twice, or leave the
projection disagreeing with the workflow?

    uv run python -m bench.faults [--cases 20]

Runs the real stack on this machine (embedded PostgreSQL, the Temporal dev server, a local fake
Twilio, a worker started as `renewals worker`; loopback only). For each fault, a fresh batch of
cases starts at T-11 on a 1-second day (an escalation, a final notice and a manager reminder each:
about 20 seconds to LAPSED), the fault strikes 3 seconds in, and the batch is followed to its end.
Printed per fault: cases lost (not at an outcome), stuck (still running when they should have
ended), duplicate SMS, projection/workflow disagreements, and recovery time (from the end of the
fault until no activity is retrying and nothing begun before the fault ended is still pending).
Bounded: each fault takes well under two minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from rich.console import Console
from rich.table import Table
from temporalio.client import Client, WorkflowExecutionStatus

from bench.harness import Stack, StartedCase
from renewals.core.notify import HTTP_TIMEOUT_SECONDS
from tests.fake_twilio import Chaos

DAYS = 11  # T-11: THIRD_CONTACT, escalation at T-10, final contact at T-7, lapsed after T+7
DAY_SECONDS = 1
STRIKE_AFTER = 3.0
OUTAGE = 10.0

Fault = Callable[[Stack], Awaitable[None]]


async def nothing(stack: Stack) -> None:
    pass


async def worker_killed_with_sends_in_flight(stack: Stack) -> None:
    stack.twilio.chaos(Chaos(slow=1.0, slow_seconds=HTTP_TIMEOUT_SECONDS - 1))  # every send hangs a while
    sent = len(stack.twilio.requests)
    deadline = time.monotonic() + 20
    while len(stack.twilio.requests) == sent and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.2)
    for worker in list(stack.workers):
        if worker.poll() is None:
            stack.kill_worker(worker)
    stack.twilio.chaos(None)
    stack.start_worker()  # the replacement a process manager would start


async def whole_stack_killed(stack: Stack) -> None:
    for worker in list(stack.workers):
        if worker.poll() is None:
            stack.kill_worker(worker)
    os.killpg(stack.temporal.process.pid, signal.SIGKILL)
    stack.temporal.process.wait()
    stack.pg.kill()
    await asyncio.sleep(1)
    stack.pg.resume()
    stack.temporal.start()
    stack.start_worker()


def twilio_chaos(chaos: Chaos) -> Fault:
    async def strike(stack: Stack) -> None:
        stack.twilio.chaos(chaos)
        await asyncio.sleep(OUTAGE)
        stack.twilio.chaos(None)

    return strike


async def twilio_permanent_errors(stack: Stack) -> None:
    stack.twilio.fail_next(400, 21211, times=5)  # invalid numbers: recorded as failed, never retried


async def postgres_stopped(stack: Stack) -> None:
    stack.pg.halt()
    await asyncio.sleep(OUTAGE)
    stack.pg.resume()


FAULTS: dict[str, Fault] = {
    "none (baseline)": nothing,
    "worker killed, sends in flight": worker_killed_with_sends_in_flight,
    "whole stack killed (worker, Temporal, PostgreSQL)": whole_stack_killed,
    f"Twilio 5xx, 30 % for {OUTAGE:.0f} s": twilio_chaos(Chaos(server_error=0.3)),
    f"Twilio 429, 30 % for {OUTAGE:.0f} s": twilio_chaos(Chaos(too_many_requests=0.3)),
    f"Twilio slower than the client timeout, 15 % for {OUTAGE:.0f} s":
        twilio_chaos(Chaos(slow=0.15, slow_seconds=HTTP_TIMEOUT_SECONDS + 1)),
    "Twilio permanent errors (5 × 21211)": twilio_permanent_errors,
    f"PostgreSQL stopped {OUTAGE:.0f} s": postgres_stopped,
}


async def backlog(client: Client, cases: list[StartedCase], cleared: float) -> int:
    """Running cases still feeling the fault: an activity retrying, or an activity attempt or a
    workflow task begun before the fault ended (wall clock `cleared`) and still not done."""
    late = 0
    for case in cases:
        try:
            described = await client.get_workflow_handle(case.workflow_id).describe()
        except Exception:  # noqa: BLE001 — the server itself may still be coming back
            return len(cases)
        if described.status != WorkflowExecutionStatus.RUNNING:
            continue
        raw = described.raw_description
        waiting = raw.HasField("pending_workflow_task") and raw.pending_workflow_task.scheduled_time.ToSeconds() < cleared
        hung = any(a.attempt > 1 or (a.HasField("last_started_time") and a.last_started_time.ToSeconds() < cleared)
                   for a in raw.pending_activities)
        late += waiting or hung
    return late


async def recovery_time(client: Client, cases: list[StartedCase], limit: float = 120) -> float:
    cleared, wall = time.monotonic(), time.time()
    while time.monotonic() - cleared < limit:
        if await backlog(client, cases, wall) == 0:
            return time.monotonic() - cleared
        await asyncio.sleep(0.5)
    return float("inf")


async def run_fault(stack: Stack, name: str, fault: Fault, n: int, console: Console) -> dict[str, object]:
    client = await stack.client()
    duplicates_before = stack.twilio.duplicates()
    cases = await stack.start_cases(client, stack.seed(n, DAYS), day_seconds=DAY_SECONDS, days=DAYS)
    await asyncio.sleep(STRIKE_AFTER)
    started = time.monotonic()
    await fault(stack)
    cleared = time.monotonic()
    client = await stack.client()  # a fresh connection, as after a restart
    recovery = await recovery_time(client, cases)
    await stack.wait_closed(client, timeout=(DAYS + 8) * DAY_SECONDS + 90)
    verdict = await stack.verdict(client, cases)
    verdict["duplicate_sms"] -= duplicates_before
    console.print(f"  {name}: fault lasted {cleared - started:.1f}s, {verdict}")
    return {"fault": name, **verdict, "recovery": recovery}


async def main(n: int) -> None:
    console = Console(width=160)
    workdir = Path(tempfile.mkdtemp(prefix="rfaults"))
    with console.status("starting PostgreSQL, Temporal, the fake Twilio and a worker…"):
        stack = Stack(workdir, task_queue="renewals-faults")
        stack.start_worker()
    rows = []
    try:
        for name, fault in FAULTS.items():
            rows.append(await run_fault(stack, name, fault, n, console))
    finally:
        stack.close()
    table = Table("fault", "cases", "lost", "stuck", "duplicate SMS", "disagreements", "skipped windows",
                  "recovery s", title=f"bench.faults ({n} cases per fault, day = {DAY_SECONDS} s)")
    for row in rows:
        bad = any(row[k] for k in ("lost", "stuck", "duplicate_sms", "disagreements"))
        table.add_row(str(row["fault"]), str(n), *(str(row[k]) for k in ("lost", "stuck", "duplicate_sms",
                                                                          "disagreements", "skipped_windows")),
                      f"{row['recovery']:.1f}", style="red" if bad else None)
    console.print(table)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=20, help="cases per fault")
    asyncio.run(main(parser.parse_args().cases))
