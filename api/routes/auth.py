"""Signing in (OAuth2 password flow), signing out, and a new password: the token every other staff
route needs, and the ways a staff member's sessions end."""

from __future__ import annotations

from typing import Annotated

import anyio
from fastapi import APIRouter, Form, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from api.auth import issue_token
from api.deps import CurrentStaff, SessionDep, SettingsDep
from api.errors import ApiError, error_responses
from api.inputs import Line, examples
from api.schemas import TokenOut
from api.sign_in import checked_sign_in
from api.throttle import client_address
from renewals.core.security import hash_password
from renewals.org.service import MIN_PASSWORD_LENGTH, sign_out_everywhere, store_new_password

router = APIRouter(tags=["auth"])


@router.post("/auth/token", summary="Sign in with username and password; returns a bearer token",
             description="Too many wrong passwords from one client (or for one username from it) in a window answer "
                         "429 with Retry-After until the window ends (SIGN_IN_MAX_FAILURES, SIGN_IN_WINDOW_SECONDS); "
                         "more sign-ins at once than the server checks answer 503 with Retry-After.",
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


@router.post("/auth/sign-out", status_code=204, response_class=Response, responses=error_responses(401),
             summary="Sign out: ends every session of mine at once (all bearer tokens and console cookies)")
def sign_out(staff: CurrentStaff, session: SessionDep) -> Response:
    sign_out_everywhere(session, staff)
    return Response(status_code=204)


class PasswordIn(BaseModel):
    model_config = examples({"current_password": "correct horse battery staple",
                             "new_password": "a longer and newer passphrase"})
    current_password: Line(256, min_length=1)
    new_password: Line(256, min_length=MIN_PASSWORD_LENGTH)


@router.put("/me/password", response_model=TokenOut, responses=error_responses(401, 422, 429),
            summary="Change my password: ends every session of mine and answers a new token",
            description="The current password is checked like a sign-in (and throttled like one); a wrong one "
                        "answers 422 naming `current_password`.")
async def change_password(body: PasswordIn, request: Request, staff: CurrentStaff, session: SessionDep,
                          settings: SettingsDep) -> TokenOut:
    try:
        await checked_sign_in(request, session, settings, staff.username, body.current_password)
    except ApiError as refused:
        if refused.status != 401:
            raise
        raise ApiError(422, "current_password: not your current password", field="current_password") from None
    async with request.app.state.sign_in_turns.turn(client_address(request, settings)):
        new_hash = await anyio.to_thread.run_sync(hash_password, body.new_password)
    await run_in_threadpool(store_new_password, session, staff, new_hash)
    token, expires_at = issue_token(staff, settings)
    return TokenOut(access_token=token, expires_at=expires_at)
