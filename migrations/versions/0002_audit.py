"""audit: history archive and refused actions

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 23:36:11.332613
"""

from alembic import op

from renewals.core.db import create_index_concurrently
import sqlalchemy as sa
import sqlmodel
from sqlalchemy.dialects import postgresql

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('history_archive',
    sa.Column('workflow_id', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('run_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('case_id', sa.Uuid(), nullable=False),
    sa.Column('policy_no', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('event_count', sa.Integer(), nullable=False),
    sa.Column('history_bytes', sa.Integer(), nullable=False),
    sa.Column('history_gz', sa.LargeBinary(), nullable=False),
    sa.Column('archived_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('workflow_id')
    )
    op.create_index(op.f('ix_history_archive_case_id'), 'history_archive', ['case_id'], unique=False)
    op.create_index(op.f('ix_history_archive_closed_at'), 'history_archive', ['closed_at'], unique=False)
    op.create_index(op.f('ix_history_archive_policy_no'), 'history_archive', ['policy_no'], unique=False)
    op.create_table('refused_action',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('case_id', sa.Uuid(), nullable=False),
    sa.Column('staff_id', sa.Uuid(), nullable=False),
    sa.Column('role', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('request', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['renewal_case.id'], ),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_refused_action_case_id'), 'refused_action', ['case_id'], unique=False)
    op.add_column('renewal_case', sa.Column('history_archived_at', sa.DateTime(timezone=True), nullable=True))
    create_index_concurrently(op, 'ix_renewal_case_to_archive', 'renewal_case', ['closed_at'], unique=False,
                              postgresql_where=sa.text('closed_at IS NOT NULL AND history_archived_at IS NULL'))


def downgrade() -> None:
    op.drop_index('ix_renewal_case_to_archive', table_name='renewal_case', postgresql_where=sa.text('closed_at IS NOT NULL AND history_archived_at IS NULL'))
    op.drop_column('renewal_case', 'history_archived_at')
    op.drop_index(op.f('ix_refused_action_case_id'), table_name='refused_action')
    op.drop_table('refused_action')
    op.drop_index(op.f('ix_history_archive_policy_no'), table_name='history_archive')
    op.drop_index(op.f('ix_history_archive_closed_at'), table_name='history_archive')
    op.drop_index(op.f('ix_history_archive_case_id'), table_name='history_archive')
    op.drop_table('history_archive')
