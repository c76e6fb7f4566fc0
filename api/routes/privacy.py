"""Personal data (PIPL): a person's data on request (Art. 45) and its erasure (Art. 47), by a system
specialist (admin) for their branch's records; the log of who saw a full id number or phone, for
auditors."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.access import AccessLogReader, PrivacyBranch
from api.deps import CurrentStaff, NowDep, SessionDep, SettingsDep
from api.errors import ApiError, error_responses
from api.inputs import examples
from renewals.intake.service import local_today
from renewals.privacy.service import NoSuchPerson, erase_person, export_person, full_views

router = APIRouter(prefix="/privacy", tags=["personal data"])


class IdNumberIn(BaseModel):
    """In the body, not the address: an id number stays out of access logs and browser histories."""

    model_config = examples({"id_number": "310101199001011234"})
    id_number: str = Field(min_length=15, max_length=32)


class ErasureOut(BaseModel):
    model_config = examples({"erased": ["0b9d3c1e-5f7a-4a8e-9c2d-1f3e5a7b9c0d"]})
    erased: list[uuid.UUID] = Field(description="the customer records anonymised")


class SensitiveViewOut(BaseModel):
    model_config = examples({"reader_id": "22568f00-43c6-4f04-9002-09c59efcd270",
                             "customer_id": "0b9d3c1e-5f7a-4a8e-9c2d-1f3e5a7b9c0d", "field": "phone",
                             "viewed_at": "2026-03-02T02:15:00Z"})
    reader_id: uuid.UUID | None = Field(description="the staff member who saw it; null: the system operator's CLI")
    customer_id: uuid.UUID
    field: str = Field(description="id_number, phone or corrected_phone (never the value)")
    viewed_at: datetime


def _not_in_branch() -> ApiError:
    return ApiError(403, "no customer with this id number is in your scope", field="id_number")


@router.post("/export", summary="Everything held about a person, as one JSON document",
             responses=error_responses(401, 403, 422),
             description="The branch's record of the person with this id number: their details, vehicles, "
                         "policies, renewal cases, contacts, notes and quotes, unmasked (it is theirs). The "
                         "request is recorded, and the access log records the full id number and phone shown.")
def export(body: IdNumberIn, staff: CurrentStaff, branch_id: PrivacyBranch, session: SessionDep,
           now: NowDep) -> dict[str, Any]:
    try:
        return export_person(session, body.id_number, branch_id=branch_id, requested_by=staff.id, now=now)
    except NoSuchPerson:
        raise _not_in_branch() from None


@router.post("/erase", summary="Anonymise a person on their request", response_model=ErasureOut,
             responses=error_responses(401, 403, 409, 422),
             description="Their name, id number, phones, plates, VINs, the text of their SMS and notes and the "
                         "recordings' links are emptied; policies, cases, amounts, outcomes and who acted stay "
                         "(reports still count them). Refused (409, with the reason, and recorded) while a case "
                         "of theirs is open or a policy of theirs is in force.")
def erase(body: IdNumberIn, staff: CurrentStaff, branch_id: PrivacyBranch, session: SessionDep, settings: SettingsDep,
          now: NowDep) -> ErasureOut:
    try:
        result = erase_person(session, body.id_number, branch_id=branch_id, requested_by=staff.id,
                              today=local_today(settings, now), now=now)
    except NoSuchPerson:
        raise _not_in_branch() from None
    if result.refused:
        raise ApiError(409, "; ".join(reason for reasons in result.refused.values() for reason in reasons))
    return ErasureOut(erased=result.erased)


@router.get("/views", summary="Who saw a customer's full id number or phone, or what a reader saw",
            response_model=list[SensitiveViewOut], responses=error_responses(401, 403, 422),
            description="The access log, newest first, for auditors: one of customer_id or reader_id.")
def views(staff: AccessLogReader, session: SessionDep, customer_id: uuid.UUID | None = None,
          reader_id: uuid.UUID | None = None) -> list[SensitiveViewOut]:
    if (customer_id is None) == (reader_id is None):
        raise ApiError(422, "give customer_id or reader_id", field="customer_id")
    return [SensitiveViewOut.model_validate(row, from_attributes=True)
            for row in full_views(session, customer_id=customer_id, reader_id=reader_id)]
