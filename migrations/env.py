"""Alembic environment: the target schema is the SQLModel metadata of `models`.

Migrations run on a live system: one transaction per revision (so a revision may build an index
CONCURRENTLY outside it, and a failed revision leaves the ones before it applied), each statement
bounded by the migration limits. A short lock timeout matters most: a DDL statement waiting for its
lock makes every later reader and writer of that table queue behind it, so it must give up (and
`migrate` retry) before they hit their own lock timeout. `alembic upgrade --sql` prints the same
limits, which is what the migration linter reads."""

from alembic import context
from sqlmodel import SQLModel

import models  # noqa: F401  (registers every table)
from renewals.core.db import make_engine, migration_limits
from renewals.core.settings import get_settings

config = context.config
target_metadata = SQLModel.metadata


def limit_statements() -> list[str]:
    return [f"SET {name} = '{value}ms'" for name, value in migration_limits(get_settings()).items()]


def run_migrations_offline() -> None:
    context.configure(url=config.get_main_option("sqlalchemy.url") or "postgresql://", dialect_name="postgresql",
                      literal_binds=True, dialect_opts={"paramstyle": "named"}, transaction_per_migration=True,
                      target_metadata=target_metadata)
    for statement in limit_statements():
        context.execute(statement)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    # `alembic` run by hand (a downgrade) reads DATABASE_URL as the app does.
    engine = make_engine(config.get_main_option("sqlalchemy.url") or get_settings().database_url)
    try:
        with engine.connect() as connection:
            # Session-wide, so they also bound what a revision runs outside its transaction.
            for statement in limit_statements():
                connection.exec_driver_sql(statement)
            connection.commit()
            context.configure(connection=connection, target_metadata=target_metadata, compare_type=True,
                              transaction_per_migration=True)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
