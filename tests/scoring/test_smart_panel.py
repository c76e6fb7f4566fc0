"""The to-do panel that knows who is about to lapse, when they answer, and who covers an absent
colleague: GET /me/tasks with real workflows, the nightly scoring run as its activity runs it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from renewals.case import contract as c
from renewals.scoring.service import refresh
from tests.api.conftest import Api
from tests.scenario import Case, Scenario, eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")
ABSENCE_ROUTES = {("DELETE", "/me/absences/{absence_id}")}  # who may end one: below


async def same_owner(sc: Scenario, count: int, days_to_expiry: int = 21) -> list[Case]:
    """`count` cases of one service manager, due on the same days."""
    cases = [await sc.start(days_to_expiry=days_to_expiry) for _ in range(count)]
    for case in cases[1:]:
        await case.update("reassign", c.Reassign(actor=case.actor("admin"), new_owner_id=cases[0].owner_id,
                                                 reason="workload"))
    return cases


async def panel(api: Api, headers: dict[str, str], day) -> list[dict]:
    response = await api.get("/me/tasks", headers=headers, params={"date": str(day)})
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def test_two_tasks_due_at_the_same_time_come_in_order_of_lapse_risk(api: Api, sc: Scenario):
    first, second = await same_owner(sc, 2)
    owner = await api.sign_in(first.owner_id)
    await sc.sleep_until(first.at(-20, 10))
    tomorrow = first.at(-19).date()

    async def both_listed() -> list[str]:
        listed = [item["case_id"] for item in await panel(api, owner, tomorrow) if item["day"] == -19]
        assert sorted(listed) == sorted([str(first.case_id), str(second.case_id)]), listed
        return listed

    ahead, behind = await eventually(both_listed)
    # The customer listed second stops answering: three calls in a row unanswered.
    for _ in range(3):
        recorded = await api.post(f"/cases/{behind}/contacts", headers=owner,
                                  json={"channel": "call", "result": "no_answer"})
        assert recorded.status_code == 200, recorded.text
    await api.post(f"/cases/{ahead}/contacts", headers=owner, json={"channel": "call", "result": "reached"})
    refresh(api.engine, await sc.now())

    items = [item for item in await panel(api, owner, tomorrow) if item["day"] == -19]
    assert [item["case_id"] for item in items] == [behind, ahead]
    risky, calm = items
    assert risky["lapse_risk"]["score"] > calm["lapse_risk"]["score"]
    assert "近 3 次未接通 / last 3 calls unanswered" in risky["lapse_risk"]["reasons"]
    assert risky["lapse_risk"]["model_version"] == "prior-1", "a new book has too few outcomes to learn from"


async def test_a_customer_who_answered_only_in_the_evening_is_best_called_in_the_evening(api: Api, sc: Scenario):
    evening, morning = await same_owner(sc, 2)
    owner = await api.sign_in(evening.owner_id)

    async def call(case: Case, result: str, times: int = 1) -> None:
        for _ in range(times):
            recorded = await api.post(f"/cases/{case.case_id}/contacts", headers=owner,
                                      json={"channel": "call", "result": result})
            assert recorded.status_code == 200, recorded.text

    # Over the sub-branch, mornings answer best; this customer answers only in the evening.
    for day, evening_misses in ((-20, 2), (-19, 1)):
        await sc.sleep_until(evening.at(day, 11, 10))
        await call(evening, "no_answer")
        await call(morning, "reached", 2)
        await sc.sleep_until(evening.at(day, 19, 10))
        await call(evening, "reached")
        await call(morning, "no_answer", evening_misses)
    refresh(api.engine, await sc.now())

    best = {item["case_id"]: item["best_hour"] for item in await panel(api, owner, evening.at(-18).date())}
    assert (best[str(evening.case_id)], best[str(morning.case_id)]) == (19, 11), best


async def test_an_absence_moves_the_tasks_of_three_open_cases_to_the_cover_and_back(api: Api, sc: Scenario):
    cases = await same_owner(sc, 3)
    cover = sc.add_sales("赵六")
    owner, covering = await api.sign_in(cases[0].owner_id), await api.sign_in(cover.id)
    await sc.sleep_until(cases[0].at(-20, 10))
    today, ids = cases[0].at(-20).date(), sorted(str(case.case_id) for case in cases)

    async def on_panel(headers: dict[str, str]) -> list[str]:
        return sorted({item["case_id"] for item in await panel(api, headers, today)} & set(ids))

    async def owners_three() -> None:
        assert await on_panel(owner) == ids

    await eventually(owners_three)
    assert await on_panel(covering) == []

    now = await sc.now()
    recorded = await api.post("/me/absences", headers=owner, json={
        "cover_id": str(cover.id), "starts_at": now.isoformat(), "ends_at": (now + timedelta(days=3)).isoformat()})
    assert recorded.status_code == 201, recorded.text
    assert await on_panel(covering) == ids and await on_panel(owner) == []
    covered = [item for item in await panel(api, covering, today) if item["case_id"] in ids]
    assert {item["covering_for"] for item in covered} == {str(cases[0].owner_id)}

    await sc.sleep_until(cases[0].at(-20, 15))
    ended = await api.delete(f"/me/absences/{recorded.json()['id']}", headers=owner)
    assert ended.status_code == 204, ended.text
    assert await on_panel(owner) == ids and await on_panel(covering) == []

    admin = await api.sign_in(sc.admin.id)
    for case in cases:
        shown = (await api.get(f"/cases/{case.case_id}", headers=admin)).json()["case"]
        assert shown["owner_id"] == str(cases[0].owner_id), "the owner never changed"
        events = (await api.get(f"/cases/{case.case_id}/timeline", headers=admin)).json()["events"]
        moves = [(e["kind"], e["details"]["cover"]["id"]) for e in events if e["kind"].startswith("tasks_")]
        assert moves == [("tasks_covered", str(cover.id)), ("tasks_returned", str(cover.id))], moves


async def test_the_cover_works_the_absent_managers_case_in_their_turn_and_only_while_the_absence_runs(
        api: Api, sc: Scenario):
    case, = await same_owner(sc, 1)
    cover = sc.add_sales("赵六")
    owner, covering = await api.sign_in(case.owner_id), await api.sign_in(cover.id)
    await sc.sleep_until(case.at(-20, 10))
    path = f"/cases/{case.case_id}"
    assert (await api.get(path, headers=covering)).status_code == 403, "no absence yet: not the cover's case"

    now = await sc.now()
    recorded = await api.post("/me/absences", headers=owner, json={
        "cover_id": str(cover.id), "starts_at": now.isoformat(), "ends_at": (now + timedelta(days=3)).isoformat()})
    assert recorded.status_code == 201, recorded.text
    shown = (await api.get(path, headers=covering)).json()
    todays_call = [t for t in shown["state"]["open_tasks"] if t["day"] == -20 and t["kind"] == "call"]
    assert [t["assignee_id"] for t in todays_call] == [str(case.owner_id)], shown["state"]
    called = await api.post(f"{path}/contacts", headers=covering, json={"channel": "call", "result": "reached"})
    assert called.status_code == 200, called.text
    assert not [t for t in called.json()["open_tasks"] if t["day"] == -20], "the owner's call of the day is done"
    assert called.json()["owner_id"] == str(case.owner_id), "the case stays the owner's"
    moved = await api.put(f"{path}/customer-phone", headers=covering, json={"phone": "13800138000"})
    assert moved.status_code == 403, "the customer's phone stays the owner's to correct"

    await api.delete(f"/me/absences/{recorded.json()['id']}", headers=owner)
    after = await api.post(f"{path}/contacts", headers=covering, json={"channel": "call", "result": "reached"})
    assert after.status_code == 403, after.text

    admin = await api.sign_in(sc.admin.id)
    events = (await api.get(f"{path}/timeline", headers=admin)).json()["events"]
    contact = next(e for e in events if e["kind"] == "staff_action" and e["details"]["action"] == "record_contact")
    assert contact["actor"]["id"] == str(cover.id)
    assert contact["details"]["covering_for"]["id"] == str(case.owner_id)


async def test_only_a_colleague_of_the_same_sub_branch_covers(api: Api, sc: Scenario):
    case, = await same_owner(sc, 1)
    owner = await api.sign_in(case.owner_id)
    now = await sc.now()
    refused = await api.post("/me/absences", headers=owner, json={
        "cover_id": str(case.deputy_id), "starts_at": now.isoformat(), "ends_at": (now + timedelta(days=1)).isoformat()})
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "cover_id", refused.text


async def test_a_deputy_records_an_absence_for_their_salesperson_and_only_they_or_the_salesperson_end_it(
        api: Api, sc: Scenario):
    case, = await same_owner(sc, 1)
    cover, stranger = sc.add_sales("赵六"), sc.add_sales("孙八")
    deputy, owner = await api.sign_in(case.deputy_id), await api.sign_in(case.owner_id)
    now = await sc.now()
    recorded = await api.post("/me/absences", headers=deputy, json={
        "staff_id": str(case.owner_id), "cover_id": str(cover.id), "starts_at": now.isoformat(),
        "ends_at": (now + timedelta(days=2)).isoformat()})
    assert recorded.status_code == 201, recorded.text
    assert [a["id"] for a in (await api.get("/me/absences", headers=owner)).json()] == [recorded.json()["id"]]
    path = f"/me/absences/{recorded.json()['id']}"
    for someone in (stranger.id, cover.id):
        refused = await api.delete(path, headers=await api.sign_in(someone))
        assert refused.status_code == 403 and refused.json()["error"]["message"].startswith("no service manager")
    assert (await api.delete(path, headers=deputy)).status_code == 204
    assert (await api.get("/me/absences", headers=owner)).json() == []


async def test_an_absence_entered_late_counts_from_now_and_does_not_clash_with_one_already_over(
        api: Api, sc: Scenario):
    case, = await same_owner(sc, 1)
    cover = sc.add_sales("赵六")
    owner = await api.sign_in(case.owner_id)
    now = await sc.now()
    first = await api.post("/me/absences", headers=owner, json={
        "cover_id": str(cover.id), "starts_at": now.isoformat(), "ends_at": (now + timedelta(days=1)).isoformat()})
    assert (await api.delete(f"/me/absences/{first.json()['id']}", headers=owner)).status_code == 204
    # Off sick since the day before yesterday, entered today: it runs from now.
    late = await api.post("/me/absences", headers=owner, json={
        "cover_id": str(cover.id), "starts_at": (now - timedelta(days=2)).isoformat(),
        "ends_at": (now + timedelta(days=2)).isoformat()})
    assert late.status_code == 201, late.text
