"""The OpenAPI document lists every status the API answers, not only the happy ones: 401
with `WWW-Authenticate` everywhere a credential is needed, 403 (a read-only token) and 413
(the body) on every write, 400 wherever a parameter or body can be wrong, each with the
shared error schema."""

from __future__ import annotations

from web import openapi

ERROR_SCHEMAS = {"#/components/schemas/Error", "#/components/schemas/FormError"}


def _operations():
    for path, item in openapi.document()["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def _response(document: dict, response: dict) -> dict:
    if "$ref" in response:
        return document["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    return response


def test_every_operation_but_the_document_answers_401_with_www_authenticate():
    document = openapi.document()
    for path, method, operation in _operations():
        if operation.get("security") == []:
            continue
        unauthorized = _response(document, operation["responses"]["401"])
        assert unauthorized["headers"]["WWW-Authenticate"]["required"], (path, method)


def test_every_write_answers_403_and_413_and_every_parameter_400():
    for path, method, operation in _operations():
        statuses = set(operation["responses"])
        if method != "get":
            assert {"403", "413"} <= statuses, (path, method)
        if operation.get("parameters") or operation.get("requestBody"):
            assert "400" in statuses, (path, method)
        if operation.get("requestBody"):
            assert {"415", "422"} <= statuses, (path, method)


def test_every_error_answers_the_shared_error_schema():
    document = openapi.document()
    for path, method, operation in _operations():
        for status, response in operation["responses"].items():
            if int(status) >= 400:
                schema = _response(document, response)["content"]["application/json"]["schema"]
                assert schema["$ref"] in ERROR_SCHEMAS, (path, method, status)
    form_error = document["components"]["responses"]["Unprocessable"]
    assert form_error["content"]["application/json"]["schema"]["$ref"].endswith("FormError")


def test_both_ways_in_are_described():
    schemes = openapi.document()["components"]["securitySchemes"]
    assert (schemes["token"]["type"], schemes["token"]["scheme"]) == ("http", "bearer")
    assert (schemes["session"]["type"], schemes["session"]["in"]) == ("apiKey", "cookie")


def test_every_parameter_has_a_type():
    for path, method, operation in _operations():
        for parameter in operation.get("parameters", ()):
            assert parameter["schema"].get("type"), (path, method, parameter["name"])
