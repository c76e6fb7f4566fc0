"""Who may act on an open case, stage by stage (SPEC §2): the rules the workflow's validators and
the console's action list both read, tested on their own."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest

import renewals.case.staff_rules as rules
from renewals.case import contract as c
from renewals.case.contract import FollowUpStatus, Stage, TaskKind

OWNER, DEPUTY, STRANGER = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
SUCCESS, FAILED, CONTINUE = FollowUpStatus.success, FollowUpStatus.failed, FollowUpStatus.continue_
OWNERS_STAGES = [s for s in Stage if s is not Stage.DEPUTY_SUPERVISION]
NO_STATUS_BUT_SUCCESS = [Stage.WAITING, Stage.FIRST_CONTACT, Stage.SECOND_CONTACT, Stage.FINAL_CONTACT,
                         Stage.POST_EXPIRY]


def state(stage: Stage, **change) -> c.CaseState:
    values = dict(case_id=uuid.uuid4(), policy_no="P", expiry_date=date(2027, 1, 1), stage=stage.value,
                  owner_id=OWNER, deputy_id=DEPUTY, escalated=stage is Stage.DEPUTY_SUPERVISION, last_status=None,
                  outcome=None, outcome_reason=None, new_policy_no=None, renewed_elsewhere=False,
                  sms_opted_out=False)
    return c.CaseState(**{**values, **change})


def complaint(stage: Stage) -> c.OpenTask:
    return c.OpenTask(id=uuid.uuid4(), kind=TaskKind.complaint, assignee_id=DEPUTY, stage=stage,
                      opens_at=datetime(2026, 12, 1, tzinfo=UTC), due_at=datetime(2026, 12, 3, tzinfo=UTC))


@pytest.mark.parametrize("stage", OWNERS_STAGES)
def test_the_service_manager_works_the_case_in_every_stage_but_supervision(stage):
    assert rules.turn(stage, OWNER, DEPUTY) == OWNER
    assert rules.contact_refusal(OWNER, state(stage)) is None
    assert rules.sms_refusal(OWNER, state(stage)) is None
    refusal = rules.contact_refusal(DEPUTY, state(stage))
    assert refusal == f"not your case to act on in {stage}: only the case's service manager can"
    assert rules.sms_refusal(DEPUTY, state(stage)) == refusal
    assert rules.follow_up_refusal(DEPUTY, SUCCESS, state(stage)) == refusal


def test_under_supervision_the_deputy_works_the_case_and_the_manager_assists_with_contacts_and_success():
    supervised = state(Stage.DEPUTY_SUPERVISION)
    assert rules.turn(Stage.DEPUTY_SUPERVISION, OWNER, DEPUTY) == DEPUTY
    assert rules.contact_refusal(DEPUTY, supervised) is None
    assert rules.contact_refusal(OWNER, supervised) is None
    assert rules.follow_up_refusal(OWNER, SUCCESS, supervised) is None
    only_the_deputy = "not your case to act on in DEPUTY_SUPERVISION: only the deputy manager can"
    assert rules.follow_up_refusal(OWNER, FAILED, supervised) == only_the_deputy
    assert rules.sms_refusal(OWNER, supervised) == only_the_deputy
    assert rules.sms_refusal(DEPUTY, supervised) is None
    assert rules.contact_refusal(STRANGER, supervised) == only_the_deputy


@pytest.mark.parametrize("stage", list(Stage))
def test_success_can_be_set_in_every_stage(stage):
    assert rules.follow_up_refusal(rules.turn(stage, OWNER, DEPUTY), SUCCESS, state(stage)) is None


@pytest.mark.parametrize("stage", NO_STATUS_BUT_SUCCESS)
@pytest.mark.parametrize("status", [FAILED, CONTINUE])
def test_failed_and_continue_are_refused_outside_the_third_contact_and_supervision(stage, status):
    assert rules.follow_up_refusal(OWNER, status, state(stage)) == (
        f"status {status.value!r} cannot be set in {stage}: only success is allowed before THIRD_CONTACT (T-20) "
        f"and after DEPUTY_SUPERVISION")


@pytest.mark.parametrize("status", [FAILED, CONTINUE])
def test_the_manager_sets_failed_or_continue_in_the_third_contact_and_the_deputy_with_a_hand_over_note(status):
    assert rules.follow_up_refusal(OWNER, status, state(Stage.THIRD_CONTACT), noted=False) is None
    supervised = state(Stage.DEPUTY_SUPERVISION)
    assert rules.follow_up_refusal(DEPUTY, status, supervised) is None
    assert rules.follow_up_refusal(DEPUTY, status, supervised, noted=False) == (
        f"status {status.value!r} hands the case back to the service manager at T-7: add a hand-over note "
        f"(what was done, what to do next)")
    assert rules.follow_up_refusal(DEPUTY, SUCCESS, supervised, noted=False) is None


def test_after_renewed_elsewhere_only_success_and_the_managers_loss_reason_are_left():
    elsewhere = state(Stage.THIRD_CONTACT, renewed_elsewhere=True)
    assert rules.contact_refusal(OWNER, elsewhere) == c.NO_MORE_CONTACT
    assert rules.sms_refusal(OWNER, elsewhere) == c.NO_MORE_CONTACT
    assert rules.follow_up_refusal(OWNER, FAILED, elsewhere) == (
        "the customer renewed elsewhere: record the loss reason instead")
    assert rules.follow_up_refusal(OWNER, SUCCESS, elsewhere) is None
    assert rules.renewed_elsewhere_refusal(OWNER, elsewhere) == "renewed elsewhere was already reported for this case"
    assert rules.loss_reason_refusal(OWNER, elsewhere) is None
    assert rules.loss_reason_refusal(DEPUTY, state(Stage.DEPUTY_SUPERVISION, renewed_elsewhere=True)) == (
        "not your case to act on in DEPUTY_SUPERVISION: only the deputy manager can")
    assert rules.loss_reason_refusal(OWNER, state(Stage.THIRD_CONTACT)) == (
        "a loss reason can only be recorded after renewed elsewhere is reported")


def test_renewed_elsewhere_is_reported_by_the_manager_whoever_has_the_turn_or_the_core_system():
    assert rules.renewed_elsewhere_refusal(OWNER, state(Stage.FIRST_CONTACT)) is None
    assert rules.renewed_elsewhere_refusal(OWNER, state(Stage.DEPUTY_SUPERVISION)) is None
    assert rules.renewed_elsewhere_refusal(DEPUTY, state(Stage.DEPUTY_SUPERVISION)) is None
    assert rules.renewed_elsewhere_refusal(DEPUTY, state(Stage.FIRST_CONTACT)) == (
        "not your case to act on in FIRST_CONTACT: only the case's service manager can")
    assert rules.renewed_elsewhere_refusal(STRANGER, state(Stage.POST_EXPIRY), by_system=True) is None


def test_an_open_complaint_lets_the_deputy_record_contacts_in_any_stage_but_not_send_sms():
    with_complaint = state(Stage.FIRST_CONTACT, open_tasks=[complaint(Stage.FIRST_CONTACT)])
    assert rules.contact_refusal(DEPUTY, with_complaint) is None
    assert rules.sms_refusal(DEPUTY, with_complaint) is not None
    assert rules.contact_refusal(STRANGER, with_complaint) is not None


def test_no_staff_sms_to_a_customer_on_the_do_not_call_list_or_opted_out():
    assert rules.sms_refusal(OWNER, state(Stage.FINAL_CONTACT, no_contact=True)) == (
        "the customer refused all contact (do-not-call list): no SMS and no calls")
    assert rules.sms_refusal(OWNER, state(Stage.FINAL_CONTACT, sms_opted_out=True)) == (
        "the customer opted out of SMS (退订); call instead")


def test_role_system_is_accepted_only_from_the_systems_own_actors():
    made_up = c.Actor(id=uuid.uuid4(), role=c.ActorRole.system)
    assert f"{made_up.id} is not the system's own actor" in rules.actor_refusal(made_up)
    assert rules.actor_refusal(c.INTAKE_ACTOR) is None
    assert rules.actor_refusal(c.Actor(id=OWNER, role=c.ActorRole.sales)) is None


def test_only_a_service_manager_covers_another_and_then_acts_in_their_turn():
    cover = c.Actor(id=STRANGER, role=c.ActorRole.sales, covering_for=OWNER)
    assert rules.actor_refusal(cover) is None
    assert rules.contact_refusal(cover.acts_as, state(Stage.FIRST_CONTACT)) is None
    assert rules.actor_refusal(c.Actor(id=DEPUTY, role=c.ActorRole.deputy, covering_for=OWNER)) is not None
    assert rules.actor_refusal(c.Actor(id=OWNER, role=c.ActorRole.sales, covering_for=OWNER)) is not None
