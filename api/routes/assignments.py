"""Who serves each policy: the unassigned, assigning them, and owners who no longer fit (issue 9)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from sqlmodel import Session, select

from api.access import policy_scope
from api.deps import CurrentStaff, NowDep, SessionDep, read_then_release
from api.errors import ApiError, error_responses
from api.inputs import Limit, Line, Offset
from models import Policy, Role, Staff, SubBranch
from renewals.ownership import service as ownership
from renewals.intake.service import local_today

router = APIRouter(prefix="/assignments", tags=["assignments"])
READERS = (Role.admin, Role.manager)


class PolicyOwnerOut(BaseModel):
    policy_id: uuid.UUID
    policy_no: str
    sub_branch: str
    expires_on: date
    handler_code: str | None = Field(description="经办人 code from the import (matched no active service manager)")
    unassigned_reason: str | None = Field(default=None, description="unassigned: why the import found no owner")
    owner_id: uuid.UUID | None = None
    owner_username: str | None = None
    why: str | None = Field(default=None, description="stale: why the owner no longer fits")


class PolicyOwnerPage(BaseModel):
    model_config = {"json_schema_extra": {"examples": [{"total": 1, "limit": 50, "offset": 0, "items": [{
        "policy_id": "2b7e9a4c-1d3f-4e5a-9b6c-7d8e9f0a1b2c", "policy_no": "PDAA20263101010000003",
        "sub_branch": "310101", "expires_on": "2027-01-05", "handler_code": "JB310101009",
        "unassigned_reason": "handler_code: no staff member has this 经办人 code", "owner_id": None,
        "owner_username": None, "why": None}]}]}}
    items: list[PolicyOwnerOut]
    total: int
    limit: int
    offset: int


class AssignIn(BaseModel):
    model_config = {"json_schema_extra": {"examples": [{"policy_no": "PDAA20263101010000003",
                                                        "staff_id": "7d1e2c3b-4a59-4b6c-8d7e-9f0a1b2c3d4e",
                                                        "reason": "direct sale, served by the sub-branch"}]}}
    policy_no: str = Field(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9-]*$")
    staff_id: uuid.UUID = Field(description="an active service manager (sales) of the policy's sub-branch")
    reason: Line(200, min_length=1)


class AssignOut(BaseModel):
    model_config = {"json_schema_extra": {"examples": [{"policy_no": "PDAA20263101010000003",
                                                        "staff_id": "7d1e2c3b-4a59-4b6c-8d7e-9f0a1b2c3d4e",
                                                        "counts": {"cases_started": 1, "reassigned": 0}}]}}
    policy_no: str
    staff_id: uuid.UUID
    counts: dict[str, Any] = Field(description="cases_started: 1 when its case was due; reassigned: 1 when it "
                                               "had an open case")


def _reader(staff: Staff) -> Staff:
    if staff.role not in READERS:
        raise ApiError(403, "only system specialists (admin) and managers of a branch see ownership lists")
    return staff


def _sub_codes(session, ids) -> dict[uuid.UUID, str]:
    return dict(session.exec(select(SubBranch.id, SubBranch.code).where(SubBranch.id.in_(list(ids)))).all()) if ids else {}


@router.get("/unassigned", response_model=PolicyOwnerPage, responses=error_responses(401, 403, 422),
            summary="Policies nobody serves yet (no manager or 经办人 matched, with the reason): no case until assigned")
def list_unassigned(staff: CurrentStaff, session: SessionDep, limit: Limit = 50, offset: Offset = 0) -> PolicyOwnerPage:
    policies, total = ownership.unassigned(session, policy_scope(_reader(staff)), limit, offset)
    codes = _sub_codes(session, {p.sub_branch_id for p in policies})
    return PolicyOwnerPage(items=[PolicyOwnerOut(policy_id=p.id, policy_no=p.policy_no, sub_branch=codes[p.sub_branch_id],
                                                 expires_on=p.expires_on, handler_code=p.handler_code,
                                                 unassigned_reason=p.unassigned_reason)
                                  for p in policies], total=total, limit=limit, offset=offset)


@router.get("/stale", response_model=PolicyOwnerPage, responses=error_responses(401, 403, 422),
            summary="Policies whose owner is inactive or works outside the policy's sub-branch")
def list_stale(staff: CurrentStaff, session: SessionDep, limit: Limit = 50, offset: Offset = 0) -> PolicyOwnerPage:
    rows, total = ownership.stale(session, policy_scope(_reader(staff)), limit, offset)
    codes = _sub_codes(session, {p.sub_branch_id for p, _ in rows})
    return PolicyOwnerPage(items=[PolicyOwnerOut(
        policy_id=p.id, policy_no=p.policy_no, sub_branch=codes[p.sub_branch_id], expires_on=p.expires_on,
        handler_code=p.handler_code, owner_id=s.id, owner_username=s.username,
        why="the owner is deactivated" if not s.active else "the owner works in another sub-branch")
        for p, s in rows], total=total, limit=limit, offset=offset)


def _policy_in_scope(session: Session, staff: Staff, policy_no: str) -> Policy:
    policy = session.exec(select(Policy).where(Policy.policy_no == policy_no, policy_scope(staff))).first()
    if policy is None:
        raise ApiError(403, "no policy with this number is in your scope")
    return policy


@router.post("", response_model=AssignOut, responses=error_responses(401, 403, 422),
             summary="Give a policy to a service manager (admin): its case starts if due, or follows if open")
async def assign(body: AssignIn, request: Request, staff: CurrentStaff, session: SessionDep, now: NowDep) -> AssignOut:
    if staff.role != Role.admin:
        raise ApiError(403, "only a system specialist (admin) of the policy's branch can assign policies")
    policy = await read_then_release(session, _policy_in_scope, staff, body.policy_no)
    state = request.app.state
    counts = await ownership.assign_policy(state.engine, await state.temporal(), state.settings, policy, body.staff_id,
                                           staff, body.reason, today=local_today(state.settings, now))
    return AssignOut(policy_no=policy.policy_no, staff_id=body.staff_id, counts=counts)
