"""PolicyRenewal: one durable workflow per policy nearing expiry (SPEC §2, §3).

Decisions only. It sleeps until the next window boundary, plans each stage's tasks in one write
when the stage opens (missed daily tasks are derived from the clock, not from daily wake-ups),
sends the automatic SMS, and answers staff updates. Every write is an activity.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.types import CaseChange, CaseSnapshot, ContactToRecord, SmsOutcome, SmsRequest
    from renewals.case.calendar import (
        SMS_AFTER_CONTACT, STAGE_ORDER, RenewalPlan, SkippedWindow, contact_handles_task,
        customer_sms_time, late_entry, local_label, plan_renewal, staff_sms_handles_task, windows_between,
    )
    from renewals.case.contract import Outcome, Stage, TaskKind
    from renewals.core.masking import mask_numbers
    import renewals.case.contract as c  # by its full name: `from workflows import` would re-run it in every sandbox
    import workflows.staff_rules as staff_rules
    from workflows.tasks import planned_tasks, task_id

ACTIVITY_TIMEOUT = timedelta(seconds=30)
# Retries are bounded: a passing outage (PostgreSQL restarting, Twilio 5xx) is ridden out for up
# to an hour; deterministic failures are non-retryable and fail at once. What still fails is
# recorded on the case with a needs-attention task for the branch admin, and the case goes on.
RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1),
                    maximum_attempts=70)
GIVE_UP_AFTER = timedelta(hours=1)
# Workflow code changes that would make recorded histories diverge (see tests/histories/).
STATUS_REPLANS = "status-change-replans-wake-up"
EXPIRY_REPLANS_STAGE = "expiry-change-replans-current-stage"
EFFECTS_QUEUED = "writes-and-sends-queued-for-one-writer"
ESCALATION_ENDS_WITH_T8 = "escalation-ends-with-the-deputy-task-due-day"
EFFECT_LANES = "writes-and-sends-in-separate-lanes"
WINDOWS_PASSED_ASLEEP = "windows-passed-asleep-enter-late-or-are-recorded"
TASKS_FROM_CASE_START = "no-tasks-for-days-before-the-case-started"
DAY_HANDLED_AS_THE_SEED_SAYS = "daily-task-handled-by-call-or-sms-as-the-stage-says"
SMS_AFTER_CONTACT_RECORDED = "final-week-sms-after-a-contact-recorded-on-its-task"
# How long a staff action waits for its own writes (and SMS) before it answers anyway.
ANSWER_WAIT = timedelta(milliseconds=800)
# A complaint must be handled by the deputy by the end of the next day.
COMPLAINT_DAYS = 1


class _Lane:
    """Effects of one kind, done in order one at a time by a task of the workflow."""

    def __init__(self) -> None:
        self.effects: list[tuple[CaseChange | SmsRequest, int]] = []  # each with the writes it waits for
        self.queued = self.done = 0
        self.busy = False

    def idle(self) -> bool:
        return not self.effects and not self.busy


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
        self._in = inp
        self._owner, self._deputy = inp.owner_id, inp.deputy_id
        self._admins = list(inp.admin_ids)
        self._case_id = c.case_id_for(workflow.info().workflow_id)
        self._plan = self._make_plan(inp.expiry_date)
        self._plan_revision = 0  # how many times an expiry change re-planned the case
        self._lock = asyncio.Lock()
        self._nudged = False
        self._stage = Stage.WAITING
        self._escalated = False
        self._late_failure_waits: bool | None = None  # ESCALATION_ENDS_WITH_T8, once decided
        self._status: c.FollowUpStatus | None = None
        self._outcome: Outcome | None = None
        self._outcome_reason: str | None = None
        self._new_policy_no: str | None = None
        self._renewed_elsewhere = False
        self._lost_to: str | None = None
        self._opted_out = False
        self._do_not_contact = inp.do_not_contact  # the customer refused all contact (on this or another case)
        self._unreachable = False  # no working number until a corrected phone is entered
        self._contact_failures = 0
        self._handled: set[uuid.UUID] = set()
        self._stage_tasks: list[c.OpenTask] = []  # the current stage's planned tasks
        self._extra_tasks: list[c.OpenTask] = []  # complaint and loss-reason tasks
        self._held_sms: list[tuple[datetime, SmsRequest]] = []  # customer SMS held for quiet hours
        self._problems: list[c.Problem] = []
        self._skipped: list[Stage] = []  # windows passed before the case could enter them
        self._started_mid_window: datetime | None = None  # see _tasks_since
        self._handover_note: uuid.UUID | None = None  # the deputy's note for the manager's first final-week call
        # When the case last looked at its calendar (_advance): a window that opens later, and has
        # passed when it looks again, passed while it slept.
        self._awake_at = workflow.info().workflow_start_time
        # Writes and sends, each in order, for the lanes' tasks (see _effects_queued); one lane for
        # both in histories recorded before EFFECT_LANES.
        self._queued: bool | None = None
        self._writes = self._sends = _Lane()
        self._lanes: list[asyncio.Task] = []
        self._closing = False
        self._marks: dict[str, list[tuple[_Lane, int]]] = {}  # per update: the effects it queued
        self._awaited: set[str] = set()  # staff SMS whose sender waits (briefly) for Twilio's answer
        self._sms_answers: dict[str, SmsOutcome] = {}

    # --- run -----------------------------------------------------------------------------------

    @workflow.run
    async def run(self, inp: c.RenewalInput) -> c.CaseState:
        await self._project(CaseChange(at=workflow.now(), case=self._snapshot()))
        while self._outcome is None:
            async with self._guard():
                await self._advance()
            if self._outcome is not None:
                break
            self._nudged = False
            wake_at = self._next_wake()
            self._set_details(wake_at)
            try:
                await workflow.wait_condition(
                    lambda: self._nudged or self._outcome is not None,
                    timeout=max(wake_at - workflow.now(), timedelta(seconds=1)),
                    timeout_summary=f"until {wake_at:%Y-%m-%d %H:%M}Z",
                )
            except asyncio.TimeoutError:
                pass  # the next boundary (or a held SMS) is due: _advance handles it
        await workflow.wait_condition(workflow.all_handlers_finished)
        if self._queued:
            self._closing = True
            await workflow.wait_condition(lambda: self._writes.idle() and self._sends.idle())
        return self._state()

    async def _advance(self) -> None:
        """Enter the stage (or outcome) the clock has reached, and send held SMS that are due."""
        now = workflow.now()
        target, at = self._due_transition()
        if at <= now:
            if target is None:
                await self._finish(Outcome.LOST if self._renewed_elsewhere else Outcome.LAPSED,
                                   c.LossReason.unknown if self._renewed_elsewhere else None)
                return
            await self._enter(target)
        due = [(t, sms) for t, sms in self._held_sms if t <= now]
        self._held_sms = [(t, sms) for t, sms in self._held_sms if t > now]
        for _, sms in due:
            if not self._customer_sms_stopped():
                await self._send(sms)
        self._awake_at = now

    def _due_transition(self) -> tuple[Stage | None, datetime]:
        """The furthest stage whose start has passed (stages the clock skipped are not entered),
        or None when the case is due to close; with the instant of the first pending boundary."""
        if self._renewed_elsewhere:
            return None, self._plan.ends_at
        now, stage = workflow.now(), self._stage
        nxt, at = self._next_stage_after(stage)
        first_at = at
        while nxt is not None and at <= now:
            stage = nxt
            nxt, at = self._next_stage_after(stage)
        if stage is self._stage:
            return nxt, first_at
        return stage, first_at

    def _next_stage_after(self, stage: Stage) -> tuple[Stage | None, datetime]:
        # Escalation decides only what follows THIRD_CONTACT: asked nowhere else, so the patch
        # marker of _escalates is recorded only on the path it changes.
        return self._plan.next_stage_after(stage, stage is Stage.THIRD_CONTACT and self._escalates())

    def _next_wake(self) -> datetime:
        _, at = self._due_transition()
        return min([at, *(t for t, _ in self._held_sms)])

    def _calls_for_deputy(self) -> bool:
        """The status (or, without one, the ESCALATE_WITHOUT_STATUS setting) asks for the deputy."""
        return self._in.escalate_without_status if self._status is None else self._status is c.FollowUpStatus.failed

    def _escalates(self) -> bool:
        """The status calls for the deputy, and there is still time for them: a `failed` after the
        end of T-8 (when the deputy's task would be due) waits for FINAL_CONTACT at T-7 09:00
        instead of putting the case under supervision for a few hours."""
        if not self._calls_for_deputy():
            return False
        [deputy_task] = self._plan.task_slots(Stage.DEPUTY_SUPERVISION)
        if workflow.now() < deputy_task.due_at:
            return True
        # Queries and validators may not record the patch marker; they read the decision the
        # handler or the main loop recorded before them.
        if self._late_failure_waits is None and not workflow.unsafe.is_read_only():
            self._late_failure_waits = workflow.patched(ESCALATION_ENDS_WITH_T8)
        return not self._late_failure_waits

    # --- stages and outcomes --------------------------------------------------------------------

    async def _enter(self, stage: Stage) -> None:
        now = workflow.now()
        skipped = self._slept_through(stage)
        for window in skipped:
            self._skipped.append(window.stage)
            self._problems.append(c.Problem(at=now, activity=f"window_skipped {window.stage}", error=window.note()))
        self._stage = stage
        if stage is Stage.DEPUTY_SUPERVISION:
            self._escalated = True
        self._plan_stage_tasks()
        # The projection derives the same tasks from the snapshot: the payload stays small.
        await self._project(CaseChange(at=now, case=self._snapshot(), open_stage_tasks=True,
                                       replan=self._plan_revision > 0))
        self._upsert(c.RENEWAL_STAGE.value_set(stage.value), c.ESCALATED.value_set(self._escalated))
        for sms in (*(late for window in skipped for late in window.sent_late), *self._plan.table[stage].entry_sms):
            if sms.recipient == "customer":
                await self._notify_customer(self._sms(sms.template, "customer"))
            else:
                await self._notify_staff(sms.template, sms.recipient)

    def _slept_through(self, stage: Stage) -> list[SkippedWindow]:
        """The windows before `stage` that opened while the case slept and passed before it woke
        (its worker down, or too busy to wake it in time), escalation as the status it slept with
        decided it; what becomes of each is calendar.late_entry's decision. Histories recorded
        before entered `stage` alone (patched)."""
        passed = [s for s in windows_between(self._stage, stage, self._calls_for_deputy())
                  if self._plan.window(s).starts_at > self._awake_at]
        if not passed or not workflow.patched(WINDOWS_PASSED_ASLEEP):
            return []
        return late_entry(passed, stage)

    def _plan_stage_tasks(self) -> None:
        self._stage_tasks = planned_tasks(
            self._case_id, self._plan, self._stage, self._owner, self._deputy, plan_revision=self._plan_revision,
            calls_stopped=self._do_not_contact, since=workflow.now() if self._plan_revision else self._tasks_since(),
            handover_note_id=self._handover_note)

    def _tasks_since(self) -> datetime | None:
        """A case started mid-window (imported at T-15) has no task for the days before it started,
        so nothing is missed before it existed. Histories recorded before planned them (patched);
        the marker is recorded only where a day is dropped."""
        if self._started_mid_window is None:
            start = workflow.info().workflow_start_time
            if (any(slot.due_at <= start for slot in self._plan.task_slots(self._stage))
                    and workflow.patched(TASKS_FROM_CASE_START)):
                self._started_mid_window = start
        return self._started_mid_window

    async def _finish(self, outcome: Outcome, reason: str | None = None, **change) -> None:
        self._outcome, self._outcome_reason = outcome, reason
        self._held_sms = []
        await self._project(CaseChange(at=workflow.now(), case=self._snapshot(), cancel_kinds=list(TaskKind), **change))
        status = [c.FOLLOW_UP_STATUS.value_set(self._status.value)] if self._status else []
        self._upsert(c.RENEWAL_OUTCOME.value_set(outcome.value), *status)
        self._set_details(None)

    # --- updates --------------------------------------------------------------------------------

    @workflow.update
    async def record_contact(self, u: c.RecordContact) -> c.CaseState:
        async with self._guard():
            task = self._current_task(u.actor.id, (TaskKind.complaint,) if u.actor.id != self._actor_for_stage() else None)
            if (task is not None and task.kind is TaskKind.call and not contact_handles_task(self._stage, u.channel)
                    and workflow.patched(DAY_HANDLED_AS_THE_SEED_SAYS)):
                task = None  # recorded, but the day asks for a call
            contact = ContactToRecord(id=self._update_uuid(), staff_id=u.actor.id, channel=u.channel,
                                      result=u.result, note_id=u.note_id)
            extra = []
            if u.result is c.ContactResult.complaint:
                now = workflow.now()
                complaint = c.OpenTask(id=self._update_uuid("complaint"), kind=TaskKind.complaint, assignee_id=self._deputy,
                                       stage=self._stage, opens_at=now,
                                       due_at=self._plan.end_of_day(self._plan.day_of(now) + COMPLAINT_DAYS))
                self._extra_tasks.append(complaint)
                extra = [complaint]
            if u.result is c.ContactResult.do_not_contact:
                self._stop_contact(keep=task)
            await self._handle(task, u.actor.id, u.result, contact=contact, open_tasks=extra,
                               cancel_kinds=[TaskKind.call] if u.result is c.ContactResult.do_not_contact else [])
            if u.result is c.ContactResult.complaint:
                await self._notify_staff("complaint_alert", "deputy", key=f"complaint:{self._update_uuid()}")
            return await self._answer()

    @record_contact.validator
    def _validate_record_contact(self, u: c.RecordContact) -> None:
        self._admit(u.actor)
        _refuse(staff_rules.contact_refusal(u.actor.id, self._state()))

    @workflow.update
    async def set_follow_up(self, u: c.SetFollowUp) -> c.CaseState:
        async with self._guard():
            task = self._current_task(u.actor.id)
            self._status = u.status
            if self._stage is Stage.DEPUTY_SUPERVISION and u.actor.id == self._deputy:
                self._handover_note = u.note_id
            if u.status is c.FollowUpStatus.success:
                self._new_policy_no = u.new_policy_no
                await self._finish(Outcome.RENEWED, None, **self._handled_change(task, u.actor.id, u.status))
            else:
                await self._handle(task, u.actor.id, u.status)
                self._upsert(c.FOLLOW_UP_STATUS.value_set(u.status.value))
                if workflow.patched(STATUS_REPLANS):
                    # The wake-up was computed from the old status: `failed` may now escalate
                    # (at T-10, or at once if T-10 has passed), `continue` may now skip the deputy.
                    self._nudged = True
            return await self._answer()

    @set_follow_up.validator
    def _validate_set_follow_up(self, u: c.SetFollowUp) -> None:
        self._admit(u.actor)
        _refuse(staff_rules.follow_up_refusal(u.actor.id, u.status, self._state(), noted=u.note_id is not None))
        if u.status is c.FollowUpStatus.success and not u.new_policy_no:
            raise Rejected("success needs the new policy number: a renewal counts only once paid and issued")

    @workflow.update
    async def report_renewed_elsewhere(self, u: c.ReportRenewedElsewhere) -> c.CaseState:
        async with self._guard():
            self._renewed_elsewhere, self._lost_to = True, u.insurer
            self._held_sms = []
            if u.reason is not None:
                await self._finish(Outcome.LOST, u.reason)
                return await self._answer()
            now = workflow.now()
            task = c.OpenTask(id=task_id(self._case_id, TaskKind.loss_reason, self._stage, None),
                              kind=TaskKind.loss_reason,
                              assignee_id=self._owner, stage=self._stage, opens_at=now, due_at=self._plan.ends_at)
            self._extra_tasks.append(task)
            await self._project(CaseChange(at=now, case=self._snapshot(), open_tasks=[task],
                                           cancel_kinds=[TaskKind.call, TaskKind.supervision]))
            await self._notify_staff("loss_reason_request", "owner")
            self._nudged = True  # the case now waits for the reason, not for the next window
            return await self._answer()

    @report_renewed_elsewhere.validator
    def _validate_report_renewed_elsewhere(self, u: c.ReportRenewedElsewhere) -> None:
        self._admit(u.actor)
        _refuse(staff_rules.renewed_elsewhere_refusal(u.actor.id, self._state(),
                                                      by_system=u.actor.role is c.ActorRole.system))
        _refuse(c.other_without_text(u.reason, u.note_id))
        if u.insurer not in {code.value for code in c.Insurer}:
            raise Rejected(f"insurer: {u.insurer!r} is not an insurer code; choose one of "
                           f"{', '.join(c.Insurer)} (name any other in the note)")

    @workflow.update
    async def record_loss_reason(self, u: c.RecordLossReason) -> c.CaseState:
        async with self._guard():
            task = next((t for t in self._extra_tasks if t.kind is TaskKind.loss_reason), None)
            await self._finish(Outcome.LOST, u.reason, **self._handled_change(task, u.actor.id, u.reason))
            return await self._answer()

    @record_loss_reason.validator
    def _validate_record_loss_reason(self, u: c.RecordLossReason) -> None:
        self._admit(u.actor)
        _refuse(staff_rules.loss_reason_refusal(u.actor.id, self._state()))
        if u.reason is c.LossReason.unknown:
            raise Rejected("choose the reason the customer gave; 'unknown' is only set by the system at T+7")
        _refuse(c.other_without_text(u.reason, u.note_id))

    @workflow.update
    async def send_customer_sms(self, u: c.SendCustomerSms) -> c.SmsDecision:
        """A quote or service-request SMS the manager sends after a contact (held in quiet hours).
        With writes queued, it waits up to ANSWER_WAIT for Twilio's answer, else says queued."""
        async with self._guard():
            sms = self._sms(u.template.value, "customer", key=f"staff-sms:{self._update_uuid()}")
            sms.quote_id, sms.sent_by = u.quote_id, u.actor.id
            key = sms.idempotency_key
            self._awaited.add(key)
            decision = await self._notify_customer(sms, automatic=False)
            if decision.status not in ("suppressed", "failed"):
                await self._after_staff_sms(u)
        await self._writes_settled()
        self._awaited.discard(key)
        outcome = self._sms_answers.pop(key, None)
        if decision.status != "queued" or outcome is None:
            return decision  # queued: it goes out when Twilio answers (its contact record shows when)
        return c.SmsDecision(status=outcome.status, send_at=decision.send_at, error_code=outcome.error_code)

    async def _after_staff_sms(self, u: c.SendCustomerSms) -> None:
        """After expiry (电话或短信) the SMS handles the sender's call task of the day; in the final
        week it is recorded on the task the day's contact handled (both SMS after every contact)."""
        task = self._current_task(u.actor.id, (TaskKind.call,))
        if task is not None and staff_sms_handles_task(self._stage) and workflow.patched(DAY_HANDLED_AS_THE_SEED_SAYS):
            await self._handle(task, u.actor.id, f"sms:{u.template.value}")
        elif u.template.value in SMS_AFTER_CONTACT.get(self._stage, ()):
            today = self._plan.day_of(workflow.now())
            contacted = next((t for t in self._stage_tasks if t.day == today and t.id in self._handled), None)
            if contacted is not None and workflow.patched(SMS_AFTER_CONTACT_RECORDED):
                await self._project(CaseChange(at=workflow.now(), case=self._snapshot(),
                                               sms_after_contact=(contacted.id, u.template.value)))

    @send_customer_sms.validator
    def _validate_send_customer_sms(self, u: c.SendCustomerSms) -> None:
        self._admit(u.actor)
        _refuse(staff_rules.sms_refusal(u.actor.id, self._state()))
        if u.template is c.StaffSmsTemplate.quote and u.quote_id is None:
            raise Rejected("a quote SMS needs the quote to send (quote_id)")

    @workflow.update
    async def reassign(self, u: c.Reassign) -> c.CaseState:
        async with self._guard():
            previous, self._owner = self._owner, u.new_owner_id
            return await self._hand_over(previous, u.new_owner_id, c.SERVICE_MANAGER, move_tasks_from=previous)

    @reassign.validator
    def _validate_reassign(self, u: c.Reassign) -> None:
        self._admit(u.actor)
        # system: an import that moved the policy to a new manager
        self._require_branch_admin_or_system(u.actor, "reassign")
        if u.new_owner_id == self._owner:
            raise Rejected("the case is already assigned to that service manager")

    @workflow.update
    async def change_deputy(self, u: c.ChangeDeputy) -> c.CaseState:
        async with self._guard():
            previous, self._deputy = self._deputy, u.new_deputy_id
            return await self._hand_over(previous, u.new_deputy_id, c.DEPUTY, move_deputy_tasks_from=previous)

    @change_deputy.validator
    def _validate_change_deputy(self, u: c.ChangeDeputy) -> None:
        self._admit(u.actor)
        # system: the sub-branch's deputy changed in the records
        self._require_branch_admin_or_system(u.actor, "change the deputy manager of")
        if u.new_deputy_id == self._deputy:
            raise Rejected("the case already has that deputy manager")

    @workflow.update
    async def close(self, u: c.Close) -> c.CaseState:
        async with self._guard():
            await self._finish(Outcome.CLOSED, u.reason)
            return await self._answer()

    @close.validator
    def _validate_close(self, u: c.Close) -> None:
        self._admit(u.actor)
        self._require_branch_admin(u.actor, "close")

    @workflow.update
    async def resolve_attention(self, u: c.ResolveAttention) -> c.CaseState:
        async with self._guard():
            await self._handle(self._attention_task(), u.actor.id, "resolved")
            return await self._answer()

    @resolve_attention.validator
    def _validate_resolve_attention(self, u: c.ResolveAttention) -> None:
        self._admit(u.actor)
        task = self._attention_task()
        if task is None:
            raise Rejected("the case has no open needs-attention task")
        if u.actor.id != task.assignee_id:  # the deputy gets it when the branch has no admin
            self._require_branch_admin(u.actor, "resolve what needs attention in")

    def _attention_task(self) -> c.OpenTask | None:
        return next((t for t in sorted(self._open_tasks(), key=lambda t: t.due_at) if t.kind is TaskKind.attention), None)

    # --- signals and query ------------------------------------------------------------------------

    @workflow.signal
    async def policy_renewed(self, s: c.PolicyRenewed) -> None:
        async with self._guard():
            if self._outcome is None:
                self._new_policy_no = s.new_policy_no
                await self._finish(Outcome.RENEWED)

    @workflow.signal
    async def expiry_changed(self, s: c.ExpiryChanged) -> None:
        """Re-plan from the new date: the case goes to the stage the new date implies (back to an
        earlier window if need be) with that stage's tasks; tasks of the old plan that are still
        open are cancelled; everything recorded stays. Entering a later stage (an earlier date) is
        left to the main loop, which sends that stage's SMS as usual."""
        async with self._guard():
            if self._outcome is not None or s.new_expiry_date == self._plan.expiry:
                return
            self._plan = self._make_plan(s.new_expiry_date)
            restaged = False  # histories recorded before the patch only moved the dates
            if workflow.patched(EXPIRY_REPLANS_STAGE):
                self._plan_revision += 1
                implied = self._implied_stage()
                restaged = STAGE_ORDER.index(implied) <= STAGE_ORDER.index(self._stage) and not self._renewed_elsewhere
                if restaged:
                    self._stage = implied
                    self._plan_stage_tasks()
            await self._project(CaseChange(at=workflow.now(), case=self._snapshot(), open_stage_tasks=restaged,
                                           replan=restaged))
            self._upsert(c.EXPIRY_DATE.value_set(self._plan.expiry_day_starts_at),
                         *([c.RENEWAL_STAGE.value_set(self._stage.value)] if restaged else []))
            self._nudged = True

    @workflow.signal
    def branch_admins(self, s: c.BranchAdmins) -> None:
        """The branch's admins changed (one added or gone): keeps the case's list current."""
        self._admins = list(s.admin_ids)

    @workflow.signal
    async def phone_unreachable(self) -> None:
        """No working number can be found: one "find a working number" task for the owner, and no
        automatic customer SMS to that number until a corrected phone is entered."""
        async with self._guard():
            if self._outcome is not None or self._unreachable:
                return
            self._unreachable = True
            now = workflow.now()
            task = c.OpenTask(id=uuid.uuid5(self._case_id, f"find_number:{now.isoformat()}"), kind=TaskKind.find_number,
                              assignee_id=self._owner, stage=self._stage, opens_at=now, due_at=self._plan.ends_at)
            self._extra_tasks.append(task)
            await self._project(CaseChange(at=now, case=self._snapshot(), open_tasks=[task]))

    @workflow.signal
    async def phone_corrected(self) -> None:
        """A corrected phone was entered: automatic SMS resume and the find-a-number task is done."""
        async with self._guard():
            if self._outcome is not None or not self._unreachable:
                return
            self._unreachable = False
            task = next((t for t in self._open_tasks() if t.kind is TaskKind.find_number), None)
            await self._handle(task, self._owner, "corrected_phone")

    @workflow.signal
    async def customer_refused_contact(self, _: c.CustomerRefusedContact) -> None:
        """The customer refused all contact on another of their cases: this one stops too."""
        async with self._guard():
            if self._outcome is None and not self._do_not_contact:
                self._stop_contact()
                await self._project(CaseChange(at=workflow.now(), case=self._snapshot(), cancel_kinds=[TaskKind.call]))

    def _stop_contact(self, keep: c.OpenTask | None = None) -> None:
        """Calls stop (their open tasks, but the one `keep` handles, are cancelled) and customer SMS
        stop; the case goes on to its outcome (renewed, renewed elsewhere, or lapsed after T+7)."""
        self._do_not_contact, self._held_sms = True, []
        self._stage_tasks = [t for t in self._stage_tasks if t.kind is not TaskKind.call or t is keep]

    @workflow.signal
    def opted_out(self) -> None:
        self._opted_out = True
        self._held_sms = []

    @workflow.signal
    def opted_in(self) -> None:
        """The customer texted START: customer SMS may go out again."""
        self._opted_out = False

    @workflow.signal
    def contact_failed(self, s: c.ContactFailed) -> None:
        self._contact_failures += 1

    @workflow.query
    def state(self, at: datetime | None = None) -> c.CaseState:
        """The case as of `at` (the caller's clock). The workflow only wakes at window boundaries
        and staff actions, so its own clock in a query is the last wake-up: daily tasks that
        opened or fell due since then are placed by `at`."""
        return self._state(at)

    # --- helpers ----------------------------------------------------------------------------------

    def _implied_stage(self) -> Stage:
        """The stage the (new) calendar puts the case in now; DEPUTY_SUPERVISION only on escalation."""
        stage = self._plan.stage_at(workflow.now())
        if stage is Stage.DEPUTY_SUPERVISION and not self._escalates():
            return Stage.THIRD_CONTACT
        return stage

    async def _hand_over(self, previous: uuid.UUID, new: uuid.UUID, attribute: SearchAttributeKey[str],
                         **moved) -> c.CaseState:
        """A reassignment or deputy change: the case's open tasks of `previous` go to `new`, in the
        projection (`moved` says whose) and in the search attribute too."""
        for task in (*self._stage_tasks, *self._extra_tasks):
            if task.assignee_id == previous:
                task.assignee_id = new
        await self._project(CaseChange(at=workflow.now(), case=self._snapshot(), **moved))
        self._upsert(attribute.value_set(str(new)))
        return await self._answer()

    def _customer_sms_stopped(self) -> bool:
        """Opted out, renewed elsewhere or on the do-not-call list: no customer SMS at all."""
        return self._opted_out or self._renewed_elsewhere or self._do_not_contact

    def _make_plan(self, expiry) -> RenewalPlan:
        return plan_renewal(expiry, self._in.timezone, day_seconds=self._in.day_seconds, anchor=self._in.clock_anchor)

    def _snapshot(self) -> CaseSnapshot:
        return CaseSnapshot(
            case_id=self._case_id, workflow_id=workflow.info().workflow_id, policy_no=self._in.policy_no,
            expiry_date=self._plan.expiry, timezone=self._in.timezone, stage=self._stage, owner_id=self._owner,
            deputy_id=self._deputy, escalated=self._escalated, day_seconds=self._in.day_seconds,
            clock_anchor=self._in.clock_anchor,
            follow_up_status=self._status.value if self._status else None,
            outcome=self._outcome.value if self._outcome else None, outcome_reason=self._outcome_reason,
            outcome_stage=self._stage if self._outcome else None, new_policy_no=self._new_policy_no,
            lost_to_insurer=self._lost_to, plan_revision=self._plan_revision, calls_stopped=self._do_not_contact,
            skipped_windows=list(self._skipped), started_at=self._started_mid_window,
            handover_note_id=self._handover_note,
        )

    def _open_tasks(self, at: datetime | None = None) -> list[c.OpenTask]:
        if self._outcome is not None:
            return []
        now = at or workflow.now()
        return [t for t in (*self._stage_tasks, *self._extra_tasks)
                if t.id not in self._handled and t.opens_at <= now < t.due_at
                and not (self._renewed_elsewhere and t.kind in (TaskKind.call, TaskKind.supervision))]

    def _current_task(self, actor: uuid.UUID, kinds: tuple[str, ...] | None = None) -> c.OpenTask | None:
        """The task a staff action handles: the actor's open task that falls due first."""
        return next((t for t in sorted(self._open_tasks(), key=lambda t: t.due_at)
                     if t.assignee_id == actor and (kinds is None or t.kind in kinds)), None)

    def _handled_change(self, task: c.OpenTask | None, actor: uuid.UUID, result: str) -> dict:
        if task is None:
            return {}
        self._handled.add(task.id)
        return {"complete_task_id": task.id, "handled_by": actor, "handled_result": str(result)}

    async def _handle(self, task: c.OpenTask | None, actor: uuid.UUID, result: str, **change) -> None:
        await self._project(CaseChange(at=workflow.now(), case=self._snapshot(),
                                       **self._handled_change(task, actor, result), **change))

    def _actor_for_stage(self) -> uuid.UUID:
        return staff_rules.turn(self._stage, self._owner, self._deputy)

    def _require_branch_admin(self, actor: c.Actor, action: str) -> None:
        """Only a system specialist recorded for the case's branch: an actor made up by someone
        who reached Temporal directly, with role `admin` and an id of their choosing, is refused."""
        if actor.role is not c.ActorRole.admin:
            raise Rejected(f"only a system specialist (admin) can {action} a case")
        if actor.id not in self._admins:
            raise Rejected(f"{actor.id} is not a system specialist (admin) of branch {self._in.branch} "
                           f"as recorded in this case; only its branch admins can {action} it")

    def _require_branch_admin_or_system(self, actor: c.Actor, action: str) -> None:
        if actor.role is not c.ActorRole.system:
            self._require_branch_admin(actor, action)

    def _admit(self, actor: c.Actor) -> None:
        """What every update's validator asks first: the case is open, and an actor claiming to be
        the system is one of the system's own."""
        if self._outcome is not None:
            raise Rejected(c.closed_reason(self._outcome.value))
        _refuse(staff_rules.system_refusal(actor))

    def _update_uuid(self, purpose: str = "") -> uuid.UUID:
        return uuid.uuid5(self._case_id, f"update:{workflow.current_update_info().id}:{purpose}")

    # --- I/O through activities -------------------------------------------------------------------

    def _guard(self):
        """The case lock where handlers await I/O (histories recorded before queued effects);
        with effects queued nothing awaits I/O in a handler, so nothing needs a lock."""
        return contextlib.nullcontext() if self._effects_queued() else self._lock

    async def _answer(self) -> c.CaseState:
        await self._writes_settled()
        return self._state()

    async def _writes_settled(self) -> None:
        """Give the writes and sends this action queued up to ANSWER_WAIT: done, the caller reads
        them in the projection at once; PostgreSQL or Twilio down, the action is answered anyway and
        its writes follow when they can. In one lane it waits for everything queued before."""
        if not self._queued:
            return
        own = self._marks.pop(workflow.current_update_info().id, [])
        waits = [(self._writes, self._writes.queued)] if self._sends is self._writes else own
        if all(lane.done >= n for lane, n in waits):
            return
        try:
            await workflow.wait_condition(lambda: all(lane.done >= n for lane, n in waits), timeout=ANSWER_WAIT,
                                          timeout_summary="this action's writes")
        except asyncio.TimeoutError:
            pass

    def _effects_queued(self) -> bool:
        """Whether writes and sends are queued for the lanes' tasks instead of being awaited where
        they arise. Queued, no update handler, signal or stage entry waits for PostgreSQL or Twilio
        (nor holds the lock across them): a staff action answers at once while either is down, and
        its writes follow in order. Writes and sends go in two lanes, so an SMS being retried holds
        back no projection write (a send still waits for the writes queued before it: it reads the
        case as projected). Histories recorded before run the older ways (patched)."""
        if self._queued is None:
            self._queued = workflow.patched(EFFECTS_QUEUED)
            if self._queued:
                if workflow.patched(EFFECT_LANES):
                    self._sends = _Lane()
                lanes = [self._writes] if self._sends is self._writes else [self._writes, self._sends]
                self._lanes = [asyncio.create_task(self._run(lane)) for lane in lanes]
        return self._queued

    def _queue(self, effect: CaseChange | SmsRequest) -> None:
        lane = self._sends if isinstance(effect, SmsRequest) else self._writes
        lane.effects.append((effect, self._writes.queued))
        lane.queued += 1
        update = workflow.current_update_info()
        if update is not None:
            self._marks.setdefault(update.id, []).append((lane, lane.queued))

    async def _run(self, lane: _Lane) -> None:
        while True:
            await workflow.wait_condition(lambda: bool(lane.effects) or self._closing)
            if not lane.effects:
                return
            lane.busy = True
            effect, writes_before = lane.effects.pop(0)
            if self._writes.done < writes_before:
                await workflow.wait_condition(lambda: self._writes.done >= writes_before)
            if isinstance(effect, SmsRequest):
                outcome = await self._send_now(effect)
                if effect.idempotency_key in self._awaited:
                    self._sms_answers[effect.idempotency_key] = outcome
            else:
                await self._project_now(effect)
            lane.done += 1
            lane.busy = False

    async def _project(self, change: CaseChange) -> None:
        if self._effects_queued():
            self._queue(change)
        else:
            await self._project_now(change)

    async def _project_now(self, change: CaseChange) -> None:
        try:
            await self._write(change)
        except ActivityError as failure:
            await self._needs_attention("project_case", failure)

    async def _write(self, change: CaseChange) -> None:
        await workflow.execute_activity(
            "project_case", change, start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=RETRY,
            schedule_to_close_timeout=GIVE_UP_AFTER,
            summary=f"{change.case.stage}{' → ' + change.case.outcome if change.case.outcome else ''}",
        )

    async def _needs_attention(self, what: str, failure: ActivityError) -> None:
        """An activity failed for good: record it on the case, give the branch admin a task about
        it, and carry on with the calendar (the case is never failed by one write or one SMS)."""
        cause = failure.cause or failure
        kind = getattr(cause, "type", None) or type(cause).__name__
        now = workflow.now()
        self._problems.append(c.Problem(at=now, activity=what, error=mask_numbers(f"{kind}: {cause}")[:300]))
        task = c.OpenTask(id=uuid.uuid5(self._case_id, f"attention:{len(self._problems)}"), kind=TaskKind.attention,
                          assignee_id=self._admins[0] if self._admins else self._deputy, stage=self._stage,
                          opens_at=now, due_at=self._plan.end_of_day(self._plan.day_of(now) + 1))
        self._extra_tasks.append(task)
        try:
            await self._write(CaseChange(at=now, case=self._snapshot(), open_tasks=[task]))
        except ActivityError:
            pass  # the projection itself is down: the problem still shows in the case's state and details
        self._set_details(self._next_wake() if self._outcome is None else None)

    async def _notify_customer(self, sms: SmsRequest, automatic: bool = True) -> c.SmsDecision:
        now = workflow.now()
        if self._customer_sms_stopped() or (automatic and self._unreachable):
            return c.SmsDecision(status="suppressed", send_at=now)
        # Business-hour alignment (and with it quiet hours) only applies to real days.
        send_at = customer_sms_time(now, self._in.timezone) if self._in.clock_anchor is None else now
        if send_at > now:
            self._held_sms.append((send_at, sms))
            self._nudged = True  # the main loop must wake for it
            return c.SmsDecision(status="held", send_at=send_at)
        outcome = await self._send(sms)
        if outcome is None:
            return c.SmsDecision(status="queued", send_at=now)
        return c.SmsDecision(status=outcome.status, send_at=now, error_code=outcome.error_code)

    async def _notify_staff(self, template: str, recipient: str, key: str | None = None) -> None:
        await self._send(self._sms(template, recipient, key))

    def _sms(self, template: str, recipient: str, key: str | None = None) -> SmsRequest:
        day = self._plan.day_of(workflow.now())
        return SmsRequest(case_id=self._case_id, template=template, recipient=recipient, at=workflow.now(),
                          stage=self._stage, day=day,
                          idempotency_key=key or f"{self._case_id}:{self._stage}:{template}:{day}")

    async def _send(self, sms: SmsRequest) -> SmsOutcome | None:
        """Send now, or (effects queued) queue it and return None."""
        sms.at, sms.day = workflow.now(), self._plan.day_of(workflow.now())
        if self._effects_queued():
            self._queue(sms)
            return None
        return await self._send_now(sms)

    async def _send_now(self, sms: SmsRequest) -> SmsOutcome:
        try:
            outcome = await workflow.execute_activity(
                "send_sms", sms, result_type=SmsOutcome, start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=RETRY,
                schedule_to_close_timeout=GIVE_UP_AFTER, summary=f"{sms.template} → {sms.recipient}",
            )
        except ActivityError as failure:
            await self._needs_attention(f"send_sms {sms.template} → {sms.recipient}", failure)
            return SmsOutcome(status="failed")
        if outcome.status == "failed" and sms.recipient == "customer":
            self._contact_failures += 1  # refused at send time (e.g. 21211); later ones come by signal
        return outcome

    def _upsert(self, *updates) -> None:
        workflow.upsert_search_attributes(list(updates))

    def _set_details(self, wake_at: datetime | None) -> None:
        workflow.set_current_details(self._details(wake_at))

    def _details(self, wake_at: datetime | None) -> str:
        if self._outcome is not None:
            reason = f" ({self._outcome_reason})" if self._outcome_reason else ""
            return f"{self._outcome.value}{reason} in {self._stage}"
        # The workflow does not wake every day, so nothing here may go stale between wake-ups:
        # dates, not "day N of M" counted from the last wake-up.
        parts = [str(self._stage)]
        if len(self._stage_tasks) > 1:
            first, last = self._stage_tasks[0], self._stage_tasks[-1]
            parts.append(f"{len(self._stage_tasks)} daily calls {self._local_day(first.opens_at)} → "
                         f"{self._local_day(last.opens_at)}")
        if self._renewed_elsewhere:
            parts.append("renewed elsewhere: waiting for the loss reason")
        elif wake_at is not None:
            target, at = self._due_transition()
            what = {None: "closes", Stage.DEPUTY_SUPERVISION: f"escalates to deputy {self._deputy}"}.get(
                target, f"moves to {target}")
            parts.append(f"{what} at {local_label(at, self._in.timezone)}")
        if self._problems:
            parts.append(f"needs attention: {len(self._problems)} problem(s), last {self._problems[-1].activity}")
        return " · ".join(parts)

    def _local_day(self, t: datetime) -> str:
        return local_label(t, self._in.timezone)[:10]

    def _state(self, at: datetime | None = None) -> c.CaseState:
        open_tasks = self._open_tasks(at)
        deadlines = [t.due_at for t in open_tasks]
        if self._outcome is None:
            deadlines.append(self._due_transition()[1])
        return c.CaseState(
            case_id=self._case_id, policy_no=self._in.policy_no, expiry_date=self._plan.expiry, stage=self._stage,
            owner_id=self._owner, deputy_id=self._deputy, escalated=self._escalated, last_status=self._status,
            outcome=self._outcome.value if self._outcome else None, outcome_reason=self._outcome_reason,
            new_policy_no=self._new_policy_no, renewed_elsewhere=self._renewed_elsewhere,
            sms_opted_out=self._opted_out, no_contact=self._do_not_contact, open_tasks=open_tasks,
            next_deadline=min(deadlines, default=None), contact_failures=self._contact_failures,
            problems=list(self._problems),
        )
