"""Importing the book of policies (issue 9): upload a CSV, follow the job, download its row errors."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, BackgroundTasks, File, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel, Field

from api.access import actor, find_import_job, importing_branch
from api.deps import CurrentStaff, SessionDep
from api.errors import ApiError, error_responses
from models import Staff
from renewals.intake.service import JobStatus, create_job, job_status, local_today, run_import
from renewals.intake.policy_file import COLUMNS, MAX_FILE_BYTES, errors_csv

router = APIRouter(prefix="/imports", tags=["imports"])
ERRORS_SHOWN = 200
_FORMAT = "\n".join(f"- `{col.name}` ({' / '.join(col.aliases)}){' **required**' if col.required else ''}: {col.meaning}"
                    for col in COLUMNS)


class ImportAccepted(BaseModel):
    model_config = {"json_schema_extra": {"examples": [{"job_id": "3f1c2b1e-8a6d-4c55-9a0e-6d3c1f2a4b5c",
                                                        "status": "pending", "progress_url": "/imports/3f1c2b1e-..."}]}}
    job_id: uuid.UUID
    status: str
    progress_url: str


class RowErrorOut(BaseModel):
    row: int = Field(description="as a spreadsheet numbers it: the header is row 1")
    column: str
    reason: str


class ImportJobOut(BaseModel):
    model_config = {"json_schema_extra": {"examples": [{
        "job_id": "3f1c2b1e-8a6d-4c55-9a0e-6d3c1f2a4b5c", "filename": "2026-12 book.csv", "status": "done",
        "phase": None, "total_rows": 200, "processed_rows": 200, "imported_rows": 199,
        "counts": {"inserted": 180, "updated": 2, "unchanged": 17, "unassigned": 3, "rejected": 1,
                   "cases_started": 33, "expiry_changed": 1, "reassigned": 1, "no_case_not_yet": 144,
                   "no_case_expired": 2, "no_case_unassigned": 3},
        "error_count": 1, "errors": [{"row": 17, "column": "phone", "reason": "not a valid phone number"}],
        "failure": None, "created_at": "2026-11-27T09:00:00Z", "finished_at": "2026-11-27T09:00:04Z"}]}}
    job_id: uuid.UUID
    filename: str
    status: JobStatus = Field(description="interrupted: the import stopped without finishing (the service "
                                          "restarted); upload the same file again to finish it")
    phase: str | None = Field(description="reading, loading or cases while running")
    total_rows: int
    processed_rows: int
    imported_rows: int
    counts: dict[str, Any]
    error_count: int
    errors: list[RowErrorOut] = Field(description=f"the first {ERRORS_SHOWN}; all of them in errors.csv")
    failure: str | None = Field(description="why the whole file failed, if it did")
    created_at: datetime
    finished_at: datetime | None


async def _process(request: Request, job_id: uuid.UUID, data: bytes, admin: Staff) -> None:
    state = request.app.state
    try:
        await run_import(state.engine, await state.temporal(), state.settings, job_id, data,
                         actor=actor(admin), branch_id=admin.branch_id,
                         today=local_today(state.settings, await state.clock()))
    except Exception:  # noqa: BLE001 — recorded on the job (status failed, failure) for GET /imports/{id}
        pass


@router.post(
    "/policies", status_code=202, response_model=ImportAccepted, responses=error_responses(401, 403, 422),
    openapi_extra={"requestBody": {"content": {"multipart/form-data": {"example": {"file": "policies-demo.csv"}}}}},
    summary="Import a CSV of policies (admin); answers at once with the job to follow",
    description="UTF-8 (with or without BOM) or GB18030; English header names or the Chinese aliases:\n\n" + _FORMAT
    + "\n\nEvery row is checked; good rows import and bad rows are listed with row, column and reason; nothing is "
      "half-written. Importing the same file again changes nothing; rerunning a file whose import failed finishes it. "
      "An import stays within your branch: a row naming another branch's sub-branch or policy is refused, and "
      "customers are found by id number among your branch's own records.",
)
async def import_policies(request: Request, background: BackgroundTasks, staff: CurrentStaff, session: SessionDep,
                          file: UploadFile = File(description="the CSV")) -> ImportAccepted:
    branch_id = importing_branch(staff)
    data = await file.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise ApiError(422, f"file: larger than {MAX_FILE_BYTES // (1024 * 1024)} MB; split it", field="file")
    if not data.strip():
        raise ApiError(422, "file: the file is empty", field="file")
    filename = "".join(ch for ch in (file.filename or "upload.csv") if ch.isprintable())[:256]
    job_id = await run_in_threadpool(create_job, request.app.state.engine, filename, data, staff.id, branch_id)
    # The request's session lives until its background job ends: closed now, or its transaction
    # (which read the signed-in staff) would hold a lock on staff, and a connection, for the whole import.
    await run_in_threadpool(session.close)
    background.add_task(_process, request, job_id, data, staff)
    return ImportAccepted(job_id=job_id, status="pending", progress_url=f"/imports/{job_id}")


@router.get("/{job_id}", response_model=ImportJobOut, responses=error_responses(401, 403, 422),
            summary="An import's progress, counts and row errors")
def import_job(job_id: uuid.UUID, staff: CurrentStaff, session: SessionDep) -> ImportJobOut:
    job = find_import_job(session, staff, job_id)
    status, failure = job_status(job, datetime.now(UTC))
    return ImportJobOut(
        job_id=job.id, filename=job.filename, status=status, phase=job.phase, total_rows=job.total_rows,
        processed_rows=job.processed_rows, imported_rows=job.imported_rows, counts=job.counts,
        error_count=len(job.errors), errors=[RowErrorOut(**e) for e in job.errors[:ERRORS_SHOWN]],
        failure=failure, created_at=job.created_at, finished_at=job.finished_at)


@router.get("/{job_id}/errors.csv", response_class=Response,
            responses={200: {"description": "UTF-8 CSV (with BOM, so spreadsheets read it)", "content": {
                "text/csv": {"example": "row,column,reason\n17,phone,not a valid phone number\n"}}},
                       **error_responses(401, 403, 422)},
            summary="Every row error of an import, as CSV (row, column, reason)")
def import_errors(job_id: uuid.UUID, staff: CurrentStaff, session: SessionDep) -> Response:
    job = find_import_job(session, staff, job_id)
    return Response(errors_csv(job.errors), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="import-{job.id}-errors.csv"'})
