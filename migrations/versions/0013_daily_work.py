"""tasks carry what daily work needs: the deputy's hand-over note on the first final-week call

Revision ID: 0013_daily_work
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = '0013_daily_work'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("task", sa.Column("handover_note_id", sa.Uuid(), nullable=True))
    op.create_foreign_key("fk_task_handover_note_id_note", "task", "note", ["handover_note_id"], ["id"])


def downgrade() -> None:
    op.drop_constraint("fk_task_handover_note_id_note", "task", type_="foreignkey")
    op.drop_column("task", "handover_note_id")
