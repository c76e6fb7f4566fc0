"""quotes: vehicle-model catalogue, model confirmation, priced quotes with validity, proposals

Revision ID: 0003
Revises: 0002
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel
from sqlalchemy.dialects import postgresql

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('vehicle_model',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('brand', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('seats', sa.Integer(), nullable=False),
    sa.Column('purchase_price', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('imported_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code')
    )
    op.create_index(op.f('ix_vehicle_model_name'), 'vehicle_model', ['name'], unique=False)
    op.add_column('vehicle', sa.Column('model_confirmed_by', sa.Uuid(), nullable=True))
    op.add_column('vehicle', sa.Column('model_confirmed_at', sa.DateTime(timezone=True), nullable=True))
    op.create_foreign_key(None, 'vehicle', 'staff', ['model_confirmed_by'], ['id'])
    op.add_column('renewal_case', sa.Column('proposal_no', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))
    op.add_column('renewal_case', sa.Column('awaiting_payment_since', sa.DateTime(timezone=True), nullable=True))
    op.alter_column('quote', 'channel', existing_type=sa.VARCHAR(length=16), nullable=True)
    op.add_column('quote', sa.Column('pricing', postgresql.JSONB(astext_type=sa.Text()), nullable=False,
                                     server_default='{}'))
    op.alter_column('quote', 'pricing', server_default=None)
    op.add_column('quote', sa.Column('valid_until', sa.Date(), nullable=True))
    op.add_column('quote', sa.Column('accepted_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('quote', sa.Column('accepted_by', sa.Uuid(), nullable=True))
    op.add_column('quote', sa.Column('proposal_no', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))
    op.create_foreign_key(None, 'quote', 'staff', ['accepted_by'], ['id'])
    op.create_unique_constraint(None, 'quote', ['proposal_no'])


def downgrade() -> None:
    op.drop_constraint('quote_proposal_no_key', 'quote', type_='unique')
    op.drop_constraint('quote_accepted_by_fkey', 'quote', type_='foreignkey')
    op.drop_column('quote', 'proposal_no')
    op.drop_column('quote', 'accepted_by')
    op.drop_column('quote', 'accepted_at')
    op.drop_column('quote', 'valid_until')
    op.drop_column('quote', 'pricing')
    op.alter_column('quote', 'channel', existing_type=sa.VARCHAR(length=16), nullable=False)
    op.drop_column('renewal_case', 'awaiting_payment_since')
    op.drop_column('renewal_case', 'proposal_no')
    op.drop_constraint('vehicle_model_confirmed_by_fkey', 'vehicle', type_='foreignkey')
    op.drop_column('vehicle', 'model_confirmed_at')
    op.drop_column('vehicle', 'model_confirmed_by')
    op.drop_index(op.f('ix_vehicle_model_name'), table_name='vehicle_model')
    op.drop_table('vehicle_model')
