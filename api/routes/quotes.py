"""Quotes (报价, SPEC §7): the staff member's quote configuration, quoting a case by renewal copy,
sending the quote SMS through the workflow, and the customer's acceptance (proposal 暂存单).

A quote that breaks a rule is refused with the seed's common error as its code, and the attempt is
kept, so staff can see why. Accepting records the proposal and marks the case awaiting payment; the
case renews only by `success` with the new policy number or the core system's `policy_renewed`.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Request, Response
from fastapi.concurrency import run_in_threadpool

from api.access import CaseAction, CaseForWork, ReadableCase, find_quote, require_quoter
from api import casework
from api.casework import StaffAction
from api.deps import CurrentStaff, NowDep, SessionDep, SettingsDep, TemporalDep
from api.errors import error_responses
from api.routes.cases import SMS_RESPONSES
from api.schemas import (
    QuoteAcceptIn, QuoteConfigIn, QuoteConfigOut, QuoteIn, QuoteOut, SmsIn, SmsOut, quote_out, quotes_of,
)
from models import RenewalCase
from renewals.quotes.pricing import PricingProvider
from renewals.quotes.rules import QuoteSetup
from renewals.quotes.service import (
    accept_quote as record_acceptance, case_today, checked_setup, make_quote, save_setup, staff_setup,
)
from renewals.case.contract import StaffSmsTemplate

router = APIRouter(tags=["quotes"])
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


def _config_out(setup: QuoteSetup | None) -> QuoteConfigOut:
    return QuoteConfigOut(configured=setup is not None, channel=setup.channel if setup else None,
                          group_buy_id=setup.group_buy_id if setup else None,
                          online_account=setup.online_account if setup else None,
                          online_ready=bool(setup and setup.group_buy_id and setup.online_account))


@router.get("/me/quote-config", summary="My quote configuration (报价信息配置)", response_model=QuoteConfigOut,
            responses=error_responses(401))
def get_quote_config(staff: CurrentStaff, session: SessionDep) -> QuoteConfigOut:
    return _config_out(staff_setup(session, staff.id))


@router.put(
    "/me/quote-config", summary="Set my quote channel; online (网销) needs the group-buy id and epicc account",
    response_model=QuoteConfigOut, responses=error_responses(401, 403, 422),
    description="Once both are configured you may quote through either channel (the quote's `channel`). "
                "A group-buy id that is not the digits of your online-sales link answers 422 with code "
                "`invalid_group_buy_id`.",
)
def put_quote_config(body: QuoteConfigIn, staff: CurrentStaff, session: SessionDep) -> QuoteConfigOut:
    require_quoter(staff)
    return _config_out(save_setup(session, staff.id, checked_setup(body.channel, body.group_buy_id,
                                                                   body.online_account)))


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
    quote = find_quote(session, staff, quote_id, now)
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
    quote = await run_in_threadpool(find_quote, session, staff, quote_id, now, CaseAction.casework)
    case = await run_in_threadpool(session.get, RenewalCase, quote.case_id)
    decision = await casework.send_sms(StaffAction(case, staff, session, client, now),
                                       SmsIn(template=StaffSmsTemplate.quote, quote_id=quote.id), settings)
    return casework.sms_answer(decision, response)


@router.post(
    "/quotes/{quote_id}/accept", summary="The customer accepted: record the proposal (暂存单); the case awaits payment",
    response_model=QuoteOut, responses=error_responses(401, 403, 404, 409, 422),
    description="The case stays open: it becomes RENEWED only by the follow-up status `success` with the new "
                "policy number, or by the core system's `policy_renewed`, once paid and issued (以是否缴费出单为准).",
)
def accept_quote(quote_id: uuid.UUID, body: QuoteAcceptIn, staff: CurrentStaff, session: SessionDep,
                 settings: SettingsDep, now: NowDep) -> QuoteOut:
    quote = record_acceptance(session, settings, find_quote(session, staff, quote_id, now, CaseAction.casework),
                              staff.id, body.note, now)
    return quote_out(quote, case_today(session.get(RenewalCase, quote.case_id), now))
