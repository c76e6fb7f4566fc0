"""Quotes and the database: a staff member's quote configuration, quoting a case by renewal copy,
checking a quote again before it is sent or accepted, and recording the customer's acceptance.
The rules themselves are pure (renewals.quotes.rules); these read the facts they need and keep
what staff did."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlmodel import Session, select

from models import Customer, Note, Policy, Quote, QuoteWish, RenewalCase, StaffQuoteConfig, Vehicle, VehicleModel
from renewals.case.start import CaseRejected
from renewals.core.settings import Settings
from renewals.quotes.pricing import PricingProvider, PricingRequest, PricingUnavailable
from renewals.quotes.vehicle_models import normalise_model_code
from renewals.quotes.rules import (
    QuoteChannel, QuoteFacts, QuoteLimits, QuoteSetup, QuoteStatus, Refusal, RefusalCode, channel_refusals,
    eligibility_refusals, group_buy_id_problem, online_account_problem, quote_status, renewal_copy, valid_until,
)
from renewals.case.contract import closed_reason, insurer_name

_ORDER = list(RefusalCode)


class QuoteRefused(CaseRejected):
    """A quote the rules do not make, send or accept; `code` says why (the seed's common error, or
    the quote's state), `quote_id` the refused attempt when it was kept, `field` the input that
    names no quote of the case."""

    def __init__(self, reason: str, code: str, *, quote_id: uuid.UUID | None = None, field: str | None = None):
        super().__init__(reason)
        self.code, self.quote_id, self.field = code, quote_id, field


def refused(refusals: list[Refusal], quote_id: uuid.UUID | None = None) -> QuoteRefused:
    """The first refusal's code and every refusal's message."""
    return QuoteRefused("; ".join(r.message for r in refusals), refusals[0].code.value, quote_id=quote_id)


def case_today(case: RenewalCase, now: datetime) -> date:
    """Today in the case's time zone (renewals.intake.service.local_today is the company's)."""
    return now.astimezone(ZoneInfo(case.timezone)).date()


def status_of(quote: Quote, today: date) -> QuoteStatus:
    return quote_status(eligible=quote.eligible, valid_until=quote.valid_until, sent=quote.sent_at is not None,
                        accepted=quote.accepted_at is not None, today=today)


def case_quotes(session: Session, case_ids: list[uuid.UUID]) -> list[Quote]:
    """The cases' quotes, refused attempts included, newest first."""
    return list(session.exec(select(Quote).where(Quote.case_id.in_(case_ids)).order_by(Quote.created_at.desc())).all())


# --- the staff member's configuration (报价信息配置) -------------------------------------------------


def quote_setup(config: StaffQuoteConfig | None) -> QuoteSetup | None:
    if config is None:
        return None
    return QuoteSetup(QuoteChannel(config.channel), config.group_buy_id, config.online_account)


def checked_setup(channel: QuoteChannel, group_buy_id: str | None, online_account: str | None) -> QuoteSetup:
    """The configuration as asked, if it can be used: a group-buy id of digits, and both it and the
    epicc account for the online channel."""
    for problem in (group_buy_id_problem(group_buy_id), online_account_problem(online_account)):
        if problem:
            raise QuoteRefused(problem, RefusalCode.invalid_group_buy_id.value, field=problem.partition(":")[0])
    if channel is QuoteChannel.online and not (group_buy_id and online_account):
        field = "group_buy_id" if not group_buy_id else "online_account"
        raise QuoteRefused(f"{field}: the online channel (网销渠道) needs your group-buy id (团购ID) and your epicc "
                           "account", RefusalCode.channel_not_configured.value, field=field)
    return QuoteSetup(channel, group_buy_id, online_account)


def staff_setup(session: Session, staff_id: uuid.UUID) -> QuoteSetup | None:
    return quote_setup(session.get(StaffQuoteConfig, staff_id))


def save_setup(session: Session, staff_id: uuid.UUID, setup: QuoteSetup) -> QuoteSetup:
    config = session.get(StaffQuoteConfig, staff_id) or StaffQuoteConfig(staff_id=staff_id)
    config.channel, config.group_buy_id, config.online_account = (
        setup.channel.value, setup.group_buy_id, setup.online_account)
    session.add(config)
    session.commit()
    return quote_setup(config)


# --- quoting a case ----------------------------------------------------------------------------------


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


def make_quote(session: Session, settings: Settings, pricing: PricingProvider, case: RenewalCase,
               staff_id: uuid.UUID, channel: QuoteChannel | None, coverages: list[str] | None,
               now: datetime) -> Quote:
    """Quote the case by renewal copy of last year's `coverages` (all of them when None). A refused
    attempt is kept too, so staff see why: QuoteRefused names it."""
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
    session.commit()
    if refusals:
        raise refused(refusals, quote.id)
    return quote


# --- sending and acceptance ----------------------------------------------------------------------------


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
        raise QuoteRefused("quote_id: no quote with this id on this case", "invalid", field="quote_id")
    today = case_today(case, now)
    status = status_of(quote, today)
    if status is QuoteStatus.refused:
        raise QuoteRefused("this quote was refused (" + ", ".join(r["code"] for r in quote.reasons)
                           + "): it cannot be sent; make a new quote once the reasons are resolved", "quote_refused")
    if status is QuoteStatus.expired:
        raise QuoteRefused(f"the quote expired on {quote.valid_until}: make a new quote", "quote_expired")
    if status is QuoteStatus.accepted:
        raise QuoteRefused("the customer already accepted this quote: it awaits payment", "quote_accepted")
    if case.quote_wish == QuoteWish.declined:
        raise QuoteRefused("the customer declined a quote: no quote SMS (以免打扰) until a contact records that "
                           "they want one", "quote_declined")
    policy = require_still_quotable(session, case, settings)
    customer = session.get(Customer, policy.customer_id)
    if customer.sms_opt_out:
        raise QuoteRefused("the customer opted out of SMS (退订): nothing was sent; call instead", "sms_opt_out")
    if customer.do_not_call_until and customer.do_not_call_until >= today:
        raise QuoteRefused(f"the customer refused all contact and is on the do-not-call list until "
                           f"{customer.do_not_call_until}: nothing was sent", "do_not_call")
    return quote


def accept_quote(session: Session, settings: Settings, quote: Quote, staff_id: uuid.UUID, note: str | None,
                 now: datetime) -> Quote:
    """The customer accepted: the proposal (暂存单) is recorded and the case awaits payment."""
    case = session.get(RenewalCase, quote.case_id)
    status = status_of(quote, case_today(case, now))
    if status is QuoteStatus.accepted:
        return quote  # accepting twice changes nothing
    if status in (QuoteStatus.refused, QuoteStatus.expired):
        raise QuoteRefused(f"a {status.value} quote cannot be accepted: make a new quote", f"quote_{status.value}")
    require_still_quotable(session, case, settings)
    # The proposal number follows from the quote, so a retried request records the same proposal.
    quote.proposal_no = f"ZC{quote.id.hex[:16].upper()}"
    quote.accepted_at, quote.accepted_by = now, staff_id
    session.add(quote)
    session.execute(update(RenewalCase).where(RenewalCase.id == case.id)
                    .values(proposal_no=quote.proposal_no, awaiting_payment_since=now))
    if note:
        session.add(Note(case_id=case.id, author_id=staff_id, body=note, created_at=now))
    session.commit()
    return quote


# --- the vehicle model (交互车型) ------------------------------------------------------------------------


def confirm_vehicle_model(session: Session, case: RenewalCase, model_code: str, staff_id: uuid.UUID,
                          now: datetime) -> tuple[Vehicle, VehicleModel]:
    """Staff confirmed the case's vehicle model from the catalogue (a quote needs it first): an open
    case, and a model the catalogue has."""
    if case.outcome:
        raise CaseRejected(closed_reason(case.outcome))
    model = session.exec(select(VehicleModel).where(VehicleModel.code == normalise_model_code(model_code))).first()
    if model is None:
        raise QuoteRefused(f"model_code: no vehicle model {model_code!r}; search GET /vehicle-models?q=",
                           "unknown_vehicle_model", field="model_code")
    vehicle = session.exec(select(Vehicle).join(Policy, Policy.vehicle_id == Vehicle.id)
                           .where(Policy.id == case.policy_id)).one()
    vehicle.model_code, vehicle.model_confirmed = model.code, True
    vehicle.model_confirmed_by, vehicle.model_confirmed_at = staff_id, now
    session.add(vehicle)
    session.commit()
    return vehicle, model
