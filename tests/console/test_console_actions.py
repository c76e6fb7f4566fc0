"""Which actions the case page offers (the workflow still decides; the page only leaves off what
would certainly be refused)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import get_args

from api.console.i18n import ENUMS, TEXT
from api.console.routes import allowed_actions
from models import QuoteWish, RenewalCase, Role, SigningIntent, Staff
from renewals.case.contract import Outcome, Stage, TaskKind
from renewals.intake.service import JobStatus
from renewals.case import contract as c

OWNER, DEPUTY = uuid.uuid4(), uuid.uuid4()
CASE = RenewalCase(id=uuid.uuid4(), workflow_id="w", policy_id=uuid.uuid4(), policy_no="P",
                   expiry_date=date(2027, 1, 1), timezone="Asia/Shanghai", sub_branch_id=uuid.uuid4(),
                   stage="THIRD_CONTACT", owner_id=OWNER, deputy_id=DEPUTY)


def _state(stage: str, **change) -> c.CaseState:
    values = dict(case_id=CASE.id, policy_no="P", expiry_date=CASE.expiry_date, stage=stage, owner_id=OWNER,
                  deputy_id=DEPUTY, escalated=False, last_status=None, outcome=None, outcome_reason=None,
                  new_policy_no=None, renewed_elsewhere=False, sms_opted_out=False)
    return c.CaseState(**{**values, **change})


def _staff(staff_id: uuid.UUID, role: Role) -> Staff:
    return Staff(id=staff_id, username="u", name="n", role=role, phone="+8613800000000")


owner, deputy = _staff(OWNER, Role.sales), _staff(DEPUTY, Role.deputy)


def test_the_manager_sets_failed_or_continue_only_in_third_contact_and_the_deputy_assists_in_supervision():
    assert allowed_actions(owner, CASE, _state("FIRST_CONTACT")).follow_up == ("success",)
    assert allowed_actions(owner, CASE, _state("THIRD_CONTACT")).follow_up == ("success", "failed", "continue")
    supervised = _state("DEPUTY_SUPERVISION")
    # The deputy assists (协助): the manager still records contacts and success.
    assert allowed_actions(owner, CASE, supervised).follow_up == ("success",)
    assert allowed_actions(owner, CASE, supervised).contact
    assert allowed_actions(deputy, CASE, supervised).follow_up == ("success", "failed", "continue")
    assert not allowed_actions(deputy, CASE, _state("THIRD_CONTACT")).contact


def test_a_complaint_lets_the_deputy_record_contacts_in_any_stage():
    complaint = c.OpenTask(id=uuid.uuid4(), kind="complaint", assignee_id=DEPUTY, stage="FIRST_CONTACT",
                           opens_at=datetime(2026, 11, 1, tzinfo=UTC), due_at=datetime(2026, 11, 3, tzinfo=UTC))
    allowed = allowed_actions(deputy, CASE, _state("FIRST_CONTACT", open_tasks=[complaint]))
    assert allowed.contact and not allowed.sms and allowed.follow_up == ()


def test_after_renewed_elsewhere_only_the_loss_reason_is_left_and_a_closed_case_offers_nothing():
    elsewhere = allowed_actions(owner, CASE, _state("FINAL_CONTACT", renewed_elsewhere=True))
    assert (elsewhere.contact, elsewhere.sms, elsewhere.renewed_elsewhere, elsewhere.loss_reason) == (
        False, False, False, True)
    assert elsewhere.follow_up == ("success",)
    closed = allowed_actions(owner, CASE, _state("FINAL_CONTACT", outcome="RENEWED"))
    assert not any((closed.contact, closed.sms, closed.follow_up, closed.renewed_elsewhere, closed.loss_reason,
                    closed.phone))
    reader = allowed_actions(_staff(uuid.uuid4(), Role.manager), CASE, _state("THIRD_CONTACT"))
    assert not any((reader.contact, reader.follow_up, reader.phone))
    assert not allowed_actions(owner, CASE, _state("THIRD_CONTACT", sms_opted_out=True)).sms


def test_every_business_value_a_page_shows_has_words_in_both_languages():
    """A value added to the contract (a contact result, a task kind, an insurer) must not reach a
    page as its raw code."""
    values = [*c.ContactResult, *c.FollowUpStatus, *c.LossReason, *c.Channel, *c.StaffSmsTemplate, *Stage, *Outcome]
    keys = [*(v.value for v in values), *(f"task_kind.{k.value}" for k in TaskKind),
            *(f"insurer.{i.value}" for i in c.Insurer), *(f"import.{s}" for s in get_args(JobStatus)),
            *(f"quote_wish.{w.value}" for w in QuoteWish), *(f"signing_intent.{i.value}" for i in SigningIntent)]
    untranslated = [key for key in keys if key not in TEXT and key not in ENUMS]
    assert not untranslated, f"no words for {untranslated}"


def test_a_customer_who_refused_all_contact_is_offered_no_sms_button():
    """The workflow refuses a staff SMS to a do-not-call customer; the page no longer offers it."""
    refused_all = _state("THIRD_CONTACT", no_contact=True)
    assert not allowed_actions(owner, CASE, refused_all).sms
    assert allowed_actions(owner, CASE, refused_all).follow_up == ("success", "failed", "continue")


def test_a_cover_is_offered_what_the_absent_manager_would_be():
    cover = _staff(uuid.uuid4(), Role.sales)
    assert not allowed_actions(cover, CASE, _state("THIRD_CONTACT")).contact
    covering = allowed_actions(cover, CASE, _state("THIRD_CONTACT"), covering_for=CASE.owner_id)
    assert covering.contact and covering.follow_up == ("success", "failed", "continue")
    assert not covering.phone, "the customer's phone stays the owner's to correct"
