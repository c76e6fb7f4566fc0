"""The daily task roll-up: task compliance per assignee and local day, written once
every task of the day is settled, so a year's report reads days instead of millions of tasks."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Index, LargeBinary, text
from sqlmodel import Field, SQLModel

from models.base import timestamp


class TaskDay(SQLModel, table=True):
    """One assignee's tasks opened on one day (in `timezone`, the report's company time zone),
    cancelled ones left out. Every figure is final: no task of the day is open any more."""

    __tablename__ = "task_day"
    # A reader's scope: their staff's rows of the period (the key serves the company-wide read).
    __table_args__ = (Index("ix_task_day_assignee", "timezone", "assignee_id", "day"),)
    timezone: str = Field(primary_key=True, max_length=64)
    day: date = Field(primary_key=True)
    assignee_id: uuid.UUID = Field(primary_key=True, foreign_key="staff.id")
    opened: int
    daily_due: int
    daily_same_day: int
    missed: int
    overdue_open: int
    handled: int
    # The handled tasks' seconds from opening to handling, as big-endian float8s (PostgreSQL's
    # float8send): the exact values, so the report's median is exact, read as one byte string
    # per assignee rather than one row per task.
    handling_seconds: bytes = Field(sa_type=LargeBinary)
    final_week_contacts: int = Field(default=0, sa_column_kwargs={"server_default": text("0")})
    final_week_both_sms: int = Field(default=0, sa_column_kwargs={"server_default": text("0")})


class RolledTaskDay(SQLModel, table=True):
    """A day whose tasks are in task_day. No row: the report scans that day's tasks."""

    __tablename__ = "task_day_rolled"
    timezone: str = Field(primary_key=True, max_length=64)
    day: date = Field(primary_key=True)
    rolled_at: datetime = timestamp()
