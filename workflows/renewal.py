"""PolicyRenewal: one durable workflow per policy nearing expiry (SPEC §2, §3).

Decisions only, in the seed's table's order: the case sleeps until the next window opens, enters
it (its tasks planned in one write when the stage opens, its entry SMS sent), and answers staff
updates and the core system's signals in between. Missed daily tasks are derived from the clock,
not from daily wake-ups. Every write and send is an activity, queued for the lanes of `Effects`.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import fields, replace
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RawValue, RetryPolicy, SearchAttributeKey
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.notifications import Notifications
    from activities.projection import CaseProjection
    from renewals.case.calendar import (
        STAGE_ORDER, RenewalPlan, SkippedWindow, contact_handles_task, customer_sms_time,
        late_entry, local_label, morning_sms_time, night_wake, plan_renewal, staff_sms_handles_task, windows_between,
    )
    import renewals.case.contract as c  # by its full name: a `from` list would re-run it in every sandbox
    from renewals.case.contract import (
        CaseChange, CaseSnapshot, ContactToRecord, Outcome, SmsOutcome, SmsRequest, Stage, TaskKind,
    )
    from renewals.core.masking import mask_numbers
    from workflows.case_state import Case, Effects
    import renewals.case.staff_rules as staff_rules
    from renewals.case.tasks import planned_tasks, task_id

ACTIVITY_TIMEOUT = timedelta(seconds=30)
# Retries are bounded: a passing outage (PostgreSQL restarting, Twilio 5xx) is ridden out for up
# to an hour; deterministic failures are non-retryable and fail at once. What still fails is
# recorded on the case with a needs-attention task for the branch admin, and the case goes on.
RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1),
                    maximum_attempts=70)
GIVE_UP_AFTER = timedelta(hours=1)
# A complaint must be handled by the deputy by the end of the next day.
COMPLAINT_DAYS = 1


class Rejected(ApplicationError):
    """An update the validator refuses; the message is shown to the staff member as is."""


def _refuse(reason: str | None) -> None:
    if reason is not None:
        raise Rejected(reason)


@workflow.defn(name=c.WORKFLOW_TYPE)
class PolicyRenewal:
    @workflow.init
    def __init__(self, inp: c.RenewalInput) -> None:
        # Initialised from the input here, not in run: an update or query can arrive in the
        # workflow's first task (update-with-start), before run has begun.
        self.case = Case(
            inp=inp, case_id=c.case_id_for(workflow.info().workflow_id),
            plan=_plan(inp, inp.expiry_date), owner=inp.owner_id, deputy=inp.deputy_id, admins=list(inp.admin_ids),
            do_not_contact=inp.do_not_contact, awake_at=workflow.info().workflow_start_time,
        )
        self._effects = Effects(self._do)
        self._written: CaseSnapshot | None = None  # the case as the projection has it, once known

    # --- run: sleep until the next window, enter it -----------------------------------------------

    @workflow.run
    async def run(self, inp: c.RenewalInput) -> c.CaseState:
        self._project()
        while self.case.outcome is None:
            self._advance()
            if self.case.outcome is None:
                await self._sleep()
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._effects.drained()
        return _payload(self._state())  # read as c.CaseState

    async def _sleep(self) -> None:
        """Until the next boundary (or held SMS) is due, or a staff action or signal changed it."""
        self.case.wake_now = False
        wake_at = self._next_wake()
        self._set_details(wake_at)
        try:
            await workflow.wait_condition(
                lambda: self.case.wake_now or self.case.outcome is not None,
                timeout=max(wake_at - workflow.now(), timedelta(seconds=1)),
                timeout_summary=f"{wake_at:%m-%d %H:%M}Z",
            )
        except asyncio.TimeoutError:
            pass  # the next boundary (or a held SMS) is due: _advance handles it

    def _advance(self) -> None:
        """Enter the stage (or outcome) the clock has reached, and send held SMS that are due."""
        now = workflow.now()
        target, at = self._due_transition()
        if self._wakes_at(at) <= now:
            if target is None:
                self._finish(Outcome.LOST if self.case.renewed_elsewhere else Outcome.LAPSED,
                             c.LossReason.unknown if self.case.renewed_elsewhere else None)
                return
            self._enter(target)
        due = [sms for t, sms in self.case.held_sms if t <= now]
        self.case.held_sms = [(t, sms) for t, sms in self.case.held_sms if t > now]
        for sms in due:
            # Held automatic customer SMS wait for a working number too (a staff member's own goes as sent).
            if sms.recipient != "customer" or not (
                    self._customer_sms_stopped() or (self.case.unreachable and sms.sent_by is None)):
                self._send(sms)
        self.case.awake_at = now

    def _due_transition(self) -> tuple[Stage | None, datetime]:
        """The furthest stage whose start has passed (stages the clock skipped are not entered),
        or None when the case is due to close; with the instant of the first pending boundary."""
        if self.case.renewed_elsewhere:
            return None, self.case.plan.ends_at
        now, stage = workflow.now(), self.case.stage
        nxt, at = self._next_stage_after(stage)
        first_at = at
        while nxt is not None and self._wakes_at(at) <= now:
            stage = nxt
            nxt, at = self._next_stage_after(stage)
        if stage is self.case.stage:
            return nxt, first_at
        return stage, first_at

    def _next_stage_after(self, stage: Stage) -> tuple[Stage | None, datetime]:
        return self.case.plan.next_stage_after(stage, stage is Stage.THIRD_CONTACT and self._escalates())

    def _next_wake(self) -> datetime:
        _, at = self._due_transition()
        return min([self._wakes_at(at), *(t for t, _ in self.case.held_sms)])

    def _spread(self) -> bool:
        return self.case.inp.spread_wake_ups and self.case.inp.clock_anchor is None

    def _wakes_at(self, boundary: datetime) -> datetime:
        """When the case wakes for a boundary: at its policy's minute of that night when a book's
        wake-ups are spread (the stage's tasks still open when the window does), else on it."""
        inp = self.case.inp
        return night_wake(boundary, inp.policy_no, inp.timezone) if self._spread() else boundary

    def _drop_held_customer_sms(self) -> None:
        self.case.held_sms = [(t, sms) for t, sms in self.case.held_sms if sms.recipient != "customer"]

    def _calls_for_deputy(self) -> bool:
        """The status (or, without one, the ESCALATE_WITHOUT_STATUS setting) asks for the deputy."""
        if self.case.status is None:
            return self.case.inp.escalate_without_status
        return self.case.status is c.FollowUpStatus.failed

    def _escalates(self) -> bool:
        """The status calls for the deputy, and there is still time for them: a `failed` after the
        end of T-8 (when the deputy's task would be due) waits for FINAL_CONTACT at T-7 09:00
        instead of putting the case under supervision for a few hours."""
        if not self._calls_for_deputy():
            return False
        [deputy_task] = self.case.plan.task_slots(Stage.DEPUTY_SUPERVISION)
        return workflow.now() < deputy_task.due_at

    # --- stages and outcomes ----------------------------------------------------------------------

    def _enter(self, stage: Stage) -> None:
        now = workflow.now()
        skipped = self._slept_through(stage)
        for window in skipped:
            self.case.skipped.append(window.stage)
            self.case.problems.append(c.Problem(at=now, activity=f"window_skipped {window.stage}",
                                                error=window.note()))
        self.case.stage = stage
        if stage is Stage.DEPUTY_SUPERVISION:
            self.case.escalated = True
        self._plan_stage_tasks()
        # The projection derives the same tasks from the snapshot: the payload stays small.
        self._project(open_stage_tasks=True, replan=self.case.plan_revision > 0)
        escalated = [c.ESCALATED.value_set(True)] if stage is Stage.DEPUTY_SUPERVISION else []  # the one change
        self._upsert(c.RENEWAL_STAGE.value_set(stage.value), *escalated)
        for sms in (*(late for window in skipped for late in window.sent_late), *self.case.plan.table[stage].entry_sms):
            if sms.recipient == "customer":
                self._notify_customer(self._sms(sms.template, "customer"))
            else:
                self._notify_staff(sms.template, sms.recipient)

    def _slept_through(self, stage: Stage) -> list[SkippedWindow]:
        """The windows before `stage` that opened while the case slept and passed before it woke
        (its worker down, or too busy to wake it in time), escalation as the status it slept with
        decided it; what becomes of each is calendar.late_entry's decision."""
        passed = [s for s in windows_between(self.case.stage, stage, self._calls_for_deputy())
                  if self.case.plan.window(s).starts_at > self.case.awake_at]
        return late_entry(passed, stage)

    def _plan_stage_tasks(self) -> None:
        case = self.case
        case.stage_tasks = planned_tasks(
            case.case_id, case.plan, case.stage, case.owner, case.deputy, plan_revision=case.plan_revision,
            calls_stopped=case.do_not_contact, since=workflow.now() if case.plan_revision else self._tasks_since(),
            handover_note_id=case.handover_note)

    def _tasks_since(self) -> datetime | None:
        """A case started mid-window (imported at T-15) has no task for the days before it started,
        so nothing is missed before it existed."""
        start = workflow.info().workflow_start_time
        if self.case.started_mid_window is None and any(
                slot.due_at <= start for slot in self.case.plan.task_slots(self.case.stage)):
            self.case.started_mid_window = start
        return self.case.started_mid_window

    def _finish(self, outcome: Outcome, reason: str | None = None, **change) -> None:
        self.case.outcome, self.case.outcome_reason = outcome, reason
        self.case.held_sms = []
        self._project(cancel_kinds=list(TaskKind), **change)
        status = [c.FOLLOW_UP_STATUS.value_set(self.case.status.value)] if self.case.status else []
        self._upsert(c.RENEWAL_OUTCOME.value_set(outcome.value), *status)
        self._set_details(None)

    # --- updates: what staff do -------------------------------------------------------------------

    @workflow.update
    def record_contact(self, u: c.RecordContact) -> c.ActionDone:
        before = self._facts()
        kinds = (TaskKind.complaint,) if u.actor.acts_as != self._actor_for_stage() else None
        task = self._current_task(u.actor.acts_as, kinds)
        if task is not None and task.kind is TaskKind.call and not contact_handles_task(self.case.stage, u.channel):
            task = None  # recorded, but the day asks for a call
        contact = ContactToRecord(staff_id=u.actor.id, channel=u.channel, result=u.result, note_id=u.note_id)
        complaint = [self._open_complaint()] if u.result is c.ContactResult.complaint else []
        refused = u.result is c.ContactResult.do_not_contact
        if refused:
            self._stop_contact(keep=task)
        self._handle(task, u.actor.id, u.result, contact=contact, open_tasks=complaint,
                     cancel_kinds=[TaskKind.call] if refused else [])
        if complaint:
            self._notify_staff("complaint_alert", "deputy", key=f"complaint:{self._update_uuid()}")
        return self._done(before)

    @record_contact.validator
    def _validate_record_contact(self, u: c.RecordContact) -> None:
        self._admit(u.actor)
        _refuse(staff_rules.contact_refusal(u.actor.acts_as, self._state()))

    def _open_complaint(self) -> c.OpenTask:
        now = workflow.now()
        task = c.OpenTask(id=self._update_uuid("complaint"), kind=TaskKind.complaint, assignee_id=self.case.deputy,
                          stage=self.case.stage, opens_at=now,
                          due_at=self.case.plan.end_of_day(self.case.plan.day_of(now) + COMPLAINT_DAYS))
        self.case.extra_tasks.append(task)
        return task

    @workflow.update
    def set_follow_up(self, u: c.SetFollowUp) -> c.ActionDone:
        before = self._facts()
        task = self._current_task(u.actor.acts_as)
        self.case.status = u.status
        if self.case.stage is Stage.DEPUTY_SUPERVISION and u.actor.id == self.case.deputy:
            self.case.handover_note = u.note_id
        if u.status is c.FollowUpStatus.success:
            self.case.new_policy_no = u.new_policy_no
            self._finish(Outcome.RENEWED, None, **self._handled_change(task, u.actor.id, u.status))
        else:
            self._handle(task, u.actor.id, u.status)
            self._upsert(c.FOLLOW_UP_STATUS.value_set(u.status.value))
            # The wake-up was computed from the old status: `failed` may now escalate (at T-10, or
            # at once if T-10 has passed), `continue` may now skip the deputy.
            self.case.wake_now = True
        return self._done(before)

    @set_follow_up.validator
    def _validate_set_follow_up(self, u: c.SetFollowUp) -> None:
        self._admit(u.actor)
        _refuse(staff_rules.follow_up_refusal(u.actor.acts_as, u.status, self._state(), noted=u.note_id is not None))
        if u.status is c.FollowUpStatus.success and not u.new_policy_no:
            raise Rejected("success needs the new policy number: a renewal counts only once paid and issued")

    @workflow.update
    def report_renewed_elsewhere(self, u: c.ReportRenewedElsewhere) -> c.ActionDone:
        before = self._facts()
        self.case.renewed_elsewhere, self.case.lost_to = True, u.insurer
        self._drop_held_customer_sms()
        if u.reason is not None:
            self._finish(Outcome.LOST, u.reason)
            return self._done(before)
        now = workflow.now()
        task = c.OpenTask(id=task_id(self.case.case_id, TaskKind.loss_reason, self.case.stage, None),
                          kind=TaskKind.loss_reason, assignee_id=self.case.owner, stage=self.case.stage,
                          opens_at=now, due_at=self.case.plan.ends_at)
        self.case.extra_tasks.append(task)
        self._project(open_tasks=[task], cancel_kinds=[TaskKind.call, TaskKind.supervision])
        self._notify_staff("loss_reason_request", "owner")
        self.case.wake_now = True  # the case now waits for the reason, not for the next window
        return self._done(before)

    @report_renewed_elsewhere.validator
    def _validate_report_renewed_elsewhere(self, u: c.ReportRenewedElsewhere) -> None:
        self._admit(u.actor)
        _refuse(staff_rules.renewed_elsewhere_refusal(u.actor.acts_as, self._state(),
                                                      by_system=u.actor.role is c.ActorRole.system))
        _refuse(c.other_without_text(u.reason, u.note_id))
        if u.insurer not in {code.value for code in c.Insurer}:
            raise Rejected(f"insurer: {u.insurer!r} is not an insurer code; choose one of "
                           f"{', '.join(c.Insurer)} (name any other in the note)")

    @workflow.update
    def record_loss_reason(self, u: c.RecordLossReason) -> c.ActionDone:
        before = self._facts()
        task = next((t for t in self.case.extra_tasks if t.kind is TaskKind.loss_reason), None)
        self._finish(Outcome.LOST, u.reason, **self._handled_change(task, u.actor.id, u.reason))
        return self._done(before)

    @record_loss_reason.validator
    def _validate_record_loss_reason(self, u: c.RecordLossReason) -> None:
        self._admit(u.actor)
        _refuse(staff_rules.loss_reason_refusal(u.actor.acts_as, self._state()))
        if u.reason is c.LossReason.unknown:
            raise Rejected("choose the reason the customer gave; 'unknown' is only set by the system at T+7")
        _refuse(c.other_without_text(u.reason, u.note_id))

    @workflow.update
    async def send_customer_sms(self, u: c.SendCustomerSms) -> c.SmsDecision:
        """A quote or service-request SMS the manager sends after a contact (held in quiet hours).
        It waits up to ANSWER_WAIT for Twilio's answer, else says queued."""
        sms = self._sms(u.template.value, "customer", key=f"staff-sms:{self._update_uuid()}")
        sms.quote_id, sms.sent_by = u.quote_id, u.actor.id
        self._effects.await_answer(sms.idempotency_key)
        decision = self._notify_customer(sms, automatic=False)
        if decision.status != "suppressed":
            self._after_staff_sms(u)
        await self._effects.settled()
        outcome = self._effects.answer(sms.idempotency_key)
        if decision.status != "queued" or outcome is None:
            return decision  # queued: it goes out when Twilio answers (its contact record shows when)
        return c.SmsDecision(status=outcome.status, send_at=decision.send_at, error_code=outcome.error_code)

    def _after_staff_sms(self, u: c.SendCustomerSms) -> None:
        """After expiry (电话或短信) the SMS handles the sender's call task of the day; in the final
        week it is recorded on the task the day's contact handled (both SMS after every contact)."""
        task = self._current_task(u.actor.acts_as, (TaskKind.call,))
        if task is not None and staff_sms_handles_task(self.case.stage):
            self._handle(task, u.actor.id, f"sms:{u.template.value}")
        elif u.template.value in self.case.plan.table[self.case.stage].sms_after_contact:
            today = self.case.plan.day_of(workflow.now())
            contacted = next((t for t in self.case.stage_tasks if t.day == today and t.id in self.case.handled), None)
            if contacted is not None:
                self._project(sms_after_contact=(contacted.id, u.template.value))

    @send_customer_sms.validator
    def _validate_send_customer_sms(self, u: c.SendCustomerSms) -> None:
        self._admit(u.actor)
        _refuse(staff_rules.sms_refusal(u.actor.acts_as, self._state()))
        if u.template is c.StaffSmsTemplate.quote and u.quote_id is None:
            raise Rejected("a quote SMS needs the quote to send (quote_id)")

    @workflow.update
    def reassign(self, u: c.Reassign) -> c.ActionDone:
        before = self._facts()
        previous, self.case.owner = self.case.owner, u.new_owner_id
        self._hand_over(previous, u.new_owner_id, c.SERVICE_MANAGER, move_tasks_from=previous)
        return self._done(before)

    @reassign.validator
    def _validate_reassign(self, u: c.Reassign) -> None:
        self._admit(u.actor)
        # system: an import that moved the policy to a new manager
        self._require_branch_admin_or_system(u.actor, "reassign")
        if u.new_owner_id == self.case.owner:
            raise Rejected("the case is already assigned to that service manager")

    @workflow.update
    def change_deputy(self, u: c.ChangeDeputy) -> c.ActionDone:
        before = self._facts()
        previous, self.case.deputy = self.case.deputy, u.new_deputy_id
        self._hand_over(previous, u.new_deputy_id, c.DEPUTY, move_deputy_tasks_from=previous)
        return self._done(before)

    @change_deputy.validator
    def _validate_change_deputy(self, u: c.ChangeDeputy) -> None:
        self._admit(u.actor)
        # system: the sub-branch's deputy changed in the records
        self._require_branch_admin_or_system(u.actor, "change the deputy manager of")
        if u.new_deputy_id == self.case.deputy:
            raise Rejected("the case already has that deputy manager")

    def _hand_over(self, previous: uuid.UUID, new: uuid.UUID, attribute: SearchAttributeKey[str], **moved) -> None:
        """A reassignment or deputy change: the case's open tasks of `previous` go to `new`, in the
        projection (`moved` says whose) and in the search attribute too."""
        for task in (*self.case.stage_tasks, *self.case.extra_tasks):
            if task.assignee_id == previous:
                task.assignee_id = new
        self._project(**moved)
        self._upsert(attribute.value_set(str(new)))

    @workflow.update
    def close(self, u: c.Close) -> c.ActionDone:
        before = self._facts()
        self._finish(Outcome.CLOSED, u.reason)
        return self._done(before)

    @close.validator
    def _validate_close(self, u: c.Close) -> None:
        self._admit(u.actor)
        self._require_branch_admin(u.actor, "close")

    @workflow.update
    def resolve_attention(self, u: c.ResolveAttention) -> c.ActionDone:
        before = self._facts()
        self._handle(self._attention_task(), u.actor.id, "resolved")
        return self._done(before)

    @resolve_attention.validator
    def _validate_resolve_attention(self, u: c.ResolveAttention) -> None:
        self._admit(u.actor)
        task = self._attention_task()
        if task is None:
            raise Rejected("the case has no open needs-attention task")
        if u.actor.id != task.assignee_id:  # the deputy gets it when the branch has no admin
            self._require_branch_admin(u.actor, "resolve what needs attention in")

    def _attention_task(self) -> c.OpenTask | None:
        return next((t for t in sorted(self._open_tasks(), key=lambda t: t.due_at) if t.kind is TaskKind.attention),
                    None)

    # --- signals: what the core system, Twilio and the org records tell the case -------------------

    @workflow.signal
    def policy_renewed(self, s: c.PolicyRenewed) -> None:
        if self.case.outcome is None:
            self.case.new_policy_no = s.new_policy_no
            self._finish(Outcome.RENEWED)

    @workflow.signal
    def expiry_changed(self, s: c.ExpiryChanged) -> None:
        """Re-plan from the new date: the case goes to the stage the new date implies (back to an
        earlier window if need be) with that stage's tasks; tasks of the old plan that are still
        open are cancelled; everything recorded stays. Entering a later stage (an earlier date) is
        left to the main loop, which sends that stage's SMS as usual."""
        case = self.case
        if case.outcome is not None or s.new_expiry_date == case.plan.expiry:
            return
        case.plan = _plan(case.inp, s.new_expiry_date)
        case.plan_revision += 1
        implied = self._implied_stage()
        restaged = STAGE_ORDER.index(implied) <= STAGE_ORDER.index(case.stage) and not case.renewed_elsewhere
        if restaged:
            case.stage = implied
            self._plan_stage_tasks()
        self._project(open_stage_tasks=restaged, replan=restaged)
        self._upsert(c.EXPIRY_DATE.value_set(case.plan.expiry_day_starts_at),
                     *([c.RENEWAL_STAGE.value_set(case.stage.value)] if restaged else []))
        case.wake_now = True

    def _implied_stage(self) -> Stage:
        """The stage the (new) calendar puts the case in now; DEPUTY_SUPERVISION only on escalation."""
        stage = self.case.plan.stage_at(workflow.now())
        if stage is Stage.DEPUTY_SUPERVISION and not self._escalates():
            return Stage.THIRD_CONTACT
        return stage

    @workflow.signal
    def branch_admins(self, s: c.BranchAdmins) -> None:
        """The branch's admins changed (one added or gone): keeps the case's list current."""
        self.case.admins = list(s.admin_ids)

    @workflow.signal
    def phone_unreachable(self) -> None:
        """No working number can be found: one "find a working number" task for the owner, and no
        automatic customer SMS to that number until a corrected phone is entered."""
        if self.case.outcome is not None or self.case.unreachable:
            return
        self.case.unreachable = True
        now = workflow.now()
        task = c.OpenTask(id=uuid.uuid5(self.case.case_id, f"find_number:{now.isoformat()}"),
                          kind=TaskKind.find_number, assignee_id=self.case.owner, stage=self.case.stage,
                          opens_at=now, due_at=self.case.plan.ends_at)
        self.case.extra_tasks.append(task)
        self._project(open_tasks=[task])

    @workflow.signal
    def phone_corrected(self) -> None:
        """A corrected phone was entered: automatic SMS resume and the find-a-number task is done."""
        if self.case.outcome is not None or not self.case.unreachable:
            return
        self.case.unreachable = False
        task = next((t for t in self._open_tasks() if t.kind is TaskKind.find_number), None)
        self._handle(task, self.case.owner, "corrected_phone")

    @workflow.signal
    def customer_refused_contact(self, _: c.CustomerRefusedContact) -> None:
        """The customer refused all contact on another of their cases: this one stops too."""
        if self.case.outcome is None and not self.case.do_not_contact:
            self._stop_contact()
            self._project(cancel_kinds=[TaskKind.call])

    def _stop_contact(self, keep: c.OpenTask | None = None) -> None:
        """Calls stop (their open tasks, but the one `keep` handles, are cancelled) and customer SMS
        stop; the case goes on to its outcome (renewed, renewed elsewhere, or lapsed after T+7)."""
        self.case.do_not_contact = True
        self._drop_held_customer_sms()
        self.case.stage_tasks = [t for t in self.case.stage_tasks if t.kind is not TaskKind.call or t is keep]

    @workflow.signal
    def opted_out(self) -> None:
        self.case.opted_out = True
        self._drop_held_customer_sms()

    @workflow.signal
    def opted_in(self) -> None:
        """The customer texted START: customer SMS may go out again."""
        self.case.opted_out = False

    @workflow.signal
    def contact_failed(self, s: c.ContactFailed) -> None:
        self.case.contact_failures += 1

    # --- query ------------------------------------------------------------------------------------

    @workflow.query
    def state(self, at: datetime | None = None) -> c.CaseState:
        """The case as of `at` (the caller's clock). The workflow only wakes at window boundaries
        and staff actions, so its own clock in a query is the last wake-up: daily tasks that
        opened or fell due since then are placed by `at`."""
        return self._state(at)

    def _state(self, at: datetime | None = None) -> c.CaseState:
        case = self.case
        open_tasks = self._open_tasks(at)
        deadlines = [t.due_at for t in open_tasks]
        if case.outcome is None:
            deadlines.append(self._due_transition()[1])
        return c.CaseState(
            case_id=case.case_id, policy_no=case.inp.policy_no, expiry_date=case.plan.expiry, stage=case.stage,
            owner_id=case.owner, deputy_id=case.deputy, escalated=case.escalated, last_status=case.status,
            outcome=case.outcome.value if case.outcome else None, outcome_reason=case.outcome_reason,
            new_policy_no=case.new_policy_no, renewed_elsewhere=case.renewed_elsewhere,
            sms_opted_out=case.opted_out, no_contact=case.do_not_contact, open_tasks=open_tasks,
            next_deadline=min(deadlines, default=None), contact_failures=case.contact_failures,
            problems=list(case.problems),
        )

    # --- tasks and actors -------------------------------------------------------------------------

    def _open_tasks(self, at: datetime | None = None) -> list[c.OpenTask]:
        case = self.case
        if case.outcome is not None:
            return []
        now = at or workflow.now()
        return [t for t in (*case.stage_tasks, *case.extra_tasks)
                if t.id not in case.handled and t.opens_at <= now < t.due_at
                and not (case.renewed_elsewhere and t.kind in (TaskKind.call, TaskKind.supervision))]

    def _current_task(self, actor: uuid.UUID, kinds: tuple[TaskKind, ...] | None = None) -> c.OpenTask | None:
        """The task a staff action handles: the actor's open task that falls due first."""
        return next((t for t in sorted(self._open_tasks(), key=lambda t: t.due_at)
                     if t.assignee_id == actor and (kinds is None or t.kind in kinds)), None)

    def _handled_change(self, task: c.OpenTask | None, actor: uuid.UUID, result: str, by_contact: bool = False) -> dict:
        if task is None:
            return {}
        self.case.handled.add(task.id)
        if by_contact:  # the contact recorded with it says who and how (see ContactToRecord)
            return {"complete_task_id": task.id}
        return {"complete_task_id": task.id, "handled_by": actor, "handled_result": str(result)}

    def _handle(self, task: c.OpenTask | None, actor: uuid.UUID, result: str, **change) -> None:
        self._project(**self._handled_change(task, actor, result, by_contact="contact" in change), **change)

    def _actor_for_stage(self) -> uuid.UUID:
        return staff_rules.turn(self.case.stage, self.case.owner, self.case.deputy)

    def _require_branch_admin(self, actor: c.Actor, action: str) -> None:
        """Only a system specialist recorded for the case's branch: an actor made up by someone
        who reached Temporal directly, with role `admin` and an id of their choosing, is refused."""
        if actor.role is not c.ActorRole.admin:
            raise Rejected(f"only a system specialist (admin) can {action} a case")
        if actor.id not in self.case.admins:
            raise Rejected(f"{actor.id} is not a system specialist (admin) of branch {self.case.inp.branch} "
                           f"as recorded in this case; only its branch admins can {action} it")

    def _require_branch_admin_or_system(self, actor: c.Actor, action: str) -> None:
        if actor.role is not c.ActorRole.system:
            self._require_branch_admin(actor, action)

    def _admit(self, actor: c.Actor) -> None:
        """What every update's validator asks first: the case is open, and an actor claiming to be
        the system is one of the system's own."""
        if self.case.outcome is not None:
            raise Rejected(c.closed_reason(self.case.outcome.value))
        _refuse(staff_rules.actor_refusal(actor))

    def _update_uuid(self, purpose: str = "") -> uuid.UUID:
        return uuid.uuid5(self.case.case_id, f"update:{workflow.current_update_info().id}:{purpose}")

    # --- writes and sends (activities, through Effects) -------------------------------------------

    # What a staff action can change, as the state query names it (see c.ActionDone).
    _ANSWERED = ("stage", "owner_id", "deputy_id", "escalated", "last_status", "outcome", "outcome_reason",
                 "new_policy_no", "renewed_elsewhere", "no_contact")

    def _facts(self) -> dict[str, str | bool | None]:
        state = self._state()
        return {name: _json(getattr(state, name)) for name in self._ANSWERED}

    def _done(self, before: dict[str, str | bool | None]) -> RawValue:
        """The answer to a staff action: no waiting for its writes here (a timer per action), the
        API waits for the projection's revision instead."""
        after = self._facts()
        return _payload(c.ActionDone(revision=self.case.revision,
                                     changed={name: value for name, value in after.items() if value != before[name]}))

    def _project(self, **change) -> None:
        self._effects.queue(self._change(**change))

    def _change(self, **change) -> CaseChange:
        self.case.revision += 1
        return CaseChange(at=workflow.now(), revision=self.case.revision, case=self._snapshot(), **change)

    def _snapshot(self) -> CaseSnapshot:
        case = self.case
        return CaseSnapshot(
            case_id=case.case_id, workflow_id=workflow.info().workflow_id, policy_no=case.inp.policy_no,
            expiry_date=case.plan.expiry, timezone=case.inp.timezone, stage=case.stage, owner_id=case.owner,
            deputy_id=case.deputy, escalated=case.escalated, day_seconds=case.inp.day_seconds,
            clock_anchor=case.inp.clock_anchor,
            follow_up_status=case.status.value if case.status else None,
            outcome=case.outcome.value if case.outcome else None, outcome_reason=case.outcome_reason,
            outcome_stage=case.stage if case.outcome else None, new_policy_no=case.new_policy_no,
            lost_to_insurer=case.lost_to, plan_revision=case.plan_revision, calls_stopped=case.do_not_contact,
            skipped_windows=list(case.skipped), started_at=case.started_mid_window,
            handover_note_id=case.handover_note,
        )

    def _customer_sms_stopped(self) -> bool:
        """Opted out, renewed elsewhere or on the do-not-call list: no customer SMS at all."""
        return self.case.opted_out or self.case.renewed_elsewhere or self.case.do_not_contact

    def _notify_customer(self, sms: SmsRequest, automatic: bool = True) -> c.SmsDecision:
        now = workflow.now()
        if self._customer_sms_stopped() or (automatic and self.case.unreachable):
            return c.SmsDecision(status="suppressed", send_at=now)
        # Business-hour alignment (and with it quiet hours) only applies to real days.
        if self._spread():
            send_at = morning_sms_time(now, self.case.inp.policy_no, self.case.inp.timezone)
        else:
            send_at = customer_sms_time(now, self.case.inp.timezone) if self.case.inp.clock_anchor is None else now
        return self._send_or_hold(sms, send_at)

    def _notify_staff(self, template: str, recipient: str, key: str | None = None) -> None:
        """At once; a boundary's SMS decided in the night (wake-ups spread) goes with the customer's
        in the morning."""
        now, inp = workflow.now(), self.case.inp
        self._send_or_hold(self._sms(template, recipient, key),
                           morning_sms_time(now, inp.policy_no, inp.timezone) if self._spread() else now)

    def _send_or_hold(self, sms: SmsRequest, send_at: datetime) -> c.SmsDecision:
        if send_at > workflow.now():
            self.case.held_sms.append((send_at, sms))
            self.case.wake_now = True  # the main loop must wake for it
            return c.SmsDecision(status="held", send_at=send_at)
        self._send(sms)
        return c.SmsDecision(status="queued", send_at=workflow.now())

    def _sms(self, template: str, recipient: str, key: str | None = None) -> SmsRequest:
        day = self.case.plan.day_of(workflow.now())
        return SmsRequest(case_id=self.case.case_id, template=template, recipient=recipient, at=workflow.now(),
                          stage=self.case.stage, day=day,
                          idempotency_key=key or c.sms_key(self.case.case_id, self.case.stage, template, day))

    def _send(self, sms: SmsRequest) -> None:
        sms.at, sms.day = workflow.now(), self.case.plan.day_of(workflow.now())
        self._effects.queue(sms)

    async def _do(self, effect: CaseChange | SmsRequest) -> SmsOutcome | None:
        """One queued effect, in its lane's task. An activity that failed for good makes the case
        need attention; the case is never failed by one write or one SMS."""
        if isinstance(effect, SmsRequest):
            return await self._send_sms(effect)
        try:
            await self._write(effect)
        except ActivityError as failure:
            await self._needs_attention("project_case", failure)
        return None

    async def _write(self, change: CaseChange, whole: bool = False) -> None:
        """One projection write, with only the case's fields that changed since the last write that
        went through (`whole`: the whole case, for a write that may pass others)."""
        case, written = change.case, None if whole else self._written
        if written is not None:
            change = replace(change, case=None, changed={
                f.name: getattr(case, f.name) for f in fields(case) if getattr(case, f.name) != getattr(written, f.name)})
        try:
            await workflow.execute_activity_method(
                CaseProjection.project_case, _payload(change), start_to_close_timeout=ACTIVITY_TIMEOUT,
                retry_policy=RETRY, schedule_to_close_timeout=GIVE_UP_AFTER,
            )
        except ActivityError:
            self._written = None
            raise
        self._written = case

    async def _send_sms(self, sms: SmsRequest) -> SmsOutcome:
        try:
            outcome = await workflow.execute_activity_method(
                Notifications.send_sms, _payload(_keyed(sms)), start_to_close_timeout=ACTIVITY_TIMEOUT,
                retry_policy=RETRY, schedule_to_close_timeout=GIVE_UP_AFTER, summary=sms.template,
            )
        except ActivityError as failure:
            await self._needs_attention(f"send_sms {sms.template} → {sms.recipient}", failure)
            return SmsOutcome(status="failed")
        if outcome.status == "failed" and sms.recipient == "customer":
            self.case.contact_failures += 1  # refused at send time (e.g. 21211); later ones come by signal
        return outcome

    async def _needs_attention(self, what: str, failure: ActivityError) -> None:
        """An activity failed for good: record it on the case, give the branch admin a task about
        it, and carry on with the calendar."""
        case = self.case
        cause = failure.cause or failure
        kind = getattr(cause, "type", None) or type(cause).__name__
        now = workflow.now()
        case.problems.append(c.Problem(at=now, activity=what, error=mask_numbers(f"{kind}: {cause}")[:300]))
        task = c.OpenTask(id=uuid.uuid5(case.case_id, f"attention:{len(case.problems)}"), kind=TaskKind.attention,
                          assignee_id=case.admins[0] if case.admins else case.deputy, stage=case.stage,
                          opens_at=now, due_at=case.plan.end_of_day(case.plan.day_of(now) + 1))
        case.extra_tasks.append(task)
        try:
            await self._write(self._change(open_tasks=[task]), whole=True)
        except ActivityError:
            pass  # the projection itself is down: the problem still shows in the case's state and details
        self._set_details(self._next_wake() if case.outcome is None else None)

    # --- Temporal UI --------------------------------------------------------------------------------

    def _upsert(self, *updates) -> None:
        workflow.upsert_search_attributes(list(updates))

    def _set_details(self, wake_at: datetime | None) -> None:
        workflow.set_current_details(self._details(wake_at))

    def _details(self, wake_at: datetime | None) -> str:
        case = self.case
        if case.outcome is not None:
            reason = f" ({case.outcome_reason})" if case.outcome_reason else ""
            return f"{case.outcome.value}{reason} in {case.stage}"
        # The workflow does not wake every day, so nothing here may go stale between wake-ups:
        # dates, not "day N of M" counted from the last wake-up.
        parts = [str(case.stage)]
        if len(case.stage_tasks) > 1:
            first, last = case.stage_tasks[0], case.stage_tasks[-1]
            parts.append(f"{len(case.stage_tasks)} daily calls {self._local_day(first.opens_at)} → "
                         f"{self._local_day(last.opens_at)}")
        if case.renewed_elsewhere:
            parts.append("renewed elsewhere: waiting for the loss reason")
        elif wake_at is not None:
            target, at = self._due_transition()
            what = {None: "closes", Stage.DEPUTY_SUPERVISION: f"escalates to deputy {case.deputy}"}.get(
                target, f"moves to {target}")
            parts.append(f"{what} at {local_label(at, case.inp.timezone)}")
        if case.problems:
            parts.append(f"needs attention: {len(case.problems)} problem(s), last {case.problems[-1].activity}")
        return " · ".join(parts)

    def _local_day(self, t: datetime) -> str:
        return local_label(t, self.case.inp.timezone)[:10]


def _keyed(sms: SmsRequest) -> SmsRequest:
    """The SMS with its idempotency key only where the activity cannot derive it (c.sms_key): a
    staff SMS, or an SMS held past the day it was decided on."""
    derived = c.sms_key(sms.case_id, sms.stage, sms.template, sms.day)
    return replace(sms, idempotency_key=None) if sms.idempotency_key == derived else sms


def _payload(value: object) -> RawValue:
    """An activity's input without the fields left at their defaults (the activity fills them in)."""
    return RawValue(workflow.payload_converter().to_payload(c.without_defaults(value)))


def _json(value: object) -> str | bool | None:
    return value if value is None or isinstance(value, bool) else str(value)


def _plan(inp: c.RenewalInput, expiry) -> RenewalPlan:
    return plan_renewal(expiry, inp.timezone, day_seconds=inp.day_seconds, anchor=inp.clock_anchor)
