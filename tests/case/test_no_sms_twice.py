"""Faults around an SMS send whose outcome is unknown: Twilio accepted it but we never learnt so
(a worker killed mid-request, an answer slower than the client timeout, PostgreSQL down before
the record was marked sent). The retry looks the message up at Twilio and adopts it: the
customer gets it once."""

from __future__ import annotations

import multiprocessing
import threading
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select
from temporalio.testing import ActivityEnvironment

from activities.notifications import Notifications
from renewals.case.contract import SmsOutcome, SmsRequest
from models import ContactRecord, Customer, RenewalCase, Role
from renewals.core.notify import HTTP_TIMEOUT_SECONDS, REQUEST_WORST_SECONDS, SendError, TwilioNotifier
from renewals.dev.seed import create_policy
from renewals.core.settings import Settings
from renewals.org.service import add_staff
from tests.scenario import TZ, Case, Scenario, unique_phone
from workflows.renewal import ACTIVITY_TIMEOUT

pytestmark = pytest.mark.asyncio(loop_scope="session")


def attempt() -> ActivityEnvironment:
    """An activity attempt with the workflow's own timeout for send_sms."""
    env = ActivityEnvironment()
    env.info = replace(env.info, start_to_close_timeout=ACTIVITY_TIMEOUT)
    return env


async def service_request(sc: Scenario) -> tuple[Case, SmsRequest]:
    case = await sc.start(days_to_expiry=62)
    await sc.sleep_until(case.at(-60, 10))  # the workflow has sent the first notice
    request = SmsRequest(case_id=case.case_id, template="service_request", recipient="customer",
                         idempotency_key=f"{case.case_id}:FIRST_CONTACT:service_request:-60",
                         at=await sc.now(), stage="FIRST_CONTACT", day=-60)
    return case, request


def escalations_to_one_deputy(sc: Scenario, cases: int) -> tuple[str, list[SmsRequest]]:
    """`cases` escalated cases sharing one deputy, and the escalation SMS of each (rows only: the
    test runs the sends itself, in the order it needs)."""
    now = datetime.now(UTC)
    with Session(sc.engine, expire_on_commit=False) as session:
        owner, deputy = (add_staff(session, username=f"{role}-{uuid.uuid4().hex[:8]}", name=name, role=role,
                                   phone=unique_phone(), sub_branch_code=sc.sub_branch_code)
                         for role, name in ((Role.sales, "李四"), (Role.deputy, "王五")))
        requests = []
        for _ in range(cases):
            policy = create_policy(
                session, policy_no=f"PDAA{uuid.uuid4().int % 10**12:012d}", sub_branch_id=sc.sub_branch_id,
                owner_id=owner.id, expires_on=now.date() + timedelta(days=10), customer_name="钱多多",
                phone=unique_phone(), id_number="310101199001011234", plate="沪A12345").policy
            case = RenewalCase(id=uuid.uuid4(), workflow_id=f"renewal-{policy.policy_no}", policy_id=policy.id,
                               policy_no=policy.policy_no, expiry_date=policy.expires_on, timezone=TZ,
                               sub_branch_id=sc.sub_branch_id, stage="DEPUTY_SUPERVISION", owner_id=owner.id,
                               deputy_id=deputy.id, escalated=True)
            session.add(case)
            requests.append(SmsRequest(case_id=case.id, template="deputy_escalation", recipient="deputy",
                                       idempotency_key=f"{case.id}:DEPUTY_SUPERVISION:deputy_escalation:-10",
                                       at=now, stage="DEPUTY_SUPERVISION", day=-10))
        session.commit()
    return deputy.phone, requests


def record(sc: Scenario, request: SmsRequest) -> ContactRecord:
    with Session(sc.engine) as session:
        return session.exec(select(ContactRecord).where(ContactRecord.idempotency_key == request.idempotency_key)).one()


def wait_for(check, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def retried(run, timeout: float = 30.0):
    """Run an activity attempt the way Temporal would: again after a retryable failure (a killed
    worker's connection, and the lock it held, can take a moment to go away on a busy machine)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return run()
        except SendError as failed:
            if not failed.retryable or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def first_answer_lost_and_retried_last(notifications: Notifications, requests: list[SmsRequest]) -> SmsOutcome:
    """The first send's answer is lost (the provider answers it too late), the others go out, then
    Temporal retries the first: its outcome."""
    with pytest.raises(SendError):
        attempt().run(notifications.send_sms, requests[0])
    for request in requests[1:]:
        attempt().run(notifications.send_sms, request)
    return attempt().run(notifications.send_sms, requests[0])


def attempt_outlived_by_postgres(pg, notifications: Notifications, request: SmsRequest, accepted) -> None:
    """Run an attempt whose answer the provider delays, stop PostgreSQL once `accepted()` (the
    provider has the message) and see the attempt fail to record it; PostgreSQL is back after."""
    failures: list[BaseException] = []

    def first_attempt() -> None:
        try:
            attempt().run(notifications.send_sms, request)
        except BaseException as exc:  # noqa: BLE001 — the test inspects it
            failures.append(exc)

    sending = threading.Thread(target=first_attempt)
    sending.start()
    wait_for(accepted)
    pg.halt()
    try:
        sending.join(30)
        assert failures, "the attempt could not record the send"
    finally:
        pg.resume()


def _send_once(settings: Settings, request: SmsRequest) -> None:
    """A worker process running one send_sms attempt (killed by the test mid-request)."""
    from renewals.core.db import make_engine

    notifications = Notifications(make_engine(settings.database_url), TwilioNotifier(settings), settings)
    attempt().run(notifications.send_sms, request)


async def test_a_worker_killed_with_a_send_in_flight_does_not_text_twice(sc: Scenario, settings):
    case, request = await service_request(sc)
    sc.twilio.slow_next(15)  # Twilio takes the message; the answer never reaches the worker
    worker = multiprocessing.get_context("spawn").Process(target=_send_once, args=(settings, request))
    worker.start()
    try:
        wait_for(lambda: len(sc.sms_to(case.customer_phone)) == 2, timeout=20)
    finally:
        worker.kill()
        worker.join()
    assert record(sc, request).delivery_status == "sending", "the outcome is unknown to us"

    notifications = Notifications(sc.engine, TwilioNotifier(settings), settings)
    outcome = retried(lambda: attempt().run(notifications.send_sms, request))
    delivered = sc.twilio.delivered(case.customer_phone)
    assert len(delivered) == 2, "the retry adopted the message instead of sending it again"
    assert outcome.status == "sent"
    assert (record(sc, request).provider_id, record(sc, request).delivery_status) == (delivered[-1]["sid"], "queued")


async def test_twilio_slower_than_the_client_timeout_does_not_text_twice(sc: Scenario, settings):
    case, request = await service_request(sc)
    notifications = Notifications(sc.engine, TwilioNotifier(settings), settings)
    sc.twilio.slow_next(11)  # beyond the client timeout (it was 10 s, it is 5 s)
    started = time.monotonic()
    with pytest.raises(SendError) as timed_out:
        attempt().run(notifications.send_sms, request)
    assert timed_out.value.retryable and time.monotonic() - started < REQUEST_WORST_SECONDS + 1
    outcome = attempt().run(notifications.send_sms, request)  # Temporal's retry
    assert outcome.status == "sent"
    assert len(sc.sms_to(case.customer_phone)) == 2, "first notice and one service request"
    assert sc.twilio.duplicates() == 0


async def test_a_staff_phone_texted_often_since_a_lost_answer_is_still_texted_once(sc: Scenario, settings):
    """A deputy gets one escalation per case: by the time the retry of a send whose answer was lost
    runs, many newer messages may have gone to the same phone. The retry still finds its own."""
    deputy_phone, requests = escalations_to_one_deputy(sc, 60)
    notifications = Notifications(sc.engine, TwilioNotifier(settings, timeout=1), settings)
    sc.twilio.slow_next(3)  # Twilio takes the first escalation; its answer comes after the client gave up
    assert first_answer_lost_and_retried_last(notifications, requests).status == "sent"
    delivered = sc.twilio.delivered(deputy_phone)
    assert len(delivered) == 60, "each escalation exactly once"
    assert len({m["body"] for m in delivered}) == 60
    assert record(sc, requests[0]).provider_id == delivered[0]["sid"], "the retry adopted the first message"


async def test_postgres_down_after_twilio_accepted_does_not_text_twice(sc: Scenario, settings, pg):
    case, request = await service_request(sc)
    notifications = Notifications(sc.engine, TwilioNotifier(settings), settings)
    sc.twilio.slow_next(3)  # long enough to stop PostgreSQL before the answer arrives
    attempt_outlived_by_postgres(pg, notifications, request, lambda: len(sc.sms_to(case.customer_phone)) == 2)
    assert record(sc, request).delivery_status == "sending"
    outcome = attempt().run(notifications.send_sms, request)
    assert outcome.status == "sent"
    assert len(sc.sms_to(case.customer_phone)) == 2 and sc.twilio.duplicates() == 0


async def test_a_failed_attempt_that_never_reached_twilio_is_sent_on_retry(sc: Scenario, settings):
    case, request = await service_request(sc)
    notifications = Notifications(sc.engine, TwilioNotifier(settings), settings)
    sc.twilio.fail_next(503)
    with pytest.raises(SendError):
        attempt().run(notifications.send_sms, request)
    attempt().run(notifications.send_sms, request)
    bodies = sc.sms_to(case.customer_phone)
    assert len(bodies) == 2 and bodies[1] == record(sc, request).body


async def test_a_retry_of_a_message_already_sent_does_not_render_it_again(sc: Scenario, settings):
    """A retry looks its key up before anything else: a message whose text could no longer be
    rendered (here the customer's language was set to one without templates) is still adopted
    with the first attempt's text, and once sent, the retry only reads its record."""
    case, request = await service_request(sc)
    notifications = Notifications(sc.engine, TwilioNotifier(settings), settings)
    sc.twilio.slow_next(11)  # Twilio takes the message; the answer comes after the client gave up
    with pytest.raises(SendError):
        attempt().run(notifications.send_sms, request)
    with Session(sc.engine) as session:
        session.get(Customer, case.customer_id).language = "fr-FR"
        session.commit()
    for retry in range(2):  # the attempt whose outcome was unknown, then one after the send was recorded
        outcome = attempt().run(notifications.send_sms, request)
        assert outcome.status == "sent", retry
    bodies = sc.sms_to(case.customer_phone)
    assert len(bodies) == 2 and bodies[1] == record(sc, request).body and sc.twilio.duplicates() == 0
    assert record(sc, request).delivery_status == "queued"


async def test_two_attempts_at_once_text_once(sc: Scenario, settings, monkeypatch):
    """An attempt Temporal timed out can still be running in its thread when the retry starts: the
    retry waits for its turn instead of sending alongside it."""
    case, request = await service_request(sc)
    notifications = Notifications(sc.engine, TwilioNotifier(settings), settings)
    about_to_send, retry_done = threading.Event(), threading.Event()
    check_time_left = Notifications._check_time_left

    def paused_before_sending(started: float) -> None:
        if threading.current_thread().name == "timed-out attempt":
            about_to_send.set()
            retry_done.wait(30)
        check_time_left(started)

    monkeypatch.setattr(Notifications, "_check_time_left", staticmethod(paused_before_sending))
    first = threading.Thread(target=attempt().run, args=(notifications.send_sms, request), name="timed-out attempt")
    first.start()
    try:
        assert about_to_send.wait(10)
        try:  # the retry, while the first attempt is about to send
            attempt().run(notifications.send_sms, request)
        except SendError as busy:
            assert busy.retryable, "Temporal retries it later"
    finally:
        retry_done.set()
        first.join(30)
    outcome = attempt().run(notifications.send_sms, request)  # Temporal's next retry
    assert outcome.status == "sent"
    assert len(sc.sms_to(case.customer_phone)) == 2, "first notice and one service request"
    assert sc.twilio.duplicates() == 0


async def test_one_send_attempt_fits_the_activity_timeout():
    # A lookup of one page and a send, each at most connect + read timeouts, end before Temporal
    # would time the attempt out and start a retry that races the abandoned request.
    assert 2 * REQUEST_WORST_SECONDS < ACTIVITY_TIMEOUT.total_seconds()
    assert REQUEST_WORST_SECONDS == 2 * HTTP_TIMEOUT_SECONDS
