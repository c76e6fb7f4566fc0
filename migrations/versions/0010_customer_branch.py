"""each branch keeps its own record of a customer: customer.branch_id

A record whose policies lie in several branches is split: the branch holding most of them (then
the lowest branch code) keeps it, every other branch gets a copy as the record stood, and its
policies, their vehicles and their cases' contact records move to that copy. Every customer has a
policy (imports and the seed create them together), so every record gets its branch.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

_SPLIT = """
CREATE TEMP TABLE customer_split ON COMMIT DROP AS
SELECT customer_id, branch_id, CASE WHEN rank = 1 THEN customer_id ELSE gen_random_uuid() END AS record_id
FROM (SELECT p.customer_id, sb.branch_id,
             row_number() OVER (PARTITION BY p.customer_id ORDER BY count(*) DESC, min(b.code)) AS rank
      FROM policy p JOIN sub_branch sb ON sb.id = p.sub_branch_id JOIN branch b ON b.id = sb.branch_id
      GROUP BY p.customer_id, sb.branch_id) ranked
"""
_STATEMENTS = (
    "UPDATE customer c SET branch_id = s.branch_id FROM customer_split s WHERE s.record_id = c.id",
    """INSERT INTO customer (id, branch_id, name, id_number, phone, other_phones, corrected_phone, corrected_phone_by,
                            phone_unreachable, sms_opt_out, do_not_call_until, blacklisted, language, birth_date,
                            family, created_at)
       SELECT s.record_id, s.branch_id, c.name, c.id_number, c.phone, c.other_phones, c.corrected_phone,
              c.corrected_phone_by, c.phone_unreachable, c.sms_opt_out, c.do_not_call_until, c.blacklisted,
              c.language, c.birth_date, c.family, c.created_at
       FROM customer_split s JOIN customer c ON c.id = s.customer_id WHERE s.record_id <> s.customer_id""",
    """UPDATE policy p SET customer_id = s.record_id FROM sub_branch sb, customer_split s
       WHERE sb.id = p.sub_branch_id AND s.customer_id = p.customer_id AND s.branch_id = sb.branch_id
         AND s.record_id <> s.customer_id""",
    """UPDATE vehicle v SET customer_id = s.record_id FROM policy p, customer_split s
       WHERE p.vehicle_id = v.id AND p.customer_id = s.record_id AND s.record_id <> s.customer_id""",
    """UPDATE contact_record r SET customer_id = s.record_id
       FROM renewal_case rc JOIN policy p ON p.id = rc.policy_id, customer_split s
       WHERE rc.id = r.case_id AND p.customer_id = s.record_id AND s.record_id <> s.customer_id""",
)


def upgrade() -> None:
    op.add_column("customer", sa.Column("branch_id", sa.Uuid(), nullable=True))
    op.execute(_SPLIT)
    for statement in _STATEMENTS:
        op.execute(statement)
    op.alter_column("customer", "branch_id", nullable=False)
    op.create_foreign_key("customer_branch_id_fkey", "customer", "branch", ["branch_id"], ["id"])


def downgrade() -> None:
    op.drop_column("customer", "branch_id")
