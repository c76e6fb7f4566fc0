"""The organisation: company → branch (分公司) → sub-branch (支公司) → staff."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

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
    password_hash: str | None = Field(default=None, max_length=256)
    created_at: datetime = timestamp(default_now=True)


class StaffQuoteConfig(SQLModel, table=True):
    """Per-staff quoting setup (网销配置): online quotes need the group-buy id and the epicc account."""

    __tablename__ = "staff_quote_config"
    staff_id: uuid.UUID = Field(foreign_key="staff.id", primary_key=True)
    channel: str = Field(default="traditional", max_length=16)
    group_buy_id: str | None = Field(default=None, max_length=64)
    online_account: str | None = Field(default=None, max_length=128)
