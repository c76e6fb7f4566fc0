"""The one way a password is checked (API and console sign-in, a password change): counted by the
throttle first (renewals.org.sign_in), then checked in the client's turn (api.throttle)."""

from __future__ import annotations

from datetime import UTC, datetime

import anyio
from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from sqlmodel import Session

from api.auth import authenticate, staff_signing_in
from api.deps import read_then_release
from api.errors import ApiError
from api.throttle import SignInBusy, client_address
from models import Staff
from renewals.core.settings import Settings
from renewals.org.sign_in import TooManyFailures, count_attempt, take_back, throttle_keys


async def checked_sign_in(request: Request, session: Session, settings: Settings, username: str,
                          password: str) -> Staff:
    client = client_address(request, settings)
    now = datetime.now(UTC)  # wall-clock time, like token expiry
    try:
        attempt = await run_in_threadpool(count_attempt, session, throttle_keys(username, client), now, settings)
    except TooManyFailures as refused:
        raise ApiError(429, str(refused), headers={"Retry-After": str(refused.wait)}) from None
    try:
        found = await read_then_release(session, staff_signing_in, username)
        async with request.app.state.sign_in_turns.turn(client):
            staff = await anyio.to_thread.run_sync(authenticate, found, username, password, settings)
    except SignInBusy:
        await run_in_threadpool(take_back, session, attempt, signed_in=False)
        raise
    await run_in_threadpool(take_back, session, attempt, signed_in=True)
    return staff
