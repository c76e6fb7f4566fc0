"""Sign-in throttling: too many wrong passwords from a client, or for one username from a client,
answer 429 with Retry-After until the window that counted them ends.

Counts live in PostgreSQL (one row per key, updated atomically), so every API process sees the
same numbers. A lock never outlasts its window (locked attempts are not counted, so they cannot
extend it), and the per-user count is kept per client: someone elsewhere guessing a user's
password cannot lock that user out of their own desk. A refused attempt costs no password hash.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from sqlalchemy import case, delete
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Session, select

from models import SignInThrottle
from renewals.settings import Settings


def throttle_keys(username: str, client: str) -> list[str]:
    """The client's key and the username-from-this-client key (bounded: the column holds 200)."""
    return [f"client:{client}"[:200], f"user:{username[:64]}@{client}"[:200]]


def retry_after(session: Session, keys: list[str], now: datetime, settings: Settings) -> int | None:
    """Seconds until the caller may try again, or None when the keys are not locked."""
    window = timedelta(seconds=settings.sign_in_window_seconds)
    waits = [math.ceil((row.window_started_at + window - now).total_seconds())
             for row in session.exec(select(SignInThrottle).where(SignInThrottle.key.in_(keys))).all()
             if row.failures >= settings.sign_in_max_failures and row.window_started_at + window > now]
    session.commit()  # end the read transaction: the hash below must not hold a connection's snapshot
    return max(max(waits), 1) if waits else None


def record_failure(session: Session, keys: list[str], now: datetime, settings: Settings) -> None:
    """Count a wrong password on every key (a new window once the previous one has ended) and
    prune rows whose window has ended."""
    expired = now - timedelta(seconds=settings.sign_in_window_seconds)
    table = SignInThrottle.__table__
    stale = table.c.window_started_at <= expired
    for key in sorted(keys):  # one order for every process: no deadlock between two upserts
        session.execute(
            insert(table).values(key=key, failures=1, window_started_at=now)
            .on_conflict_do_update(index_elements=[table.c.key], set_={
                "failures": case((stale, 1), else_=table.c.failures + 1),
                "window_started_at": case((stale, now), else_=table.c.window_started_at),
            }))
    session.execute(delete(SignInThrottle).where(SignInThrottle.window_started_at <= expired))
    session.commit()


def forget(session: Session, key: str) -> None:
    """A successful sign-in clears the user's count from that client."""
    session.execute(delete(SignInThrottle).where(SignInThrottle.key == key))
    session.commit()
