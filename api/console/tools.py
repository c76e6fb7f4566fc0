"""The admin's and the manager's console pages: thin pages over the API's own route functions
(imports, assignments, book reassignment, reports), so a page can do exactly what the API allows,
checked by the same rules. Downloads and charts are served here too, because the API's routes
read the bearer header and the console signs in with its session cookie."""

from __future__ import annotations

import secrets
import uuid
from datetime import date as Date
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, BackgroundTasks, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from sqlmodel import Session, select
from starlette.datastructures import UploadFile

from api.console import session as web
from api.console.i18n import translator
from api.console.routes import _form, _invalid, _redirect, forbidden, form_text, refusal_page, render
from api.deps import NowDep, SessionDep, SettingsDep
from api.errors import ApiError
from api.routes import assignments as assignment_routes, imports as import_routes, reports as report_routes
from api.routes import sms_templates as template_routes, staff as staff_routes
from models import Role, Staff, SubBranch
from renewals.intake.service import UNFINISHED
from renewals.reports.rules import funnel_table, renewal_table, task_table
from renewals.core.settings import Settings
from renewals.org.service import StaffError

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


def _branch_sales(session: Session, admin: Staff) -> list[tuple[Staff, str]]:
    """The service managers an admin can give policies and books to (the API checks each again)."""
    return list(session.exec(
        select(Staff, SubBranch.code).join(SubBranch, SubBranch.id == Staff.sub_branch_id)
        .where(SubBranch.branch_id == admin.branch_id, Staff.role == Role.sales, Staff.active)
        .order_by(SubBranch.code, Staff.name)
    ).all())


# What the API's assign and reassign-book functions refuse with: shown on the admin page with the
# reason (and the field), answered as the API answers them (api/errors.py).
REFUSALS = (ValidationError, StaffError, ApiError)


def _refusal(exc: Exception) -> tuple[int, str]:
    if isinstance(exc, ValidationError):
        return 422, _invalid(exc)
    if isinstance(exc, ApiError):
        return exc.status, exc.message
    return 422, str(exc)


def _form_id(form, name: str) -> uuid.UUID | None:
    """The id a form's select sent, or None when none (or no id) was chosen."""
    try:
        return uuid.UUID(form_text(form, name) or "")
    except ValueError:
        return None


async def _admin_page(request: Request, staff: Staff, session: Session, *, mistake: str | None = None,
                      refused: Exception | None = None) -> Response:
    status, error = 200, None
    if refused is not None:
        status, error = _refusal(refused)
    elif mistake is not None:
        status, error = 422, translator(web.language(request))(mistake)
    unassigned = await run_in_threadpool(assignment_routes.list_unassigned, staff, session, limit=200, offset=0)
    sales = await run_in_threadpool(_branch_sales, session, staff)
    assigned = request.query_params.get("assigned", "")[:64]
    handler_code = request.query_params.get("handler_code")
    return render(request, "admin.html", staff=staff, status=status, error=error, unassigned=unassigned,
                  sales=sales, assigned=assigned, handler_code=None if handler_code is None else handler_code[:32])


@router.get("/admin")
async def admin_page(request: Request, staff: web.ConsoleStaff, session: SessionDep) -> Response:
    if staff.role != Role.admin:
        return forbidden(request, staff)
    return await _admin_page(request, staff, session)


@router.post("/admin/imports")
async def upload_import(request: Request, staff: web.ConsoleStaff, session: SessionDep,
                        settings: SettingsDep) -> Response:
    form = await _form(request, settings)
    if staff.role != Role.admin:
        return forbidden(request, staff)
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        return await _admin_page(request, staff, session, mistake="import_pick_file")
    background = BackgroundTasks()
    try:
        accepted = await import_routes.import_policies(request, background, staff, session, upload)
    except ApiError as exc:
        return await _admin_page(request, staff, session, refused=exc)
    return RedirectResponse(f"/app/admin/imports/{accepted.job_id}", status_code=303, background=background)


@router.get("/admin/imports/{job_id}")
async def import_page(job_id: uuid.UUID, request: Request, staff: web.ConsoleStaff, session: SessionDep) -> Response:
    try:
        job = await run_in_threadpool(import_routes.import_job, job_id, staff, session)
    except ApiError as exc:
        return refusal_page(request, staff, exc.status, exc.message)
    return render(request, "import_job.html", staff=staff, job=job, running=job.status in UNFINISHED)


@router.get("/admin/imports/{job_id}/errors.csv")
def import_errors(job_id: uuid.UUID, request: Request, staff: web.ConsoleStaff, session: SessionDep) -> Response:
    try:
        return import_routes.import_errors(job_id, staff, session)
    except ApiError as exc:
        return refusal_page(request, staff, exc.status, exc.message)


# --- admin: assigning a policy, moving a book -------------------------------------------------------------


@router.post("/admin/assign")
async def assign_policy(request: Request, staff: web.ConsoleStaff, session: SessionDep, settings: SettingsDep,
                        now: NowDep) -> Response:
    form = await _form(request, settings)
    if staff.role != Role.admin:
        return forbidden(request, staff)
    try:
        body = assignment_routes.AssignIn(policy_no=form_text(form, "policy_no"),
                                          staff_id=form_text(form, "staff_id"), reason=form_text(form, "reason"))
        await assignment_routes.assign(body, request, staff=staff, session=session, now=now)
    except REFUSALS as exc:
        return await _admin_page(request, staff, session, refused=exc)
    return _redirect(f"/app/admin?assigned={body.policy_no}#unassigned")


@router.post("/admin/handler-code")
async def give_handler_code(request: Request, staff: web.ConsoleStaff, session: SessionDep,
                            settings: SettingsDep) -> Response:
    form = await _form(request, settings)
    if staff.role != Role.admin:
        return forbidden(request, staff)
    if (member_id := _form_id(form, "staff_id")) is None:
        return await _admin_page(request, staff, session, mistake="handler_pick_staff")
    try:
        body = staff_routes.HandlerCodeIn(handler_code=form_text(form, "handler_code") or None)
        given = await run_in_threadpool(staff_routes.give_handler_code, member_id, body, staff, session)
    except REFUSALS as exc:
        return await _admin_page(request, staff, session, refused=exc)
    return _redirect(f"/app/admin?handler_code={given.handler_code or ''}#handler-codes")


@router.post("/admin/reassign-book")
async def reassign_book(request: Request, staff: web.ConsoleStaff, session: SessionDep,
                        settings: SettingsDep) -> Response:
    """A dry run shows exactly what would move, with a button that posts the same choice to run it."""
    form = await _form(request, settings)
    if staff.role != Role.admin:
        return forbidden(request, staff)
    targets = [value for value in form.getlist("to") if isinstance(value, str)][:50]
    if (leaver_id := _form_id(form, "from")) is None:
        return await _admin_page(request, staff, session, mistake="book_pick_leaver")
    try:
        body = staff_routes.ReassignBookIn(to=targets, reason=form_text(form, "reason"),
                                           dry_run=form_text(form, "dry_run") == "1")
        report = await staff_routes.reassign_book(leaver_id, body, request, admin=staff, session=session)
    except REFUSALS as exc:
        return await _admin_page(request, staff, session, refused=exc)
    names = {str(s.id): s for s, _ in await run_in_threadpool(_branch_sales, session, staff)}
    leaver = await run_in_threadpool(session.get, Staff, leaver_id)
    return render(request, "book_report.html", staff=staff, report=report, leaver=leaver, names=names,
                  targets=[str(t) for t in body.to], reason=body.reason)


# --- admin: SMS templates (营销模板管理) ----------------------------------------------------------------------


@router.get("/admin/templates")
async def templates_page(request: Request, staff: web.ConsoleStaff, session: SessionDep) -> Response:
    if staff.role != Role.admin:
        return forbidden(request, staff)
    templates = await run_in_threadpool(template_routes.list_templates, staff, session)
    return render(request, "sms_templates.html", staff=staff, templates=templates)


def _versions_with_authors(staff: Staff, session: Session, key: str, language: str) -> tuple[list, dict]:
    """A template's versions, newest first, and the names of who wrote them."""
    history = template_routes.template_versions(template_routes.MessageKey(key), template_routes.Language(language),
                                                staff, session)
    authors = {version.created_by for version in history} - {None}
    names = dict(session.exec(select(Staff.id, Staff.name).where(Staff.id.in_(authors))).all()) if authors else {}
    return history, names


async def _template_page(request: Request, staff: Staff, session: Session, key: str, language: str, *,
                         body: str | None = None, case_id: str | None = None, shown=None,
                         refused: Exception | None = None) -> Response:
    status, error = _refusal(refused) if refused is not None else (200, None)
    history, names = await run_in_threadpool(_versions_with_authors, staff, session, key, language)
    return render(request, "sms_template.html", staff=staff, status=status, error=error, key=key, language=language,
                  history=history, names=names, body=history[0].body if body is None else body,
                  case_id=case_id or "", shown=shown, saved=request.query_params.get("saved", "")[:8])


@router.get("/admin/templates/{key}/{language}")
async def template_page(key: template_routes.KeyPath, language: template_routes.LanguagePath, request: Request,
                        staff: web.ConsoleStaff, session: SessionDep) -> Response:
    if staff.role != Role.admin:
        return forbidden(request, staff)
    return await _template_page(request, staff, session, key.value, language.value)


@router.post("/admin/templates/{key}/{language}")
async def edit_template(key: template_routes.KeyPath, language: template_routes.LanguagePath, request: Request,
                        staff: web.ConsoleStaff, session: SessionDep, settings: SettingsDep, now: NowDep) -> Response:
    """Preview (nothing saved) or save as the new version, as the API does."""
    form = await _form(request, settings)
    if staff.role != Role.admin:
        return forbidden(request, staff)
    text, case_id = form_text(form, "body") or "", form_text(form, "case_id")
    page = dict(body=text, case_id=case_id)
    try:
        body = template_routes.TemplateIn(body=text, case_id=case_id)
        if form_text(form, "do") == "save":
            saved = await run_in_threadpool(template_routes.save_template, session, staff, key.value,
                                            language.value, body, now)
            return _redirect(f"/app/admin/templates/{key.value}/{language.value}?saved={saved.version}")
        shown = await run_in_threadpool(template_routes.preview_template, session, staff, key.value,
                                        language.value, body, now)
    except REFUSALS as exc:
        return await _template_page(request, staff, session, key.value, language.value, **page, refused=exc)
    return await _template_page(request, staff, session, key.value, language.value, **page, shown=shown)


# --- manager: reports ----------------------------------------------------------------------------------------

REPORTS = {  # name: (route function, table, charts)
    "renewals": (report_routes.renewals, renewal_table, tuple(report_routes.RenewalChart)),
    "funnel": (lambda reading, _: report_routes.funnel(reading), funnel_table, (None,)),
    "tasks": (lambda reading, _: report_routes.tasks(reading), task_table, (None,)),
}


@router.get("/manager")
async def manager_page(request: Request, staff: web.ConsoleStaff, session: SessionDep, settings: SettingsDep,
                       now: NowDep) -> Response:
    if staff.role not in REPORT_READERS:
        return forbidden(request, staff)
    temporal = [(label, temporal_ui(settings, query), query) for label, query in TEMPORAL_LISTS]
    try:
        start, end = _days(request)
        reading = await run_in_threadpool(report_routes.ReportQuery, staff, session, settings, now,
                                          start=start, end=end)
    except (ApiError, ValueError) as exc:
        message = exc.message if isinstance(exc, ApiError) else translator(web.language(request))("bad_day")
        return render(request, "manager.html", staff=staff, status=422, error=message, reports=[],
                      temporal=temporal, period=None)
    # The charts and CSV links carry the page view: they read the reports computed here.
    reading.page_view = secrets.token_urlsafe(16)
    period = f"from={reading.period.start}&to={reading.period.end}&view={reading.page_view}"
    reports = []
    for name, (run, table, charts) in REPORTS.items():
        report = await run_in_threadpool(run, reading, report_routes.RenewalChart.rates)
        base = f"/app/manager/reports/{name}?{period}"
        reports.append({"name": name, "table": table(report, web.language(request)), "csv": f"{base}&format=csv",
                        "charts": [f"{base}&format=png" + (f"&chart={chart.value}" if chart else "")
                                   for chart in charts]})
    return render(request, "manager.html", staff=staff, reports=reports, temporal=temporal, period=reading.period)


def _days(request: Request) -> tuple[Date | None, Date | None]:
    """The period's `from` and `to` days as given (ValueError when one is not YYYY-MM-DD)."""
    values = (request.query_params.get(name, "")[:10] for name in ("from", "to"))
    return tuple(Date.fromisoformat(value) if value else None for value in values)


@router.get("/manager/reports/{name}")
async def report_file(name: str, request: Request, staff: web.ConsoleStaff, session: SessionDep,
                      settings: SettingsDep, now: NowDep, format: report_routes.Format = report_routes.Format.csv,
                      chart: report_routes.RenewalChart = report_routes.RenewalChart.rates) -> Response:
    """A report's CSV or chart, for the cookie session: the API's own report functions."""
    if name not in REPORTS:
        return refusal_page(request, staff, 404, translator(web.language(request))("page_not_found"))
    if staff.role not in REPORT_READERS or format is report_routes.Format.json:
        return forbidden(request, staff)
    try:
        start, end = _days(request)
    except ValueError:
        return refusal_page(request, staff, 422, translator(web.language(request))("bad_day"))
    try:
        reading = await run_in_threadpool(report_routes.ReportQuery, staff, session, settings, now,
                                          start=start, end=end, format=format)
        reading.page_view = request.query_params.get("view", "")[:32] or None
        answer: Any = await run_in_threadpool(REPORTS[name][0], reading, chart)
    except ApiError as exc:
        return refusal_page(request, staff, exc.status, exc.message)
    answer.headers["Cache-Control"] = "private, no-store"
    return answer
