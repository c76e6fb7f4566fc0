"""The API over real servers: an httpx client on the ASGI app, whose business clock is the
time-skipping Temporal server's, with this module's worker, database and fake Twilio; plus
helpers to sign staff in and to sign Twilio webhooks."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest_asyncio
import uvicorn
from fastapi import FastAPI
from sqlalchemy import Engine, update
from sqlmodel import Session
from twilio.request_validator import RequestValidator

from api.main import create_app
from models import Role, Staff, SubBranch
from renewals.dev.servers import free_port
from renewals.core.security import hash_password
from renewals.core.settings import Settings
from renewals.org.service import add_org, add_staff
from tests.scenario import unique_phone

PASSWORD = "correct horse battery staple"
_PASSWORD_HASH = hash_password(PASSWORD)  # one Argon2 hash for every test account: hashing is slow


def twilio_sid(prefix: str) -> str:
    """A fresh Sid as Twilio writes them (two letters, 32 hex digits): every message and call has its own."""
    return prefix + uuid.uuid4().hex


def give_password(engine: Engine, staff_id: uuid.UUID) -> str:
    """Set the test password (PASSWORD) on a staff account; returns its username."""
    with Session(engine) as session:
        session.execute(update(Staff).where(Staff.id == staff_id).values(password_hash=_PASSWORD_HASH))
        session.commit()
        return session.get(Staff, staff_id).username


class Api:
    """The HTTP client plus what tests need around it: signing in and signing webhooks."""

    def __init__(self, app: FastAPI, client: httpx.AsyncClient, engine: Engine, settings: Settings):
        self.app, self.client, self.engine, self.settings = app, client, engine, settings

    def __getattr__(self, name: str):  # get/post/put/request go straight to the httpx client
        return getattr(self.client, name)

    async def sign_in(self, staff_id: uuid.UUID) -> dict[str, str]:
        """Give the staff member a password and sign in through POST /auth/token; returns the auth header."""
        username = give_password(self.engine, staff_id)
        response = await self.client.post("/auth/token", data={"username": username, "password": PASSWORD})
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    def twilio_signature(self, path: str, params: dict[str, str]) -> str:
        url = self.settings.public_base_url.rstrip("/") + path
        return RequestValidator(self.settings.twilio_auth_token).compute_signature(url, params)

    async def webhook(self, path: str, params: dict[str, str], *, signature: str | None = None,
                      signed_params: dict[str, str] | None = None) -> httpx.Response:
        """POST a Twilio callback, signed over `signed_params` (default: what is sent) unless a
        signature is given ("" sends none)."""
        if signature is None:
            signature = self.twilio_signature(path, signed_params if signed_params is not None else params)
        headers = {"X-Twilio-Signature": signature} if signature else {}
        return await self.client.post(path, data=params, headers=headers)


@pytest_asyncio.fixture(scope="module")
async def api(settings, engine, time_env, task_queue) -> AsyncIterator[Api]:
    # Cases the API starts (imports, assignments) run on this module's worker.
    app = create_app(settings.model_copy(update={"task_queue": task_queue}), engine=engine, temporal=time_env.client,
                     clock=time_env.get_current_time)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=settings.public_base_url) as client:
        yield Api(app, client, engine, settings)


@asynccontextmanager
async def served(app: FastAPI) -> AsyncIterator[str]:
    """The app over real HTTP (uvicorn in the tests' event loop), for what the ASGI transport cannot
    show: a browser, or requests answered while a background job runs after its response; its URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if serving.done():
                serving.result()
            await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await serving


def add_person(engine: Engine, role: Role, *, sub_branch_code: str | None = None,
               branch_code: str | None = None, name: str = "周七") -> Staff:
    with Session(engine, expire_on_commit=False) as session:
        staff = add_staff(session, username=f"{role}-{uuid.uuid4().hex[:8]}", name=name, role=role,
                          phone=unique_phone(), sub_branch_code=sub_branch_code, branch_code=branch_code)
        session.commit()
        return staff


def make_deputy(engine: Engine, sub_branch_code: str, deputy: Staff) -> None:
    """Name the sub-branch's deputy in the database (new cases get them; no open case is told)."""
    with Session(engine) as session:
        session.execute(update(SubBranch).where(SubBranch.code == sub_branch_code).values(deputy_id=deputy.id))
        session.commit()


def add_sub_branch(engine: Engine, branch_code: str) -> str:
    code = f"S{uuid.uuid4().hex[:6]}"
    with Session(engine) as session:
        add_org(session, branch_code=branch_code, sub_branch_code=code, sub_branch_name="静安支公司")
        session.commit()
    return code
