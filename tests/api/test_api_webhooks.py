"""Twilio webhooks: only correctly signed requests write anything; delivery and call status land
on the contact records; a STOP reply opts the customer out of every SMS of every open case."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, update
from sqlmodel import Session, select
from temporalio.client import Client

from api.main import create_app
from models import ContactRecord, Customer
from tests.api.conftest import Api, twilio_sid
from tests.api.test_api_surface import client_of
from tests.api.test_api_workflow_rules import call_record
from tests.scenario import Case, Scenario, eventually
from renewals.case import contract as c

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


# Twilio retries a webhook with the same Sid, and its signature covers only our URL and the form:
# a retry, or anyone replaying a request they saw, sends the very same correctly signed request.
INBOUND = "/webhooks/twilio/inbound-sms"


def inbound_replies(sc: Scenario, case: Case) -> list[str]:
    with Session(sc.engine) as session:
        return sorted(session.exec(select(ContactRecord.body).where(
            ContactRecord.customer_id == case.customer_id, ContactRecord.direction == "inbound")).all())


def opted_out(sc: Scenario, case: Case) -> bool:
    with Session(sc.engine) as session:
        return session.get(Customer, case.customer_id).sms_opt_out


async def test_a_reply_delivered_again_and_again_is_applied_once(api: Api, sc: Scenario):
    case = await sc.start(days_to_expiry=62)
    await sc.sleep_until(case.at(-60, 10))
    stop = {"MessageSid": twilio_sid("SM"), "From": case.customer_phone, "Body": "STOP"}
    start = {"MessageSid": twilio_sid("SM"), "From": case.customer_phone, "Body": "START"}
    for reply in (stop, start):
        answers = await asyncio.gather(*(api.webhook(INBOUND, reply) for _ in range(5)))
        assert [answer.status_code for answer in answers] == [200] * 5
    assert inbound_replies(sc, case) == ["START", "STOP"], "one record per message, however often it came"
    assert (await signals(case, "opted_out"), await signals(case, "opted_in")) == (1, 1)
    assert opted_out(sc, case) is False


async def test_an_old_start_replayed_after_a_later_stop_leaves_the_customer_opted_out(api: Api, sc: Scenario):
    case = await sc.start(days_to_expiry=62)
    await sc.sleep_until(case.at(-60, 10))
    owner = await api.sign_in(case.owner_id)
    start = {"MessageSid": twilio_sid("SM"), "From": case.customer_phone, "Body": "START"}
    stop = {"MessageSid": twilio_sid("SM"), "From": case.customer_phone, "Body": "退订"}
    for reply in (start, stop, start):
        assert (await api.webhook(INBOUND, reply)).status_code == 200
    assert opted_out(sc, case) is True
    assert (await case.state()).sms_opted_out is True
    refused = await api.post(f"/cases/{case.case_id}/sms", headers=owner, json={"template": "service_request"})
    assert refused.status_code == 409 and "opted out" in refused.json()["error"]["message"]


async def test_a_loss_reason_reply_is_handled_once_and_its_replay_records_nothing_on_the_next_case(
        api: Api, sc: Scenario):
    case, next_case = await sc.start(days_to_expiry=3), await sc.start(days_to_expiry=3)
    await sc.sleep_until(case.at(-3, 10))
    owner = await api.sign_in(case.owner_id)
    assert (await api.post(f"/cases/{case.case_id}/renewed-elsewhere", headers=owner,
                           json={"insurer": "ping_an"})).status_code == 200
    reply = {"MessageSid": twilio_sid("SM"), "From": case.owner_phone, "Body": "2"}
    # First it reaches an API process that cannot reach Temporal: the reply is not lost, Twilio's
    # retry of it is handled.
    no_temporal = create_app(api.settings, engine=api.engine, temporal=await Client.connect("127.0.0.1:1", lazy=True))
    async with client_of(no_temporal) as down:
        signed = {"X-Twilio-Signature": api.twilio_signature(INBOUND, reply)}
        failed = await down.post(INBOUND, data=reply, headers=signed)
    assert failed.status_code >= 500
    answer = await api.webhook(INBOUND, reply)
    assert answer.status_code == 200 and "理赔原因" in answer.text
    assert (await case.handle.result()).outcome == "LOST"
    # The same manager now has another case waiting for a loss reason.
    manager = c.Actor(id=case.owner_id, role=c.ActorRole.sales)
    await next_case.update("reassign", c.Reassign(actor=next_case.actor("admin"), new_owner_id=case.owner_id,
                                                  reason="离职"))
    await next_case.update("report_renewed_elsewhere", c.ReportRenewedElsewhere(actor=manager, insurer="ping_an"))

    def projected() -> None:  # the webhook finds who waits for a loss reason in the projection
        assert sc.case_row(case).outcome == "LOST"
        assert (sc.case_row(next_case).owner_id, sc.case_row(next_case).lost_to_insurer) == (case.owner_id, "ping_an")
    await eventually(projected)

    replayed = await api.webhook(INBOUND, reply)
    assert replayed.status_code == 200 and "<Message>" not in replayed.text, "no second answer to the manager"
    state = await next_case.state()
    assert (state.outcome, state.outcome_reason) == (None, None), "the next case still waits for its own reason"


async def test_status_callbacks_out_of_order_end_at_the_furthest_status(api: Api, sc: Scenario):
    case = await sc.start(days_to_expiry=62)
    await sc.sleep_until(case.at(-60, 10))
    notice = sms_record(sc, case, "first_notice")

    async def sms_status(*statuses: str) -> tuple[str, int | None]:
        for status in statuses:
            form = {"MessageSid": notice.provider_id, "MessageStatus": status}
            form |= {"ErrorCode": "30003"} if status == "undelivered" else {}
            assert (await api.webhook("/webhooks/twilio/sms-status", form)).status_code == 204
        record = sms_record(sc, case, "first_notice")
        return record.delivery_status, record.error_code

    assert await sms_status("delivered", "sent", "queued") == ("delivered", None)
    assert await sms_status("undelivered", "undelivered", "delivered", "sent") == ("undelivered", 30003)
    assert await signals(case, "contact_failed") == 1, "one failure, told once"

    owner = await api.sign_in(case.owner_id)
    call_sid = (await api.post(f"/cases/{case.case_id}/call", headers=owner)).json()["call_sid"]
    for status in ("ringing", "in-progress", "initiated", "ringing"):
        response = await api.webhook("/webhooks/twilio/call-status", {"CallSid": call_sid, "CallStatus": status})
        assert response.status_code == 204
    assert call_record(sc, call_sid).delivery_status == "in-progress", "a late 'ringing' does not undo the answer"


async def test_the_same_dial_result_twice_is_applied_once(api: Api, sc: Scenario):
    case = await sc.start(days_to_expiry=62)
    await sc.sleep_until(case.at(-60, 10))
    owner = await api.sign_in(case.owner_id)
    call_sid = (await api.post(f"/cases/{case.case_id}/call", headers=owner)).json()["call_sid"]
    failed = {"CallSid": call_sid, "DialCallStatus": "failed", "DialCallDuration": "0"}
    for _ in range(2):
        assert (await api.webhook("/webhooks/twilio/dial-result", failed)).status_code == 200
    assert await signals(case, "contact_failed") == 1
    assert (await case.state()).contact_failures == 1, "one failed call is one contact failure"
    late = {"CallSid": call_sid, "DialCallStatus": "completed", "DialCallDuration": "95"}
    assert (await api.webhook("/webhooks/twilio/dial-result", late)).status_code == 200
    assert (call_record(sc, call_sid).result, call_record(sc, call_sid).duration_seconds) == ("failed", 0)
