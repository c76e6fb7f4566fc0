"""Giving a case to another service manager moves its policy too, and the policy's history says
from whom, to whom, by whom and why, as a book move or an assignment says it."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from models import Assignment, RenewalCase
from tests.api.conftest import Api
from tests.scenario import Scenario

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_reassigning_a_case_records_the_previous_owner_and_who_reassigned_it(api: Api, sc: Scenario):
    case = await sc.start(days_to_expiry=62)
    await sc.sleep_until(case.at(-60, 10))
    successor = sc.add_sales("王六")
    admin = await api.sign_in(sc.admin.id)

    moved = await api.post(f"/cases/{case.case_id}/reassign", headers=admin,
                           json={"new_owner_id": str(successor.id), "reason": "staff_left", "note": "李四离职"})
    assert moved.status_code == 200, moved.text

    with Session(sc.engine) as session:
        policy_id = session.get(RenewalCase, case.case_id).policy_id
        history = session.exec(select(Assignment).where(Assignment.policy_id == policy_id)
                               .order_by(Assignment.assigned_at)).all()
    assert [(a.staff_id, a.ended_at is None) for a in history] == [(case.owner_id, False), (successor.id, True)]
    assert (history[-1].previous_staff_id, history[-1].assigned_by, history[-1].reason) == (
        case.owner_id, sc.admin.id, "staff_left")
