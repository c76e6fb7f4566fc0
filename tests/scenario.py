"""Driving real renewal workflows in the time-skipping environment: create the data, start the
case, move the clock to a day of the renewal calendar, and read what staff and customers saw."""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
import os
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlmodel import Session, select
from temporalio.api.testservice.v1 import LockTimeSkippingRequest, SleepRequest, UnlockTimeSkippingRequest
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from models import ContactRecord, Note, RenewalCase, Role, Task
from renewals.case.calendar import plan_renewal
from renewals.case.start import renewal_input, start_renewal, update_case
from renewals.core.settings import Settings
from renewals.dev.seed import create_policy
from renewals.org.service import add_org, add_staff
from tests.fake_twilio import FakeTwilio
from worker import build_worker
from renewals.case import contract as c

log = logging.getLogger(__name__)
TZ = "Asia/Shanghai"
HISTORIES = Path(__file__).parent / "histories"
# How long a clock skip may take: the SDK client's default deadline per call is far shorter.
SKIP_TIMEOUT = timedelta(minutes=5)
# Seconds a skip may go without the clock moving beyond real time before it lends the server a lock.
STALL_SECONDS = 20
_numbers = itertools.count(1)


def unique_phone() -> str:
    return f"+86139{next(_numbers) + uuid.uuid4().int % 10_000_000:08d}"


@dataclass
class Case:
    env: WorkflowEnvironment
    handle: WorkflowHandle
    inp: c.RenewalInput
    case_id: uuid.UUID
    owner_id: uuid.UUID
    owner_phone: str
    owner_name: str
    deputy_id: uuid.UUID
    deputy_phone: str
    admin_id: uuid.UUID  # the branch's system specialist, recorded in the case's input
    customer_id: uuid.UUID
    customer_phone: str
    customer_name: str
    plate: str
    engine: Engine | None = None  # the projection's database: update() waits until it shows the action

    def at(self, day: int, hour: int = 9, minute: int = 0) -> datetime:
        """Local wall time on day T+`day` of this case, as an aware datetime."""
        local_day = self.inp.expiry_date + timedelta(days=day)
        return datetime(local_day.year, local_day.month, local_day.day, hour, minute, tzinfo=ZoneInfo(self.inp.timezone))

    def actor(self, who: str = "owner") -> c.Actor:
        if who == "owner":
            return c.Actor(id=self.owner_id, role=c.ActorRole.sales)
        if who == "deputy":
            return c.Actor(id=self.deputy_id, role=c.ActorRole.deputy)
        if who == "admin":
            return c.Actor(id=self.admin_id, role=c.ActorRole.admin)
        return c.Actor(id=uuid.uuid4(), role=c.ActorRole.admin)  # a made-up admin

    async def update(self, name: str, payload) -> c.CaseState:
        """A staff action as the API runs it: the update, then the case once the projection shows
        it (or after a while, as the API's answer, if the projection lags); the case as the
        workflow's state query has it."""
        done = await update_case(self.handle, name, payload)
        if self.engine is not None:
            await projected(self.engine, self.case_id, done.revision)
        return await self.handle.query("state", result_type=c.CaseState)

    async def state(self, at: datetime | None = None) -> c.CaseState:
        """The workflow's state query, as of `at` (default: the environment's clock, as the API does)."""
        return await self.handle.query("state", at or await self.env.get_current_time(), result_type=c.CaseState)


class Scenario:
    def __init__(self, env: WorkflowEnvironment, engine: Engine, twilio: FakeTwilio, task_queue: str):
        self.env, self.engine, self.twilio, self.task_queue = env, engine, twilio, task_queue
        self.started: list[Case] = []
        self._pending_histories: list[tuple[Case, str]] = []
        with Session(engine, expire_on_commit=False) as session:
            suffix = uuid.uuid4().hex[:6]
            _, sub = add_org(session, branch_code=f"B{suffix}", branch_name="上海分公司",
                             sub_branch_code=f"S{suffix}", sub_branch_name="黄浦支公司")
            self.sub_branch_id, self.sub_branch_code, self.branch_code = sub.id, sub.code, f"B{suffix}"
            self.admin = add_staff(session, username=f"admin-{suffix}", name="陈静", role=Role.admin,
                                   phone=unique_phone(), branch_code=self.branch_code)
            session.commit()

    tz = ZoneInfo(TZ)

    def add_sales(self, name: str):
        with Session(self.engine, expire_on_commit=False) as session:
            staff = add_staff(session, username=f"sales-{uuid.uuid4().hex[:8]}", name=name, role=Role.sales,
                              phone=unique_phone(), sub_branch_code=self.sub_branch_code)
            session.commit()
            return staff

    def save_history(self, case: Case, name: str) -> None:
        """Record a finished path into tests/histories/ for the replay test, when asked to
        (RENEWALS_RECORD_HISTORIES=1): recorded histories are kept, not rewritten on every run."""
        if os.environ.get("RENEWALS_RECORD_HISTORIES") != "1":
            return
        self._pending_histories.append((case, name))

    async def now(self) -> datetime:
        return await self.env.get_current_time()

    async def local_today(self) -> date:
        return (await self.now()).astimezone(ZoneInfo(TZ)).date()

    async def next_local(self, hour: int) -> datetime:
        """The next `hour`:00 local time."""
        local = (await self.now()).astimezone(self.tz)
        at = local.replace(hour=hour, minute=0, second=0, microsecond=0)
        return at if at > local else at + timedelta(days=1)

    async def sleep_until(self, when: datetime) -> None:
        await skip_clock(self.env, when)

    async def start(self, *, days_to_expiry: int = 62, escalate_without_status: bool = True,
                    customer_name: str = "钱多多", language: str = "zh-CN", starter=start_renewal,
                    spread_wake_ups: bool = False) -> Case:
        """Create a policy with its customer, manager and deputy, and start its case with `starter`
        (client, input, task queue) -> handle. Its wake-ups are on the boundaries (the times the
        tests name) unless `spread_wake_ups`, as the system starts cases."""
        expiry = await self.local_today() + timedelta(days=days_to_expiry)
        policy_no = f"PDAA{uuid.uuid4().int % 10**12:012d}"
        plate = f"沪A{uuid.uuid4().int % 100000:05d}"
        with Session(self.engine, expire_on_commit=False) as session:
            owner = add_staff(session, username=f"sales-{uuid.uuid4().hex[:8]}", name="李四", role=Role.sales,
                              phone=unique_phone(), sub_branch_code=self.sub_branch_code)
            deputy = add_staff(session, username=f"deputy-{uuid.uuid4().hex[:8]}", name="王五", role=Role.deputy,
                               phone=unique_phone(), sub_branch_code=self.sub_branch_code)
            seeded = create_policy(
                session, policy_no=policy_no, sub_branch_id=self.sub_branch_id, owner_id=owner.id,
                expires_on=expiry, customer_name=customer_name, phone=unique_phone(),
                id_number="310101199001011234", plate=plate, premium=Decimal("4386.50"), language=language)
            session.commit()
        inp = renewal_input(Settings(_env_file=None, escalate_without_status=escalate_without_status),
                            policy_no=policy_no, expiry_date=expiry, owner_id=owner.id, deputy_id=deputy.id,
                            branch=self.branch_code, sub_branch=self.sub_branch_code, admin_ids=[self.admin.id],
                            timezone=TZ, spread_wake_ups=spread_wake_ups)
        handle = await starter(self.env.client, inp, self.task_queue)
        case = Case(env=self.env, handle=handle, inp=inp, case_id=c.case_id_for(handle.id), owner_id=owner.id,
                    owner_phone=owner.phone, owner_name=owner.name, deputy_id=deputy.id, deputy_phone=deputy.phone,
                    admin_id=self.admin.id,
                    customer_id=seeded.customer.id, customer_phone=seeded.customer.phone,
                    customer_name=customer_name, plate=plate, engine=self.engine)
        self.started.append(case)
        return case

    def plan(self, case: Case):
        return plan_renewal(case.inp.expiry_date, case.inp.timezone)

    def note(self, case: Case, author_id: uuid.UUID, body: str) -> uuid.UUID:
        """A staff note on the case, as the API stores it before the action that carries its id."""
        with Session(self.engine) as session:
            note = Note(case_id=case.case_id, author_id=author_id, body=body)
            session.add(note)
            session.commit()
            return note.id

    def tasks(self, case: Case) -> list[Task]:
        with Session(self.engine) as session:
            return list(session.exec(select(Task).where(Task.case_id == case.case_id)
                                     .order_by(Task.opens_at, Task.kind)).all())

    def case_row(self, case: Case) -> RenewalCase | None:
        with Session(self.engine) as session:
            return session.get(RenewalCase, case.case_id)

    def sms_records(self, case: Case) -> list[ContactRecord]:
        with Session(self.engine) as session:
            return list(session.exec(select(ContactRecord).where(ContactRecord.case_id == case.case_id,
                                                                 ContactRecord.channel == "sms")
                                     .order_by(ContactRecord.created_at)).all())

    def sms_to(self, phone: str) -> list[str]:
        return [m["body"] for m in self.twilio.delivered(phone)]

    async def finish(self) -> None:
        """Stop whatever the test left running, so it does not wake up in later tests' time."""
        for case, name in self._pending_histories:
            history = await case.handle.fetch_history()
            (HISTORIES / f"{name}.json").write_text(history.to_json())
        for case in self.started:
            await self.stop(case.handle)

    @staticmethod
    async def stop(handle: WorkflowHandle) -> None:
        """Terminate a case once nothing of it is in flight; one still busy is left to the module's
        worker (terminated mid-activity, it would stop the test server's clock for the module)."""
        if not await _settled(handle):
            return
        try:
            await handle.terminate("test finished")
        except Exception:  # noqa: BLE001 — already completed
            pass


async def skip_clock(env: WorkflowEnvironment, when: datetime, stall_seconds: float = STALL_SECONDS) -> None:
    """Skip the time-skipping server's clock to `when`. The server skips only as fast as the
    workers handle what wakes meanwhile: on a busy machine that outlasts the client's default call
    timeout, so the call gets a long one (the SDK's env.sleep sets none). A clock that stops
    skipping altogether holds a lock the skip cannot see: one the test server leaked (it keeps one
    for an activity still outstanding when its workflow ended, temporalio/sdk-java#1138) or an
    activity still running. The skip lends one lock back until it arrives, then takes it again, so
    the server's count stays right in both cases (a lock given back for good set the clock running
    on its own once that activity ended)."""
    service = env.client.test_service
    lent = False
    try:
        while (delta := (when - (before := await env.get_current_time())).total_seconds()) > 0:
            request = SleepRequest()
            request.duration.FromTimedelta(timedelta(seconds=delta))
            try:
                await asyncio.wait_for(service.unlock_time_skipping_with_sleep(request, timeout=SKIP_TIMEOUT),
                                       stall_seconds)
                return
            except asyncio.TimeoutError:
                moved = (await env.get_current_time() - before).total_seconds()
                if not lent and moved < 2 * stall_seconds:  # only real time passed
                    log.warning("the test server's clock stopped short of %s: lending it a lock", when)
                    await service.unlock_time_skipping(UnlockTimeSkippingRequest())
                    lent = True
    finally:
        if lent:
            await service.lock_time_skipping(LockTimeSkippingRequest())


async def a_case_no_worker_runs(env: WorkflowEnvironment, settings: Settings, engine: Engine,
                                twilio: FakeTwilio) -> tuple[Scenario, Case, Settings]:
    """A case in its first window whose worker has stopped, so a staff action on it waits for nobody;
    a worker on the scenario's task queue with the returned settings (no workflow cache: it takes the
    case's tasks at once, not after a sticky timeout) works it again."""
    uncached = settings.model_copy(update={"workflow_cache_size": 0})
    scenario = Scenario(env, engine, twilio, f"renewals-no-worker-{uuid.uuid4().hex[:8]}")
    async with build_worker(env.client, uncached, engine, task_queue=scenario.task_queue):
        case = await scenario.start(days_to_expiry=62)
        await scenario.sleep_until(case.at(-60, 10))

        async def window_opened() -> None:  # projected, and nothing left in flight for this worker
            assert scenario.case_row(case) is not None and scenario.tasks(case)
            assert not (await case.handle.describe()).raw_description.pending_activities

        await eventually(window_opened)
    return scenario, case, uncached


async def _settled(handle: WorkflowHandle, timeout: float = 10.0) -> bool:
    """Wait (briefly) until the case has no write or send in flight, nor a workflow task that may
    start one: the time-skipping server stops skipping for good if a workflow is terminated while
    one of its activities runs."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        try:
            description = (await handle.describe()).raw_description
        except Exception:  # noqa: BLE001 — nothing to wait for
            return True
        if not description.pending_activities and not description.HasField("pending_workflow_task"):
            return True
        await asyncio.sleep(0.05)
    return False


async def projected(engine: Engine, case_id: uuid.UUID, revision: int, timeout: float = 1.0) -> bool:
    """Whether the case's projection reaches `revision` within `timeout` (the API's wait)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        with Session(engine) as session:
            shown = session.exec(select(RenewalCase.revision).where(RenewalCase.id == case_id)).first()
        if shown is not None and shown >= revision:
            return True
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.01)


async def eventually(check, timeout: float = 10.0):
    """Poll `check` (plain or async) until it stops raising AssertionError (the projection is
    written by activities)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            result = check()
            return await result if inspect.isawaitable(result) else result
        except AssertionError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.1)


async def terminate_open_cases(client, engine: Engine) -> None:
    """Stop every case of this module's database still running (cases started by imports and
    assignments), so none wakes up in a later module's time with no worker for its queue."""
    with Session(engine) as session:
        running = session.exec(select(RenewalCase.workflow_id).where(RenewalCase.outcome.is_(None))).all()
    for workflow_id in running:
        try:
            await client.get_workflow_handle(workflow_id).terminate("test module finished")
        except Exception:  # noqa: BLE001 — already finished
            pass
