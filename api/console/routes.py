"""The staff console's pages under /app: a thin client of the API's own rules.

Every read goes through api.access (scopes, masking) and the API's read functions (api.views);
every action is the API's own (api.casework) with the same StaffAction, so a page can do exactly
what the API allows and the workflow's validator has the last word. Refusals are shown in the page
with their reason.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, get_args
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from sqlalchemy import func
from sqlmodel import Session, select
from starlette.datastructures import FormData

from api import casework
from api.access import (
    CaseAction, cover_of, customer_visibility, find_case, find_customer, reads_timeline, require, require_quoter,
)
from api.auth import issue_token
from api.casework import StaffAction
from api.console import session as web
from api.console.forms import REFUSALS, FieldProblem, Problem, problem, refusal_status
from api.console.i18n import WINDOW_DAYS, translator
from api.sign_in import checked_sign_in
from api.deps import NotifierDep, NowDep, SessionDep, SettingsDep, TemporalDep
from api.errors import ApiError
from api.schemas import (
    CaseStatus, CloseIn, ContactIn, CustomerContactsIn, CustomerPhoneIn, CustomerView, FollowUpIn, LossReasonIn,
    PersonIn, PhoneUnreachableIn, QuoteConfigIn, ReassignIn, ReassignReason, RenewedElsewhereIn, ResolveAttentionIn,
    SmsIn, SmsOut,
)
from api.views import (
    CASE_SORTS, case_cards, case_view, cases_in_scope, customer_view, due_today, search_cases, todo_panel,
)
from models import ContactRecord, Policy, QuoteWish, RenewalCase, Role, SigningIntent, Staff, Task, TaskState, Vehicle
from renewals.case.calendar import call_refusal, customer_sms_time, t_day
from renewals.case.contract import Stage
from renewals.case.stages import STAGE_TABLE
from renewals.case.start import CaseRejected
from renewals.case.labels import LOSS_REASON_CHOICES
from renewals.intake.policy_file import people, phone_list
from renewals.core.settings import Settings
from renewals.org.service import sign_out_everywhere
from renewals.quotes.rules import QuoteChannel, RefusalCode
from renewals.quotes.service import (
    case_today, checked_setup, confirm_vehicle_model, make_quote, save_setup, staff_setup,
)
from renewals.quotes.vehicle_models import search_vehicle_models
from renewals.case import contract as c
from renewals.case import staff_rules

TEMPLATES = Path(__file__).resolve().parents[2] / "templates" / "console"
STATIC = Path(__file__).resolve().parent / "static"
templates = Jinja2Templates(directory=TEMPLATES)


def _fingerprint(name: str) -> str:
    """A static file's address names its content, so browsers may keep it for good (api.console.install)."""
    return f"/app/static/{name}?v={hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:12]}"


STATIC_URLS = {name: _fingerprint(name) for name in ("console.css",)}
# Each rendered form gets a key of its own, sent as the action's Idempotency-Key: the same form sent
# again (a lost answer, a "try again" past the action's deadline) is applied once.
ACTION_KEY_FIELD = "action_key"
templates.env.globals.update(t_day=t_day, WINDOW_DAYS=WINDOW_DAYS, ACTION_KEY_FIELD=ACTION_KEY_FIELD,
                             new_action_key=lambda: uuid.uuid4().hex, static=STATIC_URLS)

router = APIRouter(prefix="/app", include_in_schema=False)

HOME = {Role.sales: "/app/tasks", Role.deputy: "/app/tasks", Role.admin: "/app/admin",
        Role.manager: "/app/manager", Role.auditor: "/app/audit"}
# The way back to one's home from a case: (its path, its words).
BACK = {Role.sales: (HOME[Role.sales], "back"), Role.deputy: (HOME[Role.deputy], "back"),
        Role.admin: (HOME[Role.admin], "back_admin"), Role.manager: (HOME[Role.manager], "back_manager"),
        Role.auditor: (HOME[Role.auditor], "back_audit")}
# (path under /app, its words)
NAV = {
    Role.sales: (("tasks", "tasks"), ("cases", "cases")),
    Role.deputy: (("tasks", "tasks"), ("supervision", "supervision"), ("cases", "cases")),
    Role.admin: (("admin", "admin_page"), ("admin/templates", "sms_templates"), ("cases", "cases")),
    Role.manager: (("manager", "manager_page"), ("cases", "cases")),
    Role.auditor: (("audit", "audit_home"), ("cases", "cases")),
}


def _local(value: datetime | None, zone: str, fmt: str = "%m-%d %H:%M") -> str:
    return value.astimezone(ZoneInfo(zone)).strftime(fmt) if value else ""


def _deadline(value: datetime, zone: str) -> str:
    """A task due at the end of its day reads as that day's 24:00, not the next day's 00:00."""
    local = value.astimezone(ZoneInfo(zone))
    if (local.hour, local.minute) == (0, 0):
        return f"{local - timedelta(days=1):%m-%d} 24:00"
    return f"{local:%m-%d %H:%M}"


def _in_language(text: str, lang: str) -> str:
    """One side of a "中文 / English" text written for both (what to do, a score's reasons)."""
    return text.split(" / ")[0 if lang == "zh" else -1]


templates.env.filters.update(local=_local, deadline=_deadline, in_language=_in_language)


def render(request: Request, template: str, *, staff: Staff | None = None, status: int = 200,
           **context: Any) -> Response:
    settings: Settings = request.app.state.settings
    lang = web.language(request)
    token, fresh_nonce = web.form_token(request, settings)
    context.setdefault("problem", None)
    context.update(staff=staff, t=translator(lang), lang=lang, csrf=token, csrf_field=web.CSRF_FIELD,
                   tz=settings.timezone, nav=NAV.get(staff.role, ()) if staff else (), path=request.url.path,
                   back=BACK[staff.role] if staff else None)
    response = templates.TemplateResponse(request, template, context, status_code=status)
    if fresh_nonce:
        web.give_nonce(response, settings, fresh_nonce)
    response.headers["Cache-Control"] = "no-store"  # pages carry customer data
    return response


# Refusals a page answers in the reader's words whatever the API's reason.
_STATUS_WORDS = {403: "forbidden", 404: "page_not_found"}


def refusal_page(request: Request, staff: Staff | None, status: int, message: str) -> Response:
    if status in _STATUS_WORDS:
        message = translator(web.language(request))(_STATUS_WORDS[status])
    return render(request, "message.html", staff=staff, status=status, title_key="refused_title", message=message)


async def _form(request: Request, settings: Settings) -> FormData:
    form = await request.form()
    web.check_csrf(request, form, settings)
    return form


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def form_text(form: FormData, name: str) -> str | None:
    """A form field as the API's bodies take it: an empty field is a field not given."""
    value = form.get(name)
    return value if isinstance(value, str) and value != "" else None


def forbidden(request: Request, staff: Staff) -> Response:
    return refusal_page(request, staff, 403, "")


# --- signing in ------------------------------------------------------------------------------------


@router.get("")
@router.get("/")
def home(staff: web.ConsoleStaff) -> RedirectResponse:
    return _redirect(HOME[staff.role])


@router.get("/sign-in")
def sign_in_page(request: Request) -> Response:
    return render(request, "sign_in.html")


@router.post("/sign-in")
async def sign_in(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    form = await _form(request, settings)
    username, password = str(form.get("username", ""))[:64], str(form.get("password", ""))[:256]
    try:
        staff = await checked_sign_in(request, session, settings, username, password)
    except ApiError as refused:
        page = render(request, "sign_in.html", status=refused.status, error=True, username=username)
        page.headers.update(refused.headers or {})  # a throttled sign-in says when to try again
        return page
    token, _ = issue_token(staff, settings)
    response = _redirect(HOME[staff.role])
    web.start_session(response, settings, token)
    return response


@router.post("/sign-out")
async def sign_out(request: Request, staff: web.ConsoleStaff, session: SessionDep, settings: SettingsDep) -> Response:
    await _form(request, settings)
    await run_in_threadpool(sign_out_everywhere, session, staff)  # every session of theirs, not just this cookie
    response = _redirect("/app/sign-in")
    web.end_session(response)
    return response


@router.get("/language/{language}")
def choose_language(language: str, request: Request, settings: SettingsDep, next: str = "/app") -> Response:
    # Only back into the console: never an open redirect.
    target = next if next.startswith("/app") and not next.startswith("//") else "/app"
    response = _redirect(target)
    if language in web.LANGUAGES:
        web.set_language(response, settings, language)
    return response


# --- the to-do panel ---------------------------------------------------------------------------------


def _done_today(session: Session, staff: Staff, settings: Settings, now: datetime) -> int:
    zone = ZoneInfo(settings.timezone)
    day_start = datetime.combine(now.astimezone(zone).date(), time(0), tzinfo=zone)
    return session.exec(select(func.count()).select_from(Task).where(
        Task.handled_by == staff.id, Task.handled_at >= day_start, Task.handled_at < day_start + timedelta(days=1),
    )).one()


@router.get("/tasks")
async def tasks_page(request: Request, staff: web.ConsoleStaff, session: SessionDep, settings: SettingsDep,
                     now: NowDep) -> Response:
    page = await run_in_threadpool(lambda: todo_panel(session, staff, settings, now, own_in_full=True))
    done = await run_in_threadpool(_done_today, session, staff, settings, now)
    return render(request, "tasks.html", staff=staff, page=page, cards=case_cards(page), counts={
        "missed": sum(item.missed for item in page.items), "due": due_today(page, settings.timezone),
        "done_today": done})


# --- cases -----------------------------------------------------------------------------------------------


CASE_ROWS = 50


def _choice(value: str | None, choices) -> str | None:
    """A query's choice when it is one of `choices`; anything else is no filter (a stale link still works)."""
    return value if value in choices else None


@router.get("/cases")
async def cases_page(request: Request, staff: web.ConsoleStaff, session: SessionDep) -> Response:
    query = request.query_params
    asked = {"q": (query.get("q") or "").strip()[:64], "stage": _choice(query.get("stage"), set(Stage)),
             "status": _choice(query.get("status"), set(CaseStatus)), "sort": _choice(query.get("sort"), CASE_SORTS)}
    page = max(1, min(int(query["page"]) if query.get("page", "").isdigit() else 1, 10_000))
    rows, total = await run_in_threadpool(lambda: search_cases(
        session, staff, q=asked["q"] or None, stage=asked["stage"] and Stage(asked["stage"]),
        status=asked["status"] and CaseStatus(asked["status"]), sort=asked["sort"] or "expiry",
        limit=CASE_ROWS, offset=(page - 1) * CASE_ROWS))
    link = {name: value for name, value in asked.items() if value}
    return render(request, "cases.html", staff=staff, title_key="cases", rows=rows, total=total, asked=asked,
                  page=page, pages=max(1, -(-total // CASE_ROWS)), link=link, stages=list(Stage),
                  statuses=list(CaseStatus), sorts=list(CASE_SORTS))


@dataclass(frozen=True)
class Allowed:
    """What the case page offers the reader now: what the workflow's validators (renewals.case.staff_rules)
    would accept. The workflow and api.access still decide when the form is sent."""

    contact: bool
    sms: bool
    follow_up: tuple[str, ...]
    renewed_elsewhere: bool
    loss_reason: bool
    phone: bool

    @property
    def quote(self) -> bool:
        """Quoting goes with working the case: calling or texting the customer."""
        return self.contact or self.sms


def allowed_actions(staff: Staff, case: RenewalCase, state: c.CaseState | None,
                    covering_for: uuid.UUID | None = None) -> Allowed:
    """`covering_for`: the absent manager whose turn a cover works in (api.access.cover_of)."""
    if state is None or state.outcome or staff.role not in (Role.sales, Role.deputy):
        return Allowed(False, False, (), False, False, False)
    acts_as = covering_for or staff.id
    return Allowed(
        contact=staff_rules.contact_refusal(acts_as, state) is None,
        sms=staff_rules.sms_refusal(acts_as, state) is None,
        follow_up=tuple(s.value for s in (c.FollowUpStatus.success, c.FollowUpStatus.failed, c.FollowUpStatus.continue_)
                        if staff_rules.follow_up_refusal(acts_as, s, state) is None),
        renewed_elsewhere=staff_rules.renewed_elsewhere_refusal(acts_as, state) is None,
        loss_reason=staff_rules.loss_reason_refusal(acts_as, state) is None,
        phone=staff.id == case.owner_id,
    )


def _timeline(session: Session, case: RenewalCase, view: CustomerView) -> list[dict[str, Any]]:
    """Contacts (with their notes), other notes and the tasks no longer open, newest first."""
    items: list[dict[str, Any]] = [
        {"at": contact.at, "kind": contact.channel, "what": contact.result or contact.template,
         "detail": contact.number, "status": contact.delivery_status, "text": contact.note}
        for contact in view.contacts if contact.case_id == case.id
    ]
    with_contact = set(session.exec(select(ContactRecord.note_id).where(
        ContactRecord.case_id == case.id, ContactRecord.note_id.is_not(None))).all())
    items += [{"at": note.created_at, "kind": "note", "text": note.body} for note in view.notes
              if note.case_id == case.id and note.id not in with_contact]
    tasks = session.exec(select(Task).where(Task.case_id == case.id, Task.state != TaskState.open)).all()
    items += [{"at": task.handled_at or task.due_at, "kind": f"task_kind.{task.kind}", "day": task.day,
               "what": task.handled_result, "status": str(task.state)} for task in tasks]
    return sorted(items, key=lambda item: item["at"], reverse=True)


def _case_data(session: Session, staff: Staff, case: RenewalCase, customer_id: uuid.UUID, today: date,
               now: datetime) -> dict[str, Any]:
    customer = find_customer(session, staff, customer_id, now)
    view = customer_view(session, customer, customer_visibility(session, staff, customer), today)
    people = {s.id: s for s in session.exec(select(Staff).where(Staff.id.in_([case.owner_id, case.deputy_id])))}
    policy = session.get(Policy, case.policy_id)
    return {"customer": view, "owner": people.get(case.owner_id), "deputy": people.get(case.deputy_id),
            "quotes": [quote for quote in view.quotes if quote.case_id == case.id],
            "policy": policy, "vehicle": session.get(Vehicle, policy.vehicle_id),
            "quote_setup": staff_setup(session, staff.id), "timeline": _timeline(session, case, view),
            "sms_after_contact": _sms_after_contact(session, case, today), "audit_link": reads_timeline(staff, case),
            "reassign_to": _reassign_to(session, case) if staff.role == Role.admin else []}


def _reassign_to(session: Session, case: RenewalCase) -> list[Staff]:
    """Who an admin can give the case to: the other active service managers of its sub-branch
    (the case's workflow and renewals.ownership check again)."""
    return list(session.exec(select(Staff).where(
        Staff.sub_branch_id == case.sub_branch_id, Staff.role == Role.sales, Staff.active, Staff.id != case.owner_id,
    ).order_by(Staff.name)).all())


def _sms_after_contact(session: Session, case: RenewalCase, today: date) -> list[tuple[str, bool]]:
    """In the final week, once today's contact handled the day's task: each SMS the seed asks for
    after it, and whether it was sent. Empty before the contact and in other stages."""
    templates = STAGE_TABLE[case.stage].sms_after_contact
    task = session.exec(select(Task).where(Task.case_id == case.id, Task.stage == case.stage, Task.kind == "call",
                                           Task.day == (today - case.expiry_date).days,
                                           Task.state == TaskState.done)).first() if templates else None
    return [(template, getattr(task, f"{template}_sms_sent")) for template in templates] if task else []


async def _show_case(request: Request, staff: Staff, session: Session, client, now: datetime, case_id: uuid.UUID,
                     *, status: int = 200, refused: Problem | None = None) -> Response:
    try:
        case = await run_in_threadpool(find_case, session, staff, case_id, now)
    except ApiError as exc:
        return refusal_page(request, staff, exc.status, exc.message)
    covering_for = await run_in_threadpool(cover_of, session, staff, case, now)
    acts_as = covering_for or staff.id
    view = await case_view(case, session, client, now)
    today = case_today(case, now)
    data = await run_in_threadpool(_case_data, session, staff, case, view.customer_id, today, now)
    state = view.state
    sms_at = customer_sms_time(now, case.timezone)
    model_query = (request.query_params.get("model_q") or "").strip()[:64]
    models = await run_in_threadpool(search_vehicle_models, session, model_query, 10) if model_query else []
    # Post/redirect/get: what the last action did is shown once, not again on a reload.
    done, done_at = (None, "") if refused else web.take_done(request)
    page = render(
        request, "case.html", staff=staff, status=status, case=case, state=state, problem=refused,
        allowed=allowed_actions(staff, case, state, covering_for), today=t_day((today - case.expiry_date).days),
        my_tasks=[task for task in (state.open_tasks if state else []) if task.assignee_id == acts_as],
        covering=covering_for is not None,
        sms_held_until=sms_at if sms_at > now else None, call_refusal=call_refusal(now, case.timezone),
        done=done if done in _DONE else None, done_at=done_at, model_query=model_query, models=models,
        channels=list(QuoteChannel), enums=_ENUM_CHOICES, **_ADMIN_CHOICES, **data,
    )
    if done:
        web.forget_done(page)
    return page


@router.get("/cases/{case_id}")
async def case_page(case_id: uuid.UUID, request: Request, staff: web.ConsoleStaff, session: SessionDep,
                    client: TemporalDep, now: NowDep) -> Response:
    return await _show_case(request, staff, session, client, now, case_id)


# --- actions: the API's own, fed from the form ---------------------------------------------------------


@dataclass
class _Context:
    form: FormData
    staff: Staff
    case: RenewalCase
    session: Session
    client: Any
    settings: Settings
    notifier: Any
    now: datetime
    pricing: Any

    def get(self, name: str) -> str | None:
        return form_text(self.form, name)

    def casework(self) -> StaffAction:
        require(self.staff, self.case, CaseAction.casework, cover_of(self.session, self.staff, self.case, self.now))
        return self.action()

    def action(self) -> StaffAction:
        key = self.get(ACTION_KEY_FIELD)
        return StaffAction(self.case, self.staff, self.session, self.client, self.now,
                                       key if key and re.fullmatch(r"[0-9a-f]{32}", key) else None)


# Each action answers (what was done, a detail to show).
Action = Callable[[_Context], Awaitable[tuple[str, str]]]


async def _contacts(x: _Context) -> tuple[str, str]:
    if x.get("result") == c.ContactResult.do_not_contact and x.get("confirm") != "1":
        raise FieldProblem("confirm", "confirm_do_not_contact")
    body = ContactIn(channel=x.get("channel"), result=x.get("result"), quote_wish=x.get("quote_wish"),
                     signing_intent=x.get("signing_intent"), note=x.get("note"))
    await casework.record_contact(x.casework(), body, x.settings.do_not_call_days)
    return "contacts", ""


async def _follow_up(x: _Context) -> tuple[str, str]:
    if x.get("status") == c.FollowUpStatus.success and not x.get("new_policy_no"):
        raise FieldProblem("new_policy_no", "new_policy_no")  # before asking the case, which says the same
    body = FollowUpIn(status=x.get("status"), note=x.get("note"), new_policy_no=x.get("new_policy_no"))
    await casework.set_follow_up(x.casework(), body)
    return "follow-up", ""


async def _renewed_elsewhere(x: _Context) -> tuple[str, str]:
    if x.get("confirm") != "1":  # it stops every call and SMS to the customer
        raise FieldProblem("confirm", "confirm_renewed_elsewhere")
    body = RenewedElsewhereIn(insurer=x.get("insurer"), reason=x.get("reason"), note=x.get("note"))
    await casework.report_renewed_elsewhere(x.casework(), body)
    return "renewed-elsewhere", ""


async def _loss_reason(x: _Context) -> tuple[str, str]:
    body = LossReasonIn(reason=x.get("reason"), note=x.get("note"))
    await casework.record_loss_reason(x.casework(), body)
    return "loss-reason", ""


async def _sms(x: _Context) -> tuple[str, str]:
    body = SmsIn(template=x.get("template"), quote_id=x.get("quote_id"))
    sent = await casework.send_sms(x.casework(), body, x.settings)
    if sent.status == "sent":
        return "sms", ""
    return f"sms_{sent.status}", _local(sent.send_at, x.case.timezone, "%Y-%m-%d %H:%M")


async def _call(x: _Context) -> tuple[str, str]:
    placed = await casework.place_call(x.casework(), x.settings, x.notifier)
    return "call", placed.masked_number or ""


async def _customer_phone(x: _Context) -> tuple[str, str]:
    require(x.staff, x.case, CaseAction.customer_phone)
    body = CustomerPhoneIn(phone=x.get("phone") or "", note=x.get("note"))
    await casework.correct_phone(x.session, x.client, x.case, x.staff, body)
    return "customer-phone", ""


async def _phone_unreachable(x: _Context) -> tuple[str, str]:
    require(x.staff, x.case, CaseAction.customer_phone)
    body = PhoneUnreachableIn(note=x.get("note") or "")
    await casework.mark_phone_unreachable(x.session, x.client, x.case, x.staff, body)
    return "phone-unreachable", ""


async def _quote_config(x: _Context) -> tuple[str, str]:
    require_quoter(x.staff)
    body = QuoteConfigIn(channel=x.get("channel"), group_buy_id=x.get("group_buy_id"),
                         online_account=x.get("online_account"))
    setup = checked_setup(body.channel, body.group_buy_id, body.online_account)
    await run_in_threadpool(save_setup, x.session, x.staff.id, setup)
    return "quote-config", ""


async def _vehicle_model(x: _Context) -> tuple[str, str]:
    action = x.casework()
    _, model = await run_in_threadpool(confirm_vehicle_model, x.session, action.case, x.get("model_code") or "",
                                       x.staff.id, x.now)
    return "vehicle-model", model.code


_QUOTE_REFUSALS = frozenset(RefusalCode)


async def _quote(x: _Context) -> tuple[str, str]:
    action = x.casework()
    channel = x.get("channel")
    # The cover checkboxes send nothing when all are cleared: the marker tells that from "not asked".
    coverages = [value for value in x.form.getlist("coverages") if isinstance(value, str)] \
        if x.get("coverages_given") else None
    try:
        await run_in_threadpool(make_quote, x.session, x.settings, x.pricing, action.case, x.staff.id,
                                QuoteChannel(channel) if channel in set(QuoteChannel) else None, coverages, x.now)
    except (ApiError, CaseRejected) as refused:
        if getattr(refused, "code", None) not in _QUOTE_REFUSALS:
            raise
        return "quote-refused", ""  # the refused attempt is kept and listed with its reasons
    return "quote", ""


def _listed(field: str, parse: Callable[[str], list], text: str | None) -> list:
    """A console field holding several entries (one per line or separated by ';'), parsed as an import
    file's column is."""
    try:
        return parse(text) if text else []
    except ValueError as exc:
        raise ApiError(422, f"{field}: {exc}", field=field) from None


async def _customer_contacts(x: _Context) -> tuple[str, str]:
    require(x.staff, x.case, CaseAction.customer_phone)
    proxy = [x.get(f"proxy_{part}") for part in ("name", "relation", "phone")]
    body = CustomerContactsIn(
        proxy=PersonIn(name=proxy[0] or "", relation=proxy[1] or "", phone=proxy[2]) if any(proxy) else None,
        family=[PersonIn(**member) for member in _listed("family", people, x.get("family"))],
        other_phones=_listed("other_phones", phone_list, x.get("other_phones")))
    await run_in_threadpool(casework.save_customer_contacts, x.session, x.case, body)
    return "customer-contacts", ""


async def _close(x: _Context) -> tuple[str, str]:
    require(x.staff, x.case, CaseAction.administer)
    if x.get("confirm") != "1":  # it ends the case: no more calls, SMS or tasks
        raise FieldProblem("confirm", "confirm_close")
    body = CloseIn(reason=x.get("reason"), note=x.get("note"))
    await casework.close_case(x.action(), body)
    return "close", ""


async def _reassign(x: _Context) -> tuple[str, str]:
    require(x.staff, x.case, CaseAction.administer)
    body = ReassignIn(new_owner_id=x.get("to"), reason=x.get("reason"), note=x.get("note"))
    await casework.reassign(x.action(), body)
    return "reassign", ""


async def _resolve_attention(x: _Context) -> tuple[str, str]:
    require(x.staff, x.case, CaseAction.administer)
    body = ResolveAttentionIn(note=x.get("note"))
    await casework.resolve_attention(x.action(), body)
    return "resolve-attention", ""


_ACTIONS: dict[str, Action] = {
    "contacts": _contacts, "follow-up": _follow_up, "renewed-elsewhere": _renewed_elsewhere,
    "loss-reason": _loss_reason, "sms": _sms, "call": _call, "customer-phone": _customer_phone,
    "customer-contacts": _customer_contacts,
    "phone-unreachable": _phone_unreachable, "resolve-attention": _resolve_attention, "close": _close,
    "reassign": _reassign,
    "quote-config": _quote_config, "vehicle-model": _vehicle_model, "quote": _quote,
}
# What a redirect's ?done= may name: an action, or an SMS that did not go out at once (see _sms).
_DONE = frozenset(_ACTIONS) | {"quote-refused"} | {f"sms_{status}" for status in get_args(SmsOut.model_fields["status"].annotation)
                               if status != "sent"}
_ENUM_CHOICES = {
    "channels": [ch.value for ch in c.Channel], "results": [r.value for r in c.ContactResult],
    "quote_wishes": [w.value for w in QuoteWish], "signing_intents": [i.value for i in SigningIntent],
    "loss_reasons": [r.value for r in LOSS_REASON_CHOICES],
    "templates": [tpl.value for tpl in c.StaffSmsTemplate],
    "insurers": [i.value for i in c.Insurer],
}
_ADMIN_CHOICES = {"close_reasons": [r.value for r in c.CloseReason],
                  "reassign_reasons": [r.value for r in ReassignReason]}


def _invalid(exc: ValidationError) -> str:
    first = exc.errors()[0]
    field = ".".join(str(part) for part in first.get("loc", ()))
    return f"{field}: {first.get('msg', 'invalid')}" if field else first.get("msg", "invalid")


@router.post("/cases/{case_id}/{action}")
async def case_action(case_id: uuid.UUID, action: str, request: Request, staff: web.ConsoleStaff,
                      session: SessionDep, client: TemporalDep, settings: SettingsDep, notifier: NotifierDep,
                      now: NowDep) -> Response:
    form = await _form(request, settings)
    run = _ACTIONS.get(action)
    if run is None:
        return refusal_page(request, staff, 404, "")
    try:
        case = await run_in_threadpool(find_case, session, staff, case_id, now)
    except ApiError as exc:
        return refusal_page(request, staff, exc.status, exc.message)
    try:
        done, detail = await run(_Context(form, staff, case, session, client, settings, notifier, now,
                                          request.app.state.pricing))
    except REFUSALS as exc:
        # Shown again with the reason next to its field and everything typed still there.
        refused = problem(exc, translator(web.language(request)), action, form)
        return await _show_case(request, staff, session, client, now, case_id, status=refusal_status(exc),
                                refused=refused)
    response = _redirect(f"/app/cases/{case_id}#result")
    web.tell_done(response, settings, done, detail)
    return response


# --- the deputy's page -------------------------------------------------------------------


def _complaints(session: Session, staff: Staff) -> list[tuple[Task, str]]:
    return list(session.exec(
        select(Task, RenewalCase.policy_no).join(RenewalCase, RenewalCase.id == Task.case_id)
        .where(Task.assignee_id == staff.id, Task.kind == "complaint", Task.state == TaskState.open,
               RenewalCase.outcome.is_(None))
        .order_by(Task.due_at)
    ).all())


@router.get("/supervision")
async def supervision_page(request: Request, staff: web.ConsoleStaff, session: SessionDep) -> Response:
    if staff.role != Role.deputy:
        return forbidden(request, staff)
    supervised = await run_in_threadpool(cases_in_scope, session, staff, stage=Stage.DEPUTY_SUPERVISION,
                                         status=CaseStatus.open, limit=200)
    complaints = await run_in_threadpool(_complaints, session, staff)
    return render(request, "supervision.html", staff=staff, cases=supervised.items, complaints=complaints)
