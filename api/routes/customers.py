"""The unified customer view (统一客户视图): basic data, vehicles, family, policies with claims,
renewal cases and the whole contact history, masked for whoever may not see it in full."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter
from sqlmodel import Session, select

from api.access import CustomerVisibility, ReadableCustomer, customer_visibility
from api.deps import CurrentStaff, NowDep, SessionDep, SettingsDep
from api.errors import error_responses
from api.schemas import quotes_of
from api.schemas import ContactOut, ContactPerson, CustomerView, NoteOut, PolicyOut, VehicleOut
from models import ContactRecord, Customer, Note, Policy, RenewalCase, Vehicle
from renewals.intake.service import local_today
from renewals.core.masking import mask_id_number, mask_name, mask_phone, mask_plate, mask_text

router = APIRouter(prefix="/customers", tags=["customers"])


def _identity(value: str | None, mask, seen: CustomerVisibility) -> str | None:
    return value if seen.identity else mask(value)


def customer_view(session: Session, customer: Customer, seen: CustomerVisibility, today: date) -> CustomerView:
    phone = (lambda number: number) if seen.contact else mask_phone

    def _text(text: str | None) -> str | None:
        """Free text (SMS bodies, notes) carries names, phones, plates and id numbers."""
        return mask_text(text, contact=seen.contact, identity=seen.identity, names=[customer.name])

    def _person(person: dict[str, str]) -> ContactPerson:
        """A family member or the proxy: their phone as the customer's own, their name as an identity."""
        return ContactPerson(name=_identity(person.get("name"), mask_name, seen), relation=_text(person.get("relation")),
                             phone=phone(person.get("phone")))

    policies = session.exec(select(Policy).where(Policy.customer_id == customer.id)
                            .order_by(Policy.expires_on.desc())).all()
    vehicles = session.exec(select(Vehicle).where(Vehicle.customer_id == customer.id)).all()
    cases = session.exec(select(RenewalCase).where(RenewalCase.policy_id.in_([p.id for p in policies]))
                         .order_by(RenewalCase.expiry_date.desc())).all()
    contacts = session.exec(select(ContactRecord, Note.body).outerjoin(Note, Note.id == ContactRecord.note_id)
                            .where(ContactRecord.customer_id == customer.id)
                            .order_by(ContactRecord.created_at.desc())).all()
    notes = session.exec(select(Note).where(Note.case_id.in_([case.id for case in cases]))
                         .order_by(Note.created_at.desc())).all()
    return CustomerView(
        id=customer.id, name=_identity(customer.name, mask_name, seen), id_number=mask_id_number(customer.id_number),
        phone=phone(customer.phone), other_phones=[phone(number) for number in customer.other_phones],
        corrected_phone=customer.corrected_phone if seen.corrected_phone else None,
        has_corrected_phone=customer.corrected_phone is not None, phone_unreachable=customer.phone_unreachable,
        sms_opt_out=customer.sms_opt_out, do_not_call_until=customer.do_not_call_until,
        blacklisted=customer.blacklisted, language=customer.language,
        family=[_person(member) for member in customer.family],
        proxy=_person(customer.proxy) if customer.proxy else None,
        vehicles=[VehicleOut(id=v.id, plate=_identity(v.plate, mask_plate, seen),
                             vin=_identity(v.vin, mask_plate, seen), model_code=v.model_code,
                             model_confirmed=v.model_confirmed, first_registered_on=v.first_registered_on)
                  for v in vehicles],
        policies=[PolicyOut.model_validate(p, from_attributes=True) for p in policies],
        cases=list(cases),
        contacts=[ContactOut(id=r.id, case_id=r.case_id, staff_id=r.staff_id, recipient=r.recipient,
                             channel=r.channel, direction=r.direction, number=r.masked_number, template=r.template,
                             body=_text(r.body), delivery_status=r.delivery_status, error_code=r.error_code,
                             duration_seconds=r.duration_seconds, recording_url=r.recording_url, result=r.result,
                             note=_text(note), at=r.sent_at or r.created_at)
                  for r, note in contacts],
        notes=[NoteOut(id=n.id, case_id=n.case_id, author_id=n.author_id, body=_text(n.body),
                       created_at=n.created_at) for n in notes],
        quotes=quotes_of(session, [case.id for case in cases], today),
    )


@router.get("/{customer_id}", summary="The unified customer view", response_model=CustomerView,
            responses=error_responses(401, 403, 404, 422),
            description="Phones in full only for the current owner of one of the customer's open cases; the "
                        "corrected phone only for the manager who entered it; the id number always masked but "
                        "the last 4; family members' and the proxy's phones as the customer's, their names only for "
                        "identity readers; free text (SMS bodies, notes) masked alike: id numbers for everyone, "
                        "phones for all but the owner, names, plates and VINs for auditors.")
def get_customer(customer: ReadableCustomer, staff: CurrentStaff, session: SessionDep, settings: SettingsDep,
                 now: NowDep) -> CustomerView:
    return customer_view(session, customer, customer_visibility(session, staff, customer), local_today(settings, now))
