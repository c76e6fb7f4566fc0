"""Signing in (OAuth2 password flow): the token every other staff route needs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool
from fastapi.security import OAuth2PasswordRequestForm

from api.auth import authenticate, issue_token
from api.deps import SessionDep, SettingsDep
from api.errors import error_responses
from api.schemas import TokenOut

router = APIRouter(tags=["auth"])


@router.post("/auth/token", summary="Sign in with username and password; returns a bearer token",
             response_model=TokenOut, responses=error_responses(401, 422),
             openapi_extra={"requestBody": {"content": {"application/x-www-form-urlencoded": {
                 "example": {"grant_type": "password", "username": "demo-sales-1", "password": "demo"}}}}})
async def sign_in(form: Annotated[OAuth2PasswordRequestForm, Depends()], session: SessionDep,
                  settings: SettingsDep) -> TokenOut:
    # Argon2 is deliberately slow: verify off the event loop.
    staff = await run_in_threadpool(authenticate, session, form.username, form.password)
    token, expires_at = issue_token(staff, settings)
    return TokenOut(access_token=token, expires_at=expires_at)
