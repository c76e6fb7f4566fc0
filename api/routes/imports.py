"""Importing the book of policies: upload a CSV, follow the job, download its row errors."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, File, Request, UploadFile
from fastapi.responses import Response

from api.access import find_import_job
from api.deps import CurrentStaff, SessionDep
from api.errors import error_responses
from api.schemas import ImportAccepted, ImportJobOut, import_job_out
from api.uploads import errors_file, start_import
from renewals.intake.policy_file import COLUMNS

router = APIRouter(prefix="/imports", tags=["imports"])
_FORMAT = "\n".join(f"- `{col.name}` ({' / '.join(col.aliases)}){' **required**' if col.required else ''}: {col.meaning}"
                    for col in COLUMNS)


@router.post(
    "/policies", status_code=202, response_model=ImportAccepted, responses=error_responses(401, 403, 422),
    openapi_extra={"requestBody": {"content": {"multipart/form-data": {"example": {"file": "policies-demo.csv"}}}}},
    summary="Import a CSV of policies (admin); answers at once with the job to follow",
    description="UTF-8 (with or without BOM) or GB18030; English header names or the Chinese aliases:\n\n" + _FORMAT
    + "\n\nEvery row is checked; good rows import and bad rows are listed with row, column and reason; nothing is "
      "half-written. Importing the same file again changes nothing; rerunning a file whose import failed finishes it. "
      "The import goes on through restarts of the service: follow the job until it is done. "
      "An import stays within your branch: a row naming another branch's sub-branch or policy is refused, and "
      "customers are found by id number among your branch's own records.",
)
async def import_policies(request: Request, staff: CurrentStaff,
                          file: UploadFile = File(description="the CSV")) -> ImportAccepted:
    job_id = await start_import(request, staff, file)
    return ImportAccepted(job_id=job_id, status="pending", progress_url=f"/imports/{job_id}")


@router.get("/{job_id}", response_model=ImportJobOut, responses=error_responses(401, 403, 422),
            summary="An import's progress, counts and row errors")
def import_job(job_id: uuid.UUID, staff: CurrentStaff, session: SessionDep) -> ImportJobOut:
    return import_job_out(find_import_job(session, staff, job_id))


@router.get("/{job_id}/errors.csv", response_class=Response,
            responses={200: {"description": "UTF-8 CSV (with BOM, so spreadsheets read it)", "content": {
                "text/csv": {"example": "row,column,reason\n17,phone,not a valid phone number\n"}}},
                       **error_responses(401, 403, 422)},
            summary="Every row error of an import, as CSV (row, column, reason)")
def import_errors(job_id: uuid.UUID, staff: CurrentStaff, session: SessionDep) -> Response:
    return errors_file(find_import_job(session, staff, job_id))
