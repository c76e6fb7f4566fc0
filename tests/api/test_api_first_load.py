"""A first load through the API leaves the system answering: an admin uploads a book of
20,000 policies into an empty database, over HTTP, with the import running in the background as in
production, while another member of staff signs in and follows the job every second. Every answer
comes promptly, staff and sub-branches can be read at any moment of the load without waiting for a
lock, and the load still takes its fast path (indexes and constraints built anew)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest_asyncio
from psycopg.errors import LockNotAvailable
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from api.main import create_app
from renewals.dev.demo import demo_jobs
from renewals.dev.demo_users import DEMO_PASSWORD
from renewals.intake.service import FIRST_LOAD_ROWS, local_today
from renewals.dev.sample_book import rows, to_csv
from tests.api.conftest import served

BOOK = FIRST_LOAD_ROWS
PROMPT = 2.0  # seconds: what a person signing in or following the job may wait
CLIENT_TIMEOUT = 5.0  # a request hanging behind a lock fails the test, rather than hanging it
FINISH_WITHIN = 90.0


@pytest_asyncio.fixture(scope="module")
async def base_url(settings, engine, time_env, task_queue) -> AsyncIterator[str]:
    """The app over HTTP, on the module's own fresh (empty) database with the demo organisation;
    the module's worker imports the uploads."""
    demo_jobs(settings)
    app = create_app(settings.model_copy(update={"task_queue": task_queue}), engine=engine, temporal=time_env.client,
                     clock=time_env.get_current_time)
    async with served(app) as url:
        try:
            yield url
        finally:
            # An import stuck behind a lock would keep the server from stopping: end its sessions.
            with engine.connect() as conn:
                conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                  "WHERE datname = current_database() AND pid <> pg_backend_pid()"))


async def sign_in(client: httpx.AsyncClient, username: str) -> httpx.Response:
    return await client.post("/auth/token", data={"username": username, "password": DEMO_PASSWORD})


class OrganisationReader(threading.Thread):
    """Reads staff and sub_branch again and again, as every sign-in and every request does, giving
    up on any lock after 100 ms; notes each refusal, and how many reads came while the load held
    the policy table (so that the reads did overlap the load's main phase)."""

    LOADING = ("SELECT EXISTS (SELECT FROM pg_locks WHERE relation = 'policy'::regclass AND granted "
               "AND mode = 'AccessExclusiveLock' AND pid <> pg_backend_pid())")

    def __init__(self, engine: Engine):
        super().__init__()
        self.engine, self.stop = engine, threading.Event()
        self.refused: list[str] = []
        self.reads_during_load = 0
        self.failure: BaseException | None = None

    def __enter__(self) -> OrganisationReader:
        self.start()
        return self

    def __exit__(self, *_) -> None:
        self.stop.set()
        self.join()

    def run(self) -> None:
        try:
            with self.engine.connect() as conn:
                while not self.stop.is_set():
                    try:
                        with conn.begin():
                            conn.execute(text("SET LOCAL lock_timeout = '100ms'"))
                            loading = conn.execute(text(self.LOADING)).scalar_one()
                            conn.execute(text("SELECT count(*) FROM staff"))
                            conn.execute(text("SELECT count(*) FROM sub_branch"))
                        self.reads_during_load += loading
                    except OperationalError as exc:
                        if not isinstance(exc.orig, LockNotAvailable):
                            raise
                        self.refused.append(str(exc.orig).splitlines()[0])
                    self.stop.wait(0.02)
        except BaseException as exc:  # seen by the test, not lost in the thread
            self.failure = exc


def index_oids(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return dict(conn.execute(text(
            "SELECT indexrelid::regclass::text, indexrelid::oid FROM pg_index "
            "WHERE indrelid = ANY(CAST(:tables AS regclass[])) AND NOT indisprimary"),
            {"tables": ["customer", "vehicle", "policy", "assignment"]}).all())


async def test_a_first_load_through_the_api_leaves_sign_in_and_progress_answering(base_url, engine, settings,
                                                                                   time_env):
    # Far beyond the horizon: the load is the subject here, not the cases it would start.
    start = local_today(settings, await time_env.get_current_time()) + timedelta(
        days=settings.intake_horizon_days + 30)
    book = to_csv(rows(BOOK, start=start, prefix="PFL"))
    indexes_before = index_oids(engine)
    # Staff and sub-branches are read throughout; two clients, two connections: the upload's, and the
    # colleague's who signs in meanwhile.
    with OrganisationReader(engine) as reader:
        async with httpx.AsyncClient(base_url=base_url, timeout=CLIENT_TIMEOUT) as admin, \
                httpx.AsyncClient(base_url=base_url, timeout=CLIENT_TIMEOUT) as colleague:
            token = (await sign_in(admin, "demo-admin")).json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            accepted = await admin.post("/imports/policies", headers=headers,
                                        files={"file": ("big.csv", book, "text/csv")})
            assert accepted.status_code == 202, accepted.text
            progress_url = accepted.json()["progress_url"]

            slow: list[str] = []
            job: dict = {}
            deadline = time.monotonic() + FINISH_WITHIN
            while time.monotonic() < deadline:
                for name, request in (("POST /auth/token", sign_in(colleague, "demo-sales-1")),
                                      ("GET /imports/{id}", colleague.get(progress_url, headers=headers))):
                    began = time.monotonic()
                    try:
                        answer = await request
                    except httpx.TimeoutException:
                        slow.append(f"{name}: no answer within {CLIENT_TIMEOUT} s")
                        continue
                    took = time.monotonic() - began
                    assert answer.status_code == 200, f"{name}: {answer.status_code} {answer.text}"
                    if took > PROMPT:
                        slow.append(f"{name}: {took:.1f} s")
                    if name.startswith("GET"):
                        job = answer.json()
                if slow or job.get("status") not in ("pending", "running"):
                    break
                await asyncio.sleep(1)

    assert reader.failure is None, reader.failure
    assert not reader.refused, (f"staff or sub_branch was locked by the first load: {len(reader.refused)} reads "
                                f"refused ({reader.refused[0]})")
    assert reader.reads_during_load > 0, "no read came while the load held the policy table"
    assert not slow, f"requests waited while the first load ran: {slow}"
    assert job["status"] == "done", job
    assert job["imported_rows"] == BOOK and job["counts"]["inserted"] == BOOK, job
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM policy WHERE policy_no LIKE 'PFL%'")).scalar_one() == BOOK
    # The fast path was taken: the secondary indexes were dropped and built anew.
    rebuilt = {name for name, oid in index_oids(engine).items() if indexes_before.get(name) != oid}
    assert "ix_policy_expires_on" in rebuilt, sorted(rebuilt)
