"""The retention rules (PIPL Art. 19, 47), as plain data and functions: which class of personal data
goes when, and what stays because insurance law needs it.

What stays, always: the policy facts (number, dates, premium, coverages, claims), the cases (stage,
outcome, its reason, the new policy number), quotes and amounts, tasks, and who acted and when
(staff ids on cases, tasks, notes and contact records; a contact's channel, direction, template,
delivery status, duration and result). What goes: what identifies the person or what they said.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from renewals.case.calendar import add_years

# What an anonymised customer's name reads (console, exports); their id number, phones, plates and
# VINs become empty, which no import row and no inbound SMS can ever match.
ANONYMISED_NAME = "已匿名"


class DataClass(StrEnum):
    """The classes of personal data, in the order the purge clears them (a row an earlier class
    cleared is not counted again by a later one)."""

    sms_bodies = "sms_bodies"  # the text of every SMS, sent or received
    recordings = "recordings"  # the link to a call's recording
    contact_records = "contact_records"  # a contact's number (masked as it is) and the note written of it
    closed_cases = "closed_cases"  # a closed case's notes and its contacts' number, text and recording
    customers = "customers"  # a customer with no policy in force for years: anonymised whole


@dataclass(frozen=True)
class Retention:
    sms_body_days: int
    recording_days: int
    contact_record_days: int
    closed_case_days: int
    customer_without_policy_years: int

    @classmethod
    def from_settings(cls, settings) -> "Retention":
        return cls(settings.retention_sms_body_days, settings.retention_recording_days,
                   settings.retention_contact_record_days, settings.retention_closed_case_days,
                   settings.retention_customer_without_policy_years)

    def cutoffs(self, now: datetime) -> "Cutoffs":
        """What is older than these, as of `now` (the business clock), goes."""
        return Cutoffs(sms_bodies=now - timedelta(days=self.sms_body_days),
                       recordings=now - timedelta(days=self.recording_days),
                       contact_records=now - timedelta(days=self.contact_record_days),
                       closed_cases=now - timedelta(days=self.closed_case_days),
                       last_policy_expiry=add_years(now.date(), -self.customer_without_policy_years))


@dataclass(frozen=True)
class Cutoffs:
    sms_bodies: datetime  # SMS written before this lose their text
    recordings: datetime  # calls before this lose their recording's link
    contact_records: datetime  # contacts before this lose their number and note
    closed_cases: datetime  # cases closed before this lose their notes and contact details
    last_policy_expiry: date  # customers whose policies all expired before this are anonymised


def erasure_refusals(open_cases: list[str], policies_in_force: list[str]) -> list[str]:
    """Why a person's data must stay for now (PIPL Art. 47 yields to a legal duty to keep it): a
    renewal still being worked on, or a policy still in force (the insurer must be able to reach
    and identify the insured). Empty: the data may go."""
    reasons = []
    if open_cases:
        reasons.append("a renewal case is still open for policy " + ", ".join(sorted(open_cases)))
    if policies_in_force:
        reasons.append("a policy is still in force: " + ", ".join(sorted(policies_in_force)))
    return reasons
