"""policies keep why an import found no owner for them (the unassigned list shows it)

Revision ID: 0019
Revises: 0018
"""

import sqlalchemy as sa
from alembic import op

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("policy", sa.Column("unassigned_reason", sa.String(length=200), nullable=True))


def downgrade() -> None:
    op.drop_column("policy", "unassigned_reason")
