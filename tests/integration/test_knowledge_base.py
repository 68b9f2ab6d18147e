"""Self-help from the knowledge base in the database, found by full-text search."""

from __future__ import annotations

import pytest

from engine import clock
from engine.desk import knowledge_base
from engine.store.models import Article

from .desk import Desk


@pytest.fixture
def desk(runtime, frozen_clock) -> Desk:
    return Desk(runtime, frozen_clock)


def test_search_ranks_the_matching_article_first_and_ignores_query_syntax(db):
    with db.reading() as session:
        hits = knowledge_base.search(session, "How do I reset my password?")
        assert hits[0]["title"] == "Reset your password"
        assert knowledge_base.search(session, 'AND OR "( * -') == []
        assert knowledge_base.search(session, "the of and") == []


def test_a_request_is_offered_the_articles_in_the_database(desk):
    with desk.db.writing() as session:
        session.add(
            Article(
                id="KB9001",
                title="Rebooting the quantum printer",
                category="printing",
                summary="Quantum printers need a cold start.",
                body="Hold the button for 10 s.",
                keywords="quantum printer reboot",
                updated_at=clock.now(),
            )
        )
    number = desk.report(
        is_broken=False,
        short_description="My quantum printer is stuck",
        description="It just sits there.",
    )
    [result] = [
        e["payload"]["result"]
        for e in desk.history(number)
        if e["kind"] == "handler" and e["payload"]["operator"] == "suggest_faq"
    ]
    assert result["articles"][0]["id"] == "KB9001"


def test_the_article_that_helped_is_recorded_with_the_deflection(desk):
    number = desk.report(is_broken=False, short_description="How do I reset my password?")
    desk.complete(number, "try_self_help", {"solved": True, "helped_by": "KB0001"}, actor="alice")
    [command] = [
        e
        for e in desk.history(number)
        if e["kind"] == "command" and e["payload"].get("task") == "try_self_help"
    ]
    assert command["payload"]["inputs"]["helped_by"] == "KB0001"
    assert desk.incident(number).close_reason == "deflected"
