"""Privacy: a corrected phone is seen by the manager who entered it and by nobody else, ever (not
the deputy, not an auditor, not the next manager after reassignment), in any spelling, in any
response; calls made by its author still ring it. Everyone else reads masked numbers."""

from __future__ import annotations

import re

import pytest
from fastapi.routing import iter_route_contexts

from models import Role
from tests.api.conftest import Api, add_person
from tests.scenario import Scenario, unique_phone

pytestmark = pytest.mark.asyncio(loop_scope="session")


def spellings(e164: str) -> list[str]:
    national = e164.removeprefix("+86")
    return [e164, e164[1:], national, f"{national[:3]} {national[3:7]} {national[7:]}",
            f"{national[:3]}-{national[3:7]}-{national[7:]}"]


def get_paths(api: Api, case_id, customer_id) -> list[str]:
    """Every GET route of the app, with this case and customer filled in."""
    paths = {route.path for route in iter_route_contexts(api.app.routes) if "GET" in (route.methods or ())}
    return sorted(path.replace("{case_id}", str(case_id)).replace("{customer_id}", str(customer_id))
                  for path in paths)


async def test_corrected_phone_is_only_ever_seen_by_the_manager_who_entered_it(api: Api, sc: Scenario):
    case = await sc.start(days_to_expiry=62)
    await sc.sleep_until(case.at(-60, 10))
    corrected = unique_phone()
    national = corrected.removeprefix("+86")
    author = await api.sign_in(case.owner_id)
    deputy = await api.sign_in(case.deputy_id)
    admin = await api.sign_in(sc.admin.id)
    manager = await api.sign_in(add_person(sc.engine, Role.manager, branch_code=sc.branch_code).id)
    auditor = await api.sign_in(add_person(sc.engine, Role.auditor).id)

    entered = await api.put(f"/cases/{case.case_id}/customer-phone", headers=author,
                            json={"phone": f"{national[:3]} {national[3:7]} {national[7:]}", "note": "客户换号"})
    assert entered.status_code == 200 and entered.json()["corrected_phone"] == corrected, entered.text

    # The author sees it (this also shows the scan below would find it) and their calls ring it.
    own_view = (await api.get(f"/customers/{case.customer_id}", headers=author)).json()
    assert (own_view["corrected_phone"], own_view["phone"]) == (corrected, case.customer_phone)
    calls = len(sc.twilio.calls())
    assert (await api.post(f"/cases/{case.case_id}/call", headers=author)).status_code == 202
    deputy_placed = await api.post(f"/cases/{case.case_id}/call", headers=deputy)
    assert deputy_placed.status_code == 202 and national not in deputy_placed.text
    author_call, deputy_call = sc.twilio.calls()[calls:]
    assert corrected in author_call["Twiml"] and author_call["To"] == case.owner_phone
    # Everyone who may call dials the working number; only its author can see it.
    assert corrected in deputy_call["Twiml"] and case.customer_phone not in deputy_call["Twiml"]

    successor = sc.add_sales("王六")
    moved = await api.post(f"/cases/{case.case_id}/reassign", headers=admin,
                           json={"new_owner_id": str(successor.id), "reason": "staff_left", "note": "李四离职"})
    assert moved.status_code == 200 and moved.json()["owner_id"] == str(successor.id), moved.text
    successor_headers = await api.sign_in(successor.id)
    successor_call_at = len(sc.twilio.calls())
    assert (await api.post(f"/cases/{case.case_id}/call", headers=successor_headers)).status_code == 202
    [successor_call] = sc.twilio.calls()[successor_call_at:]
    assert corrected in successor_call["Twiml"] and case.customer_phone not in successor_call["Twiml"]
    sms = await api.post(f"/cases/{case.case_id}/sms", headers=successor_headers,
                         json={"template": "service_request"})
    assert sms.json() == {"status": "sent", "send_at": sms.json()["send_at"], "error_code": None}
    assert sc.twilio.delivered(corrected), "SMS still go to the corrected number"

    readers = {"deputy": deputy, "admin": admin, "manager": manager, "auditor": auditor,
               "successor": successor_headers, "author after reassignment": author}
    for who, headers in readers.items():
        for path in get_paths(api, case.case_id, case.customer_id):
            response = await api.get(path, headers=headers)
            for spelling in spellings(corrected):
                assert spelling not in response.text, f"{who} saw the corrected phone at {path}"

    successor_view = (await api.get(f"/customers/{case.customer_id}", headers=successor_headers)).json()
    assert successor_view["phone"] == case.customer_phone, "the current owner sees the customer's own phone"
    assert (successor_view["corrected_phone"], successor_view["has_corrected_phone"]) == (None, True)
    assert (await api.get(f"/customers/{case.customer_id}", headers=author)).status_code == 403


async def test_the_customer_view_masks_for_everyone_but_the_owner(api: Api, sc: Scenario):
    case = await sc.start(days_to_expiry=62)
    await sc.sleep_until(case.at(-60, 10))  # the first notice went out: it names the manager and phone
    owner = await api.sign_in(case.owner_id)
    deputy = await api.sign_in(case.deputy_id)
    auditor = await api.sign_in(add_person(sc.engine, Role.auditor).id)
    assert (await api.post(f"/cases/{case.case_id}/call", headers=owner)).status_code == 202

    views = {who: (await api.get(f"/customers/{case.customer_id}", headers=h)).json()
             for who, h in (("owner", owner), ("deputy", deputy), ("auditor", auditor))}
    masked = f"{case.customer_phone[3:6]}****{case.customer_phone[-4:]}"
    owner_national = case.owner_phone.removeprefix("+86")
    assert views["owner"]["phone"] == case.customer_phone
    for who in ("deputy", "auditor"):
        assert views[who]["phone"] == masked
    for view in views.values():
        assert re.fullmatch(r"\*+1234", view["id_number"]), "id number: last 4 only, for everyone"
        [notice] = [c for c in view["contacts"] if c["template"] == "first_notice"]
        [call] = [c for c in view["contacts"] if c["channel"] == "call"]
        assert call["number"] == masked
        assert [p["claims_last_year"] for p in view["policies"]] == [0]
        assert [c["id"] for c in view["cases"]] == [str(case.case_id)]
    assert owner_national in [c for c in views["owner"]["contacts"] if c["template"] == "first_notice"][0]["body"]
    for who in ("deputy", "auditor"):
        body = [c for c in views[who]["contacts"] if c["template"] == "first_notice"][0]["body"]
        assert owner_national not in body and f"{owner_national[:3]}****{owner_national[-4:]}" in body
    assert views["deputy"]["name"] == case.customer_name and views["auditor"]["name"] != case.customer_name
    assert views["owner"]["vehicles"][0]["plate"] == case.plate
    assert views["auditor"]["vehicles"][0]["plate"] != case.plate
