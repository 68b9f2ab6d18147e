"""submissions: one report form, one incident

A row per report form (or API call with an `Idempotency-Key`) that opened an incident:
the same form sent twice — a double click, Back and send, a retried call — finds its row
and opens nothing new (`engine.instances.submissions`).

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "submissions",
        sa.Column("key", sa.String(300), primary_key=True),
        sa.Column("incident_number", sa.String(20), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("submissions")
