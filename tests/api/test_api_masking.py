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
