"""The signed-in staff member and their to-do panel (待办任务)."""

from __future__ import annotations

from fastapi import APIRouter, Query

from api.deps import CurrentStaff, NowDep, SessionDep, SettingsDep
from api.errors import error_responses
from api.inputs import Day, Limit, Offset
from api.schemas import MeOut, TaskPage
from api.views import todo_panel
from models import Branch, SubBranch

router = APIRouter(prefix="/me", tags=["me"])


@router.get("", summary="Who I am", response_model=MeOut, responses=error_responses(401))
def me(staff: CurrentStaff, session: SessionDep) -> MeOut:
    branch = session.get(Branch, staff.branch_id) if staff.branch_id else None
    sub_branch = session.get(SubBranch, staff.sub_branch_id) if staff.sub_branch_id else None
    return MeOut(id=staff.id, username=staff.username, name=staff.name, role=staff.role, phone=staff.phone,
                 branch_code=branch.code if branch else None, sub_branch_code=sub_branch.code if sub_branch else None)


@router.get(
    "/tasks", summary="My to-do panel for a day: missed tasks first, then what is due",
    description="Tasks of my still-running cases: those open by the end of the day, and those missed (their day "
                "ended unhandled) on that day or the day before, missed first; among tasks due at the same time, "
                "high signing intent (签单意向) first. Customer name, phone and plate are masked.",
    response_model=TaskPage, responses=error_responses(401, 422),
)
def my_tasks(staff: CurrentStaff, session: SessionDep, settings: SettingsDep, now: NowDep,
             date: Day | None = Query(None, description="YYYY-MM-DD; default today in the company time zone"),
             limit: Limit = 50, offset: Offset = 0) -> TaskPage:
    return todo_panel(session, staff, settings, now, date, limit, offset)
