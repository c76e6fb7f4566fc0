"""A staff action retried with the same Idempotency-Key acts once and answers the first result
(the key becomes the workflow update's id, which Temporal runs once; the note is stored once);
the same key sent with another request is refused (draft-ietf-httpapi-idempotency-key-header)."""

from __future__ import annotations

import pytest
from sqlmodel import Session, func, select

from models import ContactRecord, Note, Task
from renewals.case.contract import TaskKind
from tests.api.conftest import Api
from tests.scenario import Scenario, eventually

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


async def test_a_key_reused_for_another_request_is_refused(api: Api, sc: Scenario):
    case = await sc.start(days_to_expiry=62)
    owner = await api.sign_in(case.owner_id)
    await sc.sleep_until(case.at(-60, 10))
    keyed = {**owner, "Idempotency-Key": "0c1f7a9e-5b1d-4f7e-8a52-1d9e3c4b6a70"}
    contacts = f"/cases/{case.case_id}/contacts"
    first = await api.post(contacts, headers=keyed, json={"channel": "call", "result": "no_answer"})
    assert first.status_code == 200, first.text

    renewed = {"status": "success", "new_policy_no": "PDAA000000000001"}
    for path, body in [(contacts, {"channel": "call", "result": "complaint"}),  # another body
                       (contacts, {"channel": "call", "result": "no_answer", "note": "投诉服务态度"}),  # a note
                       (f"/cases/{case.case_id}/follow-up", renewed)]:  # another action
        reused = await api.post(path, headers=keyed, json=body)
        assert reused.status_code == 422, reused.text
        error = reused.json()["error"]
        assert (error["status"], error["code"], error["field"]) == (422, "idempotency_key_reused", "Idempotency-Key")
        assert "another request" in error["message"]

    again = await api.post(contacts, headers=keyed, json={"channel": "call", "result": "no_answer"})
    assert again.status_code == 200, again.text
    assert again.json() == first.json(), "the same key with the same body still answers the first result"
    # The complaint was never recorded: one call, no complaint task for the deputy, no note.
    history = await case.handle.fetch_history()
    assert sum(e.HasField("workflow_execution_update_accepted_event_attributes") for e in history.events) == 1

    def complaint_never_recorded() -> None:
        assert _count(sc, ContactRecord, ContactRecord.case_id == case.case_id, ContactRecord.channel == "call") == 1
        assert _count(sc, Task, Task.case_id == case.case_id, Task.kind == TaskKind.complaint) == 0
        assert _count(sc, Note, Note.case_id == case.case_id) == 0

    await eventually(complaint_never_recorded)

    # Keys belong to the staff member: the deputy's same key is a request of their own.
    deputy = await api.sign_in(case.deputy_id)
    theirs = await api.post(contacts, headers={**deputy, "Idempotency-Key": keyed["Idempotency-Key"]},
                            json={"channel": "call", "result": "reached"})
    assert theirs.status_code in (200, 409), theirs.text
    assert theirs.json().get("error", {}).get("code") != "idempotency_key_reused"


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
