"""imports as durable work: the uploaded file kept until its import finishes, the job's workflow and cases progress

Revision ID: 0024
Revises: 0023
"""

import sqlalchemy as sa
from alembic import op

revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("import_job", sa.Column("workflow_id", sa.String(length=128), nullable=True))
    op.add_column("import_job", sa.Column("followed_policies", sa.Integer(), nullable=False, server_default="0"))
    op.create_table(
        "import_upload",
        sa.Column("job_id", sa.Uuid(), sa.ForeignKey("import_job.id"), primary_key=True),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("policy_ids", sa.Text(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("import_upload")
    op.drop_column("import_job", "followed_policies")
    op.drop_column("import_job", "workflow_id")
