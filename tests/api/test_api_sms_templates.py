"""SMS templates in the database (营销模板管理): an admin previews an edit for a real case (masked, with
its segment count) and saves it as a new version (who and when); the next SMS uses it and records
its version; a text that loses a required placeholder or a marketing text's opt-out line is refused."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from models import ContactRecord, Role
from renewals.case.messages import sms_segments
from tests.api.conftest import Api, add_person
from tests.scenario import Scenario

pytestmark = pytest.mark.asyncio(loop_scope="session")

# Routes tried by role here (admins only), not in the access matrix.
TEMPLATE_ROUTES = {("GET", "/sms-templates"), ("GET", "/sms-templates/{key}/{language}"),
                   ("POST", "/sms-templates/{key}/{language}/preview"), ("PUT", "/sms-templates/{key}/{language}")}
EDITED = ("【{{ insurer_name }}】{{ customer_name }}您好：新春续保季，您的车辆{{ plate }}的车险即将到期，续保请找您的专属"
          "服务经理{{ manager_name }}，电话{{ manager_phone }}，我们诚恳希望继续为您服务。回{{ opt_out_reply }}退订")
TEMPLATE = "/sms-templates/service_request/zh-CN"


async def test_an_edited_templates_new_version_is_what_the_next_sms_uses(api: Api, sc: Scenario):
    case = await sc.start(days_to_expiry=62)
    await sc.sleep_until(case.at(-60, 10))
    admin = await api.sign_in(case.admin_id)
    owner = await api.sign_in(case.owner_id)
    [shipped] = (await api.get(TEMPLATE, headers=admin)).json()
    assert (shipped["version"], shipped["created_by"], shipped["marketing"]) == (1, None, True)

    shown = await api.post(f"{TEMPLATE}/preview", headers=admin, json={"body": EDITED, "case_id": str(case.case_id)})
    assert shown.status_code == 200, shown.text
    preview = shown.json()
    assert "钱**您好" in preview["body"] and case.customer_name not in preview["body"], "the customer is masked"
    assert case.plate not in preview["body"] and "李四" in preview["body"]
    assert (preview["segments"], preview["encoding"]) == sms_segments(preview["body"]) == (2, "UCS-2")

    saved = await api.put(TEMPLATE, headers=admin, json={"body": EDITED, "case_id": str(case.case_id)})
    assert saved.status_code == 201, saved.text
    assert (saved.json()["version"], saved.json()["created_by"]) == (2, str(case.admin_id))
    history = (await api.get(TEMPLATE, headers=admin)).json()
    assert [(v["version"], v["created_by"]) for v in history] == [(2, str(case.admin_id)), (1, None)]
    assert history[0]["created_at"] > history[1]["created_at"]

    before = len(sc.twilio.delivered(case.customer_phone))
    sent = await api.post(f"/cases/{case.case_id}/sms", headers=owner, json={"template": "service_request"})
    assert sent.status_code == 200, sent.text
    [sms] = sc.twilio.delivered(case.customer_phone)[before:]
    assert sms["body"].startswith("【中国人保财险】钱多多您好：新春续保季") and sms["body"].endswith("回T退订")
    with Session(sc.engine) as session:
        versions = {record.template: record.template_version for record in session.exec(
            select(ContactRecord).where(ContactRecord.case_id == case.case_id, ContactRecord.channel == "sms"))}
    assert versions == {"first_notice": 1, "service_request": 2}


async def test_a_template_losing_a_placeholder_or_the_opt_out_line_is_refused(api: Api, sc: Scenario):
    case = await sc.start(days_to_expiry=62)
    admin = await api.sign_in(case.admin_id)
    before = (await api.get(TEMPLATE, headers=admin)).json()

    async def refused(body: str) -> str:
        response = await api.put(TEMPLATE, headers=admin, json={"body": body, "case_id": str(case.case_id)})
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert (error["code"], error["field"]) == ("template_refused", "body")
        return error["message"]

    assert "{{ manager_phone }} is missing" in await refused(EDITED.replace("{{ manager_phone }}", "95518"))
    assert "opt-out line (回T退订)" in await refused(EDITED.replace("回{{ opt_out_reply }}退订", "{{ opt_out_reply }}"))
    assert "unknown placeholder {{ customer_id_number }}" in await refused(EDITED + "{{ customer_id_number }}")
    assert "does not parse" in await refused(EDITED + "{% if %}")
    assert "segments" in await refused(EDITED + "续保" * 300)
    assert (await api.get(TEMPLATE, headers=admin)).json() == before, "nothing refused was kept"

    for role in (Role.sales, Role.manager):
        other = await api.sign_in(add_person(sc.engine, role, sub_branch_code=sc.sub_branch_code,
                                             branch_code=sc.branch_code).id)
        assert (await api.put(TEMPLATE, headers=other, json={"body": EDITED})).status_code == 403
        assert (await api.get("/sms-templates", headers=other)).status_code == 403
    listed = (await api.get("/sms-templates", headers=admin)).json()
    assert len(listed) == 16 and {t["key"] for t in listed if t["marketing"]} == {"quote", "service_request"}
