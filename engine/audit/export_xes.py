"""The XES writer of the history export (`engine.audit.event_log` says what the events are).

IEEE 1849-2016: one `<log>` in the namespace http://www.xes-standard.org/ declaring the
Concept, Time, Organizational and Lifecycle extensions, the global attributes every
trace and event has, and classifiers; then one `<trace>` per incident and one `<event>`
per lifecycle step:

    trace: concept:name (the incident number), kind, state, priority, category, group,
           breached, version, opened_at, closed_at; with people also caller, description
    event: concept:name (the element's name), lifecycle:transition, time:timestamp,
           org:resource, org:role (the element's lane), element (its id), type (its BPMN
           type), kind (task | timer), seq, command, message, handler

Written as text with every value escaped (`escape`), a chunk every `FLUSH` events, so a
large log streams without a tree in memory. Characters XML 1.0 cannot hold (control
characters, lone surrogates) become U+FFFD.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from engine import clock
from engine.audit.event_log import timestamp

if TYPE_CHECKING:
    from engine.audit.event_log import Case, Event, Filters

NAMESPACE = "http://www.xes-standard.org/"
FLUSH = 100  # events per chunk

EXTENSIONS = (
    ("Concept", "concept", "http://www.xes-standard.org/concept.xesext"),
    ("Time", "time", "http://www.xes-standard.org/time.xesext"),
    ("Organizational", "org", "http://www.xes-standard.org/org.xesext"),
    ("Lifecycle", "lifecycle", "http://www.xes-standard.org/lifecycle.xesext"),
)
CLASSIFIERS = (
    ("Activity", "concept:name"),
    ("Activity_and_transition", "concept:name lifecycle:transition"),
    ("Resource", "org:resource"),
)

_INVALID = [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), *range(0xD800, 0xE000)]
_ESCAPES: dict[int, str] = {code: "\ufffd" for code in (*_INVALID, 0xFFFE, 0xFFFF)}
_ESCAPES.update(
    {
        ord("&"): "&amp;",
        ord("<"): "&lt;",
        ord(">"): "&gt;",
        ord('"'): "&quot;",
        ord("\t"): "&#9;",
        ord("\n"): "&#10;",
        ord("\r"): "&#13;",
    }
)


def escape(value: object) -> str:
    """`value` as the text of a double-quoted XML attribute: markup and whitespace that
    attribute normalization would change are escaped, what XML cannot hold replaced."""
    return str(value).translate(_ESCAPES)


def header(filters: Filters, with_people: bool) -> str:
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<log xes.version="1849-2016" xmlns="{NAMESPACE}">',
    ]
    lines += [
        f'  <extension name="{name}" prefix="{prefix}" uri="{uri}"/>'
        for name, prefix, uri in EXTENSIONS
    ]
    lines += [
        '  <global scope="trace">',
        '    <string key="concept:name" value="__INVALID__"/>',
        "  </global>",
        '  <global scope="event">',
        '    <string key="concept:name" value="__INVALID__"/>',
        '    <string key="lifecycle:transition" value="complete"/>',
        '    <date key="time:timestamp" value="1970-01-01T00:00:00.000+00:00"/>',
        '    <string key="org:resource" value="__INVALID__"/>',
        '    <string key="element" value="__INVALID__"/>',
        "  </global>",
    ]
    lines += [f'  <classifier name="{name}" keys="{keys}"/>' for name, keys in CLASSIFIERS]
    lines += [
        '  <string key="concept:name" value="Deskflow service desk history"/>',
        '  <string key="lifecycle:model" value="standard"/>',
        f'  <string key="process" value="{escape(filters.key)}"/>',
        f'  <string key="filters" value="{escape(filters.describe())}"/>',
        f'  <boolean key="with_people" value="{"true" if with_people else "false"}"/>',
        f'  <date key="exported_at" value="{timestamp(clock.now())}"/>',
    ]
    return "\n".join(lines) + "\n"


def trace_open(case: Case) -> str:
    parts = ["  <trace>\n", _string("concept:name", case.number, 4), _string("kind", case.kind, 4)]
    parts.append(_string("state", case.state, 4))
    if case.priority is not None:
        parts.append(f'    <int key="priority" value="{case.priority}"/>\n')
    if case.category is not None:
        parts.append(_string("category", case.category, 4))
    if case.group is not None:
        parts.append(_string("group", case.group, 4))
    parts.append(f'    <boolean key="breached" value="{"true" if case.breached else "false"}"/>\n')
    parts.append(f'    <int key="version" value="{case.version}"/>\n')
    parts.append(f'    <date key="opened_at" value="{timestamp(case.opened_at)}"/>\n')
    if case.closed_at is not None:
        parts.append(f'    <date key="closed_at" value="{timestamp(case.closed_at)}"/>\n')
    if case.caller is not None:
        parts.append(_string("caller", case.caller, 4))
    if case.description is not None:
        parts.append(_string("description", case.description, 4))
    return "".join(parts)


def event_xml(event: Event) -> str:
    parts = [
        "    <event>\n",
        _string("concept:name", event.activity, 6),
        _string("lifecycle:transition", event.lifecycle, 6),
        f'      <date key="time:timestamp" value="{timestamp(event.at)}"/>\n',
        _string("org:resource", event.resource, 6),
    ]
    if event.lane:
        parts.append(_string("org:role", event.lane, 6))
    parts += [
        _string("element", event.element, 6),
        _string("type", event.element_type, 6),
        _string("kind", event.kind, 6),
        f'      <int key="seq" value="{event.seq}"/>\n',
    ]
    for key in ("command", "message", "handler"):
        value = getattr(event, key)
        if value is not None:
            parts.append(_string(key, value, 6))
    parts.append("    </event>\n")
    return "".join(parts)


def _string(key: str, value: object, indent: int) -> str:
    return f'{" " * indent}<string key="{key}" value="{escape(value)}"/>\n'


def xes_chunks(stream: Iterable[Event], filters: Filters, with_people: bool) -> Iterator[bytes]:
    """The XES document as UTF-8 chunks: the header, then a chunk every FLUSH events."""
    yield header(filters, with_people).encode()
    parts: list[str] = []
    current: int | None = None
    for count, event in enumerate(stream, start=1):
        if event.case.instance_id != current:
            if current is not None:
                parts.append("  </trace>\n")
            parts.append(trace_open(event.case))
            current = event.case.instance_id
        parts.append(event_xml(event))
        if count % FLUSH == 0:
            yield "".join(parts).encode()
            parts.clear()
    if current is not None:
        parts.append("  </trace>\n")
    parts.append("</log>\n")
    yield "".join(parts).encode()
