"""A person's rights over their data (PIPL Art. 45, 47): the export of everything held about them
(CLI and an admin's route, within the admin's branch), and erasure on request: refused while a
case is open, then leaving no name, id number, phone or plate of theirs in any table, while the
reports still count their cases. Both requests are recorded with who asked and when."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text, update
from sqlmodel import Session, select
from typer.testing import CliRunner

from models import ContactRecord, Note, Policy, PrivacyRequest, RenewalCase, Role, Vehicle
from renewals.dev.seed import create_policy
from renewals.org.service import add_org
from tests.api.conftest import Api, add_person
from tests.scenario import Scenario, unique_phone

pytestmark = pytest.mark.asyncio(loop_scope="session")

NAME, ID_NUMBER, PLATES = "上官婉儿", "44030519850706123X", ("粤B7Q2K9", "粤B8M3L1")


def _book(sc: Scenario, phone: str, other_phone: str, today: date) -> tuple[uuid.UUID, list[RenewalCase]]:
    """One customer with two expired policies, a case each (the newer still open), a contact and a
    note on each."""
    owner = sc.add_sales("李四")
    with Session(sc.engine, expire_on_commit=False) as session:
        first = create_policy(session, policy_no=f"PDAA{uuid.uuid4().int % 10**12:012d}",
                              sub_branch_id=sc.sub_branch_id, owner_id=owner.id,
                              expires_on=today - timedelta(days=300), customer_name=NAME, phone=phone,
                              id_number=ID_NUMBER, plate=PLATES[0])
        customer = first.customer
        customer.other_phones = [other_phone]
        customer.family = [{"name": "上官仪", "relation": "父亲", "phone": other_phone}]
        vehicle = Vehicle(customer_id=customer.id, plate=PLATES[1], vin="LSVAU2180N2183456")
        session.add(vehicle)
        session.flush()
        second = Policy(policy_no=f"PDAA{uuid.uuid4().int % 10**12:012d}", customer_id=customer.id,
                        vehicle_id=vehicle.id, sub_branch_id=sc.sub_branch_id, premium=first.policy.premium,
                        starts_on=today - timedelta(days=395), expires_on=today - timedelta(days=30))
        session.add(second)
        session.flush()
        cases = []
        for policy, outcome in ((first.policy, "LAPSED"), (second, None)):
            case = RenewalCase(id=uuid.uuid4(), workflow_id=f"renewal-{policy.policy_no}", policy_id=policy.id,
                               policy_no=policy.policy_no, expiry_date=policy.expires_on, timezone="Asia/Shanghai",
                               sub_branch_id=sc.sub_branch_id, stage="POST_EXPIRY", owner_id=owner.id,
                               deputy_id=owner.id, outcome=outcome,
                               closed_at=datetime.now(UTC) if outcome else None)
            session.add(case)
            session.flush()
            note = Note(case_id=case.id, author_id=owner.id,
                        body=f"{NAME}说保单{policy.policy_no}的车已卖,新号码{other_phone}")
            session.add(note)
            session.flush()
            session.add(ContactRecord(case_id=case.id, customer_id=customer.id, staff_id=owner.id, channel="sms",
                                      template="first_notice", body=f"{NAME}您好,您的车{PLATES[0]}保险即将到期",
                                      masked_number="139****0000", note_id=note.id))
            cases.append(case)
        session.commit()
    return customer.id, cases


def _cli(monkeypatch, database_url: str, *args: str):
    from renewals.cli.main import app as cli
    from renewals.core.db import get_engine
    from renewals.core.settings import get_settings

    monkeypatch.setenv("DATABASE_URL", database_url)
    get_settings.cache_clear()
    get_engine.cache_clear()
    try:
        return CliRunner().invoke(cli, list(args))
    finally:
        get_settings.cache_clear()
        get_engine.cache_clear()


def _holding(engine, values: list[str]) -> list[str]:
    """Every text column of every table (JSON too) that holds one of `values`: table.column."""
    with engine.connect() as conn:
        columns = conn.execute(text(
            "SELECT table_schema, table_name, column_name FROM information_schema.columns "
            "WHERE table_schema IN ('public', 'archive') "
            "AND data_type IN ('text', 'character varying', 'jsonb', 'json', 'ARRAY')")).all()
        found = []
        for schema, table, column in columns:
            hit = conn.execute(text(f'SELECT 1 FROM "{schema}"."{table}" WHERE "{column}"::text LIKE ANY(:patterns) '
                                    "LIMIT 1"), {"patterns": [f"%{v}%" for v in values]}).first()
            if hit:
                found.append(f"{table}.{column}")
    return found


async def test_export_then_erase_once_no_case_is_open(api: Api, sc: Scenario, monkeypatch, database_url):
    phone, other_phone = unique_phone(), unique_phone()
    # Expired on the wall clock (the CLI's) and so on the business clock too, which is never behind it.
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    customer_id, cases = _book(sc, phone, other_phone, today)
    admin = await api.sign_in(sc.admin.id)
    other_branch = f"X{uuid.uuid4().hex[:6]}"
    with Session(sc.engine) as session:
        add_org(session, branch_code=other_branch, branch_name="北京分公司")
        session.commit()
    other_admin = await api.sign_in(add_person(sc.engine, Role.admin, branch_code=other_branch).id)

    exported = _cli(monkeypatch, database_url, "privacy", "export", "--id-number", ID_NUMBER)
    assert exported.exit_code == 0, exported.output
    [record] = json.loads(exported.stdout)["records"]
    assert record["customer"]["id_number"] == ID_NUMBER and record["customer"]["phone"] == phone
    assert sorted(p["policy_no"] for p in record["policies"]) == sorted(c.policy_no for c in cases)
    assert sorted(v["plate"] for v in record["vehicles"]) == sorted(PLATES)
    assert len(record["contacts"]) == 2 and len(record["notes"]) == 2 and NAME in record["notes"][0]["body"]
    by_route = await api.post("/privacy/export", json={"id_number": ID_NUMBER}, headers=admin)
    assert by_route.status_code == 200, by_route.text
    assert by_route.json()["records"][0]["policies"] == record["policies"]
    elsewhere = await api.post("/privacy/export", json={"id_number": ID_NUMBER}, headers=other_admin)
    assert elsewhere.status_code == 403

    refused = await api.post("/privacy/erase", json={"id_number": ID_NUMBER}, headers=admin)
    assert refused.status_code == 409 and cases[1].policy_no in refused.json()["error"]["message"]
    assert _holding(sc.engine, [NAME]), "nothing was erased"

    with Session(sc.engine) as session:
        session.execute(update(RenewalCase).where(RenewalCase.id == cases[1].id)
                        .values(outcome="LAPSED", closed_at=datetime.now(UTC)))
        session.commit()
    period = {"from": str(today - timedelta(days=300)), "to": str(today - timedelta(days=30))}
    report_before = (await api.get("/reports/renewals", params=period, headers=admin)).json()["total"]
    assert report_before["current"]["due"] == 2

    erased = _cli(monkeypatch, database_url, "privacy", "erase", "--id-number", ID_NUMBER)
    assert erased.exit_code == 0, erased.output
    values = [NAME, ID_NUMBER, phone, phone.removeprefix("+86"), other_phone.removeprefix("+86"), *PLATES]
    assert _holding(sc.engine, values) == []
    assert (await api.get("/reports/renewals", params=period, headers=admin)).json()["total"] == report_before
    with Session(sc.engine) as session:
        requests = session.exec(select(PrivacyRequest).where(PrivacyRequest.customer_id == customer_id)
                                ).all()
    assert sorted((r.kind, str(r.requested_by), r.done, r.refusal or "") for r in requests) == sorted([
        ("erase", "None", True, ""),
        ("erase", str(sc.admin.id), False, f"a renewal case is still open for policy {cases[1].policy_no}"),
        ("export", "None", True, ""), ("export", str(sc.admin.id), True, "")])
    again = _cli(monkeypatch, database_url, "privacy", "erase", "--id-number", ID_NUMBER)
    assert again.exit_code == 1 and "no customer with this id number" in again.output
