"""Alembic environment: the target schema is the SQLModel metadata of `models`."""

from alembic import context
from sqlmodel import SQLModel

import models  # noqa: F401  (registers every table)
from renewals.core.db import make_engine

config = context.config
target_metadata = SQLModel.metadata


def run_migrations_online() -> None:
    # The long limits: a migration may rewrite a large table or wait for the tables it alters.
    engine = make_engine(config.get_main_option("sqlalchemy.url"))
    try:
        with engine.connect() as connection:
            context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


run_migrations_online()
