"""The workflow's rules as staff and Twilio meet them through the API: the customer's leg of a
call, replies to our SMS, and insurer codes."""

from __future__ import annotations

from datetime import timedelta

import pytest
import pytest_asyncio
from sqlmodel import Session, select
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from renewals.dev.servers import wheel_binary
from renewals.core.temporal import register_search_attributes

from models import ContactRecord, Customer
from tests.api.conftest import Api, twilio_sid
from tests.scenario import Scenario, eventually
from renewals.case import contract as c

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest_asyncio.fixture(scope="module")
async def time_env():
    """A time-skipping server of this module's own: after these scenarios the shared one was seen
    to stop skipping time for the modules that follow (a test-server quirk, not the product's)."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=wheel_binary("temporal-test-server"), data_converter=pydantic_data_converter)
    await register_search_attributes(env.client, env.client.namespace, c.SEARCH_ATTRIBUTES)
    yield env
    await env.shutdown()


def call_record(sc: Scenario, sid: str) -> ContactRecord:
    with Session(sc.engine) as session:
        return session.exec(select(ContactRecord).where(ContactRecord.provider_id == sid)).one()


async def test_the_customer_hears_the_notice_and_the_outcome_is_the_customers_leg(api: Api, sc: Scenario):
    case = await sc.start(days_to_expiry=61)
    await sc.sleep_until(case.at(-60, 10))
    owner = await api.sign_in(case.owner_id)
    placed = await api.post(f"/cases/{case.case_id}/call", headers=owner)
    assert placed.status_code == 202, placed.text
    sid = placed.json()["call_sid"]
    [call] = sc.twilio.calls()[-1:]
    twiml = call["Twiml"]
    # The staff phone rings first; the customer's number carries a whisper played when they answer,
    # and <Dial action> reports how the customer's leg ended.
    assert call["To"] == case.owner_phone
    assert f'url="{api.settings.public_base_url}/webhooks/twilio/call-whisper"' in twiml
    assert f'action="{api.settings.public_base_url}/webhooks/twilio/dial-result"' in twiml
    assert case.customer_phone in twiml.split("<Number")[1]
    whisper = await api.webhook("/webhooks/twilio/call-whisper", {"CallSid": "CAchild", "ParentCallSid": sid})
    assert whisper.status_code == 200 and "全程录音" in whisper.text and "<Say" in whisper.text

    # The staff member answered and waited; the customer never picked up.
    assert (await api.webhook("/webhooks/twilio/dial-result", {
        "CallSid": sid, "DialCallStatus": "no-answer", "DialCallDuration": "0"})).status_code == 200
    assert (await api.webhook("/webhooks/twilio/call-status", {
        "CallSid": sid, "CallStatus": "completed", "CallDuration": "41"})).status_code == 204
    record = call_record(sc, sid)
    assert (record.result, record.duration_seconds, record.delivery_status) == ("no_answer", 0, "completed")


async def test_a_failed_customer_leg_counts_as_a_contact_failure(api: Api, sc: Scenario):
    case = await sc.start(days_to_expiry=61)
    await sc.sleep_until(case.at(-60, 10))
    owner = await api.sign_in(case.owner_id)
    sid = (await api.post(f"/cases/{case.case_id}/call", headers=owner)).json()["call_sid"]
    assert (await api.webhook("/webhooks/twilio/dial-result", {
        "CallSid": sid, "DialCallStatus": "failed", "DialCallDuration": "0"})).status_code == 200
    assert (await case.state()).contact_failures == 1


async def test_the_words_our_texts_advertise_opt_out(api: Api, sc: Scenario):
    replies = ["T", "退订。", " td ", "ＳＴＯＰ！", "Unsubscribe"]
    cases = [await sc.start(days_to_expiry=60) for _ in replies]
    await sc.sleep_until(cases[0].at(-60, 10))
    for case, reply in zip(cases, replies):
        response = await api.webhook("/webhooks/twilio/inbound-sms", {
            "MessageSid": twilio_sid("SM"), "From": case.customer_phone, "Body": reply})
        assert response.status_code == 200
    await sc.sleep_until(cases[0].at(-60, 10, 1))
    with Session(sc.engine) as session:
        assert [session.get(Customer, case.customer_id).sms_opt_out for case in cases] == [True] * len(replies)
    assert [(await case.state()).sms_opted_out for case in cases] == [True] * len(replies)
    response = await api.webhook("/webhooks/twilio/inbound-sms", {
        "MessageSid": "SMreply2", "From": cases[0].customer_phone, "Body": "订阅"})
    assert response.status_code == 200
    with Session(sc.engine) as session:
        assert session.get(Customer, cases[0].customer_id).sms_opt_out is False


async def test_the_manager_answers_the_loss_reason_sms_with_a_number(api: Api, sc: Scenario):
    case = await sc.start(days_to_expiry=3)
    await sc.sleep_until(case.at(-3, 10))
    owner = await api.sign_in(case.owner_id)
    reported = await api.post(f"/cases/{case.case_id}/renewed-elsewhere", headers=owner,
                              json={"insurer": "ping_an"})
    assert reported.status_code == 200, reported.text

    def asked():  # the staff SMS follows the action's answer
        request = "".join(sc.sms_to(case.owner_phone)[-1:])
        assert "1价格原因" in request and "2理赔原因" in request
    await eventually(asked)
    reply = await api.webhook("/webhooks/twilio/inbound-sms", {
        "MessageSid": "SMmanager", "From": case.owner_phone, "Body": "2"})
    assert reply.status_code == 200 and "理赔原因" in reply.text and "<Message>" in reply.text
    result = await case.handle.result()
    assert (result.outcome, result.outcome_reason) == ("LOST", "claims")
    history = await case.handle.fetch_history()
    [accepted] = [e.workflow_execution_update_accepted_event_attributes for e in history.events
                  if e.HasField("workflow_execution_update_accepted_event_attributes")
                  and e.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
                  == "record_loss_reason"]
    assert str(case.owner_id).encode() in accepted.accepted_request.input.args.payloads[0].data
    # A number from someone who is not waiting for a loss reason is a customer's ordinary reply.
    again = await api.webhook("/webhooks/twilio/inbound-sms", {
        "MessageSid": "SMmanager2", "From": case.owner_phone, "Body": "9"})
    assert again.status_code == 200 and "<Message>" not in again.text


async def test_renewed_elsewhere_takes_an_insurer_code(api: Api, sc: Scenario):
    case = await sc.start(days_to_expiry=58)
    await sc.sleep_until(case.at(-58, 10))
    owner = await api.sign_in(case.owner_id)
    free_text = await api.post(f"/cases/{case.case_id}/renewed-elsewhere", headers=owner,
                               json={"insurer": "平安产险"})
    assert free_text.status_code == 422 and free_text.json()["error"]["field"] == "insurer"
    ok = await api.post(f"/cases/{case.case_id}/renewed-elsewhere", headers=owner,
                        json={"insurer": "other", "note": "某地方保险公司"})
    assert ok.status_code == 200 and ok.json()["renewed_elsewhere"] is True
    assert c.Insurer.other == "other"


async def test_refusing_all_contact_puts_the_customer_on_the_do_not_call_list(api: Api, sc: Scenario):
    case = await sc.start(days_to_expiry=59)
    await sc.sleep_until(case.at(-58, 10))
    owner = await api.sign_in(case.owner_id)
    recorded = await api.post(f"/cases/{case.case_id}/contacts", headers=owner,
                              json={"channel": "call", "result": "do_not_contact", "note": "客户要求不再联系"})
    assert recorded.status_code == 200, recorded.text
    with Session(sc.engine) as session:
        until = session.get(Customer, case.customer_id).do_not_call_until
    assert until == case.at(-58).date() + timedelta(days=api.settings.do_not_call_days) and \
        api.settings.do_not_call_days >= 183
    refused = await api.post(f"/cases/{case.case_id}/call", headers=owner)
    assert refused.status_code == 409 and "do-not-call" in refused.json()["error"]["message"]


async def test_phone_unreachable_opens_a_find_a_number_task_for_the_owner(api: Api, sc: Scenario):
    case = await sc.start(days_to_expiry=58)
    await sc.sleep_until(case.at(-58, 10))
    owner = await api.sign_in(case.owner_id)
    marked = await api.post(f"/cases/{case.case_id}/phone-unreachable", headers=owner, json={"note": "空号"})
    assert marked.status_code == 200, marked.text
    for _ in range(50):  # the case writes its task when it gets the signal
        await sc.sleep_until(await sc.now() + timedelta(seconds=1))
        tasks = (await api.get("/me/tasks", headers=owner, params={"date": str(case.at(-58).date())})).json()
        kinds = [t["kind"] for t in tasks["items"] if t["case_id"] == str(case.case_id)]
        if "find_number" in kinds:
            break
    assert kinds.count("find_number") == 1


async def test_a_closed_case_no_longer_changes_the_customers_phone(api: Api, sc: Scenario):
    """The phone is corrected (or marked unreachable) through an open case the manager owns: once
    the case is closed, its owner's request is refused with the case's reason and nothing changes."""
    case = await sc.start(days_to_expiry=58)
    await sc.sleep_until(case.at(-58, 10))
    owner = await api.sign_in(case.owner_id)
    renewed = await api.post(f"/cases/{case.case_id}/follow-up", headers=owner,
                             json={"status": "success", "new_policy_no": "PDAA2027CLOSED"})
    assert renewed.status_code == 200 and renewed.json()["outcome"] == "RENEWED", renewed.text
    for method, path, body in [("PUT", "customer-phone", {"phone": "+8613900002222", "note": "新号码"}),
                               ("POST", "phone-unreachable", {"note": "空号"})]:
        refused = await api.request(method, f"/cases/{case.case_id}/{path}", headers=owner, json=body)
        assert refused.status_code == 409, refused.text
        assert refused.json()["error"] == {"status": 409, "code": "rejected", "field": None,
                                           "message": c.closed_reason("RENEWED")}
    with Session(sc.engine) as session:
        customer = session.get(Customer, case.customer_id)
        assert (customer.corrected_phone, customer.phone_unreachable) == (None, False)
