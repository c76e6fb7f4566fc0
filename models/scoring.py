"""The smart to-do panel's tables: each open case's lapse-risk score, the score's model, and staff
absences with the colleague who covers them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from models.base import jsonb, timestamp, uuid_pk


class LapseScore(SQLModel, table=True):
    """A case's latest lapse-risk score. Kept when the case closes: the last score before the
    outcome is what the reports compare outcomes with."""

    __tablename__ = "lapse_score"
    case_id: uuid.UUID = Field(foreign_key="renewal_case.id", primary_key=True)
    score: int  # 0-100: the chance, in percent, that the case ends LOST or LAPSED
    reasons: list[str] = jsonb(list)  # the top three, "中文 / English"
    best_hour: int | None = None  # local hour (within the call hours) the customer likeliest answers in
    model_version: str = Field(max_length=64)
    scored_at: datetime = timestamp()


class LapseModel(SQLModel, table=True):
    """A scoring model as trained (or the documented prior): its weights in the open, so every
    score can say why."""

    __tablename__ = "lapse_model"
    version: str = Field(primary_key=True, max_length=64)
    kind: str = Field(max_length=16)  # trained, prior
    outcomes: int  # the closed cases it learnt from
    weights: dict[str, Any] = jsonb(dict)  # feature -> weight, and "intercept"
    held_out_auc: float | None = None
    trained_at: datetime = timestamp(index=True)


class StaffAbsence(SQLModel, table=True):
    """A staff member away from `starts_at` to `ends_at`: meanwhile their tasks show on the
    covering colleague's panel; ownership, reports and commission stay theirs."""

    __tablename__ = "staff_absence"
    __table_args__ = (
        # The to-do panel: a cover's absences running now.
        Index("ix_staff_absence_cover", "cover_id", "ends_at"),
        Index("ix_staff_absence_staff", "staff_id", "ends_at"),
    )
    id: uuid.UUID = uuid_pk()
    staff_id: uuid.UUID = Field(foreign_key="staff.id")
    cover_id: uuid.UUID = Field(foreign_key="staff.id")
    starts_at: datetime = timestamp()
    ends_at: datetime = timestamp()
    recorded_by: uuid.UUID = Field(foreign_key="staff.id")
    ended_by: uuid.UUID | None = Field(default=None, foreign_key="staff.id")  # ended early
    created_at: datetime = timestamp(default_now=True)
