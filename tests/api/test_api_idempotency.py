"""A staff action retried with the same Idempotency-Key acts once and answers the first result
(the key becomes the workflow update's id, which Temporal runs once; the note is stored once)."""

from __future__ import annotations

import pytest
from sqlmodel import Session, func, select

from models import ContactRecord, Note
from tests.api.conftest import Api
from tests.scenario import Scenario

pytestmark = pytest.mark.asyncio(loop_scope="session")


def _count(sc: Scenario, model, *where) -> int:
    with Session(sc.engine) as session:
        return session.exec(select(func.count()).select_from(model).where(*where)).one()


async def test_a_retried_action_with_the_same_key_is_recorded_once(api: Api, sc: Scenario):
    case = await sc.start(days_to_expiry=62)
    owner = await api.sign_in(case.owner_id)
    await sc.sleep_until(case.at(-60, 10))
    body = {"channel": "call", "result": "no_answer", "note": "未接通"}
    keyed = {**owner, "Idempotency-Key": "3b0f6a52-2f5e-4c1e-9f57-6d1c5d1f0a11"}

    first = await api.post(f"/cases/{case.case_id}/contacts", headers=keyed, json=body)
    again = await api.post(f"/cases/{case.case_id}/contacts", headers=keyed, json=body)
    assert first.status_code == again.status_code == 200, again.text
    assert again.json() == first.json(), "the retry answers the first result"
    calls = (ContactRecord.case_id == case.case_id, ContactRecord.channel == "call")
    assert _count(sc, ContactRecord, *calls) == 1
    assert _count(sc, Note, Note.case_id == case.case_id) == 1, "the note is not stored twice"
    history = await case.handle.fetch_history()
    assert sum(e.HasField("workflow_execution_update_accepted_event_attributes") for e in history.events) == 1

    # A new key is a new action.
    other = await api.post(f"/cases/{case.case_id}/contacts", json=body,
                           headers={**owner, "Idempotency-Key": "another-attempt-2"})
    assert other.status_code == 200, other.text
    assert _count(sc, ContactRecord, *calls) == 2
    assert _count(sc, Note, Note.case_id == case.case_id) == 2


@pytest.mark.parametrize("key", ["bad\x01key", "x" * 129, "two words"])
async def test_an_unusable_key_is_refused_naming_the_header(api: Api, sc: Scenario, key: str):
    case = await sc.start(days_to_expiry=62)
    owner = await api.sign_in(case.owner_id)
    await sc.sleep_until(case.at(-60, 10))
    response = await api.post(f"/cases/{case.case_id}/contacts", headers={**owner, "Idempotency-Key": key},
                              json={"channel": "call", "result": "no_answer"})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == "Idempotency-Key"
    assert _count(sc, ContactRecord, ContactRecord.case_id == case.case_id, ContactRecord.channel == "call") == 0


async def test_every_action_route_documents_the_header(api: Api):
    paths = (await api.get("/openapi.json")).json()["paths"]
    actions = ["contacts", "follow-up", "renewed-elsewhere", "loss-reason", "close", "reassign", "sms"]
    for action in actions:
        params = paths[f"/cases/{{case_id}}/{action}"]["post"]["parameters"]
        [header] = [p for p in params if p["in"] == "header"]
        assert header["name"] == "Idempotency-Key" and not header["required"]
        assert header["schema"]["anyOf"][0]["maxLength"] == 128
