"""What the desk learns from closed incidents, kept for the `categorize` handler.

When an incident closes with a category, its text and final category/subcategory are
added to the learned evidence (`handlers.learning.CategoryKnowledge`), in the closing
command's transaction; the row is locked meanwhile so two closures never lose one another.
The `categorize` handler receives the evidence through the registry's `knowledge`
parameter, read only when a categorize step actually runs.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import clock
from engine.store.models import Incident, LearnedCategories
from handlers.learning import CategoryKnowledge

ROW = 1


def load(session: Session) -> dict[str, Any] | None:
    """The learned evidence (`CategoryKnowledge.to_dict()`), or None before any."""
    return session.scalar(select(LearnedCategories.knowledge).where(LearnedCategories.id == ROW))


def learn_from(session: Session, incident: Incident) -> bool:
    """Add a closed incident's text and final category; False when there is nothing to learn."""
    if incident.kind != "incident" or not incident.category or not incident.subcategories:
        return False
    row = session.scalars(
        select(LearnedCategories).where(LearnedCategories.id == ROW).with_for_update()
    ).first()
    knowledge = CategoryKnowledge.from_dict(row.knowledge) if row else CategoryKnowledge()
    text = f"{incident.short_description}\n\n{incident.description or ''}"
    if not knowledge.learn(text, incident.category, incident.subcategories[0]):
        return False
    if row is None:
        row = LearnedCategories(id=ROW, updated_at=clock.now())
        session.add(row)
    row.knowledge = knowledge.to_dict()
    row.examples = (row.examples or 0) + 1
    row.updated_at = clock.now()
    return True
