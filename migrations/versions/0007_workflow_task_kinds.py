"""task kinds for the workflow's needs-attention and find-a-working-number tasks

Revision ID: 0007
Revises: 0006
"""

from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # ADD VALUE may not be used in the transaction that adds it; nothing here uses it.
    op.execute("ALTER TYPE taskkind ADD VALUE IF NOT EXISTS 'attention'")
    op.execute("ALTER TYPE taskkind ADD VALUE IF NOT EXISTS 'find_number'")


def downgrade() -> None:
    # PostgreSQL cannot drop an enum value without rewriting every task row under an exclusive lock;
    # the values stay (the previous release never writes them) and only the rows it cannot read go.
    op.execute("DELETE FROM task WHERE kind IN ('attention', 'find_number')")
