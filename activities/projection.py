"""The case projection: the workflow's view of a case written to PostgreSQL, idempotently.

One activity, `project_case`, takes a whole change (the case's fields that changed, tasks to open,
the task handled, tasks to cancel or move, the contact to record) and applies it in one
transaction. Every part is an upsert or a guarded update keyed by deterministic ids, so a retry
writes the same rows.
"""

from __future__ import annotations

import uuid
from dataclasses import fields

from pydantic import TypeAdapter
from sqlalchemy import Connection, Engine, func, select, update
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy import case as sql_case
from sqlalchemy.dialects.postgresql import insert
from temporalio import activity
from temporalio.exceptions import ApplicationError

from renewals.case.contract import CaseChange, CaseSnapshot, case_id_for
from models import ContactRecord, Policy, RenewalCase, Task, TaskState
from renewals.case.calendar import plan_renewal
from renewals.reports.task_rollup import unroll
from renewals.case.tasks import PLANNED_KINDS, planned_tasks


class CaseProjection:
    def __init__(self, engine: Engine):
        self._engine = engine

    def activities(self) -> list:
        return [self.project_case]

    @activity.defn(name="project_case")
    def project_case(self, change: CaseChange) -> None:
        self.apply(change.case.workflow_id if change.case else activity.info().workflow_id, change)

    def apply(self, workflow_id: str, change: CaseChange) -> None:
        """One change of the case of `workflow_id` (the activity's, or one a rebuild reads from
        its history: a change after the first carries only what changed)."""
        try:
            self._apply(workflow_id, change)
        except (DataError, IntegrityError) as exc:
            # A value the database refuses (too long, a control character, a row it points to
            # that is missing) is refused again on every retry.
            raise ApplicationError(f"the projection refused the change: {exc.orig}", type=type(exc).__name__,
                                   non_retryable=True) from None

    def _apply(self, workflow_id: str, change: CaseChange) -> None:
        at = change.at
        with self._engine.begin() as conn:
            case = change.case or _as_changed(conn, case_id_for(workflow_id), change)
            policy = conn.execute(
                select(Policy.id, Policy.sub_branch_id, Policy.customer_id).where(Policy.policy_no == case.policy_no)
            ).first()
            if policy is None:
                raise ApplicationError(f"policy {case.policy_no} is not in the database", non_retryable=True)
            conn.execute(_UPSERT_CASE, {
                **{column: getattr(case, name) for name, column in _SNAPSHOT_COLUMNS},
                "policy_id": policy.id, "sub_branch_id": policy.sub_branch_id, "updated_at": at, "started_at": at,
                "stage_entered_at": at, "revision": change.revision,
            })
            open_tasks = Task.__table__.c.state == TaskState.open
            this_case = Task.__table__.c.case_id == case.case_id
            # Missed daily tasks: anything still open past its deadline is expired now.
            conn.execute(update(Task).where(this_case, open_tasks, Task.due_at <= at).values(state=TaskState.expired))
            contact = change.contact
            if change.complete_task_id:
                by, result = (contact.staff_id, contact.result) if contact else (change.handled_by, change.handled_result)
                conn.execute(update(Task).where(Task.id == change.complete_task_id, open_tasks).values(
                    state=TaskState.done, handled_at=at, handled_by=by, handled_result=result))
            if change.cancel_kinds:
                conn.execute(update(Task).where(this_case, open_tasks, Task.kind.in_(change.cancel_kinds))
                             .values(state=TaskState.cancelled))
            for previous, new in ((change.move_tasks_from, case.owner_id),
                                  (change.move_deputy_tasks_from, case.deputy_id)):
                if previous:
                    conn.execute(update(Task).where(this_case, open_tasks, Task.assignee_id == previous)
                                 .values(assignee_id=new))
            new_tasks = list(change.open_tasks)
            if change.open_stage_tasks:
                plan = plan_renewal(case.expiry_date, case.timezone, day_seconds=case.day_seconds,
                                    anchor=case.clock_anchor)
                planned = planned_tasks(case.case_id, plan, case.stage, case.owner_id, case.deputy_id,
                                        plan_revision=case.plan_revision, calls_stopped=case.calls_stopped,
                                        since=at if change.replan else case.started_at,
                                        handover_note_id=case.handover_note_id)
                if change.replan:
                    keep = [Task.id.not_in([t.id for t in planned])] if planned else []
                    conn.execute(update(Task).where(this_case, open_tasks, Task.kind.in_(PLANNED_KINDS), *keep)
                                 .values(state=TaskState.cancelled))
                new_tasks += planned
            if new_tasks:
                conn.execute(_INSERT_TASKS, [
                    {"id": t.id, "case_id": case.case_id, "assignee_id": t.assignee_id, "kind": t.kind,
                     "stage": t.stage, "day": t.day, "opens_at": t.opens_at, "due_at": t.due_at,
                     "handover_note_id": t.handover_note_id,
                     "state": TaskState.open if t.due_at > at else TaskState.expired}
                    for t in new_tasks
                ])
                unroll(conn, [t.opens_at for t in new_tasks if t.opens_at < at])
            if change.sms_after_contact:
                task_id, template = change.sms_after_contact
                conn.execute(update(Task).where(Task.id == task_id).values({f"{template}_sms_sent": True}))
            if contact:
                conn.execute(insert(ContactRecord).values(
                    id=uuid.uuid5(case.case_id, f"contact:{change.revision}"), case_id=case.case_id, customer_id=policy.customer_id, staff_id=contact.staff_id,
                    channel=contact.channel, direction="outbound", result=contact.result, note_id=contact.note_id,
                    created_at=at, sent_at=at,
                ).on_conflict_do_nothing(index_elements=[ContactRecord.id]))



# The snapshot's planning facts and the columns that keep them (the other fields share their names).
_PLANNING = {"day_seconds": "day_seconds", "clock_anchor": "clock_anchor", "plan_revision": "plan_revision",
             "calls_stopped": "calls_stopped", "started_at": "mid_window_since", "handover_note_id": "handover_note_id"}


def _upsert_case():
    """The case row's upsert, built once: a projection write is the worker's most frequent work, and
    building the statement (its `excluded` columns above all) cost more CPU than sending it."""
    insert_case = insert(RenewalCase)
    new = insert_case.excluded
    return insert_case.on_conflict_do_update(
        index_elements=[RenewalCase.id],
        set_={
            **{column: new[column] for _, column in _SNAPSHOT_COLUMNS if column not in ("id", "workflow_id")},
            "sub_branch_id": new.sub_branch_id, "updated_at": new.updated_at,
            # Only a stage change moves stage_entered_at; an outcome sets closed_at once.
            "stage_entered_at": sql_case((RenewalCase.stage != new.stage, new.updated_at),
                                         else_=RenewalCase.stage_entered_at),
            "closed_at": sql_case((new.outcome.is_not(None), new.updated_at)),
            # Writes are done in order, but a needs-attention write may pass one being retried.
            "revision": func.greatest(RenewalCase.revision, new.revision),
        },
        # A retry of an older change must not undo a newer one.
        where=RenewalCase.updated_at <= new.updated_at,
    )


# Each snapshot field and the case column that keeps it, for the write and the read alike.
_SNAPSHOT_COLUMNS = tuple((f.name, {"case_id": "id", **_PLANNING}.get(f.name, f.name)) for f in fields(CaseSnapshot))
_UPSERT_CASE = _upsert_case()
_INSERT_TASKS = insert(Task).on_conflict_do_nothing(index_elements=[Task.id])
_SNAPSHOT = TypeAdapter(CaseSnapshot)


def _as_changed(conn: Connection, case_id: uuid.UUID, change: CaseChange) -> CaseSnapshot:
    """The case as the row has it with the change's fields over it (the row locked: the case's
    writes come one at a time, but a needs-attention write may come alongside)."""
    row = conn.execute(select(RenewalCase.__table__).where(RenewalCase.id == case_id)
                       .with_for_update()).mappings().first()
    if row is None:  # the whole case comes with the next write
        raise ApplicationError(f"case {case_id} has no projection row yet", non_retryable=True)
    return _SNAPSHOT.validate_python({**{name: row[column] for name, column in _SNAPSHOT_COLUMNS}, **change.changed})
