"""Renewal pricing: last premium × no-claim-discount factor × channel factor, to the fen."""

from __future__ import annotations

from decimal import Decimal

import pytest

from renewals.quotes.pricing import PricingRequest, PricingUnavailable, RuleBasedPricing
from renewals.core.settings import Settings

COVERS = [{"code": "CTP", "name": "交强险"}, {"code": "TPL", "name": "第三者责任险", "amount": 1000000}]


def request(premium: str = "4386.50", claims: int = 0, channel: str = "traditional", covers=COVERS, last=COVERS):
    return PricingRequest(last_premium=Decimal(premium), claims_last_year=claims, channel=channel,
                          last_coverages=last, coverages=covers)


@pytest.fixture
def pricing() -> RuleBasedPricing:
    return RuleBasedPricing.from_settings(Settings(_env_file=None))


@pytest.mark.parametrize(("claims", "traditional", "online"), [
    (0, "3728.53", "3542.10"),  # 4386.50 × 0.85 = 3728.525 → 3728.53; × 0.95 = 3542.09875 → 3542.10
    (1, "4386.50", "4167.18"),  # × 1.00; × 0.95 = 4167.175 → 4167.18
    (2, "5483.13", "5208.97"),  # × 1.25 = 5483.125 → 5483.13; × 0.95 = 5208.96875 → 5208.97
    (3, "6579.75", "6250.76"),  # × 1.50; × 0.95 = 6250.7625 → 6250.76
    (7, "6579.75", "6250.76"),  # more claims than the table: its highest row
])
def test_default_tables_by_claims_and_channel_rounded_to_the_fen(pricing, claims, traditional, online):
    assert pricing.price(request(claims=claims)).premium == Decimal(traditional)
    priced = pricing.price(request(claims=claims, channel="online"))
    assert priced.premium == Decimal(online)
    assert priced.premium.as_tuple().exponent == -2 and isinstance(priced.premium, Decimal)


def test_tables_come_from_settings(monkeypatch):
    monkeypatch.setenv("QUOTE_NCD_FACTORS", '{"0": "0.7", "1": "1.0", "4": "2.0"}')
    monkeypatch.setenv("QUOTE_CHANNEL_FACTORS", '{"traditional": "1.1", "online": "0.9"}')
    pricing = RuleBasedPricing.from_settings(Settings(_env_file=None))
    assert pricing.price(request("1000.00", claims=0)).premium == Decimal("770.00")
    assert pricing.price(request("1000.00", claims=3, channel="online")).premium == Decimal("900.00")
    assert pricing.price(request("1000.00", claims=4)).premium == Decimal("2200.00")
    assert pricing.price(request("1000.00", claims=9)).factors["ncd_factor"] == "2.0"


def test_half_a_fen_rounds_up(pricing):
    # 0.01 × 0.85 = 0.0085 → 0.01; 0.03 × 0.85 = 0.0255 → 0.03 (half up, not to even)
    assert pricing.price(request("0.01")).premium == Decimal("0.01")
    assert pricing.price(request("0.03")).premium == Decimal("0.03")
    assert pricing.price(request("100.10")).premium == Decimal("85.09")  # 85.085


def test_dropped_covers_scale_by_last_years_cover_premiums(pricing):
    last = [{"code": "CTP", "premium": "950.00"}, {"code": "TPL", "premium": "1050.00"}, {"code": "SCR",
                                                                                          "premium": "2000.00"}]
    kept = last[:2]
    priced = pricing.price(request("4000.00", claims=1, covers=kept, last=last))
    assert priced.premium == Decimal("2000.00") and priced.factors["base"] == "2000.00"
    with pytest.raises(PricingUnavailable, match="per-cover premiums"):
        pricing.price(request(covers=COVERS[:1]))


def test_bad_tables_are_refused():
    with pytest.raises(ValueError, match="0 claims"):
        RuleBasedPricing({1: Decimal("1")}, {"traditional": Decimal("1"), "online": Decimal("1")})
    with pytest.raises(ValueError, match="online"):
        RuleBasedPricing({0: Decimal("1")}, {"traditional": Decimal("1")})
    with pytest.raises(ValueError, match="positive"):
        RuleBasedPricing({0: Decimal("0")}, {"traditional": Decimal("1"), "online": Decimal("1")})
