"""The faults of test_no_sms_twice, with SMS going through Alibaba Cloud: it accepted a message but
we never learnt so (a worker killed mid-request, an answer slower than the client timeout,
PostgreSQL down before the record was marked sent). The retry finds the message by our key (its
OutId) and adopts it: the customer gets it once. The case's own first notice goes out through the
module's worker (Twilio); the sends under test go through the official Alibaba Cloud client, to a
local fake of its API holding copies of our texts registered as Alibaba Cloud templates."""

from __future__ import annotations

import multiprocessing
import re
import time
from collections.abc import Iterator
from datetime import date
from decimal import Decimal

import pytest
from sqlmodel import Session
from temporalio.exceptions import ApplicationError

from activities.notifications import Notifications
from models import Customer, SmsTemplate
from renewals.case.contract import SmsRequest
from renewals.case.sms_templates import current
from renewals.case.messages import (
    DEFAULT_INSURER_NAME, LANGUAGES, MESSAGE_KEYS, render_sms, shipped_template, template_values,
)
from renewals.core.notify import REQUEST_WORST_SECONDS, AliyunNotifier, SendError
from renewals.core.settings import Settings
from tests.case.test_no_sms_twice import (
    attempt, attempt_outlived_by_postgres, escalations_to_one_deputy, first_answer_lost_and_retried_last, record,
    retried, service_request, wait_for,
)
from tests.fake_aliyun import FakeAliyunSms
from tests.scenario import Scenario

pytestmark = pytest.mark.asyncio(loop_scope="session")


def registered_copy(text: str) -> str:
    """Our text as it is registered at Alibaba Cloud: without a leading 【insurer】 (its sign name
    goes there), each value a ${name} (filters and loops are ours: the values come formatted)."""
    text = text.strip().removeprefix("【{{ insurer_name }}】")
    text = re.sub(r"\{% for \w+ in (\w+) %\}.*?\{% endfor %\}", r"${\1}", text, flags=re.S)
    return re.sub(r"\{\{ (\w+)(?: \| \w+)? \}\}", r"${\1}", text)


TEMPLATE_CODES = {key: f"SMS_{480001 + n}" for n, key in enumerate(MESSAGE_KEYS)}


@pytest.fixture(scope="module")
def aliyun() -> Iterator[FakeAliyunSms]:
    registered = {code: registered_copy(shipped_template(key, "zh-CN")) for key, code in TEMPLATE_CODES.items()}
    with FakeAliyunSms(registered) as fake:
        yield fake


@pytest.fixture
def aliyun_settings(settings: Settings, aliyun: FakeAliyunSms) -> Settings:
    return settings.model_copy(update={
        "notify_backend": "aliyun", "aliyun_access_key_id": "LTAI5tTestKey0000", "aliyun_access_key_secret": "s" * 30,
        "aliyun_sms_sign_name": DEFAULT_INSURER_NAME["zh-CN"], "aliyun_sms_templates": TEMPLATE_CODES,
        "aliyun_sms_api_base_url": aliyun.base_url})


def notifications(sc: Scenario, settings: Settings, **client) -> Notifications:
    return Notifications(sc.engine, AliyunNotifier(settings, **client), settings)


def _send_once(settings: Settings, request: SmsRequest) -> None:
    """A worker process running one send_sms attempt (killed by the test mid-request)."""
    from renewals.core.db import make_engine

    sending = Notifications(make_engine(settings.database_url), AliyunNotifier(settings), settings)
    attempt().run(sending.send_sms, request)


async def test_a_worker_killed_with_a_send_in_flight_does_not_text_twice(sc: Scenario, aliyun_settings, aliyun):
    case, request = await service_request(sc)
    aliyun.slow_next(45)  # Alibaba Cloud takes the message; the answer never reaches the worker
    worker = multiprocessing.get_context("spawn").Process(target=_send_once, args=(aliyun_settings, request))
    worker.start()
    try:
        wait_for(lambda: len(aliyun.delivered(case.customer_phone)) == 1, timeout=40)  # a spawn is slow
    finally:
        worker.kill()
        worker.join()
    assert record(sc, request).delivery_status == "sending", "the outcome is unknown to us"

    outcome = retried(lambda: attempt().run(notifications(sc, aliyun_settings).send_sms, request))
    assert outcome.status == "sent"
    assert len(aliyun.delivered(case.customer_phone)) == 1, "the retry adopted the message instead of sending it again"
    assert record(sc, request).delivery_status == "sent", "waiting for the carrier's receipt"


async def test_alibaba_cloud_slower_than_the_client_timeout_does_not_text_twice(sc: Scenario, aliyun_settings,
                                                                              aliyun):
    case, request = await service_request(sc)
    aliyun.slow_next(11)  # beyond the client timeout
    started = time.monotonic()
    with pytest.raises(SendError) as timed_out:
        attempt().run(notifications(sc, aliyun_settings).send_sms, request)
    assert timed_out.value.retryable and time.monotonic() - started < REQUEST_WORST_SECONDS + 1
    outcome = attempt().run(notifications(sc, aliyun_settings).send_sms, request)  # Temporal's retry
    assert outcome.status == "sent"
    assert len(aliyun.delivered(case.customer_phone)) == 1 and aliyun.duplicates() == 0


async def test_postgres_down_after_alibaba_cloud_accepted_does_not_text_twice(sc: Scenario, aliyun_settings, aliyun,
                                                                             pg):
    case, request = await service_request(sc)
    sending = notifications(sc, aliyun_settings)
    aliyun.slow_next(3)  # long enough to stop PostgreSQL before the answer arrives
    attempt_outlived_by_postgres(pg, sending, request, lambda: len(aliyun.delivered(case.customer_phone)) == 1)
    assert record(sc, request).delivery_status == "sending"
    outcome = attempt().run(sending.send_sms, request)
    assert outcome.status == "sent"
    assert len(aliyun.delivered(case.customer_phone)) == 1 and aliyun.duplicates() == 0


async def test_a_staff_phone_texted_often_since_a_lost_answer_is_still_texted_once(sc: Scenario, aliyun_settings,
                                                                                  aliyun):
    """More escalations to one deputy than a page of QuerySendDetails holds: the retry still finds its own."""
    deputy_phone, requests = escalations_to_one_deputy(sc, 60)
    sending = notifications(sc, aliyun_settings, timeout=1)
    aliyun.slow_next(3)  # Alibaba Cloud takes the first escalation; its answer comes after the client gave up
    assert first_answer_lost_and_retried_last(sending, requests).status == "sent"
    delivered = aliyun.delivered(deputy_phone)
    assert len(delivered) == 60, "each escalation exactly once"
    assert [m["out_id"] for m in delivered] == [r.idempotency_key for r in requests]


async def test_the_text_alibaba_cloud_sends_is_the_one_recorded(sc: Scenario, aliyun_settings, aliyun):
    """Its registered copy of our text, filled with our values (dates, amounts and lists formatted as
    our text shows them), reads as the text the case history shows; and a send that never reached
    Alibaba Cloud is sent on retry."""
    case, request = await service_request(sc)
    aliyun.fail_next(503)
    with pytest.raises(SendError):
        attempt().run(notifications(sc, aliyun_settings).send_sms, request)
    attempt().run(notifications(sc, aliyun_settings).send_sms, request)
    [sent] = aliyun.delivered(case.customer_phone)
    assert sent["body"] == record(sc, request).body
    assert sent["params"].keys() == {"customer_name", "plate", "expiry_date", "manager_name", "manager_phone",
                                     "opt_out_reply"}, "the values the text shows, no more"
    assert record(sc, request).provider_id == sent["biz_id"]


@pytest.mark.parametrize("language", LANGUAGES)
async def test_every_registered_copy_filled_with_our_values_reads_as_our_text(language):
    context = {"customer_name": "钱多多", "policy_no": "PDAA202600000001", "plate": "沪A1***5",
               "expiry_date": date(2027, 2, 6), "days_left": 7, "manager_name": "李四", "manager_phone": "13909425527",
               "deputy_name": "王五", "premium": Decimal("4386.50"), "quote_valid_until": date(2027, 1, 20),
               "stage_label": "最终联系", "loss_reasons": ["价格", "服务", "其他"],
               "case_url": "https://renewals.example.com/app/cases/5b0c6e2a-9a59-4f1e-8f0e-7d1c1a2b3c4d"}
    for key in MESSAGE_KEYS:
        ours = shipped_template(key, language)
        values = template_values(language, ours, context)
        filled = re.sub(r"\$\{(\w+)\}", lambda m: values[m[1]], registered_copy(ours))
        # Alibaba Cloud puts the sign name in 【】 before the text: where ours has the insurer's name.
        sign = f"【{DEFAULT_INSURER_NAME[language]}】"
        assert filled == render_sms(key, language, context, ours).body.removeprefix(sign), key


async def test_a_message_alibaba_cloud_refuses_for_good_is_recorded_failed(sc: Scenario, aliyun_settings, aliyun):
    case, request = await service_request(sc)
    aliyun.refuse_next("isv.MOBILE_NUMBER_ILLEGAL")
    outcome = attempt().run(notifications(sc, aliyun_settings).send_sms, request)
    assert outcome.status == "failed" and record(sc, request).delivery_status == "failed"
    assert aliyun.delivered(case.customer_phone) == []


async def test_a_retry_that_must_send_again_reads_the_values_again(sc: Scenario, aliyun_settings, aliyun):
    """Alibaba Cloud needs the values, which are not recorded: a retry that finds nothing sent reads
    them again, and one that cannot (the customer's language has no template now) fails for good."""
    case, request = await service_request(sc)
    aliyun.fail_next(503)
    with pytest.raises(SendError):
        attempt().run(notifications(sc, aliyun_settings).send_sms, request)
    with Session(sc.engine) as session:
        session.get(Customer, case.customer_id).language = "fr-FR"
        session.commit()
    with pytest.raises(ApplicationError) as unrenderable:
        attempt().run(notifications(sc, aliyun_settings).send_sms, request)
    assert unrenderable.value.non_retryable and aliyun.delivered(case.customer_phone) == []


async def test_a_retry_sends_the_template_version_its_text_was_recorded_with(sc: Scenario, aliyun_settings, aliyun):
    """An admin edits the template between the first attempt and its retry: the customer gets the
    text the case history shows, not the new one."""
    case, request = await service_request(sc)
    aliyun.fail_next(503)
    with pytest.raises(SendError):
        attempt().run(notifications(sc, aliyun_settings).send_sms, request)
    with Session(sc.engine, expire_on_commit=False) as session:
        now_shown = current(session, "service_request", "zh-CN")
        edited = SmsTemplate(key="service_request", language="zh-CN", version=now_shown.version + 1,
                             body=now_shown.body.replace("{{ plate }}", "您的车辆"))
        session.add(edited)
        session.commit()
    try:
        attempt().run(notifications(sc, aliyun_settings).send_sms, request)
    finally:
        with Session(sc.engine) as session:
            session.delete(session.get(SmsTemplate, edited.id))
            session.commit()
    [sent] = aliyun.delivered(case.customer_phone)
    assert "plate" in sent["params"] and sent["body"] == record(sc, request).body
