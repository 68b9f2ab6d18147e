"""The history exported as an event log, CSV or XES, in chunks of bytes (the events are
`engine.audit.event_log`'s; the writers `export_csv` and `export_xes`)."""

from __future__ import annotations

from collections.abc import Iterator

from engine.audit import export_csv, export_xes
from engine.audit.event_log import Filters, Stats, events, snapshot
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
) -> Iterator[bytes]:
    """The export in `fmt` (csv or xes) as chunks of bytes, read in one snapshot that
    stays open until the last chunk is taken (or the iterator is closed)."""
    if fmt not in FORMATS:
        raise DeskflowError(f"unknown format '{fmt}' (known: {', '.join(FORMATS)})")
    with snapshot(db) as connection:
        stream = events(connection, filters, with_people, stats)
        if fmt == "csv":
            yield from export_csv.csv_chunks(stream, with_people)
        else:
            yield from export_xes.xes_chunks(stream, filters, with_people)
