"""Renewal pricing (SPEC §7): a provider interface, so a real rating engine can replace the default
rule-based one, which prices last year's premium × the no-claim-discount factor for last year's
claims × the channel factor, rounded to the fen. Pure: no I/O, Decimal only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Protocol

from renewals.quotes.rules import QuoteChannel
from renewals.core.settings import Settings

FEN = Decimal("0.01")


class PricingUnavailable(Exception):
    """The provider cannot price this request; the message says why (shown to the staff member)."""


@dataclass(frozen=True)
class PricingRequest:
    last_premium: Decimal
    claims_last_year: int
    channel: str  # traditional (传统渠道) or online (网销渠道)
    last_coverages: Sequence[Mapping[str, Any]]  # last year's, as on the policy
    coverages: Sequence[Mapping[str, Any]]  # what is quoted: the renewal copy, possibly with covers dropped


@dataclass(frozen=True)
class Priced:
    premium: Decimal
    # How the premium was reached, stored with the quote so staff and auditors can see it.
    factors: dict[str, str] = field(default_factory=dict)


class PricingProvider(Protocol):
    name: str

    def price(self, request: PricingRequest) -> Priced: ...


def to_fen(amount: Decimal) -> Decimal:
    return amount.quantize(FEN, rounding=ROUND_HALF_UP)


class RuleBasedPricing:
    """last premium × NCD factor (by claims count; the highest count in the table covers more)
    × channel factor. Dropping covers scales the base by last year's per-cover premiums."""

    name = "rule-based"

    def __init__(self, ncd_factors: Mapping[int, Decimal], channel_factors: Mapping[str, Decimal]):
        if 0 not in ncd_factors or any(k < 0 for k in ncd_factors):
            raise ValueError("QUOTE_NCD_FACTORS needs a factor for 0 claims and no negative claim counts")
        missing = [ch.value for ch in QuoteChannel if ch not in channel_factors]
        if missing:
            raise ValueError(f"QUOTE_CHANNEL_FACTORS has no factor for {', '.join(missing)}")
        if any(f <= 0 for f in (*ncd_factors.values(), *channel_factors.values())):
            raise ValueError("pricing factors must be positive")
        self._ncd = dict(sorted(ncd_factors.items()))
        self._channel = dict(channel_factors)

    @classmethod
    def from_settings(cls, settings: Settings) -> RuleBasedPricing:
        return cls(settings.quote_ncd_factors, settings.quote_channel_factors)

    def ncd_factor(self, claims: int) -> Decimal:
        if claims < 0:
            raise ValueError("claims_last_year cannot be negative")
        return self._ncd[max(k for k in self._ncd if k <= claims)]

    def price(self, request: PricingRequest) -> Priced:
        if request.channel not in self._channel:
            raise PricingUnavailable(f"no channel factor for {request.channel!r}")
        if request.last_premium <= 0:
            raise PricingUnavailable("last year's premium is missing: the policy cannot be priced by renewal copy")
        base = request.last_premium * _kept_share(request.last_coverages, request.coverages)
        ncd, channel = self.ncd_factor(request.claims_last_year), self._channel[request.channel]
        return Priced(premium=to_fen(base * ncd * channel), factors={
            "provider": self.name, "last_premium": str(request.last_premium), "base": str(to_fen(base)),
            "ncd_factor": str(ncd), "channel_factor": str(channel),
        })


def _kept_share(last: Sequence[Mapping[str, Any]], quoted: Sequence[Mapping[str, Any]]) -> Decimal:
    """1 for the whole renewal copy; with covers dropped, the share of last year's per-cover premiums kept."""
    kept = {c["code"] for c in quoted}
    if kept == {c["code"] for c in last}:
        return Decimal(1)
    premiums = [c.get("premium") for c in last]
    if any(p is None for p in premiums):
        raise PricingUnavailable("last year's policy has no per-cover premiums, so a quote with covers dropped "
                                 "cannot be priced by rule; quote the full renewal copy")
    total = sum((Decimal(str(p)) for p in premiums), Decimal(0))
    if total <= 0:
        raise PricingUnavailable("last year's per-cover premiums add up to nothing")
    return sum((Decimal(str(c["premium"])) for c in last if c["code"] in kept), Decimal(0)) / total
