"""What changed between two bundles (two versions, or a version and a draft).

Works from the BPMN XML by element id (read with the safe parser), so a draft that does
not compile yet can still be compared: elements added, removed, and changed in what the
engine reads — name, type, lane, the spiffworkflow extensions (operator, parameters,
result variable, properties such as the form), timer expressions, message names,
conditions and the flows' ends. DMN files and forms are compared per file.
(`engine.instances.migration` compares the parsed specs with SpiffWorkflow's `SpecDiff`
to decide what running instances may do; this is the readable side.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.process.definitions import Bundle, SourceFile, parse_xml

_BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
_SPIFF = "{http://spiffworkflow.org/bpmn/schema/1.0/core}"
_DMN_RULE = "rule"

# The BPMN elements a process is made of (lanes and event definitions describe them).
FLOW_ELEMENTS = {
    "task",
    "userTask",
    "manualTask",
    "serviceTask",
    "scriptTask",
    "businessRuleTask",
    "sendTask",
    "receiveTask",
    "callActivity",
    "subProcess",
    "transaction",
    "startEvent",
    "endEvent",
    "intermediateCatchEvent",
    "intermediateThrowEvent",
    "boundaryEvent",
    "exclusiveGateway",
    "inclusiveGateway",
    "parallelGateway",
    "eventBasedGateway",
    "complexGateway",
    "sequenceFlow",
}
EVENT_KINDS = ("timer", "message", "signal", "error", "escalation", "terminate", "conditional")


@dataclass(frozen=True)
class ElementInfo:
    """One element of a diagram and what the engine reads of it, as text."""

    id: str
    name: str
    type: str
    details: dict[str, str]  # label -> value, e.g. "operator" -> "notify"

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "type": self.type}


@dataclass(frozen=True)
class ChangedElement:
    element: ElementInfo
    changes: list[str]

    def as_json(self) -> dict[str, Any]:
        return {**self.element.as_json(), "changes": self.changes}


@dataclass
class FileChanges:
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[dict[str, Any]] = field(default_factory=list)  # {"name", "changes"}

    def as_json(self) -> dict[str, Any]:
        return {"added": self.added, "removed": self.removed, "changed": self.changed}

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)


@dataclass
class VersionDiff:
    added: list[ElementInfo]
    removed: list[ElementInfo]
    changed: list[ChangedElement]
    forms: FileChanges
    dmn: FileChanges

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed or self.forms or self.dmn)

    def as_json(self) -> dict[str, Any]:
        return {
            "added": [e.as_json() for e in self.added],
            "removed": [e.as_json() for e in self.removed],
            "changed": [c.as_json() for c in self.changed],
            "forms": self.forms.as_json(),
            "dmn": self.dmn.as_json(),
        }


def diff_bundles(old: Bundle, new: Bundle) -> VersionDiff:
    """Compare two bundles; raises DiagramInvalid when a BPMN file is not safe XML."""
    before, after = elements_of(old.bpmn), elements_of(new.bpmn)
    added = [after[i] for i in after if i not in before]
    removed = [before[i] for i in before if i not in after]
    changed = []
    for element_id, old_element in before.items():
        new_element = after.get(element_id)
        if new_element is None:
            continue
        changes = _changes(old_element, new_element)
        if changes:
            changed.append(ChangedElement(new_element, changes))
    return VersionDiff(
        added, removed, changed, _form_changes(old.forms, new.forms), _dmn_changes(old, new)
    )


def elements_of(source: SourceFile) -> dict[str, ElementInfo]:
    """The flow elements of a BPMN file by id, in document order."""
    root = parse_xml(source)
    lanes: dict[str, str] = {}
    messages = {m.get("id"): m.get("name") or m.get("id") for m in root.iter(f"{_BPMN}message")}
    for lane in root.iter(f"{_BPMN}lane"):
        for ref in lane.findall(f"{_BPMN}flowNodeRef"):
            lanes[(ref.text or "").strip()] = lane.get("name") or lane.get("id") or ""
    found: dict[str, ElementInfo] = {}
    for process in root.iter(f"{_BPMN}process"):
        for node in process.iter():
            if not isinstance(node.tag, str) or not node.tag.startswith(_BPMN):
                continue
            kind = node.tag[len(_BPMN) :]
            element_id = node.get("id")
            if kind not in FLOW_ELEMENTS or not element_id:
                continue
            found[element_id] = ElementInfo(
                id=element_id,
                name=node.get("name") or "",
                type=_type(node, kind),
                details=_details(node, kind, lanes, messages),
            )
    return found


def _type(node, kind: str) -> str:
    for event in EVENT_KINDS:
        if node.find(f"{_BPMN}{event}EventDefinition") is not None:
            return f"{kind} ({event})"
    return kind


def _text(node) -> str:
    return " ".join("".join(node.itertext()).split()) if node is not None else ""


def _details(node, kind: str, lanes: dict[str, str], messages: dict) -> dict[str, str]:
    details: dict[str, str] = {}

    def put(label: str, value: str | None) -> None:
        if value not in (None, ""):
            details[label] = str(value)

    put("lane", lanes.get(node.get("id")))
    if kind == "sequenceFlow":
        put("from", node.get("sourceRef"))
        put("to", node.get("targetRef"))
        put("condition", _text(node.find(f"{_BPMN}conditionExpression")))
    put("default flow", node.get("default"))
    put("attached to", node.get("attachedToRef"))
    if kind == "boundaryEvent":
        put("interrupting", "no" if node.get("cancelActivity") == "false" else "yes")
    put("called element", node.get("calledElement"))
    extensions = node.find(f"{_BPMN}extensionElements")
    if extensions is not None:
        operator = extensions.find(f"{_SPIFF}serviceTaskOperator")
        if operator is not None:
            put("operator", operator.get("id"))
            put("result variable", operator.get("resultVariable"))
            for parameter in operator.iter(f"{_SPIFF}parameter"):
                put(f"parameter {parameter.get('id')}", parameter.get("value"))
        for prop in extensions.iter(f"{_SPIFF}property"):
            label = "form" if prop.get("name") == "form" else f"property {prop.get('name')}"
            put(label, prop.get("value"))
        put("decision", _text(extensions.find(f"{_SPIFF}calledDecisionId")))
        put("message variable", _text(extensions.find(f"{_SPIFF}messageVariable")))
        put("pre-script", _text(extensions.find(f"{_SPIFF}preScript")))
        put("post-script", _text(extensions.find(f"{_SPIFF}postScript")))
    for child in node:
        if not isinstance(child.tag, str) or not child.tag.endswith("EventDefinition"):
            continue
        for timer in ("timeDate", "timeDuration", "timeCycle"):
            put(f"timer ({timer})", _text(child.find(f"{_BPMN}{timer}")))
        if child.get("messageRef"):
            put("message", messages.get(child.get("messageRef"), child.get("messageRef")))
        put(
            "message variable",
            _text(child.find(f"{_BPMN}extensionElements/{_SPIFF}messageVariable")),
        )
    if kind == "scriptTask":
        put("script", _text(node.find(f"{_BPMN}script")))
    return details


def _changes(old: ElementInfo, new: ElementInfo) -> list[str]:
    changes = []
    if old.name != new.name:
        changes.append(f"name: {_show(old.name)} → {_show(new.name)}")
    if old.type != new.type:
        changes.append(f"type: {old.type} → {new.type}")
    for label in dict.fromkeys([*old.details, *new.details]):
        before, after = old.details.get(label), new.details.get(label)
        if before != after:
            changes.append(f"{label}: {_show(before)} → {_show(after)}")
    return changes


def _show(value: str | None, limit: int = 120) -> str:
    if value in (None, ""):
        return "(none)"
    assert value is not None
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _form_changes(old: dict[str, Any], new: dict[str, Any]) -> FileChanges:
    result = FileChanges(
        added=sorted(n for n in new if n not in old),
        removed=sorted(n for n in old if n not in new),
    )
    for name in sorted(n for n in old if n in new and old[n] != new[n]):
        result.changed.append({"name": name, "changes": _schema_changes(old[name], new[name])})
    return result


def _schema_changes(old: Any, new: Any) -> list[str]:
    if not isinstance(old, dict) or not isinstance(new, dict):
        return ["replaced"]
    before: dict = old["properties"] if isinstance(old.get("properties"), dict) else {}
    after: dict = new["properties"] if isinstance(new.get("properties"), dict) else {}
    changes = [f"field {n} added" for n in after if n not in before]
    changes += [f"field {n} removed" for n in before if n not in after]
    changes += [f"field {n} changed" for n in before if n in after and before[n] != after[n]]
    if old.get("required") != new.get("required"):
        changes.append(f"required: {_listed(old.get('required'))} → {_listed(new.get('required'))}")
    rest = {k for k in {*old, *new} - {"properties", "required"} if old.get(k) != new.get(k)}
    changes += [f"{k} changed" for k in sorted(rest)]
    return changes or ["changed"]


def _listed(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "(none)"
    return "(none)" if value is None else str(value)


def _dmn_changes(old: Bundle, new: Bundle) -> FileChanges:
    before = {d.filename: d for d in old.dmns}
    after = {d.filename: d for d in new.dmns}
    result = FileChanges(
        added=sorted(n for n in after if n not in before),
        removed=sorted(n for n in before if n not in after),
    )
    for name in sorted(n for n in before if n in after and before[n].text != after[n].text):
        rules_before, rules_after = _rule_count(before[name]), _rule_count(after[name])
        change = (
            f"rules: {rules_before} → {rules_after}"
            if rules_before is not None and rules_after is not None and rules_before != rules_after
            else "table changed"
        )
        result.changed.append({"name": name, "changes": [change]})
    return result


def _rule_count(source: SourceFile) -> int | None:
    try:
        root = parse_xml(source)
    except Exception:  # a broken draft file: say only that it changed
        return None
    return sum(
        1 for n in root.iter() if isinstance(n.tag, str) and n.tag.rpartition("}")[2] == _DMN_RULE
    )
