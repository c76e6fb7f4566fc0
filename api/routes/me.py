"""The signed-in staff member, their to-do panel (待办任务) and their absences with who covers them."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Query, Response

from api.access import absent_staff, find_absence
from api.deps import CurrentStaff, NowDep, SessionDep, SettingsDep
from api.errors import error_responses
from api.inputs import Day, Limit, Offset
from api.schemas import AbsenceIn, AbsenceOut, MeOut, TaskPage
from api.views import todo_panel
from models import Branch, Staff, SubBranch
from renewals.ownership.cover import absences_of, end_absence, record_absence

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
                "the higher lapse risk first, then high signing intent (签单意向) first. While a colleague you "
                "cover is away, their tasks are here (and not on their panel). Customer name, phone and plate are masked.",
    response_model=TaskPage, responses=error_responses(401, 422),
)
def my_tasks(staff: CurrentStaff, session: SessionDep, settings: SettingsDep, now: NowDep,
             date: Day | None = Query(None, description="YYYY-MM-DD; default today in the company time zone"),
             limit: Limit = 50, offset: Offset = 0) -> TaskPage:
    return todo_panel(session, staff, settings, now, date, limit, offset)


@router.get("/absences", summary="My absences and those I cover, running or to come", response_model=list[AbsenceOut],
            responses=error_responses(401))
def my_absences(staff: CurrentStaff, session: SessionDep, now: NowDep) -> list[AbsenceOut]:
    return [AbsenceOut.model_validate(a, from_attributes=True) for a in absences_of(session, staff.id, now)]


@router.post(
    "/absences", summary="Record an absence with a covering colleague", status_code=201, response_model=AbsenceOut,
    description="While it runs, the absent service manager's tasks show on the cover's to-do panel; the cases stay "
                "theirs (ownership, reports, commission). A deputy records one for a service manager of their "
                "sub-branch with `staff_id`.",
    responses=error_responses(401, 403, 422),
)
def add_absence(body: AbsenceIn, staff: CurrentStaff, session: SessionDep, now: NowDep) -> AbsenceOut:
    absent = absent_staff(session, staff, body.staff_id)
    absence = record_absence(session, absent, session.get(Staff, body.cover_id), body.starts_at, body.ends_at,
                             staff, now)
    return AbsenceOut.model_validate(absence, from_attributes=True)


@router.delete("/absences/{absence_id}", summary="End an absence now (or withdraw one not begun)", status_code=204,
               responses=error_responses(401, 403, 422))
def remove_absence(absence_id: uuid.UUID, staff: CurrentStaff, session: SessionDep, now: NowDep) -> Response:
    end_absence(session, find_absence(session, staff, absence_id), staff, now)
    return Response(status_code=204)
