"""The lapse-risk score on a book's own outcomes: a model trained on the closed cases of a book whose
outcomes depend on claims, premium change and unanswered calls ranks held-out cases well; with too
few outcomes the documented prior scores, and says so; every open case gets its score and reasons."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine, true, update
from sqlmodel import Session, select

from models import LapseScore, RenewalCase, Role
from renewals.core.db import make_engine
from renewals.dev.sample_book import load_book, rows
from renewals.org.service import add_org, add_staff
from renewals.scoring.service import model_note, refresh, score_quality, train
from tests.conftest import fresh_database
from tests.scenario import unique_phone

NOW = datetime(2026, 12, 6, 2, tzinfo=UTC)
_databases = itertools.count(1)


@dataclass
class Book:
    engine: Engine
    branch_id: uuid.UUID
    sub_branch_id: uuid.UUID
    owner_id: uuid.UUID
    deputy_id: uuid.UUID

    def load(self, count: int, *, closed: bool, seed: int, start: date = date(2025, 12, 1),
             days: int = 365) -> dict[uuid.UUID, str]:
        """The cases loaded, with how each ended (or will: open ones are closed so by `close`)."""
        records = rows(count, start=start, seed=seed, prefix=f"P{seed}", sub_branch="x", outcomes=True, days=days)
        ids = load_book(self.engine, records, branch_id=self.branch_id, sub_branch_id=self.sub_branch_id,
                        owner_id=self.owner_id, deputy_id=self.deputy_id, closed=closed)
        return dict(zip(ids, (r["outcome"] for r in records)))

    def close(self, outcomes: dict[uuid.UUID, str], at: datetime) -> None:
        with Session(self.engine) as session:
            for case_id, outcome in outcomes.items():
                session.execute(update(RenewalCase).where(RenewalCase.id == case_id)
                                .values(outcome=outcome, closed_at=at))
            session.commit()


@pytest.fixture
def book(pg) -> Iterator[Book]:
    """An empty book of its own: the model in use is the latest trained on the whole database."""
    engine = make_engine(fresh_database(pg, f"scoring_{uuid.uuid4().hex[:8]}_{next(_databases)}"), pool_size=2)
    with Session(engine) as session:
        branch, sub = add_org(session, branch_code="B1", branch_name="上海分公司", sub_branch_code="S1",
                              sub_branch_name="黄浦支公司")
        owner = add_staff(session, username="sales", name="李四", role=Role.sales, phone=unique_phone(),
                          sub_branch_code="S1")
        deputy = add_staff(session, username="deputy", name="王五", role=Role.deputy, phone=unique_phone(),
                           sub_branch_code="S1")
        session.commit()
        yield Book(engine, branch.id, sub.id, owner.id, deputy.id)
    engine.dispose()


def test_a_model_trained_on_the_books_outcomes_ranks_held_out_cases_with_an_auc_of_at_least_0_75(book: Book):
    book.load(3000, closed=True, seed=1)
    model = train(book.engine, NOW)
    assert model.kind == "trained" and model.outcomes == 3000
    assert model.held_out_auc >= 0.75, model.held_out_auc
    assert "held-out AUC" in model_note(model)
    # What drives the book's lapses weighs most: claims, price rises and unanswered calls.
    assert min(model.weights["claims"], model.weights["premium_rise"], model.weights["unanswered"]) > 0.3


def test_the_reports_compare_the_last_scores_of_closed_cases_with_how_they_ended(book: Book):
    book.load(1000, closed=True, seed=4)
    # Open cases all expiring today, scored in the evening, as the closed ones were when they closed.
    later = book.load(1000, closed=False, seed=5, start=date(2026, 12, 6), days=1)
    model, scored = refresh(book.engine, NOW + timedelta(hours=8))
    assert (model.kind, scored) == ("trained", 1000)
    book.close(later, NOW + timedelta(days=30))
    retrained, _ = refresh(book.engine, NOW + timedelta(days=31))  # closed cases keep their last open score
    assert retrained.outcomes == 2000

    with Session(book.engine) as session:
        quality = score_quality(session, true())
    assert (quality.model, quality.kind, quality.closed_cases) == (retrained.version, "trained", 1000)
    assert quality.auc >= 0.75 and quality.held_out_auc >= 0.75, quality
    assert [d.decile for d in quality.deciles] == list(range(1, 11))
    # Calibrated: the riskiest tenth lapses far more often than the calmest, as their scores said.
    lowest, highest = quality.deciles[0], quality.deciles[-1]
    assert lowest.lapse_rate < 35 < 65 < highest.lapse_rate
    assert abs(highest.mean_score - highest.lapse_rate) < 15 and abs(lowest.mean_score - lowest.lapse_rate) < 15


def test_with_too_few_outcomes_the_prior_scores_and_says_so(book: Book):
    book.load(120, closed=True, seed=2)
    open_cases = book.load(5, closed=False, seed=3, start=date(2026, 12, 6), days=1)
    model, scored = refresh(book.engine, NOW)
    assert (model.kind, model.outcomes, scored) == ("prior", 120, 5)
    assert "only 120 closed cases" in model_note(model) and "先验" in model_note(model)
    with Session(book.engine) as session:
        scores = session.exec(select(LapseScore).where(LapseScore.case_id.in_(open_cases))).all()
    assert {s.model_version for s in scores} == {"prior-1"} and len(scores) == 5
    assert all(0 <= s.score <= 100 and len(s.reasons) <= 3 for s in scores) and any(s.reasons for s in scores)


def test_the_reasons_are_the_largest_contributions_in_words_staff_understand():
    from renewals.scoring.rules import PRIOR_WEIGHTS, CaseFacts, score

    facts = CaseFacts(claims_last_year=2, premium_change=0.18, unanswered_in_a_row=4, days_unreached=4,
                      reached_ever=True, sms_opted_out=False, do_not_call=False, signing_intent="high",
                      online=False, lost_before=1)
    risk, reasons = score(PRIOR_WEIGHTS, facts)
    assert [r.split(" / ")[0] for r in reasons] == ["近 4 次未接通", "曾在他处续保", "上年出险 2 次"]
    calm = CaseFacts(0, -0.05, 0, 1, True, False, False, "high", False, 0)
    assert score(PRIOR_WEIGHTS, calm)[0] < risk
