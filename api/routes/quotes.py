"""Quotes (报价, SPEC §7): the staff member's quote configuration, quoting a case by renewal copy,
sending the quote SMS through the workflow, and the customer's acceptance (proposal 暂存单).

A quote that breaks a rule is refused with the seed's common error as its code, and the attempt is
kept, so staff can see why. Accepting records the proposal and marks the case awaiting payment; the
case renews only by `success` with the new policy number or the core system's `policy_renewed`.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter, Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import update
from sqlmodel import Session

from api.access import CaseAction, CaseForWork, ReadableCase, find_quote
from api.casework import StaffAction
from api.deps import CurrentStaff, NowDep, SessionDep, SettingsDep, TemporalDep
from api.errors import ApiError, error_responses
from api.quoting import (
    QuoteAcceptIn, QuoteConfigIn, QuoteConfigOut, QuoteIn, QuoteOut, case_today, checked_setup, make_quote, quote_out, quote_setup,
    quotes_of, require_still_quotable, save_setup, status_of,
)
from api.routes.cases import SMS_RESPONSES, send_sms
from api.schemas import SmsIn, SmsOut
from models import Note, Quote, RenewalCase, Role, Staff, StaffQuoteConfig
from renewals.quotes.pricing import PricingProvider
from renewals.quotes.rules import QuoteStatus
from renewals.core.settings import Settings
from workflows.contract import StaffSmsTemplate

router = APIRouter(tags=["quotes"])
QUOTING_ROLES = (Role.sales, Role.deputy)
REFUSED_RESPONSE = {
    **error_responses(409)[409],
    "description": "Not quotable: `code` is the seed's common error (the first, when several), `message` lists "
                   "them all; the refused attempt is kept (see Location)",
    "content": {"application/json": {"example": {"error": {
        "status": 409, "code": "vehicle_model_not_confirmed", "field": None,
        "message": "confirm the vehicle model first (查询、交互车型后才可报价): GET /vehicle-models?q=, "
                   "then POST /cases/{id}/vehicle-model"}}}},
}


def get_pricing(request: Request) -> PricingProvider:
    """The app's pricing provider (api.main): rule-based, until a real rating engine is set in its place."""
    return request.app.state.pricing


# --- my quote configuration (报价信息配置) -------------------------------------------------------------


def _config_out(config: StaffQuoteConfig | None) -> QuoteConfigOut:
    setup = quote_setup(config)
    return QuoteConfigOut(configured=setup is not None, channel=setup.channel if setup else None,
                          group_buy_id=setup.group_buy_id if setup else None,
                          online_account=setup.online_account if setup else None,
                          online_ready=bool(setup and setup.group_buy_id and setup.online_account))


@router.get("/me/quote-config", summary="My quote configuration (报价信息配置)", response_model=QuoteConfigOut,
            responses=error_responses(401))
def get_quote_config(staff: CurrentStaff, session: SessionDep) -> QuoteConfigOut:
    return _config_out(session.get(StaffQuoteConfig, staff.id))


@router.put(
    "/me/quote-config", summary="Set my quote channel; online (网销) needs the group-buy id and epicc account",
    response_model=QuoteConfigOut, responses=error_responses(401, 403, 422),
    description="Once both are configured you may quote through either channel (the quote's `channel`). "
                "A group-buy id that is not the digits of your online-sales link answers 422 with code "
                "`invalid_group_buy_id`.",
)
def put_quote_config(body: QuoteConfigIn, staff: CurrentStaff, session: SessionDep) -> QuoteConfigOut:
    if staff.role not in QUOTING_ROLES:
        raise ApiError(403, "only service managers and deputy managers quote")
    save_setup(session, staff.id, checked_setup(body))
    return _config_out(session.get(StaffQuoteConfig, staff.id))


# --- quoting a case ----------------------------------------------------------------------------------


@router.post(
    "/cases/{case_id}/quotes", status_code=201, response_model=QuoteOut,
    summary="Quote the case by renewal copy (续保复制) of last year's coverages",
    responses={**error_responses(401, 403, 404, 422), 409: REFUSED_RESPONSE},
    description="Refusal codes: `insured_elsewhere`, `vehicle_model_not_confirmed`, `channel_not_configured`, "
                "`wrong_channel`, `not_renewal_copy`, `vehicle_too_old`, `too_many_claims`, `blacklisted_customer`, "
                "`invalid_group_buy_id`, `pricing_unavailable`, `case_closed`. Premium: last premium × "
                "no-claim-discount factor × channel factor (QUOTE_NCD_FACTORS, QUOTE_CHANNEL_FACTORS).",
)
def create_quote(body: QuoteIn, case: CaseForWork, staff: CurrentStaff, session: SessionDep, settings: SettingsDep,
                 now: NowDep, pricing: PricingProvider = Depends(get_pricing)) -> QuoteOut:
    quote = make_quote(session, settings, pricing, case, staff.id, body.channel, body.coverages, now)
    return quote_out(quote, case_today(case, now))


@router.get("/cases/{case_id}/quotes", summary="The case's quotes, refused attempts included, newest first",
            response_model=list[QuoteOut], responses=error_responses(401, 403, 404, 422))
def list_quotes(case: ReadableCase, session: SessionDep, now: NowDep) -> list[QuoteOut]:
    return quotes_of(session, [case.id], case_today(case, now))


@router.get("/quotes/{quote_id}", summary="One quote", response_model=QuoteOut,
            responses=error_responses(401, 403, 404, 422))
def get_quote(quote_id: uuid.UUID, staff: CurrentStaff, session: SessionDep, now: NowDep) -> QuoteOut:
    quote = find_quote(session, staff, quote_id)
    return quote_out(quote, case_today(session.get(RenewalCase, quote.case_id), now))


# --- sending and acceptance -----------------------------------------------------------------------------


@router.post(
    "/quotes/{quote_id}/send", summary="Text the quote to the customer (`quote` SMS through the case's workflow)",
    response_model=SmsOut, responses=SMS_RESPONSES,
    description="Refused (409, with the reason as `code`) for a refused, expired or accepted quote "
                "(`quote_refused`, `quote_expired`, `quote_accepted`), a case no longer quotable, a customer who "
                "opted out of SMS (`sms_opt_out`) or is on the do-not-call list (`do_not_call`). Recorded as a "
                "contact; the SMS carries the quote's premium and your name and phone.",
)
async def send_quote(quote_id: uuid.UUID, staff: CurrentStaff, session: SessionDep, client: TemporalDep,
                     response: Response, now: NowDep, settings: SettingsDep) -> SmsOut:
    quote = await run_in_threadpool(find_quote, session, staff, quote_id, CaseAction.casework)
    case = await run_in_threadpool(session.get, RenewalCase, quote.case_id)
    return await send_sms(SmsIn(template=StaffSmsTemplate.quote, quote_id=quote.id),
                          StaffAction(case, staff, session, client, now), response, settings)


def _accept(session: Session, settings: Settings, staff: Staff, quote_id: uuid.UUID, body: QuoteAcceptIn,
            now: datetime) -> Quote:
    quote = find_quote(session, staff, quote_id, CaseAction.casework)
    case = session.get(RenewalCase, quote.case_id)
    status = status_of(quote, case_today(case, now))
    if status is QuoteStatus.accepted:
        return quote  # accepting twice changes nothing
    if status in (QuoteStatus.refused, QuoteStatus.expired):
        raise ApiError(409, f"a {status.value} quote cannot be accepted: make a new quote", code=f"quote_{status.value}")
    require_still_quotable(session, case, settings)
    # The proposal number follows from the quote, so a retried request records the same proposal.
    quote.proposal_no = f"ZC{quote.id.hex[:16].upper()}"
    quote.accepted_at, quote.accepted_by = now, staff.id
    session.add(quote)
    session.execute(update(RenewalCase).where(RenewalCase.id == case.id)
                    .values(proposal_no=quote.proposal_no, awaiting_payment_since=now))
    if body.note:
        session.add(Note(case_id=case.id, author_id=staff.id, body=body.note, created_at=now))
    session.commit()
    return quote


@router.post(
    "/quotes/{quote_id}/accept", summary="The customer accepted: record the proposal (暂存单); the case awaits payment",
    response_model=QuoteOut, responses=error_responses(401, 403, 404, 409, 422),
    description="The case stays open: it becomes RENEWED only by the follow-up status `success` with the new "
                "policy number, or by the core system's `policy_renewed`, once paid and issued (以是否缴费出单为准).",
)
def accept_quote(quote_id: uuid.UUID, body: QuoteAcceptIn, staff: CurrentStaff, session: SessionDep,
                 settings: SettingsDep, now: NowDep) -> QuoteOut:
    quote = _accept(session, settings, staff, quote_id, body, now)
    return quote_out(quote, case_today(session.get(RenewalCase, quote.case_id), now))
