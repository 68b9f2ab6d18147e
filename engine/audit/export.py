"""The history exported as an event log, CSV or XES, in chunks of bytes (the events are
`engine.audit.event_log`'s; the writers `export_csv` and `export_xes`)."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from itertools import chain

from engine.audit import export_csv, export_xes
from engine.audit.event_log import Event, Filters, Stats, events, snapshot
from engine.errors import DeskflowError
from engine.store.db import Database

FORMATS = ("csv", "xes")
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "xes": "application/xml; charset=utf-8"}


def export(
    db: Database,
    fmt: str,
    filters: Filters,
    with_people: bool = False,
    stats: Stats | None = None,
) -> Generator[bytes, None, None]:
    """The export in `fmt` (csv or xes) as chunks of bytes, read in one snapshot that
    stays open until the last chunk is taken (or the generator is closed).

    The format and the filters are checked here, at once (DeskflowError), and the query
    runs before the first chunk is made: whatever could go wrong with a request goes wrong
    before a byte of the file exists, so a caller streaming it over HTTP can still refuse
    it (`web.audit_export` takes the first chunk before it answers)."""
    if fmt not in FORMATS:
        raise DeskflowError(f"unknown format '{fmt}' (known: {', '.join(FORMATS)})")
    filters.check()
    return _chunks(db, fmt, filters, with_people, stats)


def _chunks(
    db: Database, fmt: str, filters: Filters, with_people: bool, stats: Stats | None
) -> Generator[bytes, None, None]:
    with snapshot(db) as connection:
        stream = _started(events(connection, filters, with_people, stats))
        if fmt == "csv":
            yield from export_csv.csv_chunks(stream, with_people)
        else:
            yield from export_xes.xes_chunks(stream, filters, with_people)


def _started(stream: Iterator[Event]) -> Iterator[Event]:
    """`stream` with its first event taken now, so its query has run."""
    for first in stream:
        return chain((first,), stream)
    return iter(())
