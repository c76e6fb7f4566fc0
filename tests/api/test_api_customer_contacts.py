"""The customer's proxy (委托人), family members and other phones: the service manager records them,
and the unified customer view shows them masked per reader as the customer's own phone is."""

from __future__ import annotations

import pytest

from models import Role
from tests.api.conftest import Api, add_person
from tests.scenario import Scenario

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_the_manager_records_a_proxy_family_and_other_phones_shown_masked_per_reader(api: Api, sc: Scenario):
    case = await sc.start(days_to_expiry=8)
    await sc.sleep_until(case.at(-7, 10))  # T-7: 建议客户指定委托人
    owner = await api.sign_in(case.owner_id)
    deputy = await api.sign_in(case.deputy_id)
    auditor = await api.sign_in(add_person(sc.engine, Role.auditor).id)
    saved = await api.put(f"/cases/{case.case_id}/customer-contacts", headers=owner, json={
        "proxy": {"name": "孙丽丽", "relation": "配偶", "phone": "139 8765 4321"},
        "family": [{"name": "钱小宝", "relation": "子女"}, {"name": "钱老爷", "relation": "父母", "phone": "021-62345678"}],
        "other_phones": ["13900002222", "+86 139 0000 2222"]})
    assert saved.status_code == 200, saved.text
    assert saved.json()["other_phones"] == ["+8613900002222"], "one number once, as E.164"

    def people(view: dict) -> list[tuple]:
        return [(p["name"], p["relation"], p["phone"]) for p in [view["proxy"], *view["family"]]] + [
            tuple(view["other_phones"])]

    views = {who: (await api.get(f"/customers/{case.customer_id}", headers=h)).json()
             for who, h in (("owner", owner), ("deputy", deputy), ("auditor", auditor))}
    assert people(views["owner"]) == [("孙丽丽", "配偶", "+8613987654321"), ("钱小宝", "子女", None),
                                      ("钱老爷", "父母", "+862162345678"), ("+8613900002222",)]
    assert people(views["deputy"]) == [("孙丽丽", "配偶", "139****4321"), ("钱小宝", "子女", None),
                                       ("钱老爷", "父母", "216***5678"), ("139****2222",)]
    assert people(views["auditor"]) == [("孙**", "配偶", "139****4321"), ("钱**", "子女", None),
                                        ("钱**", "父母", "216***5678"), ("139****2222",)]

    bad = await api.put(f"/cases/{case.case_id}/customer-contacts", headers=owner,
                        json={"proxy": {"name": "孙丽丽", "relation": "配偶"}})
    assert (bad.status_code, bad.json()["error"]["field"]) == (422, "proxy.phone"), bad.text
    wrong = await api.put(f"/cases/{case.case_id}/customer-contacts", headers=owner,
                          json={"family": [{"name": "钱小宝", "relation": "子女", "phone": "12345"}]})
    assert (wrong.status_code, wrong.json()["error"]["field"]) == (422, "family.0"), wrong.text
    assert "12345" not in wrong.text
    refused = await api.put(f"/cases/{case.case_id}/customer-contacts", headers=deputy, json={})
    assert refused.status_code == 403, "only the case's current service manager records them"
    kept = (await api.get(f"/customers/{case.customer_id}", headers=owner)).json()
    assert kept["proxy"]["name"] == "孙丽丽", "a refused change changes nothing"
