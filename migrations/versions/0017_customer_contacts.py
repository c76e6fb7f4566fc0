"""customers keep their family members as a list and a proxy (委托人)

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("customer", sa.Column("proxy", postgresql.JSONB(astext_type=sa.Text()), nullable=True))
    # Family members are a list now: nothing wrote the old object but an empty one; anything else is kept
    # as the list's one entry.
    op.execute("UPDATE customer SET family = CASE WHEN family = '{}'::jsonb THEN '[]'::jsonb "
               "ELSE jsonb_build_array(family) END WHERE jsonb_typeof(family) = 'object'")


def downgrade() -> None:
    op.execute("UPDATE customer SET family = '{}'::jsonb WHERE family = '[]'::jsonb")
    op.drop_column("customer", "proxy")
