"""Sub-branches: changing the deputy manager (分管车险副经理) moves every open case to the new one."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from sqlmodel import Session, select

from api.access import actor
from api.deps import CurrentStaff, SessionDep, read_then_release
from api.errors import ApiError, error_responses
from models import Role, Staff, SubBranch
from renewals.ownership import service as ownership

router = APIRouter(prefix="/sub-branches", tags=["sub-branches"])


class DeputyIn(BaseModel):
    model_config = {"json_schema_extra": {"examples": [{"deputy_id": "5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b"}]}}
    deputy_id: uuid.UUID = Field(description="an active deputy manager of this sub-branch")


class DeputyOut(BaseModel):
    model_config = {"json_schema_extra": {"examples": [{"sub_branch": "310101",
                                                        "deputy_id": "5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b",
                                                        "cases_moved": 214, "failures": []}]}}
    sub_branch: str
    deputy_id: uuid.UUID
    cases_moved: int
    failures: list[dict[str, Any]]


def _sub_branch_of_admin(session: Session, staff: Staff, code: str) -> SubBranch:
    sub = session.exec(select(SubBranch).where(SubBranch.code == code[:32])).first()
    if staff.role != Role.admin or sub is None or sub.branch_id != staff.branch_id:
        raise ApiError(403, "only a system specialist (admin) of the sub-branch's branch can set its deputy")
    return sub


@router.put("/{code}/deputy", response_model=DeputyOut, responses=error_responses(401, 403, 422),
            summary="Set the sub-branch's deputy manager (admin): every open case and its deputy tasks move to them")
async def set_deputy(code: str, body: DeputyIn, request: Request, staff: CurrentStaff,
                     session: SessionDep) -> DeputyOut:
    sub = await read_then_release(session, _sub_branch_of_admin, staff, code)
    state = request.app.state
    result = await ownership.change_deputy(state.engine, await state.temporal(), sub, body.deputy_id,
                                           actor(staff))
    return DeputyOut(**result)
