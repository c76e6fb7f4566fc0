"""The tests' clock: the time-skipping server keeps a lock for an activity still outstanding when
its workflow ended (temporalio/sdk-java#1138), and then skips no more: every later skip of the
module waited in real time until pytest's timeout. The tests' skip gives such a lock back."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio.api.testservice.v1 import LockTimeSkippingRequest

from tests.scenario import skip_clock


async def test_a_skip_goes_on_past_a_lock_the_test_server_leaked_and_gives_it_back(time_env):
    await time_env.client.test_service.lock_time_skipping(LockTimeSkippingRequest())  # as the server leaks it
    start = await time_env.get_current_time()
    await asyncio.wait_for(skip_clock(time_env, start + timedelta(days=30), stall_seconds=3), 30)
    assert await time_env.get_current_time() >= start + timedelta(days=30)
    # Given back, the lock no longer holds the clock: with nothing to wake, a skip is immediate
    # (it would wait out the 3 s stall again if the lock were still held).
    later = await time_env.get_current_time()
    await asyncio.wait_for(skip_clock(time_env, later + timedelta(days=2), stall_seconds=3), 2.5)
    assert await time_env.get_current_time() >= later + timedelta(days=2)
