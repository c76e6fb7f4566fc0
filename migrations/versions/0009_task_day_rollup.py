"""the daily task roll-up the task compliance report reads for settled days

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "task_day",
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("assignee_id", sa.Uuid(), nullable=False),
        sa.Column("opened", sa.Integer(), nullable=False),
        sa.Column("daily_due", sa.Integer(), nullable=False),
        sa.Column("daily_same_day", sa.Integer(), nullable=False),
        sa.Column("missed", sa.Integer(), nullable=False),
        sa.Column("overdue_open", sa.Integer(), nullable=False),
        sa.Column("handled", sa.Integer(), nullable=False),
        sa.Column("handling_seconds", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["assignee_id"], ["staff.id"]),
        sa.PrimaryKeyConstraint("timezone", "day", "assignee_id"),
    )
    op.create_index("ix_task_day_assignee", "task_day", ["timezone", "assignee_id", "day"])
    op.create_table(
        "task_day_rolled",
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("rolled_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("timezone", "day"),
    )


def downgrade() -> None:
    op.drop_table("task_day_rolled")
    op.drop_index("ix_task_day_assignee", table_name="task_day")
    op.drop_table("task_day")
