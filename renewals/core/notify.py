"""Sending backends: Twilio for real SMS and calls, the console for development.

No database access here: callers record what was sent (provider id, status) themselves.
Both backends are synchronous and blocking; activities run them in a thread pool.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections import deque
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any, Callable, Literal, Protocol

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client
from twilio.twiml.voice_response import VoiceResponse

from renewals.core.masking import mask_numbers, mask_phone
from renewals.core.settings import Settings

log = logging.getLogger(__name__)

# Twilio error codes that no retry can fix (bad, unsubscribed, landline or blocked numbers;
# 3000x also arrive later as delivery-status ErrorCode on the status callback).
PERMANENT_ERROR_CODES = frozenset({21211, 21408, 21610, 21612, 21614, 30003, 30004, 30005, 30006})
# Applies to connecting and to each read, so one request lasts at most twice this. A send goes
# out only while that worst case still fits in the send_sms activity's start-to-close timeout, or
# Temporal would start a retry while the abandoned attempt's request is still on its way to Twilio
# (see Notifications._check_time_left).
HTTP_TIMEOUT_SECONDS = 5.0
REQUEST_WORST_SECONDS = 2 * HTTP_TIMEOUT_SECONDS
# Messages per page of a lookup (Twilio's default; it allows up to 1000).
LOOKUP_PAGE_SIZE = 50


class SendError(Exception):
    """A send that failed; `retryable` says whether trying again later can succeed."""

    def __init__(self, message: str, *, code: int | None = None, status: int | None = None, retryable: bool):
        # Twilio's error texts quote the number ("The 'To' number +86139... is not valid"): the
        # message ends up in activity failures and logs, so its digits are masked.
        super().__init__(mask_numbers(message))
        self.code = code
        self.status = status
        self.retryable = retryable


@dataclass
class SentMessage:
    provider_id: str
    status: str


@dataclass
class PlacedCall:
    provider_id: str
    status: str


class Notifier(Protocol):
    def send_sms(self, to: str, body: str, *, status_callback: str | None = None,
                 label: str | None = None) -> SentMessage:
        """`label` says what the message is (template, case) for logs, which never carry the body."""

    def find_sms(self, to: str, body: str, *, sent_since: date, exclude: Collection[str] = ()) -> SentMessage | None:
        """The message with this body already sent to `to` on or after `sent_since` (UTC), whose
        provider id is not in `exclude`; None when there is none. For retries whose first attempt
        may have gone out: Twilio has no idempotency key."""
        ...

    def place_call(
        self, to: str, twiml: str, *, status_callback: str | None = None, recording_callback: str | None = None
    ) -> PlacedCall: ...


def is_retryable(status: int | None, code: int | None) -> bool:
    if code in PERMANENT_ERROR_CODES:
        return False
    # No status: the request never got an answer. 429 and 5xx are Twilio asking to come back.
    return status is None or status == 429 or status >= 500


# Twilio's errors for a number it cannot call (invalid, not a valid phone, unreachable): the
# number a click-to-call rings first is the staff member's own.
UNCALLABLE_NUMBER_CODES = frozenset({21211, 21214, 21215, 21217, 13223, 13224})
CALL_RETRY_SECONDS = 60


@dataclass(frozen=True)
class CallFailure:
    """What staff are told when their call cannot be placed, and what to do about it."""

    status: int
    code: str
    message: str
    retry_after: int | None = None


def call_failure(exc: SendError) -> CallFailure:
    if exc.retryable:
        return CallFailure(503, "call_unavailable", f"Twilio cannot place calls now ({exc}): try again in a minute",
                           CALL_RETRY_SECONDS)
    twilio_error = f" (Twilio error {exc.code})" if exc.code else ""
    if exc.code in UNCALLABLE_NUMBER_CODES:
        return CallFailure(502, "staff_phone_not_callable",
                           f"your phone number on record cannot be called{twilio_error}: nothing was dialled; "
                           "ask the branch's system specialist to correct it")
    return CallFailure(502, "call_failed", f"the call could not be placed{twilio_error}: {exc}; nothing was "
                                           "dialled: call from your own phone and record the contact")


class TwilioNotifier:
    """Sends through the real twilio-python client, pointed at settings.twilio_api_base_url."""

    def __init__(self, settings: Settings, *, timeout: float = HTTP_TIMEOUT_SECONDS):
        if not (settings.twilio_messaging_service_sid or settings.twilio_from):
            raise ValueError("TWILIO_FROM or TWILIO_MESSAGING_SERVICE_SID must be set to send SMS")
        self.from_ = settings.twilio_from
        self.messaging_service_sid = settings.twilio_messaging_service_sid
        self.client = Client(
            settings.twilio_account_sid,
            settings.twilio_auth_token,
            # The HTTP timeout lives on the http client: `timeout=` on calls.create is ring time.
            http_client=TwilioHttpClient(timeout=timeout),
            # Not os.environ: TWILIO_EDGE/TWILIO_REGION there would rewrite our base URL's host.
            # (An empty dict would not do: the client falls back to os.environ on a falsy mapping.)
            environment={"TWILIO_EDGE": "", "TWILIO_REGION": ""},
        )
        # Messages and Calls are both v2010 resources of the `api` domain; its base_url is
        # hard-coded to https://api.twilio.com, so this one override covers every send.
        self.client.api.base_url = settings.twilio_api_base_url.rstrip("/")

    def send_sms(self, to: str, body: str, *, status_callback: str | None = None,
                 label: str | None = None) -> SentMessage:
        sender = (
            {"messaging_service_sid": self.messaging_service_sid} if self.messaging_service_sid else {"from_": self.from_}
        )
        message = self._call(self.client.messages.create, to=to, body=body, status_callback=status_callback, **sender)
        return SentMessage(provider_id=message.sid, status=message.status)

    def find_sms(self, to: str, body: str, *, sent_since: date, exclude: Collection[str] = ()) -> SentMessage | None:
        # Twilio keeps no key of ours on a message (neither the list's filters nor the resource
        # carry the status callback), so the recipient's messages are read page after page: a
        # staff phone gets one per case, and ours can be pages deep. The list is sorted by
        # DateSent, newest first: the first message sent before `sent_since` ends the search, so
        # the cost is the messages since the attempt, not the recipient's history. Not a DateSent
        # filter: a message Twilio accepted but has not sent yet (queued behind a rate limit) has
        # none, and it is the one a retry must adopt. A messaging service picks its sender itself,
        # so then only To is filtered and the service sid is matched.
        since = datetime.combine(sent_since, time.min, UTC)
        sender = {} if self.messaging_service_sid else {"from_": self.from_}
        page = self._call(self.client.messages.page, to=to, page_size=LOOKUP_PAGE_SIZE, **sender)
        while page is not None:
            for message in page:
                if message.date_sent is not None and message.date_sent < since:
                    return None
                ours = not self.messaging_service_sid or message.messaging_service_sid == self.messaging_service_sid
                if ours and message.body == body and message.sid not in exclude and message.date_created >= since:
                    return SentMessage(provider_id=message.sid, status=str(message.status))
            page = self._call(page.next_page)
        return None

    def place_call(
        self, to: str, twiml: str, *, status_callback: str | None = None, recording_callback: str | None = None
    ) -> PlacedCall:
        """Call `to` and run `twiml` (see call_twiml).

        `recording_callback` is Twilio's call-level RecordingStatusCallback, which only fires for
        call-level recording; the <Dial record=...> of call_twiml reports through its own callback.
        """
        if not self.from_:
            raise SendError("TWILIO_FROM is not set: calls need a caller number", retryable=False)
        call = self._call(
            self.client.calls.create,
            to=to,
            from_=self.from_,
            twiml=twiml,
            status_callback=status_callback,
            recording_status_callback=recording_callback,
        )
        return PlacedCall(provider_id=call.sid, status=call.status)

    @staticmethod
    def _call(create: Callable[..., Any], **kwargs: Any) -> Any:
        try:
            return create(**kwargs)
        except TwilioRestException as e:
            message = e.msg or f"HTTP {e.status}"  # not str(e): it adds ANSI colours on a tty
            raise SendError(message, code=e.code, status=e.status, retryable=is_retryable(e.status, e.code)) from e
        except TwilioServiceException as e:
            message = f"{e.title}: {e.detail}" if e.detail else e.title
            raise SendError(message, code=e.code, status=e.status, retryable=is_retryable(e.status, e.code)) from e
        except requests.exceptions.ReadTimeout as e:
            # The request went out: Twilio may have accepted it, so a retry may send twice.
            raise SendError(f"Twilio did not answer in time (may have been sent): {e}", retryable=True) from e
        except requests.exceptions.RequestException as e:  # refused, reset, DNS, connect timeout
            raise SendError(f"cannot reach Twilio: {e}", retryable=True) from e
        except TwilioException as e:
            answer = e.args[1] if len(e.args) > 1 else None
            if isinstance(answer, Response):  # a list page Twilio refused: an HTTP error like any other
                code = _error_code(answer.text)
                raise SendError(f"Twilio refused the lookup: HTTP {answer.status_code}", code=code,
                                status=answer.status_code, retryable=is_retryable(answer.status_code, code)) from e
            raise SendError(f"Twilio client error: {e}", retryable=False) from e  # client-side misconfiguration


def _error_code(text: str) -> int | None:
    try:
        return json.loads(text).get("code")
    except (ValueError, AttributeError):
        return None


@dataclass
class ConsoleRecord:
    kind: Literal["sms", "call"]
    to: str
    content: str  # SMS body or TwiML
    provider_id: str
    status_callback: str | None = None
    recording_callback: str | None = None


class ConsoleNotifier:
    """Development backend: logs instead of sending and keeps the last `keep` sends in `sent`."""

    def __init__(self, keep: int = 100):
        self.sent: deque[ConsoleRecord] = deque(maxlen=keep)

    def send_sms(self, to: str, body: str, *, status_callback: str | None = None,
                 label: str | None = None) -> SentMessage:
        sid = "SM" + uuid.uuid4().hex
        self.sent.append(ConsoleRecord("sms", to, body, sid, status_callback))
        # Never the body: it carries the customer's name, the plate and the manager's phone.
        log.info("SMS %s %s to %s (%d characters)", sid, label or "", mask_phone(to), len(body))
        return SentMessage(provider_id=sid, status="queued")

    def find_sms(self, to: str, body: str, *, sent_since: date, exclude: Collection[str] = ()) -> SentMessage | None:
        return next((SentMessage(r.provider_id, "queued") for r in self.sent
                     if r.kind == "sms" and r.to == to and r.content == body and r.provider_id not in exclude), None)

    def place_call(
        self, to: str, twiml: str, *, status_callback: str | None = None, recording_callback: str | None = None
    ) -> PlacedCall:
        sid = "CA" + uuid.uuid4().hex
        self.sent.append(ConsoleRecord("call", to, twiml, sid, status_callback, recording_callback))
        log.info("call %s to %s", sid, mask_phone(to))
        return PlacedCall(provider_id=sid, status="queued")


WEBHOOK_PREFIX = "/webhooks/twilio"


def callback_url(settings: Settings, kind: str) -> str:
    """Where Twilio calls us back about what we sent (`sms-status`, `call-status`, `recording`)."""
    return f"{settings.public_base_url.rstrip('/')}{WEBHOOK_PREFIX}/{kind}"


def build_notifier(settings: Settings) -> Notifier:
    return TwilioNotifier(settings) if settings.notify_backend == "twilio" else ConsoleNotifier()


# SPEC §2: calls start with a recording notice. The customer hears it as they answer (a whisper
# on their leg); the staff member hears that they are being connected.
RECORDING_NOTICE = "您好,为保障服务质量,本次通话将全程录音。"
CONNECTING_NOTICE = "本次通话将全程录音,正在为您接通客户。"


def call_twiml(
    connecting_notice: str,
    dial_to: str,
    *,
    caller_id: str,
    recording_callback: str | None,
    whisper_url: str | None = None,
    dial_action_url: str | None = None,
    language: str = "cmn-CN",
    voice: str = "Polly.Zhiyu",
) -> str:
    """TwiML for the staff member's leg: hear `connecting_notice`, then be bridged to `dial_to`.

    The default <Say> voice is English-only, so Chinese needs a Mandarin voice. `whisper_url`
    (<Number url>) answers TwiML played to the customer when they pick up (the recording notice,
    see whisper_twiml) before the legs are joined. `dial_action_url` (<Dial action>) is told how the
    customer's leg ended (DialCallStatus, DialCallDuration): the contact's outcome is the
    customer's, not the staff phone's. Recording starts when `dial_to` answers, one channel per side.
    """
    response = VoiceResponse()
    response.say(connecting_notice, voice=voice, language=language)
    dial = response.dial(
        caller_id=caller_id,
        record="record-from-answer-dual",
        recording_status_callback=recording_callback,  # fires once, when the recording is ready
        action=dial_action_url,
        method="POST" if dial_action_url else None,
    )
    dial.number(dial_to, url=whisper_url, method="POST" if whisper_url else None)
    return str(response)


def whisper_twiml(notice: str = RECORDING_NOTICE, *, language: str = "cmn-CN", voice: str = "Polly.Zhiyu") -> str:
    """What the customer hears on answering a bridged call, before the staff member is joined."""
    response = VoiceResponse()
    response.say(notice, voice=voice, language=language)
    return str(response)
