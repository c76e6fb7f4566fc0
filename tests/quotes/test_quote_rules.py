"""Quote rules: one refusal per seed common error, renewal copy, channel setup, validity."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from renewals.quotes.rules import (
    QuoteChannel, QuoteFacts, QuoteLimits, QuoteSetup, QuoteStatus, RefusalCode, channel_refusals,
    eligibility_refusals, group_buy_id_problem, online_account_problem, quote_status, renewal_copy,
)

OK = QuoteFacts(case_outcome=None, renewed_elsewhere_with=None, vehicle_model_confirmed=True,
                vehicle_first_registered_on=date(2020, 3, 2), renewal_starts_on=date(2026, 3, 2),
                claims_last_year=0, customer_blacklisted=False, policy_channel=QuoteChannel.traditional)
LIMITS = QuoteLimits(max_claims=3, max_vehicle_age_years=10)
ONLINE = QuoteSetup(QuoteChannel.online, group_buy_id="20231234", online_account="li.si@example.com")


def codes(refusals) -> list[str]:
    return [r.code for r in refusals]


def test_an_eligible_case_has_no_refusals():
    assert eligibility_refusals(OK, LIMITS) == []


@pytest.mark.parametrize(("change", "code"), [
    ({"renewed_elsewhere_with": "平安产险"}, RefusalCode.insured_elsewhere),
    ({"vehicle_model_confirmed": False}, RefusalCode.vehicle_model_not_confirmed),
    ({"vehicle_first_registered_on": date(2016, 3, 1)}, RefusalCode.vehicle_too_old),
    ({"claims_last_year": 4}, RefusalCode.too_many_claims),
    ({"customer_blacklisted": True}, RefusalCode.blacklisted_customer),
    ({"case_outcome": "RENEWED"}, RefusalCode.case_closed),
])
def test_each_policy_error_has_its_own_code(change, code):
    [refusal] = eligibility_refusals(replace(OK, **change), LIMITS)
    assert refusal.code is code and refusal.message


def test_limits_are_inclusive_at_the_edge():
    assert eligibility_refusals(replace(OK, claims_last_year=3), LIMITS) == []
    ten_years = replace(OK, vehicle_first_registered_on=date(2016, 3, 2))  # exactly 10 years at the start
    assert eligibility_refusals(ten_years, LIMITS) == []
    assert codes(eligibility_refusals(ten_years, QuoteLimits(max_vehicle_age_years=9))) == ["vehicle_too_old"]
    leap = replace(OK, vehicle_first_registered_on=date(2016, 2, 29), renewal_starts_on=date(2026, 3, 1))
    assert codes(eligibility_refusals(leap, LIMITS)) == ["vehicle_too_old"]


def test_channel_must_be_configured_right_and_match_the_policy():
    assert channel_refusals(None, None, QuoteChannel.traditional)[1][0].code is RefusalCode.channel_not_configured
    traditional = QuoteSetup(QuoteChannel.traditional)
    assert channel_refusals(traditional, None, QuoteChannel.traditional) == (QuoteChannel.traditional, [])
    assert codes(channel_refusals(traditional, QuoteChannel.online, QuoteChannel.online)[1]) == [
        "channel_not_configured"]
    assert channel_refusals(ONLINE, None, QuoteChannel.online) == (QuoteChannel.online, [])
    assert codes(channel_refusals(ONLINE, None, QuoteChannel.traditional)[1]) == ["wrong_channel"]
    bad = replace(ONLINE, group_buy_id="https://e.picc/x")
    assert codes(channel_refusals(bad, None, QuoteChannel.online)[1]) == ["invalid_group_buy_id"]


def test_config_values_are_checked():
    assert group_buy_id_problem("20231234") is None and online_account_problem("li.si@example.com") is None
    for bad in ("123", "12ab5678", "1" * 33, "2023 1234"):
        assert group_buy_id_problem(bad).startswith("group_buy_id:")
    for bad in ("a b", "x", "li\x00si"):
        assert online_account_problem(bad).startswith("online_account:")


def test_renewal_copy_keeps_last_years_covers_and_only_drops():
    last = [{"code": "CTP"}, {"code": "TPL", "amount": 1000000}, {"code": "SCR"}]
    assert renewal_copy(last, None) == (last, [])
    assert renewal_copy(last, ["CTP", "TPL"]) == (last[:2], [])
    assert codes(renewal_copy(last, ["CTP", "GLASS"])[1]) == ["not_renewal_copy"]
    assert codes(renewal_copy(last, ["TPL"])[1]) == ["not_renewal_copy"], "交强险 is compulsory"


def test_status_of_a_quote():
    today = date(2026, 2, 10)
    status = lambda **kw: quote_status(**{"eligible": True, "valid_until": today, "sent": False,  # noqa: E731
                                          "accepted": False, "today": today, **kw})
    assert status() is QuoteStatus.ready and status(sent=True) is QuoteStatus.sent
    assert status(today=date(2026, 2, 11)) is QuoteStatus.expired
    assert status(accepted=True, today=date(2026, 3, 1)) is QuoteStatus.accepted
    assert status(eligible=False) is QuoteStatus.refused
