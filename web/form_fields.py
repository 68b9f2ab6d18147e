"""A user task's form on a page: the inputs its JSON Schema describes, and the submitted
values turned back into the JSON the schema checks.

The schema stays the one source: the page shows each property's title and description,
an enum as a select, a boolean the process must be told as yes/no radios (or a checkbox
when it has a default), a long text as a textarea, an array of choices as checkboxes.
Choices that depend on another field (categorize's subcategories per category, written
as `allOf` if/then rules) are grouped by that field's value. Nothing is checked here:
the engine validates the data with the same schema and the page shows its errors next
to the fields.
"""

from __future__ import annotations

import math
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from werkzeug.datastructures import MultiDict

LONG_TEXT = 200  # a string allowed to be longer than this gets a textarea
NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]{1,3})?")


@dataclass
class Field:
    name: str
    title: str
    description: str
    kind: str  # select | text | textarea | number | yesno | checkbox | choices | tags
    required: bool
    options: list[str] = field(default_factory=list)
    # For choices that depend on another field: that field, and its value -> the options.
    depends_on: str = ""
    groups: dict[str, list[str]] = field(default_factory=dict)
    default: Any = None  # what an empty input stands for, when the schema gives a default


def fields_of(schema: dict[str, Any]) -> list[Field]:
    """The inputs of a form, in the schema's order."""
    required = set(schema.get("required", []))
    dependent = _dependent_choices(schema)
    found = []
    for name, spec in schema.get("properties", {}).items():
        found.append(_field(name, spec, name in required, dependent.get(name)))
    return found


def _field(name: str, spec: dict, required: bool, dependent) -> Field:
    title = spec.get("title", name.replace("_", " ").capitalize())
    base = {"name": name, "title": title, "description": spec.get("description", "")}
    kind, options = "text", []
    type_ = spec.get("type")
    if "enum" in spec:
        kind, options = "select", [str(v) for v in spec["enum"]]
    elif type_ == "boolean":
        kind = "checkbox" if "default" in spec else "yesno"
    elif type_ in ("integer", "number"):
        kind = "number"
    elif type_ == "array":
        items = spec.get("items", {})
        kind, options = (
            ("choices", [str(v) for v in items["enum"]]) if "enum" in items else ("tags", [])
        )
    elif type_ == "string" and spec.get("maxLength", LONG_TEXT + 1) > LONG_TEXT:
        kind = "textarea"
    # A required field with a default may be left empty: the default is sent for it.
    result = Field(
        **base,
        kind=kind,
        required=required and "default" not in spec,
        options=options,
        default=spec.get("default"),
    )
    if dependent is not None:
        result.kind = "choices"
        result.depends_on, result.groups = dependent
        result.options = sorted({o for group in result.groups.values() for o in group})
    return result


def _dependent_choices(schema: dict) -> dict[str, tuple[str, dict[str, list[str]]]]:
    """{field: (the field it depends on, {that field's value: allowed items})} from rules
    `{"if": {"properties": {X: {"const": v}}}, "then": {"properties": {Y: {"items":
    {"enum": [...]}}}}}`."""
    found: dict[str, tuple[str, dict[str, list[str]]]] = {}
    for rule in schema.get("allOf", []):
        condition = rule.get("if", {}).get("properties", {})
        consequence = rule.get("then", {}).get("properties", {})
        if len(condition) != 1:
            continue
        ((on, test),) = condition.items()
        if "const" not in test:
            continue
        for name, spec in consequence.items():
            enum = spec.get("items", {}).get("enum")
            if enum is not None:
                found.setdefault(name, (on, {}))[1][str(test["const"])] = [str(v) for v in enum]
    return found


def submitted(schema: dict[str, Any], form: MultiDict) -> dict[str, Any]:
    """The JSON a form submission stands for: empty inputs left out (so "required" says
    so) unless the schema gives a text default (then the default), yes/no as booleans,
    numbers as numbers when they are numbers (else the text, for the schema to refuse),
    lists from checkboxes or comma-separated text."""
    data: dict[str, Any] = {}
    for item in fields_of(schema):
        name = item.name
        if item.kind == "checkbox":
            data[name] = form.get(name) in ("on", "true", "yes")
        elif item.kind == "yesno":
            answer = form.get(name, "")
            if answer in ("yes", "no"):
                data[name] = answer == "yes"
            elif answer:
                data[name] = answer
        elif item.kind == "choices":
            chosen = [v for v in form.getlist(name) if v]
            if chosen:
                data[name] = list(dict.fromkeys(chosen))
        elif item.kind == "tags":
            tags = [t.strip() for t in form.get(name, "").split(",") if t.strip()]
            if tags:
                data[name] = tags
        else:
            text = form.get(name, "").strip()
            if text:
                data[name] = _number(text) if item.kind == "number" else text
            elif isinstance(item.default, str):
                data[name] = item.default
    return data


def _number(text: str) -> Any:
    """A number typed into a field: ASCII digits (`int("٣")` is 3), a whole number within
    64 bits or a finite one (`float("nan")` is a number too); anything else stays text,
    and the form's schema says what is wrong with it."""
    if not NUMBER.fullmatch(text):
        return text
    if re.fullmatch(r"-?[0-9]{1,18}", text):
        return int(text)
    number = float(text)
    return number if math.isfinite(number) else text


def shown_values(data: dict[str, Any]) -> dict[str, Any]:
    """Submitted data as the inputs show it again after an error."""
    shown: dict[str, Any] = {}
    for name, value in data.items():
        if isinstance(value, bool):
            shown[name] = "yes" if value else "no"
        elif isinstance(value, list):
            shown[name] = [str(v) for v in value]
        else:
            shown[name] = str(value)
    return shown


def new_submission() -> str:
    """A fresh key for one report form: sent with it, so that the same form sent twice
    opens one incident (`engine.instances.submissions`)."""
    return secrets.token_urlsafe(16)
