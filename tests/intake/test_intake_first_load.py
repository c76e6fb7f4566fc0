"""A first load of a book drops the loaded tables' secondary indexes and constraints and
builds them again in the same transaction: what is stored, and the schema after, are those of the
usual load; a load into a larger book, or while the tables are busy, keeps the indexes. The foreign
keys pointing at staff and sub_branch stay: the load never locks those tables."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import date

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from renewals.intake import service as intake
from renewals.dev.demo import demo_jobs
from renewals.intake.service import load, organisation
from renewals.intake.policy_file import check_file
from renewals.dev.sample_book import rows, to_csv

TABLES = ["customer", "vehicle", "policy", "assignment"]
SCHEMA = """
SELECT 'index ' || indexname || ': ' || indexdef AS definition, (quote_ident(indexname))::regclass::oid AS oid
FROM pg_indexes WHERE tablename = ANY(:tables)
UNION ALL
SELECT 'constraint ' || conname || ': ' || pg_get_constraintdef(oid), oid FROM pg_constraint
WHERE conrelid = ANY(CAST(:tables AS regclass[]))
"""


@pytest.fixture(scope="module")
def org(engine, settings):
    demo_jobs(settings)  # the demo organisation: the generated rows' sub-branch and managers
    with Session(engine) as session:
        return organisation(session)


@pytest.fixture
def first_load_from_300(monkeypatch):
    monkeypatch.setattr(intake, "FIRST_LOAD_ROWS", 300)


def schema(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return dict(conn.execute(text(SCHEMA), {"tables": TABLES}).all())


def rebuilt(before: dict[str, int], after: dict[str, int]) -> list[str]:
    """The indexes and constraints built anew (same definition, another object)."""
    return [d for d in before if before[d] != after.get(d)]


def checked(org, count: int, prefix: str):
    good, errors, _ = check_file(to_csv(rows(count, start=date(2027, 3, 1), prefix=prefix)), org)
    assert len(good) == count and not errors, errors[:3]
    return good


def stored(engine, prefix: str):
    with engine.connect() as conn:
        return conn.execute(text(
            "SELECT count(*) AS policies, count(DISTINCT p.customer_id) AS customers, count(v.id) AS vehicles, "
            "count(a.id) AS owned FROM policy p JOIN vehicle v ON v.id = p.vehicle_id "
            "LEFT JOIN assignment a ON a.policy_id = p.id AND a.ended_at IS NULL WHERE p.policy_no LIKE :prefix"),
            {"prefix": f"{prefix}%"}).one()


def test_a_first_load_builds_every_index_and_constraint_again(engine, settings, org, first_load_from_300):
    before = schema(engine)
    counts = load(engine, checked(org, 400, "PFIRST"), settings)
    after = schema(engine)
    assert counts.inserted == 400
    assert sorted(after) == sorted(before)  # every index and constraint, with the same definition
    built = rebuilt(before, after)
    assert any(d.startswith("index ix_policy_expires_on") for d in built), built
    assert any(d.startswith("constraint vehicle_customer_id_fkey") for d in built), built
    assert not any("_pkey" in d for d in built)  # primary keys stay: other tables point at them
    # Foreign keys to the organisation stay (dropping one would lock staff or sub_branch).
    organisation_keys = [d for d in built if "REFERENCES staff" in d or "REFERENCES sub_branch" in d]
    assert not organisation_keys, organisation_keys
    policies, customers, vehicles, owned = stored(engine, "PFIRST")
    assert policies == customers == vehicles == owned == 400  # rows without a manager are owned by 经办人
    # The rebuilt constraints hold: a policy number twice, a vehicle of no customer are refused.
    for violation, statement in [
        ("policy_policy_no_key", "UPDATE policy SET policy_no = 'PFIRST20273101010000000' "
                                 "WHERE policy_no = 'PFIRST20273101010000001'"),
        ("vehicle_customer_id_fkey", "UPDATE vehicle SET customer_id = gen_random_uuid() "
                                     "WHERE id = (SELECT vehicle_id FROM policy WHERE policy_no LIKE 'PFIRST%' LIMIT 1)"),
    ]:
        with pytest.raises(IntegrityError, match=violation), engine.begin() as conn:
            conn.execute(text(statement))


def test_a_smaller_load_into_a_larger_book_keeps_the_indexes(engine, settings, org, first_load_from_300):
    before = schema(engine)
    assert load(engine, checked(org, 350, "PSMALL"), settings).inserted == 350  # the book holds 400
    assert schema(engine) == before


def load_while_read(engine, settings, org, tables: str, prefix: str) -> None:
    """A first load (as many new policies as the book holds, and 50 more) while a long transaction
    has read `tables` and stays open."""
    with engine.connect() as conn:
        book = conn.execute(text("SELECT count(*) FROM policy")).scalar_one()
    reading, done = threading.Event(), threading.Event()

    def long_reader():
        with engine.connect() as conn, conn.begin():
            conn.execute(text(f"SELECT count(*) FROM {tables}"))
            reading.set()
            done.wait(15)

    reader = threading.Thread(target=long_reader)
    reader.start()
    try:
        assert reading.wait(10)
        assert load(engine, checked(org, book + 50, prefix), settings).inserted == book + 50
    finally:
        done.set()
        reader.join()
    assert stored(engine, prefix).policies == book + 50


def test_a_first_load_while_a_loaded_table_is_busy_keeps_the_indexes(engine, settings, org, first_load_from_300):
    """A long transaction reading a loaded table: the load waits two seconds for its locks, then
    loads the usual way instead of queueing every reader of that table behind it."""
    before = schema(engine)
    load_while_read(engine, settings, org, "policy", "PBUSYPOLICY")
    assert schema(engine) == before


def test_a_first_load_while_staff_and_sub_branches_are_read_builds_the_indexes_after(engine, settings, org,
                                                                                   first_load_from_300):
    """Staff and sub-branches are read all day (every sign-in, every request): a long transaction
    reading them does not keep a first load from its fast path, since the load locks neither."""
    before = schema(engine)
    load_while_read(engine, settings, org, "staff, sub_branch", "PBUSYORG")
    after = schema(engine)
    assert sorted(after) == sorted(before)
    assert any(d.startswith("index ix_policy_expires_on") for d in rebuilt(before, after)), "the usual load ran"


def test_the_ids_an_import_draws_are_unique_increasing_version_7_uuids():
    first, later = intake.new_ids(10_000), intake.new_ids(10_000)
    ids = [uuid.UUID(i) for i in first + later]
    assert len(set(ids)) == 20_000
    assert {i.version for i in ids} == {7} and {i.variant for i in ids} == {uuid.RFC_4122}
    # Increasing within a draw: every new row goes in at the right edge of its table's primary key.
    assert ids[:10_000] == sorted(ids[:10_000]) and ids[10_000:] == sorted(ids[10_000:])
    # The first 48 bits are the time of the draw, in milliseconds since the epoch.
    now = time.time() * 1000
    assert now - 60_000 < ids[0].int >> 80 <= ids[-1].int >> 80 <= now
    # Two draws start their counters at unrelated places (12 + 61 random bits).
    assert ids[10_000].int - ids[9_999].int != 1
