"""Sign-in throttling: too many wrong passwords from a client, or for one username from a
client, in a window are refused until the window ends (the API answers 429 with Retry-After).
Every attempt is counted *before* its password is checked, by one atomic upsert per key
(PostgreSQL's row lock orders concurrent attempts), so a burst of concurrent attempts cannot all
slip under the limit, and every API process sees the same numbers. An attempt that signs in, or
that was never checked (the process was busy), is taken back
off the count: only wrong passwords use up the allowance. A lock never outlasts its window (later
attempts are counted but never move its start), and the per-user count is kept per client:
someone elsewhere guessing a user's password cannot lock that user out of their own desk.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Session

from models import SignInThrottle
from renewals.core.settings import Settings


class TooManyFailures(Exception):
    """Too many wrong passwords in the window: `wait` seconds until it ends."""

    def __init__(self, wait: int):
        super().__init__(f"too many failed sign-ins: try again in {wait} s")
        self.wait = wait


@dataclass(frozen=True)
class Attempt:
    """An attempt as counted: each key with the start of the window it was counted in."""

    windows: tuple[tuple[str, datetime], ...]


def throttle_keys(username: str, client: str) -> list[str]:
    """The client's key and the username-from-this-client key (bounded: the column holds 200)."""
    return [f"client:{client}"[:200], f"user:{username[:64]}@{client}"[:200]]


def count_attempt(session: Session, keys: list[str], now: datetime, settings: Settings) -> Attempt:
    """Count an attempt on every key (a new window once the previous one has ended), then refuse
    it (TooManyFailures) if any key is over the limit. Rows whose window has ended are pruned on
    the way."""
    window = timedelta(seconds=settings.sign_in_window_seconds)
    table = SignInThrottle.__table__
    stale = table.c.window_started_at <= now - window
    counted = []
    for key in sorted(keys):  # one order for every process: no deadlock between two attempts
        failures, started = session.execute(
            insert(table).values(key=key, failures=1, window_started_at=now)
            .on_conflict_do_update(index_elements=[table.c.key], set_={
                "failures": case((stale, 1), else_=table.c.failures + 1),
                "window_started_at": case((stale, now), else_=table.c.window_started_at),
            }).returning(table.c.failures, table.c.window_started_at)).one()
        counted.append((key, failures, started))
    # SKIP LOCKED: pruning never waits for (or deadlocks with) an attempt counting on a row.
    dead = select(table.c.key).where(stale).with_for_update(skip_locked=True)
    session.execute(delete(table).where(table.c.key.in_(dead)))
    session.commit()
    waits = [math.ceil((started + window - now).total_seconds())
             for _, failures, started in counted if failures > settings.sign_in_max_failures]
    if waits:
        raise TooManyFailures(max(max(waits), 1))
    return Attempt(tuple((key, started) for key, _, started in counted))


def take_back(session: Session, attempt: Attempt, *, signed_in: bool) -> None:
    """Take an attempt that was no wrong password off the count (in the window it was counted
    in); a sign-in also clears the user's count from that client."""
    for key, started in attempt.windows:
        if signed_in and key.startswith("user:"):
            session.execute(delete(SignInThrottle).where(SignInThrottle.key == key))
        else:
            session.execute(update(SignInThrottle)
                            .where(SignInThrottle.key == key, SignInThrottle.window_started_at == started,
                                   SignInThrottle.failures > 0)
                            .values(failures=SignInThrottle.failures - 1))
    session.commit()
