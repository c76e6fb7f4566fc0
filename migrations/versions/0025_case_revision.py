"""renewal_case.revision and the case's planning facts, so a write carries only what changed

Revision ID: 0025
Revises: 0024
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = '0025'
down_revision = '0024'
branch_labels = None
depends_on = None

# Constant defaults and nullable columns are catalogue changes only (PostgreSQL 11+): no rewrite.
COLUMNS = (
    sa.Column("revision", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("day_seconds", sa.Integer(), nullable=False, server_default="86400"),
    sa.Column("clock_anchor", sa.DateTime(timezone=True), nullable=True),
    sa.Column("plan_revision", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("calls_stopped", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("mid_window_since", sa.DateTime(timezone=True), nullable=True),
    sa.Column("handover_note_id", UUID(as_uuid=True), nullable=True),
)


def upgrade() -> None:
    for column in COLUMNS:
        op.add_column("renewal_case", column)


def downgrade() -> None:
    for column in reversed(COLUMNS):
        op.drop_column("renewal_case", column.name)
