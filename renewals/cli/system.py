"""`renewals dev|api|worker|migrate` and `renewals temporal setup`: running the system and preparing
what it runs on."""

from __future__ import annotations

import asyncio
import os
from typing import Annotated

import typer
from rich.markup import escape
from rich.panel import Panel

from renewals.cli.common import console, fail, load_settings
from renewals.core.logs import setup_logging
from renewals.core.settings import Settings, get_settings
from renewals.dev import stack as dev_stack

app = typer.Typer()
temporal_app = typer.Typer(help="Temporal operations.", no_args_is_help=True)


@app.command()
def dev(demo: Annotated[bool, typer.Option(help="Seed demo staff and policies on a compressed clock.")] = False) -> None:
    """Everything on one machine: embedded PostgreSQL and Temporal, the worker and the API. Other
    `renewals` commands run beside it find it (through DATA_DIR) when DATABASE_URL and
    TEMPORAL_ADDRESS are unset. With --demo the stack is a training sandbox on a 2-second day
    unless DAY_SECONDS says otherwise."""
    from renewals.cli.run import serve  # start-up cost (see renewals.cli.main)
    from renewals.core.db import migrate
    from renewals.dev.demo import DAY_SECONDS as DEMO_DAY_SECONDS, demo_jobs
    from renewals.dev.servers import (
        EmbeddedPostgres, PortInUse, TemporalDevServer, check_port_free, port_or_free_one, stop_with_parent,
    )

    stop_with_parent()
    settings = load_settings(beside_dev=False)
    setup_logging(settings)
    if (other := dev_stack.running(settings)) is not None:
        raise fail(f"renewals dev is already running with its data in {other.data_dir} (pid {other.pid}): "
                   "use it, or stop it first")
    if demo and "day_seconds" not in settings.model_fields_set:
        os.environ["DAY_SECONDS"] = str(DEMO_DAY_SECONDS)  # the stack's day: imports and the intake use it too
    try:
        check_port_free(settings.api_port, "API_PORT", settings.api_host)
        if not settings.temporal_address:
            check_port_free(settings.temporal_port, "TEMPORAL_PORT")
            check_port_free(settings.temporal_ui_port, "TEMPORAL_UI_PORT")
        for name in ("worker_metrics_port", "worker_health_port"):  # the banner says which were taken instead
            port = port_or_free_one(getattr(settings, name), name.upper(), settings.api_host,
                                    chosen=name in settings.model_fields_set)
            os.environ[name.upper()] = str(port)
    except PortInUse as exc:
        raise fail(str(exc)) from None

    data_dir = settings.data_dir.resolve()
    postgres = temporal = watchdog = None
    try:
        with console.status("starting…") as status:
            if not settings.database_url:
                status.update("starting PostgreSQL (embedded)…")
                postgres = EmbeddedPostgres(data_dir / "pg")
                watchdog = postgres.watch_over()
                os.environ["DATABASE_URL"] = postgres.url()
            if not settings.temporal_address:
                status.update("starting the Temporal dev server…")
                temporal = TemporalDevServer(data_dir / "temporal.db", settings.temporal_port, settings.temporal_ui_port,
                                             settings.temporal_namespace)
                temporal.start()
                os.environ["TEMPORAL_ADDRESS"] = temporal.address
            get_settings.cache_clear()
            settings = get_settings()
            status.update("applying database migrations…")
            migrate(settings.database_url)
            if temporal is None:
                status.update("registering search attributes…")
                asyncio.run(_register_search_attributes(settings))
            status.update("scheduling the nightly jobs (archiver, intake, roll-up, purge, scoring)…")
            asyncio.run(_ensure_schedules(settings))
        extra = ()
        demo_logins: list[str] = []
        if demo:
            extra, demo_logins = demo_jobs(settings)
        dev_stack.record(settings)
        _banner(settings, temporal is not None, demo_logins)
        asyncio.run(serve(settings, api=True, worker=True, extra=extra))
    finally:
        dev_stack.forget(settings)
        with console.status("stopping…"):
            if temporal is not None:
                temporal.stop()
            if postgres is not None:
                postgres.stop()
            if watchdog is not None:
                watchdog.terminate()
                watchdog.wait()
        console.print("stopped.")


def _banner(settings: Settings, local_temporal: bool, demo_logins: list[str]) -> None:
    from renewals.core.db import shown_url  # start-up cost (see renewals.cli.main)

    lines = [
        f"API            http://{settings.api_host}:{settings.api_port}  (docs: /docs, ready: /readyz)",
        f"Staff console  http://{settings.api_host}:{settings.api_port}/app",
        f"Metrics        http://{settings.api_host}:{settings.api_port}/metrics  "
        f"worker: http://{settings.api_host}:{settings.worker_metrics_port}/metrics",
        f"Worker health  http://{settings.api_host}:{settings.worker_health_port}/readyz",
        f"Database       {shown_url(settings.database_url)}",
        f"Temporal       {settings.temporal_address}  namespace {settings.temporal_namespace}",
    ]
    if local_temporal:
        lines.append(f"Temporal UI    http://127.0.0.1:{settings.temporal_ui_port}")
    lines.append(f"Data           {settings.data_dir.resolve()}  (commands run beside this one use this stack)")
    if sandbox := dev_stack.sandbox_note(settings.day_seconds):
        lines.append(f"Clock          {sandbox}")
    if demo_logins:
        lines.append("Demo sign-in   " + ", ".join(demo_logins) + "  (password: demo)")
    lines.append("Stop           Ctrl-C")
    console.print(Panel(escape("\n".join(lines)), title="renewals dev", expand=False))


@app.command()
def api() -> None:
    """Run the API alone against the configured PostgreSQL and Temporal."""
    from renewals.cli.run import serve  # start-up cost (see renewals.cli.main)

    settings = load_settings()
    setup_logging(settings)
    asyncio.run(serve(settings, api=True, worker=False))


@app.command()
def worker() -> None:
    """Run a worker alone against the configured PostgreSQL and Temporal."""
    from renewals.cli.run import serve  # start-up cost (see renewals.cli.main)

    settings = load_settings()
    setup_logging(settings)
    asyncio.run(serve(settings, api=False, worker=True))


@app.command("migrate")
def migrate_command() -> None:
    """Apply the database migrations to DATABASE_URL, and add the shipped vehicle catalogue's missing models."""
    from renewals.core.db import migrate  # start-up cost (see renewals.cli.main)

    migrate(load_settings().database_url)
    console.print("database is at the latest migration, with the shipped vehicle catalogue.")


async def _register_search_attributes(settings: Settings) -> list[str]:
    # start-up cost (see renewals.cli.main)
    from renewals.core.temporal import connect, register_search_attributes
    from renewals.case.contract import SEARCH_ATTRIBUTES

    client = await connect(settings)
    return await register_search_attributes(client, settings.temporal_namespace, SEARCH_ATTRIBUTES)


async def _ensure_schedules(settings: Settings) -> str:
    """The history archiver, `policy-intake-daily`, `task-rollup-daily` and `privacy-purge-daily`, over
    one connection; whether the intake schedule was created or updated."""
    # start-up cost (see renewals.cli.main)
    from renewals.audit.archive import ensure_archiver_schedule
    from renewals.core.temporal import connect, set_namespace_retention
    from renewals.intake.schedule import ensure_intake_schedule
    from renewals.privacy.schedule import ensure_purge_schedule
    from renewals.reports.task_rollup import ensure_rollup_schedule
    from renewals.scoring.schedule import ensure_scoring_schedule

    client = await connect(settings)
    if not await set_namespace_retention(client, settings.temporal_namespace,
                                         settings.temporal_namespace_retention_days):
        console.print("the namespace's retention cannot be changed from here: set it where the namespace is managed.")
    await ensure_archiver_schedule(client, settings)
    intake = await ensure_intake_schedule(client, settings)
    await ensure_rollup_schedule(client, settings)
    await ensure_purge_schedule(client, settings)
    await ensure_scoring_schedule(client, settings)
    return intake


@temporal_app.command("setup")
def temporal_setup() -> None:
    """Register the search attributes, set the namespace's retention, schedule the history archiver
    and create the `policy-intake-daily`, `task-rollup-daily`, `privacy-purge-daily` and
    `lapse-scoring-daily` schedules (all idempotent)."""
    settings = load_settings()
    added = asyncio.run(_register_search_attributes(settings))
    console.print(f"added: {', '.join(added)}" if added else "all search attributes were already registered.")
    intake = asyncio.run(_ensure_schedules(settings))
    console.print(f"namespace retention {settings.temporal_namespace_retention_days} days; "
                  f"history archiver scheduled every {settings.archive_every}.")
    console.print(f"schedule policy-intake-daily (01:00 {settings.timezone}): {intake}")
    console.print(f"task roll-up scheduled daily at 01:30 {settings.timezone} (task-rollup-daily).")
    console.print(f"personal data purged daily at 02:00 {settings.timezone} (privacy-purge-daily).")
    console.print(f"lapse risk scored daily at 03:00 {settings.timezone} (lapse-scoring-daily).")
