"""SMS templates in the database (营销模板管理): every change is a new version, kept with who made it
and when; a send uses the newest version of its key and language and records which."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from models.base import timestamp, uuid_pk


class SmsTemplate(SQLModel, table=True):
    __tablename__ = "sms_template"
    __table_args__ = (UniqueConstraint("key", "language", "version", name="uq_sms_template_version"),)
    id: uuid.UUID = uuid_pk()
    key: str = Field(max_length=32)  # a message key (renewals.case.messages.MESSAGE_KEYS)
    language: str = Field(max_length=8)
    version: int  # 1: the text shipped with the product
    body: str  # the Jinja2 source
    created_by: uuid.UUID | None = Field(default=None, foreign_key="staff.id")  # None: shipped
    created_at: datetime = timestamp(default_now=True)
