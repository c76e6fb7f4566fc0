"""Imports as durable work, on the Temporal dev server with workers in processes of their own: a
worker killed in the middle of an import's load, and another killed while the cases follow, leave
nothing to redo by hand. The next worker takes the import over and the job ends `done` with every
policy, customer and case exactly once."""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from datetime import timedelta

import pytest
import pytest_asyncio
from sqlalchemy import text

from models import ImportJob
from renewals.case import contract as c
from renewals.core.settings import Settings
from renewals.dev.sample_book import to_csv
from renewals.intake.durable import start_import, store_upload
from renewals.intake.service import local_today, read_job
from tests.intake.books import own_book, own_queue
from tests.scenario import eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")

ROWS = 20_000
DUE_EVERY = 100  # one policy in a hundred expires within the horizon: its case starts


def _work(settings: Settings, address: str) -> None:
    """A worker process (killed by the test)."""
    from temporalio.client import Client
    from temporalio.contrib.pydantic import pydantic_data_converter

    from renewals.core.db import make_engine
    from worker import build_worker

    async def run() -> None:
        client = await Client.connect(address, data_converter=pydantic_data_converter)
        async with build_worker(client, settings, make_engine(settings.database_url)):
            await asyncio.Event().wait()

    asyncio.run(run())


class Workers:
    """Worker processes on the test's own task queue, one at a time."""

    def __init__(self, settings: Settings, address: str):
        self.settings, self.address = settings, address
        self.process: multiprocessing.Process | None = None

    def start(self) -> None:
        self.process = multiprocessing.get_context("spawn").Process(target=_work, args=(self.settings, self.address))
        self.process.start()

    def kill(self) -> None:
        self.process.kill()
        self.process.join()


@pytest_asyncio.fixture
async def workers(dev_env, settings):
    running = Workers(own_queue(settings, "import-durable"), dev_env.client.service_client.config.target_host)
    yield running
    if running.process is not None and running.process.is_alive():
        running.kill()


def wait_for_job(engine, job_id, reached, what: str, timeout: float = 300) -> ImportJob:
    deadline = time.monotonic() + timeout
    while True:
        job = read_job(engine, job_id)
        if reached(job):
            return job
        assert job.status not in ("done", "failed"), f"the job ended ({job.status}) before {what}: {job.failure}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


@pytest.mark.timeout(600)
async def test_an_import_whose_workers_are_killed_halfway_finishes_with_everything_once(
        engine, dev_env, workers):
    today = local_today(workers.settings)
    records = own_book(engine, ROWS, "PDUR", lambda i: today + timedelta(
        days=30 if i % DUE_EVERY == 0 else 200 + i % 300))
    prefix = records[0]["policy_no"][:-7]
    job_id = store_upload(engine, "book.csv", to_csv(records))
    workers.start()
    await start_import(engine, dev_env.client, workers.settings,
                       c.ImportInput(job_id=job_id, actor=c.INTAKE_ACTOR, branch_id=None, as_of=today))

    await asyncio.to_thread(wait_for_job, engine, job_id, lambda j: j.phase == "loading", "the load")
    workers.kill()  # the load's transaction dies with its connection: nothing of it stays
    assert read_job(engine, job_id).phase == "loading"
    workers.start()
    job = await asyncio.to_thread(wait_for_job, engine, job_id,
                                  lambda j: j.phase == "cases" and 0 < j.followed_policies < ROWS,
                                  "the cases' follow-up")
    workers.kill()  # some cases started, the others not yet
    assert job.imported_rows == ROWS
    workers.start()

    done = await asyncio.to_thread(wait_for_job, engine, job_id, lambda j: j.status == "done", "the end")
    assert done.failure is None and done.imported_rows == ROWS and done.followed_policies == ROWS
    assert done.counts["inserted"] == ROWS and done.counts["rejected"] == 0
    due = ROWS // DUE_EVERY
    assert done.counts["cases_started"] + done.counts["cases_running"] == due
    assert done.counts["no_case_not_yet"] == ROWS - due
    with engine.connect() as conn:
        def count(sql: str) -> int:
            return conn.execute(text(sql), {"prefix": f"{prefix}%"}).scalar_one()

        assert count("SELECT count(*) FROM policy WHERE policy_no LIKE :prefix") == ROWS
        assert count("SELECT count(*) FROM customer WHERE branch_id = (SELECT sb.branch_id FROM policy p JOIN "
                     "sub_branch sb ON sb.id = p.sub_branch_id WHERE p.policy_no LIKE :prefix LIMIT 1)"
                     ) == len({r["id_number"] for r in records}), "one record per person"
        assert count("SELECT count(*) FROM assignment a JOIN policy p ON p.id = a.policy_id "
                     "WHERE p.policy_no LIKE :prefix") == ROWS, "one owner per policy, given once"
        assert conn.execute(text("SELECT count(*) FROM import_upload WHERE job_id = :job"),
                            {"job": job_id}).scalar_one() == 0, "the file is not kept"

    runs = f'WorkflowType = "PolicyRenewal" AND PolicyNo STARTS_WITH "{prefix}"'

    async def every_case_once():
        assert (await dev_env.client.count_workflows(runs)).count == due
        with engine.connect() as conn:
            cases = conn.execute(text("SELECT policy_no FROM renewal_case WHERE policy_no LIKE :prefix"),
                                 {"prefix": f"{prefix}%"}).scalars().all()
        assert len(cases) == len(set(cases)) == due

    await eventually(every_case_once, timeout=120)
    async for wf in dev_env.client.list_workflows(f'{runs} AND ExecutionStatus = "Running"'):
        await dev_env.client.get_workflow_handle(wf.id).terminate("test finished")
