"""Lapse risk and the best hour to call (pure): what the system holds of a case, as the features a
logistic model weighs; the documented prior used until the book has enough outcomes of its own;
the reasons behind a score in words staff understand; a customer's best hour to call.

A score is the chance, in percent, that the case ends LOST or LAPSED. A logistic model adds one
contribution per feature (weight × value, every feature 0 in the unremarkable case), so the
largest positive contributions are the score's reasons, and a manager can read the weights.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from renewals.case.calendar import CALL_HOURS

# The outcomes the score predicts, and those it learns from.
LAPSE_OUTCOMES = ("LOST", "LAPSED")
LEARNT_OUTCOMES = ("RENEWED", *LAPSE_OUTCOMES)
# Fewer closed cases than this and a trained model would learn noise: the prior scores instead.
MIN_OUTCOMES = 300
REASONS_SHOWN = 3


@dataclass(frozen=True)
class CaseFacts:
    """What the system holds of a case when it is scored (or, for a closed case, when it closed)."""

    claims_last_year: int
    premium_change: float | None  # latest priced quote over last year's premium, minus 1
    unanswered_in_a_row: int  # the latest calls not answered, since the last one that reached them
    days_unreached: int  # since the customer was last reached (or since the case started)
    reached_ever: bool
    sms_opted_out: bool
    do_not_call: bool
    signing_intent: str | None  # high, medium, low
    online: bool
    lost_before: int  # the customer's earlier cases that ended LOST or LAPSED


FEATURES = ("claims", "premium_rise", "unanswered", "weeks_unreached", "opted_out", "do_not_call",
            "intent_low", "intent_high", "online", "lost_before")


def features(f: CaseFacts) -> list[float]:
    """The model's inputs, in FEATURES order; capped so one extreme value cannot swamp the rest."""
    rise = max(f.premium_change or 0.0, 0.0)
    return [
        float(min(f.claims_last_year, 5)),
        min(rise, 1.0) * 10,  # per 10% rise
        float(min(f.unanswered_in_a_row, 10)),
        min(f.days_unreached, 70) / 7,
        float(f.sms_opted_out),
        float(f.do_not_call),
        float(f.signing_intent == "low"),
        float(f.signing_intent == "high"),
        float(f.online),
        float(min(f.lost_before, 3)),
    ]


# The prior: a lapse rate near 20% for an unremarkable case, and what renewal teams know moves it
# (claims and price rises drive customers to shop around, unanswered calls and refusals mean the
# customer is drifting away, high intent holds them). Each weight is log-odds per unit of FEATURES.
PRIOR_VERSION = "prior-1"
PRIOR_WEIGHTS: dict[str, float] = {
    "intercept": -1.4, "claims": 0.35, "premium_rise": 0.25, "unanswered": 0.3, "weeks_unreached": 0.1,
    "opted_out": 0.4, "do_not_call": 1.0, "intent_low": 0.8, "intent_high": -1.0, "online": 0.2, "lost_before": 0.9,
}


def probability(weights: Mapping[str, float], x: Sequence[float]) -> float:
    z = weights["intercept"] + sum(weights[name] * value for name, value in zip(FEATURES, x))
    return 1 / (1 + math.exp(-z))


def score(weights: Mapping[str, float], facts: CaseFacts) -> tuple[int, list[str]]:
    """0-100 and the top reasons, strongest first."""
    x = features(facts)
    contributions = sorted(((weights[name] * value, name) for name, value in zip(FEATURES, x)), reverse=True)
    reasons = [reason(name, facts) for contribution, name in contributions[:REASONS_SHOWN] if contribution > 0]
    return round(100 * probability(weights, x)), reasons


def reason(feature: str, f: CaseFacts) -> str:
    """A feature's part in a score as staff say it, 中文 / English (the panel shows one of them)."""
    if feature == "claims":
        return f"上年出险 {f.claims_last_year} 次 / {f.claims_last_year} claims last year"
    if feature == "premium_rise":
        rise = round(100 * (f.premium_change or 0))
        return f"保费上涨 {rise}% / premium up {rise}%"
    if feature == "unanswered":
        return f"近 {f.unanswered_in_a_row} 次未接通 / last {f.unanswered_in_a_row} calls unanswered"
    if feature == "weeks_unreached":
        if not f.reached_ever:
            return f"{f.days_unreached} 天来从未联系上 / never reached in {f.days_unreached} days"
        return f"已 {f.days_unreached} 天未联系上 / not reached for {f.days_unreached} days"
    return {
        "opted_out": "已退订短信 / opted out of SMS",
        "do_not_call": "拒绝一切联系 / refuses all contact",
        "intent_low": "签单意向低 / low signing intent",
        "intent_high": "签单意向高 / high signing intent",
        "online": "网销渠道 / online channel",
        "lost_before": "曾在他处续保 / renewed elsewhere before",
    }[feature]


# --- how good a score is ----------------------------------------------------------------------------


def auc(scores: Sequence[float], lapsed: Sequence[bool]) -> float | None:
    """The chance that a case that lapsed scored above one that renewed (ties count half); None
    without both kinds of outcome."""
    ranked = sorted(zip(scores, lapsed))
    positives = sum(lapsed)
    negatives = len(ranked) - positives
    if not positives or not negatives:
        return None
    rank_sum, i = 0.0, 0
    while i < len(ranked):  # average ranks over ties
        j = i
        while j < len(ranked) and ranked[j][0] == ranked[i][0]:
            j += 1
        rank_sum += sum(1 for _, pos in ranked[i:j] if pos) * (i + j + 1) / 2
        i = j
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


@dataclass(frozen=True)
class Decile:
    decile: int  # 1 = the lowest scores
    cases: int
    mean_score: float  # predicted lapse rate, percent
    lapse_rate: float  # observed, percent


def calibration(scores: Sequence[float], lapsed: Sequence[bool], bins: int = 10) -> list[Decile]:
    """Cases sorted by score in `bins` groups of (nearly) equal size: predicted vs observed lapse rate."""
    ranked = sorted(zip(scores, lapsed))
    n = len(ranked)
    out = []
    for k in range(bins):
        part = ranked[k * n // bins:(k + 1) * n // bins]
        if part:
            out.append(Decile(k + 1, len(part), round(sum(s for s, _ in part) / len(part), 1),
                              round(100 * sum(p for _, p in part) / len(part), 1)))
    return out


# --- the best hour to call --------------------------------------------------------------------------

# How many calls the sub-branch's hourly answer rate counts for in a customer's estimate: a customer
# with a handful of calls leans on the sub-branch, one with many on their own answers.
PRIOR_CALLS = 4.0
CALLABLE_HOURS = range(CALL_HOURS[0], CALL_HOURS[1])


@dataclass(frozen=True)
class HourlyCalls:
    answered: int = 0
    unanswered: int = 0


def best_hour(customer: Mapping[int, HourlyCalls], sub_branch: Mapping[int, HourlyCalls]) -> int | None:
    """The allowed hour (local) in which the customer is likeliest to answer: the customer's answer
    rate per hour, smoothed toward the sub-branch's (a beta prior worth PRIOR_CALLS calls). None
    while nobody has called them, nor anyone in the sub-branch."""
    if not customer and not sub_branch:
        return None
    overall = _rate(sum(h.answered for h in sub_branch.values()), sum(h.unanswered for h in sub_branch.values()), 0.5)

    def estimate(hour: int) -> float:
        local = sub_branch.get(hour, HourlyCalls())
        prior = _rate(local.answered, local.unanswered, overall, weight=PRIOR_CALLS)  # the sub-branch's hour
        own = customer.get(hour, HourlyCalls())
        return (own.answered + PRIOR_CALLS * prior) / (own.answered + own.unanswered + PRIOR_CALLS)

    # Ties go to the earlier hour: a day has time left to try again.
    return max(CALLABLE_HOURS, key=lambda hour: (estimate(hour), -hour))


def _rate(answered: int, unanswered: int, prior: float, weight: float = 1.0) -> float:
    return (answered + weight * prior) / (answered + unanswered + weight)

