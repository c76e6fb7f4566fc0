"""The providers' callbacks: Twilio's SMS delivery, call progress, recordings and replies from
customers; Alibaba Cloud's SMS delivery receipts and replies.

No bearer token here: every Twilio request must carry a valid X-Twilio-Signature over our public URL
and the form parameters; Alibaba Cloud signs nothing, so its pushes must carry our
ALIYUN_WEBHOOK_TOKEN in the address set in its console. Anything unsigned, altered or without the
token answers 403 before anything is written. A valid request is not a new one: what each callback
changes, once and in order, is renewals.case.callbacks'.
"""

from __future__ import annotations

import hmac
import logging
import re
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field
from fastapi.concurrency import run_in_threadpool
from sqlmodel import Session
from temporalio.client import Client
from temporalio.service import RPCError
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from api.casework import StaffAction
from api.deps import NowDep, SessionDep, SettingsDep, TemporalDep, read_then_release
from api.errors import ApiError, error_responses
from models import RenewalCase, Staff
from renewals.case.callbacks import (
    NumberedReply, Reply, apply_call_status, apply_dial_result, apply_inbound_sms, apply_recording, apply_sms_report,
    apply_sms_status, claim_inbound_sms, loss_reason_reply, release_inbound_sms,
)
from renewals.case.start import CaseRejected
from renewals.case.labels import LOSS_REASON_CHOICES, word
from renewals.core.notify import WEBHOOK_PREFIX, whisper_twiml
from renewals.core.settings import Settings
from renewals.case import contract as c

log = logging.getLogger(__name__)
ALIYUN_WEBHOOK_PREFIX = "/webhooks/aliyun"
twilio = APIRouter(prefix=WEBHOOK_PREFIX)
aliyun = APIRouter(prefix=ALIYUN_WEBHOOK_PREFIX)


def _public_url(settings: Settings, path: str) -> str:
    """Our address as Twilio sees it (behind proxies too): signatures are computed over it."""
    return settings.public_base_url.rstrip("/") + path


# What Twilio sends, parsed strictly: anything else is refused (422 naming the field) before use.
_TWILIO_FIELDS = {
    **dict.fromkeys(("ErrorCode", "CallDuration", "DialCallDuration", "RecordingDuration"), re.compile(r"[0-9]{1,9}")),
    **dict.fromkeys(("MessageStatus", "CallStatus", "DialCallStatus", "RecordingStatus", "OptOutType"),
                    re.compile(r"[A-Za-z-]{1,32}")),
    **dict.fromkeys(("MessageSid", "CallSid", "ParentCallSid", "RecordingSid", "AccountSid"),
                    re.compile(r"[A-Za-z0-9]{1,64}")),
    "From": re.compile(r"[+0-9A-Za-z:.@ -]{1,64}"),
    # Recordings live on Twilio's API host only, over https: never `javascript:` or anywhere else.
    "RecordingUrl": re.compile(r"https://api(\.[a-z0-9-]+)*\.twilio\.com/[A-Za-z0-9/._-]{1,500}"),
}
MAX_SMS_BODY = 1600  # Twilio's longest concatenated message


def _check_twilio_fields(params: dict[str, str]) -> None:
    for name, pattern in _TWILIO_FIELDS.items():
        if name in params and params[name] != "" and not pattern.fullmatch(params[name]):
            raise ApiError(422, f"{name}: not a value Twilio sends", field=name)
    if len(params.get("Body", "")) > MAX_SMS_BODY:
        raise ApiError(422, f"Body: longer than {MAX_SMS_BODY} characters", field="Body")


async def signed_form(request: Request, settings: SettingsDep) -> dict[str, str]:
    form = await request.form()
    params = {key: str(value) for key, value in form.multi_items()}
    url = _public_url(settings, request.url.path + (f"?{request.url.query}" if request.url.query else ""))
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature or not RequestValidator(settings.twilio_auth_token).validate(url, params, signature):
        raise ApiError(403, "the request is not signed by Twilio", code="bad_signature")
    _check_twilio_fields(params)
    return params


SignedForm = Annotated[dict[str, str], Depends(signed_form)]


def _signed(summary: str, example: dict[str, str], **route: Any) -> dict[str, Any]:
    """Route options of a Twilio callback: signed form in, 204 out unless said otherwise."""
    options = {"summary": summary + " (signed by Twilio)", "status_code": 204, "response_class": Response,
               "responses": error_responses(403),
               "openapi_extra": {"requestBody": {"content": {"application/x-www-form-urlencoded": {
                   "example": example}}}}}
    return options | route


async def _signal(client: Client, workflow_ids: list[str], signal: str, *args: object) -> None:
    for workflow_id in workflow_ids:
        try:
            await client.get_workflow_handle(workflow_id).signal(signal, *args)
        except RPCError as exc:  # the case finished meanwhile: nothing left to tell it
            log.info("signal %s to %s not delivered: %s", signal, workflow_id, exc)


@twilio.post("/sms-status", **_signed("SMS delivery status", {
    "MessageSid": "SM5f0c1a528d0e4d7b9d1c2b9f4f3e6a10", "MessageStatus": "undelivered", "ErrorCode": "30003"}))
async def sms_status(form: SignedForm, session: SessionDep, client: TemporalDep) -> Response:
    failed_cases, error_code = await run_in_threadpool(apply_sms_status, session, form)
    await _signal(client, failed_cases, "contact_failed", c.ContactFailed(channel=c.Channel.sms, error_code=error_code))
    return Response(status_code=204)


@twilio.post("/call-status", **_signed("Click-to-call progress and duration", {
    "CallSid": "CA5f0c1a528d0e4d7b9d1c2b9f4f3e6a10", "CallStatus": "completed", "CallDuration": "95"}))
def call_status(form: SignedForm, session: SessionDep) -> Response:
    apply_call_status(session, form)
    return Response(status_code=204)


@twilio.post("/call-whisper", **_signed(
    "The customer answered a bridged call: the recording notice they hear first",
    {"CallSid": "CA0a1b2c3d4e5f60718293a4b5c6d7e8f9", "ParentCallSid": "CA5f0c1a528d0e4d7b9d1c2b9f4f3e6a10"},
    status_code=200, responses={200: {"content": {"application/xml": {"example": "<Response><Say>…</Say></Response>"}}},
                                **error_responses(403)}))
def call_whisper(form: SignedForm) -> Response:
    return Response(whisper_twiml(), media_type="application/xml")


@twilio.post("/dial-result", **_signed(
    "How the customer's leg of a bridged call ended (<Dial action>)",
    {"CallSid": "CA5f0c1a528d0e4d7b9d1c2b9f4f3e6a10", "DialCallStatus": "no-answer", "DialCallDuration": "0"},
    status_code=200, responses={200: {"content": {"application/xml": {"example": "<Response/>"}}},
                                **error_responses(403)}))
async def dial_result(form: SignedForm, session: SessionDep, client: TemporalDep) -> Response:
    failed_cases = await run_in_threadpool(apply_dial_result, session, form)
    await _signal(client, failed_cases, "contact_failed", c.ContactFailed(channel=c.Channel.call))
    return Response("<Response/>", media_type="application/xml")  # the customer's leg is over: hang up


@twilio.post("/recording", **_signed("The call recording is ready", {
    "CallSid": "CA5f0c1a528d0e4d7b9d1c2b9f4f3e6a10", "RecordingSid": "RE0a1b2c3d4e5f60718293a4b5c6d7e8f9",
    "RecordingUrl": "https://api.twilio.com/2010-04-01/Accounts/AC.../Recordings/RE...",
    "RecordingStatus": "completed", "RecordingDuration": "80"}))
def recording(form: SignedForm, session: SessionDep) -> Response:
    apply_recording(session, form)
    return Response(status_code=204)


async def _record_loss_reason(session: Session, client: Client, now: datetime, message_sid: str, staff: Staff,
                              waiting: list[RenewalCase], reply: NumberedReply) -> str:
    """Record the replied reason through the workflow, with the case owner as the actor and the words
    after the number as its note. The number is the reason's place in LOSS_REASON_CHOICES, the order
    the loss_reason_request SMS lists them."""
    number = reply.number
    if not 1 <= number <= len(LOSS_REASON_CHOICES):
        return f"请回复1-{len(LOSS_REASON_CHOICES)}之间的序号 / reply with a number from 1 to {len(LOSS_REASON_CHOICES)}"
    if len(waiting) != 1:
        return (f"您有{len(waiting)}个案件待登记流失原因,请在系统中逐一登记 / {len(waiting)} cases wait for a "
                "loss reason: record them in the console")
    [case] = waiting
    reason = LOSS_REASON_CHOICES[number - 1]
    if c.other_without_text(reason, reply.text):
        example = f"{LOSS_REASON_CHOICES.index(c.LossReason.other) + 1} 亲戚在别家"
        return f"请在序号后写明原因,如“{example}” / add the reason after the number, e.g. “{example}”"
    # As the manager's own action: the note is stored first and kept only if the case takes it, and
    # the message's Sid keys both, so Twilio's retry acts once.
    act = StaffAction(case, staff, session, client, now, idempotency_key=message_sid)
    try:
        await act.update("record_loss_reason", lambda who, note_id: c.RecordLossReason(
            actor=who, reason=reason, note_id=note_id), reply.text or None)
    except CaseRejected as rejected:
        return f"未登记 / not recorded: {rejected.reason}"
    return f"已登记保单{case.policy_no}的流失原因:{word(reason)} / loss reason recorded"


def _no_reply() -> Response:
    """An empty TwiML answer: no automatic reply (Twilio's own opt-out handling confirms STOP)."""
    return Response("<Response/>", media_type="application/xml")


def _reply(text: str) -> Response:
    response = MessagingResponse()
    response.message(text)
    return Response(str(response), media_type="application/xml")


@twilio.post("/inbound-sms", **_signed(
    "A reply: from a customer, T/TD/退订/STOP opts out and START/订阅 opts back in; from a service manager "
    "whose case waits for a loss reason, the number of the reason (recorded as the manager's)",
    {"MessageSid": "SM0a1b2c3d4e5f60718293a4b5c6d7e8f9", "From": "+8613912345678", "Body": "退订"},
    status_code=200, responses={200: {"content": {"application/xml": {"example": "<Response/>"}}},
                                **error_responses(403)}))
async def inbound_sms(form: SignedForm, session: SessionDep, client: TemporalDep, now: NowDep) -> Response:
    if not form.get("MessageSid"):
        raise ApiError(422, "MessageSid: Twilio sends one with every message", field="MessageSid")
    waiting = await read_then_release(session, loss_reason_reply, form.get("Body", ""), form.get("From", ""))
    if waiting is not None:
        # Claimed before the workflow acts, so a copy arriving meanwhile finds it taken.
        if not await read_then_release(session, claim_inbound_sms, form["MessageSid"], now):
            return _no_reply()  # handled when it first came: a retry or a replay changes nothing
        try:
            return _reply(await _record_loss_reason(session, client, now, form["MessageSid"], *waiting))
        except Exception:
            await run_in_threadpool(release_inbound_sms, session, form["MessageSid"])
            raise
    reply = Reply(form["MessageSid"], form.get("From", ""), form.get("Body", ""), form.get("OptOutType", ""))
    await _customer_reply(session, client, now, reply)
    return _no_reply()


async def _customer_reply(session: Session, client: Client, now: datetime, reply: Reply) -> None:
    choice, workflow_ids = await run_in_threadpool(apply_inbound_sms, session, reply, now)
    if choice is not None:
        await _signal(client, workflow_ids, "opted_out" if choice else "opted_in")


# -- Alibaba Cloud -------------------------------------------------------------------------------

# What Alibaba Cloud's HTTP batch push expects back: any numeric code with HTTP 200 ends its retries.
ALIYUN_RECEIVED = {"code": 0, "msg": "接收成功"}
MAX_PUSH_ITEMS = 1000  # far more than one push batches


def aliyun_token(settings: SettingsDep, token: Annotated[str, Query(
        description="ALIYUN_WEBHOOK_TOKEN, part of the address set in Alibaba Cloud's console")] = "") -> None:
    expected = settings.aliyun_webhook_token
    if not expected or not hmac.compare_digest(token.encode(), expected.encode()):
        raise ApiError(403, "the request does not carry the Alibaba Cloud webhook token", code="bad_token")


class AliyunReceipt(BaseModel):
    """One SmsReport of a push (the fields we use; Alibaba Cloud sends more)."""

    biz_id: str = Field(pattern=r"^[0-9A-Za-z^_-]{1,64}$", description="SendSms' BizId")
    out_id: str | None = Field(default=None, max_length=256, description="our key for the message")
    success: bool = Field(description="whether the carrier delivered it")
    err_code: str | None = Field(default=None, max_length=64, description="the carrier's status, e.g. DELIVERED")


class AliyunReply(BaseModel):
    """One SmsUp of a push: an SMS someone sent to our sign's number."""

    phone_number: str = Field(pattern=r"^\+?[0-9]{5,20}$")
    content: str = Field(max_length=MAX_SMS_BODY)
    # Alibaba Cloud's number for the message, the same on each retry (a number, or one as a string).
    sequence_id: Annotated[int, Field(ge=0, lt=10**30)] | Annotated[str, Field(pattern=r"^[0-9]{1,30}$")]


def _aliyun_route(summary: str, example: list[dict]) -> dict[str, Any]:
    return {"summary": summary + " (Alibaba Cloud; ?token=ALIYUN_WEBHOOK_TOKEN)",
            "responses": error_responses(403, 422),
            "openapi_extra": {"requestBody": {"content": {"application/json": {"example": example}}}}}


@aliyun.post("/sms-report", dependencies=[Depends(aliyun_token)], **_aliyun_route("SMS delivery receipts", [{
    "phone_number": "13912345678", "send_time": "2026-01-05 10:00:00", "report_time": "2026-01-05 10:00:05",
    "success": False, "err_code": "MK:0001", "err_msg": "空号", "sms_size": "1", "biz_id": "900619746936498440^0",
    "out_id": "6f1c0e6e-1c1b-4c9e-9c51-0a8c3c0b7a21:FIRST_CONTACT:first_notice:-60"}]))
async def aliyun_sms_report(receipts: Annotated[list[AliyunReceipt], Field(max_length=MAX_PUSH_ITEMS)],
                            session: SessionDep, client: TemporalDep) -> dict[str, Any]:
    for receipt in receipts:
        failed_cases = await run_in_threadpool(apply_sms_report, session, receipt.biz_id, receipt.out_id,
                                               receipt.success)
        await _signal(client, failed_cases, "contact_failed", c.ContactFailed(channel=c.Channel.sms))
    return ALIYUN_RECEIVED


@aliyun.post("/sms-up", dependencies=[Depends(aliyun_token)], **_aliyun_route(
    "Replies from customers: T/TD/退订/STOP opts out and START/订阅 opts back in", [{
        "phone_number": "13912345678", "content": "退订", "send_time": "2026-01-05 10:03:00", "dest_code": "1234",
        "sequence_id": 1234567890}]))
async def aliyun_sms_up(replies: Annotated[list[AliyunReply], Field(max_length=MAX_PUSH_ITEMS)],
                        session: SessionDep, client: TemporalDep, now: NowDep) -> dict[str, Any]:
    for reply in replies:
        await _customer_reply(session, client, now, Reply(f"aliyun-{reply.sequence_id}", reply.phone_number,
                                                          reply.content))
    return ALIYUN_RECEIVED


router = APIRouter(tags=["webhooks"])
router.include_router(twilio)
router.include_router(aliyun)
