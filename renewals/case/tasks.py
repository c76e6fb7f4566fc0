"""The tasks a stage opens (pure): the workflow keeps them for its state query, the projection
writes them, and both derive the same deterministic ids from the renewal calendar."""

from __future__ import annotations

import uuid
from datetime import datetime

from renewals.case.calendar import RenewalPlan
from renewals.case.contract import OpenTask, Stage, TaskKind
from renewals.case.stages import STAGE_TABLE
from renewals.case.staff_rules import turn

PLANNED_KINDS = STAGE_TABLE.task_kinds  # the calendar's tasks (the rest are one-off)


def task_id(case_id: uuid.UUID, kind: TaskKind, stage: str, day: int | None, plan_revision: int = 0) -> uuid.UUID:
    # A re-planned calendar (expiry changed) gets ids of its own: its "day -15" is another day.
    revision = f":r{plan_revision}" if plan_revision else ""
    return uuid.uuid5(case_id, f"{kind}:{stage}:{day}{revision}")


def planned_tasks(case_id: uuid.UUID, plan: RenewalPlan, stage: Stage | str, owner_id: uuid.UUID,
                  deputy_id: uuid.UUID, *, plan_revision: int = 0, calls_stopped: bool = False,
                  since: datetime | None = None, handover_note_id: uuid.UUID | None = None) -> list[OpenTask]:
    """The tasks a stage opens as the workflow, the projection and the audit timeline all count
    them: of the kind and on the days the plan's stage table gives, for whoever's turn it is (the
    service manager's calls; under supervision, the deputy's task). A case started (or a stage
    re-planned) at `since` has no task for the days that ended before it, so none is missed before
    it existed; a customer who refused all contact gets no calls. The stage's first task carries
    the deputy's hand-over note, if any (FINAL_CONTACT after supervision)."""
    stage = Stage(stage)
    row = plan.table[stage]
    if row.tasks is None or (calls_stopped and row.tasks.kind is TaskKind.call):
        return []
    kind, assignee = row.tasks.kind, turn(stage, owner_id, deputy_id, plan.table)
    tasks = [
        OpenTask(id=task_id(case_id, kind, stage, slot.day, plan_revision), kind=kind, assignee_id=assignee,
                 stage=stage, opens_at=slot.opens_at, due_at=slot.due_at, day=slot.day)
        for slot in plan.task_slots(stage)
        if since is None or slot.due_at > since
    ]
    if tasks and stage is Stage.FINAL_CONTACT:
        tasks[0].handover_note_id = handover_note_id
    return tasks
