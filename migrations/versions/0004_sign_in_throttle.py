"""sign-in throttle

Revision ID: 0004
Revises: 0003
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('sign_in_throttle',
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('window_started_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_index(op.f('ix_sign_in_throttle_window_started_at'), 'sign_in_throttle', ['window_started_at'],
                    unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_sign_in_throttle_window_started_at'), table_name='sign_in_throttle')
    op.drop_table('sign_in_throttle')
