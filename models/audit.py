"""Audit: closed cases' Temporal histories kept in PostgreSQL, and staff actions the
workflow refused (a refused update leaves no event in the history, so the API records it)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Index, LargeBinary
from sqlmodel import Field, SQLModel

from models.base import jsonb, timestamp, uuid_pk
from models.renewal import RenewalCase


class HistoryArchive(SQLModel, table=True):
    """One closed workflow's full history: the protobuf `History`, gzip-compressed. Partitioned by
    the month (UTC) it closed, in schema `archive`, so retention drops whole months (migration 0020)."""

    __tablename__ = "history_archive"
    __table_args__ = {"postgresql_partition_by": "RANGE (closed_at)"}
    workflow_id: str = Field(primary_key=True, max_length=128)
    run_id: str = Field(max_length=64)
    case_id: uuid.UUID = Field(index=True)  # no foreign key: the archive outlives projection clean-ups
    policy_no: str = Field(max_length=64, index=True)
    status: str = Field(max_length=32)  # COMPLETED, TERMINATED, …
    # Part of the key because it is the partition key; a workflow's closing time never changes.
    closed_at: datetime = Field(sa_type=DateTime(timezone=True), primary_key=True, index=True)
    event_count: int
    history_bytes: int  # uncompressed size
    history_gz: bytes = Field(sa_type=LargeBinary)
    archived_at: datetime = timestamp(default_now=True)


class RefusedAction(SQLModel, table=True):
    """A staff action the case refused (409), with the validator's reason: shown in the timeline."""

    __tablename__ = "refused_action"
    id: uuid.UUID = uuid_pk()
    case_id: uuid.UUID = Field(foreign_key="renewal_case.id", index=True)
    staff_id: uuid.UUID = Field(foreign_key="staff.id")
    role: str = Field(max_length=16)
    action: str = Field(max_length=32)  # the update's name, e.g. set_follow_up
    request: dict[str, Any] = jsonb(dict)  # what was asked (ids, codes and enums only, no note text)
    reason: str = Field(max_length=500)
    at: datetime = timestamp()


# The archiver's work list: closed cases whose history is not archived yet, oldest first; the
# partial index keeps that lookup proportional to the backlog, not to all cases ever closed.
Index(
    "ix_renewal_case_to_archive", RenewalCase.closed_at,
    postgresql_where=RenewalCase.closed_at.is_not(None) & RenewalCase.history_archived_at.is_(None),
)
