"""The tasks a stage opens (pure): the workflow keeps them for its state query, the projection
writes them, and both derive the same deterministic ids from the renewal calendar."""

from __future__ import annotations

import uuid

from renewals.calendar import RenewalPlan, Stage
from workflows.contract import OpenTask


def task_id(case_id: uuid.UUID, kind: str, stage: str, day: int | None) -> uuid.UUID:
    return uuid.uuid5(case_id, f"{kind}:{stage}:{day}")


def stage_tasks(case_id: uuid.UUID, plan: RenewalPlan, stage: Stage | str, owner_id: uuid.UUID,
                deputy_id: uuid.UUID) -> list[OpenTask]:
    """Call tasks for the service manager; in DEPUTY_SUPERVISION one supervision task for the deputy."""
    stage = Stage(stage)
    supervised = stage is Stage.DEPUTY_SUPERVISION
    kind, assignee = ("supervision", deputy_id) if supervised else ("call", owner_id)
    return [
        OpenTask(id=task_id(case_id, kind, stage, slot.day), kind=kind, assignee_id=assignee, stage=stage,
                 opens_at=slot.opens_at, due_at=slot.due_at, day=slot.day)
        for slot in plan.task_slots(stage)
    ]
