"""Who serves each policy: the unassigned, assigning them, and owners who no longer fit ."""

from __future__ import annotations

from fastapi import APIRouter, Request

from api.access import find_policy, policy_scope
from api.deps import CurrentStaff, NowDep, SessionDep, read_then_release
from api.errors import ApiError, error_responses
from api.inputs import Limit, Offset
from api.schemas import AssignIn, AssignOut, PolicyOwnerOut, PolicyOwnerPage, unassigned_page
from models import Role, Staff
from renewals.intake.service import local_today
from renewals.org.service import sub_branch_codes
from renewals.ownership import service as ownership

router = APIRouter(prefix="/assignments", tags=["assignments"])
READERS = (Role.admin, Role.manager)


def _reader(staff: Staff) -> Staff:
    if staff.role not in READERS:
        raise ApiError(403, "only system specialists (admin) and managers of a branch see ownership lists")
    return staff


@router.get("/unassigned", response_model=PolicyOwnerPage, responses=error_responses(401, 403, 422),
            summary="Policies nobody serves yet (no manager or 经办人 matched, with the reason): no case until assigned")
def list_unassigned(staff: CurrentStaff, session: SessionDep, limit: Limit = 50, offset: Offset = 0) -> PolicyOwnerPage:
    policies, total = ownership.unassigned(session, policy_scope(_reader(staff)), limit, offset)
    return unassigned_page(session, policies, total, limit, offset)


@router.get("/stale", response_model=PolicyOwnerPage, responses=error_responses(401, 403, 422),
            summary="Policies whose owner is inactive or works outside the policy's sub-branch")
def list_stale(staff: CurrentStaff, session: SessionDep, limit: Limit = 50, offset: Offset = 0) -> PolicyOwnerPage:
    rows, total = ownership.stale(session, policy_scope(_reader(staff)), limit, offset)
    codes = sub_branch_codes(session, {p.sub_branch_id for p, _ in rows})
    return PolicyOwnerPage(items=[PolicyOwnerOut(
        policy_id=p.id, policy_no=p.policy_no, sub_branch=codes[p.sub_branch_id], expires_on=p.expires_on,
        handler_code=p.handler_code, owner_id=s.id, owner_username=s.username,
        why="the owner is deactivated" if not s.active else "the owner works in another sub-branch")
        for p, s in rows], total=total, limit=limit, offset=offset)


@router.post("", response_model=AssignOut, responses=error_responses(401, 403, 422),
             summary="Give a policy to a service manager (admin): its case starts if due, or follows if open")
async def assign(body: AssignIn, request: Request, staff: CurrentStaff, session: SessionDep, now: NowDep) -> AssignOut:
    if staff.role != Role.admin:
        raise ApiError(403, "only a system specialist (admin) of the policy's branch can assign policies")
    policy = await read_then_release(session, find_policy, staff, body.policy_no)
    state = request.app.state
    counts = await ownership.assign_policy(state.engine, await state.temporal(), state.settings, policy, body.staff_id,
                                           staff, body.reason, today=local_today(state.settings, now))
    return AssignOut(policy_no=policy.policy_no, staff_id=body.staff_id, counts=counts)
