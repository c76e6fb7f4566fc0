"""What every benchmark runs on: an embedded PostgreSQL, a local fake Twilio and a worker on the
given Temporal environment, with a Scenario to create and drive renewal cases."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from renewals.db import make_engine, migrate
from renewals.devservers import EmbeddedPostgres
from renewals.settings import Settings
from tests.fake_twilio import FakeTwilio
from tests.scenario import Scenario
from worker import build_worker


@asynccontextmanager
async def renewal_system(env: WorkflowEnvironment, task_queue: str) -> AsyncIterator[tuple[Scenario, Settings]]:
    pg = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="rbench")) / "d", ephemeral=True)
    migrate(pg.url())
    engine = make_engine(pg.url(), pool_size=10)
    try:
        with FakeTwilio() as twilio:
            settings = Settings(_env_file=None, database_url=pg.url(), notify_backend="twilio",
                                twilio_api_base_url=twilio.base_url, activity_workers=8)
            async with build_worker(env.client, settings, engine, task_queue=task_queue):
                scenario = Scenario(env, engine, twilio, task_queue)
                yield scenario, settings
                await scenario.finish()
    finally:
        engine.dispose()
        pg.stop()
