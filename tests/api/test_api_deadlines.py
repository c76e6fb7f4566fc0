"""Staff actions answer within their deadline when PostgreSQL hangs or no worker runs the case,
and a 503 retried with the same Idempotency-Key acts exactly once.

A frozen PostgreSQL (SIGSTOP) accepts connections in the kernel and never answers, so only the
API's own deadline can give up; this module freezes a server of its own, never the shared one."""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session, func, select

from models import ContactRecord, Note
from renewals.core.db import migrate
from renewals.dev.servers import EmbeddedPostgres
from tests.api.conftest import Api
from tests.scenario import Scenario, a_case_no_worker_runs, eventually
from worker import build_worker

pytestmark = pytest.mark.asyncio(loop_scope="session")

DEADLINE_SECONDS = 1.0
ANSWER_WITHIN = 2.0  # what staff may wait for any action, whatever is down
FROZEN_FOR = 10.0


@pytest.fixture(scope="module")
def own_pg() -> Iterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="rpg")) / "d", ephemeral=True)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def database_url(own_pg: EmbeddedPostgres) -> str:
    url = own_pg.url()
    migrate(url)
    return url


@pytest.fixture(scope="module")
def settings(settings):
    return settings.model_copy(update={"staff_action_deadline": timedelta(seconds=DEADLINE_SECONDS)})


def _count(engine, model, *where) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(model).where(*where)).one()


async def _timed(request) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    try:
        response = await asyncio.wait_for(request, timeout=ANSWER_WITHIN + 3)
    except TimeoutError:
        raise AssertionError(f"no answer within {ANSWER_WITHIN + 3:.0f} s") from None
    return response, time.monotonic() - started


def _assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert (error["status"], error["code"]) == (503, "unavailable") and error["request_id"]
    assert int(response.headers["Retry-After"]) > 0


async def _until_answered(api: Api, path: str, headers: dict, body: dict) -> httpx.Response:
    """Retry as a client would after a 503 (same key, same body) until the API answers otherwise."""
    deadline = time.monotonic() + 30
    while True:
        response = await api.post(path, headers=headers, json=body)
        if response.status_code != 503 or time.monotonic() > deadline:
            return response
        await asyncio.sleep(0.5)


def _accepted_updates(history, update_ids: set[str]) -> list[str]:
    return [e.workflow_execution_update_accepted_event_attributes.accepted_request.meta.update_id
            for e in history.events if e.HasField("workflow_execution_update_accepted_event_attributes")
            and e.workflow_execution_update_accepted_event_attributes.accepted_request.meta.update_id in update_ids]


async def test_staff_actions_answer_while_postgresql_is_frozen_and_act_once_when_retried(
        api: Api, sc: Scenario, own_pg: EmbeddedPostgres):
    case = await sc.start(days_to_expiry=62)
    owner = await api.sign_in(case.owner_id)
    await sc.sleep_until(case.at(-20, 10))  # THIRD_CONTACT: `continue` may be set
    actions = [
        (f"/cases/{case.case_id}/contacts", {"channel": "call", "result": "no_answer", "note": "未接通"}),
        (f"/cases/{case.case_id}/follow-up", {"status": "continue", "note": "客户在比价"}),
    ]
    keys = [f"frozen-{uuid.uuid4()}" for _ in actions]

    own_pg.freeze()
    try:
        frozen_at = time.monotonic()
        for (path, body), key in zip(actions, keys):
            response, took = await _timed(api.post(path, headers={**owner, "Idempotency-Key": key}, json=body))
            assert took < ANSWER_WITHIN, f"{path} answered after {took:.1f} s"
            if response.status_code != 200:
                _assert_unavailable(response)
        await asyncio.sleep(max(0.0, FROZEN_FOR - (time.monotonic() - frozen_at)))
    finally:
        own_pg.thaw()

    first = [await _until_answered(api, path, {**owner, "Idempotency-Key": key}, body)
             for (path, body), key in zip(actions, keys)]
    assert [r.status_code for r in first] == [200, 200], [r.text for r in first]
    again = [await api.post(path, headers={**owner, "Idempotency-Key": key}, json=body)
             for (path, body), key in zip(actions, keys)]
    assert [r.status_code for r in again] == [200, 200]
    assert [r.json()["last_status"] for r in again] == ["continue", "continue"], "a retry answers the case as it is now"

    history = await case.handle.fetch_history()
    update_ids = {f"{name}:{case.owner_id}:{key}" for name, key in zip(["record_contact", "set_follow_up"], keys)}
    assert sorted(_accepted_updates(history, update_ids)) == sorted(update_ids), "each action applied once"
    assert (await case.state()).last_status == "continue"

    def recorded_once() -> None:
        calls = (ContactRecord.case_id == case.case_id, ContactRecord.channel == "call")
        assert _count(api.engine, ContactRecord, *calls) == 1
        assert _count(api.engine, Note, Note.case_id == case.case_id) == 2

    await eventually(recorded_once)


async def test_a_staff_action_answers_while_no_worker_runs_its_case_and_acts_once_when_retried(
        api: Api, time_env, settings, engine, twilio):
    scenario, case, uncached = await a_case_no_worker_runs(time_env, settings, engine, twilio)
    owner = {**await api.sign_in(case.owner_id), "Idempotency-Key": f"no-worker-{uuid.uuid4()}"}
    path, body = f"/cases/{case.case_id}/contacts", {"channel": "call", "result": "reached", "note": "要报价"}

    response, took = await _timed(api.post(path, headers=owner, json=body))
    assert took < ANSWER_WITHIN, f"answered after {took:.1f} s"
    _assert_unavailable(response)

    async with build_worker(time_env.client, uncached, engine, task_queue=scenario.task_queue):
        first = await _until_answered(api, path, owner, body)
        assert first.status_code == 200, first.text
        again = await api.post(path, headers=owner, json=body)
        assert again.json() == first.json()
        history = await case.handle.fetch_history()
        assert len(_accepted_updates(history, {f"record_contact:{case.owner_id}:{owner['Idempotency-Key']}"})) == 1

        def recorded_once() -> None:
            calls = (ContactRecord.case_id == case.case_id, ContactRecord.channel == "call")
            assert _count(engine, ContactRecord, *calls) == 1
            assert _count(engine, Note, Note.case_id == case.case_id) == 1

        await eventually(recorded_once)
        await scenario.finish()
