"""Database engine and sessions; one engine per process, pooled."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import TypeVar

from psycopg.errors import LockNotAvailable
from sqlalchemy import Connection, Engine, event, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.engine import make_url
from sqlmodel import Session, create_engine

from renewals.core.settings import Settings, get_settings, how_to_start

T = TypeVar("T")
MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


class NoDatabase(RuntimeError):
    """DATABASE_URL is not set: the commands that need the database say so and stop."""


def require_database_url(url: str | None) -> str:
    if not url:
        raise NoDatabase(how_to_start("DATABASE_URL", get_settings()))
    return url


def shown_url(url: str) -> str:
    """A database URL as it may be printed: without its password."""
    parsed = make_url(url)
    return parsed.render_as_string(hide_password=True) if parsed.password else url


def sqlalchemy_url(url: str | None) -> str:
    """Accept plain `postgresql://` URLs (as PostgreSQL tools print them) and use psycopg 3."""
    url = require_database_url(url)
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    raise ValueError(f"DATABASE_URL must be a PostgreSQL URL, got scheme {url.split(':', 1)[0]!r}")


class Workload(StrEnum):
    """Whose statements an engine runs, which sets how long one may take."""

    api = "api"  # staff are waiting
    worker = "worker"  # activities, under their start-to-close timeout
    long = "long"  # imports, reports, the task roll-up, migrations, the command-line tools


# A peer that vanished (host down, network cut) is noticed within about a minute (TCP only: libpq
# ignores these on Unix sockets).
_KEEPALIVES = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3}
_LONG_LIMITS = "renewals_long_limits"  # an engine's execution option, read by allow_long_statements


def _ms(value: timedelta) -> int:
    return max(1, round(value.total_seconds() * 1000))


def session_limits(settings: Settings, workload: Workload) -> dict[str, int]:
    """PostgreSQL's limits for a workload's sessions, in milliseconds."""
    statement = {Workload.api: settings.db_statement_timeout, Workload.worker: settings.db_worker_statement_timeout,
                 Workload.long: settings.db_long_statement_timeout}[workload]
    # Long work may wait behind other long work (an import behind another, the roll-up's lock).
    lock = settings.db_long_statement_timeout if workload is Workload.long else settings.db_lock_timeout
    return {"statement_timeout": _ms(statement), "lock_timeout": _ms(lock),
            "idle_in_transaction_session_timeout": _ms(settings.db_idle_in_transaction_timeout)}


# The API's peak: requests on threads at once beyond its kept pool (the worker's is its activity threads).
API_OVERFLOW = 20


def pool_limits(settings: Settings, workload: Workload) -> dict[str, int]:
    """The pool an engine keeps open and how far it may grow (DATABASE_POOL_SIZE, DATABASE_MAX_OVERFLOW)."""
    size = settings.database_pool_size
    overflow = settings.database_max_overflow
    if overflow is None:
        overflow = max(settings.activity_workers - size, 0) if workload is Workload.worker else API_OVERFLOW
    return {"pool_size": size, "max_overflow": overflow}


def _set_limits_per_transaction(engine: Engine, limits: dict[str, int]) -> None:
    """PgBouncer in transaction pooling hands each transaction whichever server connection is free,
    and refuses libpq's `options`: the limits go with every transaction instead (SET LOCAL)."""
    statement = text("SELECT " + ", ".join(f"set_config('{name}', :{name}, true)" for name in limits))
    values = {name: str(value) for name, value in limits.items()}

    @event.listens_for(engine, "begin")
    def set_limits(conn: Connection) -> None:
        conn.execute(statement, values)


def make_engine(url: str | None, *, workload: Workload = Workload.long, settings: Settings | None = None,
                **kwargs) -> Engine:
    """A pooled engine whose every session is bounded: connecting (libpq's timeout, kept by the
    client), waiting for a pooled connection, and in PostgreSQL waiting for a lock, running a
    statement and idling in a transaction. A server that hangs rather than refuses keeps none of
    its own limits: whoever waits on it must bound that wait too (the API's staff action deadline)."""
    settings = settings or get_settings()
    limits = session_limits(settings, workload)
    connect_args = {"connect_timeout": settings.db_connect_timeout, **_KEEPALIVES}
    if settings.database_pgbouncer:
        connect_args["prepare_threshold"] = None  # a prepared statement lives on one server connection
    else:
        connect_args["options"] = " ".join(f"-c {name}={value}" for name, value in limits.items())
    connect_args.update(kwargs.pop("connect_args", {}))
    kwargs = {**pool_limits(settings, workload), **kwargs}
    # hide_parameters: error messages and logs never carry the values (names, phones) of a statement.
    # Waiting for a pooled connection: no longer than a statement, and never more than 30 s (a pool
    # drained by stuck sessions must fail, not hang).
    engine = create_engine(sqlalchemy_url(url), pool_pre_ping=True, hide_parameters=True,
                           pool_timeout=min(limits["statement_timeout"] / 1000, 30), connect_args=connect_args,
                           execution_options={_LONG_LIMITS: session_limits(settings, Workload.long)}, **kwargs)
    if settings.database_pgbouncer:
        _set_limits_per_transaction(engine, limits)
    return engine


def allow_long_statements(conn: Connection | Session) -> None:
    """The long limits for the rest of this transaction, whatever the engine's workload: imports,
    reports and the task roll-up run long statements in the API and the worker too."""
    connection = conn if isinstance(conn, Connection) else conn.connection()
    limits = connection.get_execution_options()[_LONG_LIMITS]
    connection.execute(text("SELECT set_config('statement_timeout', :statement, true), "
                            "set_config('lock_timeout', :lock, true)"),
                       {"statement": str(limits["statement_timeout"]), "lock": str(limits["lock_timeout"])})


@lru_cache
def get_engine() -> Engine:
    settings = get_settings()
    return make_engine(settings.database_url, settings=settings)


@contextmanager
def session_scope(engine: Engine | None = None) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error: nothing is half-written."""
    with Session(engine or get_engine(), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def end_transaction(session: Session) -> None:
    """End a read's transaction so no connection is held meanwhile. Committing (it wrote nothing)
    keeps what it loaded, where a rollback would expire it."""
    session.commit()


def read_and_end(session: Session, read: Callable[..., T], *args) -> T:
    """`read(session, *args)`, then its transaction ended."""
    result = read(session, *args)
    end_transaction(session)
    return result


def migration_limits(settings: Settings) -> dict[str, int]:
    """PostgreSQL's limits for a migration's statements, in milliseconds."""
    return {"lock_timeout": _ms(settings.migration_lock_timeout),
            "statement_timeout": _ms(settings.db_long_statement_timeout)}


# A revision that gave up waiting for a lock is tried again after a pause that lets the queue drain;
# the revisions before it stay applied (one transaction each).
_MIGRATION_ATTEMPTS = 10
_MIGRATION_PAUSE_SECONDS = 2.0


def create_index_concurrently(op, name: str, table: str, columns: list[str], **options) -> None:
    """A revision's index on a large table written all day, built without blocking its writes. A
    build that failed half-way (its lock timeout, a deploy) leaves the index INVALID: never used,
    and a unique one enforces nothing. IF NOT EXISTS would keep it; it is dropped and built again."""
    with op.get_context().autocommit_block():
        # `alembic upgrade --sql` (the linter) has no database to ask: it prints the build alone.
        if not op.get_context().as_sql and op.get_bind().execute(
                text("SELECT NOT indisvalid FROM pg_index WHERE indexrelid = to_regclass(:name)"), {"name": name}).scalar():
            op.drop_index(name, table_name=table, postgresql_concurrently=True, if_exists=True)
        op.create_index(name, table, columns, postgresql_concurrently=True, if_not_exists=True, **options)


def alembic_config(url: str):
    """Alembic's configuration (`alembic.config.Config`) for the database at `url`."""
    from alembic.config import Config  # start-up cost: alembic loads only where migrations run

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", sqlalchemy_url(url).replace("%", "%%"))
    return config


def migrate(url: str, revision: str = "head") -> None:
    """The schema at `revision`; at the latest one, with the shipped vehicle catalogue's models that
    are missing (repeatable: what is there already is left as it is)."""
    from alembic import command  # start-up cost: alembic loads only where migrations run

    # Above core, the one exception of the import rules (pyproject.toml): the catalogue comes with
    # the schema. Imported here, it does not load the models with every command.
    from renewals.quotes.vehicle_models import add_shipped_models

    config = alembic_config(url)
    for attempt in range(1, _MIGRATION_ATTEMPTS + 1):
        try:
            command.upgrade(config, revision)
            break
        except OperationalError as exc:
            if not isinstance(exc.orig, LockNotAvailable) or attempt == _MIGRATION_ATTEMPTS:
                raise
            time.sleep(_MIGRATION_PAUSE_SECONDS * attempt)
    if revision == "head":
        engine = make_engine(url)
        try:
            with session_scope(engine) as session:
                add_shipped_models(session)
        finally:
            engine.dispose()
