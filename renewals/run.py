"""Running the long-lived parts (API, worker, demo) in one process until a stop signal."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable

import uvicorn

from renewals.db import make_engine
from renewals.settings import Settings
from renewals.temporal import connect

log = logging.getLogger(__name__)

ExtraTask = Callable[[asyncio.Event], Awaitable[None]]


async def serve(settings: Settings, *, api: bool, worker: bool, extra: tuple[ExtraTask, ...] = ()) -> None:
    """Run the chosen parts until SIGINT/SIGTERM, then stop them in order and return."""
    from worker import run_worker

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    engine = make_engine(settings.database_url, pool_size=10, max_overflow=20)
    tasks: list[asyncio.Task] = []
    server = None
    try:
        if worker:
            client = await connect(settings)
            tasks.append(asyncio.create_task(run_worker(client, settings, engine, stop), name="worker"))
        if api:
            from api.main import create_app

            config = uvicorn.Config(
                create_app(settings, engine=engine), host=settings.api_host, port=settings.api_port,
                log_level=settings.log_level.lower(), log_config=None, lifespan="on",
            )
            server = uvicorn.Server(config)
            server.install_signal_handlers = lambda: None  # we own the signals
            tasks.append(asyncio.create_task(server.serve(), name="api"))
        tasks += [asyncio.create_task(job(stop), name=getattr(job, "__name__", "job")) for job in extra]
        stopped = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([stopped, *tasks], return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is not stopped and task.exception():
                raise task.exception()
    finally:
        stop.set()
        if server is not None:
            server.should_exit = True
        results = await asyncio.gather(*tasks, return_exceptions=True)
        for task, result in zip(tasks, results):
            if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                log.error("%s stopped with an error: %s", task.get_name(), result)
        engine.dispose()
