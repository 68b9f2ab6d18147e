"""Comparing a re-run with the record: the first place they differ, said plainly.

A step matches when the re-run writes the same history entries in the same order: the
same kind, element and state for task and timer events (task ids are random and not
compared), the same operator, parameters and result for handler events. After the last
step the instance status, the incident fields the runtime keeps and the process data
must match too. `path_difference` is the what-if comparison: only the elements
completed, in order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine.audit.replay.recorded import Event, Step
from engine.instances.history import Entry

MAX_VALUE = 160


@dataclass(frozen=True)
class Divergence:
    """Where a re-run first differs from the record."""

    step: int  # the history seq of the recorded event (or command) where it differs
    element: str | None
    expected: str
    actual: str
    command: str = ""  # the recorded command being re-run, e.g. "complete_task diagnose"
    name: str | None = None  # the element's name, as recorded

    def as_json(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "element": self.element,
            "expected": self.expected,
            "actual": self.actual,
            "command": self.command,
        }

    def __str__(self) -> str:
        where = f" at {self.element}" if self.element else ""
        during = f" ({self.command})" if self.command else ""
        return f"step {self.step}{where}{during}: expected {self.expected}; actual {self.actual}"


def command_label(step: Step) -> str:
    payload = step.command.payload
    name = payload["command"]
    if name == "complete_task":
        return f"complete_task {payload.get('task') or step.command.element}"
    if name == "send_message":
        return f"send_message {payload.get('message')}"
    if name == "fire_due_timers":
        return f"fire_due_timers at {payload.get('clock')}"
    return name


# --- one step --------------------------------------------------------------------------


def step_difference(step: Step, actual: list[Entry]) -> Divergence | None:
    """The first entry where the re-run of `step` differs from what was recorded."""
    label = command_label(step)
    for index, recorded in enumerate(step.effects):
        if index >= len(actual):
            return Divergence(
                recorded.seq, recorded.element, describe(recorded), "nothing more", label
            )
        difference = _entry_difference(recorded, actual[index])
        if difference is not None:
            expected, got = difference
            element = recorded.element or actual[index].element
            name = recorded.payload.get("name")
            return Divergence(recorded.seq, element, expected, got, label, name)
    if len(actual) > len(step.effects):
        extra = actual[len(step.effects)]
        return Divergence(
            step.last_seq, extra.element, "nothing more", describe_entry(extra), label
        )
    return None


def _entry_difference(recorded: Event, actual: Entry) -> tuple[str, str] | None:
    if recorded.kind != actual.kind or recorded.element != actual.element:
        return describe(recorded), describe_entry(actual)
    expected, got = recorded.payload, actual.payload or {}
    if recorded.kind == "handler":
        for key in ("operator", "params", "result"):
            found = first_difference(expected.get(key), _plain(got.get(key)), key)
            if found is not None:
                path, want, have = found
                return f"{path} = {_short(want)}", f"{path} = {_short(have)}"
        return None
    if expected.get("state") != got.get("state"):
        return describe(recorded), describe_entry(actual)
    if first_difference(expected.get("clock"), got.get("clock")) is not None:
        return f"{describe(recorded)} at {expected.get('clock')}", f"at {got.get('clock')}"
    return None


def describe(event: Event) -> str:
    return _describe(event.kind, event.element, event.payload)


def describe_entry(entry: Entry) -> str:
    return _describe(entry.kind, entry.element, entry.payload or {})


def _describe(kind: str, element: str | None, payload: dict[str, Any]) -> str:
    if kind == "handler":
        return f"handler {payload.get('operator')} at {element}"
    if kind == "timer":
        return f"timer {element} fired"
    return f"{element} {payload.get('state')}"


# --- values ----------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """A value as the history stores it (JSON): tuples become lists, and so on."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    try:
        return json.loads(json.dumps(value, default=str))
    except (TypeError, ValueError):
        return value


def first_difference(expected: Any, actual: Any, path: str = "") -> tuple[str, Any, Any] | None:
    """(path, expected, actual) of the first place two JSON values differ, or None.

    Two times are the same when they name the same moment, written as ISO 8601 text with
    a zone or as datetimes: exactly, since a command reads the clock once
    (`engine.clock.held`) and replay feeds that reading back."""
    if expected == actual:
        return None
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key in list(expected) + [k for k in actual if k not in expected]:
            if key not in actual:
                return f"{path}.{key}", expected[key], "(missing)"
            if key not in expected:
                return f"{path}.{key}", "(missing)", actual[key]
            found = first_difference(expected[key], actual[key], f"{path}.{key}")
            if found is not None:
                return found
        return None
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        for index, (want, have) in enumerate(zip(expected, actual, strict=True)):
            found = first_difference(want, have, f"{path}[{index}]")
            if found is not None:
                return found
        return None
    if same_moment(expected, actual):
        return None
    return path, expected, actual


def same_moment(a: Any, b: Any) -> bool:
    """Whether `a` and `b` are times (text or datetimes) naming the same moment."""
    first, second = _moment(a), _moment(b)
    return first is not None and first == second


def _moment(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else None
    if not isinstance(value, str) or not 19 <= len(value) <= 40 or value[4:5] != "-":
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else None


def _short(value: Any) -> str:
    text = value if isinstance(value, str) and value == "(missing)" else repr(value)
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 1] + "…"


# --- the end ---------------------------------------------------------------------------


def end_difference(
    last_seq: int,
    recorded_status: str,
    actual_status: str,
    recorded_fields: dict[str, Any],
    actual_fields: dict[str, Any],
    recorded_data: dict[str, Any] | None,
    actual_data: dict[str, Any] | None,
) -> Divergence | None:
    """After the last step: the instance status, the incident fields, the process data."""
    label = "after the last command"
    if recorded_status != actual_status:
        return Divergence(
            last_seq, None, f"instance {recorded_status}", f"instance {actual_status}", label
        )
    for name, want in recorded_fields.items():
        have = actual_fields.get(name)
        if not _same(want, have):
            return Divergence(
                last_seq, None, f"incident {name} = {_short(want)}", f"{_short(have)}", label
            )
    if recorded_data is not None and actual_data is not None:
        found = first_difference(_plain(recorded_data), _plain(actual_data), "data")
        if found is not None:
            path, want, have = found
            return Divergence(last_seq, None, f"{path} = {_short(want)}", _short(have), label)
    return None


def _same(want: Any, have: Any) -> bool:
    if want == have or same_moment(want, have):
        return True
    if isinstance(want, list | tuple) and isinstance(have, list | tuple):
        return list(want) == list(have)
    return False


# --- what-if ---------------------------------------------------------------------------


def path_difference(step: Step, actual: list[Entry]) -> Divergence | None:
    """Where the path of the re-run of `step` parts from the recorded one: the element
    after which they go on differently (a gateway, usually; the recorded element itself
    when they differ at the step's first element), with what came next in each."""
    recorded = [
        e
        for e in step.effects
        if e.kind in ("task", "timer") and e.payload.get("state") == "COMPLETED"
    ]
    got = [
        e
        for e in actual
        if e.kind in ("task", "timer") and (e.payload or {}).get("state") == "COMPLETED"
    ]
    label = command_label(step)
    for index, event in enumerate(recorded):
        if index < len(got) and got[index].element == event.element:
            continue
        at = recorded[index - 1] if index else event
        then = _next(event.element, event.payload)
        actual_text = _next(got[index].element, got[index].payload) if index < len(got) else None
        return Divergence(
            event.seq,
            at.element,
            then,
            actual_text or "stops there",
            label,
            at.payload.get("name"),
        )
    if len(got) > len(recorded):
        extra = got[len(recorded)]
        at_event = recorded[-1] if recorded else None
        return Divergence(
            step.last_seq,
            at_event.element if at_event else extra.element,
            "stops there",
            _next(extra.element, extra.payload),
            label,
            at_event.payload.get("name") if at_event else (extra.payload or {}).get("name"),
        )
    return None


def _next(element: str | None, payload: dict[str, Any] | None) -> str:
    name = (payload or {}).get("name")
    return f"then '{name}' ({element})" if name and name != element else f"then {element}"
