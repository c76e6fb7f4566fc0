"""history_archive partitioned by the month a case closed, so retention drops whole months

Revision ID: 0020
Revises: 0019
"""

from alembic import op

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None

# A partitioned table's unique keys include its partition key; a workflow's closing time never
# changes, so (workflow_id, closed_at) still stores each history once.
COLUMNS = """workflow_id varchar(128) NOT NULL, run_id varchar(64) NOT NULL, case_id uuid NOT NULL,
    policy_no varchar(64) NOT NULL, status varchar(32) NOT NULL, closed_at timestamptz NOT NULL,
    event_count integer NOT NULL, history_bytes integer NOT NULL, history_gz bytea NOT NULL,
    archived_at timestamptz NOT NULL"""
INDEXES = {"ix_history_archive_case_id": "case_id", "ix_history_archive_closed_at": "closed_at",
           "ix_history_archive_policy_no": "policy_no"}

# The months (UTC) live in their own schema, so the application's schema lists only the models'
# tables. The archiver calls this before storing a history of a month that has no partition yet.
ENSURE_MONTH = """
CREATE OR REPLACE FUNCTION archive.ensure_month(at timestamptz) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    first timestamp := date_trunc('month', at AT TIME ZONE 'UTC');
    name text := 'history_archive_' || to_char(first, 'YYYY_MM');
BEGIN
    IF to_regclass('archive.' || name) IS NULL THEN
        EXECUTE format('CREATE TABLE archive.%I PARTITION OF public.history_archive FOR VALUES FROM (%L) TO (%L)',
                       name, first AT TIME ZONE 'UTC', (first + interval '1 month') AT TIME ZONE 'UTC');
    END IF;
END $$"""


def _create_indexes() -> None:
    for name, column in INDEXES.items():
        op.create_index(name, "history_archive", [column])


def upgrade() -> None:
    # The copy holds the archive's lock for as long as it takes: no production archive exists yet,
    # so this runs on empty or test-sized archives only.
    op.execute("CREATE SCHEMA IF NOT EXISTS archive")
    op.execute("ALTER TABLE history_archive RENAME TO history_archive_unpartitioned")
    op.execute("ALTER TABLE history_archive_unpartitioned RENAME CONSTRAINT history_archive_pkey "
               "TO history_archive_unpartitioned_pkey")
    op.execute(f"CREATE TABLE history_archive ({COLUMNS}, CONSTRAINT history_archive_pkey "
               "PRIMARY KEY (workflow_id, closed_at)) PARTITION BY RANGE (closed_at)")
    op.execute(ENSURE_MONTH)
    op.execute("SELECT archive.ensure_month(at) FROM (SELECT DISTINCT date_trunc('month', closed_at AT TIME ZONE 'UTC') "
               "AT TIME ZONE 'UTC' AS at FROM history_archive_unpartitioned UNION SELECT now()) AS months")
    op.execute("INSERT INTO history_archive SELECT * FROM history_archive_unpartitioned")
    op.execute("DROP TABLE history_archive_unpartitioned")
    _create_indexes()


def downgrade() -> None:
    op.execute("ALTER TABLE history_archive RENAME TO history_archive_by_month")
    op.execute("ALTER TABLE history_archive_by_month RENAME CONSTRAINT history_archive_pkey "
               "TO history_archive_by_month_pkey")
    op.execute(f"CREATE TABLE history_archive ({COLUMNS}, CONSTRAINT history_archive_pkey PRIMARY KEY (workflow_id))")
    op.execute("INSERT INTO history_archive SELECT * FROM history_archive_by_month")
    op.execute("DROP TABLE history_archive_by_month")
    op.execute("DROP SCHEMA archive CASCADE")
    _create_indexes()
