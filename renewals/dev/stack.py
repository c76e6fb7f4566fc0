"""The running `renewals dev`, as other processes find it: while it runs, a small state file in its
data directory says where its database and Temporal are and how long its day is, so commands run
beside it (DATABASE_URL and TEMPORAL_ADDRESS unset) use that stack, on that day."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass

import psutil

from renewals.case.calendar import REAL_DAY_SECONDS
from renewals.core.settings import Settings

STATE_FILE = "dev-stack.json"


def sandbox_note(day_seconds: int) -> str | None:
    """How a stack on a compressed day says so (the banner, and commands attached to it)."""
    return f"training sandbox: a day is {day_seconds} s" if day_seconds != REAL_DAY_SECONDS else None


@dataclass(frozen=True)
class DevStack:
    pid: int
    started: float  # the process's start time: a reused pid is not this stack
    data_dir: str
    database_url: str
    temporal_address: str
    temporal_namespace: str
    day_seconds: int
    worker_metrics_port: int
    worker_health_port: int

    def describe(self) -> str:
        sandbox = f" · {note}" if (note := sandbox_note(self.day_seconds)) else ""
        from renewals.core.db import shown_url  # start-up cost: every command reads the stack

        return (f"renewals dev of {self.data_dir} (pid {self.pid}): database {shown_url(self.database_url)} · "
                f"Temporal {self.temporal_address} namespace {self.temporal_namespace}{sandbox}")


def record(settings: Settings) -> DevStack:
    """Write this process's stack (its settings are the embedded servers') for other commands."""
    me = psutil.Process()
    data_dir = settings.data_dir.resolve()
    stack = DevStack(pid=me.pid, started=me.create_time(), data_dir=str(data_dir),
                     database_url=settings.database_url, temporal_address=settings.temporal_address,
                     temporal_namespace=settings.temporal_namespace, day_seconds=settings.day_seconds,
                     worker_metrics_port=settings.worker_metrics_port,
                     worker_health_port=settings.worker_health_port)
    path = data_dir / STATE_FILE
    draft = path.with_suffix(".tmp")
    data_dir.mkdir(parents=True, exist_ok=True)  # with external servers nothing else made it
    draft.unlink(missing_ok=True)
    draft.touch(mode=0o600)  # an external DATABASE_URL may carry a password
    draft.write_text(json.dumps(asdict(stack)), encoding="utf-8")
    draft.replace(path)  # readers see the whole file or none
    return stack


def forget(settings: Settings) -> None:
    """Remove this process's state file (never another stack's)."""
    if (found := running(settings)) is not None and found.pid == os.getpid():
        (settings.data_dir.resolve() / STATE_FILE).unlink(missing_ok=True)


def running(settings: Settings) -> DevStack | None:
    """The `renewals dev` running on this data directory, if any (a file left by one that was
    killed outright names a process that is gone, and is no stack)."""
    try:
        stack = DevStack(**json.loads((settings.data_dir.resolve() / STATE_FILE).read_text(encoding="utf-8")))
        alive = psutil.Process(stack.pid).create_time() == stack.started
    except (OSError, ValueError, TypeError, psutil.Error):
        return None
    return stack if alive else None


def attach(settings: Settings) -> DevStack | None:
    """Point this process at the running stack when DATABASE_URL or TEMPORAL_ADDRESS is unset
    (and what is set is that stack's): the stack's servers, namespace and day go into the
    environment, as `renewals dev` hands them to its own servers. The stack, or None when there is
    none to use."""
    if settings.database_url and settings.temporal_address:
        return None
    stack = running(settings)
    if stack is None or settings.database_url not in (None, stack.database_url) \
            or settings.temporal_address not in (None, stack.temporal_address):
        return None
    os.environ.update(DATABASE_URL=stack.database_url, TEMPORAL_ADDRESS=stack.temporal_address,
                      TEMPORAL_NAMESPACE=stack.temporal_namespace, DAY_SECONDS=str(stack.day_seconds))
    return stack
