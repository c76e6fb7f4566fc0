"""retention purge: the contact records still holding an SMS text or a recording's link, in id order

Revision ID: 0026
Revises: 0025
"""

import sqlalchemy as sa
from alembic import op

from renewals.core.db import create_index_concurrently

revision = '0026'
down_revision = '0025'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # contact_record is the book's largest table, written all day.
    create_index_concurrently(op, "ix_contact_record_sms_body_held", "contact_record", ["id"],
                              postgresql_where=sa.text("channel = 'sms' AND body IS NOT NULL"))
    create_index_concurrently(op, "ix_contact_record_recording_held", "contact_record", ["id"],
                              postgresql_where=sa.text("recording_url IS NOT NULL"))


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.drop_index("ix_contact_record_recording_held", table_name="contact_record", postgresql_concurrently=True,
                      if_exists=True)
        op.drop_index("ix_contact_record_sms_body_held", table_name="contact_record", postgresql_concurrently=True,
                      if_exists=True)
