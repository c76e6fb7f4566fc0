"""Importing the book of policies: the sample file on the demo organisation, row errors
naming row, column and reason, ownership by manager or 经办人, and cases starting in the horizon."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from sqlmodel import Session, select

from models import Assignment, Customer, ImportJob, Policy
from renewals.dev.demo import demo_jobs
from renewals.intake.service import create_job, run_import
from renewals.intake.policy_file import HEADER, FileRejected, Organisation, check_file, id_number_check_digit
from renewals.dev.sample_book import rows, to_csv
from tests.scenario import terminate_open_cases

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "policies-demo.csv"


def id_number(birth: str = "19850612", serial: str = "123") -> str:
    first17 = "310101" + birth + serial
    return first17 + id_number_check_digit(first17)


def test_the_id_number_checksum_is_the_national_standard():
    assert id_number_check_digit("11010519491231002") == "X"  # the standard's own example
    assert id_number_check_digit("44052418800101001") == "4"


def test_the_checks_shortcuts_keep_every_verdict():
    """Phones are parsed once per number, ISO dates without strptime, a row searched once for
    control characters: the verdicts (and which column they name) stay those of the full checks."""
    sub_branch = uuid.uuid4()
    org = Organisation(sub_branches={"310101": (sub_branch, uuid.uuid4())}, staff={}, handlers={})
    cells = {"landline": ("phone", "021 6321 1234"), "again": ("phone", "021 6321 1234"),
             "bad id date": ("id_number", "310101198513321234"), "no feb 30": ("expires_on", "2027-02-30"),
             "slashes": ("starts_on", "2026/01/05"), "compact": ("starts_on", "20260105"),
             "tab inside": ("customer_name", "张\t三"), "tab around": ("customer_name", "\t张三 ")}
    records = rows(len(cells), start=date(2027, 1, 1), prefix="PSHORT")
    for record, (column, value) in zip(records, cells.values()):
        record[column] = value
        record["manager"] = ""
    good, errors, _ = check_file(to_csv(records), org)
    verdict = {name: [(e.column, e.reason) for e in errors if e.row == number]
               for number, name in enumerate(cells, start=2)}
    assert verdict["landline"] == verdict["again"] == [("phone", "not a mobile number: SMS cannot reach it")]
    assert verdict["bad id date"] == [("id_number", "the birth date inside the id number is not a date")]
    assert verdict["no feb 30"] == [("expires_on", "not a date (YYYY-MM-DD)")]
    assert verdict["tab inside"] == [("customer_name", "contains control characters")]
    assert not verdict["slashes"] and not verdict["compact"] and not verdict["tab around"]
    imported = {name: row for row in good for number, name in enumerate(cells, start=2) if row.row == number}
    assert imported["slashes"].starts_on == imported["compact"].starts_on == date(2026, 1, 5)
    assert imported["tab around"].customer_name == "张三"
    assert all(row.phone.startswith("+861") for row in good)


@pytest.fixture(scope="module")
def demo_org(settings):
    demo_jobs(settings)  # the organisation and staff `renewals dev --demo` creates (the cases are not started)
    return settings


@pytest.fixture(scope="module")
def intake_settings(demo_org, task_queue):
    return demo_org.model_copy(update={"task_queue": task_queue})


async def import_file(engine, env, settings, data: bytes, name: str = "book.csv"):
    job_id = create_job(engine, name, data)
    return await run_import(engine, env.client, settings, job_id, data, today=await local_today(env, settings))


async def local_today(env, settings) -> date:
    from renewals.intake.service import local_today as today_of

    return today_of(settings, await env.get_current_time())


@pytest_asyncio.fixture(scope="module", autouse=True)
async def stop_cases_at_the_end(time_env, engine, task_queue):
    yield
    await terminate_open_cases(time_env.client, engine)


async def test_the_sample_imports_with_no_errors_on_the_demo_organisation(engine, time_env, intake_settings):
    data = SAMPLE.read_bytes()
    result = await import_file(engine, time_env, intake_settings, data, "policies-demo.csv")
    assert result.errors == []
    assert result.total_rows == result.imported_rows == 200
    assert result.counts["inserted"] == 200 and result.counts["unassigned"] == 0
    today = await local_today(time_env, intake_settings)
    in_horizon = [r for r in rows(200, start=date(2026, 12, 1))
                  if today - timedelta(days=7) <= date.fromisoformat(r["expires_on"]) <= today + timedelta(days=60)]
    assert result.counts["cases_started"] == len(in_horizon)
    # Every policy is accounted for: a case, or the reason it has none.
    assert result.counts["cases_started"] + result.counts["no_case_not_yet"] + result.counts["no_case_expired"] == 200
    with Session(engine) as session:
        job = session.get(ImportJob, result.job_id)
        assert job.status == "done" and job.counts["inserted"] == 200 and job.errors == []
        handled_by_code = session.exec(select(Policy).where(Policy.policy_no == "PDAA20263101010000003")).one()
        assert session.exec(select(Assignment).where(Assignment.policy_id == handled_by_code.id)).one()
    # The same file in GB18030, as a Chinese spreadsheet saves it, changes nothing.
    again = await import_file(engine, time_env, intake_settings, data.decode("utf-8").encode("gb18030"))
    assert again.errors == [] and again.counts["unchanged"] == 200 and again.counts["cases_started"] == 0


def expiring(record: dict[str, str], expiry: date) -> dict[str, str]:
    return record | {"expires_on": f"{expiry:%Y-%m-%d}", "starts_on": f"{expiry - timedelta(days=365):%Y-%m-%d}",
                     "first_registered_on": f"{expiry - timedelta(days=800):%Y-%m-%d}"}


async def test_a_policy_expired_days_ago_gets_its_post_expiry_case_and_the_summary_says_why_others_have_none(
        engine, time_env, intake_settings):
    """到期后1~7天 the manager still follows up a lapsed customer: a policy that expired 3 days ago
    starts its case in POST_EXPIRY. Every imported policy without a case is counted with the reason."""
    from models import RenewalCase
    from tests.scenario import eventually

    today = await local_today(time_env, intake_settings)
    records = rows(4, start=date(2034, 1, 1), seed=19, prefix="PLAPSE")
    records = [expiring(r, today + timedelta(days=days)) for r, days in zip(records, (-3, -10, 100, 20))]
    for record in records[:3]:
        record["manager"] = "demo-sales-1"
    records[3] |= {"manager": "", "handler_code": "JB-NOBODY"}
    result = await import_file(engine, time_env, intake_settings, to_csv(records))
    assert result.errors == []
    counts = result.counts
    assert counts["cases_started"] == 1
    assert (counts["no_case_expired"], counts["no_case_not_yet"], counts["no_case_unassigned"]) == (1, 1, 1)

    def in_post_expiry() -> None:
        with Session(engine) as session:
            stage = session.exec(select(RenewalCase.stage).join(Policy, Policy.id == RenewalCase.policy_id)
                                 .where(Policy.policy_no == records[0]["policy_no"])).first()
        assert stage == "POST_EXPIRY"

    await eventually(in_post_expiry, timeout=30)


BAD_ROWS = {  # column: (bad value, the reason's words)
    "policy_no": ("P#1", "letters, digits"),
    "customer_name": ("", "is required"),
    "id_number": ("310101198506121230", "check digit"),
    "phone": ("12345", "phone number"),
    "language": ("fr", "zh-CN, en"),
    "birth_date": ("1985-06-13", "does not agree"),
    "plate": ("ABC123", "not a plate"),
    "vin": ("LSVOOOOOOOOOOOOOO", "17 letters"),
    "first_registered_on": ("2031-01-01", "after the policy starts"),
    "channel": ("fax", "traditional"),
    "sub_branch": ("999999", "no sub-branch"),
    "premium": ("-5", "positive amount"),
    "coverages": ("CTP;T1:x", "coverage code"),
    "claims_last_year": ("2a", "whole number"),
    "other_phones": ("13900001111;12345", "not a valid phone number"),
    "family": ("李红", "name:relation:phone"),
    "proxy": ("李红:配偶", "a proxy needs a phone"),
    "starts_on": ("2026-02-30", "not a date"),
    "expires_on": ("2020-01-01", "after starts_on"),
}


async def test_each_bad_row_is_reported_with_row_column_and_reason_and_the_others_import(
        engine, time_env, intake_settings):
    good = rows(len(BAD_ROWS) + 3, start=date(2030, 1, 1), prefix="PBAD")
    for record, (column, (value, _)) in zip(good, BAD_ROWS.items()):
        record[column] = value
        if column == "birth_date":
            record["id_number"] = id_number("19850612")
    result = await import_file(engine, time_env, intake_settings, to_csv(good))
    reported = {(e.row, e.column): e.reason for e in result.errors}
    expected_rows = {column: number for number, column in enumerate(BAD_ROWS, start=2)}
    assert set(reported) == {(number, column) for column, number in expected_rows.items()}
    for column, (_, words) in BAD_ROWS.items():
        assert words in reported[(expected_rows[column], column)], (column, reported[(expected_rows[column], column)])
    assert "12345" not in str(result.errors), "reasons never repeat a customer's data"
    assert result.imported_rows == 3 and result.counts["inserted"] == 3
    with Session(engine) as session:
        stored = set(session.exec(select(Policy.policy_no).where(Policy.policy_no.startswith("PBAD"))).all())
    assert stored == {r["policy_no"] for r in good[len(BAD_ROWS):]}


async def test_a_file_without_a_required_column_is_refused_whole(engine, time_env, intake_settings):
    header = [h for h in HEADER if h != "expires_on"]
    with pytest.raises(FileRejected, match="expires_on"):
        await import_file(engine, time_env, intake_settings, ",".join(header).encode() + b"\n")
    with Session(engine) as session:
        job = session.exec(select(ImportJob).order_by(ImportJob.created_at.desc())).first()
    assert job.status == "failed" and "expires_on" in job.failure and job.imported_rows == 0


async def test_chinese_headers_are_accepted(engine, time_env, intake_settings):
    from renewals.intake.policy_file import COLUMNS

    records = rows(2, start=date(2031, 1, 1), prefix="PZH")
    chinese = {col.name: col.aliases[0] for col in COLUMNS}
    data = to_csv([{chinese[k]: v for k, v in r.items()} for r in records], tuple(chinese.values()))
    result = await import_file(engine, time_env, intake_settings, data)
    assert result.errors == [] and result.counts["inserted"] == 2


async def test_family_proxy_and_other_phones_come_in_with_the_file_and_stay_when_a_file_leaves_them_out(
        engine, time_env, intake_settings):
    [record] = rows(1, start=date(2032, 1, 1), prefix="PFAM")
    named = {**record, "family": "李红:配偶:139 0000 1111;李明：子女", "other_phones": "021-62345678;13900002222",
             "proxy": "王芳:朋友:13900003333"}
    result = await import_file(engine, time_env, intake_settings, to_csv([named], tuple(named)))
    assert result.errors == [] and result.counts["inserted"] == 1

    def stored() -> Customer:
        with Session(engine) as session:
            policy = session.exec(select(Policy).where(Policy.policy_no == record["policy_no"])).one()
            return session.get(Customer, policy.customer_id)

    family = [{"name": "李红", "relation": "配偶", "phone": "+8613900001111"}, {"name": "李明", "relation": "子女"}]
    assert (stored().family, stored().other_phones) == (family, ["+862162345678", "+8613900002222"])
    assert stored().proxy == {"name": "王芳", "relation": "朋友", "phone": "+8613900003333"}
    again = await import_file(engine, time_env, intake_settings, to_csv([named], tuple(named)))
    assert again.counts["unchanged"] == 1, "the same file changes nothing"
    silent = await import_file(engine, time_env, intake_settings, to_csv([record], tuple(record)))
    assert silent.counts["unchanged"] == 1 and stored().family == family, "a file that leaves them out keeps them"
    assert stored().proxy["name"] == "王芳"


async def test_the_database_allows_one_open_assignment_per_policy(engine, time_env, intake_settings):
    from sqlalchemy.exc import IntegrityError

    from models import Staff

    records = rows(1, start=date(2032, 1, 1), prefix="PONE")
    await import_file(engine, time_env, intake_settings, to_csv(records))
    with Session(engine) as session:
        policy = session.exec(select(Policy).where(Policy.policy_no == records[0]["policy_no"])).one()
        other = session.exec(select(Staff).where(Staff.username == "demo-sales-3")).one()
        session.add(Assignment(policy_id=policy.id, staff_id=other.id, reason="a second open one"))
        with pytest.raises(IntegrityError, match="ux_assignment_open_policy"):
            session.commit()


async def test_the_operators_file_keeps_every_row_within_its_branch(engine, time_env, intake_settings):
    """The operator's company-wide import matches each row within its sub-branch's branch too: a row
    naming another branch's policy is refused (a policy never moves between branches), and a person
    with policies in two branches gets a record in each, the other branch's left as it was."""
    from models import Customer, SubBranch
    from renewals.org.service import add_org

    with Session(engine) as session:
        add_org(session, branch_code="3200", branch_name="江苏分公司", sub_branch_code="320101",
                sub_branch_name="鼓楼支公司")
        session.commit()
    ours = rows(3, start=date(2033, 1, 1), seed=7, prefix="PSCOPE")
    await import_file(engine, time_env, intake_settings, to_csv(ours))
    elsewhere = {"sub_branch": "320101", "manager": "", "handler_code": ""}
    moved = ours[0] | elsewhere | {"phone": "13900000001"}
    same_person = ours[1] | elsewhere | {"policy_no": "PSCOPE3200A", "customer_name": "陈三", "phone": "13900000002"}
    someone = {"id_number": id_number("19700101", "456"), "birth_date": "1970-01-01"}
    new_in_both = [ours[2] | someone | {"policy_no": "PSCOPE3100B"},
                   ours[2] | elsewhere | someone | {"policy_no": "PSCOPE3200B"}]
    result = await import_file(engine, time_env, intake_settings, to_csv([moved, same_person, *new_in_both]))

    assert [(e.row, e.column, e.reason) for e in result.errors] == [(2, "policy_no", "belongs to another branch")]
    assert (result.imported_rows, result.counts["inserted"], result.counts["updated"]) == (3, 3, 0)
    with Session(engine) as session:
        def record(policy_no: str) -> tuple[str, str, str, str]:
            customer, code = session.exec(
                select(Customer, SubBranch.code).join(Policy, Policy.customer_id == Customer.id)
                .join(SubBranch, SubBranch.id == Policy.sub_branch_id).where(Policy.policy_no == policy_no)).one()
            branch = session.exec(select(SubBranch.branch_id).where(SubBranch.code == code)).one()
            assert customer.branch_id == branch, "a record serves its policies' branch"
            return str(customer.id), code, customer.name, customer.phone

        kept = record(ours[0]["policy_no"])
        assert kept[1:] == ("310101", ours[0]["customer_name"], "+86" + ours[0]["phone"])
        theirs, mine = record("PSCOPE3200A"), record(ours[1]["policy_no"])
        assert theirs[0] != mine[0] and theirs[2:] == ("陈三", "+8613900000002")
        assert mine[2:] == (ours[1]["customer_name"], "+86" + ours[1]["phone"])
        assert record("PSCOPE3100B")[0] != record("PSCOPE3200B")[0]


def test_the_migration_gives_a_customer_of_two_branches_a_record_in_each(pg):
    """One customer record used to hold policies of several branches. The migration leaves it with
    the branch holding most of them and gives each other branch a copy, which takes that branch's
    policies, their vehicles and their cases' contact records."""
    import psycopg

    from renewals.core.db import migrate
    from tests.conftest import fresh_database

    url = fresh_database(pg, "customer_per_branch", migrated=False)
    migrate(url, "0009")
    k = {name: uuid.uuid4() for name in ("b1", "b2", "s1", "s2", "owner", "customer", "v1", "v2", "v3", "p1", "p2",
                                         "p3", "case3", "contact3")}
    with psycopg.connect(url) as conn:
        conn.execute("INSERT INTO branch (id, code, name) VALUES (%s, '3100', '上海'), (%s, '3200', '江苏')",
                     (k["b1"], k["b2"]))
        conn.execute("INSERT INTO sub_branch (id, code, name, branch_id) VALUES (%s, '310101', '黄浦', %s), "
                     "(%s, '320101', '鼓楼', %s)", (k["s1"], k["b1"], k["s2"], k["b2"]))
        conn.execute("INSERT INTO staff (id, username, name, role, phone, sub_branch_id, active, created_at) "
                     "VALUES (%s, 'm', '王五', 'sales', '+8613900000000', %s, true, now())", (k["owner"], k["s2"]))
        conn.execute("INSERT INTO customer (id, name, id_number, phone, other_phones, phone_unreachable, sms_opt_out, "
                     "blacklisted, language, family, created_at) VALUES (%s, '张三', %s, '+8613800000000', '[]', "
                     "false, true, false, 'zh-CN', '{}', now())", (k["customer"], id_number()))
        for vehicle, policy, sub in (("v1", "p1", "s1"), ("v2", "p2", "s1"), ("v3", "p3", "s2")):
            conn.execute("INSERT INTO vehicle (id, customer_id, plate, vin, model_confirmed) "
                         "VALUES (%s, %s, '沪A12345', 'LSVAAAAAAAAAAAAAA', false)", (k[vehicle], k["customer"]))
            conn.execute("INSERT INTO policy (id, policy_no, customer_id, vehicle_id, sub_branch_id, channel, premium, "
                         "coverages, claims_last_year, starts_on, expires_on, timezone, status) VALUES (%s, %s, %s, "
                         "%s, %s, 'traditional', 1000, '[]', 0, '2026-01-01', '2027-01-01', 'Asia/Shanghai', 'active')",
                         (k[policy], f"PMIG{policy}", k["customer"], k[vehicle], k[sub]))
        conn.execute("INSERT INTO renewal_case (id, workflow_id, policy_id, policy_no, expiry_date, timezone, "
                     "sub_branch_id, stage, owner_id, deputy_id, escalated, started_at, updated_at) VALUES (%s, 'w3', "
                     "%s, 'PMIGp3', '2027-01-01', 'Asia/Shanghai', %s, 'FIRST_CONTACT', %s, %s, false, now(), now())",
                     (k["case3"], k["p3"], k["s2"], k["owner"], k["owner"]))
        conn.execute("INSERT INTO contact_record (id, case_id, customer_id, recipient, channel, direction, created_at) "
                     "VALUES (%s, %s, %s, 'customer', 'call', 'outbound', now())",
                     (k["contact3"], k["case3"], k["customer"]))
    migrate(url)

    with psycopg.connect(url) as conn:
        def customer_of(table: str, row: str):
            return conn.execute(f"SELECT customer_id FROM {table} WHERE id = %s", (k[row],)).fetchone()[0]

        copy = customer_of("policy", "p3")
        assert [customer_of("policy", p) for p in ("p1", "p2")] == [k["customer"]] * 2 and copy != k["customer"]
        assert [customer_of("vehicle", v) for v in ("v1", "v2", "v3")] == [k["customer"]] * 2 + [copy]
        assert customer_of("contact_record", "contact3") == copy
        records = conn.execute("SELECT id, branch_id, name, id_number, sms_opt_out FROM customer ORDER BY id = %s",
                               (copy,)).fetchall()
        assert records == [(k["customer"], k["b1"], "张三", id_number(), True),
                           (copy, k["b2"], "张三", id_number(), True)]
