"""Counting wrong passwords (renewals.org.sign_in) on a clock the test sets: a lock-out lasts
until its window ends and no longer, and a sign-in gives back the attempt it used."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session

from models import SignInThrottle
from renewals.org.sign_in import TooManyFailures, count_attempt, take_back, throttle_keys

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def failures(engine, key: str) -> int | None:
    with Session(engine) as session:
        row = session.get(SignInThrottle, key)
        return row.failures if row else None


def test_a_locked_out_client_waits_until_the_window_ends_and_no_longer(engine, settings):
    limited = settings.model_copy(update={"sign_in_max_failures": 3, "sign_in_window_seconds": 60})
    keys = throttle_keys("li.si", "10.1.0.1")
    with Session(engine) as session:
        for second in range(3):
            count_attempt(session, keys, T0 + timedelta(seconds=second), limited)
        with pytest.raises(TooManyFailures) as refused:
            count_attempt(session, keys, T0 + timedelta(seconds=20), limited)
        assert refused.value.wait == 40, "the wait is what is left of the window that began with the first"
        with pytest.raises(TooManyFailures):
            count_attempt(session, keys, T0 + timedelta(seconds=59), limited)
        count_attempt(session, keys, T0 + timedelta(seconds=60), limited)
    assert failures(engine, keys[0]) == 1, "a new window counts from the attempt that began it"


def test_a_sign_in_gives_back_its_attempt_and_clears_the_users_count_from_that_client(engine, settings):
    client_key, user_key = throttle_keys("wang.wu", "10.1.0.2")
    with Session(engine) as session:
        count_attempt(session, [client_key, user_key], T0, settings)
        signed_in = count_attempt(session, [client_key, user_key], T0 + timedelta(seconds=1), settings)
        take_back(session, signed_in, signed_in=True)
    assert failures(engine, client_key) == 1, "the earlier wrong password still counts for the client"
    assert failures(engine, user_key) is None, "the user signed in from this client: their count starts again"
