"""Scratch databases for the benchmark: an SQLite file in a temp dir, or PostgreSQL.

On PostgreSQL the benchmark works in its own database on the server the given URL names
(created if missing), and drops and recreates the schema there: the database the URL
names when its name starts with `bench` (e.g. `.../bench_h2`, so that two people can
benchmark one server at once), else `deskflow_bench`, so that `test` or `postgres` is left
alone.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from engine.desk import directory
from engine.instances.runtime import Runtime
from engine.process.definitions import bundled
from engine.store.db import Database
from engine.store.migrate import upgrade
from engine.store.models import Base
from handlers.catalog import catalog

BENCH_DATABASE = "deskflow_bench"


def sqlite_url(folder: Path, name: str) -> str:
    return f"sqlite:///{folder / name}"


def temp_folder(parent: str | None = None) -> tempfile.TemporaryDirectory:
    """A scratch folder in `parent` (default: the system's temp dir)."""
    return tempfile.TemporaryDirectory(prefix="deskflow-bench-", dir=parent)


def _psycopg(url: str) -> str:
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def bench_database(url: str) -> str:
    """The scratch database's name for `url` (module docstring)."""
    named = make_url(url).database or ""
    return named if named.startswith("bench") else BENCH_DATABASE


def postgres_bench_url(url: str) -> str:
    """The URL of the scratch database on the server of `url`; created if missing."""
    name = bench_database(url)
    admin_url = make_url(_psycopg(url))
    if admin_url.database == name:  # it may not exist yet: ask the maintenance database
        admin_url = admin_url.set(database="postgres")
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            ).first()
            if not exists:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def reset_schema(db: Database) -> None:
    """Drop every Deskflow table (and Alembic's bookkeeping), then migrate to the newest."""
    if not db.is_sqlite:
        Base.metadata.drop_all(db.engine)
        with db.engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    upgrade(db)


def deskflow_database(url: str) -> Database:
    """A fresh, migrated database with the directory seeded and the bundled diagram deployed."""
    db = Database(url)
    reset_schema(db)
    with db.writing() as session:
        directory.seed(session, catalog())
    runtime = Runtime(db)
    deployed = runtime.deploy(bundled(), deployed_by="bench", comment="benchmark")
    with db.reading() as session:  # warm the definition cache outside the timed commands
        runtime.definition(session, deployed.definition_id)
    return db


def describe(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)
