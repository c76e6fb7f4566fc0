"""The staff-facing API (SPEC §5): thin; every case action is a workflow update."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI
from sqlalchemy import Engine
from temporalio.client import Client

from api.routes import health
from renewals.db import make_engine
from renewals.settings import Settings, get_settings
from renewals.temporal import connect


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


def create_app(settings: Settings | None = None, *, engine: Engine | None = None, temporal: Client | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        title="Renewal marketing API",
        summary="Car-insurance renewal cases: to-do panel, follow-up, contacts, customers, audit.",
        version="0.1.0",
    )
    app.state.settings = settings
    app.state.engine = engine or make_engine(settings.database_url, pool_size=10)
    app.state.temporal = _LazyTemporal(settings, temporal)
    app.include_router(health.router)
    return app
