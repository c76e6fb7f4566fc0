"""Reports (SPEC §9): renewal and lapse rates with loss reasons, the renewal funnel, daily-task
compliance. JSON by default; `?format=csv` for Excel, `png`/`svg` for a chart. Each reader sees
the figures of their own scope (api/access.py): managers and admins their branch, deputies their
sub-branch, sales their own, auditors the company. `/reports/lapse-risk` tells how good the
lapse-risk score is on the reader's book."""

from __future__ import annotations

import uuid
from datetime import date as Date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from api.access import case_scope, report_reading
from api.deps import CurrentStaff, NowDep, SessionDep, SettingsDep
from api.errors import ApiError, error_responses
from renewals.intake.service import local_today
from renewals.reports.rules import FunnelReport, PeriodError, RenewalReport, TaskReport, make_period
from renewals.reports.rules import FontMissing
from renewals.reports.service import Format, RenewalChart, report, report_file
from renewals.scoring.service import ScoreQuality, score_quality

router = APIRouter(prefix="/reports", tags=["reports"])

CODE = r"^[A-Za-z0-9_-]+$"


class ReportQuery:
    """The period and filters every report takes, checked against the reader's scope."""

    def __init__(self, staff: CurrentStaff, session: SessionDep, settings: SettingsDep, now: NowDep,
                 start: Annotated[Date | None, Query(alias="from", description="first expiry (or task) day, "
                                                     "YYYY-MM-DD; default the 1st of this month")] = None,
                 end: Annotated[Date | None, Query(alias="to", description="last day, included; default the end "
                                                   "of the month of `from`")] = None,
                 branch: Annotated[str | None, Query(max_length=32, pattern=CODE, description="branch code")] = None,
                 sub_branch: Annotated[str | None, Query(max_length=32, pattern=CODE,
                                                         description="sub-branch code")] = None,
                 manager: Annotated[uuid.UUID | None, Query(description="service manager's staff id")] = None,
                 format: Format = Format.json):
        try:
            period = make_period(start, end, local_today(settings, now))
        except PeriodError as exc:
            raise ApiError(422, str(exc), field=exc.field) from None
        self.reading = report_reading(session, staff, period, settings.timezone, now, branch, sub_branch, manager)
        self.session, self.format = session, format

    def answer(self, name: str, chart: RenewalChart | None = None) -> Any:
        """The report as asked: JSON, CSV, or its chart."""
        computed = report(self.session, name, self.reading)
        if self.format is Format.json:
            return computed
        try:
            file = report_file(name, computed, self.reading.period, self.format, chart)
        except FontMissing as exc:
            raise ApiError(500, str(exc), code="chart_font_missing") from None
        return Response(file.body, media_type=file.media_type, headers=file.headers)


Reading = Annotated[ReportQuery, Depends()]
_FILES = {
    "text/csv": {"schema": {"type": "string"}, "example": "层级,分公司代码,...\r\n合计,,,,,,120,84,..."},
    "image/png": {"schema": {"type": "string", "format": "binary"}},
    "image/svg+xml": {"schema": {"type": "string"}},
}
_PERIOD = {"period": {"start": "2026-03-01", "end": "2026-03-31"}}
_FIGURES = {"due": 10, "renewed": 4, "lost": 2, "lapsed": 1, "closed": 1, "open": 2,
            "lost_by_reason": {"price": 1, "claims": 1}, "renewal_rate": 0.4444, "lapse_rate": 0.1111}
_MANAGER = {"level": "manager", "branch_code": "3100", "branch_name": "上海分公司", "sub_branch_code": "310101",
            "sub_branch_name": "黄浦支公司", "manager_id": "7d1e2c3b-4a59-4b6c-8d7e-9f0a1b2c3d4e",
            "manager_name": "李四", "current": _FIGURES, "previous": _FIGURES | {"renewal_rate": 0.5}}
_EXAMPLES = {
    "renewals": _PERIOD | {"previous_period": {"start": "2026-02-01", "end": "2026-02-28"},
                           "total": _MANAGER | {"level": "total"}, "branches": ["…"], "sub_branches": ["…"],
                           "managers": [_MANAGER]},
    "funnel": _PERIOD | {"cases": 15, "waiting": 1, "renewed": 8, "renewal_rate": 0.5333, "stages": [
        {"stage": "THIRD_CONTACT", "label": "第三次接触", "reached": 9, "skipped": 0, "renewed": 2, "lost": 0,
         "share_of_renewed": 0.25, "conversion": 0.2222}]},
    "tasks": _PERIOD | {"total": "…", "managers": [
        {"manager_id": "7d1e2c3b-4a59-4b6c-8d7e-9f0a1b2c3d4e", "manager_name": "李四", "role": "sales",
         "sub_branch_code": "310101", "opened": 5, "handled": 2, "daily_due": 4, "handled_same_day": 2,
         "compliance_rate": 0.5, "missed": 2, "overdue_open": 1, "pending": 0, "escalations": 1,
         "median_minutes_to_handle": 120.0}]},
}


def _responses(report: str) -> dict[int | str, dict[str, Any]]:
    content = {"application/json": {"example": _EXAMPLES[report]}, **_FILES}
    return {200: {"content": content, "description": "JSON, or the CSV (UTF-8 with BOM) or chart asked for with "
                                                     "`format`"},
            **error_responses(401, 403, 404, 422)}


@router.get(
    "/renewals", summary="Renewal rate, lapse rate and loss reasons by branch, sub-branch and manager",
    description="Cases whose policy expires in the period: renewed, lost (by reason), lapsed, closed and still "
                "open, with renewal rate = renewed / (due − closed) and lapse rate = lapsed / (due − closed), "
                "beside the previous period of the same length (the previous months for whole months). Rows "
                "for the total, each branch, sub-branch and manager in your scope. Charts: `chart=rates` (rates "
                "by manager) or `chart=loss_reasons` (stacked loss reasons by manager).",
    response_model=RenewalReport, responses=_responses("renewals"),
)
def renewals(reading: Reading, chart: RenewalChart = RenewalChart.rates) -> Any:
    return reading.answer("renewals", chart)


@router.get(
    "/funnel", summary="The renewal funnel: how many cases reached each stage, and where renewals were won",
    description="Cases whose policy expires in the period: for each stage (first, second, third contact, deputy "
                "supervision, final contact, post-expiry) how many went through it, and how many were renewed "
                "or lost there. A case passes the windows from the one it started in to the one it ended in "
                "(or is in now); deputy supervision only when it was escalated. A window that passed before "
                "the case could enter it (its worker down or late) counts as skipped, not reached.",
    response_model=FunnelReport, responses=_responses("funnel"),
)
def funnel(reading: Reading) -> Any:
    return reading.answer("funnel")


@router.get(
    "/tasks", summary="Daily-task compliance per manager",
    description="Tasks opened in the period (days in the company time zone), per assignee: daily call tasks "
                "handled the same day out of those due, missed daily tasks, window tasks overdue and still "
                "open, tasks pending, escalations of the manager's cases to the deputy (supervision opening "
                "in the period), and the median time from a task opening to its handling.",
    response_model=TaskReport, responses=_responses("tasks"),
)
def tasks(reading: Reading) -> Any:
    return reading.answer("tasks")


@router.get(
    "/lapse-risk", summary="How good the lapse-risk score is on your book",
    description="The model in use (trained on the book's closed cases, or the documented prior while there are "
                "fewer than 300, which `note` says) with its held-out AUC, and over the latest 2,000 closed cases "
                "in your scope that were scored while open: the AUC of their last score against how they ended "
                "(lost or lapsed vs renewed) and a calibration table by decile (mean score vs observed lapse rate, "
                "in percent).",
    response_model=ScoreQuality, responses={200: {"content": {"application/json": {"example": {
        "model": "lr-20261206T030000-48210", "kind": "trained",
        "note": "按本单位 48210 件已结案件训练 / trained on 48210 closed cases of this book, held-out AUC 0.812",
        "held_out_auc": 0.812, "closed_cases": 2000, "auc": 0.79,
        "deciles": [{"decile": 1, "cases": 200, "mean_score": 4.2, "lapse_rate": 3.5}, "…",
                    {"decile": 10, "cases": 200, "mean_score": 71.8, "lapse_rate": 68.0}]}}}},
        **error_responses(401)},
)
def lapse_risk(staff: CurrentStaff, session: SessionDep) -> ScoreQuality:
    return score_quality(session, case_scope(staff))
