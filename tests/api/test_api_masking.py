"""Masking covers free text: phones as people write them, id numbers, plates and names inside
notes, SMS bodies and family fields are masked for every reader not entitled to them, auditors
included."""

from __future__ import annotations

import pytest
from sqlalchemy import update
from sqlmodel import Session

from models import Customer, Role
from tests.api.conftest import Api, add_person
from tests.scenario import Scenario

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_free_text_is_masked_for_everyone_not_entitled(api: Api, sc: Scenario):
    case = await sc.start(days_to_expiry=62)
    await sc.sleep_until(case.at(-60, 10))  # the first notice (with the customer's name) went out
    spouse_phone = "139 8765 4321"
    with Session(sc.engine) as session:
        session.execute(update(Customer).where(Customer.id == case.customer_id).values(family=[
            {"name": "孙丽丽", "relation": "配偶 身份证310101199202021234", "phone": spouse_phone}]))
        session.commit()
    owner = await api.sign_in(case.owner_id)
    deputy = await api.sign_in(case.deputy_id)
    auditor = await api.sign_in(add_person(sc.engine, Role.auditor).id)
    note = f"客户{case.customer_name}新号 139-1234-5678,身份证 31010119900101123X,车牌 {case.plate}"
    recorded = await api.post(f"/cases/{case.case_id}/contacts", headers=owner,
                              json={"channel": "call", "result": "reached", "note": note})
    assert recorded.status_code == 200, recorded.text

    def texts(view: dict) -> str:
        return repr([view["notes"], [c["body"] for c in view["contacts"]], view["family"]])

    views = {who: texts((await api.get(f"/customers/{case.customer_id}", headers=h)).json())
             for who, h in (("owner", owner), ("deputy", deputy), ("auditor", auditor))}
    assert "139-1234-5678" in views["owner"] and spouse_phone in views["owner"], "the owner may call them"
    for who, seen in views.items():
        for id_number in ("31010119900101123X", "310101199202021234"):
            assert id_number not in seen, f"{who} saw an id number in free text"
    for who in ("deputy", "auditor"):
        for phone in ("139-1234-5678", "1234-5678", spouse_phone, "8765 4321"):
            assert phone not in views[who], f"{who} saw {phone} in free text"
    assert case.plate in views["deputy"] and case.customer_name in views["deputy"]
    for secret in (case.plate, case.customer_name, "孙丽丽"):
        assert secret not in views["auditor"], f"the auditor saw {secret} in free text"


async def test_numbers_written_through_separators_are_masked_for_every_reader_of_masked_data(api: Api, sc: Scenario):
    """The security review's probes: a phone or id number spelt with spaces, dashes, dots,
    slashes, brackets or asterisks between its digits is masked as when written plainly."""
    case = await sc.start(days_to_expiry=62)
    owner = await api.sign_in(case.owner_id)
    phones = {"1309 339 3106": "130****3106", "130 93 39 31 06": "130****3106", "130/9339/3106": "130****3106",
              "1.3.0.9.3.3.9.3.1.0.6": "130****3106", "(130)933*3106": "(130***3106",
              "+86 130-9339-3106": "130****3106"}
    id_numbers = {"310101 19900101 123X": "**************123X", "310101-19900101-123X": "**************123X",
                  "3101 0119 9001 0112 3X": "**************123X"}
    ordinary = "续保日期 2026-03-15,保费 4,386.50 元,保单 PDAA20263101010000003"
    note = ";".join([*phones, *id_numbers, ordinary])
    recorded = await api.post(f"/cases/{case.case_id}/contacts", headers=owner,
                              json={"channel": "call", "result": "reached", "note": note})
    assert recorded.status_code == 200, recorded.text
    readers = {"owner": owner, "deputy": await api.sign_in(case.deputy_id)} | {
        role.value: await api.sign_in(add_person(sc.engine, role, branch_code=sc.branch_code).id)
        for role in (Role.admin, Role.manager, Role.auditor)}
    for who, headers in readers.items():
        [seen] = [n["body"] for n in (await api.get(f"/customers/{case.customer_id}", headers=headers)).json()["notes"]]
        shown_phones = list(phones) if who == "owner" else list(phones.values())  # the owner may call them
        assert seen == ";".join([*shown_phones, *id_numbers.values(), ordinary]), who
