"""The seed's renewal process, end to end, in skipped time (SPEC §2; issue acceptance a–p).

Each test runs the real PolicyRenewal workflow and the real activities against PostgreSQL and
the fake Twilio server, moves the clock to days of the renewal calendar, and checks what staff
and customers would see: stage, outcome, tasks and the SMS that went out (to whom, when).
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import time, timedelta

import pytest
from sqlmodel import Session
from temporalio.api.history.v1 import History
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import WithStartWorkflowOperation, WorkflowHistory
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.testing import ActivityEnvironment

from activities.notifications import Notifications
from renewals.case.calendar import morning_sms_time, night_wake
from renewals.case.contract import SmsRequest
from renewals.case.stages import STAGE_TABLE
from renewals.reports import queries as reports
from renewals.case.start import CaseRejected
from renewals.audit.history import history_cost
from renewals.core.notify import TwilioNotifier
from renewals.reports.rules import Period
from tests.scenario import Case, Scenario, eventually
from worker import build_worker
from renewals.case import contract as c
from workflows.renewal import ACTIVITY_TIMEOUT

pytestmark = pytest.mark.asyncio(loop_scope="session")




def tasks_summary(sc: Scenario, case: Case) -> list[tuple[str, str, int | None, str]]:
    """(kind, assignee, day, state) per task, in opening order."""
    who = {case.owner_id: "owner", case.deputy_id: "deputy"}
    return [(t.kind, who.get(t.assignee_id, str(t.assignee_id)), t.day, t.state) for t in sc.tasks(case)]


def sms_log(sc: Scenario, case: Case) -> list[tuple[str, str, str]]:
    """(template, recipient, local time sent) of every SMS the case sent."""
    return [(r.template, r.recipient, f"{r.sent_at.astimezone(case.at(0).tzinfo):%m-%d %H:%M}" if r.sent_at else "-")
            for r in sc.sms_records(case)]


async def rejected(case: Case, name: str, payload) -> str:
    with pytest.raises(CaseRejected) as info:
        await case.update(name, payload)
    return info.value.reason


def follow_up(case: Case, status: c.FollowUpStatus, who: str = "owner", **kw) -> c.SetFollowUp:
    return c.SetFollowUp(actor=case.actor(who), status=status, **kw)


async def test_a_success_in_first_contact_renews_and_cancels_tasks(sc: Scenario):
    case = await sc.start(days_to_expiry=62)
    await sc.sleep_until(case.at(-60, 10))
    assert tasks_summary(sc, case) == [("call", "owner", -60, "open")]
    [first_notice] = sc.sms_to(case.customer_phone)
    assert case.owner_name in first_notice and case.owner_phone[3:] in first_notice and "还有60天左右" in first_notice

    state = await case.update("set_follow_up", follow_up(case, c.FollowUpStatus.success, new_policy_no="PDAA2027NEW"))
    assert (state.outcome, state.new_policy_no, state.open_tasks) == ("RENEWED", "PDAA2027NEW", [])
    assert (await case.handle.result()).outcome == "RENEWED"
    assert tasks_summary(sc, case) == [("call", "owner", -60, "done")]
    await sc.sleep_until(case.at(-7, 12))
    assert len(sc.sms_to(case.customer_phone)) == 1, "no SMS after the case is renewed"
    row = sc.case_row(case)
    assert (row.outcome, row.outcome_stage, row.new_policy_no) == ("RENEWED", "FIRST_CONTACT", "PDAA2027NEW")
    sc.save_history(case, "renewed_in_first_contact")


async def test_b_policy_renewed_signal_at_t_minus_15(sc: Scenario):
    case = await sc.start(days_to_expiry=62)
    await sc.sleep_until(case.at(-15, 11))
    assert (await case.state()).stage == "THIRD_CONTACT"
    await case.handle.signal("policy_renewed", c.PolicyRenewed(new_policy_no="PDAA2027CORE"))
    result = await case.handle.result()
    assert (result.outcome, result.new_policy_no) == ("RENEWED", "PDAA2027CORE")
    states = [t[3] for t in tasks_summary(sc, case)]
    # FIRST, SECOND and T-20..T-16 were missed; today's and later daily tasks are cancelled.
    assert states == ["expired"] * 7 + ["cancelled"] * 5


async def test_c_failed_escalates_to_deputy_who_renews(sc: Scenario):
    case = await sc.start(days_to_expiry=62)
    await sc.sleep_until(case.at(-18, 10))
    state = await case.update("set_follow_up", follow_up(case, c.FollowUpStatus.failed))
    assert state.last_status == c.FollowUpStatus.failed and not state.escalated
    await sc.sleep_until(case.at(-10, 8, 59))
    assert sc.sms_to(case.deputy_phone) == []
    await sc.sleep_until(case.at(-10, 9, 1))
    state = await case.state()
    assert (state.stage, state.escalated) == ("DEPUTY_SUPERVISION", True)
    [alert] = sc.sms_to(case.deputy_phone)
    assert case.customer_name in alert and case.owner_name in alert
    assert ("deputy_escalation", "deputy", f"{case.at(-10):%m-%d} 09:00") in sms_log(sc, case)
    [supervision] = [t for t in sc.tasks(case) if t.kind == "supervision"]
    assert (supervision.assignee_id, supervision.opens_at, supervision.due_at) == (
        case.deputy_id, case.at(-10), case.at(-7, 0))
    # The deputy assists: the status is theirs to set until T-7 (the manager may still renew).
    assert "deputy" in await rejected(case, "set_follow_up", follow_up(case, c.FollowUpStatus.continue_))
    state = await case.update("set_follow_up", follow_up(case, c.FollowUpStatus.success, "deputy",
                                                         new_policy_no="PDAA2027DEP"))
    assert state.outcome == "RENEWED"
    assert [t for t in tasks_summary(sc, case) if t[0] == "supervision"] == [("supervision", "deputy", -10, "done")]
    sc.save_history(case, "deputy_renews_after_failed")


async def test_d_and_p_longest_path_lapses_with_small_clean_history(sc: Scenario):
    case = await sc.start(days_to_expiry=62)
    await sc.sleep_until(case.at(-18, 10))
    await case.update("set_follow_up", follow_up(case, c.FollowUpStatus.failed))
    await sc.sleep_until(case.at(-9, 10))
    await case.update("set_follow_up", follow_up(case, c.FollowUpStatus.continue_, "deputy",
                                                 note_id=sc.note(case, case.deputy_id, "已协助,请继续跟进")))
    await sc.sleep_until(case.at(-7, 9, 1))
    assert (await case.state()).stage == "FINAL_CONTACT"
    assert [(t, r) for t, r, _ in sms_log(sc, case)][-2:] == [("manager_final_reminder", "owner"),
                                                             ("final_notice", "customer")]
    assert len(sc.sms_to(case.owner_phone)) == 1 and len(sc.sms_to(case.customer_phone)) == 2
    await sc.sleep_until(case.at(7, 23, 59))
    state = await case.state()
    assert (state.stage, state.outcome) == ("POST_EXPIRY", None), "still open until the end of T+7"
    assert [(t.kind, t.day) for t in state.open_tasks] == [("call", 7)]
    await sc.sleep_until(case.at(8, 0, 1))
    result = await case.handle.result()
    assert (result.outcome, result.stage) == ("LAPSED", "POST_EXPIRY")
    tasks = tasks_summary(sc, case)
    final = [t for t in tasks if t[0] == "call" and t[2] is not None and -7 <= t[2] <= -1]
    post = [t for t in tasks if t[0] == "call" and t[2] is not None and 1 <= t[2] <= 7]
    assert [t[2] for t in final] == list(range(-7, 0)) and [t[2] for t in post] == list(range(1, 8))
    # The two handled tasks are done; every other one passed unhandled and counts as missed.
    assert [(t[0], t[2]) for t in tasks if t[3] != "expired"] == [("call", -18), ("supervision", -10)]
    assert {t[3] for t in tasks if (t[0], t[2]) in {("call", -18), ("supervision", -10)}} == {"done"}
    [post_first] = [t for t in sc.tasks(case) if t.day == 1]
    assert (post_first.opens_at, post_first.due_at) == (case.at(1), case.at(2, 0))
    assert sc.case_row(case).outcome == "LAPSED"

    history = await case.handle.fetch_history()
    assert len(history.events) < 1000
    # Payloads are bytes inside the protobuf: search the serialised history for every spelling.
    raw = History(events=history.events).SerializeToString()
    assert b"PDAA" in raw and str(case.owner_id).encode() in raw  # the scan does see payloads
    for personal in (case.customer_phone, case.customer_phone[3:], case.customer_name, case.plate):
        for spelling in (personal.encode(), json.dumps(personal).encode()):
            assert spelling not in raw, f"{personal!r} leaked into the workflow history"
    sc.save_history(case, "lapsed_after_deputy_continue")


async def test_longest_path_without_staff_actions_stays_within_the_cost_budget(sc: Scenario):
    case = await sc.start(days_to_expiry=62)  # unattended: escalated at T-10, lapses after T+7
    await sc.sleep_until(case.at(8, 0, 1))
    result = await case.handle.result()
    assert (result.outcome, result.escalated) == ("LAPSED", True)
    cost = history_cost(await case.handle.fetch_history())
    assert cost.actions <= 28, cost
    assert cost.history_bytes <= 12 * 1024, cost
    assert len(sc.sms_to(case.customer_phone)) == 2 and len(sc.sms_to(case.deputy_phone)) == 1
    sc.save_history(case, "lapsed_unattended")


async def test_a_staff_action_costs_an_update_and_its_write(sc: Scenario):
    """The day's call recorded: the update and its projection write, no timer waiting for the write,
    and a small answer and write in the history."""
    case = await sc.start(days_to_expiry=62)
    await sc.sleep_until(case.at(-18, 10))
    state = await case.update("record_contact", c.RecordContact(actor=case.actor(), channel=c.Channel.call,
                                                                result=c.ContactResult.no_answer))
    assert [t.day for t in state.open_tasks] == [] and [t[3] for t in tasks_summary(sc, case) if t[2] == -18] == ["done"]

    async def write_learnt():
        """The history once the workflow task that learnt the write was done has completed too."""
        history = await case.handle.fetch_history()
        events = history.events
        accepted = next(i for i, e in enumerate(events)
                        if e.HasField("workflow_execution_update_accepted_event_attributes"))
        written = next((i for i, e in enumerate(events)
                        if i > accepted and e.HasField("activity_task_completed_event_attributes")), None)
        assert written is not None, "the write is not done yet"
        learnt = next((i for i, e in enumerate(events)
                       if i > written and e.HasField("workflow_task_completed_event_attributes")), None)
        assert learnt is not None, "the workflow has not taken the write's completion yet"
        return history, events, accepted, learnt

    history, events, accepted, learnt = await eventually(write_learnt)
    # From the workflow task that took the update to the one that learnt its write was done.
    cost = history_cost(WorkflowHistory(history.workflow_id, events[accepted - 3:learnt + 1]))
    assert (cost.actions, cost.by_kind) == (2, {"update": 1, "activity": 1}), cost
    assert cost.history_bytes <= 1200, cost


async def test_e_no_status_escalates_unless_the_setting_is_off(sc: Scenario):
    unattended = await sc.start(days_to_expiry=62)
    lenient = await sc.start(days_to_expiry=62, escalate_without_status=False)
    await sc.sleep_until(unattended.at(-10, 9, 1))
    assert (await unattended.state()).escalated is True
    assert (await unattended.state()).stage == "DEPUTY_SUPERVISION"
    assert len(sc.sms_to(unattended.deputy_phone)) == 1
    state = await lenient.state()
    assert (state.stage, state.escalated) == ("THIRD_CONTACT", False)
    await sc.sleep_until(lenient.at(-7, 9, 1))
    assert (await lenient.state()).stage == "FINAL_CONTACT"
    assert sc.sms_to(lenient.deputy_phone) == []
    sc.save_history(unattended, "escalated_without_status")


async def test_f_continue_skips_the_deputy(sc: Scenario):
    case = await sc.start(days_to_expiry=62)
    await sc.sleep_until(case.at(-12, 15))
    await case.update("set_follow_up", follow_up(case, c.FollowUpStatus.continue_))
    await sc.sleep_until(case.at(-10, 12))
    assert (await case.state()).stage == "THIRD_CONTACT"
    await sc.sleep_until(case.at(-7, 9, 1))
    state = await case.state()
    assert (state.stage, state.escalated) == ("FINAL_CONTACT", False)
    assert sc.sms_to(case.deputy_phone) == [] and not [t for t in sc.tasks(case) if t.kind == "supervision"]
    [today] = [t for t in state.open_tasks if t.opens_at <= case.at(-7, 9, 1)]
    assert (today.day, today.assignee_id) == (-7, case.owner_id)


async def test_g_renewed_elsewhere_asks_for_the_reason(sc: Scenario):
    told = await sc.start(days_to_expiry=62)
    silent = await sc.start(days_to_expiry=62)
    await sc.sleep_until(told.at(-3, 10))
    for case in (told, silent):
        state = await case.update("report_renewed_elsewhere", c.ReportRenewedElsewhere(
            actor=case.actor(), insurer=c.Insurer.ping_an))
        assert state.renewed_elsewhere and [t.kind for t in state.open_tasks] == ["loss_reason"]

        def asked(case=case):  # the staff SMS follows the action's answer
            request = "".join(sc.sms_to(case.owner_phone)[-1:])
            assert "价格" in request and "理赔" in request and "人情" in request
            assert sms_log(sc, case)[-1] == ("loss_reason_request", "owner", f"{case.at(-3):%m-%d} 10:00")
        await eventually(asked)
    customer_sms_before = len(sc.sms_to(told.customer_phone))
    assert "no more contact" in await rejected(told, "record_contact", c.RecordContact(
        actor=told.actor(), channel=c.Channel.call, result=c.ContactResult.reached))
    state = await told.update("record_loss_reason", c.RecordLossReason(actor=told.actor(), reason=c.LossReason.price))
    assert (state.outcome, state.outcome_reason) == ("LOST", "price")
    assert [t[3] for t in tasks_summary(sc, told) if t[0] == "loss_reason"] == ["done"]
    assert sc.case_row(told).lost_to_insurer == "ping_an"

    await sc.sleep_until(silent.at(8, 0, 1))
    result = await silent.handle.result()
    assert (result.outcome, result.outcome_reason) == ("LOST", "unknown")
    assert [t[3] for t in tasks_summary(sc, silent) if t[0] == "loss_reason"] == ["expired"]
    assert len(sc.sms_to(told.customer_phone)) == customer_sms_before, "no customer contact after the report"
    sc.save_history(silent, "lost_without_reason")


async def test_h_complaint_alerts_the_deputy_at_once(sc: Scenario):
    case = await sc.start(days_to_expiry=62)
    await sc.sleep_until(case.at(-55, 14, 30))
    state = await case.update("record_contact", c.RecordContact(
        actor=case.actor(), channel=c.Channel.call, result=c.ContactResult.complaint))
    assert state.stage == "FIRST_CONTACT"

    def alerted():  # in the action's own workflow task; the SMS itself follows the answer
        alerts = sc.sms_to(case.deputy_phone)
        assert len(alerts) == 1 and case.customer_name in alerts[0] and case.owner_name in alerts[0]
    await eventually(alerted)
    [complaint] = [t for t in state.open_tasks if t.kind == "complaint"]
    assert complaint.assignee_id == case.deputy_id
    assert timedelta(0) <= complaint.opens_at - case.at(-55, 14, 30) < timedelta(minutes=1)
    assert complaint.due_at == case.at(-53, 0), "due by the end of the next day"
    assert tasks_summary(sc, case) == [("call", "owner", -60, "done"), ("complaint", "deputy", None, "open")]
    # The deputy handles it by recording their own contact with the customer.
    state = await case.update("record_contact", c.RecordContact(
        actor=case.actor("deputy"), channel=c.Channel.call, result=c.ContactResult.reached))
    assert [t.kind for t in state.open_tasks] == [] and state.stage == "FIRST_CONTACT"
    sc.save_history(case, "complaint_in_first_contact")


async def test_i_opt_out_stops_customer_sms_only(sc: Scenario):
    case = await sc.start(days_to_expiry=62)
    await sc.sleep_until(case.at(-59))
    assert len(sc.sms_to(case.customer_phone)) == 1
    await case.handle.signal("opted_out")
    await sc.sleep_until(case.at(-7, 9, 1))
    assert len(sc.sms_to(case.customer_phone)) == 1, "no customer SMS after opting out"
    assert len(sc.sms_to(case.owner_phone)) == 1, "the manager's reminder still goes out"
    assert (await case.state()).sms_opted_out


async def test_j_customer_sms_in_quiet_hours_waits_until_eight(sc: Scenario):
    await sc.sleep_until(await sc.next_local(22))
    case = await sc.start(days_to_expiry=50)  # already inside FIRST_CONTACT: the notice is due now, at 22:00
    await sc.sleep_until(case.at(-49, 7, 59))
    assert (await case.state()).stage == "FIRST_CONTACT"
    assert sc.sms_to(case.customer_phone) == []
    await sc.sleep_until(case.at(-49, 8, 1))
    assert len(sc.sms_to(case.customer_phone)) == 1
    assert sms_log(sc, case) == [("first_notice", "customer", f"{case.at(-49):%m-%d} 08:00")]


async def test_k_reassignment_moves_tasks_and_later_sms_name_the_new_manager(sc: Scenario):
    case = await sc.start(days_to_expiry=62)
    newcomer = sc.add_sales("赵六")
    await sc.sleep_until(case.at(-28, 10))
    assert "admin" in await rejected(case, "reassign", c.Reassign(actor=case.actor(), new_owner_id=newcomer.id,
                                                                  reason="离职"))
    state = await case.update("reassign", c.Reassign(actor=case.actor("admin"), new_owner_id=newcomer.id,
                                                     reason="离职"))
    assert state.owner_id == newcomer.id
    assert [t.assignee_id for t in state.open_tasks] == [newcomer.id]
    [second] = [t for t in sc.tasks(case) if t.stage == "SECOND_CONTACT"]
    assert (second.assignee_id, second.state) == (newcomer.id, "open")
    assert "service manager" in await rejected(case, "record_contact", c.RecordContact(
        actor=case.actor(), channel=c.Channel.call, result=c.ContactResult.reached))
    await sc.sleep_until(case.at(-7, 9, 1))
    assert sc.sms_to(case.owner_phone) == []
    [reminder] = sc.sms_to(newcomer.phone)
    final_notice = sc.sms_to(case.customer_phone)[-1]
    assert "赵六" in final_notice and newcomer.phone[3:] in final_notice and case.owner_name not in final_notice
    assert sc.case_row(case).owner_id == newcomer.id
    sc.save_history(case, "reassigned_in_second_contact")


async def test_l_expiry_change_replans_every_later_window(sc: Scenario):
    case = await sc.start(days_to_expiry=62)
    await sc.sleep_until(case.at(-40, 10))
    new_expiry = case.inp.expiry_date + timedelta(days=30)
    await case.handle.signal("expiry_changed", c.ExpiryChanged(new_expiry_date=new_expiry))
    await sc.sleep_until(case.at(-40, 10, 1))
    # Old T-40 is new T-70: before the first window; the old plan's open call is cancelled.
    state = await case.state()
    assert (state.stage, state.expiry_date, state.open_tasks) == ("WAITING", new_expiry, [])
    assert sc.case_row(case).expiry_date == new_expiry
    await sc.sleep_until(case.at(-30, 10))  # new T-60: the first window opens again, with its call
    state = await case.state()
    assert state.stage == "FIRST_CONTACT"
    assert [(t.kind, t.due_at) for t in state.open_tasks] == [("call", case.at(-14, 0))]
    assert len(sc.sms_to(case.customer_phone)) == 1, "the first notice is not sent twice"
    await sc.sleep_until(case.at(0, 9, 1))  # the old expiry day is the new T-30
    assert (await case.state()).stage == "SECOND_CONTACT"
    [second] = [t for t in sc.tasks(case) if t.stage == "SECOND_CONTACT"]
    assert second.opens_at == case.at(0) and second.due_at == case.at(6, 0)
    # The old window's call was missed before the move; the new window's was opened and missed too.
    assert [(t.state, t.opens_at) for t in sc.tasks(case) if t.stage == "FIRST_CONTACT"] == [
        ("expired", case.at(-60)), ("expired", case.at(-30))]
    sc.save_history(case, "expiry_moved_back_to_waiting")


async def test_m_validators_reject_with_readable_reasons(sc: Scenario):
    case = await sc.start(days_to_expiry=62)
    await sc.sleep_until(case.at(-58, 10))
    reason = await rejected(case, "set_follow_up", follow_up(case, c.FollowUpStatus.failed, "deputy"))
    assert "not your case" in reason and "service manager" in reason
    reason = await rejected(case, "set_follow_up", follow_up(case, c.FollowUpStatus.failed))
    assert "'failed' cannot be set in FIRST_CONTACT" in reason
    reason = await rejected(case, "set_follow_up", follow_up(case, c.FollowUpStatus.success))
    assert "new policy number" in reason
    await case.update("set_follow_up", follow_up(case, c.FollowUpStatus.success, new_policy_no="PDAA2027X"))
    for name, payload in [
        ("record_contact", c.RecordContact(actor=case.actor(), channel=c.Channel.call, result=c.ContactResult.reached)),
        ("set_follow_up", follow_up(case, c.FollowUpStatus.success, new_policy_no="PDAA2027Y")),
        ("close", c.Close(actor=case.actor("admin"), reason=c.CloseReason.other)),
    ]:
        assert "closed (RENEWED)" in await rejected(case, name, payload)
    # Rejected updates leave no trace in the history.
    history = await case.handle.fetch_history()
    assert sum(1 for e in history.events if e.HasField("workflow_execution_update_accepted_event_attributes")) == 1


async def test_n_a_send_retried_by_temporal_texts_once(sc: Scenario, settings, engine):
    case = await sc.start(days_to_expiry=62)
    await sc.sleep_until(case.at(-60, 10))
    notifications = Notifications(engine, TwilioNotifier(settings), settings)
    request = SmsRequest(case_id=case.case_id, template="service_request", recipient="customer",
                         idempotency_key=f"{case.case_id}:FIRST_CONTACT:service_request:-60",
                         at=await sc.now(), stage="FIRST_CONTACT", day=-60)
    env = ActivityEnvironment()
    env.info = replace(env.info, start_to_close_timeout=ACTIVITY_TIMEOUT)  # the workflow's, not the 1 s default
    first = env.run(notifications.send_sms, request)
    second = env.run(notifications.send_sms, request)
    assert first.status == second.status == "sent" and first.contact_id == second.contact_id
    assert [t for t, _, _ in sms_log(sc, case)].count("service_request") == 1
    assert len(sc.sms_to(case.customer_phone)) == 2  # the first notice and one service request


async def test_o_twilio_errors_retry_or_fail_permanently(sc: Scenario):
    flaky = await sc.start(days_to_expiry=62)
    await sc.sleep_until(flaky.at(-60, 8, 59))
    sc.twilio.fail_next(500, times=2)
    await sc.sleep_until(flaky.at(-60, 10))
    await eventually(lambda: _assert_eq(len(sc.sms_to(flaky.customer_phone)), 1))
    assert [r.delivery_status for r in sc.sms_records(flaky)] == ["queued"]

    broken = await sc.start(days_to_expiry=62)
    await sc.sleep_until(broken.at(-60, 8, 59))
    sc.twilio.fail_next(400, code=21211)
    await sc.sleep_until(broken.at(-60, 10))
    [record] = sc.sms_records(broken)
    assert (record.delivery_status, record.error_code) == ("failed", 21211)
    assert sc.sms_to(broken.customer_phone) == []
    state = await broken.state()
    assert state.stage == "FIRST_CONTACT" and state.outcome is None, "the case goes on"
    assert [t.kind for t in state.open_tasks] == ["call"]


def _assert_eq(a, b) -> None:
    assert a == b


async def test_staff_service_request_sms_is_sent_or_held_for_quiet_hours(sc: Scenario):
    case = await sc.start(days_to_expiry=62)
    await sc.sleep_until(case.at(-7, 20, 30))
    request = c.SendCustomerSms(actor=case.actor(), template=c.StaffSmsTemplate.service_request)
    decision = await case.handle.execute_update("send_customer_sms", request, result_type=c.SmsDecision)
    assert decision.status == "sent"
    await sc.sleep_until(case.at(-7, 21, 30))
    decision = await case.handle.execute_update("send_customer_sms", request, result_type=c.SmsDecision)
    assert (decision.status, decision.send_at) == ("held", case.at(-6, 8))
    await sc.sleep_until(case.at(-6, 8, 1))
    assert [t for t, r, when in sms_log(sc, case) if t == "service_request"] == ["service_request"] * 2
    assert sms_log(sc, case)[-1] == ("service_request", "customer", f"{case.at(-6):%m-%d} 08:00")
    await case.handle.signal("opted_out")
    assert "opted out" in await rejected(case, "send_customer_sms", request)
    sc.save_history(case, "staff_sms_and_opt_out")



async def test_a_staff_sms_records_who_sent_it_and_reaches_the_customer(sc: Scenario):
    """SPEC §4: every contact record names its staff member; a staff SMS is sent by the manager."""
    case = await sc.start(days_to_expiry=62)
    await sc.sleep_until(case.at(-60, 10))
    request = c.SendCustomerSms(actor=case.actor(), template=c.StaffSmsTemplate.service_request)
    decision = await case.handle.execute_update("send_customer_sms", request, result_type=c.SmsDecision)
    assert decision.status == "sent"
    [record] = [r for r in sc.sms_records(case) if r.template == "service_request"]
    assert (record.staff_id, record.recipient) == (case.owner_id, "customer")
    assert record.body in sc.sms_to(case.customer_phone)
    assert record.body not in sc.sms_to(case.owner_phone)


def first_run_after(days: int):
    """Start the case with its worker down for `days` days: its first workflow task runs that late."""
    async def starter(client, inp: c.RenewalInput, task_queue: str):
        return await client.start_workflow(
            c.WORKFLOW_TYPE, inp, id=c.renewal_workflow_id(inp.policy_no, inp.expiry_date), task_queue=task_queue,
            start_delay=timedelta(days=days), result_type=c.CaseState)
    return starter


async def test_windows_that_passed_while_the_worker_was_down_send_their_notices_late_or_are_recorded(sc: Scenario):
    await sc.sleep_until(await sc.next_local(10))
    third = await sc.start(days_to_expiry=62, starter=first_run_after(46))  # runs at T-16: FIRST, SECOND passed
    final = await sc.start(days_to_expiry=62, starter=first_run_after(56))  # runs at T-6: FIRST..DEPUTY passed
    await sc.sleep_until(third.at(-16, 10, 5))
    assert (await third.state()).stage == "THIRD_CONTACT"
    [first_notice] = sc.sms_to(third.customer_phone)
    assert "还有16天左右" in first_notice and third.owner_name in first_notice, "late, with the real days left"
    assert {t.stage for t in sc.tasks(third)} == {"THIRD_CONTACT"}, "no tasks for windows nobody could work"

    await sc.sleep_until(final.at(-6, 10, 5))
    state = await final.state()
    assert (state.stage, state.escalated) == ("FINAL_CONTACT", False)
    [final_notice] = sc.sms_to(final.customer_phone)
    assert "请及时续保" in final_notice, "only the final notice: it says what the first one would have"
    assert len(sc.sms_to(final.owner_phone)) == 1 and sc.sms_to(final.deputy_phone) == []

    # Nothing silent: every window passed unentered is a problem on the case, in the Temporal UI's
    # details, in the projection and in the funnel report.
    assert [p.activity for p in state.problems] == [
        "window_skipped FIRST_CONTACT", "window_skipped SECOND_CONTACT", "window_skipped THIRD_CONTACT",
        "window_skipped DEPUTY_SUPERVISION"]
    first, *_, deputy = state.problems
    assert "first_notice not sent: superseded by final_notice" in first.error
    assert "deputy_escalation not sent" in deputy.error
    third_problems = (await third.state()).problems
    assert [p.activity for p in third_problems] == ["window_skipped FIRST_CONTACT", "window_skipped SECOND_CONTACT"]
    assert "first_notice sent late" in third_problems[0].error
    metadata = await final.handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    assert "needs attention: 4 problem(s)" in metadata.current_details
    assert sc.case_row(final).skipped_windows == ["FIRST_CONTACT", "SECOND_CONTACT", "THIRD_CONTACT",
                                                  "DEPUTY_SUPERVISION"]
    with Session(sc.engine) as session:
        funnel = reports.funnel(session, Period(final.inp.expiry_date, final.inp.expiry_date), reports.everything(),
                                reports.Filters(sub_branch=sc.sub_branch_code))
    assert {s.stage: s.skipped for s in funnel.stages} == {
        "FIRST_CONTACT": 2, "SECOND_CONTACT": 2, "THIRD_CONTACT": 1, "DEPUTY_SUPERVISION": 1, "FINAL_CONTACT": 0,
        "POST_EXPIRY": 0}
    sc.save_history(third, "first_run_after_two_windows_passed")
    sc.save_history(final, "first_run_after_four_windows_passed")


async def test_an_update_in_the_workflows_first_task_is_validated_against_the_case(dev_env, settings, engine, twilio):
    """Update-with-start hands the update to the workflow before its run method has begun."""
    first: list[c.ActionDone] = []

    async def start_with_a_contact(client, inp: c.RenewalInput, task_queue: str):
        start = WithStartWorkflowOperation(
            c.WORKFLOW_TYPE, inp, id=c.renewal_workflow_id(inp.policy_no, inp.expiry_date), task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING, result_type=c.CaseState)
        first.append(await client.execute_update_with_start_workflow(
            "record_contact", c.RecordContact(actor=c.Actor(id=inp.owner_id, role=c.ActorRole.sales),
                                              channel=c.Channel.call, result=c.ContactResult.reached),
            start_workflow_operation=start, result_type=c.ActionDone))
        return await start.workflow_handle()

    async with build_worker(dev_env.client, settings, engine, task_queue="first-task"):
        sc = Scenario(dev_env, engine, twilio, "first-task")
        case = await sc.start(days_to_expiry=62, starter=start_with_a_contact)
        assert first[0] == c.ActionDone(revision=1, changed={}), "a contact in WAITING changes nothing of the case"
        assert ((state := await case.state()).stage, state.owner_id) == ("WAITING", case.owner_id)
        assert "not your case" in await rejected(case, "record_contact", c.RecordContact(
            actor=case.actor("deputy"), channel=c.Channel.call, result=c.ContactResult.reached))
        await sc.finish()


async def test_a_books_wake_ups_spread_over_the_night_and_its_sms_over_the_morning(sc: Scenario):
    """As the system starts cases: the case enters a window at its policy's minute of the night
    before it opens, staff find its tasks when they start, the customer's SMS goes out at the
    policy's minute of the morning, and that is the one extra wake-up of the stage."""
    case = await sc.start(days_to_expiry=62, spread_wake_ups=True)
    opens = sc.plan(case).window(c.Stage.FIRST_CONTACT).starts_at
    woke = night_wake(opens, case.inp.policy_no, case.inp.timezone)
    texted = morning_sms_time(woke, case.inp.policy_no, case.inp.timezone)
    assert woke < case.at(-60, 8) <= texted < case.at(-60, 11)
    await sc.sleep_until(woke + timedelta(seconds=30))
    assert (await case.state()).stage == "FIRST_CONTACT"
    await eventually(lambda: _assert_equal([(t.kind, t.opens_at) for t in sc.tasks(case)], [("call", opens)]))
    assert sc.sms_to(case.customer_phone) == [], "nothing in the night"
    await sc.sleep_until(texted + timedelta(seconds=30))
    await eventually(lambda: _assert_equal(sms_log(sc, case), [
        ("first_notice", "customer", f"{texted.astimezone(case.at(0).tzinfo):%m-%d %H:%M}")]))
    await sc.sleep_until(case.at(8, 9))
    result = await case.handle.result()
    assert (result.outcome, result.escalated) == ("LAPSED", True)
    cost = history_cost(await case.handle.fetch_history())
    # Seven boundaries (six windows and the close), and one more wake-up in each window that sends.
    sending = [row for row in STAGE_TABLE.rows if row.entry_sms]
    assert cost.by_kind["timer"] == 7 + len(sending), cost
    # The final week's two go at their own minutes of the morning: either may be first.
    assert sorted(r[0] for r in sms_log(sc, case)) == sorted(["first_notice", "deputy_escalation",
                                                              "manager_final_reminder", "final_notice"])
    assert all(time(8) <= r.sent_at.astimezone(case.at(0).tzinfo).time() < time(11) for r in sc.sms_records(case))


def _assert_equal(seen, expected) -> None:
    assert seen == expected, seen
