"""The README's saved Temporal UI queries for managers, run against the dev server
over real cases: each finds exactly the cases its title promises."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from temporalio.testing import WorkflowEnvironment

from renewals.case.start import start_renewal
from tests.scenario import TZ, Scenario
from worker import build_worker

README = Path(__file__).parents[2] / "README.md"


def manager_queries() -> dict[str, str]:
    section = README.read_text().split("## For managers", 1)[1].split("\n## ", 1)[0]
    return dict(re.findall(r"^\| ([^|`]+?) \| `([^`]+)` \|$", section, flags=re.M))


def compressed(day_seconds: int, day_now: float):
    """Start a case on a compressed clock where it is day `day_now` relative to expiry right now."""
    async def starter(client, inp, task_queue):
        anchor = datetime.now(ZoneInfo("UTC")) - timedelta(seconds=day_now * day_seconds)
        return await start_renewal(client, dataclasses.replace(inp, day_seconds=day_seconds, clock_anchor=anchor),
                                   task_queue)
    return starter


async def test_readme_queries_find_what_they_promise(dev_env, settings, engine, twilio):
    queries = manager_queries()
    assert len(queries) == 6, queries
    queue = "renewals-manager-queries"
    async with build_worker(dev_env.client, settings, engine, task_queue=queue):
        sc = Scenario(WorkflowEnvironment.from_client(dev_env.client), engine, twilio, queue)
        escalated = await sc.start(starter=compressed(20, -9.5))  # T-10 for a minute: with the deputy
        this_week = await sc.start(days_to_expiry=3)  # real days: FINAL_CONTACT, no status yet
        lapsed = await sc.start(starter=compressed(1, 9))  # past T+7 already: closes LAPSED at once
        assert (await lapsed.handle.result()).outcome == "LAPSED"

        now = datetime.now(ZoneInfo(TZ))
        today = now.replace(hour=0, minute=0, second=0, microsecond=0)
        mine = {"3100": sc.branch_code, "310101": sc.sub_branch_code,
                "5f0c3d6e-1d2a-4b8e-9c41-2a7d3e9b6f10": str(this_week.owner_id),
                "2026-11-30T00:00:00+08:00": today.isoformat(),
                "2026-12-07T00:00:00+08:00": (today + timedelta(7)).isoformat(),
                "2026-10-01T00:00:00+08:00": (now - timedelta(hours=1)).isoformat(),
                "2026-11-01T00:00:00+08:00": (now + timedelta(hours=1)).isoformat()}
        expected = {
            "my branch's escalated cases": [escalated], "the deputy's desk": [escalated],
            "expiring this week without a status": [escalated, this_week], "lapsed last month": [lapsed],
            "by manager: open cases": [this_week], "by manager: last week before expiry": [this_week],
        }
        assert set(expected) == set(queries)
        examples = re.compile("|".join(map(re.escape, mine)))
        for title, query in queries.items():
            # In one pass: a value may read as another example (today is the README's 2026-12-07).
            query = examples.sub(lambda m: mine[m[0]], query)
            want = {case.handle.id for case in expected[title]}
            found: set[str] = set()
            for _ in range(60):  # visibility is eventually consistent
                found = {wf.id async for wf in dev_env.client.list_workflows(query)}
                if found == want:
                    break
                await asyncio.sleep(0.5)
            assert found == want, f"{title}: {query}"
        await sc.finish()
