"""An uploaded book of policies, for the API and the console alike: the file is stored with its
job and answered at once; a workflow imports it (renewals.intake.durable), so a restart of the API
or of a worker does not stop it. The job's row errors download as CSV."""

from __future__ import annotations

import uuid

from fastapi import Request, Response
from fastapi.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from api.access import actor, importing_branch
from api.errors import ApiError
from models import ImportJob, Staff
from renewals.case.contract import ImportInput
from renewals.intake.durable import start_import as start_workflow, store_upload
from renewals.intake.policy_file import MAX_FILE_BYTES, FileRejected, errors_csv
from renewals.intake.service import local_today


async def start_import(request: Request, staff: Staff, file: UploadFile) -> uuid.UUID:
    """The new job's id; its import has started."""
    branch_id = importing_branch(staff)
    data = await file.read(MAX_FILE_BYTES + 1)
    state = request.app.state
    try:
        job_id = await run_in_threadpool(store_upload, state.engine, file.filename, data, staff.id, branch_id)
    except FileRejected as refused:
        raise ApiError(422, str(refused), field="file") from None
    inp = ImportInput(job_id=job_id, actor=actor(staff), branch_id=branch_id,
                      as_of=local_today(state.settings, await state.clock()))
    await start_workflow(state.engine, await state.temporal(), state.settings, inp)
    return job_id


def errors_file(job: ImportJob) -> Response:
    return Response(errors_csv(job.errors), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="import-{job.id}-errors.csv"'})
