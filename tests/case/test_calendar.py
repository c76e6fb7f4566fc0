"""Renewal calendar: windows, task slots and quiet hours, with hand-computed UTC instants."""

from datetime import UTC, date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from renewals.case.calendar import (
    STAGE_ORDER,
    call_refusal,
    contact_handles_task,
    customer_sms_time,
    late_entry,
    morning_sms_time,
    night_wake,
    plan_renewal,
    staff_sms_handles_task,
    windows_between,
)
from renewals.case.contract import Outcome, Stage

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")
US = timedelta(microseconds=1)
WINDOW_STAGES = STAGE_ORDER[1:]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def starts(plan) -> list[datetime]:
    return [w.starts_at for w in plan.windows]


# --- enums ---------------------------------------------------------------------------------------


def test_enums_use_their_names_as_values_and_stage_order_is_the_lifecycle():
    assert [s.value for s in Stage] == [s.name for s in Stage]
    assert [o.value for o in Outcome] == ["RENEWED", "LOST", "LAPSED", "CLOSED"]
    assert STAGE_ORDER == (
        Stage.WAITING,
        Stage.FIRST_CONTACT,
        Stage.SECOND_CONTACT,
        Stage.THIRD_CONTACT,
        Stage.DEPUTY_SUPERVISION,
        Stage.FINAL_CONTACT,
        Stage.POST_EXPIRY,
    )


# --- ordinary date in Asia/Shanghai (+08:00, no DST) ---------------------------------------------

ORDINARY = plan_renewal(date(2026, 9, 15))  # T-60 = 07-17, T-30 = 08-16, T-20 = 08-26, T-10 = 09-05


def test_ordinary_windows_open_at_0900_shanghai_as_exact_utc_instants():
    assert ORDINARY.timezone == "Asia/Shanghai" and ORDINARY.day_seconds == 86400
    assert [w.stage for w in ORDINARY.windows] == list(WINDOW_STAGES)
    assert [(w.starts_at, w.ends_at) for w in ORDINARY.windows] == [
        (utc(2026, 7, 17, 1), utc(2026, 8, 16, 1)),  # T-60 09:00 +08 -> T-30 09:00
        (utc(2026, 8, 16, 1), utc(2026, 8, 26, 1)),  # T-30 -> T-20
        (utc(2026, 8, 26, 1), utc(2026, 9, 5, 1)),  # T-20 -> T-10
        (utc(2026, 9, 5, 1), utc(2026, 9, 8, 1)),  # T-10 -> T-7
        (utc(2026, 9, 8, 1), utc(2026, 9, 16, 1)),  # T-7 -> T+1
        (utc(2026, 9, 16, 1), utc(2026, 9, 22, 16)),  # T+1 -> T+8 00:00 +08
    ]
    assert ORDINARY.ends_at == utc(2026, 9, 22, 16)
    assert ORDINARY.window(Stage.FIRST_CONTACT).starts_at.astimezone(SHANGHAI) == datetime(
        2026, 7, 17, 9, tzinfo=SHANGHAI
    )
    assert all(w.starts_at.tzinfo is UTC and w.ends_at.tzinfo is UTC for w in ORDINARY.windows)


def test_day_helpers_follow_the_local_calendar_day():
    assert ORDINARY.opening(-60) == utc(2026, 7, 17, 1)
    assert ORDINARY.end_of_day(0) == utc(2026, 9, 15, 16)  # 09-16 00:00 +08
    assert ORDINARY.day_of(utc(2026, 9, 14, 16)) == 0  # 09-15 00:00 local
    assert ORDINARY.day_of(utc(2026, 9, 14, 16) - US) == -1
    assert ORDINARY.day_of(datetime(2026, 9, 15, 23, 59, tzinfo=SHANGHAI)) == 0
    assert ORDINARY.day_of(utc(2026, 7, 17, 1)) == -60


def test_ordinary_task_slots_per_stage():
    def slots(stage):
        return [(s.stage, s.day, s.opens_at, s.due_at) for s in ORDINARY.task_slots(stage)]

    assert ORDINARY.task_slots(Stage.WAITING) == ()
    # One call task from T-60 09:00 due at the end of T-45 (08-01 -> 08-02 00:00 +08).
    assert slots(Stage.FIRST_CONTACT) == [(Stage.FIRST_CONTACT, -60, utc(2026, 7, 17, 1), utc(2026, 8, 1, 16))]
    assert slots(Stage.SECOND_CONTACT) == [(Stage.SECOND_CONTACT, -30, utc(2026, 8, 16, 1), utc(2026, 8, 21, 16))]
    assert slots(Stage.DEPUTY_SUPERVISION) == [
        (Stage.DEPUTY_SUPERVISION, -10, utc(2026, 9, 5, 1), utc(2026, 9, 7, 16))
    ]

    third = ORDINARY.task_slots(Stage.THIRD_CONTACT)
    assert [s.day for s in third] == list(range(-20, -10))  # 10 daily tasks, T-20..T-11
    assert (third[0].opens_at, third[0].due_at) == (utc(2026, 8, 26, 1), utc(2026, 8, 26, 16))
    assert (third[-1].opens_at, third[-1].due_at) == (utc(2026, 9, 4, 1), utc(2026, 9, 4, 16))

    final = ORDINARY.task_slots(Stage.FINAL_CONTACT)
    assert [s.day for s in final] == list(range(-7, 0))
    assert (final[0].opens_at, final[-1].due_at) == (utc(2026, 9, 8, 1), utc(2026, 9, 14, 16))

    post = ORDINARY.task_slots("POST_EXPIRY")  # plain strings (as stored) work too
    assert [s.day for s in post] == list(range(1, 8))
    assert all(s.stage is Stage.POST_EXPIRY for s in post)
    assert (post[0].opens_at, post[-1].due_at) == (utc(2026, 9, 16, 1), ORDINARY.ends_at)

    for stage in WINDOW_STAGES:  # every task opens inside its own stage's window
        w = ORDINARY.window(stage)
        assert all(w.starts_at <= s.opens_at < w.ends_at and s.opens_at < s.due_at for s in ORDINARY.task_slots(stage))


# --- stage_at at exact boundaries ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("boundary", "before", "at"),
    [
        (utc(2026, 7, 17, 1), Stage.WAITING, Stage.FIRST_CONTACT),
        (utc(2026, 8, 16, 1), Stage.FIRST_CONTACT, Stage.SECOND_CONTACT),
        (utc(2026, 8, 26, 1), Stage.SECOND_CONTACT, Stage.THIRD_CONTACT),
        (utc(2026, 9, 5, 1), Stage.THIRD_CONTACT, Stage.DEPUTY_SUPERVISION),
        (utc(2026, 9, 8, 1), Stage.DEPUTY_SUPERVISION, Stage.FINAL_CONTACT),
        (utc(2026, 9, 16, 1), Stage.FINAL_CONTACT, Stage.POST_EXPIRY),
        (utc(2026, 9, 22, 16), Stage.POST_EXPIRY, Stage.POST_EXPIRY),
    ],
)
def test_stage_at_boundaries(boundary, before, at):
    assert ORDINARY.stage_at(boundary - US) is before
    assert ORDINARY.stage_at(boundary) is at


def test_stage_at_accepts_any_aware_datetime_and_stays_post_expiry_after_the_end():
    assert ORDINARY.stage_at(datetime(2026, 7, 17, 8, 59, 59, tzinfo=SHANGHAI)) is Stage.WAITING
    assert ORDINARY.stage_at(datetime(2026, 7, 17, 9, tzinfo=SHANGHAI)) is Stage.FIRST_CONTACT
    assert ORDINARY.stage_at(datetime(2026, 9, 15, 23, tzinfo=SHANGHAI)) is Stage.FINAL_CONTACT  # expiry day
    assert ORDINARY.stage_at(utc(2027, 1, 1)) is Stage.POST_EXPIRY


# --- next_stage_after ----------------------------------------------------------------------------


@pytest.mark.parametrize("escalated", [False, True])
def test_next_stage_after_follows_the_windows(escalated):
    nxt = ORDINARY.next_stage_after
    assert nxt(Stage.WAITING, escalated) == (Stage.FIRST_CONTACT, utc(2026, 7, 17, 1))
    assert nxt(Stage.FIRST_CONTACT, escalated) == (Stage.SECOND_CONTACT, utc(2026, 8, 16, 1))
    assert nxt(Stage.SECOND_CONTACT, escalated) == (Stage.THIRD_CONTACT, utc(2026, 8, 26, 1))
    assert nxt(Stage.DEPUTY_SUPERVISION, escalated) == (Stage.FINAL_CONTACT, utc(2026, 9, 8, 1))
    assert nxt(Stage.FINAL_CONTACT, escalated) == (Stage.POST_EXPIRY, utc(2026, 9, 16, 1))
    assert nxt(Stage.POST_EXPIRY, escalated) == (None, utc(2026, 9, 22, 16))


def test_third_contact_goes_to_deputy_supervision_only_when_escalated():
    assert ORDINARY.next_stage_after(Stage.THIRD_CONTACT, True) == (Stage.DEPUTY_SUPERVISION, utc(2026, 9, 5, 1))
    assert ORDINARY.next_stage_after(Stage.THIRD_CONTACT, False) == (Stage.FINAL_CONTACT, utc(2026, 9, 8, 1))
    assert ORDINARY.next_stage_after("THIRD_CONTACT", False)[0] is Stage.FINAL_CONTACT


# --- month end, year end, leap day ---------------------------------------------------------------


def test_month_end_expiry():
    plan = plan_renewal(date(2026, 3, 31))  # T-60 = 01-30, T-45 = 02-14, T-30 = 03-01
    assert starts(plan) == [
        utc(2026, 1, 30, 1),
        utc(2026, 3, 1, 1),
        utc(2026, 3, 11, 1),
        utc(2026, 3, 21, 1),
        utc(2026, 3, 24, 1),
        utc(2026, 4, 1, 1),
    ]
    assert plan.ends_at == utc(2026, 4, 7, 16)
    assert plan.task_slots(Stage.FIRST_CONTACT)[0].due_at == utc(2026, 2, 14, 16)
    assert plan.day_of(utc(2026, 2, 28, 16)) == -30  # 03-01 00:00 local
    assert plan.day_of(utc(2026, 2, 28, 16) - US) == -31


def test_year_end_expiry_windows_cross_the_year():
    plan = plan_renewal(date(2027, 1, 5))  # T-60 = 2026-11-06, T-7 = 2026-12-29, T+7 = 2027-01-12
    assert starts(plan) == [
        utc(2026, 11, 6, 1),
        utc(2026, 12, 6, 1),
        utc(2026, 12, 16, 1),
        utc(2026, 12, 26, 1),
        utc(2026, 12, 29, 1),
        utc(2027, 1, 6, 1),
    ]
    assert plan.ends_at == utc(2027, 1, 12, 16)
    final = plan.task_slots(Stage.FINAL_CONTACT)
    assert [s.opens_at for s in final] == [
        utc(2026, 12, 29, 1),
        utc(2026, 12, 30, 1),
        utc(2026, 12, 31, 1),
        utc(2027, 1, 1, 1),
        utc(2027, 1, 2, 1),
        utc(2027, 1, 3, 1),
        utc(2027, 1, 4, 1),
    ]
    assert final[2].due_at == utc(2026, 12, 31, 16)  # 2027-01-01 00:00 +08
    assert plan_renewal(date(2026, 12, 31)).window(Stage.POST_EXPIRY).starts_at == utc(2027, 1, 1, 1)


def test_leap_day():
    leap = plan_renewal(date(2028, 3, 30))
    assert leap.window(Stage.SECOND_CONTACT).starts_at == utc(2028, 2, 29, 1)  # T-30 = 2028-02-29
    assert leap.window(Stage.FIRST_CONTACT).starts_at == utc(2028, 1, 30, 1)
    assert leap.day_of(datetime(2028, 2, 29, 12, tzinfo=SHANGHAI)) == -30
    assert leap.task_slots(Stage.SECOND_CONTACT)[0].due_at == utc(2028, 3, 5, 16)  # end of T-25 = 03-05
    plain = plan_renewal(date(2027, 3, 30))
    assert plain.window(Stage.SECOND_CONTACT).starts_at == utc(2027, 2, 28, 1)
    assert plain.window(Stage.FIRST_CONTACT).starts_at == utc(2027, 1, 29, 1)


# --- America/New_York across DST (2027: starts 03-14, ends 11-07) ---------------------------------


def test_new_york_spring_forward_keeps_0900_local_and_has_a_23_hour_day():
    plan = plan_renewal(date(2027, 4, 10), "America/New_York")  # T-30 = 03-11 (EST), T-20 = 03-21 (EDT)
    assert starts(plan)[:3] == [utc(2027, 2, 9, 14), utc(2027, 3, 11, 14), utc(2027, 3, 21, 13)]
    assert all(w.starts_at.astimezone(NEW_YORK).hour == 9 for w in plan.windows)
    assert (plan.opening(-28), plan.opening(-27)) == (utc(2027, 3, 13, 14), utc(2027, 3, 14, 13))
    assert plan.end_of_day(-27) - plan.end_of_day(-28) == timedelta(hours=23)  # T-27 = 03-14
    assert plan.task_slots(Stage.SECOND_CONTACT)[0].due_at == utc(2027, 3, 17, 4)  # 03-17 00:00 EDT


def test_new_york_fall_back_keeps_0900_local_and_has_a_25_hour_day():
    plan = plan_renewal(date(2027, 11, 20), "America/New_York")  # T-13 = 11-07
    assert plan.window(Stage.THIRD_CONTACT).starts_at == utc(2027, 10, 31, 13)  # 09:00 EDT
    assert plan.window(Stage.THIRD_CONTACT).ends_at == utc(2027, 11, 10, 14)  # 09:00 EST
    assert all(w.starts_at.astimezone(NEW_YORK).hour == 9 for w in plan.windows)
    assert plan.end_of_day(-13) - plan.end_of_day(-14) == timedelta(hours=25)
    third = {s.day: s for s in plan.task_slots(Stage.THIRD_CONTACT)}
    assert (third[-14].opens_at, third[-13].opens_at, third[-13].due_at) == (
        utc(2027, 11, 6, 13),
        utc(2027, 11, 7, 14),
        utc(2027, 11, 8, 5),
    )
    assert plan.ends_at == utc(2027, 11, 28, 5)


def test_nonexistent_and_ambiguous_open_hour_give_well_defined_instants():
    spring = plan_renewal(date(2027, 4, 10), "America/New_York", open_hour=2)
    assert spring.opening(-27) == utc(2027, 3, 14, 7)  # 02:00 is skipped: fold=0 lands on 03:00 EDT
    fall = plan_renewal(date(2027, 11, 20), "America/New_York", open_hour=1)
    assert fall.opening(-13) == utc(2027, 11, 7, 5)  # 01:00 happens twice: fold=0 takes the EDT one
    assert fall.opening(-12) == utc(2027, 11, 8, 6)


@pytest.mark.parametrize(
    ("zone", "expiry"),
    [
        ("America/Santiago", date(2027, 9, 20)),  # DST starts at local midnight (00:00 skipped)
        ("America/Santiago", date(2027, 4, 20)),  # DST ends at local midnight
        ("Australia/Lord_Howe", date(2027, 10, 20)),  # 30-minute DST shift
        ("Asia/Kolkata", date(2027, 6, 1)),
        ("Pacific/Kiritimati", date(2027, 6, 1)),
        ("America/New_York", date(2027, 11, 20)),
    ],
)
def test_days_and_windows_are_consistent_in_awkward_zones(zone, expiry):
    plan = plan_renewal(expiry, zone)
    bounds = [(w.starts_at, w.ends_at) for w in plan.windows]
    assert all(a < b for a, b in bounds) and all(b == c for (_, b), (c, _) in zip(bounds, bounds[1:]))
    for day in range(-61, 9):
        assert plan.end_of_day(day - 1) < plan.opening(day) < plan.end_of_day(day)
        assert plan.day_of(plan.opening(day)) == day
        assert plan.day_of(plan.end_of_day(day) - US) == day
        assert plan.day_of(plan.end_of_day(day)) == day + 1


# --- compressed days -----------------------------------------------------------------------------

ANCHOR = utc(2030, 1, 1)


def test_compressed_two_second_days():
    plan = plan_renewal(date(2030, 1, 1), day_seconds=2, anchor=datetime(2030, 1, 1, 8, tzinfo=SHANGHAI))
    s = timedelta(seconds=1)
    assert plan.anchor == ANCHOR and plan.anchor.tzinfo is UTC
    assert [(w.starts_at - ANCHOR, w.ends_at - ANCHOR) for w in plan.windows] == [
        (-120 * s, -60 * s),
        (-60 * s, -40 * s),
        (-40 * s, -20 * s),
        (-20 * s, -14 * s),
        (-14 * s, 2 * s),
        (2 * s, 16 * s),
    ]
    assert plan.ends_at == ANCHOR + 16 * s  # end of T+7 = start of T+8
    first = plan.task_slots(Stage.FIRST_CONTACT)[0]
    assert (first.opens_at, first.due_at) == (ANCHOR - 120 * s, ANCHOR - 88 * s)  # due end of T-45
    third = plan.task_slots(Stage.THIRD_CONTACT)
    assert len(third) == 10 and (third[0].opens_at, third[0].due_at) == (ANCHOR - 40 * s, ANCHOR - 38 * s)
    assert (plan.day_of(ANCHOR - US), plan.day_of(ANCHOR), plan.day_of(ANCHOR + 2 * s - US)) == (-1, 0, 0)
    assert plan.day_of(ANCHOR + 2 * s) == 1
    assert plan.opening(3) == ANCHOR + 6 * s and plan.end_of_day(3) == ANCHOR + 8 * s
    assert plan.stage_at(ANCHOR - 120 * s - US) is Stage.WAITING
    assert plan.stage_at(ANCHOR) is Stage.FINAL_CONTACT
    assert plan.next_stage_after(Stage.THIRD_CONTACT, True) == (Stage.DEPUTY_SUPERVISION, ANCHOR - 20 * s)


def test_anchor_with_real_length_days_opens_at_day_start_not_0900():
    plan = plan_renewal(date(2030, 1, 1), anchor=ANCHOR)
    assert plan.window(Stage.FIRST_CONTACT).starts_at == ANCHOR - timedelta(days=60)
    assert plan.ends_at == ANCHOR + timedelta(days=8)


# --- windows a case slept through ---------------------------------------------------------------

FIRST, SECOND, THIRD, DEPUTY, FINAL, POST = WINDOW_STAGES


def test_the_windows_between_two_stages_include_supervision_only_when_escalated():
    assert windows_between(Stage.WAITING, SECOND, escalated=False) == (FIRST,)
    assert windows_between(FIRST, FINAL, escalated=False) == (SECOND, THIRD)
    assert windows_between(FIRST, FINAL, escalated=True) == (SECOND, THIRD, DEPUTY)
    assert windows_between(THIRD, POST, escalated=True) == (DEPUTY, FINAL)
    assert windows_between(SECOND, THIRD, escalated=True) == ()


def fate(skipped, woke_in) -> dict[str, list[str]]:
    """Per skipped window: its entry SMS, each sent late or not sent (and why)."""
    return {w.stage: [f"{sms.template} late" for sms in w.sent_late]
            + [f"{sms.template}: {why}" for sms, why in w.not_sent] for w in late_entry(skipped, woke_in)}


@pytest.mark.parametrize("woke_in", [SECOND, THIRD, DEPUTY])
def test_a_first_notice_the_case_slept_through_goes_out_late_until_the_final_notice_is_due(woke_in):
    assert fate(windows_between(Stage.WAITING, woke_in, escalated=True), woke_in)[FIRST] == ["first_notice late"]


def test_the_final_notice_supersedes_a_late_first_notice_and_supervision_is_never_late():
    assert fate((FIRST, SECOND, THIRD, DEPUTY), FINAL) == {
        FIRST: ["first_notice: superseded by final_notice"], SECOND: [], THIRD: [],
        DEPUTY: ["deputy_escalation: too late in FINAL_CONTACT"]}


def test_after_expiry_no_notice_of_a_window_the_case_slept_through_goes_out():
    assert fate((FIRST, SECOND, THIRD, FINAL), POST) == {
        FIRST: ["first_notice: too late in POST_EXPIRY"], SECOND: [], THIRD: [],
        FINAL: ["manager_final_reminder: too late in POST_EXPIRY", "final_notice: too late in POST_EXPIRY"]}


def test_a_skipped_window_is_noted_with_what_became_of_its_sms():
    [first, second] = late_entry((FIRST, SECOND), THIRD)
    assert first.note() == ("FIRST_CONTACT passed before the case could enter it (it woke in THIRD_CONTACT), its "
                            "tasks not opened; first_notice sent late")
    assert second.note().endswith("its tasks not opened; nothing to send")


# --- quiet hours ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("local", "expected_local"),
    [
        (datetime(2026, 9, 1, 20, 59), datetime(2026, 9, 1, 20, 59)),
        (datetime(2026, 9, 1, 21, 0), datetime(2026, 9, 2, 8, 0)),
        (datetime(2026, 9, 1, 22, 0), datetime(2026, 9, 2, 8, 0)),
        (datetime(2026, 9, 2, 0, 0), datetime(2026, 9, 2, 8, 0)),
        (datetime(2026, 9, 2, 7, 59), datetime(2026, 9, 2, 8, 0)),
        (datetime(2026, 9, 2, 8, 0), datetime(2026, 9, 2, 8, 0)),
    ],
)
def test_customer_sms_time_defers_quiet_hours_to_0800_local(local, expected_local):
    result = customer_sms_time(local.replace(tzinfo=SHANGHAI), "Asia/Shanghai")
    assert result == expected_local.replace(tzinfo=SHANGHAI)
    assert result.tzinfo is UTC


def test_customer_sms_time_uses_the_given_zone_across_dst():
    assert customer_sms_time(utc(2026, 9, 1, 14), "Asia/Shanghai") == utc(2026, 9, 2, 0)  # 22:00 +08
    # 22:00 EST the night before spring forward -> 08:00 EDT is 12:00 UTC, not 13:00.
    assert customer_sms_time(datetime(2027, 3, 13, 22, tzinfo=NEW_YORK), "America/New_York") == utc(2027, 3, 14, 12)


@pytest.mark.parametrize(
    ("hour", "minute", "allowed"),
    [(8, 59, False), (9, 0, True), (20, 59, True), (21, 0, False), (0, 0, False)],
)
def test_call_refusal_outside_0900_2100_local(hour, minute, allowed):
    reason = call_refusal(datetime(2026, 9, 1, hour, minute, tzinfo=SHANGHAI), "Asia/Shanghai")
    if allowed:
        assert reason is None
    else:
        assert reason is not None and "09:00" in reason and "21:00" in reason and "Asia/Shanghai" in reason


def test_call_refusal_judges_by_the_policy_zone():
    noon_shanghai = utc(2026, 9, 1, 4)  # 12:00 in Shanghai, 00:00 in New York
    assert call_refusal(noon_shanghai, "Asia/Shanghai") is None
    assert "00:00" in call_refusal(noon_shanghai, "America/New_York")
    assert call_refusal(datetime(2026, 9, 1, 10, tzinfo=timezone(timedelta(hours=-4))), "America/New_York") is None


# --- input errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"timezone": ""}, "timezone"),
        ({"day_seconds": 0, "anchor": ANCHOR}, "day_seconds"),
        ({"day_seconds": -2, "anchor": ANCHOR}, "day_seconds"),
        ({"day_seconds": 2}, "anchor is required"),
        ({"day_seconds": 2, "anchor": datetime(2030, 1, 1)}, "anchor must be timezone-aware"),
        ({"open_hour": 24}, "open_hour"),
        ({"expiry": datetime(2026, 9, 15, tzinfo=UTC)}, "expiry"),
    ],
)
def test_plan_renewal_rejects_bad_input(kwargs, message):
    kwargs = {"expiry": date(2026, 9, 15), **kwargs}
    with pytest.raises(ValueError, match=message):
        plan_renewal(**kwargs)


def test_naive_datetimes_unknown_zones_and_stages_are_rejected():
    naive = datetime(2026, 9, 1, 12)
    for call in (
        lambda: ORDINARY.stage_at(naive),
        lambda: ORDINARY.day_of(naive),
        lambda: customer_sms_time(naive, "Asia/Shanghai"),
        lambda: call_refusal(naive, "Asia/Shanghai"),
    ):
        with pytest.raises(ValueError, match="t must be timezone-aware"):
            call()
    with pytest.raises(ValueError, match="timezone"):
        customer_sms_time(utc(2026, 9, 1), "Nowhere/Special")
    with pytest.raises(ValueError, match="timezone"):
        call_refusal(utc(2026, 9, 1), "Nowhere/Special")
    with pytest.raises(ValueError, match="stage"):
        ORDINARY.task_slots("BOGUS")
    with pytest.raises(ValueError, match="WAITING has no window"):
        ORDINARY.window(Stage.WAITING)


def test_days_relative_to_expiry_are_written_as_the_seed_writes_them():
    from renewals.case.calendar import t_day

    assert [t_day(d) for d in (-60, -1, 0, 3, None)] == ["T-60", "T-1", "T0", "T+3", ""]


def test_the_seed_names_how_a_day_is_handled_in_third_contact_and_after_expiry():
    assert contact_handles_task(Stage.THIRD_CONTACT, "call") and not contact_handles_task(Stage.THIRD_CONTACT, "sms")
    assert not contact_handles_task(Stage.THIRD_CONTACT, "visit")
    assert contact_handles_task(Stage.POST_EXPIRY, "sms") and contact_handles_task(Stage.FINAL_CONTACT, "visit")
    assert staff_sms_handles_task(Stage.POST_EXPIRY)
    assert not any(staff_sms_handles_task(s) for s in Stage if s is not Stage.POST_EXPIRY)


def test_a_books_wake_ups_and_entry_sms_spread_over_the_night_and_the_morning_by_policy():
    boundary = plan_renewal(date(2027, 3, 15), "Asia/Shanghai").window(Stage.FIRST_CONTACT).starts_at  # 09:00
    zone = ZoneInfo("Asia/Shanghai")
    wakes = {night_wake(boundary, f"PDAA{n:012d}", "Asia/Shanghai") for n in range(2000)}
    assert all(time(1) <= w.astimezone(zone).time() < time(8) and w.astimezone(zone).date() == boundary.astimezone(
        zone).date() for w in wakes), "before staff start, on the boundary's day"
    assert len(wakes) > 400, "spread over the night's minutes"
    assert night_wake(boundary, "PDAA000000000042", "Asia/Shanghai") == night_wake(
        boundary, "PDAA000000000042", "Asia/Shanghai"), "the same minute on every run and worker"
    woke = night_wake(boundary, "PDAA000000000042", "Asia/Shanghai")
    sent = morning_sms_time(woke, "PDAA000000000042", "Asia/Shanghai")
    assert time(8) <= sent.astimezone(zone).time() < time(11) and sent.astimezone(zone).date() == woke.astimezone(zone).date()
    afternoon = boundary + timedelta(hours=6)
    assert morning_sms_time(afternoon, "PDAA000000000042", "Asia/Shanghai") == afternoon, "past the morning: at once"
