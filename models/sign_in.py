"""Failed sign-ins, counted in PostgreSQL so throttling holds across every API process."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from models.base import timestamp


class SignInThrottle(SQLModel, table=True):
    """Failures of one key (a client, or a username from a client) in the window that began at
    `window_started_at`; rows older than a window are dead and pruned."""

    __tablename__ = "sign_in_throttle"
    key: str = Field(primary_key=True, max_length=200)
    failures: int = 0
    window_started_at: datetime = timestamp(index=True)
