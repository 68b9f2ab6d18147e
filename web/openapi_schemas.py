"""The schemas of the OpenAPI document (`web.openapi`): the errors, what a caller sends
and what the API answers; and the payloads of the messages a caller sends, which
`web.api` checks requests against, so what the document promises is what the API enforces.
"""

from __future__ import annotations

from typing import Any

from engine.instances.runtime import MESSAGES

TEXT_MAX = 4000


def _text(required: bool) -> dict[str, Any]:
    text: dict[str, Any] = {"type": "string", "maxLength": TEXT_MAX}
    return text | {"minLength": 1, "pattern": r"\S"} if required else text


def _payload(title: str, required: tuple[str, ...] = (), optional: tuple[str, ...] = ()) -> dict:
    properties = {name: _text(True) for name in required} | {
        name: _text(False) for name in optional
    }
    return {
        "title": title,
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
    }


# The payloads of the messages a caller sends. The desk's messages (hold, resume,
# reprioritize) are checked by the engine against the deployed process's forms of the
# same names.
MESSAGE_PAYLOADS: dict[str, dict] = {
    "confirm": _payload("The caller confirms the fix", optional=("comment",)),
    "reopen": _payload("The caller says it is not fixed", required=("reason",)),
    "user_reply": _payload("The caller writes to the people working on it", ("message",)),
}
CALLER_MESSAGES = tuple(MESSAGE_PAYLOADS)


def ref(name: str) -> dict[str, str]:
    """A reference to the component schema `name`."""
    return {"$ref": f"#/components/schemas/{name}"}


TIME = {"type": ["string", "null"], "format": "date-time"}


def schemas() -> dict[str, dict]:
    """The components' schemas: errors, requests and answers."""
    level = {"type": "string", "enum": ["high", "medium", "low"]}
    message_names = list(MESSAGES)
    return {
        "Error": {
            "description": "Every refusal: what was wrong, in words for a person",
            "type": "object",
            "properties": {"error": {"type": "string", "minLength": 1}},
            "required": ["error"],
        },
        "FormError": {
            "description": "Data that does not fit its schema: `fields` maps each field "
            "(or parameter) to what is wrong with it",
            "type": "object",
            "properties": {
                "error": {"type": "string", "minLength": 1},
                "fields": {"type": "object", "additionalProperties": {"type": "string"}},
            },
            "required": ["error", "fields"],
        },
        "Report": {
            "description": "What the `report` form asks. `caller` defaults to the user; only "
            "the service desk (technicians, managers) may report for someone else (then "
            "`reported_by` is them).",
            "type": "object",
            "properties": {
                "short_description": {"type": "string", "minLength": 3, "maxLength": 160},
                "description": {"type": "string", "maxLength": 4000, "default": ""},
                "is_broken": {
                    "type": "boolean",
                    "default": True,
                    "description": "true: an incident; false: a service request",
                },
                "impact": level,
                "urgency": level,
                "caller": {"type": "string"},
                "channel": {
                    "type": "string",
                    "enum": ["portal", "phone", "email", "walk-in"],
                    "default": "portal",
                },
            },
            "required": ["short_description", "impact", "urgency"],
            "additionalProperties": False,
        },
        "Outcome": {
            "type": "object",
            "properties": {
                "number": {"type": "string"},
                "state": {"type": "string"},
                "url": {"type": "string"},
            },
            "required": ["number", "url"],
        },
        "IncidentSummary": {
            "type": "object",
            "properties": {
                "number": {"type": "string"},
                "kind": {"type": "string", "enum": ["incident", "request"]},
                "state": {"type": "string"},
                "priority": {"type": ["integer", "null"]},
                "caller": {"type": "string"},
                "short_description": {"type": "string"},
                "assignment_group": {"type": ["string", "null"]},
                "assignee": {"type": ["string", "null"]},
                "opened_at": TIME,
                "resolution_due": TIME,
                "url": {"type": "string"},
            },
            "required": [
                "number",
                "kind",
                "state",
                "priority",
                "caller",
                "short_description",
                "assignment_group",
                "assignee",
                "opened_at",
                "resolution_due",
                "url",
            ],
        },
        "IncidentList": {
            "type": "object",
            "properties": {
                "incidents": {"type": "array", "items": ref("IncidentSummary")},
                "total": {"type": "integer"},
                "limit": {"type": "integer"},
                "offset": {"type": "integer"},
            },
            "required": ["incidents", "total", "limit", "offset"],
        },
        "Incident": {
            "type": "object",
            "properties": {
                "incident": {
                    "type": "object",
                    "description": "Every field of the incident record (see IncidentSummary)",
                },
                "version": {
                    "type": "integer",
                    "description": "Send it back as `expected_version` to refuse stale work",
                },
                "status": {"type": "string", "enum": ["running", "completed"]},
                "open_tasks": {"type": "array", "items": ref("Task")},
                "history": {
                    "type": "array",
                    "description": "Staff only: the incident's story, oldest first",
                    "items": ref("HistoryEntry"),
                },
            },
            "required": ["incident", "version", "status", "open_tasks"],
        },
        "HistoryEntry": {
            "type": "object",
            "properties": {
                "seq": {"type": "integer"},
                "at": TIME,
                "kind": {"type": "string"},
                "element": {"type": ["string", "null"]},
                "actor": {"type": ["string", "null"]},
                "payload": {"type": "object"},
            },
        },
        "Task": {
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "task": {"type": "string", "description": "The diagram's element id"},
                "name": {"type": "string"},
                "lane": {"type": ["string", "null"]},
                "group": {"type": ["string", "null"]},
                "assignee": {"type": ["string", "null"]},
                "form": {"type": ["string", "null"]},
                "number": {"type": "string"},
                "created_at": TIME,
                "due_at": TIME,
                "may_work": {"type": "boolean"},
                "url": {"type": "string"},
            },
            "required": [
                "id",
                "task",
                "name",
                "lane",
                "group",
                "assignee",
                "form",
                "number",
                "created_at",
                "due_at",
                "may_work",
                "url",
            ],
        },
        "TaskList": {
            "type": "object",
            "properties": {
                "tasks": {"type": "array", "items": ref("Task")},
                "total": {"type": "integer"},
                "limit": {"type": "integer"},
                "offset": {"type": "integer"},
            },
            "required": ["tasks", "total", "limit", "offset"],
        },
        "TaskDetail": {
            "allOf": [ref("Task")],
            "type": "object",
            "properties": {
                "version": {"type": "integer"},
                "incident": ref("IncidentSummary"),
                "form_schema": {
                    "type": ["object", "null"],
                    "description": "The JSON Schema the completion's `data` must fit",
                },
            },
            "required": ["version", "incident", "form_schema"],
        },
        "Completion": {
            "type": "object",
            "properties": {
                "data": {"type": "object", "description": "Fits the task's `form_schema`"},
                "expected_version": {"type": "integer"},
            },
            "required": ["data"],
            "additionalProperties": False,
        },
        "Claim": {
            "type": "object",
            "properties": {"id": {"type": "string"}, "assignee": {"type": "string"}},
            "required": ["id", "assignee"],
        },
        "Message": {
            "type": "object",
            "description": "The caller may send confirm, reopen and user_reply on their own "
            "incidents; the service desk and specialists may send every message. The "
            "payloads of hold, resume and reprioritize must fit the process's forms of "
            "those names (reprioritize: impact, urgency, reason, major_incident).",
            "properties": {
                "message": {"type": "string", "enum": message_names},
                "payload": {"type": "object", "default": {}},
            },
            "required": ["message"],
            "additionalProperties": False,
            "allOf": [
                {
                    "if": {"properties": {"message": {"const": name}}},
                    "then": {"properties": {"payload": schema}},
                }
                for name, schema in MESSAGE_PAYLOADS.items()
            ],
        },
    }
