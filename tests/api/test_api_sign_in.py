"""Signing in under attack: throttled across API processes, never a permanent lock-out, and demo
accounts refused in production."""

from __future__ import annotations

import time
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import update
from sqlmodel import Session

from api.main import create_app
from models import Role, SignInThrottle
from renewals.demo_users import create_demo_users
from renewals.staff import add_org
from tests.api.conftest import PASSWORD, Api, add_person

pytestmark = pytest.mark.asyncio(loop_scope="session")


def client_at(api: Api, ip: str, settings=None) -> httpx.AsyncClient:
    """Another API process (its own app) reached from `ip`."""
    app = create_app(settings or api.settings, engine=api.engine, temporal=api.app.state.temporal._client)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(ip, 50000)), base_url="http://testserver")


async def test_the_eleventh_wrong_password_in_a_minute_is_refused_with_retry_after(api: Api):
    user = add_person(api.engine, Role.auditor)
    await api.sign_in(user.id)  # gives the account the test password
    one, two = client_at(api, "10.0.0.1"), client_at(api, "10.0.0.1")  # two API processes, one client
    async with one, two:
        for attempt in range(10):
            wrong = await (one if attempt % 2 else two).post(
                "/auth/token", data={"username": user.username, "password": f"guess-{attempt}"})
            assert wrong.status_code == 401, wrong.text
        started = time.monotonic()
        refused = await one.post("/auth/token", data={"username": user.username, "password": "guess-11"})
        assert refused.status_code == 429 and refused.json()["error"]["code"] == "too_many_requests"
        assert time.monotonic() - started < 0.5, "a locked attempt costs no password hash"
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        # Even the right password waits out the window: the lock does not tell right from wrong.
        assert (await two.post("/auth/token", data={"username": user.username, "password": PASSWORD})
                ).status_code == 429

    # Someone elsewhere guessing this user's password does not lock the user out of their own desk.
    async with client_at(api, "10.0.0.2") as desk:
        assert (await desk.post("/auth/token", data={"username": user.username, "password": PASSWORD})
                ).status_code == 200

    # The lock ends with its window; then the user signs in from the throttled client too.
    with Session(api.engine) as session:
        session.execute(update(SignInThrottle).values(
            window_started_at=SignInThrottle.window_started_at - timedelta(seconds=61)))
        session.commit()
    async with client_at(api, "10.0.0.1") as again:
        assert (await again.post("/auth/token", data={"username": user.username, "password": PASSWORD})
                ).status_code == 200


async def test_demo_accounts_never_sign_in_under_prod(api: Api):
    with Session(api.engine) as session:
        add_org(session, branch_code="3199", branch_name="测试分公司", sub_branch_code="319901",
                sub_branch_name="测试支公司")
        create_demo_users(session, "319901", "3199", api.settings)  # a database that once ran --demo
        session.commit()
    dev_token = (await api.post("/auth/token", data={"username": "demo-admin", "password": "demo"})).json()
    prod = api.settings.model_copy(update={"environment": "prod"})
    async with client_at(api, "10.0.0.3", prod) as client:
        refused = await client.post("/auth/token", data={"username": "demo-admin", "password": "demo"})
        assert refused.status_code == 401 and "demo accounts" in refused.json()["error"]["message"]
        me = await client.get("/me", headers={"Authorization": f"Bearer {dev_token['access_token']}"})
        assert me.status_code == 401, "a token issued before cannot be used either"


async def test_an_empty_grant_type_is_refused_as_the_schema_says(api: Api):
    user = add_person(api.engine, Role.auditor)
    await api.sign_in(user.id)
    for grant_type, status in (("", 422), ("client_credentials", 422), ("password", 200)):
        response = await api.post("/auth/token", data={"grant_type": grant_type, "username": user.username,
                                                       "password": PASSWORD})
        assert response.status_code == status, (grant_type, response.text)
        if status == 422:
            assert response.json()["error"]["field"] == "grant_type"
