"""Who serves each policy (保单-客户-客户经理 one to one): assigning the unassigned, moving a book
when a manager leaves (置业顾问离职,客户不流失), and a sub-branch's deputy changing.

The workflow owns each open case: its owner and deputy change only through its `reassign` and
`change_deputy` updates (which move the open tasks too). The assignment table keeps the history
(who, from, to, when, why) and the database allows one open assignment per policy. Every
operation here can be rerun after a crash: it moves what has not moved yet.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Engine, func, or_, text, update
from sqlmodel import Session, select
from temporalio.client import Client

from models import Assignment, Policy, RenewalCase, Role, Staff, SubBranch, Task, TaskState
from renewals.case.service import moved_case_projected
from renewals.case.start import CaseRejected, update_case
from renewals.core.temporal import bounded
from renewals.intake.service import follow_policies
from renewals.core.settings import Settings
from renewals.org.service import StaffError, deactivate_staff
from renewals.case import contract as c

log = logging.getLogger(__name__)

BATCH = 100
Progress = Callable[[int, int], None]  # (done, total)


class Refused(Exception):
    """An ownership change that cannot happen as asked (answered 409 with the reason)."""


def sales_of(session: Session, staff_id: uuid.UUID, sub_branch_id: uuid.UUID, field_name: str) -> Staff:
    staff = session.get(Staff, staff_id)
    if staff is None or not staff.active or staff.role != Role.sales or staff.sub_branch_id != sub_branch_id:
        raise StaffError(f"{field_name}: not an active service manager (sales) of the policy's sub-branch")
    return staff


def _end_and_assign(session: Session, policy_ids: list[uuid.UUID], to: dict[uuid.UUID, uuid.UUID],
                    by: uuid.UUID | None, reason: str, at: datetime) -> None:
    previous = dict(session.exec(select(Assignment.policy_id, Assignment.staff_id)
                                 .where(Assignment.policy_id.in_(policy_ids), Assignment.ended_at.is_(None))).all())
    changing = [p for p in policy_ids if previous.get(p) != to[p]]
    if not changing:
        return
    session.execute(update(Assignment).where(Assignment.policy_id.in_(changing), Assignment.ended_at.is_(None))
                    .values(ended_at=at))
    session.add_all(Assignment(policy_id=p, staff_id=to[p], assigned_at=at, reason=reason[:256],
                               previous_staff_id=previous.get(p), assigned_by=by) for p in changing)
    session.flush()


def follow_case(session: Session, case: RenewalCase, new_owner_id: uuid.UUID, by: Staff, reason: str,
                at: datetime) -> None:
    """The policy's service manager follows its reassigned case (保单-客户-客户经理 one to one)."""
    _end_and_assign(session, [case.policy_id], {case.policy_id: new_owner_id}, by.id, reason, at)
    session.commit()


# --- assigning one policy --------------------------------------------------------------------------


async def assign_policy(engine: Engine, client: Client, settings: Settings, policy: Policy, staff_id: uuid.UUID,
                        admin: Staff, reason: str, today: date | None = None) -> dict[str, int]:
    """Give the policy to a service manager; its open case follows, or its case starts if due."""
    def assign() -> None:
        with Session(engine) as session:
            sales_of(session, staff_id, policy.sub_branch_id, "staff_id")
            _end_and_assign(session, [policy.id], {policy.id: staff_id}, admin.id, reason, datetime.now(UTC))
            session.commit()

    await asyncio.to_thread(assign)
    return await follow_policies(engine, client, settings, [policy.id], c.Actor(id=admin.id, role=c.ActorRole.admin),
                                 today)


# --- moving a book -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BookEntry:
    policy_id: uuid.UUID
    policy_no: str
    workflow_id: str | None  # the open case, if any
    case_owner_id: uuid.UUID | None
    open_tasks: int


@dataclass(frozen=True)
class Move:
    policy_id: uuid.UUID
    policy_no: str
    workflow_id: str | None
    to_staff_id: uuid.UUID
    open_tasks: int


def plan_moves(book: list[BookEntry], targets: list[uuid.UUID]) -> list[Move]:
    """Spread the book evenly (counts differ by at most one), in expiry order so each new owner gets
    a share of every month. A case a previous, interrupted run already gave to a target stays there."""
    moves, load = [], Counter({t: 0 for t in targets})
    kept = [e for e in book if e.case_owner_id in load]
    for entry in kept:
        load[entry.case_owner_id] += 1
        moves.append(Move(entry.policy_id, entry.policy_no, entry.workflow_id, entry.case_owner_id, entry.open_tasks))
    for entry in (e for e in book if e.case_owner_id not in load):
        to = min(targets, key=lambda t: (load[t], targets.index(t)))
        load[to] += 1
        moves.append(Move(entry.policy_id, entry.policy_no, entry.workflow_id, to, entry.open_tasks))
    order = {e.policy_id: i for i, e in enumerate(book)}
    return sorted(moves, key=lambda m: order[m.policy_id])


def book_of(session: Session, staff_id: uuid.UUID) -> list[BookEntry]:
    """Every policy the staff member serves: assigned to them, or whose open case they own."""
    rows = session.execute(text("""
        SELECT p.id, p.policy_no, rc.workflow_id, rc.owner_id,
               (SELECT count(*) FROM task t WHERE t.case_id = rc.id AND t.state = 'open'
                AND t.assignee_id = :staff) AS open_tasks
        FROM policy p
        LEFT JOIN renewal_case rc ON rc.policy_id = p.id AND rc.outcome IS NULL
        WHERE EXISTS (SELECT 1 FROM assignment a WHERE a.policy_id = p.id AND a.ended_at IS NULL AND a.staff_id = :staff)
           OR rc.owner_id = :staff
        ORDER BY p.expires_on, p.policy_no"""), {"staff": staff_id}).all()
    return [BookEntry(r.id, r.policy_no, r.workflow_id, r.owner_id, r.open_tasks) for r in rows]


@dataclass
class BookReport:
    from_staff_id: uuid.UUID
    dry_run: bool
    policies: int = 0
    cases: int = 0
    open_tasks: int = 0
    per_owner: dict[str, int] = field(default_factory=dict)
    moves: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, str]] = field(default_factory=list)


def check_targets(session: Session, leaver: Staff, targets: list[uuid.UUID]) -> None:
    if not targets:
        raise StaffError("to: name at least one service manager to take the book")
    if leaver.id in targets:
        raise StaffError("to: the book cannot move to the staff member it moves from")
    if len(set(targets)) != len(targets):
        raise StaffError("to: a service manager is named twice")
    if leaver.sub_branch_id is None:
        raise StaffError("staff_id: only a service manager (sales) of a sub-branch has a book")
    for target in targets:
        sales_of(session, target, leaver.sub_branch_id, "to")


async def move_book(engine: Engine, client: Client, leaver: Staff, targets: list[uuid.UUID], admin: c.Actor,
                    reason: str, *, dry_run: bool = False, progress: Progress | None = None) -> BookReport:
    """Move every policy and open case of `leaver` to `targets` (spread evenly), in batches; a dry
    run returns exactly the moves and changes nothing. Rerun after a failure: it moves what is left."""
    def plan() -> list[Move]:
        with Session(engine) as session:
            check_targets(session, leaver, targets)
            return plan_moves(book_of(session, leaver.id), targets)

    def record(moved: list[Move]) -> None:
        with Session(engine) as session:
            _end_and_assign(session, [m.policy_id for m in moved], {m.policy_id: m.to_staff_id for m in moved},
                            admin.id if admin.role is c.ActorRole.admin else None, f"book moved: {reason}",
                            datetime.now(UTC))
            session.commit()

    moves = await asyncio.to_thread(plan)
    report = BookReport(from_staff_id=leaver.id, dry_run=dry_run)
    report.per_owner = {str(t): sum(1 for m in moves if m.to_staff_id == t) for t in targets}
    report.moves = [{"policy_no": m.policy_no, "to_staff_id": str(m.to_staff_id), "has_open_case": bool(m.workflow_id),
                     "open_tasks": m.open_tasks} for m in moves]
    if dry_run:
        report.policies, report.cases = len(moves), sum(1 for m in moves if m.workflow_id)
        report.open_tasks = sum(m.open_tasks for m in moves)
        return report

    async def reassign(move: Move) -> str | None:
        if move.workflow_id is None:
            return None
        try:
            done = await update_case(client.get_workflow_handle(move.workflow_id), "reassign",
                                     c.Reassign(actor=admin, new_owner_id=move.to_staff_id, reason=reason[:64]))
            await moved_case_projected(engine, move.workflow_id, done)  # the book as the report says
        except CaseRejected as exc:
            if "already assigned" not in exc.reason and "closed" not in exc.reason:
                return exc.reason
        return None

    for i in range(0, len(moves), BATCH):
        batch = moves[i:i + BATCH]
        problems = await bounded(batch, reassign)
        # A policy whose case refused stays with the leaver: the report says why; a rerun retries it.
        moved = [m for m, problem in zip(batch, problems) if problem is None]
        report.failures += [{"policy_no": m.policy_no, "reason": p} for m, p in zip(batch, problems) if p]
        await asyncio.to_thread(record, moved)
        report.policies += len(moved)
        report.cases += sum(1 for m in moved if m.workflow_id)
        report.open_tasks += sum(m.open_tasks for m in moved)
        if progress:
            progress(min(i + BATCH, len(moves)), len(moves))
    return report


def book_size(session: Session, staff_id: uuid.UUID) -> dict[str, int]:
    """What a staff member still owns: the progress view of a book being moved."""
    policies = session.exec(select(func.count()).select_from(Assignment)
                            .where(Assignment.staff_id == staff_id, Assignment.ended_at.is_(None))).one()
    cases = session.exec(select(func.count()).select_from(RenewalCase)
                         .where(RenewalCase.owner_id == staff_id, RenewalCase.outcome.is_(None))).one()
    tasks = session.exec(select(func.count()).select_from(Task)
                         .where(Task.assignee_id == staff_id, Task.state == TaskState.open)).one()
    return {"policies": policies, "open_cases": cases, "open_tasks": tasks}


def deactivate(session: Session, staff: Staff) -> Staff:
    """The one way a staff member goes: refused (Refused) while they own policies or open cases."""
    owned = book_size(session, staff.id)
    if owned["policies"] or owned["open_cases"]:
        raise Refused(f"{staff.username} still owns {owned['policies']} policies and {owned['open_cases']} open "
                      f"cases: move the book first (POST /staff/{staff.id}/reassign-book)")
    return deactivate_staff(session, staff)


# --- a sub-branch's deputy changes ----------------------------------------------------------------------


async def change_deputy(engine: Engine, client: Client, sub_branch: SubBranch, new_deputy_id: uuid.UUID,
                        admin: c.Actor, progress: Progress | None = None) -> dict[str, Any]:
    """Make `new_deputy_id` the sub-branch's deputy: new cases get them, and every open case of the
    sub-branch moves to them with its deputy tasks (one `change_deputy` update each, in batches).
    A case this misses (started from a reading taken before the change, or not yet recorded when
    the others moved) is moved by the next daily intake run (`align_deputies`)."""
    def set_deputy() -> None:
        with Session(engine) as session:
            deputy = session.get(Staff, new_deputy_id)
            if (deputy is None or not deputy.active or deputy.role != Role.deputy
                    or deputy.sub_branch_id != sub_branch.id):
                raise StaffError("deputy_id: not an active deputy manager of this sub-branch")
            session.execute(update(SubBranch).where(SubBranch.id == sub_branch.id).values(deputy_id=new_deputy_id))
            session.commit()

    await asyncio.to_thread(set_deputy)
    moved, failures = await _move_to_deputies(engine, client, admin, progress, sub_branch_id=sub_branch.id)
    return {"sub_branch": sub_branch.code, "deputy_id": str(new_deputy_id), "cases_moved": moved, "failures": failures}


async def align_deputies(engine: Engine, client: Client, actor: c.Actor = c.INTAKE_ACTOR,
                         progress: Progress | None = None) -> int:
    """Move every open case whose deputy is not its sub-branch's deputy to that deputy (the daily
    intake run): how many moved."""
    moved, failures = await _move_to_deputies(engine, client, actor, progress)
    for failure in failures:
        log.warning("deputy not aligned on %s: %s", failure["workflow_id"], failure["reason"])
    return moved


# Open cases whose deputy is not the one their sub-branch names.
_DEPUTY_BEHIND = """
SELECT rc.workflow_id, sb.deputy_id FROM renewal_case rc JOIN sub_branch sb ON sb.id = rc.sub_branch_id
WHERE rc.outcome IS NULL AND sb.deputy_id IS NOT NULL AND rc.deputy_id IS DISTINCT FROM sb.deputy_id
  AND (CAST(:sub_branch_id AS uuid) IS NULL OR sb.id = CAST(:sub_branch_id AS uuid))
ORDER BY rc.workflow_id
"""


async def _move_to_deputies(engine: Engine, client: Client, actor: c.Actor, progress: Progress | None,
                            sub_branch_id: uuid.UUID | None = None) -> tuple[int, list[dict[str, str]]]:
    """`change_deputy` on every open case behind its sub-branch's deputy (of one sub-branch, or all),
    in batches: how many moved, and the refusals other than "already moved" or "closed"."""
    def behind() -> list[Any]:
        with engine.connect() as conn:
            return conn.execute(text(_DEPUTY_BEHIND),
                                {"sub_branch_id": str(sub_branch_id) if sub_branch_id else None}).all()

    cases = await asyncio.to_thread(behind)
    failures: list[dict[str, str]] = []

    async def one(case) -> bool:
        try:
            done = await update_case(client.get_workflow_handle(case.workflow_id), "change_deputy",
                                     c.ChangeDeputy(actor=actor, new_deputy_id=case.deputy_id))
            await moved_case_projected(engine, case.workflow_id, done)
            return True
        except CaseRejected as exc:
            if "already has" not in exc.reason and "closed" not in exc.reason:
                failures.append({"workflow_id": case.workflow_id, "reason": exc.reason})
            return False

    moved = 0
    for i in range(0, len(cases), BATCH):
        moved += sum(await bounded(cases[i:i + BATCH], one))
        if progress:
            progress(min(i + BATCH, len(cases)), len(cases))
    return moved, failures


# --- lists for admins -----------------------------------------------------------------------------------


def unassigned(session: Session, scope, limit: int, offset: int) -> tuple[list[Policy], int]:
    """Active policies without an owner (no open assignment), soonest expiry first."""
    where = [Policy.status == "active", scope, ~select(Assignment.id).where(
        Assignment.policy_id == Policy.id, Assignment.ended_at.is_(None)).exists()]
    total = session.exec(select(func.count()).select_from(Policy).where(*where)).one()
    rows = session.exec(select(Policy).where(*where).order_by(Policy.expires_on, Policy.policy_no)
                        .limit(limit).offset(offset)).all()
    return list(rows), total


def stale(session: Session, scope, limit: int, offset: int) -> tuple[list[tuple[Policy, Staff]], int]:
    """Policies whose owner is inactive or works outside the policy's sub-branch."""
    where = [scope, Policy.status == "active", or_(Staff.active.is_(False), Staff.sub_branch_id.is_(None),
                                                   Staff.sub_branch_id != Policy.sub_branch_id)]
    joined = (select(Policy, Staff).join(Assignment, (Assignment.policy_id == Policy.id) & Assignment.ended_at.is_(None))
              .join(Staff, Staff.id == Assignment.staff_id))
    total = session.exec(select(func.count()).select_from(joined.where(*where).subquery())).one()
    rows = session.exec(joined.where(*where).order_by(Policy.expires_on, Policy.policy_no).limit(limit).offset(offset)).all()
    return list(rows), total
