"""Database engine and sessions; one engine per process, pooled."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session, create_engine

from renewals.settings import get_settings

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


class NoDatabase(RuntimeError):
    """DATABASE_URL is not set: the commands that need the database say so and stop."""


def require_database_url(url: str | None) -> str:
    if not url:
        raise NoDatabase("DATABASE_URL is not set: point it at the PostgreSQL that holds the cases "
                         "(or run `renewals dev` for an embedded one)")
    return url


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
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", sqlalchemy_url(url).replace("%", "%%"))
    command.upgrade(config, revision)
