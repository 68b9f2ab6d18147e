"""The OpenAPI 3.1 document of the JSON API, built here in code and served at
`GET /api/openapi.json`: every operation with its parameters (their types and ranges), its
body, and every status it answers, each with its schema; the schemas are in
`web.openapi_schemas`, which also holds the messages' payloads `web.api` checks requests
against, so what the document promises is what the API enforces. The user tasks' forms
are not copied in: they belong to the deployed process version, and `GET
/api/tasks/{task_id}` returns the one a task needs (JSON Schema 2020-12, the dialect of
OpenAPI 3.1).

`tests/integration/test_fuzz_api.py` holds the API to it: requests generated from this
document, for every role and bad credentials, must get an answer it documents.
"""

from __future__ import annotations

from typing import Any

from web.openapi_schemas import CALLER_MESSAGES, MESSAGE_PAYLOADS, TEXT_MAX, ref, schemas

__all__ = ["CALLER_MESSAGES", "MESSAGE_PAYLOADS", "TEXT_MAX", "document"]

DESCRIPTION = """\
Deskflow's service desk for programs: report incidents, follow them, work the tasks of the
process and send it messages, with the same rules as the web pages.

Authenticate with an API token, which an admin creates for a user (`deskflow token create
USERNAME --name NAME`, or the page /admin/tokens): `Authorization: Bearer dfk_...`. The
program may then do what that user may do; a read-only token may only GET (anything else
answers 403). A token stops working when it expires, is revoked, or its owner is locked or
deactivated. A browser session works too; then every POST needs the session's CSRF token
in the `X-CSRF-Token` header. A request with no credentials, or with ones that are not
valid, answers 401 with `WWW-Authenticate: Bearer`.

Every error is a JSON object `{"error": "..."}`; form data that does not fit its schema
answers 422 with `fields` (field -> what is wrong) and changes nothing. A parameter of the
wrong type or out of its range answers 400 (or 404 or 422), naming the parameter, and so
does a control character in any query parameter, even one the operation ignores; a body
over 1 MiB answers 413, chunked or not."""

UNAUTHORIZED_HEADERS = {
    "WWW-Authenticate": {
        "description": 'How to authenticate: `Bearer realm="deskflow"`, with '
        '`error="invalid_token"` when the token sent is not valid (RFC 6750)',
        "required": True,
        "schema": {"type": "string", "pattern": "^Bearer"},
    }
}
ERRORS = {
    400: (
        "BadRequest",
        "Malformed JSON (or nested too deeply), a body that is not an object or has an "
        "unknown field, a parameter of the wrong type or out of its range (the message "
        "names it), a control character in a parameter, or a session's POST without its "
        "CSRF token",
    ),
    401: (
        "Unauthorized",
        "No credentials; a token that is unknown, revoked or expired, or whose owner is "
        "locked or deactivated; another scheme than Bearer; or a session that ended",
    ),
    403: ("Forbidden", "The user may not do this, or a read-only token asked to change something"),
    404: ("NotFound", "No such incident or task (or not one this user may see)"),
    409: (
        "Conflict",
        "The task is not open any more, a colleague holds it, the version changed, or the "
        "process is not waiting for this message now",
    ),
    413: ("TooLarge", "The body is larger than 1 MiB (a chunked one too)"),
    415: ("UnsupportedMediaType", "The body is not `application/json`"),
    422: ("Unprocessable", "Data (or a parameter) that does not fit its schema; `fields` says why"),
}
# What each kind of operation may answer besides its success: every operation may answer
# 401 and 400 (a bad parameter), every write 403 (a read-only token) and 413 (its body).
LIST_ERRORS = (400, 401, 422)
SHOW_ERRORS = (400, 401, 404)
BODY_ERRORS = (400, 401, 403, 404, 409, 413, 415, 422)


LOCATION = {
    "Location": {
        "description": "The new incident's URL in this API",
        "required": True,
        "schema": {"type": "string"},
    }
}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, dict]:
    return {str(code): {"$ref": f"#/components/responses/{ERRORS[code][0]}"} for code in codes}


def _responses() -> dict[str, dict]:
    responses = {
        name: _json(ref("FormError" if code == 422 else "Error"), description)
        for code, (name, description) in ERRORS.items()
    }
    responses["Unauthorized"]["headers"] = UNAUTHORIZED_HEADERS
    return responses


def _query(name: str, schema: dict, description: str = "") -> dict:
    parameter = {"name": name, "in": "query", "schema": schema}
    return parameter | ({"description": description} if description else {})


OFFSET_MAX = 2**63 - 1  # a 64-bit signed integer, what the databases take
PAGING = [
    _query(
        "limit",
        {"type": "integer", "minimum": 1, "maximum": 200, "default": 50},
        "How many to answer (1 to 200)",
    ),
    _query(
        "offset",
        {"type": "integer", "minimum": 0, "maximum": OFFSET_MAX, "default": 0},
        "How many to skip",
    ),
]
NUMBER = {
    "name": "number",
    "in": "path",
    "required": True,
    "description": "The incident's number, in any case",
    "schema": {
        "type": "string",
        "pattern": "^[Ii][Nn][Cc][0-9]{7,}$",
        "maxLength": 20,
        "examples": ["INC0000042"],
    },
}
TASK_ID = {
    "name": "task_id",
    "in": "path",
    "required": True,
    "description": "The task's id, as the task lists give it",
    "schema": {"type": "string", "format": "uuid", "maxLength": 36},
}
# Text in a query parameter: no control characters (a NUL byte is refused with 400).
PLAIN_TEXT = "^[^\\x00-\\x1f\\x7f]*$"


def _text_parameter(name: str, description: str, **more: Any) -> dict:
    schema = {"type": "string", "maxLength": 100, "pattern": PLAIN_TEXT, **more}
    return _query(name, schema, description)


def _paths() -> dict[str, dict]:
    return {
        "/api/openapi.json": {
            "get": {
                "summary": "This document",
                "operationId": "openapi",
                "security": [],
                "responses": {
                    "200": _json({"type": "object"}, "The OpenAPI document"),
                    # Any query string is checked: a control character in it is refused.
                    **_errors(400),
                },
            }
        },
        "/api/incidents": {
            "get": {
                "summary": "Incidents: every one for staff, a user's own for a user",
                "operationId": "listIncidents",
                "parameters": [
                    _text_parameter(
                        "state", "Only incidents in this state", examples=["New", "Resolved"]
                    ),
                    _query(
                        "priority",
                        {"type": "integer", "minimum": 1, "maximum": 5},
                        "Only incidents of this priority (1: critical)",
                    ),
                    _text_parameter("group", "Only incidents assigned to this group"),
                    *PAGING,
                ],
                "responses": {
                    "200": _json(ref("IncidentList"), "Newest first"),
                    **_errors(*LIST_ERRORS),
                },
            },
            "post": {
                "summary": "Report a problem (opens an incident or a request)",
                "operationId": "reportIncident",
                "parameters": [
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": False,
                        "description": "Any 8 to 200 printable ASCII characters, new for each "
                        "report: the same key sent again by the same person (a retry after a "
                        "timeout) opens nothing new and answers 201 with the incident the "
                        "first one opened",
                        "schema": {
                            "type": "string",
                            "minLength": 8,
                            "maxLength": 200,
                            "pattern": "^[\\x21-\\x7e]+$",
                        },
                    }
                ],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": ref("Report")}},
                },
                "responses": {
                    "201": _json(ref("Outcome"), "Opened; `Location` is its URL")
                    | {"headers": LOCATION},
                    **_errors(400, 401, 403, 413, 415, 422),
                },
            },
        },
        "/api/incidents/{number}": {
            "get": {
                "summary": "One incident: its fields, open tasks, and for staff its history",
                "operationId": "showIncident",
                "parameters": [NUMBER],
                "responses": {
                    "200": _json(ref("Incident"), "The incident"),
                    **_errors(*SHOW_ERRORS),
                },
            }
        },
        "/api/incidents/{number}/messages": {
            "post": {
                "summary": "Send the incident's process a message",
                "operationId": "sendMessage",
                "parameters": [NUMBER],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": ref("Message")}},
                },
                "responses": {
                    "200": _json(ref("Outcome"), "Delivered"),
                    **_errors(*BODY_ERRORS),
                },
            }
        },
        "/api/tasks": {
            "get": {
                "summary": "The open tasks this user may work",
                "operationId": "listTasks",
                "parameters": [
                    _text_parameter(
                        "lane",
                        "Only the tasks of this lane of the diagram",
                        examples=["Service Desk", "Specialist Support", "User"],
                    ),
                    _query(
                        "mine",
                        {"type": "string", "enum": ["0", "1", "true", "false"], "default": "0"},
                        "1 or true: only the tasks assigned to this user (any case)",
                    ),
                    *PAGING,
                ],
                "responses": {
                    "200": _json(ref("TaskList"), "Oldest first"),
                    **_errors(*LIST_ERRORS),
                },
            }
        },
        "/api/tasks/{task_id}": {
            "get": {
                "summary": "One open task, with the JSON Schema of its form",
                "operationId": "showTask",
                "parameters": [TASK_ID],
                "responses": {
                    "200": _json(ref("TaskDetail"), "The task"),
                    **_errors(*SHOW_ERRORS),
                },
            }
        },
        "/api/tasks/{task_id}/claim": {
            "post": {
                "summary": "Take an open task (assign it to this user); no body",
                "operationId": "claimTask",
                "parameters": [TASK_ID],
                "responses": {
                    "200": _json(ref("Claim"), "Assigned to this user"),
                    **_errors(400, 401, 403, 404, 409, 413),
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
                    "content": {"application/json": {"schema": ref("Completion")}},
                },
                "responses": {
                    "200": _json(ref("Outcome"), "Completed; the process moved on"),
                    **_errors(*BODY_ERRORS),
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
                    "description": "An API token created by an admin (dfk_...): read-only "
                    "(GET only) or read-write, until it expires or is revoked",
                },
                "session": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": "session",
                    "description": "A browser session (logged in at /login); every POST "
                    "needs its CSRF token in the `X-CSRF-Token` header",
                },
            },
            "schemas": schemas(),
            "responses": _responses(),
        },
    }
