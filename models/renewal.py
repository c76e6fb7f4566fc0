"""The renewal case projection: written by workflow activities, read by the API and reports.

The workflow is the source of truth; these rows are its projection, written idempotently.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import ARRAY, Column, Index, Numeric, String, text
from sqlmodel import Field, SQLModel

from models.base import jsonb, timestamp, uuid_pk
from renewals.case.contract import TaskKind


class RenewalCase(SQLModel, table=True):
    __tablename__ = "renewal_case"
    __table_args__ = (
        # Reports: the cases due in a period, grouped by sub-branch and manager.
        Index("ix_renewal_case_expiry_report", "expiry_date", "sub_branch_id", "owner_id"),
    )
    id: uuid.UUID = Field(primary_key=True)  # derived from the workflow id (see renewals.case.contract)
    workflow_id: str = Field(unique=True, max_length=128)
    policy_id: uuid.UUID = Field(foreign_key="policy.id", index=True)
    policy_no: str = Field(max_length=64, index=True)
    expiry_date: date
    timezone: str = Field(max_length=64)
    sub_branch_id: uuid.UUID = Field(foreign_key="sub_branch.id", index=True)
    stage: str = Field(max_length=32, index=True)
    owner_id: uuid.UUID = Field(foreign_key="staff.id", index=True)
    deputy_id: uuid.UUID = Field(foreign_key="staff.id", index=True)
    escalated: bool = False
    follow_up_status: str | None = Field(default=None, max_length=16)
    outcome: str | None = Field(default=None, max_length=16, index=True)
    outcome_reason: str | None = Field(default=None, max_length=64)
    new_policy_no: str | None = Field(default=None, max_length=64)
    lost_to_insurer: str | None = Field(default=None, max_length=64)
    # The stage in which the outcome was reached: the renewal funnel reads it.
    outcome_stage: str | None = Field(default=None, max_length=32)
    # Windows that passed before the case could enter them (its worker down or late): the funnel
    # counts them, the case's problems say what became of their SMS.
    skipped_windows: list[str] = Field(default_factory=list, sa_column=Column(
        ARRAY(String(32)), nullable=False, server_default=text("'{}'")))
    # The customer accepted a quote: its proposal (暂存单) awaits payment. Written by the API, not the
    # workflow (the projection leaves these alone); the case renews only on success or policy_renewed.
    proposal_no: str | None = Field(default=None, max_length=32)
    awaiting_payment_since: datetime | None = timestamp(nullable=True)
    # The customer's intent as staff last recorded it at a contact (written by the API): a customer who
    # declined a quote gets no quote SMS until they want one again (以免打扰); high signing intent
    # comes first on the to-do panel among tasks due at the same time.
    quote_wish: str | None = Field(default=None, max_length=16)
    signing_intent: str | None = Field(default=None, max_length=8)
    started_at: datetime = timestamp(default_now=True)
    stage_entered_at: datetime | None = timestamp(nullable=True)
    closed_at: datetime | None = timestamp(nullable=True)
    updated_at: datetime = timestamp(default_now=True)
    # How many of its workflow's writes this row shows: a staff action's answer names the revision
    # that shows it, and the API reads the case once the row has reached it.
    revision: int = Field(default=0, sa_column_kwargs={"server_default": text("0")})
    # What the projection plans a stage's tasks from (see renewals.case.tasks.planned_tasks), kept
    # here so a write carries only the case's fields that changed.
    day_seconds: int = Field(default=86400, sa_column_kwargs={"server_default": text("86400")})
    clock_anchor: datetime | None = timestamp(nullable=True)
    plan_revision: int = Field(default=0, sa_column_kwargs={"server_default": text("0")})
    calls_stopped: bool = Field(default=False, sa_column_kwargs={"server_default": text("false")})
    mid_window_since: datetime | None = timestamp(nullable=True)  # started mid-window: no task before
    handover_note_id: uuid.UUID | None = None
    # Set by the history archiver once the closed case's Temporal history is in PostgreSQL.
    history_archived_at: datetime | None = timestamp(nullable=True)


class QuoteWish(StrEnum):
    wants = "wants"  # 需要报价
    declined = "declined"  # 不需要报价: no quote SMS, 以免打扰


class SigningIntent(StrEnum):
    """签单意向, in the order the to-do panel contacts them (签单意向较高的客户要重点联络)."""

    high = "high"
    medium = "medium"
    low = "low"


class TaskState(StrEnum):
    open = "open"
    done = "done"
    expired = "expired"  # a daily task nobody handled by the end of its day: missed
    cancelled = "cancelled"


class Task(SQLModel, table=True):
    __table_args__ = (
        # The to-do panel: one indexed range scan per staff member.
        Index("ix_task_assignee_state_opens", "assignee_id", "state", "opens_at"),
        # Reports: the tasks opened in a period.
        Index("ix_task_opens_report", "opens_at", "assignee_id"),
    )
    id: uuid.UUID = Field(primary_key=True)  # deterministic: a retried activity finds its own row
    case_id: uuid.UUID = Field(foreign_key="renewal_case.id", index=True)
    assignee_id: uuid.UUID = Field(foreign_key="staff.id")
    kind: TaskKind = Field(max_length=16)
    stage: str = Field(max_length=32)
    day: int | None = None  # days relative to expiry, for daily tasks
    opens_at: datetime = timestamp()
    due_at: datetime = timestamp(index=True)
    state: TaskState = Field(default=TaskState.open, max_length=16)
    handled_at: datetime | None = timestamp(nullable=True)
    handled_by: uuid.UUID | None = Field(default=None, foreign_key="staff.id")
    handled_result: str | None = Field(default=None, max_length=32)
    # The first final-week call after supervision: the deputy's hand-over note, shown with the task.
    handover_note_id: uuid.UUID | None = Field(default=None, foreign_key="note.id")
    # The final week (the stage table's sms_after_contact): the SMS sent after the contact that handled this task.
    quote_sms_sent: bool = Field(default=False, sa_column_kwargs={"server_default": text("false")})
    service_request_sms_sent: bool = Field(default=False, sa_column_kwargs={"server_default": text("false")})


class Note(SQLModel, table=True):
    """Staff free text, kept out of workflow payloads: updates carry only the note's id."""

    id: uuid.UUID = uuid_pk()
    case_id: uuid.UUID = Field(foreign_key="renewal_case.id", index=True)
    author_id: uuid.UUID = Field(foreign_key="staff.id")
    body: str
    created_at: datetime = timestamp(default_now=True)


class IdempotencyKey(SQLModel, table=True):
    """An Idempotency-Key a staff member sent with an action, and a digest of the request it stands
    for (action, case, what was asked): the same key with another request is refused."""

    __tablename__ = "idempotency_key"
    staff_id: uuid.UUID = Field(foreign_key="staff.id", primary_key=True)
    key: str = Field(primary_key=True, max_length=128)
    request_digest: str = Field(max_length=64)  # SHA-256, hex
    created_at: datetime = timestamp(default_now=True)


class ContactRecord(SQLModel, table=True):
    __tablename__ = "contact_record"
    # The retention purge's (renewals.privacy.service) way to what it clears, batch after batch: the
    # rows still holding an SMS text or a recording's link, in id order (cleared rows leave them).
    __table_args__ = (
        Index("ix_contact_record_sms_body_held", "id", postgresql_where=text("channel = 'sms' AND body IS NOT NULL")),
        Index("ix_contact_record_recording_held", "id", postgresql_where=text("recording_url IS NOT NULL")),
    )
    id: uuid.UUID = uuid_pk()
    case_id: uuid.UUID | None = Field(default=None, foreign_key="renewal_case.id", index=True)
    customer_id: uuid.UUID | None = Field(default=None, foreign_key="customer.id", index=True)
    staff_id: uuid.UUID | None = Field(default=None, foreign_key="staff.id")
    recipient: str = Field(default="customer", max_length=16)  # customer, owner, deputy
    channel: str = Field(max_length=8)  # call, sms
    direction: str = Field(default="outbound", max_length=8)
    masked_number: str | None = Field(default=None, max_length=32)
    template: str | None = Field(default=None, max_length=32)
    template_version: int | None = None  # the version of the template the SMS was rendered from
    body: str | None = None
    # (case, stage, template, day): a retried send finds the record and does not send again.
    idempotency_key: str | None = Field(default=None, unique=True, max_length=200)
    provider_id: str | None = Field(default=None, max_length=64, index=True)
    delivery_status: str | None = Field(default=None, max_length=32)
    error_code: int | None = None
    duration_seconds: int | None = None
    recording_url: str | None = None
    result: str | None = Field(default=None, max_length=32)
    note_id: uuid.UUID | None = Field(default=None, foreign_key="note.id")
    created_at: datetime = timestamp(default_now=True)
    sent_at: datetime | None = timestamp(nullable=True)


class Quote(SQLModel, table=True):
    """A quote attempt: priced, or refused with its reasons (staff need to see why)."""

    id: uuid.UUID = uuid_pk()
    case_id: uuid.UUID = Field(foreign_key="renewal_case.id", index=True)
    created_by: uuid.UUID = Field(foreign_key="staff.id")
    channel: str | None = Field(default=None, max_length=16)  # none when no channel was configured
    coverages: list[dict[str, Any]] = jsonb(list)
    premium: Decimal | None = Field(default=None, sa_type=Numeric(12, 2))
    eligible: bool
    reasons: list[dict[str, str]] = jsonb(list)  # [{"code": ..., "message": ...}]
    pricing: dict[str, str] = jsonb(dict)  # provider and factors, as strings
    valid_until: date | None = None
    created_at: datetime = timestamp(default_now=True)
    sent_at: datetime | None = timestamp(nullable=True)
    accepted_at: datetime | None = timestamp(nullable=True)
    accepted_by: uuid.UUID | None = Field(default=None, foreign_key="staff.id")
    proposal_no: str | None = Field(default=None, unique=True, max_length=32)  # 暂存单号


class ImportJob(SQLModel, table=True):
    __tablename__ = "import_job"
    id: uuid.UUID = uuid_pk()
    filename: str = Field(max_length=256)
    created_by: uuid.UUID | None = Field(default=None, foreign_key="staff.id")
    # An admin imports for their branch; None: the CLI, for the whole company.
    branch_id: uuid.UUID | None = Field(default=None, foreign_key="branch.id", index=True)
    file_sha256: str | None = Field(default=None, max_length=64)
    status: str = Field(default="pending", max_length=16)  # pending, running, done, failed (see job_status)
    phase: str | None = Field(default=None, max_length=16)  # reading, loading, cases
    total_rows: int = 0
    processed_rows: int = 0
    imported_rows: int = 0
    # inserted, updated, unchanged, cases_started, expiry_signalled, reassigned, unassigned, ...
    counts: dict[str, Any] = jsonb(dict)
    errors: list[dict[str, Any]] = jsonb(list)  # row-level: {"row": n, "column": ..., "reason": ...}
    failure: str | None = None
    created_at: datetime = timestamp(default_now=True)
    finished_at: datetime | None = timestamp(nullable=True)
    heartbeat_at: datetime | None = timestamp(nullable=True)  # the importing process is alive
    # Set when a Temporal workflow runs the import (renewals.intake.durable): any worker resumes it,
    # so it never shows as interrupted. None: imported in the CLI's own process.
    workflow_id: str | None = Field(default=None, max_length=128)
    followed_policies: int = 0  # the cases phase: policies whose cases are in line with them, of imported_rows
