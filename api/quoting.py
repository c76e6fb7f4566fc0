"""Quotes in the API: their request and response bodies, and the database side of the quote rules
(renewals.quotes.rules) shared by the quote, case-SMS and customer routes."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field
from sqlmodel import Session, select

from api.errors import ApiError
from api.inputs import CASE_ID, QUOTE_ID, STAFF_ID, Line, Note, examples
from models import Customer, Policy, Quote, QuoteWish, RenewalCase, StaffQuoteConfig, Vehicle
from renewals.quotes.pricing import PricingProvider, PricingRequest, PricingUnavailable
from renewals.quotes.rules import (
    QuoteChannel, QuoteFacts, QuoteLimits, QuoteSetup, QuoteStatus, Refusal, RefusalCode, channel_refusals,
    eligibility_refusals, group_buy_id_problem, online_account_problem, quote_status, renewal_copy, valid_until,
)
from renewals.core.settings import Settings
from workflows.contract import insurer_name

# --- bodies ----------------------------------------------------------------------------------------


class QuoteConfigIn(BaseModel):
    model_config = examples({"channel": "online", "group_buy_id": "20231234", "online_account": "li.si@example.com"},
                            {"channel": "traditional"})
    channel: QuoteChannel = Field(description="your default channel: traditional (传统渠道) or online (网销渠道)")
    group_buy_id: Line(32, min_length=1) | None = Field(
        default=None, description="团购ID: the digits at the end of your personal online-sales link")
    online_account: Line(128, min_length=1) | None = Field(
        default=None, description="the epicc account you registered (user name or e-mail)")


class QuoteConfigOut(BaseModel):
    model_config = examples({"configured": True, "channel": "online", "group_buy_id": "20231234",
                             "online_account": "li.si@example.com", "online_ready": True})
    configured: bool = Field(description="false until you save a configuration; quotes are refused until then")
    channel: QuoteChannel | None
    group_buy_id: str | None
    online_account: str | None
    online_ready: bool = Field(description="online quotes possible: group-buy id and account are set")


class QuoteIn(BaseModel):
    model_config = examples({}, {"channel": "online", "coverages": ["CTP", "TPL"]})
    channel: QuoteChannel | None = Field(default=None, description="default: your configured channel")
    coverages: list[Line(16, min_length=1)] | None = Field(
        default=None, max_length=40,
        description="codes of last year's covers to keep; default all of them (续保复制). Covers can be "
                    "dropped, not added: a renewal quote starts from renewal copy.")


class RefusalOut(BaseModel):
    code: RefusalCode
    message: str


class QuoteOut(BaseModel):
    model_config = examples({
        "id": QUOTE_ID, "case_id": CASE_ID, "created_by": STAFF_ID,
        "channel": "traditional", "coverages": [{"code": "CTP", "name": "交强险"}], "premium": "3728.53",
        "eligible": True, "reasons": [], "status": "ready", "valid_until": "2026-02-26",
        "pricing": {"provider": "rule-based", "last_premium": "4386.50", "base": "4386.50", "ncd_factor": "0.85",
                    "channel_factor": "1.00"},
        "created_at": "2026-02-11T02:00:00Z", "sent_at": None, "accepted_at": None, "proposal_no": None,
    })
    id: uuid.UUID
    case_id: uuid.UUID
    created_by: uuid.UUID
    channel: QuoteChannel | None
    coverages: list[dict[str, Any]]
    premium: Decimal | None = Field(description="CNY, to the fen; none when refused")
    eligible: bool
    reasons: list[RefusalOut] = Field(description="why the quote was refused, one per seed common error")
    status: QuoteStatus
    valid_until: date | None = Field(description="the last day it may be sent or accepted")
    pricing: dict[str, str]
    created_at: datetime
    sent_at: datetime | None
    accepted_at: datetime | None
    proposal_no: str | None = Field(description="the proposal (暂存单) recorded when the customer accepted")


class QuoteAcceptIn(BaseModel):
    model_config = examples({"note": "客户同意,明天到网点缴费 / will pay at the branch tomorrow"})
    note: Note = None


# --- database side of the rules ----------------------------------------------------------------------


def case_today(case: RenewalCase, now: datetime) -> date:
    """Today in the case's time zone (renewals.intake.service.local_today is the company's)."""
    return now.astimezone(ZoneInfo(case.timezone)).date()


def status_of(quote: Quote, today: date) -> QuoteStatus:
    return quote_status(eligible=quote.eligible, valid_until=quote.valid_until, sent=quote.sent_at is not None,
                        accepted=quote.accepted_at is not None, today=today)


def quote_out(quote: Quote, today: date) -> QuoteOut:
    return QuoteOut(
        id=quote.id, case_id=quote.case_id, created_by=quote.created_by, channel=quote.channel,
        coverages=quote.coverages, premium=quote.premium, eligible=quote.eligible,
        reasons=[RefusalOut(**r) for r in quote.reasons], valid_until=quote.valid_until, pricing=quote.pricing,
        status=status_of(quote, today),
        created_at=quote.created_at, sent_at=quote.sent_at, accepted_at=quote.accepted_at,
        proposal_no=quote.proposal_no,
    )


def quotes_of(session: Session, case_ids: list[uuid.UUID], today: date) -> list[QuoteOut]:
    rows = session.exec(select(Quote).where(Quote.case_id.in_(case_ids)).order_by(Quote.created_at.desc())).all()
    return [quote_out(q, today) for q in rows]


def quote_setup(config: StaffQuoteConfig | None) -> QuoteSetup | None:
    if config is None:
        return None
    return QuoteSetup(QuoteChannel(config.channel), config.group_buy_id, config.online_account)


def checked_setup(body: QuoteConfigIn) -> QuoteSetup:
    """The configuration as asked, if it can be used: a group-buy id of digits, and both it and the
    epicc account for the online channel."""
    for problem in (group_buy_id_problem(body.group_buy_id), online_account_problem(body.online_account)):
        if problem:
            field = problem.partition(":")[0]
            raise ApiError(422, problem, field=field, code=RefusalCode.invalid_group_buy_id.value)
    if body.channel is QuoteChannel.online and not (body.group_buy_id and body.online_account):
        field = "group_buy_id" if not body.group_buy_id else "online_account"
        raise ApiError(422, f"{field}: the online channel (网销渠道) needs your group-buy id (团购ID) and your "
                            "epicc account", field=field, code=RefusalCode.channel_not_configured.value)
    return QuoteSetup(body.channel, body.group_buy_id, body.online_account)


def staff_setup(session: Session, staff_id: uuid.UUID) -> QuoteSetup | None:
    return quote_setup(session.get(StaffQuoteConfig, staff_id))


def save_setup(session: Session, staff_id: uuid.UUID, setup: QuoteSetup) -> QuoteSetup:
    config = session.get(StaffQuoteConfig, staff_id) or StaffQuoteConfig(staff_id=staff_id)
    config.channel, config.group_buy_id, config.online_account = (
        setup.channel.value, setup.group_buy_id, setup.online_account)
    session.add(config)
    session.commit()
    return quote_setup(config)


def quote_limits(settings: Settings) -> QuoteLimits:
    return QuoteLimits(max_claims=settings.max_claims_for_quote, max_vehicle_age_years=settings.max_vehicle_age_years)


def case_facts(session: Session, case: RenewalCase) -> tuple[QuoteFacts, Policy]:
    policy = session.get(Policy, case.policy_id)
    vehicle = session.get(Vehicle, policy.vehicle_id)
    customer = session.get(Customer, policy.customer_id)
    facts = QuoteFacts(
        case_outcome=case.outcome, renewed_elsewhere_with=insurer_name(case.lost_to_insurer),
        vehicle_model_confirmed=vehicle.model_confirmed, vehicle_first_registered_on=vehicle.first_registered_on,
        renewal_starts_on=case.expiry_date + timedelta(days=1),  # the case follows expiry changes
        claims_last_year=policy.claims_last_year, customer_blacklisted=customer.blacklisted,
        policy_channel=QuoteChannel(policy.channel),
    )
    return facts, policy


_ORDER = list(RefusalCode)


def make_quote(session: Session, settings: Settings, pricing: PricingProvider, case: RenewalCase,
               staff_id: uuid.UUID, channel: QuoteChannel | None, coverages: list[str] | None,
               now: datetime) -> Quote:
    """Quote the case by renewal copy of last year's `coverages` (all of them when None). A refused
    attempt is kept too, so staff see why: the 409 names it."""
    facts, policy = case_facts(session, case)
    refusals = eligibility_refusals(facts, quote_limits(settings))
    kept, copy_refusals = renewal_copy(policy.coverages, coverages)
    chosen, channel_problems = channel_refusals(staff_setup(session, staff_id), channel, facts.policy_channel)
    if not (refusals and refusals[0].code is RefusalCode.case_closed):
        refusals = sorted([*refusals, *channel_problems, *copy_refusals], key=lambda r: _ORDER.index(r.code))
    premium, factors = None, {}
    if not refusals:
        try:
            priced = pricing.price(PricingRequest(last_premium=policy.premium, claims_last_year=facts.claims_last_year,
                                                  channel=chosen.value, last_coverages=policy.coverages,
                                                  coverages=kept))
            premium, factors = priced.premium, priced.factors
        except PricingUnavailable as exc:
            refusals = [Refusal(RefusalCode.pricing_unavailable, str(exc))]
    quote = Quote(case_id=case.id, created_by=staff_id, channel=chosen.value if chosen else None,
                  coverages=kept, premium=premium, eligible=not refusals,
                  reasons=[r.as_json() for r in refusals], pricing=factors, created_at=now,
                  valid_until=None if refusals else valid_until(case_today(case, now), settings.quote_valid_days))
    session.add(quote)
    session.commit()  # a refused attempt is kept too: staff see why
    if refusals:
        raise refused(refusals, quote.id)
    return quote


def confirm_vehicle_model(session: Session, case: RenewalCase, model_code: str, staff_id: uuid.UUID,
                          now: datetime) -> Vehicle:
    """Staff confirmed the case's vehicle model from the catalogue: a quote needs it first."""
    vehicle = session.exec(select(Vehicle).join(Policy, Policy.vehicle_id == Vehicle.id)
                           .where(Policy.id == case.policy_id)).one()
    vehicle.model_code, vehicle.model_confirmed = model_code, True
    vehicle.model_confirmed_by, vehicle.model_confirmed_at = staff_id, now
    session.add(vehicle)
    session.commit()
    return vehicle


def refused(refusals: list[Refusal], quote_id: uuid.UUID | None = None) -> ApiError:
    """409 with the first refusal's code and every refusal's message; the quote (refused attempts
    are kept) is at Location."""
    headers = {"Location": f"/quotes/{quote_id}"} if quote_id else None
    return ApiError(409, "; ".join(r.message for r in refusals), code=refusals[0].code.value, headers=headers)


def require_still_quotable(session: Session, case: RenewalCase, settings: Settings) -> Policy:
    """The quote rules checked again when a quote is sent or accepted (the case may have changed
    since it was made); the case's policy."""
    facts, policy = case_facts(session, case)
    still = eligibility_refusals(facts, quote_limits(settings))
    if still:
        raise refused(still)
    return policy


def quote_to_send(session: Session, case: RenewalCase, quote_id: uuid.UUID, now: datetime,
                  settings: Settings) -> Quote:
    """The quote, if it may go to the customer now: the case's own, priced, unexpired, still
    eligible, and the customer neither opted out of SMS nor on the do-not-call list."""
    quote = session.get(Quote, quote_id)
    if quote is None or quote.case_id != case.id:
        raise ApiError(422, "quote_id: no quote with this id on this case", field="quote_id")
    today = case_today(case, now)
    status = status_of(quote, today)
    if status is QuoteStatus.refused:
        raise ApiError(409, "this quote was refused (" + ", ".join(r["code"] for r in quote.reasons)
                       + "): it cannot be sent; make a new quote once the reasons are resolved", code="quote_refused")
    if status is QuoteStatus.expired:
        raise ApiError(409, f"the quote expired on {quote.valid_until}: make a new quote", code="quote_expired")
    if status is QuoteStatus.accepted:
        raise ApiError(409, "the customer already accepted this quote: it awaits payment", code="quote_accepted")
    if case.quote_wish == QuoteWish.declined:
        raise ApiError(409, "the customer declined a quote: no quote SMS (以免打扰) until a contact records that "
                            "they want one", code="quote_declined")
    policy = require_still_quotable(session, case, settings)
    customer = session.get(Customer, policy.customer_id)
    if customer.sms_opt_out:
        raise ApiError(409, "the customer opted out of SMS (退订): nothing was sent; call instead", code="sms_opt_out")
    if customer.do_not_call_until and customer.do_not_call_until >= today:
        raise ApiError(409, f"the customer refused all contact and is on the do-not-call list until "
                            f"{customer.do_not_call_until}: nothing was sent", code="do_not_call")
    return quote
