"""The organisation: company → branch (分公司) → sub-branch (支公司) → staff."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, ForeignKey, Uuid
from sqlmodel import Field, SQLModel

from models.base import timestamp, uuid_pk


class Role(StrEnum):
    sales = "sales"  # 保单服务经理
    deputy = "deputy"  # 支公司分管车险副经理
    admin = "admin"  # 系统专员
    manager = "manager"  # 分公司/支公司 managers (read-only)
    auditor = "auditor"  # 审计 (read-only, company-wide)


class Branch(SQLModel, table=True):
    id: uuid.UUID = uuid_pk()
    code: str = Field(unique=True, max_length=32)
    name: str = Field(max_length=128)


class SubBranch(SQLModel, table=True):
    __tablename__ = "sub_branch"
    id: uuid.UUID = uuid_pk()
    code: str = Field(unique=True, max_length=32)
    name: str = Field(max_length=128)
    branch_id: uuid.UUID = Field(foreign_key="branch.id", index=True)
    # The sub-branch's deputy manager for motor (分管车险副经理): every new case is escalated to them.
    # use_alter: staff and sub_branch refer to each other.
    deputy_id: uuid.UUID | None = Field(default=None, sa_column=Column(
        Uuid, ForeignKey("staff.id", use_alter=True, name="fk_sub_branch_deputy_id_staff"), nullable=True))


class Staff(SQLModel, table=True):
    id: uuid.UUID = uuid_pk()
    username: str = Field(unique=True, max_length=64)
    name: str = Field(max_length=64)
    role: Role = Field(max_length=16)
    phone: str = Field(max_length=32)
    # Company-level staff (auditors) belong to no branch; branch managers to a branch only.
    branch_id: uuid.UUID | None = Field(default=None, foreign_key="branch.id", index=True)
    sub_branch_id: uuid.UUID | None = Field(default=None, foreign_key="sub_branch.id", index=True)
    active: bool = True
    # 经办人 code in the core policy system: imported rows without a manager are matched by it.
    handler_code: str | None = Field(default=None, unique=True, max_length=32)
    password_hash: str | None = Field(default=None, max_length=256)
    # Every sign-in token carries the version it was issued under; signing out, a deactivation or a
    # new password moves it on, which ends every session of this staff member at once.
    session_version: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    created_at: datetime = timestamp(default_now=True)


class StaffQuoteConfig(SQLModel, table=True):
    """Per-staff quoting setup (网销配置): online quotes need the group-buy id and the epicc account."""

    __tablename__ = "staff_quote_config"
    staff_id: uuid.UUID = Field(foreign_key="staff.id", primary_key=True)
    channel: str = Field(default="traditional", max_length=16)
    group_buy_id: str | None = Field(default=None, max_length=64)
    online_account: str | None = Field(default=None, max_length=128)
