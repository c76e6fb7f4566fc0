"""Signing in under attack: throttled across API processes and under concurrency (each attempt
counted before its check), never a permanent lock-out, X-Forwarded-For believed only from
configured proxies, a flood that does not hold up anyone else's sign-in, and demo accounts
refused in production."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import delete, update
from sqlmodel import Session

from api.main import create_app
from api.throttle import RUNNING, SignInTurns
from models import Role, SignInThrottle
from renewals.dev.servers import free_port
from renewals.cli.run import api_server
from renewals.dev.demo_users import create_demo_users
from renewals.org.service import add_org
from tests.api.conftest import PASSWORD, Api, add_person

pytestmark = pytest.mark.asyncio(loop_scope="session")


def api_process(api: Api, settings=None) -> FastAPI:
    """Another API process (its own app)."""
    return create_app(settings or api.settings, engine=api.engine, temporal=api.app.state.temporal._client)


def client_at(api: Api, ip: str, settings=None, app: FastAPI | None = None) -> httpx.AsyncClient:
    """A client at `ip` of `app` (default: another API process of its own)."""
    app = app or api_process(api, settings)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(ip, 50000)), base_url="http://testserver")


def failures_of(api: Api, key: str) -> int:
    with Session(api.engine) as session:
        row = session.get(SignInThrottle, key)
        return row.failures if row else 0


async def until(check, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


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


async def test_a_hundred_concurrent_wrong_passwords_from_one_client_check_no_more_than_the_limit(api: Api):
    user = add_person(api.engine, Role.auditor)
    await api.sign_in(user.id)
    async with client_at(api, "10.0.1.1") as client:
        answers = await asyncio.gather(*(client.post("/auth/token", data={"username": user.username,
                                                                          "password": f"guess-{n}"})
                                         for n in range(100)))
    statuses = sorted(answer.status_code for answer in answers)
    # Every attempt is counted before its password is checked, so the eleventh waits for no hash.
    assert statuses.count(401) == api.settings.sign_in_max_failures, statuses
    assert statuses.count(429) == 100 - api.settings.sign_in_max_failures, statuses
    assert all(int(a.headers["Retry-After"]) >= 1 for a in answers if a.status_code == 429)


class WatchedTurns(SignInTurns):
    """The process's real turns, recording who asked and who was given a turn, in order; the
    flood's checks hold their turn until the desk has asked, so the desk always meets a queue."""

    def __init__(self, flood_client: str, desk_client: str):
        super().__init__()
        self.flood_client, self.desk_client = flood_client, desk_client
        self.events: list[tuple[str, str]] = []
        self.desk_asked = asyncio.Event()

    @asynccontextmanager
    async def turn(self, client: str) -> AsyncIterator[None]:
        self.events.append(("asks", client))
        if client == self.desk_client:
            self.desk_asked.set()
        async with super().turn(client):
            self.events.append(("given", client))
            if client == self.flood_client:
                await self.desk_asked.wait()
            yield


async def test_a_flood_from_one_client_does_not_hold_up_another_clients_sign_in(api: Api):
    flooded, desk_user = add_person(api.engine, Role.auditor), add_person(api.engine, Role.auditor)
    await api.sign_in(flooded.id)
    await api.sign_in(desk_user.id)
    app = api_process(api)
    turns = app.state.sign_in_turns = WatchedTurns("10.0.2.1", "10.0.2.2")
    answered: list[tuple[str, int]] = []

    async def attempt(client: httpx.AsyncClient, who: str, username: str, password: str) -> None:
        response = await client.post("/auth/token", data={"username": username, "password": password})
        answered.append((who, response.status_code))

    async with client_at(api, "10.0.2.1", app=app) as attacker, client_at(api, "10.0.2.2", app=app) as desk:
        flood = [asyncio.create_task(attempt(attacker, "flood", flooded.username, f"guess-{n}")) for n in range(60)]
        await until(lambda: failures_of(api, "client:10.0.2.1") >= len(flood), "every attempt of the flood counted")
        await until(lambda: turns.events.count(("asks", "10.0.2.1")) == api.settings.sign_in_max_failures,
                    "every counted check of the flood waiting for its turn")
        await attempt(desk, "desk", desk_user.username, PASSWORD)
        await asyncio.gather(*flood)
    assert ("desk", 200) in answered
    assert answered.count(("flood", 401)) == api.settings.sign_in_max_failures
    asked, given = turns.events.index(("asks", "10.0.2.2")), turns.events.index(("given", "10.0.2.2"))
    flood_given_meanwhile = turns.events[asked:given].count(("given", "10.0.2.1"))
    flood_given_after = turns.events[given:].count(("given", "10.0.2.1"))
    # Password checks take turns by client: the desk waits for the checks already running, and at
    # most one more of the flood's, not for the whole flood (in order of asking: 8 more).
    assert flood_given_meanwhile <= 1, turns.events
    assert flood_given_after >= api.settings.sign_in_max_failures - RUNNING - 1, turns.events


async def test_a_sign_in_beyond_the_hashing_queue_is_refused_at_once_and_not_counted(api: Api):
    user = add_person(api.engine, Role.auditor)
    await api.sign_in(user.id)
    app = api_process(api)
    turns = app.state.sign_in_turns
    held = asyncio.Event()
    entered = 0

    async def busy(client: str) -> None:
        nonlocal entered
        async with turns.turn(client):
            entered += 1
            await held.wait()

    # Other clients' sign-ins fill every running and waiting place.
    places = [asyncio.create_task(busy(f"10.0.3.{n}")) for n in range(turns.running + turns.waiting)]
    await until(lambda: entered == turns.running, "the running places to fill")
    try:
        async with client_at(api, "10.0.3.200", app=app) as client:
            started = time.monotonic()
            refused = await client.post("/auth/token", data={"username": user.username, "password": PASSWORD})
        assert refused.status_code == 503 and refused.json()["error"]["code"] == "unavailable", refused.text
        assert int(refused.headers["Retry-After"]) >= 1
        assert time.monotonic() - started < 5, "refused at once, not queued"
        assert failures_of(api, "client:10.0.3.200") == 0, "an attempt that was not checked is not counted"
    finally:
        held.set()
        await asyncio.gather(*places)
    async with client_at(api, "10.0.3.200", app=app) as client:
        assert (await client.post("/auth/token", data={"username": user.username, "password": PASSWORD})
                ).status_code == 200


async def test_a_sign_in_abandoned_while_waiting_gives_its_place_up():
    """Clients that hang up while waiting (a timeout, a closed tab) do not fill the queue for good."""
    turns = SignInTurns(running=1, waiting=2)
    release, checked = asyncio.Event(), []

    async def check(client: str) -> None:
        async with turns.turn(client):
            checked.append(client)
            if client == "first":
                await release.wait()

    first = asyncio.create_task(check("first"))
    await asyncio.sleep(0)
    gone, later = asyncio.create_task(check("gone")), asyncio.create_task(check("later"))
    await asyncio.sleep(0)
    gone.cancel()
    await asyncio.gather(gone, return_exceptions=True)
    extra = asyncio.create_task(check("extra"))  # takes the place `gone` left: not refused as busy
    await asyncio.sleep(0)
    release.set()
    await asyncio.gather(first, later, extra)
    assert checked == ["first", "later", "extra"]


async def test_forwarded_for_counts_only_from_a_configured_proxy_and_keys_on_the_real_client(api: Api):
    user = add_person(api.engine, Role.auditor)
    await api.sign_in(user.id)
    limit = 3
    behind_proxy = api.settings.model_copy(update={"forwarded_allow_ips": "10.9.0.0/16", "sign_in_max_failures": limit})
    app = api_process(api, behind_proxy)
    async with client_at(api, "10.9.0.1", app=app) as proxy:
        async def through_proxy(spoofed: str, real: str, password: str) -> int:
            # The proxy appends the address it was reached from to whatever the client sent.
            response = await proxy.post("/auth/token", data={"username": user.username, "password": password},
                                        headers={"X-Forwarded-For": f"{spoofed}, {real}"})
            return response.status_code

        statuses = [await through_proxy(f"203.0.113.{n}", "198.51.100.7", f"guess-{n}") for n in range(limit + 1)]
        assert statuses == [401] * limit + [429], "a made-up address left of the proxy's changes nothing"
        assert await through_proxy("203.0.113.99", "198.51.100.8", PASSWORD) == 200, "another client is not locked"

    # A client that is not a configured proxy cannot choose its address.
    async with client_at(api, "10.10.0.1", app=app) as direct:
        statuses = [(await direct.post("/auth/token", data={"username": user.username, "password": f"guess-{n}"},
                                       headers={"X-Forwarded-For": f"198.51.100.{n + 20}"})).status_code
                    for n in range(limit + 1)]
    assert statuses == [401] * limit + [429]


async def test_the_api_server_trusts_no_forwarded_for_unless_proxies_are_configured(api: Api):
    """The server as `renewals api` runs it: a local client rotating X-Forwarded-For is one client."""
    user = add_person(api.engine, Role.auditor)
    settings = api.settings.model_copy(update={"api_port": free_port(), "sign_in_max_failures": 3})
    server = api_server(settings, api.engine)
    serving = asyncio.create_task(server.serve())
    try:
        await until(lambda: server.started or serving.done(), "the server to start")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{settings.api_port}", timeout=30) as client:
            statuses = [(await client.post("/auth/token", data={"username": user.username, "password": f"guess-{n}"},
                                           headers={"X-Forwarded-For": f"203.0.113.{n}"})).status_code
                        for n in range(4)]
        assert statuses == [401, 401, 401, 429], statuses
    finally:
        server.should_exit = True
        await serving
        with Session(api.engine) as session:  # the local client's count must not lock the next tests out
            session.execute(delete(SignInThrottle))
            session.commit()
