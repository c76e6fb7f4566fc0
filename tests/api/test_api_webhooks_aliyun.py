"""Alibaba Cloud's pushes (HTTP batch push: JSON arrays): only those carrying our webhook token write
anything; delivery receipts land on the contact records, a failed one tells the case once; a reply
with an opt-out word opts the customer out of every open case, once however often it comes. And
with SMS kept in the country, click-to-call is refused, saying why."""

from __future__ import annotations

import pytest
from sqlalchemy import update
from sqlmodel import Session

from api.main import create_app
from models import ContactRecord
from renewals.core.notify import AliyunNotifier
from renewals.core.settings import Settings
from tests.api.conftest import Api
from tests.api.test_api_surface import client_of
from tests.api.test_api_webhooks import inbound_replies, opted_out, signals, sms_record, snapshot
from tests.scenario import Scenario

pytestmark = pytest.mark.asyncio(loop_scope="session")

TOKEN = "c0b1e4f5a7d2938e6f1a0b9c8d7e6f50a1b2c3d4e5f60718"
REPORT, UP = "/webhooks/aliyun/sms-report", "/webhooks/aliyun/sms-up"
RECEIVED = {"code": 0, "msg": "接收成功"}


@pytest.fixture(scope="module")
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"aliyun_webhook_token": TOKEN})


async def push(api: Api, path: str, items: list[dict], token: str | None = TOKEN):
    return await api.client.post(path, params={} if token is None else {"token": token}, json=items)


def receipt(biz_id: str, out_id: str | None, success: bool) -> dict:
    return {"phone_number": "13912345678", "send_time": "2026-01-05 10:00:00", "report_time": "2026-01-05 10:00:05",
            "success": success, "err_code": "DELIVERED" if success else "MK:0001", "err_msg": "", "sms_size": "1",
            "biz_id": biz_id, "out_id": out_id}


def reply(phone: str, content: str, sequence_id: int) -> dict:
    return {"phone_number": phone.removeprefix("+86"), "content": content, "send_time": "2026-01-05 10:03:00",
            "dest_code": "1234", "sequence_id": sequence_id}


async def test_pushes_without_the_token_write_nothing(api: Api, sc: Scenario):
    case = await sc.start(days_to_expiry=62)
    await sc.sleep_until(case.at(-60, 10))
    notice = sms_record(sc, case, "first_notice")
    before = snapshot(sc, case)
    for path, items in ((UP, [reply(case.customer_phone, "退订", 1)]),
                        (REPORT, [receipt(notice.provider_id, notice.idempotency_key, False)])):
        for token in (None, "", TOKEN[:-1], TOKEN + "0"):
            response = await push(api, path, items, token)
            assert response.status_code == 403 and response.json()["error"]["code"] == "bad_token"
    assert snapshot(sc, case) == before, "a push without the token changed the database"
    assert await signals(case, "opted_out") == 0 and await signals(case, "contact_failed") == 0


async def test_receipts_land_on_the_contact_record_and_a_failure_tells_the_case_once(api: Api, sc: Scenario):
    case = await sc.start(days_to_expiry=62)
    await sc.sleep_until(case.at(-60, 10))
    notice = sms_record(sc, case, "first_notice")
    with Session(sc.engine) as session:  # as a retry adopts a message: found by our key, without its BizId
        session.execute(update(ContactRecord).where(ContactRecord.id == notice.id)
                        .values(provider_id=None, delivery_status="sent"))
        session.commit()
    biz_id = "900619746936498440^0"

    delivered = await push(api, REPORT, [receipt(biz_id, notice.idempotency_key, True)])
    assert delivered.status_code == 200 and delivered.json() == RECEIVED
    record = sms_record(sc, case, "first_notice")
    assert (record.provider_id, record.delivery_status) == (biz_id, "delivered"), "its receipt brought its id"
    assert await signals(case, "contact_failed") == 0

    for _ in range(3):  # Alibaba Cloud pushes again until it hears back
        failed = await push(api, REPORT, [receipt(biz_id, notice.idempotency_key, False)])
        assert failed.status_code == 200 and failed.json() == RECEIVED
    assert sms_record(sc, case, "first_notice").delivery_status == "undelivered"
    assert await signals(case, "contact_failed") == 1
    assert (await case.state()).contact_failures == 1, "the case knows the customer was not reached"


async def test_a_reply_with_an_opt_out_word_opts_out_once_and_a_later_one_opts_back_in(api: Api, sc: Scenario):
    case = await sc.start(days_to_expiry=62)
    await sc.sleep_until(case.at(-60, 10))
    for _ in range(2):  # the same message pushed again
        response = await push(api, UP, [reply(case.customer_phone, "退订", 4401)])
        assert response.status_code == 200 and response.json() == RECEIVED
    assert opted_out(sc, case) and (await case.state()).sms_opted_out is True
    assert inbound_replies(sc, case) == ["退订"] and await signals(case, "opted_out") == 1

    back = await push(api, UP, [reply(case.customer_phone, "订阅", 4402), reply("13800000000", "T", 4403)])
    assert back.status_code == 200
    assert not opted_out(sc, case) and (await case.state()).sms_opted_out is False


async def test_a_push_that_is_not_alibaba_clouds_is_refused_whole(api: Api, sc: Scenario):
    case = await sc.start(days_to_expiry=62)
    await sc.sleep_until(case.at(-60, 10))
    bad = await push(api, UP, [reply(case.customer_phone, "退订", 4501), {"phone_number": "javascript:x",
                                                                         "content": "T", "sequence_id": 1}])
    assert bad.status_code == 422 and bad.json()["error"]["code"]
    assert not opted_out(sc, case)


async def test_click_to_call_is_refused_when_sms_go_through_alibaba_cloud(api: Api, sc: Scenario, time_env):
    case = await sc.start(days_to_expiry=62)
    await sc.sleep_until(case.at(-58, 10))
    settings = api.settings.model_copy(update={
        "notify_backend": "aliyun", "aliyun_access_key_id": "LTAI5tTestKey0000", "aliyun_access_key_secret": "s" * 30,
        "aliyun_sms_sign_name": "中国人保财险", "aliyun_sms_api_base_url": "http://127.0.0.1:9"})
    app = create_app(settings, engine=api.engine, temporal=time_env.client, clock=time_env.get_current_time,
                     notifier=AliyunNotifier(settings))
    calls_before = len(sc.twilio.calls())
    async with client_of(app) as client:
        refused = await client.post(f"/cases/{case.case_id}/call", headers=await api.sign_in(case.owner_id))
    assert refused.status_code == 502 and refused.json()["error"]["code"] == "call_failed"
    assert "calls are placed through Twilio only" in refused.json()["error"]["message"]
    assert "call from your own phone" in refused.json()["error"]["message"]
    assert len(sc.twilio.calls()) == calls_before, "nothing was dialled"
