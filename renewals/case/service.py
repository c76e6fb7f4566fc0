"""What staff do to a case outside its workflow: the notes their actions carry, the Idempotency-Key
that makes an action happen once, the customer's intent, phones and other contacts, the
do-not-call list and the calls they place.

Each function that writes ends its transaction: no database connection is held while the
workflow (whose activities need connections too) works on what was written.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from sqlalchemy import Engine, update
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Session, select

from models import ContactRecord, Customer, IdempotencyKey, Note, Policy, QuoteWish, RenewalCase, SigningIntent, Staff
from models.base import utcnow
from renewals.case.calendar import call_refusal, local_date
from renewals.case.callbacks import open_cases
from renewals.case.start import CaseRejected
from renewals.core.masking import mask_phone
from renewals.core.notify import PlacedCall
from renewals.core.phones import normalise_phone
from renewals.case import contract as c


class KeyReused(Exception):
    """An Idempotency-Key already sent with another request."""


# How long a staff action's answer waits for the projection to show it, well inside
# STAFF_ACTION_DEADLINE; past it (the worker busy, PostgreSQL slow) the answer is the projection as
# it is with what the action changed, and the projection catches up.
PROJECTION_WAIT = 0.8
# A book, deputy or import move reports what the case table shows once it is done (a deactivation
# is refused while the leaver still owns a case there): it waits longer, off any person's request.
MOVE_PROJECTION_WAIT = 5.0


async def projection_shows(read_revision: Callable[[], Awaitable[int]], revision: int,
                           wait: float = PROJECTION_WAIT) -> bool:
    """Whether the case's projection row reaches `revision` (what a staff action's update answered,
    c.ActionDone) within `wait` seconds. The row is polled, often at first, rather than the workflow
    waiting with a timer: a timer would be one more action and more history for every staff action."""
    loop = asyncio.get_running_loop()
    until, pause = loop.time() + wait, 0.01
    while (await read_revision()) < revision:
        if loop.time() >= until:
            return False
        await asyncio.sleep(pause)
        pause = min(pause * 2, 0.1)
    return True


def projected_revision(session: Session, case_id: uuid.UUID) -> int:
    """The case's projection revision (renewal_case.revision): its writes so far."""
    revision = session.exec(select(RenewalCase.revision).where(RenewalCase.id == case_id)).first()
    session.rollback()  # the next look sees later commits, whatever the isolation level
    return revision or 0


async def moved_case_projected(engine: Engine, workflow_id: str, done: c.ActionDone) -> bool:
    """For moves of many cases (a book, a deputy, an import's owners): the case's row shows the move."""
    def read() -> int:
        with Session(engine) as session:
            return projected_revision(session, c.case_id_for(workflow_id))
    return await projection_shows(lambda: asyncio.to_thread(read), done.revision, MOVE_PROJECTION_WAIT)


def customer_of(session: Session, case: RenewalCase) -> Customer:
    return session.exec(select(Customer).join(Policy, Policy.customer_id == Customer.id)
                        .where(Policy.id == case.policy_id)).one()


def _add_note(session: Session, case: RenewalCase, author: Staff, text: str | None,
              note_id: uuid.UUID | None = None) -> uuid.UUID | None:
    """A given `note_id` is stored once however often it is written."""
    if not text:
        return None
    note_id = note_id or uuid.uuid4()
    session.execute(insert(Note)
                    .values(id=note_id, case_id=case.id, author_id=author.id, body=text, created_at=utcnow())
                    .on_conflict_do_nothing(index_elements=[Note.id]))
    return note_id


def _claim_key(session: Session, staff: Staff, key: str, digest: str) -> None:
    """Bind `key` to the request it first came with; the same key with another request is refused
    (draft-ietf-httpapi-idempotency-key-header): answering it the first request's result would
    drop what it asked for without a word."""
    claimed = session.execute(insert(IdempotencyKey).values(staff_id=staff.id, key=key, request_digest=digest,
                                                            created_at=utcnow())
                              .on_conflict_do_nothing(index_elements=[IdempotencyKey.staff_id, IdempotencyKey.key])
                              .returning(IdempotencyKey.key)).first()
    if claimed is None and session.execute(select(IdempotencyKey.request_digest).where(
            IdempotencyKey.staff_id == staff.id, IdempotencyKey.key == key)).scalar_one() != digest:
        raise KeyReused(key)


def prepare_action(session: Session, case: RenewalCase, staff: Staff, note: str | None, note_id: uuid.UUID | None,
                   key: str | None = None, digest: str | None = None) -> None:
    """Before a staff action's workflow update: its Idempotency-Key bound to the request's digest
    (KeyReused when it stands for another request) and its note stored, together."""
    if key:
        _claim_key(session, staff, key, digest)
    _add_note(session, case, staff, note, note_id)
    session.commit()


def drop_note(session: Session, note_id: uuid.UUID) -> None:
    """A refused action leaves no note behind."""
    note = session.get(Note, note_id)
    if note is not None:
        session.delete(note)
        session.commit()


def record_what_the_contact_found(session: Session, case: RenewalCase, quote_wish: QuoteWish | None,
                                  signing_intent: SigningIntent | None, do_not_call_days: int | None,
                                  now: datetime) -> list[str]:
    """The customer's intent as a contact found it (what the contact did not say stays as it was)
    and, when they refused all contact, the do-not-call list for `do_not_call_days`: in one
    transaction. The list is the person's: returns the workflow ids of their other open cases,
    which must stop too."""
    said = {name: value for name, value in (("quote_wish", quote_wish), ("signing_intent", signing_intent))
            if value is not None}
    if said:
        session.execute(update(RenewalCase).where(RenewalCase.id == case.id).values(**said))
    others = []
    if do_not_call_days is not None:
        customer = customer_of(session, case)
        until = local_date(now, case.timezone) + timedelta(days=do_not_call_days)
        customer.do_not_call_until = max(until, customer.do_not_call_until or until)
        session.add(customer)
        others = [workflow_id for workflow_id, case_id, _ in open_cases(session, [customer.id]) if case_id != case.id]
    session.commit()  # ends the transaction too: the other cases are told with no connection held
    return others


def correct_phone(session: Session, case: RenewalCase, staff: Staff, phone: str,
                  note: str | None) -> tuple[Customer, uuid.UUID | None]:
    """The customer's corrected phone (电话有误), entered by `staff` (only they will see it), with its note."""
    number = normalise_phone(phone)  # FieldError("phone: ...") names the field
    customer = customer_of(session, case)
    customer.corrected_phone, customer.corrected_phone_by, customer.phone_unreachable = number, staff.id, False
    session.add(customer)
    note_id = _add_note(session, case, staff, note)
    session.commit()
    return customer, note_id


def mark_phone_unreachable(session: Session, case: RenewalCase, staff: Staff,
                           note: str | None) -> tuple[Customer, uuid.UUID | None]:
    """No working number can be found for the customer, with the note saying what was tried."""
    customer = customer_of(session, case)
    customer.phone_unreachable = True
    session.add(customer)
    note_id = _add_note(session, case, staff, note)
    session.commit()
    return customer, note_id


def save_customer_contacts(session: Session, case: RenewalCase, proxy: dict[str, str] | None,
                           family: list[dict[str, str]], other_phones: list[str]) -> Customer:
    """The customer's proxy (委托人), family members and other phones, replacing what was recorded."""
    customer = customer_of(session, case)
    customer.proxy, customer.family, customer.other_phones = proxy, family, list(dict.fromkeys(other_phones))
    session.add(customer)
    session.commit()
    return customer


def refuse_call(case: RenewalCase, customer: Customer, now: datetime) -> None:
    """CaseRejected with the reason when the customer may not be called now."""
    if case.outcome:
        raise CaseRejected(c.closed_reason(case.outcome))
    if case.lost_to_insurer:
        raise CaseRejected(c.NO_MORE_CONTACT)
    refusal = call_refusal(now, case.timezone)
    if refusal:
        raise CaseRejected(refusal)
    if customer.do_not_call_until and customer.do_not_call_until >= local_date(now, case.timezone):
        raise CaseRejected(f"the customer is on the do-not-call list until {customer.do_not_call_until}: no calls")


def record_call(session: Session, case: RenewalCase, customer: Customer, staff: Staff, dialed: str,
                placed: PlacedCall, now: datetime) -> ContactRecord:
    """A click-to-call Twilio placed; its callbacks fill in how it went."""
    record = ContactRecord(case_id=case.id, customer_id=customer.id, staff_id=staff.id, recipient="customer",
                           channel=c.Channel.call, direction="outbound", masked_number=mask_phone(dialed),
                           provider_id=placed.provider_id, delivery_status=placed.status, created_at=now, sent_at=now)
    session.add(record)
    session.commit()
    return record
