"""The database: one SQLAlchemy engine per URL, SQLite tuned for a single durable writer.

`DESKFLOW_DATABASE_URL` names the database (any SQLAlchemy URL); the default is an SQLite
file `deskflow.db` in the current directory. On SQLite, writes start with
`BEGIN IMMEDIATE` (one writer at a time, so a command's read-check-write is atomic) and the
journal is WAL with `synchronous=FULL` (a commit survives a crash). Reads use a deferred
`BEGIN` and run beside the writer.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

DEFAULT_URL = "sqlite:///deskflow.db"


def database_url() -> str:
    return os.environ.get("DESKFLOW_DATABASE_URL", DEFAULT_URL)


def make_engine(url: str | None = None) -> Engine:
    url = url or database_url()
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30})
        _tune_sqlite(engine)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        writing = connection.get_execution_options().get("deskflow_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writing else "BEGIN")


class Database:
    """A URL's engine with two kinds of session: reading, and writing (one command)."""

    def __init__(self, url: str | None = None) -> None:
        self.url = url or database_url()
        self.engine = make_engine(self.url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.is_sqlite = self.engine.dialect.name == "sqlite"

    @contextmanager
    def reading(self) -> Iterator[Session]:
        with self._sessions() as session:
            yield session

    @contextmanager
    def writing(self) -> Iterator[Session]:
        """One transaction: committed if the block returns, rolled back if it raises.

        Callables in `session.info["after_commit"]` run once the commit succeeded; those
        in `session.info["after_rollback"]` run with the exception once the rollback is
        done (and the connection given back), before it is raised on.
        """
        connection = self.engine.connect().execution_options(deskflow_write=True)
        session = Session(bind=connection, expire_on_commit=False, autoflush=False)
        try:
            with session, session.begin():
                yield session
        except Exception as err:
            connection.close()  # the rollback is done: free the database before they write
            for on_rollback in session.info.get("after_rollback", []):
                on_rollback(err)
            raise
        finally:
            connection.close()
        for on_commit in session.info.get("after_commit", []):
            on_commit()

    def dispose(self) -> None:
        self.engine.dispose()
