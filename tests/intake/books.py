"""Books of policies for the intake tests on the dev server: a sub-branch of its own with a service
manager and a deputy, its policies expiring as a test needs; a worker on a task queue of its own."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import date, timedelta

from sqlmodel import Session

from models import Role
from renewals.core.settings import Settings
from renewals.dev.sample_book import rows
from renewals.org.service import add_org
from tests.api.conftest import add_person, make_deputy


def own_book(engine, count: int, prefix: str, expiry: Callable[[int], date]) -> list[dict[str, str]]:
    """`count` rows of a new sub-branch, all its service manager's; row i expires on expiry(i)."""
    suffix = uuid.uuid4().hex[:5].upper()
    with Session(engine) as session:
        add_org(session, branch_code=f"B{suffix}", branch_name="无锡分公司", sub_branch_code=f"S{suffix}",
                sub_branch_name="梁溪支公司")
        session.commit()
    sales = add_person(engine, Role.sales, sub_branch_code=f"S{suffix}", name="销售")
    make_deputy(engine, f"S{suffix}", add_person(engine, Role.deputy, sub_branch_code=f"S{suffix}", name="副经理"))
    records = rows(count, start=expiry(0), prefix=prefix, sub_branch=f"S{suffix}")
    for i, record in enumerate(records):
        expires = expiry(i)
        record.update(manager=sales.username, handler_code="", expires_on=f"{expires:%Y-%m-%d}",
                      starts_on=f"{expires - timedelta(days=365):%Y-%m-%d}",
                      first_registered_on=f"{expires - timedelta(days=3 * 365):%Y-%m-%d}")
    return records


def own_queue(settings: Settings, name: str) -> Settings:
    """These settings on a task queue of their own, SMS printed rather than sent."""
    return settings.model_copy(update={"task_queue": f"{name}-{uuid.uuid4().hex[:6]}", "notify_backend": "console"})


@asynccontextmanager
async def dev_worker(dev_env, settings: Settings, engine, name: str) -> AsyncIterator[Settings]:
    """A worker on the dev server, on a task queue of its own: the settings that reach it."""
    from worker import build_worker

    own = own_queue(settings, name)
    async with build_worker(dev_env.client, own, engine, task_queue=own.task_queue):
        yield own


def run_cli(dev_env, settings: Settings, monkeypatch, *args: str):
    """`renewals ARGS` against this database, this dev server and this task queue."""
    from typer.testing import CliRunner

    from renewals.cli.main import app as cli
    from renewals.core.db import get_engine
    from renewals.core.settings import get_settings

    for key, value in {"DATABASE_URL": settings.database_url, "TASK_QUEUE": settings.task_queue,
                       "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host}.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(cli, list(args), terminal_width=160)
    finally:
        get_settings.cache_clear()
        get_engine.cache_clear()  # the next command (another module's) reaches its own database
