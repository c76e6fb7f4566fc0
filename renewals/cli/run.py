"""Running the long-lived parts (API, worker, demo) in one process until a stop signal."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable

import uvicorn
from sqlalchemy import Engine

from api.main import create_app
from renewals.core.db import Workload, make_engine
from renewals.core.metrics import worker_runtime
from renewals.core.settings import Settings
from renewals.core.temporal import connect
from worker import run_worker

log = logging.getLogger(__name__)

ExtraTask = Callable[[asyncio.Event], Awaitable[None]]
# Ctrl-C must stop everything within 10 s: the worker gets 5 s for in-flight activities.
SHUTDOWN_GRACE = 7.0


def api_server(settings: Settings, engine: Engine) -> uvicorn.Server:
    """The API's HTTP server, on API_HOST:API_PORT; it installs no signal handlers (the caller
    owns the signals)."""
    config = uvicorn.Config(
        create_app(settings, engine=engine), host=settings.api_host, port=settings.api_port,
        log_level=settings.log_level.lower(), log_config=None, lifespan="on",
        # The app reads X-Forwarded-For itself, from FORWARDED_ALLOW_IPS only (api.throttle).
        proxy_headers=False,
    )
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None
    return server


async def serve(settings: Settings, *, api: bool, worker: bool, extra: tuple[ExtraTask, ...] = ()) -> None:
    """Run the chosen parts until SIGINT/SIGTERM (or until one of them fails), then stop them
    within SHUTDOWN_GRACE and return; a failure is raised after everything has stopped."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    failures: list[BaseException] = []

    def watch(task: asyncio.Task, essential: bool) -> None:
        if task.cancelled() or (stop.is_set() and not essential):
            return  # helpers cancelled at shutdown may end with whatever their await raised
        if task.exception() is not None:
            log.error("%s failed: %s", task.get_name(), task.exception())
            if essential:  # a helper (the demo) failing leaves the system running
                failures.append(task.exception())
        if essential:  # the API or the worker ending, for whatever reason, ends the run
            stop.set()

    def start(coro, name: str, *, essential: bool) -> asyncio.Task:
        task = asyncio.create_task(coro, name=name)
        task.add_done_callback(lambda t: watch(t, essential))
        return task

    # Each its own pool and statement limit: the API's short, the worker's under its activities' timeout.
    engines = {workload: make_engine(settings.database_url, workload=workload, settings=settings)
               for workload in (Workload.api, Workload.worker)}
    essentials: list[asyncio.Task] = []
    helpers: list[asyncio.Task] = []
    server = None
    try:
        if worker:
            client = await connect(settings, runtime=worker_runtime(settings))
            essentials.append(start(run_worker(client, settings, engines[Workload.worker], stop), "worker",
                                    essential=True))
        if api:
            server = api_server(settings, engines[Workload.api])
            essentials.append(start(server.serve(), "api", essential=True))
        helpers += [start(job(stop), getattr(job, "__name__", "job"), essential=False) for job in extra]
        await stop.wait()
    finally:
        stop.set()
        if server is not None:
            server.should_exit = True
        # Helpers (the demo) may be waiting on the worker that is stopping: cancel them first.
        for task in helpers:
            task.cancel()
        everything = essentials + helpers
        if everything:
            _, late = await asyncio.wait(everything, timeout=SHUTDOWN_GRACE)
            for task in late:
                log.warning("%s did not stop within %.0fs; cancelling it", task.get_name(), SHUTDOWN_GRACE)
                task.cancel()
            await asyncio.gather(*everything, return_exceptions=True)
        for engine in engines.values():
            engine.dispose()
    if failures:
        raise failures[0]
