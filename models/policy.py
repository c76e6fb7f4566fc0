"""Customers, vehicles, policies and who serves them (保单-客户-客户经理 one-to-one)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import Index, Numeric, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from models.base import jsonb, timestamp, uuid_pk


class Customer(SQLModel, table=True):
    """A person as one branch serves them: each branch keeps its own record of a person, found by id
    number within the branch (the unified view of their policies, vehicles and contacts there). What
    one branch's staff and imports write (details, notes, a corrected phone) stays that branch's."""

    id: uuid.UUID = uuid_pk()
    branch_id: uuid.UUID = Field(foreign_key="branch.id")
    name: str = Field(max_length=64)
    id_number: str = Field(max_length=32, index=True)
    phone: str = Field(max_length=32, index=True)  # inbound SMS find their customer by number
    other_phones: list[str] = jsonb(list)
    # A corrected number (电话有误) is visible only to the manager who entered it.
    corrected_phone: str | None = Field(default=None, max_length=32, index=True)
    corrected_phone_by: uuid.UUID | None = Field(default=None, foreign_key="staff.id")
    phone_unreachable: bool = False
    sms_opt_out: bool = False
    do_not_call_until: date | None = None
    blacklisted: bool = False
    language: str = Field(default="zh-CN", max_length=8)
    birth_date: date | None = None
    # People who may be called about the policy: family members [{name, relation, phone?}] and the
    # proxy (委托人) who can renew for a customer who cannot come (T-7: 建议客户指定委托人).
    family: list[dict[str, str]] = jsonb(list)
    proxy: dict[str, str] | None = Field(default=None, sa_type=JSONB, nullable=True)
    created_at: datetime = timestamp(default_now=True)


class Vehicle(SQLModel, table=True):
    id: uuid.UUID = uuid_pk()
    customer_id: uuid.UUID = Field(foreign_key="customer.id", index=True)
    plate: str = Field(max_length=16, index=True)
    vin: str = Field(max_length=32)
    model_code: str | None = Field(default=None, max_length=64)
    model_confirmed: bool = False
    model_confirmed_by: uuid.UUID | None = Field(default=None, foreign_key="staff.id")
    model_confirmed_at: datetime | None = timestamp(nullable=True)
    first_registered_on: date | None = None


class PolicyChannel(StrEnum):
    traditional = "traditional"
    online = "online"


class Policy(SQLModel, table=True):
    id: uuid.UUID = uuid_pk()
    policy_no: str = Field(unique=True, max_length=64)
    customer_id: uuid.UUID = Field(foreign_key="customer.id", index=True)
    vehicle_id: uuid.UUID = Field(foreign_key="vehicle.id", index=True)
    sub_branch_id: uuid.UUID = Field(foreign_key="sub_branch.id", index=True)
    channel: PolicyChannel = Field(default=PolicyChannel.traditional, max_length=16)
    handler_code: str | None = Field(default=None, max_length=32)  # 经办人
    premium: Decimal = Field(sa_type=Numeric(12, 2))
    coverages: list[dict[str, Any]] = jsonb(list)
    claims_last_year: int = 0
    starts_on: date
    expires_on: date = Field(index=True)
    timezone: str = Field(default="Asia/Shanghai", max_length=64)
    status: str = Field(default="active", max_length=16)
    # Why the last import found no owner for it (an unknown or unfit manager or 经办人 code).
    unassigned_reason: str | None = Field(default=None, max_length=200)


class Assignment(SQLModel, table=True):
    """Who serves a policy; history kept (ended_at set when the book moves): who assigned it, from
    whom, to whom, when and why. The database allows one open assignment per policy."""

    __table_args__ = (
        Index("ux_assignment_open_policy", "policy_id", unique=True, postgresql_where=text("ended_at IS NULL")),
    )
    id: uuid.UUID = uuid_pk()
    policy_id: uuid.UUID = Field(foreign_key="policy.id", index=True)
    staff_id: uuid.UUID = Field(foreign_key="staff.id", index=True)
    assigned_at: datetime = timestamp(default_now=True)
    ended_at: datetime | None = timestamp(nullable=True)
    reason: str | None = Field(default=None, max_length=256)
    previous_staff_id: uuid.UUID | None = Field(default=None, foreign_key="staff.id")
    assigned_by: uuid.UUID | None = Field(default=None, foreign_key="staff.id")  # None: an import or the system
