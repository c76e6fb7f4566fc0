"""The morning peak (SPEC §11): how many cases wake in the busiest minute of a day.

    uv run python -m bench.peak [--book 300000]

No server: every case of a book that starts `--book` renewals a day is planned with the real
calendar (renewals/case/calendar.py over the stage table), and each of its wake-ups that day is
put in its minute, twice: as the workflow wakes today (each stage boundary when the window opens,
09:00 local, and the close at the end of T+7), and spread (calendar.night_wake: each case at its
policy's minute between 01:00 and 08:00 local, so staff find the new tasks at 09:00; the entry SMS
at the policy's minute between 08:00 and 11:00, calendar.morning_sms_time, one more wake-up in a
stage that sends any). In a steady state every boundary is crossed by one day's book every day.
"""

from __future__ import annotations

import argparse
from collections import Counter
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.table import Table

from renewals.case.calendar import DEFAULT_TIMEZONE, morning_sms_time, night_wake, plan_renewal
from renewals.case.stages import STAGE_TABLE

DAY = date(2027, 3, 15)  # any day: the book is the same every day
ZONE = ZoneInfo(DEFAULT_TIMEZONE)


def boundaries(day: date, timezone: str) -> list[tuple[str, datetime, bool]]:
    """(what, when, sends SMS) for each boundary a case crosses on `day`: the one day's book whose
    expiry puts that boundary on it (every case escalates: the longest path, the busiest morning)."""
    crossed = []
    for row in STAGE_TABLE.rows[1:]:
        plan = plan_renewal(day - timedelta(days=row.opens), timezone)
        crossed.append((str(row.stage), plan.window(row.stage).starts_at, bool(row.entry_sms)))
    closing = plan_renewal(day - timedelta(days=STAGE_TABLE.last_day + 1), timezone)
    crossed.append(("close", closing.ends_at, False))
    return crossed


def peak(book: int, spread: bool, timezone: str = DEFAULT_TIMEZONE) -> tuple[Counter[datetime], int]:
    """Wake-ups per minute on DAY, and the most wake-ups one case has for one boundary."""
    minutes: Counter[datetime] = Counter()
    most = 1
    for _, at, sends in boundaries(DAY, timezone):
        if not spread:
            minutes[at] += book
            continue
        for n in range(book):
            policy_no = f"PDAA{n:012d}"
            woke = night_wake(at, policy_no, timezone)
            minutes[woke] += 1
            if sends:
                minutes[morning_sms_time(woke, policy_no, timezone)] += 1
                most = 2
    return minutes, most


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--book", type=int, default=300_000, help="renewals starting per day")
    args = parser.parse_args()
    console = Console()
    table = Table("schedule", "wake-ups a day", "busiest minute (local)", "wake-ups in it", "per case and boundary",
                  title=f"Wake-ups of a {args.book:,}-a-day book")
    with console.status("planning every case's wake-ups…"):
        rows = [("today: boundaries at 09:00", *peak(args.book, spread=False)),
                ("spread: night wake-ups, morning SMS", *peak(args.book, spread=True))]
    busiest = []
    for name, minutes, most in rows:
        at, count = minutes.most_common(1)[0]
        busiest.append(count)
        table.add_row(name, f"{sum(minutes.values()):,}", f"{at.astimezone(ZONE):%H:%M}", f"{count:,}",
                      f"at most {most}")
    console.print(table)
    console.print(f"the busiest minute: {busiest[0] / busiest[1]:.0f}× lower with the spread")


if __name__ == "__main__":
    main()
