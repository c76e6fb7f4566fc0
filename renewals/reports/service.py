"""The reports as a reader asks for them: computed over the reader's scope, kept for the links of a
console page view, and written as CSV or drawn as a chart."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from cachetools import TTLCache
from sqlalchemy import ColumnElement
from sqlmodel import Session

from renewals.reports import queries as q
from renewals.reports.queries import Filters
from renewals.reports.rules import Period, Table, funnel_table, renewal_table, task_table, to_csv

SVG_POLICY = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"


class Format(StrEnum):
    json = "json"
    csv = "csv"
    png = "png"
    svg = "svg"


class RenewalChart(StrEnum):
    rates = "rates"
    loss_reasons = "loss_reasons"


@dataclass(frozen=True)
class Reading:
    """What every report is computed over: the period, the filters, and the reader's scope as
    conditions on cases and on tasks (api/access.py decides both)."""

    period: Period
    filters: Filters
    cases: ColumnElement[bool]
    tasks: ColumnElement[bool]
    timezone: str
    now: datetime


@dataclass(frozen=True)
class Report:
    compute: Callable[[Session, Reading], Any]
    table: Callable[..., Table]
    charts: dict[RenewalChart | None, str]  # the chart asked for: the function of renewals.reports.charts


REPORTS = {
    "renewals": Report(lambda session, r: q.renewals_report(session, r.period, r.cases, r.filters), renewal_table,
                       {RenewalChart.rates: "rates_chart", RenewalChart.loss_reasons: "loss_reasons_chart"}),
    "funnel": Report(lambda session, r: q.funnel(session, r.period, r.cases, r.filters), funnel_table,
                     {None: "funnel_chart"}),
    "tasks": Report(lambda session, r: q.tasks_report(session, r.period, r.tasks, r.cases, r.filters, r.timezone,
                                                      r.now), task_table, {None: "compliance_chart"}),
}

# The reports a console page view computed, read again by the charts and CSV downloads the page
# links to: each report is computed once per page view, and the links show the figures of the
# page's tables. An entry is found only with the page view's id by the same reader, report, period
# and filters; it lives a minute, and at most PAGE_VIEW_REPORTS are kept.
PAGE_VIEW_SECONDS = 60
PAGE_VIEW_REPORTS = 64
_page_view_reports: TTLCache[tuple, Any] = TTLCache(maxsize=PAGE_VIEW_REPORTS, ttl=PAGE_VIEW_SECONDS)
_page_view_lock = threading.Lock()  # TTLCache is not thread-safe; pages run in a thread pool


def report(session: Session, name: str, reading: Reading, page_view: tuple | None = None) -> Any:
    """The report `name`; with `page_view` (its id and who reads it), once per console page view."""
    if page_view is None:
        return REPORTS[name].compute(session, reading)
    key = (*page_view, name, reading.period, reading.filters)
    with _page_view_lock:
        computed = _page_view_reports.get(key)
    if computed is None:
        computed = REPORTS[name].compute(session, reading)
        with _page_view_lock:
            _page_view_reports[key] = computed
    return computed


@dataclass(frozen=True)
class ReportFile:
    body: bytes
    media_type: str
    headers: dict[str, str]


def report_file(name: str, computed: Any, period: Period, fmt: Format,
                chart: RenewalChart | None = None) -> ReportFile:
    """The report as CSV (UTF-8 with BOM, for Excel) or drawn as a PNG or SVG chart; raises
    FontMissing when the chart's CJK font is not installed."""
    kind = REPORTS[name]
    if fmt is Format.csv:
        return ReportFile(to_csv(kind.table(computed)), "text/csv; charset=utf-8",
                          {"Content-Disposition": f'attachment; filename="{name}_{period.start}_{period.end}.csv"'})
    # Imported at the first chart: matplotlib costs every API process a second at start-up.
    from renewals.reports import charts

    draw = getattr(charts, kind.charts[chart if chart in kind.charts else None])
    # An SVG opened in a tab is a document: it may use its own inline styles, and nothing else.
    policy = {"Content-Security-Policy": SVG_POLICY} if fmt is Format.svg else {}
    return ReportFile(draw(computed, fmt.value), charts.FORMATS[fmt.value], policy)
