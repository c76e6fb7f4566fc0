"""Twilio webhooks: only correctly signed requests write anything; delivery and call status land
on the contact records; a STOP reply opts the customer out of every SMS of every open case."""

from __future__ import annotations

import pytest
from sqlalchemy import func, update
from sqlmodel import Session, select

from models import ContactRecord, Customer
from tests.api.conftest import Api
from tests.scenario import Case, Scenario

pytestmark = pytest.mark.asyncio(loop_scope="session")


def snapshot(sc: Scenario, *cases: Case) -> tuple:
    """Everything a webhook could write: contact records and the customers' consents."""
    with Session(sc.engine) as session:
        records = session.exec(select(ContactRecord.id, ContactRecord.delivery_status, ContactRecord.error_code,
                                      ContactRecord.duration_seconds, ContactRecord.recording_url)
                               .order_by(ContactRecord.id)).all()
        consents = [session.get(Customer, case.customer_id).sms_opt_out for case in cases]
        return [tuple(r) for r in records], consents


def sms_record(sc: Scenario, case: Case, template: str) -> ContactRecord:
    [record] = [r for r in sc.sms_records(case) if r.template == template]
    return record


async def signals(case: Case, name: str) -> int:
    history = await case.handle.fetch_history()
    return sum(1 for e in history.events
               if e.HasField("workflow_execution_signaled_event_attributes")
               and e.workflow_execution_signaled_event_attributes.signal_name == name)


async def test_forged_webhooks_write_nothing(api: Api, sc: Scenario):
    case = await sc.start(days_to_expiry=62)
    await sc.sleep_until(case.at(-60, 10))
    notice = sms_record(sc, case, "first_notice")
    stop = {"MessageSid": "SMinbound1", "From": case.customer_phone, "Body": "STOP", "OptOutType": "STOP"}
    failed = {"MessageSid": notice.provider_id, "MessageStatus": "undelivered", "ErrorCode": "30003"}
    before = snapshot(sc, case)
    for path, params in (("/webhooks/twilio/inbound-sms", stop), ("/webhooks/twilio/sms-status", failed)):
        forged = [
            await api.webhook(path, params, signature="bm90IGEgc2lnbmF0dXJl"),  # wrong
            await api.webhook(path, params, signature=""),  # missing
            await api.webhook(path, params, signed_params={**params, "Body": "hello", "MessageStatus": "sent"}),
            await api.webhook(path + "?x=1", params, signature=api.twilio_signature(path, params)),  # other URL
        ]
        for response in forged:
            assert response.status_code == 403 and response.json()["error"]["code"] == "bad_signature"
    assert snapshot(sc, case) == before, "a forged webhook changed the database"
    assert await signals(case, "opted_out") == 0 and await signals(case, "contact_failed") == 0


async def test_delivery_and_call_status_land_on_the_contact_records(api: Api, sc: Scenario):
    case = await sc.start(days_to_expiry=62)
    await sc.sleep_until(case.at(-60, 10))
    notice = sms_record(sc, case, "first_notice")
    path = "/webhooks/twilio/sms-status"
    for status in ("delivered", "sent"):  # a late "sent" does not undo "delivered"
        assert (await api.webhook(path, {"MessageSid": notice.provider_id, "MessageStatus": status})).status_code == 204
    assert sms_record(sc, case, "first_notice").delivery_status == "delivered"
    assert await signals(case, "contact_failed") == 0

    failed = await api.webhook(path, {"MessageSid": notice.provider_id, "MessageStatus": "undelivered",
                                      "ErrorCode": "30003"})
    assert failed.status_code == 204
    record = sms_record(sc, case, "first_notice")
    assert (record.delivery_status, record.error_code) == ("undelivered", 30003)
    assert await signals(case, "contact_failed") == 1
    assert (await case.state()).contact_failures == 1, "the case knows the customer was not reached"

    owner = await api.sign_in(case.owner_id)
    call = (await api.post(f"/cases/{case.case_id}/call", headers=owner)).json()
    call_sid = call["call_sid"]
    response = await api.webhook("/webhooks/twilio/call-status", {"CallSid": call_sid, "CallStatus": "ringing"})
    assert response.status_code == 204
    # The customer's leg (<Dial action>) decides the result and the duration, not the staff phone's leg.
    response = await api.webhook("/webhooks/twilio/dial-result", {
        "CallSid": call_sid, "DialCallStatus": "completed", "DialCallDuration": "95"})
    assert response.status_code == 200
    response = await api.webhook("/webhooks/twilio/call-status",
                                 {"CallSid": call_sid, "CallStatus": "completed", "CallDuration": "120"})
    assert response.status_code == 204
    recording_url = f"https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE{call_sid[2:]}"
    response = await api.webhook("/webhooks/twilio/recording", {
        "CallSid": call_sid, "RecordingSid": "RE1", "RecordingUrl": recording_url, "RecordingStatus": "completed",
        "RecordingDuration": "80"})
    assert response.status_code == 204
    view = (await api.get(f"/customers/{case.customer_id}", headers=owner)).json()
    [logged] = [c for c in view["contacts"] if c["channel"] == "call"]
    assert (logged["delivery_status"], logged["result"], logged["duration_seconds"], logged["recording_url"]) == (
        "completed", "answered", 95, recording_url)
    assert logged["staff_id"] == str(case.owner_id) and logged["number"].count("*") == 4


async def test_signed_stop_opts_out_of_every_open_case_and_start_opts_back_in(api: Api, sc: Scenario):
    case = await sc.start(days_to_expiry=62)
    same_phone = await sc.start(days_to_expiry=62)  # another customer record with the same number
    with Session(sc.engine) as session:
        session.execute(update(Customer).where(Customer.id == same_phone.customer_id)
                        .values(phone=case.customer_phone))
        session.commit()
    await sc.sleep_until(case.at(-60, 10))
    owner = await api.sign_in(case.owner_id)
    delivered_before = len(sc.twilio.delivered(case.customer_phone))

    reply = await api.webhook("/webhooks/twilio/inbound-sms",
                              {"MessageSid": "SMreply1", "From": case.customer_phone, "Body": " 退订 "})
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("application/xml")
    with Session(sc.engine) as session:
        assert [session.get(Customer, c.customer_id).sms_opt_out for c in (case, same_phone)] == [True, True]
        inbound = session.exec(select(func.count()).select_from(ContactRecord)
                               .where(ContactRecord.direction == "inbound", ContactRecord.body == " 退订 ")).one()
        assert inbound == 2, "the reply shows in both customers' histories"
    for opted in (case, same_phone):
        assert (await opted.state()).sms_opted_out is True

    refused = await api.post(f"/cases/{case.case_id}/sms", headers=owner, json={"template": "service_request"})
    assert refused.status_code == 409 and "opted out" in refused.json()["error"]["message"]

    await sc.sleep_until(case.at(-7, 12))
    assert (await case.state()).stage == "FINAL_CONTACT"
    assert len(sc.twilio.delivered(case.customer_phone)) == delivered_before, "no SMS after STOP"
    assert not [r for r in sc.sms_records(case) if r.template == "final_notice" and r.delivery_status != "suppressed"]

    back = await api.webhook("/webhooks/twilio/inbound-sms",
                             {"MessageSid": "SMreply2", "From": case.customer_phone, "Body": "start",
                              "OptOutType": "START"})
    assert back.status_code == 200
    with Session(sc.engine) as session:
        assert session.get(Customer, case.customer_id).sms_opt_out is False
    assert (await case.state()).sms_opted_out is False, "the case may text the customer again"
    sent = await api.post(f"/cases/{case.case_id}/sms", headers=owner, json={"template": "service_request"})
    assert sent.status_code == 200 and len(sc.twilio.delivered(case.customer_phone)) == delivered_before + 1
