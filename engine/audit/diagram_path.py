"""Where an incident is in its process, for drawing on the diagram.

`for_incident` gives the BPMN XML of the version the incident's instance is pinned to,
the elements it waits at now (its open human tasks, its armed timers), the elements it
has passed (from the history, in the order it first passed them) and the sequence flows
it took between them.

A flow counts as taken when its target was entered after its source completed: for each
time an element is entered, the incoming flow whose source completed most recently (since
the element was last entered) is the one the token came along; a parallel or inclusive
gateway, which joins branches, takes every incoming flow whose source completed since.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.errors import NotFound
from engine.instances.history import story
from engine.process.definitions import BPMN_NS, SourceFile, bundle_from_json, parse_xml
from engine.store.models import Definition, HumanTask, Incident, Instance, Timer

# Task event states that mean the token arrived (WAITING: at a gateway or catch event
# that waits; for a boundary event it means armed, and nothing flows into one).
ENTERED = {"READY", "STARTED", "WAITING"}
JOINS = {"parallelGateway", "inclusiveGateway", "complexGateway"}
CONTAINERS = {"subProcess", "transaction", "adHocSubProcess"}


@dataclass(frozen=True)
class Flow:
    id: str
    source: str
    target: str


@dataclass(frozen=True)
class DiagramPath:
    key: str
    version: int
    xml: str
    current: list[str]
    passed: list[str]
    flows: list[str]

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "version": self.version,
            "xml": self.xml,
            "current": self.current,
            "passed": self.passed,
            "flows": self.flows,
        }


def for_incident(session: Session, number: str) -> DiagramPath:
    """The diagram and the incident's way through it; NotFound for an unknown number."""
    incident = session.scalars(
        select(Incident).where(Incident.number == number.upper())
    ).one_or_none()
    if incident is None:
        raise NotFound(f"there is no incident {number}")
    instance = session.get(Instance, incident.instance_id)
    assert instance is not None  # a foreign key
    definition = session.get(Definition, instance.definition_id)
    assert definition is not None
    bpmn = bundle_from_json(definition.bundle).bpmn
    current = _unique(
        [
            *session.scalars(
                select(HumanTask.element)
                .where(HumanTask.instance_id == instance.id)
                .order_by(HumanTask.created_at, HumanTask.element)
            ),
            *session.scalars(
                select(Timer.element)
                .where(Timer.instance_id == instance.id)
                .order_by(Timer.due_at, Timer.element)
            ),
        ]
    )
    passed, flows = path_through(sequence_flows(bpmn), steps(story(session, instance.id)))
    return DiagramPath(definition.key, definition.version, bpmn.text, current, passed, flows)


def sequence_flows(bpmn: SourceFile) -> tuple[list[Flow], dict[str, str]]:
    """The diagram's sequence flows, and the kind (tag name) of every element with an id."""
    root = parse_xml(bpmn)  # the project's safe parser: no DTD, no entities, no network
    flows = [
        Flow(node.get("id", ""), node.get("sourceRef", ""), node.get("targetRef", ""))
        for node in root.iter(f"{{{BPMN_NS}}}sequenceFlow")
    ]
    kinds = {
        node.get("id", ""): node.tag.rsplit("}", 1)[-1]
        for node in root.iter(f"{{{BPMN_NS}}}*")
        if node.get("id")
    }
    return flows, kinds


def steps(events: Iterable[Any]) -> list[tuple[str, str]]:
    """The history as ("enter" | "done", element) steps, oldest first.

    A task event READY, STARTED or WAITING enters its element, COMPLETED (or a timer event)
    completes it; a timer the worker fired (a command event listing `timers`) is entered
    and completed there. Cancelled and other events are left out.
    """
    out: list[tuple[str, str]] = []
    for event in events:
        payload = event.payload or {}
        if event.kind == "command":
            for fired in payload.get("timers") or []:
                element = fired.get("element") if isinstance(fired, dict) else None
                if element:
                    out += [("enter", element), ("done", element)]
        elif event.kind in ("task", "timer") and event.element:
            state = payload.get("state")
            if state in ENTERED:
                out.append(("enter", event.element))
            elif state == "COMPLETED" or event.kind == "timer":
                out.append(("done", event.element))
        elif event.kind == "handler" and event.element:
            out.append(("done", event.element))
    return out


def path_through(
    diagram: tuple[list[Flow], dict[str, str]], path: list[tuple[str, str]]
) -> tuple[list[str], list[str]]:
    """(passed elements, taken flow ids), each in the order first passed or taken."""
    passed, taken, _ = path_growth(diagram, path)
    return passed, taken


def path_growth(
    diagram: tuple[list[Flow], dict[str, str]], path: list[tuple[str, str]]
) -> tuple[list[str], list[str], list[tuple[int, int]]]:
    """`path_through`, and after each step of `path` how many elements had been passed and
    flows taken by then: the lists only grow, so the way up to a step is their first
    (passed, taken) items (the replay, `engine.audit.replay_steps`, shows it step by step)."""
    flows, kinds = diagram
    incoming: dict[str, list[Flow]] = {}
    for flow in flows:
        incoming.setdefault(flow.target, []).append(flow)
    passed: dict[str, None] = {}  # ordered sets: in the order first passed or taken
    taken: dict[str, None] = {}
    sizes: list[tuple[int, int]] = []
    last_done: dict[str, int] = {}  # element -> position of its latest completion
    last_entered: dict[str, int] = {}
    for position, (what, element) in enumerate(path):
        if what == "done":
            last_done[element] = position
            passed.setdefault(element)
            sizes.append((len(passed), len(taken)))
            continue
        if kinds.get(element) in CONTAINERS:  # passed on entering: the token is inside
            passed.setdefault(element)
        since = last_entered.get(element, -1)
        candidates = [
            (last_done[f.source], f.id)
            for f in incoming.get(element, [])
            if last_done.get(f.source, -1) > since
        ]
        last_entered[element] = position
        if candidates and kinds.get(element) in JOINS:
            taken.update(dict.fromkeys(flow_id for _, flow_id in sorted(candidates)))
        elif candidates:
            taken.setdefault(max(candidates)[1])
        sizes.append((len(passed), len(taken)))
    return list(passed), list(taken), sizes


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))
