"""Rebuilding the case and task projection (renewal_case, task, and the contacts it records) from
the workflows, when it was lost or damaged: every case's `project_case` changes, read from its
history (Temporal's while it has it, the archive's after: renewals.audit.archive.load_history), are
applied again in their order by the projection itself. Each change is an upsert or a guarded update
keyed by deterministic ids, so a rebuild writes what the workflow wrote, and running it again (or
on from where it stopped) changes nothing more.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine, text
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from renewals.audit.archive import HistoryNotFound, load_history, mark_archived
from renewals.case.contract import WORKFLOW_TYPE, CaseChange
from renewals.core.temporal import bounded

log = logging.getLogger(__name__)

PROJECTION_ACTIVITY = "project_case"
BATCH = 50  # cases rebuilt at a time; the progress (and where to resume) moves a batch at a time
CONCURRENCY = 8


@dataclass
class Rebuilt:
    cases: int = 0
    changes: int = 0
    last_workflow_id: str = ""  # every case up to this one is rebuilt: --after resumes from here
    missing: list[str] = field(default_factory=list)  # no history in Temporal or the archive
    refused: list[str] = field(default_factory=list)  # a change the projection refuses (as it did then)


async def projected_changes(client: Client | None, engine: Engine, workflow_id: str) -> list[CaseChange]:
    """The changes the workflow handed its projection, in their order."""
    loaded = await load_history(client, engine, workflow_id)
    scheduled = [e.activity_task_scheduled_event_attributes for e in loaded.history.events
                 if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED]
    return [(await pydantic_data_converter.decode(a.input.payloads, [CaseChange]))[0]
            for a in scheduled if a.activity_type.name == PROJECTION_ACTIVITY]


def _case_workflows(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(text("SELECT workflow_id FROM renewal_case UNION "
                                     "SELECT workflow_id FROM history_archive")).scalars())


async def every_case(client: Client | None, engine: Engine) -> list[str]:
    """Every case's workflow id, in order: those Temporal lists (open, or closed within retention),
    those archived, and those the case table still has (where Temporal cannot list workflows)."""
    ids = await asyncio.to_thread(_case_workflows, engine)
    if client is not None:
        try:
            async for workflow in client.list_workflows(f'WorkflowType = "{WORKFLOW_TYPE}"'):
                ids.add(workflow.id)
        except RPCError as exc:
            log.warning("Temporal does not list the workflows (%s): the case table and the archive name them", exc)
    return sorted(ids)


def _archived(engine: Engine, workflow_ids: list[str]) -> None:
    with engine.begin() as conn:
        mark_archived(conn, workflow_ids)


async def rebuild_projection(client: Client | None, engine: Engine, workflow_ids: list[str],
                             apply: Callable[[str, CaseChange], None], *, after: str = "",
                             progress: Callable[[int, int], None] | None = None) -> Rebuilt:
    """Apply every case's projected changes again, in workflow-id order after `after`; `apply` is the
    projection's own write (activities.projection.CaseProjection.apply), given the case's workflow id:
    a change after a case's first carries only the fields that changed, over the row the first wrote."""
    todo = [w for w in sorted(workflow_ids) if w > after]
    rebuilt = Rebuilt(last_workflow_id=after)

    async def one(workflow_id: str) -> None:
        try:
            changes = await projected_changes(client, engine, workflow_id)
        except HistoryNotFound:
            rebuilt.missing.append(workflow_id)
            return
        for change in changes:
            try:
                await asyncio.to_thread(apply, workflow_id, change)
            except ApplicationError as exc:  # refused when the workflow ran it, too: the case went on
                log.warning("rebuild: %s: a change refused: %s", workflow_id, exc)
                rebuilt.refused.append(workflow_id)
        rebuilt.changes += len(changes)
        rebuilt.cases += 1

    for i in range(0, len(todo), BATCH):
        batch = todo[i:i + BATCH]
        await bounded(batch, one, CONCURRENCY)
        await asyncio.to_thread(_archived, engine, batch)
        rebuilt.last_workflow_id = batch[-1]
        if progress:
            progress(i + len(batch), len(todo))
    return rebuilt
