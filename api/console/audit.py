"""The auditor's console: their home (find a case, open its audit timeline) and a case's audit
timeline, the same events as the API's GET /cases/{id}/timeline (renewals.audit.timeline), masked
for the reader as the API masks them, in the page's language."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool

from api.access import find_case, identity_visible, require_timeline_reader
from api.console import session as web
from api.console.i18n import translator
from api.console.routes import forbidden, refusal_page, render
from api.deps import NowDep, SessionDep, TemporalDep, release
from api.errors import ApiError
from api.views import search_cases
from models import Role
from renewals.audit.archive import HistoryNotFound, case_timeline
from renewals.audit.timeline import Actor, TimelineEvent

router = APIRouter(prefix="/app", include_in_schema=False)

AUDIT_ROWS = 20


@router.get("/audit")
async def audit_home(request: Request, staff: web.ConsoleStaff, session: SessionDep) -> Response:
    """Find a case by policy number or plate (the latest to expire first) and open its timeline."""
    if staff.role != Role.auditor:
        return forbidden(request, staff)
    q = (request.query_params.get("q") or "").strip()[:64]
    rows, total = await run_in_threadpool(lambda: search_cases(session, staff, q=q or None, sort="-expiry",
                                                               limit=AUDIT_ROWS))
    return render(request, "home_audit.html", staff=staff, rows=rows, total=total, q=q)


@router.get("/cases/{case_id}/timeline")
async def timeline_page(case_id: uuid.UUID, request: Request, staff: web.ConsoleStaff, session: SessionDep,
                        client: TemporalDep, now: NowDep) -> Response:
    try:
        case = await run_in_threadpool(find_case, session, staff, case_id)
        require_timeline_reader(staff, case)
    except ApiError as exc:
        return refusal_page(request, staff, exc.status, exc.message)
    await release(session)
    try:
        timeline = await case_timeline(client, session.get_bind(), case.workflow_id,
                                       identities_masked=not identity_visible(staff), now=now)
    except HistoryNotFound:
        return refusal_page(request, staff, 404, "")
    t = translator(web.language(request))
    events = [{"event": event, "actor": _actor(event.actor, t), "what": _what(event, t)}
              for event in timeline.events]
    return render(request, "timeline.html", staff=staff, case=case, timeline=timeline, events=events)


def _actor(actor: Actor, t: Callable[..., str]) -> str:
    if actor.component:
        return t(f"component.{actor.component}")
    return " ".join(part for part in (t(actor.role), actor.name) if part)


def _words(t: Callable[..., str], *parts: object) -> str:
    return " · ".join(t(str(part)) for part in parts if part not in (None, ""))


def _what(event: TimelineEvent, t: Callable[..., str]) -> str:
    """What happened, in the reader's words; the builder's own summary for what has none."""
    d = event.details
    match event.kind:
        case "stage_entered":
            return t(event.stage)
        case "escalated" | "history_archived":
            return ""
        case "case_started":
            return f"{t('expiry')} {d.get('expiry_date', '')}"
        case "outcome":
            return _words(t, event.stage, d.get("reason"), d.get("new_policy_no"), d.get("lost_to_insurer"))
        case "staff_action" | "staff_action_refused":
            asked = [value for name, value in d.get("request", {}).items() if name != "note"]
            what = _words(t, f"action.{d['action']}", *asked)
            if event.kind == "staff_action_refused":
                return f"{what}: {d['reason']}"
            if d.get("failed"):
                return f"{what}: {d['failed']}"
            covering = d.get("covering_for")
            if covering:
                what = _words(t, what, "covering", covering.get("name") or covering.get("id"))
            return what + (f" → {t(d['resulting_stage'])}" if d.get("resulting_stage") else "")
        case "system_action":
            return t(f"action.{d['signal']}")
        case "sms":
            return _words(t, d.get("template"), d.get("recipient"), d.get("status"), d.get("to"), d.get("delivery"))
        case "call":
            return _words(t, d.get("to"), d.get("customer_leg"))
        case "task_opened" | "task_handled" | "task_missed" | "task_cancelled":
            return _words(t, f"task_kind.{d['task']}", d.get("result"))
        case "expiry_changed":
            return f"{d.get('old', '')} → {d.get('new_expiry_date', '')}"
    return event.summary
