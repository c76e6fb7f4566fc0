"""The staff-facing API (SPEC §5): thin; every case action is a workflow update."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from fastapi import FastAPI
from sqlalchemy import Engine
from temporalio.client import Client

from api.errors import install_error_handlers
from api.routes import assignments, auth, cases, customers, health, imports, me, staff, sub_branches, webhooks
from renewals.db import make_engine
from renewals.notify import Notifier, build_notifier
from renewals.settings import Settings, get_settings
from renewals.temporal import connect

Clock = Callable[[], Awaitable[datetime]]


class _LazyTemporal:
    """Connects on first use and reconnects after a failure, so the API starts (and /readyz can
    say what is wrong) while Temporal is still down."""

    def __init__(self, settings: Settings, client: Client | None = None):
        self._settings = settings
        self._client = client
        self._lock = asyncio.Lock()

    async def __call__(self) -> Client:
        if self._client is None:
            async with self._lock:
                if self._client is None:
                    self._client = await connect(self._settings)
        return self._client


async def wall_clock() -> datetime:
    return datetime.now(UTC)


def create_app(settings: Settings | None = None, *, engine: Engine | None = None, temporal: Client | None = None,
               clock: Clock | None = None, notifier: Notifier | None = None) -> FastAPI:
    """`clock` is the business clock (call hours, today's tasks): tests pass the time-skipping
    server's, so the API and the workflows agree on what time it is."""
    settings = settings or get_settings()
    app = FastAPI(
        title="Renewal marketing API",
        summary="Car-insurance renewal cases: to-do panel, follow-up, contacts, customers, audit.",
        version="0.1.0",
    )
    app.state.settings = settings
    app.state.engine = engine or make_engine(settings.database_url, pool_size=10)
    app.state.temporal = _LazyTemporal(settings, temporal)
    app.state.clock = clock or wall_clock
    app.state.notifier = notifier or build_notifier(settings)  # one per app: it holds the HTTP client
    install_error_handlers(app)
    app.include_router(health.router)
    for module in (auth, me, cases, customers, webhooks, imports, assignments, staff, sub_branches):
        app.include_router(module.router)
    return app
