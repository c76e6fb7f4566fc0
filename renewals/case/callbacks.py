"""What the providers' callbacks change: delivery and call progress on the contact records, and the
SMS people send us (Twilio's; Alibaba Cloud's receipts and replies, which come unordered and
repeated as well).

Twilio gives no order and no once-only: a status callback may arrive late, after a later one, and a
webhook is retried with the same Sid. Its signature covers only our URL and the form, so whoever saw
a request can replay it, validly signed, at any time. Hence: a status is applied only if it takes
the record further (the callbacks carry no time of their own; the status orders them), a call's
outcome is recorded once, and each inbound SMS is handled once, by its MessageSid, in the order
distinct messages arrive.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, or_
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Session, select

from models import ContactRecord, Customer, InboundSms, Policy, RenewalCase, Staff
from renewals.case.consent import opt_choice
from renewals.core.masking import mask_phone
from renewals.core.phones import FieldError, normalise_phone
from renewals.case import contract as c

# How far a message or call has got. Equal ranks are alternatives: the first one reported stands. A
# failure outranks delivery: once any report says the customer did not get the text, a delivery
# report does not hide it.
SMS_PROGRESS = {"sending": 0, "accepted": 1, "scheduled": 1, "queued": 1, "sent": 2, "delivered": 3,
                "read": 4, "undelivered": 4, "failed": 4}
CALL_FINAL = ("completed", "busy", "no-answer", "failed", "canceled")
CALL_PROGRESS = {"queued": 0, "initiated": 1, "ringing": 2, "in-progress": 3, **dict.fromkeys(CALL_FINAL, 4)}
# How the customer's leg of a bridged call ended (<Dial action>'s DialCallStatus) → contact result.
DIAL_RESULT = {"completed": "answered", "answered": "answered", "busy": "busy", "no-answer": "no_answer",
               "failed": "failed", "canceled": "no_answer"}


def goes_further(progress: dict[str, int], recorded: str | None, reported: str) -> bool:
    """Whether a reported status takes the record past the one it has. A status not in `progress`
    cannot be placed, so it changes nothing."""
    return reported in progress and progress[reported] > progress.get(recorded or "", -1)


def _record(session: Session, sid: str | None) -> ContactRecord | None:
    """The contact record of a message or call we placed, locked until the caller commits: callbacks
    for it arriving together are applied one after the other, each seeing what the other wrote."""
    if not sid:
        return None
    return session.exec(select(ContactRecord).where(ContactRecord.provider_id == sid).with_for_update()).first()


def _running(session: Session, record: ContactRecord) -> list[str]:
    """The workflow of the record's case, while the case is open (none, or one): the one to tell."""
    case = session.get(RenewalCase, record.case_id)
    return [case.workflow_id] if case and case.outcome is None else []


def apply_sms_status(session: Session, form: dict[str, str]) -> tuple[list[str], int | None]:
    """Store Twilio's delivery status; returns the case workflow to tell about a permanent failure
    (none, or one) and the error code."""
    status = form.get("MessageStatus", "")
    error_code = int(form["ErrorCode"]) if form.get("ErrorCode", "").isdigit() else None
    permanent = status in ("undelivered", "failed") and error_code is not None
    return _apply_delivery(session, _record(session, form.get("MessageSid")), status, error_code, permanent), error_code


def apply_sms_report(session: Session, biz_id: str, out_id: str | None, delivered: bool) -> list[str]:
    """Store an Alibaba Cloud delivery receipt, the carrier's final word; returns the case workflow
    to tell about a failure (none, or one). A message adopted on retry was recorded without its
    BizId (Alibaba Cloud's listing has none): found by our key, its OutId, it gets it here."""
    record = _record(session, biz_id)
    if record is None and out_id:
        record = session.exec(select(ContactRecord).where(
            ContactRecord.idempotency_key == out_id, ContactRecord.provider_id.is_(None)).with_for_update()).first()
        if record is not None:
            record.provider_id = biz_id
    return _apply_delivery(session, record, "delivered" if delivered else "undelivered", None, not delivered)


def _apply_delivery(session: Session, record: ContactRecord | None, status: str, error_code: int | None,
                    permanent: bool) -> list[str]:
    if record is None:
        return []
    further = goes_further(SMS_PROGRESS, record.delivery_status, status)
    if further:
        record.delivery_status, record.error_code = status, error_code or record.error_code
    if session.is_modified(record):  # a status that goes further, or a provider id just learnt
        session.commit()
    if not (further and permanent and record.recipient == "customer" and record.case_id):
        return []
    return _running(session, record)


def apply_call_status(session: Session, form: dict[str, str]) -> None:
    """The staff member's leg (the call we placed). Its end says nothing about the customer: the
    outcome comes from the dial result; a staff leg that never connected reached nobody."""
    record = _record(session, form.get("CallSid"))
    status = form.get("CallStatus", "")
    if record is None or not goes_further(CALL_PROGRESS, record.delivery_status, status):
        return
    record.delivery_status = status
    if status in CALL_FINAL and status != "completed" and record.result is None:
        record.result = "not_connected"
    session.add(record)
    session.commit()


def apply_dial_result(session: Session, form: dict[str, str]) -> list[str]:
    """Record how the customer's leg ended on the contact record of the call we placed; it ends
    once, so the first result stands. Returns the case workflow to tell about a failed call (none,
    or one)."""
    record = _record(session, form.get("CallSid"))
    status = form.get("DialCallStatus", "")
    if record is None or status not in DIAL_RESULT or record.result is not None:
        return []
    record.result = DIAL_RESULT[status]
    duration = form.get("DialCallDuration", "")
    record.duration_seconds = int(duration) if duration.isdigit() else 0
    session.add(record)
    session.commit()
    if status != "failed" or not record.case_id:
        return []
    return _running(session, record)


def apply_recording(session: Session, form: dict[str, str]) -> None:
    # <Dial record> reports on the call that ran the TwiML: the call we placed (its CallSid).
    record = _record(session, form.get("CallSid")) or _record(session, form.get("ParentCallSid"))
    if record is not None and form.get("RecordingUrl"):
        record.recording_url = form["RecordingUrl"]
        if record.duration_seconds is None and form.get("RecordingDuration", "").isdigit():
            record.duration_seconds = int(form["RecordingDuration"])
        session.add(record)
        session.commit()


def claim_inbound_sms(session: Session, message_sid: str, now: datetime) -> bool:
    """True the first time this message comes; False for a retry or a replay of it, which then
    changes nothing. The claim is the caller's to commit, with what the message did: a copy
    arriving meanwhile waits on its key, then finds it taken (or free, if the first rolled back)."""
    return session.execute(insert(InboundSms).values(message_sid=message_sid, received_at=now)
                           .on_conflict_do_nothing().returning(InboundSms.message_sid)).first() is not None


def release_inbound_sms(session: Session, message_sid: str) -> None:
    """Handling a claimed message failed after its claim was committed: give the claim back, so
    Twilio's retry handles it."""
    session.rollback()
    session.execute(delete(InboundSms).where(InboundSms.message_sid == message_sid))
    session.commit()


def open_cases(session: Session, customer_ids: list) -> list[tuple[str, object, object]]:
    """(workflow id, case id, customer id) of the customers' cases that are still running."""
    return list(session.exec(
        select(RenewalCase.workflow_id, RenewalCase.id, Policy.customer_id)
        .join(Policy, Policy.id == RenewalCase.policy_id)
        .where(Policy.customer_id.in_(customer_ids), RenewalCase.outcome.is_(None))).all())


@dataclass(frozen=True)
class Reply:
    """An SMS someone sent us: the provider's id for it (the same on every retry of its webhook),
    the sender's number as the provider gives it, the text, and the provider's own reading of an
    opt-out word (Twilio's OptOutType; none elsewhere)."""

    message_id: str
    sender: str
    body: str
    opt_out_type: str = ""


def apply_inbound_sms(session: Session, reply: Reply, now: datetime) -> tuple[bool | None, list[str]]:
    """A customer's reply, the first time it comes: record it on each customer with that number and
    apply an opt-out or opt-in, in one transaction with its claim; returns the choice and the open
    cases to tell about it."""
    try:
        sender = normalise_phone(reply.sender)
    except FieldError:
        return None, []
    customers = list(session.exec(select(Customer).where(
        or_(Customer.phone == sender, Customer.corrected_phone == sender))).all())
    if not customers or not claim_inbound_sms(session, reply.message_id, now):
        return None, []
    choice = opt_choice(reply.body, reply.opt_out_type)
    running = open_cases(session, [customer.id for customer in customers])
    case_of = {}
    for _, case_id, customer_id in running:
        case_of.setdefault(customer_id, case_id)  # the reply shows in the history of an open case
    for customer in customers:
        if choice is not None:
            customer.sms_opt_out = choice
            session.add(customer)
        session.add(ContactRecord(
            customer_id=customer.id, case_id=case_of.get(customer.id),
            recipient="customer", channel=c.Channel.sms, direction="inbound", masked_number=mask_phone(sender),
            body=reply.body, provider_id=reply.message_id, delivery_status="received",
            created_at=now, sent_at=now))
    session.commit()
    return choice, [workflow_id for workflow_id, _, _ in running]


@dataclass(frozen=True)
class NumberedReply:
    """A manager's answer to the loss-reason SMS: the reason's number and the words after it."""

    number: int
    text: str  # "" when the reply is the number alone


_NUMBERED = re.compile(r"(\d+)[\s,.;:!?、。;:]*(.*)", re.S)
NOTE_LIMIT = 2000  # a note's bound (api.inputs.Note)


def numbered_reply(body: str) -> NumberedReply | None:
    """"7 亲戚在别家" → (7, "亲戚在别家"), "1,对方便宜300元" → (1, "对方便宜300元"), "2。" → (2, "");
    None when the reply does not start with a number. Full-width forms are folded (NFKC) and
    control characters read as spaces."""
    text = "".join(" " if unicodedata.category(ch)[0] == "C" else ch for ch in unicodedata.normalize("NFKC", body))
    match = _NUMBERED.fullmatch(text.strip())
    return NumberedReply(int(match[1]), match[2].strip()[:NOTE_LIMIT]) if match else None


def loss_reason_reply(session: Session, body: str, sender: str) -> tuple[Staff, list[RenewalCase], NumberedReply] | None:
    """A service manager answering the loss-reason SMS with a number, maybe words after it: (the
    manager, their cases waiting for a loss reason, the reply). None when the reply does not start
    with a number or its sender has no case waiting for a loss reason, so it is handled as a
    customer's reply."""
    reply = numbered_reply(body)
    if reply is None:
        return None
    try:
        sender = normalise_phone(sender)
    except FieldError:
        return None
    staff = session.exec(select(Staff).where(Staff.phone == sender, Staff.active)).first()
    if staff is None:
        return None
    waiting = list(session.exec(select(RenewalCase).where(
        RenewalCase.owner_id == staff.id, RenewalCase.outcome.is_(None), RenewalCase.lost_to_insurer.is_not(None))))
    return (staff, waiting, reply) if waiting else None
