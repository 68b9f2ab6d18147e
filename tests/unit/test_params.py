"""The one checked way in for parameters (`web.params`) and bodies (`web.bodies`): the
types and their words, the registry the fuzz tests read, and that no view reads the
query string around them (no database here: a Flask request context at most)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from flask import Flask
from werkzeug.exceptions import BadRequest

from engine.store.db import Database
from web import create_app, params
from web.bodies import MAX_DEPTH, json_problem
from web.params import BIGINT, Choice, Day, Flag, Moment, Pattern, Text, Whole

ROOT = Path(__file__).resolve().parents[2]
# Modules that still read `request.args` themselves, each with why; an entry no longer
# needed fails the test, so that the list only shrinks.
NOT_YET: dict[str, str] = {}


def test_only_web_params_reads_the_query_string():
    readers = {
        str(path.relative_to(ROOT))
        for path in sorted((ROOT / "web").rglob("*"))
        if path.suffix in (".py", ".html")
        and "vendor" not in path.parts
        and re.search(r"request\.args\b", path.read_text(encoding="utf-8"))
    }
    assert readers - set(NOT_YET) == {"web/params.py"}, "read them with web.params.query"
    assert set(NOT_YET) <= readers, f"no longer needed, remove: {set(NOT_YET) - readers}"


@pytest.mark.parametrize(
    "text", ["²", "¹²", "٣", "１２", "1e3", "0x10", "1.0", "+3", "", str(BIGINT + 1), "9" * 5000]
)
def test_a_whole_number_is_ascii_digits_in_range(text):
    with pytest.raises(ValueError):
        Whole().parse(text)


def test_whole_numbers_keep_to_their_range_and_say_so():
    assert Whole(1, 5).parse("5") == 5 and Whole().parse(str(BIGINT)) == BIGINT
    with pytest.raises(ValueError):
        Whole(1, 5).parse("6")
    with pytest.raises(ValueError):
        Whole(1, 5).parse("0")
    assert Whole(1, 200).accepts() == "a whole number from 1 to 200"
    assert Whole(1, 2**80).high == BIGINT  # never beyond what a database holds
    assert Whole(1, 5, default=3).schema() == {
        "type": "integer",
        "minimum": 1,
        "maximum": 5,
        "default": 3,
        "required": False,
        "description": "a whole number from 1 to 5",
    }


def test_text_choices_patterns_and_flags():
    assert Text(5).parse("abcde") == "abcde"
    for bad in ("abcdef", "a\x00", "a\nb", "\x85"):
        with pytest.raises(ValueError):
            Text(5).parse(bad)
    assert Text(3, cut=True).parse("abcdef") == "abc"
    assert Choice(("ok", "breached")).parse("ok") == "ok"
    with pytest.raises(ValueError):
        Choice(("ok",)).parse("OK")
    ref = Pattern(r"(?i:draft:)?[0-9]{1,9}", "a version or draft:ID")
    assert ref.parse("Draft:7") == "Draft:7"
    with pytest.raises(ValueError):
        ref.parse("draft:²")
    assert [Flag().parse(t) for t in ("1", "TRUE", "0", "false")] == [True, True, False, False]
    for bad in ("2", "yes", "on"):  # as the API documents it: 1, 0, true, false
        with pytest.raises(ValueError):
            Flag().parse(bad)


def test_days_and_moments_are_real_dates_in_range():
    assert Day().parse("2026-01-05") == date(2026, 1, 5)
    for bad in ("2026-02-30", "9999-12-31", "0001-01-01", "2026-1-5", "２０２６-01-05"):
        with pytest.raises(ValueError):
            Day().parse(bad)
    assert Moment().parse("2026-01-05") == datetime(2026, 1, 5, tzinfo=UTC)
    assert Moment(end_of_day=True).parse("9998-12-31") == datetime(9999, 1, 1, tzinfo=UTC)
    assert Moment().parse("2026-01-05T09:30Z") == datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
    for bad in ("2026-01-05T25:00", "2026-01-05T09:00+99:00", "yesterday", "1969-12-31"):
        with pytest.raises(ValueError):
            Moment().parse(bad)


@pytest.fixture
def app() -> Flask:
    return create_app(Database("sqlite://"), {"SECRET_KEY": "no database is touched"})


def test_query_parses_before_the_view_and_names_what_does_not_fit(app):
    @params.query({"from": Whole(1, 9)}, limit=Whole(1, 200, default=50), tag=Text(9, many=True))
    def view():
        return params.args()

    with app.test_request_context("/?from=3&tag=a&tag=&tag=b&unknown=1"):
        assert view() == {"from": 3, "limit": 50, "tag": ("a", "b")}
        assert params.given() == {"from": "3", "tag": "a"}
        assert params.query_string() == "?from=3&tag=a&tag=b"
    with app.test_request_context("/?limit=²"), pytest.raises(BadRequest) as refused:
        view()
    assert refused.value.description == "?limit must be a whole number from 1 to 200"
    with app.test_request_context("/?limit="):  # an empty field is the default
        assert view()["limit"] == 50


def test_the_registry_knows_every_declared_parameter(app):
    declared = params.declared(app)
    assert set(declared["api.list_incidents"]) == {"limit", "offset", "state", "priority", "group"}
    assert declared["desk.queue"]["priority"].schema()["maximum"] == 5
    assert declared["audit_export.history_xes"]["priority"].many
    assert set(declared["auth.login"]) == {"next"}
    assert declared["health"] == {}  # declared nowhere: no parameters read


def test_the_converters_refuse_what_no_id_is(app):
    urls = app.url_map.bind("localhost")
    assert urls.match(f"/audit/runs/{BIGINT}") == ("audit.run", {"run_id": BIGINT})
    for path in (
        f"/audit/runs/{BIGINT + 1}",
        "/audit/runs/²",
        "/audit/runs/٣",
        f"/process/api/versions/{2**31}",
        "/desk/incidents/INC\x00",  # as the server decoded %00
        "/desk/incidents/INC\x85",
        "/desk/incidents/" + "x" * (params.SEGMENT_MAX + 1),
    ):
        with pytest.raises(Exception) as missing:
            urls.match(path)
        assert getattr(missing.value, "code", None) == 404, path


def test_json_a_database_cannot_hold_is_named():
    deep: object = 1
    for _ in range(MAX_DEPTH):
        deep = [deep]
    assert json_problem(deep) is None
    assert "nested too deeply" in (json_problem([deep]) or "")
    assert (
        json_problem({"a": [{"b": "x\x00"}]}) == "holds a NUL character at a[0].b; send plain text"
    )
    assert "in a name" in (json_problem({"x\x00": 1}) or "")
    assert "beyond 64 bits" in (json_problem({"n": 2**63}) or "")
    assert json_problem({"n": BIGINT, "f": 1.5, "t": True}) is None
    assert "too large" in (json_problem([float("inf")]) or "")
