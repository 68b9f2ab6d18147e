"""notification delivery: status, HTML body, Message-ID, retries

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 10:00:00

The outbox learns what happened to each notification: `status` (pending, delivered,
suppressed, failed), the HTML body beside the text, the Message-ID of the mail that
carries it, the last error and when it was given up, and which notification made a
suppressed status update redundant. Pending rows are found by (status, due_at) and a
recipient's rows about an incident by (incident_id, recipient).
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("html", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("status", sa.String(length=20), server_default="pending", nullable=False)
        )
        batch_op.add_column(sa.Column("message_id", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("last_error", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("suppressed_by", BigId, nullable=True))
        batch_op.drop_index("ix_notifications_pending")
        batch_op.create_index("ix_notifications_due", ["status", "due_at"], unique=False)
        batch_op.create_index("ix_notifications_pair", ["incident_id", "recipient"], unique=False)
    op.execute("UPDATE notifications SET status = 'delivered' WHERE delivered_at IS NOT NULL")


def downgrade() -> None:
    # 0001 knows only "delivered or not": failed and suppressed notifications are marked
    # delivered so that an older worker does not send them after all.
    op.execute(
        "UPDATE notifications SET delivered_at = COALESCE(failed_at, due_at) "
        "WHERE status IN ('failed', 'suppressed') AND delivered_at IS NULL"
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_notifications_pair")
        batch_op.drop_index("ix_notifications_due")
        batch_op.create_index("ix_notifications_pending", ["delivered_at", "due_at"], unique=False)
        batch_op.drop_column("suppressed_by")
        batch_op.drop_column("failed_at")
        batch_op.drop_column("last_error")
        batch_op.drop_column("message_id")
        batch_op.drop_column("status")
        batch_op.drop_column("html")
