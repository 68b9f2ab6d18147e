"""The CSV writer of the history export (`engine.audit.event_log` says what the events are).

One row per event, a header row first; UTF-8, RFC 4180 quoting and CRLF line ends (the
`csv` module's). Columns: `COLUMNS`, then with people `caller` and `description`. An
empty cell is a value the event or incident does not have; `breached` is true or false;
times are ISO 8601 in UTC with milliseconds and the zone.

A cell that a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, a tab or a carriage
return first, or their full-width forms) starts with a `'` instead, as OWASP's CSV
injection rule says: a caller who writes `=HYPERLINK(...)` as a description must not have it
run on an auditor's machine. The quote shows in the cell; the value after it is unchanged.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import Any

from engine.audit.event_log import Event, timestamp

FLUSH = 100  # rows per chunk
FORMULA_STARTS = tuple("=+-@\t\r\uff1d\uff0b\uff0d\uff20")

CASE_COLUMNS = (
    "incident_kind",
    "state",
    "priority",
    "category",
    "group",
    "breached",
    "version",
    "opened_at",
    "closed_at",
)
COLUMNS = (
    "case_id",
    "activity",
    "timestamp",
    "resource",
    "lifecycle",
    "element_id",
    "element_type",
    "lane",
    "kind",
    "seq",
    "instance_id",
    "command",
    "message",
    "handler",
    *CASE_COLUMNS,
)
PEOPLE_COLUMNS = ("caller", "description")


def columns(with_people: bool = False) -> tuple[str, ...]:
    return COLUMNS + PEOPLE_COLUMNS if with_people else COLUMNS


def csv_row(event: Event, with_people: bool = False) -> list[str]:
    """The CSV cells of an event (`columns()` order); None is the empty cell."""
    case = event.case
    cells: list[Any] = [
        case.number,
        event.activity,
        timestamp(event.at),
        event.resource,
        event.lifecycle,
        event.element,
        event.element_type,
        event.lane,
        event.kind,
        event.seq,
        case.instance_id,
        event.command,
        event.message,
        event.handler,
        case.kind,
        case.state,
        case.priority,
        case.category,
        case.group,
        "true" if case.breached else "false",
        case.version,
        timestamp(case.opened_at),
        timestamp(case.closed_at) if case.closed_at else None,
    ]
    if with_people:
        cells += [case.caller, case.description]
    return [inert("" if cell is None else str(cell)) for cell in cells]


def inert(cell: str) -> str:
    """`cell` as a spreadsheet shows it without running it (OWASP's CSV injection rule)."""
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def csv_chunks(stream: Iterable[Event], with_people: bool = False) -> Iterator[bytes]:
    """The CSV (UTF-8, a header row, CRLF line ends as RFC 4180), a chunk every FLUSH rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns(with_people))
    for count, event in enumerate(stream, start=1):
        writer.writerow(csv_row(event, with_people))
        if count % FLUSH == 0:
            yield _drain(buffer)
    yield _drain(buffer)


def _drain(buffer: io.StringIO) -> bytes:
    data = buffer.getvalue().encode("utf-8", "replace")
    buffer.seek(0)
    buffer.truncate()
    return data
