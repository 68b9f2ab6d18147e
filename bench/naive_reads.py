"""Reads straight off the naive variant's stored JSON, without rebuilding the workflow.

The naive store keeps one JSON document per instance and nothing else. A person's view
(the open task, the suggested category, the SLA due time) or the worker's question "is
a timer due?" has to come out of that document. Rebuilding the workflow for each read
would mean parsing the embedded spec every time; these helpers only `json.loads` the
text and walk the task tables, which favours the naive variant (it is the cheapest
honest read it has).

SpiffWorkflow stores a task's data as a delta against its parent's (see the stock
`TaskConverter`), so a task's data is rebuilt along its parent chain.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.util.task import TaskState

from engine.instances.projection import parse_time

LIVE = TaskState.READY | TaskState.WAITING | TaskState.STARTED


def task_tables(dct: dict[str, Any]) -> Iterator[dict[str, dict]]:
    """The task table of the workflow and of each of its subprocesses."""
    yield dct["tasks"]
    for sub in (dct.get("subprocesses") or {}).values():
        yield sub["tasks"]


def task_data(tasks: dict[str, dict], task_id: str) -> dict[str, Any]:
    chain, task = [], tasks[task_id]
    while task is not None:
        chain.append(task)
        task = tasks.get(task["parent"]) if task["parent"] else None
    data: dict[str, Any] = {}
    for task in reversed(chain):
        delta = task.get("delta")
        if task["parent"] is None or not delta:
            data = dict(task["data"])
            continue
        data = {**data, **delta.get("updates", {})}
        for key in delta.get("deletions", []):
            data.pop(key, None)
    return data


def live_data(dct: dict[str, Any]) -> dict[str, Any]:
    """The variables as the newest live tasks see them (`projection.current_data`)."""
    found = []
    for tasks in task_tables(dct):
        found += [(t["last_state_change"], tasks, i) for i, t in tasks.items() if t["state"] & LIVE]
    data: dict[str, Any] = {}
    for _, tasks, task_id in sorted(found, key=lambda f: f[0]):
        data.update(task_data(tasks, task_id))
    return data


def ready_task(dct: dict[str, Any], element: str) -> tuple[str, dict[str, Any]]:
    """The id and data of the READY task of BPMN element `element`."""
    for tasks in task_tables(dct):
        for task_id, task in tasks.items():
            if task["task_spec"] == element and task["state"] & TaskState.READY:
                return task_id, task_data(tasks, task_id)
    raise RuntimeError(f"expected an open task '{element}'")


def timers_due(dct: dict[str, Any], now: datetime) -> bool:
    """Is any waiting timer's deadline (internal_data event_value) at or before `now`?"""
    for tasks in task_tables(dct):
        for task in tasks.values():
            if not task["state"] & TaskState.WAITING:
                continue
            value = (task.get("internal_data") or {}).get("event_value")
            if isinstance(value, dict):  # a cycle timer: {"cycles", "next", "duration"}
                value = value.get("next") if value.get("cycles") != 0 else None
            if not isinstance(value, str):
                continue
            try:
                due = parse_time(TimerEventDefinition.get_datetime(value))
            except (ValueError, TypeError):
                continue
            if due <= now:
                return True
    return False
