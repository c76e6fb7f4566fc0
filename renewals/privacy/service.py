"""Personal data (PIPL): the retention purge, a person's data on request (export) and its erasure,
and the log of who saw a full id number or phone.

The purge and an erasure anonymise in place rather than delete: the cases, policies, quotes,
tasks and contact records stay (reports count them, the audit timeline reads them), with what
identifies the person emptied (renewals.privacy.rules says what stays). Both are idempotent: a
row already cleared no longer matches, so running again changes nothing. Each function that
writes ends its transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Engine, Select, and_, exists, func, or_, select, update
from sqlmodel import Session

from models import (
    Branch, ContactRecord, Customer, Note, Policy, PrivacyRequest, Quote, RenewalCase, SensitiveView, Vehicle,
)
from models.base import utcnow
from renewals.privacy.rules import ANONYMISED_NAME, Cutoffs, DataClass, Retention, erasure_refusals

# --- anonymising --------------------------------------------------------------------------------------

_NOTE_WITH_TEXT = exists().where(Note.id == ContactRecord.note_id, Note.body != "")
# A contact record that still holds something personal: the number, the text, the recording, its note.
_PERSONAL_CONTACT = or_(ContactRecord.masked_number.is_not(None), ContactRecord.body.is_not(None),
                        ContactRecord.recording_url.is_not(None), _NOTE_WITH_TEXT)


def _clear_contacts(conn: Connection, contact_ids: list[uuid.UUID]) -> int:
    """Contact records keep who, when, how and with what result; their number, text, recording and note go."""
    conn.execute(update(Note).where(Note.id.in_(select(ContactRecord.note_id).where(ContactRecord.id.in_(contact_ids))))
                 .values(body=""))
    conn.execute(update(ContactRecord).where(ContactRecord.id.in_(contact_ids))
                 .values(masked_number=None, body=None, recording_url=None))
    return len(contact_ids)


def _clear_notes(conn: Connection, note_ids: list[uuid.UUID]) -> int:
    conn.execute(update(Note).where(Note.id.in_(note_ids)).values(body=""))
    return len(note_ids)


def anonymise_customers(conn: Connection, customer_ids: list[uuid.UUID]) -> int:
    """Empty everything that identifies these customers: their record, vehicles' plates and VINs,
    and every note and contact detail of their cases."""
    cases = select(RenewalCase.id).join(Policy, Policy.id == RenewalCase.policy_id) \
        .where(Policy.customer_id.in_(customer_ids))
    contacts = conn.execute(select(ContactRecord.id).where(
        or_(ContactRecord.customer_id.in_(customer_ids), ContactRecord.case_id.in_(cases)))).scalars().all()
    if contacts:
        _clear_contacts(conn, list(contacts))
    conn.execute(update(Note).where(Note.case_id.in_(cases), Note.body != "").values(body=""))
    conn.execute(update(Vehicle).where(Vehicle.customer_id.in_(customer_ids)).values(plate="", vin=""))
    conn.execute(update(Customer).where(Customer.id.in_(customer_ids)).values(
        name=ANONYMISED_NAME, id_number="", phone="", other_phones=[], corrected_phone=None, family=[], proxy=None,
        birth_date=None))
    return len(customer_ids)


# --- the retention purge -----------------------------------------------------------------------------------


def _no_policy_since(day: date):
    """Customers none of whose policies expires on or after `day`, with no case open, not yet anonymised."""
    in_force = select(Policy.id).where(Policy.customer_id == Customer.id, Policy.expires_on >= day).exists()
    open_case = select(RenewalCase.id).join(Policy, Policy.id == RenewalCase.policy_id) \
        .where(Policy.customer_id == Customer.id, RenewalCase.outcome.is_(None)).exists()
    return and_(Customer.id_number != "", ~in_force, ~open_case, func.date(Customer.created_at) < day)


def _closed_before(when: datetime):
    return select(RenewalCase.id).where(RenewalCase.closed_at < when)


def _clear_sms_bodies(conn: Connection, contact_ids: list[uuid.UUID]) -> int:
    return conn.execute(update(ContactRecord).where(ContactRecord.id.in_(contact_ids)).values(body=None)).rowcount


def _clear_recordings(conn: Connection, contact_ids: list[uuid.UUID]) -> int:
    return conn.execute(update(ContactRecord).where(ContactRecord.id.in_(contact_ids))
                        .values(recording_url=None)).rowcount


def purge_steps(cutoffs: Cutoffs) -> list[tuple[DataClass, Select, Callable[[Connection, list], int]]]:
    """Per data class, in order: the rows due (a query of their ids) and what clears a batch of them."""
    return [
        (DataClass.sms_bodies, select(ContactRecord.id).where(
            ContactRecord.channel == "sms", ContactRecord.body.is_not(None),
            ContactRecord.created_at < cutoffs.sms_bodies), _clear_sms_bodies),
        (DataClass.recordings, select(ContactRecord.id).where(
            ContactRecord.recording_url.is_not(None), ContactRecord.created_at < cutoffs.recordings),
         _clear_recordings),
        (DataClass.contact_records, select(ContactRecord.id).where(
            ContactRecord.created_at < cutoffs.contact_records, _PERSONAL_CONTACT), _clear_contacts),
        (DataClass.closed_cases, select(ContactRecord.id).where(
            ContactRecord.case_id.in_(_closed_before(cutoffs.closed_cases)), _PERSONAL_CONTACT), _clear_contacts),
        (DataClass.closed_cases, select(Note.id).where(
            Note.case_id.in_(_closed_before(cutoffs.closed_cases)), Note.body != ""), _clear_notes),
        (DataClass.customers, select(Customer.id).where(_no_policy_since(cutoffs.last_policy_expiry)),
         anonymise_customers),
    ]


@contextmanager
def _transaction(conn: Connection, dry_run: bool) -> Iterator[None]:
    """A batch's transaction; in a dry run a savepoint of the one transaction rolled back at the end."""
    with conn.begin_nested() if dry_run else conn.begin():
        yield


def purge(engine: Engine, retention: Retention, now: datetime, *, batch: int, dry_run: bool = False,
          on_batch: Callable[[], Any] = lambda: None) -> dict[str, int]:
    """Clear every class of personal data past its retention as of `now` (the business clock), a
    batch per transaction; how many rows each class changed. A dry run does the same in one
    transaction and rolls it back, so its counts are exactly what a purge would change."""
    counts = {data_class.value: 0 for data_class in DataClass}
    with engine.connect() as conn:
        outer = conn.begin() if dry_run else None
        for data_class, due, clear in purge_steps(retention.cutoffs(now)):
            key, after = due.selected_columns[0], None
            while True:
                # Each batch starts after the last id of the one before: each row is read once a run,
                # where starting from the table's start again would read it once a batch.
                page = due if after is None else due.where(key > after)
                with _transaction(conn, dry_run):
                    ids = list(conn.execute(page.order_by(key).limit(batch).with_for_update(skip_locked=True))
                               .scalars())
                    changed = clear(conn, ids) if ids else 0
                if not ids:
                    break
                after = ids[-1]
                counts[data_class.value] += changed
                on_batch()
        if outer is not None:
            outer.rollback()
    return counts


# --- a person's data on request ---------------------------------------------------------------------------


class NoSuchPerson(LookupError):
    pass


def _records(session: Session, id_number: str, branch_id: uuid.UUID | None) -> list[Customer]:
    """Each branch's record of the person with this id number (the one branch's, when given)."""
    where = [Customer.id_number == id_number] + ([Customer.branch_id == branch_id] if branch_id else [])
    customers = list(session.scalars(select(Customer).where(*where).order_by(Customer.created_at)))
    if not id_number or not customers:
        raise NoSuchPerson("no customer with this id number" + (" in your branch" if branch_id else ""))
    return customers


def _rows(rows) -> list[dict[str, Any]]:
    return [row.model_dump(mode="json") for row in rows]


def _record_document(session: Session, customer: Customer) -> dict[str, Any]:
    policies = session.scalars(select(Policy).where(Policy.customer_id == customer.id)
                               .order_by(Policy.expires_on)).all()
    cases = session.scalars(select(RenewalCase).where(RenewalCase.policy_id.in_([p.id for p in policies]))
                            .order_by(RenewalCase.expiry_date)).all()
    case_ids = [case.id for case in cases]
    return {
        "branch": session.get(Branch, customer.branch_id).code,
        "customer": customer.model_dump(mode="json"),
        "vehicles": _rows(session.scalars(select(Vehicle).where(Vehicle.customer_id == customer.id))),
        "policies": _rows(policies),
        "cases": _rows(cases),
        "contacts": _rows(session.scalars(select(ContactRecord).where(
            or_(ContactRecord.customer_id == customer.id, ContactRecord.case_id.in_(case_ids)))
            .order_by(ContactRecord.created_at))),
        "notes": _rows(session.scalars(select(Note).where(Note.case_id.in_(case_ids)).order_by(Note.created_at))),
        "quotes": _rows(session.scalars(select(Quote).where(Quote.case_id.in_(case_ids)).order_by(Quote.created_at))),
    }


def export_person(session: Session, id_number: str, *, branch_id: uuid.UUID | None, requested_by: uuid.UUID | None,
                  now: datetime) -> dict[str, Any]:
    """One JSON document of everything held about the person (PIPL Art. 45), per branch record;
    the request is recorded, and so is the full id number and phone it shows."""
    customers = _records(session, id_number, branch_id)
    document = {"exported_at": now.isoformat(), "records": [_record_document(session, c) for c in customers]}
    for customer in customers:
        session.add(PrivacyRequest(kind="export", customer_id=customer.id, requested_by=requested_by, done=True,
                                   at=now))
    record_full_views(session, requested_by, [(c.id, name) for c in customers for name in ("id_number", "phone")])
    return document


@dataclass
class Erasure:
    erased: list[uuid.UUID] = field(default_factory=list)
    refused: dict[uuid.UUID, list[str]] = field(default_factory=dict)  # customer: why their data must stay


def erase_person(session: Session, id_number: str, *, branch_id: uuid.UUID | None, requested_by: uuid.UUID | None,
                 today: date, now: datetime) -> Erasure:
    """Anonymise each record of the person where no duty to keep it applies (PIPL Art. 47); every
    record's request is kept, refused ones with the reason."""
    result = Erasure()
    for customer in _records(session, id_number, branch_id):
        open_cases = session.scalars(select(RenewalCase.policy_no).join(Policy, Policy.id == RenewalCase.policy_id)
                                     .where(Policy.customer_id == customer.id, RenewalCase.outcome.is_(None))).all()
        in_force = session.scalars(select(Policy.policy_no).where(Policy.customer_id == customer.id,
                                                                   Policy.expires_on >= today)).all()
        reasons = erasure_refusals(list(open_cases), list(in_force))
        if reasons:
            result.refused[customer.id] = reasons
        else:
            anonymise_customers(session.connection(), [customer.id])
            result.erased.append(customer.id)
        session.add(PrivacyRequest(kind="erase", customer_id=customer.id, requested_by=requested_by,
                                   done=not reasons, refusal="; ".join(reasons) or None, at=now))
    session.commit()
    return result


# --- who saw a full id number or phone ---------------------------------------------------------------------


def record_full_views(session: Session, reader_id: uuid.UUID | None, shown: list[tuple[uuid.UUID, str]]) -> None:
    """One access-log row per (customer, field) a response showed in full; ends the transaction."""
    at = utcnow()
    session.add_all(SensitiveView(reader_id=reader_id, customer_id=customer_id, field=name, viewed_at=at)
                    for customer_id, name in shown)
    session.commit()


def full_views(session: Session, *, customer_id: uuid.UUID | None = None, reader_id: uuid.UUID | None = None,
               limit: int = 500) -> list[SensitiveView]:
    """The access log of a customer or of a reader, newest first."""
    where = ([SensitiveView.customer_id == customer_id] if customer_id else []) + (
        [SensitiveView.reader_id == reader_id] if reader_id else [])
    return list(session.scalars(select(SensitiveView).where(*where)
                             .order_by(SensitiveView.viewed_at.desc()).limit(limit)))
