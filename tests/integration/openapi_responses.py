"""Whether a response is one the OpenAPI document promises for its operation.

`Documented(document).problems(operation, status, headers, body)` lists what is wrong:
a server error, a status the operation does not list, a body that is not the documented
JSON or does not fit its schema (`$ref`s resolved inside the document), or a documented
header that is missing (`WWW-Authenticate` on 401, `Location` on 201).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from .openapi_requests import Operation

BASE = "urn:deskflow:openapi"
JSON = "application/json"


def _pointer(*parts: str) -> str:
    return "/" + "/".join(part.replace("~", "~0").replace("/", "~1") for part in parts)


class Documented:
    """The document's responses, ready to check answers against."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self.document = document
        resource = Resource.from_contents(dict(document), default_specification=DRAFT202012)
        self.registry: Registry = Registry().with_resource(BASE, resource)
        self._validators: dict[str, Draft202012Validator] = {}

    def _response(self, operation: Operation, status: int) -> tuple[str, Mapping] | None:
        """The documented response for `status`, and the JSON pointer where it is."""
        responses = operation.spec.get("responses", {})
        key = str(status) if str(status) in responses else f"{status // 100}XX"
        if key not in responses:
            key = "default"
        if key not in responses:
            return None
        where = _pointer("paths", operation.path, operation.method, "responses", key)
        node = responses[key]
        while "$ref" in node:
            where = node["$ref"].removeprefix("#")
            node = self.document
            for part in where.strip("/").split("/"):
                node = node[part.replace("~1", "/").replace("~0", "~")]
        return where, node

    def _validator(self, pointer: str) -> Draft202012Validator:
        if pointer not in self._validators:
            schema = {"$ref": f"{BASE}#{pointer}"}
            self._validators[pointer] = Draft202012Validator(schema, registry=self.registry)
        return self._validators[pointer]

    def problems(
        self, operation: Operation, status: int, headers: Mapping[str, str], body: bytes
    ) -> list[str]:
        """What is wrong with this answer to `operation`; empty when it is documented."""
        if status >= 500:
            return [f"server error {status}"]
        found = self._response(operation, status)
        if found is None:
            return [f"status {status} is not documented"]
        where, response = found
        wrong = [
            f"header {name} missing on {status}"
            for name, header in response.get("headers", {}).items()
            if header.get("required") and name not in headers
        ]
        content = response.get("content")
        if not content:
            return wrong + ([f"{status} has a body, none documented"] if body.strip() else [])
        if JSON not in content:
            return wrong
        kind = headers.get("Content-Type", "")
        if kind.split(";")[0].strip() != JSON:
            return [*wrong, f"{status} answered {kind or 'no Content-Type'}, not JSON"]
        try:
            parsed = json.loads(body)
        except ValueError:
            return [*wrong, f"{status} answered a body that is not JSON"]
        pointer = where + _pointer("content", JSON, "schema")
        for error in self._validator(pointer).iter_errors(parsed):
            path = "/".join(map(str, error.absolute_path)) or "the body"
            wrong.append(f"{status} body does not fit its schema at {path}: {error.message}")
            break
        return wrong
