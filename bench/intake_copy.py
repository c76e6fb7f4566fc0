"""Bulk import (SPEC §11, issue 9): the COPY path against a plain row-by-row `executemany`.

    uv run python -m bench.intake_copy [ROWS]      (default 100,000)

Generates ROWS valid policies for one organisation, checks them (renewals.policy_file), then loads
the same rows twice into fresh databases on an embedded PostgreSQL: once as an import does (COPY
into a staging table and set-based upserts of customers, vehicles, policies and assignments, in
one transaction), once with `executemany` INSERTs of each row into the same four tables. Targets:
COPY ≥ 10× executemany and ≥ 50,000 rows/s. Row checking is timed apart (it is Python, per row).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlmodel import Session

from renewals.db import make_engine, migrate
from renewals.devservers import EmbeddedPostgres
from renewals.intake import load, organisation
from renewals.policy_file import check_file
from renewals.sample_book import HANDLER_CODES, MANAGERS, rows, to_csv
from renewals.settings import Settings
from renewals.staff import add_org, add_staff

COPY_TARGET, RATIO_TARGET = 50_000, 10


def _organisation(engine) -> None:
    with Session(engine) as session:
        add_org(session, branch_code="3100", branch_name="上海分公司", sub_branch_code="310101", sub_branch_name="黄浦支公司")
        for n, (username, code) in enumerate(zip(MANAGERS, HANDLER_CODES), start=1):
            staff = add_staff(session, username=username, name=f"经理{n}", role="sales",
                              phone=f"+861380000010{n}", sub_branch_code="310101")
            staff.handler_code = code
        session.commit()


def _executemany(engine, good) -> None:
    with engine.begin() as conn:
        cursor = conn.connection.driver_connection.cursor()
        ids = [(uuid.uuid4(), uuid.uuid4(), uuid.uuid4()) for _ in good]
        cursor.executemany(
            "INSERT INTO customer (id, name, id_number, phone, language, birth_date, other_phones, phone_unreachable, "
            "sms_opt_out, blacklisted, family, created_at) VALUES (%s, %s, %s, %s, %s, %s, '[]', false, false, false, "
            "'{}', now())",
            [(cid, r.customer_name, r.id_number, r.phone, r.language, r.birth_date) for r, (cid, _, _) in zip(good, ids)])
        cursor.executemany(
            "INSERT INTO vehicle (id, customer_id, plate, vin, model_code, model_confirmed, first_registered_on) "
            "VALUES (%s, %s, %s, %s, %s, false, %s)",
            [(vid, cid, r.plate, r.vin, r.model_code, r.first_registered_on) for r, (cid, vid, _) in zip(good, ids)])
        cursor.executemany(
            "INSERT INTO policy (id, policy_no, customer_id, vehicle_id, sub_branch_id, channel, handler_code, premium, "
            "coverages, claims_last_year, starts_on, expires_on, timezone, status) VALUES (%s, %s, %s, %s, %s, %s, %s, "
            "%s, %s, %s, %s, %s, 'Asia/Shanghai', 'active')",
            [(pid, r.policy_no, cid, vid, r.sub_branch_id, r.channel, r.handler_code, r.premium,
              json.dumps(r.coverages, ensure_ascii=False), r.claims_last_year, r.starts_on, r.expires_on)
             for r, (cid, vid, pid) in zip(good, ids)])
        cursor.executemany(
            "INSERT INTO assignment (id, policy_id, staff_id, assigned_at, reason) VALUES (gen_random_uuid(), %s, %s, "
            "now(), 'import')", [(pid, r.owner_id) for r, (_, _, pid) in zip(good, ids) if r.owner_id])


def main(count: int) -> None:
    console = Console()
    pg = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="rbench")) / "d", ephemeral=True)
    results = {}
    try:
        data = to_csv(rows(count, start=date(2027, 1, 1)))
        for path in ("copy", "executemany"):
            url = pg.url("postgres").rsplit("/", 1)[0] + f"/bench_{path}"
            import psycopg

            with psycopg.connect(pg.url("postgres"), autocommit=True) as conn:
                conn.execute(f"CREATE DATABASE bench_{path}")
            url = pg.url(f"bench_{path}")
            migrate(url)
            engine = make_engine(url)
            _organisation(engine)
            with Session(engine) as session:
                org = organisation(session)
            started = time.perf_counter()
            good, errors, total = check_file(data, org)
            checked = time.perf_counter() - started
            assert not errors and len(good) == count, errors[:3]
            started = time.perf_counter()
            if path == "copy":
                counts = load(engine, good, Settings(_env_file=None))
                assert counts.inserted == count
            else:
                _executemany(engine, good)
            results[path] = (time.perf_counter() - started, checked)
            engine.dispose()
    finally:
        pg.stop()
    copy_s, check_s = results["copy"]
    many_s, _ = results["executemany"]
    table = Table("path", "seconds", "rows/s", "target", title=f"loading {count:,} policies (with customers, "
                                                                 f"vehicles, assignments)")
    table.add_row("COPY + set-based upserts", f"{copy_s:.2f}", f"{count / copy_s:,.0f}", f"≥ {COPY_TARGET:,} rows/s")
    table.add_row("executemany INSERTs", f"{many_s:.2f}", f"{count / many_s:,.0f}", "")
    table.add_row("ratio", "", f"{many_s / copy_s:.1f}×", f"≥ {RATIO_TARGET}×")
    table.add_row("row checks (Python, apart)", f"{check_s:.2f}", f"{count / check_s:,.0f}", "")
    console.print(table)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
