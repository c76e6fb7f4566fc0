"""Renewal calendar: when each stage window and task of a renewal case opens and falls due, on
the days the stage table (renewals/case/stages.py) gives them, and what becomes of a window's
entry SMS when the case wakes too late to enter the window at all.

Days are calendar days relative to the policy's expiry date (T0) in the policy's own time zone,
and every instant handed out is a UTC-aware datetime, so workflows can compare and sleep on
them without knowing about zones. For demos and load tests a plan can run on compressed days
(``day_seconds`` + ``anchor``), where business-hour alignment is switched off.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from renewals.case.contract import Stage
from renewals.case.stages import STAGE_TABLE, EntrySms, StageTable

DEFAULT_TIMEZONE = "Asia/Shanghai"
REAL_DAY_SECONDS = 86400
SMS_HOURS = (8, 21)  # customer SMS allowed from 08:00 until 21:00 local
# A book's cases do not all wake in one minute: each wakes for a boundary at a minute of its own
# between 01:00 and 08:00 local, before staff start at 09:00, and its entry SMS go out at a minute
# of its own between 08:00 and 11:00 local.
NIGHT_WAKE_HOURS = (1, 8)
MORNING_SMS_HOURS = (8, 11)
CALL_HOURS = (9, 21)  # outbound calls allowed from 09:00 until 21:00 local

STAGE_ORDER: tuple[Stage, ...] = tuple(Stage)
LAST_DAY = STAGE_TABLE.last_day  # the last window ends with this day


def contact_handles_task(stage: Stage | str, channel: str, table: StageTable = STAGE_TABLE) -> bool:
    """Whether a contact recorded by `channel` handles the stage's daily task."""
    tasks = table[_stage(stage)].tasks
    return tasks is None or tasks.channels is None or channel in tasks.channels


def staff_sms_handles_task(stage: Stage | str, table: StageTable = STAGE_TABLE) -> bool:
    """Whether a quote or service-request SMS to the customer handles the stage's daily task."""
    tasks = table[_stage(stage)].tasks
    return tasks is not None and tasks.staff_sms_handles


@dataclass(frozen=True)
class SkippedWindow:
    """A window the case passed without entering it, and what became of its entry SMS. Its tasks
    are not opened: nobody could have handled them while they were due."""

    stage: Stage
    woke_in: Stage
    sent_late: tuple[EntrySms, ...]
    not_sent: tuple[tuple[EntrySms, str], ...]  # each with why

    def note(self) -> str:
        """What the case records about it (a problem on the case)."""
        what = [f"{sms.template} sent late" for sms in self.sent_late]
        what += [f"{sms.template} not sent: {why}" for sms, why in self.not_sent]
        return (f"{self.stage} passed before the case could enter it (it woke in {self.woke_in}), "
                f"its tasks not opened; {'; '.join(what) or 'nothing to send'}")


def windows_between(stage: Stage, target: Stage, escalated: bool,
                    table: StageTable = STAGE_TABLE) -> tuple[Stage, ...]:
    """The windows a case passes from `stage` to `target` without entering them (those only an
    escalated case enters, deputy supervision, only when it is escalated)."""
    between = table.rows[table.index(stage) + 1:table.index(target)]
    return tuple(row.stage for row in between if escalated or not row.escalated_only)


def late_entry(skipped: Iterable[Stage], woke_in: Stage, table: StageTable = STAGE_TABLE) -> list[SkippedWindow]:
    """What becomes of windows that passed before the case could enter them, when it wakes in
    `woke_in`: each window's entry SMS goes out late where the stage table says it is still worth
    it, else it is recorded as not sent. A recipient gets one notice at most: the latest (the one
    of `woke_in` itself first) supersedes earlier ones, so a customer never reads two at once."""
    newest = {sms.recipient: sms for sms in table[woke_in].entry_sms}
    windows = []
    for stage in reversed(tuple(skipped)):
        late, not_sent = [], []
        for sms in table[stage].entry_sms:
            newer = newest.get(sms.recipient)
            if newer is not None:
                not_sent.append((sms, f"superseded by {newer.template}"))
            elif sms.late_until is not None and table.index(woke_in) <= table.index(sms.late_until):
                late.append(sms)
                newest[sms.recipient] = sms
            else:
                not_sent.append((sms, f"too late in {woke_in}"))
        windows.append(SkippedWindow(stage, woke_in, tuple(late), tuple(not_sent)))
    return windows[::-1]


@dataclass(frozen=True)
class Window:
    stage: Stage
    starts_at: datetime
    ends_at: datetime


@dataclass(frozen=True)
class TaskSlot:
    stage: Stage
    day: int
    opens_at: datetime
    due_at: datetime


@dataclass(frozen=True)
class RenewalPlan:
    expiry: date
    timezone: str
    day_seconds: int
    windows: tuple[Window, ...]  # FIRST_CONTACT..POST_EXPIRY; WAITING is everything before
    ends_at: datetime  # end of day T+7: the case closes here if still open
    anchor: datetime | None = None  # set => compressed days: UTC 00:00 of the expiry day
    open_hour: int = 9
    table: StageTable = field(default=STAGE_TABLE, repr=False)

    def window(self, stage: Stage | str) -> Window:
        stage = _stage(stage)
        for window in self.windows:
            if window.stage is stage:
                return window
        raise ValueError(f"stage {stage} has no window; it is everything before {self.windows[0].stage}")

    def stage_at(self, t: datetime) -> Stage:
        t = _aware(t, "t")
        if t < self.windows[0].starts_at:
            return Stage.WAITING
        # Past ends_at the case is still POST_EXPIRY until the workflow closes it.
        return next((w.stage for w in self.windows if t < w.ends_at), Stage.POST_EXPIRY)

    def next_stage_after(self, stage: Stage | str, escalated: bool) -> tuple[Stage | None, datetime]:
        later = self.table.rows[self.table.index(_stage(stage)) + 1:]
        nxt = next((row.stage for row in later if escalated or not row.escalated_only), None)
        return (None, self.ends_at) if nxt is None else (nxt, self.window(nxt).starts_at)

    def task_slots(self, stage: Stage | str) -> tuple[TaskSlot, ...]:
        stage = _stage(stage)
        return tuple(
            TaskSlot(stage, day, self.opening(day), self.end_of_day(due_day))
            for day, due_day in self.table.task_days(stage)
        )

    def day_of(self, t: datetime) -> int:
        t = _aware(t, "t")
        if self.anchor is not None:
            return (t - self.anchor) // timedelta(seconds=self.day_seconds)
        return (local_date(t, self.timezone) - self.expiry).days

    @property
    def expiry_day_starts_at(self) -> datetime:
        """00:00 local of the expiry date: how the ExpiryDate search attribute stores the date."""
        return self._day_start(0)

    def end_of_day(self, day: int) -> datetime:
        return self._day_start(day + 1)

    def opening(self, day: int) -> datetime:
        if self.anchor is not None:
            return self._day_start(day)
        return _wall_time(self.expiry + timedelta(days=day), self.open_hour, ZoneInfo(self.timezone))

    def _day_start(self, day: int) -> datetime:
        if self.anchor is not None:
            return self.anchor + timedelta(seconds=day * self.day_seconds)
        return _wall_time(self.expiry + timedelta(days=day), 0, ZoneInfo(self.timezone))


def plan_renewal(
    expiry: date,
    timezone: str = DEFAULT_TIMEZONE,
    *,
    day_seconds: int = REAL_DAY_SECONDS,
    anchor: datetime | None = None,
    open_hour: int = 9,
    table: StageTable = STAGE_TABLE,
) -> RenewalPlan:
    """Lay out a renewal case's windows as `table` sets their days. Passing ``anchor`` (required
    when ``day_seconds`` is not 86400) switches to anchor-based days that open at their start
    rather than at ``open_hour``."""
    if isinstance(expiry, datetime) or not isinstance(expiry, date):
        raise ValueError(f"expiry must be a date (not a datetime), got {expiry!r}")
    _zone(timezone)
    if isinstance(day_seconds, bool) or not isinstance(day_seconds, int) or day_seconds <= 0:
        raise ValueError(f"day_seconds must be a positive int, got {day_seconds!r}")
    if anchor is None and day_seconds != REAL_DAY_SECONDS:
        raise ValueError(f"anchor is required when day_seconds != {REAL_DAY_SECONDS} (compressed days)")
    if anchor is not None:
        anchor = _aware(anchor, "anchor").astimezone(UTC)
    if isinstance(open_hour, bool) or not isinstance(open_hour, int) or not 0 <= open_hour <= 23:
        raise ValueError(f"open_hour must be an int in 0..23, got {open_hour!r}")

    # Day arithmetic needs only the scalar fields, so lay those down first and derive the windows.
    draft = RenewalPlan(expiry, timezone, day_seconds, (), datetime.min.replace(tzinfo=UTC), anchor, open_hour, table)
    rows = table.rows[1:]  # WAITING is everything before the first window
    bounds = [draft.opening(row.opens) for row in rows] + [draft.end_of_day(table.last_day)]
    windows = tuple(Window(row.stage, start, end) for row, start, end in zip(rows, bounds, bounds[1:]))
    return replace(draft, windows=windows, ends_at=bounds[-1])


def customer_sms_time(t: datetime, timezone: str) -> datetime:
    """Earliest instant at or after ``t`` when a customer SMS may go out (not 21:00-08:00 local)."""
    zone, t = _zone(timezone), _aware(t, "t")
    local = t.astimezone(zone)
    start, end = SMS_HOURS
    if start <= local.hour < end:
        return t.astimezone(UTC)
    return _wall_time(local.date() + timedelta(days=1 if local.hour >= end else 0), start, zone)


def policy_minute(policy_no: str, purpose: str, minutes: int) -> int:
    """A policy's own minute in a span of `minutes` for `purpose`: the same on every run and worker."""
    return zlib.crc32(f"{purpose}:{policy_no}".encode()) % minutes


def night_wake(boundary: datetime, policy_no: str, timezone: str) -> datetime:
    """When a case wakes for a boundary on its local day: at the policy's minute of that night."""
    zone = _zone(timezone)
    start, end = NIGHT_WAKE_HOURS
    night = _wall_time(_aware(boundary, "boundary").astimezone(zone).date(), start, zone)
    return night + timedelta(minutes=policy_minute(policy_no, "night", (end - start) * 60))


def morning_sms_time(t: datetime, policy_no: str, timezone: str) -> datetime:
    """When an entry SMS decided at `t` in the night goes out: the policy's minute of that morning
    (at once when `t` is already past the morning)."""
    zone, t = _zone(timezone), _aware(t, "t")
    start, end = MORNING_SMS_HOURS
    at = _wall_time(t.astimezone(zone).date(), start, zone) + timedelta(
        minutes=policy_minute(policy_no, "morning", (end - start) * 60))
    return max(at, customer_sms_time(t, timezone))


def call_refusal(t: datetime, timezone: str) -> str | None:
    """None if an outbound call may be placed at ``t``, else why not (not 21:00-09:00 local)."""
    zone, t = _zone(timezone), _aware(t, "t")
    local = t.astimezone(zone)
    start, end = CALL_HOURS
    if start <= local.hour < end:
        return None
    return (
        f"outbound calls are only allowed between {start:02d}:00 and {end:02d}:00 local time "
        f"({timezone}); it is {local:%H:%M} there"
    )


def t_day(day: int | None) -> str:
    """Days relative to expiry as the seed writes them: T-18, T0, T+3 ("" for no day)."""
    if day is None:
        return ""
    return f"T{day:+d}" if day else "T0"


def local_label(t: datetime, timezone: str) -> str:
    """`2026-03-02 09:00 (Asia/Shanghai)`: an instant as staff in that zone read it."""
    return f"{_aware(t, 't').astimezone(_zone(timezone)):%Y-%m-%d %H:%M} ({timezone})"


def add_years(day: date, years: int) -> date:
    """The same day `years` later (earlier when negative); 29 February in a year without one: the 28th."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def local_date(t: datetime, timezone: str) -> date:
    """The calendar day an instant falls on in `timezone`. Workflows call this rather than build a
    ZoneInfo themselves: inside the sandbox that class is a proxy `astimezone` refuses."""
    return _aware(t, "t").astimezone(_zone(timezone)).date()


def _wall_time(day: date, hour: int, zone: ZoneInfo) -> datetime:
    # fold=0 picks the earlier offset for an ambiguous time and the pre-transition offset for a
    # skipped one; converting to UTC turns either into one well-defined instant.
    return datetime.combine(day, time(hour), tzinfo=zone).astimezone(UTC)


def _zone(timezone: str) -> ZoneInfo:
    if not isinstance(timezone, str) or not timezone:
        raise ValueError(f"timezone must be an IANA time zone name, got {timezone!r}")
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"timezone {timezone!r} is not a known IANA time zone") from exc


def _aware(t: datetime, name: str) -> datetime:
    if not isinstance(t, datetime):
        raise ValueError(f"{name} must be a datetime, got {t!r}")
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {t!r}")
    return t


def _stage(stage: Stage | str) -> Stage:
    try:
        return Stage(stage)
    except ValueError:
        raise ValueError(f"stage must be one of {', '.join(STAGE_ORDER)}, got {stage!r}") from None
