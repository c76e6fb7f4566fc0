"""Column helpers shared by every table: uuid keys, timezone-aware timestamps, JSONB."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field


def utcnow() -> datetime:
    return datetime.now(UTC)


def uuid_pk() -> Any:
    return Field(default_factory=uuid.uuid4, primary_key=True)


def timestamp(*, nullable: bool = False, index: bool = False, default_now: bool = False) -> Any:
    if default_now:
        return Field(default_factory=utcnow, sa_type=DateTime(timezone=True), nullable=nullable, index=index)
    return Field(default=None, sa_type=DateTime(timezone=True), nullable=nullable, index=index)


def jsonb(default_factory: Any = dict) -> Any:
    return Field(default_factory=default_factory, sa_type=JSONB, nullable=False)
