"""The OpenAPI document says exactly what the app serves under /api/, and holds together."""

from __future__ import annotations

import re

import jsonschema
import pytest

from engine.store.db import Database
from web import create_app, openapi

METHODS = {"get", "put", "post", "delete", "patch"}


@pytest.fixture(scope="module")
def app():
    return create_app(Database("sqlite://"), {"TESTING": True, "SECRET_KEY": "test"})


def served(app) -> set[tuple[str, str]]:
    """(path as OpenAPI writes it, method) of every route under /api/."""
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/"):
            path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
            routes |= {(path, m.lower()) for m in rule.methods - {"HEAD", "OPTIONS"}}
    return routes


def documented(document: dict) -> set[tuple[str, str]]:
    return {
        (path, method)
        for path, operations in document["paths"].items()
        for method in operations
        if method in METHODS
    }


def test_the_document_lists_exactly_the_routes_under_api(app):
    document = app.test_client().get("/api/openapi.json").json
    assert served(app), "no /api/ routes found"
    assert documented(document) == served(app)


def test_every_path_parameter_is_described(app):
    for path, operations in openapi.document()["paths"].items():
        named = set(re.findall(r"{(\w+)}", path))
        for operation in operations.values():
            described = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert described == named, path


def _refs(node):
    if isinstance(node, dict):
        if "$ref" in node:
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def test_every_reference_resolves_and_every_schema_is_json_schema():
    document = openapi.document()
    assert document["openapi"] == "3.1.0"
    for ref in _refs(document):
        node = document
        for part in ref.removeprefix("#/").split("/"):
            node = node[part]
    for schema in document["components"]["schemas"].values():
        jsonschema.Draft202012Validator.check_schema(schema)
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert operation["responses"], (path, method)
            assert operation["operationId"]


def test_the_message_payloads_the_api_enforces_are_the_documented_ones():
    message = openapi.document()["components"]["schemas"]["Message"]
    validator = jsonschema.Draft202012Validator(message)
    assert validator.is_valid({"message": "reopen", "payload": {"reason": "again"}})
    assert not validator.is_valid({"message": "reopen", "payload": {"reason": "  "}})
    assert not validator.is_valid({"message": "reopen", "payload": {"why": "again"}})
    assert not validator.is_valid({"message": "shout"})
    assert set(openapi.CALLER_MESSAGES) <= set(message["properties"]["message"]["enum"])
