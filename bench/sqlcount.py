"""Counting the SQL a command sends: statements, rows, transactions, round trips, time.

`SqlCounter(engine, trace=False)` listens on one SQLAlchemy engine. Everything sent while a label is
active (`with counter.label("complete_task categorize_incident"):`; the innermost label
wins) adds to that label's `Tally`:

- every `before_cursor_execute` is one statement and one round trip; an `executemany`
  is one round trip with N rows (SQLAlchemy's "insertmanyvalues" already folds most
  multi-row INSERTs into one statement before this event sees them);
- BEGIN: on SQLite the `BEGIN [IMMEDIATE]` statement itself; on PostgreSQL psycopg sends
  `BEGIN` on its own just before a transaction's first statement (counted then);
- COMMIT / ROLLBACK: the DBAPI call, counted when a transaction is open on the wire;
- PostgreSQL's pool pre-ping (`SELECT 1` when a pooled connection is checked out).

With `trace`, the statements of each label's first call are kept (`trace[label]`).
On SQLite a "round trip" is a call into the library (no network), where COMMIT is the
fsync. `sql_ms` is the time inside the driver for all of the above.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

VERBS = ("SELECT", "INSERT", "UPDATE", "DELETE", "BEGIN", "COMMIT", "ROLLBACK", "PING")
_TABLE = re.compile(r"^\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+\"?(\w+)", re.I)
_FROM = re.compile(r"\bFROM\s+\"?(\w+)", re.I)


@dataclass
class Tally:
    """What one label sent, summed over `calls` (commands, sweeps, reads...)."""

    calls: int = 0
    statements: int = 0  # SELECT/INSERT/UPDATE/DELETE (and PRAGMA...) sent as SQL
    rows: int = 0  # parameter sets bound: 1 per execute, N per executemany
    round_trips: int = 0  # statements + BEGIN + COMMIT + ROLLBACK + pings
    sql_s: float = 0.0
    verbs: Counter = field(default_factory=Counter)  # SELECT, ..., BEGIN, COMMIT, PING
    targets: Counter = field(default_factory=Counter)  # "UPDATE incidents" -> count
    target_rows: Counter = field(default_factory=Counter)  # "INSERT history" -> rows

    def per_call(self, value: float) -> float:
        return value / self.calls if self.calls else 0.0

    def as_dict(self) -> dict[str, Any]:
        n = self.calls or 1
        return {
            "calls": self.calls,
            "statements": self.statements / n,
            "rows": self.rows / n,
            "round_trips": self.round_trips / n,
            "sql_ms": 1000 * self.sql_s / n,
            "verbs": {v: c / n for v, c in sorted(self.verbs.items())},
            "targets": {t: c / n for t, c in sorted(self.targets.items())},
            "target_rows": {t: c / n for t, c in sorted(self.target_rows.items())},
        }


def verb_and_target(statement: str) -> tuple[str, str]:
    """('UPDATE', 'UPDATE incidents') for an UPDATE of incidents; a SELECT by its FROM."""
    words = statement.lstrip().split(None, 1)
    verb = words[0].upper() if words else "?"
    if verb == "WITH":
        verb = "SELECT"
    found = _TABLE.match(statement) or (_FROM.search(statement) if verb == "SELECT" else None)
    return verb, f"{verb} {found.group(1)}" if found else verb


def _rows(parameters, context) -> int:
    """Rows of an executemany; an "insertmanyvalues" batch gets its flattened parameters."""
    compiled = getattr(context, "compiled_parameters", None)
    if context is not None and "INSERTMANYVALUES" in str(getattr(context, "execute_style", "")):
        return len(compiled or ()) or 1
    return len(parameters) if isinstance(parameters, list | tuple) else 1


class SqlCounter:
    """Tallies per label of what `engine` sends to its database (module docstring)."""

    OUTSIDE = "(outside any label)"

    def __init__(self, engine: Engine, trace: bool = False) -> None:
        self.engine = engine
        self.trace: dict[str, list[str]] | None = {} if trace else None
        self.postgres = engine.dialect.name == "postgresql"
        self.tallies: dict[str, Tally] = {}
        self._labels: list[str] = []
        self._open: dict[int, bool] = {}  # id(dbapi connection) -> a transaction on the wire
        self._pending_begin: set[int] = set()  # PostgreSQL: BEGIN not sent yet
        self._started: dict[int, float] = {}
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)
        event.listen(engine, "handle_error", self._error)
        event.listen(engine, "begin", self._begin)
        dialect = engine.dialect  # instance attributes: this engine only
        dialect.do_commit = self._ending("COMMIT", dialect.do_commit)
        dialect.do_rollback = self._ending("ROLLBACK", dialect.do_rollback)
        dialect.do_ping = self._timed_call("PING", dialect.do_ping)

    # --- labels -------------------------------------------------------------------------

    @contextmanager
    def label(self, name: str) -> Iterator[None]:
        self._labels.append(name)
        self._tally().calls += 1
        try:
            yield
        finally:
            self._labels.pop()

    def wrap(self, name, func):
        """`func` with each call counted under `name` (a string, or a function of the args)."""

        @wraps(func)
        def counted(*args, **kwargs):
            with self.label(name(*args, **kwargs) if callable(name) else name):
                return func(*args, **kwargs)

        return counted

    def _key(self) -> str:
        return self._labels[-1] if self._labels else self.OUTSIDE

    def _tally(self) -> Tally:
        key = self._key()
        tally = self.tallies.get(key)
        if tally is None:
            tally = self.tallies[key] = Tally()
        return tally

    def summary(self) -> dict[str, dict[str, Any]]:
        return {key: t.as_dict() for key, t in self.tallies.items() if t.calls}

    # --- events -------------------------------------------------------------------------

    def _count(self, verb: str, target: str | None = None, rows: int = 0) -> Tally:
        tally = self._tally()
        tally.round_trips += 1
        tally.verbs[verb] += 1
        tally.rows += rows
        if target:
            tally.targets[target] += 1
            tally.target_rows[target] += rows
        return tally

    def _begin(self, conn) -> None:
        key = id(conn.connection.dbapi_connection)
        if self.postgres:
            self._pending_begin.add(key)

    def _before(self, conn, cursor, statement, parameters, context, executemany) -> None:
        key = id(conn.connection.dbapi_connection)
        if key in self._pending_begin:  # psycopg sends BEGIN first, on its own
            self._pending_begin.discard(key)
            self._open[key] = True
            self._count("BEGIN")
        verb, target = verb_and_target(statement)
        if verb == "BEGIN":  # SQLite: our own BEGIN [IMMEDIATE]
            self._open[key] = True
            self._count(verb)
        else:
            tally = self._count(verb, target, _rows(parameters, context) if executemany else 1)
            tally.statements += 1
            if self.trace is not None and tally.calls == 1:  # the first call of each label
                self.trace.setdefault(self._key(), []).append(" ".join(statement.split()))
        self._started[key] = time.perf_counter()

    def _after(self, conn, cursor, statement, parameters, context, executemany) -> None:
        started = self._started.pop(id(conn.connection.dbapi_connection), None)
        if started is not None:
            self._tally().sql_s += time.perf_counter() - started

    def _error(self, context) -> None:
        conn = context.connection
        if conn is not None and conn.connection is not None:
            self._after(conn, None, None, None, None, False)

    def _ending(self, verb: str, func):
        def ending(dbapi_connection, *args, **kwargs):  # given the pool's proxy, or the raw one
            key = id(getattr(dbapi_connection, "dbapi_connection", dbapi_connection))
            self._pending_begin.discard(key)
            if not self._open.pop(key, False):
                return func(dbapi_connection, *args, **kwargs)  # nothing on the wire
            started = time.perf_counter()
            try:
                return func(dbapi_connection, *args, **kwargs)
            finally:
                self._count(verb).sql_s += time.perf_counter() - started

        return ending

    def _timed_call(self, verb: str, func):
        def timed(dbapi_connection, *args, **kwargs):
            started = time.perf_counter()
            try:
                return func(dbapi_connection, *args, **kwargs)
            finally:
                self._count(verb).sql_s += time.perf_counter() - started

        return timed
