"""Imports as durable work: an uploaded book of policies is kept beside its job (import_upload)
and the ImportPolicies workflow (workflows/imports.py) imports it through activities that any
worker may take over. A deploy or a crash in the middle resumes it where it stopped: the load
commits whole with the job's phase, and the cases follow batch by batch from the job's
`followed_policies` (renewals.intake.service). The API, the console and `renewals import` all
read the progress from the job row.

Nothing of the file goes through Temporal: the workflow carries the job's id, who imports and for
which branch, and the activities read the file from the database.
"""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import Engine
from sqlmodel import Session, select
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy

from models import ImportJob, ImportUpload
from renewals.case.contract import IMPORT_WORKFLOW, ImportInput, import_workflow_id
from renewals.core.settings import Settings
from renewals.intake.service import (
    Progress, check_and_load, checked_upload, failure_of, finish_job, follow_job, new_job,
)


def store_upload(engine: Engine, filename: str | None, data: bytes, created_by: uuid.UUID | None = None,
                 branch_id: uuid.UUID | None = None) -> uuid.UUID:
    """The job of an uploaded file, kept with the file for the workflow that imports it; refused
    (FileRejected, naming the field) when the file is too large or empty, before anything is kept."""
    name = checked_upload(filename, data)
    with Session(engine) as session:
        job = new_job(name, data, created_by, branch_id)
        job.workflow_id = import_workflow_id(job.id)
        session.add(job)
        session.flush()  # the job's row first: the upload refers to it
        session.add(ImportUpload(job_id=job.id, data=data))
        session.commit()
        return job.id


async def start_import(engine: Engine, client: Client, settings: Settings, inp: ImportInput) -> None:
    """Start the stored upload's import; a job whose import could not start is failed with the reason."""
    try:
        await client.start_workflow(IMPORT_WORKFLOW, inp, id=import_workflow_id(inp.job_id),
                                    task_queue=settings.task_queue,
                                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE)
    except Exception as exc:
        await asyncio.to_thread(finish_job, engine, inp.job_id,
                                failure=f"the import could not start: {type(exc).__name__}: {exc}"[:2000])
        raise


def _job(engine: Engine, job_id: uuid.UUID) -> ImportJob:
    with Session(engine, expire_on_commit=False) as session:
        return session.get(ImportJob, job_id)


def _upload_column(engine: Engine, job_id: uuid.UUID, column) -> tuple | None:
    """One column of the stored upload, as a 1-tuple (None once the upload is gone): the file itself
    is read only where it is loaded."""
    with Session(engine) as session:
        row = session.execute(select(column).where(ImportUpload.job_id == job_id)).first()
        return tuple(row) if row is not None else None


async def load_stored(engine: Engine, settings: Settings, inp: ImportInput, progress: Progress) -> int:
    """Check and load the stored file, unless an earlier attempt's load committed; the rows imported."""
    job = await asyncio.to_thread(_job, engine, inp.job_id)
    stored = None if job.phase == "cases" else await asyncio.to_thread(_upload_column, engine, inp.job_id,
                                                                        ImportUpload.data)
    if stored is None:  # loaded already (and maybe finished)
        return job.imported_rows
    *_, imported = await check_and_load(engine, settings, inp.job_id, stored[0], actor=inp.actor,
                                        branch_id=inp.branch_id, progress=progress)
    return imported


async def follow_stored(engine: Engine, client: Client, settings: Settings, inp: ImportInput,
                        progress: Progress) -> None:
    """The cases follow the loaded policies from where the last attempt stopped; then the job is done."""
    job = await asyncio.to_thread(_job, engine, inp.job_id)
    loaded = await asyncio.to_thread(_upload_column, engine, inp.job_id, ImportUpload.policy_ids)
    if loaded is not None:
        await follow_job(engine, client, settings, inp.job_id, loaded[0].split(",") if loaded[0] else [],
                         inp.actor, inp.as_of, start=job.followed_policies, progress=progress)
    await asyncio.to_thread(finish_job, engine, inp.job_id)


def note_failure(engine: Engine, job_id: uuid.UUID, exc: BaseException) -> None:
    """An attempt failed: the job shows why while the import is retried (and after it gives up)."""
    with Session(engine) as session:
        job = session.get(ImportJob, job_id)
        job.failure = failure_of(exc)
        session.add(job)
        session.commit()


def fail_stored(engine: Engine, job_id: uuid.UUID) -> None:
    """The import gave up: the job is failed with the last attempt's reason."""
    job = _job(engine, job_id)
    if job.status != "done":
        finish_job(engine, job_id, failure=job.failure or "the import failed")
