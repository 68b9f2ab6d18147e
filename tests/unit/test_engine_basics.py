"""Clock, forms and the history hash chain: small pieces with sharp edges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine import clock
from engine.errors import FormInvalid
from engine.instances.history import GENESIS, Entry, row_hash
from engine.process.forms import validate_form

SCHEMA = {
    "type": "object",
    "properties": {
        "category": {"type": "string", "enum": ["network", "email"]},
        "subcategories": {"type": "array", "minItems": 1},
    },
    "required": ["category", "subcategories"],
    "additionalProperties": False,
}


def test_frozen_clock_moves_only_when_told(frozen_clock):
    start = clock.now()
    assert clock.now() == start
    frozen_clock.advance(timedelta(hours=2))
    assert clock.now() - start == timedelta(hours=2)
    with pytest.raises(ValueError):
        frozen_clock.set(datetime(2026, 1, 1))


def test_spiff_timers_read_the_installed_clock(frozen_clock):
    from SpiffWorkflow.bpmn.specs.event_definitions import timer

    from engine import spiff

    spiff.install()  # what every place that builds a workflow does first
    assert timer.datetime.now(UTC) == clock.now()
    frozen_clock.advance(timedelta(days=3))
    assert timer.datetime.now(UTC) == clock.now()


def test_form_errors_are_keyed_by_field():
    with pytest.raises(FormInvalid) as caught:
        validate_form("categorize", SCHEMA, {"category": "plumbing", "extra": 1})
    errors = caught.value.errors
    assert set(errors) == {"category", "subcategories", "extra"}
    assert errors["subcategories"] == "this field is required"
    assert errors["extra"] == "this form has no such field"
    assert validate_form("categorize", SCHEMA, {"category": "email", "subcategories": ["spam"]})


def test_history_hash_changes_with_any_field():
    at = datetime(2026, 1, 5, tzinfo=UTC)
    entry = Entry("command", element="diagnose", actor="tina", payload={"x": 1})
    base = row_hash(GENESIS, 1, 1, at, entry)
    assert base == row_hash(GENESIS, 1, 1, at, entry)
    variants = [
        row_hash("1" * 64, 1, 1, at, entry),
        row_hash(GENESIS, 2, 1, at, entry),
        row_hash(GENESIS, 1, 2, at, entry),
        row_hash(GENESIS, 1, 1, at + timedelta(seconds=1), entry),
        row_hash(GENESIS, 1, 1, at, Entry("command", "diagnose", "tom", {"x": 1})),
        row_hash(GENESIS, 1, 1, at, Entry("command", "diagnose", "tina", {"x": 2})),
    ]
    assert base not in variants and len(set(variants)) == len(variants)


def test_form_defaults_fill_the_fields_left_out():
    schema = {
        **SCHEMA,
        "properties": {**SCHEMA["properties"], "major": {"type": "boolean", "default": False}},
    }
    data = validate_form("categorize", schema, {"category": "email", "subcategories": ["spam"]})
    assert data == {"category": "email", "subcategories": ["spam"], "major": False}
    given = validate_form(
        "categorize", schema, {"category": "email", "subcategories": ["spam"], "major": True}
    )
    assert given["major"] is True
