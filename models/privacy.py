"""Personal data (PIPL): the requests of the people whose data this is, and who saw their full id
number or phone. Neither table holds a personal value: customers and staff by id only."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from models.base import timestamp, uuid_pk


class PrivacyRequest(SQLModel, table=True):
    """A person's request for their data (export) or its erasure, with who carried it out and when;
    a refused erasure keeps its reason (an open case, a policy in force)."""

    __tablename__ = "privacy_request"
    id: uuid.UUID = uuid_pk()
    kind: str = Field(max_length=16)  # export, erase
    customer_id: uuid.UUID = Field(foreign_key="customer.id", index=True)
    requested_by: uuid.UUID | None = Field(default=None, foreign_key="staff.id")  # None: the system operator's CLI
    done: bool
    refusal: str | None = Field(default=None, max_length=500)
    at: datetime = timestamp()


class SensitiveView(SQLModel, table=True):
    """One response that showed a customer's full id number or phone to a reader (the field's name,
    never its value)."""

    __tablename__ = "sensitive_view"
    __table_args__ = (
        Index("ix_sensitive_view_customer", "customer_id", "viewed_at"),
        Index("ix_sensitive_view_reader", "reader_id", "viewed_at"),
    )
    id: uuid.UUID = uuid_pk()
    reader_id: uuid.UUID | None = Field(default=None, foreign_key="staff.id")  # None: the system operator's CLI
    customer_id: uuid.UUID = Field(foreign_key="customer.id")
    field: str = Field(max_length=32)  # id_number, phone, corrected_phone
    viewed_at: datetime = timestamp()
