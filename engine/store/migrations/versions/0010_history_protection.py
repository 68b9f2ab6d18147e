"""history protection: append-only rules on the history, anchors over it, audit records

The database itself refuses UPDATE and DELETE (and, on PostgreSQL, TRUNCATE) on
`history`, `audit_anchors` and `audit_views`: a trigger on SQLite and on PostgreSQL. On
SQLite a third trigger refuses an INSERT that would replace a row (INSERT OR REPLACE
deletes without firing delete triggers). Only a deliberate schema change — dropping the
triggers, or `engine.audit.maintenance` for the test suite's wipe — lets a row change,
and `deskflow audit verify` shows what changed.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
PROTECTED = ("history", "audit_anchors", "audit_views")
RULE = "rows are append-only"
# PostgreSQL: one function for every protected table; it names the table and the operation.
PG_FUNCTION = f"""
CREATE OR REPLACE FUNCTION deskflow_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% {RULE}: % refused', TG_TABLE_NAME, TG_OP
        USING HINT = 'Only a deliberate schema change may alter them (engine/audit.py).';
END
$$
"""


def _sqlite_replace_guard(table: str) -> str:
    if table == "history":
        return (
            "EXISTS (SELECT 1 FROM history WHERE id = NEW.id) OR EXISTS (SELECT 1 FROM history "
            "WHERE instance_id = NEW.instance_id AND seq = NEW.seq)"
        )
    return f"EXISTS (SELECT 1 FROM {table} WHERE id = NEW.id)"


def protect(table: str, dialect: str) -> None:
    if dialect == "sqlite":
        for operation in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER append_only_{table}_{operation.lower()} "
                f"BEFORE {operation} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} {RULE}: {operation} refused'); END"
            )
        op.execute(
            f"CREATE TRIGGER append_only_{table}_replace BEFORE INSERT ON {table} "
            f"WHEN {_sqlite_replace_guard(table)} "
            f"BEGIN SELECT RAISE(ABORT, '{table} {RULE}: REPLACE refused'); END"
        )
    elif dialect == "postgresql":
        op.execute(
            f"CREATE TRIGGER append_only_{table} BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION deskflow_append_only()"
        )
        op.execute(
            f"CREATE TRIGGER append_only_{table}_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION deskflow_append_only()"
        )


def unprotect(table: str, dialect: str) -> None:
    if dialect == "sqlite":
        for operation in ("update", "delete", "replace"):
            op.execute(f"DROP TRIGGER IF EXISTS append_only_{table}_{operation}")
    elif dialect == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS append_only_{table} ON {table}")
        op.execute(f"DROP TRIGGER IF EXISTS append_only_{table}_truncate ON {table}")


def upgrade() -> None:
    op.create_table(
        "audit_anchors",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("last_history_id", sa.BigInteger(), nullable=False),
        sa.Column("row_count", sa.BigInteger(), nullable=False),
        sa.Column("moved", sa.Integer(), nullable=False),
        sa.Column("heads", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "audit_views",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("auditor", sa.String(length=100), nullable=False),
        sa.Column("what", sa.String(length=100), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "audit_runs",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("started_by", sa.String(length=100), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("instance_id", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("rows_total", sa.BigInteger(), nullable=False),
        sa.Column("rows_done", sa.BigInteger(), nullable=False),
        sa.Column("seconds", sa.Double(), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("problems", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(PG_FUNCTION)
    for table in PROTECTED:
        protect(table, dialect)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for table in PROTECTED:
        unprotect(table, dialect)
    if dialect == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS deskflow_append_only()")
    op.drop_table("audit_runs")
    op.drop_table("audit_views")
    op.drop_table("audit_anchors")
