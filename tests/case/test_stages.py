"""The stage table (SPEC §2) is the one place a window's days are set: the calendar, the task
plan, the staff rules, the SMS wording and the console all follow an edit of it."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

import renewals.case.staff_rules as rules
from api.console.i18n import window_days
from renewals.case import contract as c
from renewals.case.calendar import late_entry, plan_renewal, windows_between
from renewals.case.contract import FollowUpStatus, Stage
from renewals.case.labels import stage_with_days
from renewals.case.stages import STAGE_TABLE, EntrySms, StageTable, StageTasks
from renewals.case.tasks import planned_tasks

EXPIRY = date(2027, 3, 1)
OWNER, DEPUTY = uuid.uuid4(), uuid.uuid4()


def edited(table: StageTable, stage: Stage, **change) -> StageTable:
    """A copy of `table` with one row changed."""
    return replace(table, rows=tuple(replace(row, **change) if row.stage is stage else row for row in table))


def second_contact_state() -> c.CaseState:
    return c.CaseState(case_id=uuid.uuid4(), policy_no="P", expiry_date=EXPIRY, stage=Stage.SECOND_CONTACT.value,
                       owner_id=OWNER, deputy_id=DEPUTY, escalated=False, last_status=None, outcome=None,
                       outcome_reason=None, new_policy_no=None, renewed_elsewhere=False, sms_opted_out=False)


def test_one_edit_of_a_windows_days_moves_the_calendar_the_tasks_the_staff_rules_and_the_console():
    earlier = edited(STAGE_TABLE, Stage.THIRD_CONTACT, opens=-22)  # the daily calls start two days earlier

    # The calendar: the third contact opens at 09:00 local on T-22, and the second contact ends there.
    plan, before = plan_renewal(EXPIRY, "Asia/Shanghai", table=earlier), plan_renewal(EXPIRY, "Asia/Shanghai")
    t_22 = datetime(2027, 2, 7, 1, tzinfo=UTC)  # 09:00 in Shanghai
    assert plan.window(Stage.THIRD_CONTACT).starts_at == plan.window(Stage.SECOND_CONTACT).ends_at == t_22
    assert (plan.stage_at(t_22), before.stage_at(t_22)) == (Stage.THIRD_CONTACT, Stage.SECOND_CONTACT)

    # The task plan: one call a day from T-22 (before: T-20) to T-11, the service manager's.
    case_id = uuid.uuid4()
    calls = planned_tasks(case_id, plan, Stage.THIRD_CONTACT, OWNER, DEPUTY)
    assert [(t.day, t.assignee_id) for t in calls] == [(day, OWNER) for day in range(-22, -10)]
    assert [t.day for t in planned_tasks(case_id, before, Stage.THIRD_CONTACT, OWNER, DEPUTY)] == list(range(-20, -10))

    # The staff rules: where failed/continue may be set starts with the third contact's new first day.
    refusal = rules.follow_up_refusal(OWNER, FollowUpStatus.failed, second_contact_state(), table=earlier)
    assert "only success is allowed before THIRD_CONTACT (T-22)" in refusal
    assert "(T-20)" in rules.follow_up_refusal(OWNER, FollowUpStatus.failed, second_contact_state())

    # The console's window days and the SMS's stage wording.
    assert window_days("zh", earlier) == {**window_days("zh"), "THIRD_CONTACT": "终保前22~11天"}
    assert stage_with_days(Stage.THIRD_CONTACT, table=earlier) == "第三次接触(终保前22~11天)"
    assert stage_with_days(Stage.THIRD_CONTACT, "en", table=earlier) == "Third contact (T-22 to T-11)"
    assert stage_with_days(Stage.THIRD_CONTACT) == "第三次接触(终保前20~11天)", "the table itself is unchanged"


def test_the_escalation_rule_and_whose_turn_it_is_are_the_tables():
    # A table where every case is supervised after the third contact, and the deputy opens the calls.
    always = edited(STAGE_TABLE, Stage.DEPUTY_SUPERVISION, escalated_only=False)
    plan = plan_renewal(EXPIRY, "Asia/Shanghai", table=always)
    assert plan.next_stage_after(Stage.THIRD_CONTACT, escalated=False)[0] is Stage.DEPUTY_SUPERVISION
    assert plan_renewal(EXPIRY, "Asia/Shanghai").next_stage_after(Stage.THIRD_CONTACT, escalated=False)[0] is (
        Stage.FINAL_CONTACT)

    assert windows_between(Stage.FIRST_CONTACT, Stage.FINAL_CONTACT, escalated=False, table=always) == (
        Stage.SECOND_CONTACT, Stage.THIRD_CONTACT, Stage.DEPUTY_SUPERVISION)

    deputy_calls = edited(STAGE_TABLE, Stage.FIRST_CONTACT, who="deputy")
    [task] = planned_tasks(uuid.uuid4(), plan_renewal(EXPIRY, "UTC", table=deputy_calls), Stage.FIRST_CONTACT,
                           OWNER, DEPUTY)
    assert task.assignee_id == DEPUTY and rules.turn(Stage.FIRST_CONTACT, OWNER, DEPUTY, deputy_calls) == DEPUTY


def test_the_sms_a_window_sends_on_entry_and_whether_it_may_go_late_are_the_tables():
    def fate(table: StageTable = STAGE_TABLE) -> tuple[list[str], list[str]]:
        [first] = late_entry([Stage.FIRST_CONTACT], Stage.SECOND_CONTACT, table)
        return [sms.template for sms in first.sent_late], [f"{sms.template}: {why}" for sms, why in first.not_sent]

    assert fate() == (["first_notice"], [])
    never_late = (EntrySms("first_notice", "customer"),)
    assert fate(edited(STAGE_TABLE, Stage.FIRST_CONTACT, entry_sms=never_late)) == (
        [], ["first_notice: too late in SECOND_CONTACT"])


@pytest.mark.parametrize("mistake, change", [
    ("windows must open on increasing days", dict(stage=Stage.SECOND_CONTACT, opens=-65)),
    ("windows must open on increasing days", dict(stage=Stage.POST_EXPIRY, opens=9)),  # after the last day, T+7
    ("SECOND_CONTACT's tasks are due outside its window",
     dict(stage=Stage.SECOND_CONTACT, tasks=StageTasks(c.TaskKind.call, until=-15))),
])
def test_a_table_whose_windows_or_tasks_do_not_fit_is_refused(mistake, change):
    stage = change.pop("stage")
    with pytest.raises(ValueError, match=mistake):
        edited(STAGE_TABLE, stage, **change)
