"""login sessions, account state, token expiry and scope

A row per log-in session (`login_sessions`, only the SHA-256 of the session's secret id);
an admin's lock and a deactivation on `users`; `expires_at`, `scope` and `revoke_reason`
on `api_tokens`. Existing tokens keep working: they get scope `write` (what they could
do before) and expire 90 days after the upgrade (`engine.desk.api_tokens.DEFAULT_DAYS`),
so none dies silently at the upgrade and none lives forever. Existing browser sessions
(signed cookies without a session row) end: everyone logs in again once.

Revision ID: 0011
Revises: 0010
"""

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
DEFAULT_DAYS = 90  # as engine.desk.api_tokens.DEFAULT_DAYS at the time of writing


def upgrade() -> None:
    op.create_table(
        "login_sessions",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("user_agent", sa.String(length=200), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_reason", sa.String(length=40), nullable=True),
        sa.ForeignKeyConstraint(["username"], ["users.username"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("secret_hash"),
    )
    op.create_index(
        op.f("ix_login_sessions_username"), "login_sessions", ["username"], unique=False
    )
    with op.batch_alter_table("users") as users:
        users.add_column(sa.Column("locked_at", sa.DateTime(timezone=True), nullable=True))
        users.add_column(sa.Column("deactivated_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("api_tokens") as tokens:
        tokens.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        tokens.add_column(
            sa.Column("scope", sa.String(length=10), nullable=False, server_default="write")
        )
        tokens.add_column(sa.Column("revoke_reason", sa.String(length=200), nullable=True))
    expiry = datetime.now(UTC) + timedelta(days=DEFAULT_DAYS)
    api_tokens = sa.table("api_tokens", sa.column("expires_at", sa.DateTime(timezone=True)))
    op.execute(api_tokens.update().values(expires_at=expiry))
    with op.batch_alter_table("api_tokens") as tokens:
        tokens.alter_column("expires_at", existing_type=sa.DateTime(timezone=True), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("api_tokens") as tokens:
        tokens.drop_column("revoke_reason")
        tokens.drop_column("scope")
        tokens.drop_column("expires_at")
    # not in a batch: SQLite would copy `users`, and other tables' keys refuse its drop
    op.drop_column("users", "deactivated_at")
    op.drop_column("users", "locked_at")
    op.drop_index(op.f("ix_login_sessions_username"), table_name="login_sessions")
    op.drop_table("login_sessions")
