"""The access log (PIPL): every response showing a customer's full phone records who saw which field
and when, and nothing personal; a masked view records nothing; auditors list a customer's or a
reader's views, nobody else can."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from models import Role, SensitiveView
from tests.api.conftest import Api, add_person
from tests.scenario import Scenario

pytestmark = pytest.mark.asyncio(loop_scope="session")


def _views(engine, customer_id) -> list[SensitiveView]:
    with Session(engine) as session:
        return list(session.exec(select(SensitiveView).where(SensitiveView.customer_id == customer_id)))


async def test_the_owners_full_phone_view_is_logged_once_and_a_masked_view_not_at_all(api: Api, sc: Scenario):
    case = await sc.start(days_to_expiry=62)
    await sc.sleep_until(case.at(-60, 10))
    owner = await api.sign_in(case.owner_id)
    deputy = await api.sign_in(case.deputy_id)
    auditor = await api.sign_in(add_person(sc.engine, Role.auditor).id)

    shown = await api.get(f"/customers/{case.customer_id}", headers=owner)
    assert shown.json()["phone"] == case.customer_phone
    [row] = _views(sc.engine, case.customer_id)
    assert (row.reader_id, row.field) == (case.owner_id, "phone")

    masked = await api.get(f"/customers/{case.customer_id}", headers=deputy)
    assert masked.json()["phone"] != case.customer_phone
    assert len(_views(sc.engine, case.customer_id)) == 1

    by_customer = await api.get("/privacy/views", params={"customer_id": str(case.customer_id)}, headers=auditor)
    by_reader = await api.get("/privacy/views", params={"reader_id": str(case.owner_id)}, headers=auditor)
    for listed in (by_customer, by_reader):
        assert listed.status_code == 200, listed.text
        assert [(v["reader_id"], v["customer_id"], v["field"]) for v in listed.json()] == [
            (str(case.owner_id), str(case.customer_id), "phone")]
        assert case.customer_phone.removeprefix("+86") not in listed.text
    refused = await api.get("/privacy/views", params={"customer_id": str(case.customer_id)}, headers=owner)
    assert refused.status_code == 403 and refused.json()["error"]["code"]


# Tried by every role here; tests/api/test_api_access_matrix.py leaves them to this module.
PRIVACY_ROUTES = {("POST", "/privacy/export"), ("POST", "/privacy/erase"), ("GET", "/privacy/views")}


async def test_only_admins_export_or_erase_and_only_auditors_read_the_access_log(api: Api, sc: Scenario):
    case = await sc.start(days_to_expiry=62)
    roles = {"sales": case.owner_id, "deputy": case.deputy_id, "admin": sc.admin.id,
             "manager": add_person(sc.engine, Role.manager, branch_code=sc.branch_code).id,
             "auditor": add_person(sc.engine, Role.auditor).id}
    unknown = {"id_number": "110101190001010000"}  # nobody's: an admin is told it is not in their scope
    for role, staff_id in roles.items():
        headers = await api.sign_in(staff_id)
        codes = [(await api.post("/privacy/export", json=unknown, headers=headers)).status_code,
                 (await api.post("/privacy/erase", json=unknown, headers=headers)).status_code,
                 (await api.get("/privacy/views", params={"customer_id": str(case.customer_id)},
                                headers=headers)).status_code]
        assert codes == {"auditor": [403, 403, 200]}.get(role, [403, 403, 403]), role
    assert [(await api.request(method, path)).status_code for method, path in sorted(PRIVACY_ROUTES)] == [401] * 3
