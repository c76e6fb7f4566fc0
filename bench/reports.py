"""Reports over a million cases (SPEC §11: reports read indexed tables; < 2 s each).

    uv run python -m bench.reports [CASES] [TASKS_PER_CASE]

Generates, in an embedded PostgreSQL, CASES renewal cases (default 1,000,000) with their policies,
customers and vehicles, expiring over 2026 across 10 branches × 10 sub-branches × 20 service
managers, with realistic outcomes, and TASKS_PER_CASE tasks each (default 8), all with
INSERT … SELECT over generate_series (no row leaves the server), and rolls the settled days' tasks up
(renewals/reports/task_rollup.py, timed). Then times every report as the API builds it (query + figures)
for an auditor (the whole company), a branch manager and a deputy, over a month and over the
whole year, and prints the indexes the query plans use.
"""

from __future__ import annotations

import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
from rich.console import Console
from rich.progress import Progress, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import func
from sqlmodel import Session, select

from api.access import case_scope, task_scope
from models import Staff, TaskDay
from renewals.reports import charts
from renewals.reports import queries as q
from renewals.core.db import make_engine, migrate
from renewals.dev.servers import EmbeddedPostgres
from renewals.reports.rules import Period
from renewals.reports.task_rollup import roll_up

TARGET_SECONDS = 2.0
BRANCHES, SUBS_PER_BRANCH, SALES_PER_SUB = 10, 10, 20
NOW = datetime(2026, 12, 31, 12, tzinfo=UTC)
TIMEZONE = "Asia/Shanghai"

# Everything is derived from the row number i, so the load is one statement per table.
GENERATE = """
insert into branch (id, code, name)
  select md5('b' || b)::uuid, 'B' || b, '分公司' || b from generate_series(1, {branches}) b;
insert into sub_branch (id, code, name, branch_id)
  select md5('s' || s)::uuid, 'S' || s, '支公司' || s, md5('b' || (1 + (s - 1) / {subs}))::uuid
  from generate_series(1, {branches} * {subs}) s;
insert into staff (id, username, name, role, phone, sub_branch_id, branch_id, active, created_at)
  select md5('m' || m)::uuid, 'sales-' || m, '经理' || m, 'sales'::role, '+8613800000000',
         md5('s' || (1 + (m - 1) / {sales}))::uuid, null::uuid, true, now()
  from generate_series(1, {branches} * {subs} * {sales}) m
  union all
  select md5('d' || s)::uuid, 'deputy-' || s, '副经理' || s, 'deputy'::role, '+8613800000000', md5('s' || s)::uuid, null,
         true, now()
  from generate_series(1, {branches} * {subs}) s
  union all
  select md5('g' || b)::uuid, 'manager-' || b, '分公司经理' || b, 'manager'::role, '+8613800000000', null::uuid,
         md5('b' || b)::uuid, true, now()
  from generate_series(1, {branches}) b
  union all
  select md5('auditor')::uuid, 'auditor', '审计', 'auditor'::role, '+8613800000000', null::uuid, null::uuid, true, now();
insert into customer (id, name, id_number, phone, other_phones, phone_unreachable, sms_opt_out, blacklisted,
                      language, family, created_at)
  select md5('c' || i)::uuid, '客户' || i, '310101198001010000', '+86139' || lpad((i % 100000000)::text, 8, '0'),
         '[]', false, false, false, 'zh-CN', '[]', now()
  from generate_series(1, {cases}) i;
insert into vehicle (id, customer_id, plate, vin, model_confirmed)
  select md5('v' || i)::uuid, md5('c' || i)::uuid, '沪A' || lpad((i % 100000)::text, 5, '0'), 'LSV' || i, true
  from generate_series(1, {cases}) i;
insert into policy (id, policy_no, customer_id, vehicle_id, sub_branch_id, channel, premium, coverages,
                    claims_last_year, starts_on, expires_on, timezone, status)
  select md5('p' || i)::uuid, 'P' || i, md5('c' || i)::uuid, md5('v' || i)::uuid,
         md5('s' || (1 + i % ({branches} * {subs})))::uuid, 'traditional', 4386.50, '[]', 0,
         date '2025-01-01' + (i % 365), date '2026-01-01' + (i % 365), 'Asia/Shanghai', 'active'
  from generate_series(1, {cases}) i;
insert into renewal_case (id, workflow_id, policy_id, policy_no, expiry_date, timezone, sub_branch_id, stage,
                          owner_id, deputy_id, escalated, outcome, outcome_reason, outcome_stage, started_at,
                          updated_at)
  select md5('r' || i)::uuid, 'renewal-P' || i, md5('p' || i)::uuid, 'P' || i, date '2026-01-01' + (i % 365),
         'Asia/Shanghai', md5('s' || sub)::uuid, stage, md5('m' || ((sub - 1) * {sales} + 1 + (i / 100) % {sales}))::uuid,
         md5('d' || sub)::uuid, escalated, outcome,
         case outcome when 'LOST' then (array['price','claims','relationship','service','other','unknown'])[1 + i % 6]
                      when 'CLOSED' then 'vehicle_scrapped' end,
         case when outcome is not null then stage end,
         (date '2026-01-01' + (i % 365) - 90)::timestamptz, now()
  from (select i, 1 + i % ({branches} * {subs}) as sub,
               (array['FIRST_CONTACT','SECOND_CONTACT','THIRD_CONTACT','DEPUTY_SUPERVISION','FINAL_CONTACT',
                      'POST_EXPIRY'])[1 + (i * 7) % 6] as stage,
               (i * 13) % 5 = 0 as escalated,
               case when (i * 31) % 100 < 62 then 'RENEWED' when (i * 31) % 100 < 77 then 'LOST'
                    when (i * 31) % 100 < 87 then 'LAPSED' when (i * 31) % 100 < 90 then 'CLOSED' end as outcome
        from generate_series(1, {cases}) i) g;
insert into task (id, case_id, assignee_id, kind, stage, day, opens_at, due_at, state, handled_at, handled_by)
  select md5('t' || i || '-' || k)::uuid, c.id, c.owner_id, 'call', 'THIRD_CONTACT', -20 + k,
         c.expiry_date - 20 + k + time '09:00', c.expiry_date - 19 + k + time '00:00',
         -- the projection expires a task past its deadline at the case's next change: here the
         -- tasks due in the last 30 days may still be open (their days are scanned), older ones not
         case when (i + k) % 6 = 4 and c.expiry_date - 19 + k < date '{today}' - 30 then 'expired'
              else (array['done','done','done','expired','open','cancelled'])[1 + (i + k) % 6] end::taskstate,
         case when (i + k) % 6 < 3 then c.expiry_date - 20 + k + time '09:00' + ((i % 600) || ' minutes')::interval end,
         case when (i + k) % 6 < 3 then c.owner_id end
  from (select row_number() over () as i, id, owner_id, expiry_date from renewal_case) c,
       generate_series(0, {tasks} - 1) k;
"""


def generate(url: str, cases: int, tasks_per_case: int, console: Console) -> None:
    statements = [s.strip() for s in GENERATE.format(
        branches=BRANCHES, subs=SUBS_PER_BRANCH, sales=SALES_PER_SUB, cases=cases, tasks=tasks_per_case,
        today=NOW.astimezone(ZoneInfo(TIMEZONE)).date(),
    ).split(";\n") if s.strip()]
    with psycopg.connect(url, autocommit=True) as conn:
        # Bulk load: secondary indexes are built once after the rows are in (the same definitions
        # the migrations made), not row by row.
        indexes = conn.execute(
            "select indexname, indexdef from pg_indexes where schemaname = 'public' and indexname not in "
            "(select conname from pg_constraint)").fetchall()
        for name, _ in indexes:
            conn.execute(f'drop index "{name}"')
        for statement in statements:
            table = re.search(r"insert into (\w+)", statement).group(1)
            started = time.perf_counter()
            with console.status(f"generating {table}…"):
                rows = conn.execute(statement).rowcount
            console.print(f"  {table:<14} {rows:>10,} rows in {time.perf_counter() - started:6.1f} s")
        started = time.perf_counter()
        with console.status(f"building {len(indexes)} indexes…"):
            for _, definition in indexes:
                conn.execute(definition)
        console.print(f"  {len(indexes)} indexes built in {time.perf_counter() - started:6.1f} s")
        with console.status("vacuum analyze…"):
            conn.execute("vacuum analyze")


def _staff(session: Session, username: str) -> Staff:
    return session.exec(select(Staff).where(Staff.username == username)).one()


def _indexes(session: Session, statement) -> str:
    """The indexes a query plan uses (EXPLAIN of the compiled statement)."""
    compiled = statement.compile(dialect=session.get_bind().dialect, compile_kwargs={"literal_binds": True})
    plan = "\n".join(row[0] for row in session.connection().exec_driver_sql(f"explain {compiled}"))
    return ", ".join(sorted(set(re.findall(r"(?:Index|Index Only) Scan (?:using|on) (\w+)", plan)))) or "(scans)"


def main(cases: int, tasks_per_case: int) -> None:
    console = Console(width=200)
    pg = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="rbench")) / "d", ephemeral=True)
    try:
        url = pg.url()
        migrate(url)
        console.print(f"generating {cases:,} cases and {cases * tasks_per_case:,} tasks…")
        generate(url, cases, tasks_per_case, console)
        engine = make_engine(url)
        started = time.perf_counter()
        with Progress(*Progress.get_default_columns(), TimeElapsedColumn(), console=console) as progress:
            days = progress.add_task("rolling up the days of settled tasks", total=None)
            rolled, left = roll_up(engine, TIMEZONE, NOW, lambda done, total: progress.update(days, completed=done,
                                                                                                total=total))
        with engine.connect() as conn:
            rows = conn.execute(select(func.count()).select_from(TaskDay)).scalar()
        console.print(f"  roll-up: {rolled} days ({rows:,} rows of a day and an assignee) in "
                      f"{time.perf_counter() - started:6.1f} s; {left} days with open tasks left to the scan")
        month, year = Period(date(2026, 6, 1), date(2026, 6, 30)), Period(date(2026, 1, 1), date(2026, 12, 31))
        table = Table("report", "reader", "period", "cases/tasks read", "best s", "median s", "indexes in the plan",
                      title=f"Reports over {cases:,} cases (target < {TARGET_SECONDS} s)")
        worst = 0.0
        with Session(engine) as session:
            readers = {"auditor": _staff(session, "auditor"), "branch manager": _staff(session, "manager-1"),
                       "deputy": _staff(session, "deputy-1")}
            runs = [
                ("renewals", lambda s, r, p: q.renewals_report(s, p, case_scope(r), q.Filters()),
                 lambda r, p: q.renewal_counts_statement(p, case_scope(r), q.Filters())),
                ("funnel", lambda s, r, p: q.funnel(s, p, case_scope(r), q.Filters()),
                 lambda r, p: q.funnel_counts_statement(p, case_scope(r), q.Filters())),
                ("tasks",
                 lambda s, r, p: q.tasks_report(s, p, task_scope(r), case_scope(r), q.Filters(), TIMEZONE, NOW),
                 lambda r, p: q.task_counts_statement(p, task_scope(r), q.Filters(), TIMEZONE, NOW,
                                                      q.rolled_days(session, p, TIMEZONE))),
            ]
            for name, build, statement in runs:
                for who, reader in readers.items():
                    for label, period in (("month", month), ("year", year)):
                        timings, report = [], None
                        for _ in range(3):
                            started = time.perf_counter()
                            report = build(session, reader, period)
                            timings.append(time.perf_counter() - started)
                        worst = max(worst, min(timings))
                        read = report.total.current.due if name == "renewals" else (
                            report.cases if name == "funnel" else report.total.opened)
                        table.add_row(name, who, label, f"{read:,}", f"{min(timings):.3f}",
                                      f"{statistics.median(timings):.3f}", _indexes(session, statement(reader, period)))
            chart_seconds = []
            for _ in range(2):  # the first draw also loads the CJK font
                started = time.perf_counter()
                charts.rates_chart(q.renewals_report(session, year, case_scope(readers["branch manager"]),
                                                     q.Filters()), "png")
                chart_seconds.append(time.perf_counter() - started)
        engine.dispose()
        console.print(table)
        console.print("a branch manager's year of renewals as a PNG chart: "
                      f"{chart_seconds[0]:.3f} s (first, loading the font), {chart_seconds[1]:.3f} s after")
        verdict = "[green]within[/green]" if worst < TARGET_SECONDS else "[red]over[/red]"
        console.print(f"slowest report (best of 3): {worst:.3f} s — {verdict} the {TARGET_SECONDS} s target")
    finally:
        pg.stop()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000, int(sys.argv[2]) if len(sys.argv) > 2 else 8)
