"""CPU per wake-up (SPEC §11): what it costs a worker to wake a case it no longer has in its cache.

    uv run python -m bench.replay [--rounds N]

An evicted case is woken by replaying its history from the start, then doing the new work. For
each wake-up of the recorded paths in tests/histories/ (a timer that fired: a stage boundary, a
held SMS, the close), this replays the history up to that wake-up with the SDK's Replayer, as a
worker that has just picked the case up would, and reports the process CPU per wake-up: with the
runner the worker uses (outside the sandbox, WORKFLOW_SANDBOX=false) and in the sandbox (as the
tests and the replay gate run it). No server is needed. The workflow modules are compiled to
bytecode first, as the worker image does (Dockerfile: compileall), so the sandbox does not compile
them on every wake-up.
"""

from __future__ import annotations

import argparse
import asyncio
import compileall
import statistics
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from workflows.renewal import PolicyRenewal

ROOT = Path(__file__).parents[1]
HISTORIES = ROOT / "tests" / "histories"
# The longest path without staff actions, and paths with staff actions on the way.
PATHS = ("lapsed_unattended", "lapsed_after_deputy_continue", "deputy_renews_after_failed")
RUNNERS: dict[str, WorkflowRunner] = {"worker, no sandbox": UnsandboxedWorkflowRunner(),
                                      "sandboxed": SandboxedWorkflowRunner()}


def wake_ups(history: WorkflowHistory) -> list[WorkflowHistory]:
    """The history as a worker finds it at each wake-up: up to the workflow task a fired timer started."""
    events, prefixes, fired = history.events, [], False
    for i, event in enumerate(events):
        if event.event_type == EventType.EVENT_TYPE_TIMER_FIRED:
            fired = True
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED and fired:
            prefixes.append(WorkflowHistory(history.workflow_id, events[:i + 1]))
            fired = False
    return prefixes


async def replay(replayer: Replayer, histories: list[WorkflowHistory]) -> None:
    """Each history in turn on one worker, as a running worker wakes evicted cases one after another."""
    async def each():
        for history in histories:
            yield history

    async with replayer.workflow_replay_iterator(each()) as results:
        async for result in results:
            if result.replay_failure:
                raise result.replay_failure


async def measure(rounds: int, runner: WorkflowRunner) -> list[tuple[str, int, int, float]]:
    """(path, wake-ups, events at the last, CPU ms per wake-up: the median of `rounds`)."""
    replayer = Replayer(workflows=[PolicyRenewal], data_converter=pydantic_data_converter, workflow_runner=runner)
    rows = []
    for name in PATHS:
        history = WorkflowHistory.from_json(name, (HISTORIES / f"{name}.json").read_text())
        prefixes = wake_ups(history)
        samples = []
        for _ in range(rounds):
            started = time.process_time()
            await replay(replayer, prefixes)
            samples.append((time.process_time() - started) / len(prefixes) * 1000)
        rows.append((name, len(prefixes), len(history.events), statistics.median(samples)))
    return rows


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    sys.pycache_prefix = tempfile.mkdtemp(prefix="replay-pyc")  # this process reads it, writes nothing else
    compileall.compile_dir(ROOT / "workflows", quiet=1)
    console = Console()
    measured = {}
    with console.status("replaying…"):
        for label, runner in RUNNERS.items():
            await measure(1, runner)  # imports and caches warmed, as on a running worker
            measured[label] = await measure(args.rounds, runner)
    table = Table("path", "wake-ups", "events", *RUNNERS, title="CPU per wake-up of an evicted case")
    for i, (name, count, events, _) in enumerate(measured["sandboxed"]):
        table.add_row(name, f"{count}", f"{events}", *(f"{rows[i][3]:.1f} ms" for rows in measured.values()))
    table.add_row("mean", "", "", *(f"{statistics.mean(ms for *_, ms in rows):.1f} ms" for rows in measured.values()))
    console.print(table)

if __name__ == "__main__":
    asyncio.run(main())
