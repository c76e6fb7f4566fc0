"""`renewals org …` and `renewals staff …`: the organisation tree, staff, their books and deputies."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table as RichTable

from renewals.cli.common import DAY, console, fail, load_settings
from renewals.cli.output import FormatOption, emit, progress_bar
from renewals.core.settings import Settings
from renewals.reports.rules import Table

org_app = typer.Typer(help="The organisation: branches and sub-branches.", no_args_is_help=True)
staff_app = typer.Typer(help="Staff: add, list, deactivate.", no_args_is_help=True)


@org_app.command("add")
def org_add(
    branch_code: Annotated[str, typer.Option("--branch", help="Branch (分公司) code.")],
    branch_name: Annotated[str | None, typer.Option(help="Branch name, when it is new.")] = None,
    sub_branch_code: Annotated[str | None, typer.Option("--sub-branch", help="Sub-branch (支公司) code.")] = None,
    sub_branch_name: Annotated[str | None, typer.Option(help="Sub-branch name, when it is new.")] = None,
) -> None:
    """Add a branch, and optionally a sub-branch under it."""
    # start-up cost (see renewals.cli.main)
    from renewals.core.db import session_scope
    from renewals.core.phones import FieldError
    from renewals.org.service import add_org

    load_settings()
    try:
        with session_scope() as session:
            branch, sub = add_org(session, branch_code=branch_code, branch_name=branch_name,
                                  sub_branch_code=sub_branch_code, sub_branch_name=sub_branch_name)
            console.print(f"branch {branch.code} {branch.name}" + (f" / sub-branch {sub.code} {sub.name}" if sub else ""))
    except FieldError as exc:
        raise fail(str(exc)) from None


@org_app.command("deputy")
def org_deputy(sub_branch: str, username: str) -> None:
    """Make USERNAME (a deputy manager of SUB_BRANCH) its deputy (分管车险副经理): new cases get them,
    and every open case moves to them with its deputy tasks. A sub-branch without a deputy starts no case."""
    # start-up cost (see renewals.cli.main)
    from sqlmodel import select

    from models import Staff, SubBranch
    from renewals.core.db import get_engine, session_scope
    from renewals.core.temporal import connect
    from renewals.core.phones import FieldError
    from renewals.ownership.service import change_deputy
    from renewals.case.contract import INTAKE_ACTOR

    settings = load_settings()
    with session_scope() as session:
        sub = session.exec(select(SubBranch).where(SubBranch.code == sub_branch)).first()
        deputy = session.exec(select(Staff).where(Staff.username == username)).first()
    missing = [what for what, found in ((f"sub-branch {sub_branch}", sub), (f"staff member {username}", deputy))
               if found is None]
    if missing:
        raise fail(f"no {' and no '.join(missing)}")

    async def change() -> dict:
        return await change_deputy(get_engine(), await connect(settings), sub, deputy.id, INTAKE_ACTOR)

    try:
        result = asyncio.run(change())
    except FieldError as exc:
        raise fail(str(exc)) from None
    console.print(f"sub-branch {sub_branch}: deputy {username}; {result['cases_moved']} open case(s) moved to them")
    for failure in result["failures"]:
        console.print(f"[yellow]{failure['workflow_id']}[/yellow] not moved: {failure['reason']}")
    if result["failures"]:
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
    # start-up cost (see renewals.cli.main)
    from renewals.core.db import session_scope
    from renewals.org.service import MIN_PASSWORD_LENGTH, add_staff

    settings = load_settings()
    if settings.environment == "prod" and (not password or len(password) < MIN_PASSWORD_LENGTH or password == "demo"):
        raise fail(f"password: at least {MIN_PASSWORD_LENGTH} characters, and not a demo password, "
                   "with ENVIRONMENT=prod")
    try:
        with session_scope() as session:
            staff = add_staff(session, username=username, name=name, role=role, phone=phone,
                              sub_branch_code=sub_branch, branch_code=branch, handler_code=handler_code,
                              password=password)
            console.print(f"added {staff.role.value} {staff.username} ({staff.id})")
    except ValueError as exc:
        raise fail(str(exc)) from None
    if staff.role.value == "admin":
        _publish_branch_admins(settings, branch)


def _publish_branch_admins(settings: Settings, branch_code: str) -> None:
    """Open cases accept close/reassign only from the admins they know: tell them (see renewals.org.branch_admins)."""
    # start-up cost (see renewals.cli.main)
    from renewals.core.db import make_engine
    from renewals.core.temporal import connect
    from renewals.org.branch_admins import publish_branch_admins

    async def publish() -> int:
        engine = make_engine(settings.database_url)
        try:
            return await publish_branch_admins(await connect(settings), engine, branch_code)
        finally:
            engine.dispose()

    try:
        told = asyncio.run(publish())
    except Exception as exc:  # noqa: BLE001 — Temporal down: say how to finish the job later
        raise fail(f"branch {branch_code}: open cases not told about the admin change ({exc}); "
                   f"run `renewals staff publish-admins {branch_code}` when Temporal is up") from None
    console.print(f"branch {branch_code}: {told} open case(s) told about their admins")


@staff_app.command("publish-admins")
def staff_publish_admins(branch: str) -> None:
    """Tell every open case of BRANCH who its admins are now (after adding or deactivating one)."""
    _publish_branch_admins(load_settings(), branch)


@staff_app.command("list")
def staff_list(include_inactive: Annotated[bool, typer.Option("--all", help="Include deactivated staff.")] = False,
               fmt: FormatOption = None) -> None:
    """List staff."""
    # start-up cost (see renewals.cli.main)
    from sqlmodel import select

    from models import Branch, Staff, SubBranch
    from renewals.core.db import session_scope
    from renewals.core.masking import mask_phone

    load_settings()
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
    # start-up cost (see renewals.cli.main)
    from zoneinfo import ZoneInfo

    from sqlmodel import select

    from api.views import todo_panel
    from models import Staff
    from renewals.case.calendar import t_day
    from renewals.core.db import session_scope

    settings = load_settings()
    with session_scope() as session:
        staff = session.exec(select(Staff).where(Staff.username == username)).first()
        if staff is None:
            raise fail(f"no staff member {username}")
        page = todo_panel(session, staff, settings, datetime.now(UTC), day.date() if day else None)
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
    # start-up cost (see renewals.cli.main)
    from models import Branch
    from renewals.core.db import session_scope
    from renewals.core.phones import FieldError
    from renewals.org.service import find_staff
    from renewals.ownership.service import Refused, deactivate

    settings = load_settings()
    try:
        with session_scope() as session:
            staff = find_staff(session, username)
            deactivate(session, staff)
            admin_branch = session.get(Branch, staff.branch_id).code if staff.role.value == "admin" else None
    except (FieldError, Refused) as exc:
        raise fail(str(exc)) from None
    console.print(f"deactivated {username}")
    if admin_branch:
        _publish_branch_admins(settings, admin_branch)


@staff_app.command("reassign-book")
def staff_reassign_book(
    username: str,
    to: Annotated[list[str], typer.Option("--to", help="Username of a service manager to take a share; repeat.")],
    reason: Annotated[str, typer.Option(help="Why the book moves (kept in the history).")] = "staff left",
    admin: Annotated[str | None, typer.Option(help="Admin username acting (default: the system).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would move; move nothing.")] = False,
) -> None:
    """Move every policy and open case of USERNAME to the --to managers, spread evenly."""
    # start-up cost (see renewals.cli.main)
    from sqlmodel import select

    from models import Staff
    from renewals.core.db import get_engine, session_scope
    from renewals.core.temporal import connect
    from renewals.core.phones import FieldError
    from renewals.ownership.service import move_book
    from renewals.case.contract import INTAKE_ACTOR, Actor, ActorRole

    settings = load_settings()
    wanted = [username, *to, *([admin] if admin else [])]
    with session_scope() as session:
        named = {s.username: s for s in session.exec(select(Staff).where(Staff.username.in_(wanted))).all()}
    if missing := [u for u in wanted if u not in named]:
        raise fail(f"no staff member {', '.join(missing)}")
    actor = Actor(id=named[admin].id, role=ActorRole.admin) if admin else INTAKE_ACTOR

    async def move():
        client = await connect(settings)
        with progress_bar(console) as bar:
            task = bar.add_task("moving the book", total=None)
            return await move_book(get_engine(), client, named[username], [named[u].id for u in to], actor,
                                   reason, dry_run=dry_run,
                                   progress=lambda done, total: bar.update(task, completed=done, total=total))

    try:
        report = asyncio.run(move())
    except FieldError as exc:
        raise fail(str(exc)) from None
    names = {str(s.id): s.username for s in named.values()}
    table = RichTable("new owner", "policies", title=("would move (dry run)" if dry_run else "moved")
                      + f": {report.policies} policies, {report.cases} open cases, {report.open_tasks} open tasks")
    for owner, count in report.per_owner.items():
        table.add_row(names.get(owner, owner), str(count))
    console.print(table)
    for failure in report.failures:
        console.print(f"[yellow]{failure['policy_no']}[/yellow] stays with {username}: {failure['reason']}")
    if report.failures:
        raise typer.Exit(1)
