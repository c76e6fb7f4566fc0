import logging
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from renewals.dev.servers import free_port
from renewals.core.notify import (
    LOOKUP_PAGE_SIZE,
    ConsoleNotifier,
    SendError,
    TwilioNotifier,
    build_notifier,
    call_twiml,
)
from renewals.core.settings import Settings
from tests.fake_twilio import FakeTwilio

ACCOUNT_SID = "AC" + "1" * 32
CUSTOMER = "+8613812345678"


def twilio_settings(base_url: str, **overrides) -> Settings:
    values = dict(
        notify_backend="twilio",
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token="test-token",
        twilio_from="+15005550006",
        twilio_messaging_service_sid=None,
        twilio_api_base_url=base_url,
    )
    return Settings(_env_file=None, **(values | overrides))


def test_sms_reaches_twilio_with_to_from_and_body(fake_twilio: FakeTwilio):
    notifier = build_notifier(twilio_settings(fake_twilio.base_url))
    assert isinstance(notifier, TwilioNotifier)
    sent = notifier.send_sms(CUSTOMER, "【中国人保财险】您的保单即将到期", status_callback="https://example.test/sms")
    assert sent.provider_id.startswith("SM") and sent.status == "queued"
    [message] = fake_twilio.messages()
    assert message == {
        "To": CUSTOMER,
        "From": "+15005550006",
        "Body": "【中国人保财险】您的保单即将到期",
        "StatusCallback": "https://example.test/sms",
    }
    [request] = fake_twilio.requests
    assert request.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert request.account_sid == ACCOUNT_SID


def test_messaging_service_is_used_when_set(fake_twilio: FakeTwilio):
    notifier = TwilioNotifier(twilio_settings(fake_twilio.base_url, twilio_messaging_service_sid="MG" + "2" * 32))
    sent = notifier.send_sms(CUSTOMER, "hello")
    [message] = fake_twilio.messages()
    assert message["MessagingServiceSid"] == "MG" + "2" * 32 and "From" not in message
    assert sent.status == "accepted"  # what Twilio answers for a messaging service


def test_server_error_is_retryable(fake_twilio: FakeTwilio):
    notifier = TwilioNotifier(twilio_settings(fake_twilio.base_url))
    fake_twilio.fail_next(500)
    with pytest.raises(SendError) as error:
        notifier.send_sms(CUSTOMER, "hello")
    assert error.value.retryable and error.value.status == 500
    assert notifier.send_sms(CUSTOMER, "hello").status == "queued"  # only the next one failed


def test_too_many_requests_is_retryable(fake_twilio: FakeTwilio):
    fake_twilio.fail_next(429, 20429)
    with pytest.raises(SendError) as error:
        TwilioNotifier(twilio_settings(fake_twilio.base_url)).send_sms(CUSTOMER, "hello")
    assert error.value.retryable and error.value.code == 20429


def test_invalid_number_is_not_retryable(fake_twilio: FakeTwilio):
    fake_twilio.fail_next(400, 21211)
    with pytest.raises(SendError) as error:
        TwilioNotifier(twilio_settings(fake_twilio.base_url)).send_sms("+86123", "hello")
    assert not error.value.retryable
    assert error.value.code == 21211 and error.value.status == 400
    assert "\033[" not in str(error.value)


def test_unreachable_twilio_is_retryable():
    notifier = TwilioNotifier(twilio_settings(f"http://127.0.0.1:{free_port()}"))
    with pytest.raises(SendError) as error:
        notifier.send_sms(CUSTOMER, "hello")
    assert error.value.retryable and error.value.status is None


def test_call_is_placed_with_recording_twiml(fake_twilio: FakeTwilio):
    notifier = TwilioNotifier(twilio_settings(fake_twilio.base_url))
    twiml = call_twiml(
        "本次通话将被录音",
        CUSTOMER,
        caller_id="+15005550006",
        recording_callback="https://example.test/recording",
    )
    placed = notifier.place_call("+8613900001111", twiml, status_callback="https://example.test/call")
    assert placed.provider_id.startswith("CA") and placed.status == "queued"
    [call] = fake_twilio.calls()
    assert call["To"] == "+8613900001111" and call["From"] == "+15005550006"
    assert call["StatusCallback"] == "https://example.test/call"
    assert "本次通话将被录音" in call["Twiml"]
    assert 'record="record-from-answer-dual"' in call["Twiml"]
    assert f"<Number>{CUSTOMER}</Number>" in call["Twiml"]
    assert call["Twiml"].index("<Say") < call["Twiml"].index("<Dial")
    assert 'recordingStatusCallback="https://example.test/recording"' in call["Twiml"]


def test_console_notifier_masks_the_number(caplog):
    notifier = build_notifier(Settings(_env_file=None, notify_backend="console"))
    assert isinstance(notifier, ConsoleNotifier)
    with caplog.at_level(logging.INFO, logger="renewals.core.notify"):
        sent = notifier.send_sms(CUSTOMER, "您的保单即将到期")
        placed = notifier.place_call(CUSTOMER, call_twiml("录音提示", "13900001111", caller_id="+15005550006", recording_callback=None))
    assert sent.provider_id.startswith("SM") and len(sent.provider_id) == 34
    assert placed.provider_id.startswith("CA")
    assert "138****5678" in caplog.text and "您的保单即将到期" not in caplog.text, "never the body"
    assert "13812345678" not in caplog.text and "13900001111" not in caplog.text
    assert [r.kind for r in notifier.sent] == ["sms", "call"]


def test_console_keeps_only_the_last_n():
    notifier = ConsoleNotifier(keep=2)
    for i in range(3):
        notifier.send_sms(CUSTOMER, f"m{i}")
    assert [r.content for r in notifier.sent] == ["m1", "m2"]


def test_fake_twilio_reset_and_unknown_path(fake_twilio: FakeTwilio):
    import requests

    response = requests.post(f"{fake_twilio.base_url}/2010-04-01/Nope.json", auth=(ACCOUNT_SID, "x"), timeout=5)
    assert response.status_code == 404 and response.json()["code"] == 20404
    fake_twilio.fail_next(503, times=2)
    fake_twilio.reset()
    assert fake_twilio.requests == []
    TwilioNotifier(twilio_settings(fake_twilio.base_url)).send_sms(CUSTOMER, "hello")
    assert len(fake_twilio.messages()) == 1


def test_find_sms_reads_the_messages_list_with_twilios_filters(fake_twilio: FakeTwilio):
    from datetime import date, timedelta

    notifier = TwilioNotifier(twilio_settings(fake_twilio.base_url))
    first = notifier.send_sms(CUSTOMER, "您的保单即将到期")
    notifier.send_sms("+8613900009999", "您的保单即将到期")  # someone else
    notifier.send_sms(CUSTOMER, "另一条")
    today = date.today()

    found = notifier.find_sms(CUSTOMER, "您的保单即将到期", sent_since=today - timedelta(days=1))
    assert found is not None and found.provider_id == first.provider_id
    [listing] = [r for r in fake_twilio.requests if r.method == "GET"]
    assert listing.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert listing.params["To"] == CUSTOMER and listing.params["From"] == "+15005550006"
    assert not any(name.startswith("DateSent") for name in listing.params), "a queued message has no DateSent"
    # A message already owned by another record, a later day, another body: nothing to adopt.
    assert notifier.find_sms(CUSTOMER, "您的保单即将到期", sent_since=today, exclude={first.provider_id}) is None
    assert notifier.find_sms(CUSTOMER, "您的保单即将到期", sent_since=today + timedelta(days=1)) is None
    assert notifier.find_sms(CUSTOMER, "没有发过", sent_since=today) is None


def test_find_sms_adopts_a_message_twilio_accepted_but_has_not_sent_yet(fake_twilio: FakeTwilio):
    """Behind a rate limit a message stays queued, without DateSent: a retry must still find it."""
    from datetime import date

    notifier = TwilioNotifier(twilio_settings(fake_twilio.base_url))
    fake_twilio.holds_messages = True
    queued = notifier.send_sms(CUSTOMER, "您的保单即将到期")
    assert fake_twilio.resources[queued.provider_id]["date_sent"] is None
    found = notifier.find_sms(CUSTOMER, "您的保单即将到期", sent_since=date.today())
    assert found is not None and (found.provider_id, found.status) == (queued.provider_id, "queued")


def test_find_sms_reads_every_page_since_the_attempts_day_and_no_further(fake_twilio: FakeTwilio):
    """A staff phone gets one message per case: the message a retry looks for can be pages deep.
    The lookup follows the pages down to the first message sent before the attempt's day."""
    notifier = TwilioNotifier(twilio_settings(fake_twilio.base_url))
    two_days_ago = format_datetime(datetime.now(UTC) - timedelta(days=2))
    for i in range(2 * LOOKUP_PAGE_SIZE):
        earlier = notifier.send_sms(CUSTOMER, f"前天的第{i}条")
        fake_twilio.resources[earlier.provider_id] |= {"date_created": two_days_ago, "date_sent": two_days_ago}
    today = datetime.now(UTC).date()
    wanted = notifier.send_sms(CUSTOMER, "要找的这条")
    for i in range(2 * LOOKUP_PAGE_SIZE + 10):
        notifier.send_sms(CUSTOMER, f"今天的第{i}条")

    def pages_read(body: str):
        before = len(fake_twilio.requests)
        found = notifier.find_sms(CUSTOMER, body, sent_since=today)
        return found, sum(r.method == "GET" for r in fake_twilio.requests[before:])

    found, pages = pages_read("要找的这条")
    assert found is not None and found.provider_id == wanted.provider_id and pages == 3
    # Nothing to adopt: today's messages are all read, the two days before are not.
    assert pages_read("没有发过") == (None, 3)
    assert pages_read("前天的第0条") == (None, 3)


def test_fake_twilio_sorts_by_date_sent_with_messages_not_sent_yet_first(fake_twilio: FakeTwilio):
    notifier = TwilioNotifier(twilio_settings(fake_twilio.base_url))
    fake_twilio.holds_messages = True
    held = notifier.send_sms(CUSTOMER, "排队中").provider_id
    fake_twilio.holds_messages = False
    sent = [notifier.send_sms(CUSTOMER, f"m{i}").provider_id for i in range(2)]
    assert [m.sid for m in notifier.client.messages.list(to=CUSTOMER)] == [held, *sent[::-1]]
    since_yesterday = notifier.client.messages.list(to=CUSTOMER, date_sent_after=datetime.now(UTC) - timedelta(days=1))
    assert [m.sid for m in since_yesterday] == sent[::-1], "no DateSent, not in a DateSent filter"


def test_fake_twilio_lists_messages_newest_first_in_pages(fake_twilio: FakeTwilio):
    import requests

    notifier = TwilioNotifier(twilio_settings(fake_twilio.base_url))
    sids = [notifier.send_sms(CUSTOMER, f"m{i}").provider_id for i in range(3)]
    url = f"{fake_twilio.base_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    page = requests.get(url, params={"To": CUSTOMER, "PageSize": 2}, auth=(ACCOUNT_SID, "x"), timeout=5).json()
    assert [m["sid"] for m in page["messages"]] == sids[:0:-1] and page["next_page_uri"]
    assert page["messages"][0]["date_sent"] is not None and page["page_size"] == 2
    rest = requests.get(fake_twilio.base_url + page["next_page_uri"], auth=(ACCOUNT_SID, "x"), timeout=5).json()
    assert [m["sid"] for m in rest["messages"]] == sids[:1] and rest["next_page_uri"] is None
    # Through the real client, which follows next_page_uri itself.
    assert [m.sid for m in notifier.client.messages.list(to=CUSTOMER, page_size=2)] == sids[::-1]


def test_slow_answers_take_effect_and_arrive_after_the_client_timeout(fake_twilio: FakeTwilio):
    from renewals.core.notify import HTTP_TIMEOUT_SECONDS

    notifier = TwilioNotifier(twilio_settings(fake_twilio.base_url), timeout=0.5)
    fake_twilio.slow_next(1.5)
    with pytest.raises(SendError) as error:
        notifier.send_sms(CUSTOMER, "hello")
    assert error.value.retryable and "may have been sent" in str(error.value)
    assert len(fake_twilio.delivered(CUSTOMER)) == 1, "Twilio took it all the same"
    assert HTTP_TIMEOUT_SECONDS <= 5


def test_a_refused_lookup_is_retryable_or_not_like_a_send(fake_twilio: FakeTwilio):
    from datetime import date

    notifier = TwilioNotifier(twilio_settings(fake_twilio.base_url))
    fake_twilio.fail_next(503)
    with pytest.raises(SendError) as error:
        notifier.find_sms(CUSTOMER, "hello", sent_since=date.today())
    assert error.value.retryable and error.value.status == 503
    fake_twilio.fail_next(401, 20003)
    with pytest.raises(SendError) as error:
        notifier.find_sms(CUSTOMER, "hello", sent_since=date.today())
    assert not error.value.retryable and error.value.code == 20003
