"""What the console says when a staff action cannot be done in time, and what its "today" counter counts."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlmodel import Session, func, select

from api.schemas import TaskItem, TaskPage
from models import ContactRecord
from api.views import due_today
from tests.api.conftest import Api, api, give_password  # noqa: F401  (api: fixture)
from tests.api.test_api_sessions import Browser
from tests.scenario import a_case_no_worker_runs, eventually
from worker import build_worker

DEADLINE_SECONDS = 1.0


@pytest.fixture(scope="module")
def settings(settings):
    return settings.model_copy(update={"staff_action_deadline": timedelta(seconds=DEADLINE_SECONDS)})


@pytest.mark.asyncio(loop_scope="session")
async def test_a_console_action_past_its_deadline_answers_the_consoles_own_page_in_chinese(
        api: Api, time_env, settings, engine, twilio):
    scenario, case, uncached = await a_case_no_worker_runs(time_env, settings, engine, twilio)
    owner = Browser(api)
    await owner.sign_in(give_password(engine, case.owner_id))

    path, form = f"/app/cases/{case.case_id}/contacts", {
        "csrf_token": owner.csrf, "action_key": uuid.uuid4().hex, "channel": "call", "result": "reached",
        "note": "客户考虑中"}
    started = time.monotonic()
    response = await owner.client.post(path, data=form)
    took = time.monotonic() - started

    assert took < DEADLINE_SECONDS + 1, f"answered after {took:.1f} s"
    assert response.status_code == 503 and int(response.headers["Retry-After"]) > 0
    assert response.headers["content-type"].startswith("text/html")
    assert "暂时无法办理" in response.text and "同一表单不会重复办理" in response.text
    assert '<html lang="zh-CN">' in response.text and 'href="/app"' in response.text, "a page, not the API's JSON"

    # As the page says: the same form sent again once the case is worked again is applied once.
    async with build_worker(time_env.client, uncached, engine, task_queue=scenario.task_queue):
        give_up = time.monotonic() + 30
        while (response := await owner.client.post(path, data=form)).status_code == 503:
            assert time.monotonic() < give_up, "still unavailable with a worker running"
        assert response.status_code == 303, response.text

        def recorded_once() -> None:
            with Session(engine) as session:
                assert session.exec(select(func.count()).select_from(ContactRecord).where(
                    ContactRecord.case_id == case.case_id, ContactRecord.channel == "call")).one() == 1

        await eventually(recorded_once)
        await scenario.finish()


def _task(due_at: datetime, *, missed: bool = False) -> TaskItem:
    return TaskItem(task_id=uuid.uuid4(), case_id=uuid.uuid4(), policy_no="PDAA0001", stage="FIRST_CONTACT",
                    kind="call", day=None, what_to_do="", opens_at=due_at - timedelta(days=1), due_at=due_at,
                    missed=missed, customer_name=None, customer_phone=None, plate=None)


def test_the_today_counter_counts_only_the_tasks_due_today():
    # Shanghai: a task "due by the end of 11 Feb" is due at 11 Feb 24:00 local, 16:00 UTC.
    end_of_today = datetime(2026, 2, 11, 16, tzinfo=UTC)
    page = TaskPage(date=date(2026, 2, 11), total=5, limit=50, offset=0, items=[
        _task(end_of_today),  # today's daily call
        _task(end_of_today - timedelta(hours=6)),  # a complaint due this afternoon
        _task(end_of_today + timedelta(days=1)),  # a window call due tomorrow
        _task(end_of_today + timedelta(days=14)),  # the first contact's call, due at T-45
        _task(end_of_today - timedelta(days=1), missed=True),  # yesterday's call: counted as missed
    ])
    assert due_today(page, "Asia/Shanghai") == 2
