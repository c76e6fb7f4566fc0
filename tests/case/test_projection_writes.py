"""What one projection write does to the case row: the stage's entry time moves only with the
stage, an outcome sets the closing time, a retried older write undoes nothing newer, and what
other parts of the system keep on the row (the proposal, the quote wish, the archive mark) stays."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update
from sqlmodel import Session

from activities.projection import CaseProjection
from models import RenewalCase, Role
from renewals.case.contract import CaseChange, CaseSnapshot, case_id_for
from renewals.dev.seed import create_policy
from renewals.org.service import add_org, add_staff
from tests.scenario import unique_phone

TZ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 8, 1, 9, tzinfo=TZ)


@pytest.fixture
def snapshot(engine) -> CaseSnapshot:
    suffix = uuid.uuid4().hex[:6]
    with Session(engine, expire_on_commit=False) as session:
        add_org(session, branch_code=f"P{suffix}", branch_name="上海分公司", sub_branch_code=f"Q{suffix}",
                sub_branch_name="黄浦支公司")
        owner, deputy = (add_staff(session, username=f"{role}-{suffix}", name="李四", role=role, phone=unique_phone(),
                                   sub_branch_code=f"Q{suffix}") for role in (Role.sales, Role.deputy))
        policy = create_policy(session, policy_no=f"PRJ{uuid.uuid4().int % 10**12:012d}",
                               sub_branch_id=owner.sub_branch_id, owner_id=owner.id, expires_on=date(2026, 10, 1),
                               customer_name="钱多多", phone=unique_phone(), id_number="310101199001011234",
                               plate="沪A00001").policy
        session.commit()
    workflow_id = f"renewal-{policy.policy_no}"
    return CaseSnapshot(case_id=case_id_for(workflow_id), workflow_id=workflow_id, policy_no=policy.policy_no,
                        expiry_date=date(2026, 10, 1), timezone="Asia/Shanghai", stage="FIRST_CONTACT",
                        owner_id=owner.id, deputy_id=deputy.id)


def row(engine, case: CaseSnapshot) -> RenewalCase:
    with Session(engine) as session:
        return session.exec(select(RenewalCase).where(RenewalCase.id == case.case_id)).scalar_one()


def test_the_stage_entry_moves_with_the_stage_only_and_an_outcome_closes_the_case(engine, snapshot):
    projection = CaseProjection(engine)
    projection.apply(snapshot.workflow_id, CaseChange(at=T0, case=snapshot, revision=1))
    projection.apply(snapshot.workflow_id, CaseChange(at=T0 + timedelta(days=1), revision=2, changed={"escalated": True}))
    written = row(engine, snapshot)
    assert (written.stage_entered_at, written.escalated, written.closed_at) == (T0, True, None)
    projection.apply(snapshot.workflow_id, CaseChange(at=T0 + timedelta(days=2), revision=3, changed={"stage": "SECOND_CONTACT"}))
    assert row(engine, snapshot).stage_entered_at == T0 + timedelta(days=2)
    closed = T0 + timedelta(days=3)
    projection.apply(snapshot.workflow_id, CaseChange(at=closed, revision=4, changed={"outcome": "RENEWED"}))
    written = row(engine, snapshot)
    assert (written.stage_entered_at, written.closed_at, written.outcome, written.revision) == (
        T0 + timedelta(days=2), closed, "RENEWED", 4)


def test_a_retried_older_write_undoes_nothing_newer(engine, snapshot):
    projection = CaseProjection(engine)
    projection.apply(snapshot.workflow_id, CaseChange(at=T0, case=snapshot, revision=1))
    newer = CaseSnapshot(**{**snapshot.__dict__, "stage": "SECOND_CONTACT", "escalated": True})
    projection.apply(snapshot.workflow_id, CaseChange(at=T0 + timedelta(days=2), case=newer, revision=3))
    projection.apply(snapshot.workflow_id, CaseChange(at=T0 + timedelta(days=1), case=snapshot, revision=2))  # a late retry
    written = row(engine, snapshot)
    assert (written.stage, written.escalated, written.updated_at, written.revision) == (
        "SECOND_CONTACT", True, T0 + timedelta(days=2), 3)


def test_a_write_keeps_what_others_keep_on_the_case_row(engine, snapshot):
    projection = CaseProjection(engine)
    projection.apply(snapshot.workflow_id, CaseChange(at=T0, case=snapshot, revision=1))
    archived = T0 + timedelta(hours=1)
    with engine.begin() as conn:
        conn.execute(update(RenewalCase).where(RenewalCase.id == snapshot.case_id).values(
            proposal_no="TDAA202608010001", quote_wish="wants_quote", history_archived_at=archived))
    projection.apply(snapshot.workflow_id, CaseChange(at=T0 + timedelta(days=1), case=snapshot, revision=2))
    written = row(engine, snapshot)
    assert (written.proposal_no, written.quote_wish, written.history_archived_at) == (
        "TDAA202608010001", "wants_quote", archived)
