"""Intake and ownership through the API: an admin uploads a book and follows the job,
moves a leaver's book of 50 open cases (their tasks follow, as both to-do panels show), is refused
deactivating someone who still owns policies, and changes a sub-branch's deputy."""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
from sqlmodel import Session, select

from models import ImportJob, RenewalCase, Role, Staff, SubBranch, Task, TaskState
from renewals.intake.service import create_job, local_today
from renewals.intake.policy_file import HEADER
from renewals.dev.sample_book import rows, to_csv
from tests.api.conftest import add_person, make_deputy
from tests.scenario import eventually, terminate_open_cases
from renewals.case import contract as c

BOOK = 50


@dataclass
class Branch:
    code: str
    sub_branch: str
    admin: Staff
    leaver: Staff
    takers: list[Staff]
    deputy: Staff
    new_deputy: Staff


@pytest.fixture(scope="module")
def branch(engine) -> Branch:
    from renewals.org.service import add_org

    suffix = uuid.uuid4().hex[:5].upper()
    with Session(engine) as session:
        add_org(session, branch_code=f"A{suffix}", branch_name="杭州分公司", sub_branch_code=f"T{suffix}",
                sub_branch_name="西湖支公司")
        session.commit()
    sub = f"T{suffix}"
    people = dict(
        admin=add_person(engine, Role.admin, branch_code=f"A{suffix}"),
        leaver=add_person(engine, Role.sales, sub_branch_code=sub, name="李四"),
        takers=[add_person(engine, Role.sales, sub_branch_code=sub, name=n) for n in ("王六", "赵七")],
        deputy=add_person(engine, Role.deputy, sub_branch_code=sub, name="刘洋"),
        new_deputy=add_person(engine, Role.deputy, sub_branch_code=sub, name="孙八"),
    )
    make_deputy(engine, sub, people["deputy"])
    return Branch(code=f"A{suffix}", sub_branch=sub, **people)


@pytest.fixture(scope="module")
def time_env(dev_env):
    """This module's cases run on the dev server: a book move and a deputy change send dozens of
    updates at once, which the time-skipping test server now and then leaves unanswered under load.
    Nothing here needs time skipped."""
    return dev_env


@pytest_asyncio.fixture(scope="module", autouse=True)
async def stop_cases_at_the_end(time_env, engine, task_queue):
    yield
    await terminate_open_cases(time_env.client, engine)


@pytest_asyncio.fixture(scope="module")
async def admin_headers(api, branch):
    return await api.sign_in(branch.admin.id)


def book_csv(branch: Branch, count: int, first_expiry, prefix: str, manager: Staff | None) -> bytes:
    records = rows(count, start=first_expiry, prefix=prefix, sub_branch=branch.sub_branch)
    for i, record in enumerate(records):
        expiry = first_expiry + timedelta(days=i % 2)
        record.update(manager=manager.username if manager else "", handler_code="",
                      expires_on=f"{expiry:%Y-%m-%d}", starts_on=f"{expiry - timedelta(days=365):%Y-%m-%d}",
                      first_registered_on=f"{expiry - timedelta(days=3 * 365):%Y-%m-%d}")
    return to_csv(records)


async def upload(api, headers, data: bytes, name: str = "book.csv") -> dict:
    """Upload a file and follow its job until a worker has imported it."""
    response = await api.post("/imports/policies", headers=headers, files={"file": (name, data, "text/csv")})
    assert response.status_code == 202, response.text

    async def done():
        job = (await api.get(response.json()["progress_url"], headers=headers)).json()
        assert job["status"] == "done", job
        return job

    return await eventually(done, timeout=60)


async def open_cases(engine, prefix: str) -> list[RenewalCase]:
    with Session(engine) as session:
        return list(session.exec(select(RenewalCase).where(RenewalCase.policy_no.startswith(prefix),
                                                           RenewalCase.outcome.is_(None))).all())


async def test_an_admin_imports_a_book_and_reads_the_row_errors(api, engine, time_env, branch, admin_headers):
    today = local_today(api.settings, await time_env.get_current_time())
    data = book_csv(branch, 3, today + timedelta(days=400), "PAPI", branch.takers[0])
    lines = data.decode().splitlines()
    lines[2] = lines[2].replace(",zh-CN,", ",klingon,").replace(",en,", ",klingon,")
    job = await upload(api, admin_headers, ("\n".join(lines) + "\n").encode())
    assert job["imported_rows"] == 2 and job["counts"]["inserted"] == 2 and job["error_count"] == 1
    assert job["errors"] == [{"row": 3, "column": "language", "reason": "must be one of zh-CN, en"}]
    errors = await api.get(f"/imports/{job['job_id']}/errors.csv", headers=admin_headers)
    assert errors.status_code == 200 and errors.headers["content-type"].startswith("text/csv")
    assert list(csv.reader(io.StringIO(errors.content.decode("utf-8-sig")))) == [
        ["row", "column", "reason"], ["3", "language", "must be one of zh-CN, en"]]

    sales = await api.sign_in(branch.takers[0].id)
    refused = await api.post("/imports/policies", headers=sales, files={"file": ("b.csv", data, "text/csv")})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    from renewals.org.service import add_org

    with Session(engine) as session:
        add_org(session, branch_code=f"O{branch.code}", branch_name="宁波分公司")
        session.commit()
    other_admin = add_person(engine, Role.admin, branch_code=f"O{branch.code}")
    outsider = await api.sign_in(other_admin.id)
    assert (await api.get(f"/imports/{job['job_id']}", headers=outsider)).status_code == 403


async def test_unassigned_policies_are_listed_and_an_admin_assigns_one(api, engine, time_env, branch, admin_headers):
    today = local_today(api.settings, await time_env.get_current_time())
    await upload(api, admin_headers, book_csv(branch, 2, today + timedelta(days=30), "PUNA", None))
    listed = (await api.get("/assignments/unassigned", headers=admin_headers)).json()
    waiting = [p for p in listed["items"] if p["policy_no"].startswith("PUNA")]
    assert len(waiting) == 2 and not await open_cases(engine, "PUNA")
    assigned = await api.post("/assignments", headers=admin_headers, json={
        "policy_no": waiting[0]["policy_no"], "staff_id": str(branch.takers[1].id), "reason": "direct sale"})
    assert assigned.status_code == 200, assigned.text
    assert assigned.json()["counts"]["cases_started"] == 1

    async def its_case_is_open():
        assert [c.policy_no for c in await open_cases(engine, "PUNA")] == [waiting[0]["policy_no"]]

    await eventually(its_case_is_open, timeout=30)
    wrong = await api.post("/assignments", headers=admin_headers, json={
        "policy_no": waiting[1]["policy_no"], "staff_id": str(branch.deputy.id), "reason": "x"})
    assert wrong.status_code == 422 and wrong.json()["error"]["field"] == "staff_id"
    after = (await api.get("/assignments/unassigned", headers=admin_headers)).json()
    assert [p["policy_no"] for p in after["items"] if p["policy_no"].startswith("PUNA")] == [waiting[1]["policy_no"]]


async def panel(api, staff: Staff) -> list[dict]:
    headers = await api.sign_in(staff.id)
    page = (await api.get("/me/tasks", params={"limit": 200}, headers=headers)).json()
    return page["items"]


async def test_a_book_of_50_moves_with_every_case_and_task(api, engine, time_env, branch, admin_headers):
    today = local_today(api.settings, await time_env.get_current_time())
    # Expiring in 50..51 days: every case is in FIRST_CONTACT with its call task open.
    await upload(api, admin_headers, book_csv(branch, BOOK, today + timedelta(days=50), "PBOOK", branch.leaver))

    def all_cases_open():
        with Session(engine) as session:
            tasks = session.exec(select(Task).where(Task.assignee_id == branch.leaver.id,
                                                    Task.state == TaskState.open)).all()
        assert len(tasks) == BOOK

    await eventually(all_cases_open, timeout=60)
    assert len([t for t in await panel(api, branch.leaver) if t["policy_no"].startswith("PBOOK")]) == BOOK
    url = f"/staff/{branch.leaver.id}/reassign-book"
    takers = [str(s.id) for s in branch.takers]

    refused = await api.post(f"/staff/{branch.leaver.id}/deactivate", headers=admin_headers)
    assert refused.status_code == 409 and f"{BOOK} policies" in refused.json()["error"]["message"]

    dry = (await api.post(url, headers=admin_headers, json={"to": takers, "reason": "left", "dry_run": True})).json()
    assert dry["dry_run"] and dry["policies"] == dry["cases"] == dry["open_tasks"] == BOOK
    assert sorted(dry["per_owner"].values()) == [BOOK // 2, BOOK // 2] and len(dry["moves"]) == BOOK
    book = (await api.get(f"/staff/{branch.leaver.id}/book", headers=admin_headers)).json()
    assert book["policies"] == book["open_cases"] == book["open_tasks"] == BOOK, "a dry run moves nothing"

    moved = await api.post(url, headers=admin_headers, json={"to": takers, "reason": "left"})
    assert moved.status_code == 200, moved.text
    report = moved.json()
    assert report["policies"] == report["cases"] == report["open_tasks"] == BOOK and report["failures"] == []
    assert (await api.get(f"/staff/{branch.leaver.id}/book", headers=admin_headers)).json() | {"active": True} == {
        "staff_id": str(branch.leaver.id), "active": True, "policies": 0, "open_cases": 0, "open_tasks": 0}

    owners = {}
    client = await api.app.state.temporal()
    for case in await open_cases(engine, "PBOOK"):
        st = await client.get_workflow_handle(case.workflow_id).query("state", result_type=c.CaseState)
        assert st.owner_id != branch.leaver.id and all(t.assignee_id == st.owner_id for t in st.open_tasks)
        owners[st.owner_id] = owners.get(st.owner_id, 0) + 1
    assert sorted(owners.values()) == [BOOK // 2, BOOK // 2]
    assert not [t for t in await panel(api, branch.leaver) if t["policy_no"].startswith("PBOOK")]
    for taker in branch.takers:
        assert len([t for t in await panel(api, taker) if t["policy_no"].startswith("PBOOK")]) == BOOK // 2

    again = (await api.post(url, headers=admin_headers, json={"to": takers, "reason": "left"})).json()
    assert again["policies"] == 0, "a rerun has nothing left to move"
    done = await api.post(f"/staff/{branch.leaver.id}/deactivate", headers=admin_headers)
    assert done.status_code == 200 and done.json()["active"] is False
    stale = (await api.get("/assignments/stale", headers=admin_headers)).json()
    assert not [p for p in stale["items"] if p["policy_no"].startswith("PBOOK")]


async def test_a_new_deputy_gets_every_open_case_and_the_deputy_tasks(api, engine, time_env, branch, admin_headers):
    cases = await open_cases(engine, "PBOOK")
    assert cases, "runs after the book test: its open cases are the sub-branch's"
    client = await api.app.state.temporal()
    first = cases[0]
    owner = await api.sign_in(first.owner_id)
    complaint = await api.post(f"/cases/{first.id}/contacts", headers=owner,
                               json={"channel": "call", "result": "complaint"})
    assert complaint.status_code == 200, complaint.text
    assert any(t["kind"] == "complaint" for t in await panel(api, branch.deputy))

    changed = await api.put(f"/sub-branches/{branch.sub_branch}/deputy", headers=admin_headers,
                            json={"deputy_id": str(branch.new_deputy.id)})
    assert changed.status_code == 200, changed.text
    with Session(engine) as session:
        in_sub_branch = session.exec(select(RenewalCase).join(SubBranch, SubBranch.id == RenewalCase.sub_branch_id)
                                     .where(SubBranch.code == branch.sub_branch, RenewalCase.outcome.is_(None))).all()
    assert changed.json()["cases_moved"] == len(in_sub_branch) and changed.json()["failures"] == [], (
        changed.json(), sorted((r.policy_no, str(r.deputy_id) == str(branch.new_deputy.id)) for r in in_sub_branch))
    st = await client.get_workflow_handle(first.workflow_id).query("state", result_type=c.CaseState)
    assert st.deputy_id == branch.new_deputy.id
    assert [t.kind for t in st.open_tasks if t.assignee_id == branch.new_deputy.id] == ["complaint"]
    assert not any(t["kind"] == "complaint" for t in await panel(api, branch.deputy))
    assert [t["kind"] for t in await panel(api, branch.new_deputy)] == ["complaint"]
    with Session(engine) as session:
        assert session.exec(select(SubBranch).where(SubBranch.code == branch.sub_branch)).one().deputy_id == \
            branch.new_deputy.id


async def test_owners_who_moved_to_another_sub_branch_are_listed_as_stale(api, engine, time_env, branch,
                                                                          admin_headers):
    from tests.api.conftest import add_sub_branch

    mover = add_person(engine, Role.sales, sub_branch_code=branch.sub_branch, name="钱九")
    today = local_today(api.settings, await time_env.get_current_time())
    await upload(api, admin_headers, book_csv(branch, 1, today + timedelta(days=300), "PSTALE", mover))
    elsewhere = add_sub_branch(engine, branch.code)
    with Session(engine) as session:
        staff = session.get(Staff, mover.id)
        staff.sub_branch_id = session.exec(select(SubBranch.id).where(SubBranch.code == elsewhere)).one()
        session.add(staff)
        session.commit()
    stale = (await api.get("/assignments/stale", headers=admin_headers)).json()
    listed = [p for p in stale["items"] if p["policy_no"].startswith("PSTALE")]
    assert [(p["owner_username"], p["why"]) for p in listed] == [
        (mover.username, "the owner works in another sub-branch")]
    sales = await api.sign_in(branch.takers[0].id)
    assert (await api.get("/assignments/stale", headers=sales)).status_code == 403


# Who may use the intake and ownership routes (api.access' rules for administration): codes per role.
INTAKE_ROLES = ("anonymous", "sales", "deputy", "admin", "manager", "auditor", "other_admin")
INTAKE_MATRIX = [  # (method, path, codes); {job} {staff} {sub} are this branch's
    ("POST", "/imports/policies", "401 403 403 202 403 403 202"),
    ("GET", "/imports/{job}", "401 403 403 200 403 403 403"),
    ("GET", "/imports/{job}/errors.csv", "401 403 403 200 403 403 403"),
    ("GET", "/assignments/unassigned", "401 403 403 200 200 403 200"),
    ("GET", "/assignments/stale", "401 403 403 200 200 403 200"),
    ("POST", "/assignments", "401 403 403 422 403 403 403"),
    ("GET", "/staff/{staff}/book", "401 403 403 200 200 403 403"),
    ("POST", "/staff/{staff}/reassign-book", "401 403 403 200 403 403 403"),
    ("POST", "/staff/{staff}/deactivate", "401 403 403 409 403 403 403"),
    ("PUT", "/staff/{staff}/handler-code", "401 403 403 200 403 403 403"),
    ("PUT", "/sub-branches/{sub}/deputy", "401 403 403 200 403 403 403"),
]
INTAKE_ROUTES = {(method, path.replace("{job}", "{job_id}").replace("{staff}", "{staff_id}").replace("{sub}", "{code}"))
                 for method, path, _ in INTAKE_MATRIX}


async def test_intake_routes_by_role(api, engine, time_env, branch, admin_headers):
    from renewals.org.service import add_org

    with Session(engine) as session:
        add_org(session, branch_code=f"M{branch.code}", branch_name="温州分公司")
        session.commit()
    holder = add_person(engine, Role.sales, sub_branch_code=branch.sub_branch, name="吴十")
    today = local_today(api.settings, await time_env.get_current_time())
    data = book_csv(branch, 1, today + timedelta(days=500), "PROLE", holder)
    job = await upload(api, admin_headers, data)
    policy_no = data.decode().splitlines()[1].split(",")[0]
    people = {"sales": branch.takers[0], "deputy": branch.new_deputy, "admin": branch.admin,
              "manager": add_person(engine, Role.manager, branch_code=branch.code),
              "auditor": add_person(engine, Role.auditor),
              "other_admin": add_person(engine, Role.admin, branch_code=f"M{branch.code}")}
    headers = {"anonymous": {}} | {role: await api.sign_in(staff.id) for role, staff in people.items()}
    bodies = {
        "/imports/policies": None,
        "/assignments": {"policy_no": policy_no, "staff_id": str(branch.deputy.id), "reason": "x"},  # not sales: 422
        "/staff/{staff}/reassign-book": {"to": [str(branch.takers[1].id)], "reason": "left", "dry_run": True},
        "/sub-branches/{sub}/deputy": {"deputy_id": str(branch.new_deputy.id)},
        "/staff/{staff}/handler-code": {"handler_code": f"JBR{branch.sub_branch}"},
    }
    mismatches = []
    for method, template, codes in INTAKE_MATRIX:
        path = (template.replace("{job}", job["job_id"]).replace("{staff}", str(holder.id))
                .replace("{sub}", branch.sub_branch))
        for role, expected in zip(INTAKE_ROLES, codes.split(), strict=True):
            if template == "/imports/policies":
                data = book_csv(branch, 1, today + timedelta(days=600), f"PR{role[:3].upper()}", None)
                response = await api.post(path, headers=headers[role], files={"file": ("b.csv", data, "text/csv")})
            else:
                response = await api.request(method, path, json=bodies.get(template), headers=headers[role])
            if response.status_code != int(expected):
                mismatches.append(f"{method} {template} as {role}: {response.status_code} (expected {expected}) "
                                  f"{response.text[:160]}")
            if response.status_code >= 400:
                assert set(response.json()) == {"error"}
    assert not mismatches, "\n".join(mismatches)


async def test_an_import_whose_process_died_shows_as_interrupted_and_a_rerun_finishes_it(
        api, engine, time_env, branch, admin_headers):
    """The process running an import of its own (`renewals import --in-process`) died in the middle:
    its job stops beating. Two minutes later the job shows as interrupted, with what to do, instead
    of running for ever; the same file uploaded finishes it."""
    today = local_today(api.settings, await time_env.get_current_time())
    data = book_csv(branch, 4, today + timedelta(days=450), "PDIED", branch.takers[0])
    job_id = create_job(engine, "died.csv", data, branch.admin.id, branch.admin.branch_id)

    def beat(ago: timedelta) -> None:
        with Session(engine) as session:
            job = session.get(ImportJob, job_id)
            job.status, job.phase, job.heartbeat_at = "running", "loading", datetime.now(UTC) - ago
            session.add(job)
            session.commit()

    beat(timedelta(seconds=20))
    alive = (await api.get(f"/imports/{job_id}", headers=admin_headers)).json()
    assert (alive["status"], alive["failure"]) == ("running", None)
    beat(timedelta(minutes=3))
    died = (await api.get(f"/imports/{job_id}", headers=admin_headers)).json()
    assert died["status"] == "interrupted" and "import the same file again" in died["failure"], died

    rerun = await upload(api, admin_headers, data, name="died.csv")
    assert rerun["counts"]["inserted"] == 4
    with Session(engine) as session:
        assert session.get(ImportJob, uuid.UUID(rerun["job_id"])).heartbeat_at is not None


async def test_an_import_reads_and_writes_nothing_of_another_branch(api, engine, time_env, branch, admin_headers):
    """Another branch's admin imports a file naming this branch's policy (moved to their sub-branch,
    with a new phone) and a new policy of this branch's customer (the same id number). The first row
    is refused with a row error that tells nothing of the policy; the second imports with their own
    record of the person. This branch's policy, customer, case and notes stay as they were, and the
    other branch's staff read none of them."""
    from renewals.org.service import add_org
    from tests.scenario import unique_phone

    today = local_today(api.settings, await time_env.get_current_time())
    data = book_csv(branch, 1, today + timedelta(days=50), "PMINE", branch.takers[0])
    await upload(api, admin_headers, data)
    ours = next(csv.DictReader(io.StringIO(data.decode())))

    async def its_case_is_open():
        cases = await open_cases(engine, "PMINE")
        assert len(cases) == 1
        return cases[0]

    case = await eventually(its_case_is_open, timeout=30)
    owner = await api.sign_in(branch.takers[0].id)
    noted = await api.post(f"/cases/{case.id}/contacts", headers=owner,
                           json={"channel": "call", "result": "reached", "note": "客户要报价,周五再打"})
    assert noted.status_code == 200, noted.text
    customer_id = (await api.get(f"/cases/{case.id}", headers=admin_headers)).json()["customer_id"]
    our_view = (await api.get(f"/customers/{customer_id}", headers=admin_headers)).json()
    assert [n["body"] for n in our_view["notes"]] == ["客户要报价,周五再打"]

    suffix = uuid.uuid4().hex[:5].upper()
    with Session(engine) as session:
        add_org(session, branch_code=f"B{suffix}", branch_name="苏州分公司", sub_branch_code=f"U{suffix}",
                sub_branch_name="姑苏支公司")
        session.commit()
    their_admin = add_person(engine, Role.admin, branch_code=f"B{suffix}")
    their_sales = add_person(engine, Role.sales, sub_branch_code=f"U{suffix}", name="郑一")
    make_deputy(engine, f"U{suffix}", add_person(engine, Role.deputy, sub_branch_code=f"U{suffix}", name="冯二"))
    theirs = await api.sign_in(their_admin.id)
    moved = ours | {"sub_branch": f"U{suffix}", "manager": their_sales.username, "phone": unique_phone()}
    same_person = ours | {"policy_no": f"PTHEIRS{suffix}", "sub_branch": f"U{suffix}",
                          "manager": their_sales.username, "customer_name": "陈三", "phone": unique_phone()}
    job = await upload(api, theirs, to_csv([moved, same_person]))

    assert job["errors"] == [{"row": 2, "column": "policy_no", "reason": "belongs to another branch"}]
    assert {k: job["counts"][k] for k in ("inserted", "updated", "new_owner", "rejected")} == {
        "inserted": 1, "updated": 0, "new_owner": 0, "rejected": 1}
    await api.post(f"/cases/{case.id}/contacts", headers=owner, json={"channel": "call", "result": "no_answer"})
    with Session(engine) as session:  # after a projection write of the case, too, nothing of it moved
        stored = session.get(RenewalCase, case.id)
        assert (stored.sub_branch_id, stored.owner_id) == (case.sub_branch_id, case.owner_id)
    assert (await api.get(f"/cases/{case.id}", headers=admin_headers)).status_code == 200
    assert (await api.get(f"/cases/{case.id}", headers=theirs)).status_code == 403
    after = (await api.get(f"/customers/{customer_id}", headers=admin_headers)).json()
    assert {k: after[k] for k in ("name", "phone", "policies", "notes")} == {
        k: our_view[k] for k in ("name", "phone", "policies", "notes")}
    assert (await api.get(f"/customers/{customer_id}", headers=theirs)).status_code == 403

    async def their_case_is_open():
        cases = await open_cases(engine, f"PTHEIRS{suffix}")
        assert len(cases) == 1
        return cases[0]

    their_case = await eventually(their_case_is_open, timeout=30)
    their_customer = (await api.get(f"/cases/{their_case.id}", headers=theirs)).json()["customer_id"]
    assert their_customer != customer_id
    their_view = (await api.get(f"/customers/{their_customer}", headers=theirs)).json()
    assert their_view["name"] == "陈三" and their_view["notes"] == []
    assert {r["case_id"] for r in their_view["contacts"]} <= {str(their_case.id)}
    assert [p["policy_no"] for p in their_view["policies"]] == [f"PTHEIRS{suffix}"]


async def test_an_admin_gives_a_handler_code_and_direct_sales_rows_match_it(api, engine, time_env, branch,
                                                                            admin_headers):
    """经办人: a direct-sales row names no manager, only the handler code; once an admin gives a
    service manager that code, the row is theirs. An unknown manager code, like an unknown handler
    code, imports the policy and lists it as unassigned with the reason."""
    today = local_today(api.settings, await time_env.get_current_time())
    code = f"JB{branch.sub_branch}"
    given = await api.put(f"/staff/{branch.takers[0].id}/handler-code", headers=admin_headers,
                          json={"handler_code": code})
    assert given.status_code == 200, given.text
    assert given.json() == {"staff_id": str(branch.takers[0].id), "handler_code": code}
    taken = await api.put(f"/staff/{branch.takers[1].id}/handler-code", headers=admin_headers,
                          json={"handler_code": code})
    assert taken.status_code == 409 and taken.json()["error"]["field"] == "handler_code"
    sales = await api.sign_in(branch.takers[0].id)
    refused = await api.put(f"/staff/{branch.takers[0].id}/handler-code", headers=sales, json={"handler_code": "X1"})
    assert refused.status_code == 403

    records = rows(3, start=today + timedelta(days=300), prefix="PJB", sub_branch=branch.sub_branch, seed=5)
    records[0].update(manager="", handler_code=code)
    records[1].update(manager="", handler_code="JB-NOBODY")
    records[2].update(manager="nobody-here", handler_code="")
    job = await upload(api, admin_headers, to_csv(records))
    assert job["errors"] == [] and job["imported_rows"] == 3
    assert job["counts"]["unassigned"] == 2
    with Session(engine) as session:
        from models import Assignment, Policy

        owner = session.exec(select(Assignment.staff_id).join(Policy, Policy.id == Assignment.policy_id)
                             .where(Policy.policy_no == records[0]["policy_no"], Assignment.ended_at.is_(None))).one()
    assert owner == branch.takers[0].id
    listed = (await api.get("/assignments/unassigned", headers=admin_headers, params={"limit": 200})).json()
    why = {p["policy_no"]: p["unassigned_reason"] for p in listed["items"] if p["policy_no"].startswith("PJB")}
    assert why == {records[1]["policy_no"]: "handler_code: no staff member has this 经办人 code",
                   records[2]["policy_no"]: "manager: no staff member with this code"}


async def test_a_customer_blacklisted_by_the_import_cannot_be_quoted(api, engine, time_env, branch, admin_headers):
    """常见错误 4: 避免给黑名单客户报价后又无法承保. The import's 黑名单 column puts the customer on the
    blacklist, and their case refuses a quote with the seed's words; a later file saying 否 takes
    them off, and a file without the column leaves the flag as it is."""
    today = local_today(api.settings, await time_env.get_current_time())
    records = rows(1, start=today + timedelta(days=30), prefix="PBLACK", sub_branch=branch.sub_branch, seed=9)
    records[0].update(manager=branch.takers[0].username, handler_code="")
    without = tuple(h for h in HEADER if h != "blacklisted")
    header = (*without, "黑名单")
    await upload(api, admin_headers, to_csv([records[0] | {"黑名单": "是"}], header))
    [case] = await eventually(lambda: _one(open_cases(engine, "PBLACK")), timeout=30)
    owner = await api.sign_in(branch.takers[0].id)
    refused = await api.post(f"/cases/{case.id}/quotes", headers=owner, json={})
    assert refused.status_code == 409
    assert "避免给黑名单客户报价后又无法承保" in refused.json()["error"]["message"]

    await upload(api, admin_headers, to_csv(records, without))  # no 黑名单 column: the flag stays
    again = await api.post(f"/cases/{case.id}/quotes", headers=owner, json={})
    assert "黑名单" in again.json()["error"]["message"]
    await upload(api, admin_headers, to_csv([records[0] | {"黑名单": "否"}], header))
    cleared = await api.post(f"/cases/{case.id}/quotes", headers=owner, json={})
    assert "黑名单" not in cleared.text


async def _one(cases):
    found = await cases
    assert len(found) == 1
    return found
