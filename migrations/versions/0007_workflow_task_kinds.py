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
    # PostgreSQL cannot drop enum values; rows of these kinds are removed and the type rebuilt.
    op.execute("DELETE FROM task WHERE kind IN ('attention', 'find_number')")
    op.execute("ALTER TYPE taskkind RENAME TO taskkind_old")
    op.execute("CREATE TYPE taskkind AS ENUM ('call', 'supervision', 'complaint', 'loss_reason')")
    op.execute("ALTER TABLE task ALTER COLUMN kind TYPE taskkind USING kind::text::taskkind")
    op.execute("DROP TYPE taskkind_old")
