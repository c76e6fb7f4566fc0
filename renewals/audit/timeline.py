"""A renewal case's story for auditors (pure): its Temporal history, joined with the contact
records, the refused staff actions and the staff directory, turned into domain events in order.

Each event carries its instant, the local time in the policy's zone and the day relative to
expiry (T-12), who acted (a staff id and role, or a system component) and what happened. Nothing
personal leaves here but masked forms: numbers are always masked, SMS bodies and notes are never
shown, and staff names are masked for readers who see identities masked (auditors).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from temporalio.api.common.v1 import Payloads
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter

from renewals.case.calendar import RenewalPlan, plan_renewal, t_day
from renewals.core.masking import mask_name
from renewals.case import contract as c
from renewals.case.tasks import PLANNED_KINDS, planned_tasks

_converter = pydantic_data_converter.payload_converter

# Who sends a signal when its payload does not say (payloads older than the `source` field, and
# signals without a payload: a STOP/START reply reaches us through Twilio).
SIGNAL_SOURCES = {
    "policy_renewed": c.SystemComponent.core_system, "expiry_changed": c.SystemComponent.core_system,
    "contact_failed": c.SystemComponent.twilio_webhook, "opted_out": c.SystemComponent.twilio_webhook,
    "opted_in": c.SystemComponent.twilio_webhook,
}
# A workflow's closing event and the status it closed with, as Temporal names it.
CLOSING_STATUS = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED: "COMPLETED",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED: "FAILED",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED: "TERMINATED",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT: "TIMED_OUT",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED: "CANCELED",
}


@dataclass
class Actor:
    """Who did it: a staff member (id, role, name as the reader may see it) or a system component."""

    role: str  # sales, deputy, admin, or "system"
    id: str | None = None
    name: str | None = None
    component: str | None = None  # set for system actions

    @staticmethod
    def system(component: c.SystemComponent | str) -> Actor:
        return Actor(role=c.ActorRole.system.value, component=str(component))


@dataclass
class TimelineEvent:
    at: datetime
    local_time: str  # YYYY-MM-DD HH:MM in the policy's time zone
    day: int  # relative to expiry: -12 is T-12
    t_day: str
    kind: str
    actor: Actor
    stage: str  # the stage the case is in once the event has happened
    summary: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class Timeline:
    workflow_id: str
    case_id: uuid.UUID
    policy_no: str
    expiry_date: str
    timezone: str
    history_from: str  # temporal or archive
    outcome: str | None
    events: list[TimelineEvent]


@dataclass(frozen=True)
class StaffInfo:
    role: str
    name: str


@dataclass(frozen=True)
class ContactInfo:
    """The columns of a contact record the timeline joins (see models.ContactRecord)."""

    id: uuid.UUID
    channel: str
    staff_id: uuid.UUID | None
    idempotency_key: str | None
    provider_id: str | None
    masked_number: str | None
    delivery_status: str | None
    error_code: int | None
    duration_seconds: int | None
    recording_url: str | None
    created_at: datetime


@dataclass(frozen=True)
class RefusalInfo:
    staff_id: uuid.UUID
    role: str
    action: str
    request: dict[str, Any]
    reason: str
    at: datetime


@dataclass(frozen=True)
class CoverInfo:
    """A staff absence (models.StaffAbsence): meanwhile the absent person's tasks were on the cover's panel."""

    staff_id: uuid.UUID
    cover_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    recorded_by: uuid.UUID
    ended_by: uuid.UUID | None  # ended early; else it ended when planned


@dataclass(frozen=True)
class Archived:
    at: datetime


class _Fields(dict):
    """A decoded payload read by field name. Payloads are read as plain JSON, not as today's
    dataclasses: histories recorded years ago may lack fields added since."""

    def __getattr__(self, name: str) -> Any:
        value = self.get(name)
        return _Fields(value) if isinstance(value, dict) else value


class DecodedHistory:
    """A history whose payloads are decoded once however often they are read: the staff a history
    names are looked up (staff_ids) before the timeline is built from the same payloads."""

    def __init__(self, history: WorkflowHistory):
        self.history = history
        self._payloads: dict[int, Any] = {}  # event id -> its payload, decoded

    def payload(self, ev: HistoryEvent, payloads: Payloads) -> Any:
        """`payloads`, the one payload of event `ev` the timeline reads, decoded (None when empty)."""
        if ev.event_id not in self._payloads:
            value = _converter.from_payloads([payloads.payloads[0]], None)[0] if payloads.payloads else None
            self._payloads[ev.event_id] = _Fields(value) if isinstance(value, dict) else value
        return self._payloads[ev.event_id]


def _decoded(history: WorkflowHistory | DecodedHistory) -> DecodedHistory:
    return history if isinstance(history, DecodedHistory) else DecodedHistory(history)


def _uuid(value: Any) -> uuid.UUID | None:
    return uuid.UUID(str(value)) if value else None


def _instant(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _plan(expiry: Any, timezone: str, day_seconds: int | None, anchor: Any) -> RenewalPlan:
    return plan_renewal(date.fromisoformat(str(expiry)), timezone, day_seconds=day_seconds or 86400,
                        anchor=_instant(anchor))


def _open_task(t: dict) -> c.OpenTask:
    return c.OpenTask(id=_uuid(t["id"]), kind=t["kind"], assignee_id=_uuid(t["assignee_id"]), stage=t["stage"],
                      opens_at=_instant(t["opens_at"]), due_at=_instant(t["due_at"]), day=t.get("day"))


@dataclass
class _Task:
    task: c.OpenTask
    created_at: datetime
    plan: RenewalPlan
    seq: float  # where the derived events sort among events at the same instant
    handled_at: datetime | None = None
    handled_by: Actor | None = None
    handled_seq: float = 0
    result: str | None = None
    cancelled_at: datetime | None = None
    cancelled_seq: float = 0


class _Builder:
    def __init__(self, history: DecodedHistory, staff: dict[uuid.UUID, StaffInfo], identities_masked: bool):
        self.history, self.staff, self.masked = history, staff, identities_masked
        self.events: list[tuple[datetime, float, TimelineEvent]] = []
        self.task_time: datetime | None = None  # workflow.now() of the workflow task being read
        self.inp: _Fields | None = None
        self.plan: RenewalPlan | None = None
        self.stage = "WAITING"
        self.snap = _Fields()  # the case as its writes so far left it (a write carries what changed)
        self.escalated = False
        self.outcome: str | None = None
        self.tasks: dict[uuid.UUID, _Task] = {}
        self.activities: dict[int, tuple[str, Any]] = {}  # scheduled event id -> (type, input)
        self.updates: dict[str, TimelineEvent] = {}  # update id -> its staff_action event
        self.in_flight: TimelineEvent | None = None  # the staff action being handled
        self.in_flight_seq = 0.0
        self.sms: dict[int, TimelineEvent] = {}
        self.payload = history.payload

    # --- output -----------------------------------------------------------------------------------

    def person(self, staff_id: uuid.UUID | str | None, role: str | None = None) -> Actor:
        if staff_id is None:
            return Actor.system(c.SystemComponent.workflow)
        staff_id = uuid.UUID(str(staff_id))
        info = self.staff.get(staff_id)
        name = info.name if info else None
        return Actor(role=str(role or (info.role if info else "unknown")), id=str(staff_id),
                     name=mask_name(name) if self.masked else name)

    def emit(self, at: datetime, kind: str, actor: Actor, summary: str, plan: RenewalPlan | None = None,
             seq: float | None = None, **details: Any) -> TimelineEvent:
        plan = plan or self.plan
        day = plan.day_of(at)
        event = TimelineEvent(at=at, local_time=_local(at, plan), day=day, t_day=t_day(day), kind=kind,
                              actor=actor, stage=self.stage, summary=summary,
                              details={k: v for k, v in details.items() if v is not None})
        self.events.append((at, len(self.events) if seq is None else seq, event))
        return event

    # --- history ----------------------------------------------------------------------------------

    def read(self) -> datetime:
        end = None
        for ev in self.history.history.events:
            at = ev.event_time.ToDatetime().replace(tzinfo=UTC)
            et = ev.event_type
            if et == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
                self.task_time = at
            elif et == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
                self.started(ev, at)
            elif et == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                self.activity_scheduled(ev, at)
            elif et == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
                self.activity_completed(ev)
            elif et == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
                self.update_accepted(ev, at)
            elif et == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED:
                self.update_completed(ev)
            elif et == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
                self.in_flight = None
                self.signalled(ev, at)
            elif et == EventType.EVENT_TYPE_TIMER_FIRED:
                self.in_flight = None  # the case's own clock acts from here
            elif et in CLOSING_STATUS:
                end = at
                if et != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
                    self.emit(at, "workflow_ended", Actor.system("temporal"), f"workflow {CLOSING_STATUS[et].lower()}",
                              reason=getattr(ev.workflow_execution_terminated_event_attributes, "reason", None) or None)
            last = at
        return end or last

    def started(self, ev, at: datetime) -> None:
        attrs = ev.workflow_execution_started_event_attributes
        self.inp = self.payload(ev, attrs.input)
        self.plan = _plan(self.inp.expiry_date, self.inp.timezone, self.inp.day_seconds, self.inp.clock_anchor)
        memo = attrs.memo.fields.get("started_by")
        source = _converter.from_payloads([memo], None)[0] if memo is not None else c.SystemComponent.intake
        self.emit(at, "case_started", Actor.system(source), f"case started for policy {self.inp.policy_no}",
                  expiry_date=str(self.inp.expiry_date), owner=self.person(self.inp.owner_id).__dict__,
                  deputy=self.person(self.inp.deputy_id).__dict__)

    def activity_scheduled(self, ev, at: datetime) -> None:
        attrs = ev.activity_task_scheduled_event_attributes
        name = attrs.activity_type.name
        if name == "project_case":
            self.change(self.payload(ev, attrs.input))
        elif name == "send_sms":
            sms = self.payload(ev, attrs.input)
            requested = self.in_flight.actor if self.in_flight else None
            event = self.emit(_instant(sms.at) or at, "sms", Actor.system(c.SystemComponent.workflow),
                              f"SMS {sms.template} to the {_recipient(sms.recipient)}",
                              template=sms.template, recipient=sms.recipient,
                              requested_by=requested.__dict__ if requested else None,
                              key=sms.idempotency_key or c.sms_key(sms.case_id, sms.stage, sms.template, sms.day))
            self.sms[ev.event_id] = event

    def activity_completed(self, ev) -> None:
        attrs = ev.activity_task_completed_event_attributes
        event = self.sms.get(attrs.scheduled_event_id)
        if event is not None:
            outcome = self.payload(ev, attrs.result)
            event.details["status"] = outcome.status
            if outcome.error_code:
                event.details["error_code"] = outcome.error_code

    def change(self, change: _Fields) -> None:
        self.snap = snap = _Fields(change.case or {**self.snap, **(change.changed or {})})
        at = _instant(change.at)
        if self.plan is None or str(snap.expiry_date) != str(self.plan.expiry):
            self.plan = _plan(snap.expiry_date, snap.timezone, snap.day_seconds, snap.clock_anchor)
        workflow_actor = Actor.system(c.SystemComponent.workflow)
        if snap.stage != self.stage and not snap.outcome:
            self.stage = snap.stage
            self.emit(at, "stage_entered", workflow_actor, f"entered {snap.stage}")
            if snap.escalated and not self.escalated:
                reason = (f"follow-up status {snap.follow_up_status}" if snap.follow_up_status
                          else "no follow-up status was set")
                self.emit(at, "escalated", workflow_actor, f"escalated to the deputy ({reason})",
                          deputy=self.person(snap.deputy_id).__dict__)
        self.escalated = self.escalated or bool(snap.escalated)
        seq = len(self.events) - 0.5  # derived task events sort before what follows this change
        new = list(map(_open_task, change.open_tasks or ()))
        if change.open_stage_tasks:
            # Fields a history recorded before re-planning lacks read as None: the first plan, calls on.
            new += planned_tasks(_uuid(snap.case_id), self.plan, snap.stage, _uuid(snap.owner_id),
                                 _uuid(snap.deputy_id), plan_revision=snap.plan_revision or 0,
                                 calls_stopped=bool(snap.calls_stopped),
                                 since=at if change.replan else _instant(snap.started_at))
        for task in new:
            self.tasks.setdefault(task.id, _Task(task, at, self.plan, seq))
        done = self.tasks.get(_uuid(change.complete_task_id))
        if done is not None:
            contact = change.contact or _Fields()  # a contact that handled the task says who and how
            handler = _uuid(change.handled_by or contact.staff_id)
            actor = self.in_flight.actor if self.in_flight and self.in_flight.actor.id == str(handler) else None
            done.handled_at, done.handled_by = at, actor or self.person(handler)
            done.result = change.handled_result or contact.result
            done.handled_seq = self.in_flight_seq  # right after the staff action
        cancel, moved_from = change.cancel_kinds or [], _uuid(change.move_tasks_from)
        # A re-plan cancels the old plan's calendar tasks still open, as the projection does.
        replanned = {task.id for task in new} if change.replan else None
        for task in self.tasks.values():
            still_open = task.handled_at is None and task.cancelled_at is None and at < task.task.due_at
            if still_open and (("*" in cancel or task.task.kind in cancel) or (
                    replanned is not None and task.task.kind in PLANNED_KINDS and task.task.id not in replanned)):
                task.cancelled_at, task.cancelled_seq = at, seq
            if moved_from and task.task.assignee_id == moved_from and task.handled_at is None:
                task.task.assignee_id = _uuid(snap.owner_id)
        if snap.outcome and not self.outcome:
            self.outcome = snap.outcome
            self.stage = snap.outcome
            details = {"reason": snap.outcome_reason, "in_stage": snap.outcome_stage,
                       "new_policy_no": snap.new_policy_no, "lost_to_insurer": c.insurer_name(snap.lost_to_insurer)}
            actor = self.in_flight.actor if self.in_flight else Actor.system(c.SystemComponent.workflow)
            reason = f" ({snap.outcome_reason})" if snap.outcome_reason else ""
            self.emit(at, "outcome", actor, f"case ended {snap.outcome}{reason}", **details)

    def update_accepted(self, ev, at: datetime) -> None:
        attrs = ev.workflow_execution_update_accepted_event_attributes
        request = attrs.accepted_request
        name = request.input.name
        payload = self.payload(ev, request.input.args) or _Fields()
        actor = payload.actor
        if actor and actor.role == c.ActorRole.system:
            # Which of the system's own actors; none for an id that is not one of them.
            component = c.SYSTEM_ACTORS.get(uuid.UUID(str(actor.id)))
            who = Actor(role=actor.role, id=actor.id, component=component and component.value)
        else:
            who = self.person(actor.id, actor.role) if actor else Actor(role="unknown")
        what = asked_request(payload)
        if payload.note_id:
            what["note"] = "attached"
        covered = actor.covering_for if actor else None
        summary = _describe(name, what) + (" as the cover of the absent service manager" if covered else "")
        event = self.emit(self.task_time or at, "staff_action", who, summary, action=name, request=what,
                          covering_for=self.person(covered).__dict__ if covered else None)
        self.updates[request.meta.update_id] = event
        self.in_flight, self.in_flight_seq = event, len(self.events) - 0.5

    def update_completed(self, ev) -> None:
        attrs = ev.workflow_execution_update_completed_event_attributes
        # The action's writes and sends may follow its answer (they are done after it): it stays the
        # one in flight until the next action, signal or wake-up.
        event = self.updates.get(attrs.meta.update_id)
        if event is None:
            return
        if attrs.outcome.HasField("failure"):
            event.details["failed"] = attrs.outcome.failure.message
            return
        name = event.details["action"]
        result = self.payload(ev, attrs.outcome.success) or _Fields()
        if name == "send_customer_sms":
            event.details["sms"] = result.status
            if result.status == "held":
                event.details["held_until"] = _local(_instant(result.send_at), self.plan)
        else:
            # The case's state (histories recorded before actions answered what changed), or what changed.
            changed = result.changed or _Fields()
            event.details["resulting_stage"] = (result.outcome or result.stage or changed.outcome or changed.stage
                                                or self.stage)
        event.stage = self.stage

    def signalled(self, ev, at: datetime) -> None:
        attrs = ev.workflow_execution_signaled_event_attributes
        name = attrs.signal_name
        payload = self.payload(ev, attrs.input) or _Fields()
        source = payload.source or SIGNAL_SOURCES.get(name, "unknown")
        what = {k: v for k, v in payload.items() if k != "source"}
        if name == "expiry_changed":
            old = self.plan.expiry if self.plan else None
            self.emit(at, "expiry_changed", Actor.system(source),
                      f"expiry date changed from {old} to {payload.new_expiry_date}", old=str(old), **what)
        else:
            self.emit(at, "system_action", Actor.system(source), _describe(name, what), signal=name, **what)

    # --- tasks, contacts, refusals ------------------------------------------------------------------

    def task_events(self, end: datetime) -> None:
        for t in self.tasks.values():
            task = t.task
            opened = max(task.opens_at, t.created_at)
            who = self.person(task.assignee_id)
            what = f"{task.kind} task" + (f" for {t_day(task.day)}" if task.day is not None else "")
            common = {"task": task.kind, "assignee": who.__dict__, "due": _local(task.due_at, t.plan)}
            stop = t.handled_at or t.cancelled_at or end
            if stop < opened:
                continue  # the case moved on before the task opened
            system = Actor.system(c.SystemComponent.workflow)
            self.emit(opened, "task_opened", system, f"{what} opened", t.plan, t.seq, **common)
            if t.handled_at is not None:
                self.emit(t.handled_at, "task_handled", t.handled_by, f"{what} handled: {t.result}", t.plan,
                          t.handled_seq, task=task.kind, result=t.result)
            elif task.due_at <= stop:
                self.emit(task.due_at, "task_missed", system, f"{what} missed (not handled by its deadline)", t.plan,
                          t.seq, task=task.kind, assignee=who.__dict__)
            elif t.cancelled_at is not None:
                self.emit(t.cancelled_at, "task_cancelled", system, f"{what} cancelled", t.plan, t.cancelled_seq,
                          task=task.kind)

    def contacts(self, contacts: Iterable[ContactInfo]) -> None:
        by_key = {ct.idempotency_key: ct for ct in contacts if ct.idempotency_key}
        for event in self.sms.values():
            ct = by_key.get(event.details.pop("key", None))
            if ct is not None:
                event.details.update(to=ct.masked_number, delivery=ct.delivery_status,
                                     **({"error_code": ct.error_code} if ct.error_code else {}))
        for ct in contacts:
            if ct.channel == c.Channel.call and ct.provider_id:  # click-to-call, placed by the API
                self.emit(ct.created_at, "call", self.person(ct.staff_id), "call placed (click-to-call, recorded)",
                          to=ct.masked_number, customer_leg=ct.delivery_status, duration_seconds=ct.duration_seconds,
                          recording=ct.recording_url)

    def covers(self, covers: Iterable[CoverInfo], started: datetime, end: datetime) -> None:
        """An absence of someone whose tasks the case had, while the case ran: its tasks went to the
        cover's panel, and came back at its end (the case's owner never changed)."""
        assignees = {task.task.assignee_id for task in self.tasks.values()}
        for a in covers:
            if a.staff_id not in assignees:
                continue
            away, cover = self.person(a.staff_id), self.person(a.cover_id)
            if started <= a.starts_at <= end:
                self.emit(a.starts_at, "tasks_covered", self.person(a.recorded_by),
                          "tasks shown on the cover's to-do panel while their assignee is away (the owner is "
                          "unchanged)", away=away.__dict__, cover=cover.__dict__)
            if started <= a.ends_at <= end:
                self.emit(a.ends_at, "tasks_returned",
                          self.person(a.ended_by) if a.ended_by else Actor.system("absence_planned_end"),
                          "tasks back on their assignee's to-do panel: the absence ended", away=away.__dict__,
                          cover=cover.__dict__)

    def refusals(self, refusals: Iterable[RefusalInfo]) -> None:
        for r in refusals:
            self.emit(r.at, "staff_action_refused", self.person(r.staff_id, r.role),
                      f"{_describe(r.action, r.request)} refused: {r.reason}", action=r.action, request=r.request,
                      reason=r.reason)


def staff_ids(history: WorkflowHistory | DecodedHistory) -> set[uuid.UUID]:
    """Every staff member the history names: owner and deputy at start, actors, new owners. Give it
    the DecodedHistory the timeline will be built from, and their payloads are decoded once."""
    ids: set[uuid.UUID | None] = set()
    decoded = _decoded(history)
    for ev in decoded.history.events:
        if ev.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            inp = decoded.payload(ev, ev.workflow_execution_started_event_attributes.input)
            ids |= {_uuid(inp.owner_id), _uuid(inp.deputy_id)}
        elif ev.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            request = ev.workflow_execution_update_accepted_event_attributes.accepted_request
            payload = decoded.payload(ev, request.input.args)
            if payload:
                actor = payload.actor or {}
                ids |= {_uuid(actor.get("id")), _uuid(actor.get("covering_for")), _uuid(payload.new_owner_id)}
    return {i for i in ids if i}


def build_timeline(history: WorkflowHistory | DecodedHistory, *, contacts: Sequence[ContactInfo] = (),
                   refusals: Sequence[RefusalInfo] = (), covers: Sequence[CoverInfo] = (),
                   staff: dict[uuid.UUID, StaffInfo] | None = None,
                   identities_masked: bool = True, history_from: str = "temporal",
                   archived: Archived | None = None, now: datetime | None = None) -> Timeline:
    """The case's domain events in order. `now` bounds a running case (tasks not yet due are not missed)."""
    decoded = _decoded(history)
    b = _Builder(decoded, staff or {}, identities_masked)
    end = b.read()
    if b.outcome is None and now is not None:
        end = max(end, now)
    b.task_events(end)
    b.covers(covers, b.events[0][0], end)
    b.contacts(contacts)
    b.refusals(refusals)
    if archived is not None:
        b.emit(archived.at, "history_archived", Actor.system(c.SystemComponent.archiver),
               "history stored in the audit archive")
    events = [event for _, _, event in sorted(b.events, key=lambda e: (e[0], e[1]))]
    _restage(events)
    return Timeline(workflow_id=decoded.history.workflow_id, case_id=c.case_id_for(decoded.history.workflow_id),
                    policy_no=b.inp.policy_no, expiry_date=str(b.plan.expiry), timezone=b.inp.timezone,
                    history_from=history_from, outcome=b.outcome, events=events)


def _restage(events: list[TimelineEvent]) -> None:
    """Derived events (tasks, calls, refusals) are placed by time after the history was read:
    give each the stage the case was in at that moment."""
    stage = "WAITING"
    for event in events:
        if event.kind in ("stage_entered", "outcome"):
            stage = event.stage
        elif event.kind == "staff_action" and "resulting_stage" in event.details:
            stage = event.stage
        else:
            event.stage = stage


def asked_request(fields: Mapping[str, Any]) -> dict[str, Any]:
    """What a staff action asked for: neither the actor (shown apart) nor the note (its text is never
    shown), and no empty fields."""
    return {k: v for k, v in fields.items() if k not in ("actor", "note_id") and v is not None}


def _describe(name: str, what: dict[str, Any]) -> str:
    shown = ", ".join(f"{k}={v}" for k, v in what.items() if k != "note")
    return f"{name}({shown})" if shown else name


def _recipient(recipient: str) -> str:
    return {"owner": "service manager", "deputy": "deputy manager"}.get(recipient, recipient)


def _local(at: datetime, plan: RenewalPlan | None) -> str:
    return f"{at.astimezone(ZoneInfo(plan.timezone)):%Y-%m-%d %H:%M}" if plan else at.isoformat()
