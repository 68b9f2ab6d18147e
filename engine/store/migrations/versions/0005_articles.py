"""articles: the self-help knowledge base, with full-text search

SQLite: an FTS5 table kept in step by triggers. PostgreSQL: a GIN index on the same
weighted tsvector expression the search uses (title A, keywords B, summary C, body D;
engine/knowledge_base.py).

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

PG_DOCUMENT = (
    "(setweight(to_tsvector('english', title), 'A')"
    " || setweight(to_tsvector('english', keywords), 'B')"
    " || setweight(to_tsvector('english', summary), 'C')"
    " || setweight(to_tsvector('english', body), 'D'))"
)


def upgrade() -> None:
    op.create_table(
        "articles",
        sa.Column("id", sa.String(length=20), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("category", sa.String(length=50), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("keywords", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE articles_fts USING fts5("
            "id UNINDEXED, title, summary, body, keywords, tokenize='porter unicode61')"
        )
        columns = "id, title, summary, body, keywords"
        values = "new.id, new.title, new.summary, new.body, new.keywords"
        op.execute(
            f"CREATE TRIGGER articles_fts_insert AFTER INSERT ON articles BEGIN "
            f"INSERT INTO articles_fts ({columns}) VALUES ({values}); END"
        )
        op.execute(
            "CREATE TRIGGER articles_fts_delete AFTER DELETE ON articles BEGIN "
            "DELETE FROM articles_fts WHERE id = old.id; END"
        )
        op.execute(
            f"CREATE TRIGGER articles_fts_update AFTER UPDATE ON articles BEGIN "
            f"DELETE FROM articles_fts WHERE id = old.id; "
            f"INSERT INTO articles_fts ({columns}) VALUES ({values}); END"
        )
    elif dialect == "postgresql":
        op.execute(f"CREATE INDEX ix_articles_fulltext ON articles USING GIN ({PG_DOCUMENT})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS articles_fts_{trigger}")
        op.execute("DROP TABLE IF EXISTS articles_fts")
    op.drop_table("articles")
