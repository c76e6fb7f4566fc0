"""intake and ownership: import jobs with progress and counts, handler codes, sub-branch deputies,
assignment history with one open assignment per policy

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 23:35:36.233528
"""

from alembic import op

from renewals.core.db import create_index_concurrently
import sqlalchemy as sa
import sqlmodel
from sqlalchemy.dialects import postgresql

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('assignment', sa.Column('previous_staff_id', sa.Uuid(), nullable=True))
    op.add_column('assignment', sa.Column('assigned_by', sa.Uuid(), nullable=True))
    op.create_foreign_key('fk_assignment_assigned_by_staff', 'assignment', 'staff', ['assigned_by'], ['id'])
    op.create_foreign_key('fk_assignment_previous_staff_id_staff', 'assignment', 'staff', ['previous_staff_id'], ['id'])
    op.add_column('customer', sa.Column('birth_date', sa.Date(), nullable=True))
    op.add_column('import_job', sa.Column('branch_id', sa.Uuid(), nullable=True))
    op.add_column('import_job', sa.Column('file_sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
    op.add_column('import_job', sa.Column('phase', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True))
    op.add_column('import_job', sa.Column('processed_rows', sa.Integer(), nullable=False, server_default='0'))
    op.add_column('import_job', sa.Column('counts', postgresql.JSONB(astext_type=sa.Text()), nullable=False,
                                          server_default='{}'))
    op.alter_column('import_job', 'processed_rows', server_default=None)
    op.alter_column('import_job', 'counts', server_default=None)
    op.add_column('import_job', sa.Column('failure', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    op.create_index(op.f('ix_import_job_branch_id'), 'import_job', ['branch_id'], unique=False)
    op.create_foreign_key('fk_import_job_branch_id_branch', 'import_job', 'branch', ['branch_id'], ['id'])
    op.add_column('staff', sa.Column('handler_code', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))
    op.create_unique_constraint('uq_staff_handler_code', 'staff', ['handler_code'])
    op.add_column('sub_branch', sa.Column('deputy_id', sa.Uuid(), nullable=True))
    op.create_foreign_key('fk_sub_branch_deputy_id_staff', 'sub_branch', 'staff', ['deputy_id'], ['id'])
    # One assignment per policy: large, written by every import.
    create_index_concurrently(op, 'ux_assignment_open_policy', 'assignment', ['policy_id'], unique=True,
                              postgresql_where=sa.text('ended_at IS NULL'))


def downgrade() -> None:
    op.drop_constraint('fk_sub_branch_deputy_id_staff', 'sub_branch', type_='foreignkey')
    op.drop_column('sub_branch', 'deputy_id')
    op.drop_constraint('uq_staff_handler_code', 'staff', type_='unique')
    op.drop_column('staff', 'handler_code')
    op.drop_constraint('fk_import_job_branch_id_branch', 'import_job', type_='foreignkey')
    op.drop_index(op.f('ix_import_job_branch_id'), table_name='import_job')
    for column in ('failure', 'counts', 'processed_rows', 'phase', 'file_sha256', 'branch_id'):
        op.drop_column('import_job', column)
    op.drop_column('customer', 'birth_date')
    op.drop_constraint('fk_assignment_previous_staff_id_staff', 'assignment', type_='foreignkey')
    op.drop_constraint('fk_assignment_assigned_by_staff', 'assignment', type_='foreignkey')
    op.drop_index('ux_assignment_open_policy', table_name='assignment', postgresql_where=sa.text('ended_at IS NULL'))
    op.drop_column('assignment', 'assigned_by')
    op.drop_column('assignment', 'previous_staff_id')
