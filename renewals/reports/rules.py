"""Reports (SPEC §9): renewal and lapse rates with loss reasons, the renewal funnel, daily-task
compliance. Pure computation only: the SQL in `renewals/reports/queries.py` hands over grouped
counts, and everything here (periods, rates, roll-ups, what a case passed through, the tables
that CSV files and the CLI print) is plain functions over them.

Definitions a renewal team reads the figures by:
- A case belongs to a period by its policy's expiry date (终保日).
- Renewal rate = renewed / renewable, lapse rate = lapsed / renewable, where renewable = due less
  the cases closed (policy cancelled, vehicle scrapped or transferred: nothing left to renew).
  While cases of the period are still open the rates are provisional.
- A daily task (one call a day in THIRD_CONTACT, FINAL_CONTACT, POST_EXPIRY) is handled the same
  day when it is done before its day ends; it is missed when its day ended without it. Window
  tasks (first and second contact calls, supervision, complaints, loss reasons) are overdue when
  their deadline passed and they are still open.
- A window that passed before a case could enter it (its worker down, or too late to wake it) is
  skipped in the funnel, not reached: nobody worked the case in it.
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from renewals.case.calendar import STAGE_ORDER, plan_renewal
from renewals.core.csv_export import csv_file
from renewals.case.labels import LOSS_REASON_WORDS, STAGE_WORDS, word
from renewals.case.contract import LossReason, Outcome, Stage

MAX_PERIOD_DAYS = 366

# The funnel's stages: every window a case can pass through.
FUNNEL_STAGES: tuple[Stage, ...] = tuple(s for s in STAGE_ORDER if s is not Stage.WAITING)
LEVEL_LABELS = {"total": "合计", "branch": "分公司", "sub_branch": "支公司", "manager": "客户经理"}


# --- periods -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    start: date  # both ends included
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Period:
        """The period of the same length just before: a month's report sits beside the month
        before only when both have the same number of days, so whole months compare as months."""
        if self.start.day == 1 and (self.end + timedelta(days=1)).day == 1:
            months = (self.end.year - self.start.year) * 12 + self.end.month - self.start.month + 1
            first = _add_months(self.start, -months)
            return Period(first, self.start - timedelta(days=1))
        return Period(self.start - timedelta(days=self.days), self.start - timedelta(days=1))


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


class PeriodError(ValueError):
    def __init__(self, field_name: str, reason: str):
        super().__init__(f"{field_name}: {reason}")
        self.field = field_name


def make_period(start: date | None, end: date | None, today: date) -> Period:
    """The requested period; by default the current calendar month."""
    month_start = today.replace(day=1)
    start = start or (month_start if end is None else end.replace(day=1))
    end = end or (_add_months(start, 1) - timedelta(days=1))
    if end < start:
        raise PeriodError("to", f"{end} is before from ({start})")
    period = Period(start, end)
    if period.days > MAX_PERIOD_DAYS:
        raise PeriodError("to", f"a report covers at most {MAX_PERIOD_DAYS} days")
    return period


def unrolled_days(period: Period, rolled: Iterable[date]) -> list[tuple[date, date]]:
    """The runs of consecutive days of the period not in `rolled` (first, last): what the task
    report still scans because the daily roll-up does not hold them yet."""
    rolled = set(rolled)
    runs: list[tuple[date, date]] = []
    day = period.start
    while day <= period.end:
        if day not in rolled:
            if runs and runs[-1][1] == day - timedelta(days=1):
                runs[-1] = (runs[-1][0], day)
            else:
                runs.append((day, day))
        day += timedelta(days=1)
    return runs


def rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


# --- renewal and lapse rates, loss reasons -----------------------------------------------------------


@dataclass(frozen=True)
class CaseCount:
    """One row from the database: cases of one manager with one outcome (and loss reason)."""

    current: bool  # the report's period (else the previous one)
    branch_code: str
    branch_name: str
    sub_branch_code: str
    sub_branch_name: str
    manager_id: uuid.UUID
    manager_name: str
    outcome: str | None
    reason: str | None
    cases: int


@dataclass
class RenewalFigures:
    due: int = 0
    renewed: int = 0
    lost: int = 0
    lapsed: int = 0
    closed: int = 0
    open: int = 0
    lost_by_reason: dict[str, int] = field(default_factory=dict)
    renewal_rate: float | None = None
    lapse_rate: float | None = None


def renewal_figures(counts: Counter[tuple[str | None, str | None]]) -> RenewalFigures:
    by_outcome: Counter[str | None] = Counter()
    reasons: Counter[str] = Counter()
    for (outcome, reason), n in counts.items():
        by_outcome[outcome] += n
        if outcome == Outcome.LOST:
            reasons[reason or LossReason.unknown] += n
    due = sum(by_outcome.values())
    renewable = due - by_outcome[Outcome.CLOSED]
    return RenewalFigures(
        due=due, renewed=by_outcome[Outcome.RENEWED], lost=by_outcome[Outcome.LOST], lapsed=by_outcome[Outcome.LAPSED],
        closed=by_outcome[Outcome.CLOSED], open=by_outcome[None],
        lost_by_reason={r.value: reasons[r] for r in LossReason if reasons[r]},
        renewal_rate=rate(by_outcome[Outcome.RENEWED], renewable), lapse_rate=rate(by_outcome[Outcome.LAPSED], renewable),
    )


@dataclass
class RenewalRow:
    level: str  # total, branch, sub_branch, manager
    branch_code: str | None
    branch_name: str | None
    sub_branch_code: str | None
    sub_branch_name: str | None
    manager_id: uuid.UUID | None
    manager_name: str | None
    current: RenewalFigures
    previous: RenewalFigures


@dataclass
class RenewalReport:
    period: Period
    previous_period: Period
    total: RenewalRow
    branches: list[RenewalRow]
    sub_branches: list[RenewalRow]
    managers: list[RenewalRow]

    def rows(self) -> list[RenewalRow]:
        """Total, then each branch with its sub-branches, each followed by its managers."""
        out = [self.total]
        for branch in self.branches:
            out.append(branch)
            for sub in (s for s in self.sub_branches if s.branch_code == branch.branch_code):
                out.append(sub)
                out += [m for m in self.managers if m.sub_branch_code == sub.sub_branch_code]
        return out


def renewal_report(counts: Iterable[CaseCount], period: Period) -> RenewalReport:
    """Roll manager-level counts up to sub-branches, branches and the total, for both periods."""
    groups: dict[tuple, list[Counter]] = defaultdict(lambda: [Counter(), Counter()])
    for c in counts:
        keys = [
            ("total", None, None, None, None, None, None),
            ("branch", c.branch_code, c.branch_name, None, None, None, None),
            ("sub_branch", c.branch_code, c.branch_name, c.sub_branch_code, c.sub_branch_name, None, None),
            ("manager", c.branch_code, c.branch_name, c.sub_branch_code, c.sub_branch_name, c.manager_id,
             c.manager_name),
        ]
        for key in keys:
            groups[key][0 if c.current else 1][(c.outcome, c.reason)] += c.cases
    groups.setdefault(("total", None, None, None, None, None, None), [Counter(), Counter()])
    rows = [RenewalRow(*key, current=renewal_figures(now), previous=renewal_figures(before))
            for key, (now, before) in groups.items()]
    rows.sort(key=lambda r: (r.branch_code or "", r.sub_branch_code or "", r.manager_name or "", str(r.manager_id)))
    by_level = defaultdict(list)
    for row in rows:
        by_level[row.level].append(row)
    return RenewalReport(period, period.previous(), by_level["total"][0], by_level["branch"], by_level["sub_branch"],
                         by_level["manager"])


# A chart stays readable (and quick to draw) with up to this many bars.
MAX_BARS = 30


def label(row: RenewalRow) -> str:
    return row.manager_name or row.sub_branch_name or row.branch_name or LEVEL_LABELS["total"]


def chart_rows(report: RenewalReport) -> tuple[str, list[RenewalRow]]:
    """The finest level that fits one chart: managers, else sub-branches, else branches (a filter
    on a sub-branch brings its managers back)."""
    for level, rows in (("manager", report.managers), ("sub_branch", report.sub_branches)):
        if len(rows) <= MAX_BARS:
            return level, rows
    return "branch", report.branches


# --- the renewal funnel ------------------------------------------------------------------------------

# The calendar laid out once for a reference expiry: window boundaries are the same relative days
# for every policy, so a case's first stage follows from the day it started on.
_REFERENCE_PLAN = plan_renewal(date(2001, 1, 1), "UTC")
OPEN_HOUR = _REFERENCE_PLAN.open_hour
EARLIEST_DAY = -61  # before the first window: starts counted from FIRST_CONTACT
LATEST_DAY = 8


def stage_on_day(day: int, before_opening: bool) -> Stage:
    """The stage a case is in on day T`day` (at `before_opening`, before that day's 09:00 opening)."""
    at = _REFERENCE_PLAN.opening(day)
    return _REFERENCE_PLAN.stage_at(at if not before_opening else at - timedelta(seconds=1))


@dataclass(frozen=True)
class FunnelCount:
    """Cases grouped by how they started and how far they went."""

    start_day: int  # the local day the case started on, relative to expiry, clamped to EARLIEST..LATEST
    started_before_opening: bool  # started before that day's opening hour
    last_stage: str  # the stage it ended in (outcome_stage), or is in now
    escalated: bool
    outcome: str | None
    cases: int
    skipped: Sequence[str] = ()  # windows that passed before the case could enter them


def stages_passed(start_day: int, started_before_opening: bool, last_stage: str, escalated: bool) -> list[Stage]:
    """The stages a case went through: from the window it started in to the one it ended in (or is
    in now); deputy supervision only when it was escalated. A case still waiting passed none."""
    last = Stage(last_stage)
    if last is Stage.WAITING:
        return []
    first = stage_on_day(start_day, started_before_opening)
    first_index = max(STAGE_ORDER.index(first), STAGE_ORDER.index(Stage.FIRST_CONTACT))
    last_index = STAGE_ORDER.index(last)
    return [s for s in FUNNEL_STAGES if first_index <= STAGE_ORDER.index(s) <= last_index
            and (s is not Stage.DEPUTY_SUPERVISION or escalated)]


@dataclass
class FunnelStage:
    stage: str
    label: str
    reached: int  # cases that went through this stage
    skipped: int  # cases that should have, but it passed before they could enter it (worker down or late)
    renewed: int  # won here
    lost: int  # renewed elsewhere, reported here
    share_of_renewed: float | None  # of all renewals of the period, the share won here
    conversion: float | None  # renewed here / reached


@dataclass
class FunnelReport:
    period: Period
    cases: int
    waiting: int  # not yet in any window
    renewed: int
    renewal_rate: float | None  # renewed / all cases of the period (closed ones included: a funnel counts entries)
    stages: list[FunnelStage]


def funnel_report(counts: Iterable[FunnelCount], period: Period) -> FunnelReport:
    reached: Counter[Stage] = Counter()
    skipped: Counter[Stage] = Counter()
    won: Counter[Stage] = Counter()
    lost: Counter[Stage] = Counter()
    total = waiting = 0
    for c in counts:
        total += c.cases
        passed = stages_passed(c.start_day, c.started_before_opening, c.last_stage, c.escalated)
        if not passed:
            waiting += c.cases
        for stage in passed:
            if stage not in c.skipped:
                reached[stage] += c.cases
        for stage in c.skipped:
            skipped[Stage(stage)] += c.cases
        if c.outcome == Outcome.RENEWED:
            won[Stage(c.last_stage)] += c.cases
        elif c.outcome == Outcome.LOST:
            lost[Stage(c.last_stage)] += c.cases
    renewed = sum(won.values())
    stages = [FunnelStage(stage=s.value, label=word(s), reached=reached[s], skipped=skipped[s], renewed=won[s],
                          lost=lost[s], share_of_renewed=rate(won[s], renewed), conversion=rate(won[s], reached[s]))
              for s in FUNNEL_STAGES]
    return FunnelReport(period, total, waiting, renewed, rate(renewed, total), stages)


# --- daily-task compliance ---------------------------------------------------------------------------


def _is_daily(stage: Stage) -> bool:
    slots = _REFERENCE_PLAN.task_slots(stage)
    return len(slots) > 1 and all(_REFERENCE_PLAN.end_of_day(s.day) == s.due_at for s in slots)


# The day (relative to expiry) deputy supervision opens: an escalation belongs to the period it opens in.
ESCALATION_DAY = _REFERENCE_PLAN.day_of(_REFERENCE_PLAN.window(Stage.DEPUTY_SUPERVISION).starts_at)

# Stages whose call tasks are daily (one call a day, due at the end of its day), from the calendar.
DAILY_STAGES: tuple[str, ...] = tuple(s.value for s in STAGE_ORDER if _is_daily(s))


@dataclass(frozen=True)
class TaskCount:
    """One staff member's tasks opened in the period (None: everybody's, for the total)."""

    manager_id: uuid.UUID | None
    manager_name: str | None
    role: str | None
    sub_branch_code: str | None
    opened: int  # not cancelled
    daily_due: int  # daily tasks whose day has ended, or that were handled
    daily_same_day: int
    missed: int
    overdue_open: int
    pending: int  # open, not yet due
    handled: int
    median_seconds_to_handle: float | None
    final_week_contacts: int = 0  # final-week calls handled by a contact
    final_week_both_sms: int = 0  # of those, followed by the quote and the service-request SMS


@dataclass
class TaskRow:
    manager_id: uuid.UUID | None
    manager_name: str | None
    role: str | None
    sub_branch_code: str | None
    opened: int
    handled: int
    daily_due: int
    handled_same_day: int
    compliance_rate: float | None  # handled the same day / daily tasks due
    missed: int
    overdue_open: int
    pending: int
    escalations: int  # of this manager's cases, escalated to the deputy in the period (T-10 in it)
    median_minutes_to_handle: float | None
    final_week_contacts: int = 0
    final_week_both_sms: int = 0
    # The seed: after every final-week contact, both SMS (报价短信、诚恳请求给予服务机会的短信).
    final_week_both_sms_rate: float | None = None


@dataclass
class TaskReport:
    period: Period
    total: TaskRow
    managers: list[TaskRow]

    def rows(self) -> list[TaskRow]:
        return [self.total, *self.managers]

    def chart_rows(self) -> list[TaskRow]:
        """Every manager, or when too many for one chart, those with the lowest compliance."""
        if len(self.managers) <= MAX_BARS:
            return self.managers
        return sorted(self.managers, key=lambda r: (r.compliance_rate is None, r.compliance_rate or 0))[:MAX_BARS]


def task_report(counts: Iterable[TaskCount], escalations: dict[uuid.UUID, int], period: Period) -> TaskReport:
    rows: list[TaskRow] = []
    total = None
    for c in counts:
        median = None if c.median_seconds_to_handle is None else round(c.median_seconds_to_handle / 60, 1)
        row = TaskRow(c.manager_id, c.manager_name, c.role, c.sub_branch_code, c.opened, c.handled, c.daily_due,
                      c.daily_same_day, rate(c.daily_same_day, c.daily_due), c.missed, c.overdue_open, c.pending,
                      escalations.get(c.manager_id, 0) if c.manager_id else sum(escalations.values()), median,
                      c.final_week_contacts, c.final_week_both_sms, rate(c.final_week_both_sms, c.final_week_contacts))
        if c.manager_id is None:
            total = row
        else:
            rows.append(row)
    if total is None:
        total = TaskRow(None, None, None, None, 0, 0, 0, 0, None, 0, 0, 0, sum(escalations.values()), None)
    rows.sort(key=lambda r: (r.sub_branch_code or "", r.manager_name or "", str(r.manager_id)))
    return TaskReport(period, total, rows)


# --- tables: what CSV files and the CLI show ---------------------------------------------------------


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[str]]


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:g}"


# The tables' words in English, for the console in English. CSV files and the CLI stay Chinese, as
# the renewal team's Excel and terminals read them.
ENGLISH = {
    "续保率与脱保率": "Renewal and lapse rates", "续保漏斗": "Renewal funnel", "每日任务完成情况": "Daily task compliance",
    "上期": "previous period", "件": "cases", "未进入窗口": "not yet in a window",
    "层级": "Level", "分公司代码": "Branch code", "分公司": "Branch", "支公司代码": "Sub-branch code",
    "支公司": "Sub-branch", "客户经理": "Manager", "合计": "Total", "到期": "Due", "续保": "Renewed", "流失": "Lost",
    "脱保": "Lapsed", "注销": "Closed", "跟进中": "Open", "续保率": "Renewal rate", "脱保率": "Lapse rate",
    "阶段": "Stage", "进入": "Reached", "跳过": "Skipped", "在此续保": "Renewed here", "在此流失": "Lost here",
    "阶段转化率": "Stage conversion", "占续保比": "Share of renewals", "角色": "Role", "任务数": "Tasks",
    "已办理": "Handled", "应办每日任务": "Daily calls due", "当日办理": "Handled the same day",
    "当日办理率": "Same-day rate", "当日未办": "Missed", "逾期未办": "Overdue", "待办": "Pending",
    "升级督办": "Escalations", "办理时长中位数（分钟）": "Median minutes to handle",
    "末周联系": "Final-week contacts", "联系后两条短信率": "Followed by both SMS",
    **dict(STAGE_WORDS.values()), **dict(LOSS_REASON_WORDS.values()),
}


class _Words:
    """The tables' words in `language` (zh-CN or en): w("到期"), and w.pair("上期", "到期") for a
    column made of two words ("上期到期", "previous period Due"; `joiner` between Chinese ones)."""

    def __init__(self, language: str):
        self.english = language == "en"

    def __call__(self, chinese: str) -> str:
        return ENGLISH[chinese] if self.english else chinese

    def pair(self, first: str, second: str, joiner: str = "") -> str:
        return f"{self(first)} {self(second)}" if self.english else first + joiner + second


def _who(row: RenewalRow, w: _Words) -> list[str]:
    return [w(LEVEL_LABELS[row.level]), row.branch_code or "", row.branch_name or "", row.sub_branch_code or "",
            row.sub_branch_name or "", row.manager_name or ""]


def renewal_table(report: RenewalReport, language: str = "zh-CN") -> Table:
    w = _Words(language)
    reasons = list(LossReason)
    figures = ["到期", "续保", "流失", "脱保", "注销", "跟进中", "续保率", "脱保率"]
    columns = [*map(w, ["层级", "分公司代码", "分公司", "支公司代码", "支公司", "客户经理", *figures]),
               *(w.pair("流失", word(r), "-") for r in reasons),
               *(w.pair("上期", f) for f in ("到期", "续保", "脱保", "续保率", "脱保率"))]
    rows = []
    for row in report.rows():
        now, before = row.current, row.previous
        rows.append([
            *_who(row, w), str(now.due), str(now.renewed), str(now.lost), str(now.lapsed), str(now.closed),
            str(now.open), _pct(now.renewal_rate), _pct(now.lapse_rate),
            *(str(now.lost_by_reason.get(r, 0)) for r in reasons),
            str(before.due), str(before.renewed), str(before.lapsed), _pct(before.renewal_rate),
            _pct(before.lapse_rate),
        ])
    title = (f"{w('续保率与脱保率')} {report.period.start} — {report.period.end} "
             f"({w('上期')} {report.previous_period.start} — {report.previous_period.end})")
    return Table(title, columns, rows)


def funnel_table(report: FunnelReport, language: str = "zh-CN") -> Table:
    w = _Words(language)
    rows = [[f"{w(s.label)} {s.stage}", str(s.reached), str(s.skipped), str(s.renewed), str(s.lost),
             _pct(s.conversion), _pct(s.share_of_renewed)] for s in report.stages]
    rows.append([w("合计"), str(report.cases), str(sum(s.skipped for s in report.stages)), str(report.renewed),
                 str(sum(s.lost for s in report.stages)), _pct(report.renewal_rate),
                 _pct(1.0 if report.renewed else None)])
    title = (f"{w('续保漏斗')} {report.period.start} — {report.period.end}: {report.cases} {w('件')}, "
             f"{w('未进入窗口')} {report.waiting} {w('件')}")
    return Table(title, list(map(w, ["阶段", "进入", "跳过", "在此续保", "在此流失", "阶段转化率", "占续保比"])), rows)


def task_table(report: TaskReport, language: str = "zh-CN") -> Table:
    w = _Words(language)
    columns = list(map(w, ["客户经理", "角色", "支公司代码", "任务数", "已办理", "应办每日任务", "当日办理", "当日办理率",
                           "当日未办", "逾期未办", "待办", "升级督办", "办理时长中位数（分钟）", "末周联系",
                           "联系后两条短信率"]))
    rows = [[r.manager_name or w("合计"), word(r.role, language) if r.role else "", r.sub_branch_code or "", str(r.opened), str(r.handled),
             str(r.daily_due), str(r.handled_same_day), _pct(r.compliance_rate), str(r.missed), str(r.overdue_open),
             str(r.pending), str(r.escalations), _num(r.median_minutes_to_handle), str(r.final_week_contacts),
             _pct(r.final_week_both_sms_rate)] for r in report.rows()]
    return Table(f"{w('每日任务完成情况')} {report.period.start} — {report.period.end}", columns, rows)


def to_csv(table: Table) -> bytes:
    return csv_file(table.columns, table.rows)


class FontMissing(RuntimeError):
    """A chart's CJK font is not installed (defined with the pure rules: catching it loads no matplotlib)."""
