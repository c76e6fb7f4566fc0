"""`renewals audit …`: a case's timeline, its raw history, the replay gate and the archiver."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar
from zoneinfo import ZoneInfo

import typer

from renewals.cli.common import console, err, fail, load_settings
from renewals.cli.output import Format, FormatOption, emit
from renewals.reports.rules import Table

app = typer.Typer(help="Audit: timelines, raw histories, the replay gate, the archive.", no_args_is_help=True)
T = TypeVar("T")


def _engine():
    from renewals.core.db import get_engine  # start-up cost (see renewals.cli.main)

    return get_engine()  # without DATABASE_URL it raises NoDatabase: renewals.cli.main.main says so


async def _client(settings):
    """Temporal if it answers; None lets the readers fall back to the archive."""
    from renewals.core.temporal import connect  # start-up cost (see renewals.cli.main)

    try:
        return await connect(settings)
    except RuntimeError as exc:  # connection refused, or no address configured
        err.print(f"[yellow]Temporal not reachable ({exc}); reading the archive only[/yellow]")
        return None


def _workflow_ids(engine, policy_nos: list[str] | None = None, expiry: date | None = None,
                  since: datetime | None = None) -> list[tuple[str, str]]:
    """(policy number, workflow id) of the cases asked for: in the projection or in the archive."""
    # start-up cost (see renewals.cli.main)
    from sqlalchemy import select, union

    from models import HistoryArchive, RenewalCase

    cases = select(RenewalCase.policy_no, RenewalCase.workflow_id, RenewalCase.expiry_date.label("expiry"),
                   RenewalCase.updated_at.label("at"))
    archived = select(HistoryArchive.policy_no, HistoryArchive.workflow_id, None, HistoryArchive.closed_at)
    query = union(cases, archived).subquery()
    where = []
    if policy_nos:
        where.append(query.c.policy_no.in_(policy_nos))
    if expiry:
        where.append(query.c.workflow_id.like(f"%-{expiry:%Y%m%d}"))
    if since:
        where.append(query.c.at >= since)
    with engine.connect() as conn:
        rows = conn.execute(select(query.c.policy_no, query.c.workflow_id).where(*where).distinct()
                            .order_by(query.c.policy_no, query.c.workflow_id)).all()
    return [(r.policy_no, r.workflow_id) for r in rows]


def _policy_no(value: str) -> str:
    if not 1 <= len(value) <= 64 or not value.isprintable():
        raise fail(f"POLICY_NO: {value[:64]!r} is not a policy number (1-64 printable characters)")
    return value


def _one_case(engine, policy_no: str, expiry: date | None) -> str:
    found = _workflow_ids(engine, [policy_no], expiry)
    if not found:
        raise fail(f"POLICY_NO: no renewal case for policy {policy_no}" + (f" expiring {expiry}" if expiry else ""))
    if len(found) > 1 and expiry is None:
        # Most recent expiry first: the workflow id ends with it.
        found.sort(key=lambda row: row[1][-8:], reverse=True)
    return found[0][1]


Expiry = Annotated[datetime | None, typer.Option("--expiry", formats=["%Y-%m-%d"],
                                                 help="The expiry date of the case (default: the latest).")]


def _read_case(policy_no: str, expiry: datetime | None, read: Callable[[Any, Any, str], Awaitable[T]]) -> tuple[str, T]:
    """The case's workflow id and what `read(client, engine, workflow_id)` makes of its history."""
    from renewals.audit.archive import HistoryNotFound  # start-up cost (see renewals.cli.main)

    settings = load_settings()
    engine = _engine()
    workflow_id = _one_case(engine, _policy_no(policy_no), expiry.date() if expiry else None)

    async def run() -> T:
        return await read(await _client(settings), engine, workflow_id)

    try:
        return workflow_id, asyncio.run(run())
    except HistoryNotFound as exc:
        raise fail(str(exc)) from None


@app.command("timeline")
def timeline(policy_no: Annotated[str, typer.Argument(metavar="POLICY_NO")], expiry: Expiry = None,
             fmt: FormatOption = None) -> None:
    """A case's timeline in order: local time, T-day, who, what (masked as for an auditor); JSON
    has every event's details."""
    # start-up cost (see renewals.cli.main)
    from renewals.audit.archive import case_timeline

    _, story = _read_case(policy_no, expiry, lambda client, engine, workflow_id: case_timeline(
        client, engine, workflow_id, identities_masked=True, now=datetime.now().astimezone()))
    if fmt is Format.json:
        console.print_json(json.dumps(dataclasses.asdict(story), default=str, ensure_ascii=False))
        return
    rows = [[event.local_time, event.t_day, event.stage,
             event.actor.component or f"{event.actor.role} {event.actor.name or event.actor.id}", event.summary]
            for event in story.events]
    emit(Table(f"{story.policy_no} · expiry {story.expiry_date} ({story.timezone}) · {story.outcome or 'open'} · "
               f"history from {story.history_from}", ["local time", "day", "stage", "who", "what"], rows), fmt, console)


@app.command("export")
def export(policy_no: Annotated[str, typer.Argument(metavar="POLICY_NO")], expiry: Expiry = None) -> None:
    """Write the case's raw history JSON to stdout (`temporal workflow show --output json` format)."""
    from renewals.audit.archive import load_history  # start-up cost (see renewals.cli.main)

    workflow_id, loaded = _read_case(policy_no, expiry, load_history)
    sys.stdout.write(loaded.history.to_json())
    err.print(f"{workflow_id}: {len(loaded.history.events)} events from {loaded.source}")


@app.command("replay")
def replay(
    targets: Annotated[list[str] | None, typer.Argument(metavar="[POLICY_NO… | FILE…]",
                                                        help="Policy numbers, or history JSON files.")] = None,
    all_cases: Annotated[bool, typer.Option("--all", help="Every case in the database and the archive.")] = False,
    since: Annotated[datetime | None, typer.Option(formats=["%Y-%m-%d"],
                                                   help="Cases changed or closed on or after DATE.")] = None,
) -> None:
    """Replay histories against this build's workflow code; exit 1 on any divergence (a release gate)."""
    # start-up cost (see renewals.cli.main)
    from temporalio.client import WorkflowHistory

    from renewals.audit.archive import HistoryNotFound, load_history
    from renewals.audit.replay import ReplayOutcome, replay_all

    targets = targets or []
    files = [Path(t) for t in targets if t.endswith(".json") or Path(t).is_file()]
    policy_nos = [_policy_no(t) for t in targets if Path(t) not in files]
    if not (targets or all_cases or since):
        raise fail("say what to replay: POLICY_NO…, FILE…, --all or --since DATE")
    for path in files:
        if not path.is_file():
            raise fail(f"FILE: {path} does not exist")

    async def histories() -> AsyncIterator[tuple[str, WorkflowHistory]]:
        for path in files:
            yield str(path), WorkflowHistory.from_json(path.stem, path.read_text())
        if policy_nos or all_cases or since:
            settings = load_settings()
            engine = _engine()
            # DATE is a business day: it starts at midnight in the insurer's time zone, not in UTC.
            start = since.replace(tzinfo=ZoneInfo(settings.timezone)) if since else None
            cases = await asyncio.to_thread(_workflow_ids, engine, policy_nos or None, None, start)
            missing = set(policy_nos) - {p for p, _ in cases}
            if missing:
                raise fail(f"POLICY_NO: no renewal case for {', '.join(sorted(missing))}")
            client = await _client(settings)
            for policy_no, workflow_id in cases:
                try:
                    yield policy_no, (await load_history(client, engine, workflow_id)).history
                except HistoryNotFound as exc:
                    err.print(f"[yellow]skipped:[/yellow] {exc}")

    def show(outcome: ReplayOutcome) -> None:
        mark = "[green]replayed[/green]" if outcome.ok else "[red]FAILED[/red]"
        console.print(f"{mark} {outcome.name} ({outcome.events} events)"
                      + (f"\n    first divergence: {outcome.divergence}" if outcome.divergence else ""))

    outcomes = asyncio.run(replay_all(histories(), on_result=show))
    failed = [o for o in outcomes if not o.ok]
    console.print(f"{len(outcomes) - len(failed)} replayed, {len(failed)} failed")
    if failed or not outcomes:
        raise typer.Exit(1)


@app.command("archive")
def archive_now() -> None:
    """Archive closed cases' histories now (the scheduled archiver does this every ARCHIVE_EVERY)."""
    # start-up cost (see renewals.cli.main)
    from renewals.audit.archive import archive_closed_cases
    from renewals.core.temporal import connect

    settings = load_settings()
    engine = _engine()

    async def run() -> int:
        with console.status("archiving closed cases…") as status:
            return await archive_closed_cases(await connect(settings), engine,
                                              on_batch=lambda n: status.update(f"archived {n}…"))

    try:
        stored = asyncio.run(run())
    except RuntimeError as exc:  # Temporal not configured or not reachable
        raise fail(str(exc)) from None
    console.print(f"archived {stored} closed case(s).")
