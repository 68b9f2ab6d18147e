"""Integration fixtures: a real database, migrated, emptied between tests.

The backend is SQLite (a file in a temporary folder) unless `DESKFLOW_TEST_DATABASE_URL`
names another one, e.g. postgresql://postgres@127.0.0.1:5432/test. `.ci/run` runs this
suite once per backend, with pytest-xdist: every worker has its own SQLite file, or its
own PostgreSQL database beside the named one (`test_gw0`, `test_gw1`, …).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import make_url, text
from sqlalchemy.exc import DBAPIError

from engine.audit import append_only
from engine.desk import directory, knowledge_base
from engine.instances import notices
from engine.instances.runtime import Runtime
from engine.process import definitions
from engine.store.db import Database
from engine.store.migrate import upgrade
from engine.store.models import Base
from handlers.catalog import catalog


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    url = os.environ.get("DESKFLOW_TEST_DATABASE_URL")
    if url:
        return per_worker_database(url, os.environ.get("PYTEST_XDIST_WORKER"))
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'deskflow-test.db'}"


def per_worker_database(url: str, worker: str | None) -> str:
    """Under pytest-xdist, each worker's own PostgreSQL database beside the one `url` names:
    `<name>_gw0`, `<name>_gw1`, … (created when missing, from the server's `postgres`
    maintenance database), so workers never empty each other's tables. Without xdist, or
    on another backend, `url` itself."""
    parsed = make_url(url)
    if not worker or not parsed.drivername.startswith("postgresql") or not parsed.database:
        return url
    name = f"{parsed.database}_{worker}"
    maintenance = Database(parsed.set(database="postgres").render_as_string(False))
    try:
        with maintenance.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            exists = text("SELECT 1 FROM pg_database WHERE datname = :name")
            if conn.execute(exists, {"name": name}).first() is None:
                quoted = conn.dialect.identifier_preparer.quote(name)
                try:
                    conn.execute(text(f"CREATE DATABASE {quoted}"))
                except DBAPIError:  # unless another run created it meanwhile
                    if conn.execute(exists, {"name": name}).first() is None:
                        raise
    finally:
        maintenance.dispose()
    return parsed.set(database=name).render_as_string(False)


@pytest.fixture(scope="session")
def migrated(database_url) -> Database:
    db = Database(database_url)
    if not db.is_sqlite:  # start from nothing on a shared server
        with db.engine.begin() as conn:
            Base.metadata.drop_all(conn)
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    upgrade(db)
    yield db
    db.dispose()


@pytest.fixture
def db(migrated: Database) -> Database:
    """The migrated database, emptied, with users and groups seeded."""
    with migrated.writing() as session, append_only.maintenance(session.connection()):
        for table in reversed(Base.metadata.sorted_tables):  # history too: append-only lifted
            session.execute(table.delete())
        directory.seed(session, catalog())
        knowledge_base.seed(session)
    return migrated


@pytest.fixture
def runtime(db: Database, frozen_clock) -> Runtime:
    """A runtime with the bundled process deployed."""
    rt = Runtime(db)
    rt.deploy(definitions.bundled(), deployed_by="test")
    return rt


@pytest.fixture
def without_record_notices(monkeypatch):
    """Leave out the record-change notices (engine.instances.notices) in tests counting mails."""
    monkeypatch.setattr(notices, "enabled", lambda: frozenset())


@pytest.fixture(scope="session")
def screenshots() -> Path:
    """Where browser tests save screenshots of the key pages: `DESKFLOW_SCREENSHOTS`, else
    `test-output/screenshots/<backend>` in the repository (kept by CI with the run)."""
    backend = "postgresql" if os.environ.get("DESKFLOW_TEST_DATABASE_URL") else "sqlite"
    folder = Path(
        os.environ.get("DESKFLOW_SCREENSHOTS")
        or Path(__file__).parents[2] / "test-output" / "screenshots" / backend
    )
    folder.mkdir(parents=True, exist_ok=True)
    return folder
