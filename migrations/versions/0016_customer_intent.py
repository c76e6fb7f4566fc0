"""renewal cases keep the customer's intent recorded at a contact: wants or declined a quote, signing intent

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable, no default: PostgreSQL adds the columns without rewriting the table.
    op.add_column("renewal_case", sa.Column("quote_wish", sa.String(length=16), nullable=True))
    op.add_column("renewal_case", sa.Column("signing_intent", sa.String(length=8), nullable=True))


def downgrade() -> None:
    op.drop_column("renewal_case", "signing_intent")
    op.drop_column("renewal_case", "quote_wish")
