"""The admin's and the manager's console pages (imports, assignments, book reassignment, SMS
templates, reports): each page authorizes through api/access.py, takes the API's bodies and calls
the same services as the API's routes, so a page can do exactly what the API allows, checked by the
same rules. Downloads and charts are served here too, because the API's routes read the bearer
header and the console signs in with its session cookie."""

from __future__ import annotations

import secrets
import uuid
from datetime import date as Date, datetime
from urllib.parse import quote

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from sqlmodel import Session, select
from starlette.datastructures import FormData, UploadFile

from api.access import (
    actor, case_scope, case_to_preview, find_branch_staff, find_import_job, find_policy, policy_scope, report_reading,
)
from api.console import session as web
from api.console.forms import FieldProblem, problem, refusal_status
from api.console.i18n import translator
from api.console.routes import _form, _invalid, _redirect, forbidden, form_text, refusal_page, render
from api.deps import NowDep, SessionDep, SettingsDep, read_then_release
from api.errors import ApiError, template_refusal
from api.inputs import KeyPath, LanguagePath
from api.schemas import (
    AssignIn, HandlerCodeIn, PolicyOwnerPage, ReassignBookIn, TemplateIn, import_job_out, preview_out, template_out,
    unassigned_page,
)
from api.uploads import errors_file, start_import
from models import RenewalCase, Role, Staff, SubBranch, Task, TaskState
from renewals.case.contract import TaskKind
from renewals.case.sms_templates import TemplateRefused, newest, preview, save, versions
from renewals.core.settings import Settings
from renewals.intake.service import UNFINISHED, local_today
from renewals.core.phones import FieldError
from renewals.org.service import set_handler_code
from renewals.ownership import service as ownership
from renewals.quotes.service import case_today
from renewals.reports.rules import FontMissing, PeriodError, make_period
from renewals.reports.service import REPORTS, Format, Reading, RenewalChart, ReportFile, report, report_file

router = APIRouter(prefix="/app", include_in_schema=False)

REPORT_READERS = (Role.manager, Role.admin, Role.auditor)
# The Temporal UI's lists a manager watches: (words, visibility query).
TEMPORAL_LISTS = (
    ("DEPUTY_SUPERVISION", 'RenewalStage = "DEPUTY_SUPERVISION" AND ExecutionStatus = "Running"'),
    ("escalated", 'Escalated = true AND ExecutionStatus = "Running"'),
    ("LAPSED", 'RenewalOutcome = "LAPSED"'),
    ("FINAL_CONTACT", 'RenewalStage = "FINAL_CONTACT"'),
)


def temporal_ui(settings: Settings, query: str) -> str:
    base = settings.temporal_ui_url or f"http://127.0.0.1:{settings.temporal_ui_port}"
    return f"{base.rstrip('/')}/namespaces/{settings.temporal_namespace}/workflows?query={quote(query)}"


# --- admin: the page, import upload and its job ----------------------------------------------------------


async def _admin_form(request: Request, staff: Staff, settings: Settings) -> FormData | None:
    """An admin page's posted form (its CSRF token checked); None when the poster is no admin."""
    form = await _form(request, settings)
    return form if staff.role == Role.admin else None


def _branch_sales(session: Session, admin: Staff) -> list[tuple[Staff, str]]:
    """The service managers an admin can give policies and books to (the services check each again)."""
    return list(session.exec(
        select(Staff, SubBranch.code).join(SubBranch, SubBranch.id == Staff.sub_branch_id)
        .where(SubBranch.branch_id == admin.branch_id, Staff.role == Role.sales, Staff.active)
        .order_by(SubBranch.code, Staff.name)
    ).all())


# What an admin's change is refused with: shown on the page with the reason (and the field),
# answered as the API answers it (api/errors.py).
REFUSALS = (ValidationError, FieldError, ApiError, TemplateRefused, FieldProblem)


def _refusal(exc: Exception) -> tuple[int, str]:
    if isinstance(exc, ValidationError):
        return 422, _invalid(exc)
    if isinstance(exc, TemplateRefused):
        return refusal_status(exc), template_refusal(exc).message
    return refusal_status(exc), exc.message if isinstance(exc, ApiError) else str(exc)


def _form_id(form, name: str) -> uuid.UUID | None:
    """The id a form's select sent, or None when none (or no id) was chosen."""
    try:
        return uuid.UUID(form_text(form, name) or "")
    except ValueError:
        return None


UNASSIGNED_SHOWN = 200
ATTENTION_SHOWN = 100


def _needs_attention(session: Session, admin: Staff) -> list[tuple[Task, RenewalCase]]:
    """The open needs-attention tasks of the admin's branch, the oldest due first."""
    return list(session.exec(
        select(Task, RenewalCase).join(RenewalCase, RenewalCase.id == Task.case_id)
        .where(Task.kind == TaskKind.attention, Task.state == TaskState.open, case_scope(admin))
        .order_by(Task.due_at).limit(ATTENTION_SHOWN)
    ).all())


def _unassigned(session: Session, admin: Staff) -> PolicyOwnerPage:
    policies, total = ownership.unassigned(session, policy_scope(admin), UNASSIGNED_SHOWN, 0)
    return unassigned_page(session, policies, total, UNASSIGNED_SHOWN, 0)


async def _admin_page(request: Request, staff: Staff, session: Session, *, refused: Exception | None = None,
                      form: str = "", values: FormData | None = None) -> Response:
    """The admin's page; after a refusal, `form` shown again with the reason next to its field and
    what was typed (`values`) filled back in."""
    shown = problem(refused, translator(web.language(request)), form, values) if refused is not None else None
    unassigned = await run_in_threadpool(_unassigned, session, staff)
    sales = await run_in_threadpool(_branch_sales, session, staff)
    attention = await run_in_threadpool(_needs_attention, session, staff)
    assigned = request.query_params.get("assigned", "")[:64]
    handler_code = request.query_params.get("handler_code")
    return render(request, "admin.html", staff=staff, status=refusal_status(refused) if refused else 200, problem=shown,
                  unassigned=unassigned, sales=sales, attention=attention, assigned=assigned,
                  handler_code=None if handler_code is None else handler_code[:32])


@router.get("/admin")
async def admin_page(request: Request, staff: web.ConsoleStaff, session: SessionDep) -> Response:
    if staff.role != Role.admin:
        return forbidden(request, staff)
    return await _admin_page(request, staff, session)


@router.post("/admin/imports")
async def upload_import(request: Request, staff: web.ConsoleStaff, session: SessionDep,
                        settings: SettingsDep) -> Response:
    if (form := await _admin_form(request, staff, settings)) is None:
        return forbidden(request, staff)
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        return await _admin_page(request, staff, session, refused=FieldProblem("file", "import_pick_file"),
                                 form="imports")
    try:
        job_id = await start_import(request, staff, upload)
    except ApiError as exc:
        return await _admin_page(request, staff, session, refused=exc, form="imports")
    return RedirectResponse(f"/app/admin/imports/{job_id}", status_code=303)


@router.get("/admin/imports/{job_id}")
async def import_page(job_id: uuid.UUID, request: Request, staff: web.ConsoleStaff, session: SessionDep) -> Response:
    try:
        job = await run_in_threadpool(find_import_job, session, staff, job_id)
    except ApiError as exc:
        return refusal_page(request, staff, exc.status, exc.message)
    shown = import_job_out(job)
    return render(request, "import_job.html", staff=staff, job=shown, running=shown.status in UNFINISHED)


@router.get("/admin/imports/{job_id}/errors.csv")
def import_errors(job_id: uuid.UUID, request: Request, staff: web.ConsoleStaff, session: SessionDep) -> Response:
    try:
        return errors_file(find_import_job(session, staff, job_id))
    except ApiError as exc:
        return refusal_page(request, staff, exc.status, exc.message)


# --- admin: assigning a policy, moving a book -------------------------------------------------------------


@router.post("/admin/assign")
async def assign_policy(request: Request, staff: web.ConsoleStaff, session: SessionDep, settings: SettingsDep,
                        now: NowDep) -> Response:
    if (form := await _admin_form(request, staff, settings)) is None:
        return forbidden(request, staff)
    try:
        body = AssignIn(policy_no=form_text(form, "policy_no"), staff_id=form_text(form, "staff_id"),
                        reason=form_text(form, "reason"))
        policy = await read_then_release(session, find_policy, staff, body.policy_no)
        await ownership.assign_policy(request.app.state.engine, await request.app.state.temporal(), settings, policy,
                                      body.staff_id, staff, body.reason, today=local_today(settings, now))
    except REFUSALS as exc:
        return await _admin_page(request, staff, session, refused=exc, form=f"assign:{form_text(form, 'policy_no')}",
                                 values=form)
    return _redirect(f"/app/admin?assigned={body.policy_no}#unassigned")


@router.post("/admin/handler-code")
async def give_handler_code(request: Request, staff: web.ConsoleStaff, session: SessionDep,
                            settings: SettingsDep) -> Response:
    if (form := await _admin_form(request, staff, settings)) is None:
        return forbidden(request, staff)
    if (member_id := _form_id(form, "staff_id")) is None:
        return await _admin_page(request, staff, session, refused=FieldProblem("staff_id", "handler_pick_staff"),
                                 form="handler-code", values=form)

    def give(handler_code: str | None) -> Staff:
        return set_handler_code(session, find_branch_staff(session, staff, member_id), handler_code)

    try:
        body = HandlerCodeIn(handler_code=form_text(form, "handler_code") or None)
        given = await run_in_threadpool(give, body.handler_code)
    except REFUSALS as exc:
        return await _admin_page(request, staff, session, refused=exc, form="handler-code", values=form)
    return _redirect(f"/app/admin?handler_code={given.handler_code or ''}#handler-codes")


@router.post("/admin/reassign-book")
async def reassign_book(request: Request, staff: web.ConsoleStaff, session: SessionDep,
                        settings: SettingsDep) -> Response:
    """A dry run shows exactly what would move, with a button that posts the same choice to run it."""
    if (form := await _admin_form(request, staff, settings)) is None:
        return forbidden(request, staff)
    targets = [value for value in form.getlist("to") if isinstance(value, str)][:50]
    if (leaver_id := _form_id(form, "from")) is None:
        return await _admin_page(request, staff, session, refused=FieldProblem("from", "book_pick_leaver"),
                                 form="reassign-book", values=form)
    try:
        body = ReassignBookIn(to=targets, reason=form_text(form, "reason"), dry_run=form_text(form, "dry_run") == "1")
        leaver = await read_then_release(session, find_branch_staff, staff, leaver_id)
        report = await ownership.move_book(request.app.state.engine, await request.app.state.temporal(), leaver,
                                           body.to, actor(staff), body.reason, dry_run=body.dry_run)
    except REFUSALS as exc:
        return await _admin_page(request, staff, session, refused=exc, form="reassign-book", values=form)
    names = {str(s.id): s for s, _ in await run_in_threadpool(_branch_sales, session, staff)}
    leaver = await run_in_threadpool(session.get, Staff, leaver_id)
    return render(request, "book_report.html", staff=staff, report=report, leaver=leaver, names=names,
                  targets=[str(t) for t in body.to], reason=body.reason)


# --- admin: SMS templates (营销模板管理) ----------------------------------------------------------------------


@router.get("/admin/templates")
async def templates_page(request: Request, staff: web.ConsoleStaff, session: SessionDep) -> Response:
    if staff.role != Role.admin:
        return forbidden(request, staff)
    templates = [template_out(template) for template in await run_in_threadpool(newest, session)]
    return render(request, "sms_templates.html", staff=staff, templates=templates)


def _versions_with_authors(session: Session, key: str, language: str) -> tuple[list, dict]:
    """A template's versions, newest first, and the names of who wrote them."""
    history = [template_out(version) for version in versions(session, key, language)]
    authors = {version.created_by for version in history} - {None}
    names = dict(session.exec(select(Staff.id, Staff.name).where(Staff.id.in_(authors))).all()) if authors else {}
    return history, names


async def _template_page(request: Request, staff: Staff, session: Session, key: str, language: str, *,
                         body: str | None = None, case_id: str | None = None, shown=None,
                         refused: Exception | None = None) -> Response:
    status, error = _refusal(refused) if refused is not None else (200, None)
    history, names = await run_in_threadpool(_versions_with_authors, session, key, language)
    return render(request, "sms_template.html", staff=staff, status=status, error=error, key=key, language=language,
                  history=history, names=names, body=history[0].body if body is None else body,
                  case_id=case_id or "", shown=shown, saved=request.query_params.get("saved", "")[:8])


@router.get("/admin/templates/{key}/{language}")
async def template_page(key: KeyPath, language: LanguagePath, request: Request, staff: web.ConsoleStaff,
                        session: SessionDep) -> Response:
    if staff.role != Role.admin:
        return forbidden(request, staff)
    return await _template_page(request, staff, session, key.value, language.value)


@router.post("/admin/templates/{key}/{language}")
async def edit_template(key: KeyPath, language: LanguagePath, request: Request, staff: web.ConsoleStaff,
                        session: SessionDep, settings: SettingsDep, now: NowDep) -> Response:
    """Preview (nothing saved) or save as the new version, as the API does."""
    if (form := await _admin_form(request, staff, settings)) is None:
        return forbidden(request, staff)
    text, case_id = form_text(form, "body") or "", form_text(form, "case_id")
    page = dict(body=text, case_id=case_id)
    try:
        body = TemplateIn(body=text, case_id=case_id)
        case = await run_in_threadpool(case_to_preview, session, staff, body.case_id)
        if form_text(form, "do") == "save":
            saved = await run_in_threadpool(save, session, key.value, language.value, body.body, case,
                                            case_today(case, now), settings.public_base_url, staff.id, now)
            return _redirect(f"/app/admin/templates/{key.value}/{language.value}?saved={saved.version}")
        rendered = await run_in_threadpool(preview, session, key.value, language.value, body.body, case,
                                           case_today(case, now), settings.public_base_url)
    except REFUSALS as exc:
        return await _template_page(request, staff, session, key.value, language.value, **page, refused=exc)
    return await _template_page(request, staff, session, key.value, language.value, **page,
                                shown=preview_out(rendered, case.id))


# --- manager: reports ----------------------------------------------------------------------------------------


def _reading(session: Session, staff: Staff, settings: Settings, now: datetime, start: Date | None,
             end: Date | None) -> Reading:
    """The reader's reports over the period (PeriodError when it is not one)."""
    return report_reading(session, staff, make_period(start, end, local_today(settings, now)), settings.timezone, now)


def _page_view(view: str, staff: Staff) -> tuple:
    """The page view's id, and who reads it: only they find its reports again."""
    return view, staff.id, staff.role, staff.branch_id, staff.sub_branch_id


@router.get("/manager")
async def manager_page(request: Request, staff: web.ConsoleStaff, session: SessionDep, settings: SettingsDep,
                       now: NowDep) -> Response:
    if staff.role not in REPORT_READERS:
        return forbidden(request, staff)
    temporal = [(label, temporal_ui(settings, query), query) for label, query in TEMPORAL_LISTS]
    try:
        start, end = _days(request)
        reading = await run_in_threadpool(_reading, session, staff, settings, now, start, end)
    except (FieldProblem, PeriodError) as exc:
        refused = exc if isinstance(exc, FieldProblem) else FieldProblem(exc.field, "period")
        shown = problem(refused, translator(web.language(request)), "period", request.query_params)
        return render(request, "manager.html", staff=staff, status=422, problem=shown, reports=[],
                      temporal=temporal, period=None)
    # The charts and CSV links carry the page view: they read the reports computed here.
    view = secrets.token_urlsafe(16)
    period = f"from={reading.period.start}&to={reading.period.end}&view={view}"
    reports = []
    for name, kind in REPORTS.items():
        computed = await run_in_threadpool(report, session, name, reading, _page_view(view, staff))
        base = f"/app/manager/reports/{name}?{period}"
        reports.append({"name": name, "table": kind.table(computed, web.language(request)),
                        "csv": f"{base}&format=csv",
                        "charts": [f"{base}&format=svg" + (f"&chart={chart.value}" if chart else "")
                                   for chart in kind.charts]})
    return render(request, "manager.html", staff=staff, reports=reports, temporal=temporal, period=reading.period)


def _days(request: Request) -> tuple[Date | None, Date | None]:
    """The period's `from` and `to` days as given (FieldProblem when one is not YYYY-MM-DD)."""
    days = []
    for name in ("from", "to"):
        value = request.query_params.get(name, "")[:10]
        try:
            days.append(Date.fromisoformat(value) if value else None)
        except ValueError:
            raise FieldProblem(name, "day") from None
    return days[0], days[1]


def _file(session: Session, staff: Staff, settings: Settings, now: datetime, name: str, days: tuple,
          view: str | None, fmt: Format, chart: RenewalChart) -> ReportFile:
    reading = _reading(session, staff, settings, now, *days)
    computed = report(session, name, reading, _page_view(view, staff) if view else None)
    return report_file(name, computed, reading.period, fmt, chart)


@router.get("/manager/reports/{name}")
async def report_download(name: str, request: Request, staff: web.ConsoleStaff, session: SessionDep,
                          settings: SettingsDep, now: NowDep, format: Format = Format.csv,
                          chart: RenewalChart = RenewalChart.rates) -> Response:
    """A report's CSV or chart, for the cookie session."""
    if name not in REPORTS:
        return refusal_page(request, staff, 404, translator(web.language(request))("page_not_found"))
    if staff.role not in REPORT_READERS or format is Format.json:
        return forbidden(request, staff)
    try:
        days = _days(request)
    except FieldProblem:
        return refusal_page(request, staff, 422, translator(web.language(request))("bad_day"))
    view = request.query_params.get("view", "")[:32] or None
    try:
        file = await run_in_threadpool(_file, session, staff, settings, now, name, days, view, format, chart)
    except PeriodError as exc:
        return refusal_page(request, staff, 422, str(exc))
    except FontMissing as exc:
        return refusal_page(request, staff, 500, str(exc))
    answer = Response(file.body, media_type=file.media_type, headers=file.headers)
    answer.headers["Cache-Control"] = "private, no-store"
    return answer
