"""A renewal team's first days with the seed's daily rules, run for real in skipped time: a case
imported mid-window has no task before it existed, escalation only on an explicit `failed`, the
deputy assists the salesperson under supervision, and an SMS or a call handles the day where the
seed says so."""

from __future__ import annotations

import pytest

from renewals.audit.archive import case_timeline
from renewals.core.settings import Settings
from renewals.case.start import update_case
from tests.scenario import Case, Scenario
from renewals.case import contract as c

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def staff_sms(case: Case, template: c.StaffSmsTemplate) -> c.SmsDecision:
    return await update_case(case.handle, "send_customer_sms", c.SendCustomerSms(actor=case.actor(), template=template),
                             c.SmsDecision)


async def test_a_case_imported_at_t15_has_no_task_before_it_started(sc: Scenario):
    case = await sc.start(days_to_expiry=15)
    await sc.sleep_until(case.at(-14, 10))
    assert [t.day for t in sc.tasks(case)] == list(range(-15, -10))
    state = await case.state()
    assert [t.day for t in state.open_tasks] == [-14]
    timeline = await case_timeline(sc.env.client, sc.engine, case.handle.id, identities_masked=True,
                                   now=await sc.now())
    assert timeline.events[0].kind == "case_started"
    missed = [e.t_day for e in timeline.events if e.kind == "task_missed"]
    assert missed == ["T-14"], "only T-15, the day the case started and nobody handled, is missed"
    await case.update("set_follow_up", c.SetFollowUp(actor=case.actor(), status=c.FollowUpStatus.success,
                                                     new_policy_no="PDAA2027MID"))
    await case.handle.result()
    sc.save_history(case, "started_mid_window")


async def test_with_the_default_setting_an_unattended_case_stays_with_its_manager(sc: Scenario):
    case = await sc.start(days_to_expiry=62, escalate_without_status=Settings(_env_file=None).escalate_without_status)
    await sc.sleep_until(case.at(-10, 9, 1))
    state = await case.state()
    assert (state.stage, state.escalated) == ("THIRD_CONTACT", False)
    assert sc.sms_to(case.deputy_phone) == []
    await sc.sleep_until(case.at(-7, 9, 1))
    assert (await case.state()).stage == "FINAL_CONTACT"
    assert not [t for t in sc.tasks(case) if t.kind == "supervision"]


async def test_a_call_handles_a_third_contact_day_and_a_staff_sms_handles_a_day_after_expiry(sc: Scenario):
    case = await sc.start(days_to_expiry=62, escalate_without_status=False)
    await sc.sleep_until(case.at(-15, 10))
    await case.update("record_contact", c.RecordContact(actor=case.actor(), channel=c.Channel.sms,
                                                        result=c.ContactResult.reached))
    await staff_sms(case, c.StaffSmsTemplate.service_request)
    assert [t.day for t in (await case.state()).open_tasks] == [-15], "T-20…T-11: 每天电话联系, only a call handles it"
    state = await case.update("record_contact", c.RecordContact(actor=case.actor(), channel=c.Channel.call,
                                                                result=c.ContactResult.no_answer))
    assert state.open_tasks == []

    await sc.sleep_until(case.at(2, 10))
    assert [t.day for t in (await case.state()).open_tasks] == [2]
    decision = await staff_sms(case, c.StaffSmsTemplate.service_request)
    assert decision.status in ("sent", "queued")
    assert (await case.state()).open_tasks == [], "after expiry: 电话或短信, the SMS handles the day"
    [day_two] = [t for t in sc.tasks(case) if t.day == 2]
    assert (day_two.state, day_two.handled_by, day_two.handled_result) == ("done", case.owner_id,
                                                                           "sms:service_request")
    sc.save_history(case, "sms_handles_a_day_after_expiry")
