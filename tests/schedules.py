"""What every nightly job's schedule promises, checked the same way for each."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from temporalio.client import Client

from renewals.core.settings import Settings


async def assert_set_up_nightly(client: Client, settings: Settings, ensure: Callable[[Client, Settings], Awaitable],
                                schedule_id: str, workflow: str, cron: str, at: tuple[int, int]) -> None:
    """`ensure` twice (brought up to date, not doubled) leaves one schedule starting `workflow` at
    `at` (hour, minute) in the company's time zone; the schedule is deleted afterwards."""
    await ensure(client, settings)
    await ensure(client, settings)
    handle = client.get_schedule_handle(schedule_id)
    described = await handle.describe()
    assert described.schedule.action.workflow == workflow
    assert described.schedule.spec.time_zone_name == settings.timezone
    assert [(s.hour[0].start, s.minute[0].start) for s in described.schedule.spec.calendars] == [at] or (
        described.schedule.spec.cron_expressions == [cron])
    await handle.delete()
