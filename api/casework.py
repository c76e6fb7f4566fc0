"""Staff actions on a case, for the API's routes and the console's pages alike (api.access has let
the staff member act before either calls them). Each workflow action is one update, validated by
the workflow, so a wrong-stage action is refused with the validator's reason; what changes outside
the workflow is renewals.case.service's."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Header, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import TypeAdapter
from sqlmodel import Session, select
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from api.access import CaseForAdmin, CaseForWork, actor, cover_of, number_to_dial
from api.deps import CurrentStaff, NowDep, SessionDep, TemporalDep
from api.errors import ApiError
from api.schemas import (
    CloseIn, ContactIn, ContactPerson, CustomerContactsIn, CustomerContactsOut, CustomerPhoneIn, CustomerPhoneOut,
    FollowUpIn, LossReasonIn, PersonIn, PhoneUnreachableIn, ReassignIn, RenewedElsewhereIn, ResolveAttentionIn, SmsIn,
    SmsOut,
)
from models import ContactRecord, RenewalCase, Staff, Task, TaskState
from renewals.audit.refusals import record_refusal
from renewals.case import service
from renewals.case.calendar import local_date, plan_renewal
from renewals.case.start import CaseRejected, update_case
from renewals.core.notify import CONNECTING_NOTICE, Notifier, SendError, call_failure, call_twiml, callback_url
from renewals.core.settings import Settings
from renewals.intake.policy_file import person, phone_number
from renewals.ownership.service import follow_case, sales_of
from renewals.quotes.service import quote_to_send
from renewals.case import contract as c

IdempotencyHeader = Annotated[str | None, Header(
    alias="Idempotency-Key", min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$",
    description="Any unique string of visible ASCII (a UUID is fine), up to 128 characters. A request "
                "retried with the same key by the same staff member does not act (or store its note) twice; "
                "it answers the case as it is now, the first request's action in it. The key stands for its first request: sent with another "
                "(another action, case, body or note) it is refused with 422 `idempotency_key_reused`.",
    examples=["6f1c2a0e-6a43-4f0b-9d0e-2f6f3b1f9a77"])]


_CASE_STATE = TypeAdapter(c.CaseState)


def _request_digest(case: RenewalCase, name: str, request: object, note: str | None) -> str:
    """What an Idempotency-Key stands for: the action, the case and everything asked, the note's text too."""
    asked = {"action": name, "case": str(case.id), "request": dataclasses.asdict(request), "note": note}
    return hashlib.sha256(json.dumps(asked, sort_keys=True, default=str).encode()).hexdigest()


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
                     note: str | None = None, result_type: type = c.ActionDone) -> Any:
        """Run the workflow update `name`. The note is stored first and only its id travels;
        a rejected action leaves no note behind. With an idempotency key the update id and the
        note id derive from it, so a retry is deduplicated by Temporal and by the note's key; the
        key is bound to this request first, so it never stands for another one."""
        update_id = None
        if self.idempotency_key:
            update_id = f"{name}:{self.staff.id}:{self.idempotency_key}"
        note_id = (uuid.uuid5(self.case.id, f"note:{update_id}") if update_id else uuid.uuid4()) if note else None
        covering_for = await run_in_threadpool(cover_of, self.session, self.staff, self.case, self.now)
        request = payload(actor(self.staff, covering_for), note_id)
        digest = _request_digest(self.case, name, request, note) if self.idempotency_key else None
        try:
            await run_in_threadpool(service.prepare_action, self.session, self.case, self.staff, note, note_id,
                                    self.idempotency_key, digest)
        except service.KeyReused:
            raise ApiError(422, "Idempotency-Key: this key was already sent with another request; a new action "
                                "needs a new key", code="idempotency_key_reused", field="Idempotency-Key") from None
        handle = self.client.get_workflow_handle(self.case.workflow_id)
        try:
            return await update_case(handle, name, request, result_type, update_id)
        except CaseRejected as refused:
            if note_id:
                await run_in_threadpool(service.drop_note, self.session, note_id)
            # A refused update leaves no history event: the audit timeline reads it from here.
            await run_in_threadpool(record_refusal, self.session, self.case, self.staff, name, request,
                                    refused.reason, self.now)
            raise

    async def answer(self, done: c.ActionDone) -> c.CaseState:
        """The case as the projection shows it once it has the action's writes (renewal_case.revision
        reaches the update's), waited for by polling the row rather than by the workflow."""
        case_id = self.case.id
        shown = await service.projection_shows(
            lambda: run_in_threadpool(service.projected_revision, self.session, case_id), done.revision)
        return await run_in_threadpool(projected_state, self.session, case_id, self.now,
                                       None if shown else done.changed)


def projected_state(session: Session, case_id: uuid.UUID, now: datetime,
                    changed: dict[str, str | bool | None] | None = None) -> c.CaseState:
    """A case's state as its projection has it, in the shape of the workflow's `state` query. What
    only the workflow holds (its problems, counted contact failures) is left out; `changed` (what
    an action changed, when the projection has not caught up with it yet) goes over the rest."""
    case = session.exec(select(RenewalCase).where(RenewalCase.id == case_id)
                        .execution_options(populate_existing=True)).one()
    customer = service.customer_of(session, case)
    tasks = [] if case.outcome else session.exec(
        select(Task).where(Task.case_id == case_id, Task.state == TaskState.open, Task.opens_at <= now,
                           Task.due_at > now).order_by(Task.due_at, Task.opens_at)).all()
    compressed = {"day_seconds": case.day_seconds, "anchor": case.clock_anchor} if case.clock_anchor else {}
    plan = plan_renewal(case.expiry_date, case.timezone, **compressed)  # the training sandbox's days too
    deadlines = [t.due_at for t in tasks]
    if case.outcome is None:
        deadlines.append(plan.next_stage_after(case.stage, case.follow_up_status != "continue")[1])
    state = c.CaseState(
        case_id=case.id, policy_no=case.policy_no, expiry_date=case.expiry_date, stage=case.stage,
        owner_id=case.owner_id, deputy_id=case.deputy_id, escalated=case.escalated,
        last_status=c.FollowUpStatus(case.follow_up_status) if case.follow_up_status else None,
        outcome=case.outcome, outcome_reason=case.outcome_reason,
        new_policy_no=case.new_policy_no, renewed_elsewhere=case.lost_to_insurer is not None,
        sms_opted_out=customer.sms_opt_out,
        no_contact=bool(customer.do_not_call_until and customer.do_not_call_until >= local_date(now, case.timezone)),
        open_tasks=[c.OpenTask(id=t.id, kind=c.TaskKind(t.kind), assignee_id=t.assignee_id, stage=c.Stage(t.stage),
                               opens_at=t.opens_at,
                               due_at=t.due_at, day=t.day, handover_note_id=t.handover_note_id) for t in tasks],
        next_deadline=min(deadlines, default=None),
    )
    return _CASE_STATE.validate_python({**dataclasses.asdict(state), **(changed or {})}) if changed else state


def _casework(case: CaseForWork, staff: CurrentStaff, session: SessionDep, client: TemporalDep,
              now: NowDep, idempotency_key: IdempotencyHeader = None) -> StaffAction:
    return StaffAction(case, staff, session, client, now, idempotency_key)


def _administration(case: CaseForAdmin, staff: CurrentStaff, session: SessionDep, client: TemporalDep,
                    now: NowDep, idempotency_key: IdempotencyHeader = None) -> StaffAction:
    return StaffAction(case, staff, session, client, now, idempotency_key)


Casework = Annotated[StaffAction, Depends(_casework)]
Administration = Annotated[StaffAction, Depends(_administration)]


async def tell_case(client: Client, workflow_id: str, signal: str, *args: Any) -> None:
    try:
        await client.get_workflow_handle(workflow_id).signal(signal, *args)
    except RPCError as exc:  # finished meanwhile: a closed case has nothing left to send or call
        if exc.status is not RPCStatusCode.NOT_FOUND:
            raise


# --- workflow updates --------------------------------------------------------------------------------


async def record_contact(act: StaffAction, body: ContactIn, do_not_call_days: int) -> c.CaseState:
    done = await act.update("record_contact", lambda who, note_id: c.RecordContact(
        actor=who, channel=body.channel, result=body.result, note_id=note_id), body.note)
    refused_all = body.result is c.ContactResult.do_not_contact
    others = await run_in_threadpool(service.record_what_the_contact_found, act.session, act.case, body.quote_wish,
                                     body.signing_intent, do_not_call_days if refused_all else None, act.now)
    told = c.CustomerRefusedContact(on_case=act.case.id, staff_id=act.staff.id)
    for workflow_id in others:  # their other open cases stop calling and texting too
        await tell_case(act.client, workflow_id, "customer_refused_contact", told)
    return await act.answer(done)


async def set_follow_up(act: StaffAction, body: FollowUpIn) -> c.CaseState:
    return await act.answer(await act.update("set_follow_up", lambda who, note_id: c.SetFollowUp(
        actor=who, status=body.status, note_id=note_id, new_policy_no=body.new_policy_no), body.note))


def _text_for_other(reason: c.LossReason | None, note: str | None) -> None:
    refusal = c.other_without_text(reason, note)
    if refusal:
        raise ApiError(422, f"note: {refusal}", field="note")


async def report_renewed_elsewhere(act: StaffAction, body: RenewedElsewhereIn) -> c.CaseState:
    _text_for_other(body.reason, body.note)
    return await act.answer(await act.update("report_renewed_elsewhere", lambda who, note_id: c.ReportRenewedElsewhere(
        actor=who, insurer=body.insurer, reason=body.reason, note_id=note_id), body.note))


async def record_loss_reason(act: StaffAction, body: LossReasonIn) -> c.CaseState:
    _text_for_other(body.reason, body.note)
    return await act.answer(await act.update("record_loss_reason", lambda who, note_id: c.RecordLossReason(
        actor=who, reason=body.reason, note_id=note_id), body.note))


async def close_case(act: StaffAction, body: CloseIn) -> c.CaseState:
    return await act.answer(await act.update(
        "close", lambda who, note_id: c.Close(actor=who, reason=body.reason, note_id=note_id), body.note))


async def resolve_attention(act: StaffAction, body: ResolveAttentionIn) -> c.CaseState:
    return await act.answer(await act.update(
        "resolve_attention", lambda who, note_id: c.ResolveAttention(actor=who, note_id=note_id), body.note))


async def reassign(act: StaffAction, body: ReassignIn) -> c.CaseState:
    """The case's open tasks move with it, and its policy's service manager follows it."""
    await run_in_threadpool(sales_of, act.session, body.new_owner_id, act.case.sub_branch_id, "new_owner_id")
    done = await act.update("reassign", lambda who, note_id: c.Reassign(
        actor=who, new_owner_id=body.new_owner_id, reason=body.reason.value, note_id=note_id), body.note)
    await run_in_threadpool(follow_case, act.session, act.case, body.new_owner_id, act.staff, body.reason.value,
                            act.now)
    return await act.answer(done)


async def send_sms(act: StaffAction, body: SmsIn, settings: Settings) -> c.SmsDecision:
    if body.quote_id is not None:  # only a priced, unexpired, still eligible quote goes out
        await run_in_threadpool(quote_to_send, act.session, act.case, body.quote_id, act.now, settings)
    return await act.update("send_customer_sms", lambda who, _: c.SendCustomerSms(
        actor=who, template=body.template, quote_id=body.quote_id), result_type=c.SmsDecision)


def sms_answer(decision: c.SmsDecision, response: Response) -> SmsOut:
    """What a staff SMS answers: 202 while it waits (quiet hours, or queued behind a dependency)."""
    response.status_code = 202 if decision.status in ("held", "queued") else 200
    return SmsOut(status=decision.status, send_at=decision.send_at, error_code=decision.error_code)


# --- calls and the customer's phones (the case itself is not changed by them) --------------------------


def _place_call(session: Session, settings: Settings, notifier: Notifier, staff: Staff, case: RenewalCase,
                now: datetime) -> ContactRecord:
    customer = service.customer_of(session, case)
    service.refuse_call(case, customer, now)
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
    return service.record_call(session, case, customer, staff, dial_to, placed, now)


async def place_call(act: StaffAction, settings: Settings, notifier: Notifier) -> ContactRecord:
    """Click-to-call: the staff member's phone rings, then Twilio bridges them to the customer."""
    return await run_in_threadpool(_place_call, act.session, settings, notifier, act.staff, act.case, act.now)


async def correct_phone(session: Session, client: Client, case: RenewalCase, staff: Staff,
                        body: CustomerPhoneIn) -> CustomerPhoneOut:
    customer, note_id = await run_in_threadpool(service.correct_phone, session, case, staff, body.phone, body.note)
    await tell_case(client, case.workflow_id, "phone_corrected")  # automatic SMS resume; the find-a-number task is done
    return CustomerPhoneOut(customer_id=customer.id, corrected_phone=customer.corrected_phone, phone_unreachable=False,
                            note_id=note_id)


async def mark_phone_unreachable(session: Session, client: Client, case: RenewalCase, staff: Staff,
                                 body: PhoneUnreachableIn) -> CustomerPhoneOut:
    customer, note_id = await run_in_threadpool(service.mark_phone_unreachable, session, case, staff, body.note)
    await tell_case(client, case.workflow_id, "phone_unreachable")
    return CustomerPhoneOut(customer_id=customer.id, corrected_phone=None, phone_unreachable=True, note_id=note_id)


def _checked(field: str, check: Callable[[], Any]) -> Any:
    try:
        return check()
    except ValueError as exc:  # the reason names no number
        raise ApiError(422, f"{field}: {exc}", field=field) from None


def _person(field: str, given: PersonIn, *, phone_required: bool = False) -> dict[str, str]:
    if phone_required and not given.phone:
        raise ApiError(422, f"{field}.phone: the proxy needs a phone", field=f"{field}.phone")
    return _checked(field, lambda: person(given.name, given.relation, given.phone))


def save_customer_contacts(session: Session, case: RenewalCase, body: CustomerContactsIn) -> CustomerContactsOut:
    customer = service.save_customer_contacts(
        session, case, proxy=_person("proxy", body.proxy, phone_required=True) if body.proxy else None,
        family=[_person(f"family.{i}", member) for i, member in enumerate(body.family)],
        other_phones=[_checked(f"other_phones.{i}", lambda: phone_number(number))
                      for i, number in enumerate(body.other_phones)])
    return CustomerContactsOut(customer_id=customer.id, other_phones=customer.other_phones,
                               proxy=ContactPerson(**customer.proxy) if customer.proxy else None,
                               family=[ContactPerson(**member) for member in customer.family])
