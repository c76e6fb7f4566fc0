"""Hostile input: every string of every route and webhook is refused with 422 naming the field
when it carries a control character; dates, offsets and webhook numbers are bounded and strictly
parsed; nothing answers 500 or hangs, and the case keeps working afterwards."""

from __future__ import annotations

import time

import pytest
from sqlmodel import Session, select

from models import ContactRecord, Role

from tests.api.conftest import Api, add_person
from tests.scenario import Scenario

pytestmark = pytest.mark.asyncio(loop_scope="session")

NUL = "\u0000"


async def test_hostile_inputs_answer_4xx_within_a_second_and_the_case_keeps_working(api: Api, sc: Scenario):
    case = await sc.start(days_to_expiry=62)
    await sc.sleep_until(case.at(-60, 10))
    owner = await api.sign_in(case.owner_id)
    call_sid = (await api.post(f"/cases/{case.case_id}/call", headers=owner)).json()["call_sid"]
    [notice] = [r for r in sc.sms_records(case) if r.template == "first_notice"]
    on = f"/cases/{case.case_id}"
    contact = {"channel": "call", "result": "reached"}
    requests = [  # (method, path, request options, status, field)
        ("POST", f"{on}/contacts", {"json": contact | {"note": f"客户{NUL}考虑"}}, 422, "note"),
        ("POST", f"{on}/contacts", {"json": contact | {"note": "\u001b[2J"}}, 422, "note"),
        ("POST", f"{on}/contacts", {"json": contact | {f"no{NUL}te": "x"}}, 422, f"no{NUL}te"),
        ("POST", f"{on}/contacts", {"content": '{"channel": "call", "result": "reached", "note": "\\ud800"}',
                                    "headers": {"content-type": "application/json"}}, 422, "note"),
        ("POST", f"{on}/follow-up", {"json": {"status": "success", "new_policy_no": f"PDAA{NUL}1"}}, 422,
         "new_policy_no"),
        ("POST", f"{on}/renewed-elsewhere", {"json": {"insurer": f"平安{NUL}"}}, 422, "insurer"),
        ("POST", f"{on}/renewed-elsewhere", {"json": {"insurer": "ping_an", "reason": "unknown"}}, 422, "reason"),
        ("POST", f"{on}/loss-reason", {"json": {"reason": "price", "note": f"{NUL}"}}, 422, "note"),
        ("PUT", f"{on}/customer-phone", {"json": {"phone": f"139{NUL}12345678"}}, 422, "phone"),
        ("POST", f"{on}/phone-unreachable", {"json": {"note": "\u0085"}}, 422, "note"),
        ("POST", f"{on}/contacts", {"json": contact | {"note": "x" * (1 << 20)}}, 413, None),
        ("GET", "/me/tasks?date=9999-12-31", {}, 422, "date"),
        ("GET", "/me/tasks?date=0", {}, 422, "date"),
        ("GET", "/me/tasks?offset=9223372036854775808", {}, 422, "offset"),
        ("GET", "/cases?offset=9223372036854775808", {}, 422, "offset"),
        ("GET", "/cases?stage=%00", {}, 422, "stage"),
        ("POST", "/auth/token", {"data": {"username": f"li{NUL}si", "password": "x"}}, 422, "username"),
    ]
    webhooks = [  # (path, params, field): signed by Twilio, yet not what Twilio sends
        ("/webhooks/twilio/sms-status", {"MessageSid": notice.provider_id, "MessageStatus": "undelivered",
                                         "ErrorCode": "²"}, "ErrorCode"),
        ("/webhooks/twilio/sms-status", {"MessageSid": notice.provider_id, "MessageStatus": "x" * 40},
         "MessageStatus"),
        ("/webhooks/twilio/call-status", {"CallSid": call_sid, "CallStatus": "completed",
                                          "CallDuration": "99999999999"}, "CallDuration"),
        ("/webhooks/twilio/recording", {"CallSid": call_sid, "RecordingUrl": "javascript:alert(document.cookie)"},
         "RecordingUrl"),
        ("/webhooks/twilio/recording", {"CallSid": call_sid, "RecordingUrl": "https://api.twilio.com.evil.example/r"},
         "RecordingUrl"),
        ("/webhooks/twilio/recording", {"CallSid": call_sid, "RecordingUrl": "https://api.twilio.com/R",
                                        "RecordingDuration": "-1"}, "RecordingDuration"),
        ("/webhooks/twilio/inbound-sms", {"MessageSid": "SMx", "From": case.customer_phone, "Body": f"退订{NUL}"},
         "Body"),
        ("/webhooks/twilio/inbound-sms", {"From": case.customer_phone, "Body": "退订"}, "MessageSid"),
    ]
    answers = []
    for method, path, options, status, field in requests:
        started = time.monotonic()
        response = await api.request(method, path, headers=options.pop("headers", {}) | owner, **options)
        answers.append((path, response, time.monotonic() - started, status, field))
    for path, params, field in webhooks:
        started = time.monotonic()
        response = await api.webhook(path, params)
        answers.append((path, response, time.monotonic() - started, 422, field))
    for path, response, took, status, field in answers:
        assert (response.status_code, took < 1.0) == (status, True), (path, field, response.text[:300], took)
        assert response.json()["error"]["field"] == field, (path, response.text[:300])

    # Nothing of it reached the case: it still takes a contact, and the call record is untouched.
    worked = await api.post(f"{on}/contacts", headers=owner, json=contact | {"note": "客户考虑中\n下周再联系"})
    assert worked.status_code == 200, worked.text
    with Session(api.engine) as session:
        call = session.exec(select(ContactRecord).where(ContactRecord.provider_id == call_sid)).one()
    assert (call.recording_url, call.duration_seconds, call.delivery_status) == (None, None, "queued")


async def test_every_numeric_parameter_is_bounded_and_out_of_range_answers_422_naming_it(api: Api, sc: Scenario):
    """Numbers past what the database holds (2**63, 10**30) or below zero are refused before any
    query runs; the OpenAPI states the bounds of every numeric parameter, routes added later too."""
    admin = await api.sign_in(add_person(sc.engine, Role.admin, branch_code=sc.branch_code).id)
    for path, field in (("/assignments/unassigned?offset=9223372036854775808", "offset"),
                        ("/assignments/stale?offset=1000000000000000000000000000000", "offset"),
                        ("/assignments/stale?limit=1000000000000000000000000000000", "limit"),
                        ("/assignments/unassigned?limit=0", "limit"), ("/me/tasks?limit=-1", "limit"),
                        ("/cases?offset=-1", "offset"), ("/vehicle-models?limit=9223372036854775808", "limit")):
        response = await api.get(path, headers=admin)
        assert (response.status_code, response.json()["error"]["field"]) == (422, field), (path, response.text)
    assert (await api.get("/assignments/stale?limit=200&offset=1000000", headers=admin)).status_code == 200

    spec = (await api.get("/openapi.json")).json()
    unbounded = [f"{method.upper()} {path} {parameter['name']}"
                 for path, operations in spec["paths"].items() for method, operation in operations.items()
                 for parameter in operation.get("parameters", [])
                 if parameter["schema"].get("type") in ("integer", "number")
                 and not {"minimum", "maximum"} <= set(parameter["schema"])]
    assert not unbounded, unbounded
