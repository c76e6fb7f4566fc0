"""Renewal cases: read them, and every staff action on one. Each action is one workflow update
(validated by the workflow, so a wrong-stage action answers 409 with the validator's reason)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import func, update
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Session, select
from temporalio.client import Client, WorkflowQueryFailedError
from temporalio.service import RPCError, RPCStatusCode

from api.access import CaseForAdmin, CaseForPhone, CaseForWork, ReadableCase, actor, case_scope, number_to_dial
from api.deps import CurrentStaff, NotifierDep, NowDep, SessionDep, SettingsDep, TemporalDep
from api.errors import ApiError, error_responses
from api.inputs import Limit, Offset
from renewals.quotes.service import case_today, quote_to_send
from api.schemas import (
    CallOut, CasePage, CaseStatus, CaseView, CloseIn, ContactIn, ContactPerson, CustomerContactsIn,
    CustomerContactsOut, CustomerPhoneIn, CustomerPhoneOut, FollowUpIn, LossReasonIn, PersonIn, PhoneUnreachableIn,
    ReassignIn, RenewedElsewhereIn, ResolveAttentionIn, SmsIn, SmsOut, state_responses,
)
from models import Assignment, ContactRecord, Customer, IdempotencyKey, Note, Policy, RenewalCase, Role, Staff
from models.base import utcnow
from renewals.audit.refusals import record_refusal
from renewals.case.calendar import Outcome, Stage, call_refusal
from renewals.case.callbacks import open_cases
from renewals.case.start import CaseRejected, update_case
from renewals.core.masking import mask_phone
from renewals.core.notify import CONNECTING_NOTICE, Notifier, SendError, call_failure, call_twiml, callback_url
from renewals.intake.policy_file import person, phone_number
from renewals.core.settings import Settings
from renewals.org.service import normalise_phone
from workflows import contract as c

router = APIRouter(prefix="/cases", tags=["cases"])

QUERY_TIMEOUT = timedelta(seconds=5)
ACTION_ERRORS = error_responses(401, 403, 404, 409, 422)
SMS_RESPONSES = {202: {"description": "held for quiet hours (21:00-08:00 local); goes out at send_at",
                       "content": {"application/json": {"example": {"status": "held",
                                                                     "send_at": "2026-02-12T00:00:00Z"}}}},
                 **ACTION_ERRORS}


# --- running an action ---------------------------------------------------------------------------


def _write_note(session: Session, case: RenewalCase, staff: Staff, text: str | None,
                note_id: uuid.UUID | None = None) -> uuid.UUID | None:
    """Store the note, if any, and end the request's transaction either way, so no database
    connection is held while the workflow (whose activities need connections too) works. A given
    `note_id` (from an idempotency key) is stored once however often the request is retried."""
    if text:
        note_id = note_id or uuid.uuid4()
        session.execute(insert(Note).values(id=note_id, case_id=case.id, author_id=staff.id, body=text, created_at=utcnow())
                        .on_conflict_do_nothing(index_elements=[Note.id]))
    session.commit()
    return note_id if text else None


def _drop_note(session: Session, note_id: uuid.UUID) -> None:
    note = session.get(Note, note_id)
    if note is not None:
        session.delete(note)
        session.commit()


def _request_digest(case: RenewalCase, name: str, request: object, note: str | None) -> str:
    """What an Idempotency-Key stands for: the action, the case and everything asked, the note's text too."""
    asked = {"action": name, "case": str(case.id), "request": dataclasses.asdict(request), "note": note}
    return hashlib.sha256(json.dumps(asked, sort_keys=True, default=str).encode()).hexdigest()


def _claim_key(session: Session, staff: Staff, key: str, digest: str) -> None:
    """Bind `key` to the request it first came with; the same key with another request is refused
    (draft-ietf-httpapi-idempotency-key-header): answering it the first request's result would
    drop what it asked for without a word."""
    claimed = session.execute(insert(IdempotencyKey).values(staff_id=staff.id, key=key, request_digest=digest,
                                                            created_at=utcnow())
                              .on_conflict_do_nothing(index_elements=[IdempotencyKey.staff_id, IdempotencyKey.key])
                              .returning(IdempotencyKey.key)).first()
    if claimed is None and session.execute(select(IdempotencyKey.request_digest).where(
            IdempotencyKey.staff_id == staff.id, IdempotencyKey.key == key)).scalar_one() != digest:
        raise ApiError(422, "Idempotency-Key: this key was already sent with another request; a new action needs "
                            "a new key", code="idempotency_key_reused", field="Idempotency-Key")


IdempotencyHeader = Annotated[str | None, Header(
    alias="Idempotency-Key", min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$",
    description="Any unique string of visible ASCII (a UUID is fine), up to 128 characters. A request "
                "retried with the same key by the same staff member answers the first result and does not "
                "act (or store its note) twice. The key stands for its first request: sent with another "
                "(another action, case, body or note) it is refused with 422 `idempotency_key_reused`.",
    examples=["6f1c2a0e-6a43-4f0b-9d0e-2f6f3b1f9a77"])]


@dataclass
class StaffAction:
    """A staff member acting on a case they are allowed to act on (see api.access)."""

    case: RenewalCase
    staff: Staff
    session: Session
    client: Client
    now: datetime  # the business clock when the request came (a refusal is recorded at it)
    idempotency_key: str | None = None

    async def update(self, name: str, payload: Callable[[c.Actor, uuid.UUID | None], object],
                     note: str | None = None, result_type: type = c.CaseState) -> Any:
        """Run the workflow update `name`. The note is stored first and only its id travels;
        a rejected action leaves no note behind. With an idempotency key the update id and the
        note id derive from it, so a retry is deduplicated by Temporal and by the note's key; the
        key is bound to this request first, so it never stands for another one."""
        update_id = None
        if self.idempotency_key:
            update_id = f"{name}:{self.staff.id}:{self.idempotency_key}"
        note_id = (uuid.uuid5(self.case.id, f"note:{update_id}") if update_id else uuid.uuid4()) if note else None
        request = payload(actor(self.staff), note_id)

        def prepare() -> None:
            if self.idempotency_key:
                digest = _request_digest(self.case, name, request, note)
                _claim_key(self.session, self.staff, self.idempotency_key, digest)
            _write_note(self.session, self.case, self.staff, note, note_id)  # commits the key with the note

        await run_in_threadpool(prepare)
        handle = self.client.get_workflow_handle(self.case.workflow_id)
        try:
            return await update_case(handle, name, request, result_type, update_id)
        except CaseRejected as refused:
            if note_id:
                await run_in_threadpool(_drop_note, self.session, note_id)
            # A refused update leaves no history event: the audit timeline reads it from here.
            await run_in_threadpool(record_refusal, self.session, self.case, self.staff, name, request,
                                    refused.reason, self.now)
            raise


def _casework(case: CaseForWork, staff: CurrentStaff, session: SessionDep, client: TemporalDep,
              now: NowDep, idempotency_key: IdempotencyHeader = None) -> StaffAction:
    return StaffAction(case, staff, session, client, now, idempotency_key)


def _administration(case: CaseForAdmin, staff: CurrentStaff, session: SessionDep, client: TemporalDep,
                    now: NowDep, idempotency_key: IdempotencyHeader = None) -> StaffAction:
    return StaffAction(case, staff, session, client, now, idempotency_key)


Casework = Annotated[StaffAction, Depends(_casework)]
Administration = Annotated[StaffAction, Depends(_administration)]


# --- reading ---------------------------------------------------------------------------------------


@router.get("", summary="Cases in my scope, filtered and paged", response_model=CasePage,
            responses=error_responses(401, 422))
def list_cases(staff: CurrentStaff, session: SessionDep, stage: Stage | None = None,
               status: CaseStatus | None = Query(None, description="open, or closed (any outcome)"),
               outcome: Outcome | None = None, owner: uuid.UUID | None = Query(None, description="owner's staff id"),
               limit: Limit = 50, offset: Offset = 0) -> CasePage:
    where = [case_scope(staff)]
    if stage:
        where.append(RenewalCase.stage == stage)
    if status:
        where.append(RenewalCase.outcome.is_(None) if status is CaseStatus.open else RenewalCase.outcome.is_not(None))
    if outcome:
        where.append(RenewalCase.outcome == outcome)
    if owner:
        where.append(RenewalCase.owner_id == owner)
    rows = session.exec(select(RenewalCase, func.count().over()).where(*where)
                        .order_by(RenewalCase.expiry_date, RenewalCase.id).limit(limit).offset(offset)).all()
    return CasePage(items=[row[0] for row in rows], total=rows[0][1] if rows else 0, limit=limit, offset=offset)


@router.get("/{case_id}", summary="One case: its projection row and the workflow's live state",
            response_model=CaseView, responses=error_responses(401, 403, 404, 422))
async def get_case(case: ReadableCase, session: SessionDep, client: TemporalDep, now: NowDep) -> CaseView:
    try:
        state = await client.get_workflow_handle(case.workflow_id).query(
            "state", now, result_type=c.CaseState, rpc_timeout=QUERY_TIMEOUT)
    except (RPCError, WorkflowQueryFailedError):
        state = None  # the projection still answers while Temporal cannot
    policy = await run_in_threadpool(session.get, Policy, case.policy_id)
    return CaseView(case=case, state=state, customer_id=policy.customer_id)


# --- staff actions (workflow updates) ----------------------------------------------------------------


def case_update(action: str, summary: str):
    """The route of a staff action that answers with the case's new state."""
    return router.post(f"/{{case_id}}/{action}", summary=summary, response_model=c.CaseState,
                       responses={**state_responses(), **ACTION_ERRORS})


def _put_on_do_not_call_list(session: Session, case: RenewalCase, days: int, now: datetime) -> list[str]:
    """The list is the person's: the workflow ids of their other open cases, which must stop too."""
    customer = _customer_of(session, case)
    until = case_today(case, now) + timedelta(days=days)
    customer.do_not_call_until = max(until, customer.do_not_call_until or until)
    session.add(customer)
    session.commit()
    return [workflow_id for workflow_id, case_id, _ in open_cases(session, [customer.id]) if case_id != case.id]


def _record_intent(session: Session, case: RenewalCase, body: ContactIn) -> None:
    """The customer's intent as this contact found it; what the contact did not say stays as it was."""
    said = {name: value for name, value in (("quote_wish", body.quote_wish), ("signing_intent", body.signing_intent))
            if value is not None}
    if said:
        session.execute(update(RenewalCase).where(RenewalCase.id == case.id).values(**said))
        session.commit()


@case_update("contacts", "Record a contact and its result (handles the open call task) with the customer's intent "
                         "(wants or declined a quote, 签单意向); do_not_contact puts the customer on the do-not-call "
                         "list and stops the case's calls and customer SMS")
async def record_contact(body: ContactIn, act: Casework, settings: SettingsDep) -> c.CaseState:
    state = await act.update("record_contact", lambda who, note_id: c.RecordContact(
        actor=who, channel=body.channel, result=body.result, note_id=note_id), body.note)
    await run_in_threadpool(_record_intent, act.session, act.case, body)
    if body.result is c.ContactResult.do_not_contact:
        others = await run_in_threadpool(_put_on_do_not_call_list, act.session, act.case, settings.do_not_call_days,
                                         act.now)
        told = c.CustomerRefusedContact(on_case=act.case.id, staff_id=act.staff.id)
        for workflow_id in others:  # their other open cases stop calling and texting too
            await _tell_case(act.client, workflow_id, "customer_refused_contact", told)
    return state


@case_update("follow-up", "Set the follow-up status: success, failed or continue")
async def set_follow_up(body: FollowUpIn, act: Casework) -> c.CaseState:
    return await act.update("set_follow_up", lambda who, note_id: c.SetFollowUp(
        actor=who, status=body.status, note_id=note_id, new_policy_no=body.new_policy_no), body.note)


def _text_for_other(reason: c.LossReason | None, note: str | None) -> None:
    refusal = c.other_without_text(reason, note)
    if refusal:
        raise ApiError(422, f"note: {refusal}", field="note")


@case_update("renewed-elsewhere", "Report that the customer renewed with another insurer")
async def report_renewed_elsewhere(body: RenewedElsewhereIn, act: Casework) -> c.CaseState:
    _text_for_other(body.reason, body.note)
    return await act.update("report_renewed_elsewhere", lambda who, note_id: c.ReportRenewedElsewhere(
        actor=who, insurer=body.insurer, reason=body.reason, note_id=note_id), body.note)


@case_update("loss-reason", "Record why the customer renewed elsewhere (ends the case LOST); `other` needs a note")
async def record_loss_reason(body: LossReasonIn, act: Casework) -> c.CaseState:
    _text_for_other(body.reason, body.note)
    return await act.update("record_loss_reason", lambda who, note_id: c.RecordLossReason(
        actor=who, reason=body.reason, note_id=note_id), body.note)


@case_update("close", "Close a case (admin): policy cancelled, vehicle scrapped or transferred")
async def close_case(body: CloseIn, act: Administration) -> c.CaseState:
    return await act.update("close", lambda who, note_id: c.Close(actor=who, reason=body.reason, note_id=note_id),
                            body.note)


@case_update("resolve-attention", "Mark the case's needs-attention task done (admin), saying what was done")
async def resolve_attention(body: ResolveAttentionIn, act: Administration) -> c.CaseState:
    return await act.update("resolve_attention", lambda who, note_id: c.ResolveAttention(actor=who, note_id=note_id),
                            body.note)


def _eligible_owner(session: Session, case: RenewalCase, staff_id: uuid.UUID) -> Staff:
    staff = session.get(Staff, staff_id)
    if staff is None or not staff.active or staff.role != Role.sales or staff.sub_branch_id != case.sub_branch_id:
        raise ApiError(422, "new_owner_id: not an active service manager (sales) of the case's sub-branch",
                       field="new_owner_id")
    return staff


def _move_assignment(session: Session, case: RenewalCase, new_owner_id: uuid.UUID, reason: str, at: datetime) -> None:
    """The policy's service manager follows the case (保单-客户-客户经理 one-to-one); history is kept.
    A retried reassignment finds the new owner already assigned and changes nothing."""
    current = session.exec(select(Assignment.staff_id).where(Assignment.policy_id == case.policy_id,
                                                             Assignment.ended_at.is_(None))).first()
    if current == new_owner_id:
        return
    session.execute(update(Assignment).where(Assignment.policy_id == case.policy_id, Assignment.ended_at.is_(None))
                    .values(ended_at=at))
    session.add(Assignment(policy_id=case.policy_id, staff_id=new_owner_id, assigned_at=at, reason=reason))
    session.commit()


@case_update("reassign", "Give the case to another service manager (admin); open tasks move")
async def reassign(body: ReassignIn, act: Administration) -> c.CaseState:
    await run_in_threadpool(_eligible_owner, act.session, act.case, body.new_owner_id)
    state = await act.update("reassign", lambda who, note_id: c.Reassign(
        actor=who, new_owner_id=body.new_owner_id, reason=body.reason.value, note_id=note_id), body.note)
    await run_in_threadpool(_move_assignment, act.session, act.case, body.new_owner_id, body.reason.value, act.now)
    return state


@router.post(
    "/{case_id}/sms", summary="Send the customer a quote or service-request SMS (held in quiet hours)",
    response_model=SmsOut, responses=SMS_RESPONSES,
)
async def send_sms(body: SmsIn, act: Casework, response: Response, settings: SettingsDep) -> SmsOut:
    if body.quote_id is not None:  # only a priced, unexpired, still eligible quote goes out
        await run_in_threadpool(quote_to_send, act.session, act.case, body.quote_id, act.now, settings)
    decision: c.SmsDecision = await act.update("send_customer_sms", lambda who, _: c.SendCustomerSms(
        actor=who, template=body.template, quote_id=body.quote_id), result_type=c.SmsDecision)
    response.status_code = 202 if decision.status in ("held", "queued") else 200
    return SmsOut(status=decision.status, send_at=decision.send_at, error_code=decision.error_code)


# --- calls and phones (not workflow updates: the case is not changed by them) --------------------------


def _customer_of(session: Session, case: RenewalCase) -> Customer:
    return session.exec(select(Customer).join(Policy, Policy.customer_id == Customer.id)
                        .where(Policy.id == case.policy_id)).one()


def _refuse_call(case: RenewalCase, customer: Customer, now: datetime) -> None:
    if case.outcome:
        raise CaseRejected(c.closed_reason(case.outcome))
    if case.lost_to_insurer:
        raise CaseRejected(c.NO_MORE_CONTACT)
    refusal = call_refusal(now, case.timezone)
    if refusal:
        raise CaseRejected(refusal)
    if customer.do_not_call_until and customer.do_not_call_until >= case_today(case, now):
        raise CaseRejected(f"the customer is on the do-not-call list until {customer.do_not_call_until}: no calls")


def _place_call(session: Session, settings: Settings, notifier: Notifier, staff: Staff, case: RenewalCase,
                now: datetime) -> ContactRecord:
    customer = _customer_of(session, case)
    _refuse_call(case, customer, now)
    dial_to = number_to_dial(customer)
    twiml = call_twiml(CONNECTING_NOTICE, dial_to, caller_id=settings.twilio_from or "",
                       recording_callback=callback_url(settings, "recording"),
                       whisper_url=callback_url(settings, "call-whisper"),
                       dial_action_url=callback_url(settings, "dial-result"))
    try:
        # Twilio rings the staff member's own phone; the TwiML then bridges to the customer.
        placed = notifier.place_call(staff.phone, twiml, status_callback=callback_url(settings, "call-status"))
    except SendError as exc:
        failure = call_failure(exc)
        raise ApiError(failure.status, failure.message, code=failure.code, headers={
            "Retry-After": str(failure.retry_after)} if failure.retry_after else None) from None
    record = ContactRecord(case_id=case.id, customer_id=customer.id, staff_id=staff.id, recipient="customer",
                           channel=c.Channel.call, direction="outbound", masked_number=mask_phone(dial_to),
                           provider_id=placed.provider_id, delivery_status=placed.status, created_at=now, sent_at=now)
    session.add(record)
    session.commit()
    return record


@router.post(
    "/{case_id}/call", summary="Click-to-call: your phone rings, then Twilio bridges you to the customer (recorded)",
    status_code=202, response_model=CallOut, responses={**ACTION_ERRORS, **error_responses(502)},
    description="Refused (409, with the reason) outside 09:00-21:00 in the policy's time zone, for do-not-call "
                "customers and for closed cases. You never see the customer's number: only a masked one. "
                "When Twilio cannot place the call: 502 `staff_phone_not_callable` (your own number on record "
                "cannot be called) or `call_failed`, with the reason; 503 `call_unavailable` with `Retry-After`.",
)
async def click_to_call(act: Casework, settings: SettingsDep, notifier: NotifierDep) -> CallOut:
    record = await run_in_threadpool(_place_call, act.session, settings, notifier, act.staff, act.case, act.now)
    return CallOut(call_sid=record.provider_id, status=record.delivery_status, dialing=record.masked_number,
                   contact_id=record.id)


def _correct_phone(session: Session, case: RenewalCase, staff: Staff, body: CustomerPhoneIn) -> CustomerPhoneOut:
    phone = normalise_phone(body.phone)  # StaffError("phone: ...") answers 422 naming the field
    customer = _customer_of(session, case)
    customer.corrected_phone, customer.corrected_phone_by, customer.phone_unreachable = phone, staff.id, False
    session.add(customer)
    note_id = _write_note(session, case, staff, body.note)  # commits the phone with the note
    return CustomerPhoneOut(customer_id=customer.id, corrected_phone=phone, phone_unreachable=False, note_id=note_id)


async def _tell_case(client: Client, workflow_id: str, signal: str, *args: Any) -> None:
    try:
        await client.get_workflow_handle(workflow_id).signal(signal, *args)
    except RPCError as exc:  # finished meanwhile: a closed case has nothing left to send or call
        if exc.status is not RPCStatusCode.NOT_FOUND:
            raise


@router.put("/{case_id}/customer-phone", summary="Enter a corrected phone (电话有误); only you will ever see it",
            response_model=CustomerPhoneOut, responses=ACTION_ERRORS)
async def set_customer_phone(body: CustomerPhoneIn, case: CaseForPhone, staff: CurrentStaff,
                             session: SessionDep, client: TemporalDep) -> CustomerPhoneOut:
    corrected = await run_in_threadpool(_correct_phone, session, case, staff, body)
    await _tell_case(client, case.workflow_id, "phone_corrected")  # automatic SMS resume; the find-a-number task is done
    return corrected


def _checked(field: str, check: Callable[[], Any]) -> Any:
    try:
        return check()
    except ValueError as exc:  # the reason names no number
        raise ApiError(422, f"{field}: {exc}", field=field) from None


def _person(field: str, given: PersonIn, *, phone_required: bool = False) -> dict[str, str]:
    if phone_required and not given.phone:
        raise ApiError(422, f"{field}.phone: the proxy needs a phone", field=f"{field}.phone")
    return _checked(field, lambda: person(given.name, given.relation, given.phone))


def _save_customer_contacts(session: Session, case: RenewalCase, body: CustomerContactsIn) -> CustomerContactsOut:
    customer = _customer_of(session, case)
    customer.proxy = _person("proxy", body.proxy, phone_required=True) if body.proxy else None
    customer.family = [_person(f"family.{i}", member) for i, member in enumerate(body.family)]
    customer.other_phones = list(dict.fromkeys(_checked(f"other_phones.{i}", lambda: phone_number(number))
                                               for i, number in enumerate(body.other_phones)))
    session.add(customer)
    session.commit()
    return CustomerContactsOut(customer_id=customer.id, other_phones=customer.other_phones,
                               proxy=ContactPerson(**customer.proxy) if customer.proxy else None,
                               family=[ContactPerson(**member) for member in customer.family])


@router.put("/{case_id}/customer-contacts", summary="Record the customer's proxy (委托人), family members and other "
            "phones (replaces what was recorded)", response_model=CustomerContactsOut, responses=ACTION_ERRORS,
            description="The case's current service manager, while the case is open. The unified customer view "
                        "shows them with their phones masked as the customer's own.")
def set_customer_contacts(body: CustomerContactsIn, case: CaseForPhone, session: SessionDep) -> CustomerContactsOut:
    return _save_customer_contacts(session, case, body)


def _mark_unreachable(session: Session, case: RenewalCase, staff: Staff, body: PhoneUnreachableIn) -> CustomerPhoneOut:
    customer = _customer_of(session, case)
    customer.phone_unreachable = True
    session.add(customer)
    note_id = _write_note(session, case, staff, body.note)  # commits the flag with the note
    return CustomerPhoneOut(customer_id=customer.id, corrected_phone=None, phone_unreachable=True, note_id=note_id)


@router.post("/{case_id}/phone-unreachable", summary="Record that no working number can be found for the customer: "
             "opens one find-a-working-number task for you and stops automatic customer SMS until a corrected phone",
             response_model=CustomerPhoneOut, responses=ACTION_ERRORS)
async def mark_phone_unreachable(body: PhoneUnreachableIn, case: CaseForPhone, staff: CurrentStaff,
                                 session: SessionDep, client: TemporalDep) -> CustomerPhoneOut:
    marked = await run_in_threadpool(_mark_unreachable, session, case, staff, body)
    await _tell_case(client, case.workflow_id, "phone_unreachable")
    return marked
