"""report indexes: cases due in a period, tasks opened in a period

Revision ID: 0005
Revises: 0004
"""

from alembic import op

from renewals.core.db import create_index_concurrently

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Both tables are large and written all day: built without blocking their writes.
    create_index_concurrently(op, "ix_renewal_case_expiry_report", "renewal_case",
                              ["expiry_date", "sub_branch_id", "owner_id"])
    create_index_concurrently(op, "ix_task_opens_report", "task", ["opens_at", "assignee_id"])


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.drop_index("ix_task_opens_report", table_name="task", postgresql_concurrently=True, if_exists=True)
        op.drop_index("ix_renewal_case_expiry_report", table_name="renewal_case", postgresql_concurrently=True,
                      if_exists=True)
