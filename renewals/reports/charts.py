"""Report charts rendered on the server with matplotlib (Agg, no display): rates by manager, loss
reasons stacked by manager, the renewal funnel, daily-task compliance. PNG or SVG.

Chinese labels need a CJK font: Noto Sans CJK SC from Debian's `fonts-noto-cjk` (installed by
.ci/run and the Dockerfile when missing). Nothing is downloaded at run time; without the font the
charts refuse with the package to install, rather than drawing empty boxes.
"""

from __future__ import annotations

import glob
import io
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import matplotlib

matplotlib.use("Agg")

from matplotlib import font_manager, rcParams  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import PercentFormatter  # noqa: E402

from renewals.case.labels import word  # noqa: E402
from renewals.reports.rules import (  # noqa: E402
    LEVEL_LABELS, MAX_BARS, FontMissing, FunnelReport, RenewalReport, TaskReport, chart_rows, label,
)
from renewals.case.contract import LossReason  # noqa: E402

CJK_FAMILY = "Noto Sans CJK SC"
FONT_PACKAGE = "fonts-noto-cjk"
WIDTH_PX, HEIGHT_PX, DPI = 1000, 600, 100
# Fixed axes (left, bottom, width, height as fractions of the figure): the same layout whatever the
# labels, with room on the right for the legend.
AXES_RECT = (0.11, 0.16, 0.69, 0.74)
RENEWED, LAPSED, REACHED, COMPLIANCE, PREVIOUS = "#2e7d32", "#c62828", "#90caf9", "#1565c0", "#212121"
BAR_OFFSET, BAR_WIDTH = 0.2, 0.38  # two bars per manager: renewal rate left, lapse rate right
FORMATS = {"png": "image/png", "svg": "image/svg+xml"}


# Where fonts-noto-cjk puts its files: registered by hand when matplotlib's font cache predates them.
FONT_FILES = "/usr/share/fonts/opentype/noto/NotoSansCJK-*.ttc"


def _find_cjk() -> str:
    return font_manager.findfont(font_manager.FontProperties(family=CJK_FAMILY), fallback_to_default=False)


@lru_cache
def cjk_font_path() -> str:
    """Where matplotlib finds the CJK font; refuses loudly when it does not."""
    try:
        return _find_cjk()
    except ValueError:
        for path in sorted(glob.glob(FONT_FILES)):
            font_manager.fontManager.addfont(path)
    try:
        return _find_cjk()
    except ValueError:
        raise FontMissing(f"the font {CJK_FAMILY!r} is missing: install the Debian package {FONT_PACKAGE} "
                          "(charts would show empty boxes for Chinese labels)") from None


rcParams["font.family"] = "sans-serif"
rcParams["font.sans-serif"] = [CJK_FAMILY, "DejaVu Sans"]
rcParams["axes.unicode_minus"] = False  # the CJK font has no U+2212 minus sign
rcParams["svg.fonttype"] = "path"  # an SVG shows Chinese without the reader having the font


def _chart(title: str, period, has_data: bool, draw: Callable[[Any], None], fmt: str,
           empty: str = "本期无数据 / no cases in this period") -> bytes:
    """One chart on the fixed layout: `draw` fills the axes, or a note says there is nothing to show."""
    cjk_font_path()
    fig = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI, facecolor="white")
    FigureCanvasAgg(fig)
    ax = fig.add_axes(AXES_RECT)
    ax.set_title(f"{title} {period.start} — {period.end}", fontsize=13)
    ax.spines[["top", "right"]].set_visible(False)
    if has_data:
        draw(ax)
    else:
        ax.text(0.5, 0.5, empty, transform=ax.transAxes, ha="center", va="center", fontsize=14, color="#757575")
        ax.set_xticks([])
    out = io.BytesIO()
    fig.savefig(out, format=fmt, dpi=DPI, facecolor="white")
    return out.getvalue()


def _managers_axis(ax, names: list[str]) -> None:
    ax.set_xlim(-0.6, len(names) - 0.4)
    ax.set_xticks(range(len(names)), names, rotation=30 if len(names) > 8 else 0, ha="right" if len(names) > 8 else "center")


def _legend(ax) -> None:
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)


def _rates_by_manager(ax, names: list[str]) -> None:
    ax.set_ylim(0, 1)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    _managers_axis(ax, names)
    _legend(ax)


def rates_chart(report: RenewalReport, fmt: str) -> bytes:
    """Renewal and lapse rate per manager (or sub-branch, when there are too many managers) for the
    period, the previous period's renewal rate as a tick."""
    level, rows = chart_rows(report)

    def draw(ax) -> None:
        xs = range(len(rows))
        ax.bar([x - BAR_OFFSET for x in xs], [r.current.renewal_rate or 0 for r in rows], BAR_WIDTH,
               color=RENEWED, label="续保率")
        ax.bar([x + BAR_OFFSET for x in xs], [r.current.lapse_rate or 0 for r in rows], BAR_WIDTH, color=LAPSED,
               label="脱保率")
        before = [(x - BAR_OFFSET, r.previous.renewal_rate) for x, r in zip(xs, rows)
                  if r.previous.renewal_rate is not None]
        if before:
            ax.scatter([x for x, _ in before], [v for _, v in before], marker="_", s=600, linewidths=2,
                       color=PREVIOUS, label="上期续保率", zorder=3)
        _rates_by_manager(ax, [label(r) for r in rows])

    return _chart(f"续保率与脱保率 · 按{LEVEL_LABELS[level]}", report.period, bool(rows), draw, fmt)


def loss_reasons_chart(report: RenewalReport, fmt: str) -> bytes:
    """Cases lost to other insurers per manager (or sub-branch), stacked by loss reason."""
    level, rows = chart_rows(report)

    def draw(ax) -> None:
        xs = list(range(len(rows)))
        bottoms = [0] * len(rows)
        palette = matplotlib.colormaps["tab10"]
        for i, reason in enumerate(LossReason):
            heights = [r.current.lost_by_reason.get(reason, 0) for r in rows]
            if any(heights):
                ax.bar(xs, heights, 0.6, bottom=bottoms, color=palette(i), label=word(reason))
                bottoms = [b + h for b, h in zip(bottoms, heights)]
        ax.set_ylim(0, max(bottoms) * 1.1)
        ax.set_ylabel("流失件数")
        _managers_axis(ax, [label(r) for r in rows])
        _legend(ax)

    return _chart(f"流失原因 · 按{LEVEL_LABELS[level]}", report.period, any(r.current.lost for r in rows), draw, fmt,
                  empty="本期无流失 / nothing lost in this period")


def funnel_chart(report: FunnelReport, fmt: str) -> bytes:
    """The renewal funnel: cases reaching each stage, centred, with the renewals won there."""
    def draw(ax) -> None:
        widest = max(max(s.reached for s in report.stages), 1)
        ys = list(range(len(report.stages)))[::-1]  # first stage on top
        reached = [s.reached for s in report.stages]
        won = [s.renewed for s in report.stages]
        ax.barh(ys, reached, 0.7, left=[(widest - r) / 2 for r in reached], color=REACHED, label="进入本阶段")
        ax.barh(ys, won, 0.7, left=[(widest - w) / 2 for w in won], color=RENEWED, label="在本阶段续保")
        for y, s in zip(ys, report.stages):
            ax.text(widest / 2, y, f"{s.reached} / 续保 {s.renewed}", ha="center", va="center", fontsize=10)
        ax.set_yticks(ys, [s.label for s in report.stages])
        ax.set_xlim(0, widest)
        ax.set_xticks([])
        ax.spines[["left", "bottom"]].set_visible(False)
        _legend(ax)

    return _chart("续保漏斗", report.period, bool(report.cases), draw, fmt)


def compliance_chart(report: TaskReport, fmt: str) -> bytes:
    """Daily tasks handled the same day, per manager (the lowest when there are too many)."""
    rows = report.chart_rows()

    def draw(ax) -> None:
        ax.bar(range(len(rows)), [r.compliance_rate or 0 for r in rows], 0.6, color=COMPLIANCE, label="当日办理率")
        _rates_by_manager(ax, [r.manager_name or "" for r in rows])

    title = "每日任务当日办理率" + (f" · 最低的{MAX_BARS}位" if len(rows) < len(report.managers) else "")
    return _chart(title, report.period, bool(rows), draw, fmt)
