"""The staff-facing API (SPEC §5): thin; every case action is a workflow update."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from fastapi import Depends, FastAPI
from starlette.middleware.gzip import GZipMiddleware
from sqlalchemy import Engine
from temporalio.client import Client

from api import console, docs
from api.errors import DependencyUnavailable, document_common_errors, install_error_handlers
from api.inputs import refuse_control_characters
from api.middleware import Protect, StaffActionDeadline
from api.throttle import SignInTurns
from api.routes import (
    assignments, audit, auth, cases, customers, health, imports, me, privacy, quotes, reports, sms_templates, staff,
    sub_branches, vehicle_models, webhooks,
)
from renewals.core.db import Workload, make_engine
from renewals.case.metrics import BusinessGauges
from renewals.core.metrics import instrument_api
from renewals.core.notify import Notifier, build_notifier
from renewals.quotes.pricing import RuleBasedPricing
from renewals.core.settings import Settings, get_settings
from renewals.core.temporal import connect

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
                    try:
                        self._client = await connect(self._settings)
                    except (RuntimeError, OSError) as exc:  # the SDK reports a failed connect as RuntimeError
                        raise DependencyUnavailable("Temporal") from exc
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
        # Off in prod unless API_DOCS=true: the schema is a map for attackers too. The pages are
        # api.docs's (their own content security policy).
        docs_url=None, redoc_url=None,
        openapi_url="/openapi.json" if settings.docs_enabled else None,
        # Every route, including ones added later: no control character reaches a route's code.
        dependencies=[Depends(refuse_control_characters)],
    )
    app.state.settings = settings
    app.state.engine = engine or make_engine(settings.database_url, workload=Workload.api, settings=settings)
    app.state.temporal = _LazyTemporal(settings, temporal)
    app.state.clock = clock or wall_clock
    app.state.notifier = notifier or build_notifier(settings)  # one per app: it holds the HTTP client
    app.state.pricing = RuleBasedPricing.from_settings(settings)  # bad tables fail at start; a rating engine replaces it
    app.state.sign_in_turns = SignInTurns()  # this process's password checks
    install_error_handlers(app)
    app.add_middleware(StaffActionDeadline)
    app.add_middleware(Protect)  # its headers and request id are on the deadline's 503 too
    app.add_middleware(GZipMiddleware, minimum_size=1000)  # pages over a phone's slow link
    instrument_api(app, [BusinessGauges(app.state.engine)])  # outermost: every answer is counted, Protect's 413 and 500 too
    app.include_router(health.router)
    for module in (auth, me, cases, customers, webhooks, quotes, vehicle_models, audit, reports, imports, assignments,
                   staff, sub_branches, sms_templates, privacy):
        app.include_router(module.router)
    console.install(app)
    if settings.docs_enabled:
        docs.install(app)
    document_common_errors(app)
    return app
