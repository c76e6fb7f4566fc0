"""The pure side of the reports: periods, what a case passed through, rates, roll-ups; and the
CJK font the charts need."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import date

import pytest
from PIL import Image

from renewals.reports import charts
from renewals.reports.rules import (
    DAILY_STAGES, ESCALATION_DAY, MAX_BARS, CaseCount, FunnelCount, Period, PeriodError, chart_rows, funnel_report,
    Table, funnel_table, label, make_period, renewal_report, stages_passed, to_csv,
)
from renewals.intake.policy_file import errors_csv


def test_the_previous_period_is_the_months_before_for_whole_months_else_the_same_days():
    assert Period(date(2026, 3, 1), date(2026, 3, 31)).previous() == Period(date(2026, 2, 1), date(2026, 2, 28))
    assert Period(date(2026, 1, 1), date(2026, 3, 31)).previous() == Period(date(2025, 10, 1), date(2025, 12, 31))
    assert Period(date(2026, 3, 10), date(2026, 3, 16)).previous() == Period(date(2026, 3, 3), date(2026, 3, 9))


def test_periods_default_to_this_month_and_refuse_what_makes_no_sense():
    assert make_period(None, None, date(2026, 2, 14)) == Period(date(2026, 2, 1), date(2026, 2, 28))
    assert make_period(date(2026, 3, 5), None, date(2026, 2, 14)) == Period(date(2026, 3, 5), date(2026, 3, 31))
    with pytest.raises(PeriodError, match="to: 2026-03-01 is before from"):
        make_period(date(2026, 3, 2), date(2026, 3, 1), date(2026, 2, 14))
    with pytest.raises(PeriodError, match="at most 366 days"):
        make_period(date(2025, 1, 1), date(2026, 3, 1), date(2026, 2, 14))


def test_stages_passed_follow_the_calendar_from_the_window_a_case_started_in():
    assert stages_passed(-90, False, "THIRD_CONTACT", False) == ["FIRST_CONTACT", "SECOND_CONTACT", "THIRD_CONTACT"]
    assert stages_passed(-25, False, "THIRD_CONTACT", False) == ["SECOND_CONTACT", "THIRD_CONTACT"]
    # T-30 before 09:00 is still the first-contact window
    assert stages_passed(-30, True, "SECOND_CONTACT", False) == ["FIRST_CONTACT", "SECOND_CONTACT"]
    assert stages_passed(-90, False, "FINAL_CONTACT", False)[-2:] == ["THIRD_CONTACT", "FINAL_CONTACT"]
    assert "DEPUTY_SUPERVISION" in stages_passed(-90, False, "FINAL_CONTACT", True)
    assert stages_passed(-90, False, "WAITING", False) == []


def test_the_funnel_counts_windows_that_passed_before_a_case_could_enter_them_apart():
    skipped = ["SECOND_CONTACT", "THIRD_CONTACT"]
    report = funnel_report([FunnelCount(-62, False, "FINAL_CONTACT", False, None, 2, skipped),
                            FunnelCount(-62, False, "FINAL_CONTACT", False, None, 1)],
                           Period(date(2026, 3, 1), date(2026, 3, 31)))
    by_stage = {s.stage: (s.reached, s.skipped) for s in report.stages}
    assert by_stage == {"FIRST_CONTACT": (3, 0), "SECOND_CONTACT": (1, 2), "THIRD_CONTACT": (1, 2),
                        "DEPUTY_SUPERVISION": (0, 0), "FINAL_CONTACT": (3, 0), "POST_EXPIRY": (0, 0)}
    assert funnel_table(report, "en").rows[1][:3] == ["Second contact SECOND_CONTACT", "1", "2"]
    assert funnel_table(report).columns[:3] == ["阶段", "进入", "跳过"]


def test_daily_stages_and_the_escalation_day_come_from_the_calendar():
    assert DAILY_STAGES == ("THIRD_CONTACT", "FINAL_CONTACT", "POST_EXPIRY")
    assert ESCALATION_DAY == -10


def test_rates_leave_closed_cases_out_and_roll_up_to_the_total():
    def count(manager, outcome, n, reason=None, current=True):
        return CaseCount(current, "3100", "上海分公司", "310101", "黄浦支公司", manager, "甲", outcome, reason, n)

    a = uuid.uuid4()
    report = renewal_report([count(a, "RENEWED", 3), count(a, "CLOSED", 1), count(a, "LAPSED", 1),
                             count(a, "LOST", 1), count(a, None, 1), count(a, "RENEWED", 2, current=False)],
                            Period(date(2026, 3, 1), date(2026, 3, 31)))
    figures = report.total.current
    assert (figures.due, figures.renewal_rate, figures.lapse_rate) == (7, 0.5, 0.1667)
    assert figures.lost_by_reason == {"unknown": 1}
    assert (report.total.previous.due, report.total.previous.renewal_rate) == (2, 1.0)
    empty = renewal_report([], Period(date(2026, 3, 1), date(2026, 3, 31)))
    assert (empty.total.current.due, empty.total.current.renewal_rate, empty.managers) == (0, None, [])


# A missing Chinese glyph fails; other warnings (a connection another test left to the collector) do not.
@pytest.mark.filterwarnings("error:Glyph .* missing:UserWarning")
def test_chinese_labels_render_with_a_cjk_font():
    from matplotlib.ft2font import FT2Font

    font = FT2Font(charts.cjk_font_path())
    assert all(font.get_char_index(ord(ch)) for ch in "续保率脱保流失原因漏斗每日任务当日办理甲乙丙经理")
    report = funnel_report([FunnelCount(-90, False, "FINAL_CONTACT", True, "RENEWED", 3)],
                           Period(date(2026, 3, 1), date(2026, 3, 31)))
    image = Image.open(io.BytesIO(charts.funnel_chart(report, "png")))
    assert image.size == (charts.WIDTH_PX, charts.HEIGHT_PX)


def test_a_chart_shows_sub_branches_when_a_branch_has_too_many_managers():
    counts = [CaseCount(True, "3100", "上海分公司", f"S{m % 2}", f"支公司{m % 2}", uuid.uuid4(), f"经理{m}", "RENEWED",
                        None, 1) for m in range(MAX_BARS + 1)]
    period = Period(date(2026, 3, 1), date(2026, 3, 31))
    level, rows = chart_rows(renewal_report(counts, period))
    assert (level, [label(r) for r in rows]) == ("sub_branch", ["支公司0", "支公司1"])
    level, rows = chart_rows(renewal_report(counts[:MAX_BARS], period))
    assert (level, len(rows)) == ("manager", MAX_BARS)


def test_the_tables_read_in_english_on_the_english_console_and_stay_chinese_for_excel():
    """Every word of every table has its English: no Chinese is left in an English table (the
    branch, sub-branch and staff names are data and stay as they are)."""
    import re

    from renewals.reports.rules import TaskCount, renewal_table, task_report, task_table

    period = Period(date(2026, 3, 1), date(2026, 3, 31))
    manager = uuid.uuid4()
    renewals = renewal_report([CaseCount(True, "3100", "SH", "310101", "HP", manager, "Li", "LOST", "price", 2)], period)
    funnel = funnel_report([FunnelCount(-90, False, "FINAL_CONTACT", True, "RENEWED", 3)], period)
    tasks = task_report([TaskCount(manager, "Li", "sales", "310101", 4, 3, 2, 1, 0, 1, 2, 600.0),
                         TaskCount(None, None, None, None, 4, 3, 2, 1, 0, 1, 2, 600.0)], {manager: 1}, period)
    chinese = re.compile(r"[\u4e00-\u9fff]")
    for table in (renewal_table(renewals, "en"), funnel_table(funnel, "en"), task_table(tasks, "en")):
        words = [table.title, *table.columns, *(cell for row in table.rows for cell in row)]
        assert not [w for w in words if chinese.search(w)], table.title
    assert renewal_table(renewals, "en").columns[6:8] == ["Due", "Renewed"]
    assert "Lost price" in renewal_table(renewals, "en").columns
    assert renewal_table(renewals).columns[6:8] == ["到期", "续保"] and "流失-价格原因" in renewal_table(renewals).columns


# A spreadsheet runs a cell that starts with = + - @, a tab or a carriage return (and, in CJK
# locales, their full-width forms); OWASP's advice: a leading single quote makes it text.
FORMULAS = ['=HYPERLINK("http://evil.example","x")', "@SUM(1+1)*cmd|' /C calc'!A0", "+1-2", "-2+3+cmd|'/C calc'!A0",
            "\t=1+1", "\r=1+1", "＝1+1", "＠SUM(A1)"]
# Left as they are: plain numbers, signed or not (a spreadsheet shows them as numbers, runs nothing),
# and text with a sign further in.
PLAIN = ["-5", "+8613812348000", "-12.5%", "44.4%", "0", "", "甲经理", "a=b", "T-18", "'=quoted already"]


def test_every_csv_file_writes_cells_a_spreadsheet_would_run_as_text():
    for written in (to_csv(Table("t", ["名称", *FORMULAS], [[*PLAIN], [*FORMULAS]])),
                    errors_csv([{"row": 2, "column": "name", "reason": text} for text in FORMULAS + PLAIN])):
        cells = [cell for row in csv.reader(io.StringIO(written.decode("utf-8-sig"), newline="")) for cell in row]
        assert [cell for cell in cells if cell in FORMULAS] == [], cells
        assert {f"'{formula}" for formula in FORMULAS} <= set(cells), cells
        assert set(PLAIN) - {""} <= set(cells), cells
