"""Bulk import (SPEC §11): the COPY path against the naive row-by-row inserts.

    uv run python -m bench.intake_copy [ROWS]      (default 100,000)

Generates ROWS valid policies for one organisation and checks them (renewals.intake.policy_file: file
bytes to good rows; the same for every path, so timed once). Then the same checked rows are loaded
into three fresh databases on an embedded PostgreSQL, each timed from the list of rows to the commit:
  - as an import does (renewals.intake.service.load): COPY into a staging table, set-based inserts and
    updates of customers, vehicles, policies and assignments, the counts, in one transaction (into
    an empty book this is a first load: secondary indexes and constraints are built after);
  - naively: one INSERT … ON CONFLICT DO UPDATE per row per table (customer, vehicle, policy,
    assignment), in one transaction, sent with psycopg's executemany (which pipelines) and sent
    one statement at a time, each awaited (what a driver without pipelining does).
Targets: the COPY load ≥ 10× the naive load and ≥ 50,000 rows/s. A re-import of the same rows
(which must write nothing) is timed too. The machine's load average is printed with the figures.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

import psycopg

from rich.console import Console
from rich.table import Table
from sqlmodel import Session

from renewals.core.db import make_engine, migrate
from renewals.dev.servers import EmbeddedPostgres
from renewals.intake.service import load, organisation
from renewals.intake.policy_file import check_file
from renewals.dev.sample_book import HANDLER_CODES, MANAGERS, rows, to_csv
from renewals.core.settings import Settings
from renewals.org.service import add_org, add_staff

COPY_TARGET, RATIO_TARGET = 50_000, 10


def _organisation(engine) -> None:
    with Session(engine) as session:
        add_org(session, branch_code="3100", branch_name="上海分公司", sub_branch_code="310101", sub_branch_name="黄浦支公司")
        for n, (username, code) in enumerate(zip(MANAGERS, HANDLER_CODES), start=1):
            staff = add_staff(session, username=username, name=f"经理{n}", role="sales",
                              phone=f"+861380000010{n}", sub_branch_code="310101")
            staff.handler_code = code
        session.commit()


def _row_by_row(engine, good, *, pipelined: bool = True) -> None:
    """The naive import: one INSERT … ON CONFLICT per row per table (so a re-import updates in
    place, as the COPY path does), in one transaction: sent with psycopg's executemany (which
    pipelines: no round trip per row) or, `pipelined=False`, one execute per row, each awaited, as a
    driver without pipelining sends them. Ids are derived from the policy number and id number so
    that a rerun finds its rows again."""
    def key(kind: str, value: str) -> uuid.UUID:
        return uuid.uuid5(uuid.NAMESPACE_URL, f"{kind}:{value}")

    with engine.begin() as conn:
        cursor = conn.connection.driver_connection.cursor()

        def send(statement, rows):
            if pipelined:
                cursor.executemany(statement, rows)
            else:
                for row in rows:
                    cursor.execute(statement, row)

        send(
            "INSERT INTO customer AS t (id, branch_id, name, id_number, phone, language, birth_date, other_phones, "
            "phone_unreachable, sms_opt_out, blacklisted, family, created_at) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, '[]', false, false, false, '[]', now()) ON CONFLICT (id) DO UPDATE SET name = excluded.name, "
            "phone = excluded.phone, language = excluded.language, birth_date = excluded.birth_date "
            "WHERE (t.name, t.phone, t.language, t.birth_date) IS DISTINCT FROM "
            "(excluded.name, excluded.phone, excluded.language, excluded.birth_date)",
            [(key("customer", r.id_number), r.branch_id, r.customer_name, r.id_number, r.phone, r.language,
              r.birth_date)
             for r in good])
        send(
            "INSERT INTO vehicle AS t (id, customer_id, plate, vin, model_code, model_confirmed, first_registered_on) "
            "VALUES (%s, %s, %s, %s, %s, false, %s) ON CONFLICT (id) DO UPDATE SET plate = excluded.plate, "
            "vin = excluded.vin, model_code = excluded.model_code, first_registered_on = excluded.first_registered_on "
            "WHERE (t.plate, t.vin, t.model_code, t.first_registered_on) IS DISTINCT FROM "
            "(excluded.plate, excluded.vin, excluded.model_code, excluded.first_registered_on)",
            [(key("vehicle", r.policy_no), key("customer", r.id_number), r.plate, r.vin, r.model_code,
              r.first_registered_on) for r in good])
        send(
            "INSERT INTO policy AS t (id, policy_no, customer_id, vehicle_id, sub_branch_id, channel, handler_code, "
            "premium, coverages, claims_last_year, starts_on, expires_on, timezone, status) VALUES (%s, %s, %s, %s, "
            "%s, %s, %s, %s, %s, %s, %s, %s, 'Asia/Shanghai', 'active') ON CONFLICT (policy_no) DO UPDATE SET "
            "premium = excluded.premium, coverages = excluded.coverages, starts_on = excluded.starts_on, "
            "expires_on = excluded.expires_on WHERE (t.premium, t.coverages, t.starts_on, t.expires_on) "
            "IS DISTINCT FROM (excluded.premium, excluded.coverages, excluded.starts_on, excluded.expires_on)",
            [(key("policy", r.policy_no), r.policy_no, key("customer", r.id_number), key("vehicle", r.policy_no),
              r.sub_branch_id, r.channel, r.handler_code, r.premium, r.coverages,
              r.claims_last_year, r.starts_on, r.expires_on) for r in good])
        send(
            "INSERT INTO assignment (id, policy_id, staff_id, assigned_at, reason) VALUES (gen_random_uuid(), %s, %s, "
            "now(), 'import') ON CONFLICT (policy_id) WHERE ended_at IS NULL DO NOTHING",
            [(key("policy", r.policy_no), r.owner_id) for r in good if r.owner_id])


def _database(pg: EmbeddedPostgres, name: str):
    with psycopg.connect(pg.url("postgres"), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    url = pg.url(name)
    migrate(url)
    engine = make_engine(url)
    _organisation(engine)
    return engine


def _timed(work, *args, **kwargs):
    """What `work(*args, **kwargs)` returns, and the seconds it took."""
    started = time.perf_counter()
    result = work(*args, **kwargs)
    return result, time.perf_counter() - started


def main(count: int) -> None:
    console = Console()
    pg = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="rbench")) / "d", ephemeral=True)
    try:
        data = to_csv(rows(count, start=date(2027, 1, 1)))
        databases = {name: _database(pg, f"bench_{name}") for name in ("copy", "executemany", "per_row")}
        copy_db = databases["copy"]
        with Session(copy_db) as session:
            org = organisation(session)
        # Every path loads the same checked rows (the organisations are alike), so the checks are
        # timed once, from the file's bytes to the list of good rows.
        (checked, errors, _), check_s = _timed(check_file, data, org)
        assert len(checked) == count and not errors, errors[:3]
        settings = Settings(_env_file=None)
        loaded, load_s = _timed(load, copy_db, checked, settings)
        reloaded, reload_s = _timed(load, copy_db, checked, settings)
        assert loaded.inserted == count and reloaded.unchanged == count
        naive_s = {}
        for name, pipelined in (("executemany", True), ("per_row", False)):
            with Session(databases[name]) as session:
                naive_rows, _, _ = check_file(data, organisation(session))
            _, naive_s[name] = _timed(_row_by_row, databases[name], naive_rows, pipelined=pipelined)
        for engine in databases.values():
            engine.dispose()
    finally:
        pg.stop()
    table = Table("what is timed", "seconds", "rows/s", "target",
                  title=f"importing {count:,} policies (customers, vehicles, policies, assignments) into an empty "
                        f"book; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    table.add_row("row checks (file bytes → good rows)", f"{check_s:.2f}", f"{count / check_s:,.0f}", "")
    table.add_row("load: COPY + set-based upserts (first load: indexes built after), commit", f"{load_s:.2f}",
                  f"{count / load_s:,.0f}", f"≥ {COPY_TARGET:,} rows/s")
    for name, label in (("executemany", "load: executemany (pipelined) INSERT … ON CONFLICT, commit"),
                        ("per_row", "load: one INSERT … ON CONFLICT per row, each awaited, commit")):
        table.add_row(label, f"{naive_s[name]:.2f}", f"{count / naive_s[name]:,.0f}", "")
        table.add_row("  ratio to the COPY load", "", f"{naive_s[name] / load_s:.1f}×", f"≥ {RATIO_TARGET}×")
    table.add_row("import total: checks + COPY load", f"{check_s + load_s:.2f}",
                  f"{count / (check_s + load_s):,.0f}", "")
    table.add_row("re-import of the same rows (COPY, writes nothing)", f"{reload_s:.2f}", f"{count / reload_s:,.0f}", "")
    console.print(table)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
