"""The database's append-only rules, and the one sanctioned way around them.

Triggers (migration 0010) refuse UPDATE and DELETE (and TRUNCATE on PostgreSQL) on
`PROTECTED`, so an edit of the history needs a deliberate schema change first;
`maintenance` is that change, for the test suite's wipe and for erasures people decided
on. `engine.audit.chains.verify` then shows what changed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, text

PROTECTED = ("history", "audit_anchors", "audit_views")
TRIGGER_PREFIX = "append_only_"  # the migration names every protecting trigger so


@contextmanager
def maintenance(connection: Connection) -> Iterator[None]:
    """Lift the append-only rules for the block, inside the caller's transaction.

    SQLite: the protecting triggers are dropped and created again from their own stored
    SQL; PostgreSQL: they are disabled and enabled (needs the tables' owner, not a
    superuser). Both are transactional: other connections never see the rules gone, and
    if the block raises, the rollback brings them back. Whatever the block changes in
    the history is what `verify` will report — by design.
    """
    dialect = connection.dialect.name
    if dialect == "sqlite":
        triggers = connection.execute(
            text(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
                "AND substr(name, 1, :n) = :prefix ORDER BY name"
            ),
            {"n": len(TRIGGER_PREFIX), "prefix": TRIGGER_PREFIX},
        ).all()
        for name, _ in triggers:
            connection.exec_driver_sql(f'DROP TRIGGER "{name}"')
        yield
        for _, sql in triggers:
            connection.exec_driver_sql(sql)
    elif dialect == "postgresql":
        triggers = connection.execute(
            text(
                "SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                "WHERE NOT t.tgisinternal AND t.tgenabled <> 'D' AND pg_table_is_visible(c.oid) "
                "AND left(t.tgname, :n) = :prefix ORDER BY c.relname, t.tgname"
            ),
            {"n": len(TRIGGER_PREFIX), "prefix": TRIGGER_PREFIX},
        ).all()
        for table, name in triggers:
            connection.exec_driver_sql(f'ALTER TABLE "{table}" DISABLE TRIGGER "{name}"')
        yield
        for table, name in triggers:
            connection.exec_driver_sql(f'ALTER TABLE "{table}" ENABLE TRIGGER "{name}"')
    else:  # pragma: no cover - the migration protects SQLite and PostgreSQL only
        yield
