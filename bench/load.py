"""Load: N renewal cases on a compressed day, on one worker process and then on two.

    uv run python -m bench.load N [--day-seconds 2] [--one-worker]

Runs the real stack on this machine (embedded PostgreSQL, the Temporal dev server, a local fake
Twilio, workers started as `renewals worker` processes; loopback only). Each round starts N cases
as fast as the client can, waits until every case has reached its outcome (unattended cases lapse
after T+7, about 69 compressed days), and reads the histories to report:

- cases started per second;
- workflow-task and activity schedule-to-start latency, p50 and p99;
- how late stages were entered: the first command after a window's timer fired, behind the
  instant the timer was planned for (p99 and worst);
- Temporal actions per second over the round (as billed: starts, activity attempts, timers, ...);
- worker RSS, and memory per cached workflow (RSS growth while all cases sleep, cached, divided
  by the number of cases);
- CPU per case of the worker process and of the Temporal server (one-worker round: what each
  spent from the first case started to the last one closed, divided by the number of cases);
- in the two-worker round, one worker is killed halfway: every case must still reach its outcome;
- windows that passed before their case could wake to enter them (a stage lag longer than a
  window): each one's SMS went out late or is recorded as not sent, on the case.

`--one-worker` runs the first round only: what one worker process carries, for a search of the
highest load it keeps under the stage-lag target. A benchmark, not a test: it takes minutes and is
not part of `uv run pytest`.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from rich.console import Console
from rich.table import Table
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from bench.harness import Stack, StartedCase, percentile
from renewals.audit.history import history_cost
from renewals.core.temporal import bounded

MB = 1024 * 1024
LIFECYCLE_DAYS = 61 + 8  # from the start (T-61) to the end of T+7
HISTORY_SAMPLE = 400  # histories read per round for latencies (all of them for small N)
LAG_TARGET_SECONDS = 5.0
VERDICT = ("lost", "stuck", "duplicate_sms", "disagreements", "skipped_windows")


@dataclass
class Round:
    workers: int
    cases: int
    started_per_s: float = 0.0
    wf_s2s: list[float] = field(default_factory=list)
    act_s2s: list[float] = field(default_factory=list)
    lags: list[float] = field(default_factory=list)
    actions: int = 0
    seconds: float = 0.0
    rss_mb: float = 0.0
    kb_per_cached: float = 0.0
    worker_cpu_ms: float = 0.0  # per case, the one-worker round
    server_cpu_ms: float = 0.0
    verdict: dict[str, int] = field(default_factory=dict)
    killed: bool = False


def rss(workers) -> float:
    return sum(psutil.Process(w.pid).memory_info().rss for w in workers if w.poll() is None)


def cpu_seconds(proc: subprocess.Popen) -> float:
    """User and system CPU of a process and its children (the dev server runs as one process)."""
    process = psutil.Process(proc.pid)
    return sum(sum(p.cpu_times()[:2]) for p in (process, *process.children(recursive=True)))


async def read_history(client: Client, case: StartedCase, out: Round) -> None:
    history = await client.get_workflow_handle(case.workflow_id).fetch_history()
    out.actions += history_cost(history).actions
    at = {e.event_id: e for e in history.events}
    fired_at: float | None = None
    planned: dict[int, float] = {}
    for e in history.events:
        t = e.event_time.ToDatetime().timestamp()
        kind = e.event_type
        if kind == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
            out.wf_s2s.append(t - at[e.workflow_task_started_event_attributes.scheduled_event_id]
                              .event_time.ToDatetime().timestamp())
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED and e.activity_task_started_event_attributes.attempt == 1:
            out.act_s2s.append(t - at[e.activity_task_started_event_attributes.scheduled_event_id]
                               .event_time.ToDatetime().timestamp())
        elif kind == EventType.EVENT_TYPE_TIMER_STARTED:
            planned[e.event_id] = t + e.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta().total_seconds()
        elif kind == EventType.EVENT_TYPE_TIMER_FIRED:
            fired_at = planned.get(e.timer_fired_event_attributes.started_event_id)
        elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED and fired_at is not None:
            out.lags.append(max(t - fired_at, 0.0))  # the stage entered: its commands are recorded now
            fired_at = None


async def run_round(stack: Stack, client: Client, n: int, workers: int, day_seconds: int, console: Console) -> Round:
    result = Round(workers=workers, cases=n, killed=workers > 1)
    procs = [stack.start_worker() for _ in range(workers)]
    await stack.start_cases(client, stack.seed(5), day_seconds=day_seconds)  # imports, pools, caches
    await asyncio.sleep(8)
    baseline = rss(procs)
    policies = stack.seed(n)
    cpu_before = cpu_seconds(procs[0]), cpu_seconds(stack.temporal.process)
    began = time.monotonic()
    cases = await stack.start_cases(client, policies, day_seconds=day_seconds)
    result.started_per_s = n / (time.monotonic() - began)
    console.print(f"  {workers} worker(s): started {n} cases in {time.monotonic() - began:.1f}s")
    await asyncio.sleep(min(3 * day_seconds, 10))  # every case asleep in its first window, cached
    result.rss_mb = rss(procs) / MB
    if workers == 1:  # with two, how the cases split between them is not known here
        result.kb_per_cached = (rss(procs) - baseline) / 1024 / n
    lifecycle = LIFECYCLE_DAYS * day_seconds
    if workers > 1:
        await asyncio.sleep(max(lifecycle / 2 - (time.monotonic() - began), 0))
        stack.kill_worker(procs[-1])
        console.print(f"  killed worker {procs[-1].pid} halfway; the other carries on")
    await stack.wait_closed(client, timeout=3 * lifecycle + 300)  # an overloaded machine runs late, not wrong
    result.seconds = time.monotonic() - began
    if workers == 1:
        result.worker_cpu_ms = (cpu_seconds(procs[0]) - cpu_before[0]) * 1000 / n
        result.server_cpu_ms = (cpu_seconds(stack.temporal.process) - cpu_before[1]) * 1000 / n
    result.verdict = await stack.verdict(client, cases)
    sample = Round(workers, n)
    picked = cases[:: max(1, len(cases) // HISTORY_SAMPLE)]
    await bounded(picked, lambda case: read_history(client, case, sample), 20)
    result.wf_s2s, result.act_s2s, result.lags = sample.wf_s2s, sample.act_s2s, sample.lags
    result.actions = round(sample.actions * len(cases) / len(picked))  # extrapolated from the sample
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(15)
    return result


def ms(samples: list[float], q: float) -> str:
    return f"{percentile(samples, q) * 1000:,.0f}"


def report(rounds: list[Round], day_seconds: int, console: Console) -> None:
    table = Table("workers", "cases", "started/s", "wf task s2s p50/p99 ms", "activity s2s p50/p99 ms",
                  "stage lag p50/p99/max ms", "actions/s", "worker RSS MB", "KB / cached wf",
                  "lost", "stuck", "dup SMS", "disagree", "skipped windows",
                  title=f"bench.load (day = {day_seconds} s)")
    for r in rounds:
        table.add_row(f"{r.workers}{' (1 killed)' if r.killed else ''}", f"{r.cases}", f"{r.started_per_s:.0f}",
                      f"{ms(r.wf_s2s, .5)} / {ms(r.wf_s2s, .99)}", f"{ms(r.act_s2s, .5)} / {ms(r.act_s2s, .99)}",
                      f"{ms(r.lags, .5)} / {ms(r.lags, .99)} / {max(r.lags, default=0) * 1000:,.0f}",
                      f"{r.actions / r.seconds:.0f}", f"{r.rss_mb:.0f}", f"{r.kb_per_cached:.0f}" if r.kb_per_cached else "—",
                      *(str(r.verdict[k]) for k in VERDICT))
    console.print(table)
    sustained = [r for r in rounds if percentile(r.lags, .99) < LAG_TARGET_SECONDS]
    if sustained:
        best = max(sustained, key=lambda r: r.actions / r.seconds)
        console.print(f"sustained with stage lag p99 < {LAG_TARGET_SECONDS:.0f} s: {best.actions / best.seconds:.0f} "
                      f"actions/s, {best.cases} open cases per {best.workers} worker(s)")
    else:
        console.print(f"[yellow]no round kept the stage lag p99 under {LAG_TARGET_SECONDS:.0f} s[/yellow]")
    per_case = statistics.fmean(r.actions / r.cases for r in rounds)
    console.print(f"actions per case (unattended, lapsed): {per_case:.0f}")
    console.print(f"CPU per case, one worker: worker {rounds[0].worker_cpu_ms:.0f} ms, Temporal server "
                  f"{rounds[0].server_cpu_ms:.0f} ms")


async def main(n: int, day_seconds: int, one_worker: bool) -> None:
    console = Console(width=160)
    # The dev server's SQLite and PostgreSQL keep their files in memory where the machine allows: on
    # this machine's disk their syncs, not the worker, set the pace (in production both run elsewhere).
    memory = Path("/dev/shm")
    workdir = Path(tempfile.mkdtemp(prefix="rload", dir=memory if memory.is_dir() else None))
    with console.status("starting PostgreSQL, Temporal and the fake Twilio…"):
        stack = Stack(workdir)
    rounds = []
    try:
        client = await stack.client()
        for workers in (1,) if one_worker else (1, 2):
            rounds.append(await run_round(stack, client, n, workers, day_seconds, console))
    finally:
        stack.close()
        shutil.rmtree(workdir, ignore_errors=True)  # in memory: a round's files are gone with it
    report(rounds, day_seconds, console)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("n", type=int, nargs="?", default=2000, help="cases per round")
    parser.add_argument("--day-seconds", type=int, default=2, help="length of a compressed day")
    parser.add_argument("--one-worker", action="store_true", help="the one-worker round only")
    args = parser.parse_args()
    asyncio.run(main(args.n, args.day_seconds, args.one_worker))
