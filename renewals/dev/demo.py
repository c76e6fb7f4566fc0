"""`renewals dev --demo`: demo staff and 30 policies on the stack's day (2 seconds unless DAY_SECONDS
says otherwise), and a staff simulator, so that within a few minutes the Temporal UI shows cases in
every stage and every outcome."""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlmodel import Session, func, select
from temporalio.service import RPCError

from models import Note, Policy, RenewalCase, Staff, SubBranch
from renewals.case.contract import Stage
from renewals.case.start import CaseRejected, renewal_input, start_renewal, update_case
from renewals.core.db import make_engine
from renewals.dev.demo_users import create_demo_users
from renewals.dev.seed import create_policy
from renewals.core.settings import Settings
from renewals.org.service import add_org
from renewals.core.temporal import connect
from renewals.case import contract as c

log = logging.getLogger(__name__)

DAY_SECONDS = 2  # the demo stack's day, unless DAY_SECONDS is set
POLICIES = 30
BRANCH, SUB_BRANCH = "3100", "310101"
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = ["伟", "芳", "娜", "敏", "静", "强", "磊", "洋", "艳", "勇", "军", "杰", "娟", "涛", "明", "超"]
INSURERS = [c.Insurer.ping_an, c.Insurer.cpic, c.Insurer.china_life]
# 经办人 codes of the demo service managers: samples/policies-demo.csv matches rows without a manager by them.
HANDLER_CODES = {"demo-sales-1": "JB310101001", "demo-sales-2": "JB310101002", "demo-sales-3": "JB310101003"}


def demo_jobs(settings: Settings, *, day_seconds: int | None = None, policies: int = POLICIES):
    """Seed the demo staff now; return the background jobs for `serve` (start the cases on
    `day_seconds`, by default the stack's day; simulate the staff) and the sign-in names."""
    day_seconds = day_seconds or settings.day_seconds
    engine = make_engine(settings.database_url)
    with Session(engine, expire_on_commit=False) as session:
        add_org(session, branch_code=BRANCH, branch_name="上海分公司", sub_branch_code=SUB_BRANCH,
                sub_branch_name="黄浦支公司")
        logins = create_demo_users(session, sub_branch_code=SUB_BRANCH, branch_code=BRANCH, settings=settings)
        _set_up_ownership(session)
        session.commit()
    engine.dispose()

    async def seed_cases(stop: asyncio.Event) -> None:
        await _start_demo_cases(settings, day_seconds, policies)

    async def simulate_staff(stop: asyncio.Event) -> None:
        await _simulate(settings, stop, day_seconds)

    return (seed_cases, simulate_staff), logins


def _staff(session: Session, username: str) -> Staff:
    return session.exec(select(Staff).where(Staff.username == username)).one()


def _set_up_ownership(session: Session) -> None:
    """The demo sub-branch's deputy, and the sales staff's 经办人 codes (imports match by them)."""
    sub = session.exec(select(SubBranch).where(SubBranch.code == SUB_BRANCH)).one()
    sub.deputy_id = sub.deputy_id or _staff(session, "demo-deputy").id
    session.add(sub)
    for username, code in HANDLER_CODES.items():
        staff = _staff(session, username)
        staff.handler_code = staff.handler_code or code
        session.add(staff)
    session.flush()


def _count_demo_policies(engine) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(Policy).where(Policy.policy_no.startswith("DEMO"))).one()


def _seed_demo_policies(engine, settings: Settings, day_seconds: int, policies: int,
                        now: datetime) -> list[c.RenewalInput]:
    """The demo policies, and the inputs of their cases."""
    rng = random.Random()
    stamp = now.strftime("%y%m%d%H%M")
    inputs = []
    with Session(engine, expire_on_commit=False) as session:
        sales = [_staff(session, f"demo-sales-{n}") for n in (1, 2, 3)]
        deputy = _staff(session, "demo-deputy")
        admin = _staff(session, "demo-admin")
        for i in range(policies):
            # Spread the cases over the whole calendar, so every stage is populated at once.
            days_to_expiry = 61 - (i * 68) // policies
            expiry = now.date() + timedelta(days=days_to_expiry)
            owner = sales[i % 3]
            seeded = create_policy(
                session, policy_no=f"DEMO{stamp}{i:02d}", sub_branch_id=owner.sub_branch_id, owner_id=owner.id,
                expires_on=expiry, customer_name=rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN),
                phone=f"+86139{rng.randrange(10**8):08d}", id_number=f"3101011980{rng.randrange(10**8):08d}",
                plate=f"沪A{rng.randrange(10**5):05d}", premium=Decimal(rng.randrange(2500, 9000)),
                claims_last_year=rng.choice([0, 0, 0, 1, 2, 4]))
            inputs.append(renewal_input(
                settings, policy_no=seeded.policy.policy_no, expiry_date=expiry, owner_id=owner.id,
                deputy_id=deputy.id, branch=BRANCH, sub_branch=SUB_BRANCH, admin_ids=[admin.id],
                day_seconds=day_seconds, now=now))
        session.commit()
    return inputs


async def _start_demo_cases(settings: Settings, day_seconds: int, policies: int) -> None:
    # The database work runs on threads: the API shares this event loop.
    engine = make_engine(settings.database_url)
    try:
        seeded = await asyncio.to_thread(_count_demo_policies, engine)
        if seeded:  # a data directory that has the demo keeps its cases: run --demo again, get no more
            log.info("demo: %d demo policies already in this data directory; none added", seeded)
            return
        client = await connect(settings)
        inputs = await asyncio.to_thread(_seed_demo_policies, engine, settings, day_seconds, policies,
                                         datetime.now(UTC))
    finally:
        engine.dispose()
    for inp in inputs:
        await start_renewal(client, inp, settings.task_queue)
    log.info("demo: started %d renewal cases on a %d-second day", len(inputs), day_seconds)


def _demo_admin(engine) -> c.Actor:
    with Session(engine) as session:
        return c.Actor(id=_staff(session, "demo-admin").id, role=c.ActorRole.admin)


def _open_demo_cases(engine) -> list[RenewalCase]:
    with Session(engine) as session:
        return list(session.exec(select(RenewalCase).where(RenewalCase.policy_no.startswith("DEMO"),
                                                           RenewalCase.outcome.is_(None))
                                 .order_by(RenewalCase.policy_no)).all())


async def _simulate(settings: Settings, stop: asyncio.Event, day_seconds: int) -> None:
    """Every tick, each open demo case but the unattended ones may get one staff action, as a busy
    team would do. The first cases in the early windows end at once as RENEWED, LOST and CLOSED,
    and the unattended ones from the last week lapse, so every outcome shows up in the first minute."""
    client = await connect(settings)
    engine = make_engine(settings.database_url, pool_size=2)
    rng = random.Random()
    try:
        admin = await asyncio.to_thread(_demo_admin, engine)
        scripted = ["set_follow_up", "report_renewed_elsewhere", "close"]
        while not stop.is_set():
            cases = await asyncio.to_thread(_open_demo_cases, engine)
            for case in cases:
                if _unattended(case):
                    continue
                early = Stage(case.stage) in (Stage.FIRST_CONTACT, Stage.SECOND_CONTACT)
                action = _scripted(scripted.pop(0), case, admin) if scripted and early else _pick_action(case, rng)
                if action is None:
                    continue
                if action[0] == "set_follow_up" and action[1].actor.role is c.ActorRole.deputy:
                    action[1].note_id = await asyncio.to_thread(_handover_note, engine, case)
                try:
                    await update_case(client.get_workflow_handle(case.workflow_id), *action)
                except CaseRejected as exc:
                    log.debug("demo: %s refused for %s: %s", action[0], case.policy_no, exc.reason)
                except RPCError as exc:  # a busy or restarting server: the simulated staff just try later
                    log.warning("demo: %s for %s did not go through: %s", action[0], case.policy_no, exc)
            try:
                await asyncio.wait_for(stop.wait(), timeout=day_seconds * 0.75)
            except TimeoutError:
                pass
    finally:
        engine.dispose()


def _unattended(case: RenewalCase) -> bool:
    """One demo case in six nobody works, as a team's forgotten cases: they escalate and lapse
    (left to chance, a fast team may leave none to lapse)."""
    return int(case.policy_no[-2:]) % 6 == 5


def _handover_note(engine, case: RenewalCase):
    """The deputy hands the case back to its manager with a note (a status without one is refused)."""
    with Session(engine) as session:
        note = Note(case_id=case.id, author_id=case.deputy_id, body="演示:已协助联系客户,请继续跟进 / demo: helped, "
                                                                     "please follow up")
        session.add(note)
        session.commit()
        return note.id


def _scripted(update: str, case: RenewalCase, admin: c.Actor) -> tuple[str, object]:
    owner = c.Actor(id=case.owner_id, role=c.ActorRole.sales)
    return update, {
        "set_follow_up": c.SetFollowUp(actor=owner, status=c.FollowUpStatus.success,
                                       new_policy_no=f"{case.policy_no}R"),
        "report_renewed_elsewhere": c.ReportRenewedElsewhere(actor=owner, insurer=INSURERS[0],
                                                             reason=c.LossReason.price),
        "close": c.Close(actor=admin, reason=c.CloseReason.vehicle_transferred),
    }[update]


def _pick_action(case: RenewalCase, rng: random.Random) -> tuple[str, object] | None:
    owner = c.Actor(id=case.owner_id, role=c.ActorRole.sales)
    deputy = c.Actor(id=case.deputy_id, role=c.ActorRole.deputy)
    roll = rng.random()
    stage = Stage(case.stage)
    if case.lost_to_insurer:
        return ("record_loss_reason", c.RecordLossReason(actor=owner, reason=rng.choice(list(c.LossReason)[:-1]))) \
            if roll < 0.3 else None
    if stage in (Stage.FIRST_CONTACT, Stage.SECOND_CONTACT):
        if roll < 0.15:
            return ("record_contact", c.RecordContact(actor=owner, channel=c.Channel.call,
                                                      result=rng.choice(list(c.ContactResult)[:4])))
    if stage is Stage.THIRD_CONTACT and case.follow_up_status is None and roll < 0.25:
        status = rng.choice([c.FollowUpStatus.failed, c.FollowUpStatus.continue_, c.FollowUpStatus.failed])
        return ("set_follow_up", c.SetFollowUp(actor=owner, status=status))
    if stage is Stage.DEPUTY_SUPERVISION and roll < 0.3:
        status = rng.choice([c.FollowUpStatus.success, c.FollowUpStatus.continue_])
        return ("set_follow_up", c.SetFollowUp(actor=deputy, status=status, new_policy_no=f"{case.policy_no}R"))
    if stage in (Stage.FINAL_CONTACT, Stage.POST_EXPIRY):
        if roll < 0.08:
            return ("set_follow_up", c.SetFollowUp(actor=owner, status=c.FollowUpStatus.success,
                                                   new_policy_no=f"{case.policy_no}R"))
        if roll < 0.14:
            return ("report_renewed_elsewhere", c.ReportRenewedElsewhere(actor=owner, insurer=rng.choice(INSURERS)))
    return None
