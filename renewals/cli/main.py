"""`renewals`: run the system, manage staff and the organisation, operate Temporal."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.panel import Panel

from renewals.cli import output as cli_output
from renewals.cli.output import FormatOption, emit
from renewals.core.logs import setup_logging
from renewals.cli.audit import audit_app
from renewals.cli.reports import DAY, app as report_app
from renewals.core.settings import Settings, get_settings
from renewals.cli.vehicle_models import app as vehicle_models_app

EXIT_CODES = (
    "Exit codes: 0 done; 1 refused or not all done (an import with rejected rows, a replay that diverges, "
    "a change refused); 2 wrong usage or nothing to reach (an unknown option, bad settings, no database or "
    "Temporal: set DATABASE_URL and TEMPORAL_ADDRESS, or run `renewals dev`, which the other commands find)."
)
app = typer.Typer(help="Car-insurance renewal marketing system.", epilog=EXIT_CODES, no_args_is_help=True,
                  pretty_exceptions_enable=False)
staff_app = typer.Typer(help="Staff: add, list, deactivate.", no_args_is_help=True)
org_app = typer.Typer(help="The organisation: branches and sub-branches.", no_args_is_help=True)
temporal_app = typer.Typer(help="Temporal operations.", no_args_is_help=True)
app.add_typer(staff_app, name="staff")
app.add_typer(org_app, name="org")
app.add_typer(temporal_app, name="temporal")
app.add_typer(vehicle_models_app, name="vehicle-models")
app.add_typer(audit_app, name="audit")
app.add_typer(report_app, name="report")
intake_app = typer.Typer(help="Intake: the daily run that starts the cases entering the horizon.", no_args_is_help=True)
app.add_typer(intake_app, name="intake")
console = cli_output.console()
err = cli_output.console(stderr=True)


def _settings(*, beside_dev: bool = True) -> Settings:
    """This run's settings; with DATABASE_URL or TEMPORAL_ADDRESS unset and a `renewals dev`
    running on DATA_DIR, that stack's servers and day (said on stderr: stdout may be a file)."""
    from renewals.dev.stack import attach

    try:
        settings = get_settings()
        stack = attach(settings) if beside_dev else None
        if stack is not None:
            own_day = settings.day_seconds if "day_seconds" in settings.model_fields_set else None
            get_settings.cache_clear()
            settings = get_settings()
            err.print(f"using {escape(stack.describe())}", highlight=False)
            if own_day not in (None, stack.day_seconds):
                err.print(f"[yellow]DAY_SECONDS={own_day} not used:[/yellow] a stack runs on one day, its own")
        return settings
    except ValueError as exc:  # pydantic's ValidationError: a readable line, not a traceback
        err.print(f"[red]configuration error:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from None


def _fail(message: str) -> typer.Exit:
    err.print(f"[red]error:[/red] {escape(message)}")
    return typer.Exit(1)


@app.command()
def dev(demo: Annotated[bool, typer.Option(help="Seed demo staff and policies on a compressed clock.")] = False) -> None:
    """Everything on one machine: embedded PostgreSQL and Temporal, the worker and the API. Other
    `renewals` commands run beside it find it (through DATA_DIR) when DATABASE_URL and
    TEMPORAL_ADDRESS are unset. With --demo the stack is a training sandbox on a 2-second day
    unless DAY_SECONDS says otherwise."""
    from renewals.dev import stack as dev_stack
    from renewals.core.db import migrate
    from renewals.dev.demo import DAY_SECONDS as DEMO_DAY_SECONDS
    from renewals.dev.servers import EmbeddedPostgres, PortInUse, TemporalDevServer, check_port_free, stop_with_parent
    from renewals.cli.run import serve

    stop_with_parent()
    settings = _settings(beside_dev=False)
    setup_logging(settings)
    if (other := dev_stack.running(settings)) is not None:
        raise _fail(f"renewals dev is already running with its data in {other.data_dir} (pid {other.pid}): "
                    "use it, or stop it first")
    if demo and "day_seconds" not in settings.model_fields_set:
        os.environ["DAY_SECONDS"] = str(DEMO_DAY_SECONDS)  # the stack's day: imports and the intake use it too
    try:
        check_port_free(settings.api_port, "API_PORT", settings.api_host)
        if not settings.temporal_address:
            check_port_free(settings.temporal_port, "TEMPORAL_PORT")
            check_port_free(settings.temporal_ui_port, "TEMPORAL_UI_PORT")
    except PortInUse as exc:
        raise _fail(str(exc)) from None

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
            status.update("scheduling the history archiver, the intake and the task roll-up…")
            asyncio.run(_ensure_schedules(settings))
        extra = ()
        demo_logins: list[str] = []
        if demo:
            from renewals.dev.demo import demo_jobs

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
    from renewals.core.db import shown_url
    from renewals.dev.stack import sandbox_note

    lines = [
        f"API            http://{settings.api_host}:{settings.api_port}  (docs: /docs, ready: /readyz)",
        f"Staff console  http://{settings.api_host}:{settings.api_port}/app",
        f"Database       {shown_url(settings.database_url)}",
        f"Temporal       {settings.temporal_address}  namespace {settings.temporal_namespace}",
    ]
    if local_temporal:
        lines.append(f"Temporal UI    http://127.0.0.1:{settings.temporal_ui_port}")
    lines.append(f"Data           {settings.data_dir.resolve()}  (commands run beside this one use this stack)")
    if sandbox := sandbox_note(settings.day_seconds):
        lines.append(f"Clock          {sandbox}")
    if demo_logins:
        lines.append("Demo sign-in   " + ", ".join(demo_logins) + "  (password: demo)")
    lines.append("Stop           Ctrl-C")
    console.print(Panel(escape("\n".join(lines)), title="renewals dev", expand=False))


@app.command()
def api() -> None:
    """Run the API alone against the configured PostgreSQL and Temporal."""
    from renewals.cli.run import serve

    settings = _settings()
    setup_logging(settings)
    asyncio.run(serve(settings, api=True, worker=False))


@app.command()
def worker() -> None:
    """Run a worker alone against the configured PostgreSQL and Temporal."""
    from renewals.cli.run import serve

    settings = _settings()
    setup_logging(settings)
    asyncio.run(serve(settings, api=False, worker=True))


@app.command("migrate")
def migrate_command() -> None:
    """Apply the database migrations to DATABASE_URL, and add the shipped vehicle catalogue's missing models."""
    from renewals.core.db import migrate

    migrate(_settings().database_url)
    console.print("database is at the latest migration, with the shipped vehicle catalogue.")


async def _register_search_attributes(settings: Settings) -> list[str]:
    from renewals.core.temporal import connect, register_search_attributes

    client = await connect(settings)
    return await register_search_attributes(client, settings.temporal_namespace)


async def _ensure_schedules(settings: Settings) -> str:
    """The history archiver, `policy-intake-daily` and `task-rollup-daily`, over one connection;
    whether the intake schedule was created or updated."""
    from renewals.audit.archive import ensure_archiver_schedule
    from renewals.reports.task_rollup import ensure_rollup_schedule
    from renewals.core.temporal import connect, ensure_intake_schedule, set_namespace_retention

    client = await connect(settings)
    if not await set_namespace_retention(client, settings.temporal_namespace,
                                         settings.temporal_namespace_retention_days):
        console.print("the namespace's retention cannot be changed from here: set it where the namespace is managed.")
    await ensure_archiver_schedule(client, settings)
    intake = await ensure_intake_schedule(client, settings)
    await ensure_rollup_schedule(client, settings)
    return intake


@temporal_app.command("setup")
def temporal_setup() -> None:
    """Register the search attributes, set the namespace's retention, schedule the history archiver
    and create the `policy-intake-daily` and `task-rollup-daily` schedules (all idempotent)."""
    settings = _settings()
    added = asyncio.run(_register_search_attributes(settings))
    console.print(f"added: {', '.join(added)}" if added else "all search attributes were already registered.")
    intake = asyncio.run(_ensure_schedules(settings))
    console.print(f"namespace retention {settings.temporal_namespace_retention_days} days; "
                  f"history archiver scheduled every {settings.archive_every}.")
    console.print(f"schedule policy-intake-daily (01:00 {settings.timezone}): {intake}")
    console.print(f"task roll-up scheduled daily at 01:30 {settings.timezone} (task-rollup-daily).")


@org_app.command("add")
def org_add(
    branch_code: Annotated[str, typer.Option("--branch", help="Branch (分公司) code.")],
    branch_name: Annotated[str | None, typer.Option(help="Branch name, when it is new.")] = None,
    sub_branch_code: Annotated[str | None, typer.Option("--sub-branch", help="Sub-branch (支公司) code.")] = None,
    sub_branch_name: Annotated[str | None, typer.Option(help="Sub-branch name, when it is new.")] = None,
) -> None:
    """Add a branch, and optionally a sub-branch under it."""
    from renewals.core.db import session_scope
    from renewals.org.service import StaffError, add_org

    _settings()
    try:
        with session_scope() as session:
            branch, sub = add_org(session, branch_code=branch_code, branch_name=branch_name,
                                  sub_branch_code=sub_branch_code, sub_branch_name=sub_branch_name)
            console.print(f"branch {branch.code} {branch.name}" + (f" / sub-branch {sub.code} {sub.name}" if sub else ""))
    except StaffError as exc:
        raise _fail(str(exc)) from None


@org_app.command("deputy")
def org_deputy(sub_branch: str, username: str) -> None:
    """Make USERNAME (a deputy manager of SUB_BRANCH) its deputy (分管车险副经理): new cases get them,
    and every open case moves to them with its deputy tasks. A sub-branch without a deputy starts no case."""
    from renewals.cli.intake import set_deputy

    if not set_deputy(_settings(), sub_branch, username, console):
        raise typer.Exit(1)


@staff_app.command("add")
def staff_add(
    username: str,
    name: Annotated[str, typer.Option(help="Full name, as customers see it in SMS.")],
    role: Annotated[str, typer.Option(help="sales, deputy, admin, manager or auditor.")],
    phone: Annotated[str, typer.Option(help="Mobile number; CN numbers may omit +86.")],
    sub_branch: Annotated[str | None, typer.Option(help="Sub-branch code (sales, deputy).")] = None,
    branch: Annotated[str | None, typer.Option(help="Branch code (admin, manager).")] = None,
    handler_code: Annotated[str | None, typer.Option(
        help="经办人 code (sales): the book's rows that name no manager go to the staff member with their code.")] = None,
    password: Annotated[str | None, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True,
                                                 help="Asked for when not given.")] = None,
) -> None:
    """Add a staff member who can sign in."""
    from renewals.core.db import session_scope
    from renewals.org.service import MIN_PASSWORD_LENGTH, add_staff

    settings = _settings()
    if settings.environment == "prod" and (not password or len(password) < MIN_PASSWORD_LENGTH or password == "demo"):
        raise _fail(f"password: at least {MIN_PASSWORD_LENGTH} characters, and not a demo password, "
                    "with ENVIRONMENT=prod")
    try:
        with session_scope() as session:
            staff = add_staff(session, username=username, name=name, role=role, phone=phone,
                              sub_branch_code=sub_branch, branch_code=branch, handler_code=handler_code,
                              password=password)
            console.print(f"added {staff.role.value} {staff.username} ({staff.id})")
    except ValueError as exc:
        raise _fail(str(exc)) from None
    if staff.role.value == "admin":
        _publish_branch_admins(settings, branch)


def _publish_branch_admins(settings, branch_code: str) -> None:
    """Open cases accept close/reassign only from the admins they know: tell them (see renewals.org.branch_admins)."""
    from renewals.org.branch_admins import publish_branch_admins
    from renewals.core.db import make_engine
    from renewals.core.temporal import connect

    async def publish() -> int:
        engine = make_engine(settings.database_url)
        try:
            return await publish_branch_admins(await connect(settings), engine, branch_code)
        finally:
            engine.dispose()

    try:
        told = asyncio.run(publish())
    except Exception as exc:  # noqa: BLE001 — Temporal down: say how to finish the job later
        raise _fail(f"branch {branch_code}: open cases not told about the admin change ({exc}); "
                    f"run `renewals staff publish-admins {branch_code}` when Temporal is up") from None
    console.print(f"branch {branch_code}: {told} open case(s) told about their admins")


@staff_app.command("publish-admins")
def staff_publish_admins(branch: str) -> None:
    """Tell every open case of BRANCH who its admins are now (after adding or deactivating one)."""
    _publish_branch_admins(_settings(), branch)


@staff_app.command("list")
def staff_list(include_inactive: Annotated[bool, typer.Option("--all", help="Include deactivated staff.")] = False,
               fmt: FormatOption = None) -> None:
    """List staff."""
    from sqlmodel import select

    from models import Branch, Staff, SubBranch
    from renewals.core.db import session_scope
    from renewals.core.masking import mask_phone
    from renewals.reports.rules import Table

    _settings()
    with session_scope() as session:
        found = session.exec(
            select(Staff, Branch.code, SubBranch.code)
            .join(Branch, Branch.id == Staff.branch_id, isouter=True)
            .join(SubBranch, SubBranch.id == Staff.sub_branch_id, isouter=True)
            .order_by(Staff.username)
        ).all()
    rows = [[staff.username, staff.name, staff.role.value, branch_code or "—", sub_code or "—",
             staff.handler_code or "—", mask_phone(staff.phone), "yes" if staff.active else "no"]
            for staff, branch_code, sub_code in found if staff.active or include_inactive]
    emit(Table("staff", ["username", "name", "role", "branch", "sub-branch", "handler code", "phone", "active"], rows),
         fmt, console)


@staff_app.command("tasks")
def staff_tasks(
    username: str,
    day: Annotated[datetime | None, typer.Option("--date", formats=DAY, help="Default: today (TIMEZONE).")] = None,
    fmt: FormatOption = None,
) -> None:
    """USERNAME's to-do panel for a day, as the console shows it to them: missed tasks first, then
    what is due, customers masked."""
    from zoneinfo import ZoneInfo

    from sqlmodel import select

    from api.routes.me import PANEL_ROWS, my_tasks
    from models import Staff
    from renewals.case.calendar import t_day
    from renewals.core.db import session_scope
    from renewals.reports.rules import Table

    settings = _settings()
    with session_scope() as session:
        staff = session.exec(select(Staff).where(Staff.username == username)).first()
        if staff is None:
            raise _fail(f"no staff member {username}")
        page = my_tasks(staff, session, settings, datetime.now(UTC), date=day.date() if day else None,
                        limit=PANEL_ROWS, offset=0)
    zone = ZoneInfo(settings.timezone)
    rows = [["missed" if task.missed else "due", task.stage, t_day(task.day), f"{task.due_at.astimezone(zone):%m-%d %H:%M}",
             task.policy_no, task.customer_name or "", task.customer_phone or "", task.plate or "", task.what_to_do]
            for task in page.items]
    shown = f"{len(rows)} of {page.total}" if page.total > len(rows) else f"{page.total}"
    emit(Table(f"{username} · {page.date} · {shown} tasks", ["", "window", "day", "due", "policy", "customer", "phone",
                                                             "plate", "what to do"], rows), fmt, console)


@staff_app.command("deactivate")
def staff_deactivate(username: str) -> None:
    """Deactivate a staff member (they can no longer sign in; move their book with reassign)."""
    from models import Branch
    from renewals.core.db import session_scope
    from renewals.ownership.service import Refused
    from renewals.org.service import StaffError, deactivate_staff

    _settings()
    try:
        with session_scope() as session:
            staff = deactivate_staff(session, username)
            admin_branch = session.get(Branch, staff.branch_id).code if staff.role.value == "admin" else None
    except (StaffError, Refused) as exc:
        raise _fail(str(exc)) from None
    console.print(f"deactivated {username}")
    if admin_branch:
        _publish_branch_admins(_settings(), admin_branch)


@app.command("import")
def import_policies(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV of policies (UTF-8 or GB18030).")],
    errors_to: Annotated[Path | None, typer.Option("--errors", help="Where to write the row errors (CSV).")] = None,
) -> None:
    """Import a book of policies: check every row, load the good ones, start the cases due. Exits 1
    when any row is rejected (the good rows are imported all the same; the errors go to --errors)."""
    from renewals.cli.intake import run

    settings = _settings()
    errors_to = errors_to or file.with_name(file.stem + ".errors.csv")
    if not run(settings, file, errors_to, console):
        raise typer.Exit(1)


@intake_app.command("run")
def intake_run(day: Annotated[str | None, typer.Option("--date", help="YYYY-MM-DD; default today.")] = None) -> None:
    """Run the daily intake now (as the schedule does at 01:00) and print its summary."""
    from renewals.cli.intake import run_intake

    run_intake(_settings(), day, console)


@staff_app.command("reassign-book")
def staff_reassign_book(
    username: str,
    to: Annotated[list[str], typer.Option("--to", help="Username of a service manager to take a share; repeat.")],
    reason: Annotated[str, typer.Option(help="Why the book moves (kept in the history).")] = "staff left",
    admin: Annotated[str | None, typer.Option(help="Admin username acting (default: the system).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would move; move nothing.")] = False,
) -> None:
    """Move every policy and open case of USERNAME to the --to managers, spread evenly."""
    from renewals.cli.intake import reassign_book

    if not reassign_book(_settings(), username, to, reason, admin, dry_run, console):
        raise typer.Exit(1)


def main() -> None:
    """The `renewals` command. Any command that needs the database or Temporal and has none to
    reach says so in one line, without a traceback, and how to start one."""
    from renewals.core.db import NoDatabase
    from renewals.core.temporal import NoTemporal

    try:
        app()
    except (NoDatabase, NoTemporal) as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}")
        sys.exit(2)

