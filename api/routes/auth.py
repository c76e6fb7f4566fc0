"""Signing in (OAuth2 password flow): the token every other staff route needs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import anyio
from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from sqlmodel import Session

from api.auth import authenticate, issue_token
from api.deps import SessionDep, SettingsDep
from api.errors import ApiError, error_responses
from api.schemas import TokenOut
from api.throttle import forget, record_failure, retry_after, throttle_keys
from models import Staff
from renewals.settings import Settings

router = APIRouter(tags=["auth"])
# Argon2 is deliberately slow: at most this many verifications at once per process, so a flood of
# sign-ins cannot take every core (and every worker thread) from the rest of the API.
CONCURRENT_HASHES = 2
_hashing: anyio.CapacityLimiter | None = None


def _hashing_limiter() -> anyio.CapacityLimiter:
    global _hashing
    if _hashing is None:
        _hashing = anyio.CapacityLimiter(CONCURRENT_HASHES)
    return _hashing


async def checked_sign_in(request: Request, session: Session, settings: Settings, username: str,
                          password: str) -> Staff:
    """The one way to sign in (API and console): throttled, then the password checked."""
    keys = throttle_keys(username, request.client.host if request.client else "unknown")
    now = datetime.now(UTC)  # wall-clock time, like token expiry
    wait = await run_in_threadpool(retry_after, session, keys, now, settings)
    if wait:
        raise ApiError(429, f"too many failed sign-ins: try again in {wait} s", headers={"Retry-After": str(wait)})
    try:
        staff = await anyio.to_thread.run_sync(authenticate, session, username, password, settings,
                                               limiter=_hashing_limiter())
    except ApiError:
        await run_in_threadpool(record_failure, session, keys, now, settings)
        raise
    await run_in_threadpool(forget, session, keys[1])
    return staff


@router.post("/auth/token", summary="Sign in with username and password; returns a bearer token",
             description="Too many wrong passwords from one client (or for one username from it) in a window answer "
                         "429 with Retry-After until the window ends (SIGN_IN_MAX_FAILURES, SIGN_IN_WINDOW_SECONDS).",
             response_model=TokenOut, responses=error_responses(401, 422, 429),
             openapi_extra={"requestBody": {"content": {"application/x-www-form-urlencoded": {
                 "example": {"grant_type": "password", "username": "demo-sales-1", "password": "demo"}}}}})
async def sign_in(request: Request, session: SessionDep, settings: SettingsDep,
                  username: Annotated[str, Form(min_length=1, max_length=64)],
                  password: Annotated[str, Form(min_length=1, max_length=256, json_schema_extra={"format": "password"})],
                  grant_type: Annotated[str | None, Form(pattern="^password$")] = None) -> TokenOut:
    if (await request.form()).get("grant_type") == "":  # (an empty form value would otherwise read as absent)
        raise ApiError(422, "grant_type: must be 'password' when given", field="grant_type")
    staff = await checked_sign_in(request, session, settings, username, password)
    token, expires_at = issue_token(staff, settings)
    return TokenOut(access_token=token, expires_at=expires_at)
