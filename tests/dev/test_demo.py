"""`renewals dev --demo` on the dev server (which has visibility): every stage and every outcome
shows up, filterable by the search attributes, as a manager would look in the Temporal UI."""

from __future__ import annotations

import asyncio

from temporalio.client import Client

from renewals.case.contract import Outcome, Stage
from renewals.dev.demo import demo_jobs
from worker import build_worker

DAY_SECONDS = 1


async def count(client: Client, query: str) -> int:
    return (await client.count_workflows(f'WorkflowType = "PolicyRenewal" AND {query}')).count


async def test_demo_shows_every_stage_and_every_outcome(dev_env, settings, engine):
    demo_settings = settings.model_copy(update={
        "temporal_address": dev_env.client.service_client.config.target_host, "notify_backend": "console",
        "task_queue": "renewals-demo", "workflow_sandbox": False})  # the worker as `renewals dev` runs it
    jobs, logins = demo_jobs(demo_settings, day_seconds=DAY_SECONDS, policies=30)
    assert {"demo-sales-1", "demo-deputy", "demo-auditor"} <= set(logins)
    stop = asyncio.Event()
    async with build_worker(dev_env.client, demo_settings, engine, task_queue="renewals-demo"):
        running = [asyncio.create_task(job(stop)) for job in jobs]
        wanted = [f'RenewalStage = "{s}" AND ExecutionStatus = "Running"' for s in Stage if s is not Stage.WAITING]
        wanted += [f'RenewalOutcome = "{o}"' for o in Outcome]
        missing = wanted
        for _ in range(90):
            missing = [q for q in wanted if await count(dev_env.client, q) == 0]
            if not missing:
                break
            await asyncio.sleep(1)
        stop.set()
        await asyncio.gather(*running)
    assert missing == [], f"not seen in the demo: {missing}"
    assert await count(dev_env.client, 'SubBranch = "310101" AND Branch = "3100"') == 30
