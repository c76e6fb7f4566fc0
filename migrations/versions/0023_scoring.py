"""the smart to-do panel: lapse-risk scores and their model, staff absences with their cover

Revision ID: 0023
Revises: 0022
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # New tables only: nothing existing is locked or rewritten.
    op.create_table(
        "lapse_model",
        sa.Column("version", sa.String(length=64), primary_key=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("outcomes", sa.Integer(), nullable=False),
        sa.Column("weights", postgresql.JSONB(), nullable=False),
        sa.Column("held_out_auc", sa.Float(), nullable=True),
        sa.Column("trained_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_lapse_model_trained_at", "lapse_model", ["trained_at"])
    op.create_table(
        "lapse_score",
        sa.Column("case_id", sa.Uuid(), sa.ForeignKey("renewal_case.id"), primary_key=True),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("reasons", postgresql.JSONB(), nullable=False),
        sa.Column("best_hour", sa.Integer(), nullable=True),
        sa.Column("model_version", sa.String(length=64), nullable=False),
        sa.Column("scored_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "staff_absence",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("staff_id", sa.Uuid(), sa.ForeignKey("staff.id"), nullable=False),
        sa.Column("cover_id", sa.Uuid(), sa.ForeignKey("staff.id"), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.Uuid(), sa.ForeignKey("staff.id"), nullable=False),
        sa.Column("ended_by", sa.Uuid(), sa.ForeignKey("staff.id"), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_staff_absence_cover", "staff_absence", ["cover_id", "ends_at"])
    op.create_index("ix_staff_absence_staff", "staff_absence", ["staff_id", "ends_at"])


def downgrade() -> None:
    op.drop_table("staff_absence")
    op.drop_table("lapse_score")
    op.drop_table("lapse_model")
