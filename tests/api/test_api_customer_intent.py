"""The customer's intent recorded at a contact: a customer who declined a quote gets no quote SMS
until they want one again (以免打扰), and high signing intent (签单意向) comes first on the to-do panel
among tasks due at the same time."""

from __future__ import annotations

import pytest

from tests.api.conftest import Api
from tests.api.test_api_quotes import error, quotable_case, vehicle_models  # noqa: F401  (fixture)
from tests.scenario import Scenario, eventually
from renewals.case import contract as c

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_a_customer_who_declined_a_quote_gets_no_quote_sms_until_they_want_one(api: Api, sc: Scenario):
    case, owner = await quotable_case(api, sc)
    quote = (await api.post(f"/cases/{case.case_id}/quotes", headers=owner, json={})).json()
    contacted = await api.post(f"/cases/{case.case_id}/contacts", headers=owner, json={
        "channel": "call", "result": "reached", "quote_wish": "declined", "signing_intent": "low"})
    assert contacted.status_code == 200, contacted.text
    before = len(sc.twilio.delivered(case.customer_phone))

    refused = error(await api.post(f"/quotes/{quote['id']}/send", headers=owner), 409)
    assert refused["code"] == "quote_declined" and "以免打扰" in refused["message"], refused
    via_case = error(await api.post(f"/cases/{case.case_id}/sms", headers=owner,
                                    json={"template": "quote", "quote_id": quote["id"]}), 409)
    assert via_case["code"] == "quote_declined"
    assert len(sc.twilio.delivered(case.customer_phone)) == before, "nothing was sent"
    shown = (await api.get(f"/cases/{case.case_id}", headers=owner)).json()["case"]
    assert (shown["quote_wish"], shown["signing_intent"]) == ("declined", "low")

    # A later contact that says nothing of a quote changes nothing; one where they ask for it does.
    await api.post(f"/cases/{case.case_id}/contacts", headers=owner, json={"channel": "call", "result": "no_answer"})
    assert error(await api.post(f"/quotes/{quote['id']}/send", headers=owner), 409)["code"] == "quote_declined"
    await api.post(f"/cases/{case.case_id}/contacts", headers=owner, json={
        "channel": "call", "result": "reached", "quote_wish": "wants"})
    sent = await api.post(f"/quotes/{quote['id']}/send", headers=owner)
    assert (sent.status_code, sent.json()["status"]) == (200, "sent"), sent.text
    assert len(sc.twilio.delivered(case.customer_phone)) == before + 1
    shown = (await api.get(f"/cases/{case.case_id}", headers=owner)).json()["case"]
    assert (shown["quote_wish"], shown["signing_intent"]) == ("wants", "low"), "the intent not said stays"


async def test_high_signing_intent_comes_first_among_tasks_due_at_the_same_time(api: Api, sc: Scenario):
    first, second = await sc.start(days_to_expiry=21), await sc.start(days_to_expiry=21)
    await second.update("reassign", c.Reassign(actor=second.actor("admin"), new_owner_id=first.owner_id,
                                               reason="workload"))
    owner = await api.sign_in(first.owner_id)
    await sc.sleep_until(first.at(-20, 10))
    tomorrow = {"date": str(first.at(-19).date())}

    async def tomorrows_cases() -> list[str]:
        items = (await api.get("/me/tasks", headers=owner, params=tomorrow)).json()["items"]
        return [item["case_id"] for item in items if item["day"] == -19]

    async def both_listed() -> list[str]:
        listed = await tomorrows_cases()
        assert sorted(listed) == sorted([str(first.case_id), str(second.case_id)]), listed
        return listed

    # Due at the same moment: the one listed last gets high intent, the other low.
    ahead, behind = await eventually(both_listed)
    for case_id, intent in ((behind, "high"), (ahead, "low")):
        recorded = await api.post(f"/cases/{case_id}/contacts", headers=owner, json={
            "channel": "call", "result": "reached", "signing_intent": intent})
        assert recorded.status_code == 200, recorded.text
    assert await tomorrows_cases() == [behind, ahead]
    items = (await api.get("/me/tasks", headers=owner, params=tomorrow)).json()["items"]
    assert [item["signing_intent"] for item in items if item["day"] == -19] == ["high", "low"]
