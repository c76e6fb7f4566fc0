"""Holes where the workflow broke the seed's rules, and actors made up by someone who
reached Temporal directly, each pinned by a scenario in skipped time."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update
from sqlmodel import Session
from temporalio.api.sdk.v1 import WorkflowMetadata

from models import Customer, Role
from renewals.audit.archive import case_timeline
from tests.api.conftest import add_person
from tests.fake_twilio import Chaos
from tests.scenario import TZ, Case, Scenario, eventually
from tests.case.test_renewal_workflow import follow_up, rejected
from renewals.case import contract as c

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def details(case: Case) -> str:
    """What the Temporal UI shows as the workflow's current details."""
    return (await case.handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)).current_details


async def settle(sc: Scenario, seconds: float = 5) -> None:
    """Let the workflow act on what it was just told (a few seconds of business time)."""
    await sc.sleep_until(await sc.now() + timedelta(seconds=seconds))


# --- item 1: escalation is never lost ---------------------------------------------------------------


async def test_failed_at_t15_escalates_even_with_the_no_status_setting_off(sc: Scenario):
    case = await sc.start(days_to_expiry=62, escalate_without_status=False)
    await sc.sleep_until(case.at(-15, 10))
    # Item 10: the details were set at T-20 and are still right on T-15 (no stale "day 1 of 10").
    assert f"10 daily calls {case.at(-20):%Y-%m-%d} → {case.at(-11):%Y-%m-%d}" in await details(case)
    assert f"moves to FINAL_CONTACT at {case.at(-7):%Y-%m-%d} 09:00" in await details(case)
    await case.update("set_follow_up", follow_up(case, c.FollowUpStatus.failed))
    await settle(sc)
    assert f"escalates to deputy {case.deputy_id} at {case.at(-10):%Y-%m-%d} 09:00" in await details(case)
    await sc.sleep_until(case.at(-10, 9, 1))
    state = await case.state()
    assert (state.stage, state.escalated) == ("DEPUTY_SUPERVISION", True)
    assert len(sc.sms_to(case.deputy_phone)) == 1
    assert [t.kind for t in state.open_tasks] == ["supervision"]
    sc.save_history(case, "failed_escalates_with_setting_off")


async def test_continue_then_failed_after_t10_escalates_at_once(sc: Scenario):
    case = await sc.start(days_to_expiry=62)
    await sc.sleep_until(case.at(-12, 10))
    await case.update("set_follow_up", follow_up(case, c.FollowUpStatus.continue_))
    await sc.sleep_until(case.at(-9, 10))
    assert (await case.state()).stage == "THIRD_CONTACT"
    await case.update("set_follow_up", follow_up(case, c.FollowUpStatus.failed))
    await settle(sc)
    state = await case.state()
    assert (state.stage, state.escalated) == ("DEPUTY_SUPERVISION", True)
    [alert] = sc.sms_to(case.deputy_phone)
    assert case.customer_name in alert
    assert alert.endswith(f"http://testserver/app/cases/{case.case_id}"), "one tap to the case's page"
    assert [(t.kind, t.assignee_id) for t in state.open_tasks] == [("supervision", case.deputy_id)]
    assert f"moves to FINAL_CONTACT at {case.at(-7):%Y-%m-%d} 09:00" in await details(case)
    sc.save_history(case, "continue_then_failed_escalates_at_once")


async def test_failed_after_the_end_of_t8_waits_for_final_contact_without_the_deputy(sc: Scenario):
    """At T-7 03:00 the deputy's window still runs until 09:00, but their task would already be
    due: a `failed` set then leads to FINAL_CONTACT at 09:00, with no supervision for a few hours."""
    case = await sc.start(days_to_expiry=62)
    await sc.sleep_until(case.at(-12, 10))
    await case.update("set_follow_up", follow_up(case, c.FollowUpStatus.continue_))
    await sc.sleep_until(case.at(-7, 3))
    await case.update("set_follow_up", follow_up(case, c.FollowUpStatus.failed))
    await settle(sc)
    state = await case.state()
    assert (state.stage, state.escalated) == ("THIRD_CONTACT", False)
    assert f"moves to FINAL_CONTACT at {case.at(-7):%Y-%m-%d} 09:00" in await details(case)
    await sc.sleep_until(case.at(-7, 9, 1))
    state = await case.state()
    assert (state.stage, state.escalated) == ("FINAL_CONTACT", False)
    assert state.problems == [], "the case was awake: no window passed it by"
    assert sc.sms_to(case.deputy_phone) == []
    assert "DEPUTY_SUPERVISION" not in {t.stage for t in sc.tasks(case)}
    sc.save_history(case, "failed_after_t8_goes_to_final_contact")


# --- item 3: an expiry change re-plans the current stage --------------------------------------------


async def test_expiry_20_days_later_at_t15_goes_back_with_the_windows_tasks(sc: Scenario):
    case = await sc.start(days_to_expiry=62)
    await sc.sleep_until(case.at(-15, 10))
    await case.update("record_contact", c.RecordContact(actor=case.actor(), channel=c.Channel.call,
                                                        result=c.ContactResult.no_answer))
    new_expiry = case.inp.expiry_date + timedelta(days=20)
    await case.handle.signal("expiry_changed", c.ExpiryChanged(new_expiry_date=new_expiry))
    await settle(sc)
    # Old T-15 is new T-35: the first window, after its call task and before the second opens.
    state = await case.state()
    assert (state.stage, state.expiry_date, state.open_tasks) == ("FIRST_CONTACT", new_expiry, [])
    third = [t for t in sc.tasks(case) if t.stage == "THIRD_CONTACT"]
    assert {t.state for t in third if t.day >= -14} == {"cancelled"}, "the old plan's later calls are gone"
    assert [t.state for t in third if t.day == -15] == ["done"], "what was recorded stays"

    moved = Case(**{**case.__dict__, "inp": c.RenewalInput(**{**case.inp.__dict__, "expiry_date": new_expiry})})
    await sc.sleep_until(moved.at(-30, 9, 1))
    state = await case.state()
    assert state.stage == "SECOND_CONTACT" and [(t.kind, t.day) for t in state.open_tasks] == [("call", -30)]
    assert sc.case_row(case).stage == "SECOND_CONTACT"
    await sc.sleep_until(moved.at(-11, 12))
    assert (await case.state()).stage == "THIRD_CONTACT"
    tasks = [t for t in sc.tasks(case) if t.state != "cancelled" and t.opens_at >= moved.at(-30)]
    calling_days = [*range(-30, -24), *range(-20, -10)]
    for day in calling_days:
        start = moved.at(day, 12)
        assert any(t.opens_at <= start < t.due_at for t in tasks), f"no call task on new T{day}"
    sc.save_history(case, "expiry_moved_back_to_an_earlier_window")


async def test_expiry_3_days_later_in_third_contact_re_plans_its_daily_calls(sc: Scenario):
    case = await sc.start(days_to_expiry=62)
    await sc.sleep_until(case.at(-15, 10))
    new_expiry = case.inp.expiry_date + timedelta(days=3)
    await case.handle.signal("expiry_changed", c.ExpiryChanged(new_expiry_date=new_expiry))
    await settle(sc)
    state = await case.state()
    # Today is the new T-18: today's call is planned under the new date, nothing of the old plan is open.
    assert state.stage == "THIRD_CONTACT"
    assert [(t.kind, t.day, t.opens_at) for t in state.open_tasks] == [("call", -18, case.at(-15))]
    third = [t for t in sc.tasks(case) if t.stage == "THIRD_CONTACT"]
    # Old T-20..T-16 were missed; old T-15..T-11 are cancelled; new T-18..T-11 are open (the new
    # T-20 and T-19 passed before the move and are not counted as missed).
    assert [(state, sum(t.state == state for t in third)) for state in ("expired", "cancelled", "open")] == [
        ("expired", 5), ("cancelled", 5), ("open", 8)]


# --- item 8: activities never retry forever ---------------------------------------------------------


async def test_a_deterministic_activity_failure_opens_an_admin_task_and_the_case_goes_on(sc: Scenario):
    case = await sc.start(days_to_expiry=62)
    with Session(sc.engine) as session:  # a language no template exists for (imports now refuse it)
        session.execute(update(Customer).where(Customer.id == case.customer_id).values(language="fr"))
        session.commit()
    await sc.sleep_until(case.at(-60, 9, 30))
    await settle(sc)
    state = await case.state()
    assert state.stage == "FIRST_CONTACT" and state.outcome is None
    [problem] = state.problems
    assert "first_notice" in problem.activity and "first_notice (fr)" in problem.error
    [attention] = [t for t in sc.tasks(case) if t.kind == "attention"]
    assert (attention.assignee_id, attention.state) == (case.admin_id, "open")
    assert "needs attention" in await details(case)
    started = time.monotonic()
    state = await asyncio.wait_for(case.update("record_contact", c.RecordContact(
        actor=case.actor(), channel=c.Channel.call, result=c.ContactResult.reached)), timeout=10)
    assert time.monotonic() - started < 1.0
    assert sc.sms_to(case.customer_phone) == []
    await sc.sleep_until(case.at(-30, 9, 1))
    assert (await case.state()).stage == "SECOND_CONTACT", "the calendar carries on"
    sc.save_history(case, "first_notice_fails_needs_attention")


async def test_the_branch_admin_completes_the_needs_attention_task(sc: Scenario):
    case = await sc.start(days_to_expiry=62)
    with Session(sc.engine) as session:  # a language no template exists for: the first notice fails for good
        session.execute(update(Customer).where(Customer.id == case.customer_id).values(language="fr"))
        session.commit()
    await sc.sleep_until(case.at(-60, 9, 30))
    await settle(sc)
    resolve = c.ResolveAttention(actor=case.actor("admin"))
    assert "system specialist" in await rejected(case, "resolve_attention", c.ResolveAttention(actor=case.actor()))
    state = await case.update("resolve_attention", resolve)
    assert [t.kind for t in state.open_tasks] == ["call"]

    def done() -> None:
        [attention] = [t for t in sc.tasks(case) if t.kind == "attention"]
        assert (attention.state, attention.handled_by) == ("done", case.admin_id)

    await eventually(done)
    assert "no open needs-attention task" in await rejected(case, "resolve_attention", resolve)
    await sc.sleep_until(case.at(-57, 10))
    done()  # handled, so never counted as missed
    sc.save_history(case, "needs_attention_resolved")


async def test_a_customer_who_refused_contact_on_another_case_gets_no_calls_or_sms_here(sc: Scenario):
    case = await sc.start(days_to_expiry=62)
    await sc.sleep_until(case.at(-20, 10))
    sent_before = [r.template for r in sc.sms_records(case) if r.recipient == "customer"]
    await case.handle.signal("customer_refused_contact", c.CustomerRefusedContact(on_case=uuid.uuid4(),
                                                                                    staff_id=case.owner_id))
    await settle(sc)
    state = await case.state()
    assert state.no_contact and [t.kind for t in state.open_tasks] == []
    assert [t.state for t in sc.tasks(case) if t.kind == "call" and t.day == -20] == ["cancelled"]
    await sc.sleep_until(case.at(-7, 10))
    assert [r.template for r in sc.sms_records(case) if r.recipient == "customer"] == sent_before
    assert [t.kind for t in (await case.state()).open_tasks] == []
    sc.save_history(case, "customer_refused_contact_on_another_case")


async def test_customer_language_is_validated_on_input(engine):
    from renewals.dev.seed import create_policy

    with Session(engine) as session, pytest.raises(ValueError, match="language: 'fr' is not one of zh-CN, en"):
        create_policy(session, policy_no="PDAALANG", sub_branch_id=uuid.uuid4(), owner_id=uuid.uuid4(),
                      expires_on=date(2027, 3, 1), customer_name="钱多多", phone="+8613900001111",
                      id_number="310101199001011234", plate="沪A00001", language="fr")


# --- item 11: permanent failures at send time count too ----------------------------------------------


async def test_a_number_refused_at_send_time_counts_as_a_contact_failure(sc: Scenario):
    case = await sc.start(days_to_expiry=62)
    await sc.sleep_until(case.at(-60, 8, 59))
    sc.twilio.fail_next(400, code=21211)
    await sc.sleep_until(case.at(-60, 10))
    state = await case.state()
    assert state.contact_failures == 1 and state.outcome is None


# --- made-up actors and free-text insurers -------------------------------------------------


async def test_a_made_up_admin_is_refused_and_the_branch_admin_is_not(sc: Scenario):
    case = await sc.start(days_to_expiry=62)
    await sc.sleep_until(case.at(-58, 10))
    forged = c.Close(actor=case.actor("made-up admin"), reason=c.CloseReason.other)
    reason = await rejected(case, "close", forged)
    assert "not a system specialist (admin) of branch" in reason and str(forged.actor.id) in reason
    assert "not a system specialist" in await rejected(case, "reassign", c.Reassign(
        actor=case.actor("made-up admin"), new_owner_id=case.deputy_id, reason="forged"))
    # A new admin of the branch acts once the case has been told about them.
    newcomer = uuid.uuid4()
    await case.handle.signal("branch_admins", c.BranchAdmins(admin_ids=[case.admin_id, newcomer]))
    assert "not a system specialist" not in await rejected(case, "reassign", c.Reassign(
        actor=c.Actor(id=newcomer, role=c.ActorRole.admin), new_owner_id=case.owner_id, reason="same"))
    state = await case.update("close", c.Close(actor=case.actor("admin"), reason=c.CloseReason.policy_cancelled))
    assert state.outcome == "CLOSED"


async def test_a_made_up_system_actor_is_refused_by_every_update(sc: Scenario):
    """Role `system` is the system's own identity, not a role anyone can claim: a random id with
    that role, sent straight to Temporal, is refused by every update and the case stays as it was
    (no reassigning the case to itself and then renewing it)."""
    case = await sc.start(days_to_expiry=62)
    await sc.sleep_until(case.at(-58, 10))
    forged = c.Actor(id=uuid.uuid4(), role=c.ActorRole.system)
    for name, payload in [
        ("reassign", c.Reassign(actor=forged, new_owner_id=forged.id, reason="import")),
        ("set_follow_up", c.SetFollowUp(actor=forged, status=c.FollowUpStatus.success, new_policy_no="PDAA2027F")),
        ("report_renewed_elsewhere", c.ReportRenewedElsewhere(actor=forged, insurer=c.Insurer.ping_an)),
        ("change_deputy", c.ChangeDeputy(actor=forged, new_deputy_id=forged.id)),
        ("close", c.Close(actor=forged, reason=c.CloseReason.other)),
        ("record_contact", c.RecordContact(actor=forged, channel=c.Channel.call, result=c.ContactResult.reached)),
        ("send_customer_sms", c.SendCustomerSms(actor=forged, template=c.StaffSmsTemplate.service_request)),
        ("record_loss_reason", c.RecordLossReason(actor=forged, reason=c.LossReason.price)),
    ]:
        reason = await rejected(case, name, payload)
        assert f"{forged.id} is not the system's own actor" in reason, (name, reason)
    state = await case.state()
    assert (state.owner_id, state.deputy_id, state.outcome, state.renewed_elsewhere) == (
        case.owner_id, case.deputy_id, None, False)
    history = await case.handle.fetch_history()
    assert not any(e.HasField("workflow_execution_update_accepted_event_attributes") for e in history.events)


async def test_the_systems_own_actors_reassign_change_the_deputy_and_report_renewed_elsewhere(sc: Scenario):
    """The intake (an import naming a new manager, the daily deputy alignment) and the core
    system's data act as the well-known system actors; the audit timeline names which one acted."""
    case = await sc.start(days_to_expiry=62)
    await sc.sleep_until(case.at(-58, 10))
    newcomer = sc.add_sales("赵六")
    new_deputy = add_person(sc.engine, Role.deputy, sub_branch_code=sc.sub_branch_code)
    state = await case.update("reassign", c.Reassign(actor=c.INTAKE_ACTOR, new_owner_id=newcomer.id, reason="import"))
    assert state.owner_id == newcomer.id
    state = await case.update("change_deputy", c.ChangeDeputy(actor=c.INTAKE_ACTOR, new_deputy_id=new_deputy.id))
    assert state.deputy_id == new_deputy.id
    state = await case.update("report_renewed_elsewhere", c.ReportRenewedElsewhere(
        actor=c.CORE_SYSTEM_ACTOR, insurer=c.Insurer.ping_an))
    assert state.renewed_elsewhere
    timeline = await case_timeline(sc.env.client, sc.engine, case.handle.id, identities_masked=True,
                                   now=await sc.now())
    assert [(e.details["action"], e.actor.role, e.actor.component) for e in timeline.events
            if e.kind == "staff_action"] == [("reassign", "system", "intake"), ("change_deputy", "system", "intake"),
                                             ("report_renewed_elsewhere", "system", "core_system")]


async def test_renewed_elsewhere_takes_an_insurer_code_not_free_text(sc: Scenario):
    case = await sc.start(days_to_expiry=62)
    await sc.sleep_until(case.at(-58, 10))
    reason = await rejected(case, "report_renewed_elsewhere", c.ReportRenewedElsewhere(
        actor=case.actor(), insurer="平安产险 张经理 13912345678"))
    assert "insurer" in reason and "ping_an" in reason
    state = await case.update("report_renewed_elsewhere", c.ReportRenewedElsewhere(
        actor=case.actor(), insurer=c.Insurer.ping_an))
    assert state.renewed_elsewhere
    await eventually(lambda: _assert(sc.case_row(case).lost_to_insurer == "ping_an"))


def _assert(ok: bool) -> None:
    assert ok


# --- item 6: do-not-call and unreachable numbers have effects ---------------------------------------


async def test_a_customer_who_refuses_all_contact_gets_no_calls_or_sms_and_the_case_lapses(sc: Scenario):
    case = await sc.start(days_to_expiry=62)
    await sc.sleep_until(case.at(-15, 10))
    state = await case.update("record_contact", c.RecordContact(actor=case.actor(), channel=c.Channel.call,
                                                                result=c.ContactResult.do_not_contact))
    assert state.open_tasks == [] and state.no_contact  # the console reads it to offer no SMS
    calls = [t for t in sc.tasks(case) if t.kind == "call" and t.stage == "THIRD_CONTACT"]
    assert [t.state for t in calls if t.day >= -14] == ["cancelled"] * 4 and [t.state for t in calls if t.day == -15] == [
        "done"]
    assert "refused all contact" in await rejected(case, "send_customer_sms", c.SendCustomerSms(
        actor=case.actor(), template=c.StaffSmsTemplate.service_request))
    customer_sms = len(sc.sms_to(case.customer_phone))
    await sc.sleep_until(case.at(-7, 9, 1))
    state = await case.state()
    assert state.stage == "FINAL_CONTACT" and state.open_tasks == []
    assert len(sc.sms_to(case.customer_phone)) == customer_sms, "no final notice"
    assert len(sc.sms_to(case.owner_phone)) == 1, "the manager is still reminded"
    assert not [t for t in sc.tasks(case) if t.stage in ("FINAL_CONTACT", "POST_EXPIRY")]
    await sc.sleep_until(case.at(8, 0, 1))
    assert (await case.handle.result()).outcome == "LAPSED"
    sc.save_history(case, "do_not_contact_then_lapsed")


async def test_an_unreachable_number_opens_one_task_and_holds_automatic_sms_until_corrected(sc: Scenario):
    case = await sc.start(days_to_expiry=62)
    await sc.sleep_until(case.at(-20, 10))
    await case.handle.signal("phone_unreachable")
    await case.handle.signal("phone_unreachable")
    await settle(sc)
    [find] = [t for t in (await case.state()).open_tasks if t.kind == "find_number"]
    assert find.assignee_id == case.owner_id
    assert [t.kind for t in sc.tasks(case)].count("find_number") == 1
    customer_sms = len(sc.sms_to(case.customer_phone))
    await sc.sleep_until(case.at(-7, 9, 1))
    assert len(sc.sms_to(case.customer_phone)) == customer_sms, "no final notice to a number that does not work"
    await case.handle.signal("phone_corrected")
    await settle(sc)
    assert [t.state for t in sc.tasks(case) if t.kind == "find_number"] == ["done"]
    decision = await case.handle.execute_update("send_customer_sms", c.SendCustomerSms(
        actor=case.actor(), template=c.StaffSmsTemplate.service_request), result_type=c.SmsDecision)
    assert decision.status == "sent"


async def test_an_automatic_sms_held_for_the_morning_is_not_sent_once_the_number_is_found_unreachable(
        sc: Scenario):
    local = (await sc.now()).astimezone(ZoneInfo(TZ))
    night = local.replace(hour=23, minute=0, second=0, microsecond=0)
    await sc.sleep_until(night if night > local else night + timedelta(days=1))
    case = await sc.start(days_to_expiry=59)  # imported mid-window at night: its first notice waits for 08:00
    await settle(sc)
    assert sc.sms_to(case.customer_phone) == []
    await case.handle.signal("phone_unreachable")
    await settle(sc)
    await sc.sleep_until(case.at(-58, 9))
    assert sc.sms_to(case.customer_phone) == [], "no first notice to a number known not to work"


async def test_an_admin_who_joins_the_branch_is_published_to_its_open_cases(sc: Scenario):
    from renewals.org.branch_admins import branch_admin_ids, publish_branch_admins
    from renewals.org.service import add_staff
    from models import Role
    from tests.scenario import unique_phone

    case = await sc.start(days_to_expiry=62)
    with Session(sc.engine, expire_on_commit=False) as session:
        assert branch_admin_ids(session, sc.branch_code) == [case.admin_id]
        newcomer = add_staff(session, username=f"admin-{uuid.uuid4().hex[:8]}", name="孙八", role=Role.admin,
                             phone=unique_phone(), branch_code=sc.branch_code)
        session.commit()
    await sc.sleep_until(case.at(-59, 10))
    close = c.Close(actor=c.Actor(id=newcomer.id, role=c.ActorRole.admin), reason=c.CloseReason.other)
    assert "not a system specialist" in await rejected(case, "close", close)
    assert await publish_branch_admins(sc.env.client, sc.engine, sc.branch_code) == 1
    assert (await case.update("close", close)).outcome == "CLOSED"


# --- a slow dependency never blocks staff ------------------------------------------


class GatedNotifier:
    """Twilio that does not answer until the gate opens (an outage, or answers slower than ever)."""

    def __init__(self, real):
        import threading

        self.real, self.gate = real, threading.Event()
        self.gate.set()

    def send_sms(self, to, body, **kw):
        self.gate.wait(timeout=30)
        return self.real.send_sms(to, body, **kw)

    def __getattr__(self, name):  # everything else (calls, the lookup before a resend) as Twilio does it
        return getattr(self.real, name)


async def test_staff_actions_answer_within_a_second_while_twilio_does_not(time_env, settings, engine, twilio):
    from renewals.core.notify import TwilioNotifier
    from worker import build_worker

    notifier = GatedNotifier(TwilioNotifier(settings))
    async with build_worker(time_env.client, settings, engine, notifier=notifier, task_queue="twilio-down"):
        sc = Scenario(time_env, engine, twilio, "twilio-down")
        try:
            case = await sc.start(days_to_expiry=62)
            await sc.sleep_until(case.at(-55, 14, 30))
            notifier.gate.clear()  # Twilio stops answering
            for who, result in (("owner", c.ContactResult.complaint), ("deputy", c.ContactResult.reached)):
                started = time.monotonic()
                state = await asyncio.wait_for(case.update("record_contact", c.RecordContact(
                    actor=case.actor(who), channel=c.Channel.call, result=result)), timeout=25)
                assert time.monotonic() - started < 1.5, f"the {who}'s action waited for Twilio"
            assert state.open_tasks == [], "the deputy handled the complaint"
            assert sc.sms_to(case.deputy_phone) == []
            notifier.gate.set()
            await eventually(lambda: _assert(len(sc.sms_to(case.deputy_phone)) == 1), timeout=20)
        finally:
            notifier.gate.set()
            await sc.finish()


async def test_a_contact_reaches_the_projection_while_an_sms_of_the_case_is_retried(sc: Scenario):
    case = await sc.start(days_to_expiry=62)
    await sc.sleep_until(case.at(-55, 14, 30))
    sc.twilio.chaos(Chaos(server_error=1.0))  # Twilio answers 5xx: the complaint alert is retried
    try:
        await case.update("record_contact", c.RecordContact(actor=case.actor(), channel=c.Channel.call,
                                                            result=c.ContactResult.complaint))

        def alert_retried() -> None:
            assert len([r for r in sc.twilio.requests if r.params.get("To") == case.deputy_phone]) >= 2

        def complaint_handled() -> None:
            assert [t.state for t in sc.tasks(case) if t.kind == "complaint"] == ["done"], \
                "the deputy's contact is not in PostgreSQL: the to-do panel still shows the complaint open"

        await eventually(alert_retried, timeout=20)  # a first attempt, and a retry
        await case.update("record_contact", c.RecordContact(actor=case.actor("deputy"), channel=c.Channel.call,
                                                            result=c.ContactResult.reached))
        await eventually(complaint_handled, timeout=10)  # at once, not after the alert's retries
        assert sc.sms_to(case.deputy_phone) == [], "the alert is still being retried"
    finally:
        sc.twilio.chaos(None)
    await sc.sleep_until(await sc.now() + timedelta(minutes=5))
    assert len(sc.sms_to(case.deputy_phone)) == 1, "the alert goes out once Twilio is back"
    sc.save_history(case, "contact_written_while_an_sms_is_retried")
