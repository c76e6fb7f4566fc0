"""Intake: the book of policies comes in, every policy gets its owner, and every case starts on time.

An import checks every row (renewals.intake.policy_file), COPYs the good ones into a staging table and
upserts customers, vehicles, policies and assignments by policy number in set-based statements,
all in one transaction: valid rows import, bad rows do not, nothing is half-written. A row that
matches what is stored changes nothing. A row is matched within its sub-branch's branch: a policy
number of another branch's policy is refused (an import never moves a policy between branches),
and a customer is found by id number among the branch's own records (models.Customer).

Then the cases are reconciled with the policies, and this is what makes imports repeatable and
resumable: every step compares what is with what should be, so a rerun (after a crash, or of the
same file) does only what is left.
  - an open case whose policy's expiry moved gets `expiry_changed` (the running case keeps its
    workflow id, which carries the first expiry date, and re-plans from the new one);
  - an open case whose policy has a new manager is reassigned through the workflow;
  - a policy in the horizon (expiry within INTAKE_HORIZON_DAYS, or in the last LAST_DAY days: the
    到期后1~7天 follow-up of a lapsed customer) with an owner and no case gets one; every other policy
    imported without a case is counted with the reason (expired, not yet in the horizon, unassigned).
The daily intake schedule (workflows/intake.py) runs the last step for every policy, so a policy
committed by an import that died before starting its case is picked up the next night at the latest.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from psycopg.errors import DeadlockDetected, LockNotAvailable
from sqlalchemy import Connection, Engine, delete, text
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, select
from temporalio.client import Client

from models import ImportJob, ImportUpload, Role, Staff, SubBranch
from renewals.org.branch_admins import admins_of_branches
from renewals.case.calendar import LAST_DAY, local_date
from renewals.case.service import moved_case_projected
from renewals.case.start import CaseRejected, StartOutcome, renewal_input, start_case, update_case
from renewals.core.db import allow_long_statements
from renewals.intake.policy_file import (
    MAX_FILE_BYTES, FileRejected, Organisation, PolicyRow, RowError, StaffRef, check_file, paused_gc,
)
from renewals.core.temporal import bounded
from renewals.core.settings import Settings
from renewals.case import contract as c
from renewals.case.contract import IntakeBatchResult

log = logging.getLogger(__name__)

BATCH = 500
Progress = Callable[[str, int, int | None], None]  # (phase, done, total)

# The ids a row may need (policy, vehicle, assignment, and its customer's, one per id number in the
# file so two policies of one new customer share it) are drawn in copy_rows; known rows take the
# stored ids instead. customer_known: the customer row exists (the policy is known, or its id number is).
_STAGING = """
CREATE TEMP TABLE intake_staging (
    row_no int NOT NULL, policy_no text NOT NULL, customer_name text NOT NULL, id_number text NOT NULL,
    phone text NOT NULL, language text NOT NULL, birth_date date, plate text NOT NULL, vin text NOT NULL,
    model_code text, first_registered_on date, channel text NOT NULL, handler_code text, owner_id uuid,
    unassigned_reason text,
    sub_branch_id uuid NOT NULL, branch_id uuid NOT NULL, premium numeric(12, 2) NOT NULL, coverages jsonb NOT NULL,
    claims_last_year int NOT NULL, starts_on date NOT NULL, expires_on date NOT NULL, other_phones jsonb, family jsonb,
    proxy jsonb, blacklisted boolean,
    customer_id uuid NOT NULL, policy_id uuid NOT NULL, vehicle_id uuid NOT NULL, assignment_id uuid NOT NULL,
    previous_owner_id uuid,
    known boolean NOT NULL DEFAULT false, customer_known boolean NOT NULL DEFAULT false
) ON COMMIT DROP;
CREATE TEMP TABLE intake_written (policy_id uuid NOT NULL) ON COMMIT DROP
"""
STAGED_COLUMNS = ("row_no", "policy_no", "customer_name", "id_number", "phone", "language", "birth_date", "plate",
                  "vin", "model_code", "first_registered_on", "channel", "handler_code", "owner_id", "unassigned_reason",
                  "sub_branch_id", "branch_id", "premium", "coverages", "claims_last_year", "starts_on", "expires_on",
                  "other_phones", "family", "proxy", "blacklisted", "customer_id",
                  "policy_id", "vehicle_id", "assignment_id")

# The staged rows matched with what is stored: known policies, known customers. Statistics on the
# join keys only, from a sample of 3,000 rows: the planner needs the row count and the keys' spread,
# which the sample tells as well as the default 30,000 rows at a fifth of the time (10 ms per 100,000
# rows); sampling every text and jsonb column costs more than all the joins.
_ANALYZE = ("SET LOCAL default_statistics_target = 10", "ANALYZE intake_staging (policy_no, id_number)")
# A policy number of another branch's policy: the row is refused, and nothing of that policy is read
# or written (the row's error tells only that).
FOREIGN_POLICY = "belongs to another branch"
_FOREIGN_POLICIES = """
DELETE FROM intake_staging s USING policy p JOIN sub_branch sb ON sb.id = p.sub_branch_id
WHERE p.policy_no = s.policy_no AND sb.branch_id <> s.branch_id
RETURNING s.row_no
"""
# Policies already known keep their ids, customer and vehicle rows; their previous owner is noted for
# the history.
_KNOWN_POLICIES = """
UPDATE intake_staging s SET policy_id = p.id, customer_id = p.customer_id, vehicle_id = p.vehicle_id,
       previous_owner_id = a.staff_id, known = true, customer_known = true
FROM policy p LEFT JOIN assignment a ON a.policy_id = p.id AND a.ended_at IS NULL
WHERE p.policy_no = s.policy_no
"""
# A new policy's customer is the branch's record of the person, found by id number (the unified
# customer view); another branch's record of them is neither read nor written.
_KNOWN_CUSTOMERS = """
UPDATE intake_staging s SET customer_id = k.id, customer_known = true
FROM (SELECT DISTINCT ON (branch_id, id_number) branch_id, id_number, id FROM customer
      WHERE id_number IN (SELECT id_number FROM intake_staging WHERE NOT known)
      ORDER BY branch_id, id_number, created_at) k
WHERE NOT s.known AND s.id_number = k.id_number AND s.branch_id = k.branch_id
"""
# Set-based, one INSERT of the new rows and one UPDATE of the known ones per table (a plain INSERT
# is a quarter cheaper than INSERT … ON CONFLICT, and the advisory lock keeps other imports out).
# Each UPDATE writes only where something differs (IS DISTINCT FROM), so a re-import of the same
# file writes nothing; the known policies written are noted in intake_written for the counts.
# Each statement is paired with the staged rows it reads, and skipped when there are none: a first
# load has no known rows, a re-import no new ones, and each statement skipped is a scan of the
# staging table saved.
_UPSERTS: list[tuple[str, str]] = [
    # A customer on several rows takes the last row's details; other phones, family members and the
    # proxy only from a row that names them (a row that leaves them out keeps what staff recorded).
    ("new customers",
     """INSERT INTO customer (id, branch_id, name, id_number, phone, language, birth_date, other_phones,
                             phone_unreachable, sms_opt_out, blacklisted, family, proxy, created_at)
       SELECT DISTINCT ON (customer_id) customer_id, branch_id, customer_name, id_number, phone, language,
              birth_date, coalesce(other_phones, '[]'), false, false, coalesce(blacklisted, false),
              coalesce(family, '[]'), proxy, now()
       FROM intake_staging WHERE NOT customer_known ORDER BY customer_id, row_no DESC"""),
    ("known customers",
     """WITH written AS (
         UPDATE customer t SET name = c.customer_name, id_number = c.id_number, phone = c.phone,
                language = c.language, birth_date = c.birth_date,
                other_phones = coalesce(c.other_phones, t.other_phones), family = coalesce(c.family, t.family),
                proxy = coalesce(c.proxy, t.proxy), blacklisted = coalesce(c.blacklisted, t.blacklisted)
         FROM (SELECT DISTINCT ON (customer_id) customer_id, customer_name, id_number, phone, language, birth_date,
                      other_phones, family, proxy, blacklisted
               FROM intake_staging WHERE customer_known ORDER BY customer_id, row_no DESC) c
         WHERE t.id = c.customer_id
           AND (t.name, t.id_number, t.phone, t.language, t.birth_date, t.other_phones, t.family, t.proxy,
                t.blacklisted)
               IS DISTINCT FROM (c.customer_name, c.id_number, c.phone, c.language, c.birth_date,
                                 coalesce(c.other_phones, t.other_phones), coalesce(c.family, t.family),
                                 coalesce(c.proxy, t.proxy), coalesce(c.blacklisted, t.blacklisted))
         RETURNING t.id)
       INSERT INTO intake_written SELECT s.policy_id FROM written w JOIN intake_staging s ON s.customer_id = w.id
       WHERE s.known"""),
    ("new",
     """INSERT INTO vehicle (id, customer_id, plate, vin, model_code, model_confirmed, first_registered_on)
       SELECT vehicle_id, customer_id, plate, vin, model_code, false, first_registered_on FROM intake_staging
       WHERE NOT known"""),
    ("known",
     """WITH written AS (
         UPDATE vehicle t SET customer_id = s.customer_id, plate = s.plate, vin = s.vin, model_code = s.model_code,
                first_registered_on = s.first_registered_on,
                -- a new model code must be confirmed again before quoting (查询、交互车型后才可报价)
                model_confirmed = t.model_confirmed AND t.model_code IS NOT DISTINCT FROM s.model_code
         FROM intake_staging s
         WHERE s.known AND t.id = s.vehicle_id
           AND (t.customer_id, t.plate, t.vin, t.model_code, t.first_registered_on) IS DISTINCT FROM
               (s.customer_id, s.plate, s.vin, s.model_code, s.first_registered_on)
         RETURNING s.policy_id)
       INSERT INTO intake_written SELECT policy_id FROM written"""),
    ("new",
     """INSERT INTO policy (id, policy_no, customer_id, vehicle_id, sub_branch_id, channel, handler_code, premium,
                           coverages, claims_last_year, starts_on, expires_on, timezone, status, unassigned_reason)
       SELECT policy_id, policy_no, customer_id, vehicle_id, sub_branch_id, channel::policychannel, handler_code,
              premium, coverages, claims_last_year, starts_on, expires_on, :timezone, 'active', unassigned_reason
       FROM intake_staging WHERE NOT known"""),
    ("known",
     """WITH written AS (
         UPDATE policy t SET sub_branch_id = s.sub_branch_id, channel = s.channel::policychannel,
                handler_code = s.handler_code, premium = s.premium, coverages = s.coverages,
                claims_last_year = s.claims_last_year, starts_on = s.starts_on, expires_on = s.expires_on,
                unassigned_reason = s.unassigned_reason
         FROM intake_staging s
         WHERE s.known AND t.id = s.policy_id
           AND (t.sub_branch_id, t.channel, t.handler_code, t.premium, t.coverages, t.claims_last_year, t.starts_on,
                t.expires_on, t.unassigned_reason) IS DISTINCT FROM
               (s.sub_branch_id, s.channel::policychannel, s.handler_code, s.premium, s.coverages,
                s.claims_last_year, s.starts_on, s.expires_on, s.unassigned_reason)
         RETURNING t.id)
       INSERT INTO intake_written SELECT id FROM written"""),
    # Ownership: a row with a manager (or a matched 经办人) moves the policy to them, history kept.
    # A row without one leaves an existing owner in place.
    ("known",
     """UPDATE assignment a SET ended_at = now()
       FROM intake_staging s
       WHERE a.policy_id = s.policy_id AND a.ended_at IS NULL AND s.owner_id IS NOT NULL AND a.staff_id <> s.owner_id"""),
    ("all",
     """INSERT INTO assignment (id, policy_id, staff_id, assigned_at, reason, previous_staff_id, assigned_by)
       SELECT assignment_id, policy_id, owner_id, now(), 'import', previous_owner_id, CAST(:assigned_by AS uuid)
       FROM intake_staging WHERE owner_id IS NOT NULL AND owner_id IS DISTINCT FROM previous_owner_id"""),
    ("known",
     """INSERT INTO intake_written SELECT policy_id FROM intake_staging
       WHERE known AND owner_id IS NOT NULL AND owner_id IS DISTINCT FROM previous_owner_id"""),
]
# A first load (large, and at least as many new policies as the book holds) goes as PostgreSQL's
# "Populating a Database" advises: the tables written are locked, their secondary indexes and
# constraints dropped, the rows inserted, and the indexes and constraints built again (and checked)
# in the same transaction. Building an index once costs far less than maintaining it row by row, and
# one foreign-key check per table less than one per row. Reads of those tables wait meanwhile
# (seconds per 100,000 rows), so smaller loads into a larger book maintain them as usual. Foreign
# keys to other tables (staff, sub_branch) stay and are checked row by row: dropping one would lock
# its table for every sign-in and request, and adding it back would block its writers.
# Only the tables' owner may drop indexes: any other database role loads the usual way.
FIRST_LOAD_ROWS = 20_000
_LOADED_TABLES = ("customer", "vehicle", "policy", "assignment")
# How long a first load waits for any one of its locks before loading the usual way (the readers
# of a table queue behind an exclusive lock that waits).
FIRST_LOAD_LOCK_WAIT = "2s"
_FIRST_LOAD = """
SELECT :new_rows >= :first_load_rows
       AND (SELECT count(*) FROM (SELECT FROM policy LIMIT :new_rows + 1) p) <= :new_rows
       AND (SELECT bool_and(pg_has_role(relowner, 'USAGE')) FROM pg_class
            WHERE oid = ANY(CAST(:tables AS regclass[])))
"""
# Foreign keys between the loaded tables and unique constraints on them (none of them referenced by
# a foreign key: primary keys stay), then the indexes that back no constraint: how to drop and
# rebuild each. Dropping or adding any of them locks the loaded tables only.
_SECONDARY = """
SELECT format('ALTER TABLE %s DROP CONSTRAINT %I', c.conrelid::regclass, c.conname) AS drop,
       format('ALTER TABLE %s ADD CONSTRAINT %I %s', c.conrelid::regclass, c.conname, pg_get_constraintdef(c.oid))
           AS rebuild
FROM pg_constraint c
WHERE c.conrelid = ANY(CAST(:tables AS regclass[]))
  AND (c.contype = 'f' AND c.confrelid = ANY(CAST(:tables AS regclass[]))
       OR c.contype = 'u'
          AND NOT EXISTS (SELECT FROM pg_constraint r WHERE r.contype = 'f' AND r.conindid = c.conindid))
UNION ALL
SELECT format('DROP INDEX %s', i.indexrelid::regclass), pg_get_indexdef(i.indexrelid)
FROM pg_index i
WHERE i.indrelid = ANY(CAST(:tables AS regclass[])) AND NOT i.indisprimary
  AND NOT EXISTS (SELECT FROM pg_constraint c WHERE c.conindid = i.indexrelid)
"""
# The counts, and the staged policies' ids in policy-number order, in one scan.
_COUNTS = """
WITH written AS (SELECT DISTINCT policy_id FROM intake_written)
SELECT count(*) FILTER (WHERE NOT s.known) AS inserted,
       count(*) FILTER (WHERE s.known AND w.policy_id IS NOT NULL) AS updated,
       count(*) FILTER (WHERE s.known AND w.policy_id IS NULL) AS unchanged,
       count(*) FILTER (WHERE s.owner_id IS NOT NULL AND s.previous_owner_id IS NOT NULL
                        AND s.owner_id <> s.previous_owner_id) AS owner_changed,
       count(*) FILTER (WHERE s.owner_id IS NULL AND s.previous_owner_id IS NULL) AS unassigned,
       string_agg(s.policy_id::text, ',' ORDER BY s.policy_no) AS policy_ids
FROM intake_staging s LEFT JOIN written w ON w.policy_id = s.policy_id
"""


@dataclass
class LoadCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    owner_changed: int = 0
    unassigned: int = 0
    refused: list[int] = field(default_factory=list)  # rows naming another branch's policy
    # As text, in policy-number order: they only go back into SQL, and 100,000 UUID objects cost 0.25 s.
    policy_ids: list[str] = field(default_factory=list)


def organisation(session: Session, branch_id: uuid.UUID | None = None) -> Organisation:
    subs = {code: (sid, bid) for code, sid, bid in session.exec(select(SubBranch.code, SubBranch.id, SubBranch.branch_id))}
    staff = session.exec(select(Staff)).all()
    refs = {s.id: StaffRef(s.id, s.sub_branch_id, s.active, s.role == Role.sales) for s in staff}
    return Organisation(
        sub_branches=subs, staff={s.username: refs[s.id] for s in staff},
        handlers={s.handler_code: refs[s.id] for s in staff if s.handler_code}, branch_id=branch_id,
    )


def _organisation_of(engine: Engine, branch_id: uuid.UUID | None) -> Organisation:
    with Session(engine) as session:
        return organisation(session, branch_id)


def load(engine: Engine, rows: list[PolicyRow], settings: Settings, assigned_by: uuid.UUID | None = None,
         record: Callable[[Connection, LoadCounts], None] | None = None) -> LoadCounts:
    """COPY the checked rows into a staging table and upsert them, in one transaction, which
    `record` joins to note what was loaded (on the import's job). Imports run one at a time (an
    advisory lock), so two files naming the same new customer cannot race."""
    with engine.begin() as conn:
        loaded = _load(conn, rows, settings, assigned_by) if rows else LoadCounts()
        if record:
            record(conn, loaded)
    return loaded


def _load(conn: Connection, rows: list[PolicyRow], settings: Settings, assigned_by: uuid.UUID | None) -> LoadCounts:
    allow_long_statements(conn)  # a large file's upserts, and waiting for an import already running
    conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('renewals.intake'))"))
    for statement in _STAGING.split(";"):
        conn.execute(text(statement))
    copy_rows(conn, rows)
    for statement in _ANALYZE:
        conn.execute(text(statement))
    refused = sorted(conn.execute(text(_FOREIGN_POLICIES)).scalars())
    loading = len(rows) - len(refused)
    known = conn.execute(text(_KNOWN_POLICIES)).rowcount
    known_customers = known + conn.execute(text(_KNOWN_CUSTOMERS)).rowcount
    staged = {"all": loading, "new": loading - known, "known": known,
              "new customers": loading - known_customers, "known customers": known_customers}
    first_load = conn.execute(text(_FIRST_LOAD), {"new_rows": staged["new"], "first_load_rows": FIRST_LOAD_ROWS,
                                                  "tables": list(_LOADED_TABLES)}).scalar_one()
    rebuild = _drop_secondary(conn) if first_load else []
    params = {"timezone": settings.timezone, "assigned_by": str(assigned_by) if assigned_by else None}
    for reads, statement in _UPSERTS:
        if staged[reads]:
            conn.execute(text(statement), params)
    for statement in rebuild:
        conn.execute(text(statement))
    counts = conn.execute(text(_COUNTS)).one()
    return LoadCounts(inserted=counts.inserted, updated=counts.updated, unchanged=counts.unchanged,
                      owner_changed=counts.owner_changed, unassigned=counts.unassigned, refused=refused,
                      policy_ids=counts.policy_ids.split(",") if counts.policy_ids else [])


def _drop_secondary(conn) -> list[str]:
    """Lock the loaded tables and drop their secondary indexes and constraints; the statements that
    build them again. Nothing is dropped (an empty list) if the locks cannot be had within
    FIRST_LOAD_LOCK_WAIT: a transaction holds one of the tables, and the load then maintains the
    indexes as usual."""
    secondary = conn.execute(text(_SECONDARY), {"tables": list(_LOADED_TABLES)}).all()
    try:
        with conn.begin_nested():
            conn.execute(text(f"SET LOCAL lock_timeout = '{FIRST_LOAD_LOCK_WAIT}'"))
            conn.execute(text(f"LOCK TABLE {', '.join(_LOADED_TABLES)} IN ACCESS EXCLUSIVE MODE"))
            for row in secondary:
                conn.execute(text(row.drop))
    except OperationalError as exc:
        if not isinstance(exc.orig, LockNotAvailable | DeadlockDetected):
            raise
        log.info("intake: first load keeps the indexes: the tables are busy (%s)", exc.orig)
        return []
    allow_long_statements(conn)  # the load's own lock limit again
    conn.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))  # each index is sorted in memory
    return [row.rebuild for row in secondary]


def new_ids(count: int) -> list[str]:
    """`count` new ids as text: time-ordered UUIDs (version 7, RFC 9562), increasing from a random
    start (its "monotonic random" counter). Increasing ids go in at the right edge of each primary
    key instead of on random pages (0.13 s less per 100,000 rows than random ids), and they cost one
    read of the random source, where gen_random_uuid() costs the server 2.5 µs per id. They tell
    when a row was imported, nothing more."""
    millis = time.time_ns() // 1_000_000
    head = f"{millis & (1 << 48) - 1:012x}7{int.from_bytes(os.urandom(2)) & 0xFFF:03x}"
    # The variant's bits (10) on top, then 62 bits of counter from a random start below 2**61.
    start = 1 << 63 | int.from_bytes(os.urandom(8)) & (1 << 61) - 1
    return [f"{head}{n:016x}" for n in range(start, start + count)]


def copy_rows(conn, rows: list[PolicyRow]) -> None:
    """COPY into intake_staging through the connection's own psycopg connection (same transaction)."""
    customers: dict[tuple[uuid.UUID, str], str] = {}  # one new record per person and branch
    new_id = iter(new_ids(4 * len(rows))).__next__
    cursor = conn.connection.driver_connection.cursor()
    # The server parses while Python formats the next rows (libpq sends as its buffer fills). A
    # queued writer, sending from a thread, costs more in hand-offs of the GIL than it gains.
    with paused_gc(), cursor.copy(f"COPY intake_staging ({', '.join(STAGED_COLUMNS)}) FROM STDIN") as copy:
        write = copy.write_row
        for r in rows:
            customer_id = customers.get((r.branch_id, r.id_number))
            if customer_id is None:
                customer_id = customers[r.branch_id, r.id_number] = new_id()
            write((r.row, r.policy_no, r.customer_name, r.id_number, r.phone, r.language, r.birth_date,
                   r.plate, r.vin, r.model_code, r.first_registered_on, r.channel, r.handler_code,
                   r.owner_id, r.unassigned_reason, r.sub_branch_id, r.branch_id, r.premium, r.coverages,
                   r.claims_last_year, r.starts_on, r.expires_on, r.other_phones, r.family, r.proxy, r.blacklisted,
                   customer_id, new_id(), new_id(), new_id()))


# --- cases follow the policies ----------------------------------------------------------------------

_HAS_CASE = """EXISTS (SELECT 1 FROM renewal_case rc WHERE rc.policy_id = p.id
                       AND (rc.outcome IS NULL OR rc.expiry_date = p.expires_on))"""
# Policies due a case: in the horizon, owned, with no case for this expiry (and none running).
_DUE = f"""
SELECT p.id, p.policy_no, p.expires_on, p.timezone, a.staff_id AS owner_id,
       coalesce(sb.deputy_id, (SELECT d.id FROM staff d WHERE d.sub_branch_id = sb.id AND d.role = 'deputy'
                                AND d.active ORDER BY d.created_at LIMIT 1)) AS deputy_id,
       sb.code AS sub_branch, b.code AS branch, coalesce(cu.do_not_call_until >= :today, false) AS do_not_contact
FROM policy p
JOIN customer cu ON cu.id = p.customer_id
JOIN assignment a ON a.policy_id = p.id AND a.ended_at IS NULL
JOIN sub_branch sb ON sb.id = p.sub_branch_id
JOIN branch b ON b.id = sb.branch_id
WHERE p.status = 'active' AND p.expires_on BETWEEN :first AND :last AND p.policy_no > :after
  AND (CAST(:ids AS uuid[]) IS NULL OR p.id = ANY(CAST(:ids AS uuid[])))
  AND NOT {_HAS_CASE}
ORDER BY p.policy_no
LIMIT :limit
"""
# Why the policies of a batch that are not due have no case (those due but without a deputy are
# counted as they start).
_NO_CASE = f"""
SELECT count(*) FILTER (WHERE p.expires_on < :first) AS no_case_expired,
       count(*) FILTER (WHERE p.expires_on > :last) AS no_case_not_yet,
       count(*) FILTER (WHERE p.expires_on BETWEEN :first AND :last AND a.id IS NULL) AS no_case_unassigned
FROM policy p LEFT JOIN assignment a ON a.policy_id = p.id AND a.ended_at IS NULL
WHERE p.status = 'active' AND p.id = ANY(CAST(:ids AS uuid[])) AND NOT {_HAS_CASE}
"""
_EXPIRY_MOVED = """
SELECT rc.workflow_id, p.expires_on FROM renewal_case rc JOIN policy p ON p.id = rc.policy_id
WHERE rc.outcome IS NULL AND rc.expiry_date <> p.expires_on AND p.id = ANY(CAST(:ids AS uuid[]))
"""
_OWNER_MOVED = """
SELECT rc.workflow_id, a.staff_id FROM renewal_case rc
JOIN assignment a ON a.policy_id = rc.policy_id AND a.ended_at IS NULL
WHERE rc.outcome IS NULL AND rc.owner_id <> a.staff_id AND rc.policy_id = ANY(CAST(:ids AS uuid[]))
"""


def horizon(settings: Settings, today: date) -> tuple[date, date]:
    """Expiry dates whose cases should be running on `today`: from those expired LAST_DAY days ago
    (still followed up after expiry) to the horizon's end."""
    return today - timedelta(days=LAST_DAY), today + timedelta(days=settings.intake_horizon_days)


def local_today(settings: Settings, now: datetime | None = None) -> date:
    return local_date(now or datetime.now(UTC), settings.timezone)


def _due(engine: Engine, params: dict[str, Any]) -> list[Any]:
    with engine.connect() as conn:
        allow_long_statements(conn)  # reads the whole book's expiries
        return conn.execute(text(_DUE), params).all()


async def start_due_cases(engine: Engine, client: Client, settings: Settings, today: date, *,
                          after: str = "", limit: int = BATCH, policy_ids: list[str] | None = None,
                          on_start: Callable[[str], None] | None = None) -> IntakeBatchResult:
    """Start the cases of one batch of policies due one (in policy-number order after `after`)."""
    first, last = horizon(settings, today)
    due = await asyncio.to_thread(_due, engine, {
        "first": first, "last": last, "after": after, "limit": limit, "today": today,
        "ids": [str(i) for i in policy_ids] if policy_ids is not None else None})
    summary = IntakeBatchResult(last_policy_no=due[-1].policy_no if due else after, more=len(due) == limit)
    startable = [p for p in due if p.deputy_id is not None]
    summary.no_deputy = len(due) - len(startable)
    admins = await asyncio.to_thread(admins_of_branches, engine, {p.branch for p in startable})

    async def start(p) -> StartOutcome:
        inp = renewal_input(settings, policy_no=p.policy_no, expiry_date=p.expires_on, owner_id=p.owner_id,
                            deputy_id=p.deputy_id, branch=p.branch, sub_branch=p.sub_branch,
                            admin_ids=admins[p.branch], timezone=p.timezone, do_not_contact=p.do_not_contact)
        outcome = (await start_case(client, inp, settings.task_queue)).outcome
        if on_start:
            on_start(p.policy_no)
        return outcome

    for outcome in await bounded(startable, start):
        setattr(summary, outcome.value, getattr(summary, outcome.value) + 1)
    return summary


def _behind_policies(engine: Engine, ids: list[str], settings: Settings, today: date
                     ) -> tuple[list[Any], list[Any], dict[str, int]]:
    """The open cases of these policies whose expiry moved, those whose policy has a new manager,
    and why those not due have no case (counts by reason)."""
    params = {"ids": [str(x) for x in ids]}
    first, last = horizon(settings, today)
    with engine.connect() as conn:
        return (conn.execute(text(_EXPIRY_MOVED), params).all(), conn.execute(text(_OWNER_MOVED), params).all(),
                dict(conn.execute(text(_NO_CASE), params | {"first": first, "last": last}).one()._mapping))


async def follow_policies(engine: Engine, client: Client, settings: Settings, policy_ids: list[str],
                          actor: c.Actor, today: date | None = None) -> dict[str, int]:
    """Bring the cases of these policies in line with them (see the module's docstring)."""
    today = today or local_today(settings)
    counts = {"expiry_changed": 0, "reassigned": 0, "cases_started": 0, "cases_running": 0, "cases_already_done": 0,
              "waiting_for_deputy": 0, "no_case_expired": 0, "no_case_not_yet": 0, "no_case_unassigned": 0}

    async def signal(row) -> None:
        await client.get_workflow_handle(row.workflow_id).signal("expiry_changed", c.ExpiryChanged(row.expires_on, source=c.SystemComponent.intake))

    async def reassign(row) -> bool:
        try:
            done = await update_case(client.get_workflow_handle(row.workflow_id), "reassign",
                                     c.Reassign(actor=actor, new_owner_id=row.staff_id, reason="import"))
            await moved_case_projected(engine, row.workflow_id, done)
            return True
        except CaseRejected as exc:  # already theirs, or closed meanwhile: nothing to move
            log.info("intake: %s not reassigned: %s", row.workflow_id, exc.reason)
            return False

    for i in range(0, len(policy_ids), BATCH):
        ids = policy_ids[i:i + BATCH]
        moved, owners, no_case = await asyncio.to_thread(_behind_policies, engine, ids, settings, today)
        for reason, count in no_case.items():
            counts[reason] += count
        await bounded(moved, signal)
        counts["expiry_changed"] += len(moved)
        counts["reassigned"] += sum(await bounded(owners, reassign))
        started = await start_due_cases(engine, client, settings, today, limit=len(ids) + 1, policy_ids=ids)
        counts["cases_started"] += started.started
        counts["cases_running"] += started.already_running
        counts["cases_already_done"] += started.already_done
        counts["waiting_for_deputy"] += started.no_deputy
    return counts


# --- an import, end to end ----------------------------------------------------------------------------
# Three steps, each safe to run again: check and load (the load commits with what the job records of
# it, so it is done once or not at all), then the cases follow their policies batch by batch (each
# batch's counts saved with how far it got), then the job is done. The CLI runs them in its own
# process (run_import); an upload runs them as a workflow's activities (renewals.intake.durable).


# An import run in a process of its own touches its job every HEARTBEAT. One silent for longer than
# STALE stopped without finishing (the process died): it shows as interrupted, never as running for
# ever, and importing the same file again finishes it (the rows saved stay saved). An import run by
# a workflow has no such end: another worker takes it over.
HEARTBEAT = timedelta(seconds=30)
STALE = timedelta(minutes=2)
INTERRUPTED = ("the import stopped without finishing (the process running it stopped): import the same file "
               "again to finish it; the rows already saved stay saved")


JobStatus = Literal["pending", "running", "done", "failed", "interrupted"]
UNFINISHED: tuple[JobStatus, ...] = ("pending", "running")  # still at work, unless its heartbeat stopped


def job_status(job: ImportJob, now: datetime) -> tuple[JobStatus, str | None]:
    """The status to show, and the failure to show with it."""
    if (job.status in UNFINISHED and job.workflow_id is None
            and (job.heartbeat_at or job.created_at) < now - STALE):
        return "interrupted", INTERRUPTED
    return job.status, job.failure


@dataclass
class ImportResult:
    job_id: uuid.UUID
    total_rows: int
    imported_rows: int
    errors: list[RowError]
    counts: dict[str, int]


def checked_upload(filename: str | None, data: bytes) -> str:
    """The name to keep for an uploaded file; refused (FileRejected, naming the field) when it is
    too large or empty, before anything is kept."""
    if len(data) > MAX_FILE_BYTES:
        raise FileRejected(f"file: larger than {MAX_FILE_BYTES // (1024 * 1024)} MB; split it")
    if not data.strip():
        raise FileRejected("file: the file is empty")
    return "".join(ch for ch in (filename or "upload.csv") if ch.isprintable())[:256]


def new_job(filename: str, data: bytes, created_by: uuid.UUID | None = None,
            branch_id: uuid.UUID | None = None) -> ImportJob:
    return ImportJob(filename=filename[:256], created_by=created_by, branch_id=branch_id,
                     file_sha256=hashlib.sha256(data).hexdigest())


def create_job(engine: Engine, filename: str, data: bytes, created_by: uuid.UUID | None = None,
               branch_id: uuid.UUID | None = None) -> uuid.UUID:
    with Session(engine) as session:
        job = new_job(filename, data, created_by, branch_id)
        session.add(job)
        session.commit()
        return job.id


def read_job(engine: Engine, job_id: uuid.UUID) -> ImportJob:
    with Session(engine, expire_on_commit=False) as session:
        return session.get(ImportJob, job_id)


def job_progress(job: ImportJob) -> tuple[str, int, int | None]:
    """The job's phase and how far it got, as the console shows it: rows read (of a total known
    once all are read), then the load (one step), then policies followed of those imported (and
    all of them once the job is done)."""
    if job.phase == "reading":
        return "reading", job.processed_rows, None
    if job.phase == "loading":
        return "loading", 0, None
    return "cases", job.followed_policies, job.imported_rows


def import_result(job: ImportJob) -> ImportResult:
    return ImportResult(job.id, job.total_rows, job.imported_rows, [RowError(**e) for e in job.errors], job.counts)


def _save(engine: Engine, job_id: uuid.UUID, **values) -> None:
    with Session(engine) as session:
        job = session.get(ImportJob, job_id)
        for key, value in values.items():
            setattr(job, key, value)
        session.add(job)
        session.commit()


_RECORD_LOAD = """
UPDATE import_job SET phase = 'cases', imported_rows = :imported, counts = CAST(:counts AS jsonb),
       errors = CAST(:errors AS jsonb), followed_policies = 0
WHERE id = :job_id
"""
# The policies loaded, for the cases' follow-up (an import run in-process keeps them in memory).
_RECORD_POLICIES = "UPDATE import_upload SET policy_ids = :policy_ids WHERE job_id = :job_id"


async def check_and_load(engine: Engine, settings: Settings, job_id: uuid.UUID, data: bytes, *,
                         actor: c.Actor, branch_id: uuid.UUID | None, progress: Progress | None = None
                         ) -> tuple[LoadCounts, list[RowError], int, int]:
    """Check every row and load the good ones: what was loaded, the row errors, the rows read and
    the rows imported. The job shows the progress, the row errors and the counts; the load's
    transaction leaves it in phase `cases`, so a load is done once or not at all."""
    def checking(done: int) -> None:
        if progress:
            progress("reading", done, None)
        if done % 10_000 == 0:
            _save(engine, job_id, processed_rows=done)

    await asyncio.to_thread(_save, engine, job_id, status="running", phase="reading", failure=None,
                            heartbeat_at=datetime.now(UTC))
    org = await asyncio.to_thread(_organisation_of, engine, branch_id)
    good, errors, total = await asyncio.to_thread(check_file, data, org, checking)
    await asyncio.to_thread(_save, engine, job_id, phase="loading", total_rows=total, processed_rows=total,
                            errors=[e.as_dict() for e in errors])
    if progress:
        progress("loading", 0, len(good))

    def record(conn: Connection, loaded: LoadCounts) -> None:
        nonlocal errors
        errors = sorted(errors + [RowError(row, "policy_no", FOREIGN_POLICY) for row in loaded.refused],
                        key=lambda e: e.row)
        counts = {"inserted": loaded.inserted, "updated": loaded.updated, "unchanged": loaded.unchanged,
                  "new_owner": loaded.owner_changed, "unassigned": loaded.unassigned,
                  "rejected": len({e.row for e in errors})}
        conn.execute(text(_RECORD_LOAD), {"job_id": job_id, "imported": len(good) - len(loaded.refused),
                                          "counts": json.dumps(counts),
                                          "errors": json.dumps([e.as_dict() for e in errors])})
        conn.execute(text(_RECORD_POLICIES), {"job_id": job_id, "policy_ids": ",".join(loaded.policy_ids)})

    loaded = await asyncio.to_thread(load, engine, good, settings,
                                     actor.id if actor.role is c.ActorRole.admin else None, record)
    if progress:
        progress("loading", len(good), len(good))
    return loaded, errors, total, len(good) - len(loaded.refused)


async def follow_job(engine: Engine, client: Client, settings: Settings, job_id: uuid.UUID, policy_ids: list[str],
                     actor: c.Actor, today: date | None = None, *, start: int = 0,
                     progress: Progress | None = None) -> dict[str, int]:
    """The cases follow the loaded policies from `start` on, a batch at a time; the job keeps the
    counts and how far it got after each batch, so a rerun goes on from there."""
    counts = dict(await asyncio.to_thread(_job_counts, engine, job_id))
    for i in range(start, len(policy_ids), BATCH):
        batch = policy_ids[i:i + BATCH]
        for key, value in (await follow_policies(engine, client, settings, batch, actor, today)).items():
            counts[key] = counts.get(key, 0) + value
        await asyncio.to_thread(_save, engine, job_id, counts=counts, followed_policies=i + len(batch),
                                heartbeat_at=datetime.now(UTC))
        if progress:
            progress("cases", i + len(batch), len(policy_ids))
    return counts


def _job_counts(engine: Engine, job_id: uuid.UUID) -> dict[str, int]:
    with Session(engine) as session:
        return session.get(ImportJob, job_id).counts


def finish_job(engine: Engine, job_id: uuid.UUID, *, failure: str | None = None) -> None:
    """Done (or failed, and why); the uploaded file is no longer kept either way."""
    with Session(engine) as session:
        job = session.get(ImportJob, job_id)
        job.status, job.failure, job.finished_at = ("failed" if failure else "done"), failure, datetime.now(UTC)
        job.phase = job.phase if failure else None
        session.add(job)
        session.execute(delete(ImportUpload).where(ImportUpload.job_id == job_id))
        session.commit()


def failure_of(exc: BaseException) -> str:
    """What a job that failed shows: a refused file's reason, else the error."""
    return (str(exc) if isinstance(exc, FileRejected) else f"{type(exc).__name__}: {exc}")[:2000]


async def run_import(engine: Engine, client: Client, settings: Settings, job_id: uuid.UUID, data: bytes, *,
                     actor: c.Actor = c.INTAKE_ACTOR, branch_id: uuid.UUID | None = None,
                     progress: Progress | None = None, today: date | None = None) -> ImportResult:
    """Check, load and follow up one file in this process; the job row shows progress and ends with
    the counts and the row errors. Safe to run again with the same file: what is done stays done."""
    async def heartbeat() -> None:
        while True:
            await asyncio.sleep(HEARTBEAT.total_seconds())
            await asyncio.to_thread(_save, engine, job_id, heartbeat_at=datetime.now(UTC))

    beating = asyncio.create_task(heartbeat())
    try:
        loaded, errors, total, imported = await check_and_load(engine, settings, job_id, data, actor=actor, branch_id=branch_id,
                                                     progress=progress)
        counts = await follow_job(engine, client, settings, job_id, loaded.policy_ids, actor, today,
                                  progress=progress)
    except BaseException as exc:
        # The rows committed stay committed; rerunning the file finishes the cases.
        await asyncio.to_thread(finish_job, engine, job_id, failure=failure_of(exc))
        raise
    finally:
        beating.cancel()
    await asyncio.to_thread(finish_job, engine, job_id)
    return ImportResult(job_id, total, imported, errors, counts)
