"""Migrations on a live system: every revision applied to a database holding a book while the
previous release's reads and writes go on, and the linter that keeps new revisions that way."""

from __future__ import annotations

import importlib.util
import random
import threading
import time

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text
from sqlmodel import SQLModel

import models  # noqa: F401
from renewals.core.db import MIGRATIONS_DIR, Workload, alembic_config, make_engine, migrate
from renewals.core.settings import Settings
from tests.conftest import fresh_database

SETTINGS = Settings(_env_file=None)
POLICIES = 20_000
BRANCH, SUB_BRANCH = "00000000-0000-0000-0000-0000000000b1", "00000000-0000-0000-0000-0000000000b2"
SALES, DEPUTY = "00000000-0000-0000-0000-0000000000a1", "00000000-0000-0000-0000-0000000000a2"
_EACH = f"FROM generate_series(1, {POLICIES}) AS i"

# A book as the first release stored it (revision 0001, columns in its order): one sub-branch, a
# sales manager and her deputy, and for each policy its customer, vehicle, assignment, case and
# two call tasks.
BOOK = [
    f"INSERT INTO branch VALUES ('{BRANCH}', 'B1', 'Branch')",
    f"INSERT INTO sub_branch VALUES ('{SUB_BRANCH}', 'S1', 'Sub-branch', '{BRANCH}')",
    f"INSERT INTO staff VALUES ('{SALES}', 'sales', 'Sales', 'sales', '13800000001', '{BRANCH}', '{SUB_BRANCH}', "
    f"true, NULL, now()), ('{DEPUTY}', 'deputy', 'Deputy', 'deputy', '13800000002', '{BRANCH}', '{SUB_BRANCH}', "
    "true, NULL, now())",
    "INSERT INTO customer SELECT md5('customer' || i)::uuid, 'Customer ' || i, 'ID' || i, "
    f"'139' || lpad(i::text, 8, '0'), '[]', NULL, NULL, false, false, NULL, false, 'zh', '{{}}', now() {_EACH}",
    "INSERT INTO vehicle SELECT md5('vehicle' || i)::uuid, md5('customer' || i)::uuid, 'A' || i, 'VIN' || i, "
    f"NULL, false, NULL {_EACH}",
    "INSERT INTO policy SELECT md5('policy' || i)::uuid, 'P' || i, md5('customer' || i)::uuid, "
    f"md5('vehicle' || i)::uuid, '{SUB_BRANCH}', 'traditional', NULL, 1000, '[]', 0, current_date - 300, "
    f"current_date + 5 + i % 60, 'Asia/Shanghai', 'active' {_EACH}",
    f"INSERT INTO assignment SELECT md5('assignment' || i)::uuid, md5('policy' || i)::uuid, '{SALES}', now(), "
    f"NULL, NULL {_EACH}",
    "INSERT INTO renewal_case SELECT md5('case' || i)::uuid, 'renewal-' || i, md5('policy' || i)::uuid, 'P' || i, "
    f"current_date + 5 + i % 60, 'Asia/Shanghai', '{SUB_BRANCH}', 'FIRST_CONTACT', '{SALES}', '{DEPUTY}', false, "
    f"NULL, NULL, NULL, NULL, NULL, NULL, now(), now(), NULL, now() {_EACH}",
    f"INSERT INTO task SELECT md5('task' || i || '-' || k)::uuid, md5('case' || i)::uuid, '{SALES}', 'call', "
    "'FIRST_CONTACT', k, now() + k * interval '1 day', now() + (k + 1) * interval '1 day', 'open', NULL, NULL, NULL "
    f"{_EACH}, generate_series(1, 2) AS k",
]
# What the previous release's archiver stored: closed histories of three months (UTC), each an hour
# into its month, which east of Greenwich is still the month before.
ARCHIVED = ("INSERT INTO history_archive SELECT 'closed-' || m, 'run', gen_random_uuid(), 'P' || m, 'COMPLETED', "
            "timestamptz '2026-09-01 01:00+00' + m * interval '1 month', 10, 100, '\\x00', now() "
            "FROM generate_series(0, 2) AS m")

# The previous release at work, in statements valid from revision 0001 on: the API's lists and a
# case's archived history, the worker's and staff's writes to cases, tasks and notes.
READS = [
    f"SELECT count(*) FROM renewal_case WHERE sub_branch_id = '{SUB_BRANCH}' AND expiry_date < current_date + 30",
    f"SELECT id, opens_at FROM task WHERE assignee_id = '{SALES}' AND state = 'open' ORDER BY opens_at LIMIT 20",
    "SELECT policy_no, closed_at FROM renewal_case WHERE workflow_id = 'renewal-' || :i",
]
WRITES = [
    f"UPDATE task SET state = 'done', handled_at = now(), handled_by = '{SALES}', handled_result = 'reached' "
    "WHERE id = md5('task' || :i || '-1')::uuid",
    "UPDATE renewal_case SET follow_up_status = 'in_progress', updated_at = now() WHERE workflow_id = 'renewal-' || :i",
    f"INSERT INTO note (id, case_id, author_id, body, created_at) VALUES (gen_random_uuid(), md5('case' || :i)::uuid, "
    f"'{SALES}', 'called, will call back', now())",
]


class Traffic(threading.Thread):
    """One connection's statements in a loop until stopped, each in its own transaction (as the API
    and worker run them), with the API's limits; records how long each took and what failed."""

    def __init__(self, engine: Engine, statements: list[str]):
        super().__init__(daemon=True)
        self.engine, self.statements = engine, statements
        self.stop, self.durations, self.errors = threading.Event(), [], []

    def run(self) -> None:
        with self.engine.connect() as conn:
            while not self.stop.is_set():
                for statement in self.statements:
                    started = time.monotonic()
                    try:
                        conn.execute(text(statement), {"i": random.randint(1, POLICIES)})
                        conn.commit()
                    except Exception as exc:  # noqa: BLE001  (every failure is the finding)
                        conn.rollback()
                        self.errors.append(f"{statement[:60]}: {exc!r}"[:300])
                    self.durations.append(time.monotonic() - started)


def database_at(pg, name: str, revision: str) -> tuple[str, Engine, Engine]:
    """A new database at `revision`: its URL, an engine to set it up and one with the API's limits."""
    url = fresh_database(pg, name, migrated=False)
    migrate(url, revision)
    return url, make_engine(url), make_engine(url, workload=Workload.api, settings=SETTINGS)


def test_every_migration_applies_to_a_live_book_without_stalling_its_readers_and_writers(pg):
    url, setup, api = database_at(pg, "migrate_a_live_book", "0001")
    with setup.begin() as conn:
        for statement in BOOK:
            conn.execute(text(statement))
    traffic = [Traffic(api, READS), Traffic(api, WRITES)]
    try:
        for thread in traffic:
            thread.start()
        migrate(url, "0019")
        with setup.begin() as conn:
            conn.execute(text(ARCHIVED))
        while_migrating = [len(thread.durations) for thread in traffic]
        migrate(url)
        time.sleep(0.2)  # a few statements on the new schema too
    finally:
        for thread in traffic:
            thread.stop.set()
            thread.join()

    # A statement queued behind a revision's DDL waits no longer than that DDL waits for its lock:
    # each revision commits on its own and gives up its locks quickly.
    for thread, statements in zip(traffic, while_migrating):
        assert thread.errors == []
        assert max(thread.durations) < SETTINGS.migration_lock_timeout.total_seconds()
        assert statements > 50, "the book was read and written while the migrations ran"
    with setup.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), SQLModel.metadata) == []
        months = conn.execute(text("SELECT tableoid::regclass::text, workflow_id FROM history_archive "
                                   "ORDER BY workflow_id")).all()
        assert conn.execute(text("SELECT count(*) FROM task")).scalar_one() == 2 * POLICIES
    assert [tuple(m) for m in months] == [("archive.history_archive_2026_09", "closed-0"),
                                          ("archive.history_archive_2026_10", "closed-1"),
                                          ("archive.history_archive_2026_11", "closed-2")]
    setup.dispose()
    api.dispose()


def test_a_revision_waiting_behind_a_long_transaction_steps_aside_for_the_readers_queued_behind_it(pg):
    url, engine, api = database_at(pg, "migrate_behind_a_report", "0018")
    report = engine.connect()  # a long report reading policies: 0019's ALTER TABLE policy must wait for it
    report.execute(text("SELECT count(*) FROM policy"))
    reader = Traffic(api, ["SELECT count(*) FROM policy"])
    reader.start()
    threading.Timer(3.0, report.rollback).start()
    try:
        migrate(url)
    finally:
        reader.stop.set()
        reader.join()
        report.close()
    # Queued behind the waiting ALTER TABLE, a read waits until it gives up (plus the time to run).
    assert reader.errors == []
    assert max(reader.durations) < SETTINGS.migration_lock_timeout.total_seconds() + 0.25
    with engine.connect() as conn:
        head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == head
    engine.dispose()
    api.dispose()

def test_an_index_left_invalid_by_an_interrupted_build_is_built_again(pg):
    """A concurrent build that failed half-way (its lock timeout, a deploy) leaves the index INVALID:
    never used, and a unique one enforces nothing. The retry builds it again instead of keeping it."""
    url, engine, api = database_at(pg, "migrate_after_invalid_index", "0005")
    with engine.begin() as conn:
        conn.execute(text("CREATE UNIQUE INDEX ux_assignment_open_policy ON assignment (policy_id) "
                          "WHERE ended_at IS NULL"))
        conn.execute(text("UPDATE pg_index SET indisvalid = false "
                          "WHERE indexrelid = 'ux_assignment_open_policy'::regclass"))
    migrate(url, "0006")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT indisvalid FROM pg_index "
                                 "WHERE indexrelid = 'ux_assignment_open_policy'::regclass")).scalar_one()
    engine.dispose()
    api.dispose()


def _linter():
    spec = importlib.util.spec_from_file_location("migration_lint", MIGRATIONS_DIR / "lint.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_revision_passes_the_migration_linter():
    assert _linter().lint() == {}


def test_the_linter_stops_an_index_that_blocks_writes_and_a_revision_without_limits():
    found = _linter().findings("CREATE INDEX ix_task_state ON task (state);\n", {})
    assert {line.split(": ")[1] for line in found} >= {
        "require-concurrent-index-creation", "require-lock-timeout", "require-statement-timeout"}


def test_migrations_go_back_and_forth_with_the_archive_in_one_table_and_then_in_its_months(pg):
    url, engine, _ = database_at(pg, "archive_back_and_forth", "0019")
    with engine.begin() as conn:  # the months are UTC's whatever the sessions' time zone
        conn.execute(text("ALTER DATABASE archive_back_and_forth SET timezone = 'Asia/Shanghai'"))
    with engine.begin() as conn:
        conn.execute(text(ARCHIVED))

    def where_rows_are() -> list[str]:
        with engine.connect() as conn:
            return conn.execute(text("SELECT tableoid::regclass::text FROM history_archive ORDER BY workflow_id")
                                ).scalars().all()

    months = [f"archive.history_archive_2026_{month}" for month in ("09", "10", "11")]
    migrate(url)
    assert where_rows_are() == months
    command.downgrade(alembic_config(url), "0004")  # back through 0020 and the revisions fixed in place
    assert where_rows_are() == ["history_archive"] * 3
    migrate(url)
    assert where_rows_are() == months
    engine.dispose()
