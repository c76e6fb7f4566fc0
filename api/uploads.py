"""An uploaded book of policies, for the API and the console alike: the upload is answered at once
with its job and the import runs after the answer; the job's row errors download as CSV."""

from __future__ import annotations

import uuid

from fastapi import BackgroundTasks, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlmodel import Session
from starlette.datastructures import UploadFile

from api.access import actor, importing_branch
from api.errors import ApiError
from models import ImportJob, Staff
from renewals.intake.policy_file import MAX_FILE_BYTES, FileRejected, errors_csv
from renewals.intake.service import import_upload, upload_job


async def start_import(request: Request, background: BackgroundTasks, staff: Staff, session: Session,
                       file: UploadFile) -> uuid.UUID:
    """The new job's id; its import is added to `background`."""
    branch_id = importing_branch(staff)
    data = await file.read(MAX_FILE_BYTES + 1)
    state = request.app.state
    try:
        job_id = await run_in_threadpool(upload_job, state.engine, file.filename, data, staff.id, branch_id)
    except FileRejected as refused:
        raise ApiError(422, str(refused), field="file") from None
    # The request's session lives until its background job ends: closed now, or its transaction
    # (which read the signed-in staff) would hold a lock on staff, and a connection, for the whole import.
    await run_in_threadpool(session.close)
    background.add_task(import_upload, state.engine, state.temporal, state.settings, job_id, data,
                        actor=actor(staff), branch_id=branch_id, clock=state.clock)
    return job_id


def errors_file(job: ImportJob) -> Response:
    return Response(errors_csv(job.errors), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="import-{job.id}-errors.csv"'})
