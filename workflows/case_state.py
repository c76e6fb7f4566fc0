"""What the renewal workflow remembers of its case, and the queue of its writes and sends.

Imported by workflows.renewal through the sandbox (passed through): plain workflow-side code with no
module state, so a worker builds these classes once, not once per case it wakes.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from temporalio import workflow

import renewals.case.contract as c
from renewals.case.calendar import RenewalPlan
from renewals.case.contract import CaseChange, SmsOutcome, SmsRequest, Stage, Outcome

# How long a staff SMS waits for Twilio's answer before it answers "queued".
ANSWER_WAIT = timedelta(milliseconds=800)


@dataclass
class Case:
    """Everything the workflow remembers of its case: the projection, the `state` query and the
    Temporal UI details are all derived from it."""

    inp: c.RenewalInput
    case_id: uuid.UUID
    plan: RenewalPlan
    owner: uuid.UUID
    deputy: uuid.UUID
    admins: list[uuid.UUID]  # the branch's system specialists (see RenewalInput.admin_ids)
    do_not_contact: bool  # the customer refused all contact (on this or another case)
    # When the case last looked at its calendar: a window that opens later, and has passed when it
    # looks again, passed while it slept.
    awake_at: datetime
    plan_revision: int = 0  # how many times an expiry change re-planned the case
    revision: int = 0  # the projection writes queued so far (renewal_case.revision once written)
    stage: Stage = Stage.WAITING
    escalated: bool = False
    status: c.FollowUpStatus | None = None
    outcome: Outcome | None = None
    outcome_reason: str | None = None
    new_policy_no: str | None = None
    renewed_elsewhere: bool = False
    lost_to: str | None = None  # the insurer code
    opted_out: bool = False
    unreachable: bool = False  # no working number until a corrected phone is entered
    contact_failures: int = 0
    handled: set[uuid.UUID] = field(default_factory=set)
    stage_tasks: list[c.OpenTask] = field(default_factory=list)  # the current stage's planned tasks
    extra_tasks: list[c.OpenTask] = field(default_factory=list)  # one-off: complaint, loss reason, ...
    held_sms: list[tuple[datetime, SmsRequest]] = field(default_factory=list)  # held for quiet hours
    problems: list[c.Problem] = field(default_factory=list)
    skipped: list[Stage] = field(default_factory=list)  # windows passed before the case could enter them
    started_mid_window: datetime | None = None  # see PolicyRenewal._tasks_since
    handover_note: uuid.UUID | None = None  # the deputy's note for the manager's first final-week call
    wake_now: bool = False  # something changed what the main loop sleeps until


class _Lane:
    """Effects of one kind, done in order one at a time by a task of the workflow."""

    def __init__(self) -> None:
        self.effects: list[tuple[CaseChange | SmsRequest, int]] = []  # each with the writes it waits for
        self.queued = self.done = 0
        self.busy = False

    def idle(self) -> bool:
        return not self.effects and not self.busy


class Effects:
    """Writes and sends, queued where they arise and done in order by the workflow's own tasks: no
    update handler, signal or stage entry waits for PostgreSQL or Twilio, so a staff action answers
    at once while either is down, and its writes follow in order. Writes and sends go in two lanes,
    so an SMS being retried holds back no projection write; a send still waits for the writes queued
    before it (it reads the case as projected)."""

    def __init__(self, do: Callable[[CaseChange | SmsRequest], Awaitable[SmsOutcome | None]]) -> None:
        self._do = do
        self.writes, self.sends = _Lane(), _Lane()
        self._tasks: list[asyncio.Task] = []
        self._closing = False
        self._marks: dict[str, list[tuple[_Lane, int]]] = {}  # per update: the effects it queued
        self._awaited: set[str] = set()  # staff SMS whose sender waits (briefly) for Twilio's answer
        self._answers: dict[str, SmsOutcome] = {}

    def queue(self, effect: CaseChange | SmsRequest) -> None:
        if not self._tasks:
            self._tasks = [asyncio.create_task(self._run(lane)) for lane in (self.writes, self.sends)]
        lane = self.sends if isinstance(effect, SmsRequest) else self.writes
        lane.effects.append((effect, self.writes.queued))
        lane.queued += 1
        update = workflow.current_update_info()
        if update is not None:
            self._marks.setdefault(update.id, []).append((lane, lane.queued))

    def await_answer(self, key: str) -> None:
        """Keep Twilio's answer to the SMS with this idempotency key for `answer`."""
        self._awaited.add(key)

    def answer(self, key: str) -> SmsOutcome | None:
        self._awaited.discard(key)
        return self._answers.pop(key, None)

    async def settled(self) -> None:
        """Give the writes and sends this update queued up to ANSWER_WAIT: done, the staff SMS's
        answer is Twilio's; Twilio down, the update is answered anyway and the SMS follows."""
        own = self._marks.pop(workflow.current_update_info().id, [])
        if all(lane.done >= n for lane, n in own):
            return
        try:
            await workflow.wait_condition(lambda: all(lane.done >= n for lane, n in own), timeout=ANSWER_WAIT,
                                          timeout_summary="this action's writes")
        except asyncio.TimeoutError:
            pass

    async def drained(self) -> None:
        """Everything queued is done and the lanes' tasks have ended (the case closes)."""
        self._closing = True
        await workflow.wait_condition(lambda: self.writes.idle() and self.sends.idle())

    async def _run(self, lane: _Lane) -> None:
        while True:
            await workflow.wait_condition(lambda: bool(lane.effects) or self._closing)
            if not lane.effects:
                return
            lane.busy = True
            effect, writes_before = lane.effects.pop(0)
            if self.writes.done < writes_before:
                await workflow.wait_condition(lambda: self.writes.done >= writes_before)
            outcome = await self._do(effect)
            if isinstance(effect, SmsRequest) and effect.key in self._awaited:
                self._answers[effect.key] = outcome
            lane.done += 1
            lane.busy = False
