"""tasks carry what daily work needs: the deputy's hand-over note on the first final-week call, and
the SMS sent after each final-week contact (the task report's share, rolled up per day too)

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("task", sa.Column("handover_note_id", sa.Uuid(), nullable=True))
    op.create_foreign_key("fk_task_handover_note_id_note", "task", "note", ["handover_note_id"], ["id"])
    # Constant defaults: PostgreSQL adds the columns without rewriting the tables.
    for column in ("quote_sms_sent", "service_request_sms_sent"):
        op.add_column("task", sa.Column(column, sa.Boolean(), nullable=False, server_default=sa.text("false")))
    for column in ("final_week_contacts", "final_week_both_sms"):
        op.add_column("task_day", sa.Column(column, sa.Integer(), nullable=False, server_default=sa.text("0")))


def downgrade() -> None:
    for column in ("final_week_contacts", "final_week_both_sms"):
        op.drop_column("task_day", column)
    for column in ("quote_sms_sent", "service_request_sms_sent"):
        op.drop_column("task", column)
    op.drop_constraint("fk_task_handover_note_id_note", "task", type_="foreignkey")
    op.drop_column("task", "handover_note_id")
