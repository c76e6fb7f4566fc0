"""Sending the workflow's SMS: rendered from the database, sent once per idempotency key.

A send is recorded before it goes out (keyed by case, stage, template and day) and completed
after, so a retried or replayed activity finds its record and does not text anyone twice. A
record still 'sending' is an attempt whose outcome is unknown (a crash, a lost answer, a database
outage after the provider accepted): before sending again the activity looks the message up at the
provider (Twilio by its text, Alibaba Cloud by our key) and adopts it if it went out.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Engine, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Session, select
from jinja2 import TemplateError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from renewals.case.contract import SmsOutcome, SmsRequest
from models import ContactRecord, Customer, Policy, Quote, RenewalCase, SmsTemplate, Staff
from renewals.core.masking import mask_phone
from renewals.case.messages import render_sms, template_values
from renewals.case.sms_templates import message_context, version
from renewals.core.notify import REQUEST_WORST_SECONDS, Notifier, SendError, SentMessage, TemplateSms, callback_url
from renewals.core.settings import Settings

log = logging.getLogger(__name__)

SENT_STATES = ("queued", "accepted", "sent", "delivered", "suppressed", "failed", "undelivered")


class Notifications:
    def __init__(self, engine: Engine, notifier: Notifier, settings: Settings):
        self._engine = engine
        self._notifier = notifier
        self._settings = settings

    def activities(self) -> list:
        return [self.send_sms]

    @activity.defn(name="send_sms")
    def send_sms(self, req: SmsRequest) -> SmsOutcome:
        started = time.monotonic()
        with Session(self._engine, expire_on_commit=False) as session:
            # The key first: a retry neither renders nor records again; it sends (or adopts) the
            # text its first attempt recorded, to the person recorded.
            found = session.exec(select(ContactRecord).where(ContactRecord.idempotency_key == req.key)).first()
            record, first, m = (found, False, None) if found is not None else self._record_attempt(session, req)
            customer = _required(session.get(Customer, record.customer_id), f"customer of case {record.case_id}")
            staff = _staff_recipient(session, record.recipient, record.staff_id)
            to = _number(staff, customer)
            # One attempt at a time: an attempt Temporal timed out may still be sending in its
            # thread. The lock lasts until this attempt records its outcome or gives up; a retry that
            # finds it taken waits for its turn, then sees what the other attempt recorded.
            if not session.execute(text("SELECT pg_try_advisory_xact_lock(hashtext(:key))"),
                                   {"key": req.key}).scalar_one():
                raise SendError("another attempt is sending this message", retryable=True)
            session.refresh(record)
            if record.delivery_status in SENT_STATES:  # done by an earlier attempt
                return SmsOutcome(status=_outcome_status(record.delivery_status), contact_id=record.id,
                                  error_code=record.error_code)

            if staff is None and customer.sms_opt_out:
                return self._complete(session, record, "suppressed")
            try:
                if not first:  # an earlier (or concurrent) attempt's outcome is unknown: it may have gone out
                    sent = self._notifier.find_sms(to, record.body, sent_since=_first_attempt_day(req.at),
                                                   exclude=self._sent_ids(session, record),
                                                   idempotency_key=req.key)
                    if sent is not None:
                        log.info("SMS %s for case %s had gone out (%s): adopted, not resent",
                                 req.template, record.case_id, sent.provider_id)
                        return self._completed_send(session, record, req, sent)
                self._check_time_left(started)
                sent = self._notifier.send_sms(to, record.body, status_callback=self._callback("sms-status"),
                                               label=f"{req.template} case {record.case_id}",
                                               idempotency_key=req.key,
                                               template=self._template_values(session, req, m, record))
            except SendError as exc:
                if exc.retryable:
                    raise  # the activity retries with backoff; the record stays 'sending'
                log.warning("SMS %s for case %s failed permanently: %s", req.template, record.case_id, exc)
                return self._complete(session, record, "failed", error_code=exc.code)
            return self._completed_send(session, record, req, sent)

    def _record_attempt(self, session: Session, req: SmsRequest) -> tuple[ContactRecord, bool, _Message]:
        """Renders the message and records the attempt 'sending' before it goes out, so a retry
        after a crash finds it by its key: the record, whether this call wrote it (False: a
        concurrent attempt did), and the message it rendered."""
        m = _message(session, req, self._settings.public_base_url)
        with _renderable(req):
            body = render_sms(req.template, m.language, m.context, m.template.body).body
        written = session.execute(insert(ContactRecord).values(
            case_id=m.case.id, customer_id=m.customer.id, staff_id=m.staff_id, recipient=req.recipient,
            channel="sms", direction="outbound", masked_number=mask_phone(_number(m.staff, m.customer)),
            template=req.template, template_version=m.template.version, body=body, idempotency_key=req.key,
            delivery_status="sending", created_at=req.at,
        ).on_conflict_do_nothing(index_elements=[ContactRecord.idempotency_key])
        .returning(ContactRecord.id)).first() is not None
        session.commit()
        record = session.exec(select(ContactRecord).where(ContactRecord.idempotency_key == req.key)).one()
        return record, written, m

    def _template_values(self, session: Session, req: SmsRequest, m: _Message | None,
                         record: ContactRecord) -> TemplateSms | None:
        """For a provider that sends its registered copy of our text: the values our text shows (the
        message this attempt rendered, or read again by a retry from the template version recorded:
        the values were not recorded, they are the customer's data)."""
        if not self._notifier.needs_template:
            return None
        m = m or _message(session, req, self._settings.public_base_url, record.template_version)
        with _renderable(req):
            return TemplateSms(req.template, template_values(m.language, m.template.body, m.context))

    @staticmethod
    def _check_time_left(started: float) -> None:
        """Send only if the request can finish within this attempt: an attempt Temporal has timed
        out keeps running in its thread, and its late send would race the retry's lookup."""
        timeout = activity.info().start_to_close_timeout
        if timeout and time.monotonic() - started + REQUEST_WORST_SECONDS > timeout.total_seconds():
            raise SendError("too little time left in this attempt to send safely", retryable=True)

    @staticmethod
    def _sent_ids(session: Session, record: ContactRecord) -> set[str]:
        """Provider ids the case's other sends already own: an identical earlier text is theirs."""
        return set(session.exec(select(ContactRecord.provider_id).where(
            ContactRecord.case_id == record.case_id, ContactRecord.id != record.id,
            ContactRecord.provider_id.is_not(None))).all())

    def _completed_send(self, session: Session, record: ContactRecord, req: SmsRequest, sent: SentMessage) -> SmsOutcome:
        if req.quote_id:
            session.execute(update(Quote).where(Quote.id == req.quote_id).values(sent_at=req.at))
        return self._complete(session, record, sent.status, provider_id=sent.provider_id, sent_at=req.at)

    def _complete(self, session: Session, record: ContactRecord, status: str, **values) -> SmsOutcome:
        session.execute(update(ContactRecord).where(ContactRecord.id == record.id)
                        .values(delivery_status=status, **values))
        session.commit()
        return SmsOutcome(status=_outcome_status(status), contact_id=record.id, error_code=values.get("error_code"))

    def _callback(self, kind: str) -> str | None:
        return callback_url(self._settings, kind) if self._settings.notify_backend == "twilio" else None


@dataclass(frozen=True)
class _Message:
    """What a text is made of: its case, customer, staff member (the recipient, or the customer's
    sender), language, template and values."""

    case: RenewalCase
    customer: Customer
    staff_id: uuid.UUID | None
    staff: Staff | None  # the recipient when it is staff
    language: str
    template: SmsTemplate
    context: dict


def _message(session: Session, req: SmsRequest, public_base_url: str, template_version: int | None = None) -> _Message:
    case = _required(session.get(RenewalCase, req.case_id), f"case {req.case_id}")
    policy = _required(session.get(Policy, case.policy_id), f"policy of case {case.id}")
    customer = _required(session.get(Customer, policy.customer_id), f"customer of case {case.id}")
    # A staff SMS to the customer names its sender; one to staff names its recipient.
    staff_id = {"customer": req.sent_by, "owner": case.owner_id, "deputy": case.deputy_id}[req.recipient]
    staff = _staff_recipient(session, req.recipient, staff_id)
    language = customer.language if staff is None else "zh-CN"
    template = _required(version(session, req.template, language, template_version),
                         f"SMS template {req.template} ({language}{f' v{template_version}' if template_version else ''})")
    with _renderable(req):
        quote = session.get(Quote, req.quote_id) if req.quote_id else None
        context = message_context(session, case, policy, customer, language, req.day, quote, public_base_url)
    return _Message(case, customer, staff_id, staff, language, template, context)


@contextmanager
def _renderable(req: SmsRequest) -> Iterator[None]:
    try:
        yield
    except (ValueError, TemplateError) as exc:
        # Unknown language or template, a rendering error, a message too long: no retry helps.
        raise ApplicationError(f"SMS {req.template} cannot be rendered: {exc}", type="TemplateError",
                               non_retryable=True) from None


def _first_attempt_day(scheduled_at: datetime) -> date:
    """The UTC day to look for an earlier attempt's message from. `scheduled_at` is workflow time
    (in tests it may run ahead of the wall clock); a day earlier covers a send just before midnight
    and clock skew. Messages are matched on the UTC day Twilio created them."""
    return (min(scheduled_at, datetime.now(UTC)) - timedelta(days=1)).astimezone(UTC).date()


def _required(row, what: str):
    """A row the send needs; missing, it will stay missing however often the activity retries."""
    if row is None:
        raise ApplicationError(f"{what} is not in the database", type="MissingRow", non_retryable=True)
    return row


def _staff_recipient(session: Session, recipient: str, staff_id) -> Staff | None:
    """The staff member the message goes to, or None when it goes to the customer."""
    if recipient == "customer":
        return None
    return _required(session.get(Staff, staff_id), f"staff {staff_id}")


def _number(staff: Staff | None, customer: Customer) -> str:
    """Where the message goes: the staff member's phone, or the customer's (corrected) phone."""
    return staff.phone if staff else (customer.corrected_phone or customer.phone)


def _outcome_status(delivery_status: str | None) -> str:
    return delivery_status if delivery_status in ("suppressed", "failed") else "sent"
