"""Audit: a case's timeline and its raw Temporal history, from Temporal while it keeps
the history and from the audit archive after retention deleted it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from api.access import ReadableCase, identity_visible, require_timeline_reader
from api.deps import CurrentStaff, NowDep, SessionDep, TemporalDep, release
from api.errors import ApiError, error_responses
from models import RenewalCase, Role
from renewals.audit.archive import HistoryNotFound, case_timeline, load_history
from renewals.audit.timeline import Timeline

router = APIRouter(prefix="/cases", tags=["audit"])

_STAFF = {"role": "sales", "id": "22568f00-43c6-4f04-9002-09c59efcd270", "name": "李*", "component": None}
TIMELINE_EXAMPLE = {
    "workflow_id": "renewal-PDAA444048033686-20470314", "case_id": "e82f9dac-0952-5de2-a47b-073ed68c1d44",
    "policy_no": "PDAA444048033686", "expiry_date": "2047-03-14", "timezone": "Asia/Shanghai",
    "history_from": "archive", "outcome": "RENEWED",
    "events": [
        {"at": "2047-02-24T02:00:00Z", "local_time": "2047-02-24 10:00", "day": -18, "t_day": "T-18",
         "kind": "staff_action", "actor": _STAFF, "stage": "THIRD_CONTACT", "summary": "set_follow_up(status=failed)",
         "details": {"action": "set_follow_up", "request": {"status": "failed"}, "resulting_stage": "THIRD_CONTACT"}},
        {"at": "2047-03-04T01:00:00Z", "local_time": "2047-03-04 09:00", "day": -10, "t_day": "T-10",
         "kind": "escalated", "actor": {"role": "system", "id": None, "name": None, "component": "workflow"},
         "stage": "DEPUTY_SUPERVISION", "summary": "escalated to the deputy (follow-up status failed)",
         "details": {}},
        {"at": "2047-03-04T01:00:00Z", "local_time": "2047-03-04 09:00", "day": -10, "t_day": "T-10",
         "kind": "sms", "actor": {"role": "system", "id": None, "name": None, "component": "workflow"},
         "stage": "DEPUTY_SUPERVISION", "summary": "SMS deputy_escalation to the deputy manager",
         "details": {"template": "deputy_escalation", "recipient": "deputy", "status": "sent",
                     "to": "139****0021", "delivery": "delivered"}},
    ],
}
HISTORY_EXAMPLE = {"events": [{"eventId": "1", "eventTime": "2047-01-11T03:00:00.041Z",
                               "eventType": "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED",
                               "workflowExecutionStartedEventAttributes": {"workflowType": {"name": "PolicyRenewal"}}}]}


def timeline_case(case: ReadableCase, staff: CurrentStaff) -> RenewalCase:
    require_timeline_reader(staff, case)
    return case


def audited_case(case: ReadableCase, staff: CurrentStaff) -> RenewalCase:
    if staff.role != Role.auditor:
        raise ApiError(403, "only auditors can export a case's raw history")
    return case


def _not_found(exc: HistoryNotFound) -> ApiError:
    return ApiError(404, str(exc))


@router.get(
    "/{case_id}/timeline", response_model=Timeline,
    responses={200: {"content": {"application/json": {"example": TIMELINE_EXAMPLE}}},
               **error_responses(401, 403, 404, 422)},
    summary="The case's audit timeline: every event in order, with local time, T-day and who did it",
    description="Stage changes, tasks opened/handled/missed/cancelled, SMS (template, recipient, delivery), "
                "calls, staff actions accepted or refused (with the reason), escalations, expiry changes and the "
                "outcome. Phones are masked; auditors also see staff names masked. Read from Temporal while it "
                "keeps the history, from the audit archive after (`history_from`).",
)
async def get_timeline(case: Annotated[RenewalCase, Depends(timeline_case)], staff: CurrentStaff,
                       session: SessionDep, client: TemporalDep, now: NowDep) -> Timeline:
    await release(session)
    try:
        return await case_timeline(client, session.get_bind(), case.workflow_id,
                                   identities_masked=not identity_visible(staff), now=now)
    except HistoryNotFound as exc:
        raise _not_found(exc) from None


@router.get(
    "/{case_id}/history.json",
    responses={200: {"content": {"application/json": {"example": HISTORY_EXAMPLE}}},
               **error_responses(401, 403, 404, 422)},
    summary="The case's raw Temporal history (auditors): what `temporal workflow show --output json` prints",
    description="Read it with `WorkflowHistory.from_json` or replay it with `renewals audit replay FILE`.",
)
async def get_history(case: Annotated[RenewalCase, Depends(audited_case)], session: SessionDep,
                      client: TemporalDep) -> Response:
    await release(session)
    try:
        loaded = await load_history(client, session.get_bind(), case.workflow_id)
    except HistoryNotFound as exc:
        raise _not_found(exc) from None
    return Response(loaded.history.to_json(), media_type="application/json",
                    headers={"Content-Disposition": f'attachment; filename="{case.workflow_id}.json"',
                             "X-History-From": loaded.source})
