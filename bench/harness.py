"""What every benchmark runs on: an embedded PostgreSQL, a local fake Twilio and a worker on the
given Temporal environment, with a Scenario to create and drive renewal cases."""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlmodel import Session, select
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from models import RenewalCase, Role
from renewals.case.start import start_renewal
from renewals.core.db import make_engine, migrate
from renewals.dev.servers import EmbeddedPostgres, TemporalDevServer, die_with_parent, free_port
from renewals.dev.seed import create_policy
from renewals.core.settings import Settings
from renewals.org.service import add_org, add_staff
from renewals.core.temporal import bounded, connect
from tests.fake_twilio import FakeTwilio
from tests.scenario import Scenario
from worker import build_worker
from renewals.case import contract as c


@asynccontextmanager
async def renewal_system(env: WorkflowEnvironment, task_queue: str) -> AsyncIterator[tuple[Scenario, Settings]]:
    pg = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="rbench")) / "d", ephemeral=True)
    migrate(pg.url())
    engine = make_engine(pg.url(), pool_size=10)
    try:
        with FakeTwilio() as twilio:
            settings = Settings(_env_file=None, database_url=pg.url(), notify_backend="twilio",
                                twilio_api_base_url=twilio.base_url, activity_workers=8)
            async with build_worker(env.client, settings, engine, task_queue=task_queue):
                scenario = Scenario(env, engine, twilio, task_queue)
                yield scenario, settings
                await scenario.finish()
    finally:
        engine.dispose()
        pg.stop()


# --- the whole stack in processes, for the fault and load benchmarks -----------------------------

WORKER_ENV_KEYS = ("DATABASE_URL", "TEMPORAL_ADDRESS", "TASK_QUEUE", "NOTIFY_BACKEND", "TWILIO_API_BASE_URL",
                   "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM", "LOG_LEVEL", "ACTIVITY_WORKERS")


def percentile(samples: list[float], q: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@dataclass
class StartedCase:
    policy_no: str
    workflow_id: str
    case_id: uuid.UUID
    phone: str


class Stack:
    """Embedded PostgreSQL, a Temporal dev server and a fake Twilio in this process's care, and
    worker processes (`renewals worker`, exactly as deployed) that a benchmark can start and kill.
    Everything listens on loopback only."""

    def __init__(self, workdir: Path, task_queue: str = "renewals-bench"):
        self.workdir, self.task_queue = workdir, task_queue
        self.pg = EmbeddedPostgres(workdir / "pg", ephemeral=True)
        migrate(self.pg.url())
        self.engine = make_engine(self.pg.url(), pool_size=10)
        self.temporal = TemporalDevServer(workdir / "temporal.db", free_port(), free_port())
        self.temporal.start()
        self.twilio = FakeTwilio().start()
        self.workers: list[subprocess.Popen] = []
        self.settings = Settings(_env_file=None, database_url=self.pg.url(), temporal_address=self.temporal.address,
                                 task_queue=task_queue, notify_backend="twilio", twilio_api_base_url=self.twilio.base_url,
                                 twilio_account_sid="AC" + "1" * 32, twilio_auth_token="bench-token",
                                 twilio_from="+15005550006", log_level="WARNING", activity_workers=20)
        with Session(self.engine, expire_on_commit=False) as session:
            _, sub = add_org(session, branch_code="3100", branch_name="上海分公司", sub_branch_code="310101",
                             sub_branch_name="黄浦支公司")
            self.sales = add_staff(session, username="bench-sales", name="李四", role=Role.sales,
                                   phone="+8613800000001", sub_branch_code="310101")
            self.deputy = add_staff(session, username="bench-deputy", name="王五", role=Role.deputy,
                                    phone="+8613800000002", sub_branch_code="310101")
            self.sub_branch_id = sub.id
            session.commit()
        self._numbers = itertools.count(1)

    async def client(self) -> Client:
        return await connect(self.settings)

    def start_worker(self) -> subprocess.Popen:
        env = {k: v for k, v in os.environ.items() if k not in WORKER_ENV_KEYS}
        env.update(DATABASE_URL=self.settings.database_url, TEMPORAL_ADDRESS=self.settings.temporal_address,
                   TASK_QUEUE=self.task_queue, NOTIFY_BACKEND="twilio", TWILIO_API_BASE_URL=self.twilio.base_url,
                   TWILIO_ACCOUNT_SID=self.settings.twilio_account_sid, TWILIO_AUTH_TOKEN="bench-token",
                   TWILIO_FROM="+15005550006", LOG_LEVEL="WARNING", ACTIVITY_WORKERS="20")
        log = open(self.workdir / f"worker-{len(self.workers)}.log", "ab")
        worker = subprocess.Popen([sys.executable, "-m", "renewals.cli", "worker"], env=env, stdout=log,
                                  stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, preexec_fn=die_with_parent)
        self.workers.append(worker)
        return worker

    def kill_worker(self, worker: subprocess.Popen) -> None:
        worker.kill()
        worker.wait()

    def seed(self, n: int, days: int = 61) -> list[tuple[str, str]]:
        """`n` policies expiring in `days` days (each customer's phone unique): (policy no, phone)."""
        seeded = []
        with Session(self.engine, expire_on_commit=False) as session:
            for _ in range(n):
                i = next(self._numbers)
                policy_no, phone = f"BENCH{i:08d}", f"+86139{i:08d}"
                create_policy(session, policy_no=policy_no, sub_branch_id=self.sub_branch_id, owner_id=self.sales.id,
                              expires_on=date.today() + timedelta(days=days), customer_name="钱多多", phone=phone,
                              id_number=f"31010119900101{i % 10000:04d}", plate=f"沪A{i % 100000:05d}")
                seeded.append((policy_no, phone))
            session.commit()
        return seeded

    async def start_cases(self, client: Client, policies: list[tuple[str, str]], *, day_seconds: int,
                          days: int = 61, concurrency: int = 50) -> list[StartedCase]:
        """Start one case per policy (seeded with the same `days`) on a compressed day, each
        anchored at its own start."""
        expiry = date.today() + timedelta(days=days)

        async def one(policy: tuple[str, str]) -> StartedCase:
            policy_no, phone = policy
            inp = c.RenewalInput(policy_no=policy_no, expiry_date=expiry, owner_id=self.sales.id,
                                 deputy_id=self.deputy.id, branch="3100", sub_branch="310101",
                                 day_seconds=day_seconds,
                                 clock_anchor=datetime.now(UTC) + timedelta(seconds=days * day_seconds))
            handle = await start_renewal(client, inp, self.task_queue)
            return StartedCase(policy_no, handle.id, c.case_id_for(handle.id), phone)

        return await bounded(policies, one, concurrency)

    async def wait_closed(self, client: Client, timeout: float) -> None:
        """Wait until no case on the task queue is running (or `timeout`): one visibility count
        a second, so waiting adds no load worth mentioning."""
        deadline = time.monotonic() + timeout
        query = f'TaskQueue = "{self.task_queue}" AND ExecutionStatus = "Running"'
        while time.monotonic() < deadline:
            try:
                if (await client.count_workflows(query)).count == 0:
                    return
            except RPCError:  # the server may be restarting
                pass
            await asyncio.sleep(1)

    async def verdict(self, client: Client, cases: list[StartedCase]) -> dict[str, int]:
        """Lost (never started or failed), stuck (still running), projection/workflow disagreements,
        and the windows cases could not enter because they woke too late (entered late or recorded)."""
        lost = stuck = disagree = 0
        finished: dict[uuid.UUID, c.CaseState] = {}
        for case in cases:
            handle = client.get_workflow_handle(case.workflow_id, result_type=c.CaseState)
            try:
                description = await handle.describe()
            except RPCError:
                lost += 1
                continue
            if description.status == WorkflowExecutionStatus.RUNNING:
                stuck += 1
            elif description.status != WorkflowExecutionStatus.COMPLETED:
                lost += 1
            else:
                finished[case.case_id] = await handle.result()
        # Read after the workflows closed: each wrote its projection before it completed.
        with Session(self.engine) as session:
            rows = {r.id: r for r in session.exec(select(RenewalCase).where(RenewalCase.id.in_(list(finished)))).all()}
        for case_id, result in finished.items():
            row = rows.get(case_id)
            if row is None or row.outcome != result.outcome or row.stage != result.stage:
                disagree += 1
        return {"lost": lost, "stuck": stuck, "disagreements": disagree, "duplicate_sms": self.twilio.duplicates(),
                "skipped_windows": sum(len(row.skipped_windows) for row in rows.values())}

    def close(self) -> None:
        for worker in self.workers:
            if worker.poll() is None:
                worker.terminate()
                try:
                    worker.wait(10)
                except subprocess.TimeoutExpired:
                    worker.kill()
                    worker.wait()
        self.twilio.stop()
        self.temporal.stop()
        self.engine.dispose()
        self.pg.stop()
