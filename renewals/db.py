"""Database engine and sessions; one engine per process, pooled."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlmodel import Session, create_engine

from renewals.settings import get_settings

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


class NoDatabase(RuntimeError):
    """DATABASE_URL is not set: the commands that need the database say so and stop."""


def require_database_url(url: str | None) -> str:
    from renewals.dev_stack import how_to_start

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


def make_engine(url: str | None, **kwargs) -> Engine:
    # hide_parameters: error messages and logs never carry the values (names, phones) of a statement.
    return create_engine(sqlalchemy_url(url), pool_pre_ping=True, hide_parameters=True, **kwargs)


@lru_cache
def get_engine() -> Engine:
    return make_engine(get_settings().database_url, pool_size=10, max_overflow=20)


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


def migrate(url: str, revision: str = "head") -> None:
    """The schema at `revision`; at the latest one, with the shipped vehicle catalogue's models that
    are missing (repeatable: what is there already is left as it is)."""
    from alembic import command
    from alembic.config import Config

    from renewals.vehicle_models import add_shipped_models

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", sqlalchemy_url(url).replace("%", "%%"))
    command.upgrade(config, revision)
    if revision == "head":
        engine = make_engine(url)
        try:
            with session_scope(engine) as session:
                add_shipped_models(session)
        finally:
            engine.dispose()
