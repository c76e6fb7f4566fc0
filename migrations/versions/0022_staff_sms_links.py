"""The staff SMS that announce work (escalation, complaint, final reminder) link to the case's page

Revision ID: 0022
Revises: 0021
"""

import sqlalchemy as sa
from alembic import op

from renewals.case.messages import LANGUAGES, shipped_template

revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None

KEYS = ("deputy_escalation", "complaint_alert", "manager_final_reminder")

# A template nobody has edited (only its version 1 exists) without the link gets the shipped text
# as version 2; an admin's edit stays the newest version, for them to add the link to.
NEW_VERSION = sa.text("""
INSERT INTO sms_template (id, key, language, version, body, created_by, created_at)
SELECT gen_random_uuid(), first.key, first.language, 2, :body, NULL, now()
FROM sms_template AS first
WHERE first.key = :key AND first.language = :language AND first.version = 1
  AND first.body NOT LIKE '%case_url%'
  AND NOT EXISTS (SELECT 1 FROM sms_template AS later
                  WHERE later.key = first.key AND later.language = first.language AND later.version > 1)""")


def upgrade() -> None:
    for key in KEYS:
        for language in LANGUAGES:
            op.execute(NEW_VERSION.bindparams(key=key, language=language, body=shipped_template(key, language)))


def downgrade() -> None:
    # Only the versions this revision added: the shipped ones (nobody's) numbered 2.
    op.execute(sa.text("DELETE FROM sms_template WHERE version = 2 AND created_by IS NULL AND key IN :keys")
               .bindparams(sa.bindparam("keys", value=KEYS, expanding=True)))
