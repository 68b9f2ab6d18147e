"""The OpenAPI 3.1 document of the JSON API, built here in code and served at
`GET /api/openapi.json`.

It also holds the schemas of the messages' payloads, which `web.api` checks requests
against, so what the document promises is what the API enforces. The user tasks' forms
are not copied in: they belong to the deployed process version, and `GET
/api/tasks/{task_id}` returns the one a task needs (JSON Schema 2020-12, the dialect of
OpenAPI 3.1).
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

DESCRIPTION = """\
Deskflow's service desk for programs: report incidents, follow them, work the tasks of the
process and send it messages, with the same rules as the web pages.

Authenticate with an API token, which an admin creates for a user (`deskflow token create
USERNAME --name NAME`, or the page /admin/tokens): `Authorization: Bearer dfk_...`. The
program may then do what that user may do. A browser session works too; then every POST
needs the session's CSRF token in the `X-CSRF-Token` header.

Every error is a JSON object `{"error": "..."}`; form data that does not fit its schema
answers 422 with `fields` (field -> what is wrong) and changes nothing."""


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, dict]:
    return {str(code): {"$ref": f"#/components/responses/{ERRORS[code][0]}"} for code in codes}


ERRORS = {
    400: ("BadRequest", "Malformed JSON, a body that is not an object, a bad query parameter"),
    401: ("Unauthorized", "No valid token (unknown or revoked) and no session"),
    403: ("Forbidden", "The user may not do this"),
    404: ("NotFound", "No such incident or task (or not one this user may see)"),
    409: (
        "Conflict",
        "The task is not open any more, the version changed, or the process "
        "is not waiting for this message now",
    ),
    413: ("TooLarge", "The body is larger than 1 MiB"),
    415: ("UnsupportedMediaType", "The body is not `application/json`"),
    422: ("Unprocessable", "Data that does not fit its schema; `fields` says why"),
}
READ_ERRORS = (400, 401)
WRITE_ERRORS = (400, 401, 403, 404, 409, 413, 415, 422)

PAGING = [
    {
        "name": "limit",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50},
    },
    {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0, "default": 0}},
]
NUMBER = {
    "name": "number",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "examples": ["INC0000042"]},
}
TASK_ID = {"name": "task_id", "in": "path", "required": True, "schema": {"type": "string"}}
TIME = {"type": ["string", "null"], "format": "date-time"}


def _schemas() -> dict[str, dict]:
    level = {"type": "string", "enum": ["high", "medium", "low"]}
    message_names = list(MESSAGES)
    return {
        "Error": {
            "type": "object",
            "properties": {"error": {"type": "string"}},
            "required": ["error"],
        },
        "FormError": {
            "type": "object",
            "properties": {
                "error": {"type": "string"},
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
        },
        "IncidentList": {
            "type": "object",
            "properties": {
                "incidents": {"type": "array", "items": _ref("IncidentSummary")},
                "total": {"type": "integer"},
                "limit": {"type": "integer"},
                "offset": {"type": "integer"},
            },
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
                "open_tasks": {"type": "array", "items": _ref("Task")},
                "history": {
                    "type": "array",
                    "description": "Staff only: the incident's story, oldest first",
                    "items": _ref("HistoryEntry"),
                },
            },
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
        },
        "TaskList": {
            "type": "object",
            "properties": {
                "tasks": {"type": "array", "items": _ref("Task")},
                "total": {"type": "integer"},
                "limit": {"type": "integer"},
                "offset": {"type": "integer"},
            },
        },
        "TaskDetail": {
            "allOf": [_ref("Task")],
            "type": "object",
            "properties": {
                "version": {"type": "integer"},
                "incident": _ref("IncidentSummary"),
                "form_schema": {
                    "type": ["object", "null"],
                    "description": "The JSON Schema the completion's `data` must fit",
                },
            },
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


def _paths() -> dict[str, dict]:
    return {
        "/api/openapi.json": {
            "get": {
                "summary": "This document",
                "operationId": "openapi",
                "security": [],
                "responses": {"200": _json({"type": "object"}, "The OpenAPI document")},
            }
        },
        "/api/incidents": {
            "get": {
                "summary": "Incidents: every one for staff, a user's own for a user",
                "operationId": "listIncidents",
                "parameters": [
                    {"name": "state", "in": "query", "schema": {"type": "string"}},
                    {
                        "name": "priority",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 5},
                    },
                    {
                        "name": "group",
                        "in": "query",
                        "schema": {"type": "string"},
                        "description": "The assignment group",
                    },
                    *PAGING,
                ],
                "responses": {
                    "200": _json(_ref("IncidentList"), "Newest first"),
                    **_errors(*READ_ERRORS),
                },
            },
            "post": {
                "summary": "Report a problem (opens an incident or a request)",
                "operationId": "reportIncident",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("Report")}},
                },
                "responses": {
                    "201": _json(_ref("Outcome"), "Opened; `Location` is its URL"),
                    **_errors(400, 401, 403, 413, 415, 422),
                },
            },
        },
        "/api/incidents/{number}": {
            "get": {
                "summary": "One incident: its fields, open tasks, and for staff its history",
                "operationId": "showIncident",
                "parameters": [NUMBER],
                "responses": {"200": _json(_ref("Incident"), "The incident"), **_errors(401, 404)},
            }
        },
        "/api/incidents/{number}/messages": {
            "post": {
                "summary": "Send the incident's process a message",
                "operationId": "sendMessage",
                "parameters": [NUMBER],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("Message")}},
                },
                "responses": {
                    "200": _json(_ref("Outcome"), "Delivered"),
                    **_errors(*WRITE_ERRORS),
                },
            }
        },
        "/api/tasks": {
            "get": {
                "summary": "The open tasks this user may work",
                "operationId": "listTasks",
                "parameters": [
                    {
                        "name": "lane",
                        "in": "query",
                        "schema": {
                            "type": "string",
                            "examples": ["Service Desk", "Specialist Support", "User"],
                        },
                    },
                    {
                        "name": "mine",
                        "in": "query",
                        "description": "1: only the tasks assigned to this user",
                        "schema": {"type": "string", "enum": ["0", "1", "true", "false"]},
                    },
                    *PAGING,
                ],
                "responses": {
                    "200": _json(_ref("TaskList"), "Oldest first"),
                    **_errors(*READ_ERRORS),
                },
            }
        },
        "/api/tasks/{task_id}": {
            "get": {
                "summary": "One open task, with the JSON Schema of its form",
                "operationId": "showTask",
                "parameters": [TASK_ID],
                "responses": {
                    "200": _json(_ref("TaskDetail"), "The task"),
                    **_errors(401, 404),
                },
            }
        },
        "/api/tasks/{task_id}/claim": {
            "post": {
                "summary": "Take an open task (assign it to this user); no body",
                "operationId": "claimTask",
                "parameters": [TASK_ID],
                "responses": {
                    "200": _json(_ref("Claim"), "Assigned to this user"),
                    **_errors(400, 401, 403, 409),
                },
            }
        },
        "/api/tasks/{task_id}/complete": {
            "post": {
                "summary": "Complete an open task with its form's data",
                "operationId": "completeTask",
                "parameters": [TASK_ID],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("Completion")}},
                },
                "responses": {
                    "200": _json(_ref("Outcome"), "Completed; the process moved on"),
                    **_errors(400, 401, 403, 409, 413, 415, 422),
                },
            }
        },
    }


def document() -> dict[str, Any]:
    """The OpenAPI document, as a dict ready for `jsonify`."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "Deskflow API", "version": "1", "description": DESCRIPTION},
        "security": [{"token": []}, {"session": []}],
        "paths": _paths(),
        "components": {
            "securitySchemes": {
                "token": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API token created by an admin (dfk_...)",
                },
                "session": {"type": "apiKey", "in": "cookie", "name": "session"},
            },
            "schemas": _schemas(),
            "responses": {
                name: _json(_ref("FormError" if code == 422 else "Error"), description)
                for code, (name, description) in ERRORS.items()
            },
        },
    }
