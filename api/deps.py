"""Request dependencies: settings, database sessions, the Temporal client, the business clock,
the notifier and the signed-in staff member."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import OAuth2PasswordBearer
from sqlmodel import Session
from temporalio.client import Client

from api.auth import refuse_demo_in_prod, token_claims, unauthenticated
from models import Staff
from renewals.core.db import end_transaction, read_and_end
from renewals.core.notify import Notifier
from renewals.core.settings import Settings

# auto_error=False: a missing token answers in the API's own error shape, not FastAPI's.
_bearer = OAuth2PasswordBearer(tokenUrl="/auth/token", auto_error=False)


T = TypeVar("T")


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_session(request: Request) -> Iterator[Session]:
    with Session(request.app.state.engine, expire_on_commit=False) as session:
        yield session


async def get_temporal(request: Request) -> Client:
    return await request.app.state.temporal()


async def get_now(request: Request) -> datetime:
    """The business clock (call hours, the to-do panel's today); tests put Temporal's clock here."""
    return await request.app.state.clock()


def get_notifier(request: Request) -> Notifier:
    return request.app.state.notifier


async def read_then_release(session: Session, read: Callable[..., T], *args) -> T:
    """`read(session, *args)` on a worker thread, then the transaction ended: the event loop never
    waits on the database, and no connection is held while the workflows work."""
    return await run_in_threadpool(read_and_end, session, read, *args)


async def release(session: Session) -> None:
    """End the request's transaction on a worker thread: no connection is held while Temporal answers."""
    await run_in_threadpool(end_transaction, session)


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]
TemporalDep = Annotated[Client, Depends(get_temporal)]
NowDep = Annotated[datetime, Depends(get_now)]
NotifierDep = Annotated[Notifier, Depends(get_notifier)]


def staff_for_token(token: str, session: Session, settings: Settings) -> Staff:
    """The active staff member a sign-in token belongs to (the bearer header and the console's
    session cookie carry the same token), while the session it began has not ended."""
    staff_id, version = token_claims(token, settings)
    staff = session.get(Staff, staff_id)
    if staff is None or not staff.active:
        raise unauthenticated("this account no longer exists or is deactivated")
    if version != staff.session_version:
        raise unauthenticated("this session has ended (signed out, or the password changed): sign in again")
    refuse_demo_in_prod(staff.username, settings)
    return staff


def get_current_staff(token: Annotated[str | None, Depends(_bearer)], session: SessionDep,
                      settings: SettingsDep) -> Staff:
    if not token:
        raise unauthenticated("sign in first: send the bearer token from POST /auth/token")
    return staff_for_token(token, session, settings)


CurrentStaff = Annotated[Staff, Depends(get_current_staff)]
