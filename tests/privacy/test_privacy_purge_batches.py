"""The nightly purge reads each row once however many batches it takes: a batch starts where the
one before it stopped, not from the start of the table again (a book's contact records run to
hundreds of millions)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, text

from renewals.core.db import make_engine
from renewals.privacy.rules import Retention
from renewals.privacy.service import purge
from tests.conftest import fresh_database

DUE, KEPT, BATCH = 1_000, 1_000, 20
NOW = datetime(2027, 6, 1, 2, 0, tzinfo=UTC)


def _rows_read(engine: Engine) -> int:
    """Rows of contact_record read so far, by table scans and through indexes."""
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_stat_clear_snapshot()"))
        return conn.execute(text("SELECT seq_tup_read + coalesce(idx_tup_fetch, 0) FROM pg_stat_user_tables "
                                 "WHERE relname = 'contact_record'")).scalar_one()


def _backends(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                 "AND pid <> pg_backend_pid()")).scalar_one()


def test_a_purge_of_many_batches_reads_each_row_about_once(pg):
    url = fresh_database(pg, "purge_batches")
    setup = make_engine(url)
    with setup.begin() as conn:
        conn.execute(text(
            "INSERT INTO contact_record (id, recipient, channel, direction, body, masked_number, created_at) "
            "SELECT gen_random_uuid(), 'customer', 'sms', 'outbound', '尊敬的客户…', '138****0000', "
            "CASE WHEN n > :kept THEN :old ELSE :recent END FROM generate_series(1, :rows) AS n"),
            {"kept": KEPT, "rows": DUE + KEPT, "old": NOW - timedelta(days=200), "recent": NOW - timedelta(days=2)})
        conn.execute(text("ANALYZE contact_record"))
    before = _rows_read(setup)

    purging = make_engine(url)
    counts = purge(purging, Retention(180, 180, 3 * 365, 3 * 365, 5), NOW, batch=BATCH)
    purging.dispose()  # its backends end, and report what they read
    deadline = time.monotonic() + 30
    while _backends(setup) and time.monotonic() < deadline:
        time.sleep(0.1)
    read = _rows_read(setup) - before
    setup.dispose()

    assert counts["sms_bodies"] == DUE
    # Six data classes, each a pass over the table at most; restarting each of the 50 batches from
    # the table's start would read it 50 times over.
    assert read < 8 * (DUE + KEPT), read
