"""Staff administration for books of policies: move a leaver's book, see what is left, deactivate."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request

from api.access import actor, find_branch_staff
from api.deps import CurrentStaff, SessionDep, read_then_release
from api.errors import ApiError, error_responses
from api.schemas import BookOut, BookReportOut, DeactivatedOut, HandlerCodeIn, HandlerCodeOut, ReassignBookIn
from renewals.ownership import service as ownership
from renewals.org.service import HandlerCodeTaken, set_handler_code

router = APIRouter(prefix="/staff", tags=["staff"])


@router.post("/{staff_id}/reassign-book", response_model=BookReportOut, responses=error_responses(401, 403, 409, 422),
             summary="Move every policy and open case of a service manager to others (admin); dry_run to preview")
async def reassign_book(staff_id: uuid.UUID, body: ReassignBookIn, request: Request, admin: CurrentStaff,
                        session: SessionDep) -> BookReportOut:
    leaver = await read_then_release(session, find_branch_staff, admin, staff_id)
    state = request.app.state
    report = await ownership.move_book(state.engine, await state.temporal(), leaver, body.to,
                                       actor(admin), body.reason, dry_run=body.dry_run)
    return BookReportOut(**report.__dict__)


@router.get("/{staff_id}/book", response_model=BookOut, responses=error_responses(401, 403, 422),
            summary="What a staff member still owns: the progress of a book being moved")
def book(staff_id: uuid.UUID, admin: CurrentStaff, session: SessionDep) -> BookOut:
    staff = find_branch_staff(session, admin, staff_id, write=False)
    return BookOut(staff_id=staff.id, active=staff.active, **ownership.book_size(session, staff.id))


@router.put("/{staff_id}/handler-code", response_model=HandlerCodeOut, responses=error_responses(401, 403, 409, 422),
            summary="Give a service manager their 经办人 code (admin): direct-sales rows naming it are theirs")
def give_handler_code(staff_id: uuid.UUID, body: HandlerCodeIn, admin: CurrentStaff,
                      session: SessionDep) -> HandlerCodeOut:
    staff = find_branch_staff(session, admin, staff_id)
    try:
        set_handler_code(session, staff, body.handler_code)
    except HandlerCodeTaken as exc:
        raise ApiError(409, str(exc), field="handler_code") from None
    return HandlerCodeOut(staff_id=staff.id, handler_code=staff.handler_code)


@router.post("/{staff_id}/deactivate", response_model=DeactivatedOut, responses=error_responses(401, 403, 409, 422),
             summary="Deactivate a staff member (admin); refused with the count while they own policies")
def deactivate(staff_id: uuid.UUID, admin: CurrentStaff, session: SessionDep) -> DeactivatedOut:
    staff = find_branch_staff(session, admin, staff_id)
    try:
        ownership.deactivate(session, staff)
    except ownership.Refused as exc:
        raise ApiError(409, str(exc)) from None
    return DeactivatedOut(staff_id=staff.id, active=False)
