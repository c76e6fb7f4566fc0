"""Quote rules (报价, SPEC §7), pure: whether a case may be quoted, and why not.

One refusal code and message per common error the seed's training lists ("三、常见错误"):
  1. insured elsewhere (在其他主体已投保)                        insured_elsewhere
  2. vehicle model not confirmed (未交互车型)                    vehicle_model_not_confirmed
  3. wrong channel, or coverage changed without renewal copy    channel_not_configured, wrong_channel,
     (渠道选错 / 不点续保复制直接报价)                              not_renewal_copy
  4. outside underwriting policy (不符合投保政策): vehicle older than 10 years, too many claims last
     year, blacklisted customer                                 vehicle_too_old, too_many_claims,
                                                                blacklisted_customer
  5. group-buy id not valid (团购ID不符合要求)                    invalid_group_buy_id
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

from renewals.case.calendar import add_years

# Compulsory motor third-party liability (交强险): the law requires it, so a renewal keeps it.
COMPULSORY_COVER = "CTP"
# 团购ID: the string of digits at the end of the staff member's personal online-sales link.
GROUP_BUY_ID = re.compile(r"\d{4,32}")
# The epicc account: a user name or the e-mail it was registered with; no spaces.
ONLINE_ACCOUNT = re.compile(r"[A-Za-z0-9._%+@-]{3,128}")


class QuoteChannel(StrEnum):
    traditional = "traditional"  # 车险传统渠道
    online = "online"  # 车险网销渠道


class RefusalCode(StrEnum):
    case_closed = "case_closed"
    insured_elsewhere = "insured_elsewhere"
    vehicle_model_not_confirmed = "vehicle_model_not_confirmed"
    channel_not_configured = "channel_not_configured"
    wrong_channel = "wrong_channel"
    not_renewal_copy = "not_renewal_copy"
    vehicle_too_old = "vehicle_too_old"
    too_many_claims = "too_many_claims"
    blacklisted_customer = "blacklisted_customer"
    invalid_group_buy_id = "invalid_group_buy_id"
    pricing_unavailable = "pricing_unavailable"


@dataclass(frozen=True)
class Refusal:
    code: RefusalCode
    message: str

    def as_json(self) -> dict[str, str]:
        return {"code": self.code.value, "message": self.message}


@dataclass(frozen=True)
class QuoteSetup:
    """A staff member's quote configuration (报价信息配置)."""

    channel: QuoteChannel
    group_buy_id: str | None = None
    online_account: str | None = None


@dataclass(frozen=True)
class QuoteFacts:
    """What the rules need to know about the case, its policy, vehicle and customer."""

    case_outcome: str | None
    renewed_elsewhere_with: str | None  # the insurer reported (renewed elsewhere)
    vehicle_model_confirmed: bool
    vehicle_first_registered_on: date | None
    renewal_starts_on: date  # the day after expiry: when the quoted policy would start
    claims_last_year: int
    customer_blacklisted: bool
    policy_channel: QuoteChannel


@dataclass(frozen=True)
class QuoteLimits:
    max_claims: int = 3
    max_vehicle_age_years: int = 10


def group_buy_id_problem(value: str | None) -> str | None:
    if value is None or GROUP_BUY_ID.fullmatch(value):
        return None
    return ("group_buy_id: the group-buy id (团购ID) is the 4-32 digits at the end of your personal online-sales "
            "link, digits only")


def online_account_problem(value: str | None) -> str | None:
    if value is None or ONLINE_ACCOUNT.fullmatch(value):
        return None
    return "online_account: the epicc account is your registered user name or e-mail, 3-128 characters, no spaces"


def renewal_copy(last_coverages: Sequence[Mapping[str, Any]],
                 keep: Sequence[str] | None) -> tuple[list[dict[str, Any]], list[Refusal]]:
    """Last year's coverages (续保复制), optionally with optional covers dropped. A cover that was not on
    last year's policy cannot be added here: that is quoting without renewal copy."""
    copy = [dict(c) for c in last_coverages]
    if keep is None:
        return copy, []
    last_codes = {c["code"] for c in copy}
    unknown = [code for code in keep if code not in last_codes]
    if unknown:
        return copy, [Refusal(RefusalCode.not_renewal_copy,
                              f"cover {', '.join(unknown)} was not on last year's policy: a renewal quote starts "
                              "from renewal copy (续保复制) of last year's coverages; covers can only be dropped")]
    if COMPULSORY_COVER in last_codes and COMPULSORY_COVER not in keep:
        return copy, [Refusal(RefusalCode.not_renewal_copy,
                              "the compulsory third-party liability cover (交强险, CTP) cannot be dropped")]
    if not keep:
        return copy, [Refusal(RefusalCode.not_renewal_copy, "keep at least one of last year's covers")]
    return [c for c in copy if c["code"] in set(keep)], []


def channel_refusals(setup: QuoteSetup | None, channel: QuoteChannel | None,
                     policy_channel: QuoteChannel) -> tuple[QuoteChannel | None, list[Refusal]]:
    """The channel to quote through (asked for, else the configured one) and what is wrong with it."""
    if setup is None:
        return channel, [Refusal(RefusalCode.channel_not_configured,
                                 "set up your quote channel first (我的信息→报价信息配置): PUT /me/quote-config")]
    chosen = channel or setup.channel
    refusals = []
    if chosen is QuoteChannel.online:
        if not (setup.group_buy_id and setup.online_account):
            refusals.append(Refusal(RefusalCode.channel_not_configured,
                                    "online (网销) quotes need your group-buy id (团购ID) and epicc account: "
                                    "set them in PUT /me/quote-config"))
        elif group_buy_id_problem(setup.group_buy_id) or online_account_problem(setup.online_account):
            refusals.append(Refusal(RefusalCode.invalid_group_buy_id,
                                    "your online quote configuration is not valid (团购ID不符合要求): check the "
                                    "group-buy id and that the epicc account is registered, in PUT /me/quote-config"))
    if chosen is not policy_channel:
        refusals.append(Refusal(RefusalCode.wrong_channel,
                                f"this policy was sold through the {policy_channel.value} channel; quote it through "
                                f"{policy_channel.value} (渠道选错)"))
    return chosen, refusals


def eligibility_refusals(facts: QuoteFacts, limits: QuoteLimits) -> list[Refusal]:
    """Why the case cannot be quoted at all, whatever the channel and coverages; in the seed's order."""
    if facts.case_outcome:
        return [Refusal(RefusalCode.case_closed, f"the case is closed ({facts.case_outcome}): no more quotes")]
    refusals = []
    if facts.renewed_elsewhere_with:
        refusals.append(Refusal(RefusalCode.insured_elsewhere,
                                f"the customer is already insured with {facts.renewed_elsewhere_with} "
                                "(在其他主体已投保): record the loss reason instead"))
    if not facts.vehicle_model_confirmed:
        refusals.append(Refusal(RefusalCode.vehicle_model_not_confirmed,
                                "confirm the vehicle model first (查询、交互车型后才可报价): "
                                "GET /vehicle-models?q=, then POST /cases/{id}/vehicle-model"))
    first = facts.vehicle_first_registered_on
    if first and add_years(first, limits.max_vehicle_age_years) < facts.renewal_starts_on:
        refusals.append(Refusal(RefusalCode.vehicle_too_old,
                                f"the vehicle was first registered on {first}: more than "
                                f"{limits.max_vehicle_age_years} years old when the renewal starts "
                                f"{facts.renewal_starts_on} (车龄超过{limits.max_vehicle_age_years}年)"))
    if facts.claims_last_year > limits.max_claims:
        refusals.append(Refusal(RefusalCode.too_many_claims,
                                f"{facts.claims_last_year} claims last year, more than the {limits.max_claims} "
                                "allowed (去年出险事故过多)"))
    if facts.customer_blacklisted:
        refusals.append(Refusal(RefusalCode.blacklisted_customer,
                                "the customer is on the underwriting blacklist (黑名单客户): a quote could "
                                "not be underwritten (避免给黑名单客户报价后又无法承保)"))
    return refusals


def valid_until(today: date, days: int) -> date:
    """The last day a quote may be sent or accepted."""
    return today + timedelta(days=days)


class QuoteStatus(StrEnum):
    refused = "refused"  # not quotable: see the reasons
    ready = "ready"  # priced, not sent yet
    sent = "sent"
    accepted = "accepted"  # the customer accepted: proposal (暂存单) recorded, awaiting payment
    expired = "expired"  # past its validity date, not accepted


def quote_status(*, eligible: bool, valid_until: date | None, sent: bool, accepted: bool, today: date) -> QuoteStatus:
    if not eligible:
        return QuoteStatus.refused
    if accepted:
        return QuoteStatus.accepted
    if valid_until is None or valid_until < today:
        return QuoteStatus.expired
    return QuoteStatus.sent if sent else QuoteStatus.ready
