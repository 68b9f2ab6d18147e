"""What the process suggested for an incident, for the form a person fills in next: the
category and subcategory the `categorize` handler found in the report, with its confidence
(`handlers.categorize`). Read from the incident's history, where the handler's call and
result are recorded (`engine.instances.history`), so it is exactly what the process saw.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.store.models import HistoryEvent

OPERATOR = "categorize"


@dataclass(frozen=True)
class CategorySuggestion:
    category: str
    subcategory: str | None
    confidence: float  # 0 to 1

    @property
    def percent(self) -> int:
        return round(self.confidence * 100)


def category(session: Session, instance_id: int) -> CategorySuggestion | None:
    """The latest category suggestion for the instance; None when there is none or the
    handler found no category."""
    calls = session.scalars(
        select(HistoryEvent.payload)
        .where(HistoryEvent.instance_id == instance_id, HistoryEvent.kind == "handler")
        .order_by(HistoryEvent.seq.desc())
    )
    for payload in calls:
        if payload.get("operator") != OPERATOR:
            continue
        result = payload.get("result") or {}
        if not isinstance(result, dict) or not result.get("category"):
            return None
        return CategorySuggestion(
            category=str(result["category"]),
            subcategory=str(result["subcategory"]) if result.get("subcategory") else None,
            confidence=float(result.get("confidence") or 0.0),
        )
    return None
