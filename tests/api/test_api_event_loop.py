"""The API keeps answering while an import follow-up, a book move, a policy assignment or a
deputy change waits on PostgreSQL: their database work runs on threads, not on the event loop
every request shares.

Each test locks the table the operation needs from another connection, so the operation's
statement waits; only this test's own code, running on the event loop, releases the lock. If the
operation waited on the loop, the loop could not get there: the server then ends the lock
holder's idle transaction after RELEASE_AFTER and the test fails."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session

from models import Role
from renewals.intake.service import follow_policies
from renewals.dev.seed import create_policy
from renewals.org.service import add_org
from tests.api.conftest import add_person, add_sub_branch, make_deputy
from tests.scenario import unique_phone
from renewals.case import contract as c

RELEASE_AFTER = "20s"  # what the server allows the lock holder, when the loop never gets to release it


def _blocked_by(engine: Engine, pid: int) -> bool:
    with engine.connect() as conn:
        return conn.execute(text("SELECT EXISTS (SELECT FROM pg_stat_activity "
                                 "WHERE :pid = ANY(pg_blocking_pids(pid)))"), {"pid": pid}).scalar_one()


async def behind_a_lock(api, lock: str, operation: Awaitable[Any]) -> Any:
    """Run `operation` while `lock` (a LOCK TABLE statement) is held; the health check answers
    while the operation waits on it, then the lock is released from the event loop."""
    locker = api.engine.connect()
    try:
        locker.execute(text(f"SET LOCAL idle_in_transaction_session_timeout = '{RELEASE_AFTER}'"))
        locker.execute(text(lock))
        pid = locker.execute(text("SELECT pg_backend_pid()")).scalar_one()
        running = asyncio.ensure_future(operation)

        async def until_waiting() -> None:
            while not await asyncio.to_thread(_blocked_by, api.engine, pid):
                assert not running.done(), "the operation ended before the loop saw it wait: it waited on the loop"
                await asyncio.sleep(0.05)

        await asyncio.wait_for(until_waiting(), timeout=30)
        assert (await api.get("/healthz")).status_code == 200
        # Still this test's transaction (not ended by the server's timeout): the loop got here first.
        locker.execute(text("SELECT 1"))
        locker.rollback()
        return await asyncio.wait_for(running, timeout=60)
    finally:
        locker.close()


@pytest.fixture(scope="module")
def branch(engine) -> dict[str, Any]:
    code = f"L{uuid.uuid4().hex[:5].upper()}"
    with Session(engine) as session:
        add_org(session, branch_code=code, branch_name="苏州分公司")
        session.commit()
    sub = add_sub_branch(engine, code)
    deputies = [add_person(engine, Role.deputy, sub_branch_code=sub) for _ in range(2)]
    make_deputy(engine, sub, deputies[0])
    return {"admin": add_person(engine, Role.admin, branch_code=code), "sub_branch": sub, "deputies": deputies,
            "sales": [add_person(engine, Role.sales, sub_branch_code=sub) for _ in range(2)]}


async def test_an_import_follow_up_waiting_on_the_database_leaves_the_api_answering(api, time_env):
    counts = await behind_a_lock(api, "LOCK TABLE renewal_case IN ACCESS EXCLUSIVE MODE", follow_policies(
        api.engine, time_env.client, api.settings, [str(uuid.uuid4())], c.INTAKE_ACTOR))
    assert counts["cases_started"] == counts["reassigned"] == counts["expiry_changed"] == 0


async def test_a_book_move_waiting_on_the_database_leaves_the_api_answering(api, branch):
    headers = await api.sign_in(branch["admin"].id)
    leaver, taker = branch["sales"]
    moved = await behind_a_lock(api, "LOCK TABLE renewal_case IN ACCESS EXCLUSIVE MODE", api.post(
        f"/staff/{leaver.id}/reassign-book", headers=headers, json={"to": [str(taker.id)], "reason": "left"}))
    assert moved.status_code == 200, moved.text
    assert moved.json()["policies"] == 0


async def test_an_assignment_waiting_on_the_database_leaves_the_api_answering(api, engine, branch):
    headers = await api.sign_in(branch["admin"].id)
    first, second = branch["sales"]
    policy_no = f"PLOOP{uuid.uuid4().hex[:8].upper()}"
    with Session(engine) as session:
        create_policy(session, policy_no=policy_no, sub_branch_id=first.sub_branch_id, owner_id=first.id,
                      expires_on=date.today() + timedelta(days=3650),  # far beyond the horizon: no case starts
                      customer_name="钱九", phone=unique_phone(), plate="苏E12345",
                      id_number=f"32050119800101{uuid.uuid4().int % 10**4:04d}")
        session.commit()
    # Reads go on; the assignment's update waits.
    assigned = await behind_a_lock(api, "LOCK TABLE assignment IN SHARE MODE", api.post(
        "/assignments", headers=headers, json={"policy_no": policy_no, "staff_id": str(second.id), "reason": "x"}))
    assert assigned.status_code == 200, assigned.text
    assert assigned.json()["staff_id"] == str(second.id)


async def test_a_deputy_change_waiting_on_the_database_leaves_the_api_answering(api, branch):
    headers = await api.sign_in(branch["admin"].id)
    new_deputy = branch["deputies"][1]
    # Reads go on; the sub-branch's update waits.
    changed = await behind_a_lock(api, "LOCK TABLE sub_branch IN SHARE MODE", api.put(
        f"/sub-branches/{branch['sub_branch']}/deputy", headers=headers, json={"deputy_id": str(new_deputy.id)}))
    assert changed.status_code == 200, changed.text
    assert changed.json()["deputy_id"] == str(new_deputy.id)
