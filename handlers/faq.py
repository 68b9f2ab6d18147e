"""Self-help: the knowledge base articles that best match what the user wrote.

The engine keeps the articles in its database and searches them by full text
(`engine.desk.knowledge_base`); it passes the hits as `articles`, which are suggested as they
are. Without the engine (tests, tools), the bundled `handlers/faq.json` is ranked here: a
word of the query found among an article's keywords scores 2, found only in its title or
summary 1; the best three with a score above zero, ties in article order.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from handlers.registry import operator
from handlers.tokens import tokenize

FAQ_PATH = Path(__file__).with_name("faq.json")
TOP = 3


@dataclass(frozen=True)
class Article:
    id: str
    title: str
    summary: str
    body: str
    keywords: frozenset[str]  # stemmed words
    words: frozenset[str]  # stemmed words of title and summary


@operator("suggest_faq")
def suggest_faq(text: str, articles: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Query text -> `{"articles": [{"id", "title", "summary", "score"}]}`, best first."""
    if articles is not None:  # the engine's full-text hits, already ranked
        return {
            "articles": [
                {key: hit[key] for key in ("id", "title", "summary", "score")}
                for hit in articles[:TOP]
            ]
        }
    query = set(tokenize(text))
    scored = [(_score(query, article), article) for article in bundled_articles()]
    ranked = sorted((entry for entry in scored if entry[0] > 0), key=lambda e: -e[0])
    return {
        "articles": [
            {"id": a.id, "title": a.title, "summary": a.summary, "score": score}
            for score, a in ranked[:TOP]
        ]
    }


def _score(query: set[str], article: Article) -> int:
    return sum(
        2 if word in article.keywords else 1 for word in query & (article.keywords | article.words)
    )


@functools.lru_cache(maxsize=1)
def bundled_articles() -> tuple[Article, ...]:
    """The bundled knowledge base, in file order."""
    raw = json.loads(FAQ_PATH.read_text(encoding="utf-8"))
    return tuple(
        Article(
            id=entry["id"],
            title=entry["title"],
            summary=entry["summary"],
            body=entry["body"],
            keywords=frozenset(word for kw in entry["keywords"] for word in tokenize(kw)),
            words=frozenset(tokenize(entry["title"]) + tokenize(entry["summary"])),
        )
        for entry in raw["articles"]
    )
