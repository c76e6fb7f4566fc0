"""Request and response bodies of the staff API, each with an OpenAPI example, and what shapes a
record into its body: the routes and the console pages answer with the same ones.

Free text (`note`) never goes to the workflow: the API stores it as a Note and passes its id.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, Field, ValidationInfo, field_validator
from sqlmodel import Session

from api.inputs import CASE_ID, QUOTE_ID, STAFF_ID, Line, Note, Text, examples
from models import ImportJob, Policy, Quote, QuoteWish, RenewalCase, SigningIntent, SmsTemplate
from renewals.case.messages import MARKETING_KEYS, REQUIRED_PLACEHOLDERS, Encoding, Rendered
from renewals.intake.policy_file import MAX_OTHER_PHONES, MAX_PEOPLE
from renewals.intake.service import JobStatus, job_status
from renewals.org.service import sub_branch_codes
from renewals.quotes.rules import QuoteChannel, QuoteStatus, RefusalCode
from renewals.quotes.service import case_quotes, status_of
from renewals.case.contract import (
    CaseState, Channel, CloseReason, ContactResult, FollowUpStatus, Insurer, LossReason, StaffSmsTemplate,
)

# --- auth and me -----------------------------------------------------------------------------------


class TokenOut(BaseModel):
    model_config = examples({"access_token": "eyJhbGciOiJIUzI1NiIs...", "token_type": "bearer",
                             "expires_at": "2026-03-02T09:00:00Z"})
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_at: datetime


class MeOut(BaseModel):
    model_config = examples({"id": STAFF_ID, "username": "li.si", "name": "李四", "role": "sales",
                             "phone": "+8613812348000", "branch_code": "3100", "sub_branch_code": "310101"})
    id: uuid.UUID
    username: str
    name: str
    role: str
    phone: str
    branch_code: str | None
    sub_branch_code: str | None


class LapseRisk(BaseModel):
    score: int = Field(ge=0, le=100, description="the chance, in percent, that the case ends lost or lapsed")
    reasons: list[str] = Field(description="the score's top reasons, strongest first, 中文 / English")
    model_version: str = Field(description="the model that scored it: prior-… while the book has too few outcomes")


class AbsenceIn(BaseModel):
    model_config = examples({"cover_id": STAFF_ID, "starts_at": "2026-03-02T01:00:00Z",
                             "ends_at": "2026-03-06T10:00:00Z"})
    cover_id: uuid.UUID = Field(description="a service manager of the same sub-branch")
    starts_at: AwareDatetime = Field(description="from (a past time means now)")
    ends_at: AwareDatetime
    staff_id: uuid.UUID | None = Field(None, description="who is away: a deputy records it for a service manager "
                                                         "of their sub-branch; default yourself")


class AbsenceOut(BaseModel):
    model_config = examples({"id": "5b0c7e0e-8f3a-4e55-9d1e-2f6b7a8c9d01", "staff_id": "0e6f1c2d-3b4a-4c5d-8e9f-a0b1c2d3e4f5",
                             "cover_id": STAFF_ID, "starts_at": "2026-03-02T01:00:00Z",
                             "ends_at": "2026-03-06T10:00:00Z", "recorded_by": "0e6f1c2d-3b4a-4c5d-8e9f-a0b1c2d3e4f5",
                             "ended_by": None})
    id: uuid.UUID
    staff_id: uuid.UUID
    cover_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    recorded_by: uuid.UUID
    ended_by: uuid.UUID | None


class TaskItem(BaseModel):
    task_id: uuid.UUID
    case_id: uuid.UUID
    policy_no: str
    stage: str
    kind: str
    day: int | None = Field(description="day relative to expiry (T-18 = -18) for daily tasks")
    what_to_do: str
    opens_at: datetime
    due_at: datetime
    missed: bool = Field(description="a daily task nobody handled by the end of its day")
    expiry_date: date | None = Field(None, description="the case's policy expiry date")
    customer_name: str | None = Field(description="masked")
    customer_phone: str | None = Field(description="masked")
    plate: str | None = Field(description="masked")
    handover_note: str | None = Field(None, description="the deputy's hand-over note, on the first final-week "
                                                        "call after supervision")
    signing_intent: SigningIntent | None = Field(
        default=None, description="签单意向 as last recorded: high comes first among tasks due at the same time")
    lapse_risk: LapseRisk | None = Field(None, description="refreshed nightly; among tasks due at the same time "
                                                           "the higher risk comes first")
    best_hour: int | None = Field(None, ge=0, le=23, description="the local hour (its start) within the call hours "
                                                                 "the customer is likeliest to answer in")
    covering_for: uuid.UUID | None = Field(None, description="the absent colleague whose task this is, while "
                                                             "you cover them")


class TaskPage(BaseModel):
    model_config = examples({
        "date": "2026-02-11", "total": 1, "limit": 50, "offset": 0,
        "items": [{"task_id": "1c9e6679-7425-40de-944b-e07fc1f90ae7", "case_id": CASE_ID,
                   "policy_no": "PDAA202531010100001234", "stage": "THIRD_CONTACT", "kind": "call", "day": -18,
                   "what_to_do": "每日电话跟进并设置跟进状态 / call daily and set the follow-up status",
                   "opens_at": "2026-02-11T01:00:00Z", "due_at": "2026-02-11T16:00:00Z", "missed": False,
                   "customer_name": "钱**", "customer_phone": "139****8000", "plate": "沪A***45",
                   "signing_intent": "high",
                   "lapse_risk": {"score": 64, "reasons": ["近 3 次未接通 / last 3 calls unanswered",
                                                           "上年出险 2 次 / 2 claims last year"],
                                  "model_version": "lr-20261206T020000-48210"},
                   "best_hour": 18}],
    })
    date: date
    items: list[TaskItem]
    total: int
    limit: int
    offset: int


# --- case actions ----------------------------------------------------------------------------------


class ContactIn(BaseModel):
    model_config = examples({"channel": "call", "result": "reached", "quote_wish": "wants", "signing_intent": "high",
                             "note": "客户要报价 / wants a quote"})
    channel: Channel
    result: ContactResult
    quote_wish: QuoteWish | None = Field(
        default=None, description="the customer wants a quote, or declined one: then no quote SMS goes out until "
                                  "a contact records that they want one (以免打扰); omitted: unchanged")
    signing_intent: SigningIntent | None = Field(
        default=None, description="签单意向 high/medium/low; omitted: unchanged")
    note: Note = None


class FollowUpIn(BaseModel):
    model_config = examples({"status": "failed", "note": "价格谈不拢,需要副经理协助 / needs the deputy"},
                            {"status": "success", "new_policy_no": "PDAA202631010100009876"})
    status: FollowUpStatus
    note: Note = None
    new_policy_no: Text(64, min_length=1) | None = Field(default=None, description="required for success")


# The reasons staff can give: `unknown` is only ever set by the system at the end of T+7, so the
# schema does not offer it.
_GivenLossReason = StrEnum("GivenLossReason", {r.name: r.value for r in LossReason if r is not LossReason.unknown})
GivenLossReason = Annotated[_GivenLossReason, AfterValidator(lambda given: LossReason(given.value))]


class RenewedElsewhereIn(BaseModel):
    model_config = examples({"insurer": "ping_an", "reason": "price", "note": "平安产险,对方便宜300元"},
                            {"insurer": "other", "note": "某地方保险公司"})
    insurer: Insurer = Field(description="the insurer's code; name any other insurer in the note")
    reason: GivenLossReason | None = Field(default=None, description="if known now; else a loss-reason task opens")
    note: Note = None


class LossReasonIn(BaseModel):
    model_config = examples({"reason": "claims", "note": "去年理赔不满意 / unhappy with last year's claim"})
    reason: GivenLossReason
    note: Note = None


class CloseIn(BaseModel):
    model_config = examples({"reason": "vehicle_scrapped", "note": "车辆已报废 / the vehicle was scrapped"})
    reason: CloseReason
    note: Note = None


class ResolveAttentionIn(BaseModel):
    model_config = examples({"note": "客户语言已更正为中文,通知已补发 / customer's language corrected, notice resent"})
    note: Note = None


class ReassignReason(StrEnum):
    """Coded so the workflow payload carries no free text; details go in the note."""

    staff_left = "staff_left"  # 离职
    workload = "workload"
    customer_request = "customer_request"
    other = "other"


class ReassignIn(BaseModel):
    model_config = examples({"new_owner_id": STAFF_ID, "reason": "staff_left", "note": "李四离职,移交王六"})
    new_owner_id: uuid.UUID = Field(description="an active service manager (sales) of the case's sub-branch")
    reason: ReassignReason
    note: Note = None


class SmsIn(BaseModel):
    model_config = examples({"template": "quote", "quote_id": QUOTE_ID},
                            {"template": "service_request"})
    template: StaffSmsTemplate
    quote_id: uuid.UUID | None = Field(default=None, validate_default=True, description="required for quote")

    @field_validator("quote_id")
    @classmethod
    def _quote_needs_its_quote(cls, quote_id: uuid.UUID | None, info: ValidationInfo) -> uuid.UUID | None:
        if info.data.get("template") == StaffSmsTemplate.quote and quote_id is None:
            raise ValueError("a quote SMS needs the quote to send")
        return quote_id


class SmsOut(BaseModel):
    model_config = examples({"status": "sent", "send_at": "2026-02-11T02:00:00Z"},
                            {"status": "held", "send_at": "2026-02-12T00:00:00Z"})
    status: Literal["sent", "held", "queued", "suppressed", "failed"] = Field(
        description="held: quiet hours (21:00-08:00 local), goes out at send_at; queued: accepted, Twilio "
                    "has not answered yet (it goes out as soon as it does)")
    send_at: datetime | None = None
    error_code: int | None = None


class CallOut(BaseModel):
    model_config = examples({"call_sid": "CA5f0c1a528d0e4d7b9d1c2b9f4f3e6a10", "status": "queued",
                             "dialing": "139****8000", "contact_id": "9a1f4e0e-6b55-4f25-a0f5-0c8e2c7a1d33"})
    call_sid: str
    status: str
    dialing: str | None = Field(description="the customer's number, masked: your phone rings first")
    contact_id: uuid.UUID


class CustomerPhoneIn(BaseModel):
    model_config = examples({"phone": "139 1234 5678", "note": "客户换号 / new number"})
    phone: Text(32, min_length=3)
    note: Note = None


class PhoneUnreachableIn(BaseModel):
    model_config = examples({"note": "两个号码均为空号 / both numbers are out of service"})
    note: Text(2000, min_length=1)


class PersonIn(BaseModel):
    """A family member or the proxy (委托人)."""

    name: Text(64, min_length=1)
    relation: Text(16, min_length=1) = Field(description="配偶, 子女, 父母, 朋友 …")
    phone: Text(32) | None = Field(default=None, description="required for the proxy")


class ContactPerson(BaseModel):
    """A family member or the proxy (委托人), as the reader may see them."""

    name: str | None
    relation: str | None
    phone: str | None = None


class CustomerContactsIn(BaseModel):
    model_config = examples({"proxy": {"name": "李红", "relation": "配偶", "phone": "139 0000 1111"},
                             "family": [{"name": "李明", "relation": "子女", "phone": "13900002222"}],
                             "other_phones": ["021-62345678"]})
    proxy: PersonIn | None = Field(default=None, description="委托人, who can renew for the customer")
    family: list[PersonIn] = Field(default_factory=list, max_length=MAX_PEOPLE)
    other_phones: list[Text(32, min_length=3)] = Field(default_factory=list, max_length=MAX_OTHER_PHONES)


class CustomerContactsOut(BaseModel):
    customer_id: uuid.UUID
    proxy: ContactPerson | None
    family: list[ContactPerson]
    other_phones: list[str]


class CustomerPhoneOut(BaseModel):
    model_config = examples({"customer_id": "3f5b0d36-0a63-4b0f-b1f3-6f1d7f0a9c21",
                             "corrected_phone": "+8613912345678", "phone_unreachable": False, "note_id": None})
    customer_id: uuid.UUID
    corrected_phone: str | None = Field(description="shown only to the manager who entered it")
    phone_unreachable: bool
    note_id: uuid.UUID | None = None


# --- cases -----------------------------------------------------------------------------------------

CASE_ROW_EXAMPLE = {
    "id": CASE_ID, "workflow_id": "renewal-PDAA202531010100001234-20260301", "policy_id":
    "e8f7a1b2-3c4d-4e5f-8a9b-0c1d2e3f4a5b", "policy_no": "PDAA202531010100001234", "expiry_date": "2026-03-01",
    "timezone": "Asia/Shanghai", "sub_branch_id": "c2d3e4f5-a6b7-4c8d-9e0f-1a2b3c4d5e6f",
    "stage": "THIRD_CONTACT", "owner_id": STAFF_ID, "deputy_id": "8e2f3d4c-5b6a-4c7d-8e9f-0a1b2c3d4e5f",
    "escalated": False, "follow_up_status": "failed", "outcome": None, "outcome_reason": None,
    "new_policy_no": None, "lost_to_insurer": None, "outcome_stage": None, "started_at": "2025-12-29T08:00:00Z",
    "stage_entered_at": "2026-02-09T01:00:00Z", "closed_at": None, "updated_at": "2026-02-11T02:00:00Z",
}
STATE_EXAMPLE = {
    "case_id": CASE_ID, "policy_no": "PDAA202531010100001234", "expiry_date": "2026-03-01",
    "stage": "THIRD_CONTACT", "owner_id": STAFF_ID, "deputy_id": "8e2f3d4c-5b6a-4c7d-8e9f-0a1b2c3d4e5f",
    "escalated": False, "last_status": "failed", "outcome": None, "outcome_reason": None, "new_policy_no": None,
    "renewed_elsewhere": False, "sms_opted_out": False,
    "open_tasks": [{"id": "1c9e6679-7425-40de-944b-e07fc1f90ae7", "kind": "call", "assignee_id": STAFF_ID,
                    "stage": "THIRD_CONTACT", "opens_at": "2026-02-12T01:00:00Z",
                    "due_at": "2026-02-12T16:00:00Z", "day": -17}],
    "next_deadline": "2026-02-11T16:00:00Z",
}


def state_responses() -> dict[int | str, dict[str, Any]]:
    """The case state every case action answers with, as its OpenAPI example."""
    return {200: {"description": "the case's new state (the workflow's `state` query)",
                  "content": {"application/json": {"example": STATE_EXAMPLE}}}}


class CaseView(BaseModel):
    model_config = examples({"case": CASE_ROW_EXAMPLE, "state": STATE_EXAMPLE,
                             "customer_id": "3f5b0d36-0a63-4b0f-b1f3-6f1d7f0a9c21"})
    case: RenewalCase = Field(description="the projection row")
    state: CaseState | None = Field(description="the workflow's live `state` query; null if it cannot answer now")
    customer_id: uuid.UUID


class CaseStatus(StrEnum):
    open = "open"
    closed = "closed"  # any outcome


class CasePage(BaseModel):
    model_config = examples({"items": [CASE_ROW_EXAMPLE], "total": 1, "limit": 50, "offset": 0})
    items: list[RenewalCase]
    total: int
    limit: int
    offset: int


# --- quotes ----------------------------------------------------------------------------------------


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
    return [quote_out(quote, today) for quote in case_quotes(session, case_ids)]


# --- the unified customer view ---------------------------------------------------------------------


class VehicleOut(BaseModel):
    id: uuid.UUID
    plate: str | None
    vin: str | None
    model_code: str | None
    model_confirmed: bool
    first_registered_on: date | None


class PolicyOut(BaseModel):
    id: uuid.UUID
    policy_no: str
    vehicle_id: uuid.UUID
    channel: str
    status: str
    premium: Decimal
    coverages: list[dict[str, Any]]
    claims_last_year: int
    starts_on: date
    expires_on: date


class ContactOut(BaseModel):
    id: uuid.UUID
    case_id: uuid.UUID | None
    staff_id: uuid.UUID | None
    recipient: str
    channel: str
    direction: str
    number: str | None = Field(description="masked")
    template: str | None
    body: str | None = Field(description="SMS text; digits masked unless you own an open case of this customer")
    delivery_status: str | None
    error_code: int | None
    duration_seconds: int | None
    recording_url: str | None
    result: str | None
    note: str | None
    at: datetime


class NoteOut(BaseModel):
    id: uuid.UUID
    case_id: uuid.UUID
    author_id: uuid.UUID
    body: str
    created_at: datetime


class CustomerView(BaseModel):
    model_config = examples({
        "id": "3f5b0d36-0a63-4b0f-b1f3-6f1d7f0a9c21", "name": "钱多多", "id_number": "**************1234",
        "phone": "139****8000", "other_phones": [], "corrected_phone": None, "has_corrected_phone": False,
        "phone_unreachable": False, "sms_opt_out": False, "do_not_call_until": None, "blacklisted": False,
        "language": "zh-CN", "family": [{"name": "李明", "relation": "子女", "phone": "139****2222"}],
        "proxy": {"name": "李红", "relation": "配偶", "phone": "139****1111"},
        "vehicles": [{"id": "6a7b8c9d-0e1f-4a2b-8c3d-4e5f6a7b8c9d", "plate": "沪A12345", "vin": "LSVAB12C3D4E5F6G7",
                      "model_code": "SVW7182QQD", "model_confirmed": True, "first_registered_on": "2023-03-01"}],
        "policies": [{"id": "e8f7a1b2-3c4d-4e5f-8a9b-0c1d2e3f4a5b", "policy_no": "PDAA202531010100001234",
                      "vehicle_id": "6a7b8c9d-0e1f-4a2b-8c3d-4e5f6a7b8c9d", "channel": "traditional",
                      "status": "active", "premium": "4386.50", "coverages": [{"code": "CTP", "name": "交强险"}],
                      "claims_last_year": 1, "starts_on": "2025-03-02", "expires_on": "2026-03-01"}],
        "cases": [CASE_ROW_EXAMPLE],
        "contacts": [{"id": "9a1f4e0e-6b55-4f25-a0f5-0c8e2c7a1d33", "case_id": CASE_ID, "staff_id": STAFF_ID,
                      "recipient": "customer", "channel": "call", "direction": "outbound", "number": "139****8000",
                      "template": None, "body": None, "delivery_status": "completed", "error_code": None,
                      "duration_seconds": 95, "recording_url": "https://api.twilio.com/.../RE123",
                      "result": "answered", "note": None, "at": "2026-02-11T02:00:00Z"}],
        "notes": [],
    })
    id: uuid.UUID
    name: str | None
    id_number: str | None = Field(description="masked but the last 4, for everyone")
    phone: str | None = Field(description="in full only for the current owner of one of the customer's open cases")
    other_phones: list[str | None]
    corrected_phone: str | None = Field(description="only for the manager who entered it")
    has_corrected_phone: bool
    phone_unreachable: bool
    sms_opt_out: bool
    do_not_call_until: date | None
    blacklisted: bool
    language: str
    family: list[ContactPerson] = Field(description="phones masked as the customer's own")
    proxy: ContactPerson | None = Field(description="委托人; the phone masked as the customer's own")
    vehicles: list[VehicleOut]
    policies: list[PolicyOut]
    cases: list[RenewalCase]
    contacts: list[ContactOut]
    notes: list[NoteOut]
    quotes: list[QuoteOut] = Field(default_factory=list, description="quotes of the customer's cases, refused too")


# --- staff and their books ------------------------------------------------------------------------


class ReassignBookIn(BaseModel):
    model_config = {"json_schema_extra": {"examples": [
        {"to": ["7d1e2c3b-4a59-4b6c-8d7e-9f0a1b2c3d4e"], "reason": "李四离职", "dry_run": True},
        {"to": ["7d1e2c3b-4a59-4b6c-8d7e-9f0a1b2c3d4e", "0c2d7e9a-1b3c-4d5e-8f9a-0b1c2d3e4f5a"],
         "reason": "staff left"}]}}
    to: list[uuid.UUID] = Field(min_length=1, max_length=50, description="service managers to spread the book over")
    reason: Line(64, min_length=1)
    dry_run: bool = Field(default=False, description="return exactly what would move, and move nothing")


class BookReportOut(BaseModel):
    model_config = {"json_schema_extra": {"examples": [{
        "from_staff_id": "0c2d7e9a-1b3c-4d5e-8f9a-0b1c2d3e4f5a", "dry_run": False, "policies": 50, "cases": 50,
        "open_tasks": 50, "per_owner": {"7d1e2c3b-4a59-4b6c-8d7e-9f0a1b2c3d4e": 25,
                                        "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d": 25},
        "moves": [{"policy_no": "PDAA20263101010000003", "to_staff_id": "7d1e2c3b-4a59-4b6c-8d7e-9f0a1b2c3d4e",
                   "has_open_case": True, "open_tasks": 1}], "failures": []}]}}
    from_staff_id: uuid.UUID
    dry_run: bool
    policies: int = Field(description="policies moved (or that would move)")
    cases: int = Field(description="open renewal cases moved through the workflow")
    open_tasks: int = Field(description="open tasks that moved with their cases")
    per_owner: dict[str, int]
    moves: list[dict[str, Any]]
    failures: list[dict[str, str]] = Field(description="policies left with the leaver, and why; rerun to retry")


class BookOut(BaseModel):
    model_config = {"json_schema_extra": {"examples": [{"staff_id": "0c2d7e9a-1b3c-4d5e-8f9a-0b1c2d3e4f5a",
                                                        "active": True, "policies": 12, "open_cases": 9,
                                                        "open_tasks": 9}]}}
    staff_id: uuid.UUID
    active: bool
    policies: int
    open_cases: int
    open_tasks: int


class DeactivatedOut(BaseModel):
    model_config = {"json_schema_extra": {"examples": [{"staff_id": "0c2d7e9a-1b3c-4d5e-8f9a-0b1c2d3e4f5a",
                                                        "active": False}]}}
    staff_id: uuid.UUID
    active: bool


class HandlerCodeIn(BaseModel):
    model_config = {"json_schema_extra": {"examples": [{"handler_code": "JB310101009"}, {"handler_code": None}]}}
    handler_code: str | None = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$",
                                     description="经办人 code as the import file names it; null takes it away")


class HandlerCodeOut(BaseModel):
    model_config = {"json_schema_extra": {"examples": [{"staff_id": "0c2d7e9a-1b3c-4d5e-8f9a-0b1c2d3e4f5a",
                                                        "handler_code": "JB310101009"}]}}
    staff_id: uuid.UUID
    handler_code: str | None


# --- who serves each policy -----------------------------------------------------------------------


class PolicyOwnerOut(BaseModel):
    policy_id: uuid.UUID
    policy_no: str
    sub_branch: str
    expires_on: date
    handler_code: str | None = Field(description="经办人 code from the import (matched no active service manager)")
    unassigned_reason: str | None = Field(default=None, description="unassigned: why the import found no owner")
    owner_id: uuid.UUID | None = None
    owner_username: str | None = None
    why: str | None = Field(default=None, description="stale: why the owner no longer fits")


class PolicyOwnerPage(BaseModel):
    model_config = {"json_schema_extra": {"examples": [{"total": 1, "limit": 50, "offset": 0, "items": [{
        "policy_id": "2b7e9a4c-1d3f-4e5a-9b6c-7d8e9f0a1b2c", "policy_no": "PDAA20263101010000003",
        "sub_branch": "310101", "expires_on": "2027-01-05", "handler_code": "JB310101009",
        "unassigned_reason": "handler_code: no staff member has this 经办人 code", "owner_id": None,
        "owner_username": None, "why": None}]}]}}
    items: list[PolicyOwnerOut]
    total: int
    limit: int
    offset: int


class AssignIn(BaseModel):
    model_config = {"json_schema_extra": {"examples": [{"policy_no": "PDAA20263101010000003",
                                                        "staff_id": "7d1e2c3b-4a59-4b6c-8d7e-9f0a1b2c3d4e",
                                                        "reason": "direct sale, served by the sub-branch"}]}}
    policy_no: str = Field(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9-]*$")
    staff_id: uuid.UUID = Field(description="an active service manager (sales) of the policy's sub-branch")
    reason: Line(200, min_length=1)


class AssignOut(BaseModel):
    model_config = {"json_schema_extra": {"examples": [{"policy_no": "PDAA20263101010000003",
                                                        "staff_id": "7d1e2c3b-4a59-4b6c-8d7e-9f0a1b2c3d4e",
                                                        "counts": {"cases_started": 1, "reassigned": 0}}]}}
    policy_no: str
    staff_id: uuid.UUID
    counts: dict[str, Any] = Field(description="cases_started: 1 when its case was due; reassigned: 1 when it "
                                               "had an open case")


# --- SMS templates --------------------------------------------------------------------------------


class SmsTemplateOut(BaseModel):
    model_config = {"json_schema_extra": {"examples": [{
        "key": "service_request", "language": "zh-CN", "version": 2,
        "body": "【{{ insurer_name }}】尊敬的{{ customer_name }}：诚恳希望继续为您服务。服务经理{{ manager_name }}，电话"
                "{{ manager_phone }}。回{{ opt_out_reply }}退订",
        "created_by": "7d1e2c3b-4a59-4b6c-8d7e-9f0a1b2c3d4e", "created_at": "2026-02-11T02:00:00Z",
        "marketing": True, "required": ["manager_name", "manager_phone", "opt_out_reply"]}]}}
    key: str
    language: str
    version: int
    body: str = Field(description="Jinja2: {{ manager_name }}, {{ expiry_date | zh_date }} …")
    created_by: uuid.UUID | None = Field(description="who saved this version; null: shipped with the product")
    created_at: datetime
    marketing: bool = Field(description="a marketing text (营销短信): it must keep its opt-out line")
    required: list[str] = Field(description="placeholders the text must keep")


class TemplateIn(BaseModel):
    model_config = {"json_schema_extra": {"examples": [{
        "body": "【{{ insurer_name }}】尊敬的{{ customer_name }}：诚恳希望继续为您服务。服务经理{{ manager_name }}，"
                "电话{{ manager_phone }}。回{{ opt_out_reply }}退订"}]}}
    body: Text(2000, min_length=1)
    case_id: uuid.UUID | None = Field(default=None, description="the case to preview with; default: your newest")


class PreviewOut(BaseModel):
    model_config = {"json_schema_extra": {"examples": [{
        "body": "【中国人保财险】尊敬的钱**：诚恳希望继续为您服务。服务经理李四，电话13812348000。回T退订",
        "segments": 1, "encoding": "UCS-2", "case_id": "0b6f4f5e-2d7c-5a51-9c55-4a0f6f3c2d11"}]}}
    body: str = Field(description="rendered for the case, the customer's name and the plate masked")
    segments: int
    encoding: Encoding
    case_id: uuid.UUID


def unassigned_page(session: Session, policies: list[Policy], total: int, limit: int, offset: int) -> PolicyOwnerPage:
    codes = sub_branch_codes(session, {p.sub_branch_id for p in policies})
    return PolicyOwnerPage(items=[PolicyOwnerOut(policy_id=p.id, policy_no=p.policy_no, sub_branch=codes[p.sub_branch_id],
                                                 expires_on=p.expires_on, handler_code=p.handler_code,
                                                 unassigned_reason=p.unassigned_reason)
                                  for p in policies], total=total, limit=limit, offset=offset)


def template_out(template: SmsTemplate) -> SmsTemplateOut:
    return SmsTemplateOut(**template.model_dump(include={"key", "language", "version", "body", "created_by",
                                                         "created_at"}),
                          marketing=template.key in MARKETING_KEYS, required=sorted(REQUIRED_PLACEHOLDERS[template.key]))


def preview_out(rendered: Rendered, case_id: uuid.UUID) -> PreviewOut:
    return PreviewOut(body=rendered.body, segments=rendered.segments, encoding=rendered.encoding, case_id=case_id)


# --- importing the book of policies ----------------------------------------------------------------


ERRORS_SHOWN = 200


class ImportAccepted(BaseModel):
    model_config = {"json_schema_extra": {"examples": [{"job_id": "3f1c2b1e-8a6d-4c55-9a0e-6d3c1f2a4b5c",
                                                        "status": "pending", "progress_url": "/imports/3f1c2b1e-..."}]}}
    job_id: uuid.UUID
    status: str
    progress_url: str


class RowErrorOut(BaseModel):
    row: int = Field(description="as a spreadsheet numbers it: the header is row 1")
    column: str
    reason: str


class ImportJobOut(BaseModel):
    model_config = {"json_schema_extra": {"examples": [{
        "job_id": "3f1c2b1e-8a6d-4c55-9a0e-6d3c1f2a4b5c", "filename": "2026-12 book.csv", "status": "done",
        "phase": None, "total_rows": 200, "processed_rows": 200, "imported_rows": 199, "followed_policies": 199,
        "counts": {"inserted": 180, "updated": 2, "unchanged": 17, "unassigned": 3, "rejected": 1,
                   "cases_started": 33, "expiry_changed": 1, "reassigned": 1, "no_case_not_yet": 144,
                   "no_case_expired": 2, "no_case_unassigned": 3},
        "error_count": 1, "errors": [{"row": 17, "column": "phone", "reason": "not a valid phone number"}],
        "failure": None, "created_at": "2026-11-27T09:00:00Z", "finished_at": "2026-11-27T09:00:04Z"}]}}
    job_id: uuid.UUID
    filename: str
    status: JobStatus = Field(description="interrupted: an import run by the CLI in its own process stopped "
                                          "without finishing; import the same file again to finish it")
    phase: str | None = Field(description="reading, loading or cases while running")
    total_rows: int
    processed_rows: int
    imported_rows: int
    followed_policies: int = Field(description="phase cases: the policies imported whose cases are in line "
                                               "with them, of imported_rows")
    counts: dict[str, Any]
    error_count: int
    errors: list[RowErrorOut] = Field(description=f"the first {ERRORS_SHOWN}; all of them in errors.csv")
    failure: str | None = Field(description="why the whole file failed, if it did")
    created_at: datetime
    finished_at: datetime | None


def import_job_out(job: ImportJob) -> ImportJobOut:
    status, failure = job_status(job, datetime.now(UTC))
    return ImportJobOut(
        job_id=job.id, filename=job.filename, status=status, phase=job.phase, total_rows=job.total_rows,
        processed_rows=job.processed_rows, imported_rows=job.imported_rows,
        followed_policies=job.followed_policies, counts=job.counts,
        error_count=len(job.errors), errors=[RowErrorOut(**e) for e in job.errors[:ERRORS_SHOWN]],
        failure=failure, created_at=job.created_at, finished_at=job.finished_at)
