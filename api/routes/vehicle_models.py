"""Vehicle models (车型): search the catalogue and confirm a case's vehicle model, which a quote
needs first ("查询、交互车型后才可报价")."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api.access import CaseForWork
from api.deps import CurrentStaff, NowDep, SessionDep
from api.errors import error_responses
from api.inputs import Limit, Line
from models import VehicleModel
from renewals.quotes.service import confirm_vehicle_model as record_confirmation
from renewals.quotes.vehicle_models import search_vehicle_models

router = APIRouter(tags=["vehicle models"])


MODEL_EXAMPLE = {"code": "SVW7182QQD", "name": "朗逸 1.8L 自动舒适版", "brand": "上汽大众", "seats": 5,
                 "purchase_price": "126900.00"}


class VehicleModelOut(BaseModel):
    model_config = {"json_schema_extra": {"examples": [MODEL_EXAMPLE]}}
    code: str
    name: str
    brand: str
    seats: int
    purchase_price: Decimal = Field(description="新车购置价, CNY")


class VehicleModelIn(BaseModel):
    model_config = {"json_schema_extra": {"examples": [{"model_code": "SVW7182QQD"}]}}
    model_code: Line(64, min_length=3) = Field(description="a code from GET /vehicle-models")


class VehicleModelConfirmed(BaseModel):
    model_config = {"json_schema_extra": {"examples": [{
        "vehicle_id": "6a7b8c9d-0e1f-4a2b-8c3d-4e5f6a7b8c9d", "model": MODEL_EXAMPLE, "model_confirmed": True,
        "confirmed_by": "7d1e2c3b-4a59-4b6c-8d7e-9f0a1b2c3d4e", "confirmed_at": "2026-02-11T02:00:00Z"}]}}
    vehicle_id: uuid.UUID
    model: VehicleModelOut
    model_confirmed: bool
    confirmed_by: uuid.UUID
    confirmed_at: datetime


def _out(model: VehicleModel) -> VehicleModelOut:
    return VehicleModelOut(code=model.code, name=model.name, brand=model.brand, seats=model.seats,
                           purchase_price=model.purchase_price)


@router.get("/vehicle-models", summary="Search vehicle models by code (prefix) or name/brand (part)",
            response_model=list[VehicleModelOut], responses=error_responses(401, 422))
def find_vehicle_models(_: CurrentStaff, session: SessionDep,
                        q: Annotated[Line(64, min_length=1) | None,
                                     Query(description="e.g. SVW71 or 朗逸; none: the catalogue by code")] = None,
                        limit: Limit = 20) -> list[VehicleModelOut]:
    return [_out(m) for m in search_vehicle_models(session, q, limit)]


@router.post("/cases/{case_id}/vehicle-model", summary="Confirm the case's vehicle model (交互车型) before quoting",
             response_model=VehicleModelConfirmed, responses=error_responses(401, 403, 404, 409, 422))
def confirm_vehicle_model(body: VehicleModelIn, case: CaseForWork, staff: CurrentStaff, session: SessionDep,
                          now: NowDep) -> VehicleModelConfirmed:
    vehicle, model = record_confirmation(session, case, body.model_code, staff.id, now)
    return VehicleModelConfirmed(vehicle_id=vehicle.id, model=_out(model), model_confirmed=True,
                                 confirmed_by=staff.id, confirmed_at=now)
