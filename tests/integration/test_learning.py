"""What technicians choose teaches later suggestions, through the engine."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.store.models import LearnedCategories

from .desk import Desk

ODD = "The earbuds crackle and then go silent"  # no catalog keyword in it


@pytest.fixture
def desk(runtime, frozen_clock) -> Desk:
    return Desk(runtime, frozen_clock)


def suggestion(desk: Desk, number: str) -> dict:
    [event] = [
        e
        for e in desk.history(number)
        if e["kind"] == "handler" and e["payload"]["operator"] == "categorize"
    ]
    return event["payload"]["result"]


def close_as(desk: Desk, number: str, category: str, subcategory: str) -> None:
    desk.categorize(number, category, (subcategory,))
    desk.resolve_first_line(number)
    desk.say(number, "confirm")


def test_a_closed_incident_teaches_the_next_suggestion(desk):
    first = desk.report(short_description=ODD, description="")
    assert suggestion(desk, first)["category"] != "hardware"
    close_as(desk, first, "hardware", "peripheral")
    with desk.db.reading() as session:
        learned = session.scalars(select(LearnedCategories)).one()
    assert learned.examples == 1

    second = desk.report(short_description="Earbuds crackle again", description="")
    result = suggestion(desk, second)
    assert (result["category"], result["subcategory"]) == ("hardware", "peripheral")
    assert any(item["source"] == "learned" for item in result["explanation"])


def test_requests_and_uncategorized_closures_teach_nothing(desk):
    number = desk.report(is_broken=False, short_description="How do I reset my password?")
    desk.complete(number, "try_self_help", {"solved": True}, actor="alice")
    with desk.db.reading() as session:
        assert session.scalars(select(LearnedCategories)).first() is None
