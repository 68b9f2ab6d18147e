"""Form data checked against the JSON Schema a user task names."""

from __future__ import annotations

from typing import Any

import jsonschema

from engine.errors import FormInvalid


def validate_form(name: str, schema: dict, data: Any) -> dict:
    """`data` with the schema's defaults for the fields it leaves out, if it satisfies
    `schema`; else raise FormInvalid with field -> message.

    Errors are keyed by the top-level field they concern ("(form)" for the whole form), so
    a UI can show each one next to its input. Defaults are filled in so that the process
    can rely on every field of the form being there (a checkbox left unticked, say).
    """
    if not isinstance(data, dict):
        raise FormInvalid(name, {"(form)": "form data must be a JSON object"})
    validator = jsonschema.Draft202012Validator(schema)
    errors: dict[str, str] = {}
    for error in sorted(validator.iter_errors(data), key=lambda e: list(e.path)):
        field = str(error.path[0]) if error.path else _field_of(error)
        errors.setdefault(field, _message(error))
    if errors:
        raise FormInvalid(name, errors)
    defaults = {
        field: spec["default"]
        for field, spec in schema.get("properties", {}).items()
        if isinstance(spec, dict) and "default" in spec and field not in data
    }
    return {**defaults, **data}


def _field_of(error: jsonschema.ValidationError) -> str:
    # "required" and "additionalProperties" errors sit on the object, not on the field.
    if error.validator == "required":
        return error.message.split("'")[1]
    if error.validator == "additionalProperties":
        return error.message.split("'")[1] if "'" in error.message else "(form)"
    return "(form)"


def _message(error: jsonschema.ValidationError) -> str:
    if error.validator == "required":
        return "this field is required"
    if error.validator == "additionalProperties":
        return "this form has no such field"
    return error.message
