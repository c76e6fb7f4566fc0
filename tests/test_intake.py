"""Importing the book of policies (issue 9): the sample file on the demo organisation, row errors
naming row, column and reason, ownership by manager or 经办人, and cases starting in the horizon."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from sqlmodel import Session, select

from models import Assignment, ImportJob, Policy
from renewals.demo import demo_jobs
from renewals.intake import create_job, run_import
from renewals.policy_file import HEADER, FileRejected, Organisation, check_file, id_number_check_digit
from renewals.sample_book import rows, to_csv
from tests.scenario import terminate_open_cases

SAMPLE = Path(__file__).resolve().parent.parent / "samples" / "policies-demo.csv"


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
    from renewals.intake import local_today as today_of

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
                  if today <= date.fromisoformat(r["expires_on"]) <= today + timedelta(days=60)]
    assert result.counts["cases_started"] == len(in_horizon)
    with Session(engine) as session:
        job = session.get(ImportJob, result.job_id)
        assert job.status == "done" and job.counts["inserted"] == 200 and job.errors == []
        handled_by_code = session.exec(select(Policy).where(Policy.policy_no == "PDAA20263101010000003")).one()
        assert session.exec(select(Assignment).where(Assignment.policy_id == handled_by_code.id)).one()
    # The same file in GB18030, as a Chinese spreadsheet saves it, changes nothing.
    again = await import_file(engine, time_env, intake_settings, data.decode("utf-8").encode("gb18030"))
    assert again.errors == [] and again.counts["unchanged"] == 200 and again.counts["cases_started"] == 0


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
    "manager": ("nobody-here", "no staff member"),
    "sub_branch": ("999999", "no sub-branch"),
    "premium": ("-5", "positive amount"),
    "coverages": ("CTP;T1:x", "coverage code"),
    "claims_last_year": ("2a", "whole number"),
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
    from renewals.policy_file import COLUMNS

    records = rows(2, start=date(2031, 1, 1), prefix="PZH")
    chinese = {col.name: col.aliases[0] for col in COLUMNS}
    data = to_csv([{chinese[k]: v for k, v in r.items()} for r in records], tuple(chinese.values()))
    result = await import_file(engine, time_env, intake_settings, data)
    assert result.errors == [] and result.counts["inserted"] == 2


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
