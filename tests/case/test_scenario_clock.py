"""The tests' clock: the time-skipping server keeps a lock for an activity still outstanding when
its workflow ended (temporalio/sdk-java#1138), and then skips no more: every later skip of the
module waited in real time until pytest's timeout. The tests' skip lends the server a lock until it
arrives, and takes it back so the count stays right."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio.api.testservice.v1 import LockTimeSkippingRequest, UnlockTimeSkippingRequest

from temporalio.worker import Worker

from tests.scenario import skip_clock
from tests.sleeping_workflow import SleepsLong


async def test_a_skip_goes_on_past_a_lock_the_test_server_leaked_and_keeps_the_count(time_env):
    service = time_env.client.test_service
    await service.lock_time_skipping(LockTimeSkippingRequest())  # as the server leaks it
    start = await time_env.get_current_time()
    await asyncio.wait_for(skip_clock(time_env, start + timedelta(days=30), stall_seconds=2), 30)
    assert await time_env.get_current_time() >= start + timedelta(days=30)
    # Once the held lock is released (as an activity that ends releases its own), skips are immediate.
    await service.unlock_time_skipping(UnlockTimeSkippingRequest())
    later = await time_env.get_current_time()
    await asyncio.wait_for(skip_clock(time_env, later + timedelta(days=2), stall_seconds=3), 2.5)
    assert await time_env.get_current_time() >= later + timedelta(days=2)


async def test_a_lock_lent_to_a_stalled_clock_is_taken_back_so_the_clock_never_runs_on_its_own(time_env):
    """A lock held by a running activity looks like a leaked one; had the skip given it back for
    good, the clock would run on by itself once the activity ended (a do-not-call date a day late)."""
    service = time_env.client.test_service
    async with Worker(time_env.client, task_queue="clock-lend", workflows=[SleepsLong]):
        await time_env.client.start_workflow(SleepsLong.run, id="sleeps-long", task_queue="clock-lend")
        await service.lock_time_skipping(LockTimeSkippingRequest())  # as an activity still running holds one
        start = await time_env.get_current_time()
        await asyncio.wait_for(skip_clock(time_env, start + timedelta(days=1), stall_seconds=2), 30)
        await service.unlock_time_skipping(UnlockTimeSkippingRequest())  # the activity ends
        await asyncio.sleep(3)
        assert await time_env.get_current_time() < start + timedelta(days=2), "the clock ran on to the 100-day timer"
