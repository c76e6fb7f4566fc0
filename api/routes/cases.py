"""Renewal cases: read them, and every staff action on one (api.casework runs them). Each workflow
action answers 409 with the validator's reason when the case's stage does not allow it."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Query, Response

from api import casework
from api.access import CaseForPhone, ReadableCase
from api.casework import Administration, Casework
from api.deps import CurrentStaff, NotifierDep, NowDep, SessionDep, SettingsDep, TemporalDep
from api.errors import error_responses
from api.inputs import Limit, Offset
from api.schemas import (
    CallOut, CasePage, CaseStatus, CaseView, CloseIn, ContactIn, CustomerContactsIn, CustomerContactsOut,
    CustomerPhoneIn, CustomerPhoneOut, FollowUpIn, LossReasonIn, PhoneUnreachableIn, ReassignIn, RenewedElsewhereIn,
    ResolveAttentionIn, SmsIn, SmsOut, state_responses,
)
from api.views import case_view, cases_in_scope
from renewals.case.contract import Outcome, Stage
from renewals.case import contract as c

router = APIRouter(prefix="/cases", tags=["cases"])

ACTION_ERRORS = error_responses(401, 403, 404, 409, 422)
SMS_RESPONSES = {202: {"description": "held for quiet hours (21:00-08:00 local); goes out at send_at",
                       "content": {"application/json": {"example": {"status": "held",
                                                                     "send_at": "2026-02-12T00:00:00Z"}}}},
                 **ACTION_ERRORS}


# --- reading ---------------------------------------------------------------------------------------


@router.get("", summary="Cases in my scope, filtered and paged", response_model=CasePage,
            responses=error_responses(401, 422))
def list_cases(staff: CurrentStaff, session: SessionDep, stage: Stage | None = None,
               status: CaseStatus | None = Query(None, description="open, or closed (any outcome)"),
               outcome: Outcome | None = None, owner: uuid.UUID | None = Query(None, description="owner's staff id"),
               limit: Limit = 50, offset: Offset = 0) -> CasePage:
    return cases_in_scope(session, staff, stage=stage, status=status, outcome=outcome, owner=owner, limit=limit,
                          offset=offset)


@router.get("/{case_id}", summary="One case: its projection row and the workflow's live state",
            response_model=CaseView, responses=error_responses(401, 403, 404, 422))
async def get_case(case: ReadableCase, session: SessionDep, client: TemporalDep, now: NowDep) -> CaseView:
    return await case_view(case, session, client, now)


# --- staff actions (workflow updates) ----------------------------------------------------------------


def case_update(action: str, summary: str):
    """The route of a staff action that answers with the case's new state."""
    return router.post(f"/{{case_id}}/{action}", summary=summary, response_model=c.CaseState,
                       responses={**state_responses(), **ACTION_ERRORS})


@case_update("contacts", "Record a contact and its result (handles the open call task) with the customer's intent "
                         "(wants or declined a quote, 签单意向); do_not_contact puts the customer on the do-not-call "
                         "list and stops the case's calls and customer SMS")
async def record_contact(body: ContactIn, act: Casework, settings: SettingsDep) -> c.CaseState:
    return await casework.record_contact(act, body, settings.do_not_call_days)


@case_update("follow-up", "Set the follow-up status: success, failed or continue")
async def set_follow_up(body: FollowUpIn, act: Casework) -> c.CaseState:
    return await casework.set_follow_up(act, body)


@case_update("renewed-elsewhere", "Report that the customer renewed with another insurer")
async def report_renewed_elsewhere(body: RenewedElsewhereIn, act: Casework) -> c.CaseState:
    return await casework.report_renewed_elsewhere(act, body)


@case_update("loss-reason", "Record why the customer renewed elsewhere (ends the case LOST); `other` needs a note")
async def record_loss_reason(body: LossReasonIn, act: Casework) -> c.CaseState:
    return await casework.record_loss_reason(act, body)


@case_update("close", "Close a case (admin): policy cancelled, vehicle scrapped or transferred")
async def close_case(body: CloseIn, act: Administration) -> c.CaseState:
    return await casework.close_case(act, body)


@case_update("resolve-attention", "Mark the case's needs-attention task done (admin), saying what was done")
async def resolve_attention(body: ResolveAttentionIn, act: Administration) -> c.CaseState:
    return await casework.resolve_attention(act, body)


@case_update("reassign", "Give the case to another service manager (admin); open tasks move")
async def reassign(body: ReassignIn, act: Administration) -> c.CaseState:
    return await casework.reassign(act, body)


@router.post(
    "/{case_id}/sms", summary="Send the customer a quote or service-request SMS (held in quiet hours)",
    response_model=SmsOut, responses=SMS_RESPONSES,
)
async def send_sms(body: SmsIn, act: Casework, response: Response, settings: SettingsDep) -> SmsOut:
    return casework.sms_answer(await casework.send_sms(act, body, settings), response)


# --- calls and phones (not workflow updates: the case is not changed by them) --------------------------


@router.post(
    "/{case_id}/call", summary="Click-to-call: your phone rings, then Twilio bridges you to the customer (recorded)",
    status_code=202, response_model=CallOut, responses={**ACTION_ERRORS, **error_responses(502)},
    description="Refused (409, with the reason) outside 09:00-21:00 in the policy's time zone, for do-not-call "
                "customers and for closed cases. You never see the customer's number: only a masked one. "
                "When Twilio cannot place the call: 502 `staff_phone_not_callable` (your own number on record "
                "cannot be called) or `call_failed`, with the reason; 503 `call_unavailable` with `Retry-After`.",
)
async def click_to_call(act: Casework, settings: SettingsDep, notifier: NotifierDep) -> CallOut:
    record = await casework.place_call(act, settings, notifier)
    return CallOut(call_sid=record.provider_id, status=record.delivery_status, dialing=record.masked_number,
                   contact_id=record.id)


@router.put("/{case_id}/customer-phone", summary="Enter a corrected phone (电话有误); only you will ever see it",
            response_model=CustomerPhoneOut, responses=ACTION_ERRORS)
async def set_customer_phone(body: CustomerPhoneIn, case: CaseForPhone, staff: CurrentStaff,
                             session: SessionDep, client: TemporalDep) -> CustomerPhoneOut:
    return await casework.correct_phone(session, client, case, staff, body)


@router.put("/{case_id}/customer-contacts", summary="Record the customer's proxy (委托人), family members and other "
            "phones (replaces what was recorded)", response_model=CustomerContactsOut, responses=ACTION_ERRORS,
            description="The case's current service manager, while the case is open. The unified customer view "
                        "shows them with their phones masked as the customer's own.")
def set_customer_contacts(body: CustomerContactsIn, case: CaseForPhone, session: SessionDep) -> CustomerContactsOut:
    return casework.save_customer_contacts(session, case, body)


@router.post("/{case_id}/phone-unreachable", summary="Record that no working number can be found for the customer: "
             "opens one find-a-working-number task for you and stops automatic customer SMS until a corrected phone",
             response_model=CustomerPhoneOut, responses=ACTION_ERRORS)
async def mark_phone_unreachable(body: PhoneUnreachableIn, case: CaseForPhone, staff: CurrentStaff,
                                 session: SessionDep, client: TemporalDep) -> CustomerPhoneOut:
    return await casework.mark_phone_unreachable(session, client, case, staff, body)
