"""What the workflow hands its activities. Ids, codes and instants only: the activities look up
everything personal (names, phones, plates) in PostgreSQL themselves."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime

from renewals.case.contract import OpenTask, TaskKind


@dataclass
class CaseSnapshot:
    """The case row as the workflow sees it now; written whole, so a retry writes the same."""

    case_id: uuid.UUID
    workflow_id: str
    policy_no: str
    expiry_date: date
    timezone: str
    stage: str
    owner_id: uuid.UUID
    deputy_id: uuid.UUID
    escalated: bool = False
    day_seconds: int = 86400
    clock_anchor: datetime | None = None
    follow_up_status: str | None = None
    outcome: str | None = None
    outcome_reason: str | None = None
    outcome_stage: str | None = None
    new_policy_no: str | None = None
    lost_to_insurer: str | None = None
    plan_revision: int = 0  # see workflows.tasks.task_id
    calls_stopped: bool = False  # the customer refused all contact: stages open no call tasks
    skipped_windows: list[str] = field(default_factory=list)  # passed before the case could enter them
    # The case started mid-window at this instant: its stage has no task for the days before it.
    started_at: datetime | None = None
    handover_note_id: uuid.UUID | None = None  # the deputy's note for the manager (see planned_tasks)


@dataclass
class ContactToRecord:
    id: uuid.UUID  # derived from the update id: a retried write finds its row
    staff_id: uuid.UUID
    channel: str
    result: str
    note_id: uuid.UUID | None = None


@dataclass
class CaseChange:
    at: datetime  # workflow time: what "now" means for this change
    case: CaseSnapshot
    open_stage_tasks: bool = False  # the stage's planned tasks (see workflows.tasks.planned_tasks)
    # The expiry moved: call and supervision tasks of the old plan are cancelled and only the new
    # plan's tasks not yet due are opened (days that passed under the old plan are not "missed").
    replan: bool = False
    open_tasks: list[OpenTask] = field(default_factory=list)  # one-off tasks: complaint, loss reason
    complete_task_id: uuid.UUID | None = None
    handled_by: uuid.UUID | None = None
    handled_result: str | None = None
    # Open tasks of these kinds are cancelled (a terminal outcome cancels every kind).
    cancel_kinds: list[TaskKind] = field(default_factory=list)
    move_tasks_from: uuid.UUID | None = None  # reassignment: open tasks move to case.owner_id
    move_deputy_tasks_from: uuid.UUID | None = None  # deputy change: open tasks move to case.deputy_id
    contact: ContactToRecord | None = None
    # The final week: this staff SMS (a calendar.SMS_AFTER_CONTACT template) followed the contact that
    # handled the task.
    sms_after_contact: tuple[uuid.UUID, str] | None = None


@dataclass
class SmsRequest:
    case_id: uuid.UUID
    template: str
    recipient: str  # customer, owner or deputy
    idempotency_key: str  # (case, stage, template, day): a customer never gets the same SMS twice
    at: datetime
    stage: str
    day: int  # the renewal calendar's day (T+day) at `at`, real or compressed
    quote_id: uuid.UUID | None = None
    sent_by: uuid.UUID | None = None  # the staff member who sent a customer SMS (None: the system)


@dataclass
class SmsOutcome:
    status: str  # sent, suppressed (opt-out) or failed (permanent)
    contact_id: uuid.UUID | None = None
    error_code: int | None = None
