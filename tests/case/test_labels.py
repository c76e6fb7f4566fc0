"""One word per stage and per loss reason: the console, the reports (tables and CSV) and the
SMS a manager or deputy gets all name a thing the same way."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import date

import pytest
from sqlalchemy import update
from sqlmodel import Session
from temporalio.testing import ActivityEnvironment

from activities.notifications import Notifications
from renewals.case.contract import SmsRequest
from api.console.i18n import translator
from models import RenewalCase
from renewals.case.labels import LOSS_REASON_CHOICES, stage_with_days, word
from renewals.core.notify import TwilioNotifier
from renewals.reports.rules import (
    CaseCount, FunnelCount, Period, funnel_report, funnel_table, renewal_report, renewal_table, to_csv,
)
from tests.scenario import Scenario
from renewals.case.contract import LossReason, Stage
from workflows.renewal import ACTIVITY_TIMEOUT

CONSOLE_ZH, CONSOLE_EN = translator("zh"), translator("en")
STAGES = [s for s in Stage if s is not Stage.WAITING]


def _reports() -> tuple:
    period = Period(date(2026, 3, 1), date(2026, 3, 31))
    manager = uuid.uuid4()
    renewals = renewal_report([CaseCount(True, "3100", "SH", "310101", "HP", manager, "Li", "LOST", r.value, 1)
                               for r in LossReason], period)
    funnel = funnel_report([FunnelCount(-90, False, "POST_EXPIRY", True, "RENEWED", 3)], period)
    return renewals, funnel


def _send(sc: Scenario, settings, case, at, stage: Stage, template: str, recipient: str) -> None:
    """The workflow's send_sms activity, for real: rendered from the database, sent to the fake Twilio."""
    env = ActivityEnvironment()
    env.info = replace(env.info, start_to_close_timeout=ACTIVITY_TIMEOUT)
    request = SmsRequest(case_id=case.case_id, template=template, recipient=recipient,
                         idempotency_key=f"{case.case_id}:{stage}:{template}:-60", at=at, stage=stage, day=-60)
    env.run(Notifications(sc.engine, TwilioNotifier(settings), settings).send_sms, request)


async def test_the_console_the_reports_and_the_sms_use_one_word_per_stage_and_loss_reason(sc: Scenario, settings):
    renewals, funnel = _reports()
    funnel_rows = {row[0] for row in funnel_table(funnel).rows}
    english_funnel_rows = {row[0] for row in funnel_table(funnel, "en").rows}
    columns, english_columns = renewal_table(renewals).columns, renewal_table(renewals, "en").columns
    csv_header = to_csv(renewal_table(renewals)).decode("utf-8-sig").splitlines()[0].split(",")

    case = await sc.start(days_to_expiry=62)
    await sc.sleep_until(case.at(-60, 10))  # the case is written (and its first notice sent)
    now = await sc.now()
    escalations = []
    for stage in STAGES:
        with Session(sc.engine) as session:  # the SMS names the stage the case's row is in
            session.execute(update(RenewalCase).where(RenewalCase.id == case.case_id).values(stage=stage.value))
            session.commit()
        _send(sc, settings, case, now, stage, "deputy_escalation", "deputy")
        escalations.append(sc.sms_to(case.deputy_phone)[-1])
    _send(sc, settings, case, now, Stage.POST_EXPIRY, "loss_reason_request", "owner")
    [loss_reason_request] = sc.sms_to(case.owner_phone)

    for stage, escalation in zip(STAGES, escalations, strict=True):
        zh, en = CONSOLE_ZH(stage.value), CONSOLE_EN(stage.value)
        assert f"{zh} {stage}" in funnel_rows and f"{en} {stage}" in english_funnel_rows, stage
        assert f"当前阶段：{zh}(" in escalation, escalation
    for reason in LossReason:
        zh, en = CONSOLE_ZH(reason.value), CONSOLE_EN(reason.value)
        assert f"流失-{zh}" in columns and f"流失-{zh}" in csv_header and f"Lost {en}" in english_columns, reason
    # The SMS numbers every reason staff can choose, in the console's words (the reply maps the number back).
    numbered = " ".join(f"{i}{CONSOLE_ZH(r.value)}" for i, r in enumerate(LOSS_REASON_CHOICES, 1))
    assert numbered in loss_reason_request, loss_reason_request


def test_the_sms_names_a_stage_with_the_days_its_tasks_run_from_the_calendar():
    assert stage_with_days(Stage.THIRD_CONTACT) == "第三次接触(终保前20~11天)"
    assert stage_with_days(Stage.FIRST_CONTACT) == "第一次接触(终保前60~45天)"  # the call is due at T-45
    assert stage_with_days(Stage.POST_EXPIRY) == "第六次接触(到期后1~7天)"
    assert stage_with_days(Stage.DEPUTY_SUPERVISION, "en") == "Deputy supervision (T-10 to T-8)"
    assert stage_with_days(Stage.WAITING) == "等待续保窗口"


def test_the_seed_wording_and_one_word_per_thing():
    assert [word(r) for r in LOSS_REASON_CHOICES[:3]] == ["价格原因", "理赔原因", "人情原因"]
    assert LossReason.unknown not in LOSS_REASON_CHOICES, "nobody chooses 'unknown': the case records it"
    chinese = [word(v) for v in (*Stage, *LossReason)]
    english = [word(v, "en") for v in (*Stage, *LossReason)]
    assert len(set(chinese)) == len(chinese) and len(set(english)) == len(english)
    with pytest.raises(ValueError, match="RENEWED"):
        word("RENEWED")
