"""An uploaded book of policies kept until its import finishes, so any worker can take the import
over (the file in PostgreSQL, next to its job)."""

from __future__ import annotations

import uuid

from sqlalchemy import LargeBinary, Text
from sqlmodel import Field, SQLModel


class ImportUpload(SQLModel, table=True):
    __tablename__ = "import_upload"
    job_id: uuid.UUID = Field(primary_key=True, foreign_key="import_job.id")
    data: bytes = Field(sa_type=LargeBinary, nullable=False)
    # The policies the load wrote, comma-separated in policy-number order: the cases follow these,
    # from where the job's followed_policies says the last attempt stopped.
    policy_ids: str | None = Field(default=None, sa_type=Text)
