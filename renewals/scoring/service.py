"""Lapse-risk scores and best hours, kept in lapse_score for the to-do panel's one query: train a
logistic model on the book's closed cases (scikit-learn), or keep the documented prior while the
book has fewer than rules.MIN_OUTCOMES of them, then score every open case in batches. The nightly
`lapse-scoring-daily` schedule runs both (workflows/scoring.py); nothing of it enters Temporal but
counts."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy
from sqlalchemy import ColumnElement, Connection, Engine, Row, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Session

from models import LapseModel, LapseScore, RenewalCase
from renewals.core.db import allow_long_statements
from renewals.scoring import rules
from renewals.scoring.rules import CaseFacts, HourlyCalls

# The newest closed cases a model learns from: a year or two of a large book is plenty for a
# handful of weights, and training stays within seconds.
TRAINING_CASES = 200_000
HELD_OUT_SHARE = 0.25
BATCH = 5_000
# The sub-branch's hourly answer rates come from its recent calls: habits change with the seasons.
ANSWER_RATE_DAYS = 90
# The reports compare this many of the latest closed cases' last scores with their outcomes.
QUALITY_CASES = 2_000

UNANSWERED = ("no_answer", "busy")

# One row per case: the facts rules.CaseFacts holds, as of its closing (closed) or now (open). Set-based
# over the batch's cases (hash joins), not a subquery per case.
FACTS = f"""
with cases as materialized (
  select rc.id, rc.outcome, rc.started_at, coalesce(rc.closed_at, :now) as at, rc.signing_intent, rc.timezone,
         rc.expiry_date, rc.sub_branch_id, p.claims_last_year, p.premium, p.channel, p.customer_id,
         cu.sms_opt_out, cu.do_not_call_until
  from renewal_case rc join policy p on p.id = rc.policy_id join customer cu on cu.id = p.customer_id
  where {{where}}
  order by {{order}} limit :limit
),
calls as (
  select cr.case_id, cr.result, cr.created_at,
         max(cr.created_at) filter (where cr.result = 'reached') over (partition by cr.case_id) as last_reached
  from contact_record cr join cases c on c.id = cr.case_id
  where cr.channel = 'call' and cr.created_at <= c.at
),
reached as (
  select case_id, max(last_reached) as last_reached,
         count(*) filter (where result in {UNANSWERED} and created_at > coalesce(last_reached, '-infinity'))
           as unanswered
  from calls group by case_id
),
quoted as (
  select distinct on (q.case_id) q.case_id, q.premium from quote q join cases c on c.id = q.case_id
  where q.premium is not null and q.created_at <= c.at order by q.case_id, q.created_at desc
),
lost as (
  select c.id as case_id, count(*) as lost_before from cases c join policy pp on pp.customer_id = c.customer_id
  join renewal_case prev on prev.policy_id = pp.id
  where prev.expiry_date < c.expiry_date and prev.outcome in {rules.LAPSE_OUTCOMES} group by c.id
)
select c.*, q.premium as quoted, r.last_reached, coalesce(r.unanswered, 0) as unanswered,
       coalesce(l.lost_before, 0) as lost_before
from cases c left join quoted q on q.case_id = c.id left join reached r on r.case_id = c.id
left join lost l on l.case_id = c.id
"""
CLOSED = f"rc.outcome in {rules.LEARNT_OUTCOMES}"


def facts(row: Row) -> CaseFacts:
    at: datetime = row.at
    local_day = at.astimezone(ZoneInfo(row.timezone)).date()
    reached = row.last_reached
    return CaseFacts(
        claims_last_year=row.claims_last_year,
        premium_change=float(row.quoted / row.premium - 1) if row.quoted and row.premium else None,
        unanswered_in_a_row=row.unanswered,
        days_unreached=max((at - (reached or row.started_at)).days, 0),
        reached_ever=reached is not None,
        sms_opted_out=row.sms_opt_out,
        do_not_call=row.do_not_call_until is not None and row.do_not_call_until >= local_day,
        signing_intent=row.signing_intent,
        online=row.channel == "online",
        lost_before=row.lost_before,
    )


def _facts_rows(conn: Connection, where: str, order: str, limit: int, now: datetime, **params) -> list[Row]:
    return list(conn.execute(text(FACTS.format(where=where, order=order)),
                             {"now": now, "limit": limit, **params}))


# --- training -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Trained:
    weights: dict[str, float]
    held_out_auc: float | None


def fit(x: numpy.ndarray, lapsed: numpy.ndarray) -> Trained:
    """A logistic regression on the FEATURES, its AUC measured on a held-out share of the cases."""
    from sklearn.linear_model import LogisticRegression  # start-up cost: only the nightly job trains
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split

    x_train, x_test, y_train, y_test = train_test_split(x, lapsed, test_size=HELD_OUT_SHARE, random_state=0,
                                                        stratify=lapsed)
    model = LogisticRegression(max_iter=1000).fit(x_train, y_train)
    weights = {"intercept": float(model.intercept_[0])}
    weights.update({name: float(w) for name, w in zip(rules.FEATURES, model.coef_[0])})
    return Trained(weights, float(roc_auc_score(y_test, model.predict_proba(x_test)[:, 1])))


def train(engine: Engine, now: datetime) -> LapseModel:
    """The model every score uses from now on: trained on the newest closed cases, or the prior
    (saying how many outcomes there were) while there are fewer than rules.MIN_OUTCOMES."""
    with engine.connect() as conn:
        allow_long_statements(conn)
        rows = _facts_rows(conn, CLOSED, "rc.closed_at desc, rc.id", TRAINING_CASES, now)
    lapsed = numpy.array([row.outcome in rules.LAPSE_OUTCOMES for row in rows])
    if len(rows) < rules.MIN_OUTCOMES or lapsed.all() or not lapsed.any():
        model = LapseModel(version=rules.PRIOR_VERSION, kind="prior", outcomes=len(rows),
                           weights=rules.PRIOR_WEIGHTS, held_out_auc=None, trained_at=now)
    else:
        trained = fit(numpy.array([rules.features(facts(row)) for row in rows]), lapsed)
        model = LapseModel(version=f"lr-{now:%Y%m%dT%H%M%S}-{len(rows)}", kind="trained", outcomes=len(rows),
                           weights=trained.weights, held_out_auc=trained.held_out_auc, trained_at=now)
    with engine.begin() as conn:
        values = model.model_dump()
        conn.execute(insert(LapseModel).values(values).on_conflict_do_update(
            index_elements=[LapseModel.version], set_=values))
    return model


def current_model(session: Session | Connection) -> LapseModel | None:
    row = session.execute(select(LapseModel).order_by(LapseModel.trained_at.desc()).limit(1)).first()
    return row[0] if row else None


def model_note(model: LapseModel) -> str:
    """What the reports and the panel say about the model in use."""
    if model.kind == "prior":
        return (f"先验评分:已结案件仅 {model.outcomes} 件(少于 {rules.MIN_OUTCOMES} 件),暂用文档中的先验权重 / "
                f"prior: only {model.outcomes} closed cases (fewer than {rules.MIN_OUTCOMES}), the documented "
                f"prior weights score")
    return (f"按本单位 {model.outcomes} 件已结案件训练 / trained on {model.outcomes} closed cases of this book"
            + (f", held-out AUC {model.held_out_auc:.3f}" if model.held_out_auc is not None else ""))


# --- scoring -------------------------------------------------------------------------------------------


def _open_batches(conn: Connection, now: datetime) -> Iterator[list[Row]]:
    after = uuid.UUID(int=0)
    while rows := _facts_rows(conn, "rc.outcome is null and rc.id > :after", "rc.id", BATCH, now, after=after):
        yield rows
        after = max(row.id for row in rows)


def score_open_cases(engine: Engine, model: LapseModel, now: datetime,
                     progress: Callable[[int], None] = lambda scored: None) -> int:
    """Score every open case with `model`, with its best hour to call, one transaction a batch
    (a retry redoes what is left, writing the same rows). Returns how many were scored."""
    scored = 0
    with engine.connect() as reader:
        allow_long_statements(reader)
        hours = sub_branch_hours(reader, now)
        for rows in _open_batches(reader, now):
            calls = customer_hours(reader, [row.customer_id for row in rows])
            values = []
            for row in rows:
                score, reasons = rules.score(model.weights, facts(row))
                hour = rules.best_hour(calls.get(row.customer_id, {}), hours.get(row.sub_branch_id, {}))
                values.append({"case_id": row.id, "score": score, "reasons": reasons, "best_hour": hour,
                               "model_version": model.version, "scored_at": now})
            with engine.begin() as writer:
                stmt = insert(LapseScore)
                writer.execute(stmt.on_conflict_do_update(index_elements=[LapseScore.case_id], set_={
                    name: stmt.excluded[name] for name in ("score", "reasons", "best_hour", "model_version",
                                                           "scored_at")}), values)
            scored += len(rows)
            progress(scored)
    return scored


def refresh(engine: Engine, now: datetime | None = None, progress: Callable[[int], None] = lambda scored: None
            ) -> tuple[LapseModel, int]:
    """The nightly job: train, then score every open case."""
    now = now or datetime.now(UTC)
    model = train(engine, now)
    return model, score_open_cases(engine, model, now, progress)


# --- the best hour to call -----------------------------------------------------------------------------

LOCAL_HOUR = "extract(hour from cr.created_at at time zone rc.timezone)::int"


def _calls_by_hour(conn: Connection, key: str, where: str, params: dict) -> dict[uuid.UUID, dict[int, HourlyCalls]]:
    """Calls by `key` and local hour, answered or not, among the calls `where` picks."""
    rows = conn.execute(text(f"""
        select {key} as key, {LOCAL_HOUR} as hour, count(*) filter (where cr.result = 'reached') as answered,
               count(*) filter (where cr.result in {UNANSWERED}) as unanswered
        from contact_record cr join renewal_case rc on rc.id = cr.case_id
        where cr.channel = 'call' and cr.result is not null and {where}
        group by 1, 2"""), params)
    out: dict[uuid.UUID, dict[int, HourlyCalls]] = {}
    for row in rows:
        out.setdefault(row.key, {})[row.hour] = HourlyCalls(row.answered, row.unanswered)
    return out


def customer_hours(conn: Connection, customer_ids: list[uuid.UUID]) -> dict[uuid.UUID, dict[int, HourlyCalls]]:
    """Each customer's calls (every case of theirs) by local hour, answered or not."""
    return _calls_by_hour(conn, "cr.customer_id", "cr.customer_id = any(:ids)", {"ids": customer_ids})


def sub_branch_hours(conn: Connection, now: datetime) -> dict[uuid.UUID, dict[int, HourlyCalls]]:
    """Each sub-branch's recent calls by local hour, answered or not: the prior of its customers' hours."""
    return _calls_by_hour(conn, "rc.sub_branch_id", "cr.created_at >= :since",
                          {"since": now - timedelta(days=ANSWER_RATE_DAYS)})


# --- how good the score is, for the reports ------------------------------------------------------------


@dataclass(frozen=True)
class ScoreQuality:
    model: str | None  # the version in use
    kind: str | None  # trained, prior
    note: str
    held_out_auc: float | None  # the model's, at training
    closed_cases: int  # of the latest closed cases in scope with a score before closing
    auc: float | None  # their last scores against their outcomes
    deciles: list[rules.Decile]


def score_quality(session: Session, scope: ColumnElement[bool], last: int = QUALITY_CASES) -> ScoreQuality:
    """The score's quality on the reader's book: the latest closed cases' last scores against how
    they ended (AUC and a calibration table by decile), and the model in use."""
    model = current_model(session)
    rows = session.execute(
        select(LapseScore.score, RenewalCase.outcome).join(RenewalCase, RenewalCase.id == LapseScore.case_id)
        .where(scope, RenewalCase.outcome.in_(rules.LEARNT_OUTCOMES), LapseScore.scored_at <= RenewalCase.closed_at)
        .order_by(RenewalCase.closed_at.desc()).limit(last)).all()
    scores = [row.score for row in rows]
    lapsed = [row.outcome in rules.LAPSE_OUTCOMES for row in rows]
    auc = rules.auc(scores, lapsed)
    return ScoreQuality(
        model=model.version if model else None, kind=model.kind if model else None,
        note=model_note(model) if model else "尚未评分 / not scored yet",
        held_out_auc=model.held_out_auc if model else None, closed_cases=len(rows),
        auc=round(auc, 3) if auc is not None else None, deciles=rules.calibration(scores, lapsed))
