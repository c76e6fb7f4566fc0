"""No personal data in logs: the main flow of a case through the API, the worker and Twilio's
callbacks (SMS out, a call, delivery and recording callbacks, a customer's reply, notes, a
corrected phone, refused input, renewed elsewhere), with the console backend the demo runs on,
leaves no customer name, full phone, id number or plate in anything the servers logged."""

from __future__ import annotations

import logging

import pytest

from renewals.core.logs import quiet_libraries
from renewals.core.settings import Settings
from tests.api.conftest import Api
from tests.api.test_api_privacy import spellings
from tests.scenario import Scenario, eventually, unique_phone

pytestmark = pytest.mark.asyncio(loop_scope="session")
ID_NUMBER = "310101199001011234"  # every scenario customer's


@pytest.fixture(scope="module")
def settings(settings: Settings) -> Settings:
    """As `renewals dev --demo` runs: the console backend logs what it would send."""
    return settings.model_copy(update={"notify_backend": "console"})


async def test_the_main_flow_logs_no_personal_data(api: Api, sc: Scenario, caplog):
    quiet_libraries()  # as the servers configure logging
    caplog.set_level(logging.DEBUG, logger="api")
    caplog.set_level(logging.DEBUG, logger="renewals")
    caplog.set_level(logging.DEBUG, logger="activities")
    caplog.set_level(logging.INFO)
    case = await sc.start(days_to_expiry=62, customer_name="欧阳娜娜")
    await sc.sleep_until(case.at(-60, 10))  # the first notice (name, plate, manager's phone) goes out
    await eventually(lambda: [r for r in sc.sms_records(case) if r.template == "first_notice"] or None)
    owner = await api.sign_in(case.owner_id)
    on = f"/cases/{case.case_id}"
    national = case.customer_phone.removeprefix("+86")
    corrected = unique_phone()

    call = (await api.post(f"{on}/call", headers=owner)).json()
    [notice] = [r for r in sc.sms_records(case) if r.template == "first_notice"]
    await api.webhook("/webhooks/twilio/sms-status", {"MessageSid": notice.provider_id, "MessageStatus": "delivered"})
    await api.webhook("/webhooks/twilio/call-status", {"CallSid": call["call_sid"], "CallStatus": "completed",
                                                       "CallDuration": "95"})
    await api.webhook("/webhooks/twilio/recording", {"CallSid": call["call_sid"], "RecordingDuration": "80",
                                                     "RecordingUrl": "https://api.twilio.com/2010-04-01/R/RE1"})
    await api.webhook("/webhooks/twilio/inbound-sms", {"MessageSid": "SMlog1", "From": case.customer_phone,
                                                       "Body": f"我是欧阳娜娜,车牌{case.plate},请打{national}"})
    note = f"欧阳娜娜说换号 {national[:3]} {national[3:7]} {national[7:]},身份证{ID_NUMBER},车{case.plate}"
    assert (await api.post(f"{on}/contacts", headers=owner,
                           json={"channel": "call", "result": "reached", "note": note})).status_code == 200
    assert (await api.put(f"{on}/customer-phone", headers=owner, json={"phone": corrected})).status_code == 200
    assert (await api.put(f"{on}/customer-phone", headers=owner, json={"phone": f"{national}\u0000"})
            ).status_code == 422
    assert (await api.post(f"{on}/sms", headers=owner, json={"template": "service_request"})).status_code == 200
    assert (await api.get(f"/customers/{case.customer_id}", headers=owner)).status_code == 200
    assert (await api.post(f"{on}/renewed-elsewhere", headers=owner,
                           json={"insurer": "ping_an", "note": f"平安产险 欧阳娜娜 {case.plate}"})).status_code == 200

    logged = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records
                       if not r.name.startswith("httpx"))  # (the test's own HTTP client)
    assert f"first_notice case {case.case_id}" in logged, "the scan reads what the servers logged"
    secrets = ["欧阳娜娜", case.plate, ID_NUMBER, *spellings(case.customer_phone), *spellings(corrected),
               *spellings(case.owner_phone)]
    for secret in secrets:
        assert secret not in logged, f"{secret!r} in the logs"
