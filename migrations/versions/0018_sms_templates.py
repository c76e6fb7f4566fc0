"""SMS templates in the database, versioned; each SMS records the version it was rendered from

Revision ID: 0018
Revises: 0017
"""

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from renewals.case.messages import LANGUAGES, MESSAGE_KEYS, shipped_template

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "sms_template",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=32), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("body", sa.String(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["created_by"], ["staff.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key", "language", "version", name="uq_sms_template_version"),
    )
    # Version 1 of each template: the text shipped with the product.
    op.bulk_insert(table, [
        {"id": uuid.uuid4(), "key": key, "language": language, "version": 1,
         "body": shipped_template(key, language), "created_by": None, "created_at": datetime.now(UTC)}
        for key in MESSAGE_KEYS for language in LANGUAGES
    ])
    op.add_column("contact_record", sa.Column("template_version", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("contact_record", "template_version")
    op.drop_table("sms_template")
