"""renewal cases record the windows that passed before they could enter them (the funnel counts them)

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A constant default: PostgreSQL adds the column without rewriting the table.
    op.add_column("renewal_case", sa.Column("skipped_windows", sa.ARRAY(sa.String(length=32)), nullable=False,
                                            server_default=sa.text("'{}'")))


def downgrade() -> None:
    op.drop_column("renewal_case", "skipped_windows")
