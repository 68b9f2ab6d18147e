"""Migration 0002 (notification delivery) on the test database, up and down and up."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, Table, inspect, select, update

from engine.store.migrate import alembic_config
from engine.store.models import Base, Notification

AT = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def test_0002_keeps_what_was_delivered_and_a_downgrade_sends_nothing_again(db):
    config = alembic_config(db)
    command.downgrade(config, "0001")
    try:
        with db.engine.begin() as connection:
            old = Table("notifications", MetaData(), autoload_with=connection)
            row = {"recipient": "alice", "template": "resolved", "subject": "s", "body": "b"}
            connection.execute(
                old.insert(),
                [
                    {**row, "created_at": AT, "due_at": AT, "delivered_at": AT, "attempts": 1},
                    {**row, "created_at": AT, "due_at": AT, "delivered_at": None, "attempts": 0},
                    {**row, "created_at": AT, "due_at": AT, "delivered_at": None, "attempts": 0},
                    {**row, "created_at": AT, "due_at": AT, "delivered_at": None, "attempts": 0},
                ],
            )
        command.upgrade(config, "head")
        with db.reading() as session:
            rows = session.scalars(select(Notification).order_by(Notification.id)).all()
        assert [r.status for r in rows] == ["delivered", "pending", "pending", "pending"]
        assert all(r.message_id is None and r.html is None for r in rows)
        delivered, failed, suppressed, pending = (r.id for r in rows)
        with db.writing() as session:
            session.execute(
                update(Notification)
                .where(Notification.id == failed)
                .values(status="failed", failed_at=AT)
            )
            session.execute(
                update(Notification)
                .where(Notification.id == suppressed)
                .values(status="suppressed", suppressed_by=delivered)
            )
        command.downgrade(config, "0001")
        with db.engine.connect() as connection:
            old = Table("notifications", MetaData(), autoload_with=connection)
            unsent = connection.execute(select(old.c.id).where(old.c.delivered_at.is_(None)))
            # failed and suppressed look delivered: an 0001 worker will not send them after all
            assert list(unsent.scalars()) == [pending]
    finally:
        command.upgrade(config, "head")
    with db.engine.connect() as connection:
        indexes = {ix["name"] for ix in inspect(connection).get_indexes("notifications")}
        assert indexes == {"ix_notifications_due", "ix_notifications_pair"}
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert [d for d in differences if "notifications" in repr(d)] == []
