"""Self-help suggestions from the FAQ knowledge base."""

from __future__ import annotations

import pytest

from handlers.faq import bundled_articles, suggest_faq


def test_knowledge_base_is_realistic():
    kb = bundled_articles()
    assert len(kb) >= 30
    assert len({a.id for a in kb}) == len(kb)
    assert all(a.title and a.summary and a.body and a.keywords for a in kb)


@pytest.mark.parametrize(
    ("text", "best"),
    [
        ("I forgot my password", "Reset your password"),
        ("VPN keeps disconnecting at home", "VPN keeps disconnecting"),
        ("how do I connect to the vpn from home", "Connect to the VPN"),
        ("I need to install Visio, how do I request software?", "Request new software"),
        ("The printer is offline", "Printer shows as offline"),
        ("How do I set up mail on my phone?", "Set up company mail on your phone"),
        ("got a suspicious email, is it phishing?", "Report a phishing email"),
        ("my mailbox is full", "Your mailbox is full"),
    ],
)
def test_best_article_first(text, best):
    assert suggest_faq(text)["articles"][0]["title"] == best


def test_at_most_three_ranked_with_positive_scores():
    result = suggest_faq("vpn password printer mailbox phone scan wifi")
    ranked = result["articles"]
    assert len(ranked) == 3
    scores = [a["score"] for a in ranked]
    assert scores == sorted(scores, reverse=True)
    assert all(score > 0 for score in scores)
    assert set(ranked[0]) == {"id", "title", "summary", "score"}


def test_keyword_hits_outrank_title_hits():
    ranked = suggest_faq("vpn disconnect")["articles"]
    assert [a["id"] for a in ranked[:2]] == ["KB0004", "KB0003"]
    assert ranked[0]["score"] == 4  # both words are keywords of KB0004


@pytest.mark.parametrize("text", ["", "the coffee machine", "???"])
def test_nothing_relevant_suggests_nothing(text):
    assert suggest_faq(text) == {"articles": []}
