"""The self-help knowledge base: articles in the database, found by full-text search.

One function, two engines: SQLite's FTS5 (porter stemming, bm25 ranking over title,
summary, body and keywords) and PostgreSQL's full text (an English tsvector weighting the
title most, then keywords, summary and body, with a GIN index; ts_rank). Any word of the
query may match (OR), better matches first. The `suggest_faq` handler receives the hits
for its text through the registry's `articles` parameter; `deskflow init` loads the
bundled articles (handlers/faq.json).
"""

from __future__ import annotations

import json
import re
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from engine import clock
from engine.store.models import Article
from handlers.faq import FAQ_PATH
from handlers.tokens import STOPWORDS

LIMIT = 3
PG_DOCUMENT = (
    "(setweight(to_tsvector('english', title), 'A')"
    " || setweight(to_tsvector('english', keywords), 'B')"
    " || setweight(to_tsvector('english', summary), 'C')"
    " || setweight(to_tsvector('english', body), 'D'))"
)
_WORD = re.compile(r"[a-z0-9]+")

SQLITE_SEARCH = text(
    "SELECT a.id, a.title, a.summary, a.category, -bm25(articles_fts, 0, 5.0, 2.0, 1.0, 3.0)"
    " AS score FROM articles_fts JOIN articles a ON a.id = articles_fts.id"
    " WHERE articles_fts MATCH :query ORDER BY score DESC, a.id LIMIT :limit"
)
PG_SEARCH = text(
    f"SELECT id, title, summary, category, ts_rank({PG_DOCUMENT}, to_tsquery('english', :query))"
    f" AS score FROM articles WHERE {PG_DOCUMENT} @@ to_tsquery('english', :query)"
    " ORDER BY score DESC, id LIMIT :limit"
)


def search(session: Session, query: str, limit: int = LIMIT) -> list[dict[str, Any]]:
    """Articles matching any word of `query`, best first: {"id","title","summary",
    "category","score"}. Words only: operators, punctuation and stop words are ignored."""
    words = sorted(set(_WORD.findall(query.lower())) - STOPWORDS)
    if not words:
        return []
    if session.get_bind().dialect.name == "postgresql":
        statement, expression = PG_SEARCH, " | ".join(words)
    else:
        statement, expression = SQLITE_SEARCH, " OR ".join(f'"{w}"' for w in words)
    rows = session.execute(statement, {"query": expression, "limit": limit}).mappings()
    return [{**row, "score": round(float(row["score"]), 4)} for row in rows]


def search_for(session: Session, params: dict[str, Any]) -> list[dict[str, Any]]:
    """The hits for a service task's `text` parameter (what the registry calls)."""
    return search(session, str(params.get("text") or ""))


def seed(session: Session) -> int:
    """Load the bundled articles (insert new, update changed); returns how many there are."""
    entries = json.loads(FAQ_PATH.read_text(encoding="utf-8"))["articles"]
    for entry in entries:
        article = session.get(Article, entry["id"]) or Article(id=entry["id"])
        article.title = entry["title"]
        article.category = entry.get("category", "general")
        article.summary = entry["summary"]
        article.body = entry["body"]
        article.keywords = " ".join(entry["keywords"])
        article.updated_at = clock.now()
        session.add(article)
    session.flush()
    return len(entries)
