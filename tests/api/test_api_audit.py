"""The audit routes: who may read a case's timeline and raw history, and a staff action
the workflow refused showing in the timeline with its reason and actor."""

from __future__ import annotations

import pytest
from temporalio.client import WorkflowHistory

from models import Role
from tests.api.conftest import Api, add_person
from tests.scenario import Scenario

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_timeline_readers_refusals_and_raw_history(api: Api, sc: Scenario):
    case = await sc.start(days_to_expiry=62)
    other_case = await sc.start(days_to_expiry=62)
    owner, deputy = await api.sign_in(case.owner_id), await api.sign_in(case.deputy_id)
    auditor = await api.sign_in(add_person(sc.engine, Role.auditor).id)
    manager = await api.sign_in(add_person(sc.engine, Role.manager, branch_code=sc.branch_code).id)
    admin = await api.sign_in(add_person(sc.engine, Role.admin, branch_code=sc.branch_code).id)
    other_sales = await api.sign_in(other_case.owner_id)
    # Another deputy of the same sub-branch reads the case, but it is not theirs: no timeline.
    other_deputy = await api.sign_in(other_case.deputy_id)

    await sc.sleep_until(case.at(-60, 10))
    refused = await api.post(f"/cases/{case.case_id}/follow-up", headers=owner, json={"status": "failed"})
    assert refused.status_code == 409, refused.text
    accepted = await api.post(f"/cases/{case.case_id}/contacts", headers=owner,
                              json={"channel": "call", "result": "reached", "note": "客户13812348000考虑中"})
    assert accepted.status_code == 200, accepted.text
    called = await api.post(f"/cases/{case.case_id}/call", headers=owner)
    assert called.status_code == 202, called.text

    path = f"/cases/{case.case_id}/timeline"
    for reader in (auditor, manager, admin, owner, deputy):
        assert (await api.get(path, headers=reader)).status_code == 200
    assert (await api.get(f"/cases/{case.case_id}", headers=other_deputy)).status_code == 200
    for outsider in (other_sales, other_deputy):
        response = await api.get(path, headers=outsider)
        assert response.status_code == 403, response.text

    timeline = (await api.get(path, headers=auditor)).json()
    [refusal] = [e for e in timeline["events"] if e["kind"] == "staff_action_refused"]
    assert refusal["actor"]["id"] == str(case.owner_id) and refusal["actor"]["role"] == "sales"
    assert refusal["details"]["request"] == {"status": "failed"}
    assert "cannot be set in FIRST_CONTACT" in refusal["details"]["reason"]
    assert (refusal["t_day"], refusal["stage"], refusal["local_time"][11:]) == ("T-60", "FIRST_CONTACT", "10:00")
    [call] = [e for e in timeline["events"] if e["kind"] == "call"]
    assert (call["actor"]["id"], call["actor"]["role"], call["stage"]) == (str(case.owner_id), "sales", "FIRST_CONTACT")
    assert call["details"]["to"] == f"{case.customer_phone[3:6]}****{case.customer_phone[-4:]}"
    assert call["details"]["customer_leg"] == called.json()["status"]
    contact = [e for e in timeline["events"] if e["kind"] == "staff_action"][-1]
    assert contact["details"]["request"] == {"channel": "call", "result": "reached", "note": "attached"}
    assert "13812348000" not in str(timeline) and case.owner_name not in str(timeline)

    history = await api.get(f"/cases/{case.case_id}/history.json", headers=auditor)
    assert history.status_code == 200 and history.headers["x-history-from"] == "temporal"
    assert WorkflowHistory.from_json(case.handle.id, history.text).events[0].event_id == 1
    for not_auditor in (manager, owner):
        assert (await api.get(f"/cases/{case.case_id}/history.json", headers=not_auditor)).status_code == 403
