"""A workflow that only sleeps 100 days, for the tests' clock: a timer far ahead, which a clock
running on its own would jump to."""

from __future__ import annotations

import asyncio

from temporalio import workflow


@workflow.defn
class SleepsLong:
    @workflow.run
    async def run(self) -> None:
        await asyncio.sleep(100 * 86400)
