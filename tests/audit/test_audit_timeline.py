"""The audit timeline of the seed's main paths, run for real in skipped time: exactly
the expected events in order, with the right actors and T-days; nothing personal for an auditor
beyond masked forms; the archive stores a closed case's history once and the timeline reads the
same from it."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import timedelta

import pytest
from sqlmodel import Session
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory

from renewals.audit.archive import archive_closed_cases, archived_history, case_timeline, find_archived
from renewals.audit import timeline as audit_timeline
from renewals.audit.timeline import Timeline, build_timeline
from renewals.core.masking import mask_name
from tests.scenario import Case, Scenario
from renewals.case import contract as c

pytestmark = pytest.mark.asyncio(loop_scope="session")

WF = "system:workflow"


def t(day: int) -> str:
    return f"T{day:+d}" if day else "T0"


def brief(timeline: Timeline) -> list[str]:
    """One line per event: T-day, kind, who, and what it is about."""
    lines = []
    for e in timeline.events:
        who = f"system:{e.actor.component}" if e.actor.component else e.actor.role
        what = e.details.get("template") or e.details.get("action") or e.details.get("task") or ""
        if e.kind in ("stage_entered", "outcome"):
            what = e.stage
        lines.append(f"{e.t_day} {e.kind} {who} {what}".strip())
    return lines


def window(stage: str, day: int, kind: str = "call", sms: tuple[str, ...] = ()) -> list[str]:
    return [f"{t(day)} stage_entered {WF} {stage}", f"{t(day)} task_opened {WF} {kind}",
            *(f"{t(day)} sms {WF} {template}" for template in sms)]


def daily(first: int, last: int, handled: dict[int, list[str]] | None = None, kind: str = "call") -> list[str]:
    """Daily tasks from T`first` to T`last`: each opens at 09:00 and is missed at the end of its
    day unless handled (then the lines given for that day follow its opening)."""
    lines = []
    for day in range(first, last + 1):
        if day != first:
            lines.append(f"{t(day)} task_opened {WF} {kind}")
        lines += (handled or {}).get(day) or [f"{t(day + 1)} task_missed {WF} {kind}"]
    return lines


START = ["T-62 case_started system:intake"]
FIRST_AND_SECOND = [*window("FIRST_CONTACT", -60, sms=("first_notice",)), f"T-44 task_missed {WF} call",
                    *window("SECOND_CONTACT", -30), f"T-24 task_missed {WF} call"]


async def timeline_of(sc: Scenario, case: Case, masked: bool = True) -> Timeline:
    return await case_timeline(sc.env.client, sc.engine, case.handle.id, identities_masked=masked,
                               now=await sc.now())


async def test_escalation_path_failed_then_deputy_renews(sc: Scenario):
    case = await sc.start(days_to_expiry=62)
    await sc.sleep_until(case.at(-18, 10))
    await case.update("set_follow_up", c.SetFollowUp(actor=case.actor(), status=c.FollowUpStatus.failed))
    await sc.sleep_until(case.at(-10, 9, 1))
    await case.update("set_follow_up", c.SetFollowUp(actor=case.actor("deputy"), status=c.FollowUpStatus.success,
                                                     new_policy_no="PDAA2027DEP"))
    await case.handle.result()

    timeline = await timeline_of(sc, case)
    assert brief(timeline) == [
        *START, *FIRST_AND_SECOND,
        *window("THIRD_CONTACT", -20),
        *daily(-20, -11, handled={-18: ["T-18 staff_action sales set_follow_up", "T-18 task_handled sales call"]}),
        f"T-10 stage_entered {WF} DEPUTY_SUPERVISION", f"T-10 escalated {WF}",
        f"T-10 task_opened {WF} supervision", f"T-10 sms {WF} deputy_escalation",
        "T-10 staff_action deputy set_follow_up", "T-10 task_handled deputy supervision", "T-10 outcome deputy RENEWED",
    ]
    failed, success = [e for e in timeline.events if e.kind == "staff_action"]
    assert (failed.actor.id, failed.details["request"], failed.local_time[11:]) == (
        str(case.owner_id), {"status": "failed"}, "10:00")
    assert (success.actor.id, success.details["resulting_stage"]) == (str(case.deputy_id), "RENEWED")
    assert "follow-up status failed" in next(e for e in timeline.events if e.kind == "escalated").summary
    assert timeline.outcome == "RENEWED" and timeline.history_from == "temporal"
    [first_notice] = [e for e in timeline.events if e.details.get("template") == "first_notice"]
    assert first_notice.details["delivery"] in ("queued", "sent", "delivered")
    assert first_notice.details["to"] == f"{case.customer_phone[3:6]}****{case.customer_phone[-4:]}"


async def test_lapsed_path_unattended(sc: Scenario):
    case = await sc.start(days_to_expiry=62)
    await sc.sleep_until(case.at(8, 0, 1))
    assert (await case.handle.result()).outcome == "LAPSED"

    assert brief(await timeline_of(sc, case)) == [
        *START, *FIRST_AND_SECOND,
        *window("THIRD_CONTACT", -20), *daily(-20, -11),
        f"T-10 stage_entered {WF} DEPUTY_SUPERVISION", f"T-10 escalated {WF}",
        f"T-10 task_opened {WF} supervision", f"T-10 sms {WF} deputy_escalation", f"T-7 task_missed {WF} supervision",
        *window("FINAL_CONTACT", -7, sms=("manager_final_reminder", "final_notice")), *daily(-7, -1),
        *window("POST_EXPIRY", 1), *daily(1, 7),
        f"T+8 outcome {WF} LAPSED",
    ]


async def test_renewed_elsewhere_path_with_a_refused_action(sc: Scenario):
    case = await sc.start(days_to_expiry=62, escalate_without_status=False)
    await sc.sleep_until(case.at(-3, 10))
    await case.update("report_renewed_elsewhere", c.ReportRenewedElsewhere(actor=case.actor(), insurer=c.Insurer.ping_an))
    await case.update("record_loss_reason", c.RecordLossReason(actor=case.actor(), reason=c.LossReason.price))
    await case.handle.result()

    timeline = await timeline_of(sc, case)
    assert brief(timeline) == [
        *START, *FIRST_AND_SECOND,
        *window("THIRD_CONTACT", -20), *daily(-20, -11),
        *window("FINAL_CONTACT", -7, sms=("manager_final_reminder", "final_notice")),
        *daily(-7, -3, handled={-3: [
            "T-3 staff_action sales report_renewed_elsewhere", f"T-3 task_cancelled {WF} call",
            f"T-3 task_opened {WF} loss_reason", f"T-3 sms {WF} loss_reason_request",
            "T-3 staff_action sales record_loss_reason", "T-3 task_handled sales loss_reason",
            "T-3 outcome sales LOST"]}),
    ]
    lost = timeline.events[-1]
    assert (lost.details["reason"], lost.details["lost_to_insurer"]) == ("price", "平安产险")
    [request] = [e for e in timeline.events if e.details.get("template") == "loss_reason_request"]
    assert request.details["requested_by"]["id"] == str(case.owner_id)


async def test_a_re_planned_case_shows_the_new_plans_tasks(sc: Scenario):
    """An expiry change re-plans the daily calls under new ids: the timeline follows the tasks the
    projection wrote, so the call handled after the move is in it, and the old plan's open call is
    cancelled, not missed (its later calls never opened, so they are not shown)."""
    case = await sc.start(days_to_expiry=62)
    await sc.sleep_until(case.at(-15, 10))
    await case.handle.signal("expiry_changed", c.ExpiryChanged(new_expiry_date=case.inp.expiry_date + timedelta(days=3)))
    await sc.sleep_until(case.at(-15, 10, 1))
    await case.update("record_contact", c.RecordContact(actor=case.actor(), channel=c.Channel.call,
                                                        result=c.ContactResult.reached))
    await sc.sleep_until(case.at(-15, 11))

    events = (await timeline_of(sc, case)).events
    handled = [e for e in events if e.kind == "task_handled"]
    assert [(e.t_day, e.details.get("task")) for e in handled] == [("T-18", "call")], "the new plan's T-18 call"
    after_move = [e for e in events if e.at >= case.at(-15, 10)]
    assert [(e.t_day, e.kind) for e in after_move if e.kind.startswith("task_")] == [
        ("T-15", "task_cancelled"), ("T-18", "task_opened"), ("T-18", "task_handled")]  # each in its own plan
    assert not [e for e in after_move if e.kind == "task_missed"]


async def test_auditor_timeline_shows_no_personal_data(sc: Scenario):
    case = await sc.start(days_to_expiry=62, customer_name="欧阳娜娜")
    await sc.sleep_until(case.at(-60, 10))
    await case.update("record_contact", c.RecordContact(actor=case.actor(), channel=c.Channel.call,
                                                        result=c.ContactResult.reached))
    await case.update("set_follow_up", c.SetFollowUp(actor=case.actor(), status=c.FollowUpStatus.success,
                                                     new_policy_no="PDAA2027NEW"))
    await case.handle.result()

    auditor = json.dumps(dataclasses.asdict(await timeline_of(sc, case)), default=str, ensure_ascii=False)
    for secret in (case.customer_phone, case.customer_phone[3:], case.owner_phone[3:], case.deputy_phone[3:],
                   case.customer_name, case.owner_name, "王五", case.plate, "310101199001011234", "1234"):
        assert secret not in auditor, secret
    assert mask_name(case.owner_name) in auditor  # who acted is still named, masked
    staff_view = json.dumps(dataclasses.asdict(await timeline_of(sc, case, masked=False)), ensure_ascii=False,
                            default=str)
    assert case.owner_name in staff_view and case.customer_phone[3:] not in staff_view


async def test_closed_history_is_archived_once_and_reads_the_same(sc: Scenario):
    case = await sc.start(days_to_expiry=62)
    await sc.sleep_until(case.at(-60, 10))
    await case.update("set_follow_up", c.SetFollowUp(actor=case.actor(), status=c.FollowUpStatus.success,
                                                     new_policy_no="PDAA2027NEW"))
    await case.handle.result()
    running = await sc.start(days_to_expiry=62)

    assert await archive_closed_cases(sc.env.client, sc.engine) >= 1
    with Session(sc.engine) as session:
        row = find_archived(session, case.handle.id)
        assert (row.status, row.policy_no) == ("COMPLETED", case.inp.policy_no)
        assert len(row.history_gz) < row.history_bytes
        assert find_archived(session, running.handle.id) is None, "an open case is not archived"
        first_archived_at = row.archived_at
    assert await archive_closed_cases(sc.env.client, sc.engine) == 0, "archiving twice stores nothing new"
    with Session(sc.engine) as session:
        assert find_archived(session, case.handle.id).archived_at == first_archived_at

    from_temporal = await timeline_of(sc, case)
    from_archive = build_timeline(archived_history(sc.engine, case.handle.id).history)
    assert [e.kind for e in from_archive.events] == [e.kind for e in from_temporal.events if e.kind not in (
        "history_archived",)]
    [archived] = [e for e in from_temporal.events if e.kind == "history_archived"]
    assert archived.actor.component == c.SystemComponent.archiver


async def test_the_auditors_timeline_decodes_each_payload_once(sc: Scenario, monkeypatch):
    """Looking up the staff a history names and building its events share one decoding."""
    case = await sc.start(days_to_expiry=62)
    await case.update("set_follow_up", c.SetFollowUp(actor=case.actor(), status=c.FollowUpStatus.success,
                                                     new_policy_no="PDAA2027ONE"))
    await case.handle.result()
    converter, decoded = audit_timeline._converter, []

    class Counting:
        def from_payloads(self, payloads, type_hints=None):
            decoded.append(len(payloads))
            return converter.from_payloads(payloads, type_hints)

    monkeypatch.setattr(audit_timeline, "_converter", Counting())
    build_timeline(await case.handle.fetch_history())
    events_alone = len(decoded)
    decoded.clear()
    timeline = await timeline_of(sc, case)
    assert timeline.events[-1].kind == "outcome" and timeline.events[-1].actor.name == mask_name(case.owner_name)
    assert len(decoded) == events_alone, "the staff lookup decodes nothing the events do not"


async def test_cli_timeline_and_export(sc: Scenario, monkeypatch):
    from typer.testing import CliRunner

    from renewals.cli.main import app
    from renewals.core.db import get_engine
    from renewals.core.settings import get_settings

    case = await sc.start(days_to_expiry=62)
    started_on = await sc.local_today()
    await case.update("set_follow_up", c.SetFollowUp(actor=case.actor(), status=c.FollowUpStatus.success,
                                                     new_policy_no="PDAA2027NEW"))
    await case.handle.result()
    monkeypatch.setenv("DATABASE_URL", sc.engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("TEMPORAL_ADDRESS", sc.env.client.service_client.config.target_host)
    get_settings.cache_clear()
    get_engine.cache_clear()
    try:
        def cli(*args: str):
            return CliRunner().invoke(app, ["audit", *args])

        table = await asyncio.to_thread(cli, "timeline", case.inp.policy_no)
        assert table.exit_code == 0, table.output
        assert "T-62" in table.output and "RENEWED" in table.output and "intake" in table.output
        as_json = await asyncio.to_thread(cli, "timeline", case.inp.policy_no, "--expiry",
                                          f"{case.inp.expiry_date}", "--format", "json")
        assert json.loads(as_json.output)["events"][-1]["kind"] == "outcome"
        exported = await asyncio.to_thread(cli, "export", case.inp.policy_no)
        assert exported.exit_code == 0
        history = WorkflowHistory.from_json(case.handle.id, exported.stdout)
        assert history.events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED
        replayed = await asyncio.to_thread(cli, "replay", case.inp.policy_no)
        assert replayed.exit_code == 0 and "1 replayed, 0 failed" in replayed.output, replayed.output
        since = await asyncio.to_thread(cli, "replay", "--since", f"{started_on}")
        assert since.exit_code == 0 and case.inp.policy_no in since.output, since.output
        missing = await asyncio.to_thread(cli, "timeline", "PDAA-NO-SUCH")
        assert missing.exit_code == 1 and "no renewal case for policy PDAA-NO-SUCH" in missing.output
    finally:
        get_settings.cache_clear()
        get_engine.cache_clear()
