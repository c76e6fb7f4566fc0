"""Sending backends: Twilio for real SMS and calls, Alibaba Cloud SMS for texts that stay in the
mainland, the console for development.

No database access here: callers record what was sent (provider id, status) themselves.
All backends are synchronous and blocking; activities run them in a thread pool.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections import deque
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Callable, Literal, Protocol
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import requests
from alibabacloud_tea_openapi.exceptions import AlibabaCloudException, ThrottlingException
from darabonba.exceptions import UnretryableException
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
    provider_id: str | None  # None: found by our key at a provider that lists messages without their id
    status: str


@dataclass
class PlacedCall:
    provider_id: str
    status: str


@dataclass(frozen=True)
class TemplateSms:
    """A message as a template-based provider (Alibaba Cloud) sends it: the copy of our text
    registered there under the message key, filled with the values our text shows."""

    key: str
    values: dict[str, str]


class Notifier(Protocol):
    # Whether send_sms needs `template` (the provider sends registered texts, not ours).
    needs_template: bool

    def send_sms(self, to: str, body: str, *, status_callback: str | None = None, label: str | None = None,
                 idempotency_key: str | None = None, template: TemplateSms | None = None) -> SentMessage:
        """`label` says what the message is (template, case) for logs, which never carry the body;
        `idempotency_key` is ours for the message, kept with it where the provider can (find_sms)."""

    def find_sms(self, to: str, body: str, *, sent_since: date, exclude: Collection[str] = (),
                 idempotency_key: str | None = None) -> SentMessage | None:
        """The message already sent to `to` on or after `sent_since` (UTC) under `idempotency_key`,
        or with this body and a provider id not in `exclude` where the provider keeps no key of
        ours (Twilio); None when there is none. For retries whose first attempt may have gone out."""
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

    needs_template = False

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

    def send_sms(self, to: str, body: str, *, status_callback: str | None = None, label: str | None = None,
                 idempotency_key: str | None = None, template: TemplateSms | None = None) -> SentMessage:
        sender = (
            {"messaging_service_sid": self.messaging_service_sid} if self.messaging_service_sid else {"from_": self.from_}
        )
        message = self._call(self.client.messages.create, to=to, body=body, status_callback=status_callback, **sender)
        return SentMessage(provider_id=message.sid, status=message.status)

    def find_sms(self, to: str, body: str, *, sent_since: date, exclude: Collection[str] = (),
                 idempotency_key: str | None = None) -> SentMessage | None:
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


# Alibaba Cloud's refusals that a later attempt can get past (its system, a rate or daily limit, an
# account to top up); every other refusal of a message is for good (a bad number or template...).
ALIYUN_RETRYABLE_CODES = frozenset({
    "isp.SYSTEM_ERROR", "isv.BUSINESS_LIMIT_CONTROL", "isv.DAY_LIMIT_CONTROL", "isv.OUT_OF_SERVICE",
    "isv.AMOUNT_NOT_ENOUGH", "Throttling", "Throttling.User", "Throttling.Api", "ServiceUnavailable",
    "InternalError",
})
# Alibaba Cloud dates a send (QuerySendDetails' SendDate) on the mainland's calendar.
ALIYUN_CALENDAR = ZoneInfo("Asia/Shanghai")
ALIYUN_PAGE_SIZE = 50  # QuerySendDetails' largest page
# QuerySendDetails' SendStatus: 1 waiting for the carrier's receipt, 2 failed, 3 delivered.
ALIYUN_SEND_STATUS = {1: "sent", 2: "undelivered", 3: "delivered"}


class AliyunNotifier:
    """Sends through the official Alibaba Cloud SMS client (dysmsapi 2017-05-25), pointed at
    settings.aliyun_sms_api_base_url. Texts are the templates registered there (one code per message
    key, ALIYUN_SMS_TEMPLATES) filled with our text's values, under the approved sign name. Each
    message carries our idempotency key as its OutId, so a retry finds a message whose answer was
    lost (QuerySendDetails lists the phone's messages of a day with their OutId)."""

    needs_template = True

    def __init__(self, settings: Settings, *, timeout: float = HTTP_TIMEOUT_SECONDS):
        missing = [name.upper() for name in ("aliyun_access_key_id", "aliyun_access_key_secret", "aliyun_sms_sign_name")
                   if not getattr(settings, name)]
        if missing:
            raise ValueError(f"{', '.join(missing)} must be set to send SMS through Alibaba Cloud")
        # start-up cost: the client (and aiohttp under it) loads only where Alibaba Cloud is chosen
        from alibabacloud_dysmsapi20170525 import models
        from alibabacloud_dysmsapi20170525.client import Client as AliyunSmsClient
        from alibabacloud_tea_openapi.utils_models import Config as AliyunConfig
        from darabonba.runtime import RuntimeOptions

        self._requests, self._runtime = models, RuntimeOptions
        self.sign_name = settings.aliyun_sms_sign_name
        self.templates = settings.aliyun_sms_templates
        url = urlsplit(settings.aliyun_sms_api_base_url)
        milliseconds = int(timeout * 1000)  # for connecting and for each read, as Twilio's
        # Credentials given here, never the client's default chain (environment, files, the ECS
        # metadata service). No retry options: the client then never retries, which only the
        # activity may do, after looking the message up.
        self.client = AliyunSmsClient(AliyunConfig(
            access_key_id=settings.aliyun_access_key_id, access_key_secret=settings.aliyun_access_key_secret,
            endpoint=url.netloc, protocol=url.scheme, connect_timeout=milliseconds, read_timeout=milliseconds))

    def send_sms(self, to: str, body: str, *, status_callback: str | None = None, label: str | None = None,
                 idempotency_key: str | None = None, template: TemplateSms | None = None) -> SentMessage:
        if template is None or idempotency_key is None:
            raise SendError("Alibaba Cloud sends registered templates under our key only", retryable=False)
        code = self.templates.get(template.key)
        if code is None:
            raise SendError(f"ALIYUN_SMS_TEMPLATES has no template code for {template.key}", retryable=False)
        answer = self._call(self.client.send_sms_with_options, self._requests.SendSmsRequest(
            phone_numbers=aliyun_number(to), sign_name=self.sign_name, template_code=code,
            template_param=json.dumps(template.values, ensure_ascii=False), out_id=idempotency_key))
        return SentMessage(provider_id=answer.biz_id, status="accepted")

    def find_sms(self, to: str, body: str, *, sent_since: date, exclude: Collection[str] = (),
                 idempotency_key: str | None = None) -> SentMessage | None:
        # Our key is the message's OutId: no other message has it, whatever its text. The listing
        # has no OutId filter and no BizId field: each day since `sent_since` is read, newest first,
        # page after page; a message found this way is adopted without its id (its receipt brings it).
        if idempotency_key is None:
            return None
        day = datetime.now(ALIYUN_CALENDAR).date()
        while day >= sent_since:
            page, seen = 1, 0
            while True:
                answer = self._call(self.client.query_send_details_with_options, self._requests.QuerySendDetailsRequest(
                    phone_number=aliyun_number(to), send_date=day.strftime("%Y%m%d"), page_size=ALIYUN_PAGE_SIZE,
                    current_page=page))
                details = (answer.sms_send_detail_dtos.sms_send_detail_dto if answer.sms_send_detail_dtos
                           else None) or []
                for detail in details:
                    if detail.out_id == idempotency_key:
                        return SentMessage(provider_id=None, status=ALIYUN_SEND_STATUS.get(detail.send_status, "sent"))
                seen += len(details)
                if not details or seen >= (answer.total_count or 0):
                    break
                page += 1
            day -= timedelta(days=1)
        return None

    def place_call(
        self, to: str, twiml: str, *, status_callback: str | None = None, recording_callback: str | None = None
    ) -> PlacedCall:
        # Click-to-call is Twilio's (and records both sides abroad): with SMS kept in the country,
        # no call goes out either.
        raise SendError("calls are placed through Twilio only, and SMS go through Alibaba Cloud "
                        "(NOTIFY_BACKEND=aliyun)", retryable=False)

    def _call(self, action: Callable[..., Any], request: Any) -> Any:
        try:
            body = action(request, self._runtime()).body
        except AlibabaCloudException as e:
            retryable = isinstance(e, ThrottlingException) or is_retryable(e.status_code, None) \
                or e.code in ALIYUN_RETRYABLE_CODES
            raise SendError(f"Alibaba Cloud answered HTTP {e.status_code} {e.code}", status=e.status_code,
                            retryable=retryable) from e
        except UnretryableException as e:
            # No answer. The client keeps only the network error's text, which quotes the request's
            # URL (the template values: the customer's name), so only its kind is told.
            reason = str(getattr(e.inner_exception, "message", e.inner_exception)).lower()
            if "read timed out" in reason:
                # The request went out: Alibaba Cloud may have taken it, so a retry may send twice.
                raise SendError("Alibaba Cloud did not answer in time (may have been sent)", retryable=True) from None
            kind = next((k for k in ("timed out", "refused", "reset", "name resolution") if k in reason), "failed")
            raise SendError(f"cannot reach Alibaba Cloud (connection {kind})", retryable=True) from None
        if body.code != "OK":  # a refusal of the message itself comes as HTTP 200
            raise SendError(f"Alibaba Cloud refused: {body.code} ({body.message})",
                            retryable=body.code in ALIYUN_RETRYABLE_CODES)
        return body


def aliyun_number(phone: str) -> str:
    """Alibaba Cloud's form of an E.164 number: mainland numbers without +86, others without +."""
    return phone.removeprefix("+86") if phone.startswith("+86") else phone.removeprefix("+")


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

    needs_template = False

    def __init__(self, keep: int = 100):
        self.sent: deque[ConsoleRecord] = deque(maxlen=keep)

    def send_sms(self, to: str, body: str, *, status_callback: str | None = None, label: str | None = None,
                 idempotency_key: str | None = None, template: TemplateSms | None = None) -> SentMessage:
        sid = "SM" + uuid.uuid4().hex
        self.sent.append(ConsoleRecord("sms", to, body, sid, status_callback))
        # Never the body: it carries the customer's name, the plate and the manager's phone.
        log.info("SMS %s %s to %s (%d characters)", sid, label or "", mask_phone(to), len(body))
        return SentMessage(provider_id=sid, status="queued")

    def find_sms(self, to: str, body: str, *, sent_since: date, exclude: Collection[str] = (),
                 idempotency_key: str | None = None) -> SentMessage | None:
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
    backends = {"twilio": TwilioNotifier, "aliyun": AliyunNotifier}
    return backends[settings.notify_backend](settings) if settings.notify_backend in backends else ConsoleNotifier()


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
