"""Staff administration for books of policies: move a leaver's book, see what is left, deactivate."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from api.access import actor
from api.deps import CurrentStaff, SessionDep, read_then_release
from api.errors import ApiError, error_responses
from api.inputs import Line
from models import Role, Staff, SubBranch
from renewals.ownership import service as ownership
from renewals.org.service import HandlerCodeTaken, deactivate_staff, set_handler_code

router = APIRouter(prefix="/staff", tags=["staff"])


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


def _staff_in_branch(session, admin: Staff, staff_id: uuid.UUID, *, write: bool = True) -> Staff:
    if admin.role != Role.admin and (write or admin.role != Role.manager):
        raise ApiError(403, "only a system specialist (admin) of the staff member's branch can do this")
    staff = session.get(Staff, staff_id)
    branch_id = staff.branch_id if staff else None
    if staff and staff.sub_branch_id and branch_id is None:
        branch_id = session.get(SubBranch, staff.sub_branch_id).branch_id
    if staff is None or branch_id != admin.branch_id:
        raise ApiError(403, "no staff member with this id is in your scope")
    return staff


@router.post("/{staff_id}/reassign-book", response_model=BookReportOut, responses=error_responses(401, 403, 409, 422),
             summary="Move every policy and open case of a service manager to others (admin); dry_run to preview")
async def reassign_book(staff_id: uuid.UUID, body: ReassignBookIn, request: Request, admin: CurrentStaff,
                        session: SessionDep) -> BookReportOut:
    leaver = await read_then_release(session, _staff_in_branch, admin, staff_id)
    state = request.app.state
    report = await ownership.move_book(state.engine, await state.temporal(), leaver, body.to,
                                       actor(admin), body.reason, dry_run=body.dry_run)
    return BookReportOut(**report.__dict__)


@router.get("/{staff_id}/book", response_model=BookOut, responses=error_responses(401, 403, 422),
            summary="What a staff member still owns: the progress of a book being moved")
def book(staff_id: uuid.UUID, admin: CurrentStaff, session: SessionDep) -> BookOut:
    staff = _staff_in_branch(session, admin, staff_id, write=False)
    return BookOut(staff_id=staff.id, active=staff.active, **ownership.book_size(session, staff.id))


@router.put("/{staff_id}/handler-code", response_model=HandlerCodeOut, responses=error_responses(401, 403, 409, 422),
            summary="Give a service manager their 经办人 code (admin): direct-sales rows naming it are theirs")
def give_handler_code(staff_id: uuid.UUID, body: HandlerCodeIn, admin: CurrentStaff,
                      session: SessionDep) -> HandlerCodeOut:
    staff = _staff_in_branch(session, admin, staff_id)
    try:
        set_handler_code(session, staff, body.handler_code)
    except HandlerCodeTaken as exc:
        raise ApiError(409, str(exc), field="handler_code") from None
    session.commit()
    return HandlerCodeOut(staff_id=staff.id, handler_code=staff.handler_code)


@router.post("/{staff_id}/deactivate", response_model=DeactivatedOut, responses=error_responses(401, 403, 409, 422),
             summary="Deactivate a staff member (admin); refused with the count while they own policies")
def deactivate(staff_id: uuid.UUID, admin: CurrentStaff, session: SessionDep) -> DeactivatedOut:
    staff = _staff_in_branch(session, admin, staff_id)
    try:
        ownership.refuse_deactivation_with_a_book(session, staff)
        deactivate_staff(session, staff)
    except ownership.Refused as exc:
        raise ApiError(409, str(exc)) from None
    session.commit()
    return DeactivatedOut(staff_id=staff.id, active=False)
