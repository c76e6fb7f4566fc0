"""Training the lapse-risk model and scoring the open cases (issue 27: 100,000 cases < 60 s).

    uv run python -m bench.scoring [CASES]

Loads, in an embedded PostgreSQL, CASES closed cases (default 100,000) of a book whose outcomes
depend on claims, premium change and unanswered calls (renewals.dev.sample_book, --outcomes), each
with its quote and calls, and CASES open cases expiring today; then times the nightly run as its
activity does it (renewals.scoring.service.refresh): reading the closed cases' facts, training the
logistic model with its held-out AUC, and scoring every open case with its reasons and best hour
to call, written to lapse_score. Loading (and the ANALYZE autovacuum would run after it) is not timed.
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

from rich.console import Console
from sqlalchemy import text
from sqlmodel import Session

from models import Role
from renewals.core.db import make_engine, migrate
from renewals.dev.sample_book import load_book, rows
from renewals.dev.servers import EmbeddedPostgres
from renewals.org.service import add_org, add_staff
from renewals.scoring.service import refresh

TARGET_SECONDS = 60.0
TODAY = date(2026, 12, 6)
NOW = datetime(2026, 12, 6, 10, tzinfo=UTC)  # 18:00 in Shanghai: the open cases' expiry day


def main(cases: int) -> None:
    console = Console(width=160)
    pg = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="rbench")) / "d", ephemeral=True)
    try:
        url = pg.url()
        migrate(url)
        engine = make_engine(url)
        with Session(engine) as session:
            branch, sub = add_org(session, branch_code="B1", branch_name="分公司", sub_branch_code="S1",
                                  sub_branch_name="支公司")
            owner = add_staff(session, username="sales", name="经理", role=Role.sales, phone="+8613800000001",
                              sub_branch_code="S1")
            deputy = add_staff(session, username="deputy", name="副经理", role=Role.deputy, phone="+8613800000002",
                               sub_branch_code="S1")
            session.commit()
            org = {"branch_id": branch.id, "sub_branch_id": sub.id, "owner_id": owner.id, "deputy_id": deputy.id}
        started = time.perf_counter()
        console.print(f"loading {cases:,} closed and {cases:,} open cases with their quotes and calls…")
        load_book(engine, rows(cases, start=date(2025, 12, 1), prefix="PC", outcomes=True), closed=True, **org)
        load_book(engine, rows(cases, start=TODAY, seed=7, prefix="PO", outcomes=True, days=1), closed=False, **org)
        with engine.connect() as conn:  # as autovacuum would after a load this size
            conn.execute(text("analyze"))
        console.print(f"  loaded in {time.perf_counter() - started:.0f} s")

        started = time.perf_counter()
        model, scored = refresh(engine, NOW)
        seconds = time.perf_counter() - started
        console.print(f"model {model.version} ({model.kind}, {model.outcomes:,} outcomes, held-out AUC "
                      f"{model.held_out_auc:.3f}); {scored:,} open cases scored")
        verdict = "[green]within[/]" if seconds < TARGET_SECONDS else "[red]over[/]"
        console.print(f"training and scoring: {seconds:.1f} s, {verdict} the {TARGET_SECONDS:.0f} s target")
        engine.dispose()
    finally:
        pg.stop()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
